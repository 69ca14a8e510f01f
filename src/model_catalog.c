/*-------------------------------------------------------------------------
 *
 * model_catalog.c
 *	  claude.model_info() read from C, cached for the transaction, and the
 *	  traits Bedrock teaches by refusing a request (doc/models.md).
 *
 * A lookup is one query as the extension owner (path pinned), whose row
 * comes back as JSON.  Entries live until claude.models changes: its
 * statement trigger (claude.models_changed) invalidates the table's relcache
 * entry, which reaches every backend at commit (and this one at once), and
 * the relcache callback here forgets everything read.  An aborted
 * transaction forgets too, since what it read may have been its own.  A learnt trait applies
 * at once in this backend and is written as a 'learned' row of the base
 * model when the caller next flushes inside a transaction it may write in.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "model_catalog.h"
#include "privilege.h"
#include "subxact.h"

typedef struct CachedInfo
{
	struct CachedInfo *next;
	ClaudeModelInfo info;
} CachedInfo;

typedef struct Learnt
{
	struct Learnt *next;
	char	   *base_model;
	ClaudeLearnable trait;
	char	   *message;
	bool		written;
} Learnt;

static MemoryContext cache_cxt = NULL;	/* reset when the catalogue changes */
static CachedInfo *cache = NULL;
static MemoryContext learnt_cxt = NULL; /* for the backend's life */
static Learnt *learnt = NULL;

static uint64 forgotten = 0;	/* times forget() ran: a lookup it overlapped is not kept */

static void
forget(void)
{
	forgotten++;
	if (cache_cxt)
		MemoryContextReset(cache_cxt);
	cache = NULL;
}

static Oid	models_relid = InvalidOid;	/* claude.models, as of the last lookup */

/*
 * Any relcache invalidation of claude.models (or of everything).  No
 * catalog access here: the table's oid was noted when it was read.
 */
static void
relcache_changed(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || !OidIsValid(models_relid) || relid == models_relid)
		forget();
}

static void
at_xact_end(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		forget();
}

static void
ensure_contexts(void)
{
	if (cache_cxt != NULL)
		return;
	cache_cxt = AllocSetContextCreate(TopMemoryContext, "pg_claude model catalogue",
									  ALLOCSET_SMALL_SIZES);
	learnt_cxt = AllocSetContextCreate(TopMemoryContext, "pg_claude learnt traits",
									   ALLOCSET_SMALL_SIZES);
	RegisterXactCallback(at_xact_end, NULL);
	CacheRegisterRelcacheCallback(relcache_changed, (Datum) 0);
}

PG_FUNCTION_INFO_V1(claude_models_changed);

/* claude.models_changed(): the statement trigger that tells every backend. */
Datum
claude_models_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("claude.models_changed() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

static const char *
json_str(const cJSON *row, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);

	return cJSON_IsString(v) ? pstrdup(v->valuestring) : NULL;
}

static ClaudeTrait
json_trait(const cJSON *row, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);

	return cJSON_IsBool(v) ? (cJSON_IsTrue(v) ? TRAIT_YES : TRAIT_NO) : TRAIT_UNKNOWN;
}

static int
json_int(const cJSON *row, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);

	return cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < PG_INT32_MAX ?
		(int) v->valuedouble : 0;
}

static ClaudeThinking
thinking_of(const char *mode)
{
	if (mode == NULL)
		return THINKING_UNKNOWN;
	if (strcmp(mode, "none") == 0)
		return THINKING_NONE;
	if (strcmp(mode, "enabled") == 0)
		return THINKING_ENABLED;
	if (strcmp(mode, "adaptive") == 0)
		return THINKING_ADAPTIVE;
	if (strcmp(mode, "always_on") == 0)
		return THINKING_ALWAYS_ON;
	return THINKING_UNKNOWN;
}

static void
read_row(ClaudeModelInfo *info, const char *json)
{
	cJSON	   *row = cJSON_Parse(json);
	const cJSON *v;
	ClaudeModelTraits *t = &info->traits;

	if (row == NULL)
		return;
	info->resolved_by = json_str(row, "resolved_by");
	info->kind = json_str(row, "kind");
	info->base_model = json_str(row, "base_model");
	info->family = json_str(row, "family");
	info->region = json_str(row, "region");
	info->lifecycle = json_str(row, "lifecycle");
	info->end_of_life = json_str(row, "end_of_life");
	info->successor = json_str(row, "successor");
	info->messages_api = json_trait(row, "messages_api");
	v = cJSON_GetObjectItemCaseSensitive(row, "destinations");
	if (cJSON_IsArray(v))
	{
		const cJSON *d;
		int			i = 0;

		info->ndestinations = cJSON_GetArraySize(v);
		info->destinations = palloc0(sizeof(char *) * (info->ndestinations + 1));
		cJSON_ArrayForEach(d, v)
			info->destinations[i++] = pstrdup(cJSON_IsString(d) ? d->valuestring : "");
	}
	t->temperature = json_trait(row, "temperature");
	t->top_p = json_trait(row, "top_p");
	t->top_k = json_trait(row, "top_k");
	t->forced_tool_choice = json_trait(row, "forced_tool_choice");
	t->structured_output = json_trait(row, "structured_output");
	t->prompt_caching = json_trait(row, "prompt_caching");
	t->count_tokens = json_trait(row, "count_tokens");
	t->vision = json_trait(row, "vision");
	t->thinking = thinking_of(json_str(row, "thinking"));
	t->cache_min_tokens = json_int(row, "cache_min_tokens");
	t->context_window = json_int(row, "context_window");
	t->max_output = json_int(row, "max_output");
	v = cJSON_GetObjectItemCaseSensitive(row, "output_burndown");
	t->output_burndown = cJSON_IsNumber(v) ? v->valuedouble : -1;
	v = cJSON_GetObjectItemCaseSensitive(row, "cache_ttls");
	if (cJSON_IsArray(v))
	{
		const cJSON *ttl;

		t->cache_1h = TRAIT_NO;
		cJSON_ArrayForEach(ttl, v)
			if (cJSON_IsString(ttl) && strcmp(ttl->valuestring, "1h") == 0)
			t->cache_1h = TRAIT_YES;
	}
	t->inherited = info->resolved_by && strcmp(info->resolved_by, "family") == 0;
	cJSON_Delete(row);
}

static bool
catalogue_installed(void)
{
	bool		isnull;
	Datum		d = claude_owner_query("SELECT pg_catalog.to_regprocedure('claude.model_info(text)') IS NOT NULL",
									   0, NULL, NULL, NULL, true, &isnull);

	return !isnull && DatumGetBool(d);
}

static void
lookup(ClaudeModelInfo *info)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	Datum		d;

	if (!catalogue_installed())
		return;
	models_relid = get_relname_relid("models", get_namespace_oid("claude", true));
	values[0] = CStringGetTextDatum(info->model);
	d = claude_owner_query("SELECT pg_catalog.row_to_json(i)::text FROM claude.model_info($1) AS i",
						   1, types, values, NULL, true, &isnull);
	if (!isnull)
		read_row(info, TextDatumGetCString(d));
}

/* The id a learnt trait is recorded under: the base model. */
static const char *
learnt_key(const ClaudeModelInfo *info)
{
	return info->base_model ? info->base_model : info->model;
}

const ClaudeModelInfo *
claude_model_info(const char *model)
{
	CachedInfo *c;
	MemoryContext old;
	MemoryContext entry_cxt;
	uint64		seen;
	Learnt	   *l;

	ensure_contexts();
	for (c = cache; c; c = c->next)
		if (strcmp(c->info.model, model) == 0)
			return &c->info;

	/*
	 * The entry is built in a context of its own under the caller's, not in
	 * cache_cxt: the lookup takes locks, a lock accepts invalidations, and
	 * an invalidation resets cache_cxt (forget), which would free the entry
	 * half built.  An error frees it with the caller's memory; only a whole
	 * entry is handed to cache_cxt.
	 */
	seen = forgotten;
	entry_cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_claude model entry", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(entry_cxt);
	c = palloc0(sizeof(CachedInfo));
	c->info.model = pstrdup(model);
	c->info.resolved_by = "unknown";
	c->info.ndestinations = -1;
	c->info.traits.output_burndown = -1;
	if (IsTransactionState())
		lookup(&c->info);
	for (l = learnt; l; l = l->next)
		if (strcmp(l->base_model, learnt_key(&c->info)) == 0)
			claude_model_traits_apply(&c->info.traits, l->trait);
	MemoryContextSwitchTo(old);
	MemoryContextSetParent(entry_cxt, cache_cxt);
	/*
	 * Kept for the next caller only when read in a transaction and no
	 * invalidation came in meanwhile (what was read may be stale); either
	 * way it lives until the next forget.
	 */
	if (IsTransactionState() && seen == forgotten)
	{
		c->next = cache;
		cache = c;
	}
	return &c->info;
}

void
claude_model_routes(const char *model, ClaudeModelRoutes *routes)
{
	const ClaudeModelInfo *info = claude_model_info(model);
	bool		app = info->kind && strcmp(info->kind, "application_profile") == 0;

	routes->destinations = info->destinations;
	routes->n = app ? info->ndestinations : -1;
}

void
claude_model_traits_apply(ClaudeModelTraits *t, ClaudeLearnable trait)
{
	switch (trait)
	{
		case LEARN_TEMPERATURE:
			t->temperature = TRAIT_NO;
			break;
		case LEARN_TOP_P:
			t->top_p = TRAIT_NO;
			break;
		case LEARN_TOP_K:
			t->top_k = TRAIT_NO;
			break;
		case LEARN_FORCED_TOOL_CHOICE:
			t->forced_tool_choice = TRAIT_NO;
			break;
		case LEARN_STRUCTURED_OUTPUT:
			t->structured_output = TRAIT_NO;
			break;
		case LEARN_PROMPT_CACHING:
			t->prompt_caching = TRAIT_NO;
			break;
		case LEARN_THINKING_ALWAYS_ON:
			t->thinking = THINKING_ALWAYS_ON;
			break;
	}
}

/*
 * Bedrock's refusals name the parameter (test/emulator/README.md, "Trait
 * refusals", as the real models word them): the first one named wins.
 */
bool
claude_model_refusal(const char *msg, ClaudeLearnable *trait)
{
	if (msg == NULL)
		return false;
	if (strstr(msg, "Thinking may not be enabled when tool_choice forces tool use") ||
		(strstr(msg, "tool_choice") && strstr(msg, "forc")))
		*trait = LEARN_FORCED_TOOL_CHOICE;
	else if (strstr(msg, "output_config.format") || strstr(msg, "output_config:"))
		*trait = LEARN_STRUCTURED_OUTPUT;
	else if (strstr(msg, "prompt caching") || strstr(msg, "cache_control"))
		*trait = LEARN_PROMPT_CACHING;
	else if (strstr(msg, "`temperature`") || strncmp(msg, "temperature", 11) == 0)
		*trait = LEARN_TEMPERATURE;
	else if (strstr(msg, "`top_p`") || strncmp(msg, "top_p", 5) == 0)
		*trait = LEARN_TOP_P;
	else if (strstr(msg, "`top_k`") || strncmp(msg, "top_k", 5) == 0)
		*trait = LEARN_TOP_K;
	else
		return false;
	return true;
}

void
claude_model_learn(const char *model, ClaudeLearnable trait, const char *aws_message)
{
	const ClaudeModelInfo *info = claude_model_info(model);
	const char *key = learnt_key(info);
	MemoryContext old;
	Learnt	   *l;
	CachedInfo *c;

	for (l = learnt; l; l = l->next)
		if (l->trait == trait && strcmp(l->base_model, key) == 0)
			return;
	old = MemoryContextSwitchTo(learnt_cxt);
	l = palloc0(sizeof(Learnt));
	l->base_model = pstrdup(key);
	l->trait = trait;
	l->message = pstrdup(aws_message ? aws_message : "");
	l->next = learnt;
	learnt = l;
	MemoryContextSwitchTo(old);

	/* every cached id of that base model learns it too */
	for (c = cache; c; c = c->next)
		if (strcmp(learnt_key(&c->info), key) == 0)
			claude_model_traits_apply(&c->info.traits, trait);
}

/* The column and value a learnt trait is written as. */
static const char *const learn_sql[] = {
	[LEARN_TEMPERATURE] = "temperature = false",
	[LEARN_TOP_P] = "top_p = false",
	[LEARN_TOP_K] = "top_k = false",
	[LEARN_FORCED_TOOL_CHOICE] = "forced_tool_choice = false",
	[LEARN_STRUCTURED_OUTPUT] = "structured_output = false",
	[LEARN_PROMPT_CACHING] = "prompt_caching = false",
	[LEARN_THINKING_ALWAYS_ON] = "thinking = 'always_on'",
};

static void
write_learnt(void *arg)
{
	Learnt	   *l = (Learnt *) arg;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	char	   *note = psprintf("learned from a refusal: %.200s", l->message);

	values[0] = CStringGetTextDatum(l->base_model);
	values[1] = CStringGetTextDatum(note);
	/* the row first, then the one column: a learnt row holds only what was learnt */
	(void) claude_owner_query(psprintf("INSERT INTO claude.models AS m (model_id, source, note) "
									   "VALUES ($1, 'learned', $2) ON CONFLICT (model_id, source) "
									   "DO UPDATE SET note = EXCLUDED.note, updated_at = pg_catalog.now() "
									   "RETURNING 1"),
							  2, types, values, NULL, false, &isnull);
	(void) claude_owner_query(psprintf("UPDATE claude.models AS m SET %s "
									   "WHERE m.model_id OPERATOR(pg_catalog.=) $1 "
									   "AND m.source OPERATOR(pg_catalog.=) 'learned' RETURNING 1",
									   learn_sql[l->trait]),
							  1, types, values, NULL, false, &isnull);
}

void
claude_model_learned_flush(void)
{
	Learnt	   *l;

	if (!IsTransactionState() || XactReadOnly || RecoveryInProgress())
		return;
	for (l = learnt; l; l = l->next)
	{
		struct ErrorData *edata;

		if (l->written)
			continue;
		edata = claude_try(write_learnt, l);
		if (edata == NULL)
			l->written = true;
		else
			FreeErrorData(edata);
	}
}
