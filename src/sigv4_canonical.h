/*-------------------------------------------------------------------------
 *
 * sigv4_canonical.h
 *	  SigV4 stage 1, the canonical request (sigv4_canonical.c): URI and
 *	  query encoding, path normalisation, canonical headers.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_SIGV4_CANONICAL_H
#define PG_CLAUDE_SIGV4_CANONICAL_H

#include "sigv4.h"
#include "sigv4_buf.h"

/* One header as it goes into the canonical request. */
typedef struct SigV4CanonHeader
{
	char	   *name;			/* lower-cased */
	char	   *value;			/* trimmed, whitespace runs collapsed */
	int			order;			/* position in the input, for a stable sort */
} SigV4CanonHeader;

/*
 * Append a header to list[*count], canonicalising name and value, and
 * count it.  -1 on allocation failure or an empty name (malformed input).
 */
extern int	sigv4_canon_add_header(SigV4CanonHeader *list, int *count,
								   const char *name, const char *value);

/*
 * The canonical request into cr and the signed-header list ("host;x-amz-
 * date;...") into sh.  headers are sorted in place; payload_line is the
 * last line (the payload hash, or the caller's x-amz-content-sha256).
 * Returns 0, or -1 on allocation failure.
 */
extern int	sigv4_canonical_request(SigV4Buf *cr, SigV4Buf *sh, const SigV4Request *req,
									SigV4CanonHeader *headers, int nheaders,
									const char *payload_line);

#endif							/* PG_CLAUDE_SIGV4_CANONICAL_H */
