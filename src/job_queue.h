/*-------------------------------------------------------------------------
 *
 * job_queue.h
 *	  Enrichment jobs in the tables (job_queue.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_JOB_QUEUE_H
#define PG_CLAUDE_JOB_QUEUE_H

#include "nodes/pg_list.h"

#include "task.h"
#include "work_item.h"

typedef struct Job
{
	int64		id;
	Oid			owner;
	char	   *owner_name;
	Oid			source;
	char	   *source_name;	/* qualified, quoted; NULL when the table is gone */
	char	   *input;			/* SQL expression over the source row */
	char	   *output;			/* column name */
	char	   *output_type;	/* format_type of the output column */
	char	   *into;			/* the result table (qualified, quoted), or NULL: in place */
	char	   *task_name;
	char	   *options;
	char	   *state;
	char	   *search_path;	/* the owner's, at claude_enrich */
	char	   *definition;		/* what it sends (job_definition.c); NULL: queued before 0.3.0 */
	char	   *definition_sha256;	/* its digest, kept with each row's hash; or NULL */
	const char *provider;		/* the definition's: where its requests go (provider.h) */
	const struct ClaudeCallPolicy *policy;	/* the definition's: the owner's redaction and guardrail, or NULL */
	const char *redo;			/* which rows: changed, missing or all */
	List	   *pk_names;		/* the primary key's columns, quoted */
	List	   *pk_types;		/* and their types (format_type) */
	bool		input_bytea;	/* the input is bytes: each row's attachment (doc/job_definition.md) */
	ClaudeTask	task;

	/*
	 * Failing fast: the job's claude.job_max_consecutive_failures, and the
	 * current run of rows failing with the same non-retryable error code.
	 */
	int			max_failures;	/* 0: never stop */
	int			streak;
	char		streak_code[128];	/* as long as an AWS error type (http.h) */
	bool		succeeded;		/* a row has been done (since the worker took the job) */
} Job;

/*
 * SQL over the primary key: its names (a, b), its columns in the source
 * (s.a, s.b), a jsonb object of them, or read back from a jsonb
 * expression json.
 */
typedef enum PkForm
{
	PK_NAMES,					/* a, b */
	PK_COLUMNS,					/* s.a, s.b */
	PK_OBJECT,					/* pg_catalog.jsonb_build_object('a', s.a, ...) */
	PK_FROM_JSON				/* (x ->> 'a')::ta, ... for a jsonb expression x */
} PkForm;

extern char *claude_job_pk_sql(const Job *job, PkForm form, const char *json);

/* SQL true for a source row s that has no result yet. */
extern char *claude_job_missing_sql(const Job *job);

/*
 * A row's input v as the job reads it: its cast (text, or bytea when the
 * input is a document's or image's bytes) and the SQL of its hash, the
 * same in claude_enrich's estimate and the worker.
 */
extern const char *claude_job_input_cast(const Job *job);
extern char *claude_job_input_hash_sql(const Job *job, const char *v);

/* Is the input bytes (bytea, or a domain over it)?  Planned as the owner. */
extern bool claude_job_input_is_bytea(const Job *job);

/* The oldest queued or running job, or NULL; in a work transaction. */
extern Job *claude_job_pick(void);

/* The primary key's columns and types, for the job's SQL. */
extern void claude_job_pk_columns(Job *job);

/* The job's state as committed now ("gone" if deleted). */
extern char *claude_job_state(int64 id);

/*
 * Fail a job that is still queued or running (never undo a cancel), with
 * its error code (an AWS error code or a SQLSTATE) and, when the job
 * stopped over its rows' failures, a failed row's key (jsonb text); code
 * and pk may be NULL.
 */
extern void claude_job_fail(Job *job, const char *code, const char *error, const char *pk);

/*
 * Queue every row whose input has no result or changed, in transactions
 * of its own; false if the job stopped being queued meanwhile.
 */
extern bool claude_job_populate(Job *job);

/* Claim up to n pending rows and read their inputs (as the owner). */
extern WorkRound *claude_job_claim(Job *job, int n);

/* Write finished rows: results (as the owner), hashes, marks, counters. */
extern void claude_job_write(Job *job, WorkItem **items, int nitems);

/* After an error: claimed rows back to the queue (requests failed with error, if any). */
extern void claude_job_requeue_claimed(int64 job, const char *error);

#endif							/* PG_CLAUDE_JOB_QUEUE_H */
