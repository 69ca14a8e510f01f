/*-------------------------------------------------------------------------
 *
 * audit_record.h
 *	  The records of the audit trail: a row of claude.usage, a row of
 *	  claude.cache, as they travel through the ring to their tables.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_AUDIT_RECORD_H
#define PG_CLAUDE_AUDIT_RECORD_H

#include "datatype/timestamp.h"

/* which struct a record is */
typedef enum RecordKind
{
	RECORD_USAGE = 1,
	RECORD_CACHE = 2
} RecordKind;

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
	int64		cache_write_1h_tokens;	/* of cache_write_tokens, for an hour */
	double		latency_ms;
	double		ttft_ms;
	int32		retries;
	bool		cache_hit;
	int64		job_id;
	char		prompt_sha256[65];
	char		cache_key[65];
	char		provider[16];	/* bedrock or anthropic */
	char		redactions[128];	/* JSON of counts per kind, or "" */
	char		guardrail_action[16];
	char		guardrail_trace[256];
	char		attachment_type[32];	/* media type of what was attached, or "" */
	int64		attachment_bytes;
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

#endif							/* PG_CLAUDE_AUDIT_RECORD_H */
