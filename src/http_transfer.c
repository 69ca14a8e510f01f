/*-------------------------------------------------------------------------
 *
 * http_transfer.c
 *	  One libcurl transfer: the easy handle's options (timeouts, TLS, the
 *	  method and body), the body writer, the response headers a request
 *	  asked to keep, and the outcome copied into a ClaudeHttpResponse.
 *
 * These callbacks run inside libcurl, so they never ereport (a longjmp
 * through libcurl would corrupt it): they record failures in plain
 * malloc'd state, and http_pump.c raises them once libcurl has returned.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "guc.h"
#include "http_protocol.h"
#include "http_transfer.h"

#define CLAUDE_USER_AGENT "pg_claude/" EXTVERSION
#define MAX_RESPONSE_BYTES (64 * 1024 * 1024)

static const char *default_cainfo = NULL;
static const char *default_capath = NULL;
static bool curl_ready = false;

/*
 * Body writer: grows a buffer in the transfer's memory context (never
 * throwing: MCXT_ALLOC_NO_OOM, and the limit is far below MaxAllocSize),
 * refusing bodies over the limit by returning a short count, which makes
 * libcurl abort the transfer.  The buffer becomes the response's body.
 */
static size_t
write_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	ClaudeHttpTransfer *xs = (ClaudeHttpTransfer *) userdata;
	size_t		n = size * nmemb;

	/* a streamed 2xx goes to the request's sink, not the buffer */
	if (xs->stream_data)
	{
		if (xs->status_seen == 0)
			curl_easy_getinfo(xs->easy, CURLINFO_RESPONSE_CODE, &xs->status_seen);
		if (xs->status_seen >= 200 && xs->status_seen < 300)
		{
			long		secs;
			int			usecs;

			TimestampDifference(xs->began, GetCurrentTimestamp(), &secs, &usecs);
			if (!xs->stream_data(xs->stream_arg, ptr, n, secs * 1000.0 + usecs / 1000.0))
			{
				xs->stream_refused = true;
				return 0;
			}
			return n;
		}
	}
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
		grown = MemoryContextAllocExtended(xs->cxt, newcap, MCXT_ALLOC_NO_OOM);
		if (grown == NULL)
		{
			xs->out_of_memory = true;
			return 0;
		}
		if (xs->data)
		{
			memcpy(grown, xs->data, xs->len);
			explicit_bzero(xs->data, xs->cap);
			pfree(xs->data);
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
	ClaudeHttpTransfer *xs = (ClaudeHttpTransfer *) userdata;
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

/*
 * libcurl's global state, set up on first use.  Its default CA locations
 * are kept because claude.ca_file adds to them rather than replacing all.
 */
void
claude_http_curl_init(void)
{
	curl_version_info_data *info;

	if (curl_ready)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialise libcurl")));
	info = curl_version_info(CURLVERSION_NOW);
	default_cainfo = info->cainfo;
	default_capath = info->capath;
	curl_ready = true;
}

/*
 * A missing or unreadable claude.ca_file is said plainly, not as a
 * certificate libcurl could not verify (it may have gone since SET).
 */
void
claude_http_check_ca_file(const char *url)
{
	if (claude_ca_file && claude_ca_file[0] && pg_strncasecmp(url, "https:", 6) == 0)
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
}

/*
 * Options that hold for every request.  Set on each start because some
 * (timeouts, CA file) follow settings that may change between calls.
 */
void
claude_http_transfer_begin(CURL *h, ClaudeHttpTransfer *xs, struct curl_slist *headers,
						   const ClaudeHttpRequest *req)
{
	long		http_version;
	bool		pipewait;

	memset(xs, 0, sizeof(*xs));
	xs->cxt = CurrentMemoryContext;
	xs->capture = req->capture_headers;
	xs->easy = h;
	xs->stream_data = req->stream_data;
	xs->stream_arg = req->stream_arg;
	xs->began = GetCurrentTimestamp();

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
	/* h2 over TLS; wait to share a connection only where it may multiplex */
	claude_http_protocol_choose(req->url, &http_version, &pipewait);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, http_version);
	curl_easy_setopt(h, CURLOPT_PIPEWAIT, pipewait ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
					 (long) (req->timeout_ms >= 0 ? req->timeout_ms : claude_timeout_ms));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
					 (long) (req->connect_timeout_ms >= 0 ? req->connect_timeout_ms :
							 claude_connect_timeout_ms));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, xs);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, read_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, xs);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, xs->errbuf);

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
	else if (strcmp(req->method, "HEAD") == 0)
	{
		/* S3 HeadBucket; HTTPGET and POST above clear NOBODY again */
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
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

long
claude_http_transfer_outcome(CURL *easy, ClaudeHttpTransfer *xs, CURLcode code,
							 ClaudeHttpResponse *resp)
{
	long		status = 0;
	long		connects = 0;
	curl_off_t	total_us = 0;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
	if (code == CURLE_OK && status > 0)
	{
		long		version = 0;
		char	   *url = NULL;

		curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
		curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url);
		if (url)
			claude_http_protocol_learn(url, version);
	}

	resp->status = status;
	resp->curl_code = code;
	resp->connects += connects;
	resp->latency_ms = total_us / 1000.0;
	if (code == CURLE_WRITE_ERROR && xs->too_large)
		snprintf(resp->curl_error, sizeof(resp->curl_error),
				 "response larger than %d bytes", MAX_RESPONSE_BYTES);
	else if (code == CURLE_WRITE_ERROR && xs->stream_refused)
		snprintf(resp->curl_error, sizeof(resp->curl_error), "event stream refused");
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
	resp->ttft_ms = -1;
	resp->stream_error[0] = '\0';
	resp->partial = NULL;
	return connects;
}

void
claude_http_transfer_body(ClaudeHttpTransfer *xs, ClaudeHttpResponse *resp)
{
	if (xs->data == NULL)
		resp->body = MemoryContextAllocZero(xs->cxt, 1);
	else
		resp->body = xs->data;	/* handed over, not copied */
	resp->body_len = xs->len;
	xs->data = NULL;
	xs->len = xs->cap = 0;
}

/* Bodies and header values are wiped, not just freed: they may carry secrets. */
void
claude_http_transfer_release(ClaudeHttpTransfer *xs, struct curl_slist *headers)
{
	if (headers)
		free_headers(headers);
	if (xs->data)
	{
		explicit_bzero(xs->data, xs->cap);
		pfree(xs->data);
	}
	memset(xs, 0, sizeof(*xs));
}
