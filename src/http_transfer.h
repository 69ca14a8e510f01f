/*-------------------------------------------------------------------------
 *
 * http_transfer.h
 *	  One libcurl easy-handle transfer (http_transfer.c), for the engine in
 *	  http_pump.c: its options, the body and headers it captures, and its
 *	  outcome as a ClaudeHttpResponse.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_HTTP_TRANSFER_H
#define PG_CLAUDE_HTTP_TRANSFER_H

#include "http.h"

/*
 * What one transfer produced.  Filled from libcurl callbacks, which never
 * throw: the body grows with MCXT_ALLOC_NO_OOM and they only record failure.
 */
typedef struct ClaudeHttpTransfer
{
	MemoryContext cxt;			/* where the body is grown: the pump's */
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		too_large;
	bool		out_of_memory;
	const char *const *capture;	/* the request's capture_headers */
	char		captured[CLAUDE_HTTP_MAX_CAPTURED][CLAUDE_HTTP_CAPTURED_LEN];
	char		content_type[128];
	char		errbuf[CURL_ERROR_SIZE];
	/* streaming: the request's sink for a 2xx body (http.h) */
	CURL	   *easy;
	bool		(*stream_data) (void *arg, const char *data, size_t len, double elapsed_ms);
	void	   *stream_arg;
	TimestampTz began;
	long		status_seen;	/* 0 until the first body byte */
	bool		stream_refused; /* stream_data said stop */
} ClaudeHttpTransfer;

/* Initialise libcurl once per backend and note its default CA locations. */
extern void claude_http_curl_init(void);

/* Refuse a missing or unreadable claude.ca_file for an https URL. */
extern void claude_http_check_ca_file(const char *url);

/*
 * Reset xs and set every option of one attempt on easy: the request's
 * URL, method, body, timeouts, TLS, the given header list, and xs as the
 * target of the body and header callbacks.
 */
extern void claude_http_transfer_begin(CURL *easy, ClaudeHttpTransfer *xs,
									   struct curl_slist *headers,
									   const ClaudeHttpRequest *req);

/*
 * Fill resp from a finished transfer: status, curl outcome, timing,
 * captured headers (the read_response fields cleared).  Returns the
 * connections it opened.  The body is handed over by claude_http_transfer_body.
 */
extern long claude_http_transfer_outcome(CURL *easy, ClaudeHttpTransfer *xs,
										 CURLcode code, ClaudeHttpResponse *resp);

/* Hand the transfer's body (palloc'd, NUL-terminated) over to resp. */
extern void claude_http_transfer_body(ClaudeHttpTransfer *xs, ClaudeHttpResponse *resp);

/* Wipe and free what a transfer holds, and its header list. */
extern void claude_http_transfer_release(ClaudeHttpTransfer *xs, struct curl_slist *headers);

#endif							/* PG_CLAUDE_HTTP_TRANSFER_H */
