/*-------------------------------------------------------------------------
 *
 * wakeup.h
 *	  Waking the workers (wakeup.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_WAKEUP_H
#define PG_CLAUDE_WAKEUP_H

/* The workers' latches in shared memory ("pg_claude workers"). */
extern Size claude_wakeup_shmem_size(void);
extern void claude_wakeup_shmem_init(void);

/* Wake the job worker (work was queued and committed). */
extern void claude_wake_job_worker(void);

/* Wake the audit writer (records are in the ring). */
extern void claude_wake_audit_writer(void);

/* At a worker's start: take its slot, so that backends can wake it. */
extern void claude_wakeup_attach_audit_writer(void);
extern void claude_wakeup_attach_job_worker(void);

#endif							/* PG_CLAUDE_WAKEUP_H */
