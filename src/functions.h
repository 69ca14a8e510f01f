/*-------------------------------------------------------------------------
 *
 * functions.h
 *	  Request builders shared by the scalar functions, the batch
 *	  functions and the worker.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_FUNCTIONS_H
#define PG_CLAUDE_FUNCTIONS_H

#include "utils/array.h"

/* Labels from a text[] (checked: not empty, no NULL, no duplicates). */
extern void claude_classify_labels(ArrayType *arr, int *nlabels, char ***labels,
								   char ***descriptions);

/* The input schema (an enum of the labels) and system prompt of classify. */
extern char *claude_classify_schema(int nlabels, char **labels, bool multi);
extern char *claude_classify_system(int nlabels, char **labels, char **descriptions,
									const char *instructions, bool multi);

/* The system prompts of extract, sentiment and summarize, and their schemas. */
extern const char *claude_extract_system(const char *instructions);
extern const char *claude_sentiment_system(void);
extern const char *claude_sentiment_schema(void);
extern const char *claude_summarize_system(void);
extern char *claude_summarize_prompt(const char *input, int max_words);
extern int	claude_summary_max_tokens(int max_words);

#endif							/* PG_CLAUDE_FUNCTIONS_H */
