/*-------------------------------------------------------------------------
 *
 * credential_process.h
 *	  The credential_process provider: a profile's helper command.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_CREDENTIAL_PROCESS_H
#define PG_CLAUDE_CREDENTIAL_PROCESS_H

#include "aws_profile.h"
#include "aws_util.h"

/*
 * Run the profile's credential_process and read the JSON it prints.  False
 * with the reason in why when the profile has none; a helper that fails,
 * hangs or prints no credentials raises 28000.
 */
extern bool claude_process_credentials(const AwsProfile *profile, ClaudeCredentials *out,
									   StringInfo why);

#endif							/* PG_CLAUDE_CREDENTIAL_PROCESS_H */
