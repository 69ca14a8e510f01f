/*-------------------------------------------------------------------------
 *
 * cache.h
 *	  The response cache (claude.cache): keys and lookups.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_CACHE_H
#define PG_CLAUDE_CACHE_H

typedef enum ClaudeCacheMode
{
	CLAUDE_CACHE_ON,
	CLAUDE_CACHE_OFF,
	CLAUDE_CACHE_READ_ONLY
} ClaudeCacheMode;

/*
 * The key of a request: hex SHA-256 of the model id, a newline, and the
 * body as canonical JSON (object keys sorted, no insignificant space).
 */
extern void claude_cache_key(const char *model, const char *body, char out[65]);

/*
 * A cached response for key (palloc'd), or NULL; honours claude.cache and
 * claude.cache_ttl.
 */
extern char *claude_cache_lookup(const char *key);

/* Remember a stored answer in this backend until the table has it. */
extern void claude_cache_remember(const char *key, const char *response);

/* Hex SHA-256 of text, for prompt_sha256. */
extern void claude_sha256_text(const char *text, char out[65]);

#endif							/* PG_CLAUDE_CACHE_H */
