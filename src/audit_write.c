/*-------------------------------------------------------------------------
 *
 * audit_write.c
 *	  Where audit and cache rows are written: the SQL (as the extension
 *	  owner), a backend's direct write, and the writer's drain of the ring.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit_write.h"
#include "extension_state.h"
#include "privilege.h"
#include "subxact.h"

#define DRAIN_BATCH 1000

/* ---------------------------------------------------------------------
 * Writing records with SPI
 * --------------------------------------------------------------------- */

#define USAGE_INSERT \
	"INSERT INTO claude.usage (ts, role_name, database_name, backend_pid, function_name, operation, " \
	"model, region, endpoint_host, geography, request_id, http_status, error_code, input_tokens, " \
	"output_tokens, cache_read_tokens, cache_write_tokens, latency_ms, ttft_ms, retries, cache_hit, " \
	"job_id, prompt_sha256, prompt, cache_key, cache_write_1h_tokens, provider, redactions, guardrail_action, " \
	"guardrail_trace, attachment_type, attachment_bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, " \
	"$8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, " \
	"CAST($28 AS pg_catalog.jsonb), $29, $30, $31, $32)"

/*
 * Every operator and function schema-qualified: these statements run with
 * raised privileges, and a caller's search_path (the direct path) must not
 * be able to substitute its own.  (OPERATOR() has no precedence of its
 * own: parenthesise.)
 */
#define CACHE_HIT_UPDATE \
	"UPDATE claude.cache SET hits = hits OPERATOR(pg_catalog.+) $3, last_used_at = greatest(last_used_at, $1) " \
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

/* The drain's count of hits per cache key (cache_key[65] is the hash key). */
typedef struct HitCount
{
	char		key[65];
	int64		n;
	TimestampTz latest;
} HitCount;

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

/* Count n hits on the cache row of key, the latest at ts; SPI connected. */
static void
write_hits(const char *key, int64 n, TimestampTz ts)
{
	Oid			types[3] = {TIMESTAMPTZOID, TEXTOID, INT8OID};
	Datum		v[3] = {TimestampTzGetDatum(ts), CStringGetTextDatum(key), Int64GetDatum(n)};

	spi_check(SPI_execute_plan(kept_plan(&hit_plan, CACHE_HIT_UPDATE, 3, types), v, NULL, false, 0),
			  "cache hit update");
}

/*
 * Write one usage record; SPI connected.  A hit's cache row is bumped here
 * unless the caller counts the hits itself (hits != NULL: the drain, which
 * updates each row once per batch, not once per hit).
 */
static void
write_usage(const ClaudeUsageRecord *r, const char *prompt, HTAB *hits)
{
	Oid			types[32] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, INT8OID,
		INT8OID, INT8OID, INT8OID, FLOAT8OID, FLOAT8OID, INT4OID, BOOLOID,
	INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID};
	Datum		v[32];
	char		n[33];

	memset(n, ' ', sizeof(n));
	n[32] = '\0';
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
	v[25] = int8_or_null(r->cache_write_1h_tokens, &n[25]);
	v[26] = CStringGetTextDatum(r->provider[0] ? r->provider : "bedrock");
	v[27] = text_or_null(r->redactions, &n[27]);
	v[28] = text_or_null(r->guardrail_action, &n[28]);
	v[29] = text_or_null(r->guardrail_trace, &n[29]);
	v[30] = text_or_null(r->attachment_type, &n[30]);
	v[31] = int8_or_null(r->attachment_bytes, &n[31]);

	spi_check(SPI_execute_plan(kept_plan(&usage_plan, USAGE_INSERT, 32, types), v, n, false, 0),
			  "audit insert");
	if (r->cache_hit && r->cache_key[0])
	{
		if (hits == NULL)
			write_hits(r->cache_key, 1, r->ts);
		else
		{
			bool		found;
			HitCount   *h = hash_search(hits, r->cache_key, HASH_ENTER, &found);

			h->n = found ? h->n + 1 : 1;
			h->latest = found ? Max(h->latest, r->ts) : r->ts;
		}
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
void
claude_audit_log_record(const ClaudeUsageRecord *r, const char *why)
{
	ereport(LOG,
			(errmsg("pg_claude audit record (%s): ts=%s role=%s db=%s pid=%d function=%s operation=%s "
					"provider=%s model=%s region=%s endpoint=%s status=%d error=%s input_tokens=" INT64_FORMAT
					" output_tokens=" INT64_FORMAT " latency_ms=%.1f retries=%d cache_hit=%s",
					why, timestamptz_to_str(r->ts), r->role_name, r->database_name, r->backend_pid,
					r->function_name, r->operation, r->provider, r->model, r->region, r->endpoint_host,
					r->http_status, r->error_code, r->input_tokens, r->output_tokens,
					r->latency_ms, r->retries, r->cache_hit ? "true" : "false")));
}

/* A record on its way to its table. */
typedef struct Record
{
	RecordKind	kind;
	const void *rec;
	const char *text;			/* prompt or response, or NULL */
	HTAB	   *hits;			/* the drain's hit counts, or NULL */
} Record;

static void
write_record(void *arg)
{
	Record	   *r = (Record *) arg;

	if (r->kind == RECORD_USAGE)
		write_usage((const ClaudeUsageRecord *) r->rec, r->text, r->hits);
	else if (r->kind == RECORD_CACHE)
		write_cache((const ClaudeCacheRecord *) r->rec, r->text);
}

static void
write_record_spi(void *arg)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	write_record(arg);
	SPI_finish();
}

static void
write_as_owner(void *arg)
{
	claude_run_privileged(write_record_spi, arg);
}

/* A record whose write failed: a usage record goes to the server log. */
static void
record_not_written(const Record *r, const char *why)
{
	if (r->kind == RECORD_USAGE)
		claude_audit_log_record((const ClaudeUsageRecord *) r->rec, why);
	else
		ereport(LOG, (errmsg("pg_claude: cache record not written: %s", why)));
}

/*
 * Write from this backend, in a subtransaction, as the extension owner
 * (callers may not write the audit tables themselves; privilege.c).
 */
bool
claude_audit_write_direct(RecordKind kind, const void *rec, const char *text)
{
	Record		r = {kind, rec, text, NULL};
	ErrorData  *edata;

	if (IsInParallelMode() || RecoveryInProgress() || XactReadOnly || !IsTransactionState())
	{
		if (kind == RECORD_USAGE)
			claude_audit_log_record((const ClaudeUsageRecord *) rec, "not written: no writable transaction");
		return false;
	}
	edata = claude_try(write_as_owner, &r);
	if (edata == NULL)
		return true;
	record_not_written(&r, edata->message);
	FreeErrorData(edata);
	return false;
}

/*
 * The ring could not take a record (the writer is stuck, or the record is
 * larger than the ring): write it from this process.  In a transaction,
 * that is a subtransaction of it, so the row is kept only if the caller
 * commits; outside any (the job worker between its transactions), in a
 * transaction of its own.  Returns whether it was written.
 */
bool
claude_audit_write_instead_of_ring(RecordKind kind, const void *rec, const char *text)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool		written;

	if (IsTransactionState() || IsTransactionOrTransactionBlock())
		return claude_audit_write_direct(kind, rec, text);	/* an aborted one refuses */

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	written = claude_audit_write_direct(kind, rec, text);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return written;
}

/* The cache rows of a batch's hits, once each, in a subtransaction of their own. */
static void
write_hit_counts(void *arg)
{
	HitCount   *h = (HitCount *) arg;

	write_hits(h->key, h->n, h->latest);
}

/* Is the extension there, locked against a DROP until the transaction ends? */
static bool
extension_kept(void)
{
	Oid			ext;

	if (!claude_extension_installed())
		return false;
	ext = get_extension_oid("pg_claude", true);
	if (!OidIsValid(ext))
		return false;
	LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
	/* the lock waited out any DROP and took in its invalidations: still the same one? */
	return get_extension_oid("pg_claude", true) == ext;
}

int
claude_audit_drain(void)
{
	int			written = 0;
	MemoryContext loopcxt;
	MemoryContext oldcxt;
	HTAB	   *hits;
	HASHCTL		hctl;
	HASH_SEQ_STATUS seq;
	HitCount   *h;

	if (claude_audit_ring_empty())
		return 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());

	/*
	 * Nothing to write into until the extension exists: keep the records.
	 * The extension is locked before a record is taken, so a DROP EXTENSION
	 * in progress (which locks it first) is waited for and then seen, rather
	 * than records taken from the ring and their INSERTs failing behind it.
	 */
	if (!extension_kept())
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
	(void) set_config_option("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);

	/* in the transaction's memory: gone with it */
	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(h->key);
	hctl.entrysize = sizeof(HitCount);
	hctl.hcxt = CurTransactionContext;
	hits = hash_create("pg_claude drain hits", 64, &hctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	loopcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_claude drain", ALLOCSET_DEFAULT_SIZES);
	while (written < DRAIN_BATCH)
	{
		RecordHeader rh;
		char	   *buf;

		oldcxt = MemoryContextSwitchTo(loopcxt);
		buf = claude_audit_ring_pop(&rh);
		MemoryContextSwitchTo(oldcxt);
		if (buf == NULL)
			break;

		/* each record in its own subtransaction: one bad record costs only itself */
		{
			Record		r = {rh.kind, buf + sizeof(RecordHeader), NULL, hits};
			ErrorData  *edata;

			if (rh.text_len > 0)
				r.text = buf + sizeof(RecordHeader) + (rh.kind == RECORD_USAGE ?
													   sizeof(ClaudeUsageRecord) : sizeof(ClaudeCacheRecord));
			edata = claude_try(write_record, &r);
			if (edata != NULL)
			{
				record_not_written(&r, edata->message);
				FreeErrorData(edata);
			}
		}
		written++;
		MemoryContextReset(loopcxt);
	}

	/* the hits of the batch: one update per cache row, not one per hit */
	hash_seq_init(&seq, hits);
	while ((h = hash_seq_search(&seq)) != NULL)
	{
		ErrorData  *edata = claude_try(write_hit_counts, h);

		if (edata != NULL)
		{
			ereport(LOG, (errmsg("pg_claude: hits of a cache entry not counted: %s", edata->message)));
			FreeErrorData(edata);
		}
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return written;
}
