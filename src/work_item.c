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

bool
claude_work_item_admit(WorkItem *it)
{
	/* about 3 characters a token: more than Claude's tokenizer gives for prose */
	return claude_rate_take((long) (strlen(it->body) / 3), body_max_tokens(it->body),
							&it->reservation);
}

void
claude_work_item_answered(WorkItem *it, const ClaudeHttpResponse *resp)
{
	claude_rate_settle(it->reservation, resp);
	it->reservation = 0;
	claude_rate_feedback(resp);
}

static bool
round_next(void *arg, ClaudeHttpRequest **req, void **tag)
{
	WorkRound  *r = (WorkRound *) arg;

	while (r->cursor < r->n)
	{
		WorkItem   *it = &r->items[r->cursor];

		if (it->sent || it->answered || it->error)
		{
			r->cursor++;
			continue;
		}
		if (!claude_work_item_admit(it))
			return false;		/* the rate limit: the rest waits for the next pump */
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

static void
ready_to_sign(void *arg)
{
	claude_bedrock_ready_to_sign();
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
	edata = claude_try(ready_to_sign, NULL);
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
		ClaudeHttpPump pump;
		bool		unsent = false;

		r->cursor = 0;
		pump.concurrency = claude_rate_concurrency();
		pump.next = round_next;
		pump.done = round_done;
		pump.arg = r;
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

	it->body = a->round->task ? claude_task_body(a->round->task, it->input, it->why) : it->body;
	it->sent = false;
	a->round->cc.input = it->input;
	if (claude_bedrock_prepare(&it->call, &a->round->cc, "InvokeModel", "invoke", a->round->model,
							   it->body, strlen(it->body)))
	{
		it->response = pstrdup(it->call.resp.body);
		it->answered = true;
	}
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
		FreeErrorData(edata);
	}
	MemoryContextSwitchTo(cxt);
}

