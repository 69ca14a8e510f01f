/*-------------------------------------------------------------------------
 *
 * requests.h
 *	  Asynchronous requests, the worker's side (requests.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_REQUESTS_H
#define PG_CLAUDE_REQUESTS_H

/* One round of pending requests; false if there were none. */
extern bool claude_requests_work(void);

#endif							/* PG_CLAUDE_REQUESTS_H */
