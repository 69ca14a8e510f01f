/*-------------------------------------------------------------------------
 *
 * aws_sign.c
 *	  Where AWS requests are signed: SigV4 (sigv4.h) turned into the header
 *	  list of one request, for Bedrock, STS and S3 alike.
 *
 * Each attempt of a request is signed again by its caller: X-Amz-Date must
 * be current, and the credentials may have changed since the last attempt.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "aws_sign.h"
#include "http.h"
#include "sigv4.h"

#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

static struct curl_slist *
append_line(struct curl_slist *list, const char *name, const char *value, bool secret)
{
	char	   *line = psprintf("%s: %s", name, value);

	list = claude_http_append_header(list, line);
	if (secret)
		explicit_bzero(line, strlen(line));
	pfree(line);
	return list;
}

struct curl_slist *
aws_request_headers(const AwsSignRequest *req)
{
	struct curl_slist *list = NULL;

	list = append_line(list, "Host", req->host, false);
	if (req->content_type)
		list = append_line(list, "Content-Type", req->content_type, false);
	if (req->accept)
		list = append_line(list, "Accept", req->accept, false);
	for (int i = 0; i < req->nextra; i++)
		list = append_line(list, req->extra[i].name, req->extra[i].value, false);
	/* libcurl would otherwise wait for "100 Continue" on large bodies */
	list = claude_http_append_header(list, "Expect:");
	return list;
}

struct curl_slist *
aws_sign(const AwsSignRequest *req, const ClaudeCredentials *creds)
{
	bool		s3 = strcmp(req->service, "s3") == 0;
	bool		has_token = creds->session_token && creds->session_token[0];
	SigV4Header headers[4 + AWS_MAX_EXTRA_HEADERS];
	int			nheaders = 0;
	SigV4Request sreq = {0};
	SigV4Credentials sc = {0};
	SigV4Params params = {0};
	SigV4Result res;
	char	   *amz_date;
	char	   *authorization;
	char		payload_hash[65];
	struct curl_slist *list;

	/* every header sent before signing is signed */
	headers[nheaders].name = "host";
	headers[nheaders++].value = req->host;
	if (req->content_type)
	{
		headers[nheaders].name = "content-type";
		headers[nheaders++].value = req->content_type;
	}
	if (req->accept)
	{
		headers[nheaders].name = "accept";
		headers[nheaders++].value = req->accept;
	}
	Assert(req->nextra <= AWS_MAX_EXTRA_HEADERS);
	for (int i = 0; i < req->nextra; i++)
	{
		headers[nheaders].name = req->extra[i].name;
		headers[nheaders++].value = req->extra[i].value;
	}
	if (req->payload_hash == AWS_PAYLOAD_HASH_UNSIGNED)
	{
		headers[nheaders].name = "x-amz-content-sha256";
		headers[nheaders++].value = UNSIGNED_PAYLOAD;
	}

	sreq.method = req->method;
	sreq.path = req->path;
	sreq.query = req->query;
	sreq.headers = headers;
	sreq.nheaders = nheaders;
	sreq.payload = (const unsigned char *) req->body;
	sreq.payload_len = req->body_len;
	/* SigV4 for every service but S3 normalises and double-encodes the path */
	sreq.normalize_path = !s3;
	sreq.double_encode_path = !s3;
	sreq.sign_content_sha256 = req->payload_hash == AWS_PAYLOAD_HASH_SIGNED;

	sc.access_key_id = creds->access_key_id;
	sc.secret_access_key = creds->secret_access_key;
	sc.session_token = has_token ? creds->session_token : NULL;

	params.region = req->region;
	params.service = req->service;
	params.timestamp = req->now;

	if (sigv4_sign(&sreq, &sc, &params, &res) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not sign the %s request", req->label),
				 errdetail("The signer ran out of memory or was given an empty access key id.")));

	/*
	 * Take what the headers need and release the signer's buffers (they
	 * hold the canonical request, token included) before anything here can
	 * fail.
	 */
	amz_date = pstrdup(res.amz_date);
	authorization = pstrdup(res.authorization);
	strlcpy(payload_hash, res.payload_hash, sizeof(payload_hash));
	sigv4_result_free(&res);

	list = aws_request_headers(req);
	if (req->payload_hash != AWS_PAYLOAD_HASH_NOT_SENT)
		list = append_line(list, "x-amz-content-sha256",
						   req->payload_hash == AWS_PAYLOAD_HASH_SIGNED ?
						   payload_hash : UNSIGNED_PAYLOAD, false);
	list = append_line(list, "X-Amz-Date", amz_date, false);
	if (has_token)
		list = append_line(list, "X-Amz-Security-Token", creds->session_token, true);
	list = append_line(list, "Authorization", authorization, true);
	explicit_bzero(authorization, strlen(authorization));
	pfree(authorization);
	pfree(amz_date);
	return list;
}

char *
claude_uri_encode(const char *value, bool keep_slash)
{
	char	   *enc = sigv4_uri_encode(value, strlen(value), keep_slash);
	char	   *out;

	if (enc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	out = pstrdup(enc);
	free(enc);
	return out;
}
