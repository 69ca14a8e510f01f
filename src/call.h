/*-------------------------------------------------------------------------
 *
 * call.h
 *	  What every SQL-callable function shares: argument helpers, the
 *	  context-window check, catching an error in a subtransaction, and
 *	  claude.on_error.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_CALL_H
#define PG_CLAUDE_CALL_H

#include "fmgr.h"

#include "problem.h"

/* The context window, in tokens, of a model the catalogue gives none for. */
#define CLAUDE_CONTEXT_TOKENS 200000

/* Text argument n, or NULL when absent or SQL NULL. */
extern char *claude_text_arg(FunctionCallInfo fcinfo, int n);

/* Model argument n, or claude.model when NULL; refuses "". */
extern char *claude_model_arg(FunctionCallInfo fcinfo, int n);

/* jsonb argument n as JSON text, or NULL when absent or SQL NULL. */
extern char *claude_jsonb_arg(FunctionCallInfo fcinfo, int n);

/*
 * A raw Messages body argument (claude_invoke, claude_count_tokens):
 * normalised, and *model from model_arg, else the body's "model", else
 * claude.model.
 */
extern char *claude_body_arg(FunctionCallInfo fcinfo, int body_arg, int model_arg, char **model);

/*
 * max_tokens (from the max_tokens argument or option, or from the setting
 * claude.max_tokens): refuses < 1 and more than model can write (22023,
 * naming max_tokens, not the input).  Returns it.
 */
extern int	claude_check_max_tokens(int max_tokens, bool from_setting, const char *model);

/*
 * Conservative token estimate of text (UTF-8 bytes / 3: English runs at
 * about four characters a token, CJK at about one character of three
 * bytes), used to refuse requests that cannot fit before sending them.
 */
extern long claude_estimate_tokens(size_t bytes);

/* Would a request of text_bytes and max_tokens overflow the context window? */
extern bool claude_context_problem(size_t text_bytes, int max_tokens, int context_window,
								   ClaudeProblem *problem);

/* Refuse (54000) a request whose text cannot fit the context window. */
extern void claude_check_context(size_t text_bytes, int max_tokens, int context_window);

/*
 * Run fn under claude.on_error (function_name names the call in its
 * WARNING; fn's own argument carries the call's context): with
 * 'raise' errors propagate; with 'null' an error of the call (AWS,
 * transport, an answer that cannot be used) becomes a WARNING and a NULL
 * result, through claude_try, so that nothing half-done survives.
 * Cancels, residency refusals and resource exhaustion are always raised.
 */
typedef Datum (*ClaudeGuardedFn) (FunctionCallInfo fcinfo, void *arg, bool *isnull);

extern Datum claude_guarded_call(const char *function_name, ClaudeGuardedFn fn,
								 FunctionCallInfo fcinfo, void *arg, bool *isnull);

#endif							/* PG_CLAUDE_CALL_H */
