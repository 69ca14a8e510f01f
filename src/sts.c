/*-------------------------------------------------------------------------
 *
 * sts.c
 *	  AWS STS (query protocol): AssumeRole, signed with SigV4 for service
 *	  "sts", and AssumeRoleWithWebIdentity, unsigned.
 *
 * The endpoint is the regional one, sts.<claude.region>.amazonaws.com
 * (least surprise for data residency: the call stays in the region), or
 * AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL as AWS's SDKs honour them.
 * Responses are XML; the handful of elements we need are read by name.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "lib/stringinfo.h"

#include "aws_sign.h"
#include "aws_util.h"
#include "endpoint.h"
#include "guc.h"
#include "http.h"
#include "aws_response.h"
#include "sts.h"

#define STS_TIMEOUT_MS 10000
#define STS_API_VERSION "2011-06-15"

char *
claude_sts_endpoint(void)
{
	const char *url = claude_getenv("AWS_ENDPOINT_URL_STS");

	if (url == NULL)
		url = claude_getenv("AWS_ENDPOINT_URL");
	if (url != NULL)
		return pstrdup(url);
	return psprintf("https://sts.%s.%s", claude_region,
					strncmp(claude_region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com");
}

/* Append "&name=value" with the value percent-encoded for a form body. */
static void
form_param(StringInfo body, const char *name, const char *value)
{
	appendStringInfo(body, "%s%s=%s", body->len ? "&" : "", name, claude_uri_encode(value, false));
}

/*
 * Text of the first <tag>...</tag> in xml, entity-decoded, or NULL.  STS
 * answers are flat enough that this is all the XML we need.
 */
static char *
xml_text(const char *xml, const char *tag)
{
	char	   *open = psprintf("<%s>", tag);
	char	   *close = psprintf("</%s>", tag);
	const char *start = strstr(xml, open);
	const char *end;
	StringInfoData out;
	const char *p;

	if (start == NULL)
		return NULL;
	start += strlen(open);
	end = strstr(start, close);
	if (end == NULL)
		return NULL;

	/* sized up front: growing would leave copies of secrets in freed chunks */
	out.maxlen = (int) (end - start) + 1;
	out.data = palloc(out.maxlen);
	out.data[0] = '\0';
	out.len = 0;
	out.cursor = 0;
	for (p = start; p < end; p++)
	{
		static const struct
		{
			const char *entity;
			char		c;
		}			entities[] = {
			{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''},
		};
		int			i;
		bool		matched = false;

		if (*p == '&')
		{
			for (i = 0; i < (int) lengthof(entities); i++)
			{
				size_t		n = strlen(entities[i].entity);

				if (p + n <= end && strncmp(p, entities[i].entity, n) == 0)
				{
					appendStringInfoChar(&out, entities[i].c);
					p += n - 1;
					matched = true;
					break;
				}
			}
		}
		if (!matched)
			appendStringInfoChar(&out, *p);
	}
	return out.data;
}

/* What every STS call needs to be signed (or not) on each attempt. */
typedef struct StsSignContext
{
	const ClaudeCredentials *source;	/* NULL: unsigned */
	const char *host_header;
	const char *path;
	const char *body;
} StsSignContext;

#define STS_CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"

/* Headers of one attempt: signed by the source credentials, or unsigned. */
static struct curl_slist *
sts_prepare(void *arg, int attempt, const ClaudeHttpResponse *prev)
{
	StsSignContext *ctx = (StsSignContext *) arg;
	AwsSignRequest req = {0};

	req.label = "STS";
	req.method = "POST";
	req.host = ctx->host_header;
	req.path = ctx->path;
	req.body = ctx->body;
	req.body_len = strlen(ctx->body);
	req.content_type = STS_CONTENT_TYPE;
	req.service = "sts";
	req.region = claude_region;
	req.now = time(NULL);
	return ctx->source ? aws_sign(&req, ctx->source) : aws_request_headers(&req);
}

/*
 * POST an STS action and return the response's credentials.  Every
 * failure is an authorization error: without these credentials nothing
 * can be signed.
 */
static void
sts_call(const char *action, const ClaudeCredentials *source, const char *body,
		 const char *role_arn, ClaudeCredentials *out)
{
	char	   *url = claude_sts_endpoint();
	ClaudeEndpoint ep;
	const char *why;
	StsSignContext ctx;
	ClaudeHttpRequest req;
	ClaudeHttpResponse resp;
	char	   *akid;
	char	   *secret;
	char	   *token;
	char	   *expiration;
	TimestampTz exp_ts = 0;

	if (!claude_endpoint_parse(url, &ep, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid STS endpoint \"%s\"", url),
				 errdetail("%s", why)));

	ctx.source = source;
	ctx.host_header = ep.host_header;
	ctx.path = ep.path_prefix[0] ? ep.path_prefix : "/";
	ctx.body = body;

	claude_http_request_init(&req, "POST", psprintf("%s%s", ep.base_url,
													ep.path_prefix[0] ? "" : "/"));
	req.body = body;
	req.body_len = strlen(body);
	req.prepare = sts_prepare;
	req.prepare_arg = &ctx;
	req.timeout_ms = STS_TIMEOUT_MS;
	req.max_retries = 2;
	claude_aws_response_setup(&req);

	claude_http_execute(&req, &resp);

	if (resp.curl_code != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not reach STS at %s for %s", ep.host_header, action),
				 errdetail_internal("%s (after %d retries)", resp.curl_error, resp.retries),
				 errhint("Check network access to the STS endpoint, or set AWS_ENDPOINT_URL_STS.")));
	if (resp.status != 200)
	{
		char	   *code = xml_text(resp.body, "Code");
		char	   *message = claude_scrub_aws_message(xml_text(resp.body, "Message"));
		char	   *request_id = xml_text(resp.body, "RequestId");

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("STS %s failed: %s", action, code ? code : psprintf("HTTP %ld", resp.status)),
				 errdetail_internal("%s%sRole: %s. HTTP status %ld, request id %s.",
									message ? message : "", message ? " " : "",
									role_arn, resp.status,
									request_id ? request_id : (resp.request_id[0] ? resp.request_id : "(none)")),
				 errhint("Check the role's trust policy, the external id and the session name.")));
	}

	akid = xml_text(resp.body, "AccessKeyId");
	secret = xml_text(resp.body, "SecretAccessKey");
	token = xml_text(resp.body, "SessionToken");
	expiration = xml_text(resp.body, "Expiration");
	explicit_bzero(resp.body, resp.body_len);
	if (akid == NULL || secret == NULL || token == NULL ||
		(expiration && !claude_parse_aws_time(expiration, &exp_ts)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("STS %s returned a response without credentials", action)));

	claude_credentials_fill(out, "", akid, secret, token, exp_ts);
	strlcpy(out->role_arn, role_arn, sizeof(out->role_arn));
	explicit_bzero(secret, strlen(secret));
	explicit_bzero(token, strlen(token));
}

static char *
assume_role_body(const char *action, const StsAssumeRoleParams *params, const char *token)
{
	StringInfoData body;

	initStringInfo(&body);
	form_param(&body, "Action", action);
	form_param(&body, "Version", STS_API_VERSION);
	form_param(&body, "RoleArn", params->role_arn);
	form_param(&body, "RoleSessionName", params->session_name);
	if (params->duration_seconds > 0)
		appendStringInfo(&body, "&DurationSeconds=%d", params->duration_seconds);
	if (params->external_id && params->external_id[0])
		form_param(&body, "ExternalId", params->external_id);
	if (token)
		form_param(&body, "WebIdentityToken", token);
	return body.data;
}

void
claude_sts_assume_role(const ClaudeCredentials *source,
					   const StsAssumeRoleParams *params,
					   ClaudeCredentials *out)
{
	char	   *body = assume_role_body("AssumeRole", params, NULL);

	sts_call("AssumeRole", source, body, params->role_arn, out);
}

void
claude_sts_assume_role_with_web_identity(const StsAssumeRoleParams *params,
										 const char *token,
										 ClaudeCredentials *out)
{
	char	   *body = assume_role_body("AssumeRoleWithWebIdentity", params, token);

	PG_TRY();
	{
		sts_call("AssumeRoleWithWebIdentity", NULL, body, params->role_arn, out);
	}
	PG_FINALLY();
	{
		explicit_bzero(body, strlen(body));
	}
	PG_END_TRY();
}
