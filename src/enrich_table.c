/*-------------------------------------------------------------------------
 *
 * enrich_table.c
 *	  What claude_enrich sets up as its caller: options and result tables.
 *
 * Runs in the calling backend, with the caller's rights: the result table
 * and its view belong to whoever asked for them.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include <cjson/cJSON.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/acl.h"
#include "catalog/pg_class.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_type.h"
#include "parser/parse_coerce.h"
#include "utils/syscache.h"

#include "enrich_table.h"
#include "pg_compat.h"
#include "privilege.h"
#include "task.h"

void
claude_jobs_check_options(const char *task, const char *options, ClaudeTask *t)
{
	claude_task_from_options(t, task, options);
}

void
claude_jobs_check_attachment_input(const ClaudeTask *t, bool batch_mode)
{
	if (!t->kind->reads_attachments)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("task \"%s\" does not read documents or images", t->kind->name),
				 errdetail("The input is bytea: each row's bytes would be sent as an attachment."),
				 errhint("Use the task extract, summarize, classify or complete, or an input of type text.")));
	if (batch_mode)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("batch mode does not send documents or images"),
				 errdetail("The input is bytea: each row's bytes go as an attachment with InvokeModel."),
				 errhint("Use \"mode\": \"on_demand\" or \"auto\" (which sends such a job on demand).")));
}

/*
 * Can a column of type typid (a domain: its base type) take every result
 * of task t?  The worker writes a result's text form through the column
 * type's input function (job_queue.c), so the question is which inputs
 * accept every answer: any string type takes any answer; json and jsonb an
 * extraction; real, double precision and numeric a sentiment score (not an
 * integer type: scores are fractions); boolean an if answer; an enum a label when every label is
 * one of its values, and an array of strings or of such an enum the labels
 * of a multi-label classification.  A domain's constraints and a length
 * limit are checked per row, as writes.  *fits says what would.
 */
static bool
enum_has_labels(Oid enumtype, char **labels, int nlabels, const char **missing)
{
	for (int i = 0; i < nlabels; i++)
		if (!SearchSysCacheExists2(ENUMTYPOIDNAME, ObjectIdGetDatum(enumtype), CStringGetDatum(labels[i])))
		{
			*missing = labels[i];
			return false;
		}
	return true;
}

static bool
output_type_fits(const ClaudeTask *t, Oid typid, const char **fits, const char **missing)
{
	Oid			base = getBaseType(typid);
	int			nlabels;
	char	  **labels = claude_task_classify_labels(t, &nlabels);
	Oid			elem;

	*missing = NULL;
	if (TypeCategory(base) == TYPCATEGORY_STRING)
		return true;
	switch (t->result_type)
	{
		case JSONBOID:
			*fits = "jsonb, json, text or varchar (or a domain over one)";
			return base == JSONBOID || base == JSONOID;
		case FLOAT8OID:
			*fits = "double precision, real, numeric, text or varchar (or a domain over one)";
			return base == FLOAT8OID || base == FLOAT4OID || base == NUMERICOID;
		case BOOLOID:
			*fits = "boolean, text or varchar (or a domain over one)";
			return base == BOOLOID;
		case TEXTARRAYOID:
			*fits = "text[] or varchar[], an array of an enum with every label, or text (or a domain over one)";
			elem = get_element_type(base);
			if (!OidIsValid(elem))
				return false;
			elem = getBaseType(elem);
			if (TypeCategory(elem) == TYPCATEGORY_STRING)
				return true;
			return type_is_enum(elem) && enum_has_labels(elem, labels, nlabels, missing);
		default:
			if (labels != NULL)
			{
				*fits = "text or varchar, or an enum with every label (or a domain over one)";
				return type_is_enum(base) && enum_has_labels(base, labels, nlabels, missing);
			}
			*fits = "text, varchar or char (or a domain over one)";
			return false;
	}
}

void
claude_jobs_check_output_type(const ClaudeTask *t, Oid relid, AttrNumber attno)
{
	HeapTuple	tup;
	Form_pg_attribute att;
	const char *fits;
	const char *missing;
	const char *answer;
	int			nlabels;

	if (attno == InvalidAttrNumber)
		return;					/* no such column: the worker fails the job, saying so */
	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attno));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for attribute %d of relation %u", attno, relid);
	att = (Form_pg_attribute) GETSTRUCT(tup);
	if (!output_type_fits(t, att->atttypid, &fits, &missing))
	{
		char	   *type = format_type_with_typemod(att->atttypid, att->atttypmod);
		char	   *column = pstrdup(NameStr(att->attname));

		answer = t->result_type == JSONBOID ? "a JSON object" :
			t->result_type == FLOAT8OID ?
			(t->kind == &claude_task_rank ? "a number between 0 and 1" : "a number between -1 and 1") :
			t->result_type == TEXTARRAYOID ? "an array of labels" :
			t->result_type == BOOLOID ? "true or false" :
			claude_task_classify_labels(t, &nlabels) ? "one of its labels" : "text";
		ReleaseSysCache(tup);
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" is of type %s, which cannot hold the results of task \"%s\"",
						column, get_rel_name(relid), type, t->kind->name),
				 missing ?
				 errdetail("Task \"%s\" answers with %s, and \"%s\" is not a value of %s.",
						   t->kind->name, answer, missing, type) :
				 errdetail("Task \"%s\" answers with %s; every row's result would be refused by type %s, "
						   "after its request was paid for.", t->kind->name, answer, type),
				 errhint("Write into a column of type %s, or pass '{\"into\": \"table\"}' for a result table of the right type.",
						 fits)));
	}
	ReleaseSysCache(tup);
}

const char *
claude_jobs_option(const char *options, const char *name, const char *dflt)
{
	cJSON	   *root = cJSON_Parse(options);
	const cJSON *v = root ? cJSON_GetObjectItemCaseSensitive(root, name) : NULL;

	if (v == NULL || cJSON_IsNull(v))
		return dflt;
	if (!cJSON_IsString(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a string", name)));
	return pstrdup(v->valuestring);
}

/* The SQL type of a task's result. */
static const char *
task_result_type(const char *task)
{
	return claude_task_result_type(task);
}

static bool
owns_relation(Oid relid)
{
	return claude_relation_ownercheck(relid, GetUserId());
}

Oid
claude_jobs_create_result_table(Oid source, const char *output, const char *task,
								const char *table_name)
{
	char	   *nsp = get_namespace_name(get_rel_namespace(source));
	char	   *rel = get_rel_name(source);
	char	   *name = table_name ? pstrdup(table_name) : psprintf("%s_%s", rel, output);
	char	   *qtable = quote_qualified_identifier(nsp, name);
	char	   *qview = quote_qualified_identifier(nsp, psprintf("%s_with_%s", rel, output));
	char	   *qsource = quote_qualified_identifier(nsp, rel);
	StringInfoData cols;
	StringInfoData keys;
	StringInfoData join;
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(source)};
	uint64		i;
	Oid			result;

	Oid			existing;
	int			guc_level;

	/*
	 * The caller's rights, but not the caller's search_path: under it
	 * another role's array_position(int2vector, smallint) or = (varchar,
	 * varchar) would be chosen here, and bound into the view for good.
	 */
	guc_level = NewGUCNestLevel();
	claude_pin_search_path();

	/* an existing result table must be the caller's own, and a table */
	existing = RangeVarGetRelid(makeRangeVar(nsp, name, -1), NoLock, true);
	if (OidIsValid(existing) &&
		(get_rel_relkind(existing) != RELKIND_RELATION || !owns_relation(existing)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("result table %s already exists and is not a table of yours", qtable),
				 errdetail("The job would write its results, and run that relation's triggers, as you."),
				 errhint("Drop or rename it, or name another with the \"table\" option.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) "
							  "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a "
							  "ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid "
							  "AND a.attnum OPERATOR(pg_catalog.=) ANY (i.indkey) "
							  "WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisprimary "
							  "ORDER BY pg_catalog.array_position(i.indkey::pg_catalog.int2[], a.attnum)",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT || SPI_processed == 0)
		elog(ERROR, "could not read the primary key of \"%s\"", rel);
	initStringInfo(&cols);
	initStringInfo(&keys);
	initStringInfo(&join);
	for (i = 0; i < SPI_processed; i++)
	{
		const char *col = quote_identifier(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		char	   *type = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		appendStringInfo(&cols, "%s %s NOT NULL, ", col, type);
		appendStringInfo(&keys, "%s%s", i ? ", " : "", col);
		appendStringInfo(&join, "%sr.%s OPERATOR(pg_catalog.=) s.%s", i ? " AND " : "", col, col);
	}
	if (!OidIsValid(existing) &&
		SPI_execute(psprintf("CREATE TABLE %s (%s%s %s, input_sha256 pg_catalog.text, "
							 "updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(), "
							 "PRIMARY KEY (%s))",
							 qtable, cols.data, quote_identifier(output), task_result_type(task), keys.data),
					false, 0) < 0)
		elog(ERROR, "could not create the result table %s", qtable);
	if (SPI_execute(psprintf("CREATE OR REPLACE VIEW %s AS SELECT s.*, r.%s FROM %s s LEFT JOIN %s r ON %s",
							 qview, quote_identifier(output), qsource, qtable, join.data), false, 0) < 0)
		elog(ERROR, "could not create the view %s", qview);
	SPI_finish();
	AtEOXact_GUC(true, guc_level);
	result = RangeVarGetRelid(makeRangeVar(nsp, name, -1), NoLock, false);
	return result;
}

