/*-------------------------------------------------------------------------
 *
 * tools.h
 *	  Forced tool use with a checked answer: the engine under classify,
 *	  extract and sentiment.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_TOOLS_H
#define PG_CLAUDE_TOOLS_H

#include <cjson/cJSON.h>

#include "anthropic.h"

typedef struct ClaudeToolCall
{
	const char *model;
	ClaudeToolRequest req;		/* schema as JSON text in req.input_schema */
	const cJSON *schema;		/* the same schema, parsed, to validate with */
} ClaudeToolCall;

/*
 * Ask the model to answer by filling the schema; validate the answer.  An
 * answer that does not use the tool or does not conform is asked for once
 * more, with the reason.  Returns the validated input (cJSON in
 * CurrentMemoryContext), or NULL with *why set when the second answer is
 * not usable either.
 */
extern cJSON *claude_tool_call(ClaudeToolCall *call, char **why);

/* Defaults for tool calls: temperature 0 unless claude.temperature is set. */
extern void claude_tool_defaults(ClaudeToolRequest *req, const char *model, int max_tokens);

#endif							/* PG_CLAUDE_TOOLS_H */
