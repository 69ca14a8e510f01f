/*-------------------------------------------------------------------------
 *
 * audit_ring.h
 *	  The shared ring of audit records (audit_ring.c): the backends put,
 *	  the pg_claude audit writer pops.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_AUDIT_RING_H
#define PG_CLAUDE_AUDIT_RING_H

#include "c.h"

#include "audit_record.h"

typedef struct RecordHeader
{
	uint32		len;			/* whole record, header included, MAXALIGNed */
	uint32		kind;
	uint32		rec_len;		/* in the ring: the packed record's bytes (audit_pack.c) */
	uint32		text_len;		/* prompt or response bytes after the record */
} RecordHeader;

typedef enum PutResult
{
	PUT_QUEUED,					/* in the ring: the writer will write it */
	PUT_TOO_LARGE,				/* larger than the whole ring */
	PUT_WRITER_STUCK,			/* no room, and the writer made none in time */
	PUT_CANCELLED				/* no room, and the caller is being cancelled (or failing) */
} PutResult;

/* Shared memory: size, attach. */
extern Size claude_audit_shmem_size(void);
extern void claude_audit_shmem_init(void);
extern bool claude_audit_shared(void);

/* Does the audit writer write this database's records (else: write them directly)? */
extern bool claude_audit_ring_usable(void);

/*
 * Append a record, waiting for room while the writer makes progress;
 * in_error: an error path, which waits only briefly.
 */
extern PutResult claude_audit_ring_put(RecordKind kind, const void *rec, Size rec_len,
									   const char *text, Size text_len, bool in_error);

/* True the first time a put found the writer stuck, until it moves again. */
extern bool claude_audit_ring_newly_stuck(void);

/* A record lost: in neither claude.usage nor the ring. */
extern void claude_audit_ring_count_lost(void);

/* Records lost since start (server log only). */
extern uint64 claude_audit_dropped(void);

/* Audit writer: nothing queued (or no ring)? */
extern bool claude_audit_ring_empty(void);

/* Audit writer: is the ring at least half full (skip gathering)? */
extern bool claude_audit_ring_pressed(void);

/*
 * Audit writer: pop one record into palloc'd memory, unpacked: the header
 * (also in *h), the whole struct, then text_len bytes of text; NULL when empty.
 */
extern char *claude_audit_ring_pop(RecordHeader *h);

#endif							/* PG_CLAUDE_AUDIT_RING_H */
