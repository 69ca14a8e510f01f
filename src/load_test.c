/*-------------------------------------------------------------------------
 *
 * load_test.c
 *	  claude_load_test(): a load test of the configured Bedrock path from
 *	  the database, before a batch job or a launch depends on it.
 *
 * Its requests are built, checked (residency), signed, sent and audited as
 * claude_complete_batch's are: the same task (complete), the same
 * claude_bedrock_prepare and the same pump, with concurrency requests kept
 * in flight, refilled as each finishes, until the count is sent or the
 * time is up (nothing starts after the deadline; what is in flight then is
 * waited for).  The response cache is off for its requests: a load test
 * must reach the service.  Before anything is sent its cost is bounded
 * (each request at its input's estimated tokens and max_tokens out, as a
 * job's estimate is, job_definition.c) and checked against
 * claude.load_test_max_usd; a test by duration sends no more requests than
 * that budget buys.  The result is stored in claude.load_tests, written
 * as the extension owner.  README, "Load testing".
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "anthropic.h"
#include "bedrock.h"
#include "guc.h"
#include "job_definition.h"
#include "privilege.h"
#include "provider.h"
#include "task.h"

/* The pump's own limit (http_pump.c). */
#define LOAD_TEST_MAX_CONCURRENCY 512
/* A latency is kept per request: a bound on the memory a test holds. */
#define LOAD_TEST_MAX_REQUESTS 1000000

typedef struct LoadCall
{
	MemoryContext cxt;			/* the request's, gone once it is done */
	ClaudeBedrockCall call;
} LoadCall;

typedef struct LoadRun
{
	ClaudeTask	task;
	ClaudeCallContext cc;
	char	  **inputs;			/* the prompts, used in turn */
	char	  **bodies;			/* their request bodies */
	int			nbodies;
	int			limit;			/* requests at most */
	bool		limit_is_budget;	/* the limit is what the budget buys */
	bool		timed;
	TimestampTz deadline;
	const char *stopped_by;
	MemoryContext cxt;			/* the run's */

	int			sent;
	int			finished;
	int			errors;
	cJSON	   *errors_by_code;
	double	   *latencies;		/* of the successful requests */
	int			nlatencies;
	double	   *ttfts;			/* of the successful streamed requests */
	int			nttfts;
	int64		input_tokens;
	int64		output_tokens;
	TimestampTz first_sent;
	TimestampTz last_done;
} LoadRun;

static bool
load_next(void *arg, ClaudeHttpRequest **req, void **tag)
{
	LoadRun    *run = (LoadRun *) arg;
	TimestampTz now = GetCurrentTimestamp();
	LoadCall   *lc;
	MemoryContext old;
	const char *body;

	if (run->timed && now >= run->deadline)
	{
		run->stopped_by = "duration";
		return false;
	}
	if (run->sent >= run->limit)
	{
		run->stopped_by = run->limit_is_budget ? "budget" : "requests";
		return false;
	}
	lc = MemoryContextAllocZero(run->cxt, sizeof(LoadCall));
	lc->cxt = AllocSetContextCreate(run->cxt, "pg_claude load test request", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(lc->cxt);
	body = run->bodies[run->sent % run->nbodies];
	run->cc.input = run->inputs[run->sent % run->nbodies];	/* audited as its prompt */
	if (claude_bedrock_prepare(&lc->call, &run->cc, "InvokeModel", "invoke", run->task.model,
							   body, strlen(body)))
		elog(ERROR, "pg_claude: a load test request was answered from the cache");
	MemoryContextSwitchTo(old);
	if (run->sent == 0)
		run->first_sent = now;
	run->sent++;
	*req = &lc->call.req;
	*tag = lc;
	return true;
}

/* How a failed request is counted in errors_by_code. */
static const char *
error_code_of(const ClaudeHttpResponse *resp)
{
	if (resp->error_type[0])
		return resp->error_type;
	if (resp->unusable)
		return "MalformedResponse";
	if (resp->status > 0)
		return psprintf("HTTP %ld", resp->status);
	if (resp->curl_code != CURLE_OK)
		return curl_easy_strerror(resp->curl_code);
	return "Unknown";
}

static void
load_done(void *arg, void *tag, ClaudeHttpResponse *resp)
{
	LoadRun    *run = (LoadRun *) arg;
	LoadCall   *lc = (LoadCall *) tag;
	MemoryContext old = MemoryContextSwitchTo(run->cxt);

	run->finished++;
	run->last_done = GetCurrentTimestamp();
	if (claude_bedrock_ok(resp))
	{
		long		in = resp->input_tokens;
		long		out = resp->output_tokens;

		run->latencies[run->nlatencies++] = resp->latency_ms;
		if (resp->ttft_ms >= 0)
			run->ttfts[run->nttfts++] = resp->ttft_ms;
		/* a streamed answer has no token headers: its usage block has them */
		if ((in < 0 || out < 0) && resp->body != NULL)
		{
			ClaudeUsage usage;

			claude_anthropic_usage(resp->body, &usage);
			if (in < 0)
				in = usage.input_tokens;
			if (out < 0)
				out = usage.output_tokens;
		}
		if (in > 0)
			run->input_tokens += in;
		if (out > 0)
			run->output_tokens += out;
	}
	else
	{
		const char *code = error_code_of(resp);
		cJSON	   *n = cJSON_GetObjectItemCaseSensitive(run->errors_by_code, code);

		run->errors++;
		if (n)
			cJSON_SetNumberValue(n, n->valuedouble + 1);
		else
			cJSON_AddNumberToObject(run->errors_by_code, code, 1);
	}
	MemoryContextSwitchTo(old);
	/* the answer itself is not kept: the audit log has the attempt */
	MemoryContextDelete(lc->cxt);
	pfree(lc);
}

/* USD of one request at its upper bound (input bytes, max_tokens out); false: no price. */
static bool
request_upper_bound(const ClaudeTask *task, size_t input_bytes, double *usd)
{
	ClaudeJobEstimate est;
	Oid			types[3] = {TEXTOID, INT8OID, INT8OID};
	Datum		values[3];
	Datum		cost;
	bool		isnull;

	claude_job_estimate_tokens(task, 1, (int64) input_bytes, &est);
	values[0] = CStringGetTextDatum(task->model);
	values[1] = Int64GetDatum(est.input_tokens);
	values[2] = Int64GetDatum(est.output_tokens);
	cost = claude_owner_query("SELECT claude.cost_usd(claude.price_of($1), $2, $3)::pg_catalog.float8",
							  3, types, values, NULL, true, &isnull);
	if (isnull)
		return false;
	*usd = DatumGetFloat8(cost);
	return true;
}

/* The request bodies of the prompt (or prompts); their longest input. */
static void
load_bodies(FunctionCallInfo fcinfo, LoadRun *run, size_t *longest)
{
	char	  **inputs;
	int			ninputs = 0;
	int			i;

	if (!PG_ARGISNULL(6))
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(6), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		inputs = palloc(sizeof(char *) * Max(n, 1));
		for (i = 0; i < n; i++)
			if (!nulls[i])
				inputs[ninputs++] = TextDatumGetCString(elems[i]);
	}
	else
	{
		inputs = palloc(sizeof(char *));
		if (!PG_ARGISNULL(0))
			inputs[ninputs++] = text_to_cstring(PG_GETARG_TEXT_PP(0));
	}
	if (ninputs == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("claude_load_test needs a prompt"),
				 errdetail("Both prompt and prompts are NULL, or prompts holds only NULLs."),
				 errhint("Pass prompt => 'text', or prompts => ARRAY(SELECT ... FROM your_table).")));
	run->inputs = inputs;
	run->bodies = palloc(sizeof(char *) * ninputs);
	run->nbodies = ninputs;
	*longest = 0;
	for (i = 0; i < ninputs; i++)
	{
		/* an empty or too long prompt is refused here, before anything is sent */
		run->bodies[i] = claude_task_body(&run->task, inputs[i], NULL);
		*longest = Max(*longest, strlen(inputs[i]));
	}
}

/* The microseconds of a duration argument; refuses what is not a positive, fixed length. */
static int64
duration_us(const Interval *d)
{
	int64		us;

	if (d->month != 0 || pg_mul_s64_overflow((int64) d->day, USECS_PER_DAY, &us) ||
		pg_add_s64_overflow(us, d->time, &us) || us <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("duration must be a positive interval of days, hours, minutes or seconds"),
				 errdetail("Months and years have no fixed length; the duration was not positive or too long."),
				 errhint("For example duration => '30 seconds'.")));
	return us;
}

static void
load_options(FunctionCallInfo fcinfo, ClaudeTask *task)
{
	cJSON	   *options = cJSON_CreateObject();

	if (!PG_ARGISNULL(5))
		cJSON_AddStringToObject(options, "model", text_to_cstring(PG_GETARG_TEXT_PP(5)));
	if (!PG_ARGISNULL(4))
		cJSON_AddNumberToObject(options, "max_tokens", PG_GETARG_INT32(4));
	claude_task_configure(task, &claude_task_complete, options);
	cJSON_Delete(options);
}

/* Store the run in claude.load_tests (as the extension owner): the row. */
static Datum
store(FunctionCallInfo fcinfo, const LoadRun *run, int concurrency, double estimated_max_usd)
{
	Oid			types[18] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID,
		INTERVALOID, TEXTOID, INT4OID, INT4OID, TEXTOID, FLOAT8OID, INT8OID, INT8OID,
	FLOAT8ARRAYOID, FLOAT8OID, FLOAT8ARRAYOID};
	Datum		values[18];
	char		nulls[18];
	Datum	   *lat = palloc(sizeof(Datum) * Max(run->nlatencies, 1));
	Datum	   *ttft = palloc(sizeof(Datum) * Max(run->nttfts, 1));
	char	   *errors = cJSON_PrintUnformatted(run->errors_by_code);
	char		host[256];
	char		prefix[256];
	long		secs;
	int			usecs;
	double		wall_s = 0;
	bool		isnull;
	Datum		row;
	int			i;

	memset(nulls, ' ', sizeof(nulls));
	if (claude_provider_is_anthropic(&run->cc))
		strlcpy(host, claude_anthropic_host(), sizeof(host));
	else
		(void) claude_bedrock_base_url(host, sizeof(host), prefix, sizeof(prefix));
	if (run->sent > 0)
	{
		TimestampDifference(run->first_sent, run->last_done, &secs, &usecs);
		wall_s = secs + usecs / 1e6;
	}
	for (i = 0; i < run->nlatencies; i++)
		lat[i] = Float8GetDatum(run->latencies[i]);
	for (i = 0; i < run->nttfts; i++)
		ttft[i] = Float8GetDatum(run->ttfts[i]);

	values[0] = TimestampTzGetDatum(run->sent > 0 ? run->first_sent : GetCurrentTimestamp());
	values[1] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	values[2] = CStringGetTextDatum(run->task.model);
	values[3] = CStringGetTextDatum(claude_region);
	values[4] = CStringGetTextDatum(host);
	values[5] = Int32GetDatum(concurrency);
	values[6] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[6] = PG_ARGISNULL(3) ? 'n' : ' ';
	values[7] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[7] = PG_ARGISNULL(2) ? 'n' : ' ';
	values[8] = CStringGetTextDatum(run->stopped_by);
	values[9] = Int32GetDatum(run->finished);
	values[10] = Int32GetDatum(run->errors);
	values[11] = CStringGetTextDatum(errors ? errors : "{}");
	values[12] = Float8GetDatum(wall_s);
	values[13] = Int64GetDatum(run->input_tokens);
	values[14] = Int64GetDatum(run->output_tokens);
	values[15] = PointerGetDatum(construct_array(lat, run->nlatencies, FLOAT8OID, 8,
												 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[16] = Float8GetDatum(estimated_max_usd);
	values[17] = PointerGetDatum(construct_array(ttft, run->nttfts, FLOAT8OID, 8,
												 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (errors)
		cJSON_free(errors);

	/* percentiles as claude.stats computes them, rounded to 0.1 ms */
	row = claude_owner_query(
							 "WITH p AS (SELECT pg_catalog.percentile_cont(ARRAY[0.50, 0.95, 0.99]::pg_catalog.float8[]) "
							 "WITHIN GROUP (ORDER BY x) AS l FROM pg_catalog.unnest($16) AS x), "
							 "f AS (SELECT pg_catalog.percentile_cont(ARRAY[0.50, 0.95, 0.99]::pg_catalog.float8[]) "
							 "WITHIN GROUP (ORDER BY x) AS l FROM pg_catalog.unnest($18) AS x) "
							 "INSERT INTO claude.load_tests AS t (started_at, role_name, model, region, endpoint_host, "
							 "concurrency, requested_requests, requested_duration, stopped_by, requests, errors, "
							 "errors_by_code, wall_s, throughput_rps, output_tokens_per_s, input_tokens, output_tokens, "
							 "p50_latency_ms, p95_latency_ms, p99_latency_ms, p50_ttft_ms, p95_ttft_ms, p99_ttft_ms, "
							 "estimated_max_usd, cost_usd) "
							 "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::pg_catalog.jsonb, $13, "
							 "CASE WHEN $13 OPERATOR(pg_catalog.>) 0 THEN $10 OPERATOR(pg_catalog./) $13 END, "
							 "CASE WHEN $13 OPERATOR(pg_catalog.>) 0 THEN $15 OPERATOR(pg_catalog./) $13 END, $14, $15, "
							 "pg_catalog.round(p.l[1]::pg_catalog.numeric, 1)::pg_catalog.float8, "
							 "pg_catalog.round(p.l[2]::pg_catalog.numeric, 1)::pg_catalog.float8, "
							 "pg_catalog.round(p.l[3]::pg_catalog.numeric, 1)::pg_catalog.float8, "
							 "pg_catalog.round(f.l[1]::pg_catalog.numeric, 1)::pg_catalog.float8, "
							 "pg_catalog.round(f.l[2]::pg_catalog.numeric, 1)::pg_catalog.float8, "
							 "pg_catalog.round(f.l[3]::pg_catalog.numeric, 1)::pg_catalog.float8, "
							 "pg_catalog.round($17::pg_catalog.numeric, 6), "
							 "pg_catalog.round(claude.cost_usd(claude.price_of($3), $14, $15), 6) "
							 "FROM p, f RETURNING t",
							 18, types, values, nulls, false, &isnull);
	if (isnull)
		elog(ERROR, "pg_claude: could not store the load test");
	return row;
}

PG_FUNCTION_INFO_V1(claude_load_test);

Datum
claude_load_test(PG_FUNCTION_ARGS)
{
	LoadRun		run;
	ClaudeHttpPump pump = {0};
	int			concurrency;
	size_t		longest;
	double		per_request;
	double		estimated_max_usd;
	int			guc_level;
	int64		us = 0;

	memset(&run, 0, sizeof(run));
	run.cc = CLAUDE_CALL_CONTEXT("claude_load_test", NULL);
	run.cxt = CurrentMemoryContext;

	concurrency = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
	if (concurrency < 1 || concurrency > LOAD_TEST_MAX_CONCURRENCY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("concurrency must be between 1 and %d", LOAD_TEST_MAX_CONCURRENCY),
				 errdetail("concurrency is the number of requests kept in flight."),
				 errhint("Start near the concurrency your workload will use.")));
	if (PG_ARGISNULL(2) && PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("claude_load_test needs a duration or a number of requests"),
				 errdetail("duration and requests are both NULL."),
				 errhint("Pass duration => '10 seconds' or requests => 100.")));
	if (!PG_ARGISNULL(3) && (PG_GETARG_INT32(3) < 1 || PG_GETARG_INT32(3) > LOAD_TEST_MAX_REQUESTS))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("requests must be between 1 and %d", LOAD_TEST_MAX_REQUESTS),
				 errdetail("requests was %d.", PG_GETARG_INT32(3)),
				 errhint("Pass NULL to run for the duration only.")));
	if (!PG_ARGISNULL(2))
	{
		us = duration_us(PG_GETARG_INTERVAL_P(2));
		run.timed = true;
	}

	load_options(fcinfo, &run.task);
	load_bodies(fcinfo, &run, &longest);

	if (claude_load_test_max_usd <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("load test refused: claude.load_test_max_usd is 0"),
				 errdetail("A superuser has turned load tests off."),
				 errhint("Ask a superuser to set claude.load_test_max_usd to what a load test may cost.")));

	/* what it may cost, before anything is sent */
	if (!request_upper_bound(&run.task, longest, &per_request))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot bound the cost of a load test of \"%s\"", run.task.model),
				 errdetail("claude.prices has no price for the model, so claude.load_test_max_usd cannot be checked."),
				 errhint("Add a row for the model to claude.prices.")));
	if (!PG_ARGISNULL(3))
		run.limit = PG_GETARG_INT32(3);
	else
	{
		/* a test by duration alone: as many requests as the budget buys */
		double		buys = per_request > 0 ? floor(claude_load_test_max_usd / per_request) : (double) LOAD_TEST_MAX_REQUESTS;

		run.limit = (int) Min(buys, (double) LOAD_TEST_MAX_REQUESTS);
		run.limit_is_budget = true;
	}
	estimated_max_usd = per_request * run.limit;
	if (estimated_max_usd > claude_load_test_max_usd || (run.limit_is_budget && run.limit < concurrency))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("load test refused: it may cost more than claude.load_test_max_usd ($%.2f)",
						claude_load_test_max_usd),
				 run.limit_is_budget ?
				 errdetail("Each request may cost up to $%.6f; the budget buys %d requests, fewer than the concurrency of %d.",
						   per_request, run.limit, concurrency) :
				 errdetail("%d requests at up to $%.6f each may cost $%.4f.",
						   run.limit, per_request, estimated_max_usd),
				 errhint("Send fewer requests or fewer max_tokens, or ask a superuser to raise claude.load_test_max_usd.")));

	/* residency and credentials: refused here, not by the first request */
	claude_bedrock_check_residency(&run.cc, run.task.model);
	claude_bedrock_ready_to_sign(&run.cc);

	run.errors_by_code = cJSON_CreateObject();
	run.latencies = palloc(sizeof(double) * Max(run.limit, 1));
	run.ttfts = palloc(sizeof(double) * Max(run.limit, 1));

	/* the cache off for these requests only; abort restores it too */
	guc_level = NewGUCNestLevel();
	(void) set_config_option("claude.cache", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	if (run.timed)
		run.deadline = GetCurrentTimestamp() + us;
	pump.concurrency = concurrency;
	pump.next = load_next;
	pump.done = load_done;
	pump.arg = &run;
	claude_http_pump(&pump);
	claude_model_learned_flush();

	AtEOXact_GUC(true, guc_level);

	if (run.stopped_by == NULL)
		run.stopped_by = "requests";
	{
		Datum		row = store(fcinfo, &run, concurrency, estimated_max_usd);

		cJSON_Delete(run.errors_by_code);
		PG_RETURN_DATUM(row);
	}
}
