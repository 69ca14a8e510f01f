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

#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "cache.h"
#include "guc.h"
#include "privilege.h"
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

char *
claude_cache_lookup(const char *key)
{
	char	   *result = NULL;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	Datum		d;
	bool		isnull;

	if (claude_cache_mode == CLAUDE_CACHE_OFF)
		return NULL;
	if ((result = recent_lookup(key)) != NULL)
		return result;
	if (!OidIsValid(get_extension_oid("pg_claude", true)))
		return NULL;

	/*
	 * Never wait for the cache: if another transaction holds a lock that
	 * blocks reading it (VACUUM FULL, a LOCK TABLE), this call is a miss.
	 */
	{
		Oid			nsp = get_namespace_oid("claude", true);
		Oid			relid = OidIsValid(nsp) ? get_relname_relid("cache", nsp) : InvalidOid;

		if (!OidIsValid(relid))
			return NULL;
		if (!ConditionalLockRelationOid(relid, AccessShareLock))
		{
			ereport(DEBUG1, (errmsg_internal("pg_claude: claude.cache is locked; not using the cache for this call")));
			return NULL;
		}
	}

	values[0] = CStringGetTextDatum(key);
	values[1] = Int32GetDatum(claude_cache_ttl_s);

	/* the cache is the extension's: read as its owner (privilege.c) */
	d = claude_owner_query("SELECT c.response FROM claude.cache AS c "
						   "WHERE c.key OPERATOR(pg_catalog.=) $1 "
						   "AND ($2 OPERATOR(pg_catalog.=) 0 OR c.created_at OPERATOR(pg_catalog.>) "
						   "(pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $2)))",
						   2, types, values, NULL, true, &isnull);
	if (!isnull)
		result = TextDatumGetCString(d);
	return result;
}
