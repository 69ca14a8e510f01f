/*-------------------------------------------------------------------------
 *
 * call.h
 *	  What every SQL-callable function shares: argument helpers, the
 *	  context-window check, and claude.on_error.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_CALL_H
#define PG_CLAUDE_CALL_H

#include "fmgr.h"

/* Claude's context window on Bedrock, in tokens (all current models). */
#define CLAUDE_CONTEXT_TOKENS 200000

/* Text argument n, or NULL when absent or SQL NULL. */
extern char *claude_text_arg(FunctionCallInfo fcinfo, int n);

/* Model argument n, or claude.model when NULL; refuses "". */
extern char *claude_model_arg(FunctionCallInfo fcinfo, int n);

/*
 * max_tokens argument n, or claude.max_tokens; refuses < 1 and more than
 * model can write (22023, naming max_tokens, not the input).
 */
extern int	claude_max_tokens_arg(FunctionCallInfo fcinfo, int n, const char *model);

/*
 * Conservative token estimate of text (UTF-8 bytes / 3: English runs at
 * about four characters a token, CJK at about one character of three
 * bytes), used to refuse requests that cannot fit before sending them.
 */
extern long claude_estimate_tokens(size_t bytes);

/* Refuse (54000) a request whose text cannot fit the context window. */
extern void claude_check_context(size_t text_bytes, int max_tokens);

/*
 * Run fn under claude.on_error, with the audit context (function name,
 * the caller's input, hashed as prompt_sha256) set for its requests: with 'raise' errors propagate; with 'null'
 * an error of the call (AWS, transport, an answer that cannot be used)
 * becomes a WARNING and a NULL result, inside a subtransaction so that
 * nothing half-done survives.  Cancels, residency refusals and resource
 * exhaustion are always raised.
 */
typedef Datum (*ClaudeGuardedFn) (FunctionCallInfo fcinfo, void *arg, bool *isnull);

extern Datum claude_guarded_call(const char *function_name, const char *input,
								 ClaudeGuardedFn fn, FunctionCallInfo fcinfo, void *arg,
								 bool *isnull);

/* A single-turn completion: the answer's text (for composite functions). */
extern char *claude_message_text(const char *model, const char *system,
								 const char *prompt, int max_tokens);

#endif							/* PG_CLAUDE_CALL_H */
