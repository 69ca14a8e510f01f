/*-------------------------------------------------------------------------
 *
 * http_request.c
 *	  Building a transport request (defaults, header lists, fixed headers)
 *	  and sending one on its own: claude_http_execute is a pump of one.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "http.h"

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
	ClaudeHttpPump pump = {
		.concurrency = 1,
		.next = single_next,
		.done = single_done,
		.arg = &st,
	};

	memset(resp, 0, sizeof(*resp));
	st.req = (ClaudeHttpRequest *) req;
	st.resp = resp;
	st.given = false;
	claude_http_pump(&pump);
}
