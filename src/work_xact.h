/*-------------------------------------------------------------------------
 *
 * work_xact.h
 *	  The worker's short transactions, SPI calls and memory (work_xact.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_WORK_XACT_H
#define PG_CLAUDE_WORK_XACT_H

/* The worker's memory for a round of work (created on first use). */
extern MemoryContext claude_work_context(void);

/* Where allocations go after each transaction; NULL: the work context. */
extern void claude_work_set_target(MemoryContext cxt);

/* A transaction with SPI connected and a snapshot pushed, and its commit. */
extern void claude_work_begin(void);
extern void claude_work_end(void);

/* One statement inside it; an error is raised, never returned. */
extern int	claude_work_sql(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls);

#endif							/* PG_CLAUDE_WORK_XACT_H */
