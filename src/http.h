/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The one transport: libcurl with a per-backend connection cache,
 *	  interruptible waits, timeouts and the retry policy.  It knows HTTP
 *	  only: http_request.c builds and sends a request, http_pump.c is the
 *	  engine, http_transfer.c one transfer.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_HTTP_H
#define PG_CLAUDE_HTTP_H

#include <curl/curl.h>

#include "retry.h"

typedef struct ClaudeHttpResponse ClaudeHttpResponse;


/* Response headers a request may ask the transport to keep. */
#define CLAUDE_HTTP_MAX_CAPTURED 8
#define CLAUDE_HTTP_CAPTURED_LEN 128

/*
 * Builds the headers of one attempt.  Called before every attempt (a retry
 * must be signed again: X-Amz-Date moves on, and credentials may have been
 * refreshed).  prev is NULL on the first attempt, otherwise the failed
 * response.  Returns a curl_slist the transport frees; may ereport.
 */
typedef struct curl_slist *(*ClaudeHttpPrepareFn) (void *arg, int attempt,
												   const ClaudeHttpResponse *prev);

typedef struct ClaudeHttpRequest
{
	const char *method;			/* "POST", "GET", "PUT" or "HEAD" */
	const char *url;
	const char *body;			/* may be NULL for GET */
	size_t		body_len;
	ClaudeHttpPrepareFn prepare;
	void	   *prepare_arg;

	/*
	 * Per-request overrides of claude.timeout, claude.connect_timeout and
	 * claude.max_retries (credential endpoints have their own budgets);
	 * negative means "use the setting".
	 */
	int			timeout_ms;
	int			connect_timeout_ms;
	int			max_retries;

	/*
	 * Called when the endpoint says the credentials expired; the request is
	 * then retried once at once, signed with whatever prepare finds next.
	 */
	void		(*refresh_credentials) (void *arg);

	/* Called after every attempt, whatever its outcome (the audit log). */
	void		(*on_attempt) (void *arg, const ClaudeHttpResponse *resp, int attempt);

	/*
	 * Optional: called on a 2xx answer, false when the caller cannot use
	 * its body (a 200 that is not the format asked for, e.g. from a proxy
	 * or a broken transfer).  Such an answer is marked unusable and retried
	 * like a server fault.
	 */
	bool		(*usable) (void *arg, const ClaudeHttpResponse *resp);

	/*
	 * The service's own response headers: capture_headers (NULL-terminated,
	 * case-insensitive, at most CLAUDE_HTTP_MAX_CAPTURED) are kept in
	 * resp->captured, and read_response, called after every attempt before
	 * it is judged, turns them into request_id, error_type and the token
	 * counts.  The transport itself knows no service's headers.
	 */
	const char *const *capture_headers;
	void		(*read_response) (ClaudeHttpResponse *resp);

	/* The retry policy (retry.h); NULL means the HTTP one, claude_retry_http. */
	ClaudeRetry (*retry_policy) (const ClaudeHttpResponse *resp);

	/*
	 * Optional streaming (issue 17): a 2xx body is handed to stream_data
	 * as libcurl delivers it instead of being buffered.  stream_data runs
	 * inside libcurl's write callback, so it must never ereport; false
	 * aborts the transfer; elapsed_ms is the time since the transfer
	 * started (the clock latency_ms is measured by).  stream_begin is called before each attempt,
	 * stream_end after it (before usable), and puts the assembled answer
	 * in resp->body; both may ereport.  All take stream_arg.
	 */
	void	   *stream_arg;
	void		(*stream_begin) (void *arg, int attempt);
	bool		(*stream_data) (void *arg, const char *data, size_t len, double elapsed_ms);
	void		(*stream_end) (void *arg, ClaudeHttpResponse *resp);
} ClaudeHttpRequest;

/*
 * Append a header line; on allocation failure free the list and raise
 * (a curl_slist is malloc'd, so nothing else would free it).
 */
extern struct curl_slist *claude_http_append_header(struct curl_slist *list, const char *line);

/* A request with every override unset. */
extern void claude_http_request_init(ClaudeHttpRequest *req, const char *method,
									 const char *url);

/*
 * A request whose headers are fixed (no signing): header lines such as
 * "Accept: application/json", NULL-terminated.  Convenience for metadata
 * and credential endpoints.
 */
extern void claude_http_fixed_headers(ClaudeHttpRequest *req, const char *const *headers);

struct ClaudeHttpResponse
{
	long		status;			/* HTTP status, 0 when none arrived */
	char	   *body;			/* palloc'd, NUL-terminated */
	size_t		body_len;
	char		captured[CLAUDE_HTTP_MAX_CAPTURED][CLAUDE_HTTP_CAPTURED_LEN];	/* capture_headers' values, or "" */
	/* set by the request's read_response from its captured headers */
	char		request_id[128];
	char		error_type[128];
	char		content_type[128];
	CURLcode	curl_code;		/* CURLE_OK when the exchange completed */
	char		curl_error[CURL_ERROR_SIZE];
	int			retries;		/* attempts made minus one */
	bool		interrupted;	/* the attempt was cut short by an error (cancel) */
	bool		unusable;		/* a 2xx whose body the request's usable() refused */
	double		latency_ms;		/* of the last attempt */
	long		connects;		/* connections opened by this call */
	long		input_tokens;	/* token counts the service reported in headers, or -1 */
	long		output_tokens;
	long		cache_read_tokens;
	long		cache_write_tokens;
	const char *service;		/* set by read_response: whose shapes (NULL: AWS's) */
	long		retry_after_ms; /* set by read_response: the service's wait, or 0 */
	/* streamed answers: ms from the start to the first content, or -1 */
	double		ttft_ms;
	/* streamed answers: why the event stream was unusable, or "" */
	char		stream_error[160];
	/* streamed answers: the text that arrived before an error, or NULL */
	char	   *partial;
};

/*
 * Perform a request under the retry policy (claude.max_retries, capped
 * exponential backoff with full jitter).  Waits are interruptible: query
 * cancel and statement_timeout raise an error within milliseconds.  The
 * final attempt's outcome is returned; deciding what it means is the
 * caller's job.
 */
extern void claude_http_execute(const ClaudeHttpRequest *req,
								ClaudeHttpResponse *resp);

/*
 * The engine: up to concurrency requests in flight, pulled with next()
 * (false when there are no more), each handed to done() once finished
 * (after the retry policy).  done() may take resp->body by setting it to
 * NULL.  Cancels interrupt everything in flight.
 *
 * A caller that keeps its requests within rate limits (the worker,
 * rate_limit.c) sets the optional hooks, since a limit counts attempts,
 * not requests: retrying() hears of an attempt that failed and is to be
 * tried again, and readmit() is asked when that retry is due, answering 0
 * when it may go now or the ms after which to ask again.  pause() is
 * asked when next() said no: -1 when there are no more, else the ms after
 * which to ask next() again (sooner once any attempt ends, which may make
 * room); without it, or while it answers -1, next() is not asked again.
 * Unset hooks are NULL (initialise the struct to zero).
 */
typedef struct ClaudeHttpPump
{
	int			concurrency;
	bool		(*next) (void *arg, ClaudeHttpRequest **req, void **tag);
	void		(*done) (void *arg, void *tag, ClaudeHttpResponse *resp);
	void	   *arg;
	void		(*retrying) (void *arg, void *tag, const ClaudeHttpResponse *resp);
	long		(*readmit) (void *arg, void *tag);
	long		(*pause) (void *arg);
} ClaudeHttpPump;

extern void claude_http_pump(ClaudeHttpPump *pump);

/*
 * The same engine, driven a step at a time by a caller that returns to
 * the executor between steps (claude_complete_stream): begin starts it,
 * each step waits at most timeout_ms for progress and returns false once
 * every request is done.  It runs on an engine of its own, so other calls
 * made between steps do not see its transfers; one at a time per backend.
 * end detaches whatever is still in flight (auditing it as interrupted
 * when audit is true) and is safe to call twice.
 */
typedef struct ClaudeHttpPumpRun ClaudeHttpPumpRun;

extern ClaudeHttpPumpRun *claude_http_pump_begin(ClaudeHttpPump *pump);
extern bool claude_http_pump_step(ClaudeHttpPumpRun *run, long timeout_ms);
extern void claude_http_pump_end(ClaudeHttpPumpRun *run, bool audit);

/* Counters for this backend: requests sent and connections opened. */
extern void claude_http_counters(int64 *requests, int64 *connections);

#endif							/* PG_CLAUDE_HTTP_H */
