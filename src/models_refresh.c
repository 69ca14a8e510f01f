/*-------------------------------------------------------------------------
 *
 * models_refresh.c
 *	  claude_models_refresh() and the worker's schedule for it: what the
 *	  Bedrock control plane of claude.region lists (control_plane.c)
 *	  becomes that region's 'aws' rows of claude.models (doc/models.md,
 *	  "Refresh").
 *
 * Every listing is read first, with no SPI or transaction work between the
 * requests; only when all of them answered are the rows replaced, in one
 * step as the extension owner (privilege.c): a DELETE of the region's 'aws'
 * rows (and of any 'aws' row another region's refresh left under an id
 * listed here: the key is (model_id, source)) and an INSERT of what was
 * listed.  Never an UPDATE: the table's trigger would make it the user's
 * row.  A failure is a WARNING and the old rows stay.
 *
 *	- foundation models: kind, family and version (claude.model_family()),
 *	  modelName, on demand or not, lifecycle status and end of life,
 *	  vision (IMAGE among inputModalities; no list: NULL, nothing said); a
 *	  LEGACY one's successor is its family's newest ACTIVE model listed;
 *	- system profiles: by id, base model and destinations from models[]
 *	  (the regions of its foundation-model ARNs; a regionless ARN, as global
 *	  profiles show, makes them NULL: any region);
 *	- application profiles: by ARN, the same, with GetInferenceProfile
 *	  asked only when the listing leaves models[] out.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "bedrock.h"
#include "control_plane.h"
#include "guc.h"
#include "models_refresh.h"
#include "privilege.h"
#include "problem.h"
#include "subxact.h"

/* The worker's first look after it starts, and its next after a failure. */
#define FIRST_LOOK_S 60
#define RETRY_S 3600

enum
{
	FOUNDATION_MODELS,
	SYSTEM_PROFILES,
	APPLICATION_PROFILES,
	NKINDS
};

/* One refresh: what was listed, then what writing it changed. */
typedef struct Refresh
{
	char	   *rows;			/* the rows to write, a JSON array */
	int			listed[NKINDS];
	int64		added;
	int64		changed;
	int64		removed;
} Refresh;

/* The region of an ARN (arn:PARTITION:bedrock:REGION:...), or NULL if it names none. */
static char *
arn_region(const char *arn)
{
	const char *p = arn;
	const char *end;
	int			i;

	for (i = 0; i < 3 && p; i++)
	{
		p = strchr(p, ':');
		if (p)
			p++;
	}
	if (p == NULL || (end = strchr(p, ':')) == NULL || end == p)
		return NULL;
	return pnstrdup(p, end - p);
}

/* The model id of a foundation-model ARN, or NULL. */
static char *
arn_model(const char *arn)
{
	const char *slash = strstr(arn, ":foundation-model/");

	return slash ? pstrdup(slash + strlen(":foundation-model/")) : NULL;
}

static const char *
json_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* One row of claude.models, as jsonb_to_recordset reads it. */
static cJSON *
new_row(cJSON *rows, const char *model_id, const char *kind)
{
	cJSON	   *row = cJSON_CreateObject();

	cJSON_AddStringToObject(row, "model_id", model_id);
	cJSON_AddStringToObject(row, "kind", kind);
	cJSON_AddItemToArray(rows, row);
	return row;
}

static void
add_foundation_models(cJSON *rows, const cJSON *summaries, int *count)
{
	const cJSON *m;

	cJSON_ArrayForEach(m, summaries)
	{
		const char *id = json_string(m, "modelId");
		const cJSON *lifecycle = cJSON_GetObjectItemCaseSensitive(m, "modelLifecycle");
		const cJSON *modalities = cJSON_GetObjectItemCaseSensitive(m, "inputModalities");
		const cJSON *t;
		cJSON	   *row;
		bool		on_demand = false;
		const char *status = json_string(lifecycle, "status");
		const char *eol = json_string(lifecycle, "endOfLifeTime");

		if (id == NULL)
			continue;
		row = new_row(rows, id, "foundation_model");
		if (json_string(m, "modelName"))
			cJSON_AddStringToObject(row, "display_name", json_string(m, "modelName"));
		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(m, "inferenceTypesSupported"))
			on_demand |= cJSON_IsString(t) && strcmp(t->valuestring, "ON_DEMAND") == 0;
		cJSON_AddBoolToObject(row, "on_demand", on_demand);
		/* the table's CHECK knows these two; another status says nothing */
		if (status && (strcmp(status, "ACTIVE") == 0 || strcmp(status, "LEGACY") == 0))
			cJSON_AddStringToObject(row, "lifecycle", status);
		/* "2099-01-31T00:00:00Z": the day is what the table keeps */
		if (eol && strlen(eol) >= 10)
			cJSON_AddStringToObject(row, "end_of_life", pnstrdup(eol, 10));
		/* IMAGE among the input modalities: reads images and PDFs (doc/documents.md) */
		if (cJSON_IsArray(modalities))
		{
			bool		image = false;

			cJSON_ArrayForEach(t, modalities)
				image |= cJSON_IsString(t) && strcmp(t->valuestring, "IMAGE") == 0;
			cJSON_AddBoolToObject(row, "vision", image);
		}
		(*count)++;
	}
}

/*
 * A profile's row: base model and destinations from its models[]; false
 * with *problem set when GetInferenceProfile, asked because the listing
 * left models[] out, fails.
 */
static bool
add_profile(cJSON *rows, const cJSON *summary, bool application, int *count,
			ClaudeProblem *problem)
{
	const char *id = json_string(summary, application ? "inferenceProfileArn" : "inferenceProfileId");
	const cJSON *models = cJSON_GetObjectItemCaseSensitive(summary, "models");
	const cJSON *m;
	cJSON	   *row;
	cJSON	   *dest = cJSON_CreateArray();
	bool		anywhere = false;
	char	   *base = NULL;

	if (id == NULL)
		return true;
	if (cJSON_GetArraySize(models) == 0)
	{
		cJSON	   *profile = claude_control_inference_profile(id, problem);

		if (profile == NULL)
			return false;
		models = cJSON_GetObjectItemCaseSensitive(profile, "models");
	}
	cJSON_ArrayForEach(m, models)
	{
		const char *arn = json_string(m, "modelArn");
		char	   *region = arn ? arn_region(arn) : NULL;

		if (arn && base == NULL)
			base = arn_model(arn);
		/* a global profile's ARN names no region: any commercial one */
		if (region == NULL)
			anywhere = true;
		else
			cJSON_AddItemToArray(dest, cJSON_CreateString(region));
	}
	/* the catalogue is of Claude: another provider's profiles are not its business */
	if (base && strncmp(base, "anthropic.", strlen("anthropic.")) != 0)
		return true;

	row = new_row(rows, id, application ? "application_profile" : "system_profile");
	if (base)
		cJSON_AddStringToObject(row, "base_model", base);
	if (!anywhere && cJSON_GetArraySize(dest) > 0)
		cJSON_AddItemToObject(row, "destinations", dest);
	if (json_string(summary, "inferenceProfileName"))
		cJSON_AddStringToObject(row, "display_name", json_string(summary, "inferenceProfileName"));
	(*count)++;
	return true;
}

static bool
add_profiles(cJSON *rows, const char *type, int *count, ClaudeProblem *problem)
{
	cJSON	   *summaries = claude_control_inference_profiles(type, problem);
	const cJSON *p;

	if (summaries == NULL)
		return false;
	cJSON_ArrayForEach(p, summaries)
	{
		if (!add_profile(rows, p, strcmp(type, "APPLICATION") == 0, count, problem))
			return false;
	}
	return true;
}

/* Every listing into r->rows; false with *problem set.  No transaction needed. */
static bool
fetch(Refresh *r, ClaudeProblem *problem)
{
	cJSON	   *rows = cJSON_CreateArray();
	cJSON	   *models;

	memset(problem, 0, sizeof(*problem));
	models = claude_control_foundation_models(problem);
	if (models == NULL)
		return false;
	add_foundation_models(rows, models, &r->listed[FOUNDATION_MODELS]);
	if (!add_profiles(rows, "SYSTEM_DEFINED", &r->listed[SYSTEM_PROFILES], problem) ||
		!add_profiles(rows, "APPLICATION", &r->listed[APPLICATION_PROFILES], problem))
		return false;
	r->rows = cJSON_PrintUnformatted(rows);
	return true;
}

/*
 * What was listed ($2), as rows: family and version from the id (a
 * profile's from its base model), and a LEGACY model's successor, the
 * newest ACTIVE model of its family listed with it.  facts are the columns
 * a refresh compares.
 */
#define LISTED_ROWS \
	"WITH listed AS (" \
	"    SELECT r.*, f.family, f.version" \
	"    FROM pg_catalog.jsonb_to_recordset($2) AS r(model_id text, kind text, base_model text," \
	"         display_name text, on_demand boolean, destinations text[], lifecycle text, end_of_life date," \
	"         vision boolean)" \
	"    CROSS JOIN LATERAL claude.model_family(coalesce(r.base_model, r.model_id)) AS f), " \
	"with_successor AS (" \
	"    SELECT l.*, CASE WHEN l.lifecycle OPERATOR(pg_catalog.=) 'LEGACY' THEN" \
	"           (SELECT s.model_id FROM listed AS s" \
	"             WHERE s.kind OPERATOR(pg_catalog.=) 'foundation_model'" \
	"               AND s.lifecycle OPERATOR(pg_catalog.=) 'ACTIVE'" \
	"               AND s.family OPERATOR(pg_catalog.=) l.family" \
	"             ORDER BY s.version DESC NULLS LAST, s.model_id DESC LIMIT 1) END AS successor" \
	"    FROM listed AS l), " \
	"new AS (" \
	"    SELECT w.*, pg_catalog.jsonb_build_array(w.kind, w.base_model, w.display_name, w.on_demand," \
	"           w.destinations, w.lifecycle, w.end_of_life, w.successor, w.vision) AS facts" \
	"    FROM with_successor AS w) "

/* Take out the rows a refresh replaces; count what it adds, changes and removes. */
static const char *const delete_sql =
LISTED_ROWS
", old AS (DELETE FROM claude.models AS m"
"    WHERE m.source OPERATOR(pg_catalog.=) 'aws'"
"      AND (m.region OPERATOR(pg_catalog.=) $1"
"           OR m.model_id OPERATOR(pg_catalog.=) ANY (SELECT n.model_id FROM new AS n))"
"    RETURNING m.model_id, pg_catalog.jsonb_build_array(m.kind, m.base_model, m.display_name,"
"        m.on_demand, m.destinations, m.lifecycle, m.end_of_life, m.successor, m.vision) AS facts) "
"SELECT (SELECT pg_catalog.count(*) FROM new AS n WHERE NOT EXISTS"
"            (SELECT FROM old AS o WHERE o.model_id OPERATOR(pg_catalog.=) n.model_id)),"
"       (SELECT pg_catalog.count(*) FROM new AS n JOIN old AS o ON o.model_id OPERATOR(pg_catalog.=) n.model_id"
"         WHERE o.facts OPERATOR(pg_catalog.<>) n.facts),"
"       (SELECT pg_catalog.count(*) FROM old AS o WHERE NOT EXISTS"
"            (SELECT FROM new AS n WHERE n.model_id OPERATOR(pg_catalog.=) o.model_id))";

static const char *const insert_sql =
LISTED_ROWS
"INSERT INTO claude.models (model_id, source, kind, base_model, family, version, display_name,"
"    region, on_demand, destinations, lifecycle, end_of_life, successor, vision)"
"SELECT n.model_id, 'aws', n.kind, n.base_model, n.family, n.version, n.display_name,"
"       $1, n.on_demand, n.destinations, n.lifecycle, n.end_of_life, n.successor, n.vision "
"FROM new AS n";

static int64
count_column(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* Replace the region's 'aws' rows (as the extension owner, in a transaction). */
static void
replace_rows(void *arg)
{
	Refresh    *r = (Refresh *) arg;
	Oid			types[2] = {TEXTOID, JSONBOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(claude_region);
	values[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(r->rows));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(delete_sql, 2, types, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "pg_claude: could not take out the 'aws' rows of claude.models");
	r->added = count_column(1);
	r->changed = count_column(2);
	r->removed = count_column(3);
	if (SPI_execute_with_args(insert_sql, 2, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "pg_claude: could not write the 'aws' rows of claude.models");
	SPI_finish();
}

static void
replace_rows_as_owner(void *arg)
{
	claude_run_privileged(replace_rows, arg);
}

/* A refresh that failed: the WARNING. */
static void
warn_failed(const ClaudeProblem *p)
{
	ereport(WARNING,
			(errcode(p->sqlerrcode ? p->sqlerrcode : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("could not refresh claude.models from the Bedrock control plane: %s",
					p->message ? p->message : "no answer"),
			 p->detail ? errdetail_internal("%s", p->detail) : 0,
			 errhint("%s%sThe catalogue keeps its rows from the last refresh.",
					 p->hint ? p->hint : "", p->hint ? " " : "")));
}

/* An error kept by claude_try, as a problem (the refresh's failure). */
static void
problem_of(const ErrorData *edata, ClaudeProblem *p)
{
	claude_problem(p, edata->sqlerrcode, edata->message, edata->detail, edata->hint);
}

/* Write r in a subtransaction: false with *problem set (the rows as they were). */
static bool
store(Refresh *r, ClaudeProblem *problem)
{
	ErrorData  *edata = claude_try(replace_rows_as_owner, r);

	if (edata == NULL)
		return true;
	/* a cancel is the caller's, never the refresh's failure */
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);
	problem_of(edata, problem);
	return false;
}

PG_FUNCTION_INFO_V1(claude_models_refresh);

/*
 * claude_models_refresh() -> (region, foundation_models, system_profiles,
 * application_profiles, added, changed, removed, error): what was listed
 * and what writing it changed, or NULL counts and the error after a
 * WARNING (the rows as they were).
 */
Datum
claude_models_refresh(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false};
	Refresh		r = {0};
	ClaudeProblem problem;
	bool		ok;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	/* credentials first: what signing would raise, raised before any request */
	claude_bedrock_ready_to_sign(NULL);
	ok = fetch(&r, &problem) && store(&r, &problem);
	if (!ok)
		warn_failed(&problem);

	values[0] = CStringGetTextDatum(claude_region);
	for (i = 0; i < NKINDS; i++)
		values[1 + i] = Int32GetDatum(r.listed[i]);
	values[4] = Int32GetDatum((int32) r.added);
	values[5] = Int32GetDatum((int32) r.changed);
	values[6] = Int32GetDatum((int32) r.removed);
	for (i = 1; i <= 6; i++)
		nulls[i] = !ok;
	if (ok)
		nulls[7] = true;
	else
		values[7] = CStringGetTextDatum(problem.detail ?
										psprintf("%s (%s)", problem.message, problem.detail) :
										problem.message);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * Is the region's last refresh older than the interval?  Then the
 * credentials are resolved too, where an error can still be kept.
 */
static void
check_due(void *arg)
{
	bool	   *due = (bool *) arg;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	bool		isnull;
	Datum		d;

	*due = false;
	if (!OidIsValid(claude_extension_owner()))
		return;
	/* an extension not yet updated to 0.3.0 has no catalogue */
	d = claude_owner_query("SELECT pg_catalog.to_regclass('claude.models') IS NOT NULL",
						   0, NULL, NULL, NULL, true, &isnull);
	if (isnull || !DatumGetBool(d))
		return;
	values[0] = CStringGetTextDatum(claude_region);
	values[1] = Int32GetDatum(claude_models_refresh_interval_s);
	d = claude_owner_query("SELECT coalesce(pg_catalog.max(m.updated_at), '-infinity') "
						   "OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) "
						   "pg_catalog.make_interval(secs => $2)) "
						   "FROM claude.models AS m WHERE m.source OPERATOR(pg_catalog.=) 'aws' "
						   "AND m.region OPERATOR(pg_catalog.=) $1",
						   2, types, values, NULL, true, &isnull);
	*due = !isnull && DatumGetBool(d);
	if (*due)
		claude_bedrock_ready_to_sign(NULL);
}

/*
 * fn(arg) in a short transaction of the worker's own; its error kept
 * (claude_try), allocations left in the caller's context.
 */
static ErrorData *
in_transaction(ClaudeTryFn fn, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ErrorData  *edata;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(cxt);
	edata = claude_try(fn, arg);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	return edata;
}

void
claude_models_refresh_maybe(void)
{
	static TimestampTz next_look = 0;
	TimestampTz now = GetCurrentTimestamp();
	ErrorData  *edata;
	ClaudeProblem problem;
	Refresh		r = {0};
	bool		due = false;

	if (claude_models_refresh_interval_s <= 0)
		return;
	if (next_look == 0)
		next_look = TimestampTzPlusMilliseconds(now, Min(claude_models_refresh_interval_s, FIRST_LOOK_S) * 1000L);
	if (now < next_look)
		return;
	/*
	 * Look again within the hour (or the interval, if shorter): the table
	 * says whether a refresh is due, so a new interval, claude.region or a
	 * failure are all taken up then.
	 */
	next_look = TimestampTzPlusMilliseconds(now, Min(claude_models_refresh_interval_s, RETRY_S) * 1000L);

	edata = in_transaction(check_due, &due);
	if (edata != NULL)
	{
		problem_of(edata, &problem);
		warn_failed(&problem);
		return;
	}
	if (!due)
		return;

	/* the network calls, with no transaction open */
	pgstat_report_activity(STATE_RUNNING, "pg_claude models refresh");
	if (!fetch(&r, &problem))
		warn_failed(&problem);
	else if ((edata = in_transaction(replace_rows_as_owner, &r)) != NULL)
	{
		problem_of(edata, &problem);
		warn_failed(&problem);
	}
	else
		ereport(LOG,
				(errmsg("pg_claude worker refreshed claude.models for %s: %d foundation models, "
						"%d system profiles, %d application profiles (" INT64_FORMAT " added, "
						INT64_FORMAT " changed, " INT64_FORMAT " removed)",
						claude_region, r.listed[FOUNDATION_MODELS], r.listed[SYSTEM_PROFILES],
						r.listed[APPLICATION_PROFILES], r.added, r.changed, r.removed)));
	pgstat_report_activity(STATE_IDLE, NULL);
}
