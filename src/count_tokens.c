/*-------------------------------------------------------------------------
 *
 * count_tokens.c
 *	  SQL function claude_count_tokens(): Bedrock's CountTokens, so a
 *	  batch can be costed before it is run.
 *
 * The text form counts exactly the body claude_complete() would send for
 * the prompt; the jsonb form counts a raw Messages body as claude_invoke()
 * would send it.  CountTokens is free, but it is a request: it passes the
 * same residency check and transport as everything else.
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
#include "model_catalog.h"

PG_FUNCTION_INFO_V1(claude_count_tokens);
PG_FUNCTION_INFO_V1(claude_count_tokens_body);

typedef struct CountArgs
{
	char	   *body;
	char	   *model;
} CountArgs;

static Datum
count_call(FunctionCallInfo fcinfo, void *arg, bool *isnull)
{
	CountArgs  *a = (CountArgs *) arg;
	ClaudeCallContext cc = CLAUDE_CALL_CONTEXT("claude_count_tokens", a->body);

	return Int64GetDatum(claude_bedrock_count_tokens(&cc, a->model, a->body));
}

static Datum
count_common(FunctionCallInfo fcinfo, CountArgs *a)
{
	Datum		result;
	bool		isnull;

	if (claude_model_info(a->model)->traits.count_tokens == TRAIT_NO)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" does not support CountTokens", a->model),
				 errdetail("claude.models says Bedrock cannot count tokens for this model."),
				 errhint("Count with a model of the same family that supports it, or estimate from the text.")));

	result = claude_guarded_call("claude_count_tokens", count_call, fcinfo, a, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/* claude_count_tokens(prompt text, model text) -> bigint */
Datum
claude_count_tokens(PG_FUNCTION_ARGS)
{
	CountArgs	a;
	ClaudeMessageRequest msg = {0};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	msg.prompt = text_to_cstring(PG_GETARG_TEXT_PP(0));
	msg.max_tokens = claude_max_tokens;
	a.model = claude_model_arg(fcinfo, 1);
	/* counted as the request would be sent: without what the model refuses */
	msg.has_temperature = claude_guc_temperature(&msg.temperature) &&
		claude_model_info(a.model)->traits.temperature != TRAIT_NO;
	a.body = claude_anthropic_build(&msg);
	return count_common(fcinfo, &a);
}

/* claude_count_tokens(body jsonb, model text) -> bigint */
Datum
claude_count_tokens_body(PG_FUNCTION_ARGS)
{
	CountArgs	a;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	a.body = claude_body_arg(fcinfo, 0, 1, &a.model);
	return count_common(fcinfo, &a);
}
