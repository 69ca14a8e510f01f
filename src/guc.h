/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  The claude.* settings.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_GUC_H
#define PG_CLAUDE_GUC_H

#include <stdbool.h>

extern char *claude_region;

/* claude.provider: where requests go (provider.h) */
typedef enum ClaudeProviderKind
{
	CLAUDE_PROVIDER_BEDROCK,
	CLAUDE_PROVIDER_ANTHROPIC
} ClaudeProviderKind;

extern int	claude_provider;

/* claude.bedrock_api: which Bedrock API a model call uses (doc/providers.md) */
typedef enum ClaudeBedrockApi
{
	CLAUDE_BEDROCK_API_INVOKE,
	CLAUDE_BEDROCK_API_MESSAGES,
	CLAUDE_BEDROCK_API_MANTLE
} ClaudeBedrockApi;

extern int	claude_bedrock_api;
extern char *claude_anthropic_endpoint;
extern char *claude_anthropic_api_key_file;
extern char *claude_residency;
extern char *claude_model;
extern char *claude_endpoint;
extern int	claude_max_tokens;
extern char *claude_temperature;
extern int	claude_timeout_ms;
extern int	claude_connect_timeout_ms;
extern int	claude_max_retries;
extern char *claude_ca_file;
extern char *claude_profile;
extern char *claude_role_arn;
extern char *claude_role_session_name;
extern char *claude_role_external_id;

typedef enum ClaudeCacheMode
{
	CLAUDE_CACHE_ON,
	CLAUDE_CACHE_OFF,
	CLAUDE_CACHE_READ_ONLY
} ClaudeCacheMode;

/* claude.cache_scope: whose answers a role may reuse */
typedef enum ClaudeCacheScope
{
	CLAUDE_CACHE_SCOPE_ROLE,
	CLAUDE_CACHE_SCOPE_SHARED
} ClaudeCacheScope;

typedef enum ClaudeOnError
{
	CLAUDE_ON_ERROR_RAISE,
	CLAUDE_ON_ERROR_NULL
} ClaudeOnError;

extern int	claude_on_error;

typedef enum ClaudePromptCacheTtl
{
	CLAUDE_PROMPT_CACHE_5M,
	CLAUDE_PROMPT_CACHE_1H
} ClaudePromptCacheTtl;

extern int	claude_prompt_cache_ttl;
extern char *claude_control_endpoint;
extern char *claude_s3_endpoint;

/* claude.stream (issue 17): whether InvokeModel calls stream */
typedef enum ClaudeStreamMode
{
	CLAUDE_STREAM_OFF,
	CLAUDE_STREAM_ON,
	CLAUDE_STREAM_AUTO
} ClaudeStreamMode;

extern int	claude_stream_mode;
extern int	claude_models_refresh_interval_s;
extern int	claude_max_concurrency;
extern int	claude_worker_concurrency;
extern int	claude_requests_per_minute;
extern int	claude_tokens_per_minute;
extern double claude_output_burndown;
extern double claude_load_test_max_usd;
extern int	claude_request_retention_s;
extern int	claude_cache_mode;
extern int	claude_cache_scope;
extern int	claude_job_input_timeout_ms;
extern int	claude_job_max_consecutive_failures;
extern int	claude_cache_ttl_s;
extern int	claude_cache_max_entries;
extern int	claude_usage_retention_s;
extern int	claude_job_retention_s;
extern bool claude_log_prompts;
extern char *claude_database_name;
extern int	claude_audit_buffer_kb;
extern int	claude_audit_wait_timeout_ms;
extern int	claude_summarize_chunk_tokens;

/* batch inference (job_batch.c) */
extern char *claude_batch_s3_uri;
extern char *claude_batch_role_arn;
extern char *claude_batch_kms_key_id;
extern char *claude_batch_tags;
extern int	claude_batch_poll_interval_s;
extern int	claude_batch_min_rows;
extern int	claude_batch_max_records;
/* issue 19: redaction before sending and Bedrock guardrails */
typedef enum ClaudeGuardrailOnIntervention
{
	CLAUDE_GUARDRAIL_NULL,		/* NULL with a WARNING */
	CLAUDE_GUARDRAIL_ERROR
} ClaudeGuardrailOnIntervention;

extern bool claude_redact_before_send;
extern char *claude_guardrail_id;
extern char *claude_guardrail_version;
extern int	claude_guardrail_on_intervention;

extern void claude_guc_init(void);
extern void claude_guc_init_postmaster(void);

/* claude.temperature parsed; false when unset */
extern bool claude_guc_temperature(double *value);

/* Exposed for reuse by SQL-level argument checks. */
extern bool claude_valid_region(const char *region);
extern bool claude_parse_temperature(const char *text, double *value);

/*
 * 0 when path is a regular file this process can read, else an errno
 * value (EISDIR for anything that is not a regular file).
 */
extern int	claude_file_unreadable(const char *path);

#endif							/* PG_CLAUDE_GUC_H */
