/*-------------------------------------------------------------------------
 *
 * async.c
 *	  SQL functions that hand work to the pg_claude worker:
 *	  claude_complete_async(), claude_enrich(), claude_job_resume() and
 *	  claude_job_wait().
 *
 * Work is queued in the caller's transaction (a ROLLBACK un-queues it) and
 * the worker is woken when that transaction commits, through its latch,
 * rather than by polling.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "commands/dbcommands.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/plancache.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "anthropic.h"
#include "audit_ring.h"
#include "bedrock.h"
#include "call.h"
#include "guc.h"
#include "enrich_table.h"
#include "call_policy.h"
#include "job_definition.h"
#include "job_estimate.h"
#include "job_owner.h"
#include "jobs.h"
#include "pg_compat.h"
#include "privilege.h"
#include "job_batch.h"
#include "residency.h"
#include "task.h"

PG_FUNCTION_INFO_V1(claude_complete_async);
PG_FUNCTION_INFO_V1(claude_enrich);
PG_FUNCTION_INFO_V1(claude_enrich_estimate);
PG_FUNCTION_INFO_V1(claude_job_resume);
PG_FUNCTION_INFO_V1(claude_job_cancel);
PG_FUNCTION_INFO_V1(claude_job_pause);
PG_FUNCTION_INFO_V1(claude_job_wait);

static bool wake_at_commit = false;
static int64 interrupt_at_commit = 0;
static bool xact_callback_registered = false;

/* Only a committed change is the worker's to see: wake or interrupt it then. */
static void
tell_worker_at_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit)
		claude_jobs_wake_worker();
	if (event == XACT_EVENT_COMMIT && interrupt_at_commit != 0)
		claude_jobs_interrupt(interrupt_at_commit);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
	{
		wake_at_commit = false;
		interrupt_at_commit = 0;
	}
}

static void
register_xact_callback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(tell_worker_at_commit, NULL);
		xact_callback_registered = true;
	}
}

static void
require_worker(const char *function_name)
{
	if (!claude_audit_shared())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs the pg_claude worker", function_name),
				 errhint("Add pg_claude to shared_preload_libraries in postgresql.conf and restart the server.")));
	if (strcmp(get_database_name(MyDatabaseId), claude_database_name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the pg_claude worker serves database \"%s\", not this one", claude_database_name),
				 errhint("Call %s in that database, or set claude.database_name and restart.", function_name)));
	register_xact_callback();
	wake_at_commit = true;
}

/* claude_complete_async(prompt, system, model, max_tokens, temperature) -> bigint */
Datum
claude_complete_async(PG_FUNCTION_ARGS)
{
	ClaudeTask	t;
	char	   *prompt;
	char	   *body;
	Oid			types[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = "     ";
	char	   *policy = claude_policy_queued();
	bool		isnull;
	Datum		id;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	require_worker("claude_complete_async");
	prompt = text_to_cstring(PG_GETARG_TEXT_PP(0));
	claude_task_complete_args(fcinfo, &t);

	/* refused now, under the caller's settings, rather than later by the worker */
	{
		ClaudeCallContext cc = CLAUDE_CALL_CONTEXT("claude_complete_async", prompt);

		claude_bedrock_check_residency(&cc, t.model);
	}

	body = claude_task_body(&t, prompt, NULL);
	values[0] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	values[1] = CStringGetTextDatum(t.model);
	values[2] = CStringGetTextDatum(body);
	values[3] = CStringGetTextDatum(prompt);
	values[4] = CStringGetTextDatum(claude_provider_current());	/* the worker sends it there */
	/* and follows the caller's redaction and guardrail (call_policy.c) */
	values[5] = policy ? CStringGetTextDatum(policy) : (Datum) 0;
	nulls[5] = policy ? ' ' : 'n';
	id = claude_owner_query("INSERT INTO claude.requests (role_name, model, body, prompt, provider, policy) "
							"VALUES ($1, $2, $3, $4, $5, $6::pg_catalog.jsonb) RETURNING id", 6, types, values, nulls,
							false, &isnull);
	PG_RETURN_DATUM(id);
}

/*
 * What claude_enrich may write: an ordinary table of the caller's
 * database that is neither a catalog nor pg_claude's own, not a temporary
 * table (the worker cannot see another session's), with a primary key.
 */
static void
check_enrich_target(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	const char *name = RelationGetRelationName(rel);
	Oid			ext = get_extension_oid("pg_claude", true);

	if (IsCatalogRelation(rel) || IsCatalogNamespace(RelationGetNamespace(rel)) ||
		IsToastNamespace(RelationGetNamespace(rel)) ||
		strcmp(get_namespace_name(RelationGetNamespace(rel)), "information_schema") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("claude_enrich cannot write system catalog \"%s\"", name),
				 errdetail("An enrichment job updates the rows of its source table.")));
	if (OidIsValid(ext) && (getExtensionOfObject(RelationRelationId, relid) == ext ||
							RelationGetNamespace(rel) == get_namespace_oid("claude", true)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("claude_enrich cannot write pg_claude's own table \"%s\"", name)));
	if (rel->rd_rel->relkind != RELKIND_RELATION && rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", name),
				 errdetail("claude_enrich writes results into an ordinary table; views, materialized views, "
						   "foreign tables and sequences cannot take them."),
				 errhint("Enrich the underlying table, or pass '{\"into\": \"table\"}' to keep results in a table of their own.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("claude_enrich cannot work on temporary table \"%s\"", name),
				 errdetail("The pg_claude worker runs in a session of its own and cannot see this session's temporary tables."),
				 errhint("Use an ordinary or unlogged table.")));
	if (!OidIsValid(claude_primary_key_index(rel)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table \"%s\" has no primary key", name),
				 errhint("claude_enrich writes each result beside its row, found by primary key.")));
}

/*
 * The source row's columns an expression reads, in subqueries too (a Var
 * of the outer query seen from inside one is levelsup deeper); a
 * whole-row reference reads them all (attribute 0).
 */
typedef struct SourceColumns
{
	int			level;
	Bitmapset  *attrs;
} SourceColumns;

static bool
source_columns_walker(Node *node, SourceColumns *sc)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		if (v->varno == 1 && (int) v->varlevelsup == sc->level)
			sc->attrs = bms_add_member(sc->attrs, v->varattno - FirstLowInvalidHeapAttributeNumber);
		return false;
	}
	if (IsA(node, Query))
	{
		bool		r;

		sc->level++;
		r = query_tree_walker((Query *) node, source_columns_walker, sc, 0);
		sc->level--;
		return r;
	}
	return expression_tree_walker(node, source_columns_walker, sc);
}

/*
 * The input expression: one expression over the source row, checked now
 * by planning it as the caller; returns the source columns it reads, and
 * its type in *type.
 */
static Bitmapset *
check_enrich_input(Oid source, const char *input, Oid *type)
{
	char	   *probe = psprintf("SELECT (%s) FROM %s AS s LIMIT 0", input,
								 quote_qualified_identifier(get_namespace_name(get_rel_namespace(source)),
															get_rel_name(source)));
	SPIPlanPtr	plan;
	List	   *sources;
	Bitmapset  *attrs = NULL;
	ListCell   *lc;

	/* one expression, not a way to smuggle in more statements */
	if (list_length(pg_parse_query(probe)) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("input must be a single SQL expression over the row"),
				 errdetail("The input was: %s", input)));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(probe, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not check the input expression: %s", SPI_result_code_string(SPI_result));
	sources = SPI_plan_get_plan_sources(plan);
	foreach(lc, sources)
	{
		CachedPlanSource *ps = lfirst(lc);
		ListCell   *lq;

		foreach(lq, ps->query_list)
		{
			Query	   *query = lfirst_node(Query, lq);

			SourceColumns sc = {0, NULL};

			if (query->targetList != NIL)
				*type = exprType((Node *) linitial_node(TargetEntry, query->targetList)->expr);
			(void) source_columns_walker((Node *) query->targetList, &sc);
			attrs = bms_union(attrs, sc.attrs);
		}
	}
	SPI_finish();
	return attrs;
}

/* The output column: a plain column of the source, not the input, not a key. */
static AttrNumber
check_enrich_output(Relation rel, const char *output, Bitmapset *input_attrs)
{
	Oid			source = RelationGetRelid(rel);
	const char *name = RelationGetRelationName(rel);
	AttrNumber	attno = get_attnum(source, output);
	Bitmapset  *keys;

	if (attno == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", output, name),
				 errhint("Add the output column first, e.g. ALTER TABLE %s ADD COLUMN %s text, "
						 "or pass '{\"into\": \"table\"}' for a result table.", name, output)));
	if (attno < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("cannot write results into system column \"%s\"", output)));
	if (TupleDescAttr(RelationGetDescr(rel), attno - 1)->attgenerated)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("cannot write results into generated column \"%s\"", output)));
	keys = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	if (bms_is_member(attno - FirstLowInvalidHeapAttributeNumber, keys))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("output column \"%s\" is part of the primary key of \"%s\"", output, name),
				 errdetail("The worker finds each row by its primary key; rewriting the key would lose the row.")));
	if (bms_is_member(attno - FirstLowInvalidHeapAttributeNumber, input_attrs) ||
		bms_is_member(InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber, input_attrs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("output column \"%s\" is also read by the input", output),
				 errdetail("Each result would change its own input, and the next run would send it again."),
				 errhint("Write the results into a column of their own.")));
	return attno;
}

/*
 * claude_enrich_estimate's row: the estimate, its cost at the job's model
 * (claude.price_of, claude.cost_usd; NULL when the model has no price)
 * and that model.
 */
static Datum
estimate_result(FunctionCallInfo fcinfo, const ClaudeJobDefinition *def, const ClaudeJobEstimate *est)
{
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	Oid			types[3] = {TEXTOID, INT8OID, INT8OID};
	Datum		args[3] = {CStringGetTextDatum(def->task.model), Int64GetDatum(est->input_tokens),
	Int64GetDatum(est->output_tokens)};
	bool		isnull;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "claude_enrich_estimate must return a row");
	values[0] = Int64GetDatum(est->rows);
	values[1] = Int64GetDatum(est->input_tokens);
	values[2] = Int64GetDatum(est->output_tokens);
	values[3] = claude_owner_query("SELECT pg_catalog.round(claude.cost_usd(claude.price_of($1), $2, $3), 6)",
								   3, types, args, NULL, true, &isnull);
	nulls[3] = isnull;
	values[4] = CStringGetTextDatum(def->task.model);
	/* the same tokens as batch inference: the model's batch share (claude.prices) */
	values[5] = claude_owner_query("SELECT pg_catalog.round(claude.cost_usd(p, $2, $3) OPERATOR(pg_catalog.*) p.batch_factor, 6) "
								   "FROM claude.price_of($1) p",
								   3, types, args, NULL, true, &isnull);
	nulls[5] = isnull;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* The result table a job into a table would write, if it exists yet. */
static Oid
existing_result_table(Oid source, const char *output, const char *table_name)
{
	char	   *name = table_name ? pstrdup(table_name) : psprintf("%s_%s", get_rel_name(source), output);

	return get_relname_relid(name, get_rel_namespace(source));
}

/* "schema"."table" of a relation, for the job's SQL */
static char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
}

/*
 * claude_enrich(source regclass, input text, output text, task text,
 *				 options jsonb) -> bigint, and with estimate_only
 * claude_enrich_estimate(the same) -> its estimate, queueing nothing and
 * creating no result table.
 */
static Datum enrich(FunctionCallInfo fcinfo, bool estimate_only);

Datum
claude_enrich(PG_FUNCTION_ARGS)
{
	return enrich(fcinfo, false);
}

/*
 * claude_enrich_estimate(source, input, output, task, options) ->
 * (rows_to_do, input_tokens, output_tokens, estimated_cost_usd, model)
 */
Datum
claude_enrich_estimate(PG_FUNCTION_ARGS)
{
	return enrich(fcinfo, true);
}

static Datum
enrich(FunctionCallInfo fcinfo, bool estimate_only)
{
	Oid			source;
	char	   *input;
	char	   *output;
	char	   *task;
	char	   *options;
	Relation	rel;
	Bitmapset  *input_attrs;
	bool		into_table_mode;
	Oid			types[15] = {TEXTOID, OIDOID, TEXTOID, NAMEOID, TEXTOID, JSONBOID, OIDOID, TEXTOID,
	TEXTOID, JSONBOID, TEXTOID, INT8OID, INT8OID, INT8OID, INT4OID};
	Datum		values[15];
	char		nulls[16] = "               ";
	ClaudeTask	t;
	Oid			into_table = InvalidOid;
	bool		isnull;
	Datum		id;
	ClaudeJobDefinition def;
	ClaudeJobEstimate est;
	const char *redo;
	Job			job = {0};
	Oid			input_type = InvalidOid;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source, input, output and task must not be NULL")));
	if (!estimate_only)
		require_worker("claude_enrich");
	source = PG_GETARG_OID(0);
	input = text_to_cstring(PG_GETARG_TEXT_PP(1));
	output = text_to_cstring(PG_GETARG_TEXT_PP(2));
	task = text_to_cstring(PG_GETARG_TEXT_PP(3));
	options = PG_ARGISNULL(4) ? "{}" : claude_jsonb_arg(fcinfo, 4);

	claude_task_check_name(task);
	claude_jobs_check_options(task, options, &t);
	redo = claude_job_redo(options);
	/* what the job will send, resolved now under the caller's settings */
	claude_job_definition(task, options, &def);

	/*
	 * A model the policy refuses fails now, not once per row in the worker:
	 * the check claude_complete_async makes, on the model the options name
	 * (else claude.model).
	 */
	{
		ClaudeCallContext cc = CLAUDE_CALL_CONTEXT("claude_enrich", NULL);

		claude_bedrock_check_residency(&cc, t.model);
	}
	/* batch mode asked for and impossible (no bucket, or one residency refuses) fails now */
	(void) claude_batch_mode(options);
	into_table_mode = strcmp(claude_jobs_option(options, "into", "column"), "table") == 0;

	rel = try_relation_open(source, AccessShareLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", source)));
	check_enrich_target(rel);
	if (pg_class_aclcheck(source, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read \"%s\"", RelationGetRelationName(rel))));
	input_attrs = check_enrich_input(source, input, &input_type);
	/* bytes in: each row's document or image (doc/job_definition.md) */
	job.input_bytea = getBaseType(input_type) == BYTEAOID;
	if (job.input_bytea)
		claude_jobs_check_attachment_input(&t, claude_batch_mode(options) == CLAUDE_MODE_BATCH);
	if (!estimate_only)
		claude_batch_check_enqueue(options);

	if (into_table_mode)
	{
		/*
		 * Results in a table of their own, keyed by the source's primary
		 * key, and a view joining them: created now, by the caller, who
		 * owns them.
		 */
		if (get_attnum(source, output) != InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("\"%s\" is a column of \"%s\"; with \"into\": \"table\" it names the result column",
							output, get_rel_name(source))));
		if (estimate_only)
			into_table = existing_result_table(source, output, claude_jobs_option(options, "table", NULL));
		else
			into_table = claude_jobs_create_result_table(source, output, task,
														 claude_jobs_option(options, "table", NULL));
		/* a result table that already existed may have another type */
		if (OidIsValid(into_table))
			claude_jobs_check_output_type(&t, into_table, get_attnum(into_table, output));
	}
	else
	{
		AttrNumber	attno = check_enrich_output(rel, output, input_attrs);

		/* an answer the column cannot take fails now, not after a paid call per row */
		claude_jobs_check_output_type(&t, source, attno);

		/* the job runs as its owner: check now that the owner may do it */
		if (pg_class_aclcheck(source, GetUserId(), ACL_UPDATE) != ACLCHECK_OK &&
			pg_attribute_aclcheck(source, attno, GetUserId(), ACL_UPDATE) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to update column \"%s\" of \"%s\"",
							output, get_rel_name(source))));
	}
	relation_close(rel, AccessShareLock);

	/*
	 * What it will do and cost, before anything is sent (job_estimate.c).
	 * claude_enrich reads a column input now; an expression is the owner's
	 * code, evaluated by the worker under claude.job_input_timeout, which
	 * makes the estimate as it populates the job (job_queue.c).
	 */
	if (estimate_only || get_attnum(source, input) != InvalidAttrNumber)
	{
		job.source = source;
		job.source_name = qualified_name(source);
		job.input = input;
		job.output = output;
		job.into = OidIsValid(into_table) ? qualified_name(into_table) : NULL;
		claude_job_estimate(&job, &def, redo, into_table_mode && !OidIsValid(into_table), &est);
		if (estimate_only)
			return estimate_result(fcinfo, &def, &est);
	}
	else
		nulls[11] = nulls[12] = nulls[13] = 'n';

	values[0] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	values[1] = ObjectIdGetDatum(source);
	values[2] = CStringGetTextDatum(input);
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(output));
	values[4] = CStringGetTextDatum(task);
	values[5] = DirectFunctionCall1(jsonb_in, CStringGetDatum(options));
	values[6] = ObjectIdGetDatum(into_table);
	if (!OidIsValid(into_table))
		nulls[6] = 'n';
	/* the input is evaluated later under the path it was written for */
	values[7] = CStringGetTextDatum(GetConfigOption("search_path", false, false));
	values[8] = CStringGetTextDatum(def.task.model);
	values[9] = DirectFunctionCall1(jsonb_in, CStringGetDatum(def.json));
	values[10] = CStringGetTextDatum(def.sha256);
	if (nulls[11] == ' ')
	{
		values[11] = Int64GetDatum(est.rows);
		values[12] = Int64GetDatum(est.input_tokens);
		values[13] = Int64GetDatum(est.output_tokens);
	}
	/* the worker never sees the caller's session: the setting goes with the job */
	values[14] = Int32GetDatum(claude_job_max_consecutive_failures);
	id = claude_owner_query("INSERT INTO claude.job (role_name, source, input, output, task, options, "
							"into_table, search_path, model, definition, definition_sha256, "
							"estimated_rows, estimated_input_tokens, estimated_output_tokens, "
							"max_consecutive_failures) "
							"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
							15, types, values, nulls, false, &isnull);
	PG_RETURN_DATUM(id);
}

/*
 * May the caller see or change this job?  Its owner may, and so may a
 * superuser; claude_auditor and pg_read_all_stats members may look.
 */
static bool
may_see_job(const char *owner, bool to_change)
{
	Oid			auditor;

	if (superuser() || strcmp(owner, GetUserNameFromId(GetUserId(), false)) == 0)
		return true;
	if (to_change)
		return false;
	auditor = get_role_oid("claude_auditor", true);
	return (OidIsValid(auditor) && has_privs_of_role(GetUserId(), auditor)) ||
		has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}

/* The job's owner and state, or false if the caller may not see it. */
static bool
job_lookup(int64 job, bool to_change, char **state)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job)};
	bool		isnull;
	Datum		d;
	Datum	   *fields;
	int			n;

	/* owner and state in one look; a fresh snapshot each time: the worker commits progress meanwhile */
	d = claude_owner_query("SELECT ARRAY[j.role_name, j.state] FROM claude.job AS j "
						   "WHERE j.id OPERATOR(pg_catalog.=) $1",
						   1, types, values, NULL, false, &isnull);
	if (isnull)
		return false;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &fields, NULL, &n);
	*state = TextDatumGetCString(fields[1]);
	return may_see_job(TextDatumGetCString(fields[0]), to_change);
}

/* Someone else's job is answered as no job at all: ids are not enumerable. */
static void
job_not_found(int64 job)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("job " INT64_FORMAT " does not exist", job),
			 errhint("claude.jobs lists the jobs you may see.")));
}

/*
 * Change a job's state with sql (its $1 is the job id), if the caller may;
 * the statement names the states it moves from, so a cancel is never
 * undone by a later change.  False: the job is in no state to move from.
 */
static bool
job_set_state(int64 job, const char *sql)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job)};
	bool		isnull;
	char	   *state;
	Datum		r;

	if (!job_lookup(job, true, &state))
	{
		if (!job_lookup(job, false, &state))
			job_not_found(job);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to change job " INT64_FORMAT, job),
				 errdetail("You may read the job's state, but only its owner or a superuser may change it.")));
	}
	r = claude_owner_query(sql, 1, types, values, NULL, false, &isnull);
	return !isnull && DatumGetBool(r);
}

/* claude_job_cancel(job bigint) -> boolean */
Datum
claude_job_cancel(PG_FUNCTION_ARGS)
{
	bool		ok = job_set_state(PG_GETARG_INT64(0),
								   "UPDATE claude.job SET state = 'cancelled', finished_at = pg_catalog.now() "
								   "WHERE id OPERATOR(pg_catalog.=) $1 "
								   "AND state OPERATOR(pg_catalog.=) ANY ('{queued,running,paused}') "
								   "RETURNING true");

	if (ok)
	{
		register_xact_callback();
		wake_at_commit = true;
		interrupt_at_commit = PG_GETARG_INT64(0);
	}
	PG_RETURN_BOOL(ok);
}

/* claude_job_pause(job bigint) -> boolean */
Datum
claude_job_pause(PG_FUNCTION_ARGS)
{
	bool		ok = job_set_state(PG_GETARG_INT64(0),
								   "UPDATE claude.job SET state = 'paused', paused_at = pg_catalog.now() "
								   "WHERE id OPERATOR(pg_catalog.=) $1 "
								   "AND state OPERATOR(pg_catalog.=) ANY ('{queued,running}') "
								   "RETURNING true");

	if (ok)
	{
		register_xact_callback();
		interrupt_at_commit = PG_GETARG_INT64(0);
	}
	PG_RETURN_BOOL(ok);
}

/* claude_job_resume(job bigint) -> boolean */
Datum
claude_job_resume(PG_FUNCTION_ARGS)
{
	require_worker("claude_job_resume");
	/* the time it was paused after it started is left out of its rate and ETA (claude.jobs) */
	PG_RETURN_BOOL(job_set_state(PG_GETARG_INT64(0),
								 "UPDATE claude.job SET state = CASE WHEN started_at IS NULL THEN 'queued' "
								 "ELSE 'running' END, "
								 "paused_seconds = paused_seconds OPERATOR(pg_catalog.+) CASE WHEN started_at IS NULL THEN 0 "
								 "ELSE coalesce(pg_catalog.date_part('epoch', pg_catalog.now() "
								 "OPERATOR(pg_catalog.-) GREATEST(paused_at, started_at)), 0) END, "
								 "paused_at = NULL WHERE id OPERATOR(pg_catalog.=) $1 "
								 "AND state OPERATOR(pg_catalog.=) 'paused' RETURNING true"));
}

/*
 * claude_job_wait(job bigint, timeout interval) -> text (the job's state)
 *
 * Not STRICT, so that a NULL timeout is refused rather than read as "do
 * not wait"; a NULL job has no state.
 */
Datum
claude_job_wait(PG_FUNCTION_ARGS)
{
	int64		job;
	Interval   *timeout;
	double		usecs;
	bool		forever;
	TimestampTz deadline = 0;
	char	   *state = NULL;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("timeout must not be NULL"),
				 errhint("To wait until the job ends, pass a long interval such as '100 years'; "
						 "statement_timeout and a query cancel still end the wait.")));
	job = PG_GETARG_INT64(0);
	timeout = PG_GETARG_INTERVAL_P(1);

	/*
	 * Not timestamptz + interval: that overflows for '1000000 years'.  A
	 * month counts 30 days, as interval comparison does; a timeout beyond
	 * the last representable timestamp means no limit.
	 */
	usecs = (double) timeout->time + (double) timeout->day * USECS_PER_DAY +
		(double) timeout->month * DAYS_PER_MONTH * USECS_PER_DAY;
	if (usecs < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative"),
				 errhint("Pass '0' to read the job's state without waiting.")));
	forever = usecs >= (double) (END_TIMESTAMP - GetCurrentTimestamp());
	if (!forever)
		deadline = GetCurrentTimestamp() + (int64) usecs;

	for (;;)
	{
		if (!job_lookup(job, false, &state))
			job_not_found(job);
		if (strcmp(state, "done") == 0 || strcmp(state, "done_with_errors") == 0 ||
			strcmp(state, "failed") == 0 || strcmp(state, "cancelled") == 0 ||
			(!forever && GetCurrentTimestamp() >= deadline))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_TEXT_P(cstring_to_text(state));
}
