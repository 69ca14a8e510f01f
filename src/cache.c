/*-------------------------------------------------------------------------
 *
 * cache.c
 *	  The response cache (claude.cache): keys and lookups.
 *
 * A repeated identical request is answered from claude.cache without
 * calling Bedrock.  "Identical" is decided on the canonical request: the
 * model id and the body with object keys sorted, so two bodies that differ
 * only in key order or spacing share a key.  Lookups read the table with
 * an ordinary snapshot (no locks that could wait on anyone); the hit is
 * recorded, and new responses stored, by the audit path (audit.c), which
 * writes outside the caller's transaction when pg_claude is preloaded.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "cache.h"
#include "extension_state.h"
#include "guc.h"
#include "pg_compat.h"
#include "sigv4.h"

void
claude_sha256_text(const char *text, char out[65])
{
	sigv4_sha256_hex((const unsigned char *) text, strlen(text), out);
}

static int
compare_keys(const void *a, const void *b)
{
	return strcmp((*(cJSON *const *) a)->string, (*(cJSON *const *) b)->string);
}

/* Sort every object's members by key, recursively. */
static void
json_sort_keys(cJSON *node)
{
	cJSON	   *child;

	if (cJSON_IsObject(node))
	{
		int			n = cJSON_GetArraySize(node);
		cJSON	  **items = palloc(sizeof(cJSON *) * Max(n, 1));
		int			i = 0;

		cJSON_ArrayForEach(child, node)
			items[i++] = child;
		qsort(items, n, sizeof(cJSON *), compare_keys);
		/* relink in sorted order */
		for (i = 0; i < n; i++)
		{
			items[i]->prev = i > 0 ? items[i - 1] : items[n - 1];
			items[i]->next = i + 1 < n ? items[i + 1] : NULL;
		}
		node->child = n > 0 ? items[0] : NULL;
	}
	if (cJSON_IsObject(node) || cJSON_IsArray(node))
		cJSON_ArrayForEach(child, node)
			json_sort_keys(child);
}

const char *
claude_cache_role(const char *acting_role)
{
	if (claude_cache_scope == CLAUDE_CACHE_SCOPE_SHARED)
		return NULL;
	return acting_role ? acting_role : GetUserNameFromId(GetUserId(), false);
}

void
claude_cache_key(const char *role, const char *model, const char *body, char out[65])
{
	cJSON	   *root = cJSON_Parse(body);
	char	   *canonical;
	char	   *material;

	if (root != NULL)
	{
		json_sort_keys(root);
		canonical = cJSON_PrintUnformatted(root);
		cJSON_Delete(root);
	}
	else
		canonical = pstrdup(body);
	material = role ? psprintf("role %s\n%s\n%s", role, model, canonical) :
		psprintf("%s\n%s", model, canonical);
	claude_sha256_text(material, out);
}

/*
 * This backend's latest stores.  With pg_claude preloaded the worker
 * writes claude.cache a moment after the call; until then this backend
 * still answers its own repeats from here.  Bounded: RECENT_MAX entries.
 */
#define RECENT_MAX 128
#define RECENT_MAX_BYTES (256 * 1024)

typedef struct RecentEntry
{
	char		key[65];
	char	   *response;
	TimestampTz stored;
} RecentEntry;

static RecentEntry recent[RECENT_MAX];
static int	recent_next = 0;

void
claude_cache_remember(const char *key, const char *response)
{
	RecentEntry *e = &recent[recent_next];
	size_t		len = strlen(response);

	if (len > RECENT_MAX_BYTES)
		return;
	if (e->response)
		pfree(e->response);
	strlcpy(e->key, key, sizeof(e->key));
	e->response = MemoryContextStrdup(TopMemoryContext, response);
	e->stored = GetCurrentTimestamp();
	recent_next = (recent_next + 1) % RECENT_MAX;
}

static char *
recent_lookup(const char *key)
{
	int			i;

	for (i = 0; i < RECENT_MAX; i++)
	{
		RecentEntry *e = &recent[i];

		if (e->response == NULL || strcmp(e->key, key) != 0)
			continue;
		if (claude_cache_ttl_s > 0 &&
			GetCurrentTimestamp() > TimestampTzPlusMilliseconds(e->stored, (int64) claude_cache_ttl_s * 1000))
			return NULL;
		return pstrdup(e->response);
	}
	return NULL;
}

/*
 * The entry for key in claude.cache, read with one scan of its primary key
 * index: no SQL to parse or plan per hit (doc/architecture.md, "The cache
 * and the audit ring").  The table is the extension's and is read
 * directly, as its owner's SQL would: no caller's rights or objects take
 * part.  Never waits: a lock that blocks reading the table or its index
 * makes this call a miss.
 */
static char *
table_lookup(Oid relid, const char *key)
{
	Relation	heap;
	Relation	index;
	Oid			indexid;
	ScanKeyData skey;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	AttrNumber	response_att;
	AttrNumber	created_att;
	char	   *result = NULL;

	/* the scan reads as of the statement's snapshot; with none, a miss */
	if (!ActiveSnapshotSet())
		return NULL;
	heap = table_open(relid, NoLock);	/* locked by the caller */
	indexid = claude_primary_key_index(heap);
	response_att = get_attnum(relid, "response");
	created_att = get_attnum(relid, "created_at");
	if (!OidIsValid(indexid) || response_att == InvalidAttrNumber || created_att == InvalidAttrNumber)
	{
		table_close(heap, NoLock);
		return NULL;
	}
	if (!ConditionalLockRelationOid(indexid, AccessShareLock))
	{
		table_close(heap, NoLock);
		ereport(DEBUG1, (errmsg_internal("pg_claude: claude.cache's key index is locked; not using the cache for this call")));
		return NULL;
	}
	index = index_open(indexid, NoLock);

	ScanKeyEntryInitialize(&skey, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], F_TEXTEQ, CStringGetTextDatum(key));
	slot = table_slot_create(heap, NULL);
	scan = claude_index_beginscan(heap, index, GetActiveSnapshot(), 1);
	index_rescan(scan, &skey, 1, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		response_null;
		bool		created_null;
		Datum		response = slot_getattr(slot, response_att, &response_null);
		Datum		created = slot_getattr(slot, created_att, &created_null);

		/* claude.cache_ttl: entries older than that, measured from now(), are not reused */
		if (!response_null &&
			(claude_cache_ttl_s <= 0 ||
			 (!created_null &&
			  DatumGetTimestampTz(created) >
			  TimestampTzPlusMilliseconds(GetCurrentTransactionStartTimestamp(),
										  -(int64) claude_cache_ttl_s * 1000))))
			result = TextDatumGetCString(response);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, NoLock);
	table_close(heap, NoLock);
	return result;
}

char *
claude_cache_lookup(const char *key)
{
	char	   *result;
	Oid			nsp;
	Oid			relid;

	if (claude_cache_mode == CLAUDE_CACHE_OFF)
		return NULL;
	if ((result = recent_lookup(key)) != NULL)
		return result;
	if (!claude_extension_installed())
		return NULL;

	/*
	 * Never wait for the cache: if another transaction holds a lock that
	 * blocks reading it (VACUUM FULL, a LOCK TABLE), this call is a miss.
	 */
	nsp = get_namespace_oid("claude", true);
	relid = OidIsValid(nsp) ? get_relname_relid("cache", nsp) : InvalidOid;
	if (!OidIsValid(relid))
		return NULL;
	if (!ConditionalLockRelationOid(relid, AccessShareLock))
	{
		ereport(DEBUG1, (errmsg_internal("pg_claude: claude.cache is locked; not using the cache for this call")));
		return NULL;
	}
	return table_lookup(relid, key);
}
