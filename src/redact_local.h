/*-------------------------------------------------------------------------
 *
 * redact_local.h
 *	  The local, deterministic redaction pass: identifiers that carry a
 *	  check digit (TFN, ABN, Medicare number, payment card) and email
 *	  addresses, replaced by typed placeholders before anything is sent.
 *
 * Plain C (libc only, no PostgreSQL headers): the same object is linked
 * into the extension and into the tester in test/unit.  A number is
 * replaced only when its checksum holds, so numbers that merely look like
 * one (order numbers, invalid digits) are kept.  See doc/redaction.md.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_REDACT_LOCAL_H
#define PG_CLAUDE_REDACT_LOCAL_H

#include <stdbool.h>
#include <stddef.h>

typedef enum RedactKind
{
	REDACT_TFN = 0,
	REDACT_ABN,
	REDACT_MEDICARE,
	REDACT_CREDIT_CARD,
	REDACT_EMAIL,
	REDACT_LOCAL_KINDS			/* how many the local pass finds */
} RedactKind;

/* A set of kinds, by bit (1 << kind). */
#define REDACT_ALL_LOCAL ((1u << REDACT_LOCAL_KINDS) - 1)

typedef struct RedactCounts
{
	int			n[REDACT_LOCAL_KINDS];
} RedactCounts;

/* The kind's name as placeholders and the audit show it ("TFN", "CREDIT_CARD"). */
extern const char *redact_kind_name(RedactKind kind);

/* Checksums of a run of ndigits digits (values 0-9). */
extern bool redact_tfn_valid(const int *d, int ndigits);
extern bool redact_abn_valid(const int *d, int ndigits);
extern bool redact_medicare_valid(const int *d, int ndigits);
extern bool redact_luhn_valid(const int *d, int ndigits);

/*
 * The bytes needed for redact_local's output of an input of len bytes:
 * a placeholder is never more than twice what it replaces.
 */
#define REDACT_OUT_SIZE(len) (2 * (len) + 1)

/*
 * Copy in (len bytes) to out (REDACT_OUT_SIZE(len) bytes, NUL-terminated)
 * with every identifier of the kinds in mask replaced by "[KIND]";
 * counts (may be NULL) is incremented per kind.  Returns the output's
 * length.
 */
extern size_t redact_local(const char *in, size_t len, unsigned mask, char *out,
						   RedactCounts *counts);

#endif							/* PG_CLAUDE_REDACT_LOCAL_H */
