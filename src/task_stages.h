/*-------------------------------------------------------------------------
 *
 * task_stages.h
 *	  Answering over a group of texts in stages (map, then reduce): the
 *	  aggregates claude_summarize_agg and claude_agg.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_TASK_STAGES_H
#define PG_CLAUDE_TASK_STAGES_H

#include "nodes/pg_list.h"

#include "call_context.h"
#include "task.h"

/*
 * The user turn for one request over items (char * each); stage is 1 for
 * the group's own items, more for answers over parts of the group.
 */
typedef char *(*ClaudeStagePromptFn) (const ClaudeTask *t, List *items, int stage);

/*
 * One answer over items: packed into chunks of at most
 * claude.summarize_chunk_tokens (estimated), one request per chunk, the
 * answers answered over again until one request holds them all.  An item
 * too long for a chunk is cut into chunk-sized pieces.  function_name
 * names the aggregate in errors.  NULL (with a WARNING) when a guardrail
 * intervened and claude.guardrail_on_intervention is null.
 */
extern char *claude_task_staged(const ClaudeCallContext *cc, const ClaudeTask *t, List *items,
								ClaudeStagePromptFn prompt, const char *function_name);

/* The items as "- item" lines, line breaks inside an item made spaces. */
extern void claude_stage_append_items(StringInfo buf, List *items);

#endif							/* PG_CLAUDE_TASK_STAGES_H */
