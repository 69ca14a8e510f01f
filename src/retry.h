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

#include "http.h"

/*
 * The HTTP policy, for any endpoint: a broken exchange, 429, 500, 502,
 * 503, 504 and a 2xx whose body the request refused are tried again.
 */
extern ClaudeRetry claude_retry_http(const ClaudeHttpResponse *resp);

/*
 * The AWS policy: the HTTP one plus AWS's retryable and throttling error
 * codes (botocore's standard mode), and ExpiredTokenException, which asks
 * for fresh credentials.
 */
extern ClaudeRetry claude_retry_aws(const ClaudeHttpResponse *resp);

/*
 * Capped exponential backoff with full jitter: a uniformly random wait in
 * [0, min(cap, base * 2^(attempt-1))], base 100 ms (500 ms throttled),
 * cap 20 s.  The jitter in [0, 1) is a parameter so tests can pin it.
 */
extern long claude_retry_backoff_ms(int attempt, bool throttled, double jitter);

#endif							/* PG_CLAUDE_RETRY_H */
