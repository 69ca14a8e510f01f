/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  What pg_claude deletes on schedule: claude.usage past
 *	  claude.usage_retention, finished claude.requests past
 *	  claude.request_retention, finished jobs past claude.job_retention,
 *	  and claude.cache past claude.cache_ttl or beyond
 *	  claude.cache_max_entries; and the earlier runs a job that found
 *	  nothing to do replaces.
 *
 * Job history is pruned by job, never by row: a finished job goes with
 * all its items (ON DELETE CASCADE), a queued, running or paused one is
 * never touched.  claude.enrich_hashes is not pruned: the hashes are what
 * spares the next run from sending (and paying for) every row again.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"

#include "guc.h"
#include "retention.h"

static void
spi_check(int rc, const char *what)
{
	if (rc < 0)
		elog(ERROR, "pg_claude %s failed: %s", what, SPI_result_code_string(rc));
}

int64
claude_retention_apply(void)
{
	int64		deleted = 0;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (claude_usage_retention_s > 0)
	{
		rc = SPI_execute(psprintf("DELETE FROM claude.usage WHERE ts OPERATOR(pg_catalog.<) (pg_catalog.now() "
								  "OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => %d))",
								  claude_usage_retention_s), false, 0);
		spi_check(rc, "usage retention");
		deleted += SPI_processed;
	}
	if (claude_job_retention_s > 0)
	{
		rc = SPI_execute(psprintf("DELETE FROM claude.job WHERE state OPERATOR(pg_catalog.<>) ALL ('{queued,running,paused}') "
								  "AND coalesce(finished_at, created_at) OPERATOR(pg_catalog.<) (pg_catalog.now() "
								  "OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => %d))",
								  claude_job_retention_s), false, 0);
		spi_check(rc, "job retention");
		deleted += SPI_processed;
	}
	rc = SPI_execute(psprintf("DELETE FROM claude.requests WHERE state OPERATOR(pg_catalog.=) ANY ('{done,error}') "
							  "AND completed_at OPERATOR(pg_catalog.<) (pg_catalog.now() "
							  "OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => %d))", claude_request_retention_s),
					 false, 0);
	spi_check(rc, "request retention");
	deleted += SPI_processed;
	if (claude_cache_ttl_s > 0)
	{
		rc = SPI_execute(psprintf("DELETE FROM claude.cache WHERE created_at OPERATOR(pg_catalog.<) (pg_catalog.now() "
								  "OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => %d))",
								  claude_cache_ttl_s), false, 0);
		spi_check(rc, "cache expiry");
		deleted += SPI_processed;
	}
	if (claude_cache_max_entries > 0)
	{
		rc = SPI_execute(psprintf("DELETE FROM claude.cache WHERE key OPERATOR(pg_catalog.=) ANY (SELECT key FROM claude.cache "
								  "ORDER BY last_used_at DESC, key OFFSET %d)", claude_cache_max_entries),
						 false, 0);
		spi_check(rc, "cache eviction");
		deleted += SPI_processed;
	}
	SPI_finish();
	return deleted;
}

/*
 * A nightly run that finds nothing to do should not add a row of history
 * every night: when a job ends done with no rows at all, the earlier such
 * runs of the same role, source and output go, and this one stays (so
 * claude_job_wait on it, and claude.jobs, still show that the run
 * happened and when).  A run that sent anything, or failed, is history and
 * stays for claude.job_retention.  Called by the worker, in its
 * transaction, with search_path pinned.
 */
int64
claude_retention_forget_empty_runs(int64 job_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};
	int			rc;
	int64		deleted;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args("DELETE FROM claude.job o USING claude.job n "
							   "WHERE n.id OPERATOR(pg_catalog.=) $1 AND n.state OPERATOR(pg_catalog.=) 'done' "
							   "AND n.rows_total OPERATOR(pg_catalog.=) 0 "
							   "AND o.id OPERATOR(pg_catalog.<) n.id AND o.state OPERATOR(pg_catalog.=) 'done' "
							   "AND o.rows_total OPERATOR(pg_catalog.=) 0 "
							   "AND o.role_name OPERATOR(pg_catalog.=) n.role_name "
							   "AND o.source::pg_catalog.oid OPERATOR(pg_catalog.=) n.source::pg_catalog.oid "
							   "AND o.output OPERATOR(pg_catalog.=) n.output "
							   "AND coalesce(o.into_table::pg_catalog.oid, 0::pg_catalog.oid) "
							   "    OPERATOR(pg_catalog.=) coalesce(n.into_table::pg_catalog.oid, 0::pg_catalog.oid) "
							   "AND NOT EXISTS (SELECT 1 FROM claude.usage u WHERE u.job_id OPERATOR(pg_catalog.=) o.id)",
							   1, types, values, NULL, false, 0);
	spi_check(rc, "empty runs");
	deleted = (int64) SPI_processed;	/* SPI_finish restores the caller's count */
	SPI_finish();
	return deleted;
}
