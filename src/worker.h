/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The pg_claude background worker.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_WORKER_H
#define PG_CLAUDE_WORKER_H

/* Register the worker; call from _PG_init while preloading. */
extern void claude_worker_register(void);

#endif							/* PG_CLAUDE_WORKER_H */
