/*-------------------------------------------------------------------------
 *
 * job_batch.h
 *	  Enrichment jobs as Bedrock batch inference (job_batch.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_JOB_BATCH_H
#define PG_CLAUDE_JOB_BATCH_H

#include "job_queue.h"

/* How a job's requests travel: its "mode" option. */
typedef enum ClaudeBatchMode
{
	CLAUDE_MODE_ON_DEMAND,		/* the default: InvokeModel per row */
	CLAUDE_MODE_BATCH,
	CLAUDE_MODE_AUTO			/* batch from claude.batch_min_rows rows to do */
} ClaudeBatchMode;

/* Bedrock refuses a batch inference job of fewer records. */
#define CLAUDE_BATCH_MIN_RECORDS 100

/* The "mode" option (22023 for anything else). */
extern ClaudeBatchMode claude_batch_mode(const char *options);

/*
 * claude_enrich, before it queues: batch asked for without
 * claude.batch_s3_uri or claude.batch_role_arn, or to a bucket the
 * residency policy refuses, fails now, before any object is written.
 */
extern void claude_batch_check_enqueue(const char *options);

/*
 * The worker, after populating: run the job's rows through batch inference
 * when its mode says so, resuming whatever phase a crash left.  Rows the
 * batch did not answer stay pending, for the on-demand path.  False when
 * the job stopped (cancelled, paused) meanwhile.
 */
extern bool claude_batch_run(Job *job);

#endif							/* PG_CLAUDE_JOB_BATCH_H */
