/*-------------------------------------------------------------------------
 *
 * http.c
 *	  The one transport: libcurl driven from PostgreSQL's wait machinery,
 *	  a connection cache that lives as long as the backend, timeouts, and
 *	  the retry policy.
 *
 * libcurl's multi "socket" interface tells us which sockets to watch and
 * when its next timeout is due; we wait on those sockets and on the
 * process latch together, so query cancel and statement_timeout (which set
 * the latch) end requests in flight at once instead of at the next
 * progress callback.  One engine (the pump) drives any number of requests
 * with up to a given number in flight: a single call is a pump of one,
 * the batch functions and the worker pump many.  Retries are scheduled,
 * not slept: while one request waits out its backoff, the others go on.
 * The multi handle and the easy handles are kept for the life of the
 * backend, so keep-alive connections and TLS sessions are reused across
 * calls and statements (and HTTP/2 multiplexes where offered).
 *
 * libcurl callbacks never ereport (a longjmp through libcurl would corrupt
 * it): they record failures in plain malloc'd state, and errors are raised
 * after control has returned from libcurl.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "guc.h"
#include "http.h"

#define CLAUDE_USER_AGENT "pg_claude/" EXTVERSION
#define MAX_RESPONSE_BYTES (64 * 1024 * 1024)
#define MAX_WATCHED_SOCKETS 1024
#define MAX_SLOTS 512
#define MAX_DEPTH 3

/*
 * What one transfer produced.  Filled from libcurl callbacks, so it is
 * malloc-owned and the callbacks only record failure.
 */
typedef struct TransferState
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		too_large;
	bool		out_of_memory;
	const char *const *capture;	/* the request's capture_headers */
	char		captured[CLAUDE_HTTP_MAX_CAPTURED][CLAUDE_HTTP_CAPTURED_LEN];
	char		content_type[128];
	char		errbuf[CURL_ERROR_SIZE];
} TransferState;

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
	TransferState xfer;
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
} Engine;

static Engine engines[MAX_DEPTH];
static int	depth = 0;

static const char *default_cainfo = NULL;
static const char *default_capath = NULL;
static bool curl_ready = false;

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
	TimestampTz not_before;
	ClaudeHttpResponse resp;
	struct PumpEntry *next;		/* in the waiting list */
} PumpEntry;

/*
 * Body writer: grows a malloc'd buffer, refusing bodies over the limit by
 * returning a short count, which makes libcurl abort the transfer.
 */
static size_t
write_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	TransferState *xs = (TransferState *) userdata;
	size_t		n = size * nmemb;

	if (xs->len + n > MAX_RESPONSE_BYTES)
	{
		xs->too_large = true;
		return 0;
	}
	if (xs->len + n + 1 > xs->cap)
	{
		size_t		newcap = Max(xs->cap * 2, xs->len + n + 1);
		char	   *grown;

		newcap = Max(newcap, 8192);

		/*
		 * Not realloc: responses can carry credentials (STS, IMDS), and
		 * realloc would leave copies behind.  Copy, wipe, free.
		 */
		grown = malloc(newcap);
		if (grown == NULL)
		{
			xs->out_of_memory = true;
			return 0;
		}
		if (xs->data)
		{
			memcpy(grown, xs->data, xs->len);
			explicit_bzero(xs->data, xs->cap);
			free(xs->data);
		}
		xs->data = grown;
		xs->cap = newcap;
	}
	memcpy(xs->data + xs->len, ptr, n);
	xs->len += n;
	xs->data[xs->len] = '\0';
	return n;
}

/* Copy a header value, trimmed, into a fixed buffer. */
static void
copy_header_value(char *dst, size_t dstlen, const char *value, size_t len)
{
	while (len > 0 && (*value == ' ' || *value == '\t'))
		value++, len--;
	while (len > 0 && (value[len - 1] == '\r' || value[len - 1] == '\n' ||
					   value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len >= dstlen)
		len = dstlen - 1;
	memcpy(dst, value, len);
	dst[len] = '\0';
}

/*
 * Header reader: keeps the content type and the headers the request asked
 * for.  A new status line (after "100 Continue", say) starts afresh.
 */
static size_t
read_header(char *buffer, size_t size, size_t nitems, void *userdata)
{
	TransferState *xs = (TransferState *) userdata;
	size_t		n = size * nitems;
	const char *colon;
	size_t		namelen;

	if (n >= 5 && strncmp(buffer, "HTTP/", 5) == 0)
	{
		memset(xs->captured, 0, sizeof(xs->captured));
		xs->content_type[0] = '\0';
		return n;
	}
	colon = memchr(buffer, ':', n);
	if (colon == NULL)
		return n;
	namelen = colon - buffer;
	if (namelen == strlen("Content-Type") && pg_strncasecmp(buffer, "Content-Type", namelen) == 0)
		copy_header_value(xs->content_type, sizeof(xs->content_type), colon + 1, n - namelen - 1);
	for (int i = 0; xs->capture && xs->capture[i] && i < CLAUDE_HTTP_MAX_CAPTURED; i++)
		if (namelen == strlen(xs->capture[i]) && pg_strncasecmp(buffer, xs->capture[i], namelen) == 0)
			copy_header_value(xs->captured[i], CLAUDE_HTTP_CAPTURED_LEN, colon + 1, n - namelen - 1);
	return n;
}

/* Wipe header values (they carry the session token) before freeing. */
static void
free_headers(struct curl_slist *headers)
{
	struct curl_slist *h;

	for (h = headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(headers);
}

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
	if (!curl_ready)
	{
		curl_version_info_data *info;

		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not initialise libcurl")));
		info = curl_version_info(CURLVERSION_NOW);
		default_cainfo = info->cainfo;
		default_capath = info->capath;
		curl_ready = true;
	}
	e = &engines[depth];
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
	return e;
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

/*
 * Options that hold for every request.  Set on each start because some
 * (timeouts, CA file) follow settings that may change between calls.
 */
static void
slot_set_options(Slot *s, const ClaudeHttpRequest *req)
{
	CURL	   *h = s->easy;

	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075700
	/* do not wait for a DNS resolver thread when a cancel detaches us */
	curl_easy_setopt(h, CURLOPT_QUICK_EXIT, 1L);
#endif
	curl_easy_setopt(h, CURLOPT_USERAGENT, CLAUDE_USER_AGENT);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
					 (long) (req->timeout_ms >= 0 ? req->timeout_ms : claude_timeout_ms));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
					 (long) (req->connect_timeout_ms >= 0 ? req->connect_timeout_ms :
							 claude_connect_timeout_ms));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s->xfer);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, read_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &s->xfer);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->xfer.errbuf);
	curl_easy_setopt(h, CURLOPT_PRIVATE, s);

	/* TLS verification is never optional. */
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);

	/*
	 * claude.ca_file adds to the system's trust: the file replaces libcurl's
	 * default bundle, while the system's hashed directory stays.
	 */
	if (claude_ca_file && claude_ca_file[0])
	{
		curl_easy_setopt(h, CURLOPT_CAINFO, claude_ca_file);
		curl_easy_setopt(h, CURLOPT_CAPATH, default_capath ? default_capath : "/etc/ssl/certs");
	}
	else
	{
		curl_easy_setopt(h, CURLOPT_CAINFO, default_cainfo);
		curl_easy_setopt(h, CURLOPT_CAPATH, default_capath);
	}

	if (strcmp(req->method, "GET") == 0)
	{
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
	}
	else
	{
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
		if (strcmp(req->method, "POST") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
		else
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
	}
}

/* Free what a slot's transfer holds (wiped: bodies may carry secrets). */
static void
slot_release(Engine *e, Slot *s, bool attached)
{
	if (attached)
		curl_multi_remove_handle(e->multi, s->easy);
	if (s->headers)
	{
		free_headers(s->headers);
		s->headers = NULL;
	}
	if (s->xfer.data)
	{
		explicit_bzero(s->xfer.data, s->xfer.cap);
		free(s->xfer.data);
	}
	memset(&s->xfer, 0, sizeof(s->xfer));
	s->entry = NULL;
}

/* Sign and start one attempt of a request. */
static void
pump_start(Engine *e, PumpEntry *pe)
{
	Slot	   *s = slot_get(e);
	ClaudeHttpRequest *req = pe->req;
	struct curl_slist *headers;

	/*
	 * A missing or unreadable claude.ca_file is said plainly, not as a
	 * certificate libcurl could not verify (it may have gone since SET).
	 */
	if (claude_ca_file && claude_ca_file[0] && pg_strncasecmp(req->url, "https:", 6) == 0)
	{
		int			err = claude_file_unreadable(claude_ca_file);

		if (err != 0)
		{
			errno = err;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read claude.ca_file \"%s\": %m", claude_ca_file),
					 errhint("Name a PEM CA bundle the server's operating-system user can read, "
							 "or set claude.ca_file to '' for the system's CAs.")));
		}
	}

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
	memset(&s->xfer, 0, sizeof(s->xfer));
	s->xfer.capture = req->capture_headers;
	s->headers = headers;
	s->entry = (struct PumpEntry *) pe;
	slot_set_options(s, req);
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
	long		status = 0;
	long		connects = 0;
	curl_off_t	total_us = 0;
	TransferState *xs = &s->xfer;

	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &connects);
	curl_easy_getinfo(s->easy, CURLINFO_TOTAL_TIME_T, &total_us);

	resp->status = status;
	resp->curl_code = code;
	resp->connects += connects;
	connections_opened += connects;
	resp->latency_ms = total_us / 1000.0;
	resp->retries = pe->attempt;
	resp->interrupted = false;
	if (code == CURLE_WRITE_ERROR && xs->too_large)
		snprintf(resp->curl_error, sizeof(resp->curl_error),
				 "response larger than %d bytes", MAX_RESPONSE_BYTES);
	else if (code == CURLE_WRITE_ERROR && xs->out_of_memory)
		snprintf(resp->curl_error, sizeof(resp->curl_error), "out of memory");
	else if (code != CURLE_OK)
		strlcpy(resp->curl_error, xs->errbuf[0] ? xs->errbuf : curl_easy_strerror(code),
				sizeof(resp->curl_error));
	else
		resp->curl_error[0] = '\0';
	strlcpy(resp->content_type, xs->content_type, sizeof(resp->content_type));
	memcpy(resp->captured, xs->captured, sizeof(resp->captured));
	resp->request_id[0] = resp->error_type[0] = '\0';
	resp->input_tokens = resp->output_tokens = -1;
	resp->cache_read_tokens = resp->cache_write_tokens = -1;
	if (pe->req->read_response)
		pe->req->read_response(resp);
	resp->body = palloc(xs->len + 1);
	if (xs->len > 0)
		memcpy(resp->body, xs->data, xs->len);
	resp->body[xs->len] = '\0';
	resp->body_len = xs->len;
	pe->active = false;
	slot_release(e, s, true);
}

/* A WaitEventSet for the latch, postmaster death and libcurl's sockets. */
static WaitEventSet *
build_wait_set(Engine *e)
{
	WaitEventSet *set = CreateWaitEventSet(CurrentMemoryContext, e->nwatched + 2);
	int			i;

	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	/* a single-user backend has no postmaster to watch */
	if (IsUnderPostmaster)
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (i = 0; i < e->nwatched; i++)
	{
		uint32		events = 0;

		if (e->watched[i].what & CURL_POLL_IN)
			events |= WL_SOCKET_READABLE;
		if (e->watched[i].what & CURL_POLL_OUT)
			events |= WL_SOCKET_WRITEABLE;
		AddWaitEventToSet(set, events, e->watched[i].fd, NULL, NULL);
	}
	e->watched_changed = false;
	return set;
}

static long
ms_until(TimestampTz t)
{
	long		secs;
	int			usecs;

	TimestampDifference(GetCurrentTimestamp(), t, &secs, &usecs);
	return secs * 1000 + (usecs + 999) / 1000;
}

void
claude_http_pump(ClaudeHttpPump *pump)
{
	Engine	   *e = engine_get();
	WaitEventSet *volatile set = NULL;
	PumpEntry  *volatile waiting = NULL;	/* not in flight: new or backing off */
	volatile int active = 0;
	bool		exhausted = false;
	int			concurrency = Max(1, Min(pump->concurrency, MAX_SLOTS));
	WaitEvent  *events = palloc(sizeof(WaitEvent) * (MAX_WATCHED_SOCKETS + 2));

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

	PG_TRY();
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

			/* start what may start: due retries first, then new requests */
			for (link = (PumpEntry **) &waiting; *link && active < concurrency;)
			{
				PumpEntry  *pe = *link;

				if (pe->not_before <= now)
				{
					*link = pe->next;
					pump_start(e, pe);
					active++;
				}
				else
					link = &pe->next;
			}
			while (active < concurrency && !exhausted)
			{
				ClaudeHttpRequest *req;
				void	   *tag;
				PumpEntry  *pe;

				if (!pump->next(pump->arg, &req, &tag))
				{
					exhausted = true;
					break;
				}
				pe = palloc0(sizeof(PumpEntry));
				pe->req = req;
				pe->tag = tag;
				pump_start(e, pe);
				active++;
			}
			if (active == 0 && waiting == NULL)
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
				active--;
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
					req->refresh_credentials(req->prepare_arg);
					pe->attempt++;
					pe->not_before = 0;
					pe->next = waiting;
					waiting = pe;
				}
				else if (pe->attempt < max_retries &&
						 (verdict == CLAUDE_RETRY || verdict == CLAUDE_RETRY_THROTTLED))
				{
					pe->attempt++;
					pe->not_before = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																 claude_retry_backoff_ms(pe->attempt, verdict == CLAUDE_RETRY_THROTTLED,
																						 pg_prng_double(&pg_global_prng_state)));
					ereport(DEBUG1,
							(errmsg_internal("pg_claude: retrying after %s (attempt %d of %d)",
											 pe->resp.curl_code != CURLE_OK ? pe->resp.curl_error :
											 pe->resp.error_type[0] ? pe->resp.error_type : "HTTP error",
											 pe->attempt + 1, max_retries + 1)));
					pe->next = waiting;
					waiting = pe;
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
			for (link = (PumpEntry **) &waiting; *link; link = &(*link)->next)
				if (earliest == 0 || (*link)->not_before < earliest)
					earliest = (*link)->not_before;
			if (active < concurrency && ((waiting && earliest <= now) || (!exhausted)))
				continue;
			if (active == 0 && waiting == NULL)
				break;

			if (e->watched_changed || set == NULL)
			{
				if (set != NULL)
					FreeWaitEventSet(set);
				set = NULL;
				set = build_wait_set(e);
			}

			timeout_ms = 1000;	/* nothing pending: recheck soon anyway */
			if (e->timer_armed)
				timeout_ms = Min(timeout_ms, ms_until(e->timer_deadline));
			if (waiting && active < concurrency)
				timeout_ms = Min(timeout_ms, ms_until(earliest));
			timeout_ms = Max(timeout_ms, 0);

			nevents = WaitEventSetWait(set, timeout_ms, events, MAX_WATCHED_SOCKETS + 2,
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
		}
	}
	PG_CATCH();
	{
		int			i;

		/*
		 * Cancelled (or failed) with requests in flight: they may well have
		 * reached the endpoint, so they are attempts to record; then detach
		 * them, which discards their half-used connections.
		 */
		for (i = 0; i < MAX_SLOTS; i++)
		{
			Slot	   *s = &e->slots[i];
			PumpEntry  *pe = (PumpEntry *) s->entry;

			if (pe == NULL)
				continue;
			if (pe->req->on_attempt)
			{
				pe->resp.interrupted = true;
				pe->resp.retries = pe->attempt;
				pe->resp.curl_code = CURLE_ABORTED_BY_CALLBACK;
				pe->req->on_attempt(pe->req->prepare_arg, &pe->resp, pe->attempt);
			}
			slot_release(e, s, true);
		}
		if (set != NULL)
			FreeWaitEventSet(set);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (set != NULL)
		FreeWaitEventSet(set);
	pfree(events);
}

void
claude_http_request_init(ClaudeHttpRequest *req, const char *method, const char *url)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->url = url;
	req->timeout_ms = -1;
	req->connect_timeout_ms = -1;
	req->max_retries = -1;
}

struct curl_slist *
claude_http_append_header(struct curl_slist *list, const char *line)
{
	struct curl_slist *grown = curl_slist_append(list, line);

	if (grown == NULL)
	{
		curl_slist_free_all(list);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	}
	return grown;
}

/* prepare callback for claude_http_fixed_headers: copy the fixed lines. */
static struct curl_slist *
prepare_fixed_headers(void *arg, int attempt, const ClaudeHttpResponse *prev)
{
	const char *const *lines = (const char *const *) arg;
	struct curl_slist *list = NULL;

	for (; lines && *lines; lines++)
		list = claude_http_append_header(list, *lines);
	/* never wait for "100 Continue" */
	return claude_http_append_header(list, "Expect:");
}

void
claude_http_fixed_headers(ClaudeHttpRequest *req, const char *const *headers)
{
	req->prepare = prepare_fixed_headers;
	req->prepare_arg = (void *) headers;
}

/* The pump of one request behind claude_http_execute. */
typedef struct SingleState
{
	ClaudeHttpRequest *req;
	ClaudeHttpResponse *resp;
	bool		given;
} SingleState;

static bool
single_next(void *arg, ClaudeHttpRequest **req, void **tag)
{
	SingleState *st = (SingleState *) arg;

	if (st->given)
		return false;
	st->given = true;
	*req = st->req;
	*tag = NULL;
	return true;
}

static void
single_done(void *arg, void *tag, ClaudeHttpResponse *resp)
{
	SingleState *st = (SingleState *) arg;

	/* take the response, body included */
	*st->resp = *resp;
	resp->body = NULL;
}

void
claude_http_execute(const ClaudeHttpRequest *req, ClaudeHttpResponse *resp)
{
	SingleState st;
	ClaudeHttpPump pump;

	memset(resp, 0, sizeof(*resp));
	st.req = (ClaudeHttpRequest *) req;
	st.resp = resp;
	st.given = false;
	pump.concurrency = 1;
	pump.next = single_next;
	pump.done = single_done;
	pump.arg = &st;
	claude_http_pump(&pump);
}

void
claude_http_counters(int64 *requests, int64 *connections)
{
	*requests = requests_sent;
	*connections = connections_opened;
}
