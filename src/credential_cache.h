/*-------------------------------------------------------------------------
 *
 * credential_cache.h
 *	  Where credentials are cached and refreshed: per backend, and shared
 *	  between backends when pg_claude is preloaded.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_CREDENTIAL_CACHE_H
#define PG_CLAUDE_CREDENTIAL_CACHE_H

#include "aws_util.h"

/* Refresh this long before credentials expire. */
#define CLAUDE_CREDENTIALS_REFRESH_MARGIN_MS (5 * 60 * 1000)

/* Fetch fresh credentials into out, allocated in cxt (the provider chain). */
typedef void (*ClaudeCredentialsResolver) (ClaudeCredentials *out, MemoryContext cxt);

/*
 * The cached credentials for fingerprint (a hash of what they were
 * resolved from), calling resolve when there are none, they changed or they
 * are about to expire.  Owned by the cache; valid until the next call.
 */
extern const ClaudeCredentials *claude_credential_cache_get(const char *fingerprint,
															ClaudeCredentialsResolver resolve);

/*
 * Forget credentials that an endpoint has just called expired (matched by
 * access key id, so one backend's report does not discard what another has
 * already refreshed).
 */
extern void claude_credentials_invalidate(const char *access_key_id);

/* Shared-memory cache: size and attach, called from the shmem hooks. */
extern Size claude_credentials_shmem_size(void);
extern void claude_credentials_shmem_init(void);

/* Is the shared (cross-backend) cache in use, i.e. was pg_claude preloaded? */
extern bool claude_credentials_shared(void);

#endif							/* PG_CLAUDE_CREDENTIAL_CACHE_H */
