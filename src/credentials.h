/*-------------------------------------------------------------------------
 *
 * credentials.h
 *	  Where AWS credentials come from: the provider chain and its cache.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_CREDENTIALS_H
#define PG_CLAUDE_CREDENTIALS_H

#include "datatype/timestamp.h"

typedef struct ClaudeCredentials
{
	char		provider[128];	/* which provider supplied them, for humans */
	char	   *access_key_id;
	char	   *secret_access_key;
	char	   *session_token;	/* NULL for long-term keys */
	TimestampTz expiration;		/* 0 when they do not expire */
} ClaudeCredentials;

/*
 * Credentials for the next request.  The returned struct is owned by the
 * module's cache and stays valid until the next call.  Raises an error
 * (SQLSTATE 28000) listing every provider tried when none supplies any.
 */
extern const ClaudeCredentials *claude_credentials_get(void);

/* Drop cached credentials, e.g. after Bedrock reports an expired token. */
extern void claude_credentials_invalidate(void);

#endif							/* PG_CLAUDE_CREDENTIALS_H */
