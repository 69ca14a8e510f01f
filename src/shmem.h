/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  Shared memory for pg_claude (only when preloaded).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_SHMEM_H
#define PG_CLAUDE_SHMEM_H

/* Install the request/startup hooks; call from _PG_init when preloading. */
extern void claude_shmem_install_hooks(void);

#endif							/* PG_CLAUDE_SHMEM_H */
