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
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "anthropic.h"
#include "audit.h"
#include "bedrock.h"
#include "call.h"
#include "guc.h"
#include "jobs.h"
#include "residency.h"

PG_FUNCTION_INFO_V1(claude_complete_async);
PG_FUNCTION_INFO_V1(claude_enrich);
PG_FUNCTION_INFO_V1(claude_job_resume);
PG_FUNCTION_INFO_V1(claude_job_cancel);
PG_FUNCTION_INFO_V1(claude_job_pause);
PG_FUNCTION_INFO_V1(claude_job_wait);

static bool wake_at_commit = false;
static bool xact_callback_registered = false;

static void
wake_worker_at_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit)
		claude_jobs_wake_worker();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		wake_at_commit = false;
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
	if (!xact_callback_registered)
	{
		RegisterXactCallback(wake_worker_at_commit, NULL);
		xact_callback_registered = true;
	}
	wake_at_commit = true;
}

/* Run SQL with arguments as the bootstrap superuser; one result value. */
static Datum
spi_as_owner(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, bool *isnull)
{
	Oid			save_userid;
	int			save_sec;
	Datum		result = (Datum) 0;

	*isnull = true;
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 1);
		if (rc < 0)
			elog(ERROR, "pg_claude: %s failed: %s", sql, SPI_result_code_string(rc));
		if (SPI_processed > 0 && SPI_tuptable)
			result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
		if (!*isnull)
			result = SPI_datumTransfer(result, true, -1);
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	return result;
}

/* claude_complete_async(prompt, system, model, max_tokens, temperature) -> bigint */
Datum
claude_complete_async(PG_FUNCTION_ARGS)
{
	ClaudeMessageRequest msg = {0};
	char	   *model;
	char	   *body;
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	bool		isnull;
	Datum		id;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	require_worker("claude_complete_async");
	msg.prompt = text_to_cstring(PG_GETARG_TEXT_PP(0));
	msg.system = claude_text_arg(fcinfo, 1);
	model = claude_model_arg(fcinfo, 2);
	msg.max_tokens = claude_max_tokens_arg(fcinfo, 3, model);
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
	{
		msg.temperature = PG_GETARG_FLOAT8(4);
		if (!(msg.temperature >= 0.0 && msg.temperature <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("temperature must be between 0 and 1")));
		msg.has_temperature = true;
	}
	else
		msg.has_temperature = claude_guc_temperature(&msg.temperature);
	claude_check_context(strlen(msg.prompt) + (msg.system ? strlen(msg.system) : 0), msg.max_tokens);

	/* refused now, under the caller's settings, rather than later by the worker */
	claude_bedrock_check_residency(model);

	body = claude_anthropic_build(&msg);
	values[0] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	values[1] = CStringGetTextDatum(model);
	values[2] = CStringGetTextDatum(body);
	values[3] = CStringGetTextDatum(msg.prompt);
	id = spi_as_owner("INSERT INTO claude.requests (role_name, model, body, prompt) VALUES ($1, $2, $3, $4) "
					  "RETURNING id", 4, types, values, NULL, &isnull);
	PG_RETURN_DATUM(id);
}

static const char *const tasks[] = {"complete", "classify", "summarize", "extract", "sentiment"};

/*
 * claude_enrich(source regclass, input text, output text, task text,
 *				 options jsonb) -> bigint
 */
Datum
claude_enrich(PG_FUNCTION_ARGS)
{
	Oid			source;
	char	   *input;
	char	   *output;
	char	   *task;
	char	   *options;
	Relation	rel;
	AttrNumber	attno = InvalidAttrNumber;
	bool		task_ok = false;
	int			i;
	Oid			types[7] = {TEXTOID, OIDOID, TEXTOID, NAMEOID, TEXTOID, JSONBOID, OIDOID};
	Datum		values[7];
	char		nulls[8] = "       ";
	Oid			into_table = InvalidOid;
	bool		isnull;
	Datum		id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source, input, output and task must not be NULL")));
	require_worker("claude_enrich");
	source = PG_GETARG_OID(0);
	input = text_to_cstring(PG_GETARG_TEXT_PP(1));
	output = text_to_cstring(PG_GETARG_TEXT_PP(2));
	task = text_to_cstring(PG_GETARG_TEXT_PP(3));
	options = PG_ARGISNULL(4) ? "{}" :
		JsonbToCString(NULL, &PG_GETARG_JSONB_P(4)->root, VARSIZE(PG_GETARG_JSONB_P(4)));

	for (i = 0; i < (int) lengthof(tasks); i++)
		if (strcmp(task, tasks[i]) == 0)
			task_ok = true;
	if (!task_ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown task \"%s\"", task),
				 errhint("Use complete, classify, summarize, extract or sentiment.")));

	rel = relation_open(source, AccessShareLock);
	if (!OidIsValid(RelationGetPrimaryKeyIndex(rel)))
	{
		relation_close(rel, AccessShareLock);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table \"%s\" has no primary key", RelationGetRelationName(rel)),
				 errhint("claude_enrich writes each result beside its row, found by primary key.")));
	}
	relation_close(rel, AccessShareLock);

	claude_jobs_check_options(task, options);

	if (strcmp(claude_jobs_option(options, "into", "column"), "table") == 0)
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
		if (pg_class_aclcheck(source, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to read \"%s\"", get_rel_name(source))));
		into_table = claude_jobs_create_result_table(source, output, task,
													 claude_jobs_option(options, "table", NULL));
	}
	else
	{
		attno = get_attnum(source, output);
		if (attno == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist", output, get_rel_name(source)),
					 errhint("Add the output column first, e.g. ALTER TABLE %s ADD COLUMN %s text, "
							 "or pass '{\"into\": \"table\"}' for a result table.",
							 get_rel_name(source), output)));

		/* the job runs as its owner: check now that the owner may do it */
		if (pg_class_aclcheck(source, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
			(pg_class_aclcheck(source, GetUserId(), ACL_UPDATE) != ACLCHECK_OK &&
			 pg_attribute_aclcheck(source, attno, GetUserId(), ACL_UPDATE) != ACLCHECK_OK))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to read \"%s\" or update its column \"%s\"",
							get_rel_name(source), output)));
	}

	/* the input expression must be valid SQL over the source row */
	{
		char	   *probe = psprintf("SELECT (%s)::text FROM %s LIMIT 0", input,
									 quote_qualified_identifier(get_namespace_name(get_rel_namespace(source)),
																get_rel_name(source)));

		/* one expression, not a way to smuggle in more statements */
		if (list_length(pg_parse_query(probe)) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("input must be a single SQL expression over the row"),
					 errdetail("The input was: %s", input)));
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute(probe, true, 0) < 0)
			elog(ERROR, "could not check the input expression");
		SPI_finish();
	}

	values[0] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	values[1] = ObjectIdGetDatum(source);
	values[2] = CStringGetTextDatum(input);
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(output));
	values[4] = CStringGetTextDatum(task);
	values[5] = DirectFunctionCall1(jsonb_in, CStringGetDatum(options));
	values[6] = ObjectIdGetDatum(into_table);
	if (!OidIsValid(into_table))
		nulls[6] = 'n';
	id = spi_as_owner("INSERT INTO claude.job (role_name, source, input, output, task, options, into_table) "
					  "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id", 7, types, values, nulls, &isnull);
	PG_RETURN_DATUM(id);
}

/* Change a job's state, if it is the caller's (or the caller is a superuser). */
static bool
job_set_state(Datum job, const char *sql)
{
	Oid			types[3] = {INT8OID, TEXTOID, BOOLOID};
	Datum		values[3];
	bool		isnull;
	Datum		r;

	values[0] = job;
	values[1] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	values[2] = BoolGetDatum(superuser());
	r = spi_as_owner(sql, 3, types, values, NULL, &isnull);
	return !isnull && DatumGetBool(r);
}

/* claude_job_cancel(job bigint) -> boolean */
Datum
claude_job_cancel(PG_FUNCTION_ARGS)
{
	bool		ok = job_set_state(PG_GETARG_DATUM(0),
								   "UPDATE claude.job SET state = 'cancelled', finished_at = now() "
								   "WHERE id = $1 AND state IN ('queued', 'running', 'paused') "
								   "AND (role_name = $2 OR $3) RETURNING true");

	if (ok)
		claude_jobs_wake_worker();
	PG_RETURN_BOOL(ok);
}

/* claude_job_pause(job bigint) -> boolean */
Datum
claude_job_pause(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(job_set_state(PG_GETARG_DATUM(0),
								 "UPDATE claude.job SET state = 'paused' "
								 "WHERE id = $1 AND state IN ('queued', 'running') "
								 "AND (role_name = $2 OR $3) RETURNING true"));
}

/* claude_job_resume(job bigint) -> boolean */
Datum
claude_job_resume(PG_FUNCTION_ARGS)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	Datum		r;

	require_worker("claude_job_resume");
	(void) types;
	(void) values;
	(void) isnull;
	(void) r;
	PG_RETURN_BOOL(job_set_state(PG_GETARG_DATUM(0),
								 "UPDATE claude.job SET state = CASE WHEN started_at IS NULL THEN 'queued' "
								 "ELSE 'running' END WHERE id = $1 AND state = 'paused' "
								 "AND (role_name = $2 OR $3) RETURNING true"));
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
	Oid			types[1] = {INT8OID};
	Datum		values[1];
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

	values[0] = Int64GetDatum(job);
	for (;;)
	{
		bool		isnull;
		Datum		d;

		/* a fresh snapshot each time: the worker commits progress meanwhile */
		d = spi_as_owner("SELECT state FROM claude.job WHERE id = $1", 1, types, values, NULL, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("job " INT64_FORMAT " does not exist", job)));
		state = TextDatumGetCString(d);
		if (strcmp(state, "done") == 0 || strcmp(state, "failed") == 0 ||
			strcmp(state, "cancelled") == 0 || (!forever && GetCurrentTimestamp() >= deadline))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_TEXT_P(cstring_to_text(state));
}
