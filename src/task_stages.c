/*-------------------------------------------------------------------------
 *
 * task_stages.c
 *	  Answering over a group of texts in stages, for the aggregates
 *	  (claude_summarize_agg, claude_agg): the group's items are packed into
 *	  chunks of at most claude.summarize_chunk_tokens (estimated), each
 *	  chunk is answered (map), and the answers are answered over again
 *	  (reduce) until one request holds them all.  No request is ever built
 *	  over the context window; an item too long for a chunk is itself cut
 *	  into chunk-sized pieces.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "anthropic.h"
#include "bedrock.h"
#include "call.h"
#include "guardrail.h"
#include "guc.h"
#include "task_stages.h"

#define MAX_STAGES 16

/* Cut text into pieces of at most max_bytes, on character boundaries. */
static List *
split_text(const char *text, size_t max_bytes)
{
	List	   *pieces = NIL;
	size_t		len = strlen(text);
	size_t		pos = 0;

	while (pos < len)
	{
		size_t		take = Min(max_bytes, len - pos);

		if (pos + take < len)
			take = pg_mbcliplen(text + pos, len - pos, take);
		if (take == 0)
			take = pg_mblen(text + pos);
		pieces = lappend(pieces, pnstrdup(text + pos, take));
		pos += take;
	}
	return pieces;
}

void
claude_stage_append_items(StringInfo buf, List *items)
{
	ListCell   *lc;

	foreach(lc, items)
	{
		const char *p;

		/* one item per "- " line: line breaks inside an item become spaces */
		appendStringInfoString(buf, "- ");
		for (p = lfirst(lc); *p; p++)
			appendStringInfoChar(buf, (*p == '\n' || *p == '\r') ? ' ' : *p);
		appendStringInfoChar(buf, '\n');
	}
}

/*
 * A guardrail's answer is its blocked message, not an answer over the
 * items: it must not become the group's answer, nor an item of the next
 * stage.  NULL under claude.guardrail_on_intervention = null (the caller
 * warns once), the error under error.
 */
static void
stage_intervened(const char *function_name)
{
	if (claude_guardrail_on_intervention == CLAUDE_GUARDRAIL_NULL)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("Bedrock guardrail \"%s\" intervened in %s; returning NULL", claude_guardrail_id,
						function_name),
				 errdetail("The rest of the group was not sent."),
				 errhint("claude.usage counts interventions (guardrail_action = 'INTERVENED').")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("Bedrock guardrail \"%s\" intervened in %s", claude_guardrail_id, function_name),
				 errdetail("The input or the answer matched one of the guardrail's policies; claude.usage.guardrail_trace says which."),
				 errhint("claude.guardrail_on_intervention = error raises this; null returns NULL with a WARNING.")));
}

/* One request of task t over the items of one chunk; NULL when a guardrail intervened. */
static char *
stage_request(const ClaudeCallContext *cc, const ClaudeTask *t, List *items, int stage,
			  ClaudeStagePromptFn prompt_fn)
{
	ClaudeMessageRequest msg = {0};
	ClaudeHttpResponse resp;
	ClaudeUsage usage;
	char	   *prompt = prompt_fn(t, items, stage);
	char	   *body;
	char	   *stop_reason;

	msg.prompt = prompt;
	msg.system = t->system;
	msg.max_tokens = t->max_tokens;
	msg.has_temperature = t->has_temperature;
	msg.temperature = t->temperature;
	claude_check_context(strlen(prompt) + strlen(t->system), t->max_tokens, t->traits.context_window);
	body = claude_anthropic_build(&msg);
	claude_bedrock_invoke(cc, t->model, body, strlen(body), &resp);
	if (claude_guardrail_intervened(resp.body, NULL))
		return NULL;
	return claude_anthropic_response_text(resp.body, &usage, &stop_reason);
}

/* Add a chunk's answer; false (stop the stage) when a guardrail intervened. */
static bool
add_answer(List **out, char *answer, int *requests)
{
	(*requests)++;
	if (answer == NULL)
		return false;
	*out = lappend(*out, answer);
	return true;
}

/* Answers over items (NIL when a guardrail intervened), packed into chunks that fit the budget; one request per chunk. */
static List *
run_stage(const ClaudeCallContext *cc, const ClaudeTask *t, List *items, int stage,
		  ClaudeStagePromptFn prompt_fn, int *requests)
{
	size_t		budget = (size_t) claude_summarize_chunk_tokens * 3;	/* bytes, by the estimate */
	List	   *out = NIL;
	List	   *chunk = NIL;
	size_t		chunk_bytes = 0;
	ListCell   *lc;

	foreach(lc, items)
	{
		char	   *item = lfirst(lc);
		size_t		len = strlen(item) + 3;

		if (len > budget)
		{
			/* too long for any chunk: its pieces are items of their own */
			List	   *pieces = split_text(item, budget - 3);
			ListCell   *pc;

			foreach(pc, pieces)
			{
				if (chunk != NIL)
				{
					if (!add_answer(&out, stage_request(cc, t, chunk, stage, prompt_fn), requests))
						return NIL;
				}
				chunk = list_make1(lfirst(pc));
				chunk_bytes = strlen(lfirst(pc)) + 3;
			}
			continue;
		}
		if (chunk != NIL && chunk_bytes + len > budget)
		{
			if (!add_answer(&out, stage_request(cc, t, chunk, stage, prompt_fn), requests))
				return NIL;
			chunk = NIL;
			chunk_bytes = 0;
		}
		chunk = lappend(chunk, item);
		chunk_bytes += len;
	}
	if (chunk != NIL && !add_answer(&out, stage_request(cc, t, chunk, stage, prompt_fn), requests))
		return NIL;
	return out;
}

char *
claude_task_staged(const ClaudeCallContext *cc, const ClaudeTask *t, List *items,
				   ClaudeStagePromptFn prompt_fn, const char *function_name)
{
	List	   *level = items;
	int			stages = 0;
	int			requests = 0;

	do
	{
		if (++stages > MAX_STAGES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s did not converge after %d stages", function_name, MAX_STAGES),
					 errhint("Raise claude.summarize_chunk_tokens.")));
		level = run_stage(cc, t, level, stages, prompt_fn, &requests);
		if (level == NIL)
		{
			stage_intervened(function_name);
			return NULL;
		}
	} while (list_length(level) > 1);

	if (stages > 1)
		ereport(DEBUG1,
				(errmsg_internal("%s: %d items in %d stages, %d requests",
								 function_name, list_length(items), stages, requests)));
	return linitial(level);
}
