/*-------------------------------------------------------------------------
 *
 * sigv4_buf.c
 *	  The wiping string buffer of the SigV4 stages (sigv4_buf.h).
 *
 * Plain C99 with libc and OpenSSL libcrypto (for OPENSSL_cleanse) only,
 * like every sigv4 file: see sigv4.h.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sigv4_buf.h"

/*
 * Start an empty buffer.  Nothing is allocated until the first append, so an
 * initialised but unused buffer needs no cleanup beyond sigv4_buf_free().
 */
void
sigv4_buf_init(SigV4Buf *buf)
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
void
sigv4_buf_append(SigV4Buf *buf, const char *s, size_t n)
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

/* Append a NUL-terminated string; a convenience over sigv4_buf_append(). */
void
sigv4_buf_append_str(SigV4Buf *buf, const char *s)
{
	sigv4_buf_append(buf, s, strlen(s));
}

/* Append one character; a convenience over sigv4_buf_append(). */
void
sigv4_buf_append_char(SigV4Buf *buf, char c)
{
	sigv4_buf_append(buf, &c, 1);
}

/*
 * Hand the buffer's string over to the caller, or NULL if any append failed
 * (the partial contents are then wiped and freed).  An empty, never-grown
 * buffer yields an allocated "" so that callers can treat NULL as failure.
 */
char *
sigv4_buf_take(SigV4Buf *buf)
{
	char	   *result;

	if (!buf->failed && buf->data == NULL)
		sigv4_buf_append(buf, "", 0);

	if (buf->failed)
	{
		if (buf->data != NULL)
		{
			OPENSSL_cleanse(buf->data, buf->cap);
			free(buf->data);
		}
		sigv4_buf_init(buf);
		return NULL;
	}

	result = buf->data;
	sigv4_buf_init(buf);
	return result;
}

/*
 * Release a buffer that was not handed over, wiping it first since it may
 * hold part of the canonical request (and so the session token).
 */
void
sigv4_buf_free(SigV4Buf *buf)
{
	if (buf->data != NULL)
	{
		OPENSSL_cleanse(buf->data, buf->cap);
		free(buf->data);
	}
	sigv4_buf_init(buf);
}

/*
 * Wipe and free a NUL-terminated string.  Used for everything this module
 * allocates, because several strings hold the session token and it costs
 * little to treat them all alike.
 */
void
sigv4_wipe_free(char *s)
{
	if (s != NULL)
	{
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}
