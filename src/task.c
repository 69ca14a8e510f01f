/*-------------------------------------------------------------------------
 *
 * task.c
 *	  What every task kind shares: the common options, the request body,
 *	  reading an answer, the re-ask and the refusal (the kinds themselves
 *	  are task_*.c, listed in task_table.c).  A row
 *	  enriched overnight gets exactly the request its scalar form would
 *	  have sent, because both run the same task value.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "anthropic.h"
#include "call.h"
#include "guc.h"
#include "jsonschema.h"
#include "task.h"

const char *
claude_task_string_option(const cJSON *options, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(options, name);

	if (v == NULL || cJSON_IsNull(v))
		return NULL;
	if (!cJSON_IsString(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a string", name)));
	return pstrdup(v->valuestring);
}

bool
claude_task_number_option(const cJSON *options, const char *name, double *value)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(options, name);

	if (v == NULL || cJSON_IsNull(v))
		return false;
	if (!cJSON_IsNumber(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a number", name)));
	*value = v->valuedouble;
	return true;
}

int
claude_task_max_tokens(const ClaudeTask *t, const cJSON *options)
{
	double		value;

	if (!claude_task_number_option(options, "max_tokens", &value))
		return claude_check_max_tokens(claude_max_tokens, true, t->model);
	/* beyond int: as refused as any other value the model cannot write */
	return claude_check_max_tokens(value > PG_INT32_MAX ? PG_INT32_MAX : value < 0 ? 0 : (int) value,
								   false, t->model);
}

void
claude_task_configure(ClaudeTask *t, const ClaudeTaskKind *kind, const cJSON *options)
{
	double		temperature;

	if (!cJSON_IsObject(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object")));
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->model = (char *) claude_task_string_option(options, "model");
	if (t->model == NULL)
		t->model = pstrdup(claude_model);
	else if (t->model[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model must not be empty"),
				 errhint("Pass NULL to use claude.model.")));
	if (claude_task_number_option(options, "temperature", &temperature))
	{
		if (!(temperature >= 0.0 && temperature <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("temperature must be between 0 and 1")));
		t->temperature = temperature;
		t->has_temperature = true;
	}
	else
		t->has_temperature = claude_guc_temperature(&t->temperature);
	t->cache = claude_model_supports_caching(t->model);
	t->result_type = TEXTOID;
	kind->configure(t, options);
	if (t->schema_text)
	{
		t->schema = cJSON_Parse(t->schema_text);
		t->tool_name = kind->name;
		/* a tool answer should not be creative: temperature 0 unless configured */
		if (!t->has_temperature)
			t->temperature = 0.0;
		t->has_temperature = true;
	}
}


bool
claude_task_build(const ClaudeTask *t, const char *input, const char *why, char **body,
				  ClaudeProblem *problem)
{
	const char *prompt;

	*body = NULL;
	if (input[strspn(input, " \t\r\n")] == '\0')
	{
		claude_problem(problem, ERRCODE_INVALID_PARAMETER_VALUE, "input must not be empty", NULL, NULL);
		return false;
	}
	prompt = t->kind->prompt ? t->kind->prompt(t, input) : input;
	if (claude_context_problem(strlen(prompt) + (t->system ? strlen(t->system) : 0) +
							   (t->schema_text ? strlen(t->schema_text) : 0),
							   t->max_tokens, problem))
		return false;

	if (t->schema_text == NULL)
	{
		ClaudeMessageRequest msg = {0};

		msg.prompt = prompt;
		msg.system = t->system;
		msg.max_tokens = t->max_tokens;
		msg.has_temperature = t->has_temperature;
		msg.temperature = t->temperature;
		*body = claude_anthropic_build(&msg);
	}
	else
	{
		ClaudeToolRequest req = {0};

		/*
		 * Ask again, saying what was wrong.  The reason goes after the fixed
		 * system prompt, so the cached prefix stays the same.
		 */
		req.system = why ?
			psprintf("%s\n\nYour previous answer was not acceptable: %s. Answer again by calling the %s "
					 "tool, using only allowed values.", t->system, why, t->tool_name) :
			t->system;
		req.prompt = prompt;
		req.tool_name = t->tool_name;
		req.tool_description = t->tool_description;
		req.input_schema = t->schema_text;
		req.max_tokens = t->max_tokens;
		req.has_temperature = t->has_temperature;
		req.temperature = t->temperature;
		req.cache = t->cache && why == NULL;
		*body = claude_anthropic_build_tool(&req);
	}
	return true;
}

char *
claude_task_body(const ClaudeTask *t, const char *input, const char *why)
{
	ClaudeProblem problem;
	char	   *body;

	if (!claude_task_build(t, input, why, &body, &problem))
		claude_problem_raise(&problem);
	return body;
}

void
claude_task_answer(const ClaudeTask *t, const char *json, ClaudeTaskAnswer *answer)
{
	ClaudeUsage usage;
	cJSON	   *input;

	memset(answer, 0, sizeof(*answer));
	if (t->schema_text == NULL)
	{
		answer->result = claude_anthropic_read_text(json, &usage, &answer->stop_reason, &answer->problem);
		return;
	}
	if (!claude_anthropic_read_tool_input(json, t->tool_name, &usage, &answer->stop_reason, &input,
										  &answer->problem))
		return;
	if (input == NULL)
		answer->why = psprintf("the answer did not use the %s tool (stop_reason %s)", t->tool_name,
							   answer->stop_reason ? answer->stop_reason : "none");
	else if (claude_schema_validate(t->schema, input, &answer->why))
		answer->result = t->kind->result(t, input);
}

void
claude_task_interpret(const ClaudeTask *t, const char *json, char **result, char **why, char **error)
{
	ClaudeTaskAnswer answer;

	claude_task_answer(t, json, &answer);
	*result = answer.result;
	*why = answer.why;
	*error = answer.problem.sqlerrcode != 0 ? answer.problem.message : NULL;
}

char *
claude_task_refusal(const ClaudeTask *t, const char *why)
{
	return psprintf("%s: %s", t->kind->refusal, why);
}

/* ---------------------------------------------------------------------
 * SQL arguments as options: the entry points' half of "one parser"
 * --------------------------------------------------------------------- */

static void
add_text_array(cJSON *options, const char *name, ArrayType *array)
{
	Datum	   *elems;
	bool	   *nulls;
	int			count;
	int			i;
	cJSON	   *items = cJSON_AddArrayToObject(options, name);

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count);
	for (i = 0; i < count; i++)
		cJSON_AddItemToArray(items, nulls[i] ? cJSON_CreateNull() :
							 cJSON_CreateString(TextDatumGetCString(elems[i])));
}

cJSON *
claude_task_sql_options(FunctionCallInfo fcinfo, const ClaudeTaskArg *spec)
{
	cJSON	   *options = cJSON_CreateObject();

	for (; spec->option != NULL; spec++)
	{
		int			n = spec->argno;
		bool		given = PG_NARGS() > n && !PG_ARGISNULL(n);

		switch (spec->type)
		{
			case TASK_ARG_TEXT:
				if (given)
					cJSON_AddStringToObject(options, spec->option, claude_text_arg(fcinfo, n));
				break;
			case TASK_ARG_INT:
				if (given)
					cJSON_AddNumberToObject(options, spec->option, PG_GETARG_INT32(n));
				break;
			case TASK_ARG_FLOAT:
				if (given)
					cJSON_AddNumberToObject(options, spec->option, PG_GETARG_FLOAT8(n));
				break;
			case TASK_ARG_TEXT_ARRAY:
				if (given)
					add_text_array(options, spec->option, PG_GETARG_ARRAYTYPE_P(n));
				else
					cJSON_AddNullToObject(options, spec->option);
				break;
			case TASK_ARG_JSONB:
				{
					cJSON	   *value = given ? cJSON_Parse(claude_jsonb_arg(fcinfo, n)) : cJSON_CreateNull();

					/* nested deeper than cJSON reads: false, which no option accepts */
					cJSON_AddItemToObject(options, spec->option, value ? value : cJSON_CreateFalse());
					break;
				}
		}
	}
	return options;
}
