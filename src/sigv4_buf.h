/*-------------------------------------------------------------------------
 *
 * sigv4_buf.h
 *	  The growable string the SigV4 stages are written into (sigv4_buf.c).
 *	  Every byte it frees is wiped first: the canonical request carries the
 *	  session token.  Plain C, like the rest of sigv4 (see sigv4.h).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_SIGV4_BUF_H
#define PG_CLAUDE_SIGV4_BUF_H

#include <stdbool.h>
#include <stddef.h>

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

extern void sigv4_buf_init(SigV4Buf *buf);
extern void sigv4_buf_append(SigV4Buf *buf, const char *s, size_t n);
extern void sigv4_buf_append_str(SigV4Buf *buf, const char *s);
extern void sigv4_buf_append_char(SigV4Buf *buf, char c);

/* The string, now the caller's; NULL if any append failed. */
extern char *sigv4_buf_take(SigV4Buf *buf);

/* Wipe and release a buffer that was not taken. */
extern void sigv4_buf_free(SigV4Buf *buf);

/* Wipe and free a malloc'd string (NULL is fine). */
extern void sigv4_wipe_free(char *s);

#endif							/* PG_CLAUDE_SIGV4_BUF_H */
