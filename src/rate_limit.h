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

/* What a request of input_tokens and max_tokens reserves of the token quota. */
extern double claude_rate_reservation(long input_tokens, int max_tokens, double burndown);

/*
 * May a request (or a retry) of about input_tokens and max_tokens go now?
 * If so its reservation is taken and *reservation names it (0: no token
 * limit); if not, claude_rate_wait_ms says for how long it waits.
 */
extern bool claude_rate_take(long input_tokens, int max_tokens, double burndown, uint64 *reservation);

/*
 * An attempt's answer (or failure) arrived: the reservation shrinks to what
 * the service holds of it: what an answer used, nothing for a request
 * refused before it ran (400, 403, 404, 429), all of it for one that may
 * have run (no answer, 408, 5xx).
 */
extern void claude_rate_settle(uint64 reservation, const ClaudeHttpResponse *resp);

/*
 * After an attempt: a throttling 429 slows everything down, success speeds
 * it back up (ModelNotReadyException is no throttling signal).
 */
extern void claude_rate_feedback(const ClaudeHttpResponse *resp);

/*
 * How long until the limits could let the last refused request go (ms,
 * 10 .. 1000).
 */
extern long claude_rate_wait_ms(void);

/* How many requests may be in flight now. */
extern int	claude_rate_concurrency(void);

#endif							/* PG_CLAUDE_RATE_LIMIT_H */
