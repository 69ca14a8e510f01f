/*-------------------------------------------------------------------------
 *
 * complete.c
 *	  SQL functions claude_complete() and claude_invoke().
 *
 * Each call works in its own memory context, deleted on the way out, so
 * nothing a call allocates (request bodies, parsed JSON, the response)
 * outlives it except the result.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "anthropic.h"
#include "bedrock.h"
#include "call.h"
#include "guc.h"
#include "http.h"

PG_FUNCTION_INFO_V1(claude_complete);
PG_FUNCTION_INFO_V1(claude_invoke);

typedef struct CompleteArgs
{
	ClaudeMessageRequest msg;
	char	   *model;
} CompleteArgs;

static Datum
complete_call(FunctionCallInfo fcinfo, void *arg, bool *isnull)
{
	CompleteArgs *a = (CompleteArgs *) arg;
	MemoryContext callcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_claude call",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(callcxt);
	ClaudeHttpResponse resp;
	ClaudeUsage usage;
	char	   *body;
	char	   *answer;
	char	   *stop_reason;
	text	   *result;

	claude_check_context(strlen(a->msg.prompt) + (a->msg.system ? strlen(a->msg.system) : 0),
						 a->msg.max_tokens);
	body = claude_anthropic_build(&a->msg);
	claude_bedrock_invoke(a->model, body, strlen(body), &resp);
	answer = claude_anthropic_response_text(resp.body, &usage, &stop_reason);

	if (stop_reason && strcmp(stop_reason, "max_tokens") == 0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("Claude's answer was cut short at max_tokens (%d)", a->msg.max_tokens),
				 errhint("Raise the max_tokens argument or claude.max_tokens.")));

	MemoryContextSwitchTo(oldcxt);
	result = cstring_to_text(answer);
	MemoryContextDelete(callcxt);
	return PointerGetDatum(result);
}

/*
 * claude_complete(prompt, system, model, max_tokens, temperature) -> text
 *
 * NULL prompt gives NULL; NULL in the other arguments means "use the
 * setting".
 */
Datum
claude_complete(PG_FUNCTION_ARGS)
{
	CompleteArgs a;
	Datum		result;
	bool		isnull;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();

	memset(&a, 0, sizeof(a));
	a.msg.prompt = text_to_cstring(PG_GETARG_TEXT_PP(0));
	a.msg.system = claude_text_arg(fcinfo, 1);
	a.model = claude_model_arg(fcinfo, 2);
	a.msg.max_tokens = claude_max_tokens_arg(fcinfo, 3, a.model);
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
	{
		a.msg.temperature = PG_GETARG_FLOAT8(4);
		if (!(a.msg.temperature >= 0.0 && a.msg.temperature <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("temperature must be between 0 and 1")));
		a.msg.has_temperature = true;
	}
	else
		a.msg.has_temperature = claude_guc_temperature(&a.msg.temperature);

	result = claude_guarded_call("claude_complete", a.msg.prompt, complete_call, fcinfo, &a, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

typedef struct InvokeArgs
{
	char	   *body;
	char	   *model;
} InvokeArgs;

static Datum
invoke_call(FunctionCallInfo fcinfo, void *arg, bool *isnull)
{
	InvokeArgs *a = (InvokeArgs *) arg;
	MemoryContext callcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_claude call",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(callcxt);
	ClaudeHttpResponse resp;
	Datum		result;

	claude_bedrock_invoke(a->model, a->body, strlen(a->body), &resp);
	claude_anthropic_check_json(resp.body);

	MemoryContextSwitchTo(oldcxt);
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(resp.body));
	MemoryContextDelete(callcxt);
	return result;
}

/*
 * claude_invoke(body jsonb, model text) -> jsonb
 *
 * The raw Messages API: whatever body the caller builds (tools, images,
 * multi-turn), the whole response back.  anthropic_version and max_tokens
 * are filled in when missing.
 */
Datum
claude_invoke(PG_FUNCTION_ARGS)
{
	InvokeArgs	a;
	Jsonb	   *in;
	Datum		result;
	bool		isnull;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();

	in = PG_GETARG_JSONB_P(0);
	a.model = claude_text_arg(fcinfo, 1);
	a.body = JsonbToCString(NULL, &in->root, VARSIZE(in));
	a.body = claude_anthropic_normalize_body(a.body, &a.model);
	if (a.model == NULL || a.model[0] == '\0')
		a.model = claude_model_arg(fcinfo, 1);

	result = claude_guarded_call("claude_invoke", a.body, invoke_call, fcinfo, &a, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
