/*-------------------------------------------------------------------------
 *
 * task_complete.c
 *	  The complete task: one prompt, one answer in text.  SQL functions
 *	  claude_complete() and claude_complete_batch(); claude_complete_async()
 *	  and claude_enrich(..., 'complete') run the same task.
 *
 * Options: system, model, max_tokens (default claude.max_tokens),
 * temperature (default claude.temperature).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "task.h"


static void
complete_configure(ClaudeTask *t, const cJSON *options)
{
	t->system = claude_task_string_option(options, "system");
	t->max_tokens = claude_task_max_tokens(t, options);
}

const ClaudeTaskKind claude_task_complete = {
	.name = "complete",
	.reads_attachments = true,
	.result_type = "text",
	.configure = complete_configure,
	.warn_cut_short = true,
};

static const ClaudeTaskArg complete_args[] = {
	{"system", 1, TASK_ARG_TEXT},
	{"model", 2, TASK_ARG_TEXT},
	{"max_tokens", 3, TASK_ARG_INT},
	{"temperature", 4, TASK_ARG_FLOAT},
	{NULL}
};

void
claude_task_complete_args(FunctionCallInfo fcinfo, ClaudeTask *t)
{
	claude_task_configure(t, &claude_task_complete, claude_task_sql_options(fcinfo, complete_args));
}

/* claude_complete(prompt, system, model, max_tokens, temperature) -> text (NULL
 * in the other arguments means "use the setting"), and
 * claude_complete_batch(prompts text[], system, model, max_tokens, temperature) */
CLAUDE_TASK_SQL_FUNCTIONS(claude_complete, claude_task_complete_args)

/*
 * With a document or image (argument 1): max_tokens and temperature keep
 * their positions (4 and 5) and model comes after them, so that a call of
 * the text form with untyped NULLs still resolves to it (README,
 * "Documents and images").
 */
static const ClaudeTaskArg complete_attached_args[] = {
	{"system", 2, TASK_ARG_TEXT},
	{"max_tokens", 3, TASK_ARG_INT},
	{"temperature", 4, TASK_ARG_FLOAT},
	{"model", 5, TASK_ARG_TEXT},
	{NULL}
};

static void
complete_attached_task_args(FunctionCallInfo fcinfo, ClaudeTask *t)
{
	claude_task_configure(t, &claude_task_complete, claude_task_sql_options(fcinfo, complete_attached_args));
}

static const ClaudeTaskAttachmentArgs complete_attachment = {.prompt = 0, .bytes = 1, .media_type = 6};

/* claude_complete(prompt, attachment bytea, system, max_tokens, temperature, model, media_type),
 * claude_complete_batch(prompts text[], attachments bytea[], ..., media_type) */
CLAUDE_TASK_SQL_ATTACHED_FUNCTIONS(claude_complete, claude_complete_batch_attached, "claude_complete_batch", complete_attached_task_args, &complete_attachment)
