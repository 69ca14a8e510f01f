/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Every claude.* setting, its context and its validation.
 *
 * Who may set what follows DESIGN §3: per-call defaults are USERSET, where
 * data goes (region, endpoint, CA bundle) is SUSET so that only a superuser
 * or a role granted SET ON PARAMETER may move it, and the credential
 * profile is SIGHUP because credentials come from the server, never from a
 * session.  No setting holds a secret.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "utils/guc.h"

#include "endpoint.h"
#include "guc.h"
#include "residency.h"

char	   *claude_region = NULL;
int			claude_provider = CLAUDE_PROVIDER_BEDROCK;
char	   *claude_anthropic_endpoint = NULL;
char	   *claude_anthropic_api_key_file = NULL;

static const struct config_enum_entry claude_provider_options[] = {
	{"bedrock", CLAUDE_PROVIDER_BEDROCK, false},
	{"anthropic", CLAUDE_PROVIDER_ANTHROPIC, false},
	{NULL, 0, false}
};
int			claude_bedrock_api = CLAUDE_BEDROCK_API_INVOKE;

static const struct config_enum_entry claude_bedrock_api_options[] = {
	{"invoke", CLAUDE_BEDROCK_API_INVOKE, false},
	{"messages", CLAUDE_BEDROCK_API_MESSAGES, false},
	{"mantle", CLAUDE_BEDROCK_API_MANTLE, false},
	{NULL, 0, false}
};
char	   *claude_residency = NULL;
char	   *claude_model = NULL;
char	   *claude_endpoint = NULL;
int			claude_max_tokens = 1024;
char	   *claude_temperature = NULL;
int			claude_timeout_ms = 60000;
int			claude_connect_timeout_ms = 5000;
int			claude_max_retries = 3;
char	   *claude_ca_file = NULL;
char	   *claude_profile = NULL;
char	   *claude_role_arn = NULL;
char	   *claude_role_session_name = NULL;
char	   *claude_role_external_id = NULL;
int			claude_on_error = CLAUDE_ON_ERROR_RAISE;
int			claude_max_concurrency = 8;
int			claude_worker_concurrency = 16;
int			claude_requests_per_minute = 0;
int			claude_tokens_per_minute = 0;
double		claude_output_burndown = -1.0;
double		claude_load_test_max_usd = 1.0;
int			claude_request_retention_s = 24 * 3600;
int			claude_summarize_chunk_tokens = 50000;
int			claude_cache_mode = CLAUDE_CACHE_ON;
int			claude_stream_mode = CLAUDE_STREAM_AUTO;
int			claude_cache_scope = CLAUDE_CACHE_SCOPE_ROLE;
int			claude_job_input_timeout_ms = 10000;
int			claude_job_max_consecutive_failures = 20;
int			claude_cache_ttl_s = 0;
int			claude_cache_max_entries = 100000;
int			claude_usage_retention_s = 90 * 24 * 3600;
int			claude_job_retention_s = 90 * 24 * 3600;
bool		claude_log_prompts = false;
char	   *claude_database_name = NULL;
int			claude_audit_buffer_kb = 8192;
int			claude_audit_wait_timeout_ms = 10000;

static const struct config_enum_entry stream_options[] = {
	{"off", CLAUDE_STREAM_OFF, false},
	{"on", CLAUDE_STREAM_ON, false},
	{"auto", CLAUDE_STREAM_AUTO, false},
	{NULL, 0, false}
};

static const struct config_enum_entry cache_options[] = {
	{"on", CLAUDE_CACHE_ON, false},
	{"off", CLAUDE_CACHE_OFF, false},
	{"read-only", CLAUDE_CACHE_READ_ONLY, false},
	{"read_only", CLAUDE_CACHE_READ_ONLY, true},
	{NULL, 0, false}
};

static const struct config_enum_entry cache_scope_options[] = {
	{"role", CLAUDE_CACHE_SCOPE_ROLE, false},
	{"shared", CLAUDE_CACHE_SCOPE_SHARED, false},
	{NULL, 0, false}
};

static const struct config_enum_entry prompt_cache_ttl_options[] = {
	{"5m", CLAUDE_PROMPT_CACHE_5M, false},
	{"1h", CLAUDE_PROMPT_CACHE_1H, false},
	{NULL, 0, false}
};

int			claude_prompt_cache_ttl = CLAUDE_PROMPT_CACHE_5M;
char	   *claude_control_endpoint = NULL;
char	   *claude_s3_endpoint = NULL;
int			claude_models_refresh_interval_s = 86400;

/* batch inference (job_batch.c) */
char	   *claude_batch_s3_uri = NULL;
char	   *claude_batch_role_arn = NULL;
char	   *claude_batch_kms_key_id = NULL;
char	   *claude_batch_tags = NULL;
int			claude_batch_poll_interval_s = 60;
int			claude_batch_min_rows = 1000;
int			claude_batch_max_records = 50000;

static const struct config_enum_entry on_error_options[] = {
	{"raise", CLAUDE_ON_ERROR_RAISE, false},
	{"null", CLAUDE_ON_ERROR_NULL, false},
	{NULL, 0, false}
};

#define CLAUDE_DEFAULT_MODEL "au.anthropic.claude-sonnet-5"

/*
 * AWS region names are lower-case words joined by '-' and ending in a
 * number: "ap-southeast-2", "us-gov-west-1".  Anything else would end up in
 * a host name, so it is refused outright.
 */
bool
claude_valid_region(const char *region)
{
	const char *p = region;
	int			words = 0;

	if (region == NULL || strlen(region) > 32)
		return false;
	for (;;)
	{
		const char *start = p;

		while (*p >= 'a' && *p <= 'z')
			p++;
		if (p == start)
			break;
		words++;
		if (*p != '-')
			return false;
		p++;
	}
	if (words < 2 || !isdigit((unsigned char) *p))
		return false;
	while (isdigit((unsigned char) *p))
		p++;
	return *p == '\0';
}

/* Parse a temperature; Claude on Bedrock accepts 0 to 1 inclusive. */
bool
claude_parse_temperature(const char *text, double *value)
{
	char	   *end;
	double		v;

	errno = 0;
	v = strtod(text, &end);
	if (end == text || errno != 0 || isnan(v))
		return false;
	while (isspace((unsigned char) *end))
		end++;
	if (*end != '\0' || v < 0.0 || v > 1.0)
		return false;
	*value = v;
	return true;
}

bool
claude_guc_temperature(double *value)
{
	if (claude_temperature == NULL || claude_temperature[0] == '\0')
		return false;
	return claude_parse_temperature(claude_temperature, value);
}

static bool
check_region(char **newval, void **extra, GucSource source)
{
	if (!claude_valid_region(*newval))
	{
		GUC_check_errdetail("\"%s\" is not an AWS region name such as \"ap-southeast-2\".",
							*newval);
		return false;
	}
	return true;
}

int
claude_file_unreadable(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return errno;
	if (!S_ISREG(st.st_mode))
		return EISDIR;
	if (access(path, R_OK) != 0)
		return errno;
	return 0;
}

/*
 * A CA bundle that is missing or unreadable would otherwise surface as a
 * certificate that could not be verified.  Only a SET is refused: a value
 * from a configuration file is judged when it is used (http_transfer.c), so that a
 * bad line never stops the server.
 */
static bool
check_ca_file(char **newval, void **extra, GucSource source)
{
	int			err;

	if (*newval == NULL || (*newval)[0] == '\0' || source < PGC_S_INTERACTIVE)
		return true;
	err = claude_file_unreadable(*newval);
	if (err != 0)
	{
		GUC_check_errdetail("The CA bundle \"%s\" cannot be read: %s.", *newval, strerror(err));
		GUC_check_errhint("Name a PEM file the server's operating-system user can read, or '' for the system's CAs.");
		return false;
	}
	return true;
}

static bool
check_residency(char **newval, void **extra, GucSource source)
{
	if (!claude_residency_known(*newval))
	{
		GUC_check_errdetail("Valid values are au, region, jp, eu, us, apac and none.");
		return false;
	}
	return true;
}

static bool
check_endpoint(char **newval, void **extra, GucSource source)
{
	ClaudeEndpoint ep;
	const char *why;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!claude_endpoint_parse(*newval, &ep, &why))
	{
		GUC_check_errdetail("%s", why);
		return false;
	}
	return true;
}

static bool
check_temperature(char **newval, void **extra, GucSource source)
{
	double		v;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!claude_parse_temperature(*newval, &v))
	{
		GUC_check_errdetail("Temperature must be a number between 0 and 1, or empty for the model's default.");
		return false;
	}
	return true;
}

static bool
check_model(char **newval, void **extra, GucSource source)
{
	const char *p;

	if (*newval == NULL || (*newval)[0] == '\0')
	{
		GUC_check_errdetail("A model id, inference profile id or ARN is required.");
		return false;
	}
	if (strlen(*newval) > 2048)
	{
		GUC_check_errdetail("Model identifiers are at most 2048 characters.");
		return false;
	}
	for (p = *newval; *p; p++)
	{
		if ((unsigned char) *p <= ' ' || *p == 0x7f)
		{
			GUC_check_errdetail("Model identifiers cannot contain spaces or control characters.");
			return false;
		}
	}
	return true;
}

static bool
check_profile(char **newval, void **extra, GucSource source)
{
	const char *p;

	for (p = *newval ? *newval : ""; *p; p++)
	{
		if (!isalnum((unsigned char) *p) && strchr("-_.@+", *p) == NULL)
		{
			GUC_check_errdetail("Profile names may contain letters, digits and -_.@+ only.");
			return false;
		}
	}
	return true;
}

/* arn:PARTITION:iam::ACCOUNT:role/NAME */
static bool
check_role_arn(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;

	if (v == NULL || v[0] == '\0')
		return true;
	if (strncmp(v, "arn:", 4) != 0 || strstr(v, ":iam::") == NULL ||
		strstr(v, ":role/") == NULL || strpbrk(v, " \t\r\n") != NULL)
	{
		GUC_check_errdetail("Expected an IAM role ARN such as \"arn:aws:iam::123456789012:role/pg-claude\".");
		return false;
	}
	return true;
}

/* STS: 2 to 64 characters of [A-Za-z0-9+=,.@-] */
static bool
check_session_name(char **newval, void **extra, GucSource source)
{
	const char *p;
	size_t		len = *newval ? strlen(*newval) : 0;

	if (len < 2 || len > 64)
	{
		GUC_check_errdetail("A role session name has 2 to 64 characters.");
		return false;
	}
	for (p = *newval; *p; p++)
	{
		if (!isalnum((unsigned char) *p) && strchr("_+=,.@-", *p) == NULL)
		{
			GUC_check_errdetail("A role session name may contain letters, digits and _+=,.@- only.");
			return false;
		}
	}
	return true;
}

/* STS: 2 to 1224 characters of [\w+=,.@:/-] */
static bool
check_external_id(char **newval, void **extra, GucSource source)
{
	const char *p;
	size_t		len = *newval ? strlen(*newval) : 0;

	if (len == 0)
		return true;
	if (len < 2 || len > 1224)
	{
		GUC_check_errdetail("An external id has 2 to 1224 characters.");
		return false;
	}
	for (p = *newval; *p; p++)
	{
		if (!isalnum((unsigned char) *p) && strchr("_+=,.@:/-", *p) == NULL)
		{
			GUC_check_errdetail("An external id may contain letters, digits and _+=,.@:/- only.");
			return false;
		}
	}
	return true;
}

/*
 * Settings the worker needs at server start: only meaningful, and only
 * defined as postmaster settings, when pg_claude is preloaded.
 */
void
claude_guc_init_postmaster(void)
{
	DefineCustomStringVariable("claude.database_name",
							   gettext_noop("Sets the database the pg_claude worker serves (audit log, cache, jobs)."),
							   NULL,
							   &claude_database_name,
							   "postgres",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("claude.audit_buffer",
							gettext_noop("Sets the shared memory that holds audit and cache records until the worker writes them."),
							NULL,
							&claude_audit_buffer_kb,
							8192, 64, 1024 * 1024,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
}


/* issue 19: redaction before sending and Bedrock guardrails */
bool		claude_redact_before_send = false;
char	   *claude_guardrail_id = NULL;
char	   *claude_guardrail_version = NULL;
int			claude_guardrail_on_intervention = CLAUDE_GUARDRAIL_NULL;

static const struct config_enum_entry guardrail_on_intervention_options[] = {
	{"null", CLAUDE_GUARDRAIL_NULL, false},
	{"error", CLAUDE_GUARDRAIL_ERROR, false},
	{NULL, 0, false}
};

/* The runtime's GuardrailIdentifier: an id ([a-z0-9]+) or a guardrail ARN. */
static bool
check_guardrail_id(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;
	const char *p;

	if (v == NULL || v[0] == '\0')
		return true;
	if (strncmp(v, "arn:", 4) == 0)
	{
		p = strstr(v, ":guardrail/");
		if (strncmp(v, "arn:aws", 7) == 0 && strstr(v, ":bedrock:") != NULL && p != NULL && p[11] != '\0' &&
			strspn(p + 11, "abcdefghijklmnopqrstuvwxyz0123456789") == strlen(p + 11) && strlen(v) <= 2048)
			return true;
	}
	else if (strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789") == strlen(v) && strlen(v) <= 2048)
		return true;
	GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
	GUC_check_errmsg("invalid guardrail identifier \"%s\"", v);
	GUC_check_errhint("Use the guardrail's id (lower-case letters and digits) or its ARN "
					  "(arn:aws:bedrock:REGION:ACCOUNT:guardrail/ID).");
	return false;
}

/* The runtime's GuardrailVersion: 1 to 99999999, or DRAFT. */
static bool
check_guardrail_version(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;

	if (v == NULL || v[0] == '\0' || strcmp(v, "DRAFT") == 0)
		return true;
	if (v[0] >= '1' && v[0] <= '9' && strlen(v) <= 8 && strspn(v, "0123456789") == strlen(v))
		return true;
	GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
	GUC_check_errmsg("invalid guardrail version \"%s\"", v);
	GUC_check_errhint("Use a version number (1, 2, ...) or DRAFT.");
	return false;
}

void
claude_guc_init(void)
{
	DefineCustomStringVariable("claude.region",
							   gettext_noop("Sets the AWS region that Bedrock requests are sent to."),
							   NULL,
							   &claude_region,
							   "ap-southeast-2",
							   PGC_SUSET, 0,
							   check_region, NULL, NULL);

	DefineCustomStringVariable("claude.residency",
							   gettext_noop("Sets the geography Bedrock requests may be processed in."),
							   gettext_noop("au (default): Australia only; region: only claude.region, no inference profiles; "
											"jp, eu, us, apac: that geography; none: anywhere."),
							   &claude_residency,
							   "au",
							   PGC_SUSET, 0,
							   check_residency, NULL, NULL);

	DefineCustomStringVariable("claude.model",
							   gettext_noop("Sets the default model id, inference profile id or ARN."),
							   NULL,
							   &claude_model,
							   CLAUDE_DEFAULT_MODEL,
							   PGC_USERSET, 0,
							   check_model, NULL, NULL);

	DefineCustomStringVariable("claude.endpoint",
							   gettext_noop("Sets an override URL for the Bedrock runtime endpoint."),
							   gettext_noop("Empty means https://bedrock-runtime.<claude.region>.amazonaws.com."),
							   &claude_endpoint,
							   "",
							   PGC_SUSET, 0,
							   check_endpoint, NULL, NULL);

	DefineCustomStringVariable("claude.control_endpoint",
							   gettext_noop("Sets an override URL for the Bedrock control plane (model and profile listings)."),
							   gettext_noop("Empty means https://bedrock.<claude.region>.amazonaws.com."),
							   &claude_control_endpoint,
							   "",
							   PGC_SUSET, 0,
							   check_endpoint, NULL, NULL);

	DefineCustomStringVariable("claude.s3_endpoint",
							   gettext_noop("Sets an override URL for Amazon S3 (a VPC endpoint, or tests); requests to it are path-style."),
							   gettext_noop("Empty means https://BUCKET.s3.<the bucket's region>.amazonaws.com."),
							   &claude_s3_endpoint,
							   "",
							   PGC_SUSET, 0,
							   check_endpoint, NULL, NULL);

	DefineCustomIntVariable("claude.models_refresh_interval",
							gettext_noop("Sets how often the worker refreshes claude.models from the control plane (0: never)."),
							NULL,
							&claude_models_refresh_interval_s,
							86400, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("claude.max_tokens",
							gettext_noop("Sets the default maximum number of tokens Claude may generate."),
							NULL,
							&claude_max_tokens,
							1024, 1, 1000000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("claude.temperature",
							   gettext_noop("Sets the default sampling temperature (0 to 1); empty leaves it to the model."),
							   NULL,
							   &claude_temperature,
							   "",
							   PGC_USERSET, 0,
							   check_temperature, NULL, NULL);

	DefineCustomIntVariable("claude.timeout",
							gettext_noop("Sets the time limit of one Bedrock request attempt."),
							NULL,
							&claude_timeout_ms,
							60000, 100, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("claude.connect_timeout",
							gettext_noop("Sets the time limit for connecting to Bedrock."),
							NULL,
							&claude_connect_timeout_ms,
							5000, 100, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("claude.max_retries",
							gettext_noop("Sets how many times throttled, failed (5xx) or interrupted requests are retried."),
							NULL,
							&claude_max_retries,
							3, 0, 20,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("claude.ca_file",
							   gettext_noop("Sets an extra CA bundle trusted for TLS, besides the system's."),
							   NULL,
							   &claude_ca_file,
							   "",
							   PGC_SUSET, 0,
							   check_ca_file, NULL, NULL);

	DefineCustomStringVariable("claude.profile",
							   gettext_noop("Sets the profile read from the AWS shared credentials and config files."),
							   gettext_noop("Empty means AWS_PROFILE from the server's environment, or \"default\"."),
							   &claude_profile,
							   "",
							   PGC_SIGHUP, 0,
							   check_profile, NULL, NULL);

	DefineCustomStringVariable("claude.role_arn",
							   gettext_noop("Sets an IAM role to assume with STS for Bedrock calls."),
							   gettext_noop("Empty means use the credentials of the provider chain directly."),
							   &claude_role_arn,
							   "",
							   PGC_SIGHUP, 0,
							   check_role_arn, NULL, NULL);

	DefineCustomStringVariable("claude.role_session_name",
							   gettext_noop("Sets the session name used when assuming claude.role_arn."),
							   NULL,
							   &claude_role_session_name,
							   "pg_claude",
							   PGC_SIGHUP, 0,
							   check_session_name, NULL, NULL);

	DefineCustomStringVariable("claude.role_external_id",
							   gettext_noop("Sets the external id passed when assuming claude.role_arn."),
							   NULL,
							   &claude_role_external_id,
							   "",
							   PGC_SIGHUP, 0,
							   check_external_id, NULL, NULL);

	DefineCustomIntVariable("claude.max_concurrency",
							gettext_noop("Sets how many requests a set-based call keeps in flight."),
							NULL,
							&claude_max_concurrency,
							8, 1, 256,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("claude.worker_concurrency",
							gettext_noop("Sets how many requests the pg_claude worker keeps in flight."),
							NULL,
							&claude_worker_concurrency,
							16, 1, 256,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("claude.requests_per_minute",
							gettext_noop("Sets the worker's request rate limit; 0 means none."),
							NULL,
							&claude_requests_per_minute,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("claude.tokens_per_minute",
							gettext_noop("Sets the worker's token rate limit (input and output); 0 means none."),
							NULL,
							&claude_tokens_per_minute,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	/*
	 * Bedrock reserves max_tokens of output at the start of a request and
	 * counts Claude 4-family output several times over against the quota;
	 * by how much is each model's output_burndown in claude.models.
	 */
	DefineCustomRealVariable("claude.output_burndown",
							 gettext_noop("Sets how many quota tokens one output token costs under claude.tokens_per_minute."),
							 gettext_noop("-1: each model's factor from claude.models."),
							 &claude_output_burndown,
							 -1.0, -1.0, 100.0,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("claude.request_retention",
							gettext_noop("Sets how long finished claude_complete_async() results are kept."),
							NULL,
							&claude_request_retention_s,
							24 * 3600, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("claude.on_error",
							 gettext_noop("Sets what a failed call does: raise an error, or return NULL with a WARNING."),
							 NULL,
							 &claude_on_error,
							 CLAUDE_ON_ERROR_RAISE,
							 on_error_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("claude.summarize_chunk_tokens",
							gettext_noop("Sets the estimated input tokens per request when claude_summarize_agg summarises in stages."),
							NULL,
							&claude_summarize_chunk_tokens,
							50000, 200, 150000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("claude.prompt_cache_ttl",
							 gettext_noop("Sets how long Bedrock keeps a cached prompt prefix: 5m or 1h (written at 2x the input price)."),
							 NULL,
							 &claude_prompt_cache_ttl,
							 CLAUDE_PROMPT_CACHE_5M,
							 prompt_cache_ttl_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("claude.cache",
							 gettext_noop("Sets whether identical requests are answered from claude.cache: on, off or read-only."),
							 NULL,
							 &claude_cache_mode,
							 CLAUDE_CACHE_ON,
							 cache_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	/*
	 * Shared answers leak: a hit answers in microseconds, so any role
	 * could learn whether another sent an exact prompt.  Only a superuser
	 * may trade that for the savings.
	 */
	DefineCustomEnumVariable("claude.cache_scope",
							 gettext_noop("Sets whose cached answers a role may reuse: its own (role) or every role's (shared)."),
							 NULL,
							 &claude_cache_scope,
							 CLAUDE_CACHE_SCOPE_ROLE,
							 cache_scope_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("claude.job_input_timeout",
							gettext_noop("Sets the statement timeout the worker applies when it evaluates a job's input expression over a batch of rows."),
							gettext_noop("A job whose input takes longer fails, rather than holding the worker; 0 means no limit."),
							&claude_job_input_timeout_ms,
							10000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	/*
	 * Anyone: it only decides how soon the caller's own job gives up, like
	 * claude.model decides what it runs on; claude_enrich records the value
	 * on the job (claude.job.max_consecutive_failures), since the worker
	 * never sees the caller's session.
	 */
	DefineCustomIntVariable("claude.job_max_consecutive_failures",
							gettext_noop("Sets after how many consecutive rows failing with the same non-retryable error an enrichment job stops as failed."),
							gettext_noop("Recorded on the job when claude_enrich queues it; retryable errors (throttling, 5xx, network) never count, "
										 "a success starts the count again, and 0 means never stop."),
							&claude_job_max_consecutive_failures,
							20, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("claude.cache_ttl",
							gettext_noop("Sets how long a cached response may be reused; 0 means without limit."),
							NULL,
							&claude_cache_ttl_s,
							0, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("claude.cache_max_entries",
							gettext_noop("Sets how many responses claude.cache keeps; the least recently used go first. 0 means without limit."),
							NULL,
							&claude_cache_max_entries,
							100000, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("claude.usage_retention",
							gettext_noop("Sets how long rows of the audit log claude.usage are kept; 0 means forever."),
							NULL,
							&claude_usage_retention_s,
							90 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	/* finished jobs only: a running, paused or queued job is never pruned */
	DefineCustomIntVariable("claude.job_retention",
							gettext_noop("Sets how long finished jobs (claude.job) and their rows (claude.job_items) are kept; 0 means forever."),
							gettext_noop("Input hashes (claude.enrich_hashes) are kept whatever the age: they are what spares a re-run from sending again."),
							&claude_job_retention_s,
							90 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("claude.audit_wait_timeout",
							gettext_noop("Sets how long a backend waits for room in a full audit buffer while the audit writer makes none; "
										 "then it writes its records itself, in its own transaction. 0 means not at all."),
							NULL,
							&claude_audit_wait_timeout_ms,
							10000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("claude.log_prompts",
							 gettext_noop("Stores the prompt text in the audit log, not only its hash."),
							 NULL,
							 &claude_log_prompts,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	/* a load test spends money: a superuser bounds what one may cost (README, "Load testing") */
	DefineCustomRealVariable("claude.load_test_max_usd",
							 gettext_noop("Sets the most a claude_load_test() may be estimated to cost, in USD."),
							 gettext_noop("0 refuses every load test."),
							 &claude_load_test_max_usd,
							 1.0, 0.0, 1000000.0,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	/* issue 18: the Anthropic API as a second provider (doc/providers.md) */
	DefineCustomEnumVariable("claude.provider",
							 gettext_noop("Sets where requests go: bedrock (Amazon Bedrock) or anthropic (Anthropic's own API)."),
							 gettext_noop("Residency applies to both: the Anthropic API processes in the United States or globally, never in Australia."),
							 &claude_provider,
							 CLAUDE_PROVIDER_BEDROCK,
							 claude_provider_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("claude.bedrock_api",
							 gettext_noop("Sets which Bedrock API model calls use: invoke (InvokeModel), messages or mantle (the Messages API)."),
							 gettext_noop("messages: bedrock-runtime's /anthropic/v1/messages; mantle: bedrock-mantle.<claude.region>.api.aws."),
							 &claude_bedrock_api,
							 CLAUDE_BEDROCK_API_INVOKE,
							 claude_bedrock_api_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("claude.anthropic_endpoint",
							   gettext_noop("Sets an override URL for the Anthropic API."),
							   gettext_noop("Empty means https://api.anthropic.com."),
							   &claude_anthropic_endpoint,
							   "",
							   PGC_SUSET, 0,
							   check_endpoint, NULL, NULL);

	DefineCustomStringVariable("claude.anthropic_api_key_file",
							   gettext_noop("Sets a file holding the Anthropic API key, readable by the server only."),
							   gettext_noop("Empty means the postmaster's environment variable ANTHROPIC_API_KEY."),
							   &claude_anthropic_api_key_file,
							   "",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);

	/*
	 * USERSET: streaming changes how an answer arrives, never what it is or
	 * costs, so any role may choose (doc/architecture.md, "Streaming").
	 */
	DefineCustomEnumVariable("claude.stream",
							 gettext_noop("Sets whether InvokeModel calls stream (InvokeModelWithResponseStream): off, on or auto."),
							 gettext_noop("auto streams every call, since the answer is the same and time to first token is then measured."),
							 &claude_stream_mode,
							 CLAUDE_STREAM_AUTO,
							 stream_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	/*
	 * Batch inference (README, "Overnight at half price").  Superuser: the
	 * worker reads its own values (postgresql.conf, ALTER SYSTEM or ALTER
	 * DATABASE), so a session's SET would not reach it anyway.
	 */
	DefineCustomStringVariable("claude.batch_s3_uri",
							   gettext_noop("Sets where batch inference jobs put their input and find their output: s3://bucket/prefix/."),
							   gettext_noop("Empty: claude_enrich refuses \"mode\": \"batch\", and \"auto\" runs on demand."),
							   &claude_batch_s3_uri,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("claude.batch_role_arn",
							   gettext_noop("Sets the IAM service role Bedrock assumes to read and write claude.batch_s3_uri."),
							   NULL,
							   &claude_batch_role_arn,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("claude.batch_kms_key_id",
							   gettext_noop("Sets the KMS key Bedrock encrypts batch output with (empty: the bucket's default)."),
							   NULL,
							   &claude_batch_kms_key_id,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("claude.batch_tags",
							   gettext_noop("Sets tags for batch inference jobs, as key=value pairs separated by commas."),
							   NULL,
							   &claude_batch_tags,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("claude.batch_poll_interval",
							gettext_noop("Sets how often the worker asks Bedrock how a batch inference job is doing."),
							NULL,
							&claude_batch_poll_interval_s,
							60, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("claude.batch_min_rows",
							gettext_noop("Sets how many rows to do make an enrichment job in \"mode\": \"auto\" go as batch inference."),
							gettext_noop("Never below Bedrock's minimum of 100 records per batch inference job."),
							&claude_batch_min_rows,
							1000, 100, INT_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("claude.batch_max_records",
							gettext_noop("Sets the most records one batch inference job (and its one input file) carries."),
							gettext_noop("Bedrock's quota is 50,000 records per job and per input file; a larger enrichment job is split."),
							&claude_batch_max_records,
							50000, 100, 50000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	/* issue 19: redaction before sending, Bedrock guardrails (doc/redaction.md) */
	DefineCustomBoolVariable("claude.redact_before_send",
							 gettext_noop("Replaces TFNs, ABNs, Medicare numbers, card numbers and email addresses "
										  "in every prompt by placeholders before it is sent."),
							 gettext_noop("Only numbers whose check digit holds; claude.usage.redactions counts what was removed."),
							 &claude_redact_before_send,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("claude.guardrail_id",
							   gettext_noop("Sets the Bedrock guardrail (id or ARN) applied to every InvokeModel call; empty means none."),
							   NULL,
							   &claude_guardrail_id,
							   "",
							   PGC_SUSET, 0,
							   check_guardrail_id, NULL, NULL);

	DefineCustomStringVariable("claude.guardrail_version",
							   gettext_noop("Sets the version of claude.guardrail_id: a number or DRAFT."),
							   NULL,
							   &claude_guardrail_version,
							   "",
							   PGC_SUSET, 0,
							   check_guardrail_version, NULL, NULL);

	DefineCustomEnumVariable("claude.guardrail_on_intervention",
							 gettext_noop("Sets what an answer the guardrail intervened on gives: NULL with a WARNING, or an error."),
							 NULL,
							 &claude_guardrail_on_intervention,
							 CLAUDE_GUARDRAIL_NULL,
							 guardrail_on_intervention_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("claude");
}
