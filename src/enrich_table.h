/*-------------------------------------------------------------------------
 *
 * enrich_table.h
 *	  What claude_enrich sets up as its caller (enrich_table.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_ENRICH_TABLE_H
#define PG_CLAUDE_ENRICH_TABLE_H

#include "task.h"

/*
 * Refuse bad enrich options up front (22023), as the task's scalar
 * function would; *t is the task they make, under the caller's settings.
 */
extern void claude_jobs_check_options(const char *task, const char *options, ClaudeTask *t);

/*
 * Refuse (42804) an output column whose type cannot take the task's
 * results, naming the types that can.
 */
extern void claude_jobs_check_output_type(const ClaudeTask *t, Oid relid, AttrNumber attno);

/*
 * A job whose input is bytea (each row's document or image, sent as the
 * task's bytea form sends it): refuse (0A000) a task without such a form,
 * and batch mode (batch_mode: "mode" is "batch"), which does not carry them.
 */
extern void claude_jobs_check_attachment_input(const ClaudeTask *t, bool batch_mode);

/* An option's string value, or dflt. */
extern const char *claude_jobs_option(const char *options, const char *name, const char *dflt);

/*
 * Create (if needed) the result table of a job writing into a table, and
 * the view joining it to the source; returns the table's oid.  Runs as the
 * caller.
 */
extern Oid	claude_jobs_create_result_table(Oid source, const char *output, const char *task,
											const char *table_name);

#endif							/* PG_CLAUDE_ENRICH_TABLE_H */
