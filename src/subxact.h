/*-------------------------------------------------------------------------
 *
 * subxact.h
 *	  Run a function in a subtransaction and keep its error as a value.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_SUBXACT_H
#define PG_CLAUDE_SUBXACT_H

/*
 * Run fn(arg) in a subtransaction: NULL when it returned, or the error it
 * raised (copied, its subtransaction rolled back) for the caller to turn
 * into text, a WARNING or a re-throw.  The only place pg_claude catches an
 * error it does not re-throw at once.  Where no subtransaction can start (a
 * parallel worker, outside a transaction) fn runs and its errors propagate.
 */
typedef void (*ClaudeTryFn) (void *arg);

extern struct ErrorData *claude_try(ClaudeTryFn fn, void *arg);

#endif							/* PG_CLAUDE_SUBXACT_H */
