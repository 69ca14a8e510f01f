/*-------------------------------------------------------------------------
 *
 * attachment.h
 *	  A document or image sent with a prompt (doc/documents.md): its media
 *	  type, read from the bytes and checked against the one given, and
 *	  Bedrock's size limits, checked before anything is sent.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_ATTACHMENT_H
#define PG_CLAUDE_ATTACHMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "problem.h"

struct cJSON;

/* An InvokeModel request body, at most (doc/documents.md, "Limits"). */
#define CLAUDE_REQUEST_MAX_BYTES (20 * 1024 * 1024)
/* An image's bytes (its base64 at most 5 MB) and its longer side, at most. */
#define CLAUDE_IMAGE_MAX_BYTES (3840 * 1024)
#define CLAUDE_IMAGE_MAX_PIXELS 8000

/* The media types an attachment may have, as the hints list them. */
#define CLAUDE_ATTACHMENT_TYPES "image/png, image/jpeg, image/gif, image/webp, application/pdf"

typedef struct ClaudeAttachment
{
	const char *media_type;		/* one of CLAUDE_ATTACHMENT_TYPES */
	bool		is_document;	/* a PDF: a document block, else an image block */
	const unsigned char *data;
	size_t		len;
	int			width;			/* images: from the header; 0 when not read */
	int			height;
	char		sha256[65];		/* of the bytes, hex */
} ClaudeAttachment;

/*
 * Read an attachment of len bytes (given: the media type the caller named,
 * or NULL): true, or false with *problem (22004 none, 22023 empty, unknown
 * or not what was given, 54000 over a limit).  data is kept, not copied.
 */
extern bool claude_attachment_read(const unsigned char *data, size_t len, const char *given,
								   ClaudeAttachment *a, ClaudeProblem *problem);

/* The Messages content block for a: image or document, base64 source. */
extern struct cJSON *claude_attachment_block(const ClaudeAttachment *a);

/* Bytes a's block adds to a request body (its base64 and framing). */
extern size_t claude_attachment_body_bytes(const ClaudeAttachment *a);

/*
 * The input tokens a's block costs, about: an image (width x height) / 750,
 * at most 1,600 (Anthropic's vision guide: larger images are scaled down
 * to about that); a document, its bytes / 4.  For the worker's rate limits.
 */
extern long claude_attachment_tokens(const ClaudeAttachment *a);

/* A short description for the audit log and prompt_sha256: type, size, digest. */
extern char *claude_attachment_describe(const ClaudeAttachment *a);

#endif							/* PG_CLAUDE_ATTACHMENT_H */
