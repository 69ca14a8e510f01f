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

#include "http.h"

typedef struct ClaudeBedrockCall
{
	const char *operation;		/* "InvokeModel", for messages */
	const char *model;			/* model id, profile id or ARN */
	const char *body;
	size_t		body_len;
} ClaudeBedrockCall;

/*
 * InvokeModel: sign, send (with retries), and return the response body on
 * success.  Any failure after retries raises an error with a mapped
 * SQLSTATE, the AWS error code and message, and the request id.
 */
extern char *claude_bedrock_invoke(const char *model, const char *body,
								   size_t body_len, ClaudeHttpResponse *resp);

/* CountTokens on the invoke body a request would carry; the token count. */
extern long claude_bedrock_count_tokens(const char *model, const char *invoke_body);

/* The foundation model id CountTokens is asked about for model. */
extern char *claude_bedrock_count_tokens_model(const char *model);

/* Cut an AWS error message before anything that could quote a secret. */
extern char *claude_scrub_aws_message(char *msg);

/* Raise the error that describes a failed exchange (never returns). */
extern void claude_bedrock_raise(const char *operation, const char *model,
								 const ClaudeHttpResponse *resp) pg_attribute_noreturn();

/* The endpoint requests go to: claude.endpoint or the regional default. */
extern char *claude_bedrock_base_url(char *host_header, size_t host_header_len,
									 char *path_prefix, size_t path_prefix_len);

#endif							/* PG_CLAUDE_BEDROCK_H */
