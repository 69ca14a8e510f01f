/*-------------------------------------------------------------------------
 *
 * job_queue.c
 *	  Enrichment jobs in the tables: pick, populate, claim, write.
 *
 * Every statement over claude.job, claude.job_items and claude.enrich_hashes
 * the worker runs, and the SQL it runs as the job's owner over the source
 * table (reading inputs, writing results).  The worker's own statements run
 * under search_path = pg_catalog, pg_temp; what it wraps around the owner's
 * input is schema-qualified (doc/security.md).  A row's result, its input
 * hash and its 'done' mark commit together, so no row is written twice.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "job_definition.h"
#include "job_owner.h"
#include "job_queue.h"
#include "call_policy.h"
#include "provider.h"
#include "subxact.h"
#include "work_xact.h"

/*
 * SQL fragments over the primary key.  Everything pg_claude adds to SQL
 * that runs as the owner is schema-qualified: only the owner's input
 * expression is resolved through the owner's search_path.
 */
static char *
pk_sql(const Job *job, PkForm form, const char *json)
{
	StringInfoData buf;
	ListCell   *ln,
			   *lt;

	initStringInfo(&buf);
	if (form == PK_OBJECT)
		appendStringInfoString(&buf, "pg_catalog.jsonb_build_object(");
	forboth(ln, job->pk_names, lt, job->pk_types)
	{
		const char *q = lfirst(ln);

		if (buf.len > 0 && buf.data[buf.len - 1] != '(')
			appendStringInfoString(&buf, ", ");
		switch (form)
		{
			case PK_NAMES:
				appendStringInfoString(&buf, q);
				break;
			case PK_COLUMNS:
				appendStringInfo(&buf, "s.%s", q);
				break;
			case PK_OBJECT:
				appendStringInfo(&buf, "%s, s.%s", quote_literal_cstr(q), q);
				break;
			case PK_FROM_JSON:
				appendStringInfo(&buf, "(%s OPERATOR(pg_catalog.->>) %s)::%s", json,
								 quote_literal_cstr(q), (char *) lfirst(lt));
				break;
		}
	}
	if (form == PK_OBJECT)
		appendStringInfoChar(&buf, ')');
	return buf.data;
}

char *
claude_job_pk_sql(const Job *job, PkForm form, const char *json)
{
	return pk_sql(job, form, json);
}

const char *
claude_job_input_cast(const Job *job)
{
	return job->input_bytea ? "pg_catalog.bytea" : "pg_catalog.text";
}

/* the SHA-256 of the bytes, or of the text's UTF-8 */
char *
claude_job_input_hash_sql(const Job *job, const char *v)
{
	return job->input_bytea ?
		psprintf("pg_catalog.encode(pg_catalog.sha256(%s), 'hex')", v) :
		psprintf("pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(%s, "
				 "'UTF8'::pg_catalog.name)), 'hex')", v);
}

bool
claude_job_input_is_bytea(const Job *job)
{
	Oid			type;

	/* planning can fold the owner's functions: planned as the owner */
	claude_job_become_owner(job->id, job->owner, job->search_path);
	claude_work_sql(psprintf("SELECT (%s) FROM %s s LIMIT 0", job->input, job->source_name),
					0, NULL, NULL, NULL);
	type = SPI_gettypeid(SPI_tuptable->tupdesc, 1);
	claude_job_become_worker();
	return getBaseType(type) == BYTEAOID;
}

/* no result yet: a NULL output column, or no row in the result table */
char *
claude_job_missing_sql(const Job *job)
{
	return job->into ?
		psprintf("NOT EXISTS (SELECT 1 FROM %s r WHERE (%s) OPERATOR(pg_catalog.=) (%s) "
				 "AND r.%s IS NOT NULL)", job->into, pk_sql(job, PK_NAMES, NULL),
				 pk_sql(job, PK_COLUMNS, NULL), quote_identifier(job->output)) :
		psprintf("s.%s IS NULL", quote_identifier(job->output));
}

/* The primary key's columns and types (as the worker: catalogs only). */
void
claude_job_pk_columns(Job *job)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(job->source)};
	uint64		i;

	claude_work_sql("SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) "
		"FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a "
		"ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) ANY (i.indkey) "
		"WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisprimary "
		"ORDER BY pg_catalog.array_position(i.indkey, a.attnum)",
		1, types, values, NULL);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table %s no longer has a primary key", job->source_name)));
	job->pk_names = NIL;
	job->pk_types = NIL;
	for (i = 0; i < SPI_processed; i++)
	{
		job->pk_names = lappend(job->pk_names,
								(char *) quote_identifier(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
		job->pk_types = lappend(job->pk_types, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	}
}

/*
 * The oldest job to work on, or NULL.  A job whose source table is gone
 * is still picked (to be failed with a reason), never left queued.
 */
Job *
claude_job_pick(void)
{
	Job		   *job;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	claude_work_sql("SELECT j.id, j.role_name, j.source::pg_catalog.oid, j.input, j.output, j.task, "
		"j.options::pg_catalog.text, j.state, j.search_path, "
		"(SELECT pg_catalog.quote_ident(n.nspname::pg_catalog.text) OPERATOR(pg_catalog.||) '.' "
		"        OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname::pg_catalog.text) "
		" FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
		" WHERE c.oid OPERATOR(pg_catalog.=) j.source::pg_catalog.oid), "
		"(SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
		" WHERE a.attrelid OPERATOR(pg_catalog.=) coalesce(j.into_table::pg_catalog.oid, j.source::pg_catalog.oid) "
		" AND a.attname OPERATOR(pg_catalog.=) j.output AND NOT a.attisdropped), "
		"(SELECT pg_catalog.quote_ident(n2.nspname::pg_catalog.text) OPERATOR(pg_catalog.||) '.' "
		"        OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c2.relname::pg_catalog.text) "
		" FROM pg_catalog.pg_class c2 JOIN pg_catalog.pg_namespace n2 ON n2.oid OPERATOR(pg_catalog.=) c2.relnamespace "
		" WHERE c2.oid OPERATOR(pg_catalog.=) j.into_table::pg_catalog.oid), "
		"j.max_consecutive_failures, "
		"j.definition::pg_catalog.text, j.definition_sha256, "
		"coalesce(j.options OPERATOR(pg_catalog.->>) 'redo', 'changed') "
		"FROM claude.job j WHERE j.state OPERATOR(pg_catalog.=) ANY ('{queued,running}') "
		/* a cancelled job's AWS batch jobs are stopped, and what they finished kept (job_batch.c) */
		"OR (j.state OPERATOR(pg_catalog.=) 'cancelled' AND EXISTS (SELECT 1 FROM claude.batch_parts bp "
		"WHERE bp.job_id OPERATOR(pg_catalog.=) j.id AND bp.phase OPERATOR(pg_catalog.<>) 'done')) "
		"ORDER BY j.id LIMIT 1", 0, NULL, NULL, NULL);
	if (SPI_processed == 0)
		return NULL;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	job = palloc0(sizeof(Job));
	job->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	job->owner_name = SPI_getvalue(tup, desc, 2);
	job->source = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
	job->input = SPI_getvalue(tup, desc, 4);
	job->output = SPI_getvalue(tup, desc, 5);
	job->task_name = SPI_getvalue(tup, desc, 6);
	job->options = SPI_getvalue(tup, desc, 7);
	job->state = SPI_getvalue(tup, desc, 8);
	job->search_path = SPI_getvalue(tup, desc, 9);
	job->source_name = SPI_getvalue(tup, desc, 10);
	job->output_type = SPI_getvalue(tup, desc, 11);
	job->into = SPI_getvalue(tup, desc, 12);
	job->max_failures = DatumGetInt32(SPI_getbinval(tup, desc, 13, &isnull));
	job->definition = SPI_getvalue(tup, desc, 14);
	job->definition_sha256 = SPI_getvalue(tup, desc, 15);
	/* the provider the job was queued for, not the worker's setting */
	job->provider = claude_provider_of_definition(job->definition);
	/* and its owner's redaction and guardrail, not only the worker's (call_policy.c) */
	job->policy = claude_policy_from_json(job->definition, true);
	job->redo = SPI_getvalue(tup, desc, 16);
	job->owner = get_role_oid(job->owner_name, true);
	return job;
}

/* Fail a job that is still queued or running (never undo a cancel). */
void
claude_job_fail(Job *job, const char *code, const char *error, const char *pk)
{
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4] = {Int64GetDatum(job->id), CStringGetTextDatum(error),
		code ? CStringGetTextDatum(code) : (Datum) 0, pk ? CStringGetTextDatum(pk) : (Datum) 0};
	char		nulls[5] = {' ', ' ', code ? ' ' : 'n', pk ? ' ' : 'n', '\0'};

	claude_work_sql("UPDATE claude.job SET state = 'failed', error = $2, error_code = $3, "
		"error_pk = $4::pg_catalog.jsonb, finished_at = pg_catalog.now() "
		"WHERE id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) ANY ('{queued,running}')",
		4, types, values, nulls);
}

/* The job's state as committed now. */
char *
claude_job_state(int64 id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	claude_work_sql("SELECT state FROM claude.job WHERE id OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
	return SPI_processed == 0 ? "gone" : SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * A queued job's rows: under "redo" "changed" (the default), every row
 * whose input has no result, or a result made from a different input or
 * under a different definition (job_definition.c); "missing": only rows
 * with no result; "all": every row.  Read as the owner and written as the
 * worker, in primary-key order, POPULATE_ROWS at a time, each batch in a
 * transaction of its own: memory and transaction size stay flat however
 * large the table, and a crash midway only repeats the population (items
 * are inserted ON CONFLICT DO NOTHING).  Each input is evaluated once.
 * Returns false if the job stopped being queued meanwhile (a cancel).
 */
#define POPULATE_ROWS 10000

bool
claude_job_populate(Job *job)
{
	char	   *missing = claude_job_missing_sql(job);
	bool		have_digest = job->definition_sha256 != NULL;
	/* the rows to do, queued; their count and input bytes make the job's estimate */
	char	   *insert = psprintf("WITH to_send AS (SELECT u.p, u.h, u.b "
								  "FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), "
								  "pg_catalog.unnest($8)) AS u(p, h, m, b) "
								  "LEFT JOIN claude.enrich_hashes e "
								  "ON e.source OPERATOR(pg_catalog.=) $5 AND e.output OPERATOR(pg_catalog.=) $6 "
								  "AND e.pk OPERATOR(pg_catalog.=) u.p WHERE %s), "
								  "queued AS (INSERT INTO claude.job_items (job_id, pk, input_sha256, role_name) "
								  "SELECT $1, to_send.p, to_send.h, $9 FROM to_send ON CONFLICT DO NOTHING) "
								  "SELECT pg_catalog.count(*), coalesce(pg_catalog.sum(to_send.b), 0)::pg_catalog.int8 FROM to_send",
								  claude_job_redo_sql(job->redo, have_digest, 7));
	int64		rows_to_send = 0;
	int64		bytes_to_send = 0;
	ClaudeJobEstimate est;
	/*
	 * Each input evaluated once (OFFSET 0 keeps the planner from copying
	 * it), for its hash and its size; the subquery's order is the order
	 * the rows come out in (last_pk below).
	 */
	const char *select_fmt =
		"SELECT q.pk, %s, q.m, pg_catalog.octet_length(q.t)::pg_catalog.int8 "
		"FROM (SELECT %s AS pk, (%s)::%s AS t, %s AS m FROM %s s %s ORDER BY %s LIMIT %d OFFSET 0) q";
	char	   *hash = claude_job_input_hash_sql(job, "q.t");
	char	   *first = psprintf(select_fmt, hash, pk_sql(job, PK_OBJECT, NULL), job->input,
								 claude_job_input_cast(job), missing,
								 job->source_name, "", pk_sql(job, PK_COLUMNS, NULL), POPULATE_ROWS);
	char	   *next = psprintf(select_fmt, hash, pk_sql(job, PK_OBJECT, NULL), job->input,
								claude_job_input_cast(job), missing,
								job->source_name,
								psprintf("WHERE (%s) OPERATOR(pg_catalog.>) (%s)", pk_sql(job, PK_COLUMNS, NULL),
										 pk_sql(job, PK_FROM_JSON, "$1::pg_catalog.jsonb")),
								pk_sql(job, PK_COLUMNS, NULL), POPULATE_ROWS);
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext batch_cxt = AllocSetContextCreate(outer, "pg_claude populate", ALLOCSET_DEFAULT_SIZES);
	char	   *last_pk = NULL;
	bool		queued = true;

	for (;;)
	{
		uint64		i;
		uint64		n;
		uint64		kept = 0;
		Datum	   *pks;
		Datum	   *hashes;
		Datum	   *missings;
		Datum	   *sizes;
		Oid			types[9] = {INT8OID, JSONBARRAYOID, TEXTARRAYOID, BOOLARRAYOID, REGCLASSOID, NAMEOID, TEXTOID,
		INT8ARRAYOID, TEXTOID};
		Datum		values[9];
		Oid			t1[1] = {TEXTOID};
		Datum		v1[1];

		claude_work_set_target(batch_cxt);
		claude_work_begin();
		if (strcmp(claude_job_state(job->id), "queued") != 0)
		{
			queued = false;
			claude_work_end();
			break;
		}
		claude_job_become_owner(job->id, job->owner, job->search_path);
		if (last_pk == NULL)
			claude_work_sql(first, 0, NULL, NULL, NULL);
		else
		{
			v1[0] = CStringGetTextDatum(last_pk);
			claude_work_sql(next, 1, t1, v1, NULL);
		}
		claude_job_become_worker();
		n = SPI_processed;
		if (n == 0)
		{
			claude_work_end();
			break;
		}
		pks = palloc(sizeof(Datum) * n);
		hashes = palloc(sizeof(Datum) * n);
		missings = palloc(sizeof(Datum) * n);
		sizes = palloc(sizeof(Datum) * n);
		for (i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Datum		hash = SPI_getbinval(tup, desc, 2, &isnull);

			if (i == n - 1)
			{
				if (last_pk)
					pfree(last_pk);
				last_pk = MemoryContextStrdup(outer, SPI_getvalue(tup, desc, 1));
			}
			if (isnull)
				continue;		/* a NULL input: nothing to send */
			pks[kept] = SPI_getbinval(tup, desc, 1, &isnull);
			hashes[kept] = hash;
			missings[kept] = SPI_getbinval(tup, desc, 3, &isnull);
			if (isnull)
				missings[kept] = BoolGetDatum(true);
			sizes[kept] = SPI_getbinval(tup, desc, 4, &isnull);
			kept++;
		}
		if (kept > 0)
		{
			/* the worker, not the owner, reads the hashes of earlier results */
			values[0] = Int64GetDatum(job->id);
			values[1] = PointerGetDatum(construct_array(pks, kept, JSONBOID, -1, false, TYPALIGN_INT));
			values[2] = PointerGetDatum(construct_array(hashes, kept, TEXTOID, -1, false, TYPALIGN_INT));
			values[3] = PointerGetDatum(construct_array(missings, kept, BOOLOID, 1, true, TYPALIGN_CHAR));
			values[4] = ObjectIdGetDatum(job->source);
			values[5] = DirectFunctionCall1(namein, CStringGetDatum(job->output));
			values[6] = have_digest ? CStringGetTextDatum(job->definition_sha256) : CStringGetTextDatum("");
			values[7] = PointerGetDatum(construct_array(sizes, kept, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			values[8] = CStringGetTextDatum(job->owner_name);
			claude_work_sql(insert, 9, types, values, NULL);
			if (SPI_processed == 1)
			{
				bool		isnull;

				rows_to_send += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
				bytes_to_send += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
			}

			/*
			 * A result from before 0.3.0 has no definition digest: under
			 * "changed" it stands for this job's definition, which it takes
			 * now, so that a later change of definition redoes it (CHANGELOG).
			 */
			if (have_digest && strcmp(job->redo, "changed") == 0)
				claude_work_sql("UPDATE claude.enrich_hashes e SET definition_sha256 = $7 "
					"FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4)) AS u(p, h, m) "
					"WHERE e.source OPERATOR(pg_catalog.=) $5 "
					"AND e.output OPERATOR(pg_catalog.=) $6 AND e.pk OPERATOR(pg_catalog.=) u.p "
					"AND e.definition_sha256 IS NULL AND NOT u.m AND e.input_sha256 OPERATOR(pg_catalog.=) u.h",
					7, types, values, NULL);
		}
		claude_work_end();
		claude_work_set_target(NULL);
		MemoryContextSwitchTo(outer);
		MemoryContextReset(batch_cxt);
		if (n < POPULATE_ROWS)
			break;
	}
	claude_work_set_target(NULL);
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(batch_cxt);
	if (!queued)
		return false;

	/*
	 * Running only if still queued: a cancel meanwhile stays a cancel.  The
	 * estimate of what was queued (job_definition.c), before anything is
	 * sent: it replaces claude_enrich's, made from the rows as they were.
	 */
	claude_job_estimate_tokens(&job->task, rows_to_send, bytes_to_send, &est);
	{
		Oid			types[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
		Datum		values[4] = {Int64GetDatum(job->id), Int64GetDatum(est.rows),
		Int64GetDatum(est.input_tokens), Int64GetDatum(est.output_tokens)};

		claude_work_begin();
		claude_work_sql("UPDATE claude.job SET state = 'running', started_at = pg_catalog.now(), "
			"rows_total = (SELECT pg_catalog.count(*) FROM claude.job_items i "
			"              WHERE i.job_id OPERATOR(pg_catalog.=) $1), "
			"estimated_rows = $2, estimated_input_tokens = $3, estimated_output_tokens = $4 "
			"WHERE id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'queued'",
			4, types, values, NULL);
		queued = SPI_processed > 0;
		claude_work_end();
	}
	return queued;
}

/* Claim up to n pending rows and read their inputs (as the owner). */
WorkRound *
claude_job_claim(Job *job, int n)
{
	WorkRound  *r = palloc0(sizeof(WorkRound));
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(job->id), Int32GetDatum(n)};
	Datum	   *pks;
	uint64		i;
	uint64		got;

	r->task = &job->task;
	r->model = job->task.model;
	claude_work_sql("UPDATE claude.job_items SET state = 'running', attempts = attempts OPERATOR(pg_catalog.+) 1, "
		"updated_at = pg_catalog.now() "
		"WHERE (job_id, pk) OPERATOR(pg_catalog.=) ANY (SELECT job_id, pk FROM claude.job_items "
		"WHERE job_id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'pending' "
		/* a row a batch inference job still owes is not sent again (job_batch.c) */
		"AND NOT EXISTS (SELECT 1 FROM claude.batch_records b WHERE b.job_id OPERATOR(pg_catalog.=) $1 "
		"AND b.pk OPERATOR(pg_catalog.=) job_items.pk) "
		"LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING pk, input_sha256", 2, types, values, NULL);
	got = SPI_processed;
	if (got == 0)
		return r;
	r->items = palloc0(sizeof(WorkItem) * got);
	pks = palloc(sizeof(Datum) * got);
	for (i = 0; i < got; i++)
	{
		bool		isnull;

		pks[i] = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull), false, -1);
	}

	/*
	 * The inputs, as the owner, each evaluated once (OFFSET 0 keeps the
	 * planner from copying the expression into both outputs); rows deleted
	 * meanwhile simply do not come back.
	 */
	{
		char	   *sql = psprintf("SELECT q.pk, q.t, %s FROM (SELECT %s AS pk, "
								   "(%s)::%s AS t FROM %s s WHERE (%s) OPERATOR(pg_catalog.=) ANY "
								   "(SELECT %s FROM pg_catalog.unnest($1) AS x) OFFSET 0) q",
								   claude_job_input_hash_sql(job, "q.t"), pk_sql(job, PK_OBJECT, NULL),
								   job->input, claude_job_input_cast(job), job->source_name,
								   pk_sql(job, PK_COLUMNS, NULL), pk_sql(job, PK_FROM_JSON, "x"));
		Oid			t1[1] = {JSONBARRAYOID};
		Datum		v1[1] = {PointerGetDatum(construct_array(pks, got, JSONBOID, -1, false, TYPALIGN_INT))};

		claude_job_become_owner(job->id, job->owner, job->search_path);
		claude_work_sql(sql, 1, t1, v1, NULL);
		claude_job_become_worker();
	}
	/* a row whose input became NULL has nothing to send: it is only marked */
	r->n = 0;
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		WorkItem   *it = &r->items[r->n];
		bool		isnull;
		Datum		input = SPI_getbinval(tup, desc, 2, &isnull);

		if (isnull)
			continue;
		it->pk = SPI_datumTransfer(SPI_getbinval(tup, desc, 1, &isnull), false, -1);
		it->pk_text = SPI_getvalue(tup, desc, 1);
		/* bytes: the row's attachment, detoasted into the claim's memory (doc/documents.md) */
		if (job->input_bytea)
		{
			bytea	   *bytes = (bytea *) pg_detoast_datum_copy((struct varlena *) DatumGetPointer(input));

			it->attachment = (const unsigned char *) VARDATA_ANY(bytes);
			it->attachment_len = VARSIZE_ANY_EXHDR(bytes);
		}
		else
			it->input = SPI_getvalue(tup, desc, 2);
		it->input_sha256 = SPI_getvalue(tup, desc, 3);
		r->n++;
	}
	r->claimed = PointerGetDatum(construct_array(pks, got, JSONBOID, -1, false, TYPALIGN_INT));

	/* claimed rows whose source row is gone meanwhile, or whose input is NULL: nothing to fill */
	if ((uint64) r->n < got)
	{
		Datum	   *found = palloc(sizeof(Datum) * Max(r->n, 1));
		Oid			t2[3] = {INT8OID, JSONBARRAYOID, JSONBARRAYOID};
		Datum		v2[3];

		for (i = 0; i < (uint64) r->n; i++)
			found[i] = r->items[i].pk;
		v2[0] = Int64GetDatum(job->id);
		v2[1] = r->claimed;
		v2[2] = PointerGetDatum(construct_array(found, r->n, JSONBOID, -1, false, TYPALIGN_INT));
		claude_work_sql("UPDATE claude.job_items SET state = 'done', error = 'source row no longer exists or its input is NULL', "
			"updated_at = pg_catalog.now() "
			"WHERE job_id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'running' "
			"AND pk OPERATOR(pg_catalog.=) ANY ($2) AND NOT (pk OPERATOR(pg_catalog.=) ANY ($3))",
			3, t2, v2, NULL);
		if (SPI_processed > 0)
		{
			Oid			t3[2] = {INT8OID, INT8OID};
			Datum		v3[2] = {Int64GetDatum(job->id), Int64GetDatum((int64) SPI_processed)};

			claude_work_sql("UPDATE claude.job SET rows_done = rows_done OPERATOR(pg_catalog.+) $2 "
				"WHERE id OPERATOR(pg_catalog.=) $1", 2, t3, v3, NULL);
		}
	}
	return r;
}

/* One result written into the owner's table, as the owner. */
typedef struct OwnerWrite
{
	const Job  *job;
	const char *sql;
	Oid		   *types;
	Datum	   *values;
} OwnerWrite;

static void
owner_write(void *arg)
{
	OwnerWrite *w = (OwnerWrite *) arg;

	/* back as the worker before the subtransaction is rolled back (job_owner.c) */
	PG_TRY();
	{
		claude_job_become_owner(w->job->id, w->job->owner, w->job->search_path);
		claude_work_sql(w->sql, 3, w->types, w->values, NULL);
	}
	PG_FINALLY();
	{
		claude_job_become_worker();
	}
	PG_END_TRY();
}

/*
 * Write a round's outcomes: each result into its source row (as the
 * owner), its input hash, its item marked done, and the job's counters,
 * all in one transaction.
 */
void
claude_job_write(Job *job, WorkItem **items, int nitems)
{
	char	   *update = job->into ?
		psprintf("INSERT INTO %s (%s, %s, input_sha256, updated_at) SELECT %s, $1::pg_catalog.text::%s, $3, "
				 "pg_catalog.now() ON CONFLICT (%s) DO UPDATE SET %s = EXCLUDED.%s, "
				 "input_sha256 = EXCLUDED.input_sha256, updated_at = pg_catalog.now()",
				 job->into, pk_sql(job, PK_NAMES, NULL), quote_identifier(job->output),
				 pk_sql(job, PK_FROM_JSON, "$2::pg_catalog.jsonb"), job->output_type,
				 pk_sql(job, PK_NAMES, NULL), quote_identifier(job->output), quote_identifier(job->output)) :
		psprintf("UPDATE %s s SET %s = $1::pg_catalog.text::%s WHERE (%s) OPERATOR(pg_catalog.=) (%s) "
				 "AND $3::pg_catalog.text IS NOT NULL",
				 job->source_name, quote_identifier(job->output), job->output_type,
				 pk_sql(job, PK_COLUMNS, NULL), pk_sql(job, PK_FROM_JSON, "$2::pg_catalog.jsonb"));
	int64		done = 0;
	int64		failed = 0;
	int64		in_tokens = 0;
	int64		out_tokens = 0;
	Datum	   *codes = palloc(sizeof(Datum) * Max(nitems, 1));
	WorkItem   *last_failed = NULL;
	int			i;

	for (i = 0; i < nitems; i++)
	{
		WorkItem   *it = items[i];
		Oid			t3[5] = {INT8OID, JSONBOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		v3[5];
		char		n3[6] = "     ";

		in_tokens += it->input_tokens;
		out_tokens += it->output_tokens;
		if (!it->error && it->result)
		{
			Oid			t1[3] = {TEXTOID, JSONBOID, TEXTOID};
			Datum		v1[3] = {CStringGetTextDatum(it->result), it->pk, CStringGetTextDatum(it->input_sha256)};
			Oid			t2[6] = {OIDOID, TEXTOID, JSONBOID, TEXTOID, INT8OID, TEXTOID};
			Datum		v2[6];
			char		n2[7] = "      ";
			OwnerWrite	w = {job, update, t1, v1};
			ErrorData  *edata;

			/* the owner's write may fail (a constraint, a type): that is the row's error */
			edata = claude_try(owner_write, &w);
			if (edata != NULL)
			{
				it->error = psprintf("could not write the result: %s", edata->message);
				it->error_code = pstrdup(unpack_sql_state(edata->sqlerrcode));
				it->error_retryable = false;
				FreeErrorData(edata);
			}

			if (!it->error)
			{
				v2[0] = ObjectIdGetDatum(job->source);
				v2[1] = DirectFunctionCall1(namein, CStringGetDatum(job->output));
				v2[2] = it->pk;
				v2[3] = CStringGetTextDatum(it->input_sha256);
				v2[4] = Int64GetDatum(job->id);
				v2[5] = job->definition_sha256 ? CStringGetTextDatum(job->definition_sha256) : (Datum) 0;
				if (job->definition_sha256 == NULL)
					n2[5] = 'n';
				t2[1] = NAMEOID;
				/* the result's input and the definition it was made under (job_definition.c) */
				claude_work_sql("INSERT INTO claude.enrich_hashes (source, output, pk, input_sha256, job_id, "
					"definition_sha256) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, output, pk) DO UPDATE SET "
					"input_sha256 = EXCLUDED.input_sha256, job_id = EXCLUDED.job_id, "
					"definition_sha256 = EXCLUDED.definition_sha256, updated_at = pg_catalog.now()",
					6, t2, v2, n2);
			}
		}
		v3[0] = Int64GetDatum(job->id);
		v3[1] = it->pk;
		if (it->error)
		{
			if (it->error_code == NULL)
				it->error_code = "unknown";
			v3[2] = CStringGetTextDatum("failed");
			v3[3] = CStringGetTextDatum(it->error);
			v3[4] = CStringGetTextDatum(it->error_code);
			codes[failed++] = v3[4];
			last_failed = it;
		}
		else
		{
			v3[2] = CStringGetTextDatum("done");
			n3[3] = 'n';
			n3[4] = 'n';
			done++;
		}
		claude_work_sql("UPDATE claude.job_items SET state = $3, error = $4, error_code = $5, "
			"updated_at = pg_catalog.now() "
			"WHERE job_id OPERATOR(pg_catalog.=) $1 AND pk OPERATOR(pg_catalog.=) $2 "
			"AND state OPERATOR(pg_catalog.=) 'running'", 5, t3, v3, n3);
	}
	{
		Oid			types[8] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, TEXTARRAYOID, TEXTOID, TEXTOID};
		Datum		values[8] = {Int64GetDatum(job->id), Int64GetDatum(done), Int64GetDatum(failed),
			Int64GetDatum(in_tokens), Int64GetDatum(out_tokens),
			PointerGetDatum(construct_array(codes, (int) failed, TEXTOID, -1, false, TYPALIGN_INT)),
			last_failed ? CStringGetTextDatum(last_failed->error_code) : (Datum) 0,
		last_failed ? CStringGetTextDatum(last_failed->error) : (Datum) 0};
		char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', last_failed ? ' ' : 'n', last_failed ? ' ' : 'n', '\0'};

		/* failures by code: the job's counts plus this round's codes */
		claude_work_sql("UPDATE claude.job SET rows_done = rows_done OPERATOR(pg_catalog.+) $2, "
			"rows_failed = rows_failed OPERATOR(pg_catalog.+) $3, "
			"input_tokens = input_tokens OPERATOR(pg_catalog.+) $4, "
			"output_tokens = output_tokens OPERATOR(pg_catalog.+) $5, "
			"last_error_code = COALESCE($7, last_error_code), last_error = COALESCE($8, last_error), "
			"failures = CASE WHEN $3 OPERATOR(pg_catalog.=) 0 THEN failures ELSE "
			"(SELECT pg_catalog.jsonb_object_agg(f.code, f.n) FROM "
			" (SELECT e.code, pg_catalog.sum(e.n) AS n FROM "
			"  (SELECT x.key AS code, (x.value)::pg_catalog.text::pg_catalog.int8 AS n "
			"   FROM pg_catalog.jsonb_each(failures) AS x "
			"   UNION ALL SELECT c.code, 1 FROM pg_catalog.unnest($6) AS c(code)) e "
			"  GROUP BY e.code) f) END "
			"WHERE id OPERATOR(pg_catalog.=) $1",
			8, types, values, nulls);
	}
}

/*
 * After a round ended by an error: rows claimed but not written go back
 * to the queue (the worker is the only claimer, so every 'running' row of
 * the job is its own), and claimed requests too, or, when the error is
 * not a mere interruption, they fail with it.
 */
void
claude_job_requeue_claimed(int64 job, const char *error)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(job), error ? CStringGetTextDatum(error) : (Datum) 0};
	char		nulls[3] = {' ', error ? ' ' : 'n', '\0'};

	if (job != 0)
		claude_work_sql("UPDATE claude.job_items SET state = 'pending' WHERE job_id OPERATOR(pg_catalog.=) $1 "
			"AND state OPERATOR(pg_catalog.=) 'running'", 1, types, values, NULL);
	claude_work_sql("UPDATE claude.requests SET state = CASE WHEN $2 IS NULL THEN 'pending' ELSE 'error' END, "
		"error = $2, completed_at = CASE WHEN $2 IS NULL THEN NULL ELSE pg_catalog.now() END "
		"WHERE state OPERATOR(pg_catalog.=) 'running'", 2, types, values, nulls);
}

