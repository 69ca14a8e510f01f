/*-------------------------------------------------------------------------
 *
 * event_stream.c
 *	  Incremental decoder of application/vnd.amazon.eventstream (see
 *	  event_stream.h for the framing and the contract).
 *
 * Bytes are copied into one buffer per message: first the 12-byte prelude,
 * which is checked (CRC, then lengths) before the buffer grows to the total
 * length it announces, so a corrupt or hostile length never makes us
 * allocate more than max_message.  Once the whole message is held, its CRC
 * is checked, then the headers are parsed strictly within headers_length.
 *
 * The CRC32 is a small nibble-table one: the extension does not link zlib.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_stream.h"

/*
 * CRC-32 (IEEE 802.3, reflected 0xEDB88320), eight bytes at a step
 * ("slicing by 8"): every byte of a stream passes through it twice (the
 * prelude's and the message's checksums), and a table per byte position
 * makes it several times cheaper than a bit or a nibble at a time.  The
 * tables are computed on first use.
 */
static uint32_t crc_table[8][256];
static bool crc_ready = false;

static void
crc_init(void)
{
	int			i,
				k;

	for (i = 0; i < 256; i++)
	{
		uint32_t	c = (uint32_t) i;

		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
		crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (k = 1; k < 8; k++)
			crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^ crc_table[0][crc_table[k - 1][i] & 0xFF];
	crc_ready = true;
}

uint32_t
es_crc32(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (!crc_ready)
		crc_init();
	crc = ~crc;
	while (len >= 8)
	{
		uint32_t	lo = crc ^ ((uint32_t) p[0] | (uint32_t) p[1] << 8 |
								(uint32_t) p[2] << 16 | (uint32_t) p[3] << 24);

		crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
			crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^
			crc_table[3][p[4]] ^ crc_table[2][p[5]] ^
			crc_table[1][p[6]] ^ crc_table[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xFF];
	return ~crc;
}

static uint32_t
get_u32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

static uint64_t
get_u64(const uint8_t *p)
{
	return ((uint64_t) get_u32(p) << 32) | get_u32(p + 4);
}

static void *
default_alloc(size_t size, void *arg)
{
	(void) arg;
	return malloc(size);
}

static void *
default_realloc(void *ptr, size_t size, void *arg)
{
	(void) arg;
	return realloc(ptr, size);
}

static void
default_free(void *ptr, void *arg)
{
	(void) arg;
	free(ptr);
}

static EsError fail(EsDecoder *d, EsError error, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static EsError
fail(EsDecoder *d, EsError error, const char *fmt,...)
{
	va_list		ap;

	d->error = error;
	va_start(ap, fmt);
	vsnprintf(d->errmsg, sizeof(d->errmsg), fmt, ap);
	va_end(ap);
	return error;
}

void
es_decoder_init(EsDecoder *d, const EsAllocator *allocator, size_t max_message,
				EsMessageCallback callback, void *callback_arg)
{
	memset(d, 0, sizeof(*d));
	if (allocator)
		d->allocator = *allocator;
	if (!d->allocator.alloc)
		d->allocator.alloc = default_alloc;
	if (!d->allocator.realloc)
		d->allocator.realloc = default_realloc;
	if (!d->allocator.free)
		d->allocator.free = default_free;
	/* the wire format cannot say more than UINT32_MAX */
	if (max_message == 0)
		max_message = ES_DEFAULT_MAX_MESSAGE;
	if (max_message > UINT32_MAX)
		max_message = UINT32_MAX;
	d->max_message = max_message;
	d->callback = callback;
	d->callback_arg = callback_arg;
	d->error = ES_OK;
}

void
es_decoder_free(EsDecoder *d)
{
	if (d->buf)
		d->allocator.free(d->buf, d->allocator.arg);
	if (d->headers)
		d->allocator.free(d->headers, d->allocator.arg);
	d->buf = NULL;
	d->headers = NULL;
	d->len = d->cap = d->headers_cap = 0;
}

/* make room for size bytes of the current message */
static bool
reserve(EsDecoder *d, size_t size)
{
	uint8_t    *buf;

	if (size <= d->cap)
		return true;
	if (d->buf)
		buf = d->allocator.realloc(d->buf, size, d->allocator.arg);
	else
		buf = d->allocator.alloc(size, d->allocator.arg);
	if (!buf)
		return false;
	d->buf = buf;
	d->cap = size;
	return true;
}

/* the prelude is held: check its CRC, then the lengths it gives */
static EsError
check_prelude(EsDecoder *d)
{
	uint32_t	total = get_u32(d->buf);
	uint32_t	hlen = get_u32(d->buf + 4);
	uint32_t	crc = get_u32(d->buf + 8);
	uint32_t	actual = es_crc32(0, d->buf, 8);

	if (crc != actual)
		return fail(d, ES_ERR_PRELUDE_CRC,
					"prelude checksum mismatch at offset %llu: 0x%08x in the frame, 0x%08x computed",
					(unsigned long long) d->offset, crc, actual);
	if (total < ES_MIN_MESSAGE || total > d->max_message)
		return fail(d, ES_ERR_LENGTH,
					"message length %u at offset %llu is outside %d..%zu",
					total, (unsigned long long) d->offset, ES_MIN_MESSAGE,
					d->max_message);
	if (hlen > total - ES_MIN_MESSAGE)
		return fail(d, ES_ERR_LENGTH,
					"headers length %u at offset %llu exceeds the %u bytes the message of %u has for them",
					hlen, (unsigned long long) d->offset,
					total - ES_MIN_MESSAGE, total);
	if (!reserve(d, total))
		return fail(d, ES_ERR_MEMORY,
					"out of memory for a message of %u bytes", total);
	d->need = total;
	return ES_OK;
}

static EsError
header_error(EsDecoder *d, size_t pos, const char *what)
{
	return fail(d, ES_ERR_HEADER,
				"malformed header at byte %zu of the headers of the message at offset %llu: %s",
				pos, (unsigned long long) d->offset, what);
}

/*
 * Parse the headers in buf[12 .. 12 + hlen).  Every read is bounds-checked
 * against that end, so nothing outside the headers is ever read.
 */
static EsError
parse_headers(EsDecoder *d, size_t *nheaders)
{
	const uint8_t *start = d->buf + ES_PRELUDE_LEN;
	size_t		hlen = get_u32(d->buf + 4);
	size_t		pos = 0;
	size_t		n = 0;

	while (pos < hlen)
	{
		EsHeader	h;
		size_t		begin = pos;
		size_t		vlen;

		memset(&h, 0, sizeof(h));
		h.name_len = start[pos++];
		if (h.name_len == 0)
			return header_error(d, begin, "empty header name");
		if (h.name_len > hlen - pos)
			return header_error(d, begin, "header name runs past the headers");
		h.name = (const char *) start + pos;
		pos += h.name_len;
		if (pos >= hlen)
			return header_error(d, begin, "header without a value type");
		h.type = (EsHeaderType) start[pos++];

		switch (h.type)
		{
			case ES_HEADER_BOOL_TRUE:
				h.integer = 1;
				vlen = 0;
				break;
			case ES_HEADER_BOOL_FALSE:
				vlen = 0;
				break;
			case ES_HEADER_BYTE:
				vlen = 1;
				break;
			case ES_HEADER_SHORT:
				vlen = 2;
				break;
			case ES_HEADER_INT:
				vlen = 4;
				break;
			case ES_HEADER_LONG:
			case ES_HEADER_TIMESTAMP:
				vlen = 8;
				break;
			case ES_HEADER_UUID:
				vlen = 16;
				break;
			case ES_HEADER_BYTES:
			case ES_HEADER_STRING:
				if (hlen - pos < 2)
					return header_error(d, begin, "value length runs past the headers");
				vlen = ((size_t) start[pos] << 8) | start[pos + 1];
				pos += 2;
				break;
			default:
				return header_error(d, begin, "unknown header value type");
		}
		if (vlen > hlen - pos)
			return header_error(d, begin, "header value runs past the headers");

		switch (h.type)
		{
			case ES_HEADER_BYTE:
				h.integer = (int8_t) start[pos];
				break;
			case ES_HEADER_SHORT:
				h.integer = (int16_t) (((uint16_t) start[pos] << 8) | start[pos + 1]);
				break;
			case ES_HEADER_INT:
				h.integer = (int32_t) get_u32(start + pos);
				break;
			case ES_HEADER_LONG:
			case ES_HEADER_TIMESTAMP:
				h.integer = (int64_t) get_u64(start + pos);
				break;
			case ES_HEADER_BYTES:
			case ES_HEADER_STRING:
			case ES_HEADER_UUID:
				h.value = start + pos;
				h.value_len = vlen;
				break;
			default:
				break;
		}
		pos += vlen;

		if (n == d->headers_cap)
		{
			/* a header takes at least 3 bytes, so this stays below hlen / 3 + 8 */
			size_t		cap = d->headers_cap ? d->headers_cap * 2 : 8;
			EsHeader   *headers;

			if (d->headers)
				headers = d->allocator.realloc(d->headers, cap * sizeof(EsHeader),
											   d->allocator.arg);
			else
				headers = d->allocator.alloc(cap * sizeof(EsHeader),
											 d->allocator.arg);
			if (!headers)
				return fail(d, ES_ERR_MEMORY, "out of memory for %zu headers", cap);
			d->headers = headers;
			d->headers_cap = cap;
		}
		d->headers[n++] = h;
	}
	*nheaders = n;
	return ES_OK;
}

/* the whole message is held: check its CRC, parse it, deliver it */
static EsError
deliver(EsDecoder *d)
{
	EsMessage	m;
	uint32_t	actual;
	size_t		nheaders = 0;
	EsError		err;

	m.total_length = d->need;
	m.headers_length = get_u32(d->buf + 4);
	m.prelude_crc = get_u32(d->buf + 8);
	m.message_crc = get_u32(d->buf + d->need - 4);
	actual = es_crc32(0, d->buf, d->need - 4);
	if (actual != m.message_crc)
		return fail(d, ES_ERR_MESSAGE_CRC,
					"message checksum mismatch at offset %llu: 0x%08x in the frame, 0x%08x computed",
					(unsigned long long) d->offset, m.message_crc, actual);
	err = parse_headers(d, &nheaders);
	if (err != ES_OK)
		return err;
	m.headers = d->headers;
	m.nheaders = nheaders;
	m.payload = d->buf + ES_PRELUDE_LEN + m.headers_length;
	m.payload_len = d->need - ES_MIN_MESSAGE - m.headers_length;

	d->messages++;
	if (d->callback && !d->callback(&m, d->callback_arg))
		return fail(d, ES_ERR_CALLBACK,
					"decoding stopped by the caller after message %llu",
					(unsigned long long) d->messages);
	d->offset += d->need;
	d->len = 0;
	d->need = 0;
	return ES_OK;
}

EsError
es_decoder_feed(EsDecoder *d, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (d->error != ES_OK)
		return d->error;
	while (len > 0)
	{
		size_t		target = d->need ? d->need : ES_PRELUDE_LEN;
		size_t		take = target - d->len;

		if (take > len)
			take = len;
		if (!reserve(d, d->need ? d->need : ES_PRELUDE_LEN))
			return fail(d, ES_ERR_MEMORY, "out of memory for a message prelude");
		memcpy(d->buf + d->len, p, take);
		d->len += take;
		p += take;
		len -= take;
		if (d->len < target)
			break;
		if (d->need == 0)
		{
			EsError		err = check_prelude(d);

			if (err != ES_OK)
				return err;
			/* the rest of the message (at least its CRC) follows */
		}
		else
		{
			EsError		err = deliver(d);

			if (err != ES_OK)
				return err;
		}
	}
	return ES_OK;
}

EsError
es_decoder_finish(EsDecoder *d)
{
	if (d->error != ES_OK)
		return d->error;
	if (d->len > 0)
	{
		if (d->need)
			return fail(d, ES_ERR_TRUNCATED,
						"stream ended inside the message at offset %llu: %zu of its %u bytes arrived",
						(unsigned long long) d->offset, d->len, d->need);
		return fail(d, ES_ERR_TRUNCATED,
					"stream ended inside the prelude of the message at offset %llu: %zu of its 12 bytes arrived",
					(unsigned long long) d->offset, d->len);
	}
	return ES_OK;
}

const char *
es_decoder_errmsg(const EsDecoder *d)
{
	return d->error == ES_OK ? "" : d->errmsg;
}

const char *
es_error_name(EsError error)
{
	switch (error)
	{
		case ES_OK:
			return "ok";
		case ES_ERR_TRUNCATED:
			return "truncated";
		case ES_ERR_PRELUDE_CRC:
			return "prelude CRC";
		case ES_ERR_MESSAGE_CRC:
			return "message CRC";
		case ES_ERR_LENGTH:
			return "length";
		case ES_ERR_HEADER:
			return "header";
		case ES_ERR_CALLBACK:
			return "callback";
		case ES_ERR_MEMORY:
			return "memory";
	}
	return "unknown";
}
