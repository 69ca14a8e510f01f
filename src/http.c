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
 * the latch) end a request in flight at once instead of at the next
 * progress callback.  The multi and easy handles are created once and
 * kept, so keep-alive connections and TLS sessions are reused across
 * calls and statements.
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
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "guc.h"
#include "http.h"

#define CLAUDE_USER_AGENT "pg_claude/" EXTVERSION
#define MAX_RESPONSE_BYTES (64 * 1024 * 1024)
#define MAX_WATCHED_SOCKETS 64

/* Backoff: AWS SDK "standard" retry mode bases, capped at 20 s. */
#define BACKOFF_BASE_MS			100
#define BACKOFF_THROTTLE_BASE_MS 500
#define BACKOFF_CAP_MS			20000

/*
 * AWS error codes that are worth another attempt, whatever the status
 * (botocore's standard retry mode throttling and transient lists, plus
 * Bedrock's ModelNotReadyException, which AWS documents as retried by the
 * SDKs).
 */
static const char *const retryable_error_codes[] = {
	"ThrottlingException",
	"Throttling",
	"TooManyRequestsException",
	"RequestLimitExceeded",
	"ServiceUnavailableException",
	"InternalServerException",
	"ModelNotReadyException",
	"RequestTimeout",
	"RequestTimeoutException",
	"PriorRequestNotComplete",
};

/* Throttling codes get the longer backoff base. */
static const char *const throttling_error_codes[] = {
	"ThrottlingException",
	"Throttling",
	"TooManyRequestsException",
	"RequestLimitExceeded",
};

/* HTTP statuses retried regardless of the error code. */
static const long retryable_statuses[] = {429, 500, 502, 503, 504};

/* Transport failures retried: the exchange broke, not the request. */
static const CURLcode retryable_curl_codes[] = {
	CURLE_COULDNT_RESOLVE_HOST,
	CURLE_COULDNT_CONNECT,
	CURLE_OPERATION_TIMEDOUT,
	CURLE_SEND_ERROR,
	CURLE_RECV_ERROR,
	CURLE_GOT_NOTHING,
	CURLE_PARTIAL_FILE,
	CURLE_HTTP2,
	CURLE_HTTP2_STREAM,
	CURLE_SSL_CONNECT_ERROR,
};

/* Long-lived handles: the connection cache belongs to the multi handle. */
static CURLM *curl_multi = NULL;
static CURL *curl_easy = NULL;
static const char *default_cainfo = NULL;
static const char *default_capath = NULL;

/* Backend-lifetime counters, shown by claude_http_stats(). */
static int64 requests_sent = 0;
static int64 connections_opened = 0;

/* Sockets libcurl asked us to watch, maintained by the socket callback. */
typedef struct WatchedSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN / OUT / INOUT */
} WatchedSocket;

static WatchedSocket watched[MAX_WATCHED_SOCKETS];
static int	nwatched = 0;
static bool watched_changed = false;
static bool watched_overflow = false;

/* libcurl's single timer, maintained by the timer callback. */
static bool timer_armed = false;
static TimestampTz timer_deadline = 0;

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
	char		request_id[128];
	char		error_type[128];
	char		content_type[128];
	long		input_tokens;
	long		output_tokens;
	long		cache_read_tokens;
	long		cache_write_tokens;
	char		errbuf[CURL_ERROR_SIZE];
} TransferState;

static TransferState xfer;

/*
 * Body writer: grows a malloc'd buffer, refusing bodies over the limit by
 * returning a short count, which makes libcurl abort the transfer.
 */
static size_t
write_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	size_t		n = size * nmemb;

	if (xfer.len + n > MAX_RESPONSE_BYTES)
	{
		xfer.too_large = true;
		return 0;
	}
	if (xfer.len + n + 1 > xfer.cap)
	{
		size_t		newcap = Max(xfer.cap * 2, xfer.len + n + 1);
		char	   *grown;

		newcap = Max(newcap, 8192);

		/*
		 * Not realloc: responses can carry credentials (STS, IMDS), and
		 * realloc would leave copies behind.  Copy, wipe, free.
		 */
		grown = malloc(newcap);
		if (grown == NULL)
		{
			xfer.out_of_memory = true;
			return 0;
		}
		if (xfer.data)
		{
			memcpy(grown, xfer.data, xfer.len);
			explicit_bzero(xfer.data, xfer.cap);
			free(xfer.data);
		}
		xfer.data = grown;
		xfer.cap = newcap;
	}
	memcpy(xfer.data + xfer.len, ptr, n);
	xfer.len += n;
	xfer.data[xfer.len] = '\0';
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
 * Header reader: remembers the AWS request id, error type and content
 * type.  A new status line (after "100 Continue", say) starts afresh.
 */
static size_t
read_header(char *buffer, size_t size, size_t nitems, void *userdata)
{
	size_t		n = size * nitems;
	const char *colon;
	size_t		namelen;

	if (n >= 5 && strncmp(buffer, "HTTP/", 5) == 0)
	{
		xfer.request_id[0] = xfer.error_type[0] = xfer.content_type[0] = '\0';
		xfer.input_tokens = xfer.output_tokens = -1;
		xfer.cache_read_tokens = xfer.cache_write_tokens = -1;
		return n;
	}
	colon = memchr(buffer, ':', n);
	if (colon == NULL)
		return n;
	namelen = colon - buffer;

#define HEADER_IS(name) (namelen == strlen(name) && pg_strncasecmp(buffer, name, namelen) == 0)
	if (HEADER_IS("x-amzn-RequestId") || HEADER_IS("x-amz-request-id"))
		copy_header_value(xfer.request_id, sizeof(xfer.request_id),
						  colon + 1, n - namelen - 1);
	else if (HEADER_IS("x-amzn-ErrorType"))
	{
		char	   *sep;

		copy_header_value(xfer.error_type, sizeof(xfer.error_type),
						  colon + 1, n - namelen - 1);
		/* "ValidationException:http://internal.amazon.com/..." */
		sep = strchr(xfer.error_type, ':');
		if (sep)
			*sep = '\0';
	}
	else if (HEADER_IS("Content-Type"))
		copy_header_value(xfer.content_type, sizeof(xfer.content_type),
						  colon + 1, n - namelen - 1);
	else if (HEADER_IS("X-Amzn-Bedrock-Input-Token-Count"))
	{
		char		num[32];

		copy_header_value(num, sizeof(num), colon + 1, n - namelen - 1);
		xfer.input_tokens = strtol(num, NULL, 10);
	}
	else if (HEADER_IS("X-Amzn-Bedrock-Output-Token-Count"))
	{
		char		num[32];

		copy_header_value(num, sizeof(num), colon + 1, n - namelen - 1);
		xfer.output_tokens = strtol(num, NULL, 10);
	}
	else if (HEADER_IS("X-Amzn-Bedrock-Cache-Read-Input-Token-Count"))
	{
		char		num[32];

		copy_header_value(num, sizeof(num), colon + 1, n - namelen - 1);
		xfer.cache_read_tokens = strtol(num, NULL, 10);
	}
	else if (HEADER_IS("X-Amzn-Bedrock-Cache-Write-Input-Token-Count"))
	{
		char		num[32];

		copy_header_value(num, sizeof(num), colon + 1, n - namelen - 1);
		xfer.cache_write_tokens = strtol(num, NULL, 10);
	}
#undef HEADER_IS
	return n;
}

/* libcurl tells us which sockets to watch, and for what. */
static int
socket_callback(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	int			i;

	for (i = 0; i < nwatched; i++)
		if (watched[i].fd == fd)
			break;

	if (what == CURL_POLL_REMOVE)
	{
		if (i < nwatched)
		{
			watched[i] = watched[nwatched - 1];
			nwatched--;
			watched_changed = true;
		}
		return 0;
	}
	if (i == nwatched)
	{
		if (nwatched == MAX_WATCHED_SOCKETS)
		{
			watched_overflow = true;
			return -1;
		}
		nwatched++;
	}
	if (watched[i].fd != fd || watched[i].what != what || i == nwatched - 1)
		watched_changed = true;
	watched[i].fd = fd;
	watched[i].what = what;
	return 0;
}

/* libcurl's one timer: when it next wants curl_multi_socket_action(TIMEOUT). */
static int
timer_callback(CURLM *multi, long timeout_ms, void *userp)
{
	if (timeout_ms < 0)
		timer_armed = false;
	else
	{
		timer_armed = true;
		timer_deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	}
	return 0;
}

/*
 * Create the handles on first use.  They are never freed: the backend's
 * exit releases them, and keeping them is what keeps connections alive.
 */
static void
http_setup_handles(void)
{
	curl_version_info_data *info;

	if (curl_easy != NULL)
		return;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialise libcurl")));
	info = curl_version_info(CURLVERSION_NOW);
	default_cainfo = info->cainfo;
	default_capath = info->capath;

	curl_multi = curl_multi_init();
	if (curl_multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	curl_multi_setopt(curl_multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
	curl_multi_setopt(curl_multi, CURLMOPT_TIMERFUNCTION, timer_callback);

	curl_easy = curl_easy_init();
	if (curl_easy == NULL)
	{
		curl_multi_cleanup(curl_multi);
		curl_multi = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	}
}

/*
 * Options that hold for every request.  Set on each call because some
 * (timeouts, CA file) follow settings that may change between calls.
 */
static void
http_set_options(const ClaudeHttpRequest *req, struct curl_slist *headers)
{
	CURL	   *h = curl_easy;

	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075700
	/* do not wait for a DNS resolver thread when a cancel detaches us */
	curl_easy_setopt(h, CURLOPT_QUICK_EXIT, 1L);
#endif
	curl_easy_setopt(h, CURLOPT_USERAGENT, CLAUDE_USER_AGENT);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
					 (long) (req->timeout_ms >= 0 ? req->timeout_ms : claude_timeout_ms));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
					 (long) (req->connect_timeout_ms >= 0 ? req->connect_timeout_ms :
							 claude_connect_timeout_ms));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, read_header);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, xfer.errbuf);

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

/* A WaitEventSet for the latch, postmaster death and libcurl's sockets. */
static WaitEventSet *
build_wait_set(void)
{
	WaitEventSet *set = CreateWaitEventSet(CurrentMemoryContext, nwatched + 2);
	int			i;

	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	/* a single-user backend has no postmaster to watch */
	if (IsUnderPostmaster)
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (i = 0; i < nwatched; i++)
	{
		uint32		events = 0;

		if (watched[i].what & CURL_POLL_IN)
			events |= WL_SOCKET_READABLE;
		if (watched[i].what & CURL_POLL_OUT)
			events |= WL_SOCKET_WRITEABLE;
		AddWaitEventToSet(set, events, watched[i].fd, NULL, NULL);
	}
	watched_changed = false;
	return set;
}

/* Collect a finished transfer's result code; true when ours is done. */
static bool
transfer_finished(CURLcode *code)
{
	CURLMsg    *msg;
	int			left;
	bool		done = false;

	while ((msg = curl_multi_info_read(curl_multi, &left)) != NULL)
	{
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == curl_easy)
		{
			*code = msg->data.result;
			done = true;
		}
	}
	return done;
}

/*
 * Drive one transfer to completion, waiting on the latch and libcurl's
 * sockets.  Interrupts are serviced on every wake; an ERROR from them
 * (cancel, statement_timeout, terminate) unwinds through PG_FINALLY, which
 * detaches the transfer so its half-used connection is discarded, while
 * the handles and the other cached connections survive.
 */
static void
http_perform_once(const ClaudeHttpRequest *req, struct curl_slist *headers,
				  ClaudeHttpResponse *resp)
{
	WaitEventSet *volatile set = NULL;
	volatile bool attached = false;

	http_setup_handles();
	memset(&xfer, 0, sizeof(xfer));
	xfer.input_tokens = xfer.output_tokens = -1;
	xfer.cache_read_tokens = xfer.cache_write_tokens = -1;
	nwatched = 0;
	watched_changed = true;
	watched_overflow = false;
	timer_armed = false;

	PG_TRY();
	{
		int			running;
		CURLcode	code = CURLE_OK;
		bool		done = false;
		WaitEvent	events[MAX_WATCHED_SOCKETS + 2];
		curl_off_t	total_us = 0;
		long		status = 0;
		long		connects = 0;

		http_set_options(req, headers);
		if (curl_multi_add_handle(curl_multi, curl_easy) != CURLM_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not start an HTTP transfer")));
		attached = true;
		requests_sent++;

		while (!done)
		{
			long		timeout_ms;
			int			nevents;
			int			i;

			if (timer_armed && GetCurrentTimestamp() >= timer_deadline)
			{
				timer_armed = false;
				curl_multi_socket_action(curl_multi, CURL_SOCKET_TIMEOUT, 0, &running);
				if (transfer_finished(&code))
					break;
			}
			if (watched_overflow)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("too many sockets in one HTTP transfer")));

			if (watched_changed || set == NULL)
			{
				if (set != NULL)
					FreeWaitEventSet(set);
				set = NULL;
				set = build_wait_set();
			}

			if (timer_armed)
			{
				long		secs;
				int			usecs;

				TimestampDifference(GetCurrentTimestamp(), timer_deadline, &secs, &usecs);
				timeout_ms = secs * 1000 + (usecs + 999) / 1000;
			}
			else
				timeout_ms = 1000;	/* nothing pending: recheck soon anyway */

			nevents = WaitEventSetWait(set, timeout_ms, events, lengthof(events),
									   PG_WAIT_EXTENSION);
			for (i = 0; i < nevents && !done; i++)
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
					curl_multi_socket_action(curl_multi, ev->fd, mask, &running);
					done = transfer_finished(&code);
				}
			}
		}

		curl_easy_getinfo(curl_easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(curl_easy, CURLINFO_NUM_CONNECTS, &connects);
		curl_easy_getinfo(curl_easy, CURLINFO_TOTAL_TIME_T, &total_us);

		resp->status = status;
		resp->curl_code = code;
		resp->connects += connects;
		connections_opened += connects;
		resp->latency_ms = total_us / 1000.0;
		if (code == CURLE_WRITE_ERROR && xfer.too_large)
			snprintf(resp->curl_error, sizeof(resp->curl_error),
					 "response larger than %d bytes", MAX_RESPONSE_BYTES);
		else if (code == CURLE_WRITE_ERROR && xfer.out_of_memory)
			snprintf(resp->curl_error, sizeof(resp->curl_error), "out of memory");
		else if (code != CURLE_OK)
			strlcpy(resp->curl_error, xfer.errbuf[0] ? xfer.errbuf : curl_easy_strerror(code),
					sizeof(resp->curl_error));
		else
			resp->curl_error[0] = '\0';
		strlcpy(resp->request_id, xfer.request_id, sizeof(resp->request_id));
		strlcpy(resp->error_type, xfer.error_type, sizeof(resp->error_type));
		strlcpy(resp->content_type, xfer.content_type, sizeof(resp->content_type));
		resp->input_tokens = xfer.input_tokens;
		resp->output_tokens = xfer.output_tokens;
		resp->cache_read_tokens = xfer.cache_read_tokens;
		resp->cache_write_tokens = xfer.cache_write_tokens;
		resp->body = palloc(xfer.len + 1);
		if (xfer.len > 0)
			memcpy(resp->body, xfer.data, xfer.len);
		resp->body[xfer.len] = '\0';
		resp->body_len = xfer.len;
	}
	PG_FINALLY();
	{
		if (attached)
			curl_multi_remove_handle(curl_multi, curl_easy);
		if (set != NULL)
			FreeWaitEventSet(set);
		if (xfer.data)
			explicit_bzero(xfer.data, xfer.cap);
		free(xfer.data);
		xfer.data = NULL;
		xfer.len = xfer.cap = 0;
	}
	PG_END_TRY();
}

bool
claude_http_retryable(const ClaudeHttpResponse *resp)
{
	int			i;

	if (resp->curl_code != CURLE_OK)
	{
		for (i = 0; i < (int) lengthof(retryable_curl_codes); i++)
			if (resp->curl_code == retryable_curl_codes[i])
				return true;
		return false;
	}
	if (resp->status >= 200 && resp->status < 300)
		return false;
	for (i = 0; i < (int) lengthof(retryable_error_codes); i++)
		if (strcmp(resp->error_type, retryable_error_codes[i]) == 0)
			return true;
	for (i = 0; i < (int) lengthof(retryable_statuses); i++)
		if (resp->status == retryable_statuses[i])
			return true;
	return false;
}

static bool
is_throttle(const ClaudeHttpResponse *resp)
{
	int			i;

	if (resp->status == 429)
		return true;
	for (i = 0; i < (int) lengthof(throttling_error_codes); i++)
		if (strcmp(resp->error_type, throttling_error_codes[i]) == 0)
			return true;
	return false;
}

/*
 * Capped exponential backoff with full jitter: a uniformly random wait in
 * [0, min(cap, base * 2^(attempt-1))].  The jitter is a parameter so tests
 * can pin it.
 */
long
claude_http_backoff_ms(int attempt, bool throttled, double jitter)
{
	double		base = throttled ? BACKOFF_THROTTLE_BASE_MS : BACKOFF_BASE_MS;
	double		ceiling = base * pow(2.0, Max(attempt - 1, 0));

	if (ceiling > BACKOFF_CAP_MS)
		ceiling = BACKOFF_CAP_MS;
	return (long) (jitter * ceiling);
}

/* Sleep on the latch, so a cancel during backoff is as quick as in flight. */
static void
interruptible_sleep(long ms)
{
	TimestampTz end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	for (;;)
	{
		long		secs;
		int			usecs;
		long		left;

		CHECK_FOR_INTERRUPTS();
		TimestampDifference(GetCurrentTimestamp(), end, &secs, &usecs);
		left = secs * 1000 + usecs / 1000;
		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
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

static struct curl_slist *
append_or_fail(struct curl_slist *list, const char *line)
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
		list = append_or_fail(list, *lines);
	/* never wait for "100 Continue" */
	return append_or_fail(list, "Expect:");
}

void
claude_http_fixed_headers(ClaudeHttpRequest *req, const char *const *headers)
{
	req->prepare = prepare_fixed_headers;
	req->prepare_arg = (void *) headers;
}

void
claude_http_execute(const ClaudeHttpRequest *req, ClaudeHttpResponse *resp)
{
	int			attempt;
	int			max_retries = req->max_retries >= 0 ? req->max_retries : claude_max_retries;
	bool		refreshed = false;

	memset(resp, 0, sizeof(*resp));
	for (attempt = 0;; attempt++)
	{
		struct curl_slist *volatile headers;

		headers = req->prepare(req->prepare_arg, attempt, attempt > 0 ? resp : NULL);
		if (resp->body)
		{
			explicit_bzero(resp->body, resp->body_len);
			pfree(resp->body);
			resp->body = NULL;
		}
		PG_TRY();
		{
			http_perform_once(req, headers, resp);
		}
		PG_CATCH();
		{
			/*
			 * Cancelled in flight: the request may well have reached the
			 * endpoint, so it is still an attempt to record.
			 */
			free_headers(headers);
			headers = NULL;
			if (req->on_attempt)
			{
				resp->interrupted = true;
				resp->retries = attempt;
				resp->curl_code = CURLE_ABORTED_BY_CALLBACK;
				req->on_attempt(req->prepare_arg, resp, attempt);
			}
			PG_RE_THROW();
		}
		PG_END_TRY();
		free_headers(headers);

		resp->retries = attempt;
		if (req->on_attempt)
			req->on_attempt(req->prepare_arg, resp, attempt);

		/*
		 * Expired temporary credentials: refresh and try again at once, but
		 * only once, and whatever the retry budget (it is not the
		 * endpoint's fault).
		 */
		if (req->refresh_credentials && !refreshed &&
			strcmp(resp->error_type, "ExpiredTokenException") == 0)
		{
			refreshed = true;
			req->refresh_credentials(req->prepare_arg);
			continue;
		}
		if (attempt >= max_retries || !claude_http_retryable(resp))
			break;

		ereport(DEBUG1,
				(errmsg_internal("pg_claude: retrying after %s (attempt %d of %d)",
								 resp->curl_code != CURLE_OK ? resp->curl_error :
								 resp->error_type[0] ? resp->error_type : "HTTP error",
								 attempt + 1, max_retries + 1)));
		interruptible_sleep(claude_http_backoff_ms(attempt + 1, is_throttle(resp),
												   pg_prng_double(&pg_global_prng_state)));
	}
}

void
claude_http_counters(int64 *requests, int64 *connections)
{
	*requests = requests_sent;
	*connections = connections_opened;
}
