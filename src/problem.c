/*-------------------------------------------------------------------------
 *
 * problem.c
 *	  An error as a value: what ereport would say, kept rather than raised.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "problem.h"

void
claude_problem(ClaudeProblem *p, int sqlerrcode, const char *message, const char *detail,
			   const char *hint)
{
	p->sqlerrcode = sqlerrcode;
	p->message = pstrdup(message);
	p->detail = detail ? pstrdup(detail) : NULL;
	p->hint = hint ? pstrdup(hint) : NULL;
}

void
claude_problem_raise(const ClaudeProblem *p)
{
	ereport(ERROR,
			(errcode(p->sqlerrcode),
			 errmsg_internal("%s", p->message),
			 p->detail ? errdetail_internal("%s", p->detail) : 0,
			 p->hint ? errhint("%s", p->hint) : 0));
	pg_unreachable();
}
