/*-------------------------------------------------------------------------
 *
 * model_catalog.h
 *	  What pg_claude knows of a model: claude.model_info() read from C,
 *	  and the traits Bedrock teaches by refusing a request (doc/models.md).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_MODEL_CATALOG_H
#define PG_CLAUDE_MODEL_CATALOG_H

#include <stdbool.h>

#include "residency.h"

/* A trait the catalogue may not know: then the request is shaped as before. */
typedef enum ClaudeTrait
{
	TRAIT_UNKNOWN = 0,
	TRAIT_NO,
	TRAIT_YES
} ClaudeTrait;

typedef enum ClaudeThinking
{
	THINKING_UNKNOWN = 0,
	THINKING_NONE,
	THINKING_ENABLED,
	THINKING_ADAPTIVE,
	THINKING_ALWAYS_ON
} ClaudeThinking;

/* The traits a request is shaped by. */
typedef struct ClaudeModelTraits
{
	ClaudeTrait temperature;
	ClaudeTrait top_p;
	ClaudeTrait top_k;
	ClaudeTrait forced_tool_choice;
	ClaudeTrait structured_output;
	ClaudeTrait prompt_caching;
	ClaudeTrait cache_1h;		/* the 1-hour TTL among cache_ttls */
	ClaudeTrait count_tokens;
	ClaudeTrait vision;			/* reads images and PDFs (doc/documents.md) */
	ClaudeThinking thinking;
	int			cache_min_tokens;	/* 0: not known */
	int			context_window; /* 0: not known */
	int			max_output;		/* 0: not known */
	double		output_burndown;	/* < 0: not known */
	bool		inherited;		/* from the family's newest, not the model's own row */
} ClaudeModelTraits;

typedef struct ClaudeModelInfo
{
	const char *model;			/* as called */
	const char *resolved_by;	/* catalogue, family, unknown */
	const char *kind;			/* NULL when not known */
	const char *base_model;
	const char *family;
	const char *region;			/* the calling region the destinations hold for */
	char	  **destinations;	/* NULL with ndestinations -1: not recorded */
	int			ndestinations;
	const char *lifecycle;		/* ACTIVE, LEGACY or NULL */
	const char *end_of_life;	/* YYYY-MM-DD or NULL */
	const char *successor;
	ClaudeTrait messages_api;	/* on Bedrock's Messages API (doc/providers.md) */
	ClaudeModelTraits traits;
} ClaudeModelInfo;

/*
 * claude.model_info(model), cached for the transaction (allocated in
 * TopMemoryContext; never freed by the caller).  Outside a transaction, or
 * where the installed SQL has no catalogue, every field is unknown.  The
 * traits this backend learnt (claude_model_learn) are applied on top.
 */
extern const ClaudeModelInfo *claude_model_info(const char *model);

/* Where an application profile routes, as recorded (n -1 for anything else). */
extern void claude_model_routes(const char *model, ClaudeModelRoutes *routes);

/* The trait columns a refusal can name. */
typedef enum ClaudeLearnable
{
	LEARN_TEMPERATURE,
	LEARN_TOP_P,
	LEARN_TOP_K,
	LEARN_FORCED_TOOL_CHOICE,
	LEARN_STRUCTURED_OUTPUT,
	LEARN_PROMPT_CACHING,
	LEARN_THINKING_ALWAYS_ON
} ClaudeLearnable;

/*
 * Which trait a 400 ValidationException's message says the model refuses
 * (false when it names none of them).
 */
extern bool claude_model_refusal(const char *aws_message, ClaudeLearnable *trait);

/*
 * Remember that model refuses (or, for LEARN_THINKING_ALWAYS_ON, has)
 * trait: at once for this backend, and in claude.models as a 'learned' row
 * of the base model at the next claude_model_learned_flush().
 */
extern void claude_model_learn(const char *model, ClaudeLearnable trait, const char *aws_message);

/* Apply a learnt trait to traits (what claude_model_learn records). */
extern void claude_model_traits_apply(ClaudeModelTraits *traits, ClaudeLearnable trait);

/*
 * Write what was learnt since the last flush, inside the current
 * transaction, as the extension owner.  Never raises: a read-only
 * transaction or a failed write keeps it for the next flush.
 */
extern void claude_model_learned_flush(void);

#endif							/* PG_CLAUDE_MODEL_CATALOG_H */
