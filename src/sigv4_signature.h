/*-------------------------------------------------------------------------
 *
 * sigv4_signature.h
 *	  SigV4 stages 2 to 4 (sigv4_signature.c): the string to sign, the
 *	  signing key derived from the secret, the signature, and the
 *	  Authorization header value around it.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_SIGV4_SIGNATURE_H
#define PG_CLAUDE_SIGV4_SIGNATURE_H

#include "sigv4.h"
#include "sigv4_buf.h"

/* sigv4_sha256_hex that reports a digest failure: 0, or -1. */
extern int	sigv4_sha256_hex_checked(const unsigned char *data, size_t len, char out[65]);

/*
 * date8 below is the request date, yyyymmdd (the first 8 characters of
 * amz_date), the first part of the credential scope.  Each returns 0, or
 * -1 on allocation or digest failure.
 */

/* Stage 2: "AWS4-HMAC-SHA256" \n amz_date \n scope \n hex(sha256(cr)). */
extern int	sigv4_string_to_sign(SigV4Buf *sts, const SigV4Buf *cr, const char *amz_date,
								 const char *date8, const SigV4Params *params);

/* Stages 3 and 4: the signing key, then hex(HMAC(key, sts)) into out. */
extern int	sigv4_signature(char out[65], const SigV4Buf *sts, const char *secret_access_key,
							const char *date8, const SigV4Params *params);

/* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
extern int	sigv4_authorization(SigV4Buf *auth, const char *access_key_id, const char *date8,
								const SigV4Params *params, const SigV4Buf *sh,
								const char *signature);

#endif							/* PG_CLAUDE_SIGV4_SIGNATURE_H */
