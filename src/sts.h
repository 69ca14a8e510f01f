/*-------------------------------------------------------------------------
 *
 * sts.h
 *	  AWS STS: AssumeRole and AssumeRoleWithWebIdentity.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_STS_H
#define PG_CLAUDE_STS_H

#include "aws_util.h"

typedef struct StsAssumeRoleParams
{
	const char *role_arn;
	const char *session_name;
	const char *external_id;	/* NULL or "" for none */
	int			duration_seconds;	/* 0 for STS's default */
} StsAssumeRoleParams;

/*
 * AssumeRole signed with source; fills out (CurrentMemoryContext).  STS
 * errors raise 28000 with the STS code, message and request id.
 */
extern void claude_sts_assume_role(const ClaudeCredentials *source,
								   const StsAssumeRoleParams *params,
								   ClaudeCredentials *out);

/* AssumeRoleWithWebIdentity (unsigned) with the token read from a file. */
extern void claude_sts_assume_role_with_web_identity(const StsAssumeRoleParams *params,
													 const char *token,
													 ClaudeCredentials *out);

/* The STS endpoint in use (AWS_ENDPOINT_URL_STS or the regional one). */
extern char *claude_sts_endpoint(void);

#endif							/* PG_CLAUDE_STS_H */
