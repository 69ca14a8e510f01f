/*-------------------------------------------------------------------------
 *
 * credentials.h
 *	  Where AWS credentials come from: the provider chain and its caches.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_CREDENTIALS_H
#define PG_CLAUDE_CREDENTIALS_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

typedef struct ClaudeCredentials
{
	char		provider[256];	/* which provider supplied them, for humans */
	char		role_arn[512];	/* assumed role or instance role, or "" */
	char	   *access_key_id;
	char	   *secret_access_key;
	char	   *session_token;	/* NULL for long-term keys */
	TimestampTz expiration;		/* 0 when they do not expire */
} ClaudeCredentials;

/* A variable of the server's environment, or NULL when unset or empty. */
extern const char *claude_getenv(const char *name);

/* Refresh this long before credentials expire. */
#define CLAUDE_CREDENTIALS_REFRESH_MARGIN_MS (5 * 60 * 1000)

/*
 * Credentials for the next request.  The returned struct is owned by the
 * module's cache and stays valid until the next call.  Raises an error
 * (SQLSTATE 28000) listing every provider tried when none supplies any.
 */
extern const ClaudeCredentials *claude_credentials_get(void);

/*
 * Forget credentials that an endpoint has just called expired (matched by
 * access key id, so one backend's report does not discard what another has
 * already refreshed).
 */
extern void claude_credentials_invalidate(const char *access_key_id);

/* Fill c with copies (CurrentMemoryContext) of the given values. */
extern void claude_credentials_fill(ClaudeCredentials *c, const char *provider,
									const char *access_key_id, const char *secret,
									const char *token, TimestampTz expiration);

/* Wipe and free the strings of c. */
extern void claude_credentials_clear(ClaudeCredentials *c);

/* Parse "2026-11-27T06:00:00Z" (fraction and offset allowed). */
extern bool claude_parse_aws_time(const char *s, TimestampTz *out);

/* Shared-memory cache: size and attach, called from the shmem hooks. */
extern Size claude_credentials_shmem_size(void);
extern void claude_credentials_shmem_init(void);

/* Is the shared (cross-backend) cache in use, i.e. was pg_claude preloaded? */
extern bool claude_credentials_shared(void);

/* Masked access key id for display: "ASIA************WXYZ". */
extern char *claude_mask_key(const char *access_key_id);

/* A Bedrock API key (AWS_BEARER_TOKEN_BEDROCK) from the environment, or NULL. */
extern const char *claude_bedrock_api_key(void);

#endif							/* PG_CLAUDE_CREDENTIALS_H */
