/*-------------------------------------------------------------------------
 *
 * pg_claude.c
 *	  Module entry point: _PG_init only delegates.
 *
 * Synchronous functions work without preloading.  With
 * shared_preload_libraries = 'pg_claude', shared memory (the shared
 * credential cache, the audit ring) and the pg_claude worker exist too.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "anthropic.h"
#include "guc.h"
#include "shmem.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;
	/* postmaster settings can only be created while preloading */
	if (process_shared_preload_libraries_in_progress)
		claude_guc_init_postmaster();
	claude_guc_init();
	claude_anthropic_init();

	if (!process_shared_preload_libraries_in_progress)
		return;
	claude_shmem_install_hooks();
	claude_worker_register();
}
