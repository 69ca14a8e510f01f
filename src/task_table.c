/*-------------------------------------------------------------------------
 *
 * task_table.c
 *	  The task table: every task kind there is, found by name.
 *
 * Adding a task means a task_<kind>.c and a row here; nothing else lists
 * task names (claude_enrich checks names against this table).  Above the
 * kinds, so that they never need it: no kind depends on another.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "lib/stringinfo.h"

#include "task.h"

/* The task table: every kind there is, in the order hints list them. */
static const ClaudeTaskKind *const task_kinds[] = {
	&claude_task_complete,
	&claude_task_classify,
	&claude_task_summarize,
	&claude_task_extract,
	&claude_task_sentiment,
	&claude_task_redact,
	/* filter, translate and rank (issue 19) */
	&claude_task_if,
	&claude_task_translate,
	&claude_task_rank,
};

const ClaudeTaskKind *
claude_task_find(const char *task)
{
	int			i;

	for (i = 0; i < (int) lengthof(task_kinds); i++)
		if (strcmp(task, task_kinds[i]->name) == 0)
			return task_kinds[i];
	return NULL;
}

void
claude_task_check_name(const char *task)
{
	StringInfoData names;
	int			i;

	if (claude_task_find(task) != NULL)
		return;
	initStringInfo(&names);
	for (i = 0; i < (int) lengthof(task_kinds); i++)
		appendStringInfo(&names, "%s%s", i == 0 ? "" : i + 1 < (int) lengthof(task_kinds) ? ", " : " or ",
						 task_kinds[i]->name);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown task \"%s\"", task),
			 errhint("Use %s.", names.data)));
}

const char *
claude_task_result_type(const char *task)
{
	const ClaudeTaskKind *kind = claude_task_find(task);

	return kind ? kind->result_type : "text";
}

void
claude_task_from_options(ClaudeTask *t, const char *task, const char *options_json)
{
	claude_task_check_name(task);
	claude_task_configure(t, claude_task_find(task), cJSON_Parse(options_json));
}
