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

#endif							/* PG_CLAUDE_ENRICH_TABLE_H */
