/*-------------------------------------------------------------------------
 *
 * credential_cache.c
 *	  Where credentials are cached and refreshed: one copy per backend, and
 *	  one shared between backends when pg_claude is preloaded.
 *
 * Temporary credentials are kept until CLAUDE_CREDENTIALS_REFRESH_MARGIN_MS
 * before they expire, or until what they were resolved from changes (the
 * caller's fingerprint).  In shared memory, one backend fetches while the
 * others wait on a condition variable, so a pool of backends does not
 * stampede the metadata service.  Secrets are wiped when replaced.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "credential_cache.h"

#define SHARED_KEY_MAX 256
#define SHARED_SECRET_MAX 512
#define SHARED_TOKEN_MAX 8192

static bool
near_expiry(TimestampTz expiration)
{
	if (expiration == 0)
		return false;
	return GetCurrentTimestamp() >=
		TimestampTzPlusMilliseconds(expiration, -CLAUDE_CREDENTIALS_REFRESH_MARGIN_MS);
}

/* This backend's copy. */
static ClaudeCredentials local;
static bool local_valid = false;
static char local_fingerprint[65];

/* The shared copy, when pg_claude is preloaded. */
typedef struct SharedCredentials
{
	LWLock	   *lock;
	ConditionVariable fetched;
	int			fetching_pid;	/* 0 when nobody is fetching */
	pg_time_t	fetching_start; /* MyStartTime of the fetcher: pids are reused */
	bool		valid;
	uint64		generation;
	char		fingerprint[65];
	char		provider[256];
	char		role_arn[512];
	char		access_key_id[SHARED_KEY_MAX];
	char		secret_access_key[SHARED_SECRET_MAX];
	char		session_token[SHARED_TOKEN_MAX];
	TimestampTz expiration;
} SharedCredentials;

static SharedCredentials *shared = NULL;

Size
claude_credentials_shmem_size(void)
{
	return MAXALIGN(sizeof(*shared));
}

/*
 * Created by the postmaster at startup and attached again by each backend
 * under EXEC_BACKEND; the lock is the first of the "pg_claude" tranche that
 * shmem.c requests.
 */
void
claude_credentials_shmem_init(void)
{
	bool		found;

	shared = ShmemInitStruct("pg_claude credentials", sizeof(*shared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(*shared));
		shared->lock = &(GetNamedLWLockTranche("pg_claude credentials"))[0].lock;
		ConditionVariableInit(&shared->fetched);
	}
}

bool
claude_credentials_shared(void)
{
	return shared != NULL;
}

static void
local_set(const ClaudeCredentials *c, const char *fingerprint)
{
	/* invalid while being replaced: an out-of-memory error leaves no half copy */
	if (local_valid)
	{
		local_valid = false;
		claude_credentials_clear(&local);
	}
	claude_credentials_copy(&local, c, TopMemoryContext);
	local_valid = true;
	strlcpy(local_fingerprint, fingerprint, sizeof(local_fingerprint));
}

/* Copy the shared entry to the local cache; caller holds the lock. */
static void
local_from_shared(void)
{
	ClaudeCredentials c;

	memset(&c, 0, sizeof(c));
	strlcpy(c.provider, shared->provider, sizeof(c.provider));
	strlcpy(c.role_arn, shared->role_arn, sizeof(c.role_arn));
	c.access_key_id = shared->access_key_id;
	c.secret_access_key = shared->secret_access_key;
	c.session_token = shared->session_token[0] ? shared->session_token : NULL;
	c.expiration = shared->expiration;
	local_set(&c, shared->fingerprint);
}

/* Store in shared memory; caller holds the lock exclusively. */
static bool
shared_store(const ClaudeCredentials *c, const char *fingerprint)
{
	if (strlen(c->access_key_id) >= SHARED_KEY_MAX ||
		strlen(c->secret_access_key) >= SHARED_SECRET_MAX ||
		(c->session_token && strlen(c->session_token) >= SHARED_TOKEN_MAX))
		return false;			/* too big to share: stays per backend */
	explicit_bzero(shared->secret_access_key, sizeof(shared->secret_access_key));
	explicit_bzero(shared->session_token, sizeof(shared->session_token));
	strlcpy(shared->provider, c->provider, sizeof(shared->provider));
	strlcpy(shared->role_arn, c->role_arn, sizeof(shared->role_arn));
	strlcpy(shared->access_key_id, c->access_key_id, sizeof(shared->access_key_id));
	strlcpy(shared->secret_access_key, c->secret_access_key, sizeof(shared->secret_access_key));
	strlcpy(shared->session_token, c->session_token ? c->session_token : "",
			sizeof(shared->session_token));
	strlcpy(shared->fingerprint, fingerprint, sizeof(shared->fingerprint));
	shared->expiration = c->expiration;
	shared->valid = true;
	shared->generation++;
	return true;
}

#define SHARED_FETCH_WAIT_MS 30000

static bool
fetcher_alive(int pid)
{
	return pid != 0 && (pid == MyProcPid || kill(pid, 0) == 0);
}

/*
 * A backend that exits while fetching (FATAL, terminate) never reaches
 * PG_CATCH: release the claim on the way out so nobody waits for it.
 */
static void
release_fetch_claim(int code, Datum arg)
{
	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (shared->fetching_pid == MyProcPid && shared->fetching_start == MyStartTime)
		shared->fetching_pid = 0;
	LWLockRelease(shared->lock);
	ConditionVariableBroadcast(&shared->fetched);
}

/*
 * Shared path: use the shared entry if it is fresh; otherwise become the
 * one backend that fetches, or wait for it.
 */
static void
get_shared(const char *fingerprint, ClaudeCredentialsResolver resolve)
{
	static bool exit_callback_registered = false;
	TimestampTz give_up = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), SHARED_FETCH_WAIT_MS);

	if (!exit_callback_registered)
	{
		before_shmem_exit(release_fetch_claim, (Datum) 0);
		exit_callback_registered = true;
	}

	/* prepared once, so a broadcast between our check and our sleep is not lost */
	ConditionVariablePrepareToSleep(&shared->fetched);
	for (;;)
	{
		bool		wait = false;

		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		if (shared->valid && strcmp(shared->fingerprint, fingerprint) == 0 &&
			!near_expiry(shared->expiration))
		{
			local_from_shared();
			LWLockRelease(shared->lock);
			ConditionVariableCancelSleep();
			return;
		}
		if (fetcher_alive(shared->fetching_pid) && shared->fetching_pid != MyProcPid)
			wait = true;
		else
		{
			shared->fetching_pid = MyProcPid;
			shared->fetching_start = MyStartTime;
		}
		LWLockRelease(shared->lock);

		if (!wait)
			break;
		/* a fetcher stuck for long is not waited for: fetch alongside it */
		if (GetCurrentTimestamp() >= give_up)
			break;
		/* the timeout covers a fetcher that died without broadcasting */
		(void) ConditionVariableTimedSleep(&shared->fetched, 100, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();

	PG_TRY();
	{
		ClaudeCredentials fresh;

		resolve(&fresh, CurrentMemoryContext);
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		shared_store(&fresh, fingerprint);
		if (shared->fetching_pid == MyProcPid)
			shared->fetching_pid = 0;
		LWLockRelease(shared->lock);
		local_set(&fresh, fingerprint);
		claude_credentials_clear(&fresh);
	}
	PG_CATCH();
	{
		/* let a waiter try instead; LWLocks are released by error cleanup */
		if (!LWLockHeldByMe(shared->lock))
			LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		if (shared->fetching_pid == MyProcPid)
			shared->fetching_pid = 0;
		LWLockRelease(shared->lock);
		ConditionVariableBroadcast(&shared->fetched);
		PG_RE_THROW();
	}
	PG_END_TRY();
	ConditionVariableBroadcast(&shared->fetched);
}

const ClaudeCredentials *
claude_credential_cache_get(const char *fingerprint, ClaudeCredentialsResolver resolve)
{
	if (local_valid && strcmp(fingerprint, local_fingerprint) == 0 &&
		!near_expiry(local.expiration))
		return &local;

	if (shared != NULL)
		get_shared(fingerprint, resolve);
	else
	{
		ClaudeCredentials fresh;

		resolve(&fresh, CurrentMemoryContext);
		local_set(&fresh, fingerprint);
		claude_credentials_clear(&fresh);
	}
	return &local;
}

void
claude_credentials_invalidate(const char *access_key_id)
{
	if (local_valid && (access_key_id == NULL ||
						strcmp(local.access_key_id, access_key_id) == 0))
	{
		claude_credentials_clear(&local);
		local_valid = false;
	}
	if (shared != NULL)
	{
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		if (shared->valid && (access_key_id == NULL ||
							  strcmp(shared->access_key_id, access_key_id) == 0))
		{
			shared->valid = false;
			explicit_bzero(shared->secret_access_key, sizeof(shared->secret_access_key));
			explicit_bzero(shared->session_token, sizeof(shared->session_token));
		}
		LWLockRelease(shared->lock);
	}
}
