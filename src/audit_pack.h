/*-------------------------------------------------------------------------
 *
 * audit_pack.h
 *	  A record packed for the audit ring (audit_pack.c): its fixed-size
 *	  strings cut to their lengths.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_AUDIT_PACK_H
#define PG_CLAUDE_AUDIT_PACK_H

#include "audit_record.h"

/* Room for any kind of record, packed or not. */
typedef union ClaudeAnyRecord
{
	ClaudeUsageRecord usage;
	ClaudeCacheRecord cache;
} ClaudeAnyRecord;

/* The size of a kind's record struct. */
extern Size claude_audit_record_size(RecordKind kind);

/* Pack rec (of its kind's struct) into out (room for that struct); the packed length. */
extern Size claude_audit_pack(RecordKind kind, const void *rec, char *out);

/* Unpack packed bytes into out (the whole struct), every unused byte zero. */
extern void claude_audit_unpack(RecordKind kind, const char *packed, Size packed_len, void *out);

#endif							/* PG_CLAUDE_AUDIT_PACK_H */
