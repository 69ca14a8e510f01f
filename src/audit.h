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

#include "datatype/timestamp.h"
#include "storage/latch.h"

/* One row of claude.usage; -1 (or "") means NULL. */
typedef struct ClaudeUsageRecord
{
	TimestampTz ts;
	char		role_name[64];
	char		database_name[64];
	int32		backend_pid;
	char		function_name[64];
	char		operation[32];
	char		model[512];
	char		region[32];
	char		endpoint_host[256];
	char		geography[32];
	char		request_id[128];
	int32		http_status;
	char		error_code[128];
	int64		input_tokens;
	int64		output_tokens;
	int64		cache_read_tokens;
	int64		cache_write_tokens;
	double		latency_ms;
	double		ttft_ms;
	int32		retries;
	bool		cache_hit;
	int64		job_id;
	char		prompt_sha256[65];
	char		cache_key[65];
} ClaudeUsageRecord;

/* One row of claude.cache to insert or refresh. */
typedef struct ClaudeCacheRecord
{
	char		key[65];
	char		model[512];
	char		operation[32];
	char		prompt_sha256[65];
	int64		input_tokens;
	int64		output_tokens;
} ClaudeCacheRecord;

/* A usage record with the common fields (who, where, when) filled in. */
extern void claude_usage_init(ClaudeUsageRecord *r, const char *operation,
							  const char *model);

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

/* Shared memory: size, attach; the audit writer's side. */
extern Size claude_audit_shmem_size(void);
extern void claude_audit_shmem_init(void);
extern bool claude_audit_shared(void);

/* Audit writer: is the ring at least half full (skip gathering)? */
extern bool claude_audit_ring_pressed(void);

/* Audit writer: write what is queued (in its own transaction); returns records written. */
extern int	claude_audit_drain(void);

/* Records lost since start: in neither claude.usage nor the ring (server log only). */
extern uint64 claude_audit_dropped(void);

/* Retention and cache eviction; returns rows deleted. */
extern int64 claude_audit_maintain(void);

/* Per-call context, set by the SQL wrappers. */
extern const char *claude_current_function;
extern const char *claude_current_input;
extern int64 claude_current_job_id;
extern const char *claude_current_role_name;

#endif							/* PG_CLAUDE_AUDIT_H */
