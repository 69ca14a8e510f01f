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

/* The workers' wake-up state in shared memory: size, attach. */
extern Size claude_worker_shmem_size(void);
extern void claude_worker_shmem_init(void);

/* Wake the job worker (work was queued and committed). */
extern void claude_wake_job_worker(void);

/* Wake the audit writer (records are in the ring). */
extern void claude_wake_audit_writer(void);

/* Audit writer start: take its slot, so that backends can wake it. */
extern void claude_worker_attach_audit_writer(void);

/* Worker start: the search_path every worker runs its own SQL with. */
extern void claude_worker_pin_search_path(void);

#endif							/* PG_CLAUDE_WORKER_H */
