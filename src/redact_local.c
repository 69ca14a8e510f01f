/*-------------------------------------------------------------------------
 *
 * redact_local.c
 *	  The local redaction pass (redact_local.h): numbers with a check
 *	  digit and email addresses, found by rule, never by the model.
 *
 * Numbers may be written in groups separated by one space or dash, as
 * people write them ("123 456 782", "4111-1111-1111-1111").  A candidate
 * starts where a digit group starts and ends where one ends; the longest
 * candidate whose checksum holds is replaced.  The rules are those
 * published by the issuers (doc/redaction.md cites them):
 *
 *	TFN       9 digits, weights 1,4,3,7,5,8,6,9,10, sum divisible by 11
 *	ABN       11 digits, 1 taken from the first, weights
 *	          10,1,3,5,7,9,11,13,15,17,19, sum divisible by 89
 *	Medicare  10 digits (an 11th, the IRN, may follow), first 2 to 6,
 *	          digits 1-8 weighted 1,3,7,9,1,3,7,9, sum mod 10 = digit 9
 *	Card      13 to 19 digits, Luhn
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "redact_local.h"

#define MAX_DIGITS 19

static const char *const kind_names[REDACT_LOCAL_KINDS] = {
	"TFN", "ABN", "MEDICARE", "CREDIT_CARD", "EMAIL"
};

const char *
redact_kind_name(RedactKind kind)
{
	return kind_names[kind];
}

/* ASCII only: bytes of a multibyte character are never part of one. */
static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_local_char(unsigned char c)
{
	return is_digit(c) || is_alpha(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static bool
is_domain_char(unsigned char c)
{
	return is_digit(c) || is_alpha(c) || c == '.' || c == '-';
}

bool
redact_tfn_valid(const int *d, int ndigits)
{
	static const int w[9] = {1, 4, 3, 7, 5, 8, 6, 9, 10};
	int			sum = 0;
	int			i;

	if (ndigits != 9)
		return false;
	for (i = 0; i < 9; i++)
		sum += d[i] * w[i];
	return sum % 11 == 0;
}

bool
redact_abn_valid(const int *d, int ndigits)
{
	static const int w[11] = {10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19};
	int			sum;
	int			i;

	/* the first digit, less one, is never negative: an ABN starts 1-9 */
	if (ndigits != 11 || d[0] == 0)
		return false;
	sum = (d[0] - 1) * w[0];
	for (i = 1; i < 11; i++)
		sum += d[i] * w[i];
	return sum % 89 == 0;
}

bool
redact_medicare_valid(const int *d, int ndigits)
{
	static const int w[8] = {1, 3, 7, 9, 1, 3, 7, 9};
	int			sum = 0;
	int			i;

	if ((ndigits != 10 && ndigits != 11) || d[0] < 2 || d[0] > 6)
		return false;
	for (i = 0; i < 8; i++)
		sum += d[i] * w[i];
	return sum % 10 == d[8];
}

bool
redact_luhn_valid(const int *d, int ndigits)
{
	int			sum = 0;
	int			i;

	if (ndigits < 13 || ndigits > MAX_DIGITS)
		return false;
	/* from the right, every second digit doubled (its digits summed) */
	for (i = 0; i < ndigits; i++)
	{
		int			v = d[ndigits - 1 - i];

		if (i % 2 == 1)
		{
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return sum % 10 == 0;
}

/* The kind of a candidate of n digits whose checksum holds, or -1. */
static int
number_kind(const int *d, int n, unsigned mask)
{
	if ((mask & (1u << REDACT_CREDIT_CARD)) && redact_luhn_valid(d, n))
		return REDACT_CREDIT_CARD;
	if ((mask & (1u << REDACT_ABN)) && redact_abn_valid(d, n))
		return REDACT_ABN;
	if ((mask & (1u << REDACT_MEDICARE)) && redact_medicare_valid(d, n))
		return REDACT_MEDICARE;
	if ((mask & (1u << REDACT_TFN)) && redact_tfn_valid(d, n))
		return REDACT_TFN;
	return -1;
}

/*
 * A number starting at in[p] (a digit group's first digit): its kind, and
 * in *end the offset just past it; -1 when no candidate's checksum holds.
 */
static int
match_number(const char *in, size_t len, size_t p, unsigned mask, size_t *end)
{
	int			d[MAX_DIGITS];
	size_t		after[MAX_DIGITS];	/* offset just past each digit */
	bool		group_end[MAX_DIGITS];
	int			n = 0;
	size_t		i = p;
	int			k;

	while (n < MAX_DIGITS && i < len && is_digit((unsigned char) in[i]))
	{
		d[n] = in[i] - '0';
		after[n] = ++i;
		group_end[n] = i >= len || !is_digit((unsigned char) in[i]);
		n++;
		/* one separator between two digits, as people write numbers */
		if (i + 1 < len && (in[i] == ' ' || in[i] == '-') && is_digit((unsigned char) in[i + 1]))
			i++;
	}
	/* a run longer than any identifier is not one */
	if (n == MAX_DIGITS && !group_end[n - 1])
		return -1;
	for (k = n; k >= 9; k--)
	{
		int			kind;

		if (!group_end[k - 1])
			continue;
		kind = number_kind(d, k, mask);
		if (kind >= 0)
		{
			*end = after[k - 1];
			return kind;
		}
	}
	return -1;
}

/* An email address starting at in[p]: true with *end just past it. */
static bool
match_email(const char *in, size_t len, size_t p, size_t *end)
{
	size_t		at = p;
	size_t		r;
	size_t		last_dot = 0;
	size_t		i;

	while (at < len && is_local_char((unsigned char) in[at]))
		at++;
	if (at == p || at >= len || in[at] != '@' || in[p] == '.')
		return false;
	r = at + 1;
	while (r < len && is_domain_char((unsigned char) in[r]))
		r++;
	/* a sentence's full stop after the address is not part of it */
	while (r > at + 1 && (in[r - 1] == '.' || in[r - 1] == '-'))
		r--;
	if (r == at + 1 || (!is_alpha((unsigned char) in[at + 1]) && !is_digit((unsigned char) in[at + 1])))
		return false;
	for (i = at + 1; i < r; i++)
		if (in[i] == '.')
		{
			if (in[i - 1] == '.' || in[i - 1] == '@')
				return false;
			last_dot = i;
		}
	if (last_dot == 0 || r - last_dot - 1 < 2)
		return false;
	for (i = last_dot + 1; i < r; i++)
		if (!is_alpha((unsigned char) in[i]))
			return false;
	*end = r;
	return true;
}

size_t
redact_local(const char *in, size_t len, unsigned mask, char *out, RedactCounts *counts)
{
	size_t		o = 0;
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char) in[i];
		unsigned char prev = i > 0 ? (unsigned char) in[i - 1] : 0;
		int			kind = -1;
		size_t		end = i;

		if ((mask & (1u << REDACT_EMAIL)) && is_local_char(c) && !is_local_char(prev) && prev != '@' &&
			match_email(in, len, i, &end))
			kind = REDACT_EMAIL;
		else if (is_digit(c) && !is_digit(prev))
			kind = match_number(in, len, i, mask, &end);

		if (kind >= 0)
		{
			const char *name = kind_names[kind];
			size_t		nlen = strlen(name);

			out[o++] = '[';
			memcpy(out + o, name, nlen);
			o += nlen;
			out[o++] = ']';
			if (counts)
				counts->n[kind]++;
			i = end;
			continue;
		}
		out[o++] = in[i++];
		/* the rest of a digit run that matched nothing stays as it is */
		while (is_digit(c) && i < len && is_digit((unsigned char) in[i]))
			out[o++] = in[i++];
	}
	out[o] = '\0';
	return o;
}
