/*-------------------------------------------------------------------------
 *
 * drop_guard.c
 *	  Refuse DROP EXTENSION pg_claude (without CASCADE) while the audit
 *	  log holds rows: calls made and paid for are not erased by accident.
 *
 * An event trigger on ddl_command_start, limited to the DROP EXTENSION
 * tag, calls claude_drop_guard() before anything is dropped.  It reads the
 * statement's parse tree (which extensions, RESTRICT or CASCADE): no other
 * statement and no other extension costs more than a look at the tree.
 * Only when pg_claude is named without CASCADE does it count the rows, as
 * the extension owner with search_path pinned (privilege.c), so neither
 * the dropping role's objects nor its path take part (doc/security.md,
 * rule 1).  CASCADE, or emptying claude.usage first (TRUNCATE), is the
 * deliberate way to drop the log with the extension (README, "The audit
 * log").
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "utils/acl.h"

#include "privilege.h"

PG_FUNCTION_INFO_V1(claude_drop_guard);

/* Does this DROP name pg_claude without CASCADE? */
static bool
drops_pg_claude_restrict(Node *parsetree)
{
	DropStmt   *stmt;
	ListCell   *lc;

	if (parsetree == NULL || !IsA(parsetree, DropStmt))
		return false;
	stmt = (DropStmt *) parsetree;
	if (stmt->removeType != OBJECT_EXTENSION || stmt->behavior == DROP_CASCADE)
		return false;
	foreach(lc, stmt->objects)
	{
		Node	   *name = lfirst(lc);

		if (IsA(name, String) && strcmp(strVal(name), "pg_claude") == 0)
			return true;
	}
	return false;
}

/* A count(*) of one of pg_claude's tables, as the extension owner. */
static int64
owner_count(const char *table)
{
	bool		isnull;
	Datum		n = claude_owner_query(psprintf("SELECT pg_catalog.count(*) FROM %s", table),
									   0, NULL, NULL, NULL, true, &isnull);

	return isnull ? 0 : DatumGetInt64(n);
}

/*
 * claude_drop_guard() -> event_trigger
 *
 * Raised before the drop begins, so the refusal leaves everything as it
 * was.  An extension that is not there (DROP EXTENSION IF EXISTS in a
 * database without it) has nothing to guard.
 */
Datum
claude_drop_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Oid			extoid;
	int64		usage;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("claude.drop_guard() may only be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!drops_pg_claude_restrict(trigdata->parsetree))
		PG_RETURN_VOID();
	/* a role that may not drop it hears that from PostgreSQL, and no counts from us */
	extoid = get_extension_oid("pg_claude", true);
	if (!OidIsValid(extoid) || !pg_extension_ownercheck(extoid, GetUserId()))
		PG_RETURN_VOID();

	usage = owner_count("claude.usage");
	if (usage > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg_plural("cannot drop extension pg_claude because its audit log claude.usage holds " INT64_FORMAT " row",
							   "cannot drop extension pg_claude because its audit log claude.usage holds " INT64_FORMAT " rows",
							   (unsigned long) usage, usage),
				 errdetail("Dropping the extension would delete every audit row, with " INT64_FORMAT
						   " jobs in claude.job and " INT64_FORMAT " input hashes in claude.enrich_hashes.",
						   owner_count("claude.job"), owner_count("claude.enrich_hashes")),
				 errhint("Archive the log first (pg_dump keeps it, or \\copy claude.usage TO 'claude_usage.csv' CSV HEADER); "
						 "then use DROP EXTENSION pg_claude CASCADE, or TRUNCATE claude.usage and drop again.")));
	PG_RETURN_VOID();
}
