/*-------------------------------------------------------------------------
 *
 * audit_writer.c
 *	  The pg_claude audit writer: a background worker of its own that
 *	  writes the audit log (claude.usage) and the cache (claude.cache)
 *	  from the shared ring, and keeps them within retention and size.
 *
 * It does nothing else, so that nothing can hold it up: enrichment jobs
 * and asynchronous requests run in the job worker (worker.c).  Backends
 * append records to the ring and set this process's latch; it writes
 * them in short transactions of its own (audit_write.c, claude_audit_drain), so
 * that they survive the callers' ROLLBACK.  When the ring is full,
 * backends wait for it to make room (back-pressure, audit_ring.c); it wakes
 * them as it takes records out.
 *
 * Woken by a backend, it gathers for a moment, so that a stream of single
 * calls is written a batch per transaction rather than a transaction per
 * call, unless the ring is filling up.  On SIGTERM (shutdown, or
 * pg_terminate_backend) it first writes what the ring still holds.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit_ring.h"
#include "audit_write.h"
#include "retention.h"
#include "guc.h"
#include "wakeup.h"
#include "privilege.h"

#define WRITER_NAPTIME_MS 1000
#define MAINTENANCE_INTERVAL_MS (60 * 1000)
#define GATHER_MS 50
/* records closer than this to the last write are a stream worth gathering */
#define STREAM_GAP_MS (2 * GATHER_MS)

PGDLLEXPORT void claude_audit_writer_main(Datum arg);

/* Retention and eviction, in a transaction of their own. */
static void
run_maintenance(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (OidIsValid(get_extension_oid("pg_claude", true)))
	{
		int64		deleted;

		pgstat_report_activity(STATE_RUNNING, "pg_claude maintenance");
		deleted = claude_retention_apply();
		if (deleted > 0)
			ereport(DEBUG1, (errmsg_internal("pg_claude audit writer: maintenance deleted " INT64_FORMAT " rows", deleted)));
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Write everything the ring holds now; returns the records written. */
static int64
drain_all(MemoryContext cxt)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	int			written;
	int64		total = 0;

	do
	{
		written = claude_audit_drain();
		if (written > 0)
			pgstat_report_stat(false);
		total += written;
		MemoryContextReset(cxt);
	} while (written > 0);
	MemoryContextSwitchTo(oldcxt);
	return total;
}

void
claude_audit_writer_main(Datum arg)
{
	MemoryContext loopcxt;
	TimestampTz next_maintenance = 0;
	TimestampTz last_written = 0;	/* when a drain last wrote something */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	/* SIGTERM: write what is left in the ring, then exit */
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(claude_database_name, NULL, 0);
	claude_pin_worker_search_path();
	pgstat_report_appname("pg_claude audit writer");

	loopcxt = AllocSetContextCreate(TopMemoryContext, "pg_claude audit writer loop",
									ALLOCSET_DEFAULT_SIZES);
	claude_wakeup_attach_audit_writer();

	for (;;)
	{
		int			rc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (drain_all(loopcxt) > 0)
			last_written = GetCurrentTimestamp();
		if (ShutdownRequestPending)
			break;

		if (GetCurrentTimestamp() >= next_maintenance)
		{
			run_maintenance();
			next_maintenance = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), MAINTENANCE_INTERVAL_MS);
			continue;
		}

		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   WRITER_NAPTIME_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if ((rc & WL_LATCH_SET) && !ShutdownRequestPending && !claude_audit_ring_pressed() &&
			!TimestampDifferenceExceeds(last_written, GetCurrentTimestamp(), STREAM_GAP_MS))
		{
			/*
			 * Records are coming in a stream: gather a batch.  Only a ring
			 * reaching half full (backends may soon wait for room), a signal
			 * or the timeout ends the wait: backends wake this process for
			 * the first record in an empty ring and at half full
			 * (audit_ring.c), not per record.  A record after a quiet spell
			 * is written at once: gathering would catch nothing more.
			 */
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 GATHER_MS, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}

	/* shutting down: the ring has been written out above */
	proc_exit(1);
}
