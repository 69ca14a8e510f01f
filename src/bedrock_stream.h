/*-------------------------------------------------------------------------
 *
 * bedrock_stream.h
 *	  InvokeModelWithResponseStream: an InvokeModel call whose answer comes
 *	  as an AWS event stream, decoded as it arrives and assembled into the
 *	  body InvokeModel would have returned (issue 17).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_BEDROCK_STREAM_H
#define PG_CLAUDE_BEDROCK_STREAM_H

#include "bedrock.h"

typedef struct ClaudeStream ClaudeStream;

/* Whether claude.stream has ordinary InvokeModel calls stream. */
extern bool claude_stream_wanted(void);

/*
 * Turn a prepared InvokeModel call (claude_bedrock_prepare returned false)
 * into InvokeModelWithResponseStream: same body, signing, audit and cache
 * key; the transport's stream hooks decode and assemble.  Idempotent.
 */
extern void claude_bedrock_stream_setup(ClaudeBedrockCall *call);

/*
 * The text of the content deltas that arrived since the last call (this
 * attempt's), or NULL when none did.  For claude_complete_stream.
 */
extern char *claude_stream_take_text(ClaudeBedrockCall *call);

#endif							/* PG_CLAUDE_BEDROCK_STREAM_H */
