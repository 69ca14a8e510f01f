/*-------------------------------------------------------------------------
 *
 * rate_limit.h
 *	  The worker's rate limits (rate_limit.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_RATE_LIMIT_H
#define PG_CLAUDE_RATE_LIMIT_H

#include "http.h"

/* May a request of about est_tokens go now?  Takes the tokens if so. */
extern bool claude_rate_take(long est_tokens);

/* After an answer: a 429 slows everything down, success speeds it back up. */
extern void claude_rate_feedback(const ClaudeHttpResponse *resp);

/* How long until the buckets could let a request go (ms, 10 .. 1000). */
extern long claude_rate_wait_ms(void);

/* How many requests may be in flight now. */
extern int	claude_rate_concurrency(void);

#endif							/* PG_CLAUDE_RATE_LIMIT_H */
