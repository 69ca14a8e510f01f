/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The audit log (claude.usage) and cache writes.
 *
 * Calls cost money and may carry personal data, so every upstream attempt
 * and every cache hit is recorded, and the record must outlive the
 * caller's transaction: a ROLLBACK does not un-spend the money.  With
 * shared_preload_libraries = 'pg_claude', a backend appends its records to
 * a bounded ring in shared memory and wakes the pg_claude audit writer
 * (audit_writer.c, a worker that does nothing else), which writes them in
 * its own short transactions; nothing here waits on a lock held by another
 * backend's transaction, and parallel workers can record too.
 *
 * A full ring is back-pressure, not loss: the backend wakes the writer and
 * waits (in short steps; a cancel ends the wait) until there is room.  Only
 * if the writer makes no progress for claude.audit_wait_timeout (not running, or
 * stuck) does the backend write the record itself, in its own transaction
 * (a subtransaction of the caller's: such a row shares the caller's fate
 * on ROLLBACK), with a WARNING.  A record that cannot be written either
 * way (a parallel worker, say) goes to the server log and is counted in
 * claude.dropped_records().
 *
 * Without preloading (or in a database the worker does not serve), the
 * backend writes its records itself, in a subtransaction of the caller's
 * transaction: durable only if that transaction commits.  Where it cannot
 * write at all (a parallel worker, a read-only transaction, a standby) the
 * record goes to the server log instead of being lost silently.
 *
 * The ring is audit_ring.c, the SQL that writes the rows audit_write.c,
 * the process that drains the ring audit_writer.c.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "audit_ring.h"
#include "audit_write.h"
#include "guc.h"

static char audit_dbname[64] = "";

void
claude_audit_prepare(void)
{
	(void) claude_audit_ring_usable();
	if (audit_dbname[0] == '\0')
	{
		char	   *db = get_database_name(MyDatabaseId);

		strlcpy(audit_dbname, db ? db : "?", sizeof(audit_dbname));
	}
}

/* What a backend says when the writer has not made room in time. */
static void
warn_writer_stuck(void)
{
	ereport(WARNING,
			(errmsg("the pg_claude audit writer made no room in the audit buffer for %d ms; "
					"this process writes its audit records itself", claude_audit_wait_timeout_ms),
			 errdetail("Records written this way are part of the caller's transaction: a ROLLBACK removes them."),
			 errhint("Check that the pg_claude audit writer is running (backend_type \"pg_claude audit writer\" "
					 "in pg_stat_activity) and not blocked.")));
}

/* ---------------------------------------------------------------------
 * The API the call path uses
 * --------------------------------------------------------------------- */

void
claude_usage_init(ClaudeUsageRecord *r, const ClaudeCallContext *cc, const char *operation,
				  const char *model)
{
	memset(r, 0, sizeof(*r));
	r->ts = GetCurrentTimestamp();
	/* outside a transaction (the worker's transfers) no catalog lookup is possible */
	if (cc->role_name)
		strlcpy(r->role_name, cc->role_name, sizeof(r->role_name));
	else if (IsTransactionState())
	{
		char	   *role = GetUserNameFromId(GetUserId(), true);

		strlcpy(r->role_name, role ? role : "?", sizeof(r->role_name));
	}
	if (audit_dbname[0] == '\0' && IsTransactionState())
		claude_audit_prepare();
	strlcpy(r->database_name, audit_dbname, sizeof(r->database_name));
	r->backend_pid = MyProcPid;
	strlcpy(r->function_name, cc->function_name ? cc->function_name : "", sizeof(r->function_name));
	strlcpy(r->operation, operation, sizeof(r->operation));
	strlcpy(r->model, model, sizeof(r->model));
	strlcpy(r->provider, cc->provider ? cc->provider : "bedrock", sizeof(r->provider));
	/* what was attached (doc/documents.md, "Cache and audit") */
	strlcpy(r->attachment_type, cc->attachment_type ? cc->attachment_type : "", sizeof(r->attachment_type));
	r->attachment_bytes = cc->attachment_type ? cc->attachment_bytes : -1;
	r->http_status = -1;
	r->input_tokens = r->output_tokens = r->cache_read_tokens = r->cache_write_tokens =
		r->cache_write_1h_tokens = -1;
	r->latency_ms = r->ttft_ms = -1;
	r->retries = -1;
	r->job_id = cc->job_id;
}

void
claude_audit_usage(const ClaudeUsageRecord *r, const char *prompt)
{
	const char *text = (claude_log_prompts && prompt) ? prompt : NULL;
	PutResult	put;

	if (!claude_audit_ring_usable())
	{
		(void) claude_audit_write_direct(RECORD_USAGE, r, text);
		return;
	}
	put = claude_audit_ring_put(RECORD_USAGE, r, sizeof(*r), text, text ? strlen(text) + 1 : 0, false);
	if (put == PUT_QUEUED)
		return;
	if (put == PUT_CANCELLED)
	{
		/* its transaction is going away: the row would go with it */
		claude_audit_ring_count_lost();
		claude_audit_log_record(r, "cancelled while the audit buffer was full");
		return;
	}
	if (put == PUT_WRITER_STUCK && claude_audit_ring_newly_stuck())
		warn_writer_stuck();
	else if (put == PUT_TOO_LARGE)
		ereport(WARNING,
				(errmsg("a pg_claude audit record is larger than claude.audit_buffer; "
						"this process writes it itself"),
				 errdetail("The record is part of the caller's transaction: a ROLLBACK removes it.")));
	if (!claude_audit_write_instead_of_ring(RECORD_USAGE, r, text))
		claude_audit_ring_count_lost();
}

/*
 * From an error path (a call interrupted in flight, a refused request
 * about to raise): the transaction is going away, so the record goes to
 * the ring (waiting briefly for room) or to the server log.
 */
void
claude_audit_usage_in_error(const ClaudeUsageRecord *r)
{
	if (claude_audit_ring_usable())
	{
		if (claude_audit_ring_put(RECORD_USAGE, r, sizeof(*r), NULL, 0, true) == PUT_QUEUED)
			return;
		claude_audit_ring_count_lost();
	}
	claude_audit_log_record(r, "interrupted call");
}

void
claude_audit_cache_store(const ClaudeCacheRecord *r, const char *response)
{
	PutResult	put;

	if (!claude_audit_ring_usable())
	{
		(void) claude_audit_write_direct(RECORD_CACHE, r, response);
		return;
	}
	put = claude_audit_ring_put(RECORD_CACHE, r, sizeof(*r), response, strlen(response) + 1, false);
	if (put == PUT_QUEUED)
		return;
	if (put == PUT_CANCELLED)
	{
		claude_audit_ring_count_lost();
		return;
	}
	/* a large answer, or a stuck writer: store it from here (no WARNING of its own) */
	if (!claude_audit_write_instead_of_ring(RECORD_CACHE, r, response))
		claude_audit_ring_count_lost();
}
