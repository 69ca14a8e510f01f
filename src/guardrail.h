/*-------------------------------------------------------------------------
 *
 * guardrail.h
 *	  Bedrock guardrails (claude.guardrail_id, claude.guardrail_version):
 *	  the headers an InvokeModel call carries, and what an answer says
 *	  about the guardrail's action.  doc/redaction.md.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_GUARDRAIL_H
#define PG_CLAUDE_GUARDRAIL_H

#include "aws_sign.h"
#include "call_policy.h"

struct cJSON;

/* Headers for an operation (InvokeModel* only) under policy's guardrail: how many went to out[]. */
#define CLAUDE_GUARDRAIL_HEADERS 3
extern int	claude_guardrail_headers(const char *operation, const ClaudeCallPolicy *policy, AwsHeader *out);

/* Whether the answer (json, or parsed when not NULL) is a guardrail's intervention. */
extern bool claude_guardrail_intervened(const char *json, const struct cJSON *parsed);

/*
 * For the audit row: the answer's guardrail action ("INTERVENED", "NONE";
 * "" when none was applied) and a summary of its trace (which policy of
 * which side acted, "" when none).
 */
extern void claude_guardrail_summary(const char *json, const struct cJSON *parsed,
									 char *action, size_t action_len, char *trace, size_t trace_len);

#endif							/* PG_CLAUDE_GUARDRAIL_H */
