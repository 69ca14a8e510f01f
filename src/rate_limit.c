/*-------------------------------------------------------------------------
 *
 * rate_limit.c
 *	  The worker's rate limits: token buckets, shrunk by throttling.
 *
 * claude.requests_per_minute paces requests evenly (a bucket of one);
 * claude.tokens_per_minute is a bucket of a tenth of a minute's tokens;
 * a 429 shrinks both and the concurrency, success grows them back slowly,
 * as the AWS SDKs' adaptive retry mode does.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "guc.h"
#include "http.h"
#include "rate_limit.h"

static double rate_factor = 1.0;	/* 0.1 .. 1, shrinks on 429 */
static double request_tokens = 0;
static double token_tokens = 0;
static TimestampTz bucket_time = 0;

static void
buckets_refill(void)
{
	TimestampTz now = GetCurrentTimestamp();
	double		secs = bucket_time ? (now - bucket_time) / 1000000.0 : 0;

	bucket_time = now;
	/* a bucket of one: requests are paced evenly, never in bursts */
	if (claude_requests_per_minute > 0)
		request_tokens = Min(request_tokens + secs * claude_requests_per_minute * rate_factor / 60.0, 1.0);
	if (claude_tokens_per_minute > 0)
		token_tokens = Min(token_tokens + secs * claude_tokens_per_minute * rate_factor / 60.0,
						   claude_tokens_per_minute / 6.0);
}

/* May a request of about est_tokens go now?  Takes the tokens if so. */
bool
claude_rate_take(long est_tokens)
{
	buckets_refill();
	if (claude_requests_per_minute > 0 && request_tokens < 1.0)
		return false;
	if (claude_tokens_per_minute > 0 && token_tokens < est_tokens && token_tokens < claude_tokens_per_minute / 6.0)
		return false;
	if (claude_requests_per_minute > 0)
		request_tokens -= 1.0;
	if (claude_tokens_per_minute > 0)
		token_tokens -= est_tokens;
	return true;
}

void
claude_rate_feedback(const ClaudeHttpResponse *resp)
{
	if (resp->status == 429)
		rate_factor = Max(0.1, rate_factor * 0.7);
	else if (resp->status >= 200 && resp->status < 300)
		rate_factor = Min(1.0, rate_factor + 0.02);
	if (claude_tokens_per_minute > 0 && resp->output_tokens > 0)
		token_tokens -= resp->output_tokens;
}

/* ms until the buckets could let a request go */
long
claude_rate_wait_ms(void)
{
	double		need = 0;

	if (claude_requests_per_minute > 0 && request_tokens < 1.0)
		need = (1.0 - request_tokens) * 60000.0 / (claude_requests_per_minute * rate_factor);
	return Max(10, Min((long) need + 1, 1000));
}


/* Requests in flight: claude.worker_concurrency, shrunk after throttling. */
int
claude_rate_concurrency(void)
{
	return Max(1, (int) (claude_worker_concurrency * (claude_requests_per_minute > 0 ? 1.0 : rate_factor)));
}
