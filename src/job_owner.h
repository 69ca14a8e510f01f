/*-------------------------------------------------------------------------
 *
 * job_owner.h
 *	  Acting as a job's owner (job_owner.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_JOB_OWNER_H
#define PG_CLAUDE_JOB_OWNER_H

/* Shared state of the job worker: which job's owner code it is running. */
extern Size claude_jobs_shmem_size(void);
extern void claude_jobs_shmem_init(void);

/*
 * Interrupt the worker if it is running this job's owner code (a committed
 * cancel or pause): whatever the job's input is doing stops now.
 */
extern void claude_jobs_interrupt(int64 job);

/* Become job's owner (restricted, its path, the input timeout armed), and back. */
extern void claude_job_become_owner(int64 job, Oid role, const char *search_path);
extern void claude_job_become_worker(void);

/* End of a work transaction: owner code's time limit starts afresh. */
extern void claude_job_owner_time_end(void);

/* The job whose owner code made the last worker end itself, or 0 (taken). */
extern int64 claude_jobs_take_killed(void);

/* Did the last owner code run out of claude.job_input_timeout? */
extern bool claude_job_input_timed_out(void);

/* What to record for an error that ended a job's round. */
extern char *claude_job_error_message(ErrorData *edata);

#endif							/* PG_CLAUDE_JOB_OWNER_H */
