/*-------------------------------------------------------------------------
 *
 * attachment.c
 *	  Documents and images sent with a prompt: the media type from the
 *	  bytes' signature (doc/documents.md), an image's size from its header,
 *	  the size limits, and the base64 content block.
 *
 * Nothing here sends anything: a problem found is returned, so a _batch
 * row keeps it as its error and a scalar call raises it before a request
 * is signed.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "attachment.h"

typedef struct MediaType
{
	const char *name;
	bool		is_document;
	bool		(*matches) (const unsigned char *p, size_t n);
	void		(*dimensions) (const unsigned char *p, size_t n, int *w, int *h);
} MediaType;

static uint32
be16(const unsigned char *p)
{
	return ((uint32) p[0] << 8) | p[1];
}

static uint32
be32(const unsigned char *p)
{
	return ((uint32) p[0] << 24) | ((uint32) p[1] << 16) | ((uint32) p[2] << 8) | p[3];
}

static uint32
le16(const unsigned char *p)
{
	return ((uint32) p[1] << 8) | p[0];
}

static uint32
le24(const unsigned char *p)
{
	return ((uint32) p[2] << 16) | ((uint32) p[1] << 8) | p[0];
}

static bool
is_png(const unsigned char *p, size_t n)
{
	return n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0;
}

/* IHDR is the first chunk: width and height at 16 and 20 */
static void
png_size(const unsigned char *p, size_t n, int *w, int *h)
{
	if (n >= 24 && memcmp(p + 12, "IHDR", 4) == 0)
	{
		*w = (int) Min(be32(p + 16), PG_INT32_MAX);
		*h = (int) Min(be32(p + 20), PG_INT32_MAX);
	}
}

static bool
is_jpeg(const unsigned char *p, size_t n)
{
	return n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF;
}

/* the first start-of-frame marker (SOF0..SOF15 but DHT, JPG, DAC) holds the size */
static void
jpeg_size(const unsigned char *p, size_t n, int *w, int *h)
{
	size_t		i = 2;

	while (i + 9 < n)
	{
		unsigned char marker;

		if (p[i] != 0xFF)
			return;
		marker = p[i + 1];
		if (marker == 0xFF)
		{
			i++;
			continue;
		}
		if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC)
		{
			*h = (int) be16(p + i + 5);
			*w = (int) be16(p + i + 7);
			return;
		}
		if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01)
		{
			i += 2;
			continue;
		}
		i += 2 + be16(p + i + 2);
	}
}

static bool
is_gif(const unsigned char *p, size_t n)
{
	return n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0);
}

static void
gif_size(const unsigned char *p, size_t n, int *w, int *h)
{
	if (n >= 10)
	{
		*w = (int) le16(p + 6);
		*h = (int) le16(p + 8);
	}
}

static bool
is_webp(const unsigned char *p, size_t n)
{
	return n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0;
}

/* lossy (VP8), lossless (VP8L) or extended (VP8X) */
static void
webp_size(const unsigned char *p, size_t n, int *w, int *h)
{
	if (n >= 30 && memcmp(p + 12, "VP8X", 4) == 0)
	{
		*w = (int) le24(p + 24) + 1;
		*h = (int) le24(p + 27) + 1;
	}
	else if (n >= 25 && memcmp(p + 12, "VP8L", 4) == 0 && p[20] == 0x2F)
	{
		uint32		bits = p[21] | ((uint32) p[22] << 8) | ((uint32) p[23] << 16) | ((uint32) p[24] << 24);

		*w = (int) (bits & 0x3FFF) + 1;
		*h = (int) ((bits >> 14) & 0x3FFF) + 1;
	}
	else if (n >= 30 && memcmp(p + 12, "VP8 ", 4) == 0)
	{
		*w = (int) (le16(p + 26) & 0x3FFF);
		*h = (int) (le16(p + 28) & 0x3FFF);
	}
}

static bool
is_pdf(const unsigned char *p, size_t n)
{
	return n >= 5 && memcmp(p, "%PDF-", 5) == 0;
}

static const MediaType media_types[] = {
	{"image/png", false, is_png, png_size},
	{"image/jpeg", false, is_jpeg, jpeg_size},
	{"image/gif", false, is_gif, gif_size},
	{"image/webp", false, is_webp, webp_size},
	{"application/pdf", true, is_pdf, NULL},
};

static const MediaType *
detect(const unsigned char *p, size_t n)
{
	int			i;

	for (i = 0; i < (int) lengthof(media_types); i++)
		if (media_types[i].matches(p, n))
			return &media_types[i];
	return NULL;
}

bool
claude_attachment_read(const unsigned char *data, size_t len, const char *given,
					   ClaudeAttachment *a, ClaudeProblem *problem)
{
	const MediaType *found;
	unsigned char md[SHA256_DIGEST_LENGTH];
	int			i;

	memset(a, 0, sizeof(*a));
	if (data == NULL)
	{
		claude_problem(problem, ERRCODE_NULL_VALUE_NOT_ALLOWED, "attachment must not be NULL", NULL,
					   "Pass the document's or image's bytes, or call the form without an attachment.");
		return false;
	}
	if (len == 0)
	{
		claude_problem(problem, ERRCODE_INVALID_PARAMETER_VALUE, "attachment must not be empty",
					   "The attachment has 0 bytes.",
					   "Pass the bytes of one of: " CLAUDE_ATTACHMENT_TYPES ".");
		return false;
	}
	if (given != NULL)
	{
		bool		known = false;

		for (i = 0; i < (int) lengthof(media_types); i++)
			known |= pg_strcasecmp(given, media_types[i].name) == 0;
		if (!known)
		{
			claude_problem(problem, ERRCODE_INVALID_PARAMETER_VALUE,
						   psprintf("media_type \"%s\" is not one Claude reads", given), NULL,
						   "Pass one of: " CLAUDE_ATTACHMENT_TYPES ", or NULL to read it from the bytes.");
			return false;
		}
	}
	found = detect(data, len);
	if (found == NULL)
	{
		claude_problem(problem, ERRCODE_INVALID_PARAMETER_VALUE,
					   "attachment is not a document or image Claude reads",
					   psprintf("Its %zu bytes begin with no known signature%s%s.", len,
								given ? "; media_type was " : "", given ? given : ""),
					   "Pass one of: " CLAUDE_ATTACHMENT_TYPES ".");
		return false;
	}
	if (given != NULL && pg_strcasecmp(given, found->name) != 0)
	{
		claude_problem(problem, ERRCODE_INVALID_PARAMETER_VALUE,
					   psprintf("attachment is %s, not the media_type given (%s)", found->name, given),
					   "The media type is read from the bytes' signature and must agree with the one given.",
					   "Pass media_type => NULL to use the type the bytes say, or one of: "
					   CLAUDE_ATTACHMENT_TYPES ".");
		return false;
	}
	a->media_type = found->name;
	a->is_document = found->is_document;
	a->data = data;
	a->len = len;
	if (found->dimensions)
		found->dimensions(data, len, &a->width, &a->height);
	/* a signature with no size after it (or a size of 0) is no image Claude can read */
	if (!a->is_document && (a->width <= 0 || a->height <= 0))
	{
		claude_problem(problem, ERRCODE_INVALID_PARAMETER_VALUE,
					   psprintf("%s attachment has no width and height", a->media_type),
					   psprintf("Its %zu bytes begin with the %s signature, but its header gives a size of %dx%d.",
								len, a->media_type, a->width, a->height),
					   "Pass the whole image file.");
		return false;
	}
	if (!a->is_document && len > CLAUDE_IMAGE_MAX_BYTES)
	{
		claude_problem(problem, ERRCODE_PROGRAM_LIMIT_EXCEEDED, "image attachment is too large",
					   psprintf("The %s image has %zu bytes; Bedrock takes at most %d per image.",
								a->media_type, len, CLAUDE_IMAGE_MAX_BYTES),
					   "Scale the image down or compress it before sending.");
		return false;
	}
	if (!a->is_document && Max(a->width, a->height) > CLAUDE_IMAGE_MAX_PIXELS)
	{
		claude_problem(problem, ERRCODE_PROGRAM_LIMIT_EXCEEDED, "image attachment is too large",
					   psprintf("The %s image is %dx%d pixels; Bedrock takes at most %dx%d.",
								a->media_type, a->width, a->height,
								CLAUDE_IMAGE_MAX_PIXELS, CLAUDE_IMAGE_MAX_PIXELS),
					   "Scale the image down before sending.");
		return false;
	}
	if (claude_attachment_body_bytes(a) > CLAUDE_REQUEST_MAX_BYTES)
	{
		claude_problem(problem, ERRCODE_PROGRAM_LIMIT_EXCEEDED, "attachment is too large for one request",
					   psprintf("The %s attachment has %zu bytes, %zu in base64; a Bedrock request "
								"body has at most %d bytes.", a->media_type, len,
								claude_attachment_body_bytes(a), CLAUDE_REQUEST_MAX_BYTES),
					   "Split the document into smaller parts.");
		return false;
	}
	SHA256(data, len, md);
	for (i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(a->sha256 + 2 * i, 3, "%02x", md[i]);
	return true;
}

size_t
claude_attachment_body_bytes(const ClaudeAttachment *a)
{
	/* base64 of len bytes, and the block's keys */
	return (a->len + 2) / 3 * 4 + 100;
}

cJSON *
claude_attachment_block(const ClaudeAttachment *a)
{
	cJSON	   *block = cJSON_CreateObject();
	cJSON	   *source;
	char	   *b64;

	if (a->len > (size_t) PG_INT32_MAX / 2)
		elog(ERROR, "attachment of %zu bytes is beyond any request", a->len);
	b64 = palloc((a->len + 2) / 3 * 4 + 1);
	EVP_EncodeBlock((unsigned char *) b64, a->data, (int) a->len);
	cJSON_AddStringToObject(block, "type", a->is_document ? "document" : "image");
	source = cJSON_AddObjectToObject(block, "source");
	cJSON_AddStringToObject(source, "type", "base64");
	cJSON_AddStringToObject(source, "media_type", a->media_type);
	cJSON_AddStringToObject(source, "data", b64);
	pfree(b64);
	return block;
}

long
claude_attachment_tokens(const ClaudeAttachment *a)
{
	if (a->is_document)
		return (long) (a->len / 4) + 1;
	if (a->width <= 0 || a->height <= 0)
		return 1600;
	return Min((long) a->width * a->height / 750 + 1, 1600L);
}

char *
claude_attachment_describe(const ClaudeAttachment *a)
{
	return psprintf("[attachment %s, %zu bytes, sha256 %s]", a->media_type, a->len, a->sha256);
}
