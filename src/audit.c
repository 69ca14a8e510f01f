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
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "privilege.h"
#include "guc.h"
#include "wakeup.h"

/* A backend waiting for room in the ring looks again at least this often. */
#define RING_WAIT_STEP_MS 10

/* An error path (or a cancelled wait) waits at most this long, uninterruptibly. */
#define ERROR_PATH_WAIT_MS 1000

const char *claude_current_function = NULL;
const char *claude_current_input = NULL;
int64		claude_current_job_id = 0;
const char *claude_current_role_name = NULL;
static char audit_dbname[64] = "";

typedef enum RecordKind
{
	RECORD_USAGE = 1,
	RECORD_CACHE = 2
} RecordKind;

typedef struct RecordHeader
{
	uint32		len;			/* whole record, header included, MAXALIGNed */
	uint32		kind;
	uint32		text_len;		/* prompt or response bytes after the struct */
} RecordHeader;

typedef struct AuditRing
{
	LWLock	   *lock;
	ConditionVariable room;		/* broadcast when the writer takes records out */
	uint64		head;			/* bytes ever written */
	uint64		tail;			/* bytes ever read */
	uint64		dropped;		/* records lost: in neither claude.usage nor the ring */
	Size		capacity;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} AuditRing;

static AuditRing *ring = NULL;
static int	ring_serves_this_db = -1;	/* -1 unknown, 0 no, 1 yes */

/*
 * The ring's tail when this backend last gave up waiting for the writer:
 * while it has not moved, the writer is still stuck, and a full ring sends
 * records straight to the backend's own transaction instead of waiting
 * claude.audit_wait_timeout again for every record.
 */
static uint64 stuck_tail = PG_UINT64_MAX;
static uint64 stuck_warned_tail = PG_UINT64_MAX;	/* one WARNING per stuck spell */

static void log_record(const ClaudeUsageRecord *r, const char *why);

Size
claude_audit_shmem_size(void)
{
	return add_size(offsetof(AuditRing, data), (Size) claude_audit_buffer_kb * 1024);
}

void
claude_audit_shmem_init(void)
{
	bool		found;

	ring = ShmemInitStruct("pg_claude audit ring", claude_audit_shmem_size(), &found);
	if (!found)
	{
		ring->lock = &(GetNamedLWLockTranche("pg_claude audit"))[0].lock;
		ConditionVariableInit(&ring->room);
		ring->head = ring->tail = ring->dropped = 0;
		ring->capacity = (Size) claude_audit_buffer_kb * 1024;
	}
}

bool
claude_audit_shared(void)
{
	return ring != NULL;
}

/* Is the ring at least half full (backends may soon wait for room)? */
bool
claude_audit_ring_pressed(void)
{
	bool		pressed;

	if (ring == NULL)
		return false;
	LWLockAcquire(ring->lock, LW_SHARED);
	pressed = ring->head - ring->tail >= ring->capacity / 2;
	LWLockRelease(ring->lock);
	return pressed;
}

/* A record that reached neither the ring nor claude.usage. */
static void
count_lost(void)
{
	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	ring->dropped++;
	LWLockRelease(ring->lock);
}

static uint64
ring_tail(void)
{
	uint64		tail;

	LWLockAcquire(ring->lock, LW_SHARED);
	tail = ring->tail;
	LWLockRelease(ring->lock);
	return tail;
}

uint64
claude_audit_dropped(void)
{
	uint64		n;

	if (ring == NULL)
		return 0;
	LWLockAcquire(ring->lock, LW_SHARED);
	n = ring->dropped;
	LWLockRelease(ring->lock);
	return n;
}

/* Does the worker write this database's records? */
static bool
ring_usable(void)
{
	if (ring == NULL)
		return false;
	if (ring_serves_this_db < 0)
	{
		char	   *db = get_database_name(MyDatabaseId);

		ring_serves_this_db = (db != NULL && strcmp(db, claude_database_name) == 0) ? 1 : 0;
	}
	return ring_serves_this_db == 1;
}

void
claude_audit_prepare(void)
{
	(void) ring_usable();
	if (audit_dbname[0] == '\0')
	{
		char	   *db = get_database_name(MyDatabaseId);

		strlcpy(audit_dbname, db ? db : "?", sizeof(audit_dbname));
	}
}

static void
ring_copy_in(uint64 pos, const void *src, Size len)
{
	Size		off = pos % ring->capacity;
	Size		first = Min(len, ring->capacity - off);

	memcpy(ring->data + off, src, first);
	if (first < len)
		memcpy(ring->data, (const char *) src + first, len - first);
}

static void
ring_copy_out(uint64 pos, void *dst, Size len)
{
	Size		off = pos % ring->capacity;
	Size		first = Min(len, ring->capacity - off);

	memcpy(dst, ring->data + off, first);
	if (first < len)
		memcpy((char *) dst + first, ring->data, len - first);
}

typedef enum PutResult
{
	PUT_QUEUED,					/* in the ring: the writer will write it */
	PUT_TOO_LARGE,				/* larger than the whole ring */
	PUT_WRITER_STUCK,			/* no room, and the writer made none in time */
	PUT_CANCELLED				/* no room, and the caller is being cancelled (or failing) */
} PutResult;

/* Append a record if there is room now. */
static bool
ring_try_put(const RecordHeader *h, const void *rec, Size rec_len, const char *text, Size text_len)
{
	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	if (h->len > ring->capacity - (ring->head - ring->tail))
	{
		LWLockRelease(ring->lock);
		return false;
	}
	ring_copy_in(ring->head, h, sizeof(*h));
	ring_copy_in(ring->head + sizeof(*h), rec, rec_len);
	if (text_len > 0)
		ring_copy_in(ring->head + sizeof(*h) + rec_len, text, text_len);
	ring->head += h->len;
	LWLockRelease(ring->lock);
	claude_wake_audit_writer();
	return true;
}

/* A cancel, statement_timeout or termination waits to be raised. */
static inline bool
interrupt_waiting(void)
{
	return InterruptPending && (QueryCancelPending || ProcDiePending);
}

/*
 * Append a record, waiting for room (back-pressure) for as long as the
 * writer makes progress, within claude.audit_wait_timeout of none.
 *
 * The wait sleeps on this backend's latch (a condition variable the
 * writer broadcasts as it takes records out) in short steps.  It holds
 * interrupts, so that nothing is raised from inside an audit callback (the
 * attempt would be recorded twice), and looks at them itself: once a
 * cancel, statement_timeout or termination is pending it waits at most
 * ERROR_PATH_WAIT_MS more, then returns, and the caller's next
 * CHECK_FOR_INTERRUPTS raises it.  An error path (in_error) gets only
 * ERROR_PATH_WAIT_MS in all.
 */
static PutResult
ring_put(RecordKind kind, const void *rec, Size rec_len, const char *text, Size text_len,
		 bool in_error)
{
	RecordHeader h;
	uint64		seen;
	uint64		start_tail;
	TimestampTz deadline;		/* of no progress */
	TimestampTz hard_deadline = 0;	/* whatever the progress; 0 = none */
	PutResult	result = PUT_WRITER_STUCK;

	h.kind = kind;
	h.text_len = (uint32) text_len;
	h.len = (uint32) MAXALIGN(sizeof(RecordHeader) + rec_len + text_len);
	if (h.len > ring->capacity)
		return PUT_TOO_LARGE;
	if (ring_try_put(&h, rec, rec_len, text, text_len))
		return PUT_QUEUED;

	/* full: wait for the writer, unless it has not moved since this backend last gave up on it */
	seen = start_tail = ring_tail();
	if (seen == stuck_tail || claude_audit_wait_timeout_ms <= 0)
		return (in_error || interrupt_waiting()) ? PUT_CANCELLED : PUT_WRITER_STUCK;
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), claude_audit_wait_timeout_ms);
	if (in_error)
		hard_deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													Min(claude_audit_wait_timeout_ms, ERROR_PATH_WAIT_MS));

	HOLD_INTERRUPTS();
	ConditionVariablePrepareToSleep(&ring->room);
	for (;;)
	{
		uint64		tail;
		TimestampTz now;

		claude_wake_audit_writer();
		if (ring_try_put(&h, rec, rec_len, text, text_len))
		{
			result = PUT_QUEUED;
			break;
		}
		now = GetCurrentTimestamp();
		tail = ring_tail();
		if (hard_deadline == 0 && interrupt_waiting())
			hard_deadline = TimestampTzPlusMilliseconds(now, ERROR_PATH_WAIT_MS);
		if (tail != seen)
		{
			/* progress: the bound is on a writer that does not move */
			seen = tail;
			deadline = TimestampTzPlusMilliseconds(now, claude_audit_wait_timeout_ms);
		}
		else if (now >= deadline)
		{
			stuck_tail = tail;
			result = hard_deadline != 0 ? PUT_CANCELLED : PUT_WRITER_STUCK;
			break;
		}
		if (hard_deadline != 0 && now >= hard_deadline)
		{
			/* not moved at all meanwhile: stuck, do not wait for it again */
			if (tail == start_tail)
				stuck_tail = tail;
			result = PUT_CANCELLED;
			break;
		}
		(void) ConditionVariableTimedSleep(&ring->room, RING_WAIT_STEP_MS, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	RESUME_INTERRUPTS();
	return result;
}

/* ---------------------------------------------------------------------
 * Writing records with SPI
 * --------------------------------------------------------------------- */

#define USAGE_INSERT \
	"INSERT INTO claude.usage (ts, role_name, database_name, backend_pid, function_name, operation, " \
	"model, region, endpoint_host, geography, request_id, http_status, error_code, input_tokens, " \
	"output_tokens, cache_read_tokens, cache_write_tokens, latency_ms, ttft_ms, retries, cache_hit, " \
	"job_id, prompt_sha256, prompt, cache_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, " \
	"$12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)"

/*
 * Every operator and function schema-qualified: these statements run with
 * raised privileges, and a caller's search_path (the direct path) must not
 * be able to substitute its own.  (OPERATOR() has no precedence of its
 * own: parenthesise.)
 */
#define CACHE_HIT_UPDATE \
	"UPDATE claude.cache SET hits = hits OPERATOR(pg_catalog.+) 1, last_used_at = greatest(last_used_at, $1) " \
	"WHERE key OPERATOR(pg_catalog.=) $2"

#define CACHE_UPSERT \
	"INSERT INTO claude.cache (key, model, operation, prompt_sha256, response, input_tokens, output_tokens) " \
	"VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO UPDATE SET response = EXCLUDED.response, " \
	"model = EXCLUDED.model, input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens, " \
	"created_at = pg_catalog.now(), last_used_at = pg_catalog.now()"

/*
 * Plans kept for the life of the process (SPI_keepplan): the worker
 * writes thousands of rows a minute, and planning each INSERT anew would
 * cost more than the write.  The plan cache re-plans them if the tables
 * change.
 */
static SPIPlanPtr usage_plan = NULL;
static SPIPlanPtr hit_plan = NULL;
static SPIPlanPtr cache_plan = NULL;

static SPIPlanPtr
kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL)
			elog(ERROR, "pg_claude: could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "pg_claude: could not keep a plan");
		*slot = plan;
	}
	return *slot;
}

static Datum
text_or_null(const char *s, char *null)
{
	if (s == NULL || s[0] == '\0')
	{
		*null = 'n';
		return (Datum) 0;
	}
	*null = ' ';
	return CStringGetTextDatum(s);
}

static Datum
int8_or_null(int64 v, char *null)
{
	*null = v < 0 ? 'n' : ' ';
	return Int64GetDatum(v);
}

static void
spi_check(int rc, const char *what)
{
	if (rc < 0)
		elog(ERROR, "pg_claude: %s failed: %s", what, SPI_result_code_string(rc));
}

/* Write one usage record (and bump the cache row of a hit); SPI connected. */
static void
write_usage(const ClaudeUsageRecord *r, const char *prompt)
{
	Oid			types[25] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, INT8OID,
		INT8OID, INT8OID, INT8OID, FLOAT8OID, FLOAT8OID, INT4OID, BOOLOID,
	INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		v[25];
	char		n[26];

	memset(n, ' ', sizeof(n));
	n[25] = '\0';
	v[0] = TimestampTzGetDatum(r->ts);
	v[1] = text_or_null(r->role_name, &n[1]);
	v[2] = text_or_null(r->database_name, &n[2]);
	v[3] = Int32GetDatum(r->backend_pid);
	v[4] = text_or_null(r->function_name, &n[4]);
	v[5] = text_or_null(r->operation, &n[5]);
	v[6] = text_or_null(r->model, &n[6]);
	v[7] = text_or_null(r->region, &n[7]);
	v[8] = text_or_null(r->endpoint_host, &n[8]);
	v[9] = text_or_null(r->geography, &n[9]);
	v[10] = text_or_null(r->request_id, &n[10]);
	v[11] = Int32GetDatum(r->http_status);
	n[11] = r->http_status < 0 ? 'n' : ' ';
	v[12] = text_or_null(r->error_code, &n[12]);
	v[13] = int8_or_null(r->input_tokens, &n[13]);
	v[14] = int8_or_null(r->output_tokens, &n[14]);
	v[15] = int8_or_null(r->cache_read_tokens, &n[15]);
	v[16] = int8_or_null(r->cache_write_tokens, &n[16]);
	v[17] = Float8GetDatum(r->latency_ms);
	n[17] = r->latency_ms < 0 ? 'n' : ' ';
	v[18] = Float8GetDatum(r->ttft_ms);
	n[18] = r->ttft_ms < 0 ? 'n' : ' ';
	v[19] = Int32GetDatum(r->retries);
	n[19] = r->retries < 0 ? 'n' : ' ';
	v[20] = BoolGetDatum(r->cache_hit);
	v[21] = Int64GetDatum(r->job_id);
	n[21] = r->job_id <= 0 ? 'n' : ' ';
	v[22] = text_or_null(r->prompt_sha256, &n[22]);
	v[23] = text_or_null(prompt, &n[23]);
	v[24] = text_or_null(r->cache_key, &n[24]);

	spi_check(SPI_execute_plan(kept_plan(&usage_plan, USAGE_INSERT, 25, types), v, n, false, 0),
			  "audit insert");
	if (r->cache_hit && r->cache_key[0])
	{
		Oid			t2[2] = {TIMESTAMPTZOID, TEXTOID};
		Datum		v2[2] = {TimestampTzGetDatum(r->ts), CStringGetTextDatum(r->cache_key)};

		spi_check(SPI_execute_plan(kept_plan(&hit_plan, CACHE_HIT_UPDATE, 2, t2), v2, NULL, false, 0),
				  "cache hit update");
	}
}

static void
write_cache(const ClaudeCacheRecord *r, const char *response)
{
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID};
	Datum		v[7];
	char		n[8];

	memset(n, ' ', sizeof(n));
	n[7] = '\0';
	v[0] = CStringGetTextDatum(r->key);
	v[1] = CStringGetTextDatum(r->model);
	v[2] = CStringGetTextDatum(r->operation);
	v[3] = text_or_null(r->prompt_sha256, &n[3]);
	v[4] = CStringGetTextDatum(response);
	v[5] = int8_or_null(r->input_tokens, &n[5]);
	v[6] = int8_or_null(r->output_tokens, &n[6]);
	spi_check(SPI_execute_plan(kept_plan(&cache_plan, CACHE_UPSERT, 7, types), v, n, false, 0),
			  "cache insert");
}

/* Put a record where it cannot be lost silently: the server log. */
static void
log_record(const ClaudeUsageRecord *r, const char *why)
{
	ereport(LOG,
			(errmsg("pg_claude audit record (%s): ts=%s role=%s db=%s pid=%d function=%s operation=%s "
					"model=%s region=%s endpoint=%s status=%d error=%s input_tokens=" INT64_FORMAT
					" output_tokens=" INT64_FORMAT " latency_ms=%.1f retries=%d cache_hit=%s",
					why, timestamptz_to_str(r->ts), r->role_name, r->database_name, r->backend_pid,
					r->function_name, r->operation, r->model, r->region, r->endpoint_host,
					r->http_status, r->error_code, r->input_tokens, r->output_tokens,
					r->latency_ms, r->retries, r->cache_hit ? "true" : "false")));
}

/*
 * Write from this backend, in a subtransaction, as the extension owner
 * (callers may not write the audit tables themselves; privilege.c).
 */
static bool
write_direct(RecordKind kind, const void *rec, const char *text)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Oid			save_userid;
	int			save_sec;

	if (IsInParallelMode() || RecoveryInProgress() || XactReadOnly || !IsTransactionState())
	{
		if (kind == RECORD_USAGE)
			log_record((const ClaudeUsageRecord *) rec, "not written: no writable transaction");
		return false;
	}

	GetUserIdAndSecContext(&save_userid, &save_sec);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		ClaudePrivilege priv;

		claude_privilege_enter(&priv);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (kind == RECORD_USAGE)
			write_usage((const ClaudeUsageRecord *) rec, text);
		else
			write_cache((const ClaudeCacheRecord *) rec, text);
		SPI_finish();
		claude_privilege_leave(&priv);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		SetUserIdAndSecContext(save_userid, save_sec);
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (kind == RECORD_USAGE)
			log_record((const ClaudeUsageRecord *) rec, edata->message);
		FreeErrorData(edata);
		return false;
	}
	PG_END_TRY();
	return true;
}

/*
 * The ring could not take a record (the writer is stuck, or the record is
 * larger than the ring): write it from this process.  In a transaction,
 * that is a subtransaction of it, so the row is kept only if the caller
 * commits; outside any (the job worker between its transactions), in a
 * transaction of its own.  Returns whether it was written.
 */
static bool
write_instead_of_ring(RecordKind kind, const void *rec, const char *text)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool		written;

	if (IsTransactionState() || IsTransactionOrTransactionBlock())
		return write_direct(kind, rec, text);	/* an aborted one refuses */

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	written = write_direct(kind, rec, text);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return written;
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
claude_usage_init(ClaudeUsageRecord *r, const char *operation, const char *model)
{
	memset(r, 0, sizeof(*r));
	r->ts = GetCurrentTimestamp();
	/* outside a transaction (the worker's transfers) no catalog lookup is possible */
	if (claude_current_role_name)
		strlcpy(r->role_name, claude_current_role_name, sizeof(r->role_name));
	else if (IsTransactionState())
	{
		char	   *role = GetUserNameFromId(GetUserId(), true);

		strlcpy(r->role_name, role ? role : "?", sizeof(r->role_name));
	}
	if (audit_dbname[0] == '\0' && IsTransactionState())
		claude_audit_prepare();
	strlcpy(r->database_name, audit_dbname, sizeof(r->database_name));
	r->backend_pid = MyProcPid;
	strlcpy(r->function_name, claude_current_function ? claude_current_function : "", sizeof(r->function_name));
	strlcpy(r->operation, operation, sizeof(r->operation));
	strlcpy(r->model, model, sizeof(r->model));
	r->http_status = -1;
	r->input_tokens = r->output_tokens = r->cache_read_tokens = r->cache_write_tokens = -1;
	r->latency_ms = r->ttft_ms = -1;
	r->retries = -1;
	r->job_id = claude_current_job_id;
}

void
claude_audit_usage(const ClaudeUsageRecord *r, const char *prompt)
{
	const char *text = (claude_log_prompts && prompt) ? prompt : NULL;
	PutResult	put;

	if (!ring_usable())
	{
		(void) write_direct(RECORD_USAGE, r, text);
		return;
	}
	put = ring_put(RECORD_USAGE, r, sizeof(*r), text, text ? strlen(text) + 1 : 0, false);
	if (put == PUT_QUEUED)
		return;
	if (put == PUT_CANCELLED)
	{
		/* its transaction is going away: the row would go with it */
		count_lost();
		log_record(r, "cancelled while the audit buffer was full");
		return;
	}
	if (put == PUT_WRITER_STUCK && stuck_warned_tail != stuck_tail)
	{
		stuck_warned_tail = stuck_tail;
		warn_writer_stuck();
	}
	else if (put == PUT_TOO_LARGE)
		ereport(WARNING,
				(errmsg("a pg_claude audit record is larger than claude.audit_buffer; "
						"this process writes it itself"),
				 errdetail("The record is part of the caller's transaction: a ROLLBACK removes it.")));
	if (!write_instead_of_ring(RECORD_USAGE, r, text))
		count_lost();
}

/*
 * From an error path (a call interrupted in flight, a refused request
 * about to raise): the transaction is going away, so the record goes to
 * the ring (waiting briefly for room) or to the server log.
 */
void
claude_audit_usage_in_error(const ClaudeUsageRecord *r)
{
	if (ring_usable())
	{
		if (ring_put(RECORD_USAGE, r, sizeof(*r), NULL, 0, true) == PUT_QUEUED)
			return;
		count_lost();
	}
	log_record(r, "interrupted call");
}

void
claude_audit_cache_store(const ClaudeCacheRecord *r, const char *response)
{
	PutResult	put;

	if (!ring_usable())
	{
		(void) write_direct(RECORD_CACHE, r, response);
		return;
	}
	put = ring_put(RECORD_CACHE, r, sizeof(*r), response, strlen(response) + 1, false);
	if (put == PUT_QUEUED)
		return;
	if (put == PUT_CANCELLED)
	{
		count_lost();
		return;
	}
	/* a large answer, or a stuck writer: store it from here (no WARNING of its own) */
	if (!write_instead_of_ring(RECORD_CACHE, r, response))
		count_lost();
}

/* ---------------------------------------------------------------------
 * The worker's side
 * --------------------------------------------------------------------- */

#define DRAIN_BATCH 1000

/* Pop one record into palloc'd memory; NULL when the ring is empty. */
static char *
ring_pop(RecordHeader *h)
{
	char	   *buf = NULL;

	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	if (ring->head != ring->tail)
	{
		ring_copy_out(ring->tail, h, sizeof(*h));
		buf = palloc(h->len);
		ring_copy_out(ring->tail, buf, h->len);
		ring->tail += h->len;
	}
	LWLockRelease(ring->lock);
	/* room: wake the backends waiting for it */
	if (buf != NULL)
		ConditionVariableBroadcast(&ring->room);
	return buf;
}

int
claude_audit_drain(void)
{
	int			written = 0;
	MemoryContext loopcxt;
	MemoryContext oldcxt;

	if (ring == NULL || ring->head == ring->tail)
		return 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());

	/* nothing to write into until the extension exists: keep the records */
	if (!OidIsValid(get_extension_oid("pg_claude", true)))
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		return 0;
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * The records were only in shared memory until now, so waiting for the
	 * WAL flush would guard nothing the ring does not already risk: commit
	 * asynchronously and write many records per second cheaply.
	 */
	spi_check(SPI_execute("SET LOCAL synchronous_commit = off", false, 0), "synchronous_commit");

	loopcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_claude drain", ALLOCSET_DEFAULT_SIZES);
	while (written < DRAIN_BATCH)
	{
		RecordHeader h;
		char	   *buf;
		MemoryContext spicxt = CurrentMemoryContext;
		ResourceOwner owner = CurrentResourceOwner;

		oldcxt = MemoryContextSwitchTo(loopcxt);
		buf = ring_pop(&h);
		MemoryContextSwitchTo(oldcxt);
		if (buf == NULL)
			break;

		/* each record in its own subtransaction: one bad record costs only itself */
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(spicxt);
		PG_TRY();
		{
			const char *text = h.text_len > 0 ?
				buf + sizeof(RecordHeader) + (h.kind == RECORD_USAGE ? sizeof(ClaudeUsageRecord) :
											  sizeof(ClaudeCacheRecord)) : NULL;

			if (h.kind == RECORD_USAGE)
				write_usage((ClaudeUsageRecord *) (buf + sizeof(RecordHeader)), text);
			else if (h.kind == RECORD_CACHE)
				write_cache((ClaudeCacheRecord *) (buf + sizeof(RecordHeader)), text);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(spicxt);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(spicxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(spicxt);
			CurrentResourceOwner = owner;
			if (h.kind == RECORD_USAGE)
				log_record((ClaudeUsageRecord *) (buf + sizeof(RecordHeader)), edata->message);
			else
				ereport(LOG, (errmsg("pg_claude: cache record not written: %s", edata->message)));
			FreeErrorData(edata);
		}
		PG_END_TRY();
		written++;
		MemoryContextReset(loopcxt);
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return written;
}

int64
claude_audit_maintain(void)
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
