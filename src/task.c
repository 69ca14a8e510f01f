/*-------------------------------------------------------------------------
 *
 * task.c
 *	  One kind of work: the request body for an input, and the result of
 *	  an answer.  Shared by the batch functions and the worker's jobs, so
 *	  a row enriched overnight gets exactly the request its scalar form
 *	  would have sent.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "anthropic.h"
#include "call.h"
#include "functions.h"
#include "guc.h"
#include "jsonschema.h"
#include "task.h"

bool
claude_task_uses_tool(const ClaudeTask *t)
{
	return t->kind == TASK_CLASSIFY || t->kind == TASK_EXTRACT || t->kind == TASK_SENTIMENT;
}

char *
claude_task_body(const ClaudeTask *t, const char *input, const char *why)
{
	if (!claude_task_uses_tool(t))
	{
		ClaudeMessageRequest msg = {0};

		msg.prompt = t->kind == TASK_SUMMARIZE ? claude_summarize_prompt(input, t->max_words) : input;
		msg.system = t->system;
		msg.max_tokens = t->max_tokens;
		msg.has_temperature = t->has_temperature;
		msg.temperature = t->temperature;
		claude_check_context(strlen(msg.prompt) + (msg.system ? strlen(msg.system) : 0), msg.max_tokens);
		return claude_anthropic_build(&msg);
	}
	else
	{
		ClaudeToolRequest req = {0};

		req.system = why ?
			psprintf("%s\n\nYour previous answer was not acceptable: %s. Answer again by calling the %s "
					 "tool, using only allowed values.", t->system, why, t->tool_name) :
			t->system;
		req.prompt = input;
		req.tool_name = t->tool_name;
		req.tool_description = t->tool_description;
		req.input_schema = t->schema_text;
		req.max_tokens = t->max_tokens;
		req.has_temperature = true;
		req.temperature = t->has_temperature ? t->temperature : 0.0;
		req.cache = t->cache && why == NULL;
		claude_check_context(strlen(input) + strlen(req.system) + strlen(t->schema_text), req.max_tokens);
		return claude_anthropic_build_tool(&req);
	}
}

void
claude_task_interpret(const ClaudeTask *t, const char *json, char **result, char **why, char **error)
{
	MemoryContext cxt = CurrentMemoryContext;

	*result = *why = *error = NULL;

	/* our own parsers only: what they raise is caught without a subtransaction */
	PG_TRY();
	{
		ClaudeUsage usage;
		char	   *stop_reason;

		if (!claude_task_uses_tool(t))
			*result = claude_anthropic_response_text(json, &usage, &stop_reason);
		else
		{
			cJSON	   *input = claude_anthropic_tool_input(json, t->tool_name, &usage, &stop_reason);
			char	   *reason = NULL;

			if (input == NULL)
				reason = psprintf("the answer did not use the %s tool", t->tool_name);
			else if (!claude_schema_validate(t->schema, input, &reason))
				;
			else if (t->kind == TASK_CLASSIFY)
				*result = pstrdup(cJSON_GetObjectItemCaseSensitive(input, "label")->valuestring);
			else if (t->kind == TASK_SENTIMENT)
				*result = psprintf("%.17g", cJSON_GetObjectItemCaseSensitive(input, "score")->valuedouble);
			else
				*result = cJSON_PrintUnformatted(input);
			*why = reason;
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		*error = pstrdup(edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

char *
claude_task_refusal(const ClaudeTask *t, const char *why)
{
	return psprintf(t->kind == TASK_CLASSIFY ?
					"Claude could not be made to answer with one of the labels: %s" :
					t->kind == TASK_SENTIMENT ?
					"Claude could not be made to answer with a score in [-1, 1]: %s" :
					"Claude's answer does not conform to the schema: %s", why);
}

static const cJSON *
option(const cJSON *opts, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(opts, name);
}

static const char *
string_option(const cJSON *opts, const char *name)
{
	const cJSON *v = option(opts, name);

	if (v == NULL || cJSON_IsNull(v))
		return NULL;
	if (!cJSON_IsString(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a string", name)));
	return pstrdup(v->valuestring);
}

void
claude_task_from_options(ClaudeTask *t, const char *task, const char *options_json)
{
	cJSON	   *opts = cJSON_Parse(options_json);
	const char *instructions;
	const cJSON *v;

	if (!cJSON_IsObject(opts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object")));
	memset(t, 0, sizeof(*t));
	t->model = (char *) string_option(opts, "model");
	if (t->model == NULL)
		t->model = pstrdup(claude_model);
	instructions = string_option(opts, "instructions");
	t->has_temperature = claude_guc_temperature(&t->temperature);
	t->cache = claude_model_supports_caching(t->model);
	t->max_tokens = claude_max_tokens;

	if (strcmp(task, "complete") == 0)
	{
		t->kind = TASK_COMPLETE;
		t->system = string_option(opts, "system");
	}
	else if (strcmp(task, "summarize") == 0)
	{
		t->kind = TASK_SUMMARIZE;
		v = option(opts, "max_words");
		t->max_words = 50;
		if (v != NULL)
		{
			if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 10000)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"max_words\" must be a number between 1 and 10000")));
			t->max_words = (int) v->valuedouble;
		}
		t->system = claude_summarize_system();
		t->max_tokens = claude_summary_max_tokens(t->max_words);
	}
	else if (strcmp(task, "classify") == 0)
	{
		const cJSON *labels = option(opts, "labels");
		const cJSON *l;
		char	  **names;
		char	  **descs;
		int			n = 0;
		int			j;

		if (!cJSON_IsArray(labels) || cJSON_GetArraySize(labels) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("task \"classify\" needs option \"labels\": a non-empty array of strings")));
		names = palloc0(sizeof(char *) * cJSON_GetArraySize(labels));
		descs = palloc0(sizeof(char *) * cJSON_GetArraySize(labels));
		cJSON_ArrayForEach(l, labels)
		{
			if (!cJSON_IsString(l) || l->valuestring[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("labels must be non-empty strings")));
			for (j = 0; j < n; j++)
				if (strcmp(names[j], l->valuestring) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("duplicate label \"%s\"", l->valuestring)));
			names[n++] = pstrdup(l->valuestring);
		}
		t->kind = TASK_CLASSIFY;
		t->system = claude_classify_system(n, names, descs, instructions, false);
		t->schema_text = claude_classify_schema(n, names, false);
		t->tool_name = "classify";
		t->tool_description = CLAUDE_TOOL_CLASSIFY_DESCRIPTION;
		t->max_tokens = 256 + 16 * n;
	}
	else if (strcmp(task, "extract") == 0)
	{
		const cJSON *schema = option(opts, "schema");
		char	   *why;

		if (schema == NULL || !claude_schema_check(schema, &why))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("task \"extract\" needs option \"schema\": a JSON Schema for an object")));
		t->kind = TASK_EXTRACT;
		t->system = claude_extract_system(instructions);
		t->schema_text = cJSON_PrintUnformatted(schema);
		t->tool_name = "extract";
		t->tool_description = CLAUDE_TOOL_EXTRACT_DESCRIPTION;
	}
	else if (strcmp(task, "sentiment") == 0)
	{
		t->kind = TASK_SENTIMENT;
		t->system = claude_sentiment_system();
		t->schema_text = pstrdup(claude_sentiment_schema());
		t->tool_name = "sentiment";
		t->tool_description = CLAUDE_TOOL_SENTIMENT_DESCRIPTION;
		t->max_tokens = 128;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown task \"%s\"", task)));
	if (t->schema_text)
		t->schema = cJSON_Parse(t->schema_text);
}
