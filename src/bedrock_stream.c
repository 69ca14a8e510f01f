/*-------------------------------------------------------------------------
 *
 * bedrock_stream.c
 *	  InvokeModelWithResponseStream for InvokeModel calls: libcurl's write
 *	  callback feeds the event-stream decoder (event_stream.c); each
 *	  "chunk" event's base64 "bytes" is one Anthropic streaming event,
 *	  kept as it arrives; when the transfer ends the events are assembled
 *	  into the Messages body InvokeModel would have returned, so every task
 *	  reads a streamed answer unchanged (doc/architecture.md, "Streaming").
 *
 * The write callback runs inside libcurl and must never ereport: the
 * decoder and the event buffer use malloc, freed by a reset callback of
 * the stream's memory context (so an error that unwinds the call frees
 * them too), and nothing there parses JSON (cJSON allocates with palloc).
 * Parsing happens after the transfer (stream_end) or between the steps of
 * claude_complete_stream (claude_stream_take_text).
 *
 * Time to first token is the arrival of the first content_block_delta:
 * the first piece of the answer a reader could show, measured on the
 * transport's clock, the one latency_ms is measured by.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "common/base64.h"
#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "anthropic.h"
#include "bedrock_stream.h"
#include "event_stream.h"
#include "guc.h"
#include "pg_compat.h"

struct ClaudeStream
{
	MemoryContext cxt;			/* the call's: freed with it */
	EsDecoder	dec;
	bool		dec_ready;
	char	   *events;			/* decoded Anthropic events, NUL-separated */
	size_t		events_len;
	size_t		events_cap;
	size_t		events_taken;	/* claude_stream_take_text's position */
	double		ttft_ms;		/* -1 until the first content delta */
	bool		failed;			/* the stream could not be decoded */
	char		error[160];
	char		exception[64];	/* ":exception-type" of an exception event */
	char	   *exception_body; /* its payload, NUL-terminated */
	size_t		exception_len;
};

/* In-stream exceptions (ResponseStream members) and their HTTP equivalents. */
static const struct
{
	const char *event;
	const char *code;
	long		status;
}			stream_exceptions[] =
{
	{"throttlingException", "ThrottlingException", 429},
	{"modelStreamErrorException", "ModelStreamErrorException", 424},
	{"validationException", "ValidationException", 400},
	{"internalServerException", "InternalServerException", 500},
	{"serviceUnavailableException", "ServiceUnavailableException", 503},
	{"modelTimeoutException", "ModelTimeoutException", 408},
};

bool
claude_stream_wanted(void)
{
	/* auto streams whenever it costs nothing, which is always for InvokeModel */
	return claude_stream_mode != CLAUDE_STREAM_OFF;
}

/* The malloc'd buffers, when the stream's context goes (error or not). */
static void
stream_free(void *arg)
{
	ClaudeStream *st = (ClaudeStream *) arg;

	if (st->dec_ready)
		es_decoder_free(&st->dec);
	st->dec_ready = false;
	free(st->events);
	st->events = NULL;
	st->events_len = st->events_cap = st->events_taken = 0;
	free(st->exception_body);
	st->exception_body = NULL;
}

static void
stream_fail(ClaudeStream *st, const char *what)
{
	if (!st->failed)
		strlcpy(st->error, what, sizeof(st->error));
	st->failed = true;
}

/* Room for n more bytes in the event buffer (malloc: no ereport here). */
static bool
events_reserve(ClaudeStream *st, size_t n)
{
	size_t		cap;
	char	   *grown;

	if (st->events_len + n <= st->events_cap)
		return true;
	cap = Max(st->events_cap * 2, st->events_len + n);
	cap = Max(cap, 4096);
	if (cap > ES_DEFAULT_MAX_MESSAGE * 4)
		return false;
	grown = realloc(st->events, cap);
	if (grown == NULL)
		return false;
	st->events = grown;
	st->events_cap = cap;
	return true;
}

static const EsHeader *
find_header(const EsMessage *m, const char *name)
{
	size_t		len = strlen(name);

	for (size_t i = 0; i < m->nheaders; i++)
		if (m->headers[i].name_len == len && memcmp(m->headers[i].name, name, len) == 0 &&
			m->headers[i].type == ES_HEADER_STRING)
			return &m->headers[i];
	return NULL;
}

static bool
header_is(const EsHeader *h, const char *value)
{
	return h != NULL && h->value_len == strlen(value) && memcmp(h->value, value, h->value_len) == 0;
}

/* Per-message callback of the decoder: runs inside libcurl, never raises. */
static bool
on_message(const EsMessage *m, void *arg)
{
	ClaudeStream *st = (ClaudeStream *) arg;
	const EsHeader *type = find_header(m, ":message-type");

	if (header_is(type, "event") && header_is(find_header(m, ":event-type"), "chunk"))
	{
		/* {"bytes":"<base64>"}: base64 has no escapes, so a scan finds it */
		const char *p = memmem(m->payload, m->payload_len, "\"bytes\"", 7);
		const char *end = (const char *) m->payload + m->payload_len;
		const char *b64;
		int			n;
		double		elapsed = st->ttft_ms;

		if (p == NULL)
			return true;		/* a chunk without bytes carries nothing */
		p += 7;
		while (p < end && (*p == ' ' || *p == ':' || *p == '\t'))
			p++;
		if (p >= end || *p != '"')
		{
			stream_fail(st, "a chunk event's \"bytes\" is not a string");
			return false;
		}
		b64 = ++p;
		while (p < end && *p != '"')
			p++;
		if (p >= end)
		{
			stream_fail(st, "a chunk event's \"bytes\" is not terminated");
			return false;
		}
		if (!events_reserve(st, pg_b64_dec_len(p - b64) + 1))
		{
			stream_fail(st, "out of memory for the streamed answer");
			return false;
		}
		n = pg_b64_decode(b64, p - b64, (claude_b64_byte *) st->events + st->events_len,
						  st->events_cap - st->events_len - 1);
		if (n < 0)
		{
			stream_fail(st, "a chunk event's \"bytes\" is not base64");
			return false;
		}
		st->events[st->events_len + n] = '\0';
		if (elapsed < 0 && strstr(st->events + st->events_len, "\"content_block_delta\"") != NULL)
			st->ttft_ms = -2;	/* stream_data fills in the time */
		st->events_len += n + 1;
		return true;
	}
	if (header_is(type, "exception"))
	{
		const EsHeader *name = find_header(m, ":exception-type");

		if (name)
		{
			size_t		len = Min(name->value_len, sizeof(st->exception) - 1);

			memcpy(st->exception, name->value, len);
			st->exception[len] = '\0';
		}
		else
			strlcpy(st->exception, "internalServerException", sizeof(st->exception));
		free(st->exception_body);
		st->exception_body = malloc(m->payload_len + 1);
		if (st->exception_body)
		{
			memcpy(st->exception_body, m->payload, m->payload_len);
			st->exception_body[m->payload_len] = '\0';
			st->exception_len = m->payload_len;
		}
		return true;
	}
	return true;				/* other message types: nothing of the answer */
}

/* stream_begin hook: a fresh decoder and buffer for each attempt. */
static void
stream_begin(void *arg, int attempt)
{
	ClaudeStream *st = (ClaudeStream *) arg;

	stream_free(st);
	es_decoder_init(&st->dec, NULL, 0, on_message, st);
	st->dec_ready = true;
	st->ttft_ms = -1;
	st->failed = false;
	st->error[0] = '\0';
	st->exception[0] = '\0';
}

/* stream_data hook: inside libcurl's write callback. */
static bool
stream_data(void *arg, const char *data, size_t len, double elapsed_ms)
{
	ClaudeStream *st = (ClaudeStream *) arg;
	EsError		err;

	if (!st->dec_ready)
		return false;
	err = es_decoder_feed(&st->dec, data, len);
	if (st->ttft_ms == -2)
		st->ttft_ms = elapsed_ms;
	if (err != ES_OK)
	{
		if (err != ES_ERR_CALLBACK)
			stream_fail(st, es_decoder_errmsg(&st->dec));
		return false;
	}
	return true;
}

/* Append a string member's text to a block's member (text, thinking, ...). */
static void
append_member(cJSON *block, const char *member, const cJSON *piece)
{
	cJSON	   *have = cJSON_GetObjectItemCaseSensitive(block, member);
	char	   *joined;

	if (!cJSON_IsString(piece))
		return;
	joined = psprintf("%s%s", cJSON_IsString(have) ? have->valuestring : "", piece->valuestring);
	if (have)
		cJSON_ReplaceItemInObjectCaseSensitive(block, member, cJSON_CreateString(joined));
	else
		cJSON_AddStringToObject(block, member, joined);
	pfree(joined);
}

/*
 * The Messages body the events make: message_start's message, the content
 * blocks with their deltas applied, message_delta's stop reason and usage.
 * NULL when the events are not an answer (no message_start).
 */
static char *
assemble(ClaudeStream *st, ClaudeUsage *usage)
{
	cJSON	   *root = NULL;
	cJSON	   *content = NULL;
	StringInfoData partial[64];
	int			npartial = 0;
	size_t		off = 0;
	char	   *out;

	while (off < st->events_len)
	{
		const char *text = st->events + off;
		cJSON	   *ev = cJSON_Parse(text);
		const cJSON *type = ev ? cJSON_GetObjectItemCaseSensitive(ev, "type") : NULL;
		const char *t = cJSON_IsString(type) ? type->valuestring : "";
		const cJSON *at = ev ? cJSON_GetObjectItemCaseSensitive(ev, "index") : NULL;
		int			index = cJSON_IsNumber(at) ? at->valueint : -1;

		off += strlen(text) + 1;
		if (ev == NULL)
			continue;
		if (strcmp(t, "message_start") == 0)
		{
			cJSON	   *message = cJSON_DetachItemFromObjectCaseSensitive(ev, "message");

			if (root)
				cJSON_Delete(root);
			root = message;
			if (root && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "content")))
				cJSON_AddItemToObject(root, "content", cJSON_CreateArray());
			content = root ? cJSON_GetObjectItemCaseSensitive(root, "content") : NULL;
		}
		else if (content && strcmp(t, "content_block_start") == 0)
		{
			cJSON	   *block = cJSON_DetachItemFromObjectCaseSensitive(ev, "content_block");

			if (block)
				cJSON_AddItemToArray(content, block);
		}
		else if (content && strcmp(t, "content_block_delta") == 0)
		{
			cJSON	   *block = cJSON_GetArrayItem(content, index);
			const cJSON *delta = cJSON_GetObjectItemCaseSensitive(ev, "delta");
			const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(delta, "type");
			const char *d = cJSON_IsString(dtype) ? dtype->valuestring : "";

			if (block == NULL)
				;
			else if (strcmp(d, "text_delta") == 0)
				append_member(block, "text", cJSON_GetObjectItemCaseSensitive(delta, "text"));
			else if (strcmp(d, "thinking_delta") == 0)
				append_member(block, "thinking", cJSON_GetObjectItemCaseSensitive(delta, "thinking"));
			else if (strcmp(d, "signature_delta") == 0)
				append_member(block, "signature", cJSON_GetObjectItemCaseSensitive(delta, "signature"));
			else if (strcmp(d, "input_json_delta") == 0 && index >= 0 && index < (int) lengthof(partial))
			{
				const cJSON *pj = cJSON_GetObjectItemCaseSensitive(delta, "partial_json");

				while (npartial <= index)
					initStringInfo(&partial[npartial++]);
				if (cJSON_IsString(pj))
					appendStringInfoString(&partial[index], pj->valuestring);
			}
		}
		else if (root && strcmp(t, "message_delta") == 0)
		{
			cJSON	   *delta = cJSON_GetObjectItemCaseSensitive(ev, "delta");
			cJSON	   *usage = cJSON_GetObjectItemCaseSensitive(ev, "usage");
			cJSON	   *item;

			cJSON_ArrayForEach(item, delta)
			{
				if (cJSON_GetObjectItemCaseSensitive(root, item->string))
					cJSON_ReplaceItemInObjectCaseSensitive(root, item->string, cJSON_Duplicate(item, true));
				else
					cJSON_AddItemToObject(root, item->string, cJSON_Duplicate(item, true));
			}
			if (cJSON_IsObject(usage))
			{
				cJSON	   *have = cJSON_GetObjectItemCaseSensitive(root, "usage");

				if (!cJSON_IsObject(have))
				{
					cJSON_DeleteItemFromObjectCaseSensitive(root, "usage");
					have = cJSON_AddObjectToObject(root, "usage");
				}
				cJSON_ArrayForEach(item, usage)
				{
					if (cJSON_GetObjectItemCaseSensitive(have, item->string))
						cJSON_ReplaceItemInObjectCaseSensitive(have, item->string, cJSON_Duplicate(item, true));
					else
						cJSON_AddItemToObject(have, item->string, cJSON_Duplicate(item, true));
				}
			}
		}
		cJSON_Delete(ev);
	}
	if (root == NULL)
		return NULL;
	/* a tool_use block's input arrives as JSON text in pieces */
	for (int i = 0; i < npartial; i++)
	{
		cJSON	   *block = cJSON_GetArrayItem(content, i);
		cJSON	   *input;

		if (block == NULL || partial[i].len == 0)
			continue;
		input = cJSON_Parse(partial[i].data);
		if (input)
			cJSON_ReplaceItemInObjectCaseSensitive(block, "input", input);
	}
	out = cJSON_PrintUnformatted(root);
	claude_anthropic_usage_parsed(root, usage);
	cJSON_Delete(root);
	return out;
}

/* Replace resp's body with text (NULL: empty), in the body's own context. */
static void
set_body(ClaudeHttpResponse *resp, const char *text)
{
	MemoryContext cxt = resp->body ? GetMemoryChunkContext(resp->body) : CurrentMemoryContext;

	if (resp->body)
	{
		explicit_bzero(resp->body, resp->body_len);
		pfree(resp->body);
	}
	resp->body = MemoryContextStrdup(cxt, text ? text : "");
	resp->body_len = strlen(resp->body);
}

/* The text of the content deltas in the events from off on. */
static char *
delta_text(ClaudeStream *st, size_t off)
{
	StringInfoData buf;

	initStringInfo(&buf);
	while (off < st->events_len)
	{
		const char *text = st->events + off;
		cJSON	   *ev;

		off += strlen(text) + 1;
		if (strstr(text, "\"text_delta\"") == NULL)
			continue;
		ev = cJSON_Parse(text);
		if (ev)
		{
			const cJSON *delta = cJSON_GetObjectItemCaseSensitive(ev, "delta");
			const cJSON *piece = cJSON_GetObjectItemCaseSensitive(delta, "text");
			const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(delta, "type");

			if (cJSON_IsString(dtype) && strcmp(dtype->valuestring, "text_delta") == 0 &&
				cJSON_IsString(piece))
				appendStringInfoString(&buf, piece->valuestring);
			cJSON_Delete(ev);
		}
	}
	return buf.data;
}

/*
 * stream_end hook: what the attempt's events mean.  A 2xx whose stream
 * held an exception event becomes the HTTP error it stands for (same
 * status, AWS code and message body, so the same SQLSTATE and retry
 * verdict); a stream that would not decode is a 200 with an empty body,
 * which usable() refuses, with the decoder's reason in stream_error.
 */
static void
stream_end(void *arg, ClaudeHttpResponse *resp)
{
	ClaudeStream *st = (ClaudeStream *) arg;
	bool		refused = resp->curl_code == CURLE_WRITE_ERROR && st->failed;
	char	   *body;
	ClaudeUsage usage;

	if (!st->dec_ready || resp->status < 200 || resp->status >= 300)
		return;
	resp->ttft_ms = st->ttft_ms >= 0 ? st->ttft_ms : -1;
	/*
	 * A failed attempt may be retried from the start: claude_stream_take_text
	 * must not hand out the rest of this one's text (what it gave already
	 * stopped the retries, task_stream.c).
	 */
	if (resp->curl_code != CURLE_OK || st->failed || st->exception[0])
		st->events_taken = st->events_len;
	if (resp->curl_code != CURLE_OK && !refused)
	{
		/* cut off (timeout, reset): a transport error; keep what came */
		resp->partial = st->events_len ? delta_text(st, 0) : NULL;
		return;
	}
	if (!st->failed && es_decoder_finish(&st->dec) != ES_OK)
		stream_fail(st, es_decoder_errmsg(&st->dec));
	if (st->failed)
	{
		st->events_taken = st->events_len;
		resp->curl_code = CURLE_OK;
		resp->curl_error[0] = '\0';
		strlcpy(resp->stream_error, st->error, sizeof(resp->stream_error));
		resp->partial = st->events_len ? delta_text(st, 0) : NULL;
		set_body(resp, NULL);
		return;
	}
	if (st->exception[0])
	{
		long		status = 500;
		const char *code = NULL;

		for (int i = 0; i < (int) lengthof(stream_exceptions); i++)
			if (strcmp(st->exception, stream_exceptions[i].event) == 0)
			{
				status = stream_exceptions[i].status;
				code = stream_exceptions[i].code;
			}
		resp->status = status;
		if (code)
			strlcpy(resp->error_type, code, sizeof(resp->error_type));
		else
		{
			strlcpy(resp->error_type, st->exception, sizeof(resp->error_type));
			resp->error_type[0] = pg_toupper((unsigned char) resp->error_type[0]);
		}
		resp->partial = delta_text(st, 0);
		set_body(resp, st->exception_body);
		return;
	}
	body = assemble(st, &usage);
	if (body == NULL)
		strlcpy(resp->stream_error, "the event stream held no message_start event",
				sizeof(resp->stream_error));
	else
	{
		/*
		 * A stream has no token-count headers: the usage block is the count
		 * that the quota ledger, the cache and load tests read (as they read
		 * the headers of a call that did not stream).
		 */
		if (resp->input_tokens < 0)
			resp->input_tokens = usage.input_tokens;
		if (resp->output_tokens < 0)
			resp->output_tokens = usage.output_tokens;
		if (resp->cache_read_tokens < 0)
			resp->cache_read_tokens = usage.cache_read_tokens;
		if (resp->cache_write_tokens < 0)
			resp->cache_write_tokens = usage.cache_write_tokens;
	}
	set_body(resp, body);
}

ClaudeStream *
claude_stream_attach(ClaudeHttpRequest *req, MemoryContext cxt)
{
	ClaudeStream *st = MemoryContextAllocZero(cxt, sizeof(ClaudeStream));
	MemoryContextCallback *cb;

	st->cxt = AllocSetContextCreate(cxt, "pg_claude stream", ALLOCSET_SMALL_SIZES);
	st->ttft_ms = -1;
	cb = MemoryContextAlloc(st->cxt, sizeof(MemoryContextCallback));
	cb->func = stream_free;
	cb->arg = st;
	MemoryContextRegisterResetCallback(st->cxt, cb);
	req->stream_begin = stream_begin;
	req->stream_data = stream_data;
	req->stream_end = stream_end;
	req->stream_arg = st;
	return st;
}

char *
claude_stream_take_text(ClaudeStream *st)
{
	char	   *text;

	if (st == NULL || st->events_taken >= st->events_len)
		return NULL;
	text = delta_text(st, st->events_taken);
	st->events_taken = st->events_len;
	if (text[0] == '\0')
	{
		pfree(text);
		return NULL;
	}
	return text;
}
