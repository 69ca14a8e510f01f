/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  Scheduled deletion of old audit rows, requests and cache entries.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_RETENTION_H
#define PG_CLAUDE_RETENTION_H

#include "c.h"

/* Apply the retention settings (needs SPI-able transaction); returns rows deleted. */
extern int64 claude_retention_apply(void);

/* After job_id ended done with no rows: drop the earlier such runs; returns jobs deleted. */
extern int64 claude_retention_forget_empty_runs(int64 job_id);

#endif							/* PG_CLAUDE_RETENTION_H */
