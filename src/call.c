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
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "anthropic.h"
#include "audit.h"
#include "bedrock.h"
#include "call.h"
#include "guc.h"
#include "residency.h"

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
claude_max_tokens_arg(FunctionCallInfo fcinfo, int n, const char *model)
{
	int			max_tokens;
	bool		from_setting = PG_NARGS() <= n || PG_ARGISNULL(n);
	const char *name = from_setting ? "claude.max_tokens" : "max_tokens";
	int			limit = claude_model_max_output(model);

	max_tokens = from_setting ? claude_max_tokens : PG_GETARG_INT32(n);
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
	if (max_tokens >= CLAUDE_CONTEXT_TOKENS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %d does not fit the model's context window", name, max_tokens),
				 errdetail("The context window holds %d tokens, input and output together.",
						   CLAUDE_CONTEXT_TOKENS),
				 errhint("Pass a smaller max_tokens; Claude models write at most a few tens of thousands of tokens per answer.")));
	return max_tokens;
}

long
claude_estimate_tokens(size_t bytes)
{
	return (long) ((bytes + 2) / 3);
}

void
claude_check_context(size_t text_bytes, int max_tokens)
{
	long		estimate = claude_estimate_tokens(text_bytes);

	/* max_tokens alone too large: that is max_tokens' fault, not the input's */
	if (max_tokens >= CLAUDE_CONTEXT_TOKENS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_tokens %d does not fit the model's context window", max_tokens),
				 errdetail("The context window holds %d tokens, input and output together.",
						   CLAUDE_CONTEXT_TOKENS),
				 errhint("Lower claude.max_tokens.")));
	if (estimate + max_tokens > CLAUDE_CONTEXT_TOKENS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("input is too long for the model's context window"),
				 errdetail("The request is estimated at %ld input tokens plus %d output tokens; "
						   "the context window holds %d.",
						   estimate, max_tokens, CLAUDE_CONTEXT_TOKENS),
				 errhint("Split the input, or summarise it in stages with claude_summarize_agg().")));
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

Datum
claude_guarded_call(const char *function_name, const char *input,
					ClaudeGuardedFn fn, FunctionCallInfo fcinfo, void *arg, bool *isnull)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile Datum result = (Datum) 0;

	*isnull = false;
	claude_current_function = function_name;
	claude_current_input = input;
	if (claude_on_error == CLAUDE_ON_ERROR_RAISE)
		return fn(fcinfo, arg, isnull);

	/*
	 * In a parallel query no subtransaction may start.  The call path holds
	 * nothing that error cleanup must release by then (curl state is
	 * released by its own PG_FINALLY, locks are never held across a
	 * failure that is not always raised), so catch without one.
	 */
	if (IsInParallelMode())
	{
		PG_TRY();
		{
			result = fn(fcinfo, arg, isnull);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(oldcxt);
			edata = CopyErrorData();
			if (always_raised(edata->sqlerrcode))
				PG_RE_THROW();
			FlushErrorState();
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("%s returned NULL: %s", function_name, edata->message),
					 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
					 errhint("claude.on_error is 'null'; set it to 'raise' to stop at the first error.")));
			FreeErrorData(edata);
			*isnull = true;
			result = (Datum) 0;
		}
		PG_END_TRY();
		return result;
	}

	/* as PL/pgSQL's exception blocks do */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		result = fn(fcinfo, arg, isnull);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

		if (always_raised(edata->sqlerrcode))
			ReThrowError(edata);

		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("%s returned NULL: %s", function_name, edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 errhint("claude.on_error is 'null'; set it to 'raise' to stop at the first error.")));
		FreeErrorData(edata);
		*isnull = true;
		result = (Datum) 0;
	}
	PG_END_TRY();
	return result;
}

char *
claude_message_text(const char *model, const char *system, const char *prompt,
					int max_tokens)
{
	ClaudeMessageRequest msg = {0};
	ClaudeHttpResponse resp;
	ClaudeUsage usage;
	char	   *body;
	char	   *stop_reason;

	msg.prompt = prompt;
	msg.system = system;
	msg.max_tokens = max_tokens;
	msg.has_temperature = claude_guc_temperature(&msg.temperature);
	claude_check_context(strlen(prompt) + (system ? strlen(system) : 0), max_tokens);
	body = claude_anthropic_build(&msg);
	claude_bedrock_invoke(model, body, strlen(body), &resp);
	return claude_anthropic_response_text(resp.body, &usage, &stop_reason);
}
