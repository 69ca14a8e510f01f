/*-------------------------------------------------------------------------
 *
 * call.c
 *	  What every SQL-callable function shares: argument helpers, the
 *	  context-window check, and claude.on_error.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "anthropic.h"
#include "call.h"
#include "guc.h"
#include "model_catalog.h"
#include "problem.h"
#include "residency.h"
#include "subxact.h"

char *
claude_text_arg(FunctionCallInfo fcinfo, int n)
{
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

char *
claude_model_arg(FunctionCallInfo fcinfo, int n)
{
	char	   *model = claude_text_arg(fcinfo, n);

	if (model == NULL)
		return pstrdup(claude_model);
	if (model[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model must not be empty"),
				 errhint("Pass NULL to use claude.model.")));
	return model;
}

int
claude_check_max_tokens(int max_tokens, bool from_setting, const char *model)
{
	const char *name = from_setting ? "claude.max_tokens" : "max_tokens";
	const ClaudeModelTraits *traits = &claude_model_info(model)->traits;
	int			limit = traits->max_output;
	int			window = traits->context_window > 0 ? traits->context_window : CLAUDE_CONTEXT_TOKENS;

	if (max_tokens < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_tokens must be at least 1")));

	/*
	 * Refused here, not by Bedrock after a round trip, and not blamed on the
	 * input by the context-window check.
	 */
	if (limit > 0 && max_tokens > limit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %d is more than model \"%s\" can write", name, max_tokens, model),
				 errdetail("The model writes at most %d output tokens per answer.", limit),
				 from_setting ? errhint("Set claude.max_tokens to at most %d, or pass max_tokens.", limit) :
				 errhint("Pass max_tokens of at most %d.", limit)));
	if (max_tokens >= window)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %d does not fit the model's context window", name, max_tokens),
				 errdetail("The context window holds %d tokens, input and output together.",
						   window),
				 errhint("Pass a smaller max_tokens; Claude models write at most a few tens of thousands of tokens per answer.")));
	return max_tokens;
}

long
claude_estimate_tokens(size_t bytes)
{
	return (long) ((bytes + 2) / 3);
}

bool
claude_context_problem(size_t text_bytes, int max_tokens, int context_window, ClaudeProblem *problem)
{
	int			window = context_window > 0 ? context_window : CLAUDE_CONTEXT_TOKENS;
	long		estimate = claude_estimate_tokens(text_bytes);

	/* max_tokens alone too large: that is max_tokens' fault, not the input's */
	if (max_tokens >= window)
	{
		claude_problem(problem, ERRCODE_INVALID_PARAMETER_VALUE,
					   psprintf("max_tokens %d does not fit the model's context window", max_tokens),
					   psprintf("The context window holds %d tokens, input and output together.",
								window),
					   "Lower claude.max_tokens.");
		return true;
	}
	if (estimate + max_tokens > window)
	{
		claude_problem(problem, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
					   "input is too long for the model's context window",
					   psprintf("The request is estimated at %ld input tokens plus %d output tokens; "
								"the context window holds %d.",
								estimate, max_tokens, window),
					   "Split the input, or summarise it in stages with claude_summarize_agg().");
		return true;
	}
	return false;
}

void
claude_check_context(size_t text_bytes, int max_tokens, int context_window)
{
	ClaudeProblem problem;

	if (claude_context_problem(text_bytes, max_tokens, context_window, &problem))
		claude_problem_raise(&problem);
}

/* Errors claude.on_error = 'null' must never swallow. */
static bool
always_raised(int sqlerrcode)
{
	return ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION ||	/* 57: cancel */
		ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_INSUFFICIENT_RESOURCES ||	/* 53 */
		sqlerrcode == ERRCODE_CLAUDE_RESIDENCY_VIOLATION ||
		sqlerrcode == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION ||	/* no usable credentials */
		ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_INTERNAL_ERROR;
}

typedef struct GuardedCall
{
	ClaudeGuardedFn fn;
	FunctionCallInfo fcinfo;
	void	   *arg;
	bool	   *isnull;
	Datum		result;
} GuardedCall;

static void
guarded_run(void *arg)
{
	GuardedCall *g = (GuardedCall *) arg;

	g->result = g->fn(g->fcinfo, g->arg, g->isnull);
}

Datum
claude_guarded_call(const char *function_name, ClaudeGuardedFn fn, FunctionCallInfo fcinfo,
					void *arg, bool *isnull)
{
	GuardedCall g = {fn, fcinfo, arg, isnull, (Datum) 0};
	ErrorData  *edata;

	*isnull = false;
	if (claude_on_error == CLAUDE_ON_ERROR_RAISE)
		return fn(fcinfo, arg, isnull);

	edata = claude_try(guarded_run, &g);
	if (edata == NULL)
		return g.result;
	if (always_raised(edata->sqlerrcode))
		ReThrowError(edata);
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("%s returned NULL: %s", function_name, edata->message),
			 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
			 errhint("claude.on_error is 'null'; set it to 'raise' to stop at the first error.")));
	FreeErrorData(edata);
	*isnull = true;
	return (Datum) 0;
}

char *
claude_jsonb_arg(FunctionCallInfo fcinfo, int n)
{
	Jsonb	   *value;

	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return NULL;
	value = PG_GETARG_JSONB_P(n);
	return JsonbToCString(NULL, &value->root, VARSIZE(value));
}

char *
claude_body_arg(FunctionCallInfo fcinfo, int body_arg, int model_arg, char **model)
{
	char	   *body;

	*model = claude_text_arg(fcinfo, model_arg);
	body = claude_anthropic_normalize_body(claude_jsonb_arg(fcinfo, body_arg), model);
	if (*model == NULL || (*model)[0] == '\0')
		*model = claude_model_arg(fcinfo, model_arg);
	return body;
}
