/*-------------------------------------------------------------------------
 *
 * aws_util.c
 *	  Leaf helpers for talking to AWS: the credentials value, environment
 *	  reads, AWS timestamps, credential JSON, and secret-safe text.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>
#include <cjson/cJSON.h>

#include "pgtime.h"
#include "utils/timestamp.h"

#include "aws_util.h"

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
claude_credentials_copy(ClaudeCredentials *dst, const ClaudeCredentials *src, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	claude_credentials_fill(dst, src->provider, src->access_key_id,
							src->secret_access_key, src->session_token, src->expiration);
	strlcpy(dst->role_arn, src->role_arn, sizeof(dst->role_arn));
	MemoryContextSwitchTo(old);
}

void
claude_credentials_clear(ClaudeCredentials *c)
{
	wipe_free(c->access_key_id);
	wipe_free(c->secret_access_key);
	wipe_free(c->session_token);
	memset(c, 0, sizeof(*c));
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

/*
 * What each shape asks of a document.  The metadata endpoints always give a
 * token and may give a non-string Expiration (ignored, as botocore does);
 * credential_process must declare Version 1, and an Expiration it gives
 * must be a valid timestamp (botocore's ProcessProvider).
 */
static const struct
{
	const char *token_key;
	bool		token_required;
	bool		version_1_required;
	bool		expiration_must_be_text;
}			credentials_json_shapes[] =
{
	[CLAUDE_CREDENTIALS_JSON_METADATA] = {"Token", true, false, false},
	[CLAUDE_CREDENTIALS_JSON_PROCESS] = {"SessionToken", false, true, true},
};

static void
wipe_json_string(const cJSON *item)
{
	if (cJSON_IsString(item))
		explicit_bzero(item->valuestring, strlen(item->valuestring));
}

bool
claude_parse_credentials_json(const char *json, ClaudeCredentialsJson shape,
							  ClaudeCredentials *out, char **role_arn)
{
	cJSON	   *root = cJSON_Parse(json);
	const cJSON *version;
	const cJSON *akid;
	const cJSON *secret;
	const cJSON *token;
	const cJSON *expiration;
	const cJSON *arn;
	TimestampTz exp_ts = 0;
	bool		ok;

	if (root == NULL)
		return false;
	version = cJSON_GetObjectItemCaseSensitive(root, "Version");
	akid = cJSON_GetObjectItemCaseSensitive(root, "AccessKeyId");
	secret = cJSON_GetObjectItemCaseSensitive(root, "SecretAccessKey");
	token = cJSON_GetObjectItemCaseSensitive(root, credentials_json_shapes[shape].token_key);
	expiration = cJSON_GetObjectItemCaseSensitive(root, "Expiration");
	arn = cJSON_GetObjectItemCaseSensitive(root, "RoleArn");

	ok = cJSON_IsString(akid) && cJSON_IsString(secret) &&
		(cJSON_IsString(token) || !credentials_json_shapes[shape].token_required) &&
		(!credentials_json_shapes[shape].version_1_required ||
		 (cJSON_IsNumber(version) && version->valuedouble == 1));
	if (ok && expiration != NULL)
	{
		if (cJSON_IsString(expiration))
			ok = claude_parse_aws_time(expiration->valuestring, &exp_ts);
		else
			ok = !credentials_json_shapes[shape].expiration_must_be_text;
	}
	if (ok)
	{
		claude_credentials_fill(out, "", akid->valuestring, secret->valuestring,
								cJSON_IsString(token) ? token->valuestring : NULL, exp_ts);
		if (role_arn && cJSON_IsString(arn))
			*role_arn = pstrdup(arn->valuestring);
	}
	/* cJSON's copies live in malloc'd memory no context reset would wipe */
	wipe_json_string(secret);
	wipe_json_string(token);
	cJSON_Delete(root);
	return ok;
}

/*
 * AWS's long signature-mismatch message quotes the canonical request it
 * computed, which includes the X-Amz-Security-Token header's value: keep
 * only the sentence before it.  Applied to every AWS message before it
 * reaches an error, a log line or a table.
 */
char *
claude_scrub_aws_message(char *msg)
{
	static const char *const cut_at[] = {
		"The Canonical String for this request",
		"The String-to-Sign should have been",
		"x-amz-security-token",
		"X-Amz-Security-Token",
		"Signature=",
		"Credential=",
	};
	int			i;
	size_t		len;

	if (msg == NULL)
		return NULL;
	for (i = 0; i < (int) lengthof(cut_at); i++)
	{
		char	   *hit = strstr(msg, cut_at[i]);

		if (hit)
			*hit = '\0';
	}
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' ' || msg[len - 1] == '\r'))
		msg[--len] = '\0';
	return msg;
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
