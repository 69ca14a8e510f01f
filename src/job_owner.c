/*-------------------------------------------------------------------------
 *
 * job_owner.c
 *	  Acting as a job's owner: identity, search_path, time limit, interrupts.
 *
 * The worker is a superuser; a job's input expression and the triggers on
 * its table are its owner's code.  They run as the owner, as a restricted
 * operation (as VACUUM runs index expressions), under the search_path the
 * owner had at claude_enrich, within claude.job_input_timeout, and a
 * committed cancel or pause interrupts them at once: the job in hand is
 * published in shared memory so claude_job_cancel can signal the worker.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/timeout.h"

#include "audit.h"
#include "guc.h"
#include "job_owner.h"

typedef struct JobWorkerState
{
	pg_atomic_uint32 pid;		/* the worker's, or 0 */
	pg_atomic_uint64 job;		/* the job it works on, or 0 */
} JobWorkerState;

static JobWorkerState *job_worker = NULL;

Size
claude_jobs_shmem_size(void)
{
	return MAXALIGN(sizeof(JobWorkerState));
}

void
claude_jobs_shmem_init(void)
{
	bool		found;

	job_worker = ShmemInitStruct("pg_claude job worker", sizeof(JobWorkerState), &found);
	if (!found)
	{
		pg_atomic_init_u32(&job_worker->pid, 0);
		pg_atomic_init_u64(&job_worker->job, 0);
	}
}

static void
set_job_in_hand(int64 job)
{
	if (job_worker == NULL)
		return;
	pg_atomic_write_u32(&job_worker->pid, (uint32) MyProcPid);
	pg_atomic_write_u64(&job_worker->job, (uint64) job);
}

void
claude_jobs_interrupt(int64 job)
{
	pid_t		pid;

	if (job_worker == NULL || pg_atomic_read_u64(&job_worker->job) != (uint64) job)
		return;
	pid = (pid_t) pg_atomic_read_u32(&job_worker->pid);
	/* as pg_cancel_backend does; the worker then finds the job stopped */
	if (pid != 0)
		(void) kill(pid, SIGINT);
}

/*
 * Owner code must finish within claude.job_input_timeout.  A timeout of
 * our own (not statement_timeout) so the error can say which limit hit.
 */
static TimeoutId input_timeout = MAX_TIMEOUTS;
static volatile sig_atomic_t input_timed_out = false;

static void
input_timeout_handler(void)
{
	input_timed_out = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* What to record for an error that ended a job's round. */
char *
claude_job_error_message(ErrorData *edata)
{
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && input_timed_out)
		return psprintf("the job's input expression (or a trigger on its table) ran longer than "
						"claude.job_input_timeout (%d ms) over a batch of rows", claude_job_input_timeout_ms);
	return edata->message;
}

/*
 * Act as a job's owner (its privileges, for the user's own tables), and
 * back as the worker.  The owner's code (the input expression, triggers on
 * its table) runs as a restricted operation, as in VACUUM or REFRESH: it
 * cannot change role, whatever settings it changes are undone on the way
 * back, it runs under the search_path the owner had at claude_enrich
 * (never one another role could have shaped), and it must finish within
 * claude.job_input_timeout, so no input can hold the worker.  The worker
 * itself runs with search_path = pg_catalog, pg_temp (privilege.h).
 */
static int	owner_guc_level = 0;

void
claude_job_become_owner(Oid role, const char *search_path)
{
	SetUserIdAndSecContext(role, SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	if (owner_guc_level == 0)
	{
		owner_guc_level = NewGUCNestLevel();
		(void) set_config_option("search_path", search_path ? search_path : "\"$user\", public",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
	if (input_timeout == MAX_TIMEOUTS)
		input_timeout = RegisterTimeout(USER_TIMEOUT, input_timeout_handler);
	input_timed_out = false;
	/* a cancel interrupts owner code only, never requests in flight (paid for) */
	set_job_in_hand(claude_current_job_id);
	if (claude_job_input_timeout_ms > 0)
		enable_timeout_after(input_timeout, claude_job_input_timeout_ms);
}

void
claude_job_become_worker(void)
{
	if (input_timeout != MAX_TIMEOUTS)
		disable_timeout(input_timeout, false);
	set_job_in_hand(0);
	/* after an abort the transaction has already undone the settings */
	if (owner_guc_level > 0 && IsTransactionState())
		AtEOXact_GUC(false, owner_guc_level);
	owner_guc_level = 0;
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, 0);
}


bool
claude_job_input_timed_out(void)
{
	return input_timed_out;
}
