/*-------------------------------------------------------------------------
 *
 * wakeup.c
 *	  Waking the workers: their latches in a named shared struct.
 *
 * Backends wake the audit writer when they hand it records, and the job
 * worker when work they queued commits.  Each worker takes its slot at
 * start and gives it back at exit.  A leaf below both the workers and the
 * code that feeds them, so neither needs the other.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "wakeup.h"

typedef struct ClaudeWorkerSlot
{
	pid_t		pid;			/* 0 when not running */
	Latch	   *latch;
} ClaudeWorkerSlot;

typedef struct ClaudeWorkers
{
	slock_t		mutex;
	ClaudeWorkerSlot job_worker;
	ClaudeWorkerSlot audit_writer;
} ClaudeWorkers;

static ClaudeWorkers *workers = NULL;

Size
claude_wakeup_shmem_size(void)
{
	return MAXALIGN(sizeof(ClaudeWorkers));
}

void
claude_wakeup_shmem_init(void)
{
	bool		found;

	workers = ShmemInitStruct("pg_claude workers", claude_wakeup_shmem_size(), &found);
	if (!found)
	{
		memset(workers, 0, sizeof(ClaudeWorkers));
		SpinLockInit(&workers->mutex);
	}
}

static void
wake(ClaudeWorkerSlot *slot)
{
	Latch	   *latch;

	if (workers == NULL)
		return;
	SpinLockAcquire(&workers->mutex);
	latch = slot->latch;
	SpinLockRelease(&workers->mutex);
	if (latch)
		SetLatch(latch);
}

void
claude_wake_job_worker(void)
{
	if (workers)
		wake(&workers->job_worker);
}

void
claude_wake_audit_writer(void)
{
	if (workers)
		wake(&workers->audit_writer);
}

/* Clear this process's slot when it exits (a successor may have taken it). */
static void
slot_detach(int code, Datum arg)
{
	ClaudeWorkerSlot *slot = (ClaudeWorkerSlot *) DatumGetPointer(arg);

	SpinLockAcquire(&workers->mutex);
	if (slot->pid == MyProcPid)
	{
		slot->pid = 0;
		slot->latch = NULL;
	}
	SpinLockRelease(&workers->mutex);
}

static void
slot_attach(ClaudeWorkerSlot *slot)
{
	SpinLockAcquire(&workers->mutex);
	slot->pid = MyProcPid;
	slot->latch = MyLatch;
	SpinLockRelease(&workers->mutex);
	on_shmem_exit(slot_detach, PointerGetDatum(slot));
}

void
claude_wakeup_attach_audit_writer(void)
{
	slot_attach(&workers->audit_writer);
}

void
claude_wakeup_attach_job_worker(void)
{
	slot_attach(&workers->job_worker);
}
