/*-------------------------------------------------------------------------
 *
 * task_stream.c
 *	  claude_complete_stream(prompt, system, model, max_tokens, temperature)
 *	  RETURNS SETOF text: the answer's text in pieces as they arrive.
 *
 * A value-per-call set-returning function: each call steps the transport
 * (claude_http_pump_step) until new text has arrived and returns it as a
 * row, so a cursor, psql's FETCH_COUNT or a driver's single-row mode sees
 * the first words before the answer ends.  It works so only in a SELECT
 * list: in FROM, PostgreSQL collects every row before the first is read.
 * The call is claude_complete's: same options, residency, audit row per
 * attempt (with ttft_ms), cache.  A cache hit is the whole text as one row.
 * Attempts are retried as usual until the first row has been returned;
 * after that a failure ends the rows with the error (under claude.on_error
 * = 'null', a WARNING), whose DETAIL holds the text that came before.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "bedrock.h"
#include "bedrock_stream.h"
#include "guc.h"
#include "model_catalog.h"
#include "task.h"

PG_FUNCTION_INFO_V1(claude_complete_stream);

typedef struct StreamCall
{
	ClaudeTask	task;
	char	   *input;
	ClaudeCallContext cc;
	ClaudeBedrockCall call;
	ClaudeHttpPumpRun *run;		/* NULL when answered from the cache, or done */
	bool		given;			/* the request went to the pump */
	bool		answered;		/* done() was called */
	ClaudeHttpResponse resp;	/* what done() was given */
	char	   *whole;			/* a cache hit's text, returned as one row */
	bool		rows_given;		/* a row has gone to the client */
	ExprContext *econtext;		/* where stream_shutdown is registered */
} StreamCall;

static bool
stream_next(void *arg, ClaudeHttpRequest **req, void **tag)
{
	StreamCall *sc = (StreamCall *) arg;

	if (sc->given)
		return false;
	sc->given = true;
	*req = &sc->call.req;
	*tag = NULL;
	return true;
}

static void
stream_done(void *arg, void *tag, ClaudeHttpResponse *resp)
{
	StreamCall *sc = (StreamCall *) arg;

	sc->resp = *resp;
	resp->body = NULL;			/* ours now */
	sc->answered = true;
}

/* The scan ended before the last row (LIMIT, a closed cursor): audit and detach. */
static void
stream_shutdown(Datum arg)
{
	StreamCall *sc = (StreamCall *) DatumGetPointer(arg);

	sc->econtext = NULL;		/* called, so no longer registered */
	if (sc->run)
		claude_http_pump_end(sc->run, true);
	sc->run = NULL;
}

/* An error unwound the call: its memory goes, so detach what is in flight. */
static void
stream_forget(void *arg)
{
	StreamCall *sc = (StreamCall *) arg;

	if (sc->run)
		claude_http_pump_end(sc->run, false);
	sc->run = NULL;
	/* the rows ended (or the call failed): sc is going, so is its callback */
	if (sc->econtext)
		UnregisterExprContextCallback(sc->econtext, stream_shutdown, PointerGetDatum(sc));
	sc->econtext = NULL;
}

static void
stream_start(FunctionCallInfo fcinfo, FuncCallContext *funcctx)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StreamCall *sc = palloc0(sizeof(StreamCall));
	MemoryContextCallback *cb = palloc(sizeof(MemoryContextCallback));
	char	   *body;
	static ClaudeHttpPump pump_template = {.concurrency = 1};
	ClaudeHttpPump *pump;

	funcctx->user_fctx = sc;
	claude_task_complete_args(fcinfo, &sc->task);
	sc->input = text_to_cstring(PG_GETARG_TEXT_PP(0));
	sc->cc = CLAUDE_CALL_CONTEXT("claude_complete_stream", sc->input);
	body = claude_task_body(&sc->task, sc->input, NULL);
	if (claude_bedrock_prepare(&sc->call, &sc->cc, "InvokeModel", "invoke", sc->task.model,
							   body, strlen(body)))
	{
		ClaudeTaskAnswer answer;

		claude_task_answer(&sc->task, sc->call.resp.body, &answer);
		if (answer.problem.sqlerrcode != 0)
			claude_problem_raise(&answer.problem);
		sc->whole = answer.result ? answer.result : "";
		return;
	}
	/* streamed whatever claude.stream says: the rows are the stream */
	claude_bedrock_stream_setup(&sc->call);
	claude_bedrock_ready_to_sign(&sc->cc);

	cb->func = stream_forget;
	cb->arg = sc;
	MemoryContextRegisterResetCallback(funcctx->multi_call_memory_ctx, cb);
	if (rsinfo && IsA(rsinfo, ReturnSetInfo) && rsinfo->econtext)
	{
		sc->econtext = rsinfo->econtext;
		RegisterExprContextCallback(rsinfo->econtext, stream_shutdown, PointerGetDatum(sc));
	}

	pump = palloc(sizeof(ClaudeHttpPump));
	*pump = pump_template;
	pump->next = stream_next;
	pump->done = stream_done;
	pump->arg = sc;
	sc->run = claude_http_pump_begin(pump);
}

/*
 * The answer is in: the cache, the stop reason's warning, or its error.
 * Returns the answer's text when the call did not stream (the Anthropic
 * API, a guardrail: its verdict is on the whole answer), NULL otherwise:
 * the rows were the stream.
 */
static char *
stream_finish(StreamCall *sc)
{
	ClaudeTaskAnswer answer;

	if (!claude_bedrock_ok(&sc->resp))
	{
		if (claude_on_error == CLAUDE_ON_ERROR_NULL)
		{
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("claude_complete_stream ended early: %s",
							claude_bedrock_error_text("InvokeModel", sc->task.model, &sc->resp)),
					 errhint("claude.on_error is 'null'; set it to 'raise' to stop at the first error.")));
			return NULL;
		}
		claude_bedrock_raise("InvokeModel", sc->task.model, &sc->resp);
	}
	claude_bedrock_finish(&sc->call, &sc->resp);
	claude_task_answer_parsed(&sc->task, sc->resp.body,
							  claude_bedrock_take_answer(&sc->call, sc->resp.body), &answer);
	if (answer.problem.sqlerrcode != 0)
		claude_problem_raise(&answer.problem);
	if (answer.stop_reason && strcmp(answer.stop_reason, "max_tokens") == 0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("Claude's answer was cut short at max_tokens (%d)", sc->task.max_tokens),
				 errhint("Raise the max_tokens argument or claude.max_tokens.")));
	if (sc->call.ctx.stream == NULL && answer.result != NULL && answer.result[0] != '\0')
		return answer.result;
	return NULL;
}

Datum
claude_complete_stream(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	StreamCall *sc;
	MemoryContext old;
	char	   *text = NULL;

	if (SRF_IS_FIRSTCALL())
	{
		funcctx = SRF_FIRSTCALL_INIT();
		if (PG_ARGISNULL(0))
			SRF_RETURN_DONE(funcctx);
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		stream_start(fcinfo, funcctx);
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	sc = (StreamCall *) funcctx->user_fctx;
	if (sc == NULL)
		SRF_RETURN_DONE(funcctx);

	old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
	if (sc->whole != NULL)
	{
		text = sc->whole[0] ? sc->whole : NULL;
		funcctx->user_fctx = NULL;
	}
	else
	{
		for (;;)
		{
			text = claude_stream_take_text(sc->call.ctx.stream);
			if (text != NULL)
				break;
			if (sc->run == NULL)
			{
				funcctx->user_fctx = NULL;
				break;
			}
			if (!claude_http_pump_step(sc->run, 1000))
			{
				sc->run = NULL;
				claude_model_learned_flush();
				text = claude_stream_take_text(sc->call.ctx.stream);
				if (sc->answered)
				{
					char	   *whole = stream_finish(sc);

					if (whole != NULL)
						text = whole;
				}
				/* anything left of a good answer is the last row */
				if (text == NULL || !claude_bedrock_ok(&sc->resp))
				{
					funcctx->user_fctx = NULL;
					text = claude_bedrock_ok(&sc->resp) ? text : NULL;
				}
				break;
			}
		}
	}
	MemoryContextSwitchTo(old);
	if (text == NULL)
		SRF_RETURN_DONE(funcctx);
	/* shown to the client: a retry would send it twice */
	sc->rows_given = true;
	sc->call.req.max_retries = 0;
	SRF_RETURN_NEXT(funcctx, CStringGetTextDatum(text));
}
