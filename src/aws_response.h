/*-------------------------------------------------------------------------
 *
 * aws_response.h
 *	  What AWS says in its response headers (aws_response.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_AWS_RESPONSE_H
#define PG_CLAUDE_AWS_RESPONSE_H

#include "http.h"

/*
 * Make an AWS request of req: the transport keeps AWS's response headers,
 * they become request_id, error_type and Bedrock's token counts, and the
 * AWS retry policy judges each attempt.
 */
extern void claude_aws_response_setup(ClaudeHttpRequest *req);

#endif							/* PG_CLAUDE_AWS_RESPONSE_H */
