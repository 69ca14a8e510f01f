/*-------------------------------------------------------------------------
 *
 * control_plane.h
 *	  claude.models refreshed from the Bedrock control plane.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_CONTROL_PLANE_H
#define PG_CLAUDE_CONTROL_PLANE_H

#include <stdbool.h>

/*
 * List claude.region's foundation models and inference profiles and
 * replace its 'aws' rows (inside a transaction).  counts: foundation
 * models, system profiles, application profiles.  False after a WARNING,
 * the old rows kept.
 */
extern bool claude_models_refresh_all(int counts[3]);

/*
 * The worker's refresh, every claude.models_refresh_interval: a short
 * transaction to see whether it is due, the listings with none open, a
 * short one to store them.  Failures are WARNINGs.
 */
extern void claude_models_refresh_maybe(void);

#endif							/* PG_CLAUDE_CONTROL_PLANE_H */
