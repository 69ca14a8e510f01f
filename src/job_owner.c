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
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/timeout.h"

#include "audit.h"
#include "guc.h"
#include "job_owner.h"

typedef struct JobWorkerState
{
	pg_atomic_uint32 pid;		/* the worker's, or 0 */
	pg_atomic_uint64 job;		/* the job whose owner code it runs, or 0 */
	pg_atomic_uint64 killed;	/* a job whose owner code ignored its cancel: the worker died of it */
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
		pg_atomic_init_u64(&job_worker->killed, 0);
	}
}

static void
set_job_in_hand(int64 job)
{
	if (job_worker == NULL)
		return;
	pg_atomic_write_u32(&job_worker->pid, job ? (uint32) MyProcPid : 0);
	pg_atomic_write_u64(&job_worker->job, (uint64) job);
}

/* A worker that dies leaves no pid behind for a cancel to signal. */
static void
forget_job_in_hand(int code, Datum arg)
{
	set_job_in_hand(0);
}

int64
claude_jobs_take_killed(void)
{
	return job_worker ? (int64) pg_atomic_exchange_u64(&job_worker->killed, 0) : 0;
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
 * Owner code must finish within claude.job_input_timeout for each work
 * transaction (a batch of rows populated, claimed or written), however many
 * statements it runs.  A timeout of our own (not statement_timeout) so the
 * error can say which limit hit.  Code that catches the cancel and goes on
 * gets as long again; then the worker ends itself (FATAL cannot be caught),
 * naming the job in shared memory so that, restarted, it fails that job
 * instead of running it again.
 */
static TimeoutId input_timeout = MAX_TIMEOUTS;
static TimeoutId input_deadline = MAX_TIMEOUTS;
static volatile sig_atomic_t input_timed_out = false;
static bool input_timer_armed = false;

static void
input_timeout_handler(void)
{
	input_timed_out = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* Twice the limit and still running: the cancel was caught. */
static void
input_deadline_handler(void)
{
	if (job_worker)
		pg_atomic_write_u64(&job_worker->killed, pg_atomic_read_u64(&job_worker->job));
	input_timed_out = true;
	ProcDiePending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

void
claude_job_owner_time_end(void)
{
	if (input_timer_armed)
	{
		disable_timeout(input_timeout, false);
		disable_timeout(input_deadline, false);
	}
	input_timer_armed = false;
	input_timed_out = false;	/* read by the recovery before it gets here */
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
claude_job_become_owner(int64 job, Oid role, const char *search_path)
{
	SetUserIdAndSecContext(role, SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	if (owner_guc_level == 0)
	{
		owner_guc_level = NewGUCNestLevel();
		(void) set_config_option("search_path", search_path ? search_path : "\"$user\", public",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
	if (input_timeout == MAX_TIMEOUTS)
	{
		input_timeout = RegisterTimeout(USER_TIMEOUT, input_timeout_handler);
		input_deadline = RegisterTimeout(USER_TIMEOUT, input_deadline_handler);
		before_shmem_exit(forget_job_in_hand, 0);
	}
	/* a cancel interrupts owner code only, never requests in flight (paid for) */
	set_job_in_hand(job);
	if (!input_timer_armed)
	{
		input_timed_out = false;
		if (claude_job_input_timeout_ms > 0)
		{
			enable_timeout_after(input_timeout, claude_job_input_timeout_ms);
			enable_timeout_after(input_deadline, claude_job_input_timeout_ms +
								 Max(claude_job_input_timeout_ms, 1000));
			input_timer_armed = true;
		}
	}
}

void
claude_job_become_worker(void)
{
	/* the time limit spans the work transaction; after an abort, it is over */
	if (!IsTransactionState())
		claude_job_owner_time_end();
	set_job_in_hand(0);
	/* session-level advisory locks the owner's code took do not stay with the worker */
	LockReleaseSession(USER_LOCKMETHOD);
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
