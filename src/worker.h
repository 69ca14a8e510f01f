/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The pg_claude background workers: the job worker (asynchronous
 *	  requests, enrichment jobs) and the audit writer (claude.usage and
 *	  claude.cache from the shared ring, retention, eviction), and how
 *	  backends wake each of them.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_WORKER_H
#define PG_CLAUDE_WORKER_H

/* Register both workers; call from _PG_init while preloading. */
extern void claude_worker_register(void);

#endif							/* PG_CLAUDE_WORKER_H */
