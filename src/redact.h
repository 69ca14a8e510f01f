/*-------------------------------------------------------------------------
 *
 * redact.h
 *	  Redaction inside the extension: the local pass on palloc'd text, and
 *	  claude.redact_before_send applied to a request body (redact.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_REDACT_H
#define PG_CLAUDE_REDACT_H

#include "redact_local.h"

typedef RedactCounts ClaudeRedactCounts;

/* input with the local kinds in local_mask replaced (palloc'd); counts may be NULL. */
extern char *claude_redact_text(const char *input, unsigned local_mask, ClaudeRedactCounts *counts);

/*
 * Under claude.redact_before_send: body (an Anthropic Messages request)
 * with the local pass applied to the text of its messages (never the
 * system prompt or tools), or body itself when nothing was found.  What
 * was removed goes to *counts_json ("{\"TFN\": 2}", or "" for nothing).
 */
extern const char *claude_redact_body(const char *body, size_t *body_len, char *counts_json,
									  size_t counts_json_len);

#endif							/* PG_CLAUDE_REDACT_H */
