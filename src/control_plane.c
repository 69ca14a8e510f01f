/*-------------------------------------------------------------------------
 *
 * control_plane.c
 *	  claude_models_refresh(): what the Bedrock control plane of
 *	  claude.region lists (ListFoundationModels, ListInferenceProfiles of
 *	  both types), merged into claude.models as its 'aws' rows
 *	  (doc/models.md).
 *
 * Every listing is read first, through the one transport and signer; only
 * when all of them answered are the region's 'aws' rows replaced, in one
 * statement (DELETE and INSERT: an UPDATE of a published row would become
 * the user's, see the table's trigger).  A failure is a WARNING and the old
 * rows stay.  Application profiles are recorded under their ARN with the
 * regions GetInferenceProfile's models[] name, which residency judges.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/timestamp.h"

#include "bedrock.h"
#include "control_plane.h"
#include "guc.h"
#include "privilege.h"
#include "problem.h"
#include "subxact.h"
#include "work_xact.h"

/* The region of a foundation-model ARN (arn:aws:bedrock:REGION::...), or NULL. */
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

/* The model id after "foundation-model/" in an ARN, or NULL. */
static char *
arn_model(const char *arn)
{
	const char *slash = strstr(arn, "foundation-model/");

	return slash ? pstrdup(slash + strlen("foundation-model/")) : NULL;
}

static const char *
json_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *
listing(const char *operation, const char *path, const char *query, ClaudeProblem *problem)
{
	char	   *body = claude_bedrock_control_get(operation, path, query, problem);
	cJSON	   *root;

	if (body == NULL)
		return NULL;
	root = cJSON_Parse(body);
	if (!cJSON_IsObject(root))
	{
		claude_problem(problem, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
					   psprintf("Bedrock %s returned a response that is not a JSON object", operation),
					   NULL, NULL);
		return NULL;
	}
	return root;
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

static bool
add_foundation_models(cJSON *rows, int *count, ClaudeProblem *problem)
{
	cJSON	   *root = listing("ListFoundationModels", "/foundation-models", "byProvider=Anthropic", problem);
	const cJSON *m;

	if (root == NULL)
		return false;
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "modelSummaries"))
	{
		const char *id = json_string(m, "modelId");
		const cJSON *types = cJSON_GetObjectItemCaseSensitive(m, "inferenceTypesSupported");
		const cJSON *lifecycle = cJSON_GetObjectItemCaseSensitive(m, "modelLifecycle");
		const cJSON *t;
		cJSON	   *row;
		bool		on_demand = false;
		const char *status;
		const char *eol;

		if (id == NULL)
			continue;
		row = new_row(rows, id, "foundation_model");
		if (json_string(m, "modelName"))
			cJSON_AddStringToObject(row, "display_name", json_string(m, "modelName"));
		cJSON_ArrayForEach(t, types)
			if (cJSON_IsString(t) && strcmp(t->valuestring, "ON_DEMAND") == 0)
			on_demand = true;
		cJSON_AddBoolToObject(row, "on_demand", on_demand);
		status = json_string(lifecycle, "status");
		if (status && (strcmp(status, "ACTIVE") == 0 || strcmp(status, "LEGACY") == 0))
			cJSON_AddStringToObject(row, "lifecycle", status);
		eol = json_string(lifecycle, "endOfLifeTime");
		if (eol && strlen(eol) >= 10)
			cJSON_AddStringToObject(row, "end_of_life", pnstrdup(eol, 10));
		(*count)++;
	}
	cJSON_Delete(root);
	return true;
}

static bool
add_profiles(cJSON *rows, const char *type, int *count, ClaudeProblem *problem)
{
	char	   *token = NULL;
	bool		application = strcmp(type, "APPLICATION") == 0;

	do
	{
		char	   *query = token ?
			psprintf("maxResults=1000&nextToken=%s&type=%s", token, type) :
			psprintf("maxResults=1000&type=%s", type);
		cJSON	   *root = listing("ListInferenceProfiles", "/inference-profiles", query, problem);
		const cJSON *p;
		const char *next;

		if (root == NULL)
			return false;
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(root, "inferenceProfileSummaries"))
		{
			const char *id = application ? json_string(p, "inferenceProfileArn") :
				json_string(p, "inferenceProfileId");
			const cJSON *models = cJSON_GetObjectItemCaseSensitive(p, "models");
			const cJSON *m;
			cJSON	   *row;
			cJSON	   *dest;
			bool		anywhere = false;
			char	   *base = NULL;

			if (id == NULL)
				continue;
			row = new_row(rows, id, application ? "application_profile" : "system_profile");
			dest = cJSON_CreateArray();
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
			if (base)
				cJSON_AddStringToObject(row, "base_model", base);
			if (!anywhere && cJSON_GetArraySize(dest) > 0)
				cJSON_AddItemToObject(row, "destinations", dest);
			else
				cJSON_Delete(dest);
			if (json_string(p, "inferenceProfileName"))
				cJSON_AddStringToObject(row, "display_name", json_string(p, "inferenceProfileName"));
			(*count)++;
		}
		next = json_string(root, "nextToken");
		token = next ? pstrdup(next) : NULL;
		cJSON_Delete(root);
		/* the token goes in a query string: only what needs no encoding */
		if (token && strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~") != strlen(token))
		{
			char	   *enc = palloc(strlen(token) * 3 + 1);
			char	   *o = enc;

			for (const char *c = token; *c; c++)
			{
				if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~", *c))
					*o++ = *c;
				else
					o += sprintf(o, "%%%02X", (unsigned char) *c);
			}
			*o = '\0';
			token = enc;
		}
	} while (token != NULL);
	return true;
}

/* Replace the region's 'aws' rows, as the extension owner. */
static void
replace_rows(const char *rows_json)
{
	Oid			types[2] = {TEXTOID, JSONBOID};
	Datum		values[2];
	bool		isnull;

	values[0] = CStringGetTextDatum(claude_region);
	values[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(rows_json));
	/* two statements: in one, the INSERT could meet the rows the DELETE removes */
	(void) claude_owner_query("WITH gone AS (DELETE FROM claude.models AS m "
							  "WHERE m.source OPERATOR(pg_catalog.=) 'aws' "
							  "AND (m.region OPERATOR(pg_catalog.=) $1 OR m.model_id IN "
							  "(SELECT r.model_id FROM pg_catalog.jsonb_to_recordset($2) AS r(model_id text))) "
							  "RETURNING 1) SELECT pg_catalog.count(*) FROM gone",
							  2, types, values, NULL, false, &isnull);
	(void) claude_owner_query(
		"WITH added AS (INSERT INTO claude.models (model_id, source, kind, base_model, family, version, "
		"                   display_name, region, on_demand, destinations, lifecycle, end_of_life, note) "
		"               SELECT r.model_id, 'aws', r.kind, r.base_model, "
		"                      (claude.model_family(coalesce(r.base_model, r.model_id))).family, "
		"                      (claude.model_family(coalesce(r.base_model, r.model_id))).version, "
		"                      r.display_name, $1, r.on_demand, r.destinations, r.lifecycle, r.end_of_life, "
		"                      'claude_models_refresh() ' OPERATOR(pg_catalog.||) pg_catalog.now()::text "
		"               FROM pg_catalog.jsonb_to_recordset($2) AS r(model_id text, kind text, base_model text, "
		"                      display_name text, on_demand boolean, destinations text[], lifecycle text, "
		"                      end_of_life date) "
		"               RETURNING 1) "
		"SELECT pg_catalog.count(*) FROM added",
		2, types, values, NULL, false, &isnull);
}

/* Every listing, or NULL with *problem set; no transaction needed. */
static char *
fetch_rows(int counts[3], ClaudeProblem *problem)
{
	cJSON	   *rows = cJSON_CreateArray();

	memset(problem, 0, sizeof(*problem));
	counts[0] = counts[1] = counts[2] = 0;
	if (!add_foundation_models(rows, &counts[0], problem) ||
		!add_profiles(rows, "SYSTEM_DEFINED", &counts[1], problem) ||
		!add_profiles(rows, "APPLICATION", &counts[2], problem))
		return NULL;
	return cJSON_PrintUnformatted(rows);
}

static void
warn_refresh_failed(const ClaudeProblem *problem)
{
	ereport(WARNING,
			(errcode(problem->sqlerrcode ? problem->sqlerrcode : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("could not refresh claude.models from the Bedrock control plane: %s",
					problem->message ? problem->message : "no answer"),
			 problem->detail ? errdetail_internal("%s", problem->detail) : 0,
			 errhint("The catalogue keeps what it had; check claude.region, claude.control_endpoint and the server's IAM permissions (bedrock:ListFoundationModels, bedrock:ListInferenceProfiles).")));
}

bool
claude_models_refresh_all(int counts[3])
{
	ClaudeProblem problem;
	char	   *json = fetch_rows(counts, &problem);

	if (json == NULL)
	{
		warn_refresh_failed(&problem);
		return false;
	}
	replace_rows(json);
	return true;
}

/* Is the region's last refresh older than the interval (in a transaction)? */
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
		claude_bedrock_ready_to_sign();
}

static void
store_rows(void *arg)
{
	replace_rows((const char *) arg);
}

void
claude_models_refresh_maybe(void)
{
	static TimestampTz next_check = 0;
	TimestampTz now = GetCurrentTimestamp();
	ErrorData  *edata;
	ClaudeProblem problem;
	int			counts[3];
	bool		due = false;
	char	   *json;

	/* the first look a quarter of an hour after the worker starts */
	if (next_check == 0)
		next_check = TimestampTzPlusMilliseconds(now, Min(claude_models_refresh_interval_s, 900) * 1000L);
	if (claude_models_refresh_interval_s <= 0 || now < next_check)
		return;
	/* after a failure, again within the hour (or the interval, if shorter) */
	next_check = TimestampTzPlusMilliseconds(now, Min(claude_models_refresh_interval_s, 3600) * 1000L);

	claude_work_begin();
	edata = claude_try(check_due, &due);
	claude_work_end();
	if (edata != NULL || !due)
	{
		if (edata)
			ereport(WARNING,
					(errmsg("could not refresh claude.models: %s", edata->message)));
		return;
	}

	/* the network calls, with no transaction open */
	json = fetch_rows(counts, &problem);
	if (json == NULL)
	{
		warn_refresh_failed(&problem);
		return;
	}
	claude_work_begin();
	edata = claude_try(store_rows, json);
	claude_work_end();
	if (edata != NULL)
		ereport(WARNING,
				(errmsg("could not store the refreshed claude.models: %s", edata->message)));
	else
		ereport(LOG,
				(errmsg("pg_claude refreshed claude.models for %s: %d models, %d system profiles, %d application profiles",
						claude_region, counts[0], counts[1], counts[2])));
}

PG_FUNCTION_INFO_V1(claude_models_refresh);

/*
 * claude_models_refresh() -> (foundation_models, system_profiles,
 * application_profiles): the counts written, or NULLs after a WARNING.
 */
Datum
claude_models_refresh(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	int			counts[3];
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	claude_bedrock_ready_to_sign();
	if (!claude_models_refresh_all(counts))
		nulls[0] = nulls[1] = nulls[2] = true;
	for (i = 0; i < 3; i++)
		values[i] = Int32GetDatum(counts[i]);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
