/*-------------------------------------------------------------------------
 *
 * sigv4_sign.c
 *	  Sign one request with the signer (src/sigv4.h) and print every stage.
 *
 * This is the C half of test_sigv4_botocore.py: the Python side signs the
 * same request with botocore and compares.  It is also handy by hand.
 *
 * Usage:
 *	sigv4_sign -X METHOD -p PATH [-q QUERY] [-H 'Name: value' ...]
 *			   [-d BODYFILE | -d -] -r REGION -s SERVICE -a ACCESS_KEY_ID
 *			   [-k SECRET] [-t SESSION_TOKEN] -T TIMESTAMP
 *			   [--no-normalize] [--no-double-encode] [--content-sha256]
 *			   [--omit-session-token]
 *
 * PATH is the path as sent on the wire (already percent-encoded); QUERY is
 * without the '?'.  The secret may come from $SIGV4_SECRET_ACCESS_KEY
 * instead of -k, to keep it out of ps.  TIMESTAMP is 2015-08-30T12:36:00Z,
 * 20150830T123600Z or seconds since the epoch.
 *
 * Output, one section per stage, each introduced by a "== name ==" line:
 * canonical request, string to sign, signed headers, x-amz-date,
 * payload hash, signature, authorization.  Exit status 0, 1 when signing
 * fails, 2 on bad usage.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 * IDENTIFICATION
 *	  test/unit/sigv4_sign.c
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sigv4.h"

/* Print usage and exit 2; called on any command line problem. */
static void
usage(const char *prog, const char *msg)
{
	if (msg)
		fprintf(stderr, "%s: %s\n", prog, msg);
	fprintf(stderr,
			"usage: %s -X METHOD -p PATH [-q QUERY] [-H 'Name: value' ...]\n"
			"          [-d BODYFILE|-] -r REGION -s SERVICE -a ACCESS_KEY_ID\n"
			"          [-k SECRET (or $SIGV4_SECRET_ACCESS_KEY)] [-t TOKEN]\n"
			"          -T TIMESTAMP [--no-normalize] [--no-double-encode]\n"
			"          [--content-sha256] [--omit-session-token]\n", prog);
	exit(2);
}

/*
 * Days since 1970-01-01 of a proleptic Gregorian date (timegm() is not
 * standard C or POSIX).
 */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t		era;
	int64_t		yoe;
	int64_t		doy;
	int64_t		doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Parse the -T argument in any of the three accepted forms. */
static int
parse_timestamp(const char *s, time_t *out)
{
	int			y, mo, d, h, mi, sec;
	char		z = 0;
	int			n = 0;
	char	   *endp;
	long long	epoch;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c%n", &y, &mo, &d, &h, &mi, &sec, &z, &n) == 7 ||
		sscanf(s, "%4d%2d%2dT%2d%2d%2d%c%n", &y, &mo, &d, &h, &mi, &sec, &z, &n) == 7)
	{
		if (z != 'Z' || s[n] != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 ||
			h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
			return -1;
		*out = (time_t) (days_from_civil(y, mo, d) * 86400 +
						 h * 3600 + mi * 60 + sec);
		return 0;
	}

	epoch = strtoll(s, &endp, 10);
	if (endp == s || *endp != '\0' || epoch < 0)
		return -1;
	*out = (time_t) epoch;
	return 0;
}

/* Read a whole stream (the body); exits on failure. */
static unsigned char *
read_stream(FILE *f, size_t *len)
{
	unsigned char *data = NULL;
	size_t		cap = 0;
	size_t		n = 0;

	for (;;)
	{
		size_t		got;

		if (cap - n < 4096)
		{
			unsigned char *nd;

			cap = cap ? cap * 2 : 8192;
			nd = realloc(data, cap);
			if (nd == NULL)
			{
				fprintf(stderr, "out of memory\n");
				exit(1);
			}
			data = nd;
		}
		got = fread(data + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
	{
		fprintf(stderr, "cannot read body\n");
		exit(1);
	}
	*len = n;
	return data;
}

/*
 * Parse the command line into a SigV4Request, sign it and print each stage
 * in a form test_sigv4_botocore.py can split on the "== name ==" lines.
 */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"no-normalize", no_argument, NULL, 1},
		{"no-double-encode", no_argument, NULL, 2},
		{"content-sha256", no_argument, NULL, 3},
		{"omit-session-token", no_argument, NULL, 4},
		{NULL, 0, NULL, 0}
	};
	SigV4Request req;
	SigV4Credentials creds;
	SigV4Params params;
	SigV4Result res;
	SigV4Header *headers = NULL;
	char	  **owned = NULL;
	int			nheaders = 0;
	const char *body_file = NULL;
	const char *timestamp = NULL;
	unsigned char *body = NULL;
	size_t		body_len = 0;
	int			c;
	int			i;
	int			rc;

	memset(&req, 0, sizeof(req));
	memset(&creds, 0, sizeof(creds));
	memset(&params, 0, sizeof(params));
	req.normalize_path = true;
	req.double_encode_path = true;

	headers = calloc((size_t) argc, sizeof(SigV4Header));
	owned = calloc((size_t) argc, sizeof(char *));
	if (headers == NULL || owned == NULL)
	{
		fprintf(stderr, "out of memory\n");
		return 1;
	}

	while ((c = getopt_long(argc, argv, "X:p:q:H:d:r:s:a:k:t:T:", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case 'X':
				req.method = optarg;
				break;
			case 'p':
				req.path = optarg;
				break;
			case 'q':
				req.query = optarg;
				break;
			case 'H':
				{
					char	   *colon = strchr(optarg, ':');
					size_t		nl;

					if (colon == NULL)
						usage(argv[0], "-H needs 'Name: value'");
					nl = (size_t) (colon - optarg);
					owned[nheaders] = malloc(nl + 1);
					if (owned[nheaders] == NULL)
					{
						fprintf(stderr, "out of memory\n");
						return 1;
					}
					memcpy(owned[nheaders], optarg, nl);
					owned[nheaders][nl] = '\0';
					headers[nheaders].name = owned[nheaders];
					headers[nheaders].value = colon + 1;
					nheaders++;
					break;
				}
			case 'd':
				body_file = optarg;
				break;
			case 'r':
				params.region = optarg;
				break;
			case 's':
				params.service = optarg;
				break;
			case 'a':
				creds.access_key_id = optarg;
				break;
			case 'k':
				creds.secret_access_key = optarg;
				break;
			case 't':
				creds.session_token = optarg;
				break;
			case 'T':
				timestamp = optarg;
				break;
			case 1:
				req.normalize_path = false;
				break;
			case 2:
				req.double_encode_path = false;
				break;
			case 3:
				req.sign_content_sha256 = true;
				break;
			case 4:
				params.omit_session_token = true;
				break;
			default:
				usage(argv[0], NULL);
		}
	}
	if (optind != argc)
		usage(argv[0], "unexpected argument");

	if (creds.secret_access_key == NULL)
		creds.secret_access_key = getenv("SIGV4_SECRET_ACCESS_KEY");
	if (req.method == NULL || req.path == NULL || params.region == NULL ||
		params.service == NULL || creds.access_key_id == NULL ||
		creds.secret_access_key == NULL || timestamp == NULL)
		usage(argv[0], "missing a required option");
	if (parse_timestamp(timestamp, &params.timestamp) != 0)
		usage(argv[0], "bad timestamp");

	if (body_file != NULL)
	{
		FILE	   *f = strcmp(body_file, "-") == 0 ? stdin : fopen(body_file, "rb");

		if (f == NULL)
		{
			perror(body_file);
			return 1;
		}
		body = read_stream(f, &body_len);
		if (f != stdin)
			fclose(f);
	}

	req.headers = headers;
	req.nheaders = nheaders;
	req.payload = body;
	req.payload_len = body_len;

	rc = sigv4_sign(&req, &creds, &params, &res);
	if (rc != 0)
		fprintf(stderr, "sigv4_sign failed\n");
	else
	{
		printf("== canonical request ==\n%s\n", res.canonical_request);
		printf("== string to sign ==\n%s\n", res.string_to_sign);
		printf("== signed headers ==\n%s\n", res.signed_headers);
		printf("== x-amz-date ==\n%s\n", res.amz_date);
		printf("== payload hash ==\n%s\n", res.payload_hash);
		printf("== signature ==\n%s\n", res.signature);
		printf("== authorization ==\n%s\n", res.authorization);
		sigv4_result_free(&res);
	}

	for (i = 0; i < nheaders; i++)
		free(owned[i]);
	free(owned);
	free(headers);
	free(body);
	return rc == 0 ? 0 : 1;
}
