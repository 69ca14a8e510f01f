/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  Set-based forms: claude_complete_batch, claude_classify_batch,
 *	  claude_extract_batch, claude_sentiment_batch, claude_summarize_batch.
 *
 * One statement, many requests in flight: every element is prepared as
 * its scalar form would be (residency, cache, the same request body), then
 * all that need Bedrock go through one pump with up to
 * claude.max_concurrency in flight, the same retries, audit and cache.
 * Each element's outcome is a row (ord, result, error): one failure is
 * its row's error, not an aborted statement.  A tool answer that does not
 * validate is asked for again in a second round, with the reason.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "anthropic.h"
#include "audit.h"
#include "bedrock.h"
#include "call.h"
#include "functions.h"
#include "guc.h"
#include "jsonschema.h"
#include "task.h"

PG_FUNCTION_INFO_V1(claude_complete_batch);
PG_FUNCTION_INFO_V1(claude_classify_batch);
PG_FUNCTION_INFO_V1(claude_extract_batch);
PG_FUNCTION_INFO_V1(claude_sentiment_batch);
PG_FUNCTION_INFO_V1(claude_summarize_batch);

typedef struct BatchItem
{
	char	   *input;			/* NULL for a NULL element */
	ClaudeBedrockCall call;
	char	   *body;
	bool		send;			/* to be sent this round */
	bool		finished;
	int			rounds;
	char	   *why;			/* why the last tool answer was refused */
	char	   *result;			/* text form of the result */
	char	   *error;
} BatchItem;

typedef struct Batch
{
	ClaudeTask	task;
	const char *function_name;
	int			n;
	BatchItem  *items;
	int			cursor;			/* pump: next item to consider */
} Batch;

/* An answer: a result, another round, or the row's error. */
static void
interpret(Batch *b, BatchItem *it, const char *json)
{
	char	   *why;

	claude_task_interpret(&b->task, json, &it->result, &why, &it->error);
	if (why != NULL)
	{
		it->why = why;
		if (it->rounds < CLAUDE_TASK_ROUNDS)
			it->send = true;	/* ask again, saying why */
		else
			it->error = claude_task_refusal(&b->task, why);
	}
	if (!it->send)
		it->finished = true;
}

static bool
batch_next(void *arg, ClaudeHttpRequest **req, void **tag)
{
	Batch	   *b = (Batch *) arg;

	while (b->cursor < b->n)
	{
		BatchItem  *it = &b->items[b->cursor++];

		if (it->send)
		{
			it->send = false;
			*req = &it->call.req;
			*tag = it;
			return true;
		}
	}
	return false;
}

static void
batch_done(void *arg, void *tag, ClaudeHttpResponse *resp)
{
	Batch	   *b = (Batch *) arg;
	BatchItem  *it = (BatchItem *) tag;

	if (!claude_bedrock_ok(resp))
	{
		it->error = claude_bedrock_error_text("InvokeModel", b->task.model, resp);
		it->finished = true;
		return;
	}
	claude_bedrock_finish(&it->call, resp);
	interpret(b, it, resp->body);
}

/* Prepare every unfinished item that needs a request; answer cache hits. */
static int
prepare_round(Batch *b)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			i;
	int			to_send = 0;

	for (i = 0; i < b->n; i++)
	{
		BatchItem  *it = &b->items[i];

		if (it->finished || it->input == NULL)
			continue;
		if (it->rounds > 0 && !it->send)
			continue;
		it->send = false;
		it->rounds++;
		PG_TRY();
		{
			it->body = claude_task_body(&b->task, it->input, it->why);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			it->error = pstrdup(edata->message);
			it->finished = true;
			FreeErrorData(edata);
		}
		PG_END_TRY();
		if (it->finished)
			continue;

		/* residency refusals raise: they are the statement's, not a row's */
		if (claude_bedrock_prepare(&it->call, "InvokeModel", "invoke", b->task.model,
								   it->body, strlen(it->body), it->input))
		{
			interpret(b, it, it->call.resp.body);
			continue;
		}
		it->send = true;
		to_send++;
	}
	return to_send;
}

static void
run_batch(Batch *b)
{
	int			round;

	claude_current_function = b->function_name;
	claude_current_input = NULL;
	for (round = 0; round < CLAUDE_TASK_ROUNDS; round++)
	{
		ClaudeHttpPump pump;

		if (prepare_round(b) == 0)
			break;
		b->cursor = 0;
		pump.concurrency = claude_max_concurrency;
		pump.next = batch_next;
		pump.done = batch_done;
		pump.arg = b;
		claude_http_pump(&pump);
		if (!claude_task_uses_tool(&b->task))
			break;
	}
}

/* Rows (ord, result, error) in input order. */
static void
emit(FunctionCallInfo fcinfo, Batch *b, Oid result_type)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < b->n; i++)
	{
		BatchItem  *it = &b->items[i];
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(i + 1);
		if (it->result == NULL || it->error != NULL)
			nulls[1] = true;
		else if (result_type == JSONBOID)
			values[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(it->result));
		else if (result_type == FLOAT8OID)
			values[1] = DirectFunctionCall1(float8in, CStringGetDatum(it->result));
		else
			values[1] = CStringGetTextDatum(it->result);
		if (it->error)
			values[2] = CStringGetTextDatum(it->error);
		else
			nulls[2] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* Items from a text[]; NULL elements stay NULL (no request, NULL result). */
static void
batch_items(Batch *b, FunctionCallInfo fcinfo)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			i;

	if (PG_ARGISNULL(0))
	{
		b->n = 0;
		b->items = NULL;
		return;
	}
	arr = PG_GETARG_ARRAYTYPE_P(0);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &b->n);
	b->items = palloc0(sizeof(BatchItem) * Max(b->n, 1));
	for (i = 0; i < b->n; i++)
	{
		if (nulls[i])
			continue;
		b->items[i].input = TextDatumGetCString(elems[i]);
		if (b->items[i].input[strspn(b->items[i].input, " \t\r\n")] == '\0')
		{
			b->items[i].error = pstrdup("input must not be empty");
			b->items[i].finished = true;
		}
	}
}

static void
tool_defaults(Batch *b)
{
	b->task.has_temperature = claude_guc_temperature(&b->task.temperature);
	b->task.cache = claude_model_supports_caching(b->task.model);
}

/* claude_complete_batch(prompts text[], system, model, max_tokens, temperature) */
Datum
claude_complete_batch(PG_FUNCTION_ARGS)
{
	Batch		b;

	memset(&b, 0, sizeof(b));
	b.task.kind = TASK_COMPLETE;
	b.function_name = "claude_complete_batch";
	batch_items(&b, fcinfo);
	b.task.system = claude_text_arg(fcinfo, 1);
	b.task.model = claude_model_arg(fcinfo, 2);
	b.task.max_tokens = claude_max_tokens_arg(fcinfo, 3, b.task.model);
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
	{
		b.task.temperature = PG_GETARG_FLOAT8(4);
		if (!(b.task.temperature >= 0.0 && b.task.temperature <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("temperature must be between 0 and 1")));
		b.task.has_temperature = true;
	}
	else
		b.task.has_temperature = claude_guc_temperature(&b.task.temperature);
	run_batch(&b);
	emit(fcinfo, &b, TEXTOID);
	return (Datum) 0;
}

/* claude_classify_batch(inputs text[], labels text[], instructions, model) */
Datum
claude_classify_batch(PG_FUNCTION_ARGS)
{
	Batch		b;
	int			nlabels;
	char	  **labels;
	char	  **descriptions;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("labels must not be NULL"),
				 errhint("Pass the labels to choose from, e.g. ARRAY['billing', 'bug'].")));
	memset(&b, 0, sizeof(b));
	b.task.kind = TASK_CLASSIFY;
	b.function_name = "claude_classify_batch";
	claude_classify_labels(PG_GETARG_ARRAYTYPE_P(1), &nlabels, &labels, &descriptions);
	batch_items(&b, fcinfo);
	b.task.model = claude_model_arg(fcinfo, 3);
	b.task.system = claude_classify_system(nlabels, labels, descriptions, claude_text_arg(fcinfo, 2), false);
	b.task.schema_text = claude_classify_schema(nlabels, labels, false);
	b.task.schema = cJSON_Parse(b.task.schema_text);
	b.task.tool_name = "classify";
	b.task.tool_description = CLAUDE_TOOL_CLASSIFY_DESCRIPTION;
	b.task.max_tokens = 256 + 16 * nlabels;
	tool_defaults(&b);
	run_batch(&b);
	emit(fcinfo, &b, TEXTOID);
	return (Datum) 0;
}

/* claude_extract_batch(inputs text[], schema jsonb, instructions, model) */
Datum
claude_extract_batch(PG_FUNCTION_ARGS)
{
	Batch		b;
	Jsonb	   *schema;
	char	   *why;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schema must not be NULL"),
				 errhint("Pass a JSON Schema of type object, e.g. '{\"type\": \"object\", \"properties\": {...}}'.")));
	memset(&b, 0, sizeof(b));
	b.task.kind = TASK_EXTRACT;
	b.function_name = "claude_extract_batch";
	schema = PG_GETARG_JSONB_P(1);
	b.task.schema_text = JsonbToCString(NULL, &schema->root, VARSIZE(schema));
	b.task.schema = cJSON_Parse(b.task.schema_text);
	if (!claude_schema_check(b.task.schema, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid extraction schema: %s", why)));
	batch_items(&b, fcinfo);
	b.task.model = claude_model_arg(fcinfo, 3);
	b.task.system = claude_extract_system(claude_text_arg(fcinfo, 2));
	b.task.tool_name = "extract";
	b.task.tool_description = CLAUDE_TOOL_EXTRACT_DESCRIPTION;
	b.task.max_tokens = claude_max_tokens;
	tool_defaults(&b);
	run_batch(&b);
	emit(fcinfo, &b, JSONBOID);
	return (Datum) 0;
}

/* claude_sentiment_batch(inputs text[], model) */
Datum
claude_sentiment_batch(PG_FUNCTION_ARGS)
{
	Batch		b;

	memset(&b, 0, sizeof(b));
	b.task.kind = TASK_SENTIMENT;
	b.function_name = "claude_sentiment_batch";
	batch_items(&b, fcinfo);
	b.task.model = claude_model_arg(fcinfo, 1);
	b.task.system = claude_sentiment_system();
	b.task.schema_text = pstrdup(claude_sentiment_schema());
	b.task.schema = cJSON_Parse(b.task.schema_text);
	b.task.tool_name = "sentiment";
	b.task.tool_description = CLAUDE_TOOL_SENTIMENT_DESCRIPTION;
	b.task.max_tokens = 128;
	tool_defaults(&b);
	run_batch(&b);
	emit(fcinfo, &b, FLOAT8OID);
	return (Datum) 0;
}

/* claude_summarize_batch(inputs text[], max_words, model) */
Datum
claude_summarize_batch(PG_FUNCTION_ARGS)
{
	Batch		b;

	memset(&b, 0, sizeof(b));
	b.task.kind = TASK_SUMMARIZE;
	b.function_name = "claude_summarize_batch";
	b.task.max_words = PG_ARGISNULL(1) ? 50 : PG_GETARG_INT32(1);
	if (b.task.max_words < 1 || b.task.max_words > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_words must be between 1 and 10000")));
	batch_items(&b, fcinfo);
	b.task.model = claude_model_arg(fcinfo, 2);
	b.task.system = claude_summarize_system();
	b.task.max_tokens = claude_summary_max_tokens(b.task.max_words);
	b.task.has_temperature = claude_guc_temperature(&b.task.temperature);
	run_batch(&b);
	emit(fcinfo, &b, TEXTOID);
	return (Datum) 0;
}
