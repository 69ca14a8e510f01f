/*-------------------------------------------------------------------------
 *
 * s3.h
 *	  Amazon S3 through the one transport and signer (s3.c): PutObject,
 *	  GetObject, ListObjectsV2 and HeadBucket, the groundwork of batch mode.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_S3_H
#define PG_CLAUDE_S3_H

#include "postgres.h"

#include "nodes/pg_list.h"

/* An s3://bucket/key URI, parsed (s3.c, claude_s3_parse_uri). */
typedef struct ClaudeS3Uri
{
	char	   *bucket;
	char	   *key;			/* "" for the bucket itself, or a prefix */
} ClaudeS3Uri;

/*
 * Parse "s3://bucket/key": a bucket name as S3 names them (3 to 63
 * characters, lower-case letters, digits, '.' and '-'), a key of at most
 * 1024 bytes.  Raises 22023 on anything else.
 */
extern void claude_s3_parse_uri(const char *uri, ClaudeS3Uri *out);

/* HeadBucket: the bucket's region (its x-amz-bucket-region header). */
extern char *claude_s3_bucket_region(const char *bucket);

/*
 * Raise 42R01 unless claude.residency allows data stored in the bucket's
 * region; answers the region.  Every write calls it first.
 */
extern char *claude_s3_check_residency(const char *bucket);

/* PutObject (after the residency check): the object's ETag. */
extern char *claude_s3_put(const ClaudeS3Uri *uri, const char *body, size_t len);

/* GetObject: the object's bytes (palloc'd) and their length. */
extern char *claude_s3_get(const ClaudeS3Uri *uri, size_t *len);

/* ListObjectsV2 of uri->key as prefix, every page: the keys (char *). */
extern List *claude_s3_list(const ClaudeS3Uri *uri);

#endif							/* PG_CLAUDE_S3_H */
