/*-------------------------------------------------------------------------
 *
 * credentials.c
 *	  The AWS credential provider chain, role assumption, and the caches
 *	  (per backend, and shared between backends when preloaded).
 *
 * Providers are tried in botocore's order (create_credential_resolver in
 * botocore/credentials.py): the environment, a profile's assume-role, web
 * identity, the shared credentials file, credential_process, the config
 * file, the container endpoint, then EC2 instance metadata.  Each either
 * supplies credentials, or says why it did not; the reasons of all of them
 * form the DETAIL of the error raised when none did.  Then, when
 * claude.role_arn is set, STS AssumeRole turns them into the database's
 * own least-privilege role.
 *
 * Temporary credentials are cached until CLAUDE_CREDENTIALS_REFRESH_MARGIN
 * before they expire.  With shared_preload_libraries, the cache lives in
 * shared memory and one backend fetches while the others wait on a
 * condition variable, so a pool of backends does not stampede the metadata
 * service.  Secrets are wiped when replaced and never reach a message, a
 * log line or a setting.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>

#include "miscadmin.h"
#include "pgtime.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "port.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "aws_profile.h"
#include "credentials.h"
#include "guc.h"
#include "metadata.h"
#include "sigv4.h"
#include "sts.h"

#define MAX_ROLE_CHAIN 5
#define SHARED_KEY_MAX 256
#define SHARED_SECRET_MAX 512
#define SHARED_TOKEN_MAX 8192

/* ---------------------------------------------------------------------
 * Small helpers
 * --------------------------------------------------------------------- */

const char *
claude_getenv(const char *name)
{
	const char *v = getenv(name);

	return (v != NULL && v[0] != '\0') ? v : NULL;
}

static void
wipe_free(char *s)
{
	if (s)
	{
		explicit_bzero(s, strlen(s));
		pfree(s);
	}
}

void
claude_credentials_fill(ClaudeCredentials *c, const char *provider,
						const char *access_key_id, const char *secret,
						const char *token, TimestampTz expiration)
{
	memset(c, 0, sizeof(*c));
	strlcpy(c->provider, provider, sizeof(c->provider));
	c->access_key_id = pstrdup(access_key_id);
	c->secret_access_key = pstrdup(secret);
	c->session_token = (token && token[0]) ? pstrdup(token) : NULL;
	c->expiration = expiration;
}

void
claude_credentials_clear(ClaudeCredentials *c)
{
	wipe_free(c->access_key_id);
	wipe_free(c->secret_access_key);
	wipe_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

/* Copy into another memory context. */
static void
credentials_copy(ClaudeCredentials *dst, const ClaudeCredentials *src, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	claude_credentials_fill(dst, src->provider, src->access_key_id,
							src->secret_access_key, src->session_token, src->expiration);
	strlcpy(dst->role_arn, src->role_arn, sizeof(dst->role_arn));
	MemoryContextSwitchTo(old);
}

bool
claude_parse_aws_time(const char *s, TimestampTz *out)
{
	struct pg_tm tm;
	int			n = 0;
	const char *p;
	int			off_sign = 0;
	int			off_h = 0;
	int			off_m = 0;
	pg_time_t	t;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return false;
	p = s + n;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' && p[1] == '\0')
		;
	else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &off_h, &off_m) == 2)
		off_sign = (*p == '+') ? 1 : -1;
	else if (*p != '\0')
		return false;

	{
		struct tm	utc;

		memset(&utc, 0, sizeof(utc));
		utc.tm_year = tm.tm_year - 1900;
		utc.tm_mon = tm.tm_mon - 1;
		utc.tm_mday = tm.tm_mday;
		utc.tm_hour = tm.tm_hour;
		utc.tm_min = tm.tm_min;
		utc.tm_sec = tm.tm_sec;
		t = (pg_time_t) timegm(&utc);
	}
	t -= off_sign * (off_h * 3600 + off_m * 60);
	*out = time_t_to_timestamptz(t);
	return true;
}

char *
claude_mask_key(const char *akid)
{
	size_t		len = akid ? strlen(akid) : 0;
	char	   *out;

	if (len == 0)
		return pstrdup("");
	if (len <= 8)
		return pstrdup("****");
	out = pstrdup(akid);
	memset(out + 4, '*', len - 8);
	return out;
}

const char *
claude_bedrock_api_key(void)
{
	return claude_getenv("AWS_BEARER_TOKEN_BEDROCK");
}

static bool
near_expiry(TimestampTz expiration)
{
	if (expiration == 0)
		return false;
	return GetCurrentTimestamp() >=
		TimestampTzPlusMilliseconds(expiration, -CLAUDE_CREDENTIALS_REFRESH_MARGIN_MS);
}

/* ---------------------------------------------------------------------
 * Providers
 * --------------------------------------------------------------------- */

typedef struct ChainContext
{
	AwsProfile *profile;		/* the active profile, loaded once */
	bool		explicit_profile;	/* claude.profile is set */
} ChainContext;

typedef bool (*CredentialProvider) (ChainContext *ctx, ClaudeCredentials *out,
									StringInfo why);

static bool resolve_profile_role(ChainContext *ctx, AwsProfile *profile, int depth,
								 ClaudeCredentials *out, StringInfo why);
static bool process_credentials(const AwsProfile *profile, ClaudeCredentials *out, StringInfo why);
static bool web_identity_credentials(const char *token_file, const char *role_arn,
									 const char *session, ClaudeCredentials *out);

/*
 * The postmaster's environment, as botocore's EnvProvider reads it.  Half a
 * key pair is an error rather than a skip, as in botocore.
 */
static bool
provider_environment(ChainContext *ctx, ClaudeCredentials *out, StringInfo why)
{
	const char *akid = claude_getenv("AWS_ACCESS_KEY_ID");
	const char *secret = claude_getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = claude_getenv("AWS_SESSION_TOKEN");

	if (ctx && ctx->explicit_profile)
	{
		appendStringInfoString(why, "environment: skipped because claude.profile is set");
		return false;
	}
	/* botocore: no access key id means "not configured", whatever else is set */
	if (akid == NULL)
	{
		appendStringInfoString(why, "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
		return false;
	}
	if (secret == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("partial AWS credentials in the server's environment"),
				 errdetail("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not."),
				 errhint("Set both variables in the environment of the PostgreSQL server, or neither.")));
	claude_credentials_fill(out, "environment", akid, secret, token, 0);
	return true;
}

/* Static keys of a profile in one file (or both when from_file is NULL). */
static bool
profile_static_keys(const AwsProfile *p, const char *from_file, ClaudeCredentials *out,
					const char *provider)
{
	const char *(*get) (const AwsProfile *, const char *) =
		from_file == NULL ? aws_profile_any :
		strcmp(from_file, "credentials") == 0 ? aws_profile_cred : aws_profile_conf;
	const char *akid = get(p, "aws_access_key_id");
	const char *secret = get(p, "aws_secret_access_key");

	if (akid == NULL || secret == NULL)
		return false;
	claude_credentials_fill(out, provider, akid, secret, get(p, "aws_session_token"), 0);
	return true;
}

static char *
default_session_name(void)
{
	return psprintf("pg_claude-%ld", (long) time(NULL));
}

/* Credentials named by a profile's credential_source. */
static bool
credential_source(const char *source, ClaudeCredentials *out, StringInfo why)
{
	if (strcmp(source, "Environment") == 0)
		return provider_environment(NULL, out, why);
	if (strcmp(source, "Ec2InstanceMetadata") == 0)
		return claude_imds_credentials(out, why);
	if (strcmp(source, "EcsContainer") == 0)
		return claude_container_credentials(out, why);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("unsupported credential_source \"%s\"", source),
			 errhint("Use Environment, Ec2InstanceMetadata or EcsContainer.")));
	return false;
}

/*
 * A profile with role_arn and source_profile or credential_source: get the
 * source credentials (recursively, for chained roles) and assume the role.
 */
static bool
resolve_profile_role(ChainContext *ctx, AwsProfile *profile, int depth,
					 ClaudeCredentials *out, StringInfo why)
{
	const char *role_arn = aws_profile_any(profile, "role_arn");
	const char *source_profile = aws_profile_any(profile, "source_profile");
	const char *source = aws_profile_any(profile, "credential_source");
	ClaudeCredentials base;
	StsAssumeRoleParams params;
	const char *duration;

	if (depth > MAX_ROLE_CHAIN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("profile role chain is longer than %d roles", MAX_ROLE_CHAIN)));
	if (source_profile && source)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("profile \"%s\" sets both source_profile and credential_source", profile->name)));

	memset(&base, 0, sizeof(base));
	if (source)
	{
		if (!credential_source(source, &base, why))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("credential_source %s of profile \"%s\" supplied no credentials",
							source, profile->name),
					 errdetail("%s.", why->data)));
	}
	else
	{
		AwsProfile *src = strcmp(source_profile, profile->name) == 0 ? profile :
			aws_profile_load(source_profile, NULL);
		bool		has_static = aws_profile_any(src, "aws_access_key_id") != NULL;
		bool		has_role = aws_profile_any(src, "role_arn") != NULL &&
			(aws_profile_any(src, "source_profile") || aws_profile_any(src, "credential_source"));

		/*
		 * botocore (_resolve_credentials_from_profile): static keys, or no
		 * role settings, mean "run the profile's own providers"; otherwise
		 * the source profile's role is assumed first (role chaining).
		 */
		if (src == profile || has_static || !has_role)
		{
			const char *token_file = aws_profile_any(src, "web_identity_token_file");
			StringInfoData src_why;
			bool		found = false;

			initStringInfo(&src_why);
			if (token_file && aws_profile_any(src, "role_arn"))
				found = web_identity_credentials(token_file, aws_profile_any(src, "role_arn"),
												 aws_profile_any(src, "role_session_name"), &base);
			if (!found)
				found = profile_static_keys(src, "credentials", &base, "");
			if (!found)
				found = process_credentials(src, &base, &src_why);
			if (!found)
				found = profile_static_keys(src, "config", &base, "");
			if (!found)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
						 errmsg("source_profile \"%s\" of profile \"%s\" has no credentials",
								source_profile, profile->name)));
		}
		else
			resolve_profile_role(ctx, src, depth + 1, &base, why);
		if (src != profile)
			aws_profile_free(src);
	}

	params.role_arn = role_arn;
	params.session_name = aws_profile_any(profile, "role_session_name");
	if (params.session_name == NULL)
		params.session_name = default_session_name();
	params.external_id = aws_profile_any(profile, "external_id");
	duration = aws_profile_any(profile, "duration_seconds");
	params.duration_seconds = duration ? atoi(duration) : 0;

	claude_sts_assume_role(&base, &params, out);
	snprintf(out->provider, sizeof(out->provider), "profile %s: assume role (source: %s)",
			 profile->name, source ? source : psprintf("profile %s", source_profile));
	claude_credentials_clear(&base);
	return true;
}

static bool
provider_profile_assume_role(ChainContext *ctx, ClaudeCredentials *out, StringInfo why)
{
	AwsProfile *p = ctx->profile;

	if (aws_profile_any(p, "role_arn") == NULL ||
		(aws_profile_any(p, "source_profile") == NULL &&
		 aws_profile_any(p, "credential_source") == NULL))
	{
		appendStringInfo(why, "assume role: profile \"%s\" has no role_arn with source_profile or credential_source",
						 p->name);
		return false;
	}
	return resolve_profile_role(ctx, p, 1, out, why);
}

/* Read a web identity token file; the file is re-read on every refresh. */
static char *
read_token_file(const char *path)
{
	FILE	   *f = fopen(path, "r");
	StringInfoData buf;
	char		chunk[4096];
	size_t		n;

	if (f == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not read the web identity token file \"%s\": %m", path)));
	initStringInfo(&buf);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		appendBinaryStringInfo(&buf, chunk, n);
	fclose(f);
	explicit_bzero(chunk, sizeof(chunk));
	while (buf.len > 0 && (buf.data[buf.len - 1] == '\n' || buf.data[buf.len - 1] == '\r' ||
						   buf.data[buf.len - 1] == ' '))
		buf.data[--buf.len] = '\0';
	return buf.data;
}

/* AssumeRoleWithWebIdentity with the token in token_file. */
static bool
web_identity_credentials(const char *token_file, const char *role_arn,
						 const char *session, ClaudeCredentials *out)
{
	StsAssumeRoleParams params;
	char	   *token;

	params.role_arn = role_arn;
	params.session_name = session ? session : default_session_name();
	params.external_id = NULL;
	params.duration_seconds = 0;
	token = read_token_file(token_file);
	PG_TRY();
	{
		claude_sts_assume_role_with_web_identity(&params, token, out);
	}
	PG_FINALLY();
	{
		explicit_bzero(token, strlen(token));
	}
	PG_END_TRY();
	snprintf(out->provider, sizeof(out->provider), "web identity (%s)", token_file);
	return true;
}

/*
 * Web identity (IRSA): AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, or a
 * profile's web_identity_token_file + role_arn, traded with STS
 * AssumeRoleWithWebIdentity (no signature: the token is the proof).
 */
static bool
provider_web_identity(ChainContext *ctx, ClaudeCredentials *out, StringInfo why)
{
	const char *token_file = NULL;
	const char *role_arn = NULL;
	const char *session = NULL;

	if (!ctx->explicit_profile)
	{
		token_file = claude_getenv("AWS_WEB_IDENTITY_TOKEN_FILE");
		role_arn = claude_getenv("AWS_ROLE_ARN");
		session = claude_getenv("AWS_ROLE_SESSION_NAME");
	}
	if (token_file == NULL)
	{
		token_file = aws_profile_any(ctx->profile, "web_identity_token_file");
		role_arn = aws_profile_any(ctx->profile, "role_arn");
		session = aws_profile_any(ctx->profile, "role_session_name");
	}
	if (token_file == NULL)
	{
		appendStringInfoString(why, "web identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set");
		return false;
	}
	if (role_arn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("a web identity token file is configured but no role ARN"),
				 errhint("Set AWS_ROLE_ARN in the server's environment.")));

	web_identity_credentials(token_file, role_arn, session, out);
	snprintf(out->provider, sizeof(out->provider), "web identity (%s)", token_file);
	return true;
}

static bool
provider_credentials_file(ChainContext *ctx, ClaudeCredentials *out, StringInfo why)
{
	AwsProfile *p = ctx->profile;

	if (profile_static_keys(p, "credentials", out, ""))
	{
		snprintf(out->provider, sizeof(out->provider), "shared credentials file (profile %s)", p->name);
		return true;
	}
	if (p->credentials_path == NULL)
		appendStringInfoString(why, "shared credentials file: no HOME directory to look in");
	else if (!p->in_credentials)
		appendStringInfo(why, "shared credentials file \"%s\": no profile \"%s\"",
						 p->credentials_path, p->name);
	else
		appendStringInfo(why, "shared credentials file \"%s\": profile \"%s\" has no aws_access_key_id and aws_secret_access_key",
						 p->credentials_path, p->name);
	return false;
}

#define CREDENTIAL_PROCESS_TIMEOUT_MS 60000
#define CREDENTIAL_PROCESS_MAX_OUTPUT (1024 * 1024)
/* how often stderr is drained while waiting for stdout */
#define CREDENTIAL_PROCESS_POLL_MS 100

/*
 * Read what the helper wrote to stderr so far, counting it and keeping
 * none of it: a helper may print its secrets there (debug output, a
 * failed call quoting its request).  Non-blocking; false at EOF.
 */
static bool
drain_stderr(int fd, size_t *bytes)
{
	char		chunk[4096];

	for (;;)
	{
		ssize_t		n = read(fd, chunk, sizeof(chunk));

		if (n > 0)
		{
			*bytes += n;
			explicit_bzero(chunk, n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0;			/* EAGAIN: open, nothing more now */
	}
}

/*
 * Run a credential_process command and collect what it prints.  Not popen:
 * the backend must keep servicing interrupts while it waits, and must be
 * able to kill a helper that hangs or ignores signals, so it forks the
 * shell itself, waits on the pipe together with its latch, and kills and
 * reaps the child on every way out.  Its stderr is a pipe of its own, read
 * and discarded: inherited, it would go verbatim into the server log.
 */
static char *
run_credential_process(const char *command, const char *profile)
{
	int			fds[2];
	int			errfds[2];
	volatile bool err_open = true;
	size_t		err_bytes = 0;
	volatile pid_t child;
	StringInfoData out;
	TimestampTz deadline;
	int			status = 0;
	volatile bool reaped = false;

	if (pipe(fds) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not create a pipe for credential_process: %m")));
	if (pipe(errfds) != 0)
	{
		close(fds[0]);
		close(fds[1]);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not create a pipe for credential_process: %m")));
	}
	fflush(NULL);
	child = fork();
	if (child < 0)
	{
		close(fds[0]);
		close(fds[1]);
		close(errfds[0]);
		close(errfds[1]);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not run the credential_process of profile \"%s\": %m", profile)));
	}
	if (child == 0)
	{
		/* the child: stdout and stderr to pipes, default signal handling, the shell */
		dup2(fds[1], STDOUT_FILENO);
		dup2(errfds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		close(errfds[0]);
		close(errfds[1]);
		pqsignal(SIGPIPE, SIG_DFL);
		pqsignal(SIGINT, SIG_DFL);
		pqsignal(SIGTERM, SIG_DFL);
		pqsignal(SIGQUIT, SIG_DFL);
		execl("/bin/sh", "sh", "-c", command, (char *) NULL);
		_exit(127);
	}
	close(fds[1]);
	close(errfds[1]);
	(void) fcntl(errfds[0], F_SETFL, O_NONBLOCK);

	initStringInfo(&out);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), CREDENTIAL_PROCESS_TIMEOUT_MS);
	PG_TRY();
	{
		for (;;)
		{
			char		chunk[4096];
			ssize_t		n;
			long		secs;
			int			usecs;
			int			rc;

			TimestampDifference(GetCurrentTimestamp(), deadline, &secs, &usecs);
			if (secs == 0 && usecs == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
						 errmsg("the credential_process of profile \"%s\" did not finish within %d seconds",
								profile, CREDENTIAL_PROCESS_TIMEOUT_MS / 1000)));
			/* woken at least every poll interval, so a chatty stderr never blocks the helper */
			rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								   fds[0], Min(secs * 1000 + usecs / 1000 + 1, CREDENTIAL_PROCESS_POLL_MS),
								   PG_WAIT_EXTENSION);
			if (rc & WL_LATCH_SET)
				ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			if (err_open)
				err_open = drain_stderr(errfds[0], &err_bytes);
			if (!(rc & WL_SOCKET_READABLE))
				continue;
			n = read(fds[0], chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			if (out.len + n > CREDENTIAL_PROCESS_MAX_OUTPUT)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
						 errmsg("the credential_process of profile \"%s\" printed too much", profile)));
			appendBinaryStringInfo(&out, chunk, n);
			explicit_bzero(chunk, sizeof(chunk));
		}
		while (waitpid(child, &status, 0) < 0 && errno == EINTR)
			CHECK_FOR_INTERRUPTS();
		reaped = true;
		if (err_open)
			(void) drain_stderr(errfds[0], &err_bytes);
	}
	PG_FINALLY();
	{
		close(fds[0]);
		close(errfds[0]);
		if (!reaped)
		{
			kill(child, SIGKILL);
			while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
				;
		}
	}
	PG_END_TRY();

	if (status != 0)
	{
		char	   *reason = wait_result_to_str(status);

		explicit_bzero(out.data, out.len);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the credential_process of profile \"%s\" failed", profile),
				 err_bytes > 0 ?
				 errdetail("%s; it wrote %zu bytes to stderr, not shown because they may hold secrets.",
						   reason, err_bytes) :
				 errdetail("%s", reason),
				 errhint("Run the command as the server's operating-system user to see its messages.")));
	}
	if (err_bytes > 0)
		ereport(LOG,
				(errmsg("the credential_process of profile \"%s\" wrote %zu bytes to stderr", profile, err_bytes),
				 errdetail("Not logged: they may hold secrets.")));
	return out.data;
}

/*
 * credential_process: run the profile's command and read the JSON it
 * prints ({"Version": 1, "AccessKeyId": ..., ...}), as botocore's
 * ProcessProvider does.
 */
static bool
process_credentials(const AwsProfile *profile, ClaudeCredentials *out, StringInfo why)
{
	const char *command = aws_profile_any(profile, "credential_process");
	char	   *printed;
	cJSON	   *root;
	const cJSON *akid;
	const cJSON *secret;
	const cJSON *token;
	const cJSON *expiration;
	const cJSON *version;
	TimestampTz exp_ts = 0;

	if (command == NULL)
	{
		appendStringInfo(why, "credential_process: profile \"%s\" has none", profile->name);
		return false;
	}

	printed = run_credential_process(command, profile->name);
	root = cJSON_Parse(printed);
	explicit_bzero(printed, strlen(printed));
	version = root ? cJSON_GetObjectItemCaseSensitive(root, "Version") : NULL;
	akid = root ? cJSON_GetObjectItemCaseSensitive(root, "AccessKeyId") : NULL;
	secret = root ? cJSON_GetObjectItemCaseSensitive(root, "SecretAccessKey") : NULL;
	token = root ? cJSON_GetObjectItemCaseSensitive(root, "SessionToken") : NULL;
	expiration = root ? cJSON_GetObjectItemCaseSensitive(root, "Expiration") : NULL;
	if (!cJSON_IsNumber(version) || version->valuedouble != 1 ||
		!cJSON_IsString(akid) || !cJSON_IsString(secret) ||
		(expiration && (!cJSON_IsString(expiration) ||
						!claude_parse_aws_time(expiration->valuestring, &exp_ts))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the credential_process of profile \"%s\" printed no valid credentials",
						profile->name),
				 errdetail("Expected JSON with \"Version\": 1, \"AccessKeyId\", \"SecretAccessKey\" and optionally \"SessionToken\" and \"Expiration\".")));
	claude_credentials_fill(out, "", akid->valuestring, secret->valuestring,
							cJSON_IsString(token) ? token->valuestring : NULL, exp_ts);
	explicit_bzero(secret->valuestring, strlen(secret->valuestring));
	if (cJSON_IsString(token))
		explicit_bzero(token->valuestring, strlen(token->valuestring));
	cJSON_Delete(root);
	snprintf(out->provider, sizeof(out->provider), "credential_process (profile %s)", profile->name);
	return true;
}

static bool
provider_process(ChainContext *ctx, ClaudeCredentials *out, StringInfo why)
{
	return process_credentials(ctx->profile, out, why);
}

static bool
provider_config_file(ChainContext *ctx, ClaudeCredentials *out, StringInfo why)
{
	AwsProfile *p = ctx->profile;

	if (profile_static_keys(p, "config", out, ""))
	{
		snprintf(out->provider, sizeof(out->provider), "config file (profile %s)", p->name);
		return true;
	}
	if (p->config_path == NULL)
		appendStringInfoString(why, "config file: no HOME directory to look in");
	else if (!p->in_config)
		appendStringInfo(why, "config file \"%s\": no profile \"%s\"", p->config_path, p->name);
	else
		appendStringInfo(why, "config file \"%s\": profile \"%s\" has no aws_access_key_id and aws_secret_access_key",
						 p->config_path, p->name);
	return false;
}

static bool
provider_container(ChainContext *ctx, ClaudeCredentials *out, StringInfo why)
{
	return claude_container_credentials(out, why);
}

static bool
provider_instance_metadata(ChainContext *ctx, ClaudeCredentials *out, StringInfo why)
{
	return claude_imds_credentials(out, why);
}

/*
 * The chain, in botocore's order (SSO and the login provider, which need
 * an interactive browser sign-in, have no place in a database server).
 */
static const struct
{
	const char *name;
	CredentialProvider fn;
}			providers[] =
{
	{"environment", provider_environment},
	{"assume role", provider_profile_assume_role},
	{"web identity", provider_web_identity},
	{"shared credentials file", provider_credentials_file},
	{"credential_process", provider_process},
	{"config file", provider_config_file},
	{"container", provider_container},
	{"instance metadata", provider_instance_metadata},
};

/*
 * Run the chain, then claude.role_arn.  Works in a scratch context; the
 * result is copied into out_cxt.
 */
static void
resolve_credentials(ClaudeCredentials *result, MemoryContext out_cxt)
{
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext,
												  "pg_claude credentials",
												  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(scratch);
	StringInfoData why;
	ChainContext ctx;
	ClaudeCredentials found;
	bool		ok = false;
	int			i;

	initStringInfo(&why);
	ctx.explicit_profile = claude_profile && claude_profile[0];
	ctx.profile = aws_profile_load(aws_profile_active_name(), NULL);
	memset(&found, 0, sizeof(found));

	for (i = 0; i < (int) lengthof(providers) && !ok; i++)
	{
		int			before = why.len;

		ok = providers[i].fn(&ctx, &found, &why);
		if (!ok && why.len > before)
			appendStringInfoString(&why, "; ");
	}
	if (!ok)
	{
		if (why.len >= 2)
			why.data[why.len - 2] = '\0';
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no AWS credentials found"),
				 errdetail("Providers tried: %s.", why.data),
				 errhint("Give the PostgreSQL server credentials the way AWS's SDKs find them: "
						 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in its environment, a profile in the "
						 "shared credentials file (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE or claude.profile), "
						 "web identity, container credentials, or an EC2 instance role.")));
	}

	if (claude_role_arn && claude_role_arn[0])
	{
		ClaudeCredentials assumed;
		StsAssumeRoleParams params;

		params.role_arn = claude_role_arn;
		params.session_name = claude_role_session_name;
		params.external_id = claude_role_external_id;
		params.duration_seconds = 0;
		claude_sts_assume_role(&found, &params, &assumed);
		snprintf(assumed.provider, sizeof(assumed.provider), "claude.role_arn via %s", found.provider);
		claude_credentials_clear(&found);
		found = assumed;
	}

	aws_profile_free(ctx.profile);
	MemoryContextSwitchTo(old);
	credentials_copy(result, &found, out_cxt);
	claude_credentials_clear(&found);
	MemoryContextDelete(scratch);
}

/* ---------------------------------------------------------------------
 * Caches
 * --------------------------------------------------------------------- */

/*
 * Everything the chain's answer depends on, hashed: settings, the
 * relevant environment, and the files' modification times (key rotation
 * in a file is noticed without a restart).  Hashed so that no secret sits
 * in the fingerprint itself.
 */
static void
source_fingerprint(char out[65])
{
	static const char *const vars[] = {
		"AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		"AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
		"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL",
	};
	StringInfoData buf;
	char	   *paths[2];
	int			i;

	initStringInfo(&buf);
	appendStringInfo(&buf, "profile=%s|role=%s|session=%s|external=%s|region=%s",
					 aws_profile_active_name(), claude_role_arn, claude_role_session_name,
					 claude_role_external_id, claude_region);
	for (i = 0; i < (int) lengthof(vars); i++)
		appendStringInfo(&buf, "|%s=%s", vars[i], getenv(vars[i]) ? getenv(vars[i]) : "");
	paths[0] = aws_credentials_file_path();
	paths[1] = aws_config_file_path();
	for (i = 0; i < 2; i++)
	{
		struct stat st;

		if (paths[i] && stat(paths[i], &st) == 0)
			appendStringInfo(&buf, "|%s@%ld.%09ld", paths[i], (long) st.st_mtim.tv_sec,
							 (long) st.st_mtim.tv_nsec);
	}
	sigv4_sha256_hex((const unsigned char *) buf.data, buf.len, out);
	explicit_bzero(buf.data, buf.len);
	pfree(buf.data);
}

/* This backend's copy. */
static ClaudeCredentials local;
static bool local_valid = false;
static char local_fingerprint[65];

/* The shared copy, when pg_claude is preloaded. */
typedef struct SharedCredentials
{
	LWLock	   *lock;
	ConditionVariable fetched;
	int			fetching_pid;	/* 0 when nobody is fetching */
	pg_time_t	fetching_start; /* MyStartTime of the fetcher: pids are reused */
	bool		valid;
	uint64		generation;
	char		fingerprint[65];
	char		provider[256];
	char		role_arn[512];
	char		access_key_id[SHARED_KEY_MAX];
	char		secret_access_key[SHARED_SECRET_MAX];
	char		session_token[SHARED_TOKEN_MAX];
	TimestampTz expiration;
} SharedCredentials;

static SharedCredentials *shared = NULL;

Size
claude_credentials_shmem_size(void)
{
	return MAXALIGN(sizeof(SharedCredentials));
}

void
claude_credentials_shmem_init(void)
{
	bool		found;

	shared = ShmemInitStruct("pg_claude credentials", sizeof(SharedCredentials), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(*shared));
		shared->lock = &(GetNamedLWLockTranche("pg_claude"))[0].lock;
		ConditionVariableInit(&shared->fetched);
	}
}

bool
claude_credentials_shared(void)
{
	return shared != NULL;
}

static void
local_set(const ClaudeCredentials *c, const char *fingerprint)
{
	/* invalid while being replaced: an out-of-memory error leaves no half copy */
	if (local_valid)
	{
		local_valid = false;
		claude_credentials_clear(&local);
	}
	credentials_copy(&local, c, TopMemoryContext);
	local_valid = true;
	strlcpy(local_fingerprint, fingerprint, sizeof(local_fingerprint));
}

/* Copy the shared entry to the local cache; caller holds the lock. */
static void
local_from_shared(void)
{
	ClaudeCredentials c;

	memset(&c, 0, sizeof(c));
	strlcpy(c.provider, shared->provider, sizeof(c.provider));
	strlcpy(c.role_arn, shared->role_arn, sizeof(c.role_arn));
	c.access_key_id = shared->access_key_id;
	c.secret_access_key = shared->secret_access_key;
	c.session_token = shared->session_token[0] ? shared->session_token : NULL;
	c.expiration = shared->expiration;
	local_set(&c, shared->fingerprint);
}

/* Store in shared memory; caller holds the lock exclusively. */
static bool
shared_store(const ClaudeCredentials *c, const char *fingerprint)
{
	if (strlen(c->access_key_id) >= SHARED_KEY_MAX ||
		strlen(c->secret_access_key) >= SHARED_SECRET_MAX ||
		(c->session_token && strlen(c->session_token) >= SHARED_TOKEN_MAX))
		return false;			/* too big to share: stays per backend */
	explicit_bzero(shared->secret_access_key, sizeof(shared->secret_access_key));
	explicit_bzero(shared->session_token, sizeof(shared->session_token));
	strlcpy(shared->provider, c->provider, sizeof(shared->provider));
	strlcpy(shared->role_arn, c->role_arn, sizeof(shared->role_arn));
	strlcpy(shared->access_key_id, c->access_key_id, sizeof(shared->access_key_id));
	strlcpy(shared->secret_access_key, c->secret_access_key, sizeof(shared->secret_access_key));
	strlcpy(shared->session_token, c->session_token ? c->session_token : "",
			sizeof(shared->session_token));
	strlcpy(shared->fingerprint, fingerprint, sizeof(shared->fingerprint));
	shared->expiration = c->expiration;
	shared->valid = true;
	shared->generation++;
	return true;
}

#define SHARED_FETCH_WAIT_MS 30000

static bool
fetcher_alive(int pid)
{
	return pid != 0 && (pid == MyProcPid || kill(pid, 0) == 0);
}

/*
 * A backend that exits while fetching (FATAL, terminate) never reaches
 * PG_CATCH: release the claim on the way out so nobody waits for it.
 */
static void
release_fetch_claim(int code, Datum arg)
{
	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (shared->fetching_pid == MyProcPid && shared->fetching_start == MyStartTime)
		shared->fetching_pid = 0;
	LWLockRelease(shared->lock);
	ConditionVariableBroadcast(&shared->fetched);
}

/*
 * Shared path: use the shared entry if it is fresh; otherwise become the
 * one backend that fetches, or wait for it.
 */
static void
get_shared(const char *fingerprint)
{
	static bool exit_callback_registered = false;
	TimestampTz give_up = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), SHARED_FETCH_WAIT_MS);

	if (!exit_callback_registered)
	{
		before_shmem_exit(release_fetch_claim, (Datum) 0);
		exit_callback_registered = true;
	}

	/* prepared once, so a broadcast between our check and our sleep is not lost */
	ConditionVariablePrepareToSleep(&shared->fetched);
	for (;;)
	{
		bool		wait = false;

		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		if (shared->valid && strcmp(shared->fingerprint, fingerprint) == 0 &&
			!near_expiry(shared->expiration))
		{
			local_from_shared();
			LWLockRelease(shared->lock);
			ConditionVariableCancelSleep();
			return;
		}
		if (fetcher_alive(shared->fetching_pid) && shared->fetching_pid != MyProcPid)
			wait = true;
		else
		{
			shared->fetching_pid = MyProcPid;
			shared->fetching_start = MyStartTime;
		}
		LWLockRelease(shared->lock);

		if (!wait)
			break;
		/* a fetcher stuck for long is not waited for: fetch alongside it */
		if (GetCurrentTimestamp() >= give_up)
			break;
		/* the timeout covers a fetcher that died without broadcasting */
		(void) ConditionVariableTimedSleep(&shared->fetched, 100, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();

	PG_TRY();
	{
		ClaudeCredentials fresh;

		resolve_credentials(&fresh, CurrentMemoryContext);
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		shared_store(&fresh, fingerprint);
		if (shared->fetching_pid == MyProcPid)
			shared->fetching_pid = 0;
		LWLockRelease(shared->lock);
		local_set(&fresh, fingerprint);
		claude_credentials_clear(&fresh);
	}
	PG_CATCH();
	{
		/* let a waiter try instead; LWLocks are released by error cleanup */
		if (!LWLockHeldByMe(shared->lock))
			LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		if (shared->fetching_pid == MyProcPid)
			shared->fetching_pid = 0;
		LWLockRelease(shared->lock);
		ConditionVariableBroadcast(&shared->fetched);
		PG_RE_THROW();
	}
	PG_END_TRY();
	ConditionVariableBroadcast(&shared->fetched);
}

const ClaudeCredentials *
claude_credentials_get(void)
{
	char		fingerprint[65];

	source_fingerprint(fingerprint);
	if (local_valid && strcmp(fingerprint, local_fingerprint) == 0 &&
		!near_expiry(local.expiration))
		return &local;

	if (shared != NULL)
		get_shared(fingerprint);
	else
	{
		ClaudeCredentials fresh;

		resolve_credentials(&fresh, CurrentMemoryContext);
		local_set(&fresh, fingerprint);
		claude_credentials_clear(&fresh);
	}
	return &local;
}

void
claude_credentials_invalidate(const char *access_key_id)
{
	if (local_valid && (access_key_id == NULL ||
						strcmp(local.access_key_id, access_key_id) == 0))
	{
		claude_credentials_clear(&local);
		local_valid = false;
	}
	if (shared != NULL)
	{
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		if (shared->valid && (access_key_id == NULL ||
							  strcmp(shared->access_key_id, access_key_id) == 0))
		{
			shared->valid = false;
			explicit_bzero(shared->secret_access_key, sizeof(shared->secret_access_key));
			explicit_bzero(shared->session_token, sizeof(shared->session_token));
		}
		LWLockRelease(shared->lock);
	}
}
