/*-------------------------------------------------------------------------
 *
 * sigv4.c
 *	  AWS Signature Version 4 (AWS4-HMAC-SHA256), header form.
 *
 * The signature is computed in the stages AWS documents, and each stage is
 * kept in the result so that the vector tester can compare them one by one:
 *
 *	1. canonical request:
 *		 METHOD \n canonical-URI \n canonical-query \n
 *		 canonical-headers (one "name:value\n" per header) \n
 *		 signed-headers \n payload-hash
 *	2. string to sign:
 *		 "AWS4-HMAC-SHA256" \n amz-date \n scope \n hex(sha256(1))
 *	   where scope is yyyymmdd/region/service/aws4_request;
 *	3. signing key: HMAC chain "AWS4"+secret -> date -> region -> service ->
 *	   "aws4_request";
 *	4. signature: hex(HMAC(signing key, 2)).
 *
 * This file is plain C99 with libc and OpenSSL libcrypto only.  It must not
 * include PostgreSQL headers: the same source is linked into the extension
 * and into the standalone programs in test/unit.  Memory comes from malloc;
 * every allocation is checked and a failure makes sigv4_sign() return -1.
 * The signing key and the intermediate HMAC keys are wiped before return.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 * IDENTIFICATION
 *	  src/sigv4.c
 *
 *-------------------------------------------------------------------------
 */
/* gmtime_r() is POSIX; make sure it is declared even under -std=c99. */
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sigv4.h"

#define SIGV4_ALGORITHM		"AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR	"aws4_request"
#define SHA256_LEN			32

/*
 * A growable, always NUL-terminated string.  An allocation failure is
 * remembered in "failed" and turns every later append into a no-op, so that
 * a long sequence of appends needs a single check at its end.
 */
typedef struct SigV4Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		failed;
} SigV4Buf;

/* One header as it goes into the canonical request. */
typedef struct CanonHeader
{
	char	   *name;			/* lower-cased */
	char	   *value;			/* trimmed, whitespace runs collapsed */
	int			order;			/* position in the input, for a stable sort */
} CanonHeader;

/* One query parameter, both parts already in canonical encoding. */
typedef struct QueryParam
{
	char	   *key;
	char	   *value;
} QueryParam;

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";


/*
 * Start an empty buffer.  Nothing is allocated until the first append, so an
 * initialised but unused buffer needs no cleanup beyond buf_free().
 */
static void
buf_init(SigV4Buf *buf)
{
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
	buf->failed = false;
}

/*
 * Append n bytes.  On allocation failure (or size overflow) the buffer is
 * marked failed; callers check buf->failed once they are done appending.
 */
static void
buf_append(SigV4Buf *buf, const char *s, size_t n)
{
	if (buf->failed)
		return;

	if (n > SIZE_MAX - buf->len - 1)
	{
		buf->failed = true;
		return;
	}

	if (buf->len + n + 1 > buf->cap)
	{
		size_t		newcap = buf->cap ? buf->cap : 64;
		char	   *newdata;

		while (newcap < buf->len + n + 1)
		{
			if (newcap > SIZE_MAX / 2)
			{
				newcap = buf->len + n + 1;
				break;
			}
			newcap *= 2;
		}

		/*
		 * Grow by copying rather than realloc, so that the old block can be
		 * wiped: the canonical request carries the session token.
		 */
		newdata = malloc(newcap);
		if (newdata == NULL)
		{
			buf->failed = true;
			return;
		}
		if (buf->data != NULL)
		{
			memcpy(newdata, buf->data, buf->len);
			OPENSSL_cleanse(buf->data, buf->cap);
			free(buf->data);
		}
		buf->data = newdata;
		buf->cap = newcap;
	}

	if (n > 0)
		memcpy(buf->data + buf->len, s, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
}

/* Append a NUL-terminated string; a convenience over buf_append(). */
static void
buf_append_str(SigV4Buf *buf, const char *s)
{
	buf_append(buf, s, strlen(s));
}

/* Append one character; a convenience over buf_append(). */
static void
buf_append_char(SigV4Buf *buf, char c)
{
	buf_append(buf, &c, 1);
}

/*
 * Hand the buffer's string over to the caller, or NULL if any append failed
 * (the partial contents are then wiped and freed).  An empty, never-grown
 * buffer yields an allocated "" so that callers can treat NULL as failure.
 */
static char *
buf_take(SigV4Buf *buf)
{
	char	   *result;

	if (!buf->failed && buf->data == NULL)
		buf_append(buf, "", 0);

	if (buf->failed)
	{
		if (buf->data != NULL)
		{
			OPENSSL_cleanse(buf->data, buf->cap);
			free(buf->data);
		}
		buf_init(buf);
		return NULL;
	}

	result = buf->data;
	buf_init(buf);
	return result;
}

/*
 * Release a buffer that was not handed over, wiping it first since it may
 * hold part of the canonical request (and so the session token).
 */
static void
buf_free(SigV4Buf *buf)
{
	if (buf->data != NULL)
	{
		OPENSSL_cleanse(buf->data, buf->cap);
		free(buf->data);
	}
	buf_init(buf);
}

/*
 * Wipe and free a NUL-terminated string.  Used for everything this module
 * allocates, because several strings hold the session token and it costs
 * little to treat them all alike.
 */
static void
wipe_free(char *s)
{
	if (s != NULL)
	{
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/*
 * Whitespace as the SigV4 "Trimall" step sees it.  Locale-independent on
 * purpose: isspace() could vary with the backend's LC_CTYPE.  Folded header
 * lines (CR/LF followed by blanks) collapse to a single space like any other
 * whitespace run, as aws-c-auth and botocore do.
 */
static bool
is_space_char(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		c == '\v' || c == '\f';
}

/* RFC 3986 unreserved characters, the only ones SigV4 leaves unencoded. */
static bool
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') ||
		c == '-' || c == '_' || c == '.' || c == '~';
}

/* Value of a hex digit, or -1; used when percent-decoding the query. */
static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

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
 * SHA-256 to lower-case hex, reporting failure instead of hiding it, so
 * that sigv4_sign() never signs a bogus hash.  EVP_Digest is used because
 * the SHA256_* low-level functions are deprecated in OpenSSL 3.
 */
static int
sha256_hex_checked(const unsigned char *data, size_t len, char out[65])
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

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
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
	if (sha256_hex_checked(data, len, out) != 0)
		out[0] = '\0';
}

/*
 * One HMAC-SHA256 step of the key derivation chain.  The one-shot HMAC()
 * keeps no context around, so nothing but "out" holds key material after
 * it returns.
 */
static int
hmac_sha256(const unsigned char *key, size_t keylen,
			const unsigned char *data, size_t datalen,
			unsigned char out[SHA256_LEN])
{
	unsigned int outlen = 0;

	if (keylen > INT_MAX)
		return -1;

	if (HMAC(EVP_sha256(), key, (int) keylen, data, datalen,
			 out, &outlen) == NULL || outlen != SHA256_LEN)
		return -1;

	return 0;
}

/*
 * URI-encode per SigV4: unreserved characters stay, every other byte
 * becomes %XX with upper-case hex, and '/' stays too when keep_slash (for
 * paths).  Works on bytes, so UTF-8 is encoded byte by byte.
 */
char *
sigv4_uri_encode(const char *in, size_t len, bool keep_slash)
{
	char	   *out;
	char	   *p;
	size_t		i;

	if (in == NULL && len != 0)
		return NULL;
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;

	out = malloc(len * 3 + 1);
	if (out == NULL)
		return NULL;

	p = out;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) in[i];

		if (is_unreserved(c) || (keep_slash && c == '/'))
			*p++ = (char) c;
		else
		{
			*p++ = '%';
			*p++ = hex_upper[c >> 4];
			*p++ = hex_upper[c & 0x0f];
		}
	}
	*p = '\0';
	return out;
}

/*
 * Decode %XX escapes once.  A '%' not followed by two hex digits is kept
 * literally (it is then re-encoded as %25), and '+' is kept as '+': SigV4
 * query strings use %20 for a space, and a literal plus must be signed as
 * %2B.  The result may contain NUL bytes, hence the explicit length.
 */
static char *
percent_decode(const char *in, size_t len, size_t *outlen)
{
	char	   *out;
	size_t		i;
	size_t		o = 0;

	out = malloc(len + 1);
	if (out == NULL)
		return NULL;

	for (i = 0; i < len; i++)
	{
		if (in[i] == '%' && len - i >= 3 &&
			hex_value((unsigned char) in[i + 1]) >= 0 &&
			hex_value((unsigned char) in[i + 2]) >= 0)
		{
			out[o++] = (char) (hex_value((unsigned char) in[i + 1]) * 16 +
							   hex_value((unsigned char) in[i + 2]));
			i += 2;
		}
		else
			out[o++] = in[i];
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/*
 * Canonical header name: surrounding whitespace dropped, ASCII lower-cased.
 * Returns NULL on allocation failure; an empty result is the caller's
 * problem (it is malformed input).
 */
static char *
canon_header_name(const char *name)
{
	size_t		start = 0;
	size_t		end = strlen(name);
	size_t		i;
	char	   *out;

	while (start < end && is_space_char((unsigned char) name[start]))
		start++;
	while (end > start && is_space_char((unsigned char) name[end - 1]))
		end--;

	out = malloc(end - start + 1);
	if (out == NULL)
		return NULL;

	for (i = start; i < end; i++)
	{
		char		c = name[i];

		if (c >= 'A' && c <= 'Z')
			c = (char) (c - 'A' + 'a');
		out[i - start] = c;
	}
	out[end - start] = '\0';
	return out;
}

/*
 * Canonical header value ("Trimall"): leading and trailing whitespace
 * removed, each inner run of whitespace replaced by one space.  Quotes get
 * no special treatment (the get-header-value-trim vector signs "a b c" with
 * its quotes and collapsed spaces).  A NULL value is treated as empty.
 */
static char *
canon_header_value(const char *value)
{
	size_t		len;
	size_t		i;
	size_t		o = 0;
	bool		in_space = false;
	char	   *out;

	if (value == NULL)
		value = "";
	len = strlen(value);

	out = malloc(len + 1);
	if (out == NULL)
		return NULL;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) value[i];

		if (is_space_char(c))
		{
			in_space = true;
			continue;
		}
		if (in_space && o > 0)
			out[o++] = ' ';
		in_space = false;
		out[o++] = (char) c;
	}
	out[o] = '\0';
	return out;
}

/*
 * Sort order for canonical headers: by lower-cased name, then by input
 * position.  The tie-break makes qsort stable, which matters because
 * repeated headers are joined with ',' in the order they were given
 * (get-header-value-order signs "value4,value1,value3,value2").
 */
static int
compare_headers(const void *a, const void *b)
{
	const CanonHeader *ha = (const CanonHeader *) a;
	const CanonHeader *hb = (const CanonHeader *) b;
	int			cmp = strcmp(ha->name, hb->name);

	if (cmp != 0)
		return cmp;
	return (ha->order > hb->order) - (ha->order < hb->order);
}

/*
 * Sort order for canonical query parameters: by encoded key, then by
 * encoded value, comparing bytes (the spec sorts by code point after
 * encoding, and encoded strings are pure ASCII).
 */
static int
compare_params(const void *a, const void *b)
{
	const QueryParam *pa = (const QueryParam *) a;
	const QueryParam *pb = (const QueryParam *) b;
	int			cmp = strcmp(pa->key, pb->key);

	if (cmp != 0)
		return cmp;
	return strcmp(pa->value, pb->value);
}

/*
 * Remove "." and ".." segments and empty segments (repeated slashes), as
 * AWS does for every service except S3.  The result always starts with '/';
 * a trailing slash is kept when the input had one and anything is left
 * ("/example/.." is "/", "//example//" is "/example/").  ".." above the
 * root is dropped.  Returns a malloc'd string or NULL on allocation failure.
 */
static char *
normalize_path(const char *path)
{
	size_t		len = strlen(path);
	size_t	   *seg_start;
	size_t	   *seg_len;
	size_t		nseg = 0;
	size_t		maxseg = 1;
	size_t		i;
	size_t		pos;
	bool		trailing_slash = len > 0 && path[len - 1] == '/';
	SigV4Buf	buf;

	for (i = 0; i < len; i++)
		if (path[i] == '/')
			maxseg++;

	seg_start = malloc(maxseg * sizeof(size_t));
	seg_len = malloc(maxseg * sizeof(size_t));
	if (seg_start == NULL || seg_len == NULL)
	{
		free(seg_start);
		free(seg_len);
		return NULL;
	}

	/* Walk the segments, using the arrays as a stack. */
	pos = 0;
	while (pos <= len)
	{
		size_t		end = pos;
		size_t		slen;

		while (end < len && path[end] != '/')
			end++;
		slen = end - pos;

		if (slen == 0 || (slen == 1 && path[pos] == '.'))
		{
			/* empty or "." contributes nothing */
		}
		else if (slen == 2 && path[pos] == '.' && path[pos + 1] == '.')
		{
			if (nseg > 0)
				nseg--;
		}
		else
		{
			seg_start[nseg] = pos;
			seg_len[nseg] = slen;
			nseg++;
		}
		pos = end + 1;
	}

	buf_init(&buf);
	buf_append_char(&buf, '/');
	for (i = 0; i < nseg; i++)
	{
		if (i > 0)
			buf_append_char(&buf, '/');
		buf_append(&buf, path + seg_start[i], seg_len[i]);
	}
	if (nseg > 0 && trailing_slash)
		buf_append_char(&buf, '/');

	free(seg_start);
	free(seg_len);
	return buf_take(&buf);
}

/*
 * Canonical URI.  The path arrives as sent on the wire (percent-encoded
 * once).  Non-S3 services sign it encoded a second time, so with
 * double_encode_path every byte except unreserved characters and '/' is
 * %XX-encoded again: "%3A" becomes "%253A", a raw space becomes "%20".
 * This is what botocore's SigV4Auth does (quote(path, safe='/~')) and what
 * aws-c-auth's use_double_uri_encode does.  Without it (S3) the wire path
 * is used as is.  An empty path is "/".
 */
static int
append_canonical_uri(SigV4Buf *out, const SigV4Request *req)
{
	const char *path = req->path;
	char	   *normalized = NULL;

	if (path == NULL || path[0] == '\0')
	{
		buf_append_char(out, '/');
		return out->failed ? -1 : 0;
	}

	if (req->normalize_path)
	{
		normalized = normalize_path(path);
		if (normalized == NULL)
			return -1;
		path = normalized;
	}

	if (req->double_encode_path)
	{
		char	   *encoded = sigv4_uri_encode(path, strlen(path), true);

		if (encoded == NULL)
		{
			free(normalized);
			return -1;
		}
		buf_append_str(out, encoded);
		free(encoded);
	}
	else
		buf_append_str(out, path);

	free(normalized);
	return out->failed ? -1 : 0;
}

/*
 * Canonical query string.  Each "key=value" (or bare "key", signed as
 * "key=") is percent-decoded once and re-encoded with sigv4_uri_encode, so
 * that a query that is already encoded is not encoded twice and one that
 * is not (a raw UTF-8 key, a literal '+') still comes out canonical.
 * Empty components ("a=1&&b=2") are skipped.  Parameters are then sorted
 * by key and value.
 */
static int
append_canonical_query(SigV4Buf *out, const char *query)
{
	size_t		len;
	size_t		maxparams = 1;
	size_t		nparams = 0;
	size_t		i;
	size_t		pos;
	QueryParam *params;
	int			result = -1;

	if (query == NULL || query[0] == '\0')
		return 0;

	len = strlen(query);
	for (i = 0; i < len; i++)
		if (query[i] == '&')
			maxparams++;

	params = calloc(maxparams, sizeof(QueryParam));
	if (params == NULL)
		return -1;

	pos = 0;
	while (pos <= len)
	{
		size_t		end = pos;
		size_t		eq;
		size_t		klen;
		size_t		vlen;
		size_t		dlen;
		char	   *decoded;

		while (end < len && query[end] != '&')
			end++;

		if (end == pos)
		{
			pos = end + 1;
			continue;
		}

		eq = pos;
		while (eq < end && query[eq] != '=')
			eq++;
		klen = eq - pos;
		vlen = (eq < end) ? end - eq - 1 : 0;

		decoded = percent_decode(query + pos, klen, &dlen);
		if (decoded == NULL)
			goto done;
		params[nparams].key = sigv4_uri_encode(decoded, dlen, false);
		free(decoded);
		if (params[nparams].key == NULL)
			goto done;

		decoded = percent_decode(query + eq + (eq < end ? 1 : 0), vlen, &dlen);
		if (decoded == NULL)
		{
			free(params[nparams].key);
			goto done;
		}
		params[nparams].value = sigv4_uri_encode(decoded, dlen, false);
		free(decoded);
		if (params[nparams].value == NULL)
		{
			free(params[nparams].key);
			goto done;
		}
		nparams++;
		pos = end + 1;
	}

	qsort(params, nparams, sizeof(QueryParam), compare_params);

	for (i = 0; i < nparams; i++)
	{
		if (i > 0)
			buf_append_char(out, '&');
		buf_append_str(out, params[i].key);
		buf_append_char(out, '=');
		buf_append_str(out, params[i].value);
	}
	result = out->failed ? -1 : 0;

done:
	for (i = 0; i < nparams; i++)
	{
		free(params[i].key);
		free(params[i].value);
	}
	free(params);
	return result;
}

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
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL)
		return -1;
	if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		return -1;
	return 0;
}

/*
 * Append a header to the list being canonicalised.  Name and value are
 * canonicalised here; an empty name is malformed input.
 */
static int
add_header(CanonHeader *list, int *count, const char *name, const char *value)
{
	CanonHeader *h = &list[*count];

	h->name = canon_header_name(name);
	if (h->name == NULL)
		return -1;
	if (h->name[0] == '\0')
	{
		free(h->name);
		h->name = NULL;
		return -1;
	}
	h->value = canon_header_value(value);
	if (h->value == NULL)
	{
		free(h->name);
		h->name = NULL;
		return -1;
	}
	h->order = *count;
	(*count)++;
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
	CanonHeader *headers = NULL;
	int			nheaders = 0;
	int			i;
	int			result = -1;
	bool		have_host = false;
	bool		have_date = false;
	bool		have_token = false;
	const char *payload_line = NULL;
	char		date8[9];
	char		cr_hash[65];
	char	   *key0 = NULL;
	size_t		key0_len = 0;
	unsigned char k_date[SHA256_LEN];
	unsigned char k_region[SHA256_LEN];
	unsigned char k_service[SHA256_LEN];
	unsigned char k_signing[SHA256_LEN];
	unsigned char sig[SHA256_LEN];
	SigV4Buf	cr;
	SigV4Buf	sh;
	SigV4Buf	sts;
	SigV4Buf	auth;

	if (out == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	buf_init(&cr);
	buf_init(&sh);
	buf_init(&sts);
	buf_init(&auth);

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

	if (sha256_hex_checked(req->payload, req->payload_len,
						   out->payload_hash) != 0)
		goto done;

	/* Canonicalise the caller's headers, noting the ones we care about. */
	headers = calloc((size_t) req->nheaders + 3, sizeof(CanonHeader));
	if (headers == NULL)
		goto done;

	for (i = 0; i < req->nheaders; i++)
	{
		const CanonHeader *h;

		if (req->headers[i].name == NULL)
			goto done;
		if (add_header(headers, &nheaders, req->headers[i].name,
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
		if (add_header(headers, &nheaders, "x-amz-date", out->amz_date) != 0)
			goto done;
	}
	if (creds->session_token != NULL && creds->session_token[0] != '\0' &&
		!params->omit_session_token && !have_token)
	{
		if (add_header(headers, &nheaders, "x-amz-security-token",
					   creds->session_token) != 0)
			goto done;
	}
	if (req->sign_content_sha256 && payload_line == NULL)
	{
		if (add_header(headers, &nheaders, "x-amz-content-sha256",
					   out->payload_hash) != 0)
			goto done;
	}
	if (payload_line == NULL)
		payload_line = out->payload_hash;

	qsort(headers, (size_t) nheaders, sizeof(CanonHeader), compare_headers);

	/* Stage 1: the canonical request. */
	buf_append_str(&cr, req->method);
	buf_append_char(&cr, '\n');
	if (append_canonical_uri(&cr, req) != 0)
		goto done;
	buf_append_char(&cr, '\n');
	if (append_canonical_query(&cr, req->query) != 0)
		goto done;
	buf_append_char(&cr, '\n');

	for (i = 0; i < nheaders; i++)
	{
		bool		same_as_prev = i > 0 &&
			strcmp(headers[i].name, headers[i - 1].name) == 0;

		if (same_as_prev)
		{
			/* repeated header: values joined with ',' in input order */
			buf_append_char(&cr, ',');
		}
		else
		{
			if (i > 0)
			{
				buf_append_char(&cr, '\n');
				buf_append_char(&sh, ';');
			}
			buf_append_str(&cr, headers[i].name);
			buf_append_char(&cr, ':');
			buf_append_str(&sh, headers[i].name);
		}
		buf_append_str(&cr, headers[i].value);
	}
	buf_append_str(&cr, "\n\n");
	buf_append(&cr, sh.data ? sh.data : "", sh.len);
	buf_append_char(&cr, '\n');
	buf_append_str(&cr, payload_line);
	if (cr.failed || sh.failed)
		goto done;

	/* Stage 2: the string to sign. */
	memcpy(date8, out->amz_date, 8);
	date8[8] = '\0';
	if (sha256_hex_checked((const unsigned char *) cr.data, cr.len,
						   cr_hash) != 0)
		goto done;

	buf_append_str(&sts, SIGV4_ALGORITHM "\n");
	buf_append_str(&sts, out->amz_date);
	buf_append_char(&sts, '\n');
	buf_append_str(&sts, date8);
	buf_append_char(&sts, '/');
	buf_append_str(&sts, params->region);
	buf_append_char(&sts, '/');
	buf_append_str(&sts, params->service);
	buf_append_str(&sts, "/" SIGV4_TERMINATOR "\n");
	buf_append_str(&sts, cr_hash);
	if (sts.failed)
		goto done;

	/* Stage 3: the signing key, derived from "AWS4" + secret. */
	key0_len = 4 + strlen(creds->secret_access_key);
	key0 = malloc(key0_len + 1);
	if (key0 == NULL)
		goto done;
	memcpy(key0, "AWS4", 4);
	memcpy(key0 + 4, creds->secret_access_key, key0_len - 4 + 1);

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

	/* Stage 4: the signature, and the Authorization header around it. */
	if (hmac_sha256(k_signing, SHA256_LEN,
					(const unsigned char *) sts.data, sts.len, sig) != 0)
		goto done;
	hex_encode(sig, SHA256_LEN, out->signature);

	buf_append_str(&auth, SIGV4_ALGORITHM " Credential=");
	buf_append_str(&auth, creds->access_key_id);
	buf_append_char(&auth, '/');
	buf_append_str(&auth, date8);
	buf_append_char(&auth, '/');
	buf_append_str(&auth, params->region);
	buf_append_char(&auth, '/');
	buf_append_str(&auth, params->service);
	buf_append_str(&auth, "/" SIGV4_TERMINATOR ", SignedHeaders=");
	buf_append(&auth, sh.data ? sh.data : "", sh.len);
	buf_append_str(&auth, ", Signature=");
	buf_append_str(&auth, out->signature);

	out->signed_headers = buf_take(&sh);
	out->canonical_request = buf_take(&cr);
	out->string_to_sign = buf_take(&sts);
	out->authorization = buf_take(&auth);
	if (out->signed_headers == NULL || out->canonical_request == NULL ||
		out->string_to_sign == NULL || out->authorization == NULL)
		goto done;

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

	if (headers != NULL)
	{
		for (i = 0; i < nheaders; i++)
		{
			wipe_free(headers[i].name);
			wipe_free(headers[i].value);
		}
		free(headers);
	}
	buf_free(&cr);
	buf_free(&sh);
	buf_free(&sts);
	buf_free(&auth);

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

	wipe_free(res->canonical_request);
	wipe_free(res->string_to_sign);
	wipe_free(res->authorization);
	wipe_free(res->signed_headers);

	OPENSSL_cleanse(res, sizeof(*res));
	memset(res, 0, sizeof(*res));
}
