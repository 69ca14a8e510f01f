/*-------------------------------------------------------------------------
 *
 * anthropic.h
 *	  Anthropic Messages bodies: building requests, reading responses.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_ANTHROPIC_H
#define PG_CLAUDE_ANTHROPIC_H

#include <stdbool.h>

#include "problem.h"

struct cJSON;
struct ClaudeAttachment;

#define ANTHROPIC_BEDROCK_VERSION "bedrock-2023-05-31"

typedef struct ClaudeUsage
{
	long		input_tokens;
	long		output_tokens;
	long		cache_read_tokens;
	long		cache_write_tokens;	/* both TTLs */
	long		cache_write_1h_tokens;	/* of which written for an hour */
} ClaudeUsage;

typedef struct ClaudeMessageRequest
{
	const char *prompt;
	const char *system;			/* NULL for none */
	int			max_tokens;
	bool		has_temperature;
	double		temperature;
	const struct ClaudeAttachment *attachment;	/* sent before the prompt; NULL for none */
} ClaudeMessageRequest;

/*
 * How a structured answer is asked for (doc/models.md, "Request shaping"):
 * a forced tool call, the schema as the response format (structured
 * output), or the tool offered with tool_choice auto (the answer is then
 * validated, and asked for again once).
 */
typedef enum ClaudeToolMode
{
	TOOL_FORCED,
	TOOL_FORMAT,
	TOOL_AUTO
} ClaudeToolMode;

/* One structured answer: the model fills input_schema. */
typedef struct ClaudeToolRequest
{
	ClaudeToolMode mode;
	const char *system;			/* NULL for none */
	const char *prompt;			/* the user's text */
	const char *tool_name;
	const char *tool_description;
	const char *input_schema;	/* JSON text of an object schema */
	const char *format_schema;	/* TOOL_FORMAT: the schema as structured output takes it */
	int			max_tokens;
	bool		has_temperature;
	double		temperature;
	bool		cache;			/* mark the fixed prefix (tool, system) with cache_control */
	bool		cache_1h;		/* with the 1-hour TTL */
	const struct ClaudeAttachment *attachment;	/* sent before the prompt; NULL for none */
} ClaudeToolRequest;

/* Route cJSON's allocations through palloc (CurrentMemoryContext). */
extern void claude_anthropic_init(void);

/* A complete Messages body for a single user turn, as a palloc'd string. */
extern char *claude_anthropic_build(const ClaudeMessageRequest *req);

/*
 * Prepare a caller-supplied Messages body for InvokeModel: adds
 * anthropic_version and max_tokens when absent, and moves a "model" key out
 * of the body (Bedrock takes the model from the path) into *model_out when
 * *model_out is NULL.  Errors with 22023 when the body is not an object.
 */
extern char *claude_anthropic_normalize_body(const char *json, char **model_out);

/*
 * The text of a Messages response: its text blocks, concatenated.  Fills
 * usage and stop_reason (palloc'd; may be NULL).  Raises an error when the
 * response is not a Messages response.
 */
extern char *claude_anthropic_response_text(const char *json, ClaudeUsage *usage,
											char **stop_reason);

/* The same, never raising: NULL with *problem set instead. */
extern char *claude_anthropic_read_text(const char *json, ClaudeUsage *usage,
										char **stop_reason, ClaudeProblem *problem);

/* The same, taking over parsed (json already parsed) when not NULL. */
extern char *claude_anthropic_read_text_parsed(const char *json, struct cJSON *parsed,
											   ClaudeUsage *usage, char **stop_reason,
											   ClaudeProblem *problem);

/* Raise 38000 unless json parses (a response body, before jsonb_in). */
extern void claude_anthropic_check_json(const char *json);

/* A Messages body asking for one structured answer, as req->mode says. */
extern char *claude_anthropic_build_tool(const ClaudeToolRequest *req);

/*
 * The schema as structured output takes it (output_config.format): every
 * object closed with "additionalProperties": false.  NULL when the schema
 * cannot be one (an open object, a $ref, more than 10 optional properties).
 */
extern char *claude_anthropic_format_schema(const char *input_schema);

/*
 * The structured answer, as a cJSON tree in CurrentMemoryContext: the
 * input of the tool_use block for tool_name, else the answer's text when
 * it is a JSON object (structured output, or a tool_choice auto answer
 * written as text); *input NULL when it is neither.  Never raises: false
 * with *problem set when json is not a response.
 */
extern bool claude_anthropic_read_tool_input(const char *json, const char *tool_name,
											 ClaudeUsage *usage, char **stop_reason,
											 struct cJSON **input, ClaudeProblem *problem);
extern bool claude_anthropic_read_tool_input_parsed(const char *json, struct cJSON *parsed,
													const char *tool_name, ClaudeUsage *usage,
													char **stop_reason, struct cJSON **input,
													ClaudeProblem *problem);

/* Usage block of any Messages response, zeros when absent. */
extern void claude_anthropic_usage(const char *json, ClaudeUsage *usage);
extern void claude_anthropic_usage_parsed(const struct cJSON *root, ClaudeUsage *usage);

#endif							/* PG_CLAUDE_ANTHROPIC_H */
