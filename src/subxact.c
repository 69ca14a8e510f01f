/*-------------------------------------------------------------------------
 *
 * subxact.c
 *	  The one place pg_claude catches an error it does not re-throw: inside
 *	  a subtransaction, rolled back, the error handed back as a value.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "subxact.h"

ErrorData *
claude_try(ClaudeTryFn fn, void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	/*
	 * elog.h allows catching only with a (sub)transaction abort: where none
	 * can start (a parallel worker, outside a transaction) nothing is caught.
	 */
	if (IsInParallelMode() || !IsTransactionState())
	{
		fn(arg);
		return NULL;
	}

	/* as PL/pgSQL's exception blocks do */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_END_TRY();
	return edata;
}
