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
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "anthropic.h"
#include "bedrock.h"
#include "call.h"
#include "guardrail.h"
#include "guc.h"
#include "jsonschema.h"
#include "model_catalog.h"
#include "task.h"

/* Output tokens left for the answer of a model that always thinks first. */
#define THINKING_ROOM 1024

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

/* Models whose sampling settings were left out this session (one NOTICE each). */
static List *sampling_noticed = NIL;

/*
 * Sampling settings the model refuses (claude.models): an explicit
 * temperature is the caller's mistake, found before anything is sent; a
 * default (claude.temperature, or a tool task's 0) is left out.
 */
static void
shape_sampling(ClaudeTask *t, bool from_setting)
{
	ListCell   *lc;
	MemoryContext old;

	if (!t->has_temperature || t->traits.temperature != TRAIT_NO)
		return;
	if (t->temperature_given)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" does not accept temperature", t->model),
				 errdetail("claude.models says the model refuses sampling settings (temperature, top_p, top_k)."),
				 errhint("Leave temperature out (pass NULL) for this model, or choose a model that accepts it.")));
	t->has_temperature = false;
	if (!from_setting)
		return;
	foreach(lc, sampling_noticed)
		if (strcmp((const char *) lfirst(lc), t->model) == 0)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	sampling_noticed = lappend(sampling_noticed, pstrdup(t->model));
	MemoryContextSwitchTo(old);
	ereport(NOTICE,
			(errmsg("claude.temperature is left out of requests to model \"%s\", which refuses sampling settings",
					t->model),
			 errdetail("claude.models records the model's traits; see claude.model_info('%s').", t->model)));
}

void
claude_task_configure(ClaudeTask *t, const ClaudeTaskKind *kind, const cJSON *options)
{
	double		temperature;
	bool		from_setting = false;

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
	t->traits = claude_model_info(t->model)->traits;
	if (claude_task_number_option(options, "temperature", &temperature))
	{
		if (!(temperature >= 0.0 && temperature <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("temperature must be between 0 and 1")));
		t->temperature = temperature;
		t->has_temperature = true;
		t->temperature_given = true;
	}
	else
		from_setting = t->has_temperature = claude_guc_temperature(&t->temperature);
	t->cache = t->traits.prompt_caching == TRAIT_YES;
	t->result_type = TEXTOID;
	kind->configure(t, options);
	if (t->schema_text)
	{
		t->schema = cJSON_Parse(t->schema_text);
		t->format_schema = claude_anthropic_format_schema(t->schema_text);
		t->tool_name = kind->name;
		/* a tool answer should not be creative: temperature 0 unless configured */
		if (!t->has_temperature)
			t->temperature = 0.0;
		t->has_temperature = true;
	}
	shape_sampling(t, from_setting);
}

/*
 * How a structured answer is asked for: structured output where the model
 * has it, a forced tool where forcing is accepted (a model that always
 * thinks refuses it), structured output where nobody knows, else the tool
 * offered with tool_choice auto.
 */
static ClaudeToolMode
tool_mode(const ClaudeTask *t)
{
	if (t->traits.structured_output == TRAIT_YES && t->format_schema)
		return TOOL_FORMAT;
	if (t->traits.forced_tool_choice != TRAIT_NO && t->traits.thinking != THINKING_ALWAYS_ON)
		return TOOL_FORCED;
	if (t->traits.structured_output == TRAIT_UNKNOWN && t->format_schema)
		return TOOL_FORMAT;
	return TOOL_AUTO;
}

/* max_tokens as sent: room for the thinking of a model that always thinks. */
static int
body_max_tokens(const ClaudeTask *t)
{
	int			n = t->max_tokens;

	if (t->traits.thinking == THINKING_ALWAYS_ON)
	{
		n += THINKING_ROOM;
		if (t->traits.max_output > 0)
			n = Min(n, Max(t->traits.max_output, t->max_tokens));
	}
	return n;
}

/*
 * Is the fixed prefix long enough to be cached?  Below the model's minimum
 * Bedrock silently caches nothing; the estimate errs long (bytes / 3), so a
 * prefix near the minimum is still marked.
 */
static bool
prefix_cacheable(const ClaudeTask *t, ClaudeToolMode mode)
{
	size_t		bytes = t->system ? strlen(t->system) : 0;

	if (!t->cache)
		return false;
	if (mode != TOOL_FORMAT && t->schema_text)
		bytes += strlen(t->schema_text) + strlen(t->tool_description) + strlen(t->tool_name);
	return t->traits.cache_min_tokens <= 0 ||
		claude_estimate_tokens(bytes) >= t->traits.cache_min_tokens;
}

bool
claude_task_build(const ClaudeTask *t, const char *input, const char *why, char **body,
				  ClaudeProblem *problem)
{
	return claude_task_build_attached(t, input, NULL, why, body, problem);
}

bool
claude_task_build_attached(const ClaudeTask *t, const char *input, const ClaudeAttachment *attachment,
						   const char *why, char **body, ClaudeProblem *problem)
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
							   t->max_tokens, t->traits.context_window, problem))
		return false;
	/* an answer that is the input rewritten would be cut short: say so first */
	if (t->kind->answer_repeats_input && claude_estimate_tokens(strlen(input)) > t->max_tokens)
	{
		claude_problem(problem, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
					   psprintf("input too long for one %s answer: about %ld tokens, max_tokens is %d",
								t->kind->name, claude_estimate_tokens(strlen(input)), t->max_tokens),
					   "The answer repeats the whole input, so it must fit max_tokens.",
					   "Raise claude.max_tokens (up to the model's output limit) or pass the text in parts.");
		return false;
	}

	if (t->schema_text == NULL)
	{
		ClaudeMessageRequest msg = {0};

		msg.prompt = prompt;
		msg.system = t->system;
		msg.max_tokens = body_max_tokens(t);
		msg.has_temperature = t->has_temperature;
		msg.temperature = t->temperature;
		msg.attachment = attachment;
		*body = claude_anthropic_build(&msg);
	}
	else
	{
		ClaudeToolRequest req = {0};
		const char *system = t->system;

		req.mode = tool_mode(t);
		if (req.mode == TOOL_FORMAT)
			system = psprintf("%s\n\nAnswer with only the %s tool's input: a JSON object in the "
							  "response format.", t->system, t->tool_name);

		/*
		 * Ask again, saying what was wrong.  The reason goes after the fixed
		 * system prompt, so the cached prefix stays the same.
		 */
		req.system = why ?
			psprintf("%s\n\nYour previous answer was not acceptable: %s. Answer again by calling the %s "
					 "tool, using only allowed values.", system, why, t->tool_name) :
			system;
		req.prompt = prompt;
		req.tool_name = t->tool_name;
		req.tool_description = t->tool_description;
		req.input_schema = t->schema_text;
		req.format_schema = t->format_schema;
		req.max_tokens = body_max_tokens(t);
		req.has_temperature = t->has_temperature;
		req.temperature = t->temperature;
		req.cache = prefix_cacheable(t, req.mode) && why == NULL;
		req.cache_1h = claude_prompt_cache_ttl == CLAUDE_PROMPT_CACHE_1H && t->traits.cache_1h != TRAIT_NO;
		req.attachment = attachment;
		*body = claude_anthropic_build_tool(&req);
	}
	if (attachment != NULL && strlen(*body) > CLAUDE_REQUEST_MAX_BYTES)
	{
		claude_problem(problem, ERRCODE_PROGRAM_LIMIT_EXCEEDED, "request with the attachment is too large",
					   psprintf("The request body would have %zu bytes (the %s attachment %zu of them "
								"before base64); Bedrock takes at most %d.", strlen(*body),
								attachment->media_type, attachment->len, CLAUDE_REQUEST_MAX_BYTES),
					   "Send a smaller document or image.");
		pfree(*body);
		*body = NULL;
		return false;
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
	claude_task_answer_parsed(t, json, NULL, answer);
}

void
claude_task_answer_parsed(const ClaudeTask *t, const char *json, cJSON *parsed,
						  ClaudeTaskAnswer *answer)
{
	ClaudeUsage usage;
	cJSON	   *input;

	memset(answer, 0, sizeof(*answer));
	/* a guardrail's answer is its blocked message, not the model's */
	if (claude_guardrail_intervened(json, parsed))
	{
		answer->intervened = true;
		/* the worker may follow a job owner's guardrail, not its own: named only in a session */
		claude_problem(&answer->problem, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
					   MyBackendType == B_BG_WORKER ? "Bedrock guardrail intervened" :
					   psprintf("Bedrock guardrail \"%s\" intervened", claude_guardrail_id),
					   "The input or the answer matched one of the guardrail's policies; claude.usage.guardrail_trace says which.",
					   "claude.guardrail_on_intervention = error raises this; null returns NULL with a WARNING.");
		if (parsed)
			cJSON_Delete(parsed);
		return;
	}
	if (t->schema_text == NULL)
	{
		answer->result = claude_anthropic_read_text_parsed(json, parsed, &usage, &answer->stop_reason,
															&answer->problem);
		return;
	}
	if (!claude_anthropic_read_tool_input_parsed(json, parsed, t->tool_name, &usage, &answer->stop_reason, &input,
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

bool
claude_task_reshape(ClaudeTask *t, const ClaudeHttpResponse *resp)
{
	ClaudeLearnable trait;
	ClaudeModelTraits before = t->traits;
	bool		was_cached = t->cache;
	bool		had_temperature = t->has_temperature;
	char	   *msg;

	if (resp->status != 400 || strncmp(resp->error_type, "ValidationException", 19) != 0)
		return false;
	msg = claude_bedrock_error_message(resp);
	if (!claude_model_refusal(msg, &trait))
		return false;
	claude_model_learn(t->model, trait, msg);
	claude_model_traits_apply(&t->traits, trait);

	/* forcing refused for thinking nobody asked for: the model always thinks */
	if (trait == LEARN_FORCED_TOOL_CHOICE && strstr(msg, "Thinking") != NULL &&
		t->traits.thinking != THINKING_ALWAYS_ON)
	{
		claude_model_learn(t->model, LEARN_THINKING_ALWAYS_ON, msg);
		claude_model_traits_apply(&t->traits, LEARN_THINKING_ALWAYS_ON);
	}

	/*
	 * Traits inherited from the family were a guess: once one is wrong, the
	 * other way of asking for a structured answer is worth a try.
	 */
	if (t->traits.inherited)
	{
		if (trait == LEARN_STRUCTURED_OUTPUT && t->traits.forced_tool_choice == TRAIT_NO)
			t->traits.forced_tool_choice = TRAIT_UNKNOWN;
		if (trait == LEARN_FORCED_TOOL_CHOICE && t->traits.structured_output == TRAIT_NO)
			t->traits.structured_output = TRAIT_UNKNOWN;
	}
	if (trait == LEARN_TEMPERATURE || trait == LEARN_TOP_P || trait == LEARN_TOP_K)
	{
		/* what the caller asked for explicitly stays their error */
		if (t->temperature_given)
			return false;
		t->has_temperature = false;
	}
	if (trait == LEARN_PROMPT_CACHING)
		t->cache = false;
	if (t->reshapes >= CLAUDE_TASK_RESHAPES)
		return false;
	if (memcmp(&before, &t->traits, sizeof(before)) == 0 && was_cached == t->cache &&
		had_temperature == t->has_temperature)
		return false;
	t->reshapes++;
	return true;
}

char *
claude_task_refusal(const ClaudeTask *t, const char *why)
{
	return psprintf("%s: %s", t->kind->refusal, why);
}

/* ---------------------------------------------------------------------
 * SQL arguments as options: the entry points' half of "one parser"
 * --------------------------------------------------------------------- */

void
claude_task_list_elements(ArrayType *array, Oid elemtype, const char *what,
						  Datum **elems, bool **nulls, int *n)
{
	Assert(elemtype == TEXTOID || elemtype == BYTEAOID);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what),
				 errdetail("The array given has %d dimensions.", ARR_NDIM(array)),
				 errhint("Pass a list, e.g. ARRAY(SELECT body FROM tickets).")));
	/* text and bytea are both varlena, int-aligned */
	deconstruct_array(array, elemtype, -1, false, TYPALIGN_INT, elems, nulls, n);
}

static void
add_text_array(cJSON *options, const char *name, ArrayType *array)
{
	Datum	   *elems;
	bool	   *nulls;
	int			count;
	int			i;
	cJSON	   *items = cJSON_AddArrayToObject(options, name);

	claude_task_list_elements(array, TEXTOID, name, &elems, &nulls, &count);
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
