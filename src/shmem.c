/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared memory for pg_claude, requested and attached through the
 *	  standard hooks (as pg_stat_statements does).
 *
 * Only exists with shared_preload_libraries = 'pg_claude'.  Each concern
 * owns its own struct (credentials.c: the shared credential cache); this
 * file only sizes and attaches them, chaining any previous hooks.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "audit_ring.h"
#include "credentials.h"
#include "job_owner.h"
#include "jobs.h"
#include "shmem.h"
#include "wakeup.h"

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
claude_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(claude_credentials_shmem_size());
	RequestAddinShmemSpace(claude_audit_shmem_size());
	RequestAddinShmemSpace(claude_jobs_shmem_size());
	RequestAddinShmemSpace(claude_wakeup_shmem_size());
	RequestNamedLWLockTranche("pg_claude credentials", 1);
	RequestNamedLWLockTranche("pg_claude audit", 1);
}

static void
claude_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	claude_credentials_shmem_init();
	claude_audit_shmem_init();
	claude_jobs_shmem_init();
	claude_wakeup_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

void
claude_shmem_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = claude_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = claude_shmem_startup;
}
