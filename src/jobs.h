/*-------------------------------------------------------------------------
 *
 * jobs.h
 *	  The worker's work: asynchronous requests and enrichment jobs.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_JOBS_H
#define PG_CLAUDE_JOBS_H

/* Wake the worker (from a committing backend). */
extern void claude_jobs_wake_worker(void);

/* Worker start: requeue what a crash left claimed. */
extern void claude_jobs_recover(void);

/* Worker: one round of asynchronous requests and job rows; true if any work was done. */
extern bool claude_jobs_work(void);

#endif							/* PG_CLAUDE_JOBS_H */
