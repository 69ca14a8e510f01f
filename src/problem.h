/*-------------------------------------------------------------------------
 *
 * problem.h
 *	  An error as a value: what ereport would say, kept rather than raised.
 *
 * The task path finds most of its failures (an input that cannot fit, an
 * answer that is not a Messages response) where it must not raise: in the
 * transport's callbacks, in the worker outside any transaction, in a row of
 * a batch.  There it keeps a ClaudeProblem; a scalar call raises it, a
 * batch row or a job row keeps its message.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_PROBLEM_H
#define PG_CLAUDE_PROBLEM_H

#include "pg_compat.h"

typedef struct ClaudeProblem
{
	int			sqlerrcode;		/* 0: no problem */
	char	   *message;
	char	   *detail;			/* NULL for none */
	char	   *hint;			/* NULL for none */
} ClaudeProblem;

/* Record a problem (the strings are copied into CurrentMemoryContext). */
extern void claude_problem(ClaudeProblem *p, int sqlerrcode, const char *message,
						   const char *detail, const char *hint);

/* Raise it as an ERROR, as the code that found it would have. */
extern pg_noreturn void claude_problem_raise(const ClaudeProblem *p);

#endif							/* PG_CLAUDE_PROBLEM_H */
