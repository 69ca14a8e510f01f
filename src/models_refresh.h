/*-------------------------------------------------------------------------
 *
 * models_refresh.h
 *	  claude.models refreshed from the Bedrock control plane
 *	  (models_refresh.c): claude_models_refresh() and the worker's schedule.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_MODELS_REFRESH_H
#define PG_CLAUDE_MODELS_REFRESH_H

/*
 * The worker's refresh, every claude.models_refresh_interval: a short
 * transaction to see whether the region's 'aws' rows are older than that,
 * the listings with none open, a short one to store them.  Failures are
 * WARNINGs.  Call with no transaction open.
 */
extern void claude_models_refresh_maybe(void);

#endif							/* PG_CLAUDE_MODELS_REFRESH_H */
