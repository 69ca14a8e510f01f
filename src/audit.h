/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  The audit log (claude.usage) and cache writes: records handed to
 *	  shared memory and written by the pg_claude audit writer, so that they
 *	  survive the caller's ROLLBACK.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_AUDIT_H
#define PG_CLAUDE_AUDIT_H

#include "audit_record.h"
#include "call_context.h"

/* A usage record with the common fields (who, on whose behalf, where, when) filled in. */
extern void claude_usage_init(ClaudeUsageRecord *r, const ClaudeCallContext *cc,
							  const char *operation, const char *model);

/*
 * Record an upstream attempt or cache hit.  prompt is stored only when
 * claude.log_prompts is on (NULL otherwise).
 */
extern void claude_audit_usage(const ClaudeUsageRecord *r, const char *prompt);

/* The same, from an error handler: the shared ring, or the server log. */
extern void claude_audit_usage_in_error(const ClaudeUsageRecord *r);

/* Store a successful response in claude.cache. */
extern void claude_audit_cache_store(const ClaudeCacheRecord *r, const char *response);

/* Settle, in a normal state, where this backend's records go. */
extern void claude_audit_prepare(void);

#endif							/* PG_CLAUDE_AUDIT_H */
