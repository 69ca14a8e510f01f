/*-------------------------------------------------------------------------
 *
 * rate_limit.c
 *	  The worker's rate limits: a request pace, a token quota kept the way
 *	  Bedrock keeps it, both shrunk by throttling.
 *
 * claude.requests_per_minute paces requests evenly (a bucket of one).
 * claude.tokens_per_minute is a ledger of reservations over the last
 * minute, as Bedrock accounts its TPM quota: a request reserves its input
 * plus max_tokens x the model's output burn-down (claude.models, or
 * claude.output_burndown for every model) when it is sent, and when the
 * answer arrives its reservation shrinks to what it used (the unused
 * output and the cache reads are given back).  A request refused before
 * it ran (400, 403, 404, 429) gives back everything; one that may have run
 * (no answer, 408, 5xx) keeps what it reserved, since the service may hold
 * it.  Each attempt is a reservation of its own: a retry settles the
 * failed attempt and reserves again, at the tail of the ledger, when it
 * is sent, as the service sees it.  A request goes only when its
 * reservation fits beside the others of the minute, so a worker set to the
 * account's quota is not throttled for tokens it never used nor refused
 * for tokens it did; one larger than the whole quota never fits and fails
 * before it is sent (work_item.c).
 *
 * A throttling 429 shrinks the limits and the concurrency, success grows
 * them back slowly, as the AWS SDKs' adaptive retry mode does; every
 * attempt counts, retried ones too.  ModelNotReadyException is also a 429,
 * but says the model is loading, not that we send too much: it is retried
 * and leaves the limits alone.
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
	double		burndown;		/* quota tokens per output token */
	bool		settled;		/* its attempt has ended */
} Reservation;

/* Why the last claude_rate_take said no: what claude_rate_wait_ms waits for. */
typedef enum Refusal
{
	REFUSED_NONE,
	REFUSED_PACE,				/* claude.requests_per_minute */
	REFUSED_TOKENS,				/* the ledger cannot hold last_wanted */
	REFUSED_LEDGER_FULL			/* no room for one more reservation */
} Refusal;

static double rate_factor = 1.0;	/* 0.1 .. 1, shrinks on 429 */
static double request_tokens = 0;
static TimestampTz bucket_time = 0;
static Refusal last_refusal = REFUSED_NONE;
static double last_wanted = 0;

/* The token ledger: a ring, oldest at ledger_head. */
static Reservation ledger[LEDGER_SIZE];
static int	ledger_head = 0;
static int	ledger_len = 0;
static uint64 ledger_next_id = 1;
static double ledger_tokens = 0;	/* the sum of the live reservations */
static int	ledger_in_flight = 0;	/* live reservations not yet settled */

/*
 * Below this the ledger holds no tokens: reservations settled to nothing
 * (refused attempts) stay in the ring until they expire, and adding and
 * taking fractional burn-downs may leave a crumb.
 */
#define NO_TOKENS	0.5

static void
ledger_expire(TimestampTz now)
{
	while (ledger_len > 0 && ledger[ledger_head].at <= now - LEDGER_WINDOW_US)
	{
		ledger_tokens -= ledger[ledger_head].tokens;
		if (!ledger[ledger_head].settled)
			ledger_in_flight--;
		ledger[ledger_head].id = 0;
		ledger_head = (ledger_head + 1) % LEDGER_SIZE;
		ledger_len--;
	}
	if (ledger_len == 0)
	{
		ledger_tokens = 0;		/* no drift from adding and taking doubles */
		ledger_in_flight = 0;
	}
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

double
claude_rate_reservation(long input_tokens, int max_tokens, double burndown)
{
	return Max(input_tokens, 0) + Max(max_tokens, 0) * burndown;
}

/*
 * May a reservation of wanted go beside held tokens, flying of them not yet
 * settled?  Within the limit, yes.  One larger than the limit shrunk by
 * throttling goes alone, when no other is in flight, if it fits the quota
 * itself: the limit grows back only with answers, so waiting for it to
 * grow past the request, or for the minute to empty, would starve the
 * worker.  One larger than the setting itself fails before it is sent
 * (work_item.c); should a reload lower the setting below one already
 * prepared, it goes when nothing is held.  Zero-token reservations, of
 * refused attempts, are no reason to wait.
 */
static bool
ledger_fits(double held, int flying, double wanted)
{
	if (held < NO_TOKENS || held + wanted <= token_limit())
		return true;
	return flying == 0 && held + wanted <= claude_tokens_per_minute;
}

bool
claude_rate_take(long input_tokens, int max_tokens, double burndown, uint64 *reservation)
{
	TimestampTz now = GetCurrentTimestamp();
	double		wanted = claude_rate_reservation(input_tokens, max_tokens, burndown);

	*reservation = 0;
	pace_refill(now);
	if (claude_requests_per_minute > 0 && request_tokens < 1.0)
	{
		last_refusal = REFUSED_PACE;
		return false;
	}
	if (claude_tokens_per_minute > 0)
	{
		ledger_expire(now);
		if (ledger_len == LEDGER_SIZE)
		{
			last_refusal = REFUSED_LEDGER_FULL;
			return false;
		}
		if (!ledger_fits(ledger_tokens, ledger_in_flight, wanted))
		{
			last_refusal = REFUSED_TOKENS;
			last_wanted = wanted;
			return false;
		}
	}
	last_refusal = REFUSED_NONE;
	if (claude_requests_per_minute > 0)
		request_tokens -= 1.0;
	if (claude_tokens_per_minute > 0)
	{
		Reservation *r = &ledger[(ledger_head + ledger_len) % LEDGER_SIZE];

		r->id = ledger_next_id++;
		r->at = now;
		r->tokens = wanted;
		r->burndown = burndown;
		r->settled = false;
		ledger_len++;
		ledger_in_flight++;
		ledger_tokens += wanted;
		*reservation = r->id;
	}
	return true;
}

/*
 * Refused before it ran, so the service holds nothing of it: a request it
 * could not take (400 validation, 403 access, 404 model, 429 throttled or
 * model not ready).  Anything else may have run: no answer at all (the
 * transfer broke or timed out after sending), 408, a 5xx, a 424 from the
 * model.
 */
static bool
refused_before_running(long status)
{
	return status == 400 || status == 403 || status == 404 || status == 429;
}

void
claude_rate_settle(uint64 reservation, const ClaudeHttpResponse *resp)
{
	Reservation *r;
	double		used;

	if (reservation == 0 || (r = ledger_find(reservation)) == NULL)
		return;
	if (resp->status >= 200 && resp->status < 300 && resp->input_tokens >= 0)
		used = Max(resp->input_tokens, 0) + Max(resp->cache_write_tokens, 0)
			+ Max(resp->output_tokens, 0) * r->burndown;
	else if (refused_before_running(resp->status))
		used = 0;
	else
		used = r->tokens;		/* an answer without counts, or one that may have run */
	ledger_tokens += used - r->tokens;
	r->tokens = used;
	if (!r->settled)
		ledger_in_flight--;
	r->settled = true;
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

/*
 * ms until the ledger can hold wanted: reservations expire oldest first,
 * so walk them in that order, counting what each gives back, to the one
 * whose expiry makes room.  (An answer may make room sooner: the pump asks
 * again when an attempt ends.)
 */
static double
ledger_wait_ms(TimestampTz now, double wanted)
{
	double		held = ledger_tokens;
	int			flying = ledger_in_flight;

	if (ledger_fits(held, flying, wanted))
		return 0;
	for (int i = 0; i < ledger_len; i++)
	{
		Reservation *r = &ledger[(ledger_head + i) % LEDGER_SIZE];

		held -= r->tokens;
		flying -= r->settled ? 0 : 1;
		if (ledger_fits(held, flying, wanted))
			return (r->at + LEDGER_WINDOW_US - now) / 1000.0;
	}
	return 0;
}

/*
 * ms until the limits could let the last refused request go: what refused
 * it is what is waited for (a pace refusal waits for the pace, not for the
 * ledger, whose oldest reservation may be a minute away).  At most a
 * second, so that a long wait still looks at a job's state and at
 * reloaded settings every second (jobs.c).
 */
long
claude_rate_wait_ms(void)
{
	TimestampTz now = GetCurrentTimestamp();
	double		need = 0;

	switch (last_refusal)
	{
		case REFUSED_PACE:
			pace_refill(now);
			if (claude_requests_per_minute > 0 && request_tokens < 1.0)
				need = (1.0 - request_tokens) * 60000.0 / (claude_requests_per_minute * rate_factor);
			break;
		case REFUSED_TOKENS:
			if (claude_tokens_per_minute > 0)
			{
				ledger_expire(now);
				need = ledger_wait_ms(now, last_wanted);
			}
			break;
		case REFUSED_LEDGER_FULL:
			ledger_expire(now);
			if (ledger_len > 0)
				need = (ledger[ledger_head].at + LEDGER_WINDOW_US - now) / 1000.0;
			break;
		case REFUSED_NONE:
			break;
	}
	return Max(10, Min((long) need + 1, 1000));
}


/* Requests in flight: claude.worker_concurrency, shrunk after throttling. */
int
claude_rate_concurrency(void)
{
	return Max(1, (int) (claude_worker_concurrency * (claude_requests_per_minute > 0 ? 1.0 : rate_factor)));
}
