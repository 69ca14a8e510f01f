/*-------------------------------------------------------------------------
 *
 * requests.c
 *	  Asynchronous requests (claude_complete_async): the worker's side.
 *
 * A round claims up to twice the concurrency of pending requests, sends
 * them with no transaction open, and writes each answer or error back into
 * claude.requests in one transaction.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "audit.h"
#include "call_policy.h"
#include "guc.h"
#include "requests.h"
#include "provider.h"
#include "task.h"
#include "work_item.h"
#include "work_xact.h"

static void write_round(WorkRound *r, bool finished_only);

bool
claude_requests_work(void)
{
	WorkRound	r;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	int			i;

	memset(&r, 0, sizeof(r));
	claude_work_begin();
	values[0] = Int32GetDatum(claude_worker_concurrency * 2);
	claude_work_sql("UPDATE claude.requests SET state = 'running' WHERE id OPERATOR(pg_catalog.=) ANY (SELECT id FROM claude.requests "
		"WHERE state OPERATOR(pg_catalog.=) 'pending' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) "
		"RETURNING id, model, body, prompt, role_name, provider, policy", 1, types, values, NULL);
	r.n = (int) SPI_processed;
	r.items = palloc0(sizeof(WorkItem) * Max(r.n, 1));
	for (i = 0; i < r.n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		WorkItem   *it = &r.items[i];
		bool		isnull;

		it->request_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		r.model = SPI_getvalue(tup, desc, 2);
		it->body = SPI_getvalue(tup, desc, 3);
		it->input = SPI_getvalue(tup, desc, 4);
		r.cc = (ClaudeCallContext) {"claude_complete_async", NULL, SPI_getvalue(tup, desc, 5), 0,
		claude_provider_checked(SPI_getvalue(tup, desc, 6))};
		/* the caller's redaction and guardrail, not only the worker's (call_policy.c) */
		r.cc.policy = claude_policy_from_json(SPI_getvalue(tup, desc, 7), false);
		/* each request may name its own model: prepare one by one */
		claude_work_prepare(&r, it);
	}
	claude_work_end();
	if (r.n == 0)
		return false;

	/*
	 * Requests of different models: one round each would be purer; the
	 * model is per call.  An error inside the round (a cancel, credentials
	 * that cannot be refreshed) ends it: the answers that came are paid for
	 * and written first, then the error goes on to the worker's recovery,
	 * which requeues or fails the rest (jobs.c).
	 */
	PG_TRY();
	{
		claude_work_send_round(&r);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(claude_work_context());
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		RESUME_INTERRUPTS();
		write_round(&r, true);
		ReThrowError(edata);
	}
	PG_END_TRY();
	write_round(&r, false);
	return true;
}

/*
 * Write a round's requests: each answered one done (or its answer's
 * error), each failed one with its error; finished_only: only those
 * (the round was cut short: the others go back to the worker's recovery).
 */
static void
write_round(WorkRound *r, bool finished_only)
{
	int			i;

	claude_work_begin();
	for (i = 0; i < r->n; i++)
	{
		WorkItem   *it = &r->items[i];
		Oid			t2[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		v2[5];
		char		n2[6] = "     ";

		if (it->answered && !it->error)
		{
			ClaudeTask	plain = {0};
			char	   *why = NULL;

			plain.kind = TASK_COMPLETE;
			claude_task_interpret(&plain, it->response, &it->result, &why, &it->error);
		}
		if (finished_only && !it->answered && !it->error)
			continue;
		v2[0] = Int64GetDatum(it->request_id);
		v2[1] = it->error ? CStringGetTextDatum("error") : CStringGetTextDatum("done");
		if (it->result)
			v2[2] = CStringGetTextDatum(it->result);
		else
			n2[2] = 'n';
		if (it->response && !it->error)
			v2[3] = CStringGetTextDatum(it->response);
		else
			n2[3] = 'n';
		if (it->error)
			v2[4] = CStringGetTextDatum(it->error);
		else
			n2[4] = 'n';
		claude_work_sql("UPDATE claude.requests SET state = $2, result = $3, response = $4::pg_catalog.jsonb, error = $5, "
			"completed_at = pg_catalog.now() WHERE id OPERATOR(pg_catalog.=) $1", 5, t2, v2, n2);
	}
	claude_work_end();
}

