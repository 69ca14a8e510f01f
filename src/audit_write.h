/*-------------------------------------------------------------------------
 *
 * audit_write.h
 *	  Writing audit and cache records into claude.usage and claude.cache
 *	  (audit_write.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_AUDIT_WRITE_H
#define PG_CLAUDE_AUDIT_WRITE_H

#include "audit_record.h"
#include "audit_ring.h"

/* A record that cannot be written goes here: the server log. */
extern void claude_audit_log_record(const ClaudeUsageRecord *r, const char *why);

/* Write from this backend, in a subtransaction of its transaction; false (logged) if it cannot. */
extern bool claude_audit_write_direct(RecordKind kind, const void *rec, const char *text);

/* The same where the ring could not take it: outside a transaction, in one of its own. */
extern bool claude_audit_write_instead_of_ring(RecordKind kind, const void *rec, const char *text);

/* Audit writer: write what is queued (in its own transaction); returns records written. */
extern int	claude_audit_drain(void);

#endif							/* PG_CLAUDE_AUDIT_WRITE_H */
