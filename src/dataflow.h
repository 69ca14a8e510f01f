/*-------------------------------------------------------------------------
 *
 * dataflow.h
 *	  Where this backend's requests went: the record behind
 *	  claude_data_flow().
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_DATAFLOW_H
#define PG_CLAUDE_DATAFLOW_H

/* Remember one request that left the backend (whatever its outcome). */
extern void claude_dataflow_record(const char *region, const char *endpoint_host,
								   const char *model, const char *geography,
								   long http_status, long input_tokens, long output_tokens);

#endif							/* PG_CLAUDE_DATAFLOW_H */
