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

PG_FUNCTION_INFO_V1(claude_complete_batch);
PG_FUNCTION_INFO_V1(claude_classify_batch);
PG_FUNCTION_INFO_V1(claude_extract_batch);
PG_FUNCTION_INFO_V1(claude_sentiment_batch);
PG_FUNCTION_INFO_V1(claude_summarize_batch);

#define TOOL_ROUNDS 2

typedef enum BatchKind
{
	BATCH_COMPLETE,
	BATCH_SUMMARIZE,
	BATCH_CLASSIFY,
	BATCH_EXTRACT,
	BATCH_SENTIMENT
} BatchKind;

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
	BatchKind	kind;
	const char *function_name;
	char	   *model;
	int			n;
	BatchItem  *items;
	int			cursor;			/* pump: next item to consider */

	/* request shape */
	const char *system;
	int			max_tokens;
	bool		has_temperature;
	double		temperature;
	int			max_words;
	const char *tool_name;
	const char *tool_description;
	char	   *schema_text;
	cJSON	   *schema;
	bool		cache;
} Batch;

static bool
is_tool_kind(Batch *b)
{
	return b->kind == BATCH_CLASSIFY || b->kind == BATCH_EXTRACT || b->kind == BATCH_SENTIMENT;
}

static char *
build_body(Batch *b, BatchItem *it)
{
	if (b->kind == BATCH_COMPLETE || b->kind == BATCH_SUMMARIZE)
	{
		ClaudeMessageRequest msg = {0};

		msg.prompt = b->kind == BATCH_SUMMARIZE ?
			claude_summarize_prompt(it->input, b->max_words) : it->input;
		msg.system = b->system;
		msg.max_tokens = b->max_tokens;
		msg.has_temperature = b->has_temperature;
		msg.temperature = b->temperature;
		claude_check_context(strlen(msg.prompt) + (msg.system ? strlen(msg.system) : 0), msg.max_tokens);
		return claude_anthropic_build(&msg);
	}
	else
	{
		ClaudeToolRequest req = {0};

		req.system = it->why ?
			psprintf("%s\n\nYour previous answer was not acceptable: %s. Answer again by calling the %s "
					 "tool, using only allowed values.", b->system, it->why, b->tool_name) :
			b->system;
		req.prompt = it->input;
		req.tool_name = b->tool_name;
		req.tool_description = b->tool_description;
		req.input_schema = b->schema_text;
		req.max_tokens = b->max_tokens;
		req.has_temperature = true;
		req.temperature = b->has_temperature ? b->temperature : 0.0;
		req.cache = b->cache && it->why == NULL;
		claude_check_context(strlen(it->input) + strlen(req.system) + strlen(b->schema_text), req.max_tokens);
		return claude_anthropic_build_tool(&req);
	}
}

/*
 * Interpret a good answer: the result text, or (for tools) a refusal
 * that asks for another round.  Runs our own parsers only, so errors they
 * raise are caught without a subtransaction and become the row's error.
 */
static void
interpret(Batch *b, BatchItem *it, const char *json)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		ClaudeUsage usage;
		char	   *stop_reason;

		if (!is_tool_kind(b))
			it->result = claude_anthropic_response_text(json, &usage, &stop_reason);
		else
		{
			cJSON	   *input = claude_anthropic_tool_input(json, b->tool_name, &usage, &stop_reason);
			char	   *why = NULL;

			if (input == NULL)
				why = psprintf("the answer did not use the %s tool", b->tool_name);
			else if (!claude_schema_validate(b->schema, input, &why))
				;
			else if (b->kind == BATCH_CLASSIFY)
				it->result = pstrdup(cJSON_GetObjectItemCaseSensitive(input, "label")->valuestring);
			else if (b->kind == BATCH_SENTIMENT)
				it->result = psprintf("%.17g", cJSON_GetObjectItemCaseSensitive(input, "score")->valuedouble);
			else
				it->result = cJSON_PrintUnformatted(input);

			if (why != NULL)
			{
				it->why = why;
				if (it->rounds < TOOL_ROUNDS)
					it->send = true;	/* ask again */
				else
					it->error = psprintf(b->kind == BATCH_CLASSIFY ?
										 "Claude could not be made to answer with one of the labels: %s" :
										 b->kind == BATCH_SENTIMENT ?
										 "Claude could not be made to answer with a score in [-1, 1]: %s" :
										 "Claude's answer does not conform to the schema: %s", why);
			}
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
		it->error = claude_bedrock_error_text("InvokeModel", b->model, resp);
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
			it->body = build_body(b, it);
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
		if (claude_bedrock_prepare(&it->call, "InvokeModel", "invoke", b->model,
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
	for (round = 0; round < TOOL_ROUNDS; round++)
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
		if (!is_tool_kind(b))
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
	b->has_temperature = claude_guc_temperature(&b->temperature);
	b->cache = claude_model_supports_caching(b->model);
}

/* claude_complete_batch(prompts text[], system, model, max_tokens, temperature) */
Datum
claude_complete_batch(PG_FUNCTION_ARGS)
{
	Batch		b;

	memset(&b, 0, sizeof(b));
	b.kind = BATCH_COMPLETE;
	b.function_name = "claude_complete_batch";
	batch_items(&b, fcinfo);
	b.system = claude_text_arg(fcinfo, 1);
	b.model = claude_model_arg(fcinfo, 2);
	b.max_tokens = claude_max_tokens_arg(fcinfo, 3);
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
	{
		b.temperature = PG_GETARG_FLOAT8(4);
		if (!(b.temperature >= 0.0 && b.temperature <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("temperature must be between 0 and 1")));
		b.has_temperature = true;
	}
	else
		b.has_temperature = claude_guc_temperature(&b.temperature);
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
				 errmsg("labels must not be NULL")));
	memset(&b, 0, sizeof(b));
	b.kind = BATCH_CLASSIFY;
	b.function_name = "claude_classify_batch";
	claude_classify_labels(PG_GETARG_ARRAYTYPE_P(1), &nlabels, &labels, &descriptions);
	batch_items(&b, fcinfo);
	b.model = claude_model_arg(fcinfo, 3);
	b.system = claude_classify_system(nlabels, labels, descriptions, claude_text_arg(fcinfo, 2), false);
	b.schema_text = claude_classify_schema(nlabels, labels, false);
	b.schema = cJSON_Parse(b.schema_text);
	b.tool_name = "classify";
	b.tool_description = "Record the one label that best fits the text.";
	b.max_tokens = 256 + 16 * nlabels;
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
				 errmsg("schema must not be NULL")));
	memset(&b, 0, sizeof(b));
	b.kind = BATCH_EXTRACT;
	b.function_name = "claude_extract_batch";
	schema = PG_GETARG_JSONB_P(1);
	b.schema_text = JsonbToCString(NULL, &schema->root, VARSIZE(schema));
	b.schema = cJSON_Parse(b.schema_text);
	if (!claude_schema_check(b.schema, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid extraction schema: %s", why)));
	batch_items(&b, fcinfo);
	b.model = claude_model_arg(fcinfo, 3);
	b.system = claude_extract_system(claude_text_arg(fcinfo, 2));
	b.tool_name = "extract";
	b.tool_description = "Record the information extracted from the text.";
	b.max_tokens = claude_max_tokens;
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
	b.kind = BATCH_SENTIMENT;
	b.function_name = "claude_sentiment_batch";
	batch_items(&b, fcinfo);
	b.model = claude_model_arg(fcinfo, 1);
	b.system = claude_sentiment_system();
	b.schema_text = pstrdup(claude_sentiment_schema());
	b.schema = cJSON_Parse(b.schema_text);
	b.tool_name = "sentiment";
	b.tool_description = "Record the sentiment score of the text.";
	b.max_tokens = 128;
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
	b.kind = BATCH_SUMMARIZE;
	b.function_name = "claude_summarize_batch";
	b.max_words = PG_ARGISNULL(1) ? 50 : PG_GETARG_INT32(1);
	if (b.max_words < 1 || b.max_words > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_words must be between 1 and 10000")));
	batch_items(&b, fcinfo);
	b.model = claude_model_arg(fcinfo, 2);
	b.system = claude_summarize_system();
	b.max_tokens = claude_summary_max_tokens(b.max_words);
	b.has_temperature = claude_guc_temperature(&b.temperature);
	run_batch(&b);
	emit(fcinfo, &b, TEXTOID);
	return (Datum) 0;
}
