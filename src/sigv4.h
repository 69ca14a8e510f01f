/*-------------------------------------------------------------------------
 *
 * sigv4.h
 *	  AWS Signature Version 4, as separate testable stages.
 *
 * The sigv4_*.c files are plain C (libc + OpenSSL libcrypto) and include
 * no PostgreSQL headers, so the same objects are linked into the extension
 * and into the standalone vector tester in test/unit.  Time is passed in,
 * never read inside.  All strings it returns are malloc'd and released by
 * sigv4_result_free(), which also wipes the derived key material.
 *
 * sigv4_headers.c is sigv4_sign() (which headers are signed, the stages in
 * order); sigv4_canonical.c the canonical request and URI encoding;
 * sigv4_signature.c the string to sign, key and signature; sigv4_buf.c the
 * wiping buffer they write into.  This header has no .c of its own, so the
 * stages can include it without a cycle.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_SIGV4_H
#define PG_CLAUDE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef struct SigV4Header
{
	const char *name;			/* any case; canonicalised to lower case */
	const char *value;			/* trimmed, inner whitespace runs collapsed */
} SigV4Header;

typedef struct SigV4Request
{
	const char *method;			/* "GET", "POST", ... */

	/*
	 * Path exactly as sent on the wire (already percent-encoded once, e.g.
	 * "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke").
	 */
	const char *path;
	const char *query;			/* query string without '?', or NULL */
	const SigV4Header *headers; /* must include "host" */
	int			nheaders;
	const unsigned char *payload;	/* body, may be NULL when payload_len 0 */
	size_t		payload_len;

	/*
	 * Non-S3 services: true for both.  S3: false for both.  When
	 * normalize_path is set, "." and ".." segments and repeated slashes are
	 * removed; when double_encode_path is set, each path segment is
	 * URI-encoded again for the canonical URI (so "%3A" becomes "%253A").
	 */
	bool		normalize_path;
	bool		double_encode_path;

	/* add and sign "x-amz-content-sha256" (S3 style) */
	bool		sign_content_sha256;
} SigV4Request;

typedef struct SigV4Credentials
{
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;	/* NULL or "" for long-term keys */
} SigV4Credentials;

typedef struct SigV4Params
{
	const char *region;
	const char *service;
	time_t		timestamp;		/* seconds since epoch, UTC */

	/*
	 * Some services (the post-sts-header-after vector) want the session
	 * token sent but not signed; everyone else signs it.
	 */
	bool		omit_session_token;
} SigV4Params;

typedef struct SigV4Result
{
	char	   *canonical_request;
	char	   *string_to_sign;
	char		signature[65];	/* lower-case hex */
	char	   *authorization;	/* full Authorization header value */
	char		amz_date[17];	/* YYYYMMDD'T'HHMMSS'Z', send as X-Amz-Date */
	char		payload_hash[65];	/* hex SHA-256 of the payload */
	char	   *signed_headers; /* "host;x-amz-date;..." */
} SigV4Result;

/*
 * Sign a request with header (Authorization) signing.  The caller must send
 * X-Amz-Date (out->amz_date), and X-Amz-Security-Token when a session token
 * is given, in addition to the headers passed in.  Returns 0 on success, or
 * -1 on allocation failure or malformed input (out is then zeroed).
 *
 * Every header passed in is signed (so pass only those meant to be signed:
 * not Authorization, User-Agent, Content-Length added later, ...), and a
 * "host" header is required.  The signer adds X-Amz-Date,
 * X-Amz-Security-Token (unless omit_session_token) and, with
 * sign_content_sha256, x-amz-content-sha256 -- but never a header the caller
 * already passed.  A caller-supplied X-Amz-Date (the legacy AWS vectors
 * carry one) must be yyyymmddThhmmssZ and is used as the request time
 * instead of params->timestamp; out->amz_date then echoes it.  A
 * caller-supplied x-amz-content-sha256 (e.g. UNSIGNED-PAYLOAD) is also used
 * as the canonical request's payload hash; out->payload_hash stays the real
 * SHA-256 of the payload.  Query strings are decoded once and re-encoded,
 * so already-encoded input is not encoded twice; '+' is a literal plus.
 */
extern int	sigv4_sign(const SigV4Request *req, const SigV4Credentials *creds,
					   const SigV4Params *params, SigV4Result *out);

extern void sigv4_result_free(SigV4Result *res);

/*
 * URI-encode per SigV4: unreserved characters (A-Z a-z 0-9 - _ . ~) kept,
 * everything else %XX with upper-case hex; '/' kept when keep_slash.
 * Returns a malloc'd string or NULL on allocation failure.
 */
extern char *sigv4_uri_encode(const char *in, size_t len, bool keep_slash);

/* Lower-case hex SHA-256 of data into out[65]. */
extern void sigv4_sha256_hex(const unsigned char *data, size_t len, char out[65]);

#endif							/* PG_CLAUDE_SIGV4_H */
