/*-------------------------------------------------------------------------
 *
 * task.h
 *	  A task is a value: one kind of work (complete, summarize, classify,
 *	  extract, sentiment) with its options, defined once in its own module
 *	  (task_<kind>.c) and run by the scalar function, the _batch function
 *	  and the worker alike.
 *
 * A kind provides: its options (read and checked through one function,
 * from SQL arguments and from a job's JSON options alike), the request
 * body for an input, the reading and checking of an answer, the wording
 * of a refusal, and its defaults.  The task table in task.c lists the
 * kinds; nothing else lists task names.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_TASK_H
#define PG_CLAUDE_TASK_H

#include <cjson/cJSON.h>

#include "fmgr.h"
#include "utils/array.h"

#include "attachment.h"
#include "http.h"
#include "model_catalog.h"
#include "problem.h"

typedef struct ClaudeTask ClaudeTask;

typedef struct ClaudeTaskKind
{
	const char *name;			/* claude_enrich's task argument */
	const char *result_type;	/* SQL type of a job's result column */

	/* Read and check the kind's options into t (22023, 22004, 54000). */
	void		(*configure) (ClaudeTask *t, const cJSON *options);

	/* The user turn for input; NULL: the input itself. */
	char	   *(*prompt) (const ClaudeTask *t, const char *input);

	/*
	 * Tool kinds: the result's text form of an answer that validated
	 * against t->schema.  NULL for kinds answered in text.
	 */
	char	   *(*result) (const ClaudeTask *t, const cJSON *answer);

	/* What a refusal (no usable answer after the last round) says. */
	const char *refusal;
	bool		refusal_is_error;	/* scalar: ERROR 38000, not WARNING and NULL */
	const char *refusal_hint;	/* with that ERROR */
	bool		warn_cut_short;	/* scalar: WARNING when stopped at max_tokens */
	bool		answer_repeats_input;	/* the answer is the input rewritten: it must fit max_tokens */
	bool		reads_attachments;	/* has a bytea form: a job's bytea input goes as an attachment */
} ClaudeTaskKind;

struct ClaudeTask
{
	const ClaudeTaskKind *kind;
	char	   *model;
	const char *system;
	int			max_tokens;
	bool		has_temperature;
	double		temperature;
	bool		temperature_given;	/* by the call or the job, not a default */
	bool		cache;			/* mark the fixed prefix for prompt caching */
	Oid			result_type;	/* of the scalar and batch results */

	/* the model's traits (claude.models), as far as known and learnt */
	ClaudeModelTraits traits;
	int			reshapes;		/* requests sent again shaped another way */

	/* tool kinds */
	const char *tool_name;
	const char *tool_description;
	char	   *schema_text;
	cJSON	   *schema;
	char	   *format_schema;	/* schema_text as structured output takes it, or NULL */

	void	   *state;			/* the kind's own (labels, max_words) */
};

/* The kinds (each defined in its task_<kind>.c). */
extern const ClaudeTaskKind claude_task_complete;
extern const ClaudeTaskKind claude_task_summarize;
extern const ClaudeTaskKind claude_task_classify;
extern const ClaudeTaskKind claude_task_extract;
extern const ClaudeTaskKind claude_task_sentiment;
extern const ClaudeTaskKind claude_task_redact;
/* issue 19: if, translate, rank */
extern const ClaudeTaskKind claude_task_if;
extern const ClaudeTaskKind claude_task_translate;
extern const ClaudeTaskKind claude_task_rank;

/* A classify task's labels (and how many), or NULL for another kind. */
extern char **claude_task_classify_labels(const ClaudeTask *t, int *nlabels);

/* Plain completions (claude_complete_async's requests). */
#define TASK_COMPLETE (&claude_task_complete)

/* The complete task of claude_complete's arguments 1.. (system, model, max_tokens, temperature). */
extern void claude_task_complete_args(FunctionCallInfo fcinfo, ClaudeTask *t);

/* Rounds of asking for a tool answer that validates. */
#define CLAUDE_TASK_ROUNDS 2

/* The kind named task, or NULL. */
extern const ClaudeTaskKind *claude_task_find(const char *task);

/* The SQL type of a job's results for task (a known task name). */
extern const char *claude_task_result_type(const char *task);

/* Raise 22023 unless task names a kind, with a hint listing them. */
extern void claude_task_check_name(const char *task);

/*
 * A task of kind from options (a JSON object): the shared options
 * (model, temperature) and then the kind's.  Raises on bad options.
 */
extern void claude_task_configure(ClaudeTask *t, const ClaudeTaskKind *kind, const cJSON *options);

/* The same from a task name and options as jsonb text (the worker's jobs). */
extern void claude_task_from_options(ClaudeTask *t, const char *task, const char *options_json);

/*
 * The request body for input (why: the previous answer's fault, or
 * NULL): *body, or false with *problem (empty input, input too long).
 */
extern bool claude_task_build(const ClaudeTask *t, const char *input, const char *why,
							  char **body, ClaudeProblem *problem);

/*
 * The same with a document or image sent before the prompt (NULL: none);
 * false with 54000 when the body would exceed Bedrock's request limit.
 */
extern bool claude_task_build_attached(const ClaudeTask *t, const char *input,
									   const ClaudeAttachment *attachment, const char *why,
									   char **body, ClaudeProblem *problem);

/* The same, raising the problem. */
extern char *claude_task_body(const ClaudeTask *t, const char *input, const char *why);

/*
 * A job row's request when its input is a document's or image's bytes, the
 * whole input as claude_extract(scan, schema) sends it (so the cache is the
 * scalar form's): *body, *audited (the prompt with the attachment's
 * description) and *attachment (what was read), or false with *problem (0A000 a model that reads none;
 * 22023, 54000 an attachment refused).
 */
extern bool claude_task_build_from_bytes(const ClaudeTask *t, const unsigned char *data, size_t len,
										 const char *why, char **body, char **audited,
										 const ClaudeAttachment **attachment, ClaudeProblem *problem);

/* What an answer means; never raises. */
typedef struct ClaudeTaskAnswer
{
	char	   *result;			/* text form of the result, or NULL */
	char	   *why;			/* a tool answer that did not validate: ask again */
	char	   *stop_reason;
	ClaudeProblem problem;		/* sqlerrcode != 0: the answer cannot be used */
	bool		intervened;		/* a Bedrock guardrail intervened (problem says so) */
} ClaudeTaskAnswer;

extern void claude_task_answer(const ClaudeTask *t, const char *json, ClaudeTaskAnswer *answer);
/* The same, taking over parsed (json already parsed) when not NULL. */
extern void claude_task_answer_parsed(const ClaudeTask *t, const char *json, struct cJSON *parsed,
									  ClaudeTaskAnswer *answer);

/*
 * Interpret an answer: *result (text form) on success; *why when a tool
 * answer did not validate (ask again); *error otherwise.  Never raises.
 */
extern void claude_task_interpret(const ClaudeTask *t, const char *json, char **result,
								  char **why, char **error);

/*
 * A refusal that names a trait the request relied on (a 400
 * ValidationException on temperature, forced tool_choice, structured
 * output, prompt caching): the trait is learnt (claude.models) and t is
 * shaped the other way.  True when the same input should be sent again.
 */
extern bool claude_task_reshape(ClaudeTask *t, const ClaudeHttpResponse *resp);

/* Requests sent again after a refusal, at most, per task. */
#define CLAUDE_TASK_RESHAPES 4

/* The error text when the last round still did not validate. */
extern char *claude_task_refusal(const ClaudeTask *t, const char *why);

/*
 * Option readers for the kinds: NULL (or the default) when absent or JSON
 * null; 22023 naming the option when of the wrong type.
 */
extern const char *claude_task_string_option(const cJSON *options, const char *name);
extern bool claude_task_number_option(const cJSON *options, const char *name, double *value);

/* max_tokens: the option, or claude.max_tokens; checked against the model. */
extern int	claude_task_max_tokens(const ClaudeTask *t, const cJSON *options);

/*
 * SQL arguments as options, for the entry points: a spec lists which
 * argument is which option, ending with a NULL option.  Text, int and
 * float8 arguments that are NULL are left out (the default applies); a
 * NULL text[] or jsonb argument is JSON null (the kind says what is
 * required); a text[] becomes an array, its NULL elements null.
 */
typedef enum ClaudeTaskArgType
{
	TASK_ARG_TEXT,
	TASK_ARG_INT,
	TASK_ARG_FLOAT,
	TASK_ARG_TEXT_ARRAY,
	TASK_ARG_JSONB
} ClaudeTaskArgType;

typedef struct ClaudeTaskArg
{
	const char *option;
	int			argno;
	ClaudeTaskArgType type;
} ClaudeTaskArg;

extern cJSON *claude_task_sql_options(FunctionCallInfo fcinfo, const ClaudeTaskArg *spec);

/*
 * The elements of a list argument (text[] or bytea[]) named what: 2202E
 * for an array of more than one dimension, which would be read flattened,
 * its rows lost.
 */
extern void claude_task_list_elements(ArrayType *array, Oid elemtype, const char *what,
									  Datum **elems, bool **nulls, int *n);

/*
 * The SQL functions (task_run.c), given how their arguments 1.. make a
 * task (the scalar and _batch forms take the same ones): the scalar form
 * on argument 0 (NULL gives NULL; a batch of one whose failures are
 * raised, under claude.on_error), and the _batch form on the text[]
 * argument 0 (rows ord, result, error).
 */
typedef void (*ClaudeTaskArgsFn) (FunctionCallInfo fcinfo, ClaudeTask *t);

extern Datum claude_task_call(FunctionCallInfo fcinfo, const char *function_name, ClaudeTaskArgsFn args);
extern Datum claude_task_batch(FunctionCallInfo fcinfo, const char *function_name, ClaudeTaskArgsFn args);

/*
 * The forms that take a document or image (doc/documents.md): which
 * arguments hold the prompt (-1: none, the attachment is the input), the
 * bytes (bytea, or bytea[] for _batch) and the media type (text, NULL:
 * read from the bytes).  The task's own arguments are read by args.
 */
typedef struct ClaudeTaskAttachmentArgs
{
	int			prompt;
	int			bytes;
	int			media_type;
} ClaudeTaskAttachmentArgs;

extern Datum claude_task_call_attached(FunctionCallInfo fcinfo, const char *function_name,
									   ClaudeTaskArgsFn args, const ClaudeTaskAttachmentArgs *where);
extern Datum claude_task_batch_attached(FunctionCallInfo fcinfo, const char *function_name,
										ClaudeTaskArgsFn args, const ClaudeTaskAttachmentArgs *where);

/*
 * t over n inputs (NULL entries: no request), many in flight, as the
 * _batch form runs them: results[i] (text form) or errors[i].
 */
extern void claude_task_run(const char *function_name, ClaudeTask *t, int n, char **inputs,
							char **results, char **errors);

/*
 * A task's pair of SQL functions, defined in one line: name(input, ...)
 * and name_batch(inputs text[], ...), whose arguments 1.. args reads.
 */
#define CLAUDE_TASK_SQL_FUNCTIONS(name, args) \
	PG_FUNCTION_INFO_V1(name); \
	PG_FUNCTION_INFO_V1(name##_batch); \
	Datum name(PG_FUNCTION_ARGS) { return claude_task_call(fcinfo, #name, args); } \
	Datum name##_batch(PG_FUNCTION_ARGS) { return claude_task_batch(fcinfo, #name "_batch", args); }

/*
 * The same pair taking a document or image: name_attached, and the
 * set-based form batch (claude_complete_batch's overload, or
 * claude_<task>_documents: an overload of _batch on its first argument
 * would make an untyped array literal ambiguous) as SQL names it
 * batch_name, with the attachment where says.
 */
#define CLAUDE_TASK_SQL_ATTACHED_FUNCTIONS(name, batch, batch_name, args, where) \
	PG_FUNCTION_INFO_V1(name##_attached); \
	PG_FUNCTION_INFO_V1(batch); \
	Datum name##_attached(PG_FUNCTION_ARGS) { return claude_task_call_attached(fcinfo, #name, args, where); } \
	Datum batch(PG_FUNCTION_ARGS) { return claude_task_batch_attached(fcinfo, batch_name, args, where); }

#endif							/* PG_CLAUDE_TASK_H */
