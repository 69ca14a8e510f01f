/*-------------------------------------------------------------------------
 *
 * diagnostics.c
 *	  SQL functions that show how the extension is connected:
 *	  claude_credentials() and claude_http_stats().
 *
 * claude_credentials() says which provider supplied the credentials, a
 * masked access key id, the role and the expiry.  It never shows a secret
 * key, a session token or an API key, to anyone: superusers included.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "executor/spi.h"
#include "utils/timestamp.h"

#include "anthropic.h"
#include "audit_ring.h"
#include "retention.h"
#include "cache.h"
#include "credentials.h"
#include "endpoint.h"
#include "guc.h"
#include "privilege.h"
#include "provider.h"
#include "model_catalog.h"
#include "residency.h"
#include "http.h"

PG_FUNCTION_INFO_V1(claude_credentials);
PG_FUNCTION_INFO_V1(claude_http_stats);
PG_FUNCTION_INFO_V1(claude_residency_check);
PG_FUNCTION_INFO_V1(claude_dropped_records);
PG_FUNCTION_INFO_V1(claude_maintain);
PG_FUNCTION_INFO_V1(claude_cache_key_sql);

/*
 * claude_credentials() -> (provider, auth, access_key_id, role_arn,
 *							expiration, shared_cache)
 */
Datum
claude_credentials(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (claude_provider == CLAUDE_PROVIDER_ANTHROPIC)
	{
		/* seam: the Anthropic API's key, where it comes from, masked */
		char	   *masked;
		const char *source = claude_anthropic_key_source(&masked);

		values[0] = CStringGetTextDatum(psprintf("Anthropic API key, %s", source));
		values[1] = CStringGetTextDatum("x-api-key");
		if (masked)
			values[2] = CStringGetTextDatum(masked);
		else
			nulls[2] = true;
		nulls[3] = nulls[4] = true;
		values[5] = BoolGetDatum(false);
	}
	else if (claude_bedrock_api_key() != NULL)
	{
		values[0] = CStringGetTextDatum("environment (AWS_BEARER_TOKEN_BEDROCK)");
		values[1] = CStringGetTextDatum("bearer");
		nulls[2] = nulls[3] = nulls[4] = true;
		values[5] = BoolGetDatum(false);
	}
	else
	{
		const ClaudeCredentials *c = claude_credentials_get();

		values[0] = CStringGetTextDatum(c->provider);
		values[1] = CStringGetTextDatum("sigv4");
		values[2] = CStringGetTextDatum(claude_mask_key(c->access_key_id));
		if (c->role_arn[0])
			values[3] = CStringGetTextDatum(c->role_arn);
		else
			nulls[3] = true;
		if (c->expiration != 0)
			values[4] = TimestampTzGetDatum(c->expiration);
		else
			nulls[4] = true;
		values[5] = BoolGetDatum(claude_credentials_shared());
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * claude_http_stats() -> (requests bigint, connections bigint)
 *
 * This backend's transport counters: attempts sent and connections opened,
 * so keep-alive can be checked from SQL.
 */
Datum
claude_http_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int64		requests;
	int64		connections;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	claude_http_counters(&requests, &connections);
	values[0] = Int64GetDatum(requests);
	values[1] = Int64GetDatum(connections);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * claude_residency_check(model text DEFAULT NULL)
 *		-> (allowed, geography, processed_in, reason)
 *
 * What the residency policy would say about a request to model (or
 * claude.model) with the current settings, without sending anything.
 */
Datum
claude_residency_check(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	char	   *model = PG_ARGISNULL(0) ? claude_model : text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *host = NULL;
	ClaudeResidencyVerdict v;
	ClaudeModelRoutes routes;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (claude_endpoint && claude_endpoint[0])
	{
		ClaudeEndpoint ep;
		const char *why;

		if (claude_endpoint_parse(claude_endpoint, &ep, &why))
			host = pstrdup(ep.host);
	}
	if (claude_provider == CLAUDE_PROVIDER_ANTHROPIC)
		claude_anthropic_judge(model, &v);	/* seam: the provider's path */
	else
	{
		claude_model_routes(model, &routes);
		claude_residency_judge(claude_residency, claude_region, host, model, &routes, &v);
	}
	values[0] = BoolGetDatum(v.allowed);
	values[1] = CStringGetTextDatum(v.geography);
	values[2] = CStringGetTextDatum(v.processed_in);
	values[3] = CStringGetTextDatum(v.reason);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* claude.dropped_records() -> bigint */
Datum
claude_dropped_records(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64((int64) claude_audit_dropped());
}

static void
maintain_as_owner(void *arg)
{
	*(int64 *) arg = claude_retention_apply();
}

/*
 * claude_maintain() -> bigint: retention and eviction now.  Whoever was
 * granted it deletes as the extension owner, never with their own search
 * path (privilege.c).
 */
Datum
claude_maintain(PG_FUNCTION_ARGS)
{
	int64		deleted = 0;

	claude_run_privileged(maintain_as_owner, &deleted);
	PG_RETURN_INT64(deleted);
}

/*
 * claude_cache_key(body jsonb, model text) -> text
 *
 * Not STRICT: a NULL model means claude.model.  A NULL body has no key.
 */
Datum
claude_cache_key_sql(PG_FUNCTION_ARGS)
{
	Jsonb	   *in;
	char	   *model;
	char	   *body;
	char		key[65];

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	in = PG_GETARG_JSONB_P(0);
	model = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	body = JsonbToCString(NULL, &in->root, VARSIZE(in));
	body = claude_anthropic_normalize_body(body, &model);
	if (model == NULL)
		model = claude_model;
	claude_cache_key(claude_cache_role(NULL), model, body, key);
	PG_RETURN_TEXT_P(cstring_to_text(key));
}
