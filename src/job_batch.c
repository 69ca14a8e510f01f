/*-------------------------------------------------------------------------
 *
 * job_batch.c
 *	  Enrichment jobs as Bedrock batch inference: the same rows, task,
 *	  residency, cache and write path as on demand; only the travel differs.
 *
 * The worker runs a batch job in phases, each recorded in
 * claude.batch_parts before the next starts, and none with a transaction
 * open across a network call (doc/batch.md):
 *
 *	 building	 rows are claimed and prepared as on demand (cache hits and
 *				 refusals written at once); the rest become records of
 *				 claude.batch_records with the exact InvokeModel body;
 *	 built		 the part's JSONL is complete in the tables;
 *	 uploaded	 PutObject done (the same key and bytes if done twice);
 *	 submitted	 CreateModelInvocationJob answered; its clientRequestToken
 *				 comes from the job id, part and definition digest, so a
 *				 retry after a crash gets the same AWS job, never a second;
 *	 in_progress, stopping	as GetModelInvocationJob says;
 *	 downloading the output is read and each record written through
 *				 claude_job_write, with its claude.usage row, and its
 *				 claude.batch_records row deleted, in one transaction: a
 *				 crash half way re-reads the output and skips what is
 *				 written, so every row is written once;
 *	 done		 records the output lacked (or that answered off the task)
 *				 are left pending, for the on-demand path to send.
 *
 * A job queued under claude.provider = anthropic goes as the Anthropic
 * API's Message Batches instead (doc/batch.md): the records carry the
 * API's request bodies, there is no upload, and as the API takes no
 * idempotency key the part is marked 'submitting' (with the time) before
 * the create is sent.  A part found 'submitting' (a crash, or a create
 * whose answer was lost) is looked for among the account's batches (one
 * created since the mark with as many requests, and no other part's)
 * and adopted; only when there is none, and the create can no longer be
 * in flight, is it sent again.  Results come from the batch's results
 * endpoint, written as Bedrock's output is.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>
#include <cjson/cJSON.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "aws_sign.h"
#include "bedrock.h"
#include "call_policy.h"
#include "enrich_table.h"
#include "guc.h"
#include "job_batch.h"
#include "job_queue.h"
#include "problem.h"
#include "provider.h"
#include "s3.h"
#include "sigv4.h"
#include "task.h"
#include "work_item.h"
#include "work_xact.h"

/* rows claimed, or output records written, per transaction */
#define BATCH_CHUNK 500

/* The Anthropic API's limit on one Message Batch's size (doc/batch.md). */
#define MESSAGE_BATCH_MAX_BYTES (256L * 1024 * 1024)
/* Clock difference allowed between us and the API when adopting a batch. */
#define MESSAGE_BATCH_CLOCK_SLACK_S 60

ClaudeBatchMode
claude_batch_mode(const char *options)
{
	const char *mode = claude_jobs_option(options, "mode", "on_demand");

	if (strcmp(mode, "on_demand") == 0)
		return CLAUDE_MODE_ON_DEMAND;
	if (strcmp(mode, "batch") == 0)
		return CLAUDE_MODE_BATCH;
	if (strcmp(mode, "auto") == 0)
		return CLAUDE_MODE_AUTO;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for option \"mode\": \"%s\"", mode),
			 errdetail("A job's requests travel on demand (InvokeModel per row) or as Bedrock batch inference."),
			 errhint("Use \"on_demand\" (the default), \"batch\" or \"auto\".")));
	return CLAUDE_MODE_ON_DEMAND;	/* keep compiler quiet */
}

static bool
batch_configured(void)
{
	return claude_batch_s3_uri && claude_batch_s3_uri[0] &&
		claude_batch_role_arn && claude_batch_role_arn[0];
}

void
claude_batch_check_enqueue(const char *options)
{
	ClaudeBatchMode mode = claude_batch_mode(options);
	ClaudeS3Uri uri;

	if (mode == CLAUDE_MODE_ON_DEMAND)
		return;
	/* a guardrail applies to InvokeModel only: batch inference would skip it */
	if (claude_guardrail_id != NULL && claude_guardrail_id[0] != '\0')
	{
		if (mode == CLAUDE_MODE_AUTO)
			return;				/* auto: on demand */
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("batch mode is not available while claude.guardrail_id is set"),
				 errdetail("Bedrock batch inference does not apply a guardrail; pg_claude never skips one."),
				 errhint("Use \"mode\": \"on_demand\" or \"auto\".")));
	}
	/* the Anthropic API's Message Batches need no bucket (residency was judged by the caller) */
	if (claude_provider == CLAUDE_PROVIDER_ANTHROPIC)
		return;
	if (!batch_configured())
	{
		if (mode == CLAUDE_MODE_AUTO)
			return;				/* auto without a bucket: on demand */
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("batch mode needs claude.batch_s3_uri and claude.batch_role_arn"),
				 errdetail("Bedrock batch inference reads its input from S3 and writes its output there, "
						   "as the IAM service role it is given."),
				 errhint("Ask a superuser to set claude.batch_s3_uri (s3://bucket/prefix/) and "
						 "claude.batch_role_arn, or use \"mode\": \"on_demand\".")));
	}
	claude_s3_parse_uri(claude_batch_s3_uri, &uri);
	/* the bucket is judged like a model, before the job exists (42R01) */
	(void) claude_s3_check_residency(uri.bucket);
}

/* ---- the worker's side ---- */

typedef struct BatchPart
{
	int			part;
	char	   *phase;
	int			max_records;
	int			records;
	char	   *input_uri;
	char	   *output_uri;
	char	   *client_token;
	char	   *job_arn;
	char	   *aws_status;
	double		submitting_since;	/* Message Batches: when the create was sent (epoch s) */
} BatchPart;

/* Does the job go as the Anthropic API's Message Batches? */
static bool
message_batches(const Job *job)
{
	return strcmp(job->provider, CLAUDE_PROVIDER_NAME_ANTHROPIC) == 0;
}

static void
set_activity(Job *job, const char *what)
{
	pgstat_report_activity(STATE_RUNNING, psprintf("pg_claude job " INT64_FORMAT ": batch %s", job->id, what));
}

/* The job's parts, in a work transaction. */
static List *
read_parts(Job *job)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job->id)};
	List	   *parts = NIL;

	claude_work_sql("SELECT part, phase, max_records, records, input_uri, output_uri, client_token, job_arn, aws_status, "
		"pg_catalog.date_part('epoch', submitted_at) FROM claude.batch_parts WHERE job_id OPERATOR(pg_catalog.=) $1 ORDER BY part",
		1, types, values, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		BatchPart  *p = palloc0(sizeof(BatchPart));

		p->part = atoi(SPI_getvalue(tup, desc, 1));
		p->phase = SPI_getvalue(tup, desc, 2);
		p->max_records = atoi(SPI_getvalue(tup, desc, 3));
		p->records = atoi(SPI_getvalue(tup, desc, 4));
		p->input_uri = SPI_getvalue(tup, desc, 5);
		p->output_uri = SPI_getvalue(tup, desc, 6);
		p->client_token = SPI_getvalue(tup, desc, 7);
		p->job_arn = SPI_getvalue(tup, desc, 8);
		p->aws_status = SPI_getvalue(tup, desc, 9);
		p->submitting_since = SPI_getvalue(tup, desc, 10) ? strtod(SPI_getvalue(tup, desc, 10), NULL) : 0;
		parts = lappend(parts, p);
	}
	return parts;
}

/* Record a part's progress (NULL: unchanged), in a work transaction. */
static void
set_part(Job *job, BatchPart *p, const char *phase, const char *arn, const char *status,
		 const char *message)
{
	Oid			types[6] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[6] = {Int64GetDatum(job->id), Int32GetDatum(p->part),
		phase ? CStringGetTextDatum(phase) : (Datum) 0,
		arn ? CStringGetTextDatum(arn) : (Datum) 0,
		status ? CStringGetTextDatum(status) : (Datum) 0,
	message ? CStringGetTextDatum(message) : (Datum) 0};
	char		nulls[7] = {' ', ' ', phase ? ' ' : 'n', arn ? ' ' : 'n', status ? ' ' : 'n',
	message ? ' ' : 'n', '\0'};

	claude_work_sql("UPDATE claude.batch_parts SET phase = coalesce($3, phase), job_arn = coalesce($4, job_arn), "
		"aws_status = coalesce($5, aws_status), message = coalesce($6, message), "
		"submitted_at = CASE WHEN $3 OPERATOR(pg_catalog.=) ANY ('{submitting,submitted}'::pg_catalog.text[]) "
		"THEN pg_catalog.now() ELSE submitted_at END, "
		"finished_at = CASE WHEN $3 OPERATOR(pg_catalog.=) 'done' THEN pg_catalog.now() ELSE finished_at END "
		"WHERE job_id OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $2",
		6, types, values, nulls);
	if (phase)
		p->phase = pstrdup(phase);
	if (phase && strcmp(phase, "submitting") == 0)
		p->submitting_since = (double) time(NULL);
	if (arn)
		p->job_arn = pstrdup(arn);
	if (status)
		p->aws_status = pstrdup(status);
}

static int64
count_sql(const char *sql, int64 job)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job)};
	bool		isnull;

	claude_work_sql(sql, 1, types, values, NULL);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Which way the job goes, decided once (the parts are its record): batch
 * when its mode asks for it and there are at least Bedrock's 100 records
 * to send (the Anthropic API: one; auto: claude.batch_min_rows); then the
 * parts, each at most claude.batch_max_records (Bedrock's quota: 50,000
 * records per job and per input file; the API's is 100,000 per batch),
 * the rows split evenly.
 */
static bool
decide(Job *job)
{
	ClaudeBatchMode mode = claude_batch_mode(job->options);
	bool		anthropic = message_batches(job);
	int			min_records = anthropic ? 1 : CLAUDE_BATCH_MIN_RECORDS;
	int64		pending;
	int			nparts;
	int			per;

	if (mode == CLAUDE_MODE_ON_DEMAND)
		return false;
	/* documents and images go on demand (claude_jobs_check_attachment_input refused "batch") */
	if (job->input_bytea)
		return false;
	/* a guardrail set for the worker or the job's owner: on demand, where it applies */
	if ((claude_guardrail_id != NULL && claude_guardrail_id[0] != '\0') ||
		(job->policy != NULL && job->policy->guardrail_id[0] != '\0'))
		return false;
	if (!anthropic && !batch_configured())
	{
		if (mode == CLAUDE_MODE_BATCH)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("batch mode needs claude.batch_s3_uri and claude.batch_role_arn"),
					 errdetail("They were unset in the worker when job " INT64_FORMAT " started.", job->id),
					 errhint("Set them in postgresql.conf or with ALTER SYSTEM, and queue the job again.")));
		return false;
	}
	pending = count_sql("SELECT pg_catalog.count(*) FROM claude.job_items i WHERE i.job_id OPERATOR(pg_catalog.=) $1 "
					 "AND i.state OPERATOR(pg_catalog.=) 'pending'", job->id);
	if (pending < min_records ||
		(mode == CLAUDE_MODE_AUTO && pending < Max(claude_batch_min_rows, min_records)))
	{
		ereport(LOG, (errmsg("pg_claude worker: job " INT64_FORMAT " has " INT64_FORMAT " rows to do: on demand",
							 job->id, pending)));
		return false;
	}
	nparts = (int) ((pending + claude_batch_max_records - 1) / claude_batch_max_records);
	per = (int) ((pending + nparts - 1) / nparts);
	for (int part = 0; part < nparts; part++)
	{
		char		token[65];
		char	   *seed = psprintf("pg_claude:" INT64_FORMAT ":%d:%s", job->id, part,
									job->definition_sha256 ? job->definition_sha256 : "");
		Oid			types[5] = {INT8OID, INT4OID, INT4OID, TEXTOID, TEXTOID};
		Datum		values[5];
		char		nulls[6] = "     ";

		sigv4_sha256_hex((const unsigned char *) seed, strlen(seed), token);
		values[0] = Int64GetDatum(job->id);
		values[1] = Int32GetDatum(part);
		values[2] = Int32GetDatum(per);
		values[3] = CStringGetTextDatum(token);
		/* Message Batches keep their results at the API, not in a bucket */
		if (anthropic)
			nulls[4] = 'n';
		else
			values[4] = CStringGetTextDatum(psprintf("%s%sj" INT64_FORMAT "/out/p%d/", claude_batch_s3_uri,
													 claude_batch_s3_uri[strlen(claude_batch_s3_uri) - 1] == '/' ? "" : "/",
													 job->id, part));
		claude_work_sql("INSERT INTO claude.batch_parts (job_id, part, max_records, client_token, output_uri) "
			"VALUES ($1, $2, $3, $4, $5)", 5, types, values, nulls);
	}
	ereport(LOG, (errmsg("pg_claude worker: job " INT64_FORMAT ": " INT64_FORMAT " rows as %d %s",
						 job->id, pending, nparts,
						 anthropic ? "Message Batch(es) of the Anthropic API" : "batch inference job(s)")));
	return true;
}

/*
 * An answer (a cache hit, or a batch record's modelOutput) as a result or
 * a failure; false when the answer did not validate and the row is to be
 * asked again (on demand, as jobs.c does).
 */
static bool
answer_item(Job *job, WorkItem *it)
{
	ClaudeTaskAnswer a;

	if (it->error)
		return true;
	claude_task_answer(&job->task, it->response, &a);
	if (a.problem.sqlerrcode != 0)
	{
		it->error = a.problem.message;
		it->error_code = pstrdup(unpack_sql_state(a.problem.sqlerrcode));
		return true;
	}
	if (a.why)
		return false;
	it->result = a.result;
	return true;
}

/* Claim, prepare and record rows until none is left to claim. */
static void
build(Job *job, List *parts)
{
	WorkRound	round = {0};
	int			nparts = list_length(parts);
	int			per = ((BatchPart *) linitial(parts))->max_records;
	int			next;

	/* the provider's request bodies: Message Batches carry the API's (model in it, inference_geo) */
	round.cc = (ClaudeCallContext) {"claude_enrich", NULL, job->owner_name, job->id, job->provider};
	round.cc.policy = job->policy;
	round.task = &job->task;
	round.model = job->task.model;

	claude_work_begin();
	next = (int) count_sql("SELECT coalesce(pg_catalog.max(record) OPERATOR(pg_catalog.+) 1, 0)::pg_catalog.int8 "
						   "FROM claude.batch_records WHERE job_id OPERATOR(pg_catalog.=) $1", job->id);
	claude_work_end();
	set_activity(job, "building");
	for (;;)
	{
		MemoryContext chunk = AllocSetContextCreate(CurrentMemoryContext, "pg_claude batch rows",
													ALLOCSET_DEFAULT_SIZES);
		MemoryContext cxt = MemoryContextSwitchTo(chunk);
		WorkRound  *r;
		WorkItem  **now = NULL;
		int			nnow = 0;
		bool		empty;

		claude_work_set_target(chunk);
		claude_work_begin();
		if (strcmp(claude_job_state(job->id), "running") != 0)
		{
			claude_work_end();
			claude_work_set_target(NULL);
			MemoryContextSwitchTo(cxt);
			MemoryContextDelete(chunk);
			return;
		}
		r = claude_job_claim(job, BATCH_CHUNK);
		empty = r->n == 0;
		if (r->n > 0)
			now = palloc(sizeof(WorkItem *) * r->n);
		for (int i = 0; i < r->n; i++)
		{
			WorkItem   *it = &r->items[i];

			claude_work_prepare(&round, it);
			if ((it->error || it->answered) && answer_item(job, it))
				now[nnow++] = it;	/* a cache hit, or refused before sending */
			else
			{
				/* a record: the body the on-demand path would have sent */
				int			record = next++;
				Oid			types[6] = {INT8OID, INT4OID, INT4OID, JSONBOID, TEXTOID, TEXTOID};
				Datum		values[6] = {Int64GetDatum(job->id), Int32GetDatum(record),
					Int32GetDatum(Min(record / per, nparts - 1)), it->pk,
					CStringGetTextDatum(it->input_sha256),
				/* as prepared: claude.redact_before_send has been applied to it */
				CStringGetTextDatum(it->call.ctx.body ? pnstrdup(it->call.ctx.body, it->call.ctx.body_len) :
									it->body ? it->body : claude_task_body(&job->task, it->input, NULL))};

				claude_work_sql("INSERT INTO claude.batch_records (job_id, record, part, pk, input_sha256, body) "
					"VALUES ($1, $2, $3, $4, $5, $6)", 6, types, values, NULL);
				claude_work_sql("UPDATE claude.job_items SET state = 'pending' WHERE job_id OPERATOR(pg_catalog.=) $1 "
					"AND pk OPERATOR(pg_catalog.=) $4", 4, types, values, NULL);
			}
		}
		if (nnow > 0)
			claude_job_write(job, now, nnow);
		if (empty)
		{
			/* every row is recorded: the parts are complete, or too small for Bedrock */
			bool		anthropic = message_batches(job);
			Oid			types[3] = {INT8OID, INT4OID, TEXTOID};
			Datum		values[3] = {Int64GetDatum(job->id),
				Int32GetDatum(anthropic ? 1 : CLAUDE_BATCH_MIN_RECORDS),
				CStringGetTextDatum(anthropic ? " records: nothing to send" :
									" records, under Bedrock's minimum of 100 per batch job: sent on demand")};

			claude_work_sql("UPDATE claude.batch_parts p SET records = c.n, "
				"phase = CASE WHEN c.n OPERATOR(pg_catalog.<) $2 THEN 'done' ELSE 'built' END, "
				"missing = CASE WHEN c.n OPERATOR(pg_catalog.<) $2 THEN c.n ELSE 0 END, "
				"message = CASE WHEN c.n OPERATOR(pg_catalog.<) $2 THEN c.n OPERATOR(pg_catalog.||) $3 END, "
				"finished_at = CASE WHEN c.n OPERATOR(pg_catalog.<) $2 THEN pg_catalog.now() END "
				"FROM (SELECT q.part, (SELECT pg_catalog.count(*) FROM claude.batch_records b "
				"      WHERE b.job_id OPERATOR(pg_catalog.=) $1 AND b.part OPERATOR(pg_catalog.=) q.part)::pg_catalog.int4 AS n "
				"      FROM claude.batch_parts q WHERE q.job_id OPERATOR(pg_catalog.=) $1) c "
				"WHERE p.job_id OPERATOR(pg_catalog.=) $1 AND p.part OPERATOR(pg_catalog.=) c.part "
				"AND p.phase OPERATOR(pg_catalog.=) 'building'", 3, types, values, NULL);
			claude_work_sql("DELETE FROM claude.batch_records b USING claude.batch_parts p "
				"WHERE b.job_id OPERATOR(pg_catalog.=) $1 AND p.job_id OPERATOR(pg_catalog.=) $1 "
				"AND b.part OPERATOR(pg_catalog.=) p.part AND p.phase OPERATOR(pg_catalog.=) 'done'",
				1, types, values, NULL);
		}
		claude_work_end();
		claude_work_set_target(NULL);
		MemoryContextSwitchTo(cxt);
		MemoryContextDelete(chunk);
		if (empty)
			return;
	}
}

/* Credentials (or the API key) resolved where their errors can be raised, before a network phase. */
static void
ready(Job *job)
{
	claude_work_begin();
	if (message_batches(job))
		claude_anthropic_ready();
	else
		claude_bedrock_ready_to_sign(NULL);
	claude_work_end();
}

/*
 * The part's records, in a transaction, in record order: Bedrock's JSONL
 * lines, or a Message Batch's requests (comma-separated).  The id is the
 * record number padded to 8 digits: at least 11 characters, as AWS
 * requires of a recordId; the same as a custom_id.
 */
static void
append_records(Job *job, BatchPart *p, StringInfo out)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(job->id), Int32GetDatum(p->part)};
	bool		anthropic = message_batches(job);

	claude_work_begin();
	claude_work_sql("SELECT record, body FROM claude.batch_records WHERE job_id OPERATOR(pg_catalog.=) $1 "
		"AND part OPERATOR(pg_catalog.=) $2 ORDER BY record", 2, types, values, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		int			record = atoi(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		char	   *body = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (anthropic)
			appendStringInfo(out, "%s{\"custom_id\":\"j" INT64_FORMAT "-r%08d\",\"params\":%s}",
							 i ? "," : "", job->id, record, body);
		else
			appendStringInfo(out, "{\"recordId\":\"j" INT64_FORMAT "-r%08d\",\"modelInput\":%s}\n",
							 job->id, record, body);
	}
	claude_work_end();
}

/* The part's JSONL (read in a transaction), then PutObject (with none open). */
static void
upload(Job *job, BatchPart *p)
{
	Datum		values[2] = {Int64GetDatum(job->id), Int32GetDatum(p->part)};
	StringInfoData jsonl;
	ClaudeS3Uri uri;
	char	   *input_uri;

	set_activity(job, "uploading");
	initStringInfo(&jsonl);
	append_records(job, p, &jsonl);
	ready(job);

	input_uri = psprintf("%s%sj" INT64_FORMAT "/in/p%d.jsonl", claude_batch_s3_uri,
						 claude_batch_s3_uri[strlen(claude_batch_s3_uri) - 1] == '/' ? "" : "/",
						 job->id, p->part);
	claude_s3_parse_uri(input_uri, &uri);
	(void) claude_s3_put(&uri, jsonl.data, jsonl.len);	/* judges the bucket's region first */

	claude_work_begin();
	{
		Oid			t[3] = {INT8OID, INT4OID, TEXTOID};
		Datum		v[3] = {values[0], values[1], CStringGetTextDatum(input_uri)};

		claude_work_sql("UPDATE claude.batch_parts SET input_uri = $3 WHERE job_id OPERATOR(pg_catalog.=) $1 "
			"AND part OPERATOR(pg_catalog.=) $2", 3, t, v, NULL);
	}
	set_part(job, p, "uploaded", NULL, NULL, NULL);
	claude_work_end();
	p->input_uri = input_uri;
}

/* CreateModelInvocationJob (service-2.json: CreateModelInvocationJobRequest). */
static void
submit(Job *job, BatchPart *p)
{
	cJSON	   *req = cJSON_CreateObject();
	cJSON	   *in = cJSON_AddObjectToObject(cJSON_AddObjectToObject(req, "inputDataConfig"), "s3InputDataConfig");
	cJSON	   *out = cJSON_AddObjectToObject(cJSON_AddObjectToObject(req, "outputDataConfig"), "s3OutputDataConfig");
	ClaudeProblem problem = {0};
	char	   *text;
	char	   *answer;
	cJSON	   *root;
	const cJSON *arn;

	set_activity(job, "submitting");
	/* the name is unique per job and part; the token makes the call idempotent */
	cJSON_AddStringToObject(req, "jobName", psprintf("pg-claude-j" INT64_FORMAT "-p%d-%.12s",
													  job->id, p->part, p->client_token));
	cJSON_AddStringToObject(req, "roleArn", claude_batch_role_arn);
	cJSON_AddStringToObject(req, "clientRequestToken", p->client_token);
	cJSON_AddStringToObject(req, "modelId", job->task.model);
	cJSON_AddStringToObject(in, "s3Uri", p->input_uri);
	cJSON_AddStringToObject(in, "s3InputFormat", "JSONL");
	cJSON_AddStringToObject(out, "s3Uri", p->output_uri);
	if (claude_batch_kms_key_id && claude_batch_kms_key_id[0])
		cJSON_AddStringToObject(out, "s3EncryptionKeyId", claude_batch_kms_key_id);
	if (claude_batch_tags && claude_batch_tags[0])
	{
		cJSON	   *tags = cJSON_AddArrayToObject(req, "tags");
		char	   *list = pstrdup(claude_batch_tags);
		char	   *save = NULL;

		for (char *pair = strtok_r(list, ",", &save); pair; pair = strtok_r(NULL, ",", &save))
		{
			char	   *eq = strchr(pair, '=');
			cJSON	   *tag = cJSON_CreateObject();

			if (eq)
				*eq = '\0';
			cJSON_AddStringToObject(tag, "key", pair);
			cJSON_AddStringToObject(tag, "value", eq ? eq + 1 : "");
			cJSON_AddItemToArray(tags, tag);
		}
	}
	text = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	ready(job);
	answer = claude_bedrock_control_post("CreateModelInvocationJob", "/model-invocation-job", text, &problem);
	cJSON_free(text);
	if (answer == NULL)
		claude_problem_raise(&problem);
	root = cJSON_Parse(answer);
	arn = root ? cJSON_GetObjectItemCaseSensitive(root, "jobArn") : NULL;
	if (!cJSON_IsString(arn))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("Bedrock CreateModelInvocationJob answered without a jobArn")));
	claude_work_begin();
	set_part(job, p, "submitted", arn->valuestring, "Submitted", NULL);
	claude_work_end();
	cJSON_Delete(root);
}

static char *
job_path(BatchPart *p, const char *suffix)
{
	return psprintf("/model-invocation-job/%s%s", claude_uri_encode(p->job_arn, false), suffix);
}

/* GetModelInvocationJob: the status and message, recorded; the phase they mean. */
static void
poll(Job *job, BatchPart *p)
{
	ClaudeProblem problem = {0};
	char	   *answer;
	cJSON	   *root;
	const cJSON *status;
	const cJSON *message;
	const char *s;
	const char *phase;

	answer = claude_bedrock_control_get("GetModelInvocationJob", job_path(p, ""), NULL, &problem);
	if (answer == NULL)
		claude_problem_raise(&problem);
	root = cJSON_Parse(answer);
	status = root ? cJSON_GetObjectItemCaseSensitive(root, "status") : NULL;
	message = root ? cJSON_GetObjectItemCaseSensitive(root, "message") : NULL;
	s = cJSON_IsString(status) ? status->valuestring : "";
	if (strcmp(s, "InProgress") == 0)
		phase = "in_progress";
	else if (strcmp(s, "Stopping") == 0)
		phase = "stopping";
	else if (strcmp(s, "Completed") == 0 || strcmp(s, "PartiallyCompleted") == 0 ||
			 strcmp(s, "Stopped") == 0 || strcmp(s, "Failed") == 0 || strcmp(s, "Expired") == 0)
		phase = "downloading";
	else
		phase = strcmp(p->phase, "stopping") == 0 ? "stopping" : "submitted";	/* Submitted, Validating, Scheduled */
	claude_work_begin();
	set_part(job, p, phase, NULL, s[0] ? s : NULL,
			 cJSON_IsString(message) ? message->valuestring : NULL);
	claude_work_end();
	cJSON_Delete(root);
}

/* StopModelInvocationJob: a cancelled job keeps what its AWS job finished. */
static void
stop(Job *job, BatchPart *p)
{
	ClaudeProblem problem = {0};

	if (claude_bedrock_control_post("StopModelInvocationJob", job_path(p, "/stop"), "{}", &problem) == NULL)
		ereport(LOG, (errmsg("pg_claude worker: job " INT64_FORMAT ": could not stop %s: %s",
							 job->id, p->job_arn, problem.message)));
	claude_work_begin();
	set_part(job, p, "stopping", NULL, NULL, "stopped by claude_job_cancel");
	claude_work_end();
}

/* ---- the Anthropic API's Message Batches (doc/batch.md) ---- */

/* The API's time stamps ("2026-12-04T09:07:12.123456Z") in seconds since the epoch, or 0. */
static double
api_time(const cJSON *v)
{
	struct tm	tm = {0};

	if (!cJSON_IsString(v) ||
		sscanf(v->valuestring, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (double) timegm(&tm);
}

static long
count_of(const cJSON *counts, const char *name)
{
	const cJSON *v = counts ? cJSON_GetObjectItemCaseSensitive(counts, name) : NULL;

	return cJSON_IsNumber(v) ? (long) v->valuedouble : 0;
}

/* A MessageBatch's processing_status and request counts, recorded; the phase they mean. */
static void
record_batch(Job *job, BatchPart *p, const cJSON *batch, const char *id, const char *note)
{
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(batch, "processing_status");
	const cJSON *counts = cJSON_GetObjectItemCaseSensitive(batch, "request_counts");
	const char *s = cJSON_IsString(status) ? status->valuestring : "";
	const char *phase;

	if (strcmp(s, "ended") == 0)
		phase = "downloading";
	else if (strcmp(s, "canceling") == 0 || strcmp(p->phase, "stopping") == 0)
		phase = "stopping";
	else
		phase = strcmp(p->phase, "submitting") == 0 || strcmp(p->phase, "built") == 0 ?
			"submitted" : "in_progress";
	claude_work_begin();
	set_part(job, p, phase, id, s[0] ? s : NULL,
			 psprintf("%s%sprocessing %ld, succeeded %ld, errored %ld, canceled %ld, expired %ld",
					  note ? note : "", note ? "; " : "",
					  count_of(counts, "processing"), count_of(counts, "succeeded"),
					  count_of(counts, "errored"), count_of(counts, "canceled"),
					  count_of(counts, "expired")));
	claude_work_end();
}

static cJSON *
parse_answer(const char *answer, const char *operation)
{
	cJSON	   *root = answer ? cJSON_Parse(answer) : NULL;

	if (root == NULL || !cJSON_IsObject(root))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("the Anthropic API answered %s with a body that is not a JSON object", operation)));
	return root;
}

/*
 * The create: the part is marked 'submitting' (committed) first, so that
 * a crash or a lost answer from here on is looked for, never sent again
 * blindly (adopt_batch).  Each request is the body the on-demand path
 * would have sent, its custom_id the record's id.
 */
static void
submit_batch(Job *job, BatchPart *p)
{
	StringInfoData body;
	ClaudeProblem problem = {0};
	bool		maybe_made;
	char	   *answer;
	cJSON	   *root;
	const cJSON *id;

	set_activity(job, "submitting");
	initStringInfo(&body);
	appendStringInfoString(&body, "{\"requests\":[");
	append_records(job, p, &body);
	appendStringInfoString(&body, "]}");
	if (body.len > MESSAGE_BATCH_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a Message Batch of job " INT64_FORMAT " would be %d bytes, over the Anthropic API's 256 MB",
						job->id, body.len),
				 errdetail("Its part %d carries %d records.", p->part, p->records),
				 errhint("Lower claude.batch_max_records so that each batch is smaller, and queue the job again.")));
	ready(job);
	claude_work_begin();
	set_part(job, p, "submitting", NULL, NULL, NULL);
	claude_work_end();

	answer = claude_anthropic_batches_call("POST", CLAUDE_ANTHROPIC_BATCH_CREATE, "/v1/messages/batches",
										   body.data, &maybe_made, &problem);
	pfree(body.data);
	if (answer == NULL && maybe_made)
	{
		/* it may exist: looked for at the next round, as after a crash */
		ereport(LOG, (errmsg("pg_claude worker: job " INT64_FORMAT ": the create of a Message Batch may or may not have been made: %s",
							 job->id, problem.message)));
		claude_work_begin();
		set_part(job, p, NULL, NULL, NULL, psprintf("create unanswered (%s); looking for the batch", problem.message));
		claude_work_end();
		return;
	}
	if (answer == NULL)
	{
		/* certainly not made: the part can be sent again when the job is */
		claude_work_begin();
		set_part(job, p, "built", NULL, NULL, problem.message);
		claude_work_end();
		claude_problem_raise(&problem);
	}
	root = parse_answer(answer, CLAUDE_ANTHROPIC_BATCH_CREATE);
	id = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (!cJSON_IsString(id))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("the Anthropic API answered %s without a batch id", CLAUDE_ANTHROPIC_BATCH_CREATE)));
	record_batch(job, p, root, id->valuestring, NULL);
	cJSON_Delete(root);
}

/*
 * A part found 'submitting': its create may have made a batch.  Ours is
 * one the account's list (newest first) shows created since the mark
 * (less the clock slack) with as many requests as the part's records,
 * and that no part of any job has taken; the oldest such one.  Adopted,
 * true; false when there is none.
 */
static bool
adopt_batch(Job *job, BatchPart *p)
{
	List	   *taken = NIL;
	char	   *after = NULL;
	char	   *found = NULL;
	cJSON	   *found_batch = NULL;
	double		since = p->submitting_since - MESSAGE_BATCH_CLOCK_SLACK_S;

	claude_work_begin();
	claude_work_sql("SELECT job_arn FROM claude.batch_parts WHERE job_arn IS NOT NULL", 0, NULL, NULL, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
		taken = lappend(taken, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	claude_work_end();
	ready(job);

	/* at most 100 pages of 100: a part waits no longer than that for its mark */
	for (int page = 0; page < 100; page++)
	{
		ClaudeProblem problem = {0};
		char	   *answer = claude_anthropic_batches_call("GET", "ListMessageBatches",
														   psprintf("/v1/messages/batches?limit=100%s%s",
																	after ? "&after_id=" : "", after ? after : ""),
														   NULL, NULL, &problem);
		cJSON	   *root;
		const cJSON *data;
		const cJSON *b;
		const cJSON *more;
		const cJSON *last;
		bool		older = false;

		if (answer == NULL)
			claude_problem_raise(&problem);
		root = parse_answer(answer, "ListMessageBatches");
		data = cJSON_GetObjectItemCaseSensitive(root, "data");
		cJSON_ArrayForEach(b, data)
		{
			const cJSON *id = cJSON_GetObjectItemCaseSensitive(b, "id");
			const cJSON *counts = cJSON_GetObjectItemCaseSensitive(b, "request_counts");
			double		created = api_time(cJSON_GetObjectItemCaseSensitive(b, "created_at"));
			long		total = count_of(counts, "processing") + count_of(counts, "succeeded") +
				count_of(counts, "errored") + count_of(counts, "canceled") + count_of(counts, "expired");
			bool		is_taken = false;
			ListCell   *lc;

			if (created < since)
			{
				older = true;
				break;
			}
			if (!cJSON_IsString(id) || total != p->records)
				continue;
			foreach(lc, taken)
				if (strcmp((char *) lfirst(lc), id->valuestring) == 0)
				is_taken = true;
			if (is_taken)
				continue;
			/* newest first: the last one seen is the oldest */
			if (found_batch)
				cJSON_Delete(found_batch);
			found = pstrdup(id->valuestring);
			found_batch = cJSON_Duplicate(b, true);
		}
		more = cJSON_GetObjectItemCaseSensitive(root, "has_more");
		last = cJSON_GetObjectItemCaseSensitive(root, "last_id");
		after = cJSON_IsTrue(more) && cJSON_IsString(last) ? pstrdup(last->valuestring) : NULL;
		cJSON_Delete(root);
		if (older || after == NULL)
			break;
	}
	if (found == NULL)
		return false;
	ereport(LOG, (errmsg("pg_claude worker: job " INT64_FORMAT ": adopted Message Batch %s, made by a create whose answer was lost",
						 job->id, found)));
	record_batch(job, p, found_batch, found, "adopted after an interrupted create");
	cJSON_Delete(found_batch);
	return true;
}

/*
 * A part still 'submitting' at a later round: adopt its batch, or, when
 * there is none and the create can no longer be in flight (twice
 * claude.timeout since the mark), send it again.
 */
static void
recover_batch(Job *job, BatchPart *p)
{
	double		wait_s = 2.0 * claude_timeout_ms / 1000.0;

	if (adopt_batch(job, p))
		return;
	if ((double) time(NULL) < p->submitting_since + wait_s)
		return;					/* looked for again at the next round */
	ereport(LOG, (errmsg("pg_claude worker: job " INT64_FORMAT ": no Message Batch was made for part %d; sending it again",
						 job->id, p->part)));
	submit_batch(job, p);
}

static char *
batch_path(BatchPart *p, const char *suffix)
{
	return psprintf("/v1/messages/batches/%s%s", claude_uri_encode(p->job_arn, false), suffix);
}

static void
poll_batch(Job *job, BatchPart *p)
{
	ClaudeProblem problem = {0};
	char	   *answer;
	cJSON	   *root;

	ready(job);
	answer = claude_anthropic_batches_call("GET", "RetrieveMessageBatch", batch_path(p, ""), NULL, NULL, &problem);
	if (answer == NULL)
		claude_problem_raise(&problem);
	root = parse_answer(answer, "RetrieveMessageBatch");
	record_batch(job, p, root, NULL, NULL);
	cJSON_Delete(root);
}

/* A cancelled batch keeps what it finished (its results say which were canceled). */
static void
stop_batch(Job *job, BatchPart *p)
{
	ClaudeProblem problem = {0};

	ready(job);
	if (claude_anthropic_batches_call("POST", "CancelMessageBatch", batch_path(p, "/cancel"), "", NULL, &problem) == NULL)
		ereport(LOG, (errmsg("pg_claude worker: job " INT64_FORMAT ": could not cancel %s: %s",
							 job->id, p->job_arn, problem.message)));
	claude_work_begin();
	set_part(job, p, "stopping", NULL, NULL, "stopped by claude_job_cancel");
	claude_work_end();
}

/*
 * A results line in the shape of Bedrock's output records (write_chunk
 * reads those): succeeded, its message as modelOutput; errored, its error
 * type and message; canceled or expired, NULL (the record is owed, and
 * goes on demand unless the job was cancelled).
 */
static cJSON *
bedrock_shaped(cJSON *line)
{
	const cJSON *custom_id = cJSON_GetObjectItemCaseSensitive(line, "custom_id");
	const cJSON *result = cJSON_GetObjectItemCaseSensitive(line, "result");
	const cJSON *type = result ? cJSON_GetObjectItemCaseSensitive(result, "type") : NULL;
	cJSON	   *out;

	if (!cJSON_IsString(custom_id) || !cJSON_IsString(type))
		return NULL;
	if (strcmp(type->valuestring, "succeeded") != 0 && strcmp(type->valuestring, "errored") != 0)
		return NULL;
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "recordId", custom_id->valuestring);
	if (strcmp(type->valuestring, "succeeded") == 0)
	{
		cJSON	   *message = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(result, "message"), true);

		cJSON_AddItemToObject(out, "modelOutput", message ? message : cJSON_CreateNull());
	}
	else
	{
		/* {"type": "error", "error": {"type", "message"}} */
		const cJSON *outer = cJSON_GetObjectItemCaseSensitive(result, "error");
		const cJSON *inner = outer ? cJSON_GetObjectItemCaseSensitive(outer, "error") : NULL;
		const cJSON *t = inner ? cJSON_GetObjectItemCaseSensitive(inner, "type") : NULL;
		const cJSON *m = inner ? cJSON_GetObjectItemCaseSensitive(inner, "message") : NULL;
		cJSON	   *error = cJSON_AddObjectToObject(out, "error");

		cJSON_AddStringToObject(error, "errorCode", cJSON_IsString(t) ? t->valuestring : "api_error");
		cJSON_AddStringToObject(error, "errorMessage", cJSON_IsString(m) ? m->valuestring : "no message");
	}
	return out;
}

/* A record the part still owes: its number, key and input hash. */
typedef struct OwedRecord
{
	int			record;
	char	   *pk;
	char	   *input_sha256;
	bool		seen;
} OwedRecord;

static int
owed_cmp(const void *a, const void *b)
{
	int			x = ((const OwedRecord *) a)->record;
	int			y = ((const OwedRecord *) b)->record;

	return (x > y) - (x < y);
}

static long
usage_tokens(const cJSON *usage, const char *name)
{
	const cJSON *v = usage ? cJSON_GetObjectItemCaseSensitive(usage, name) : NULL;

	return cJSON_IsNumber(v) ? (long) v->valuedouble : 0;
}

/*
 * Write one chunk of output records, in one transaction: each result
 * through claude_job_write (as on demand), its claude.usage row at the
 * batch price (batch_job_arn set), and its record deleted.
 */
static void
write_chunk(Job *job, BatchPart *p, cJSON **lines, OwedRecord **owed, int n)
{
	WorkItem  **items = palloc0(sizeof(WorkItem *) * Max(n, 1));
	Datum	   *pks = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *records = palloc(sizeof(Datum) * Max(n, 1));
	int			nitems = 0;
	bool		anthropic = message_batches(job);
	const char *host = NULL;
	const char *geography = NULL;

	if (anthropic)
	{
		ClaudeResidencyVerdict v;

		/* where the batch was processed: the API's geography for the model (provider_anthropic.c) */
		claude_anthropic_judge(job->task.model, &v);
		host = claude_anthropic_host();
		geography = pstrdup(v.geography);
	}

	claude_work_begin();
	for (int i = 0; i < n; i++)
	{
		WorkItem   *it = palloc0(sizeof(WorkItem));
		const cJSON *output = cJSON_GetObjectItemCaseSensitive(lines[i], "modelOutput");
		const cJSON *error = cJSON_GetObjectItemCaseSensitive(lines[i], "error");
		const cJSON *usage = output ? cJSON_GetObjectItemCaseSensitive(output, "usage") : NULL;
		Oid			ut[14] = {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		uv[14];
		char		un[15] = "              ";
		bool		asked_again = false;

		it->pk_text = owed[i]->pk;
		it->pk = DirectFunctionCall1(jsonb_in, CStringGetDatum(owed[i]->pk));
		it->input_sha256 = owed[i]->input_sha256;
		it->input_tokens = usage_tokens(usage, "input_tokens");
		it->output_tokens = usage_tokens(usage, "output_tokens");
		if (cJSON_IsObject(output))
		{
			char	   *text = cJSON_PrintUnformatted(output);

			it->response = pstrdup(text);
			cJSON_free(text);
			it->answered = true;
			asked_again = !answer_item(job, it);
		}
		else
		{
			const cJSON *code = error ? cJSON_GetObjectItemCaseSensitive(error, "errorCode") : NULL;
			const cJSON *msg = error ? cJSON_GetObjectItemCaseSensitive(error, "errorMessage") : NULL;

			it->error_code = cJSON_IsString(code) ? pstrdup(code->valuestring) :
				cJSON_IsNumber(code) ? psprintf("%d", code->valueint) : pstrdup("BatchRecordError");
			it->error = psprintf("%s failed: %s (%s)",
								 anthropic ? "Anthropic Message Batch request" : "Bedrock batch record",
								 it->error_code, cJSON_IsString(msg) ? msg->valuestring : "no message");
		}

		/* paid for either way: one claude.usage row per record */
		uv[0] = CStringGetTextDatum(job->owner_name);
		uv[1] = CStringGetTextDatum(job->task.model);
		if (anthropic)
			un[2] = 'n';		/* no AWS region: the Anthropic API (claude.usage.region) */
		else
			uv[2] = CStringGetTextDatum(claude_region);
		uv[3] = Int64GetDatum(it->input_tokens);
		uv[4] = Int64GetDatum(it->output_tokens);
		uv[5] = Int64GetDatum(usage_tokens(usage, "cache_read_input_tokens"));
		uv[6] = Int64GetDatum(usage_tokens(usage, "cache_creation_input_tokens"));
		uv[7] = Int64GetDatum(job->id);
		uv[8] = CStringGetTextDatum(p->job_arn);
		if (it->error && !cJSON_IsObject(output))
			uv[9] = CStringGetTextDatum(it->error_code);
		else
			un[9] = 'n';
		uv[10] = CStringGetTextDatum(anthropic ? CLAUDE_PROVIDER_NAME_ANTHROPIC : CLAUDE_PROVIDER_NAME_BEDROCK);
		uv[11] = CStringGetTextDatum(anthropic ? CLAUDE_ANTHROPIC_BATCH_CREATE : "CreateModelInvocationJob");
		if (anthropic)
		{
			uv[12] = CStringGetTextDatum(host);
			uv[13] = CStringGetTextDatum(geography);
		}
		else
			un[12] = un[13] = 'n';
		claude_work_sql("INSERT INTO claude.usage (role_name, database_name, backend_pid, function_name, operation, "
			"model, region, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, retries, "
			"job_id, prompt_sha256, batch_job_arn, error_code, provider, endpoint_host, geography) "
			"VALUES ($1, pg_catalog.current_database(), pg_catalog.pg_backend_pid(), 'claude_enrich', "
			"$12, $2, $3, $4, $5, $6, $7, 0, $8, NULL, $9, $10, $11, $13, $14)",
			14, ut, uv, un);
		records[i] = Int32GetDatum(owed[i]->record);
		pks[i] = it->pk;
		if (!asked_again)
			items[nitems++] = it;
	}
	{
		Oid			types[3] = {INT8OID, JSONBARRAYOID, INT4ARRAYOID};
		Datum		values[3] = {Int64GetDatum(job->id),
			PointerGetDatum(construct_array(pks, n, JSONBOID, -1, false, TYPALIGN_INT)),
		PointerGetDatum(construct_array(records, n, INT4OID, 4, true, TYPALIGN_INT))};

		/* claude_job_write marks rows that are 'running', as a claim leaves them */
		claude_work_sql("UPDATE claude.job_items SET state = 'running', attempts = attempts OPERATOR(pg_catalog.+) 1, "
			"updated_at = pg_catalog.now() WHERE job_id OPERATOR(pg_catalog.=) $1 "
			"AND pk OPERATOR(pg_catalog.=) ANY ($2) AND state OPERATOR(pg_catalog.=) 'pending'",
			2, types, values, NULL);
		if (nitems > 0)
			claude_job_write(job, items, nitems);
		claude_work_sql("UPDATE claude.job_items SET state = 'pending' WHERE job_id OPERATOR(pg_catalog.=) $1 "
			"AND pk OPERATOR(pg_catalog.=) ANY ($2) AND state OPERATOR(pg_catalog.=) 'running'",
			2, types, values, NULL);
		claude_work_sql("DELETE FROM claude.batch_records WHERE job_id OPERATOR(pg_catalog.=) $1 "
			"AND record OPERATOR(pg_catalog.=) ANY ($3)", 3, types, values, NULL);
	}
	claude_work_end();
}

/*
 * Write what one output file (or a Message Batch's results) holds of the
 * records the part still owes, a chunk per transaction; lines written
 * before a crash, or not ours, are skipped.
 */
static void
consume(Job *job, BatchPart *p, char *data, OwedRecord *owed, int nowed)
{
	cJSON	  **lines = palloc(sizeof(cJSON *) * BATCH_CHUNK);
	OwedRecord **which = palloc(sizeof(OwedRecord *) * BATCH_CHUNK);
	bool		anthropic = message_batches(job);
	char		prefix[32];
	char	   *line;
	char	   *save = NULL;
	int			n = 0;

	snprintf(prefix, sizeof(prefix), "j" INT64_FORMAT "-r", job->id);
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		cJSON	   *rec = cJSON_Parse(line);
		const cJSON *id;
		OwedRecord	probe;
		OwedRecord *hit = NULL;

		if (rec && anthropic)
		{
			cJSON	   *shaped = bedrock_shaped(rec);

			cJSON_Delete(rec);
			rec = shaped;		/* NULL: canceled or expired, still owed */
		}
		id = rec ? cJSON_GetObjectItemCaseSensitive(rec, "recordId") : NULL;
		if (cJSON_IsString(id) && strncmp(id->valuestring, prefix, strlen(prefix)) == 0)
		{
			probe.record = atoi(id->valuestring + strlen(prefix));
			hit = bsearch(&probe, owed, nowed, sizeof(OwedRecord), owed_cmp);
		}
		if (hit == NULL || hit->seen)
		{
			cJSON_Delete(rec);	/* written before a crash, or not ours */
			continue;
		}
		hit->seen = true;
		lines[n] = rec;
		which[n++] = hit;
		if (n == BATCH_CHUNK)
		{
			write_chunk(job, p, lines, which, n);
			for (int i = 0; i < n; i++)
				cJSON_Delete(lines[i]);
			n = 0;
		}
	}
	if (n > 0)
		write_chunk(job, p, lines, which, n);
	for (int i = 0; i < n; i++)
		cJSON_Delete(lines[i]);
	pfree(lines);
	pfree(which);
}

/*
 * Read the part's output (every *.jsonl.out under its output URI, in no
 * particular order; a Message Batch's results) and write what the part
 * still owes; what the output lacks is left to the on-demand path.
 */
static void
download(Job *job, BatchPart *p)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(job->id), Int32GetDatum(p->part)};
	OwedRecord *owed;
	int			nowed;
	int			missing = 0;
	bool		cancelled;
	bool		failed = strcmp(p->aws_status ? p->aws_status : "", "Failed") == 0 ||
		strcmp(p->aws_status ? p->aws_status : "", "Expired") == 0;

	set_activity(job, "downloading");
	claude_work_begin();
	claude_work_sql("SELECT record, pk::pg_catalog.text, input_sha256 FROM claude.batch_records "
		"WHERE job_id OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $2 ORDER BY record",
		2, types, values, NULL);
	nowed = (int) SPI_processed;
	owed = palloc0(sizeof(OwedRecord) * Max(nowed, 1));
	for (int i = 0; i < nowed; i++)
	{
		owed[i].record = atoi(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		owed[i].pk = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		owed[i].input_sha256 = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
	}
	claude_work_end();

	ready(job);
	if (nowed > 0 && message_batches(job))
	{
		ClaudeProblem problem = {0};
		char	   *data = claude_anthropic_batches_call("GET", "MessageBatchResults", batch_path(p, "/results"),
														 NULL, NULL, &problem);

		if (data == NULL)
			claude_problem_raise(&problem);
		consume(job, p, data, owed, nowed);
		pfree(data);
	}
	else if (nowed > 0)
	{
		ClaudeS3Uri out;
		List	   *keys;
		ListCell   *lc;

		claude_s3_parse_uri(p->output_uri, &out);
		keys = claude_s3_list(&out);
		foreach(lc, keys)
		{
			const char *key = lfirst(lc);
			size_t		klen = strlen(key);
			ClaudeS3Uri obj = {out.bucket, (char *) key};
			size_t		len;
			char	   *data;

			if (klen < 10 || strcmp(key + klen - 10, ".jsonl.out") != 0)
				continue;		/* the manifest, and anything else */
			data = claude_s3_get(&obj, &len);
			consume(job, p, data, owed, nowed);
			pfree(data);
		}
	}
	for (int i = 0; i < nowed; i++)
		if (!owed[i].seen)
			missing++;

	/* what the output lacks goes on demand (or, for a failed AWS job, stays for a re-run) */
	claude_work_begin();
	claude_work_sql("DELETE FROM claude.batch_records WHERE job_id OPERATOR(pg_catalog.=) $1 "
		"AND part OPERATOR(pg_catalog.=) $2", 2, types, values, NULL);
	{
		Oid			t[3] = {INT8OID, INT4OID, INT4OID};
		Datum		v[3] = {values[0], values[1], Int32GetDatum(missing)};

		claude_work_sql("UPDATE claude.batch_parts SET missing = $3 WHERE job_id OPERATOR(pg_catalog.=) $1 "
			"AND part OPERATOR(pg_catalog.=) $2", 3, t, v, NULL);
	}
	set_part(job, p, "done", NULL, NULL, NULL);
	cancelled = strcmp(claude_job_state(job->id), "cancelled") == 0;
	if (failed)
		claude_job_fail(job, psprintf("ModelInvocationJob%s", p->aws_status),
						psprintf("Bedrock batch inference job %s ended %s; %d of its records had no result",
								 p->job_arn, p->aws_status, missing), NULL);
	claude_work_end();
	if (missing > 0)
		ereport(LOG, (errmsg("pg_claude worker: job " INT64_FORMAT ": %d records missing from the output of %s%s",
							 job->id, missing, p->job_arn,
							 cancelled ? ": left undone, the job was cancelled" : failed ? "" : ": sent on demand")));
}

static bool
part_in(const BatchPart *p, const char *a, const char *b, const char *c)
{
	return strcmp(p->phase, a) == 0 || (b && strcmp(p->phase, b) == 0) || (c && strcmp(p->phase, c) == 0);
}

bool
claude_batch_run(Job *job)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_claude batch", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	List	   *parts;
	ListCell   *lc;
	bool		carry_on = true;
	bool		anthropic = message_batches(job);

	claude_work_set_target(cxt);
	claude_work_begin();
	parts = read_parts(job);
	if (parts == NIL && strcmp(job->state, "cancelled") != 0 && decide(job))
		parts = read_parts(job);
	claude_work_end();

	if (parts != NIL && part_in(linitial(parts), "building", NULL, NULL) &&
		strcmp(job->state, "cancelled") != 0)
	{
		claude_work_set_target(NULL);
		build(job, parts);
		claude_work_set_target(cxt);
		claude_work_begin();
		parts = read_parts(job);
		claude_work_end();
	}

	for (;;)
	{
		char	   *state;
		bool		waiting = false;

		claude_work_begin();
		state = claude_job_state(job->id);
		claude_work_end();
		if (strcmp(state, "paused") == 0 || strcmp(state, "gone") == 0 ||
			(strcmp(state, "running") != 0 && strcmp(state, "cancelled") != 0))
		{
			carry_on = false;	/* paused: the AWS jobs go on; resumed, it polls them again */
			break;
		}
		foreach(lc, parts)
		{
			BatchPart  *p = lfirst(lc);

			CHECK_FOR_INTERRUPTS();
			if (strcmp(state, "cancelled") == 0)
			{
				carry_on = false;
				/* a create whose answer was lost may have made a batch: cancel that too */
				if (part_in(p, "building", "built", "uploaded") ||
					(part_in(p, "submitting", NULL, NULL) && !adopt_batch(job, p)))
				{
					claude_work_begin();
					set_part(job, p, "done", NULL, NULL, "cancelled before it was submitted");
					claude_work_end();
					continue;
				}
				if (part_in(p, "submitted", "in_progress", NULL))
					anthropic ? stop_batch(job, p) : stop(job, p);
			}
			if (part_in(p, "building", NULL, NULL))
				continue;		/* a pause came during the build: built when resumed */
			/* found so at the start of a round: a crash, or a create's answer lost */
			if (part_in(p, "submitting", NULL, NULL))
				recover_batch(job, p);
			else if (part_in(p, "built", NULL, NULL))
				anthropic ? submit_batch(job, p) : upload(job, p);
			if (part_in(p, "uploaded", NULL, NULL))
				submit(job, p);
			if (part_in(p, "submitted", "in_progress", "stopping"))
			{
				if (anthropic)
					poll_batch(job, p);
				else
				{
					ready(job);
					poll(job, p);
				}
			}
			if (part_in(p, "downloading", NULL, NULL))
				download(job, p);
			if (!part_in(p, "done", NULL, NULL))
				waiting = true;
		}
		if (!waiting)
			break;
		set_activity(job, anthropic ? "waiting for the Anthropic API" : "waiting for Bedrock");
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) claude_batch_poll_interval_s * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
	claude_work_set_target(NULL);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return carry_on;
}
