/*-------------------------------------------------------------------------
 *
 * invoke.c
 *	  SQL function claude_invoke(): the raw Messages API.
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

PG_FUNCTION_INFO_V1(claude_invoke);

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
	ClaudeCallContext cc = CLAUDE_CALL_CONTEXT("claude_invoke", a->body);
	ClaudeHttpResponse resp;
	Datum		result;

	claude_bedrock_invoke(&cc, a->model, a->body, strlen(a->body), &resp);
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
	Datum		result;
	bool		isnull;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	a.body = claude_body_arg(fcinfo, 0, 1, &a.model);

	result = claude_guarded_call("claude_invoke", invoke_call, fcinfo, &a, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
