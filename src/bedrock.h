/*-------------------------------------------------------------------------
 *
 * bedrock.h
 *	  Bedrock Runtime operations and the mapping of their errors.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_BEDROCK_H
#define PG_CLAUDE_BEDROCK_H

#include "call_context.h"
#include "guardrail.h"
#include "http.h"
#include "problem.h"

/* What signing and the audit need for every attempt of one request. */
typedef struct SignContext
{
	const char *method;
	const char *path;			/* as on the wire */
	const char *query;			/* canonical query string, or NULL */
	const char *host_header;
	const char *body;
	size_t		body_len;
	char		signed_with[128];	/* access key id of the last attempt */
	const char *bedrock_api;	/* "messages" or "mantle" (bedrock_messages.c), or NULL */

	/* for the audit log */
	const char *operation;
	const char *model;
	const char *geography;
	const char *endpoint_host;
	ClaudeCallContext cc;		/* on whose behalf */
	char		cache_key[65];
	char		prompt_sha256[65];
	AwsHeader	guardrail[CLAUDE_GUARDRAIL_HEADERS];	/* sent and signed */
	int			nguardrail;
	char		redactions[128];	/* claude.redact_before_send's counts, JSON */

	/* the last answer, parsed by the JSON check, until taken */
	MemoryContext answer_cxt;	/* the call's: where it is parsed */
	struct cJSON *answer;
	const char *answer_body;	/* the body it was parsed from */

	/* InvokeModelWithResponseStream: the stream's state (bedrock_stream.c) */
	struct ClaudeStream *stream;
} SignContext;

/* One Bedrock request: prepared, then sent alone or in a pump. */
typedef struct ClaudeBedrockCall
{
	SignContext ctx;
	ClaudeHttpRequest req;
	bool		from_cache;
	ClaudeHttpResponse resp;	/* the answer, when from the cache */
} ClaudeBedrockCall;

/*
 * Residency check (raises 42R01), cache lookup (true: answered, see
 * call->resp), then call->req ready for the transport.
 */
extern bool claude_bedrock_prepare(ClaudeBedrockCall *call, const ClaudeCallContext *cc,
								   const char *operation, const char *suffix, const char *model,
								   const char *body, size_t body_len);

/*
 * Turn a prepared InvokeModel call (claude_bedrock_prepare returned false)
 * into InvokeModelWithResponseStream (bedrock_stream.c): same body,
 * signing, audit and cache key.  Idempotent; claude_bedrock_prepare does
 * it when claude.stream says so.
 */
extern void claude_bedrock_stream_setup(ClaudeBedrockCall *call);

/* After the transport: store a good answer in the cache. */
extern void claude_bedrock_finish(ClaudeBedrockCall *call, const ClaudeHttpResponse *resp);

/*
 * The answer body as the transport's JSON check parsed it, handed over
 * (CurrentMemoryContext's caller owns it; cJSON_Delete frees it), or NULL
 * when that parse was not of this body.  A second call returns NULL.
 */
extern struct cJSON *claude_bedrock_take_answer(ClaudeBedrockCall *call, const char *body);

extern bool claude_bedrock_ok(const ClaudeHttpResponse *resp);

/*
 * Resolve what signing needs (the credentials) before a pump: raises what
 * signing would, where it can still be caught (the worker sends with no
 * transaction open).
 */
extern void claude_bedrock_ready_to_sign(const ClaudeCallContext *cc);

/* The residency check alone (raises 42R01). */
extern void claude_bedrock_check_residency(const ClaudeCallContext *cc, const char *model);

/* The "message" of an AWS JSON error body (scrubbed), or NULL. */
extern char *claude_bedrock_error_message(const ClaudeHttpResponse *resp);

/* The error of a failed exchange as text (for per-row errors). */
extern char *claude_bedrock_error_text(const char *operation, const char *model,
									   const ClaudeHttpResponse *resp);

/*
 * InvokeModel: sign, send (with retries), and return the response body on
 * success.  Any failure after retries raises an error with a mapped
 * SQLSTATE, the AWS error code and message, and the request id.
 */
extern char *claude_bedrock_invoke(const ClaudeCallContext *cc, const char *model,
								   const char *body, size_t body_len, ClaudeHttpResponse *resp);

/*
 * A GET on the Bedrock control plane (claude.control_endpoint, else
 * https://bedrock.{claude.region}.amazonaws.com), signed as the runtime's
 * requests are: the body of a 2xx answer, or NULL with *problem set.
 */
extern char *claude_bedrock_control_get(const char *operation, const char *path, const char *query,
										ClaudeProblem *problem);

/* A POST of a JSON body on the control plane, signed the same way (batch inference). */
extern char *claude_bedrock_control_post(const char *operation, const char *path, const char *body,
										 ClaudeProblem *problem);

/* CountTokens on the invoke body a request would carry; the token count. */
extern long claude_bedrock_count_tokens(const ClaudeCallContext *cc, const char *model,
										const char *invoke_body);

/* The foundation model id CountTokens is asked about for model. */
extern char *claude_bedrock_count_tokens_model(const char *model);

/* Raise the error that describes a failed exchange (never returns). */
extern pg_noreturn void claude_bedrock_raise(const char *operation, const char *model,
											 const ClaudeHttpResponse *resp);

/* The endpoint requests go to: claude.endpoint or the regional default. */
extern char *claude_bedrock_base_url(char *host_header, size_t host_header_len,
									 char *path_prefix, size_t path_prefix_len);

#endif							/* PG_CLAUDE_BEDROCK_H */
