/*-------------------------------------------------------------------------
 *
 * provider.h
 *	  What differs between the providers a request can go to: Amazon
 *	  Bedrock (bedrock.c) and Anthropic's own API (provider_anthropic.c).
 *	  Everything else is bedrock.c's one pipeline (doc/providers.md).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_PROVIDER_H
#define PG_CLAUDE_PROVIDER_H

#include "call_context.h"
#include "http.h"
#include "problem.h"
#include "residency.h"

#define CLAUDE_PROVIDER_NAME_BEDROCK "bedrock"
#define CLAUDE_PROVIDER_NAME_ANTHROPIC "anthropic"

/* Does this call go to the Anthropic API? */
extern bool claude_provider_is_anthropic(const ClaudeCallContext *cc);

/* A provider name read back from a table, checked ("bedrock" when NULL or empty). */
extern const char *claude_provider_checked(const char *name);

/* The provider a job definition (jsonb text) was queued for. */
extern const char *claude_provider_of_definition(const char *definition);

/* ---- the Anthropic API (provider_anthropic.c) ---- */

/* The Anthropic API model id claude.model (a Bedrock id, or an API id) names. */
extern char *claude_anthropic_model_id(const char *model);

/* Can this model honour inference_geo "us" (Opus 4.6 and later)? */
extern bool claude_anthropic_us_capable(const char *api_model);

/* Judge a request to model under claude.residency (nothing is sent). */
extern void claude_anthropic_judge(const char *model, ClaudeResidencyVerdict *v);

/* The host requests go to (claude.anthropic_endpoint, else api.anthropic.com). */
extern char *claude_anthropic_host(void);

/*
 * Address and authenticate req for operation (InvokeModel: POST
 * /v1/messages; CountTokens: /v1/messages/count_tokens), the Bedrock body
 * reshaped: model in the body, no anthropic_version, inference_geo under
 * geography "us".  Returns the body sent (what the cache key hashes).
 */
extern char *claude_anthropic_shape_body(const char *operation, const char *model,
										 const char *geography, const char *body);
extern void claude_anthropic_request(ClaudeHttpRequest *req, const char *operation,
									 const char *body, size_t body_len);

/*
 * Message Batches (job_batch.c): method on path (/v1/messages/batches...)
 * with body (NULL: none); the answer's body on a 2xx, else NULL with
 * *problem set.  The create (operation CLAUDE_ANTHROPIC_BATCH_CREATE) is
 * retried only when it was certainly not made; *maybe_made (may be NULL)
 * says whether a failed one might have been.
 */
#define CLAUDE_ANTHROPIC_BATCH_CREATE "CreateMessageBatch"
extern char *claude_anthropic_batches_call(const char *method, const char *operation,
										   const char *path, const char *body,
										   bool *maybe_made, ClaudeProblem *problem);

/* Answers of the Anthropic API (read_response sets resp->service). */
#define CLAUDE_SERVICE_ANTHROPIC "anthropic"

/* What a failed Anthropic API exchange means (same SQLSTATEs as Bedrock's). */
extern void claude_anthropic_problem(const char *operation, const char *model,
									 const ClaudeHttpResponse *resp, ClaudeProblem *p);

/*
 * The inner type and message of an error body in the API's shape (NULLs
 * when it is not), and the SQLSTATE of a type: Bedrock's Messages API
 * answers in the same shapes (bedrock_messages.c).
 */
extern void claude_anthropic_error_body(const ClaudeHttpResponse *resp, char **type,
										char **message);
extern int	claude_anthropic_error_sqlstate(const char *type);

/*
 * Where the API key comes from ("environment ANTHROPIC_API_KEY", "file
 * ..."), and the key masked, or NULL when there is none.
 */
extern const char *claude_anthropic_key_source(char **masked);

/* Raise now what the first attempt would (no API key), before a pump. */
extern void claude_anthropic_ready(void);

#endif							/* PG_CLAUDE_PROVIDER_H */
