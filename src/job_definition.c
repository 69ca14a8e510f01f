/*-------------------------------------------------------------------------
 *
 * job_definition.c
 *	  What an enrichment job sends, resolved and hashed when it is queued,
 *	  and which rows a run redoes.
 *
 * A row's result is valid for its input and for the request that made it.
 * claude_enrich resolves what the caller's settings leave open (the model,
 * max_tokens, a claude.temperature) when the job is queued and keeps the
 * result as the job's definition; the worker runs that, so the job costs
 * and answers the same whoever looks at it and whatever the worker's own
 * settings.  The definition's digest is kept with each row's input hash
 * (claude.enrich_hashes): a changed task, label, schema, instruction,
 * model or max_tokens redoes the rows, an unchanged one sends nothing
 * (doc/job_definition.md).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "call_policy.h"
#include "guc.h"
#include "job_definition.h"
#include "provider.h"
#include "sigv4.h"
#include "task.h"

/*
 * Options that say where results go or which rows to do, not what is
 * sent: left out of the definition, so changing them redoes nothing.
 */
static const char *const not_request_options[] = {
	"into",						/* column or table */
	"table",					/* the result table's name */
	"redo",						/* which rows (claude_job_redo) */
	"mode",						/* how requests travel: on demand or batch (job_batch.c) */
};

/* The choices of "redo", the default first. */
static const char *const redo_modes[] = {"changed", "missing", "all"};

void
claude_job_definition(const char *task, const char *options, ClaudeJobDefinition *def)
{
	cJSON	   *root;
	char	   *text;
	double		temperature;
	int			i;

	claude_task_from_options(&def->task, task, options);
	root = cJSON_Parse(options);
	if (root == NULL)
		elog(ERROR, "job options are not JSON");
	for (i = 0; i < (int) lengthof(not_request_options); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(root, not_request_options[i]);
	cJSON_DeleteItemFromObjectCaseSensitive(root, "task");
	cJSON_AddStringToObject(root, "task", task);
	cJSON_DeleteItemFromObjectCaseSensitive(root, "model");
	cJSON_AddStringToObject(root, "model", def->task.model);
	cJSON_DeleteItemFromObjectCaseSensitive(root, "max_tokens");
	cJSON_AddNumberToObject(root, "max_tokens", def->task.max_tokens);
	/* where the worker sends it; named only when not Bedrock (provider.c) */
	cJSON_DeleteItemFromObjectCaseSensitive(root, "provider");
	if (claude_provider == CLAUDE_PROVIDER_ANTHROPIC)
		cJSON_AddStringToObject(root, "provider", CLAUDE_PROVIDER_NAME_ANTHROPIC);

	/*
	 * The caller's claude.temperature, unless the task left it out (a model
	 * that refuses sampling settings): from now on as if given.
	 */
	if (cJSON_GetObjectItemCaseSensitive(root, "temperature") == NULL &&
		claude_guc_temperature(&temperature) && def->task.has_temperature)
		cJSON_AddNumberToObject(root, "temperature", temperature);

	/* the caller's redaction and guardrail, which the worker follows (call_policy.c) */
	claude_policy_add_to_definition(root);

	/* jsonb's text form is canonical (keys sorted, one spacing): the digest's input */
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (text == NULL)
		elog(ERROR, "out of memory");
	def->json = DatumGetCString(DirectFunctionCall1(jsonb_out,
													DirectFunctionCall1(jsonb_in, CStringGetDatum(text))));
	cJSON_free(text);
	sigv4_sha256_hex((const unsigned char *) def->json, strlen(def->json), def->sha256);
}

/* bytes / 4, rounded up: English runs at about four characters a token */
static int64
tokens_of_bytes(int64 bytes)
{
	return (bytes + 3) / 4;
}

/*
 * No request is made: each row's input, plus the request the task wraps
 * around it (its system prompt, instructions, labels or schema: the body
 * for a one-byte input), at bytes / 4; output at its upper bound.
 */
void
claude_job_estimate_tokens(const ClaudeTask *task, int64 rows, int64 bytes, ClaudeJobEstimate *est)
{
	int64		overhead = tokens_of_bytes(strlen(claude_task_body(task, "x", NULL)));

	est->rows = rows;
	est->input_tokens = tokens_of_bytes(bytes) + rows * overhead;
	est->output_tokens = rows * task->max_tokens;
}

const char *
claude_job_redo(const char *options)
{
	cJSON	   *root = cJSON_Parse(options);
	const cJSON *v = root ? cJSON_GetObjectItemCaseSensitive(root, "redo") : NULL;
	const char *mode = redo_modes[0];
	int			i;

	if (v != NULL && !cJSON_IsNull(v))
	{
		mode = NULL;
		for (i = 0; cJSON_IsString(v) && i < (int) lengthof(redo_modes); i++)
			if (strcmp(v->valuestring, redo_modes[i]) == 0)
				mode = redo_modes[i];
		if (mode == NULL)
		{
			char	   *given = cJSON_PrintUnformatted(v);
			char	   *copy = pstrdup(given ? given : "?");

			cJSON_free(given);
			cJSON_Delete(root);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"redo\": %s", copy),
					 errdetail("\"redo\" says which rows a run sends again."),
					 errhint("Use \"changed\" (the default: rows whose input or definition changed, and rows "
							 "never done), \"missing\" (only rows with no result) or \"all\" (every row).")));
		}
	}
	cJSON_Delete(root);
	return mode;
}

char *
claude_job_redo_sql(const char *redo, bool have_digest, int digest_param)
{
	if (strcmp(redo, "all") == 0)
		return pstrdup("true");
	if (strcmp(redo, "missing") == 0)
		return pstrdup("u.m");

	/*
	 * changed: no result, no hash, another input, or another definition; a
	 * hash from before 0.3.0 (no digest) stands for the job's (CHANGELOG).
	 */
	if (!have_digest)
		return pstrdup("(u.m OR e.input_sha256 IS DISTINCT FROM u.h)");
	return psprintf("(u.m OR e.input_sha256 IS DISTINCT FROM u.h "
					"OR (e.definition_sha256 IS NOT NULL AND e.definition_sha256 OPERATOR(pg_catalog.<>) $%d))",
					digest_param);
}
