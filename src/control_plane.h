/*-------------------------------------------------------------------------
 *
 * control_plane.h
 *	  The Bedrock control plane of claude.region: the listings
 *	  claude_models_refresh() reads (control_plane.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_CONTROL_PLANE_H
#define PG_CLAUDE_CONTROL_PLANE_H

#include <cjson/cJSON.h>

#include "problem.h"

/*
 * Each answers the operation's array (a cJSON array in
 * CurrentMemoryContext, cJSON allocating with palloc), or NULL with
 * *problem set: an exchange that failed after its retries, an AWS error, an
 * answer that is not JSON or lacks the array.  No SPI, no transaction
 * needed.
 */

/* ListFoundationModels?byProvider=Anthropic: its modelSummaries. */
extern cJSON *claude_control_foundation_models(ClaudeProblem *problem);

/*
 * ListInferenceProfiles?type=TYPE (SYSTEM_DEFINED or APPLICATION), every
 * page (maxResults=1000, following nextToken): the inferenceProfileSummaries.
 */
extern cJSON *claude_control_inference_profiles(const char *type, ClaudeProblem *problem);

/* GetInferenceProfile of a profile id or ARN: the profile's object. */
extern cJSON *claude_control_inference_profile(const char *id, ClaudeProblem *problem);

#endif							/* PG_CLAUDE_CONTROL_PLANE_H */
