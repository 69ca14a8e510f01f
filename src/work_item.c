/*-------------------------------------------------------------------------
 *
 * work_item.c
 *	  One request of the worker's: prepared, sent in a round, answered.
 *
 * A work item is a row of a job or an asynchronous request on its way:
 * its body, its prepared Bedrock call, and what came back.  Items of a
 * job's claim share the claim's memory, freed once they are all written.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "bedrock.h"
#include "call.h"
#include "guc.h"
#include "model_catalog.h"
#include "subxact.h"
#include "rate_limit.h"
#include "task.h"
#include "work_item.h"
#include "work_xact.h"

/*
 * The max_tokens a body asks for: what Bedrock reserves of the quota when
 * the request starts (0 when absent: the service's default is small).
 */
static int
body_max_tokens(const char *body)
{
	cJSON	   *root = cJSON_Parse(body);
	cJSON	   *mt = root ? cJSON_GetObjectItemCaseSensitive(root, "max_tokens") : NULL;
	int			max_tokens = cJSON_IsNumber(mt) ? (int) Min(Max(mt->valuedouble, 0), INT_MAX) : 0;

	cJSON_Delete(root);
	return max_tokens;
}

/*
 * Quota tokens one output token of model costs: claude.output_burndown
 * when set, else the model's factor in claude.models.
 */
static double
output_burndown(const char *model)
{
	double		f;

	if (claude_output_burndown >= 0)
		return claude_output_burndown;
	f = claude_model_info(model)->traits.output_burndown;
	return f >= 0 ? f : 5.0;	/* unknown: the Claude 4 family's */
}

bool
claude_work_item_admit(WorkItem *it)
{
	return claude_rate_take(it->input_estimate, it->max_tokens, it->burndown, &it->reservation);
}

void
claude_work_item_answered(WorkItem *it, const ClaudeHttpResponse *resp)
{
	claude_rate_settle(it->reservation, resp);
	it->reservation = 0;
	claude_rate_feedback(resp);
}

/*
 * An attempt that will be tried again is done with its reservation: the
 * retry reserves anew when it is sent, at the tail of the ledger, as the
 * service counts it; the failed attempt keeps what the service may hold of
 * it (rate_limit.c).
 */
void
claude_work_item_retrying(void *arg, void *tag, const ClaudeHttpResponse *resp)
{
	claude_work_item_answered((WorkItem *) tag, resp);
}

long
claude_work_item_readmit(void *arg, void *tag)
{
	return claude_work_item_admit((WorkItem *) tag) ? 0 : claude_rate_wait_ms();
}

static bool
round_next(void *arg, ClaudeHttpRequest **req, void **tag)
{
	WorkRound  *r = (WorkRound *) arg;

	r->limited = false;
	while (r->cursor < r->n)
	{
		WorkItem   *it = &r->items[r->cursor];

		if (it->sent || it->answered || it->error)
		{
			r->cursor++;
			continue;
		}
		if (!claude_work_item_admit(it))
		{
			r->limited = true;	/* the rate limit: the pump asks again (round_pause) */
			return false;
		}
		r->cursor++;
		it->sent = true;
		*req = &it->call.req;
		*tag = it;
		return true;
	}
	return false;
}

static void
round_done(void *arg, void *tag, ClaudeHttpResponse *resp)
{
	WorkRound  *r = (WorkRound *) arg;
	WorkItem   *it = (WorkItem *) tag;

	claude_work_item_answered(it, resp);
	if (!claude_bedrock_ok(resp))
	{
		it->error = claude_bedrock_error_text("InvokeModel", r->model, resp);
		return;
	}
	claude_bedrock_finish(&it->call, resp);
	it->input_tokens += Max(resp->input_tokens, 0);
	it->output_tokens += Max(resp->output_tokens, 0);
	it->response = pstrdup(resp->body);
	it->answered = true;
}

/* next() said no: for the rate limits, ask again when they may have room */
static long
round_pause(void *arg)
{
	return ((WorkRound *) arg)->limited ? claude_rate_wait_ms() : -1;
}

static void
ready_to_sign(void *arg)
{
	claude_bedrock_ready_to_sign(&((WorkRound *) arg)->cc);
}

/*
 * Send a round's items (all that are prepared and not yet answered),
 * honouring the rate limits.  No usable credentials is every unfinished
 * item's error, found before the pump (in a work transaction, where it can
 * be caught); an error inside the pump ends the round, and the worker's
 * loop requeues or fails what was claimed (jobs.c).
 */
void
claude_work_send_round(WorkRound *r)
{
	ErrorData  *edata;
	int			i;

	claude_work_begin();
	edata = claude_try(ready_to_sign, r);
	claude_work_end();
	if (edata != NULL)
	{
		/* a cancel or shutdown stops the round; the worker's recovery requeues it */
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION)
			ReThrowError(edata);
		ereport(LOG, (errmsg("pg_claude worker: %s", edata->message)));
		for (i = 0; i < r->n; i++)
			if (!r->items[i].answered && !r->items[i].error)
				r->items[i].error = pstrdup(edata->message);
		FreeErrorData(edata);
		return;
	}

	for (;;)
	{
		ClaudeHttpPump pump = {
			.concurrency = claude_rate_concurrency(),
			.next = round_next,
			.done = round_done,
			.arg = r,
			.retrying = claude_work_item_retrying,
			.readmit = claude_work_item_readmit,
			.pause = round_pause,
		};
		bool		unsent = false;

		r->cursor = 0;
		claude_http_pump(&pump);

		for (i = 0; i < r->n; i++)
			if (!r->items[i].sent && !r->items[i].answered && !r->items[i].error)
				unsent = true;
		if (!unsent)
			return;
		/* rate-limited: wait for the buckets, then send the rest */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 claude_rate_wait_ms(), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Where an item's own allocations go: its claim's memory, if it has one. */
MemoryContext
claude_work_item_cxt(WorkItem *it)
{
	return it->round && it->round->cxt ? it->round->cxt : CurrentMemoryContext;
}

/*
 * A request whose reservation is larger than the whole quota is refused by
 * the service every time (a 429 that is no sign of sending too much, and
 * would shrink the limits for everyone): it fails here, before it is sent.
 */
static void
check_reservation(const WorkItem *it)
{
	double		wanted = claude_rate_reservation(it->input_estimate, it->max_tokens, it->burndown);

	if (claude_tokens_per_minute > 0 && wanted > claude_tokens_per_minute)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the request's token reservation of %.0f exceeds claude.tokens_per_minute (%d)",
						wanted, claude_tokens_per_minute),
				 errdetail("A request reserves its input (about %ld tokens) plus max_tokens (%d) "
						   "times the model's output burn-down (%g) when it is sent, and the quota never holds more.",
						   it->input_estimate, it->max_tokens, it->burndown),
				 errhint("Lower max_tokens, or raise claude.tokens_per_minute to the account's quota "
						 "(or lower the model's output_burndown in claude.models if its output counts less).")));
}

typedef struct PrepareArgs
{
	WorkRound  *round;
	WorkItem   *item;
} PrepareArgs;

static void
prepare(void *arg)
{
	PrepareArgs *a = (PrepareArgs *) arg;
	WorkItem   *it = a->item;

	const ClaudeAttachment *attached = NULL;

	a->round->cc.input = it->input;
	a->round->cc.attachment_type = NULL;
	if (a->round->task && it->attachment)
	{
		/* a bytea input: the row's document or image; a refusal is the row's (doc/documents.md) */
		ClaudeProblem problem;
		char	   *audited;

		if (!claude_task_build_from_bytes(a->round->task, it->attachment, it->attachment_len, it->why,
										  &it->body, &audited, &attached, &problem))
			claude_problem_raise(&problem);
		a->round->cc.input = audited;
		a->round->cc.attachment_type = attached->media_type;
		a->round->cc.attachment_bytes = (int64) attached->len;
	}
	else if (a->round->task)
		it->body = claude_task_body(a->round->task, it->input, it->why);
	it->sent = false;
	if (claude_bedrock_prepare(&it->call, &a->round->cc, "InvokeModel", "invoke", a->round->model,
							   it->body, strlen(it->body)))
	{
		it->response = pstrdup(it->call.resp.body);
		it->answered = true;
		return;
	}
	/* about 3 characters a token: more than Claude's tokenizer gives for prose */
	it->input_estimate = (long) (strlen(it->body) / 3);
	/* an attachment's base64 is not text: what it costs instead (attachment.c) */
	if (attached)
		it->input_estimate += claude_attachment_tokens(attached) -
			(long) (claude_attachment_body_bytes(attached) / 3);
	it->max_tokens = body_max_tokens(it->body);
	it->burndown = output_burndown(a->round->model);
	check_reservation(it);
}

/*
 * Prepare an item (residency, cache, its request); an error (a refused
 * model, a body that cannot be built) is the item's, its subtransaction
 * rolled back (claude_try).
 */
void
claude_work_prepare(WorkRound *r, WorkItem *it)
{
	MemoryContext cxt = MemoryContextSwitchTo(claude_work_item_cxt(it));
	PrepareArgs args = {r, it};
	ErrorData  *edata = claude_try(prepare, &args);

	if (edata)
	{
		it->error = pstrdup(edata->message);
		it->error_code = pstrdup(unpack_sql_state(edata->sqlerrcode));
		it->error_retryable = false;
		FreeErrorData(edata);
	}
	MemoryContextSwitchTo(cxt);
}

