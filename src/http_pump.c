/*-------------------------------------------------------------------------
 *
 * http_pump.c
 *	  The transport's engine: a libcurl multi handle driven from
 *	  PostgreSQL's wait machinery, a connection cache that lives as long as
 *	  the backend, and the pump that keeps requests in flight and schedules
 *	  the retries the request's policy asks for.
 *
 * libcurl's multi "socket" interface tells us which sockets to watch and
 * when its next timeout is due; we wait on those sockets and on the
 * process latch together, so query cancel and statement_timeout (which set
 * the latch) end requests in flight at once instead of at the next
 * progress callback.  One engine (the pump) drives any number of requests
 * with up to a given number in flight: a single call is a pump of one
 * (http_request.c), the batch functions and the worker pump many.  Retries
 * are scheduled, not slept: while one request waits out its backoff, the
 * others go on.  The multi handle and the easy handles are kept for the
 * life of the backend, so keep-alive connections and TLS sessions are
 * reused across calls and statements (and HTTP/2 multiplexes where
 * offered).  What one easy handle does is http_transfer.c.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "guc.h"
#include "http.h"
#include "http_transfer.h"
#include "pg_compat.h"

#define MAX_WATCHED_SOCKETS 1024
#define MAX_SLOTS 512
#define MAX_DEPTH 3

/* Sockets libcurl asked us to watch, maintained by the socket callback. */
typedef struct WatchedSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN / OUT / INOUT */
} WatchedSocket;

/* One easy handle and what its transfer produced. */
typedef struct Slot
{
	CURL	   *easy;
	ClaudeHttpTransfer xfer;
	struct curl_slist *headers;
	struct PumpEntry *entry;	/* NULL when idle */
} Slot;

/*
 * An engine: a multi handle (its connection cache), its easy handles, and
 * the sockets and timer libcurl asked us to watch.  A request being signed
 * may need credentials fetched over HTTP (IMDS, STS) while Bedrock
 * requests are in flight, so engines nest, one per depth.
 */
typedef struct Engine
{
	CURLM	   *multi;
	Slot	   *slots;			/* MAX_SLOTS, easy handles created lazily */
	WatchedSocket watched[MAX_WATCHED_SOCKETS];
	int			nwatched;
	bool		watched_changed;
	bool		watched_overflow;
	bool		timer_armed;
	TimestampTz timer_deadline;
	MemoryContext scratch;		/* what an attempt's callbacks allocate; reset after each */

	/*
	 * The wait set outlives a pump: a sequential call reuses the connection
	 * of the one before, and rebuilding the set for it cost an
	 * epoll_create, three epoll_ctl and a close per call.  It is kept only
	 * while it registers exactly the sockets watched now; a socket libcurl
	 * opened since (sockets_opened) may have taken a closed one's number,
	 * which epoll has forgotten, so it is built again.
	 */
	WaitEventSet *set;
	int			set_first_socket;	/* position of registered[0] in the set */
	int			nregistered;
	WatchedSocket registered[MAX_WATCHED_SOCKETS];
	bool		sockets_opened;
} Engine;

static Engine engines[MAX_DEPTH];
static void engine_setup(Engine *e);
static int	depth = 0;

/* Backend-lifetime counters, shown by claude_http_stats(). */
static int64 requests_sent = 0;
static int64 connections_opened = 0;

/* A request in a pump: waiting (first try or backoff), or in flight. */
typedef struct PumpEntry
{
	ClaudeHttpRequest *req;
	void	   *tag;
	int			attempt;
	bool		refreshed;
	bool		active;
	bool		deferred;		/* a due retry the caller's limits held back */
	TimestampTz not_before;
	ClaudeHttpResponse resp;
	struct PumpEntry *next;		/* in the waiting list */
} PumpEntry;

/* libcurl tells us which sockets to watch, and for what. */
static int
socket_callback(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	Engine	   *e = (Engine *) userp;
	int			i;

	for (i = 0; i < e->nwatched; i++)
		if (e->watched[i].fd == fd)
			break;

	if (what == CURL_POLL_REMOVE)
	{
		if (i < e->nwatched)
		{
			e->watched[i] = e->watched[e->nwatched - 1];
			e->nwatched--;
			e->watched_changed = true;
		}
		return 0;
	}
	if (i == e->nwatched)
	{
		if (e->nwatched == MAX_WATCHED_SOCKETS)
		{
			e->watched_overflow = true;
			return -1;
		}
		e->nwatched++;
		e->watched[i].fd = fd;
		e->watched[i].what = what;
		e->watched_changed = true;
		return 0;
	}
	if (e->watched[i].what != what)
		e->watched_changed = true;
	e->watched[i].what = what;
	return 0;
}

/* libcurl opened a socket (CURLOPT_SOCKOPTFUNCTION): the wait set is stale. */
static int
sockopt_callback(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
	Engine	   *e = (Engine *) clientp;

	e->sockets_opened = true;
	return CURL_SOCKOPT_OK;
}

/* libcurl's one timer: when it next wants curl_multi_socket_action(TIMEOUT). */
static int
timer_callback(CURLM *multi, long timeout_ms, void *userp)
{
	Engine	   *e = (Engine *) userp;

	if (timeout_ms < 0)
		e->timer_armed = false;
	else
	{
		e->timer_armed = true;
		e->timer_deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	}
	return 0;
}

/*
 * The engine of the current depth, created on first use.  Handles are
 * never freed: the backend's exit releases them, and keeping them is what
 * keeps connections alive.
 */
static Engine *
engine_get(void)
{
	Engine	   *e;

	if (depth >= MAX_DEPTH)
		elog(ERROR, "pg_claude: HTTP requests nested too deeply");
	claude_http_curl_init();
	e = &engines[depth];
	engine_setup(e);
	return e;
}

/* An engine's handles, created on first use. */
static void
engine_setup(Engine *e)
{
	if (e->multi == NULL)
	{
		e->slots = MemoryContextAllocZero(TopMemoryContext, sizeof(Slot) * MAX_SLOTS);
		e->multi = curl_multi_init();
		if (e->multi == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create a libcurl multi handle")));
		curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
		curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
		curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, timer_callback);
		curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
		/* one connection per host is enough when HTTP/2 multiplexes */
		curl_multi_setopt(e->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);

		/*
		 * Keep every connection: libcurl's default cache shrinks with the
		 * number of handles attached, closing kept-alive connections as a
		 * batch drains, only to open them again for the next one.
		 */
		curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, (long) MAX_SLOTS);
	}
}

/* An idle slot, its easy handle created on first use. */
static Slot *
slot_get(Engine *e)
{
	int			i;

	for (i = 0; i < MAX_SLOTS; i++)
	{
		Slot	   *s = &e->slots[i];

		if (s->entry != NULL)
			continue;
		if (s->easy == NULL)
		{
			s->easy = curl_easy_init();
			if (s->easy == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("could not create a libcurl handle")));
		}
		return s;
	}
	elog(ERROR, "pg_claude: no free HTTP slot");
	return NULL;
}

/* Free what a slot's transfer holds. */
static void
slot_release(Engine *e, Slot *s, bool attached)
{
	if (attached)
		curl_multi_remove_handle(e->multi, s->easy);
	claude_http_transfer_release(&s->xfer, s->headers);
	s->headers = NULL;
	s->entry = NULL;
}

/* Sign and start one attempt of a request. */
static void
pump_start(Engine *e, PumpEntry *pe)
{
	Slot	   *s = slot_get(e);
	ClaudeHttpRequest *req = pe->req;
	struct curl_slist *headers;

	claude_http_check_ca_file(req->url);
	/* before signing: the header list is malloc'd, nothing may raise after it */
	if (req->stream_begin)
		req->stream_begin(req->stream_arg, pe->attempt);

	/*
	 * Signing may fetch credentials over HTTP: that happens one engine
	 * deeper, so the transfers in flight here are not disturbed.
	 */
	depth++;
	PG_TRY();
	{
		MemoryContext old = MemoryContextSwitchTo(e->scratch);

		headers = req->prepare(req->prepare_arg, pe->attempt, pe->attempt > 0 ? &pe->resp : NULL);
		MemoryContextSwitchTo(old);
	}
	PG_FINALLY();
	{
		depth--;
	}
	PG_END_TRY();
	MemoryContextReset(e->scratch);

	if (pe->resp.body)
	{
		explicit_bzero(pe->resp.body, pe->resp.body_len);
		pfree(pe->resp.body);
		pe->resp.body = NULL;
	}
	s->headers = headers;
	s->entry = (struct PumpEntry *) pe;
	claude_http_transfer_begin(s->easy, &s->xfer, headers, req);
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->easy, CURLOPT_SOCKOPTFUNCTION, sockopt_callback);
	curl_easy_setopt(s->easy, CURLOPT_SOCKOPTDATA, e);
	if (curl_multi_add_handle(e->multi, s->easy) != CURLM_OK)
	{
		slot_release(e, s, false);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not start an HTTP transfer")));
	}
	pe->active = true;
	requests_sent++;
}

/* Copy a finished transfer's outcome into its entry's response. */
static void
pump_collect(Engine *e, Slot *s, CURLcode code)
{
	PumpEntry  *pe = (PumpEntry *) s->entry;
	ClaudeHttpResponse *resp = &pe->resp;

	connections_opened += claude_http_transfer_outcome(s->easy, &s->xfer, code, resp);
	resp->retries = pe->attempt;
	resp->interrupted = false;
	if (pe->req->read_response)
		pe->req->read_response(resp);
	claude_http_transfer_body(&s->xfer, resp);
	pe->active = false;
	slot_release(e, s, true);
	/* a streamed answer: the assembled body replaces the (empty) buffered one */
	if (pe->req->stream_end)
		pe->req->stream_end(pe->req->stream_arg, resp);
}

static uint32
socket_events(int what)
{
	uint32		events = 0;

	if (what & CURL_POLL_IN)
		events |= WL_SOCKET_READABLE;
	if (what & CURL_POLL_OUT)
		events |= WL_SOCKET_WRITEABLE;
	return events;
}

/*
 * The engine's WaitEventSet for the latch, postmaster death and libcurl's
 * sockets: the kept one when it registers the same sockets (their events
 * adjusted in place), else a new one, session-lifetime.
 */
static WaitEventSet *
wait_set_get(Engine *e)
{
	MemoryContext old;
	bool		same = e->set != NULL && !e->sockets_opened &&
		e->nregistered == e->nwatched;
	int			i;

	for (i = 0; same && i < e->nwatched; i++)
		if (e->registered[i].fd != e->watched[i].fd)
			same = false;
	if (same)
	{
		for (i = 0; i < e->nwatched; i++)
			if (e->registered[i].what != e->watched[i].what)
			{
				ModifyWaitEvent(e->set, e->set_first_socket + i,
								socket_events(e->watched[i].what), NULL);
				e->registered[i].what = e->watched[i].what;
			}
		e->watched_changed = false;
		return e->set;
	}

	if (e->set != NULL)
	{
		WaitEventSet *set = e->set;

		e->set = NULL;
		FreeWaitEventSet(set);
	}
	e->nregistered = 0;
	e->sockets_opened = false;
	old = MemoryContextSwitchTo(TopMemoryContext);
	e->set = claude_create_wait_event_set(e->nwatched + 2);
	MemoryContextSwitchTo(old);
	PG_TRY();
	{
		AddWaitEventToSet(e->set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		/* a single-user backend has no postmaster to watch */
		if (IsUnderPostmaster)
			AddWaitEventToSet(e->set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		e->set_first_socket = IsUnderPostmaster ? 2 : 1;
		for (i = 0; i < e->nwatched; i++)
		{
			AddWaitEventToSet(e->set, socket_events(e->watched[i].what), e->watched[i].fd, NULL, NULL);
			e->registered[i] = e->watched[i];
			e->nregistered = i + 1;
		}
	}
	PG_CATCH();
	{
		/* half built: not to be kept */
		FreeWaitEventSet(e->set);
		e->set = NULL;
		e->nregistered = 0;
		PG_RE_THROW();
	}
	PG_END_TRY();
	e->watched_changed = false;
	return e->set;
}

static long
ms_until(TimestampTz t)
{
	long		secs;
	int			usecs;

	TimestampDifference(GetCurrentTimestamp(), t, &secs, &usecs);
	return secs * 1000 + (usecs + 999) / 1000;
}

/*
 * One pump's state, kept between steps: a pump driven to its end at once
 * (claude_http_pump) and one driven a step at a time (claude_http_pump_step)
 * share the loop.
 */
struct ClaudeHttpPumpRun
{
	Engine	   *e;
	ClaudeHttpPump *pump;
	WaitEventSet *set;
	PumpEntry  *waiting;		/* not in flight: new or backing off */
	int			active;
	bool		exhausted;		/* next() has no more */
	TimestampTz ask_at;			/* next() said "not yet": ask again then */
	bool		room;			/* an attempt ended: the limits may have room */
	int			concurrency;
	WaitEvent  *events;
	bool		ended;
};

/* The engine of claude_http_pump_begin's runs, and whether one holds it. */
static Engine stream_engine;
static bool stream_engine_busy = false;

static void
run_init(ClaudeHttpPumpRun *run, Engine *e, ClaudeHttpPump *pump)
{
	memset(run, 0, sizeof(*run));
	run->e = e;
	run->pump = pump;
	run->concurrency = Max(1, Min(pump->concurrency, MAX_SLOTS));
	run->events = palloc(sizeof(WaitEvent) * (MAX_WATCHED_SOCKETS + 2));

	e->nwatched = 0;
	e->watched_changed = true;
	e->watched_overflow = false;
	e->timer_armed = false;
	/*
	 * Signing, judging and auditing an attempt allocate a few kB that no
	 * one keeps: without a context of their own a pump of thousands of
	 * requests would hold all of it until it ends.
	 */
	if (e->scratch == NULL)
		e->scratch = AllocSetContextCreate(TopMemoryContext, "pg_claude transport attempt",
										   ALLOCSET_SMALL_SIZES);
}

/*
 * Run the loop until every request is done (false), or, with max_wait_ms
 * >= 0, until one wait of at most that long has returned (true).
 */
static bool
run_loop(ClaudeHttpPumpRun *run, long max_wait_ms)
{
	Engine	   *e = run->e;
	ClaudeHttpPump *pump = run->pump;
	WaitEvent  *events = run->events;
	int			concurrency = run->concurrency;

	{
		for (;;)
		{
			TimestampTz now = GetCurrentTimestamp();
			PumpEntry **link;
			TimestampTz earliest = 0;
			CURLMsg    *msg;
			int			left;
			int			running;
			long		timeout_ms;
			int			nevents;
			int			i;

			CHECK_FOR_INTERRUPTS();

			/*
			 * Start what may start: due retries first, then new requests.
			 * Every waiting entry is a retry; a retry goes within the
			 * caller's limits like a new request, since the service counts
			 * attempts (readmit), and one they held back is looked at again
			 * as soon as an attempt ends.
			 */
			for (link = (PumpEntry **) &run->waiting; *link && run->active < concurrency;)
			{
				PumpEntry  *pe = *link;

				if (pe->not_before <= now || (pe->deferred && run->room))
				{
					long		wait_ms = pump->readmit ? pump->readmit(pump->arg, pe->tag) : 0;

					if (wait_ms > 0)
					{
						pe->deferred = true;
						pe->not_before = TimestampTzPlusMilliseconds(now, wait_ms);
						link = &pe->next;
						continue;
					}
					pe->deferred = false;
					*link = pe->next;
					pump_start(e, pe);
					run->active++;
				}
				else
					link = &pe->next;
			}
			/*
			 * A next() that said "not yet" is asked again when its pause is
			 * over or as soon as an attempt ends: waiting for the whole
			 * round to drain would send in waves.
			 */
			if (run->room)
				run->ask_at = 0;
			run->room = false;
			while (run->active < concurrency && !run->exhausted && run->ask_at <= now)
			{
				ClaudeHttpRequest *req;
				void	   *tag;
				PumpEntry  *pe;

				if (!pump->next(pump->arg, &req, &tag))
				{
					long		pause_ms = pump->pause ? pump->pause(pump->arg) : -1;

					if (pause_ms < 0)
						run->exhausted = true;
					else
						run->ask_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Max(pause_ms, 1));
					break;
				}
				run->ask_at = 0;
				pe = palloc0(sizeof(PumpEntry));
				pe->req = req;
				pe->tag = tag;
				pump_start(e, pe);
				run->active++;
			}
			if (run->active == 0 && run->waiting == NULL)
				break;

			/* libcurl's timer */
			if (e->timer_armed && GetCurrentTimestamp() >= e->timer_deadline)
			{
				e->timer_armed = false;
				curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
			}

			/* finished transfers: retry, or hand over */
			while ((msg = curl_multi_info_read(e->multi, &left)) != NULL)
			{
				Slot	   *s;
				PumpEntry  *pe;
				ClaudeHttpRequest *req;
				int			max_retries;
				ClaudeRetry verdict;

				if (msg->msg != CURLMSG_DONE)
					continue;
				curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &s);
				pe = (PumpEntry *) s->entry;
				req = pe->req;
				pump_collect(e, s, msg->data.result);
				run->active--;
				run->room = true;
				{
					/* the attempt's judging and auditing keep nothing: scratch memory */
					MemoryContext old = MemoryContextSwitchTo(e->scratch);

					pe->resp.unusable = req->usable && pe->resp.curl_code == CURLE_OK &&
						pe->resp.status >= 200 && pe->resp.status < 300 &&
						!req->usable(req->prepare_arg, &pe->resp);
					if (req->on_attempt)
						req->on_attempt(req->prepare_arg, &pe->resp, pe->attempt);
					MemoryContextSwitchTo(old);
					MemoryContextReset(e->scratch);
				}

				max_retries = req->max_retries >= 0 ? req->max_retries : claude_max_retries;
				verdict = req->retry_policy ? req->retry_policy(&pe->resp) :
					claude_retry_http(pe->resp.status, pe->resp.curl_code, pe->resp.unusable);
				if (verdict == CLAUDE_RETRY_REFRESH && req->refresh_credentials && !pe->refreshed)
				{
					/* refresh and try again at once, once, whatever the budget */
					pe->refreshed = true;
					if (pump->retrying)
						pump->retrying(pump->arg, pe->tag, &pe->resp);
					req->refresh_credentials(req->prepare_arg);
					pe->attempt++;
					pe->not_before = 0;
					pe->next = run->waiting;
					run->waiting = pe;
				}
				else if (pe->attempt < max_retries &&
						 (verdict == CLAUDE_RETRY || verdict == CLAUDE_RETRY_THROTTLED))
				{
					/* a service that says how long to wait (retry-after) is not asked sooner */
					long		wait_ms = Max(claude_retry_backoff_ms(pe->attempt + 1, verdict == CLAUDE_RETRY_THROTTLED,
																	  pg_prng_double(&pg_global_prng_state)),
											  pe->resp.retry_after_ms);

					pe->attempt++;
					pe->not_before = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms);
					ereport(DEBUG1,
							(errmsg_internal("pg_claude: retrying after %s (attempt %d of %d)",
											 pe->resp.curl_code != CURLE_OK ? pe->resp.curl_error :
											 pe->resp.error_type[0] ? pe->resp.error_type : "HTTP error",
											 pe->attempt + 1, max_retries + 1)));
					if (pump->retrying)
						pump->retrying(pump->arg, pe->tag, &pe->resp);
					pe->next = run->waiting;
					run->waiting = pe;
				}
				else
				{
					pump->done(pump->arg, pe->tag, &pe->resp);
					if (pe->resp.body)
					{
						explicit_bzero(pe->resp.body, pe->resp.body_len);
						pfree(pe->resp.body);
					}
					pfree(pe);
				}
			}
			if (e->watched_overflow)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("too many sockets in flight")));

			/* anything startable now? then loop without waiting */
			now = GetCurrentTimestamp();
			for (link = (PumpEntry **) &run->waiting; *link; link = &(*link)->next)
				if (earliest == 0 || (*link)->not_before < earliest)
					earliest = (*link)->not_before;
			if (run->active < concurrency &&
				((run->waiting && earliest <= now) || (!run->exhausted && run->ask_at <= now) || run->room))
				continue;
			if (run->active == 0 && run->waiting == NULL)
				break;

			if (e->watched_changed || run->set == NULL)
				run->set = wait_set_get(e);

			timeout_ms = 1000;	/* nothing pending: recheck soon anyway */
			if (e->timer_armed)
				timeout_ms = Min(timeout_ms, ms_until(e->timer_deadline));
			if (run->waiting && run->active < concurrency)
				timeout_ms = Min(timeout_ms, ms_until(earliest));
			if (!run->exhausted && run->ask_at != 0 && run->active < concurrency)
				timeout_ms = Min(timeout_ms, ms_until(run->ask_at));
			if (max_wait_ms >= 0)
				timeout_ms = Min(timeout_ms, max_wait_ms);
			timeout_ms = Max(timeout_ms, 0);

			nevents = WaitEventSetWait(run->set, timeout_ms, events, MAX_WATCHED_SOCKETS + 2,
									   PG_WAIT_EXTENSION);
			for (i = 0; i < nevents; i++)
			{
				WaitEvent  *ev = &events[i];

				if (ev->events & WL_LATCH_SET)
				{
					ResetLatch(MyLatch);
					CHECK_FOR_INTERRUPTS();
				}
				else if (ev->events & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
				{
					int			mask = 0;

					if (ev->events & WL_SOCKET_READABLE)
						mask |= CURL_CSELECT_IN;
					if (ev->events & WL_SOCKET_WRITEABLE)
						mask |= CURL_CSELECT_OUT;
					curl_multi_socket_action(e->multi, ev->fd, mask, &running);
				}
			}
			if (max_wait_ms >= 0)
				return true;
		}
	}
	return false;
}

/*
 * Cancelled (or failed) with requests in flight: they may well have
 * reached the endpoint, so they are attempts to record (when audit); then
 * detach them, which discards their half-used connections.
 */
static void
run_abort(ClaudeHttpPumpRun *run, bool audit)
{
	Engine	   *e = run->e;

	{
		int			i;

		for (i = 0; i < MAX_SLOTS; i++)
		{
			Slot	   *s = &e->slots[i];
			PumpEntry  *pe = (PumpEntry *) s->entry;

			if (pe == NULL)
				continue;
			if (audit && pe->req->on_attempt)
			{
				pe->resp.interrupted = true;
				pe->resp.retries = pe->attempt;
				pe->resp.curl_code = CURLE_ABORTED_BY_CALLBACK;
				pe->req->on_attempt(pe->req->prepare_arg, &pe->resp, pe->attempt);
			}
			slot_release(e, s, true);
		}
	}
	run->ended = true;
}

void
claude_http_pump(ClaudeHttpPump *pump)
{
	ClaudeHttpPumpRun run;

	run_init(&run, engine_get(), pump);
	PG_TRY();
	{
		while (run_loop(&run, -1))
			;
	}
	PG_CATCH();
	{
		run_abort(&run, true);
		PG_RE_THROW();
	}
	PG_END_TRY();
	pfree(run.events);
}

ClaudeHttpPumpRun *
claude_http_pump_begin(ClaudeHttpPump *pump)
{
	ClaudeHttpPumpRun *run = palloc(sizeof(ClaudeHttpPumpRun));
	Engine	   *e = &stream_engine;

	if (stream_engine_busy)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("another streamed answer is still being read in this session"),
				 errhint("Read claude_complete_stream's rows to the end, or close its cursor, before starting another.")));
	claude_http_curl_init();
	engine_setup(e);
	run_init(run, e, pump);
	stream_engine_busy = true;
	return run;
}

bool
claude_http_pump_step(ClaudeHttpPumpRun *run, long timeout_ms)
{
	bool		more = false;

	if (run->ended)
		return false;
	PG_TRY();
	{
		more = run_loop(run, Max(timeout_ms, 0));
	}
	PG_CATCH();
	{
		claude_http_pump_end(run, true);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!more)
		claude_http_pump_end(run, false);
	return more;
}

void
claude_http_pump_end(ClaudeHttpPumpRun *run, bool audit)
{
	if (run->ended)
		return;
	run_abort(run, audit);
	stream_engine_busy = false;
}

void
claude_http_counters(int64 *requests, int64 *connections)
{
	*requests = requests_sent;
	*connections = connections_opened;
}
