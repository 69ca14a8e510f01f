/*-------------------------------------------------------------------------
 *
 * privilege.c
 *	  The one way pg_claude runs SQL with rights the caller lacks.
 *
 * Callers may read their own audit rows but never write claude.usage,
 * claude.cache or claude.job themselves; pg_claude does that for them.
 * Such SQL runs:
 *   - as the extension's owner (as pg_cron does), not the bootstrap
 *     superuser;
 *   - as a security-restricted operation (no SET ROLE, no lasting
 *     settings), as VACUUM and REFRESH MATERIALIZED VIEW run user code;
 *   - with search_path = pg_catalog, pg_temp, so an operator or function
 *     a caller created in a schema of their own is never chosen;
 * and its text qualifies every operator and function besides
 * (OPERATOR(pg_catalog.=), pg_catalog.now()), which keeps it correct even
 * where the path is not ours to pin.
 *
 * The identity and the setting are restored on the way out, also when the
 * SQL fails, so an error caught further up can never leave a caller
 * holding the owner's rights.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"

#include "privilege.h"

Oid
claude_extension_owner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("pg_claude"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

void
claude_pin_search_path(void)
{
	(void) set_config_option("search_path", CLAUDE_SAFE_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
claude_privilege_enter(ClaudePrivilege *p)
{
	Oid			owner = claude_extension_owner();

	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pg_claude\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION pg_claude.")));
	GetUserIdAndSecContext(&p->saved_user, &p->saved_sec);
	p->guc_level = NewGUCNestLevel();
	claude_pin_search_path();
	SetUserIdAndSecContext(owner, p->saved_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
claude_privilege_leave(ClaudePrivilege *p)
{
	SetUserIdAndSecContext(p->saved_user, p->saved_sec);
	AtEOXact_GUC(false, p->guc_level);
}

void
claude_run_privileged(ClaudePrivilegedFn fn, void *arg)
{
	ClaudePrivilege p;

	claude_privilege_enter(&p);
	PG_TRY();
	{
		fn(arg);
	}
	PG_FINALLY();
	{
		claude_privilege_leave(&p);
	}
	PG_END_TRY();
}

typedef struct OwnerQuery
{
	const char *sql;
	int			nargs;
	Oid		   *types;
	Datum	   *values;
	const char *nulls;
	bool		read_only;
	bool	   *isnull;
	Datum		result;
	MemoryContext cxt;
} OwnerQuery;

static void
owner_query(void *arg)
{
	OwnerQuery *q = (OwnerQuery *) arg;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args(q->sql, q->nargs, q->types, q->values, q->nulls, q->read_only, 1);
	if (rc < 0)
		elog(ERROR, "pg_claude: query failed (%s): %s", SPI_result_code_string(rc), q->sql);
	*q->isnull = true;
	if (SPI_processed > 0 && SPI_tuptable != NULL)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, q->isnull);

		/* copied out of SPI's memory, which SPI_finish frees */
		if (!*q->isnull)
		{
			Form_pg_attribute att = TupleDescAttr(SPI_tuptable->tupdesc, 0);
			MemoryContext old = MemoryContextSwitchTo(q->cxt);

			q->result = datumCopy(d, att->attbyval, att->attlen);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
}

Datum
claude_owner_query(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
				   bool read_only, bool *isnull)
{
	OwnerQuery	q = {sql, nargs, types, values, nulls, read_only, isnull, (Datum) 0,
	CurrentMemoryContext};

	*isnull = true;
	claude_run_privileged(owner_query, &q);
	return q.result;
}

void
claude_pin_worker_search_path(void)
{
	SetConfigOption("search_path", CLAUDE_SAFE_SEARCH_PATH, PGC_SUSET, PGC_S_SESSION);
}
