/*-------------------------------------------------------------------------
 *
 * job_definition.h
 *	  What an enrichment job sends, resolved and hashed when it is queued,
 *	  and which rows a run redoes (job_definition.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_JOB_DEFINITION_H
#define PG_CLAUDE_JOB_DEFINITION_H

#include "task.h"

/*
 * A job's definition: its task configured from its options under the
 * caller's settings (t), the definition as jsonb text (the options that
 * shape the request, with the task and the resolved model, max_tokens and
 * temperature) and its SHA-256 (hex).  The worker runs the definition.
 */
typedef struct ClaudeJobDefinition
{
	ClaudeTask	task;
	char	   *json;
	char		sha256[65];
} ClaudeJobDefinition;

extern void claude_job_definition(const char *task, const char *options, ClaudeJobDefinition *def);

/* What a job will send: rows, and tokens estimated (doc/job_definition.md). */
typedef struct ClaudeJobEstimate
{
	int64		rows;			/* rows the job would send */
	int64		input_tokens;	/* UTF-8 bytes / 4 of inputs and requests */
	int64		output_tokens;	/* at most: max_tokens per row */
} ClaudeJobEstimate;

/* The estimate for rows whose inputs total bytes, under def's task. */
extern void claude_job_estimate_tokens(const ClaudeTask *task, int64 rows, int64 bytes,
									   ClaudeJobEstimate *est);

/* The "redo" option, checked (22023 with the choices): changed, missing or all. */
extern const char *claude_job_redo(const char *options);

/*
 * Which rows a run does, as SQL over u.m (no result yet), u.h (the input's
 * hash) and e (the row's claude.enrich_hashes, outer-joined), with the
 * job's definition digest as parameter $digest_param (have_digest false:
 * a job queued before 0.3.0, with none).
 */
extern char *claude_job_redo_sql(const char *redo, bool have_digest, int digest_param);

#endif							/* PG_CLAUDE_JOB_DEFINITION_H */
