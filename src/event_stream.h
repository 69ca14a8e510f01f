/*-------------------------------------------------------------------------
 *
 * event_stream.h
 *	  Incremental decoder of AWS's application/vnd.amazon.eventstream framing
 *	  (the body of InvokeModelWithResponseStream).
 *
 * A message is: total length (u32), headers length (u32), prelude CRC32 of
 * those 8 bytes, the headers, the payload, and a CRC32 of everything before
 * it.  All integers are big-endian; the CRC is IEEE (zlib's polynomial).
 *
 * Feed it chunks exactly as libcurl's write callback delivers them (a frame
 * may be split anywhere, a chunk may hold several frames); each complete,
 * checked message is handed to the callback.  Header names and values and
 * the payload point into the decoder's buffer and are valid only during the
 * callback.  Errors are sticky: after one, every call returns it again.
 *
 * Plain C99 with libc only (no PostgreSQL headers), so test/unit links the
 * same object.  bedrock_stream.c feeds it from libcurl's write callback
 * with the default (malloc) allocator, since nothing there may raise.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_EVENT_STREAM_H
#define PG_CLAUDE_EVENT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* prelude (12) + message CRC (4): the smallest message, with nothing in it */
#define ES_MIN_MESSAGE		16
#define ES_PRELUDE_LEN		12
/* largest message accepted by default: Bedrock's chunks are a few KB */
#define ES_DEFAULT_MAX_MESSAGE	(16 * 1024 * 1024)

typedef enum EsError
{
	ES_OK = 0,
	ES_ERR_TRUNCATED,			/* end of stream inside a message */
	ES_ERR_PRELUDE_CRC,			/* prelude checksum mismatch */
	ES_ERR_MESSAGE_CRC,			/* message checksum mismatch */
	ES_ERR_LENGTH,				/* total or headers length out of range */
	ES_ERR_HEADER,				/* malformed headers */
	ES_ERR_CALLBACK,			/* the callback asked to stop */
	ES_ERR_MEMORY				/* the allocator returned NULL */
} EsError;

/* header value types, as numbered on the wire */
typedef enum EsHeaderType
{
	ES_HEADER_BOOL_TRUE = 0,
	ES_HEADER_BOOL_FALSE = 1,
	ES_HEADER_BYTE = 2,
	ES_HEADER_SHORT = 3,
	ES_HEADER_INT = 4,
	ES_HEADER_LONG = 5,
	ES_HEADER_BYTES = 6,
	ES_HEADER_STRING = 7,
	ES_HEADER_TIMESTAMP = 8,
	ES_HEADER_UUID = 9
} EsHeaderType;

typedef struct EsHeader
{
	const char *name;			/* not NUL-terminated */
	size_t		name_len;		/* 1..255 */
	EsHeaderType type;
	/* bool (1 true, 0 false), byte, short, int, long, timestamp (ms) */
	int64_t		integer;
	/* bytes, string (UTF-8, not checked) and uuid (16 bytes) */
	const uint8_t *value;
	size_t		value_len;
} EsHeader;

typedef struct EsMessage
{
	uint32_t	total_length;
	uint32_t	headers_length;
	uint32_t	prelude_crc;
	uint32_t	message_crc;
	const EsHeader *headers;
	size_t		nheaders;
	const uint8_t *payload;
	size_t		payload_len;
} EsMessage;

/* return false to stop decoding (the feed then returns ES_ERR_CALLBACK) */
typedef bool (*EsMessageCallback) (const EsMessage *message, void *arg);

/* NULL members mean malloc/realloc/free */
typedef struct EsAllocator
{
	void	   *(*alloc) (size_t size, void *arg);
	void	   *(*realloc) (void *ptr, size_t size, void *arg);
	void		(*free) (void *ptr, void *arg);
	void	   *arg;
} EsAllocator;

typedef struct EsDecoder
{
	EsAllocator allocator;
	EsMessageCallback callback;
	void	   *callback_arg;
	size_t		max_message;	/* total length above this is ES_ERR_LENGTH */

	uint8_t    *buf;			/* the message being assembled */
	size_t		len;			/* bytes of it held */
	size_t		cap;
	uint32_t	need;			/* its total length, once the prelude is checked */
	EsHeader   *headers;
	size_t		headers_cap;

	uint64_t	messages;		/* delivered so far */
	uint64_t	offset;			/* stream offset of the current message */
	EsError		error;
	char		errmsg[160];
} EsDecoder;

/* allocator may be NULL (malloc); max_message 0 means ES_DEFAULT_MAX_MESSAGE */
extern void es_decoder_init(EsDecoder *d, const EsAllocator *allocator,
							size_t max_message,
							EsMessageCallback callback, void *callback_arg);
/* consume a chunk; never reads past data + len */
extern EsError es_decoder_feed(EsDecoder *d, const void *data, size_t len);
/* end of stream: ES_ERR_TRUNCATED if part of a message is still buffered */
extern EsError es_decoder_finish(EsDecoder *d);
/* releases the buffers; the decoder may be initialised again */
extern void es_decoder_free(EsDecoder *d);

extern const char *es_decoder_errmsg(const EsDecoder *d);
extern const char *es_error_name(EsError error);
extern uint32_t es_crc32(uint32_t crc, const void *data, size_t len);

#endif							/* PG_CLAUDE_EVENT_STREAM_H */
