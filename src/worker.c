/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The pg_claude job worker (asynchronous requests, enrichment jobs and
 *	  the refresh of claude.models, models_refresh.c),
 *	  the registration of both pg_claude background workers, and the
 *	  shared wake-up state through which backends wake each of them.
 *
 * There are two workers, so that neither can hold the other hostage:
 *
 *	- the job worker ("pg_claude worker" in pg_stat_activity) sends the
 *	  asynchronous requests and the rows of enrichment jobs;
 *	- the audit writer ("pg_claude audit writer", audit_writer.c) writes
 *	  the audit and cache records that backends hand to the shared ring,
 *	  and runs retention and eviction.
 *
 * A job may run for hours, block on a slow endpoint or evaluate an
 * expensive input; none of that delays the audit log.  Each worker has a
 * named slot (pid and latch) in the struct "pg_claude workers", and each
 * is woken through its own slot only: records in the ring wake the writer,
 * committed work wakes the job worker.
 *
 * Both follow worker_spi's skeleton: SIGHUP reloads, the loop waits on its
 * latch with a timeout as a safety net, and works in short transactions of
 * its own.  Both serve one database, claude.database_name, wait quietly
 * until the extension exists there, and run their own SQL with
 * search_path pinned to "pg_catalog, pg_temp" (set at start), so that no
 * object another role creates can stand in for a built-in.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "audit.h"
#include "guc.h"
#include "jobs.h"
#include "models_refresh.h"
#include "privilege.h"
#include "wakeup.h"
#include "worker.h"

#define WORKER_NAPTIME_MS 1000

PGDLLEXPORT void claude_worker_main(Datum arg);

/* One worker's wake-up state. */
static void
register_one(const char *function_name, const char *name, const char *type, int restart_s)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = restart_s;
	strlcpy(worker.bgw_library_name, "pg_claude", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function_name, BGW_MAXLEN);
	strlcpy(worker.bgw_name, name, BGW_MAXLEN);
	strlcpy(worker.bgw_type, type, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

void
claude_worker_register(void)
{
	char		name[BGW_MAXLEN];

	snprintf(name, sizeof(name), "pg_claude %s worker", EXTVERSION);
	register_one("claude_worker_main", name, "pg_claude worker", 5);
	/* back within a second: backends wait for it when the ring is full */
	snprintf(name, sizeof(name), "pg_claude %s audit writer", EXTVERSION);
	register_one("claude_audit_writer_main", name, "pg_claude audit writer", 1);
}



void
claude_worker_main(Datum arg)
{
	MemoryContext loopcxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(claude_database_name, NULL, 0);
	claude_pin_worker_search_path();
	pgstat_report_appname("pg_claude worker");
	claude_wakeup_attach_job_worker();

	loopcxt = AllocSetContextCreate(TopMemoryContext, "pg_claude worker loop",
									ALLOCSET_DEFAULT_SIZES);

	/* what a crash or kill left claimed goes back to the queue */
	claude_jobs_recover();

	for (;;)
	{
		MemoryContext oldcxt;
		bool		worked;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* claude.models from the control plane, when due (a busy worker too) */
		oldcxt = MemoryContextSwitchTo(loopcxt);
		claude_models_refresh_maybe();
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(loopcxt);

		/* asynchronous requests and job rows (their audit records go to the writer) */
		oldcxt = MemoryContextSwitchTo(loopcxt);
		worked = claude_jobs_work();
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(loopcxt);
		if (worked)
			continue;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 WORKER_NAPTIME_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
