/*-------------------------------------------------------------------------
 *
 * credentials.c
 *	  Where AWS credentials come from: the provider chain and role
 *	  assumption.  Caching is credential_cache.c's, the credential_process
 *	  runner credential_process.c's.
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
 * What the chain's answer depends on (settings, environment, files) is
 * hashed into a fingerprint, so that the cache notices a change without a
 * restart.  Secrets never reach a message, a log line or a setting.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>
#include <sys/stat.h>

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "aws_profile.h"
#include "credential_process.h"
#include "credentials.h"
#include "guc.h"
#include "metadata.h"
#include "sigv4.h"
#include "sts.h"

#define MAX_ROLE_CHAIN 5

/* Read once: a backend's environment is the postmaster's and never changes. */
const char *
claude_bedrock_api_key(void)
{
	static bool read = false;
	static const char *key = NULL;

	if (!read)
	{
		key = claude_getenv("AWS_BEARER_TOKEN_BEDROCK");
		read = true;
	}
	return key;
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
				found = claude_process_credentials(src, &base, &src_why);
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

static bool
provider_process(ChainContext *ctx, ClaudeCredentials *out, StringInfo why)
{
	return claude_process_credentials(ctx->profile, out, why);
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
	claude_credentials_copy(result, &found, out_cxt);
	claude_credentials_clear(&found);
	MemoryContextDelete(scratch);
}

/* ---------------------------------------------------------------------
 * What the cache keys on, and the public entry point
 * --------------------------------------------------------------------- */

/*
 * Everything the chain's answer depends on, hashed: settings, the
 * relevant environment, and the files' modification times (key rotation
 * in a file is noticed without a restart).  Hashed so that no secret sits
 * in the fingerprint itself.
 */
static const char *const fingerprint_vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "AWS_PROFILE",
	"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
	"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL",
};

static void
source_fingerprint(char out[65], char *const paths[2], const bool exists[2],
				   const struct timespec mtime[2])
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfo(&buf, "profile=%s|role=%s|session=%s|external=%s|region=%s",
					 aws_profile_active_name(), claude_role_arn, claude_role_session_name,
					 claude_role_external_id, claude_region);
	for (i = 0; i < (int) lengthof(fingerprint_vars); i++)
		appendStringInfo(&buf, "|%s=%s", fingerprint_vars[i],
						 getenv(fingerprint_vars[i]) ? getenv(fingerprint_vars[i]) : "");
	for (i = 0; i < 2; i++)
		if (exists[i])
			appendStringInfo(&buf, "|%s@%ld.%09ld", paths[i], (long) mtime[i].tv_sec,
							 (long) mtime[i].tv_nsec);
	sigv4_sha256_hex((const unsigned char *) buf.data, buf.len, out);
	explicit_bzero(buf.data, buf.len);
	pfree(buf.data);
}

/*
 * The fingerprint last computed and what it was computed from, so that a
 * call recomputes it only when something could have changed: a setting
 * (SET or a reload), or a file's modification time.  The environment is
 * the postmaster's and nothing in a backend changes it, so it, and the file
 * paths it decides, are read once.  The files are looked at once per
 * statement, and at most a second apart within one (a batch of thousands
 * of calls does not stat them thousands of times; a file rewritten between
 * two statements is seen by the second).  Expiry is the cache's own check.
 */
#define FILES_RECHECK_MS 1000

typedef struct FingerprintMemo
{
	bool		valid;
	bool		paths_read;
	char	   *paths[2];		/* TopMemoryContext; NULL: no home directory */
	char	   *settings[5];	/* the values it was computed with */
	bool		exists[2];
	struct timespec mtime[2];
	TimestampTz files_statement;	/* the statement that last looked at them */
	TimestampTz files_checked;	/* when */
	char		fingerprint[65];
} FingerprintMemo;

static FingerprintMemo memo;

static bool
same_setting(const char *saved, const char *now)
{
	if (saved == NULL || now == NULL)
		return saved == now;
	return strcmp(saved, now) == 0;
}

static void
current_fingerprint(char out[65])
{
	const char *settings[5];
	bool		exists[2];
	struct timespec mtime[2];
	TimestampTz now;
	bool		same;
	int			i;

	if (!memo.paths_read)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		memo.paths[0] = aws_credentials_file_path();
		memo.paths[1] = aws_config_file_path();
		MemoryContextSwitchTo(old);
		memo.paths_read = true;
	}
	settings[0] = claude_profile;
	settings[1] = claude_role_arn;
	settings[2] = claude_role_session_name;
	settings[3] = claude_role_external_id;
	settings[4] = claude_region;
	same = memo.valid;
	now = GetCurrentTimestamp();
	if (same && memo.files_statement == GetCurrentStatementStartTimestamp() &&
		!TimestampDifferenceExceeds(memo.files_checked, now, FILES_RECHECK_MS))
	{
		for (i = 0; i < 2; i++)
		{
			exists[i] = memo.exists[i];
			mtime[i] = memo.mtime[i];
		}
	}
	else
		for (i = 0; i < 2; i++)
		{
			struct stat st;

			exists[i] = memo.paths[i] && stat(memo.paths[i], &st) == 0;
			if (exists[i])
				mtime[i] = st.st_mtim;
			else
				mtime[i].tv_sec = mtime[i].tv_nsec = 0;
			if (exists[i] != memo.exists[i] || mtime[i].tv_sec != memo.mtime[i].tv_sec ||
				mtime[i].tv_nsec != memo.mtime[i].tv_nsec)
				same = false;
		}
	memo.files_statement = GetCurrentStatementStartTimestamp();
	memo.files_checked = now;
	for (i = 0; i < (int) lengthof(settings) && same; i++)
		if (!same_setting(memo.settings[i], settings[i]))
			same = false;
	if (same)
	{
		memcpy(out, memo.fingerprint, 65);
		return;
	}

	/* invalid while being replaced: an out-of-memory error leaves no half memo */
	memo.valid = false;
	source_fingerprint(out, memo.paths, exists, mtime);
	for (i = 0; i < (int) lengthof(settings); i++)
	{
		if (memo.settings[i])
			pfree(memo.settings[i]);
		memo.settings[i] = settings[i] ? MemoryContextStrdup(TopMemoryContext, settings[i]) : NULL;
	}
	for (i = 0; i < 2; i++)
	{
		memo.exists[i] = exists[i];
		memo.mtime[i] = mtime[i];
	}
	memcpy(memo.fingerprint, out, 65);
	memo.valid = true;
}

const ClaudeCredentials *
claude_credentials_get(void)
{
	char		fingerprint[65];

	current_fingerprint(fingerprint);
	return claude_credential_cache_get(fingerprint, resolve_credentials);
}
