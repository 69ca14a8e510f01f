/*-------------------------------------------------------------------------
 *
 * audit_ring.c
 *	  The audit ring: a bounded queue of records in shared memory, from the
 *	  backends to the pg_claude audit writer.
 *
 * A full ring is back-pressure, not loss: a backend wakes the writer and
 * waits for room for as long as the writer makes progress, within
 * claude.audit_wait_timeout of none (doc/architecture.md, "The audit
 * trail").  The writer pops records and broadcasts the room it made.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "audit_pack.h"
#include "audit_ring.h"
#include "guc.h"
#include "wakeup.h"

/* A backend waiting for room in the ring looks again at least this often. */
#define RING_WAIT_STEP_MS 10

/* An error path (or a cancelled wait) waits at most this long, uninterruptibly. */
#define ERROR_PATH_WAIT_MS 1000

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

/* Nothing queued (or no ring)? */
bool
claude_audit_ring_empty(void)
{
	bool		empty;

	if (ring == NULL)
		return true;
	LWLockAcquire(ring->lock, LW_SHARED);
	empty = ring->head == ring->tail;
	LWLockRelease(ring->lock);
	return empty;
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
void
claude_audit_ring_count_lost(void)
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
bool
claude_audit_ring_usable(void)
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

/* Once per spell of a stuck writer: true the first time it is found stuck. */
bool
claude_audit_ring_newly_stuck(void)
{
	if (stuck_warned_tail == stuck_tail)
		return false;
	stuck_warned_tail = stuck_tail;
	return true;
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


/*
 * Append a record if there is room now.  The writer is woken by the record
 * that finds the ring empty (it then gathers, or is draining already: it
 * pops until the ring is empty) and again when the ring reaches half full
 * (it stops gathering); the records in between cost only their copy
 * (doc/architecture.md, "The cache and the audit ring").
 */
static bool
ring_try_put(const RecordHeader *h, const char *rec, const char *text, Size text_len)
{
	bool		wake;

	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	if (h->len > ring->capacity - (ring->head - ring->tail))
	{
		LWLockRelease(ring->lock);
		return false;
	}
	wake = ring->head == ring->tail;
	ring_copy_in(ring->head, h, sizeof(*h));
	ring_copy_in(ring->head + sizeof(*h), rec, h->rec_len);
	if (text_len > 0)
		ring_copy_in(ring->head + sizeof(*h) + h->rec_len, text, text_len);
	ring->head += h->len;
	if (ring->head - ring->tail >= ring->capacity / 2)
		wake = true;
	LWLockRelease(ring->lock);
	if (wake)
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
PutResult
claude_audit_ring_put(RecordKind kind, const void *rec, Size rec_len, const char *text, Size text_len,
		 bool in_error)
{
	RecordHeader h;
	union
	{
		ClaudeAnyRecord any;
		char		bytes[sizeof(ClaudeAnyRecord)];
	}			packed;
	uint64		seen;
	uint64		start_tail;
	TimestampTz deadline;		/* of no progress */
	TimestampTz hard_deadline = 0;	/* whatever the progress; 0 = none */
	PutResult	result = PUT_WRITER_STUCK;

	Assert(rec_len == claude_audit_record_size(kind));
	h.kind = kind;
	h.rec_len = (uint32) claude_audit_pack(kind, rec, packed.bytes);
	h.text_len = (uint32) text_len;
	h.len = (uint32) MAXALIGN(sizeof(RecordHeader) + h.rec_len + text_len);
	if (h.len > ring->capacity)
		return PUT_TOO_LARGE;
	if (ring_try_put(&h, packed.bytes, text, text_len))
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
		if (ring_try_put(&h, packed.bytes, text, text_len))
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

/* Pop one record, unpacked, into palloc'd memory (audit_ring.h); NULL when the ring is empty. */
char *
claude_audit_ring_pop(RecordHeader *h)
{
	char	   *packed = NULL;
	char	   *buf;
	Size		size;

	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	if (ring->head != ring->tail)
	{
		ring_copy_out(ring->tail, h, sizeof(*h));
		packed = palloc(h->len);
		ring_copy_out(ring->tail, packed, h->len);
		ring->tail += h->len;
	}
	LWLockRelease(ring->lock);
	if (packed == NULL)
		return NULL;
	/* room: wake the backends waiting for it */
	ConditionVariableBroadcast(&ring->room);

	size = claude_audit_record_size((RecordKind) h->kind);
	buf = palloc(sizeof(RecordHeader) + size + h->text_len);
	memcpy(buf, h, sizeof(RecordHeader));
	claude_audit_unpack((RecordKind) h->kind, packed + sizeof(RecordHeader), h->rec_len,
						buf + sizeof(RecordHeader));
	memcpy(buf + sizeof(RecordHeader) + size, packed + sizeof(RecordHeader) + h->rec_len, h->text_len);
	pfree(packed);
	return buf;
}
