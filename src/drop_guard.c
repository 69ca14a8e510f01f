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

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"
#include "nodes/value.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "pg_compat.h"
#include "privilege.h"

PG_FUNCTION_INFO_V1(claude_drop_guard);

/* Does this DROP EXTENSION name pg_claude?  *cascade: with CASCADE. */
static bool
drops_pg_claude(Node *parsetree, bool *cascade)
{
	DropStmt   *stmt;
	ListCell   *lc;

	if (parsetree == NULL || !IsA(parsetree, DropStmt))
		return false;
	stmt = (DropStmt *) parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	*cascade = stmt->behavior == DROP_CASCADE;
	foreach(lc, stmt->objects)
	{
		Node	   *name = lfirst(lc);

		if (IsA(name, String) && strcmp(strVal(name), "pg_claude") == 0)
			return true;
	}
	return false;
}

/*
 * Lock every relation of the claude schema before the drop starts, all or
 * none.  The job worker and the audit writer each touch several of these
 * tables in one transaction, and DROP EXTENSION locks them one at a time
 * as it drops them: the two deadlocked, and the DROP was the victim.
 * Taking every lock up front, and letting go and trying again shortly
 * while one is held, lets the worker's transaction end first; its next one
 * waits for the drop and then finds the extension gone (jobs.c).
 */
static void
lock_claude_relations(void)
{
	Oid			nsp = get_namespace_oid("claude", true);
	List	   *rels = NIL;
	Relation	pg_class;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;

	if (!OidIsValid(nsp))
		return;
	pg_class = table_open(RelationRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_class_relnamespace, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(nsp));
	scan = systable_beginscan(pg_class, InvalidOid, false, NULL, 1, &key);
	while ((tup = systable_getnext(scan)) != NULL)
		rels = lappend_oid(rels, ((Form_pg_class) GETSTRUCT(tup))->oid);
	systable_endscan(scan);
	table_close(pg_class, AccessShareLock);

	for (;;)
	{
		ListCell   *lc;
		int			got = 0;

		foreach(lc, rels)
		{
			if (!ConditionalLockRelationOid(lfirst_oid(lc), AccessExclusiveLock))
				break;
			got++;
		}
		if (got == list_length(rels))
			break;
		foreach(lc, rels)
		{
			if (got-- == 0)
				break;
			UnlockRelationOid(lfirst_oid(lc), AccessExclusiveLock);
		}
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10 * 1000L);
	}
	list_free(rels);
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
	bool		cascade = false;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("claude.drop_guard() may only be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!drops_pg_claude(trigdata->parsetree, &cascade))
		PG_RETURN_VOID();
	/* a role that may not drop it hears that from PostgreSQL, and no counts from us */
	extoid = get_extension_oid("pg_claude", true);
	if (!OidIsValid(extoid) || !claude_extension_ownercheck(extoid, GetUserId()))
		PG_RETURN_VOID();

	usage = cascade ? 0 : owner_count("claude.usage");
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
	/* the drop goes ahead */
	lock_claude_relations();
	PG_RETURN_VOID();
}
