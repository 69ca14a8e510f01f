/*-------------------------------------------------------------------------
 *
 * work_xact.c
 *	  The worker's short transactions, SPI calls and memory.
 *
 * The workers never keep a transaction open across a network call: each
 * step of their work (claim, write, populate a batch) is a transaction of
 * its own, begun and ended here.  Allocations outlive those transactions
 * in the work context (reset every round) or in a narrower target a
 * caller sets (a job's pump, a claim of rows).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "job_owner.h"
#include "work_xact.h"

static MemoryContext work_cxt = NULL;

/* where a transaction's caller goes on allocating after it (work_cxt or a chunk's) */
static MemoryContext target_cxt = NULL;

MemoryContext
claude_work_context(void)
{
	if (work_cxt == NULL)
		work_cxt = AllocSetContextCreate(TopMemoryContext, "pg_claude jobs", ALLOCSET_DEFAULT_SIZES);
	return work_cxt;
}

void
claude_work_set_target(MemoryContext cxt)
{
	target_cxt = cxt;
}

/*
 * SPI leaves CurrentMemoryContext in its own procedure context after every
 * call, and copies datums out into the context current at SPI_connect: so
 * connect from the target context, and come back to it after each call.
 */
void
claude_work_begin(void)
{
	MemoryContext target = target_cxt ? target_cxt : claude_work_context();

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	MemoryContextSwitchTo(target);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(target);
}

void
claude_work_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	claude_job_owner_time_end();
	MemoryContextSwitchTo(target_cxt ? target_cxt : claude_work_context());
	pgstat_report_stat(false);
}

int
claude_work_sql(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	MemoryContextSwitchTo(cxt);
	if (rc < 0)
		elog(ERROR, "pg_claude worker: query failed (%s): %s", SPI_result_code_string(rc), sql);
	return rc;
}

