/*-------------------------------------------------------------------------
 *
 * audit_pack.c
 *	  How a record travels in the audit ring: packed.
 *
 * A usage record is about 2 KB of fixed-size strings, mostly empty.  In the
 * ring each string member takes only its length and a NUL, so a record takes
 * a few hundred bytes: a backend maps the ring's shared pages one by one as it
 * first writes them, and fewer bytes per record is fewer of those page faults
 * (and less for the writer to read).  Members not listed here travel as they
 * are, so a string member added to a record without being listed is still
 * carried whole, only not packed (doc/architecture.md, "The cache and the
 * audit ring").
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "audit_pack.h"
#include "audit_record.h"

typedef struct StringMember
{
	uint16		offset;
	uint16		size;
} StringMember;

#define MEMBER(type, field) {offsetof(type, field), sizeof(((type *) 0)->field)}

/* in declaration order */
static const StringMember usage_strings[] = {
	MEMBER(ClaudeUsageRecord, role_name),
	MEMBER(ClaudeUsageRecord, database_name),
	MEMBER(ClaudeUsageRecord, function_name),
	MEMBER(ClaudeUsageRecord, operation),
	MEMBER(ClaudeUsageRecord, model),
	MEMBER(ClaudeUsageRecord, region),
	MEMBER(ClaudeUsageRecord, endpoint_host),
	MEMBER(ClaudeUsageRecord, geography),
	MEMBER(ClaudeUsageRecord, request_id),
	MEMBER(ClaudeUsageRecord, error_code),
	MEMBER(ClaudeUsageRecord, prompt_sha256),
	MEMBER(ClaudeUsageRecord, cache_key),
	MEMBER(ClaudeUsageRecord, provider),
	MEMBER(ClaudeUsageRecord, redactions),
	MEMBER(ClaudeUsageRecord, guardrail_action),
	MEMBER(ClaudeUsageRecord, guardrail_trace),
	MEMBER(ClaudeUsageRecord, attachment_type),
};

static const StringMember cache_strings[] = {
	MEMBER(ClaudeCacheRecord, key),
	MEMBER(ClaudeCacheRecord, model),
	MEMBER(ClaudeCacheRecord, operation),
	MEMBER(ClaudeCacheRecord, prompt_sha256),
};

typedef struct Layout
{
	Size		size;
	const StringMember *strings;
	int			nstrings;
} Layout;

static Layout
layout_of(RecordKind kind)
{
	Layout		l;

	switch (kind)
	{
		case RECORD_USAGE:
			l.size = sizeof(ClaudeUsageRecord);
			l.strings = usage_strings;
			l.nstrings = lengthof(usage_strings);
			break;
		case RECORD_CACHE:
			l.size = sizeof(ClaudeCacheRecord);
			l.strings = cache_strings;
			l.nstrings = lengthof(cache_strings);
			break;
		default:
			elog(ERROR, "unknown pg_claude audit record kind %d", (int) kind);
	}
	return l;
}

Size
claude_audit_record_size(RecordKind kind)
{
	return layout_of(kind).size;
}

/* Each string is cut at its NUL (or one byte short of its member): it then fits the member whole. */
Size
claude_audit_pack(RecordKind kind, const void *rec, char *out)
{
	Layout		l = layout_of(kind);
	const char *in = rec;
	Size		pos = 0;
	Size		len = 0;
	int			i;

	for (i = 0; i < l.nstrings; i++)
	{
		const StringMember *m = &l.strings[i];
		Size		n = strnlen(in + m->offset, m->size - 1);

		Assert(m->offset >= pos);
		memcpy(out + len, in + pos, m->offset - pos);
		len += m->offset - pos;
		memcpy(out + len, in + m->offset, n);
		len += n;
		out[len++] = '\0';
		pos = m->offset + m->size;
	}
	memcpy(out + len, in + pos, l.size - pos);
	return len + (l.size - pos);
}

void
claude_audit_unpack(RecordKind kind, const char *packed, Size packed_len, void *out)
{
	Layout		l = layout_of(kind);
	char	   *rec = out;
	const char *end = packed + packed_len;
	Size		pos = 0;
	int			i;

	memset(rec, 0, l.size);
	for (i = 0; i < l.nstrings; i++)
	{
		const StringMember *m = &l.strings[i];
		Size		n;

		if ((Size) (end - packed) < m->offset - pos)
			elog(ERROR, "pg_claude audit record truncated in the ring");
		memcpy(rec + pos, packed, m->offset - pos);
		packed += m->offset - pos;
		n = strnlen(packed, Min((Size) (end - packed), (Size) m->size - 1));
		if (packed + n >= end || packed[n] != '\0')
			elog(ERROR, "pg_claude audit record truncated in the ring");
		memcpy(rec + m->offset, packed, n);
		packed += n + 1;
		pos = m->offset + m->size;
	}
	if ((Size) (end - packed) != l.size - pos)
		elog(ERROR, "pg_claude audit record of the wrong length in the ring");
	memcpy(rec + pos, packed, l.size - pos);
}
