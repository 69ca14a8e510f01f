/*-------------------------------------------------------------------------
 *
 * pg_claude.c
 *	  Module entry point: _PG_init only delegates.
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

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;
	claude_guc_init();
	claude_anthropic_init();

	/* shared state (the shared credential cache) needs preloading */
	if (process_shared_preload_libraries_in_progress)
		claude_shmem_install_hooks();
}
