/*-------------------------------------------------------------------------
 *
 * credentials.c
 *	  The AWS credential provider chain (first cut: environment and the
 *	  shared credentials/config files), with a per-backend cache.
 *
 * Providers are tried in botocore's order; each either supplies
 * credentials, or says why it did not, and the reasons of all of them form
 * the DETAIL of the error raised when none did.  Secrets live in
 * TopMemoryContext only as long as they are cached and are wiped when
 * replaced.  They never reach a message, a log line or a setting.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/stringinfo.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "credentials.h"
#include "guc.h"

/* The cache: one set of credentials per backend. */
static ClaudeCredentials cached;
static bool cached_valid = false;

/* What the file-based cache was built from, to notice edits and rotation. */
static char cached_source_key[MAXPGPATH * 2 + 64];
static struct timespec cached_mtime[2];

typedef enum ProviderOutcome
{
	PROVIDER_FOUND,
	PROVIDER_SKIPPED			/* not configured or nothing there: try next */
} ProviderOutcome;

typedef ProviderOutcome (*CredentialProvider) (ClaudeCredentials *out,
											   StringInfo why);

static char *
top_strdup(const char *s)
{
	return s ? MemoryContextStrdup(TopMemoryContext, s) : NULL;
}

/* Wipe then free a secret string. */
static void
wipe_free(char *s)
{
	if (s)
	{
		explicit_bzero(s, strlen(s));
		pfree(s);
	}
}

static void
credentials_clear(ClaudeCredentials *c)
{
	wipe_free(c->access_key_id);
	wipe_free(c->secret_access_key);
	wipe_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

static const char *
env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return (v != NULL && v[0] != '\0') ? v : NULL;
}

/*
 * The postmaster's environment, as botocore's EnvProvider reads it.  Half a
 * key pair is an error rather than a skip, as in botocore: silently falling
 * through to another identity would be surprising.
 */
static ProviderOutcome
provider_environment(ClaudeCredentials *out, StringInfo why)
{
	const char *akid = env_nonempty("AWS_ACCESS_KEY_ID");
	const char *secret = env_nonempty("AWS_SECRET_ACCESS_KEY");
	const char *token = env_nonempty("AWS_SESSION_TOKEN");

	if (akid == NULL && secret == NULL)
	{
		appendStringInfoString(why, "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
		return PROVIDER_SKIPPED;
	}
	if (akid == NULL || secret == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("partial AWS credentials in the server's environment"),
				 errdetail("%s is set but %s is not.",
						   akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
						   akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID"),
				 errhint("Set both variables in the environment of the PostgreSQL server, or neither.")));

	strlcpy(out->provider, "environment", sizeof(out->provider));
	out->access_key_id = top_strdup(akid);
	out->secret_access_key = top_strdup(secret);
	out->session_token = top_strdup(token);
	return PROVIDER_FOUND;
}

static const char *
home_directory(void)
{
	const char *home = env_nonempty("HOME");
	struct passwd *pw;

	if (home)
		return home;
	pw = getpwuid(geteuid());
	return pw ? pw->pw_dir : NULL;
}

/* The profile to read: claude.profile, then AWS_PROFILE, then "default". */
static const char *
active_profile(void)
{
	if (claude_profile && claude_profile[0])
		return claude_profile;
	if (env_nonempty("AWS_PROFILE"))
		return env_nonempty("AWS_PROFILE");
	return "default";
}

static char *
shared_file_path(const char *env, const char *leaf)
{
	const char *p = env_nonempty(env);
	const char *home;

	if (p)
		return pstrdup(p);
	home = home_directory();
	if (home == NULL)
		return NULL;
	return psprintf("%s/.aws/%s", home, leaf);
}

static char *
trim(char *s)
{
	char	   *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

/*
 * Read the keys of one section of an AWS INI file.  In the credentials file
 * a section is named by the profile; in the config file it is
 * "profile NAME", except "default".  Returns false when the file cannot be
 * read (reason in why) and sets *found when the section exists.
 */
static bool
read_ini_section(const char *path, const char *section, bool config_style,
				 char **akid, char **secret, char **token, bool *found,
				 StringInfo why)
{
	FILE	   *f;
	char		line[4096];
	bool		in_section = false;
	char	   *want;

	*found = false;
	f = fopen(path, "r");
	if (f == NULL)
	{
		appendStringInfo(why, "\"%s\": %s", path, errno == ENOENT ? "no such file" : strerror(errno));
		return false;
	}

	if (config_style && strcmp(section, "default") != 0)
		want = psprintf("profile %s", section);
	else
		want = pstrdup(section);

	while (fgets(line, sizeof(line), f) != NULL)
	{
		char	   *s = trim(line);

		if (*s == '#' || *s == ';' || *s == '\0')
			continue;
		if (*s == '[')
		{
			char	   *close = strchr(s, ']');

			if (close)
				*close = '\0';
			in_section = strcmp(trim(s + 1), want) == 0;
			if (in_section)
				*found = true;
			continue;
		}
		if (in_section)
		{
			char	   *eq = strchr(s, '=');
			char	   *key;
			char	   *val;

			if (eq == NULL)
				continue;
			*eq = '\0';
			key = trim(s);
			val = trim(eq + 1);
			if (strcmp(key, "aws_access_key_id") == 0)
				*akid = pstrdup(val);
			else if (strcmp(key, "aws_secret_access_key") == 0)
				*secret = pstrdup(val);
			else if (strcmp(key, "aws_session_token") == 0)
				*token = pstrdup(val);
		}
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	pfree(want);
	return true;
}

static ProviderOutcome
provider_shared_file(ClaudeCredentials *out, StringInfo why, bool config_style)
{
	const char *profile = active_profile();
	char	   *path;
	char	   *akid = NULL;
	char	   *secret = NULL;
	char	   *token = NULL;
	bool		found;
	const char *label = config_style ? "config file" : "shared credentials file";
	ProviderOutcome result = PROVIDER_SKIPPED;

	path = shared_file_path(config_style ? "AWS_CONFIG_FILE" : "AWS_SHARED_CREDENTIALS_FILE",
							config_style ? "config" : "credentials");
	if (path == NULL)
	{
		appendStringInfo(why, "%s: no HOME directory to look in", label);
		return PROVIDER_SKIPPED;
	}

	appendStringInfo(why, "%s ", label);
	if (!read_ini_section(path, profile, config_style, &akid, &secret, &token,
						  &found, why))
		return PROVIDER_SKIPPED;

	if (!found)
		appendStringInfo(why, "\"%s\": no profile \"%s\"", path, profile);
	else if (akid == NULL || secret == NULL)
		appendStringInfo(why, "\"%s\": profile \"%s\" has no aws_access_key_id and aws_secret_access_key",
						 path, profile);
	else
	{
		snprintf(out->provider, sizeof(out->provider), "%s (profile %s)", label, profile);
		out->access_key_id = top_strdup(akid);
		out->secret_access_key = top_strdup(secret);
		out->session_token = top_strdup(token);
		result = PROVIDER_FOUND;
	}
	if (secret)
		explicit_bzero(secret, strlen(secret));
	if (token)
		explicit_bzero(token, strlen(token));
	return result;
}

static ProviderOutcome
provider_credentials_file(ClaudeCredentials *out, StringInfo why)
{
	return provider_shared_file(out, why, false);
}

static ProviderOutcome
provider_config_file(ClaudeCredentials *out, StringInfo why)
{
	return provider_shared_file(out, why, true);
}

/*
 * The chain, in botocore's order for the providers built so far
 * (botocore.credentials.create_credential_resolver: env, ..., shared
 * credentials file, ..., config file).  An explicit claude.profile skips
 * the environment, as an explicit profile_name does in botocore's Session.
 */
static const struct
{
	const char *name;
	CredentialProvider fn;
	bool		skipped_by_explicit_profile;
}			providers[] =
{
	{"environment", provider_environment, true},
	{"shared credentials file", provider_credentials_file, false},
	{"config file", provider_config_file, false},
};

/*
 * Fingerprint of everything the file providers read, so the cache notices
 * a changed profile or a rewritten file (key rotation) without re-reading
 * files on every call.
 */
static void
source_fingerprint(char *key, size_t keylen, struct timespec mtimes[2])
{
	char	   *cred = shared_file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	char	   *conf = shared_file_path("AWS_CONFIG_FILE", "config");
	struct stat st;

	snprintf(key, keylen, "%s|%s|%s", active_profile(), cred ? cred : "", conf ? conf : "");
	memset(mtimes, 0, sizeof(struct timespec) * 2);
	if (cred && stat(cred, &st) == 0)
		mtimes[0] = st.st_mtim;
	if (conf && stat(conf, &st) == 0)
		mtimes[1] = st.st_mtim;
}

const ClaudeCredentials *
claude_credentials_get(void)
{
	StringInfoData why;
	char		key[sizeof(cached_source_key)];
	struct timespec mtimes[2];
	bool		explicit_profile = claude_profile && claude_profile[0];
	int			i;

	/*
	 * The environment cannot change under a running backend, so the cache
	 * only has to notice a changed profile or a rewritten file (key
	 * rotation), and temporary credentials nearing their expiry.
	 */
	source_fingerprint(key, sizeof(key), mtimes);
	if (cached_valid &&
		strcmp(key, cached_source_key) == 0 &&
		memcmp(mtimes, cached_mtime, sizeof(mtimes)) == 0 &&
		(cached.expiration == 0 ||
		 cached.expiration > TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 5 * 60 * 1000)))
		return &cached;

	claude_credentials_invalidate();
	initStringInfo(&why);
	for (i = 0; i < (int) lengthof(providers); i++)
	{
		ClaudeCredentials found;

		if (explicit_profile && providers[i].skipped_by_explicit_profile)
		{
			appendStringInfo(&why, "%s: skipped because claude.profile is set; ",
							 providers[i].name);
			continue;
		}
		memset(&found, 0, sizeof(found));
		if (providers[i].fn(&found, &why) == PROVIDER_FOUND)
		{
			cached = found;
			cached_valid = true;
			strlcpy(cached_source_key, key, sizeof(cached_source_key));
			memcpy(cached_mtime, mtimes, sizeof(mtimes));
			pfree(why.data);
			return &cached;
		}
		appendStringInfoString(&why, "; ");
	}

	/* drop the trailing separator */
	if (why.len >= 2)
		why.data[why.len - 2] = '\0';
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("no AWS credentials found"),
			 errdetail("Providers tried: %s.", why.data),
			 errhint("Give the PostgreSQL server AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
					 "(and AWS_SESSION_TOKEN) in its environment, or a profile in the shared "
					 "credentials file (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE or claude.profile).")));
	return NULL;				/* keep compiler quiet */
}

void
claude_credentials_invalidate(void)
{
	if (cached_valid)
		credentials_clear(&cached);
	cached_valid = false;
}
