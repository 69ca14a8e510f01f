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

#include "http.h"

typedef struct ClaudeStream ClaudeStream;

/* Whether claude.stream has ordinary InvokeModel calls stream. */
extern bool claude_stream_wanted(void);

/*
 * A stream's state, in cxt (freed with it), and the request's stream hooks
 * set to feed it (bedrock.c points the request at
 * InvokeModelWithResponseStream first).
 */
extern ClaudeStream *claude_stream_attach(ClaudeHttpRequest *req, MemoryContext cxt);

/*
 * The text of the content deltas that arrived since the last call (this
 * attempt's), or NULL when none did.  For claude_complete_stream.
 */
extern char *claude_stream_take_text(ClaudeStream *st);

#endif							/* PG_CLAUDE_BEDROCK_STREAM_H */
