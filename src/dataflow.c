/*-------------------------------------------------------------------------
 *
 * dataflow.c
 *	  Where this backend's requests went: region, endpoint host, model,
 *	  geography, role, outcome and tokens of every request sent.
 *
 * A bounded ring in the backend's memory (the newest DATAFLOW_CAPACITY
 * requests), read by claude_backend_data_flow() and summarised by the SQL
 * function claude_data_flow().  This is the record the backend keeps until
 * the audit log (claude.usage) exists to hold the same facts durably.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "dataflow.h"

#define DATAFLOW_CAPACITY 4096

typedef struct FlowRecord
{
	TimestampTz ts;
	Oid			role;
	char		region[32];
	char		host[256];
	char		model[256];
	char		geography[32];
	long		status;
	long		input_tokens;
	long		output_tokens;
} FlowRecord;

static FlowRecord *ring = NULL;
static int	ring_count = 0;
static int	ring_next = 0;

PG_FUNCTION_INFO_V1(claude_backend_data_flow);

/* Copy at most size-1 bytes without cutting a multibyte character. */
static void
clip_copy(char *dst, const char *src, size_t size)
{
	int			n = pg_mbcliplen(src, strlen(src), size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

void
claude_dataflow_record(const char *region, const char *endpoint_host,
					   const char *model, const char *geography,
					   long http_status, long input_tokens, long output_tokens)
{
	FlowRecord *r;

	if (ring == NULL)
		ring = MemoryContextAllocZero(TopMemoryContext, sizeof(FlowRecord) * DATAFLOW_CAPACITY);
	r = &ring[ring_next];
	r->ts = GetCurrentTimestamp();
	r->role = GetUserId();
	clip_copy(r->region, region, sizeof(r->region));
	clip_copy(r->host, endpoint_host, sizeof(r->host));
	clip_copy(r->model, model, sizeof(r->model));
	clip_copy(r->geography, geography, sizeof(r->geography));
	r->status = http_status;
	r->input_tokens = input_tokens > 0 ? input_tokens : 0;
	r->output_tokens = output_tokens > 0 ? output_tokens : 0;
	ring_next = (ring_next + 1) % DATAFLOW_CAPACITY;
	if (ring_count < DATAFLOW_CAPACITY)
		ring_count++;
}

/*
 * claude_backend_data_flow() -> SETOF (ts, role_name, region, endpoint_host,
 *   model, geography, http_status, input_tokens, output_tokens)
 */
Datum
claude_backend_data_flow(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < ring_count; i++)
	{
		int			idx = (ring_next - ring_count + i + DATAFLOW_CAPACITY) % DATAFLOW_CAPACITY;
		FlowRecord *r = &ring[idx];
		Datum		values[9];
		bool		nulls[9] = {0};
		char	   *role = GetUserNameFromId(r->role, true);

		values[0] = TimestampTzGetDatum(r->ts);
		if (role)
			values[1] = CStringGetTextDatum(role);
		else
			nulls[1] = true;
		values[2] = CStringGetTextDatum(r->region);
		values[3] = CStringGetTextDatum(r->host);
		values[4] = CStringGetTextDatum(r->model);
		values[5] = CStringGetTextDatum(r->geography);
		values[6] = Int32GetDatum((int32) r->status);
		values[7] = Int64GetDatum(r->input_tokens);
		values[8] = Int64GetDatum(r->output_tokens);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
