/*-------------------------------------------------------------------------
 *
 * privilege.h
 *	  Running SQL as the extension owner, with a search_path no caller
 *	  controls (see privilege.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_PRIVILEGE_H
#define PG_CLAUDE_PRIVILEGE_H

#include "postgres.h"

/* the only search_path pg_claude's own SQL ever runs under */
#define CLAUDE_SAFE_SEARCH_PATH "pg_catalog, pg_temp"

typedef struct ClaudePrivilege
{
	Oid			saved_user;
	int			saved_sec;
	int			guc_level;
} ClaudePrivilege;

typedef void (*ClaudePrivilegedFn) (void *arg);

/* The role that owns pg_claude in this database, or InvalidOid. */
extern Oid	claude_extension_owner(void);

/* search_path = pg_catalog, pg_temp at the current GUC nest level */
extern void claude_pin_search_path(void);

/*
 * At a worker's start, for its whole life: session-level, so it overrides
 * any ALTER DATABASE/ROLE ... SET search_path.
 */
extern void claude_pin_worker_search_path(void);

/* Become the extension owner (restricted, path pinned) and back. */
extern void claude_privilege_enter(ClaudePrivilege *p);
extern void claude_privilege_leave(ClaudePrivilege *p);

/* fn(arg) as the extension owner; identity and path restored even on error. */
extern void claude_run_privileged(ClaudePrivilegedFn fn, void *arg);

/* One query as the extension owner; the first column of its first row. */
extern Datum claude_owner_query(const char *sql, int nargs, Oid *types, Datum *values,
								const char *nulls, bool read_only, bool *isnull);

#endif							/* PG_CLAUDE_PRIVILEGE_H */
