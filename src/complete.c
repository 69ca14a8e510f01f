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
#include "guc.h"
#include "http.h"

PG_FUNCTION_INFO_V1(claude_complete);
PG_FUNCTION_INFO_V1(claude_invoke);

static char *
text_arg_or_null(FunctionCallInfo fcinfo, int n)
{
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* The model argument, or claude.model when it is NULL. */
static char *
model_or_default(char *model)
{
	if (model == NULL)
		return pstrdup(claude_model);
	if (model[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model must not be empty"),
				 errhint("Pass NULL to use claude.model.")));
	return model;
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
	MemoryContext callcxt;
	MemoryContext oldcxt;
	ClaudeMessageRequest msg = {0};
	ClaudeHttpResponse resp;
	ClaudeUsage usage;
	char	   *model;
	char	   *body;
	char	   *answer;
	char	   *stop_reason;
	text	   *result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();

	callcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_claude call",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(callcxt);

	msg.prompt = text_to_cstring(PG_GETARG_TEXT_PP(0));
	msg.system = text_arg_or_null(fcinfo, 1);
	model = model_or_default(text_arg_or_null(fcinfo, 2));

	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
	{
		msg.max_tokens = PG_GETARG_INT32(3);
		if (msg.max_tokens < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_tokens must be at least 1")));
	}
	else
		msg.max_tokens = claude_max_tokens;

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

	body = claude_anthropic_build(&msg);
	claude_bedrock_invoke(model, body, strlen(body), &resp);
	answer = claude_anthropic_response_text(resp.body, &usage, &stop_reason);

	if (stop_reason && strcmp(stop_reason, "max_tokens") == 0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("Claude's answer was cut short at max_tokens (%d)", msg.max_tokens),
				 errhint("Raise the max_tokens argument or claude.max_tokens.")));

	MemoryContextSwitchTo(oldcxt);
	result = cstring_to_text(answer);
	MemoryContextDelete(callcxt);
	PG_RETURN_TEXT_P(result);
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
	MemoryContext callcxt;
	MemoryContext oldcxt;
	Jsonb	   *in;
	char	   *model;
	char	   *body;
	ClaudeHttpResponse resp;
	Datum		result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();

	in = PG_GETARG_JSONB_P(0);
	callcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_claude call",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(callcxt);

	model = text_arg_or_null(fcinfo, 1);
	body = JsonbToCString(NULL, &in->root, VARSIZE(in));
	body = claude_anthropic_normalize_body(body, &model);
	model = model_or_default(model);

	claude_bedrock_invoke(model, body, strlen(body), &resp);
	claude_anthropic_check_json(resp.body);

	MemoryContextSwitchTo(oldcxt);
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(resp.body));
	MemoryContextDelete(callcxt);
	PG_RETURN_DATUM(result);
}
