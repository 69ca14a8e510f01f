/*-------------------------------------------------------------------------
 *
 * sigv4_signature.c
 *	  SigV4 stages 2 to 4, and the hashing under them:
 *
 *	2. string to sign:
 *		 "AWS4-HMAC-SHA256" \n amz-date \n scope \n hex(sha256(canonical request))
 *	   where scope is yyyymmdd/region/service/aws4_request;
 *	3. signing key: HMAC chain "AWS4"+secret -> date -> region -> service ->
 *	   "aws4_request";
 *	4. signature: hex(HMAC(signing key, 2)).
 *
 * Plain C99 with libc and OpenSSL libcrypto only: see sigv4.h.  The
 * intermediate HMAC keys are wiped before return; the signing key is kept
 * for the next signature of the same day, region and service.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/core_names.h>
#include <openssl/params.h>
#endif

#include "sigv4.h"
#include "sigv4_buf.h"
#include "sigv4_signature.h"

#define SIGV4_ALGORITHM		"AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR	"aws4_request"
#define SHA256_LEN			32

static const char hex_lower[] = "0123456789abcdef";

/* Lower-case hex of a byte string; out must hold 2 * len + 1 bytes. */
static void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		out[2 * i] = hex_lower[in[i] >> 4];
		out[2 * i + 1] = hex_lower[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

/*
 * The algorithms, fetched once per process.  In OpenSSL 3, EVP_sha256() and
 * the one-shot HMAC() look the algorithm up in the provider tables (a
 * property query under a lock) on every call; a signature takes two digests
 * and five HMACs, and that lookup cost more than the hashing.  The fetched
 * objects hold no key material.  A backend is single-threaded; a second
 * thread racing the first fetch would only fetch twice.
 */
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
static EVP_MD *sha256_fetched = NULL;
static EVP_MAC_CTX *hmac_template = NULL;

static const EVP_MD *
sha256_md(void)
{
	if (sha256_fetched == NULL)
		sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
	return sha256_fetched;
}

/* An HMAC context with its digest set and no key: duplicated per HMAC. */
static const EVP_MAC_CTX *
hmac_sha256_template(void)
{
	if (hmac_template == NULL)
	{
		EVP_MAC    *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
		OSSL_PARAM	params[2];

		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0);
		params[1] = OSSL_PARAM_construct_end();
		if (ctx != NULL && EVP_MAC_CTX_set_params(ctx, params) == 1)
			hmac_template = ctx;
		else
			EVP_MAC_CTX_free(ctx);
		EVP_MAC_free(mac);		/* the context keeps its own reference */
	}
	return hmac_template;
}
#else
static const EVP_MD *
sha256_md(void)
{
	return EVP_sha256();
}
#endif

/*
 * SHA-256 to lower-case hex, reporting failure instead of hiding it, so
 * that sigv4_sign() never signs a bogus hash.  EVP_Digest is used because
 * the SHA256_* low-level functions are deprecated in OpenSSL 3.
 */
int
sigv4_sha256_hex_checked(const unsigned char *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	static const unsigned char empty[1] = {0};

	if (data == NULL)
	{
		if (len != 0)
			return -1;
		data = empty;
	}

	if (sha256_md() == NULL ||
		EVP_Digest(data, len, md, &mdlen, sha256_md(), NULL) != 1 ||
		mdlen != SHA256_LEN)
	{
		out[0] = '\0';
		return -1;
	}

	hex_encode(md, SHA256_LEN, out);
	return 0;
}

/*
 * Public wrapper: the header promises a plain void function.  On the
 * (practically impossible) digest failure the output is the empty string,
 * which can never match a real hash.
 */
void
sigv4_sha256_hex(const unsigned char *data, size_t len, char out[65])
{
	if (sigv4_sha256_hex_checked(data, len, out) != 0)
		out[0] = '\0';
}

/*
 * One HMAC-SHA256 step of the key derivation chain.  The context is
 * duplicated from the keyless template and freed (which cleanses it)
 * before return, so nothing but "out" holds key material afterwards.
 */
static int
hmac_sha256(const unsigned char *key, size_t keylen,
			const unsigned char *data, size_t datalen,
			unsigned char out[SHA256_LEN])
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	const EVP_MAC_CTX *template = hmac_sha256_template();
	EVP_MAC_CTX *ctx;
	size_t		outlen = 0;
	int			ok;

	if (template == NULL || keylen > INT_MAX)
		return -1;
	ctx = EVP_MAC_CTX_dup(template);
	if (ctx == NULL)
		return -1;
	ok = EVP_MAC_init(ctx, key, keylen, NULL) == 1 &&
		EVP_MAC_update(ctx, data, datalen) == 1 &&
		EVP_MAC_final(ctx, out, &outlen, SHA256_LEN) == 1 &&
		outlen == SHA256_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -1;
#else
	unsigned int outlen = 0;

	if (keylen > INT_MAX)
		return -1;

	if (HMAC(EVP_sha256(), key, (int) keylen, data, datalen,
			 out, &outlen) == NULL || outlen != SHA256_LEN)
		return -1;

	return 0;
#endif
}

/* The credential scope after date8: "/region/service/aws4_request". */
static void
append_scope_tail(SigV4Buf *buf, const SigV4Params *params)
{
	sigv4_buf_append_char(buf, '/');
	sigv4_buf_append_str(buf, params->region);
	sigv4_buf_append_char(buf, '/');
	sigv4_buf_append_str(buf, params->service);
	sigv4_buf_append_str(buf, "/" SIGV4_TERMINATOR);
}

int
sigv4_string_to_sign(SigV4Buf *sts, const SigV4Buf *cr, const char *amz_date,
					 const char *date8, const SigV4Params *params)
{
	char		cr_hash[65];

	if (sigv4_sha256_hex_checked((const unsigned char *) cr->data, cr->len,
								 cr_hash) != 0)
		return -1;

	sigv4_buf_append_str(sts, SIGV4_ALGORITHM "\n");
	sigv4_buf_append_str(sts, amz_date);
	sigv4_buf_append_char(sts, '\n');
	sigv4_buf_append_str(sts, date8);
	append_scope_tail(sts, params);
	sigv4_buf_append_char(sts, '\n');
	sigv4_buf_append_str(sts, cr_hash);
	return sts->failed ? -1 : 0;
}

/*
 * The signing key depends only on the secret, the date, the region and the
 * service, so it is kept for the next signature with the same four, which
 * saves four of the five HMACs (aws-c-auth caches it too).  The key is as
 * secret as the secret; both copies are wiped when replaced.  Not
 * thread-safe: the signer runs in one backend's single thread.
 */
typedef struct SigningKeyMemo
{
	int			valid;
	char	   *secret;			/* malloc'd copy */
	char		date8[9];
	char		region[64];
	char		service[64];
	unsigned char key[SHA256_LEN];
} SigningKeyMemo;

static SigningKeyMemo key_memo;

static void
key_memo_clear(void)
{
	if (key_memo.secret != NULL)
	{
		OPENSSL_cleanse(key_memo.secret, strlen(key_memo.secret));
		free(key_memo.secret);
	}
	OPENSSL_cleanse(&key_memo, sizeof(key_memo));
}

static int
key_memo_matches(const char *secret, const char *date8, const SigV4Params *params)
{
	return key_memo.valid && strcmp(key_memo.secret, secret) == 0 &&
		strcmp(key_memo.date8, date8) == 0 && strcmp(key_memo.region, params->region) == 0 &&
		strcmp(key_memo.service, params->service) == 0;
}

static void
key_memo_store(const char *secret, const char *date8, const SigV4Params *params,
			   const unsigned char key[SHA256_LEN])
{
	key_memo_clear();
	if (strlen(date8) >= sizeof(key_memo.date8) ||
		strlen(params->region) >= sizeof(key_memo.region) ||
		strlen(params->service) >= sizeof(key_memo.service))
		return;					/* unusual: derived again next time */
	key_memo.secret = strdup(secret);
	if (key_memo.secret == NULL)
		return;
	strcpy(key_memo.date8, date8);
	strcpy(key_memo.region, params->region);
	strcpy(key_memo.service, params->service);
	memcpy(key_memo.key, key, SHA256_LEN);
	key_memo.valid = 1;
}

int
sigv4_signature(char out[65], const SigV4Buf *sts, const char *secret_access_key,
				const char *date8, const SigV4Params *params)
{
	char	   *key0 = NULL;
	size_t		key0_len;
	unsigned char k_date[SHA256_LEN];
	unsigned char k_region[SHA256_LEN];
	unsigned char k_service[SHA256_LEN];
	unsigned char k_signing[SHA256_LEN];
	unsigned char sig[SHA256_LEN];
	int			result = -1;

	if (key_memo_matches(secret_access_key, date8, params))
	{
		memcpy(k_signing, key_memo.key, SHA256_LEN);
		goto sign;
	}

	/* Stage 3: the signing key, derived from "AWS4" + secret. */
	key0_len = 4 + strlen(secret_access_key);
	key0 = malloc(key0_len + 1);
	if (key0 == NULL)
		goto done;
	memcpy(key0, "AWS4", 4);
	memcpy(key0 + 4, secret_access_key, key0_len - 4 + 1);

	if (hmac_sha256((unsigned char *) key0, key0_len,
					(const unsigned char *) date8, 8, k_date) != 0 ||
		hmac_sha256(k_date, SHA256_LEN,
					(const unsigned char *) params->region,
					strlen(params->region), k_region) != 0 ||
		hmac_sha256(k_region, SHA256_LEN,
					(const unsigned char *) params->service,
					strlen(params->service), k_service) != 0 ||
		hmac_sha256(k_service, SHA256_LEN,
					(const unsigned char *) SIGV4_TERMINATOR,
					strlen(SIGV4_TERMINATOR), k_signing) != 0)
		goto done;
	key_memo_store(secret_access_key, date8, params, k_signing);

sign:
	/* Stage 4: the signature. */
	if (hmac_sha256(k_signing, SHA256_LEN,
					(const unsigned char *) sts->data, sts->len, sig) != 0)
		goto done;
	hex_encode(sig, SHA256_LEN, out);
	result = 0;

done:
	/* Key material never outlives this call. */
	OPENSSL_cleanse(k_date, sizeof(k_date));
	OPENSSL_cleanse(k_region, sizeof(k_region));
	OPENSSL_cleanse(k_service, sizeof(k_service));
	OPENSSL_cleanse(k_signing, sizeof(k_signing));
	OPENSSL_cleanse(sig, sizeof(sig));
	if (key0 != NULL)
	{
		OPENSSL_cleanse(key0, key0_len);
		free(key0);
	}
	return result;
}

int
sigv4_authorization(SigV4Buf *auth, const char *access_key_id, const char *date8,
					const SigV4Params *params, const SigV4Buf *sh, const char *signature)
{
	sigv4_buf_append_str(auth, SIGV4_ALGORITHM " Credential=");
	sigv4_buf_append_str(auth, access_key_id);
	sigv4_buf_append_char(auth, '/');
	sigv4_buf_append_str(auth, date8);
	append_scope_tail(auth, params);
	sigv4_buf_append_str(auth, ", SignedHeaders=");
	sigv4_buf_append(auth, sh->data ? sh->data : "", sh->len);
	sigv4_buf_append_str(auth, ", Signature=");
	sigv4_buf_append_str(auth, signature);
	return auth->failed ? -1 : 0;
}
