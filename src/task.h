/*-------------------------------------------------------------------------
 *
 * task.h
 *	  One kind of work (complete, summarize, classify, extract,
 *	  sentiment): the request body for an input, and the result of an
 *	  answer.  Shared by the batch functions and the worker's jobs.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_TASK_H
#define PG_CLAUDE_TASK_H

#include <cjson/cJSON.h>

typedef enum ClaudeTaskKind
{
	TASK_COMPLETE,
	TASK_SUMMARIZE,
	TASK_CLASSIFY,
	TASK_EXTRACT,
	TASK_SENTIMENT
} ClaudeTaskKind;

typedef struct ClaudeTask
{
	ClaudeTaskKind kind;
	char	   *model;
	const char *system;
	int			max_tokens;
	bool		has_temperature;
	double		temperature;
	int			max_words;
	const char *tool_name;
	const char *tool_description;
	char	   *schema_text;
	cJSON	   *schema;
	bool		cache;
} ClaudeTask;

/* Rounds of asking for a tool answer that validates. */
#define CLAUDE_TASK_ROUNDS 2

/* What each task's tool says it is for: one wording for the scalar, batch and worker paths. */
#define CLAUDE_TOOL_CLASSIFY_DESCRIPTION "Record the one label that best fits the text."
#define CLAUDE_TOOL_CLASSIFY_MULTI_DESCRIPTION "Record every label that applies to the text."
#define CLAUDE_TOOL_EXTRACT_DESCRIPTION "Record the information extracted from the text."
#define CLAUDE_TOOL_SENTIMENT_DESCRIPTION "Record the sentiment score of the text."

extern bool claude_task_uses_tool(const ClaudeTask *t);

/* The request body for input (why: the previous answer's fault, or NULL). */
extern char *claude_task_body(const ClaudeTask *t, const char *input, const char *why);

/*
 * Interpret an answer: *result (text form) on success; *why when a tool
 * answer did not validate (ask again); *error otherwise.  Never raises.
 */
extern void claude_task_interpret(const ClaudeTask *t, const char *json, char **result,
								  char **why, char **error);

/* The error text when the last round still did not validate. */
extern char *claude_task_refusal(const ClaudeTask *t, const char *why);

/*
 * A task from its name and options (jsonb text): labels, schema,
 * max_words, model, system, instructions.  Raises 22023 on bad options.
 */
extern void claude_task_from_options(ClaudeTask *t, const char *task, const char *options_json);

#endif							/* PG_CLAUDE_TASK_H */
