/*-------------------------------------------------------------------------
 *
 * s3.c
 *	  Amazon S3 through the one transport (http.h) and the one signer
 *	  (aws_sign.h): PutObject, GetObject, ListObjectsV2 and HeadBucket.
 *	  The groundwork of batch mode (doc/architecture.md, "S3").
 *
 * S3 signs with service "s3" and its own canonical rules: the path is
 * encoded once and not normalised, and x-amz-content-sha256 (the body's
 * SHA-256) is sent and signed (aws_sign.c does both for service "s3").
 * Requests go virtual-hosted (bucket.s3.REGION.amazonaws.com) unless the
 * bucket name has dots (its TLS certificate would not match) or
 * claude.s3_endpoint is set; both are path-style.  Each request is signed
 * for the bucket's own region, which HeadBucket tells; the residency
 * policy (residency.c) judges that region before anything is written.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <time.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"

#include "aws_sign.h"
#include "credential_cache.h"
#include "credentials.h"
#include "endpoint.h"
#include "guc.h"
#include "pg_compat.h"
#include "http.h"
#include "residency.h"
#include "retry.h"
#include "s3.h"

/* S3's own limits (bucket naming rules; keys up to 1024 bytes) */
#define S3_BUCKET_MIN 3
#define S3_BUCKET_MAX 63
#define S3_KEY_MAX 1024

/* A listing that keeps handing out tokens is broken, not long. */
#define S3_MAX_PAGES 100000

/* Positions in s3_headers, as the transport keeps them in resp->captured. */
enum
{
	H_REQUEST_ID,
	H_ETAG,
	H_BUCKET_REGION,
	H_COUNT
};

static const char *const s3_headers[H_COUNT + 1] = {
	[H_REQUEST_ID] = "x-amz-request-id",
	[H_ETAG] = "ETag",
	[H_BUCKET_REGION] = "x-amz-bucket-region",
	[H_COUNT] = NULL
};

/* One S3 request, as each attempt signs it again. */
typedef struct S3Call
{
	const char *operation;		/* "PutObject", ... for errors */
	const char *method;
	const char *region;			/* signing region: the bucket's */
	char	   *host;			/* Host header */
	char	   *path;			/* as on the wire, encoded once */
	const char *query;
	const char *body;
	size_t		body_len;
	char		signed_with[128];	/* access key id of the last attempt */
} S3Call;

static bool
bucket_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static pg_noreturn void
bad_uri(const char *uri, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid S3 URI \"%s\"", uri),
			 errdetail("%s", why),
			 errhint("Write it as s3://bucket/key or s3://bucket/prefix/.")));
}

void
claude_s3_parse_uri(const char *uri, ClaudeS3Uri *out)
{
	const char *p;
	const char *slash;
	size_t		blen;
	size_t		i;

	if (uri == NULL || strncmp(uri, "s3://", 5) != 0)
		bad_uri(uri ? uri : "", "An S3 URI starts with \"s3://\".");
	p = uri + 5;
	slash = strchr(p, '/');
	blen = slash ? (size_t) (slash - p) : strlen(p);
	if (blen < S3_BUCKET_MIN || blen > S3_BUCKET_MAX)
		bad_uri(uri, psprintf("A bucket name has %d to %d characters; this one has %zu.",
							  S3_BUCKET_MIN, S3_BUCKET_MAX, blen));
	for (i = 0; i < blen; i++)
		if (!bucket_char_ok(p[i]))
			bad_uri(uri, "A bucket name has only lower-case letters, digits, '.' and '-'.");
	if (!isalnum((unsigned char) p[0]) || !isalnum((unsigned char) p[blen - 1]))
		bad_uri(uri, "A bucket name begins and ends with a letter or a digit.");
	for (i = 0; i + 1 < blen; i++)
		if (p[i] == '.' && (p[i + 1] == '.' || p[i + 1] == '-' || (i > 0 && p[i - 1] == '-')))
			bad_uri(uri, "A bucket name has no \"..\", \".-\" or \"-.\".");
	out->bucket = pnstrdup(p, blen);
	out->key = pstrdup(slash ? slash + 1 : "");
	if (strlen(out->key) > S3_KEY_MAX)
		bad_uri(uri, psprintf("An object key has at most %d bytes; this one has %zu.",
							  S3_KEY_MAX, strlen(out->key)));
	pg_verifymbstr(out->key, strlen(out->key), false);
}

/*
 * Where a request for bucket/key goes: call->host and call->path, and the
 * URL to send it to.  key "" is the bucket itself.
 */
static char *
s3_address(S3Call *call, const char *bucket, const char *key)
{
	char	   *keypath = key[0] ? psprintf("/%s", claude_uri_encode(key, true)) : pstrdup("");
	const char *scheme = "https";

	if (claude_s3_endpoint && claude_s3_endpoint[0])
	{
		ClaudeEndpoint ep;
		const char *why;

		/* the check hook accepted it; a failure here is a bug */
		if (!claude_endpoint_parse(claude_s3_endpoint, &ep, &why))
			elog(ERROR, "claude.s3_endpoint \"%s\": %s", claude_s3_endpoint, why);
		scheme = ep.https ? "https" : "http";
		call->host = pstrdup(ep.host_header);
		call->path = psprintf("%s/%s%s", ep.path_prefix, bucket, keypath);
	}
	else if (strchr(bucket, '.') != NULL)
	{
		call->host = psprintf("s3.%s.amazonaws.com", call->region);
		call->path = psprintf("/%s%s", bucket, keypath);
	}
	else
	{
		call->host = psprintf("%s.s3.%s.amazonaws.com", bucket, call->region);
		call->path = keypath[0] ? keypath : pstrdup("/");
	}
	return psprintf("%s://%s%s%s%s", scheme, call->host, call->path,
					call->query ? "?" : "", call->query ? call->query : "");
}

static struct curl_slist *
s3_sign_attempt(void *arg, int attempt, const ClaudeHttpResponse *prev)
{
	S3Call	   *call = (S3Call *) arg;
	const ClaudeCredentials *creds = claude_credentials_get();
	AwsSignRequest req = {0};

	req.label = "S3";
	req.method = call->method;
	req.host = call->host;
	req.path = call->path;
	req.query = call->query;
	req.body = call->body;
	req.body_len = call->body_len;
	req.content_type = call->body_len > 0 ? "application/octet-stream" : NULL;
	req.service = "s3";
	req.region = call->region;
	req.payload_hash = AWS_PAYLOAD_HASH_SIGNED;
	req.now = time(NULL);
	strlcpy(call->signed_with, creds->access_key_id, sizeof(call->signed_with));
	return aws_sign(&req, creds);
}

static void
s3_refresh(void *arg)
{
	claude_credentials_invalidate(((S3Call *) arg)->signed_with);
}

static void
s3_read_response(ClaudeHttpResponse *resp)
{
	strlcpy(resp->request_id, resp->captured[H_REQUEST_ID], sizeof(resp->request_id));
}

/*
 * The text of the first <tag>...</tag> at or after *pos (XML entities
 * decoded), moving *pos past it; NULL when there is none.
 */
static char *
xml_next(const char *body, const char *tag, const char **pos)
{
	char	   *open = psprintf("<%s>", tag);
	char	   *close = psprintf("</%s>", tag);
	const char *start;
	const char *end;
	StringInfoData out;
	const char *p;

	if (body == NULL)
		return NULL;
	start = strstr(pos && *pos ? *pos : body, open);
	if (start == NULL)
		return NULL;
	start += strlen(open);
	end = strstr(start, close);
	if (end == NULL)
		return NULL;
	if (pos)
		*pos = end + strlen(close);
	initStringInfo(&out);
	for (p = start; p < end; p++)
	{
		static const struct
		{
			const char *entity;
			char		c;
		}			entities[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'},
		{"&quot;", '"'}, {"&apos;", '\''}};
		int			i;
		bool		done = false;

		if (*p != '&')
		{
			appendStringInfoChar(&out, *p);
			continue;
		}
		for (i = 0; i < (int) lengthof(entities) && !done; i++)
			if (strncmp(p, entities[i].entity, strlen(entities[i].entity)) == 0)
			{
				appendStringInfoChar(&out, entities[i].c);
				p += strlen(entities[i].entity) - 1;
				done = true;
			}
		if (!done && p[1] == '#')
		{
			/* a character reference: S3 writes control characters this way */
			char	   *stop;
			long		cp = p[2] == 'x' ? strtol(p + 3, &stop, 16) : strtol(p + 2, &stop, 10);

			if (*stop == ';' && cp > 0 && cp < 0x110000)
			{
				char		utf8[8];
				int			n;

				unicode_to_utf8((pg_wchar) cp, (unsigned char *) utf8);
				n = pg_utf_mblen((unsigned char *) utf8);
				appendBinaryStringInfo(&out, utf8, n);
				p = stop;
				done = true;
			}
		}
		if (!done)
			appendStringInfoChar(&out, *p);
	}
	return out.data;
}

static ClaudeRetry
s3_retry_policy(const ClaudeHttpResponse *resp)
{
	char	   *code = NULL;

	if (resp->curl_code == CURLE_OK && (resp->status < 200 || resp->status >= 300))
		code = xml_next(resp->body, "Code", NULL);
	if (code && (strcmp(code, "ExpiredToken") == 0 || strcmp(code, "TokenRefreshRequired") == 0))
		return CLAUDE_RETRY_REFRESH;
	if (code && strcmp(code, "SlowDown") == 0)
		return CLAUDE_RETRY_THROTTLED;
	return claude_retry_aws(resp->status, resp->curl_code, resp->unusable, code ? code : "");
}

/* Send call (to url) through the transport, retries included. */
static void
s3_execute(S3Call *call, const char *url, ClaudeHttpResponse *resp)
{
	ClaudeHttpRequest req;

	claude_http_request_init(&req, call->method, url);
	req.body = call->body;
	req.body_len = call->body_len;
	req.prepare = s3_sign_attempt;
	req.prepare_arg = call;
	req.refresh_credentials = s3_refresh;
	req.capture_headers = s3_headers;
	req.read_response = s3_read_response;
	req.retry_policy = s3_retry_policy;
	claude_http_execute(&req, resp);
}

/* Raise what a failed exchange or S3's error answer says. */
static pg_noreturn void
s3_raise(const S3Call *call, const char *bucket, const char *key, const ClaudeHttpResponse *resp)
{
	char	   *code;
	char	   *message;
	const char *object = key && key[0] ? psprintf("s3://%s/%s", bucket, key) : psprintf("s3://%s", bucket);

	if (resp->curl_code != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("S3 %s of %s failed: %s", call->operation, object, resp->curl_error),
				 errdetail("Host %s, after %d retries.", call->host, resp->retries),
				 errhint("Check claude.s3_endpoint, the network and claude.timeout.")));
	code = xml_next(resp->body, "Code", NULL);
	message = xml_next(resp->body, "Message", NULL);
	if (code == NULL && resp->status == 404)
		code = key && key[0] ? "NoSuchKey" : "NoSuchBucket";
	ereport(ERROR,
			(errcode((code && (strcmp(code, "NoSuchKey") == 0 || strcmp(code, "NoSuchBucket") == 0)) ?
					 ERRCODE_UNDEFINED_OBJECT :
					 (resp->status == 403 ? ERRCODE_INSUFFICIENT_PRIVILEGE :
					  ERRCODE_EXTERNAL_ROUTINE_EXCEPTION)),
			 errmsg("S3 %s of %s failed: %s", call->operation, object,
					code ? code : psprintf("HTTP %ld", resp->status)),
			 errdetail("S3 answered HTTP %ld%s%s (request id %s, %d retries).", resp->status,
					   message ? ": " : "", message ? message : "",
					   resp->request_id[0] ? resp->request_id : "none", resp->retries),
			 errhint("%s", resp->status == 403 ?
					 "Check the credentials pg_claude signs with (claude_credentials()) and the bucket's policy." :
					 "Check the bucket, the key and the bucket's region.")));
}

char *
claude_s3_bucket_region(const char *bucket)
{
	S3Call		call = {0};
	ClaudeHttpResponse resp;
	char	   *url;

	call.operation = "HeadBucket";
	call.method = "HEAD";
	call.region = claude_region;
	call.body = "";
	url = s3_address(&call, bucket, "");
	s3_execute(&call, url, &resp);

	/*
	 * S3 names the region on a 200, and also when the request was signed
	 * for another region (301 or 400) or is forbidden (403).
	 */
	if (resp.curl_code == CURLE_OK && resp.captured[H_BUCKET_REGION][0] &&
		(resp.status == 200 || resp.status == 301 || resp.status == 400 || resp.status == 403))
		return pstrdup(resp.captured[H_BUCKET_REGION]);
	if (resp.curl_code == CURLE_OK && resp.status >= 200 && resp.status < 300)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("S3 HeadBucket of s3://%s answered without x-amz-bucket-region", bucket),
				 errdetail("Without the bucket's region pg_claude can neither sign for it nor judge its residency."),
				 errhint("Check that claude.s3_endpoint is an S3 endpoint.")));
	s3_raise(&call, bucket, "", &resp);
}

char *
claude_s3_check_residency(const char *bucket)
{
	char	   *region = claude_s3_bucket_region(bucket);
	ClaudeResidencyVerdict v;

	claude_residency_judge_region(claude_residency, region, claude_region, "bucket's region", &v);
	if (v.allowed)
		return region;
	ereport(LOG,
			(errmsg("pg_claude refused to write to S3 under claude.residency \"%s\"", claude_residency),
			 errdetail_internal("role %s, bucket %s: %s",
								GetUserNameFromId(GetUserId(), false), bucket, v.reason)));
	ereport(ERROR,
			(errcode(ERRCODE_CLAUDE_RESIDENCY_VIOLATION),
			 errmsg("bucket \"%s\" stores data in %s, outside claude.residency \"%s\"",
					bucket, claude_residency_place(&v, ""), claude_residency),
			 errdetail("%s; nothing was written.", v.reason),
			 errhint("%s", v.hint)));
}

char *
claude_s3_put(const ClaudeS3Uri *uri, const char *body, size_t len)
{
	S3Call		call = {0};
	ClaudeHttpResponse resp;
	char	   *url;

	if (uri->key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("S3 PutObject needs an object key"),
				 errdetail("s3://%s/ names the bucket, not an object.", uri->bucket),
				 errhint("Write it as s3://%s/key.", uri->bucket)));
	call.operation = "PutObject";
	call.method = "PUT";
	call.region = claude_s3_check_residency(uri->bucket);
	call.body = body;
	call.body_len = len;
	url = s3_address(&call, uri->bucket, uri->key);
	s3_execute(&call, url, &resp);
	if (resp.curl_code != CURLE_OK || resp.status < 200 || resp.status >= 300)
		s3_raise(&call, uri->bucket, uri->key, &resp);
	return pstrdup(resp.captured[H_ETAG]);
}

char *
claude_s3_get(const ClaudeS3Uri *uri, size_t *len)
{
	S3Call		call = {0};
	ClaudeHttpResponse resp;
	char	   *url;

	call.operation = "GetObject";
	call.method = "GET";
	call.region = claude_s3_bucket_region(uri->bucket);
	call.body = "";
	url = s3_address(&call, uri->bucket, uri->key);
	s3_execute(&call, url, &resp);
	if (resp.curl_code != CURLE_OK || resp.status < 200 || resp.status >= 300)
		s3_raise(&call, uri->bucket, uri->key, &resp);
	*len = resp.body_len;
	return resp.body;
}

List *
claude_s3_list(const ClaudeS3Uri *uri)
{
	List	   *keys = NIL;
	char	   *region = claude_s3_bucket_region(uri->bucket);
	char	   *token = NULL;
	int			pages = 0;

	do
	{
		S3Call		call = {0};
		ClaudeHttpResponse resp;
		const char *pos = NULL;
		char	   *key;
		char	   *truncated;
		char	   *url;

		CHECK_FOR_INTERRUPTS();
		call.operation = "ListObjectsV2";
		call.method = "GET";
		call.region = region;
		call.body = "";
		call.query = psprintf("list-type=2%s%s%s%s",
							  token ? "&continuation-token=" : "", token ? claude_uri_encode(token, false) : "",
							  uri->key[0] ? "&prefix=" : "", uri->key[0] ? claude_uri_encode(uri->key, false) : "");
		url = s3_address(&call, uri->bucket, "");
		s3_execute(&call, url, &resp);
		if (resp.curl_code != CURLE_OK || resp.status < 200 || resp.status >= 300)
			s3_raise(&call, uri->bucket, "", &resp);
		if (strstr(resp.body, "<ListBucketResult") == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("S3 ListObjectsV2 of s3://%s answered without a ListBucketResult", uri->bucket),
					 errdetail("An answer that is not a listing says nothing of what the bucket holds."),
					 errhint("Check that claude.s3_endpoint is an S3 endpoint.")));
		while ((key = xml_next(resp.body, "Key", &pos)) != NULL)
			keys = lappend(keys, key);
		truncated = xml_next(resp.body, "IsTruncated", NULL);
		token = truncated && strcmp(truncated, "true") == 0 ?
			xml_next(resp.body, "NextContinuationToken", NULL) : NULL;
		if (truncated && strcmp(truncated, "true") == 0 && (token == NULL || token[0] == '\0'))
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("S3 ListObjectsV2 of s3://%s is truncated but gives no continuation token",
							uri->bucket),
					 errdetail("The rest of the listing cannot be asked for."),
					 errhint("Check that claude.s3_endpoint is an S3 endpoint.")));
		if (token && ++pages >= S3_MAX_PAGES)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("S3 ListObjectsV2 of s3://%s handed out a next page %d times",
							uri->bucket, S3_MAX_PAGES),
					 errdetail("A listing that never ends is not read."),
					 errhint("Check that claude.s3_endpoint is an S3 endpoint.")));
	} while (token != NULL);
	return keys;
}
