/*-------------------------------------------------------------------------
 *
 * sigv4_canonical.c
 *	  SigV4 stage 1, the canonical request:
 *
 *		 METHOD \n canonical-URI \n canonical-query \n
 *		 canonical-headers (one "name:value\n" per header) \n
 *		 signed-headers \n payload-hash
 *
 * and the URI encoding it is built with.  Plain C99 with libc only (and
 * the wiping buffer): see sigv4.h.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"
#include "sigv4_buf.h"
#include "sigv4_canonical.h"

/* One query parameter, both parts already in canonical encoding. */
typedef struct QueryParam
{
	char	   *key;
	char	   *value;
} QueryParam;

static const char hex_upper[] = "0123456789ABCDEF";

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
	const SigV4CanonHeader *ha = (const SigV4CanonHeader *) a;
	const SigV4CanonHeader *hb = (const SigV4CanonHeader *) b;
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

	sigv4_buf_init(&buf);
	sigv4_buf_append_char(&buf, '/');
	for (i = 0; i < nseg; i++)
	{
		if (i > 0)
			sigv4_buf_append_char(&buf, '/');
		sigv4_buf_append(&buf, path + seg_start[i], seg_len[i]);
	}
	if (nseg > 0 && trailing_slash)
		sigv4_buf_append_char(&buf, '/');

	free(seg_start);
	free(seg_len);
	return sigv4_buf_take(&buf);
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
		sigv4_buf_append_char(out, '/');
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
		sigv4_buf_append_str(out, encoded);
		free(encoded);
	}
	else
		sigv4_buf_append_str(out, path);

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
			sigv4_buf_append_char(out, '&');
		sigv4_buf_append_str(out, params[i].key);
		sigv4_buf_append_char(out, '=');
		sigv4_buf_append_str(out, params[i].value);
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
 * Append a header to the list being canonicalised.  Name and value are
 * canonicalised here; an empty name is malformed input.
 */
int
sigv4_canon_add_header(SigV4CanonHeader *list, int *count, const char *name, const char *value)
{
	SigV4CanonHeader *h = &list[*count];

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
 * Stage 1: the canonical request.  Headers are sorted by name (stably) and
 * a repeated header's values are joined with ',' in input order; the
 * signed-header list is built alongside.
 */
int
sigv4_canonical_request(SigV4Buf *cr, SigV4Buf *sh, const SigV4Request *req,
						SigV4CanonHeader *headers, int nheaders, const char *payload_line)
{
	int			i;

	qsort(headers, (size_t) nheaders, sizeof(SigV4CanonHeader), compare_headers);

	sigv4_buf_append_str(cr, req->method);
	sigv4_buf_append_char(cr, '\n');
	if (append_canonical_uri(cr, req) != 0)
		return -1;
	sigv4_buf_append_char(cr, '\n');
	if (append_canonical_query(cr, req->query) != 0)
		return -1;
	sigv4_buf_append_char(cr, '\n');

	for (i = 0; i < nheaders; i++)
	{
		bool		same_as_prev = i > 0 &&
			strcmp(headers[i].name, headers[i - 1].name) == 0;

		if (same_as_prev)
		{
			/* repeated header: values joined with ',' in input order */
			sigv4_buf_append_char(cr, ',');
		}
		else
		{
			if (i > 0)
			{
				sigv4_buf_append_char(cr, '\n');
				sigv4_buf_append_char(sh, ';');
			}
			sigv4_buf_append_str(cr, headers[i].name);
			sigv4_buf_append_char(cr, ':');
			sigv4_buf_append_str(sh, headers[i].name);
		}
		sigv4_buf_append_str(cr, headers[i].value);
	}
	sigv4_buf_append_str(cr, "\n\n");
	sigv4_buf_append(cr, sh->data ? sh->data : "", sh->len);
	sigv4_buf_append_char(cr, '\n');
	sigv4_buf_append_str(cr, payload_line);
	return (cr->failed || sh->failed) ? -1 : 0;
}
