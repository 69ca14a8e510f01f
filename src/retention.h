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

#endif							/* PG_CLAUDE_RETENTION_H */
