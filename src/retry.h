/*-------------------------------------------------------------------------
 *
 * retry.h
 *	  The retry policy: which outcomes are tried again, and how long to
 *	  wait first (retry.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_RETRY_H
#define PG_CLAUDE_RETRY_H

#include <curl/curl.h>

/* What the retry policy makes of an attempt. */
typedef enum ClaudeRetry
{
	CLAUDE_RETRY_NO,			/* final: hand it over */
	CLAUDE_RETRY,				/* transient: again, after a backoff */
	CLAUDE_RETRY_THROTTLED,		/* throttled: again, after a longer backoff */
	CLAUDE_RETRY_REFRESH		/* credentials expired: refresh, then at once, once */
} ClaudeRetry;

/*
 * The HTTP policy, for any endpoint: a broken exchange (curl_code), 429,
 * 500, 502, 503, 504, and a 2xx whose body the request refused (unusable)
 * are tried again.
 */
extern ClaudeRetry claude_retry_http(long status, CURLcode curl_code, bool unusable);

/*
 * The AWS policy: the HTTP one plus AWS's retryable and throttling error
 * codes (botocore's standard mode), and ExpiredTokenException, which asks
 * for fresh credentials.
 */
extern ClaudeRetry claude_retry_aws(long status, CURLcode curl_code, bool unusable,
									const char *error_type);

/*
 * Capped exponential backoff with full jitter: a uniformly random wait in
 * [0, min(cap, base * 2^(attempt-1))], base 100 ms (500 ms throttled),
 * cap 20 s.  The jitter in [0, 1) is a parameter so tests can pin it.
 */
extern long claude_retry_backoff_ms(int attempt, bool throttled, double jitter);

#endif							/* PG_CLAUDE_RETRY_H */
