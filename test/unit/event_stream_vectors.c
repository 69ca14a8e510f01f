/*-------------------------------------------------------------------------
 *
 * event_stream_vectors.c
 *	  Run the event-stream decoder (src/event_stream.h) over AWS's test
 *	  vectors, hand-made frames, and a bounded random-mutation fuzz loop.
 *
 * Usage: event_stream_vectors [-v] [-n ITERATIONS] DIR
 *
 * DIR holds encoded/{positive,negative}/NAME (raw frames) and
 * decoded/{positive,negative}/NAME (eventstream/SOURCE.txt): a positive
 * case must decode to exactly its JSON (headers, payload, lengths, CRCs),
 * a negative one must fail with the error its text names.  Each input is
 * fed whole, byte by byte, and in random splits.  The fuzz loop (fixed
 * seed, ITERATIONS mutations, default 200000) flips, truncates, extends and
 * rewrites lengths and CRCs of the positive vectors and checks that every
 * run ends in a message or a named error, with every header and payload
 * byte inside the message (valgrind checks the reads: make valgrind).
 * The last line is "N passed, M failed"; the exit status is 1 when M > 0.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 * IDENTIFICATION
 *	  test/unit/event_stream_vectors.c
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "event_stream.h"

typedef struct Buf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
} Buf;

typedef struct Vector
{
	char		name[300];
	Buf			encoded;
	char	   *expected;		/* positive: canonical text; negative: error text */
} Vector;

static int	passed;
static int	failed;
static bool verbose;
static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t
next_random(void)
{
	/* xorshift64*: fixed seed, the same run every time */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static size_t
random_below(size_t n)
{
	return n ? (size_t) (next_random() % n) : 0;
}

static void
buf_append(Buf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap)
	{
		b->cap = (b->len + len + 1) * 2;
		b->data = realloc(b->data, b->cap);
		if (!b->data)
		{
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static void
buf_printf(Buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
buf_printf(Buf *b, const char *fmt,...)
{
	char		tmp[512];
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	buf_append(b, tmp, (size_t) n < sizeof(tmp) ? (size_t) n : sizeof(tmp) - 1);
}

static void
buf_hex(Buf *b, const uint8_t *p, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
		buf_printf(b, "%02x", p[i]);
}

static void
ok(bool cond, const char *name, const char *detail)
{
	if (cond)
	{
		passed++;
		printf("ok %s\n", name);
	}
	else
	{
		failed++;
		printf("not ok %s%s%s\n", name, detail ? ": " : "", detail ? detail : "");
	}
}

static bool
read_file(const char *path, Buf *out)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t		chunk[4096];
	size_t		n;

	memset(out, 0, sizeof(*out));
	if (!f)
		return false;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(out, chunk, n);
	fclose(f);
	buf_append(out, "", 0);
	return true;
}

/* ---- the canonical text of a message, from the decoder and from JSON ---- */

static void
describe_message(Buf *b, const EsMessage *m)
{
	size_t		i;

	buf_printf(b, "total=%u headers=%u prelude_crc=%08x message_crc=%08x\n",
			   m->total_length, m->headers_length, m->prelude_crc, m->message_crc);
	for (i = 0; i < m->nheaders; i++)
	{
		const EsHeader *h = &m->headers[i];

		buf_printf(b, "  header ");
		buf_append(b, h->name, h->name_len);
		buf_printf(b, " type=%d ", (int) h->type);
		if (h->type == ES_HEADER_BYTES || h->type == ES_HEADER_STRING ||
			h->type == ES_HEADER_UUID)
			buf_hex(b, h->value, h->value_len);
		else
			buf_printf(b, "%lld", (long long) h->integer);
		buf_printf(b, "\n");
	}
	buf_printf(b, "  payload ");
	buf_hex(b, m->payload, m->payload_len);
	buf_printf(b, "\n");
}

static bool
base64_hex(Buf *b, const char *text)
{
	size_t		len = strlen(text);
	uint8_t    *raw = malloc(len + 4);
	int			n;

	if (len == 0)
	{
		free(raw);
		return true;
	}
	n = EVP_DecodeBlock(raw, (const unsigned char *) text, (int) len);
	if (n < 0)
	{
		free(raw);
		return false;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes */
	if (len >= 1 && text[len - 1] == '=')
		n--;
	if (len >= 2 && text[len - 2] == '=')
		n--;
	buf_hex(b, raw, (size_t) n);
	free(raw);
	return true;
}

static bool
describe_json(Buf *b, const char *json)
{
	cJSON	   *root = cJSON_Parse(json);
	cJSON	   *headers;
	cJSON	   *h;
	bool		good = false;

	if (!root)
		return false;
	headers = cJSON_GetObjectItem(root, "headers");
	if (!cJSON_IsArray(headers))
		goto done;
	/* the CRCs are printed signed or unsigned: both mean the same 32 bits */
	buf_printf(b, "total=%u headers=%u prelude_crc=%08x message_crc=%08x\n",
			   (uint32_t) cJSON_GetObjectItem(root, "total_length")->valuedouble,
			   (uint32_t) cJSON_GetObjectItem(root, "headers_length")->valuedouble,
			   (uint32_t) (int64_t) cJSON_GetObjectItem(root, "prelude_crc")->valuedouble,
			   (uint32_t) (int64_t) cJSON_GetObjectItem(root, "message_crc")->valuedouble);
	cJSON_ArrayForEach(h, headers)
	{
		cJSON	   *value = cJSON_GetObjectItem(h, "value");
		int			type = (int) cJSON_GetObjectItem(h, "type")->valuedouble;

		buf_printf(b, "  header %s type=%d ",
				   cJSON_GetObjectItem(h, "name")->valuestring, type);
		if (type == ES_HEADER_BYTES || type == ES_HEADER_STRING ||
			type == ES_HEADER_UUID)
		{
			if (!cJSON_IsString(value) || !base64_hex(b, value->valuestring))
				goto done;
		}
		else if (cJSON_IsBool(value))
			buf_printf(b, "%d", cJSON_IsTrue(value) ? 1 : 0);
		else
			buf_printf(b, "%lld", (long long) value->valuedouble);
		buf_printf(b, "\n");
	}
	buf_printf(b, "  payload ");
	if (!base64_hex(b, cJSON_GetObjectItem(root, "payload")->valuestring))
		goto done;
	buf_printf(b, "\n");
	good = true;
done:
	cJSON_Delete(root);
	return good;
}

/* ---- running the decoder ---- */

typedef struct Run
{
	Buf			text;			/* the messages, described */
	int			messages;
	int			stop_after;		/* callback returns false after this many; 0 never */
	bool		bounds_ok;		/* every header and payload inside the message */
	uint32_t	touch;			/* every byte read, so valgrind sees any bad read */
} Run;

static bool
record(const EsMessage *m, void *arg)
{
	Run		   *run = arg;
	const uint8_t *hstart = m->payload - m->headers_length;
	const uint8_t *hend = m->payload;
	size_t		i;

	run->messages++;
	if (m->payload_len != (size_t) m->total_length - ES_MIN_MESSAGE - m->headers_length)
		run->bounds_ok = false;
	for (i = 0; i < m->nheaders; i++)
	{
		const EsHeader *h = &m->headers[i];
		const uint8_t *name = (const uint8_t *) h->name;

		if (name < hstart || name + h->name_len > hend || h->name_len == 0)
			run->bounds_ok = false;
		if (h->value && (h->value < hstart || h->value + h->value_len > hend))
			run->bounds_ok = false;
	}
	for (i = 0; i < m->payload_len; i++)
		run->touch += m->payload[i];
	describe_message(&run->text, m);
	return !(run->stop_after && run->messages >= run->stop_after);
}

typedef enum Split
{
	SPLIT_WHOLE,
	SPLIT_BYTES,
	SPLIT_RANDOM
} Split;

static const char *const split_names[] = {"whole", "byte by byte", "random splits"};

/*
 * Decode input fed as split says; each piece is copied into a buffer of
 * exactly its size, so a read past it is an error under valgrind.
 */
static EsError
run_decoder(const uint8_t *input, size_t len, Split split, size_t max_message,
			Run *run, char *errmsg, size_t errlen)
{
	EsDecoder	d;
	EsError		err = ES_OK;
	size_t		pos = 0;

	memset(run, 0, sizeof(*run));
	run->bounds_ok = true;
	buf_append(&run->text, "", 0);
	es_decoder_init(&d, NULL, max_message, record, run);
	while (pos < len && err == ES_OK)
	{
		size_t		piece = len - pos;
		uint8_t    *copy;

		if (split == SPLIT_BYTES)
			piece = 1;
		else if (split == SPLIT_RANDOM)
			piece = 1 + random_below(piece < 64 ? piece : 64);
		copy = malloc(piece);
		memcpy(copy, input + pos, piece);
		err = es_decoder_feed(&d, copy, piece);
		free(copy);
		pos += piece;
	}
	if (err == ES_OK)
		err = es_decoder_finish(&d);
	/* sticky: a failed decoder keeps failing the same way */
	if (err != ES_OK && es_decoder_feed(&d, "x", 1) != err)
		run->bounds_ok = false;
	snprintf(errmsg, errlen, "%s", es_decoder_errmsg(&d));
	es_decoder_free(&d);
	return err;
}

static int
load_vectors(const char *dir, const char *kind, Vector **out)
{
	char		path[4096];
	DIR		   *dh;
	struct dirent *e;
	int			n = 0;
	Vector	   *v = NULL;

	snprintf(path, sizeof(path), "%s/encoded/%s", dir, kind);
	dh = opendir(path);
	if (!dh)
		return 0;
	while ((e = readdir(dh)) != NULL)
	{
		Buf			decoded;

		if (e->d_name[0] == '.')
			continue;
		v = realloc(v, sizeof(Vector) * (n + 1));
		memset(&v[n], 0, sizeof(Vector));
		snprintf(v[n].name, sizeof(v[n].name), "%s/%s", kind, e->d_name);
		snprintf(path, sizeof(path), "%s/encoded/%s/%s", dir, kind, e->d_name);
		if (!read_file(path, &v[n].encoded))
			continue;
		snprintf(path, sizeof(path), "%s/decoded/%s/%s", dir, kind, e->d_name);
		if (!read_file(path, &decoded))
			continue;
		if (strcmp(kind, "positive") == 0)
		{
			Buf			text;

			memset(&text, 0, sizeof(text));
			buf_append(&text, "", 0);
			if (!describe_json(&text, (const char *) decoded.data))
			{
				fprintf(stderr, "cannot read %s\n", path);
				free(text.data);
				text.data = NULL;
			}
			v[n].expected = (char *) text.data;
			free(decoded.data);
		}
		else
			v[n].expected = (char *) decoded.data;
		n++;
	}
	closedir(dh);
	*out = v;
	return n;
}

static void
test_positive(Vector *v, int nv)
{
	int			i;
	int			s;
	char		name[512];
	char		errmsg[256];
	Buf			all;
	Buf			expected;

	for (i = 0; i < nv; i++)
	{
		for (s = SPLIT_WHOLE; s <= SPLIT_RANDOM; s++)
		{
			Run			run;
			EsError		err = run_decoder(v[i].encoded.data, v[i].encoded.len,
										  (Split) s, 0, &run, errmsg, sizeof(errmsg));
			bool		same = v[i].expected && run.text.data &&
				strcmp(v[i].expected, (char *) run.text.data) == 0;

			snprintf(name, sizeof(name), "%s %s", v[i].name, split_names[s]);
			ok(err == ES_OK && run.messages == 1 && same && run.bounds_ok, name,
			   err != ES_OK ? errmsg : "decoded message differs");
			if ((verbose || !same) && err == ES_OK)
				printf("# expected:\n%s# got:\n%s", v[i].expected ? v[i].expected : "",
					   (char *) run.text.data);
			free(run.text.data);
		}
	}

	/* every positive vector, back to back in one stream */
	memset(&all, 0, sizeof(all));
	memset(&expected, 0, sizeof(expected));
	buf_append(&expected, "", 0);
	for (i = 0; i < nv; i++)
	{
		buf_append(&all, v[i].encoded.data, v[i].encoded.len);
		buf_printf(&expected, "%s", v[i].expected ? v[i].expected : "?");
	}
	for (s = SPLIT_WHOLE; s <= SPLIT_RANDOM; s++)
	{
		int			rep;

		for (rep = 0; rep < (s == SPLIT_RANDOM ? 50 : 1); rep++)
		{
			Run			run;
			EsError		err = run_decoder(all.data, all.len, (Split) s, 0, &run,
										  errmsg, sizeof(errmsg));
			bool		good = err == ES_OK && run.messages == nv &&
				strcmp((char *) expected.data, (char *) run.text.data) == 0;

			free(run.text.data);
			if (rep > 0 && good)
				continue;
			snprintf(name, sizeof(name), "all %d positive vectors in one stream, %s%s",
					 nv, split_names[s], s == SPLIT_RANDOM ? " (50 runs)" : "");
			ok(good, name, errmsg);
			if (!good)
				break;
		}
	}

	/* every proper prefix is a truncated stream, and delivers nothing */
	for (i = 0; i < nv; i++)
	{
		size_t		cut;
		bool		good = true;

		for (cut = 1; cut < v[i].encoded.len; cut++)
		{
			Run			run;
			EsError		err = run_decoder(v[i].encoded.data, cut, SPLIT_RANDOM, 0,
										  &run, errmsg, sizeof(errmsg));

			if (err != ES_ERR_TRUNCATED || run.messages != 0)
				good = false;
			free(run.text.data);
		}
		snprintf(name, sizeof(name), "%s: every prefix is a truncated frame",
				 v[i].name);
		ok(good, name, NULL);
	}
	free(all.data);
	free(expected.data);
}

static void
test_negative(Vector *v, int nv)
{
	int			i;
	int			s;
	char		name[512];
	char		errmsg[256];

	for (i = 0; i < nv; i++)
	{
		EsError		want = ES_OK;

		if (strstr(v[i].expected, "Prelude checksum"))
			want = ES_ERR_PRELUDE_CRC;
		else if (strstr(v[i].expected, "Message checksum"))
			want = ES_ERR_MESSAGE_CRC;
		for (s = SPLIT_WHOLE; s <= SPLIT_RANDOM; s++)
		{
			Run			run;
			EsError		err = run_decoder(v[i].encoded.data, v[i].encoded.len,
										  (Split) s, 0, &run, errmsg, sizeof(errmsg));

			snprintf(name, sizeof(name), "%s %s fails: %s", v[i].name,
					 split_names[s], es_error_name(want));
			ok(want != ES_OK && err == want && run.messages == 0 && errmsg[0],
			   name, es_error_name(err));
			if (verbose)
				printf("# %s\n", errmsg);
			free(run.text.data);
		}
	}
}

/* ---- hand-made frames ---- */

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

/* a frame of these header bytes and payload, lengths and CRCs right */
static void
make_frame(Buf *out, const void *headers, size_t hlen, const void *payload,
		   size_t plen)
{
	uint8_t		prelude[12];
	uint8_t		crc[4];
	size_t		start = out->len;

	put_u32(prelude, (uint32_t) (hlen + plen + ES_MIN_MESSAGE));
	put_u32(prelude + 4, (uint32_t) hlen);
	put_u32(prelude + 8, es_crc32(0, prelude, 8));
	buf_append(out, prelude, 12);
	buf_append(out, headers, hlen);
	buf_append(out, payload, plen);
	put_u32(crc, es_crc32(0, out->data + start, out->len - start));
	buf_append(out, crc, 4);
}

static void
expect_error(const char *name, const Buf *frame, size_t max_message, EsError want)
{
	int			s;
	char		errmsg[256];
	char		full[512];

	for (s = SPLIT_WHOLE; s <= SPLIT_RANDOM; s++)
	{
		Run			run;
		EsError		err = run_decoder(frame->data, frame->len, (Split) s,
									  max_message, &run, errmsg, sizeof(errmsg));

		snprintf(full, sizeof(full), "%s, %s: %s", name, split_names[s],
				 es_error_name(want));
		ok(err == want && run.messages == 0, full,
		   err == ES_OK ? "decoded" : errmsg);
		if (verbose)
			printf("# %s\n", errmsg);
		free(run.text.data);
	}
}

static void
test_crafted(void)
{
	Buf			f;
	uint8_t		prelude[16];
	char		errmsg[256];
	Run			run;
	EsError		err;
	static const uint8_t h_unknown[] = {1, 'a', 10};
	static const uint8_t h_empty_name[] = {0, 0};
	static const uint8_t h_name_over[] = {9, 'a', 'b', 'c'};
	static const uint8_t h_no_type[] = {1, 'a'};
	static const uint8_t h_int_short[] = {1, 'a', 4, 0, 0};
	static const uint8_t h_str_len_over[] = {1, 'a', 7, 0, 9, 'x', 'y'};
	static const uint8_t h_str_len_cut[] = {1, 'a', 7, 0};
	static const uint8_t h_uuid_short[] = {1, 'u', 9, 1, 2, 3, 4, 5, 6, 7, 8};
	static const uint8_t h_good[] = {1, 'a', 0, 1, 'b', 1, 1, 'c', 2, 0xff,
		1, 'd', 3, 0x80, 0x00, 1, 'e', 7, 0, 0};

	ok(es_crc32(0, "123456789", 9) == 0xCBF43926U, "crc32 check value of \"123456789\"", NULL);

	/* lengths out of range, with a correct prelude CRC so the check is reached */
	memset(prelude, 0, sizeof(prelude));
	put_u32(prelude, 15);
	put_u32(prelude + 8, es_crc32(0, prelude, 8));
	f.data = prelude;
	f.len = 16;
	expect_error("total length 15 (below 16)", &f, 0, ES_ERR_LENGTH);

	put_u32(prelude, ES_DEFAULT_MAX_MESSAGE + 1);
	put_u32(prelude + 8, es_crc32(0, prelude, 8));
	expect_error("total length 16 MiB + 1 (above the default maximum)", &f, 0,
				 ES_ERR_LENGTH);
	put_u32(prelude, 0xFFFFFFFFU);
	put_u32(prelude + 8, es_crc32(0, prelude, 8));
	expect_error("total length 4 GiB - 1", &f, 0, ES_ERR_LENGTH);

	put_u32(prelude, 16);
	put_u32(prelude + 4, 1);
	put_u32(prelude + 8, es_crc32(0, prelude, 8));
	expect_error("headers length 1 in an empty message", &f, 0, ES_ERR_LENGTH);

	memset(&f, 0, sizeof(f));
	make_frame(&f, "", 0, "0123456789", 10);
	expect_error("message of 26 bytes over a maximum of 25", &f, 25, ES_ERR_LENGTH);
	err = run_decoder(f.data, f.len, SPLIT_BYTES, 26, &run, errmsg, sizeof(errmsg));
	ok(err == ES_OK && run.messages == 1, "message of 26 bytes at a maximum of 26", errmsg);
	free(run.text.data);

	/* malformed headers, in frames whose CRCs are right */
#define MALFORMED(desc, h) \
	do { f.len = 0; make_frame(&f, h, sizeof(h), "p", 1); \
		 expect_error(desc, &f, 0, ES_ERR_HEADER); } while (0)
	MALFORMED("unknown header type 10", h_unknown);
	MALFORMED("empty header name", h_empty_name);
	MALFORMED("header name past the headers", h_name_over);
	MALFORMED("header without a type", h_no_type);
	MALFORMED("int header cut short", h_int_short);
	MALFORMED("string length past the headers", h_str_len_over);
	MALFORMED("string length cut short", h_str_len_cut);
	MALFORMED("uuid cut short", h_uuid_short);
#undef MALFORMED

	/* the smaller types, signed, and an empty string */
	f.len = 0;
	make_frame(&f, h_good, sizeof(h_good), "", 0);
	err = run_decoder(f.data, f.len, SPLIT_BYTES, 0, &run, errmsg, sizeof(errmsg));
	ok(err == ES_OK && run.messages == 1 && run.text.data &&
	   strstr((char *) run.text.data,
			  "header a type=0 1\n  header b type=1 0\n  header c type=2 -1\n"
			  "  header d type=3 -32768\n  header e type=7 \n"),
	   "bool, byte, short and empty string headers", (char *) run.text.data);
	free(run.text.data);

	/* the callback stops the stream */
	f.len = 0;
	make_frame(&f, "", 0, "one", 3);
	make_frame(&f, "", 0, "two", 3);
	{
		EsDecoder	d;
		Run			r;

		memset(&r, 0, sizeof(r));
		r.bounds_ok = true;
		r.stop_after = 1;
		es_decoder_init(&d, NULL, 0, record, &r);
		err = es_decoder_feed(&d, f.data, f.len);
		ok(err == ES_ERR_CALLBACK && r.messages == 1 &&
		   es_decoder_finish(&d) == ES_ERR_CALLBACK,
		   "a callback returning false stops at that message", es_error_name(err));
		es_decoder_free(&d);
		free(r.text.data);
	}
	free(f.data);
}

/* ---- the fuzz loop ---- */

static void
fix_crcs(uint8_t *p, size_t len)
{
	uint32_t	total;

	if (len < 12)
		return;
	put_u32(p + 8, es_crc32(0, p, 8));
	total = (uint32_t) ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]);
	if (total >= ES_MIN_MESSAGE && total <= len)
		put_u32(p + total - 4, es_crc32(0, p, total - 4));
}

static void
test_fuzz(Vector *v, int nv, long iterations)
{
	long		i;
	long		bad = 0;
	long		decoded = 0;
	long		by_error[ES_ERR_MEMORY + 1];
	char		errmsg[256];
	char		name[256];
	char		first[1024] = "";

	memset(by_error, 0, sizeof(by_error));
	if (nv == 0)
	{
		ok(false, "fuzz: no positive vectors", NULL);
		return;
	}
	for (i = 0; i < iterations; i++)
	{
		Vector	   *src = &v[random_below(nv)];
		size_t		len = src->encoded.len;
		size_t		cap = len + 64;
		uint8_t    *b = malloc(cap);
		int			m;
		int			nmut = 1 + (int) random_below(4);
		Run			run;
		EsError		err;

		memcpy(b, src->encoded.data, len);
		for (m = 0; m < nmut; m++)
		{
			switch (random_below(7))
			{
				case 0:			/* flip bits of a byte */
					if (len)
						b[random_below(len)] ^= (uint8_t) (1 + random_below(255));
					break;
				case 1:			/* truncate */
					len = random_below(len + 1);
					break;
				case 2:			/* extend with random bytes */
					{
						size_t		add = 1 + random_below(cap - len < 32 ? cap - len : 32);

						if (len + add > cap)
							break;
						while (add-- > 0)
							b[len++] = (uint8_t) next_random();
						break;
					}
				case 3:			/* a new total or headers length */
					if (len >= 8)
					{
						uint32_t	value = random_below(2) ? (uint32_t) next_random()
							: (uint32_t) random_below(len + 8);

						put_u32(b + (random_below(2) ? 0 : 4), value);
					}
					break;
				case 4:			/* a header's length or type byte */
					if (len > 13)
						b[12 + random_below(len - 12)] = (uint8_t) random_below(12);
					break;
				case 5:			/* a random byte anywhere */
					if (len)
						b[random_below(len)] = (uint8_t) next_random();
					break;
				default:		/* make the CRCs right, so headers get parsed */
					fix_crcs(b, len);
					break;
			}
		}
		if (random_below(2))
			fix_crcs(b, len);

		err = run_decoder(b, len, (Split) random_below(3),
						  random_below(8) ? 0 : 64, &run, errmsg, sizeof(errmsg));
		if (err > ES_ERR_MEMORY || !run.bounds_ok ||
			(err != ES_OK && !errmsg[0]) || err == ES_ERR_CALLBACK ||
			err == ES_ERR_MEMORY)
		{
			if (bad++ == 0)
				snprintf(first, sizeof(first), "iteration %ld on %s: %s (%s)", i,
						 src->name, es_error_name(err), errmsg);
		}
		if (err == ES_OK)
			decoded++;
		else if (err <= ES_ERR_MEMORY)
			by_error[err]++;
		free(run.text.data);
		free(b);
	}
	printf("# fuzz: %ld runs, %ld decoded, truncated %ld, prelude CRC %ld, "
		   "message CRC %ld, length %ld, header %ld\n",
		   iterations, decoded, by_error[ES_ERR_TRUNCATED],
		   by_error[ES_ERR_PRELUDE_CRC], by_error[ES_ERR_MESSAGE_CRC],
		   by_error[ES_ERR_LENGTH], by_error[ES_ERR_HEADER]);
	snprintf(name, sizeof(name),
			 "fuzz: %ld mutations end in a message or a named error, reads in bounds",
			 iterations);
	ok(bad == 0, name, first);
	/* the loop must reach every check, or it proves little */
	ok(decoded > 0 && by_error[ES_ERR_TRUNCATED] > 0 &&
	   by_error[ES_ERR_PRELUDE_CRC] > 0 && by_error[ES_ERR_MESSAGE_CRC] > 0 &&
	   by_error[ES_ERR_LENGTH] > 0 && by_error[ES_ERR_HEADER] > 0,
	   "fuzz: every outcome was reached", NULL);
}

int
main(int argc, char **argv)
{
	const char *dir = NULL;
	long		iterations = 200000;
	Vector	   *pos = NULL;
	Vector	   *neg = NULL;
	int			npos;
	int			nneg;
	int			i;

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			iterations = atol(argv[++i]);
		else
			dir = argv[i];
	}
	if (!dir)
	{
		fprintf(stderr, "usage: %s [-v] [-n ITERATIONS] DIR\n", argv[0]);
		return 2;
	}
	npos = load_vectors(dir, "positive", &pos);
	nneg = load_vectors(dir, "negative", &neg);
	ok(npos > 0 && nneg > 0, "vectors found", dir);

	test_crafted();
	test_positive(pos, npos);
	test_negative(neg, nneg);
	test_fuzz(pos, npos, iterations);

	for (i = 0; i < npos; i++)
	{
		free(pos[i].encoded.data);
		free(pos[i].expected);
	}
	for (i = 0; i < nneg; i++)
	{
		free(neg[i].encoded.data);
		free(neg[i].expected);
	}
	free(pos);
	free(neg);
	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0 ? 1 : 0;
}
