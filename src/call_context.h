/*-------------------------------------------------------------------------
 *
 * call_context.h
 *	  On whose behalf a request is made: passed down from the SQL entry
 *	  point (or the worker) through the task to the Bedrock operation and
 *	  into its audit rows, never kept in globals (doc/architecture.md,
 *	  "The path of one call").
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_CALL_CONTEXT_H
#define PG_CLAUDE_CALL_CONTEXT_H

#include "c.h"

typedef struct ClaudeCallContext
{
	const char *function_name;	/* the SQL function: claude.usage.function_name */
	const char *input;			/* the caller's input, hashed as prompt_sha256; NULL: the body */
	const char *role_name;		/* on whose behalf the worker calls; NULL: the current user */
	int64		job_id;			/* the enrichment job, or 0 */
	const char *provider;		/* where the request goes: "bedrock" or "anthropic" (provider.h) */
	const char *attachment_type;	/* the document's or image's media type; NULL: none */
	int64		attachment_bytes;	/* its size, with attachment_type */
	const struct ClaudeCallPolicy *policy;	/* the queuing caller's (call_policy.h); NULL: this session's */
} ClaudeCallContext;

/* claude.provider's name: where a call made now goes (provider.c). */
extern const char *claude_provider_current(void);

/* The context of a call made by function_name in the caller's own session. */
#define CLAUDE_CALL_CONTEXT(function_name, input) \
	((ClaudeCallContext) {(function_name), (input), NULL, 0, claude_provider_current()})

#endif							/* PG_CLAUDE_CALL_CONTEXT_H */
