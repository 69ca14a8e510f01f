/*-------------------------------------------------------------------------
 *
 * metadata.h
 *	  Credentials from the platform: EC2 instance metadata (IMDSv2) and
 *	  the container credential endpoint (ECS, EKS Pod Identity).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_METADATA_H
#define PG_CLAUDE_METADATA_H

#include "lib/stringinfo.h"

#include "aws_util.h"

/*
 * Each returns true and fills out when it supplied credentials; false with
 * the reason appended to why when it does not apply or had nothing.  A
 * configured endpoint that answers with an error raises 28000, as in
 * botocore.
 */
extern bool claude_imds_credentials(ClaudeCredentials *out, StringInfo why);
extern bool claude_container_credentials(ClaudeCredentials *out, StringInfo why);

#endif							/* PG_CLAUDE_METADATA_H */
