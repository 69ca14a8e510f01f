/*-------------------------------------------------------------------------
 *
 * rate_limit.c
 *	  The worker's rate limits: a request pace, a token quota kept the way
 *	  Bedrock keeps it, both shrunk by throttling.
 *
 * claude.requests_per_minute paces requests evenly (a bucket of one).
 * claude.tokens_per_minute is a ledger of reservations over the last
 * minute, as Bedrock accounts its TPM quota: a request reserves its input
 * plus max_tokens x claude.output_burndown when it is sent, and when the
 * answer arrives its reservation shrinks to what it used (the unused
 * output and the cache reads are given back; a refused request gives back
 * everything).  A request goes only when its reservation fits beside the
 * others of the minute, so a worker set to the account's quota is not
 * throttled for tokens it never used nor refused for tokens it did.
 *
 * A throttling 429 shrinks the limits and the concurrency, success grows
 * them back slowly, as the AWS SDKs' adaptive retry mode does.
 * ModelNotReadyException is also a 429, but says the model is loading,
 * not that we send too much: it is retried and leaves the limits alone.
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

/*
 * Reservations live a minute; ours are kept a second longer than the
 * service keeps them, since ours start before the request reaches it.
 */
#define LEDGER_WINDOW_US	(61 * USECS_PER_SEC)
#define LEDGER_SIZE			8192	/* reservations a minute can hold */

typedef struct Reservation
{
	uint64		id;				/* 0: free */
	TimestampTz at;
	double		tokens;
} Reservation;

static double rate_factor = 1.0;	/* 0.1 .. 1, shrinks on 429 */
static double request_tokens = 0;
static TimestampTz bucket_time = 0;

/* The token ledger: a ring, oldest at ledger_head. */
static Reservation ledger[LEDGER_SIZE];
static int	ledger_head = 0;
static int	ledger_len = 0;
static uint64 ledger_next_id = 1;
static double ledger_tokens = 0;	/* the sum of the live reservations */

static void
ledger_expire(TimestampTz now)
{
	while (ledger_len > 0 && ledger[ledger_head].at <= now - LEDGER_WINDOW_US)
	{
		ledger_tokens -= ledger[ledger_head].tokens;
		ledger[ledger_head].id = 0;
		ledger_head = (ledger_head + 1) % LEDGER_SIZE;
		ledger_len--;
	}
	if (ledger_len == 0)
		ledger_tokens = 0;		/* no drift from adding and taking doubles */
}

static Reservation *
ledger_find(uint64 id)
{
	for (int i = 0; i < ledger_len; i++)
	{
		Reservation *r = &ledger[(ledger_head + i) % LEDGER_SIZE];

		if (r->id == id)
			return r;
	}
	return NULL;				/* expired already: nothing left to correct */
}

static void
pace_refill(TimestampTz now)
{
	double		secs = bucket_time ? (now - bucket_time) / 1000000.0 : 0;

	bucket_time = now;
	/* a bucket of one: requests are paced evenly, never in bursts */
	if (claude_requests_per_minute > 0)
		request_tokens = Min(request_tokens + secs * claude_requests_per_minute * rate_factor / 60.0, 1.0);
}

static double
token_limit(void)
{
	return claude_tokens_per_minute * rate_factor;
}

static double
reservation_of(long input_tokens, int max_tokens)
{
	return Max(input_tokens, 0) + Max(max_tokens, 0) * claude_output_burndown;
}

bool
claude_rate_take(long input_tokens, int max_tokens, uint64 *reservation)
{
	TimestampTz now = GetCurrentTimestamp();
	double		wanted = reservation_of(input_tokens, max_tokens);

	*reservation = 0;
	pace_refill(now);
	if (claude_requests_per_minute > 0 && request_tokens < 1.0)
		return false;
	if (claude_tokens_per_minute > 0)
	{
		ledger_expire(now);
		/*
		 * One request larger than the whole quota goes alone, when the
		 * minute is empty: the service then says what it thinks of it.
		 */
		if (ledger_len > 0 && ledger_tokens + wanted > token_limit())
			return false;
		if (ledger_len == LEDGER_SIZE)
			return false;
	}
	if (claude_requests_per_minute > 0)
		request_tokens -= 1.0;
	if (claude_tokens_per_minute > 0)
	{
		Reservation *r = &ledger[(ledger_head + ledger_len) % LEDGER_SIZE];

		r->id = ledger_next_id++;
		r->at = now;
		r->tokens = wanted;
		ledger_len++;
		ledger_tokens += wanted;
		*reservation = r->id;
	}
	return true;
}

void
claude_rate_settle(uint64 reservation, const ClaudeHttpResponse *resp)
{
	Reservation *r;
	double		used = 0;

	if (reservation == 0 || (r = ledger_find(reservation)) == NULL)
		return;
	/* a refused request used nothing; an answer used what it reports */
	if (resp->status >= 200 && resp->status < 300)
		used = Max(resp->input_tokens, 0) + Max(resp->cache_write_tokens, 0)
			+ Max(resp->output_tokens, 0) * claude_output_burndown;
	/* without the service's counts, keep what was reserved */
	if (resp->status >= 200 && resp->status < 300 && resp->input_tokens < 0)
		used = r->tokens;
	ledger_tokens += used - r->tokens;
	r->tokens = used;
}

/* Is this answer the service saying we send too much? */
static bool
throttled(const ClaudeHttpResponse *resp)
{
	if (resp->status != 429)
		return false;
	return strcmp(resp->error_type, "ModelNotReadyException") != 0;
}

void
claude_rate_feedback(const ClaudeHttpResponse *resp)
{
	if (throttled(resp))
		rate_factor = Max(0.1, rate_factor * 0.7);
	else if (resp->status >= 200 && resp->status < 300)
		rate_factor = Min(1.0, rate_factor + 0.02);
}

/* ms until the limits could let a request go */
long
claude_rate_wait_ms(void)
{
	double		need = 0;

	if (claude_requests_per_minute > 0 && request_tokens < 1.0)
		need = (1.0 - request_tokens) * 60000.0 / (claude_requests_per_minute * rate_factor);
	if (claude_tokens_per_minute > 0 && ledger_len > 0)
	{
		TimestampTz now = GetCurrentTimestamp();
		double		oldest = (ledger[ledger_head].at + LEDGER_WINDOW_US - now) / 1000.0;

		need = Max(need, oldest);
	}
	return Max(10, Min((long) need + 1, 1000));
}


/* Requests in flight: claude.worker_concurrency, shrunk after throttling. */
int
claude_rate_concurrency(void)
{
	return Max(1, (int) (claude_worker_concurrency * (claude_requests_per_minute > 0 ? 1.0 : rate_factor)));
}
