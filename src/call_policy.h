/*-------------------------------------------------------------------------
 *
 * call_policy.h
 *	  What a privacy officer set for a role that every call of it follows:
 *	  claude.redact_before_send and the Bedrock guardrail, carried from the
 *	  caller's session to the worker that sends its jobs and asynchronous
 *	  requests (doc/redaction.md, "In the background").
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_CALL_POLICY_H
#define PG_CLAUDE_CALL_POLICY_H

#include "call_context.h"

struct cJSON;

typedef struct ClaudeCallPolicy
{
	bool		redact_before_send;
	const char *guardrail_id;	/* "" for none */
	const char *guardrail_version;	/* "" for the guardrail's DRAFT */
} ClaudeCallPolicy;

/* The policy a call made now follows: the caller's, or with the worker's where it adds to it. */
extern void claude_policy_of(const ClaudeCallContext *cc, ClaudeCallPolicy *out);

/* The session's policy as JSON text, for a job or request queued now; NULL when nothing is set. */
extern char *claude_policy_queued(void);

/* Add the session's policy, when any, to a job definition's JSON as "policy". */
extern void claude_policy_add_to_definition(struct cJSON *root);

/* A queued policy (JSON text, or a definition holding one), palloc'd; NULL when none. */
extern const ClaudeCallPolicy *claude_policy_from_json(const char *json, bool in_definition);

#endif							/* PG_CLAUDE_CALL_POLICY_H */
