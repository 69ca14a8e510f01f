/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *	  The one place where PostgreSQL versions differ for pg_claude.
 *
 * pg_claude is tested on PostgreSQL 15 and 18 and builds on every release
 * in between (doc/architecture.md, "Versions").  Each difference between
 * those releases that the code meets is bridged here, so the rest of the
 * source is written against one API: the newest one, with a fallback for
 * older servers.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_PG_COMPAT_H
#define PG_CLAUDE_PG_COMPAT_H

/*
 * 18 marks functions that never return with a prefix, pg_noreturn, and
 * dropped the suffix pg_attribute_noreturn(); C11's _Noreturn is what 18's
 * prefix means, and every compiler that builds 15 with -std=gnu11 or later
 * takes it.
 */
#ifndef pg_noreturn
#define pg_noreturn _Noreturn
#endif

/*
 * 16 replaced the per-catalogue ownership checks with object_ownercheck()
 * (utils/acl.h; the catalogue's header names its RelationId).
 */
#if PG_VERSION_NUM >= 160000
#define claude_relation_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#define claude_extension_ownercheck(extoid, roleid) \
	object_ownercheck(ExtensionRelationId, (extoid), (roleid))
#else
#define claude_relation_ownercheck(relid, roleid) \
	pg_class_ownercheck((relid), (roleid))
#define claude_extension_ownercheck(extoid, roleid) \
	pg_extension_ownercheck((extoid), (roleid))
#endif

/*
 * 18 lets a deferrable primary key be the relation's primary key index and
 * asks whether the caller accepts one (utils/relcache.h).  claude_enrich
 * finds rows by a key that holds at every statement, so it does not.
 */
#if PG_VERSION_NUM >= 180000
#define claude_primary_key_index(rel) RelationGetPrimaryKeyIndex((rel), false)
#else
#define claude_primary_key_index(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * 17 gives a WaitEventSet to a resource owner instead of a memory context.
 * The transport keeps its sets for the session (created in
 * TopMemoryContext before 17), so it asks for none
 * (storage/waiteventset.h in 18, storage/latch.h before).
 */
#if PG_VERSION_NUM >= 170000
#define claude_create_wait_event_set(nevents) CreateWaitEventSet(NULL, (nevents))
#else
#define claude_create_wait_event_set(nevents) CreateWaitEventSet(CurrentMemoryContext, (nevents))
#endif

/* 18 takes instrumentation for an index scan (access/genam.h); pg_claude asks for none. */
#if PG_VERSION_NUM >= 180000
#define claude_index_beginscan(heap, index, snapshot, nkeys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), 0)
#else
#define claude_index_beginscan(heap, index, snapshot, nkeys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), 0)
#endif

/* 18 takes base64's input as bytes (common/base64.h), 15 as characters. */
#if PG_VERSION_NUM >= 180000
typedef uint8 claude_b64_byte;
#else
typedef char claude_b64_byte;
#endif

#endif							/* PG_CLAUDE_PG_COMPAT_H */
