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
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "utils/guc.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "port/atomics.h"
#include <signal.h>
#include "storage/lwlock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "catalog/namespace.h"
#include "nodes/makefuncs.h"
#include <cjson/cJSON.h>
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "anthropic.h"
#include "audit.h"
#include "bedrock.h"
#include "guc.h"
#include "privilege.h"
#include "jobs.h"
#include "task.h"
#include "worker.h"

void
claude_jobs_wake_worker(void)
{
	claude_wake_job_worker();
}

/* ---------------------------------------------------------------------
 * Shared state: the job in hand, so that a cancel can interrupt it
 * --------------------------------------------------------------------- */

typedef struct JobWorkerState
{
	pg_atomic_uint32 pid;		/* the worker's, or 0 */
	pg_atomic_uint64 job;		/* the job it works on, or 0 */
} JobWorkerState;

static JobWorkerState *job_worker = NULL;

Size
claude_jobs_shmem_size(void)
{
	return MAXALIGN(sizeof(JobWorkerState));
}

void
claude_jobs_shmem_init(void)
{
	bool		found;

	job_worker = ShmemInitStruct("pg_claude job worker", sizeof(JobWorkerState), &found);
	if (!found)
	{
		pg_atomic_init_u32(&job_worker->pid, 0);
		pg_atomic_init_u64(&job_worker->job, 0);
	}
}

static void
set_job_in_hand(int64 job)
{
	if (job_worker == NULL)
		return;
	pg_atomic_write_u32(&job_worker->pid, (uint32) MyProcPid);
	pg_atomic_write_u64(&job_worker->job, (uint64) job);
}

void
claude_jobs_interrupt(int64 job)
{
	pid_t		pid;

	if (job_worker == NULL || pg_atomic_read_u64(&job_worker->job) != (uint64) job)
		return;
	pid = (pid_t) pg_atomic_read_u32(&job_worker->pid);
	/* as pg_cancel_backend does; the worker then finds the job stopped */
	if (pid != 0)
		(void) kill(pid, SIGINT);
}

/*
 * Owner code must finish within claude.job_input_timeout.  A timeout of
 * our own (not statement_timeout) so the error can say which limit hit.
 */
static TimeoutId input_timeout = MAX_TIMEOUTS;
static volatile sig_atomic_t input_timed_out = false;

static void
input_timeout_handler(void)
{
	input_timed_out = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* What to record for an error that ended a job's round. */
static char *
job_error_message(ErrorData *edata)
{
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && input_timed_out)
		return psprintf("the job's input expression (or a trigger on its table) ran longer than "
						"claude.job_input_timeout (%d ms) over a batch of rows", claude_job_input_timeout_ms);
	return edata->message;
}

void
claude_jobs_check_options(const char *task, const char *options)
{
	ClaudeTask	t;

	claude_task_from_options(&t, task, options);
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

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_index i "
							  "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
							  "WHERE i.indrelid = $1 AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
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
		appendStringInfo(&join, "%sr.%s = s.%s", i ? " AND " : "", col, col);
	}
	if (!OidIsValid(RangeVarGetRelid(makeRangeVar(nsp, name, -1), NoLock, true)) &&
		SPI_execute(psprintf("CREATE TABLE %s (%s%s %s, input_sha256 text, "
							 "updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (%s))",
							 qtable, cols.data, quote_identifier(output), task_result_type(task), keys.data),
					false, 0) < 0)
		elog(ERROR, "could not create the result table %s", qtable);
	if (SPI_execute(psprintf("CREATE OR REPLACE VIEW %s AS SELECT s.*, r.%s FROM %s s LEFT JOIN %s r ON %s",
							 qview, quote_identifier(output), qsource, qtable, join.data), false, 0) < 0)
		elog(ERROR, "could not create the view %s", qview);
	SPI_finish();
	result = RangeVarGetRelid(makeRangeVar(nsp, name, -1), NoLock, false);
	return result;
}

/* ---------------------------------------------------------------------
 * Transactions and roles
 * --------------------------------------------------------------------- */

static MemoryContext work_cxt = NULL;

/* where a transaction's caller goes on allocating after it (work_cxt or a chunk's) */
static MemoryContext target_cxt = NULL;

/*
 * SPI leaves CurrentMemoryContext in its own procedure context after every
 * call, and copies datums out into the context current at SPI_connect: so
 * connect from the target context, and come back to it after each call.
 */
static void
xact_begin(void)
{
	MemoryContext target = target_cxt ? target_cxt : work_cxt;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	MemoryContextSwitchTo(target);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(target);
}

static void
xact_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(target_cxt ? target_cxt : work_cxt);
	pgstat_report_stat(false);
}

static int
run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	MemoryContextSwitchTo(cxt);
	if (rc < 0)
		elog(ERROR, "pg_claude worker: query failed (%s): %s", SPI_result_code_string(rc), sql);
	return rc;
}

/*
 * Act as a job's owner (its privileges, for the user's own tables), and
 * back as the worker.  The owner's code (the input expression, triggers on
 * its table) runs as a restricted operation, as in VACUUM or REFRESH: it
 * cannot change role, whatever settings it changes are undone on the way
 * back, it runs under the search_path the owner had at claude_enrich
 * (never one another role could have shaped), and it must finish within
 * claude.job_input_timeout, so no input can hold the worker.  The worker
 * itself runs with search_path = pg_catalog, pg_temp (privilege.h).
 */
static int	owner_guc_level = 0;

static void
become_owner(Oid role, const char *search_path)
{
	SetUserIdAndSecContext(role, SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	if (owner_guc_level == 0)
	{
		owner_guc_level = NewGUCNestLevel();
		(void) set_config_option("search_path", search_path ? search_path : "\"$user\", public",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
	if (input_timeout == MAX_TIMEOUTS)
		input_timeout = RegisterTimeout(USER_TIMEOUT, input_timeout_handler);
	input_timed_out = false;
	/* a cancel interrupts owner code only, never requests in flight (paid for) */
	set_job_in_hand(claude_current_job_id);
	if (claude_job_input_timeout_ms > 0)
		enable_timeout_after(input_timeout, claude_job_input_timeout_ms);
}

static void
become_worker(void)
{
	if (input_timeout != MAX_TIMEOUTS)
		disable_timeout(input_timeout, false);
	set_job_in_hand(0);
	/* after an abort the transaction has already undone the settings */
	if (owner_guc_level > 0 && IsTransactionState())
		AtEOXact_GUC(false, owner_guc_level);
	owner_guc_level = 0;
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, 0);
}

void
claude_jobs_recover(void)
{
	if (work_cxt == NULL)
		work_cxt = AllocSetContextCreate(TopMemoryContext, "pg_claude jobs", ALLOCSET_DEFAULT_SIZES);
	xact_begin();
	if (OidIsValid(get_extension_oid("pg_claude", true)))
	{
		run("UPDATE claude.requests SET state = 'pending' WHERE state OPERATOR(pg_catalog.=) 'running'",
			0, NULL, NULL, NULL);
		run("UPDATE claude.job_items SET state = 'pending' WHERE state OPERATOR(pg_catalog.=) 'running'",
			0, NULL, NULL, NULL);
		if (SPI_processed > 0)
			ereport(LOG, (errmsg("pg_claude worker: requeued " UINT64_FORMAT " job rows left in flight", SPI_processed)));
	}
	xact_end();
}

/* ---------------------------------------------------------------------
 * Rate limits: token buckets, shrunk by throttling (adaptive)
 * --------------------------------------------------------------------- */

static double rate_factor = 1.0;	/* 0.1 .. 1, shrinks on 429 */
static double request_tokens = 0;
static double token_tokens = 0;
static TimestampTz bucket_time = 0;

static void
buckets_refill(void)
{
	TimestampTz now = GetCurrentTimestamp();
	double		secs = bucket_time ? (now - bucket_time) / 1000000.0 : 0;

	bucket_time = now;
	/* a bucket of one: requests are paced evenly, never in bursts */
	if (claude_requests_per_minute > 0)
		request_tokens = Min(request_tokens + secs * claude_requests_per_minute * rate_factor / 60.0, 1.0);
	if (claude_tokens_per_minute > 0)
		token_tokens = Min(token_tokens + secs * claude_tokens_per_minute * rate_factor / 60.0,
						   claude_tokens_per_minute / 6.0);
}

/* May a request of about est_tokens go now?  Takes the tokens if so. */
static bool
buckets_take(long est_tokens)
{
	buckets_refill();
	if (claude_requests_per_minute > 0 && request_tokens < 1.0)
		return false;
	if (claude_tokens_per_minute > 0 && token_tokens < est_tokens && token_tokens < claude_tokens_per_minute / 6.0)
		return false;
	if (claude_requests_per_minute > 0)
		request_tokens -= 1.0;
	if (claude_tokens_per_minute > 0)
		token_tokens -= est_tokens;
	return true;
}

static void
rate_feedback(const ClaudeHttpResponse *resp)
{
	if (resp->status == 429)
		rate_factor = Max(0.1, rate_factor * 0.7);
	else if (resp->status >= 200 && resp->status < 300)
		rate_factor = Min(1.0, rate_factor + 0.02);
	if (claude_tokens_per_minute > 0 && resp->output_tokens > 0)
		token_tokens -= resp->output_tokens;
}

/* ms until the buckets could let a request go */
static long
buckets_wait_ms(void)
{
	double		need = 0;

	if (claude_requests_per_minute > 0 && request_tokens < 1.0)
		need = (1.0 - request_tokens) * 60000.0 / (claude_requests_per_minute * rate_factor);
	return Max(10, Min((long) need + 1, 1000));
}

/* ---------------------------------------------------------------------
 * One unit of work in flight
 * --------------------------------------------------------------------- */

struct WorkRound;

typedef struct WorkItem
{
	struct WorkRound *round;	/* the claim it came in, whose memory holds it */
	int64		request_id;		/* claude.requests, or 0 */
	Datum		pk;				/* job row: its primary key (jsonb) */
	char	   *pk_text;
	char	   *input;
	char	   *input_sha256;
	char	   *body;
	ClaudeBedrockCall call;
	bool		sent;
	bool		answered;
	int			rounds;
	char	   *why;
	char	   *result;
	char	   *response;
	char	   *error;
	long		input_tokens;
	long		output_tokens;
} WorkItem;

typedef struct WorkRound
{
	MemoryContext cxt;			/* a job's claim: its rows' memory, freed once all are written */
	int			unwritten;		/* rows of the claim not yet written */
	WorkItem   *items;
	int			n;
	Datum		claimed;		/* jsonb[] of the claimed job rows' keys */
	int			cursor;
	const char *model;
	ClaudeTask *task;			/* NULL for plain requests */
} WorkRound;

static bool
round_next(void *arg, ClaudeHttpRequest **req, void **tag)
{
	WorkRound  *r = (WorkRound *) arg;

	while (r->cursor < r->n)
	{
		WorkItem   *it = &r->items[r->cursor];

		if (it->sent || it->answered || it->error)
		{
			r->cursor++;
			continue;
		}
		if (!buckets_take((long) (strlen(it->body) / 3)))
			return false;		/* the rate limit: the rest waits for the next pump */
		r->cursor++;
		it->sent = true;
		*req = &it->call.req;
		*tag = it;
		return true;
	}
	return false;
}

static void
round_done(void *arg, void *tag, ClaudeHttpResponse *resp)
{
	WorkRound  *r = (WorkRound *) arg;
	WorkItem   *it = (WorkItem *) tag;

	rate_feedback(resp);
	if (!claude_bedrock_ok(resp))
	{
		it->error = claude_bedrock_error_text("InvokeModel", r->model, resp);
		return;
	}
	claude_bedrock_finish(&it->call, resp);
	it->input_tokens += Max(resp->input_tokens, 0);
	it->output_tokens += Max(resp->output_tokens, 0);
	it->response = pstrdup(resp->body);
	it->answered = true;
}

/*
 * Send a round's items (all that are prepared and not yet answered),
 * honouring the rate limits.  Errors of the transport itself (no
 * credentials, say) become every unfinished item's error.
 */
static void
send_round(WorkRound *r)
{
	for (;;)
	{
		ClaudeHttpPump pump;
		int			i;
		bool		unsent = false;

		r->cursor = 0;
		pump.concurrency = Max(1, (int) (claude_worker_concurrency *
										 (claude_requests_per_minute > 0 ? 1.0 : rate_factor)));
		pump.next = round_next;
		pump.done = round_done;
		pump.arg = r;
		PG_TRY();
		{
			claude_http_pump(&pump);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(work_cxt);
			edata = CopyErrorData();
			FlushErrorState();
			if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED || edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
				ReThrowError(edata);
			for (i = 0; i < r->n; i++)
				if (!r->items[i].answered && !r->items[i].error)
					r->items[i].error = pstrdup(edata->message);
			EmitErrorReport();
			FreeErrorData(edata);
			return;
		}
		PG_END_TRY();

		for (i = 0; i < r->n; i++)
			if (!r->items[i].sent && !r->items[i].answered && !r->items[i].error)
				unsent = true;
		if (!unsent)
			return;
		/* rate-limited: wait for the buckets, then send the rest */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 buckets_wait_ms(), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Where an item's own allocations go: its claim's memory, if it has one. */
static MemoryContext
item_cxt(WorkItem *it)
{
	return it->round && it->round->cxt ? it->round->cxt : CurrentMemoryContext;
}

/* Prepare an item (residency, cache); an error is the item's. */
static void
prepare_item(WorkRound *r, WorkItem *it)
{
	MemoryContext cxt = CurrentMemoryContext;

	MemoryContextSwitchTo(item_cxt(it));

	PG_TRY();
	{
		it->body = r->task ? claude_task_body(r->task, it->input, it->why) : it->body;
		it->sent = false;
		if (claude_bedrock_prepare(&it->call, "InvokeModel", "invoke", r->model,
								   it->body, strlen(it->body), it->input))
		{
			it->response = pstrdup(it->call.resp.body);
			it->answered = true;
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		it->error = pstrdup(edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
}

/* ---------------------------------------------------------------------
 * Asynchronous requests
 * --------------------------------------------------------------------- */

static bool
work_requests(void)
{
	WorkRound	r;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	int			i;

	memset(&r, 0, sizeof(r));
	xact_begin();
	values[0] = Int32GetDatum(claude_worker_concurrency * 2);
	run("UPDATE claude.requests SET state = 'running' WHERE id OPERATOR(pg_catalog.=) ANY (SELECT id FROM claude.requests "
		"WHERE state OPERATOR(pg_catalog.=) 'pending' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) "
		"RETURNING id, model, body, prompt, role_name", 1, types, values, NULL);
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
		claude_current_role_name = SPI_getvalue(tup, desc, 5);
		claude_current_function = "claude_complete_async";
		/* each request may name its own model: prepare one by one */
		prepare_item(&r, it);
	}
	xact_end();
	claude_current_role_name = NULL;
	if (r.n == 0)
		return false;

	/* requests of different models: one round each would be purer; the model is per call */
	send_round(&r);

	xact_begin();
	for (i = 0; i < r.n; i++)
	{
		WorkItem   *it = &r.items[i];
		Oid			t2[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		v2[5];
		char		n2[6] = "     ";

		if (it->answered && !it->error)
		{
			ClaudeUsage usage;
			char	   *stop;
			char	   *text = NULL;
			char	   *why = NULL;

			ClaudeTask	plain = {0};

			plain.kind = TASK_COMPLETE;
			claude_task_interpret(&plain, it->response, &text, &why, &it->error);
			(void) usage;
			(void) stop;
			it->result = text;
		}
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
		run("UPDATE claude.requests SET state = $2, result = $3, response = $4::pg_catalog.jsonb, error = $5, "
			"completed_at = pg_catalog.now() WHERE id OPERATOR(pg_catalog.=) $1", 5, t2, v2, n2);
	}
	xact_end();
	return true;
}

/* ---------------------------------------------------------------------
 * Enrichment jobs
 * --------------------------------------------------------------------- */

typedef struct Job
{
	int64		id;
	Oid			owner;
	char	   *owner_name;
	Oid			source;
	char	   *source_name;	/* qualified, quoted; NULL when the table is gone */
	char	   *input;			/* SQL expression over the source row */
	char	   *output;			/* column name */
	char	   *output_type;	/* format_type of the output column */
	char	   *into;			/* the result table (qualified, quoted), or NULL: in place */
	char	   *task_name;
	char	   *options;
	char	   *state;
	char	   *search_path;	/* the owner's, at claude_enrich */
	List	   *pk_names;		/* the primary key's columns, quoted */
	List	   *pk_types;		/* and their types (format_type) */
	ClaudeTask	task;
} Job;

/*
 * SQL fragments over the primary key.  Everything pg_claude adds to SQL
 * that runs as the owner is schema-qualified: only the owner's input
 * expression is resolved through the owner's search_path.
 */
typedef enum PkForm
{
	PK_NAMES,					/* a, b */
	PK_COLUMNS,					/* s.a, s.b */
	PK_OBJECT,					/* pg_catalog.jsonb_build_object('a', s.a, ...) */
	PK_FROM_JSON				/* (x ->> 'a')::ta, ... for a jsonb expression x */
} PkForm;

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

/* The primary key's columns and types (as the worker: catalogs only). */
static void
job_pk_columns(Job *job)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(job->source)};
	uint64		i;

	run("SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) "
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
static Job *
job_pick(void)
{
	Job		   *job;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	run("SELECT j.id, j.role_name, j.source::pg_catalog.oid, j.input, j.output, j.task, "
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
		" WHERE c2.oid OPERATOR(pg_catalog.=) j.into_table::pg_catalog.oid) "
		"FROM claude.job j WHERE j.state OPERATOR(pg_catalog.=) ANY ('{queued,running}') "
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
	job->owner = get_role_oid(job->owner_name, true);
	return job;
}

/* Fail a job that is still queued or running (never undo a cancel). */
static void
job_fail(Job *job, const char *error)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(job->id), CStringGetTextDatum(error)};

	run("UPDATE claude.job SET state = 'failed', error = $2, finished_at = pg_catalog.now() "
		"WHERE id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) ANY ('{queued,running}')",
		2, types, values, NULL);
}

/* The job's state as committed now. */
static char *
job_state(int64 id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	run("SELECT state FROM claude.job WHERE id OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
	return SPI_processed == 0 ? "gone" : SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * A queued job's rows: every row whose input has no result, or a result
 * made from a different input.  Read as the owner and written as the
 * worker, in primary-key order, POPULATE_ROWS at a time, each batch in a
 * transaction of its own: memory and transaction size stay flat however
 * large the table, and a crash midway only repeats the population (items
 * are inserted ON CONFLICT DO NOTHING).  Each input is evaluated once.
 * Returns false if the job stopped being queued meanwhile (a cancel).
 */
#define POPULATE_ROWS 10000

static bool
job_populate(Job *job)
{
	/* no result yet: a NULL output column, or no row in the result table */
	char	   *missing = job->into ?
		psprintf("NOT EXISTS (SELECT 1 FROM %s r WHERE (%s) OPERATOR(pg_catalog.=) (%s) "
				 "AND r.%s IS NOT NULL)", job->into, pk_sql(job, PK_NAMES, NULL),
				 pk_sql(job, PK_COLUMNS, NULL), quote_identifier(job->output)) :
		psprintf("s.%s IS NULL", quote_identifier(job->output));
	const char *select_fmt =
		"SELECT %s, pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to((%s)::pg_catalog.text, "
		"'UTF8'::pg_catalog.name)), 'hex'), %s FROM %s s %s ORDER BY %s LIMIT %d";
	char	   *first = psprintf(select_fmt, pk_sql(job, PK_OBJECT, NULL), job->input, missing,
								 job->source_name, "", pk_sql(job, PK_COLUMNS, NULL), POPULATE_ROWS);
	char	   *next = psprintf(select_fmt, pk_sql(job, PK_OBJECT, NULL), job->input, missing,
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
		Oid			types[6] = {INT8OID, JSONBARRAYOID, TEXTARRAYOID, BOOLARRAYOID, REGCLASSOID, NAMEOID};
		Datum		values[6];
		Oid			t1[1] = {TEXTOID};
		Datum		v1[1];

		target_cxt = batch_cxt;
		xact_begin();
		if (strcmp(job_state(job->id), "queued") != 0)
		{
			queued = false;
			xact_end();
			break;
		}
		become_owner(job->owner, job->search_path);
		if (last_pk == NULL)
			run(first, 0, NULL, NULL, NULL);
		else
		{
			v1[0] = CStringGetTextDatum(last_pk);
			run(next, 1, t1, v1, NULL);
		}
		become_worker();
		n = SPI_processed;
		if (n == 0)
		{
			xact_end();
			break;
		}
		pks = palloc(sizeof(Datum) * n);
		hashes = palloc(sizeof(Datum) * n);
		missings = palloc(sizeof(Datum) * n);
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
			run("INSERT INTO claude.job_items (job_id, pk, input_sha256) SELECT $1, u.p, u.h "
				"FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4)) AS u(p, h, m) "
				"LEFT JOIN claude.enrich_hashes e "
				"ON e.source OPERATOR(pg_catalog.=) $5 AND e.output OPERATOR(pg_catalog.=) $6 "
				"AND e.pk OPERATOR(pg_catalog.=) u.p "
				"WHERE u.m OR e.input_sha256 IS DISTINCT FROM u.h ON CONFLICT DO NOTHING",
				6, types, values, NULL);
		}
		xact_end();
		target_cxt = NULL;
		MemoryContextSwitchTo(outer);
		MemoryContextReset(batch_cxt);
		if (n < POPULATE_ROWS)
			break;
	}
	target_cxt = NULL;
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(batch_cxt);
	if (!queued)
		return false;

	/* running only if still queued: a cancel meanwhile stays a cancel */
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(job->id)};

		xact_begin();
		run("UPDATE claude.job SET state = 'running', started_at = pg_catalog.now(), "
			"rows_total = (SELECT pg_catalog.count(*) FROM claude.job_items i "
			"              WHERE i.job_id OPERATOR(pg_catalog.=) $1) "
			"WHERE id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'queued'",
			1, types, values, NULL);
		queued = SPI_processed > 0;
		xact_end();
	}
	return queued;
}

/* Claim up to n pending rows and read their inputs (as the owner). */
static WorkRound *
job_claim(Job *job, int n)
{
	WorkRound  *r = palloc0(sizeof(WorkRound));
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(job->id), Int32GetDatum(n)};
	Datum	   *pks;
	uint64		i;
	uint64		got;

	r->task = &job->task;
	r->model = job->task.model;
	run("UPDATE claude.job_items SET state = 'running', attempts = attempts OPERATOR(pg_catalog.+) 1, "
		"updated_at = pg_catalog.now() "
		"WHERE (job_id, pk) OPERATOR(pg_catalog.=) ANY (SELECT job_id, pk FROM claude.job_items "
		"WHERE job_id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'pending' "
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
		char	   *sql = psprintf("SELECT q.pk, q.t, pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to("
								   "q.t, 'UTF8'::pg_catalog.name)), 'hex') FROM (SELECT %s AS pk, "
								   "(%s)::pg_catalog.text AS t FROM %s s WHERE (%s) OPERATOR(pg_catalog.=) ANY "
								   "(SELECT %s FROM pg_catalog.unnest($1) AS x) OFFSET 0) q",
								   pk_sql(job, PK_OBJECT, NULL), job->input, job->source_name,
								   pk_sql(job, PK_COLUMNS, NULL), pk_sql(job, PK_FROM_JSON, "x"));
		Oid			t1[1] = {JSONBARRAYOID};
		Datum		v1[1] = {PointerGetDatum(construct_array(pks, got, JSONBOID, -1, false, TYPALIGN_INT))};

		become_owner(job->owner, job->search_path);
		run(sql, 1, t1, v1, NULL);
		become_worker();
	}
	/* a row whose input became NULL has nothing to send: it is only marked */
	r->n = 0;
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		WorkItem   *it = &r->items[r->n];
		bool		isnull;

		(void) SPI_getbinval(tup, desc, 2, &isnull);
		if (isnull)
			continue;
		it->pk = SPI_datumTransfer(SPI_getbinval(tup, desc, 1, &isnull), false, -1);
		it->pk_text = SPI_getvalue(tup, desc, 1);
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
		run("UPDATE claude.job_items SET state = 'done', error = 'source row no longer exists or its input is NULL', "
			"updated_at = pg_catalog.now() "
			"WHERE job_id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'running' "
			"AND pk OPERATOR(pg_catalog.=) ANY ($2) AND NOT (pk OPERATOR(pg_catalog.=) ANY ($3))",
			3, t2, v2, NULL);
		if (SPI_processed > 0)
		{
			Oid			t3[2] = {INT8OID, INT8OID};
			Datum		v3[2] = {Int64GetDatum(job->id), Int64GetDatum((int64) SPI_processed)};

			run("UPDATE claude.job SET rows_done = rows_done OPERATOR(pg_catalog.+) $2 "
				"WHERE id OPERATOR(pg_catalog.=) $1", 2, t3, v3, NULL);
		}
	}
	return r;
}

/*
 * Write a round's outcomes: each result into its source row (as the
 * owner), its input hash, its item marked done, and the job's counters,
 * all in one transaction.
 */
static void
job_write(Job *job, WorkItem **items, int nitems)
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
	int			i;

	for (i = 0; i < nitems; i++)
	{
		WorkItem   *it = items[i];
		Oid			t3[4] = {INT8OID, JSONBOID, TEXTOID, TEXTOID};
		Datum		v3[4];
		char		n3[5] = "    ";

		in_tokens += it->input_tokens;
		out_tokens += it->output_tokens;
		if (!it->error && it->result)
		{
			Oid			t1[3] = {TEXTOID, JSONBOID, TEXTOID};
			Datum		v1[3] = {CStringGetTextDatum(it->result), it->pk, CStringGetTextDatum(it->input_sha256)};
			Oid			t2[5] = {OIDOID, TEXTOID, JSONBOID, TEXTOID, INT8OID};
			Datum		v2[5];
			MemoryContext cxt = CurrentMemoryContext;
			ResourceOwner owner = CurrentResourceOwner;

			/* the owner's write may fail (a constraint, a type): that is the row's error */
			BeginInternalSubTransaction(NULL);
			MemoryContextSwitchTo(cxt);
			PG_TRY();
			{
				become_owner(job->owner, job->search_path);
				run(update, 3, t1, v1, NULL);
				become_worker();
				ReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(cxt);
				CurrentResourceOwner = owner;
			}
			PG_CATCH();
			{
				ErrorData  *edata;

				become_worker();
				MemoryContextSwitchTo(cxt);
				edata = CopyErrorData();
				FlushErrorState();
				RollbackAndReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(cxt);
				CurrentResourceOwner = owner;
				it->error = psprintf("could not write the result: %s", edata->message);
				FreeErrorData(edata);
			}
			PG_END_TRY();

			if (!it->error)
			{
				v2[0] = ObjectIdGetDatum(job->source);
				v2[1] = DirectFunctionCall1(namein, CStringGetDatum(job->output));
				v2[2] = it->pk;
				v2[3] = CStringGetTextDatum(it->input_sha256);
				v2[4] = Int64GetDatum(job->id);
				t2[1] = NAMEOID;
				run("INSERT INTO claude.enrich_hashes (source, output, pk, input_sha256, job_id) "
					"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, output, pk) DO UPDATE SET "
					"input_sha256 = EXCLUDED.input_sha256, job_id = EXCLUDED.job_id, updated_at = pg_catalog.now()",
					5, t2, v2, NULL);
			}
		}
		v3[0] = Int64GetDatum(job->id);
		v3[1] = it->pk;
		if (it->error)
		{
			v3[2] = CStringGetTextDatum("failed");
			v3[3] = CStringGetTextDatum(it->error);
			failed++;
		}
		else
		{
			v3[2] = CStringGetTextDatum("done");
			n3[3] = 'n';
			done++;
		}
		run("UPDATE claude.job_items SET state = $3, error = $4, updated_at = pg_catalog.now() "
			"WHERE job_id OPERATOR(pg_catalog.=) $1 AND pk OPERATOR(pg_catalog.=) $2 "
			"AND state OPERATOR(pg_catalog.=) 'running'", 4, t3, v3, n3);
	}
	{
		Oid			types[5] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
		Datum		values[5] = {Int64GetDatum(job->id), Int64GetDatum(done), Int64GetDatum(failed),
		Int64GetDatum(in_tokens), Int64GetDatum(out_tokens)};

		run("UPDATE claude.job SET rows_done = rows_done OPERATOR(pg_catalog.+) $2, "
			"rows_failed = rows_failed OPERATOR(pg_catalog.+) $3, "
			"input_tokens = input_tokens OPERATOR(pg_catalog.+) $4, "
			"output_tokens = output_tokens OPERATOR(pg_catalog.+) $5 WHERE id OPERATOR(pg_catalog.=) $1",
			5, types, values, NULL);
	}
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
	if (strcmp(job_state(jp->job->id), "running") != 0)
		jp->stop = true;
}

/* Interpret an answer: finished, or asked again once. */
static void
job_interpret(JobPump *jp, WorkItem *it)
{
	char	   *why = NULL;

	if (!it->error)
	{
		MemoryContext cxt = MemoryContextSwitchTo(item_cxt(it));

		it->rounds++;
		claude_task_interpret(&jp->job->task, it->response, &it->result, &why, &it->error);
		if (why && it->rounds >= CLAUDE_TASK_ROUNDS)
			it->error = claude_task_refusal(&jp->job->task, why);
		MemoryContextSwitchTo(cxt);
		if (why && it->rounds < CLAUDE_TASK_ROUNDS)
		{
			it->why = why;
			it->answered = false;
			it->sent = false;
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

	xact_begin();
	job_check_state(jp);
	if (jp->stop)
	{
		xact_end();
		return;
	}
	foreach(lc, jp->reask)
	{
		WorkItem   *it = lfirst(lc);

		prepare_item(&jp->round, it);
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

		r = job_claim(jp->job, claim_size());
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
		prepare_item(&jp->round, it);
		if (it->error || it->answered)
			job_interpret(jp, it);	/* a cache hit, or refused before sending */
		else
			jp->queue = lappend(jp->queue, it);
	}
	if (r == NULL && jp->queue == NIL)
		jp->no_more = true;
	xact_end();
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
		xact_begin();
		job_write(jp->job, items, n);
		job_check_state(jp);
		xact_end();
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

	if (jp->stop)
		return false;
	while (jp->queue == NIL)
	{
		if (jp->handed >= JOB_PUMP_ROWS || (jp->no_more && jp->reask == NIL))
			return false;
		job_claim_more(jp);
		if (jp->stop || (jp->queue == NIL && jp->no_more))
			return false;
	}
	it = linitial(jp->queue);
	if (!buckets_take((long) (strlen(it->body) / 3)))
		return false;			/* the rate limit: the pump ends, the rest waits */
	jp->queue = list_delete_first(jp->queue);
	it->sent = true;
	jp->handed++;
	*req = &it->call.req;
	*tag = it;
	return true;
}

static void
job_done(void *arg, void *tag, ClaudeHttpResponse *resp)
{
	JobPump    *jp = (JobPump *) arg;
	WorkItem   *it = (WorkItem *) tag;

	MemoryContext cxt = MemoryContextSwitchTo(item_cxt(it));

	rate_feedback(resp);
	if (!claude_bedrock_ok(resp))
		it->error = claude_bedrock_error_text("InvokeModel", jp->job->task.model, resp);
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
	xact_begin();
	foreach(lc, unsent)
	{
		WorkItem   *it = lfirst(lc);
		Oid			types[2] = {INT8OID, JSONBOID};
		Datum		values[2] = {Int64GetDatum(jp->job->id), it->pk};

		run("UPDATE claude.job_items SET state = 'pending' WHERE job_id OPERATOR(pg_catalog.=) $1 "
			"AND pk OPERATOR(pg_catalog.=) $2 AND state OPERATOR(pg_catalog.=) 'running'",
			2, types, values, NULL);
	}
	xact_end();
}

/*
 * After a round ended by an error: rows claimed but not written go back
 * to the queue (the worker is the only claimer, so every 'running' row of
 * the job is its own), and claimed requests too, or, when the error is
 * not a mere interruption, they fail with it.
 */
static void
requeue_claimed(int64 job, const char *error)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(job), error ? CStringGetTextDatum(error) : (Datum) 0};
	char		nulls[3] = {' ', error ? ' ' : 'n', '\0'};

	if (job != 0)
		run("UPDATE claude.job_items SET state = 'pending' WHERE job_id OPERATOR(pg_catalog.=) $1 "
			"AND state OPERATOR(pg_catalog.=) 'running'", 1, types, values, NULL);
	run("UPDATE claude.requests SET state = CASE WHEN $2 IS NULL THEN 'pending' ELSE 'error' END, "
		"error = $2, completed_at = CASE WHEN $2 IS NULL THEN NULL ELSE pg_catalog.now() END "
		"WHERE state OPERATOR(pg_catalog.=) 'running'", 2, types, values, nulls);
}

static bool
work_job(void)
{
	Job		   *job;
	bool		finished = false;
	bool		stopped = false;

	xact_begin();
	job = job_pick();
	if (job == NULL)
	{
		xact_end();
		return false;
	}
	claude_current_job_id = job->id;
	claude_current_role_name = job->owner_name;
	claude_current_function = "claude_enrich";
	PG_TRY();
	{
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
		claude_task_from_options(&job->task, job->task_name, job->options);
		job_pk_columns(job);
		xact_end();
		if (strcmp(job->state, "queued") == 0 && !job_populate(job))
			stopped = true;		/* cancelled or paused while being populated */
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		char	   *why;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(work_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		RESUME_INTERRUPTS();
		MemoryContextSwitchTo(work_cxt);
		become_worker();
		target_cxt = NULL;
		why = job_error_message(edata);
		xact_begin();
		job_fail(job, why);
		xact_end();
		ereport(LOG, (errmsg("pg_claude worker: job " INT64_FORMAT " failed: %s", job->id, why)));
		claude_current_job_id = 0;
		claude_current_role_name = NULL;
		return true;
	}
	PG_END_TRY();
	if (stopped)
	{
		claude_current_job_id = 0;
		claude_current_role_name = NULL;
		return true;
	}

	while (!finished)
	{
		MemoryContext pump_cxt = AllocSetContextCreate(work_cxt, "pg_claude job pump", ALLOCSET_DEFAULT_SIZES);
		JobPump    *jp;
		bool		stop;

		target_cxt = pump_cxt;
		MemoryContextSwitchTo(pump_cxt);
		jp = palloc0(sizeof(JobPump));
		jp->job = job;
		jp->round.task = &job->task;
		jp->round.model = job->task.model;
		jp->last_flush = GetCurrentTimestamp();

		for (;;)
		{
			ClaudeHttpPump pump;

			CHECK_FOR_INTERRUPTS();
			pump.concurrency = Max(1, (int) (claude_worker_concurrency *
											 (claude_requests_per_minute > 0 ? 1.0 : rate_factor)));
			pump.next = job_next;
			pump.done = job_done;
			pump.arg = jp;
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
								 buckets_wait_ms(), PG_WAIT_EXTENSION);
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

			xact_begin();
			run("UPDATE claude.job SET state = 'done', finished_at = pg_catalog.now() "
				"WHERE id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'running' "
				"AND NOT EXISTS (SELECT 1 FROM claude.job_items i WHERE i.job_id OPERATOR(pg_catalog.=) $1 "
				"AND i.state OPERATOR(pg_catalog.=) ANY ('{pending,running}'))",
				1, types, values, NULL);
			xact_end();
		}
		target_cxt = NULL;
		MemoryContextSwitchTo(work_cxt);
		MemoryContextDelete(pump_cxt);
		if (stop)
			break;
	}
	claude_current_job_id = 0;
	claude_current_role_name = NULL;
	pgstat_report_activity(STATE_IDLE, NULL);
	return true;
}

bool
claude_jobs_work(void)
{
	bool		worked = false;
	bool		ready;

	if (work_cxt == NULL)
		work_cxt = AllocSetContextCreate(TopMemoryContext, "pg_claude jobs", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work_cxt);

	xact_begin();
	ready = OidIsValid(get_extension_oid("pg_claude", true));
	xact_end();
	if (!ready)
		return false;

	/*
	 * An error here (out of memory, a catalog change under us) costs one
	 * round, not the worker: the job in hand is marked failed and the loop
	 * goes on, rather than restarting into the same error forever.
	 */
	PG_TRY();
	{
		while (work_requests())
		{
			worked = true;
			MemoryContextReset(work_cxt);
		}
		if (work_job())
			worked = true;
	}
	PG_CATCH();
	{
		int64		failed_job = claude_current_job_id;
		ErrorData  *edata;
		bool		interrupted;
		char	   *why;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(work_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		RESUME_INTERRUPTS();
		become_worker();
		target_cxt = NULL;
		claude_current_job_id = 0;
		claude_current_role_name = NULL;
		/* a cancel (claude_job_cancel, pause, pg_cancel_backend) stops the round, not the job */
		interrupted = edata->sqlerrcode == ERRCODE_QUERY_CANCELED && !input_timed_out;
		why = job_error_message(edata);
		ereport(LOG, (errmsg("pg_claude worker: %s", why)));
		xact_begin();
		requeue_claimed(failed_job, interrupted ? NULL : why);
		if (failed_job != 0 && !interrupted)
		{
			Job			job = {.id = failed_job};

			job_fail(&job, why);
		}
		xact_end();
		worked = true;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(work_cxt);
	MemoryContextReset(work_cxt);
	return worked;
}
