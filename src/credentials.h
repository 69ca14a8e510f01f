/*-------------------------------------------------------------------------
 *
 * credentials.h
 *	  AWS credentials for the next request: the provider chain
 *	  (credentials.c) behind the cache (credential_cache.h).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_CREDENTIALS_H
#define PG_CLAUDE_CREDENTIALS_H

#include "aws_util.h"
#include "credential_cache.h"

/*
 * Credentials for the next request.  The returned struct is owned by the
 * cache and stays valid until the next call.  Raises an error (SQLSTATE
 * 28000) listing every provider tried when none supplies any.
 */
extern const ClaudeCredentials *claude_credentials_get(void);

/* A Bedrock API key (AWS_BEARER_TOKEN_BEDROCK) from the environment, or NULL. */
extern const char *claude_bedrock_api_key(void);

#endif							/* PG_CLAUDE_CREDENTIALS_H */
