/*-------------------------------------------------------------------------
 *
 * bedrock_messages.h
 *	  Bedrock's Messages API as an operation of the bedrock provider
 *	  (claude.bedrock_api = messages or mantle; doc/providers.md).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_BEDROCK_MESSAGES_H
#define PG_CLAUDE_BEDROCK_MESSAGES_H

#include "call_context.h"
#include "http.h"
#include "problem.h"

#define CLAUDE_BEDROCK_MESSAGES_PATH "/anthropic/v1/messages"

/* What the audit's operation column says of a call sent this way. */
#define CLAUDE_BEDROCK_MESSAGES_OPERATION "Messages"

/* Answers of Bedrock's Messages API (read_response sets resp->service). */
#define CLAUDE_SERVICE_BEDROCK_MESSAGES "bedrock-messages"

/*
 * "messages" or "mantle" when this call goes to a Messages API (a Bedrock
 * InvokeModel under claude.bedrock_api), NULL for InvokeModel's own path.
 */
extern const char *claude_bedrock_messages_api(const ClaudeCallContext *cc, const char *operation);

/* Refuse (0A000, nothing sent) a model the catalogue keeps off it, or mantle where it is not. */
extern void claude_bedrock_messages_check(const char *api, const char *model);

/* The host's service stem and SigV4 signing name of an api. */
extern const char *claude_bedrock_messages_service(const char *api);

/* The InvokeModel body as the Messages API takes it: model in it, no anthropic_version. */
extern char *claude_bedrock_messages_body(const char *model, const char *body);

/* Headers captured, how answers are read and retried. */
extern void claude_bedrock_messages_setup(ClaudeHttpRequest *req);

/* An error in the Anthropic shape as a problem; false when the body is not one. */
extern bool claude_bedrock_messages_problem(const char *operation, const char *model,
											const ClaudeHttpResponse *resp, ClaudeProblem *p);

#endif							/* PG_CLAUDE_BEDROCK_MESSAGES_H */
