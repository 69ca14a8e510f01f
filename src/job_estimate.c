/*-------------------------------------------------------------------------
 *
 * job_estimate.c
 *	  What an enrichment job will do and cost, before anything is sent.
 *
 * claude_enrich_estimate returns one without queueing anything, and
 * claude_enrich keeps one on the job it queues when the input is a column
 * (reading a column runs none of the owner's code in the caller's
 * claude_enrich; an expression is estimated by the worker as it populates
 * the job, before it sends anything: job_queue.c).  The rows counted are the rows the worker would
 * queue: the source read as the caller, each input hashed, compared with
 * claude.enrich_hashes (read with the extension owner's rights) under the
 * job's "redo" choice and definition digest; tokens are estimated from
 * the inputs' bytes (claude_job_estimate_tokens, doc/job_definition.md).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "job_estimate.h"
#include "privilege.h"
#include "task.h"

#define ESTIMATE_ROWS 10000

/* Rows to do and their input bytes among one batch of scanned rows. */
static void
count_batch(const Job *job, const ClaudeJobDefinition *def, const char *redo,
			SPITupleTable *tuptable, uint64 n, int64 *rows, int64 *bytes)
{
	Datum	   *pks = palloc(sizeof(Datum) * n);
	Datum	   *hashes = palloc(sizeof(Datum) * n);
	Datum	   *missings = palloc(sizeof(Datum) * n);
	Datum	   *sizes = palloc(sizeof(Datum) * n);
	Oid			types[7] = {JSONBARRAYOID, TEXTARRAYOID, BOOLARRAYOID, INT8ARRAYOID, OIDOID, NAMEOID, TEXTOID};
	Datum		values[7];
	Datum		result;
	Datum	   *counts;
	int			ncounts;
	bool		isnull;
	uint64		i;

	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = tuptable->vals[i];
		TupleDesc	desc = tuptable->tupdesc;

		pks[i] = SPI_getbinval(tup, desc, 1, &isnull);
		hashes[i] = SPI_getbinval(tup, desc, 2, &isnull);
		missings[i] = SPI_getbinval(tup, desc, 3, &isnull);
		if (isnull)
			missings[i] = BoolGetDatum(true);
		sizes[i] = SPI_getbinval(tup, desc, 4, &isnull);
	}
	values[0] = PointerGetDatum(construct_array(pks, n, JSONBOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(hashes, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(missings, n, BOOLOID, 1, true, TYPALIGN_CHAR));
	values[3] = PointerGetDatum(construct_array(sizes, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[4] = ObjectIdGetDatum(job->source);
	values[5] = DirectFunctionCall1(namein, CStringGetDatum(job->output));
	values[6] = CStringGetTextDatum(def->sha256);

	/* the same choice as the worker's (job_queue.c), over hashes only the extension reads */
	result = claude_owner_query(psprintf("SELECT ARRAY[pg_catalog.count(*), "
										 "coalesce(pg_catalog.sum(u.b), 0)::pg_catalog.int8] "
										 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), "
										 "pg_catalog.unnest($3), pg_catalog.unnest($4)) AS u(p, h, m, b) "
										 "LEFT JOIN claude.enrich_hashes e "
										 "ON e.source OPERATOR(pg_catalog.=) $5 AND e.output OPERATOR(pg_catalog.=) $6 "
										 "AND e.pk OPERATOR(pg_catalog.=) u.p WHERE %s",
										 claude_job_redo_sql(redo, true, 7)),
								7, types, values, NULL, true, &isnull);
	if (isnull)
		elog(ERROR, "could not count the rows to do");
	deconstruct_array(DatumGetArrayTypeP(result), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &counts, NULL, &ncounts);
	*rows += DatumGetInt64(counts[0]);
	*bytes += DatumGetInt64(counts[1]);
}

void
claude_job_estimate(Job *job, const ClaudeJobDefinition *def, const char *redo,
					bool nothing_done, ClaudeJobEstimate *est)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext batch_cxt;
	int64		rows = 0;
	int64		bytes = 0;
	char	   *sql;
	Portal		portal;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	claude_job_pk_columns(job);
	/* as the caller, under the caller's search_path: the input is theirs; each evaluated once */
	sql = psprintf("SELECT q.pk, %s, q.m, pg_catalog.octet_length(q.t)::pg_catalog.int8 "
				   "FROM (SELECT %s AS pk, (%s)::%s AS t, %s AS m FROM %s s OFFSET 0) q "
				   "WHERE q.t IS NOT NULL",
				   claude_job_input_hash_sql(job, "q.t"), claude_job_pk_sql(job, PK_OBJECT, NULL),
				   job->input, claude_job_input_cast(job),
				   nothing_done ? "true" : claude_job_missing_sql(job), job->source_name);
	portal = SPI_cursor_open_with_args(NULL, sql, 0, NULL, NULL, NULL, true, 0);
	batch_cxt = AllocSetContextCreate(outer, "pg_claude estimate", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		MemoryContext cxt;

		SPI_cursor_fetch(portal, true, ESTIMATE_ROWS);
		if (SPI_processed == 0)
			break;
		cxt = MemoryContextSwitchTo(batch_cxt);
		count_batch(job, def, redo, SPI_tuptable, SPI_processed, &rows, &bytes);
		MemoryContextSwitchTo(cxt);
		MemoryContextReset(batch_cxt);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(batch_cxt);
	SPI_finish();
	MemoryContextSwitchTo(outer);

	claude_job_estimate_tokens(&def->task, rows, bytes, est);
}
