/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The pg_claude background worker: writes the audit log and the cache
 *	  from shared memory, and keeps them within retention and size.
 *
 * Follows worker_spi's skeleton: SIGHUP reloads, SIGTERM ends, the loop
 * waits on its latch (backends set it when they hand over records) with a
 * timeout as a safety net, and works in short transactions of its own.
 * It serves one database, claude.database_name, and waits quietly until
 * the extension exists there.
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

#include "audit.h"
#include "guc.h"
#include "jobs.h"
#include "privilege.h"
#include "worker.h"

#define WORKER_NAPTIME_MS 1000
#define MAINTENANCE_INTERVAL_MS (60 * 1000)
#define GATHER_MS 50

PGDLLEXPORT void claude_worker_main(Datum arg);

void
claude_worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	strlcpy(worker.bgw_library_name, "pg_claude", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "claude_worker_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_claude %s worker", EXTVERSION);
	strlcpy(worker.bgw_type, "pg_claude worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

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
		deleted = claude_audit_maintain();
		if (deleted > 0)
			ereport(DEBUG1, (errmsg_internal("pg_claude worker: maintenance deleted " INT64_FORMAT " rows", deleted)));
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
claude_worker_main(Datum arg)
{
	MemoryContext loopcxt;
	TimestampTz next_maintenance = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(claude_database_name, NULL, 0);
	/* the worker is a superuser: no schema but pg_catalog resolves its SQL */
	SetConfigOption("search_path", CLAUDE_SAFE_SEARCH_PATH, PGC_SUSET, PGC_S_SESSION);
	pgstat_report_appname("pg_claude worker");
	claude_audit_set_writer_latch(MyLatch);

	loopcxt = AllocSetContextCreate(TopMemoryContext, "pg_claude worker loop",
									ALLOCSET_DEFAULT_SIZES);

	/* what a crash or kill left claimed goes back to the queue */
	claude_jobs_recover();

	for (;;)
	{
		MemoryContext oldcxt;
		int			written;
		bool		worked;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		oldcxt = MemoryContextSwitchTo(loopcxt);
		do
		{
			written = claude_audit_drain();
			if (written > 0)
				pgstat_report_stat(false);
		} while (written > 0);

		if (GetCurrentTimestamp() >= next_maintenance)
		{
			run_maintenance();
			next_maintenance = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), MAINTENANCE_INTERVAL_MS);
		}

		/* asynchronous requests and job rows (their audit records too) */
		worked = claude_jobs_work();
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(loopcxt);
		if (worked)
			continue;

		if (WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					  WORKER_NAPTIME_MS, PG_WAIT_EXTENSION) & WL_LATCH_SET)
		{
			/*
			 * Woken by a backend: gather for a moment, so that a stream of
			 * single calls is written a batch per transaction rather than a
			 * transaction per call.
			 */
			(void) WaitLatch(NULL, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, GATHER_MS, PG_WAIT_EXTENSION);
		}
		ResetLatch(MyLatch);
	}
}
