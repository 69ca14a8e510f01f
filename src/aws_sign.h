/*-------------------------------------------------------------------------
 *
 * aws_sign.h
 *	  Where AWS requests are signed: the header list of one SigV4-signed
 *	  request, for Bedrock, STS and S3 alike.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_AWS_SIGN_H
#define PG_CLAUDE_AWS_SIGN_H

#include <time.h>

#include "aws_util.h"

struct curl_slist;

/* Whether (and how) the payload hash travels as x-amz-content-sha256. */
typedef enum AwsPayloadHash
{
	AWS_PAYLOAD_HASH_NOT_SENT = 0,	/* Bedrock, STS */
	AWS_PAYLOAD_HASH_SIGNED,	/* S3: the body's SHA-256 */
	AWS_PAYLOAD_HASH_UNSIGNED,	/* S3: "UNSIGNED-PAYLOAD" */
} AwsPayloadHash;

/* A header of the caller's, sent and signed (a guardrail's). */
typedef struct AwsHeader
{
	const char *name;
	const char *value;
} AwsHeader;

#define AWS_MAX_EXTRA_HEADERS 4

typedef struct AwsSignRequest
{
	const char *label;			/* "Bedrock", "STS", "S3": for the error */
	const char *method;
	const char *host;			/* the Host header's value */
	const char *path;			/* as on the wire, percent-encoded once */
	const char *query;			/* without '?', or NULL */
	const char *body;
	size_t		body_len;
	const char *content_type;	/* NULL: no Content-Type */
	const char *accept;			/* NULL: no Accept */
	const char *service;		/* "bedrock", "sts", "s3" */
	const char *region;
	AwsPayloadHash payload_hash;
	time_t		now;			/* the request time: passed in, never read here */
	const AwsHeader *extra;		/* more headers, at most AWS_MAX_EXTRA_HEADERS */
	int			nextra;
} AwsSignRequest;

/*
 * The headers every request carries, unsigned: Host, Content-Type, Accept
 * (those given), the caller's extra ones and an empty Expect.  For unsigned calls and bearer tokens.
 */
extern struct curl_slist *aws_request_headers(const AwsSignRequest *req);

/*
 * The same headers plus X-Amz-Date, X-Amz-Security-Token (temporary
 * credentials), x-amz-content-sha256 (when asked) and Authorization, signed
 * with SigV4 by creds.  The list is malloc'd (curl_slist_free_all); the
 * secret-bearing lines built on the way are wiped.
 */
extern struct curl_slist *aws_sign(const AwsSignRequest *req, const ClaudeCredentials *creds);

/*
 * value percent-encoded as SigV4 canonicalises it (RFC 3986 unreserved kept;
 * '/' kept when keep_slash), palloc'd: for a path segment, a query or a form
 * value, so what is sent is what is signed.
 */
extern char *claude_uri_encode(const char *value, bool keep_slash);

#endif							/* PG_CLAUDE_AWS_SIGN_H */
