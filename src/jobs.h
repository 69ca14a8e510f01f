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

/* Refuse bad enrich options up front (22023). */
extern void claude_jobs_check_options(const char *task, const char *options);

/* An option's string value, or dflt. */
extern const char *claude_jobs_option(const char *options, const char *name, const char *dflt);

/*
 * Create (if needed) the result table of a job writing into a table, and
 * the view joining it to the source; returns the table's oid.  Runs as the
 * caller.
 */
extern Oid	claude_jobs_create_result_table(Oid source, const char *output, const char *task,
											const char *table_name);

/* Shared state of the job worker: which job it is working on. */
extern Size claude_jobs_shmem_size(void);
extern void claude_jobs_shmem_init(void);

/*
 * Interrupt the worker if it is working on this job (a committed cancel
 * or pause): whatever the job's input is doing stops now.
 */
extern void claude_jobs_interrupt(int64 job);

/* Worker start: requeue what a crash left claimed. */
extern void claude_jobs_recover(void);

/* Worker: one round of asynchronous requests and job rows; true if any work was done. */
extern bool claude_jobs_work(void);

#endif							/* PG_CLAUDE_JOBS_H */
