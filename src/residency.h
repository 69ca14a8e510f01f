/*-------------------------------------------------------------------------
 *
 * residency.h
 *	  Data residency: where a request would be processed, and whether
 *	  claude.residency allows it.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_RESIDENCY_H
#define PG_CLAUDE_RESIDENCY_H

#include <stdbool.h>

/* SQLSTATE of a residency refusal: class 42 (access rule violation). */
#define ERRCODE_CLAUDE_RESIDENCY_VIOLATION MAKE_SQLSTATE('4','2','R','0','1')

typedef struct ClaudeResidencyVerdict
{
	bool		allowed;
	char		processed_in[128];	/* "ap-southeast-2", "au (ap-southeast-2, ...)" */
	char		geography[32];	/* the geography the request reaches */
	char		reason[512];	/* why refused, or how it routes */
	char		hint[512];		/* the setting that would allow it */
} ClaudeResidencyVerdict;

/* Is name a valid claude.residency value? */
extern bool claude_residency_known(const char *name);

/*
 * Where an application inference profile routes, as recorded in
 * claude.models from GetInferenceProfile: NULL (or n < 0) when nobody knows.
 */
typedef struct ClaudeModelRoutes
{
	char	  **destinations;
	int			n;
} ClaudeModelRoutes;

/*
 * Judge a request to model (id, profile id or ARN) in region through the
 * endpoint host (NULL when claude.endpoint is not set) under residency;
 * routes, when known, say where an application profile sends it.
 */
extern void claude_residency_judge(const char *residency, const char *region,
								   const char *endpoint_host, const char *model,
								   const ClaudeModelRoutes *routes,
								   ClaudeResidencyVerdict *v);

/*
 * Judge a place data is stored in (an S3 bucket's region) under residency,
 * by the rules claude.region is judged by; what names it in the reason.
 */
extern void claude_residency_judge_region(const char *residency, const char *region,
										  const char *configured_region, const char *what,
										  ClaudeResidencyVerdict *v);

/*
 * Where a refused request would have been processed, in words ("the
 * United States", "region us-east-1"), for the error message.  The
 * policy only judges: its caller (bedrock.c) records and raises a refusal.
 */
extern const char *claude_residency_place(const ClaudeResidencyVerdict *v, const char *model);

#endif							/* PG_CLAUDE_RESIDENCY_H */
