/*-------------------------------------------------------------------------
 *
 * sigv4_headers.c
 *	  sigv4_sign(): which headers are signed (the caller's, plus the
 *	  X-Amz-Date, X-Amz-Security-Token and x-amz-content-sha256 the signer
 *	  adds), the four stages run in order, and the result handed over.
 *
 * The stages are sigv4_canonical.c (1) and sigv4_signature.c (2 to 4);
 * each one's output is kept in the result so that the vector tester can
 * compare them one by one.  Plain C99 with libc and OpenSSL libcrypto
 * only: see sigv4.h.  Memory comes from malloc; every allocation is
 * checked and a failure makes sigv4_sign() return -1.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
/* gmtime_r() is POSIX; make sure it is declared even under -std=c99. */
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "sigv4.h"
#include "sigv4_buf.h"
#include "sigv4_canonical.h"
#include "sigv4_signature.h"

/*
 * Check the basic ISO 8601 form SigV4 uses, yyyymmddThhmmssZ, so that a
 * caller-supplied X-Amz-Date that would yield a nonsense scope is refused
 * rather than signed.
 */
static bool
valid_amz_date(const char *s)
{
	int			i;

	if (strlen(s) != 16)
		return false;
	for (i = 0; i < 16; i++)
	{
		if (i == 8)
		{
			if (s[i] != 'T')
				return false;
		}
		else if (i == 15)
		{
			if (s[i] != 'Z')
				return false;
		}
		else if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return true;
}

/*
 * Format the signing time.  The time is always passed in by the caller
 * (never read here) so that tests can replay the 2015 vectors.
 */
static int
format_amz_date(time_t t, char out[17])
{
	/* calls in the same second share the text: strftime is not free */
	static time_t last_t = (time_t) -1;
	static char last[17];
	struct tm	tm;

	if (t != last_t)
	{
		if (gmtime_r(&t, &tm) == NULL)
			return -1;
		if (strftime(last, sizeof(last), "%Y%m%dT%H%M%SZ", &tm) != 16)
		{
			last_t = (time_t) -1;
			return -1;
		}
		last_t = t;
	}
	memcpy(out, last, sizeof(last));
	return 0;
}

/*
 * Sign a request (see sigv4.h).
 *
 * Headers: every header passed in is signed.  The signer adds X-Amz-Date
 * (from params->timestamp), X-Amz-Security-Token (when a session token is
 * given and params->omit_session_token is false) and, with
 * sign_content_sha256, x-amz-content-sha256 -- but only when the caller has
 * not passed that header already, so that no header is ever signed twice.
 * In particular a caller-supplied X-Amz-Date (the legacy AWS test vectors
 * carry one in the request) is used as the request time: it must be in the
 * yyyymmddThhmmssZ form, params->timestamp is then ignored, and
 * out->amz_date echoes it.  A caller-supplied x-amz-content-sha256 also
 * replaces the payload hash in the canonical request (as botocore does, and
 * as S3's UNSIGNED-PAYLOAD needs); out->payload_hash is still the real
 * SHA-256 of the payload.
 */
int
sigv4_sign(const SigV4Request *req, const SigV4Credentials *creds,
		   const SigV4Params *params, SigV4Result *out)
{
	SigV4CanonHeader *headers = NULL;
	int			nheaders = 0;
	int			i;
	int			result = -1;
	bool		have_host = false;
	bool		have_date = false;
	bool		have_token = false;
	const char *payload_line = NULL;
	char		date8[9];
	SigV4Buf	cr;
	SigV4Buf	sh;
	SigV4Buf	sts;
	SigV4Buf	auth;

	if (out == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	sigv4_buf_init(&cr);
	sigv4_buf_init(&sh);
	sigv4_buf_init(&sts);
	sigv4_buf_init(&auth);

	/* Reject malformed input before doing any work. */
	if (req == NULL || creds == NULL || params == NULL)
		return -1;
	if (req->method == NULL || req->method[0] == '\0')
		return -1;
	if (req->nheaders < 0 || (req->nheaders > 0 && req->headers == NULL))
		return -1;
	if (req->payload == NULL && req->payload_len != 0)
		return -1;
	if (creds->access_key_id == NULL || creds->access_key_id[0] == '\0' ||
		creds->secret_access_key == NULL)
		return -1;
	if (params->region == NULL || params->region[0] == '\0' ||
		params->service == NULL || params->service[0] == '\0')
		return -1;
	if (req->nheaders > INT_MAX - 3)
		return -1;

	if (sigv4_sha256_hex_checked(req->payload, req->payload_len,
								 out->payload_hash) != 0)
		goto done;

	/* Canonicalise the caller's headers, noting the ones we care about. */
	headers = calloc((size_t) req->nheaders + 3, sizeof(SigV4CanonHeader));
	if (headers == NULL)
		goto done;

	for (i = 0; i < req->nheaders; i++)
	{
		const SigV4CanonHeader *h;

		if (req->headers[i].name == NULL)
			goto done;
		if (sigv4_canon_add_header(headers, &nheaders, req->headers[i].name,
								   req->headers[i].value) != 0)
			goto done;
		h = &headers[nheaders - 1];

		if (strcmp(h->name, "host") == 0)
			have_host = true;
		else if (strcmp(h->name, "x-amz-date") == 0)
		{
			if (!have_date)
			{
				if (!valid_amz_date(h->value))
					goto done;
				memcpy(out->amz_date, h->value, 17);
			}
			have_date = true;
		}
		else if (strcmp(h->name, "x-amz-security-token") == 0)
			have_token = true;
		else if (strcmp(h->name, "x-amz-content-sha256") == 0)
		{
			if (payload_line == NULL)
				payload_line = h->value;
		}
	}

	if (!have_host)
		goto done;

	/* Add the headers the signer is responsible for. */
	if (!have_date)
	{
		if (format_amz_date(params->timestamp, out->amz_date) != 0)
			goto done;
		if (sigv4_canon_add_header(headers, &nheaders, "x-amz-date", out->amz_date) != 0)
			goto done;
	}
	if (creds->session_token != NULL && creds->session_token[0] != '\0' &&
		!params->omit_session_token && !have_token)
	{
		if (sigv4_canon_add_header(headers, &nheaders, "x-amz-security-token",
								   creds->session_token) != 0)
			goto done;
	}
	if (req->sign_content_sha256 && payload_line == NULL)
	{
		if (sigv4_canon_add_header(headers, &nheaders, "x-amz-content-sha256",
								   out->payload_hash) != 0)
			goto done;
	}
	if (payload_line == NULL)
		payload_line = out->payload_hash;

	/* Stage 1: the canonical request (sigv4_canonical.c). */
	if (sigv4_canonical_request(&cr, &sh, req, headers, nheaders, payload_line) != 0)
		goto done;

	/* Stages 2 to 4, and the Authorization header (sigv4_signature.c). */
	memcpy(date8, out->amz_date, 8);
	date8[8] = '\0';
	if (sigv4_string_to_sign(&sts, &cr, out->amz_date, date8, params) != 0 ||
		sigv4_signature(out->signature, &sts, creds->secret_access_key,
						date8, params) != 0 ||
		sigv4_authorization(&auth, creds->access_key_id, date8, params, &sh,
							out->signature) != 0)
		goto done;

	out->signed_headers = sigv4_buf_take(&sh);
	out->canonical_request = sigv4_buf_take(&cr);
	out->string_to_sign = sigv4_buf_take(&sts);
	out->authorization = sigv4_buf_take(&auth);
	if (out->signed_headers == NULL || out->canonical_request == NULL ||
		out->string_to_sign == NULL || out->authorization == NULL)
		goto done;

	result = 0;

done:
	if (headers != NULL)
	{
		for (i = 0; i < nheaders; i++)
		{
			sigv4_wipe_free(headers[i].name);
			sigv4_wipe_free(headers[i].value);
		}
		free(headers);
	}
	sigv4_buf_free(&cr);
	sigv4_buf_free(&sh);
	sigv4_buf_free(&sts);
	sigv4_buf_free(&auth);

	if (result != 0)
		sigv4_result_free(out);
	return result;
}

/*
 * Free a result and wipe it.  The canonical request holds the session
 * token, and the signature is derived from the secret, so everything is
 * cleansed, not just freed.  Safe on a zeroed or already-freed result.
 */
void
sigv4_result_free(SigV4Result *res)
{
	if (res == NULL)
		return;

	sigv4_wipe_free(res->canonical_request);
	sigv4_wipe_free(res->string_to_sign);
	sigv4_wipe_free(res->authorization);
	sigv4_wipe_free(res->signed_headers);

	OPENSSL_cleanse(res, sizeof(*res));
	memset(res, 0, sizeof(*res));
}
