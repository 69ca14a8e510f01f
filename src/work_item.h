/*-------------------------------------------------------------------------
 *
 * work_item.h
 *	  One request of the worker's (work_item.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_WORK_ITEM_H
#define PG_CLAUDE_WORK_ITEM_H

#include "bedrock.h"
#include "task.h"

struct WorkRound;

typedef struct WorkItem
{
	struct WorkRound *round;	/* the claim it came in, whose memory holds it */
	int64		request_id;		/* claude.requests, or 0 */
	Datum		pk;				/* job row: its primary key (jsonb) */
	char	   *pk_text;
	char	   *input;			/* text input; NULL when it is an attachment */
	const unsigned char *attachment;	/* a bytea input: the document's or image's bytes, or NULL */
	size_t		attachment_len;
	char	   *input_sha256;
	char	   *body;
	ClaudeBedrockCall call;
	bool		sent;
	bool		answered;
	int			rounds;
	char	   *why;
	char	   *result;
	char	   *response;
	char	   *error;
	char	   *error_code;		/* with error: the AWS error code, or a SQLSTATE */
	bool		error_retryable;	/* with error: throttling, 5xx, network (after the retries) */
	long		input_tokens;
	long		output_tokens;
	long		input_estimate; /* its body's input tokens, about (prepared) */
	int			max_tokens;		/* its body's max_tokens (prepared) */
	double		burndown;		/* quota tokens per output token of its model (prepared) */
	uint64		reservation;	/* its attempt's tokens in the worker's quota ledger, or 0 */
} WorkItem;

typedef struct WorkRound
{
	MemoryContext cxt;			/* a job's claim: its rows' memory, freed once all are written */
	int			unwritten;		/* rows of the claim not yet written */
	WorkItem   *items;
	int			n;
	Datum		claimed;		/* jsonb[] of the claimed job rows' keys */
	int			cursor;
	ClaudeCallContext cc;		/* on whose behalf the round's requests go */
	const char *model;
	ClaudeTask *task;			/* NULL for plain requests */
	bool		limited;		/* the rate limits held back its next item */
} WorkRound;

/* Where an item's own allocations go: its claim's memory, if it has one. */
extern MemoryContext claude_work_item_cxt(WorkItem *it);

/* Prepare an item (residency, cache, its request); an error is the item's. */
extern void claude_work_prepare(WorkRound *r, WorkItem *it);

/*
 * May the item's request (or its retry) go now, within the rate limits?
 * If so its reservation of the token quota is taken (its input and
 * max_tokens).
 */
extern bool claude_work_item_admit(WorkItem *it);

/* Its answer (or failure) arrived: the limits learn from it. */
extern void claude_work_item_answered(WorkItem *it, const ClaudeHttpResponse *resp);

/*
 * The pump's hooks for items (http.h): an attempt failed and will be tried
 * again (its reservation settles, the limits learn from it), and may that
 * retry go now (0, its reservation taken) or in how many ms.
 */
extern void claude_work_item_retrying(void *arg, void *tag, const ClaudeHttpResponse *resp);
extern long claude_work_item_readmit(void *arg, void *tag);

/* Send a round's prepared items, within the rate limits. */
extern void claude_work_send_round(WorkRound *r);

#endif							/* PG_CLAUDE_WORK_ITEM_H */
