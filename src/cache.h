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


/*
 * The key of a request: hex SHA-256 of the model id, a newline, and the
 * body as canonical JSON (object keys sorted, no insignificant space),
 * preceded by the role's name and a newline under claude.cache_scope =
 * role, so that no role is answered from another's requests.
 */
extern void claude_cache_key(const char *role, const char *model, const char *body, char out[65]);

/* The role whose cache a request of this backend uses (NULL: shared). */
extern const char *claude_cache_role(const char *acting_role);

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
