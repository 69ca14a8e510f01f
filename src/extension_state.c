/*-------------------------------------------------------------------------
 *
 * extension_state.c
 *	  Is pg_claude installed in this database?  Asked before every cache
 *	  lookup and every drain of the audit ring, so the answer is kept.
 *
 * Finding the extension is a scan of pg_extension (it has no syscache), a
 * good part of a cache hit's or an audit record's cost.  A "yes" is kept
 * until the catalogs change: DROP EXTENSION drops the schema claude and
 * its tables, which invalidates the namespace syscache and the relcache,
 * and any such invalidation (or a cache reset) makes the next call scan
 * again.  A "no" is never kept, so CREATE EXTENSION is seen at once.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/extension.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#include "extension_state.h"

static bool installed = false;
static bool callbacks_registered = false;

static void
forget_namespace(Datum arg, int cacheid, uint32 hashvalue)
{
	installed = false;
}

static void
forget_relation(Datum arg, Oid relid)
{
	installed = false;
}

bool
claude_extension_installed(void)
{
	if (!callbacks_registered)
	{
		CacheRegisterSyscacheCallback(NAMESPACEOID, forget_namespace, (Datum) 0);
		CacheRegisterRelcacheCallback(forget_relation, (Datum) 0);
		callbacks_registered = true;
	}
	if (!installed)
		installed = OidIsValid(get_extension_oid("pg_claude", true));
	return installed;
}
