/*-------------------------------------------------------------------------
 *
 * job_estimate.h
 *	  What an enrichment job will do and cost, before anything is sent
 *	  (job_estimate.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_JOB_ESTIMATE_H
#define PG_CLAUDE_JOB_ESTIMATE_H

#include "job_definition.h"
#include "job_queue.h"

/*
 * Estimate job (source, input, output and into filled in) under def and
 * redo, reading the source as the caller; nothing_done: the job has no
 * result table yet, so every row is to do.
 */
extern void claude_job_estimate(Job *job, const ClaudeJobDefinition *def, const char *redo,
								bool nothing_done, ClaudeJobEstimate *est);

#endif							/* PG_CLAUDE_JOB_ESTIMATE_H */
