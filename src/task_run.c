/*-------------------------------------------------------------------------
 *
 * task_run.c
 *	  Running a task over inputs in one backend: the scalar functions (a
 *	  batch of one) and the set-based _batch functions.
 *
 * Every input is prepared as the task says (residency, cache, the request
 * body), then all that need Bedrock go through one pump with up to
 * claude.max_concurrency in flight, the same retries, audit and cache.  A
 * tool answer that does not validate is asked for again in a second round,
 * with the reason.  A batch keeps each input's failure as its row's error;
 * a scalar call raises it, as the error its scalar form always raised
 * (claude.on_error then decides, in claude_guarded_call).  Nothing on this
 * path catches an error: failures found inside the pump are kept as values
 * (ClaudeProblem, the failed response) and raised after it.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "bedrock.h"
#include "call.h"
#include "guc.h"
#include "model_catalog.h"
#include "task.h"

typedef struct TaskItem
{
	char	   *input;			/* NULL for a NULL element: no request */
	ClaudeAttachment *attachment;	/* sent with the input, or NULL */
	char	   *audited;		/* the input as audited with its attachment, or NULL */
	ClaudeBedrockCall call;
	bool		send;			/* to be sent this round */
	bool		finished;
	int			rounds;
	char	   *why;			/* why the last tool answer was refused */
	bool		refused;		/* still refused after the last round */
	bool		intervened;		/* a guardrail intervened: NULL with a WARNING */
	char	   *result;			/* text form of the result */
	char	   *stop_reason;
	char	   *error;			/* the row's error */
	ClaudeProblem problem;		/* what a scalar call raises */
	ClaudeHttpResponse *failed; /* a failed exchange a scalar call raises */
} TaskItem;

typedef struct TaskRun
{
	ClaudeCallContext cc;		/* on whose behalf; each item's input is its own */
	ClaudeTask *task;			/* reshaped when Bedrock refuses a trait */
	bool		raise;			/* a scalar call: failures are raised */
	int			n;
	TaskItem   *items;
	int			cursor;			/* pump: next item to consider */
} TaskRun;

static void
item_fails(TaskItem *it, const ClaudeProblem *problem)
{
	it->problem = *problem;
	it->error = problem->message;
	it->finished = true;
}

/* An answer: a result, another round, or the item's error. */
static void
interpret(TaskRun *run, TaskItem *it, const char *json)
{
	ClaudeTaskAnswer answer;

	claude_task_answer_parsed(run->task, json, claude_bedrock_take_answer(&it->call, json), &answer);
	it->stop_reason = answer.stop_reason;
	if (answer.intervened && run->raise && claude_guardrail_on_intervention == CLAUDE_GUARDRAIL_NULL)
	{
		it->intervened = true;
		it->error = answer.problem.message;
		it->finished = true;
		return;
	}
	if (answer.problem.sqlerrcode != 0)
	{
		item_fails(it, &answer.problem);
		return;
	}
	it->result = answer.result;
	if (answer.why != NULL)
	{
		it->why = answer.why;
		if (it->rounds < CLAUDE_TASK_ROUNDS)
			it->send = true;	/* ask again, saying why */
		else
		{
			it->refused = true;
			it->error = claude_task_refusal(run->task, answer.why);
		}
	}
	if (!it->send)
		it->finished = true;
}

/* A scalar call: raise what went wrong, as the code that found it would have. */
static void
raise_failures(TaskRun *run)
{
	int			i;

	if (!run->raise)
		return;
	for (i = 0; i < run->n; i++)
	{
		if (run->items[i].failed)
			claude_bedrock_raise("InvokeModel", run->task->model, run->items[i].failed);
		if (run->items[i].problem.sqlerrcode != 0)
			claude_problem_raise(&run->items[i].problem);
	}
}

static bool
run_next(void *arg, ClaudeHttpRequest **req, void **tag)
{
	TaskRun    *run = (TaskRun *) arg;

	while (run->cursor < run->n)
	{
		TaskItem   *it = &run->items[run->cursor++];

		if (it->send)
		{
			it->send = false;
			*req = &it->call.req;
			*tag = it;
			return true;
		}
	}
	return false;
}

static void
run_done(void *arg, void *tag, ClaudeHttpResponse *resp)
{
	TaskRun    *run = (TaskRun *) arg;
	TaskItem   *it = (TaskItem *) tag;

	if (!claude_bedrock_ok(resp) && claude_task_reshape(run->task, resp))
	{
		/* sent again shaped the other way: not a round of asking again */
		it->send = true;
		it->rounds--;
		return;
	}
	if (!claude_bedrock_ok(resp))
	{
		if (run->raise)
		{
			/* raised once the pump is done; the body is ours to keep */
			it->failed = palloc(sizeof(ClaudeHttpResponse));
			*it->failed = *resp;
			resp->body = NULL;
		}
		else
			it->error = claude_bedrock_error_text("InvokeModel", run->task->model, resp);
		it->finished = true;
		return;
	}
	claude_bedrock_finish(&it->call, resp);
	interpret(run, it, resp->body);
}

/* Prepare every unfinished item that needs a request; answer cache hits. */
static int
prepare_round(TaskRun *run)
{
	int			i;
	int			to_send = 0;

	for (i = 0; i < run->n; i++)
	{
		TaskItem   *it = &run->items[i];
		ClaudeProblem problem;
		char	   *body;

		if (it->finished || it->input == NULL)
			continue;
		if (it->rounds > 0 && !it->send)
			continue;
		it->send = false;
		it->rounds++;
		if (!claude_task_build_attached(run->task, it->input, it->attachment, it->why, &body, &problem))
		{
			item_fails(it, &problem);
			continue;
		}

		/* residency refusals raise: they are the statement's, not a row's */
		run->cc.input = it->audited ? it->audited : it->input;
		run->cc.attachment_type = it->attachment ? it->attachment->media_type : NULL;
		run->cc.attachment_bytes = it->attachment ? (int64) it->attachment->len : 0;
		if (claude_bedrock_prepare(&it->call, &run->cc, "InvokeModel", "invoke", run->task->model,
								   body, strlen(body)))
		{
			interpret(run, it, it->call.resp.body);
			continue;
		}
		it->send = true;
		to_send++;
	}
	return to_send;
}

/*
 * Rounds until every item is finished: a tool answer asked for again
 * (CLAUDE_TASK_ROUNDS in all) or a request sent again after a refusal that
 * taught a trait (CLAUDE_TASK_RESHAPES per task).
 */
static void
run_task(TaskRun *run)
{
	int			round;

	for (round = 0; round < CLAUDE_TASK_ROUNDS + CLAUDE_TASK_RESHAPES; round++)
	{
		ClaudeHttpPump pump = {
			.concurrency = claude_max_concurrency,
			.next = run_next,
			.done = run_done,
		};
		int			to_send = prepare_round(run);

		raise_failures(run);
		if (to_send == 0)
			break;
		run->cursor = 0;
		pump.arg = run;
		claude_http_pump(&pump);
		claude_model_learned_flush();
		raise_failures(run);
	}
}

/* A result's text form as a Datum of the task's result type. */
static Datum
result_datum(const ClaudeTask *t, const char *result)
{
	Oid			input_fn;
	Oid			ioparam;

	if (t->result_type == TEXTOID)
		return CStringGetTextDatum(result);
	getTypeInputInfo(t->result_type, &input_fn, &ioparam);
	return OidInputFunctionCall(input_fn, (char *) result, ioparam, -1);
}

/* ---------------------------------------------------------------------
 * The scalar form: a batch of one
 * --------------------------------------------------------------------- */

typedef struct ScalarCall
{
	const char *function_name;
	ClaudeTask *task;
	char	   *input;
	ClaudeAttachment *attachment;	/* or NULL */
	char	   *audited;
} ScalarCall;

static Datum
scalar_call(FunctionCallInfo fcinfo, void *arg, bool *isnull)
{
	ScalarCall *sc = (ScalarCall *) arg;
	const ClaudeTaskKind *kind = sc->task->kind;
	MemoryContext callcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_claude call",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(callcxt);
	TaskRun		run;
	TaskItem   *it;
	Datum		result = (Datum) 0;

	memset(&run, 0, sizeof(run));
	run.cc = CLAUDE_CALL_CONTEXT(sc->function_name, sc->input);
	run.task = sc->task;
	run.raise = true;
	run.n = 1;
	run.items = it = palloc0(sizeof(TaskItem));
	it->input = sc->input;
	it->attachment = sc->attachment;
	it->audited = sc->audited;
	run_task(&run);

	if (it->refused && kind->refusal_is_error)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("%s", kind->refusal),
				 errdetail_internal("%s", it->why),
				 kind->refusal_hint ? errhint("%s", kind->refusal_hint) : 0));
	if (it->intervened)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("%s; returning NULL", it->error),
				 errhint("claude.usage counts interventions (guardrail_action = 'INTERVENED').")));
	if (it->refused)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("%s; returning NULL", kind->refusal),
				 errdetail_internal("%s", it->why)));
	if (kind->warn_cut_short && it->stop_reason && strcmp(it->stop_reason, "max_tokens") == 0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("Claude's answer was cut short at max_tokens (%d)", sc->task->max_tokens),
				 errhint("Raise the max_tokens argument or claude.max_tokens.")));

	MemoryContextSwitchTo(oldcxt);
	if (it->result != NULL && !it->refused && !it->intervened)
		result = result_datum(sc->task, it->result);
	else
		*isnull = true;
	MemoryContextDelete(callcxt);
	return result;
}

Datum
claude_task_call(FunctionCallInfo fcinfo, const char *function_name, ClaudeTaskArgsFn args)
{
	ClaudeTask	t;
	ScalarCall	sc;
	Datum		result;
	bool		isnull;

	/* NULL in, NULL out: before the other arguments are even checked */
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	args(fcinfo, &t);
	memset(&sc, 0, sizeof(sc));
	sc.function_name = function_name;
	sc.task = &t;
	sc.input = text_to_cstring(PG_GETARG_TEXT_PP(0));
	result = claude_guarded_call(function_name, scalar_call, fcinfo, &sc, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/* ---------------------------------------------------------------------
 * The _batch form: one row (ord, result, error) per element
 * --------------------------------------------------------------------- */

/* The _batch result: one row (ord, result, error) per item. */
static void
put_rows(FunctionCallInfo fcinfo, const TaskRun *run)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < run->n; i++)
	{
		TaskItem   *it = &run->items[i];
		Datum		values[3];
		bool		isnull[3] = {false, false, false};

		values[0] = Int32GetDatum(i + 1);
		if (it->result == NULL || it->error != NULL)
			isnull[1] = true;
		else
			values[1] = result_datum(run->task, it->result);
		if (it->error)
			values[2] = CStringGetTextDatum(it->error);
		else
			isnull[2] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
}

Datum
claude_task_batch(FunctionCallInfo fcinfo, const char *function_name, ClaudeTaskArgsFn args)
{
	ClaudeTask	t;
	TaskRun		run;
	Datum	   *elems;
	bool	   *nulls;
	int			i;

	args(fcinfo, &t);
	memset(&run, 0, sizeof(run));
	run.cc = CLAUDE_CALL_CONTEXT(function_name, NULL);
	run.task = &t;
	if (!PG_ARGISNULL(0))
	{
		/* the argument's name in SQL: claude_complete_batch's is prompts */
		claude_task_list_elements(PG_GETARG_ARRAYTYPE_P(0), TEXTOID,
								  strcmp(function_name, "claude_complete_batch") == 0 ? "prompts" : "inputs",
								  &elems, &nulls, &run.n);
		run.items = palloc0(sizeof(TaskItem) * Max(run.n, 1));
		for (i = 0; i < run.n; i++)
			run.items[i].input = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	}
	run_task(&run);

	put_rows(fcinfo, &run);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * The forms with a document or image (doc/documents.md)
 * --------------------------------------------------------------------- */

/* What the prompt says when the attachment is the whole input. */
static const char *
attachment_input(const ClaudeAttachment *a)
{
	return a->is_document ? "the attached document" : "the attached image";
}

/* Read one attachment into it (its input and how it is audited), or its problem. */
static bool
item_attach(TaskItem *it, bytea *bytes, const char *media_type, const char *prompt,
			ClaudeProblem *problem)
{
	ClaudeAttachment *a = palloc(sizeof(ClaudeAttachment));

	if (!claude_attachment_read(bytes ? (const unsigned char *) VARDATA_ANY(bytes) : NULL,
								bytes ? VARSIZE_ANY_EXHDR(bytes) : 0, media_type, a, problem))
		return false;
	it->attachment = a;
	it->input = prompt ? (char *) prompt : (char *) attachment_input(a);
	/* prompt_sha256 and a logged prompt cover the bytes too */
	it->audited = psprintf("%s\n%s", it->input, claude_attachment_describe(a));
	return true;
}

/*
 * A model claude.models says reads no images or documents is refused
 * before anything is read or sent; unknown is sent (Bedrock then decides).
 */
static bool
vision_refused(const ClaudeTask *t, ClaudeProblem *problem)
{
	if (t->traits.vision != TRAIT_NO)
		return false;
	claude_problem(problem, ERRCODE_FEATURE_NOT_SUPPORTED,
				   psprintf("model \"%s\" does not read images or documents", t->model),
				   "claude.models records vision = false for it.",
				   "Choose a model that does: SELECT model_id FROM claude.models_merged WHERE vision; "
				   "pass it as model => ... or set claude.model.");
	return true;
}

static void
check_vision(const ClaudeTask *t)
{
	ClaudeProblem problem;

	if (vision_refused(t, &problem))
		claude_problem_raise(&problem);
}

bool
claude_task_build_from_bytes(const ClaudeTask *t, const unsigned char *data, size_t len,
							 const char *why, char **body, char **audited,
							 const ClaudeAttachment **attachment, ClaudeProblem *problem)
{
	ClaudeAttachment *a = palloc(sizeof(ClaudeAttachment));
	const char *input;

	*body = NULL;
	*attachment = a;
	if (vision_refused(t, problem) || !claude_attachment_read(data, len, NULL, a, problem))
		return false;
	input = attachment_input(a);
	*audited = psprintf("%s\n%s", input, claude_attachment_describe(a));
	return claude_task_build_attached(t, input, a, why, body, problem);
}

static const char *
media_type_arg(FunctionCallInfo fcinfo, int argno)
{
	if (argno < 0 || PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

Datum
claude_task_call_attached(FunctionCallInfo fcinfo, const char *function_name, ClaudeTaskArgsFn args,
						  const ClaudeTaskAttachmentArgs *where)
{
	ClaudeTask	t;
	ScalarCall	sc;
	TaskItem	it;
	ClaudeProblem problem;
	const char *prompt = NULL;
	Datum		result;
	bool		isnull;

	/* NULL in, NULL out, as for text input: the prompt, or the attachment that is the input */
	if (where->prompt >= 0 && PG_ARGISNULL(where->prompt))
		PG_RETURN_NULL();
	if (where->prompt < 0 && PG_ARGISNULL(where->bytes))
		PG_RETURN_NULL();
	args(fcinfo, &t);
	check_vision(&t);
	if (where->prompt >= 0)
		prompt = text_to_cstring(PG_GETARG_TEXT_PP(where->prompt));
	memset(&it, 0, sizeof(it));
	if (!item_attach(&it, PG_ARGISNULL(where->bytes) ? NULL : PG_GETARG_BYTEA_PP(where->bytes),
					 media_type_arg(fcinfo, where->media_type), prompt, &problem))
		claude_problem_raise(&problem);
	memset(&sc, 0, sizeof(sc));
	sc.function_name = function_name;
	sc.task = &t;
	sc.input = it.input;
	sc.attachment = it.attachment;
	sc.audited = it.audited;
	result = claude_guarded_call(function_name, scalar_call, fcinfo, &sc, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

Datum
claude_task_batch_attached(FunctionCallInfo fcinfo, const char *function_name, ClaudeTaskArgsFn args,
						   const ClaudeTaskAttachmentArgs *where)
{
	ClaudeTask	t;
	TaskRun		run;
	Datum	   *elems;
	bool	   *nulls;
	Datum	   *prompts = NULL;
	bool	   *prompt_nulls = NULL;
	int			nprompts = 0;
	const char *media_type = media_type_arg(fcinfo, where->media_type);
	int			i;

	args(fcinfo, &t);
	check_vision(&t);
	memset(&run, 0, sizeof(run));
	run.cc = CLAUDE_CALL_CONTEXT(function_name, NULL);
	run.task = &t;
	if (where->prompt >= 0 && !PG_ARGISNULL(where->prompt))
		claude_task_list_elements(PG_GETARG_ARRAYTYPE_P(where->prompt), TEXTOID, "prompts",
								  &prompts, &prompt_nulls, &nprompts);
	if (!PG_ARGISNULL(where->bytes))
	{
		claude_task_list_elements(PG_GETARG_ARRAYTYPE_P(where->bytes), BYTEAOID, "attachments",
								  &elems, &nulls, &run.n);
		if (where->prompt >= 0 && nprompts != run.n)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s needs one attachment per prompt", function_name),
					 errdetail("%d prompts and %d attachments were given.", nprompts, run.n),
					 errhint("Pass arrays of the same length; a NULL prompt gives a row without a request.")));
		run.items = palloc0(sizeof(TaskItem) * Max(run.n, 1));
		for (i = 0; i < run.n; i++)
		{
			TaskItem   *it = &run.items[i];
			ClaudeProblem problem;
			const char *prompt = NULL;

			if (where->prompt >= 0)
			{
				/* a NULL prompt is a NULL row, as in the text form */
				if (prompt_nulls[i])
					continue;
				prompt = TextDatumGetCString(prompts[i]);
			}
			else if (nulls[i])
				continue;
			if (!item_attach(it, nulls[i] ? NULL : DatumGetByteaPP(elems[i]), media_type, prompt, &problem))
			{
				it->input = "";
				item_fails(it, &problem);
			}
		}
	}
	run_task(&run);

	put_rows(fcinfo, &run);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * A task over inputs for another function (claude_rank's chunks)
 * --------------------------------------------------------------------- */

void
claude_task_run(const char *function_name, ClaudeTask *t, int n, char **inputs,
				char **results, char **errors)
{
	TaskRun		run;
	int			i;

	memset(&run, 0, sizeof(run));
	run.cc = CLAUDE_CALL_CONTEXT(function_name, NULL);
	run.task = t;
	run.n = n;
	run.items = palloc0(sizeof(TaskItem) * Max(n, 1));
	for (i = 0; i < n; i++)
		run.items[i].input = inputs[i];
	run_task(&run);
	for (i = 0; i < n; i++)
	{
		errors[i] = run.items[i].error;
		results[i] = errors[i] ? NULL : run.items[i].result;
	}
}
