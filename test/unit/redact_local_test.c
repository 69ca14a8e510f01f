/*
 * redact_local_test.c
 *	  The local redaction pass (src/redact_local.h) on the issuers' own
 *	  examples and on a generated corpus: every number whose check digit
 *	  is right is replaced, every number with one digit changed is kept.
 *
 * The corpus's check digits are computed here, forwards (the validators
 * in redact_local.c check them backwards), so the two are independent.
 *
 *   redact_local_test [-n records] [-s seed]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redact_local.h"

static int failures;
static int checks;

static void
expect(const char *in, const char *want)
{
	char	   *out = malloc(REDACT_OUT_SIZE(strlen(in)));

	redact_local(in, strlen(in), REDACT_ALL_LOCAL, out, NULL);
	checks++;
	if (strcmp(out, want) != 0)
	{
		failures++;
		printf("not ok: \"%s\"\n   got \"%s\"\n  want \"%s\"\n", in, out, want);
	}
	free(out);
}

/*
 * A number replaced, by whichever placeholder: an 11-digit Medicare number
 * (with its IRN) may hold as an ABN too, and is an identifier either way.
 */
static void
expect_removed(const char *in, const char *prefix, const char *suffix, int *ambiguous)
{
	static const char *const any[] = {"[TFN]", "[ABN]", "[MEDICARE]", "[CREDIT_CARD]"};
	char	   *out = malloc(REDACT_OUT_SIZE(strlen(in)));
	size_t		pl = strlen(prefix);
	size_t		sl = strlen(suffix);
	size_t		ol;
	int			i;
	bool		ok = false;

	ol = redact_local(in, strlen(in), REDACT_ALL_LOCAL, out, NULL);
	checks++;
	if (ol >= pl + sl && strncmp(out, prefix, pl) == 0 && strcmp(out + ol - sl, suffix) == 0)
		for (i = 0; i < 4; i++)
			if (ol - pl - sl == strlen(any[i]) && strncmp(out + pl, any[i], strlen(any[i])) == 0)
				ok = true;
	if (!ok)
	{
		failures++;
		printf("not ok: number not removed: \"%s\" -> \"%s\"\n", in, out);
	}
	else
		(*ambiguous)++;
	free(out);
}

static unsigned long rng = 1;

static int
rnd(int n)
{
	rng = rng * 6364136223846793005UL + 1442695040888963407UL;
	return (int) ((rng >> 33) % (unsigned long) n);
}

/* Digits of each kind, check digits computed forwards. */
static int
gen_tfn(int *d)
{
	static const int w[9] = {1, 4, 3, 7, 5, 8, 6, 9, 10};

	for (;;)
	{
		int			s = 0,
					i;

		for (i = 0; i < 8; i++)
			s += (d[i] = rnd(10)) * w[i];
		/* 10 * d9 = -s (mod 11): 10 is its own inverse mod 11 */
		d[8] = (10 * (11 - s % 11)) % 11;
		if (d[8] < 10)
			return 9;
	}
}

static int
gen_abn(int *d)
{
	static const int w[11] = {10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19};

	for (;;)
	{
		int			s = 0,
					i,
					a,
					b;

		for (i = 2; i < 11; i++)
			s += (d[i] = rnd(10)) * w[i];
		/* try the two leading check digits until the sum is a multiple of 89 */
		for (a = 1; a <= 9; a++)
			for (b = 0; b <= 9; b++)
				if ((s + (a - 1) * 10 + b) % 89 == 0)
				{
					d[0] = a;
					d[1] = b;
					return 11;
				}
	}
}

static int
gen_medicare(int *d, int n)
{
	static const int w[8] = {1, 3, 7, 9, 1, 3, 7, 9};
	int			s = 0,
				i;

	d[0] = 2 + rnd(5);
	for (i = 1; i < 8; i++)
		d[i] = rnd(10);
	for (i = 0; i < 8; i++)
		s += d[i] * w[i];
	d[8] = s % 10;
	d[9] = 1 + rnd(9);
	if (n == 11)
		d[10] = 1 + rnd(9);
	return n;
}

static int
gen_card(int *d)
{
	int			n = 13 + rnd(7);
	int			s = 0,
				i;

	d[0] = 3 + rnd(4);
	for (i = 1; i < n - 1; i++)
		d[i] = rnd(10);
	d[n - 1] = 0;
	for (i = 0; i < n; i++)
	{
		int			v = d[n - 1 - i];

		if (i % 2 == 1)
			v = v * 2 > 9 ? v * 2 - 9 : v * 2;
		s += v;
	}
	d[n - 1] = (10 - s % 10) % 10;
	return n;
}

/* Write digits with a separator every group digits (0: none). */
static void
put_digits(char *buf, const int *d, int n, int group, char sep)
{
	int			i;
	char	   *p = buf;

	for (i = 0; i < n; i++)
	{
		if (group && i > 0 && i % group == 0)
			*p++ = sep;
		*p++ = (char) ('0' + d[i]);
	}
	*p = '\0';
}

static void
corpus(int records)
{
	static const char *const placeholder[] = {"[TFN]", "[ABN]", "[MEDICARE]", "[CREDIT_CARD]"};
	int			r;
	int			found = 0,
				other_kind = 0,
				kept = 0;

	for (r = 0; r < records; r++)
	{
		int			d[19];
		int			kind = rnd(4);
		int			n;
		int			group = rnd(2) ? 0 : (kind == REDACT_CREDIT_CARD ? 4 : 3);
		char		sep = rnd(2) ? ' ' : '-';
		char		num[64],
					in[256],
					want[256],
					*out;
		int			pos,
					old;
		size_t		olen;
		RedactCounts counts = {{0}};

		switch (kind)
		{
			case REDACT_TFN:
				n = gen_tfn(d);
				break;
			case REDACT_ABN:
				n = gen_abn(d);
				break;
			case REDACT_MEDICARE:
				n = gen_medicare(d, 10 + rnd(2));
				break;
			default:
				n = gen_card(d);
				break;
		}
		put_digits(num, d, n, group, sep);
		snprintf(in, sizeof(in), "Record %d: customer quoted %s on the form.", r, num);
		snprintf(want, sizeof(want), "Record %d: customer quoted %s on the form.", r, placeholder[kind]);
		out = malloc(REDACT_OUT_SIZE(strlen(in)));
		redact_local(in, strlen(in), REDACT_ALL_LOCAL, out, NULL);
		if (strcmp(out, want) == 0)
		{
			checks++;
			found++;
		}
		else
		{
			char		prefix[64];

			snprintf(prefix, sizeof(prefix), "Record %d: customer quoted ", r);
			expect_removed(in, prefix, " on the form.", &other_kind);
		}
		free(out);

		/* one digit changed: every one of these rules notices (not the IRN's) */
		pos = rnd(kind == REDACT_MEDICARE ? 9 : n);
		old = d[pos];
		d[pos] = (old + 1 + rnd(9)) % 10;
		if (kind == REDACT_ABN && d[0] == 0)
			d[0] = old == 1 ? 2 : 1;
		put_digits(num, d, n, 0, ' ');
		snprintf(in, sizeof(in), "Record %d: reference %s only.", r, num);
		out = malloc(REDACT_OUT_SIZE(strlen(in)));
		olen = redact_local(in, strlen(in), REDACT_ALL_LOCAL, out, &counts);
		checks++;
		/*
		 * A changed number may hold by another kind's rule of its length
		 * (an 11-digit one as a Medicare number with its IRN): that is a
		 * valid number, not a false positive; the kind must differ.
		 */
		if (olen != strlen(in) || strcmp(out, in) != 0)
		{
			if (counts.n[kind] != 0)
			{
				failures++;
				printf("not ok: invalid %s replaced: \"%s\" -> \"%s\"\n", redact_kind_name(kind), in, out);
			}
		}
		else
			kept++;
		free(out);
	}
	printf("corpus: %d records, %d valid numbers replaced (%d of them holding by another kind's rule too), "
		   "%d changed numbers kept\n", records, found + other_kind, other_kind, kept);
}

int
main(int argc, char **argv)
{
	int			records = 1000;
	int			opt;

	while ((opt = getopt(argc, argv, "n:s:")) != -1)
	{
		if (opt == 'n')
			records = atoi(optarg);
		else if (opt == 's')
			rng = strtoul(optarg, NULL, 10);
		else
			return 2;
	}

	/* the issuers' published examples (doc/redaction.md) */
	expect("TFN 123 456 782 on file", "TFN [TFN] on file");
	expect("TFN 123 456 783 on file", "TFN 123 456 783 on file");
	expect("ABN 51 824 753 556.", "ABN [ABN].");
	expect("ABN 53 004 085 616", "ABN [ABN]");
	expect("ABN 51 824 753 557", "ABN 51 824 753 557");
	expect("Medicare 2123 45670 1", "Medicare [MEDICARE]");
	expect("Medicare 2123456701 2", "Medicare [MEDICARE]");
	expect("Medicare 2123 45671 1", "Medicare 2123 45671 1");
	expect("card 4111 1111 1111 1111 exp 12/29", "card [CREDIT_CARD] exp 12/29");
	expect("card 4111-1111-1111-1112", "card 4111-1111-1111-1112");
	expect("card 4870696871788604", "card [CREDIT_CARD]");
	expect("mail jo.bloggs+x@example.com.au.", "mail [EMAIL].");
	expect("not mail: a@b, x@y.z, @example.com", "not mail: a@b, x@y.z, @example.com");
	/* digits inside a longer run are never a number of their own */
	expect("order 1234567821234567890123", "order 1234567821234567890123");
	expect("phone 0412 345 678", "phone 0412 345 678");
	expect("", "");
	expect("1", "1");

	corpus(records);
	printf("%d passed, %d failed\n", checks - failures, failures);
	return failures ? 1 : 0;
}
