/*-------------------------------------------------------------------------
 *
 * aws_util.h
 *	  Leaf helpers for talking to AWS: the credentials value, environment
 *	  reads, AWS timestamps, credential JSON, and secret-safe text.
 *
 * A leaf: it includes no other pg_claude header, so every module that
 * fetches, caches or uses credentials can share these without a cycle.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_AWS_UTIL_H
#define PG_CLAUDE_AWS_UTIL_H

#include "datatype/timestamp.h"
#include "utils/palloc.h"

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

/* Fill c with copies (CurrentMemoryContext) of the given values. */
extern void claude_credentials_fill(ClaudeCredentials *c, const char *provider,
									const char *access_key_id, const char *secret,
									const char *token, TimestampTz expiration);

/* Copy src, role included, into dst allocated in cxt. */
extern void claude_credentials_copy(ClaudeCredentials *dst, const ClaudeCredentials *src,
									MemoryContext cxt);

/* Wipe and free the strings of c. */
extern void claude_credentials_clear(ClaudeCredentials *c);

/* Parse "2026-11-27T06:00:00Z" (fraction and offset allowed). */
extern bool claude_parse_aws_time(const char *s, TimestampTz *out);

/* The two JSON shapes AWS hands credentials out in. */
typedef enum ClaudeCredentialsJson
{
	/* IMDS and container endpoints: "Token" required, "RoleArn" optional */
	CLAUDE_CREDENTIALS_JSON_METADATA,
	/* credential_process: "Version": 1, "SessionToken" optional */
	CLAUDE_CREDENTIALS_JSON_PROCESS,
} ClaudeCredentialsJson;

/*
 * Read AccessKeyId, SecretAccessKey, the token and Expiration from json
 * into out (provider left empty), and RoleArn into *role_arn when asked.
 * Returns false when the document is not of that shape.  The parsed copies
 * of the secrets are wiped; json itself is the caller's to wipe.
 */
extern bool claude_parse_credentials_json(const char *json, ClaudeCredentialsJson shape,
										  ClaudeCredentials *out, char **role_arn);

/* Cut an AWS error message before anything that could quote a secret. */
extern char *claude_scrub_aws_message(char *msg);

/* Masked access key id for display: "ASIA************WXYZ". */
extern char *claude_mask_key(const char *access_key_id);

#endif							/* PG_CLAUDE_AWS_UTIL_H */
