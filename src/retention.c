/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  What pg_claude deletes on schedule: claude.usage past
 *	  claude.usage_retention, finished claude.requests past
 *	  claude.request_retention, and claude.cache past claude.cache_ttl or
 *	  beyond claude.cache_max_entries.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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
