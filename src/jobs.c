/*-------------------------------------------------------------------------
 *
 * jobs.c
 *	  The worker's work: asynchronous requests (claude.requests) and
 *	  enrichment jobs (claude.job, claude.job_items).
 *
 * No Bedrock call happens inside a transaction.  A round is three short
 * steps: claim rows (state 'running') and commit; send them, up to
 * claude.worker_concurrency in flight, with no transaction open; write
 * the results and mark the rows done in one transaction.  A crash between
 * the steps leaves rows 'running', which the next start puts back to
 * 'pending': the waste is bounded by what was claimed (twice the
 * concurrency), and since a row's result and its 'done' mark commit
 * together, no row is written twice.
 *
 * A job reads its source and writes its output as the role that created
 * it (never as the worker's superuser), so the input expression and the
 * output column are only what that role could read and write itself.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "audit.h"
#include "bedrock.h"
#include "enrich_table.h"
#include "guc.h"
#include "job_batch.h"
#include "job_owner.h"
#include "job_queue.h"
#include "jobs.h"
#include "provider.h"
#include "model_catalog.h"
#include "rate_limit.h"
#include "requests.h"
#include "retention.h"
#include "retry.h"
#include "task.h"
#include "work_item.h"
#include "work_xact.h"
#include "wakeup.h"

void
claude_jobs_wake_worker(void)
{
	claude_wake_job_worker();
}

/*
 * Whether pg_claude existed when the worker last looked: after DROP
 * EXTENSION it waits quietly, and when CREATE EXTENSION (or a restore)
 * brings the extension back, it recovers as at a start.
 */
static bool extension_present = false;

/* Is pg_claude there now?  In a transaction of its own (none may be open). */
static bool
extension_exists(void)
{
	bool		exists;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	exists = OidIsValid(get_extension_oid("pg_claude", true));
	CommitTransactionCommand();
	MemoryContextSwitchTo(claude_work_context());
	return exists;
}

void
claude_jobs_recover(void)
{
	MemoryContextSwitchTo(claude_work_context());
	claude_work_begin();
	extension_present = OidIsValid(get_extension_oid("pg_claude", true));
	if (extension_present)
	{
		claude_work_sql("UPDATE claude.requests SET state = 'pending' WHERE state OPERATOR(pg_catalog.=) 'running'",
			0, NULL, NULL, NULL);
		claude_work_sql("UPDATE claude.job_items SET state = 'pending' WHERE state OPERATOR(pg_catalog.=) 'running'",
			0, NULL, NULL, NULL);
		if (SPI_processed > 0)
			ereport(LOG, (errmsg("pg_claude worker: requeued " UINT64_FORMAT " job rows left in flight", SPI_processed)));
		/* the job whose owner code outlived twice its limit must not run again */
		{
			int64		killed = claude_jobs_take_killed();

			if (killed != 0)
			{
				Job			job = {.id = killed};
				char	   *why = psprintf("the job's input expression (or a trigger on its table) went on after "
										   "being cancelled at claude.job_input_timeout (%d ms); the worker "
										   "ended itself to stop it", claude_job_input_timeout_ms);

				claude_job_fail(&job, unpack_sql_state(ERRCODE_QUERY_CANCELED), why, NULL);
				ereport(LOG, (errmsg("pg_claude worker: job " INT64_FORMAT " failed: %s", killed, why)));
			}
		}
	}
	claude_work_end();
}

/*
 * A job in flight: rows are claimed a few at a time while others are in
 * flight (from the pump's next()), and results are written every few
 * (from its done()), so the concurrency stays busy and a crash wastes at
 * most what was claimed, in flight or not yet written: a few times the
 * concurrency.  The pump is restarted every JOB_PUMP_ROWS rows, which
 * bounds its memory whatever the job's size.
 */
#define JOB_PUMP_ROWS 4096
#define FLUSH_INTERVAL_MS 250

typedef struct JobPump
{
	Job		   *job;
	WorkRound	round;			/* the task and model, for prepare_item */
	List	   *queue;			/* prepared, not yet sent */
	List	   *reask;			/* answered off the schema: to prepare again */
	List	   *finished;		/* to write */
	int			handed;
	bool		no_more;		/* nothing pending left to claim */
	bool		stop;			/* the job is no longer running */
	bool		limited;		/* the rate limits held back the next row */
	bool		capped;			/* failing fast held back the next row */
	int			outstanding;	/* rows sent (it->sent) and not yet written */
	TimestampTz last_flush;
} JobPump;

static int
claim_size(void)
{
	return Max(claude_worker_concurrency, 4);
}

static void
job_check_state(JobPump *jp)
{
	if (strcmp(claude_job_state(jp->job->id), "running") != 0)
		jp->stop = true;
}

/* A sent row goes back to be sent again: it no longer counts as outstanding. */
static void
job_unsend(JobPump *jp, WorkItem *it)
{
	if (it->sent)
		jp->outstanding--;
	it->sent = false;
}

/* Interpret an answer: finished, or asked again once. */
static void
job_interpret(JobPump *jp, WorkItem *it)
{
	char	   *why = NULL;

	if (!it->error)
	{
		MemoryContext cxt = MemoryContextSwitchTo(claude_work_item_cxt(it));
		ClaudeTaskAnswer answer;

		it->rounds++;
		claude_task_answer(&jp->job->task, it->response, &answer);
		it->result = answer.result;
		why = answer.why;
		if (answer.problem.sqlerrcode != 0)
		{
			it->error = answer.problem.message;
			it->error_code = pstrdup(unpack_sql_state(answer.problem.sqlerrcode));
		}
		if (why && it->rounds >= CLAUDE_TASK_ROUNDS)
		{
			/* as the scalar form raises it (task.h: refusal_is_error) */
			it->error = claude_task_refusal(&jp->job->task, why);
			it->error_code = pstrdup(unpack_sql_state(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION));
		}
		MemoryContextSwitchTo(cxt);
		if (why && it->rounds < CLAUDE_TASK_ROUNDS)
		{
			it->why = why;
			it->answered = false;
			job_unsend(jp, it);
			it->result = NULL;
			jp->reask = lappend(jp->reask, it);
			return;
		}
	}
	jp->finished = lappend(jp->finished, it);
}

/* Claim and prepare more rows (and prepare re-asks), in one transaction. */
static void
job_claim_more(JobPump *jp)
{
	WorkRound  *r;
	ListCell   *lc;
	int			i;

	claude_work_begin();
	job_check_state(jp);
	if (jp->stop)
	{
		claude_work_end();
		return;
	}
	foreach(lc, jp->reask)
	{
		WorkItem   *it = lfirst(lc);

		claude_work_prepare(&jp->round, it);
		if (it->error || it->answered)
			job_interpret(jp, it);
		else
			jp->queue = lappend(jp->queue, it);
	}
	list_free(jp->reask);
	jp->reask = NIL;

	/* a claim's rows live in memory of their own, freed once all are written */
	{
		MemoryContext chunk = AllocSetContextCreate(CurrentMemoryContext, "pg_claude job rows",
													ALLOCSET_DEFAULT_SIZES);
		MemoryContext cxt = MemoryContextSwitchTo(chunk);

		r = claude_job_claim(jp->job, claim_size());
		MemoryContextSwitchTo(cxt);
		if (r->n == 0)
		{
			MemoryContextDelete(chunk);
			r = NULL;
		}
		else
		{
			r->cxt = chunk;
			r->unwritten = r->n;
		}
	}
	for (i = 0; r != NULL && i < r->n; i++)
	{
		WorkItem   *it = &r->items[i];

		it->round = r;
		claude_work_prepare(&jp->round, it);
		if (it->error || it->answered)
			job_interpret(jp, it);	/* a cache hit, or refused before sending */
		else
			jp->queue = lappend(jp->queue, it);
	}
	if (r == NULL && jp->queue == NIL)
		jp->no_more = true;
	claude_work_end();
}

/*
 * Fail fast (README, "Job states, and why rows failed"): rows written, in order, extend
 * or end the run of rows failing with the same non-retryable error code;
 * a row done ends it, a retryable failure (throttling, 5xx, network, after
 * the retries) neither counts nor ends it.  When the run reaches the job's
 * claude.job_max_consecutive_failures the job fails, saying with what and
 * on which row; in the write's transaction, so what was written stays.
 */
static void
job_count_failures(JobPump *jp, WorkItem **items, int n)
{
	Job		   *job = jp->job;

	for (int i = 0; i < n; i++)
	{
		WorkItem   *it = items[i];

		if (it->sent)
			jp->outstanding--;
		it->sent = false;
		if (!it->error)
		{
			job->streak = 0;
			job->succeeded = true;
			continue;
		}
		if (it->error_retryable)
			continue;
		if (job->streak > 0 && strcmp(job->streak_code, it->error_code) == 0)
			job->streak++;
		else
		{
			job->streak = 1;
			strlcpy(job->streak_code, it->error_code, sizeof(job->streak_code));
		}
		if (job->max_failures > 0 && job->streak == job->max_failures)
		{
			char	   *why = psprintf("stopped after %d consecutive rows failed with %s "
									   "(claude.job_max_consecutive_failures); row %s: %s",
									   job->streak, it->error_code, it->pk_text, it->error);

			claude_job_fail(job, it->error_code, why, it->pk_text);
			ereport(LOG, (errmsg("pg_claude worker: job " INT64_FORMAT " failed: %s", job->id, why)));
		}
	}
}

/*
 * Held back by failing fast: while the job has done no row yet, or its
 * last rows failed, the rows sent and not yet written plus the current run
 * stay below the limit, so a job that cannot succeed sends at most
 * claude.job_max_consecutive_failures requests.
 */
static bool
job_capped(JobPump *jp)
{
	Job		   *job = jp->job;

	return job->max_failures > 0 && (job->streak > 0 || !job->succeeded) &&
		job->streak + jp->outstanding >= job->max_failures;
}

/* Write the finished rows, and look at the job's state. */
static void
job_flush(JobPump *jp)
{
	MemoryContext cxt = CurrentMemoryContext;
	WorkItem  **items;
	ListCell   *lc;
	List	   *claims_done = NIL;
	int			n = 0;

	jp->last_flush = GetCurrentTimestamp();
	if (jp->finished != NIL)
	{
		items = palloc(sizeof(WorkItem *) * list_length(jp->finished));
		foreach(lc, jp->finished)
			items[n++] = lfirst(lc);
		claude_work_begin();
		claude_job_write(jp->job, items, n);
		job_count_failures(jp, items, n);
		claude_model_learned_flush();
		job_check_state(jp);
		claude_work_end();
		list_free(jp->finished);
		jp->finished = NIL;

		/* claims whose every row is now written give their memory back */
		for (int i = 0; i < n; i++)
		{
			WorkRound  *r = items[i]->round;

			if (r != NULL && --r->unwritten == 0)
				claims_done = lappend(claims_done, r->cxt);
		}
		foreach(lc, claims_done)
			MemoryContextDelete((MemoryContext) lfirst(lc));
		list_free(claims_done);
		pfree(items);
	}

	/* keep settings fresh during a long job (the audit writer drains the ring) */
	MemoryContextSwitchTo(cxt);
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
	pgstat_report_activity(STATE_RUNNING, psprintf("pg_claude job " INT64_FORMAT, jp->job->id));
}

static bool
job_next(void *arg, ClaudeHttpRequest **req, void **tag)
{
	JobPump    *jp = (JobPump *) arg;
	WorkItem   *it;

	jp->limited = false;
	jp->capped = false;
	if (jp->stop)
		return false;
	if (job_capped(jp) && jp->finished != NIL)
		job_flush(jp);			/* what is written may end the run, or the job */
	if (jp->stop)
		return false;
	if (job_capped(jp))
	{
		jp->capped = true;		/* asked again as soon as a row in flight ends */
		return false;
	}
	while (jp->queue == NIL)
	{
		if (jp->handed >= JOB_PUMP_ROWS || (jp->no_more && jp->reask == NIL))
			return false;
		job_claim_more(jp);
		if (jp->stop || (jp->queue == NIL && jp->no_more))
			return false;
	}
	it = linitial(jp->queue);
	if (!claude_work_item_admit(it))
	{
		jp->limited = true;		/* the rate limit: the pump asks again (job_pause) */
		return false;
	}
	jp->queue = list_delete_first(jp->queue);
	it->sent = true;
	jp->outstanding++;
	jp->handed++;
	*req = &it->call.req;
	*tag = it;
	return true;
}

/*
 * next() said no: for the rate limits, ask again when they may have room;
 * held back by failing fast, when a row in flight ends (the pump asks
 * again then anyway, and returns once nothing is in flight).
 */
static long
job_pause(void *arg)
{
	JobPump    *jp = (JobPump *) arg;

	if (jp->capped)
		return 1000;
	return jp->limited ? claude_rate_wait_ms() : -1;
}

static void
job_done(void *arg, void *tag, ClaudeHttpResponse *resp)
{
	JobPump    *jp = (JobPump *) arg;
	WorkItem   *it = (WorkItem *) tag;

	MemoryContext cxt = MemoryContextSwitchTo(claude_work_item_cxt(it));

	claude_work_item_answered(it, resp);
	if (!claude_bedrock_ok(resp) && claude_task_reshape(&jp->job->task, resp))
	{
		/* a trait learnt: the row goes again, shaped the other way */
		job_unsend(jp, it);
		jp->reask = lappend(jp->reask, it);
		MemoryContextSwitchTo(cxt);
		return;
	}
	if (!claude_bedrock_ok(resp))
	{
		ClaudeRetry verdict = it->call.req.retry_policy ? it->call.req.retry_policy(resp) :
			claude_retry_http(resp->status, resp->curl_code, resp->unusable);

		it->error = claude_bedrock_error_text("InvokeModel", jp->job->task.model, resp);
		/* the AWS error code; else what the exchange came to */
		it->error_code = resp->error_type[0] ? pstrdup(resp->error_type) :
			resp->curl_code != CURLE_OK ? psprintf("curl error %d", (int) resp->curl_code) :
			psprintf("HTTP %ld", resp->status);
		it->error_retryable = verdict == CLAUDE_RETRY || verdict == CLAUDE_RETRY_THROTTLED;
	}
	else
	{
		claude_bedrock_finish(&it->call, resp);
		it->input_tokens += Max(resp->input_tokens, 0);
		it->output_tokens += Max(resp->output_tokens, 0);
		it->response = pstrdup(resp->body);
		it->answered = true;
	}
	MemoryContextSwitchTo(cxt);
	job_interpret(jp, it);
	if (list_length(jp->finished) >= Max(claude_worker_concurrency / 2, 4) ||
		GetCurrentTimestamp() >= TimestampTzPlusMilliseconds(jp->last_flush, FLUSH_INTERVAL_MS))
		job_flush(jp);
}

/* Rows claimed but never sent (a pause, a cancel): back to the queue. */
static void
job_release(JobPump *jp)
{
	ListCell   *lc;
	List	   *unsent = list_concat(list_copy(jp->queue), jp->reask);

	if (unsent == NIL)
		return;
	claude_work_begin();
	foreach(lc, unsent)
	{
		WorkItem   *it = lfirst(lc);
		Oid			types[2] = {INT8OID, JSONBOID};
		Datum		values[2] = {Int64GetDatum(jp->job->id), it->pk};

		claude_work_sql("UPDATE claude.job_items SET state = 'pending' WHERE job_id OPERATOR(pg_catalog.=) $1 "
			"AND pk OPERATOR(pg_catalog.=) $2 AND state OPERATOR(pg_catalog.=) 'running'",
			2, types, values, NULL);
	}
	claude_work_end();
}

/* Work on the next job; *in_hand is its id while it is worked on. */
static bool
work_job(volatile int64 *in_hand)
{
	Job		   *job;
	bool		finished = false;
	bool		stopped = false;

	claude_work_begin();
	job = claude_job_pick();
	if (job == NULL)
	{
		claude_work_end();
		return false;
	}
	/* a job that cannot start fails here: the error reaches claude_jobs_work with the job in hand */
	*in_hand = job->id;
	if (job->source_name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the source table of job " INT64_FORMAT " no longer exists", job->id)));
	if (job->output_type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("the output column \"%s\" of job " INT64_FORMAT " no longer exists",
						job->output, job->id)));
	if (!OidIsValid(job->owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the role that created job " INT64_FORMAT " no longer exists", job->id)));
	/* what was resolved when it was queued, not the worker's settings (job_definition.c) */
	claude_task_from_options(&job->task, job->task_name, job->definition ? job->definition : job->options);
	claude_job_pk_columns(job);
	/* bytes in: each row's attachment, for a task with a bytea form (doc/job_definition.md) */
	job->input_bytea = claude_job_input_is_bytea(job);
	if (job->input_bytea)
		claude_jobs_check_attachment_input(&job->task, claude_batch_mode(job->options) == CLAUDE_MODE_BATCH);
	claude_work_end();
	if (strcmp(job->state, "queued") == 0 && !claude_job_populate(job))
		stopped = true;			/* cancelled or paused while being populated */
	/* batch mode: the rows go as batch inference first; what it leaves, on demand */
	if (!stopped && !claude_batch_run(job))
		stopped = true;
	if (stopped)
	{
		*in_hand = 0;
		return true;
	}

	while (!finished)
	{
		MemoryContext pump_cxt = AllocSetContextCreate(claude_work_context(), "pg_claude job pump", ALLOCSET_DEFAULT_SIZES);
		JobPump    *jp;
		bool		stop;

		claude_work_set_target(pump_cxt);
		MemoryContextSwitchTo(pump_cxt);
		jp = palloc0(sizeof(JobPump));
		jp->job = job;
		jp->round.cc = (ClaudeCallContext) {"claude_enrich", NULL, job->owner_name, job->id, job->provider};
		jp->round.cc.policy = job->policy;
		jp->round.task = &job->task;
		jp->round.model = job->task.model;
		jp->last_flush = GetCurrentTimestamp();

		for (;;)
		{
			ClaudeHttpPump pump = {
				.concurrency = claude_rate_concurrency(),
				.next = job_next,
				.done = job_done,
				.arg = jp,
				.retrying = claude_work_item_retrying,
				.readmit = claude_work_item_readmit,
				.pause = job_pause,
			};

			CHECK_FOR_INTERRUPTS();
			claude_http_pump(&pump);
			job_flush(jp);
			if (jp->stop)
				break;
			if (jp->no_more && jp->queue == NIL && jp->reask == NIL)
			{
				finished = true;
				break;
			}
			if (jp->handed >= JOB_PUMP_ROWS)
				break;
			if (jp->queue != NIL)
			{
				/* rate-limited: wait for the buckets */
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 claude_rate_wait_ms(), PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
			}
		}
		stop = jp->stop;
		/* rows claimed but not sent (a stop, or the pump's row limit) go back */
		job_release(jp);
		if (finished)
		{
			Oid			types[1] = {INT8OID};
			Datum		values[1] = {Int64GetDatum(job->id)};

			claude_work_begin();
			/* a job some of whose rows failed says so (README, "In the background") */
			claude_work_sql("UPDATE claude.job SET state = CASE WHEN rows_failed OPERATOR(pg_catalog.>) 0 "
				"THEN 'done_with_errors' ELSE 'done' END, finished_at = pg_catalog.now() "
				"WHERE id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'running' "
				"AND NOT EXISTS (SELECT 1 FROM claude.job_items i WHERE i.job_id OPERATOR(pg_catalog.=) $1 "
				"AND i.state OPERATOR(pg_catalog.=) ANY ('{pending,running}'))",
				1, types, values, NULL);
			claude_work_end();
		}
		/* a run that found nothing to do replaces the earlier such runs (retention.c) */
		if (finished)
		{
			claude_work_begin();
			(void) claude_retention_forget_empty_runs(job->id);
			claude_work_end();
		}
		claude_work_set_target(NULL);
		MemoryContextSwitchTo(claude_work_context());
		MemoryContextDelete(pump_cxt);
		if (stop)
			break;
	}
	*in_hand = 0;
	pgstat_report_activity(STATE_IDLE, NULL);
	return true;
}

bool
claude_jobs_work(void)
{
	bool		worked = false;
	bool		ready;
	volatile int64 in_hand = 0;	/* the job being worked on, for the error path */

	MemoryContextSwitchTo(claude_work_context());

	claude_work_begin();
	ready = OidIsValid(get_extension_oid("pg_claude", true));
	claude_work_end();
	if (!ready)
	{
		extension_present = false;
		return false;
	}
	/* created (or restored) since the worker last looked: recover as at a start */
	if (!extension_present)
		claude_jobs_recover();

	/*
	 * The worker's error recovery, as PostgresMain's: the transaction is
	 * aborted.  An error here (a job that cannot start, out of memory, a
	 * catalog change under us) costs one round, not the worker: the job in
	 * hand is marked failed and the loop goes on, rather than restarting
	 * into the same error forever.
	 */
	PG_TRY();
	{
		while (claude_requests_work())
		{
			worked = true;
			MemoryContextReset(claude_work_context());
		}
		if (work_job(&in_hand))
			worked = true;
	}
	PG_CATCH();
	{
		int64		failed_job = in_hand;
		ErrorData  *edata;
		bool		interrupted;
		bool		dropped;
		char	   *why;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(claude_work_context());
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		RESUME_INTERRUPTS();
		/* a cancel (claude_job_cancel, pause, pg_cancel_backend) stops the round, not the job */
		interrupted = edata->sqlerrcode == ERRCODE_QUERY_CANCELED && !claude_job_input_timed_out();
		why = claude_job_error_message(edata);
		claude_job_become_worker();		/* ends the input's time limit, and its flag */
		claude_work_set_target(NULL);

		/*
		 * DROP EXTENSION under a running job: the error was about relations
		 * that are gone with it, and there is nothing left to requeue or
		 * fail.  One line, then quiet until the extension is back.
		 */
		dropped = !extension_exists();
		if (dropped)
		{
			extension_present = false;
			ereport(LOG, (errmsg("pg_claude worker: extension pg_claude was dropped; waiting for CREATE EXTENSION pg_claude")));
		}
		else if (failed_job != 0 && !interrupted)
			ereport(LOG, (errmsg("pg_claude worker: job " INT64_FORMAT " failed: %s", failed_job, why)));
		else
			ereport(LOG, (errmsg("pg_claude worker: %s", why)));
		if (!dropped)
		{
			claude_work_begin();
			claude_job_requeue_claimed(failed_job, interrupted ? NULL : why);
			if (failed_job != 0 && !interrupted)
			{
				Job			job = {.id = failed_job};

				claude_job_fail(&job, unpack_sql_state(edata->sqlerrcode), why, NULL);
			}
			claude_work_end();
		}
		worked = true;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(claude_work_context());
	MemoryContextReset(claude_work_context());
	return worked;
}
