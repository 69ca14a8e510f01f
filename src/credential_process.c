/*-------------------------------------------------------------------------
 *
 * credential_process.c
 *	  The credential_process provider: run a profile's helper command and
 *	  read the credentials it prints, as botocore's ProcessProvider does.
 *
 * The helper is forked and waited for here, not through popen, so that the
 * backend keeps servicing interrupts and can kill a helper that hangs.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "miscadmin.h"
#include "port.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "credential_process.h"

#define CREDENTIAL_PROCESS_TIMEOUT_MS 60000
#define CREDENTIAL_PROCESS_MAX_OUTPUT (1024 * 1024)
/* how often stderr is drained while waiting for stdout */
#define CREDENTIAL_PROCESS_POLL_MS 100

/*
 * Read what the helper wrote to stderr so far, counting it and keeping
 * none of it: a helper may print its secrets there (debug output, a
 * failed call quoting its request).  Non-blocking; false at EOF.
 */
static bool
drain_stderr(int fd, size_t *bytes)
{
	char		chunk[4096];

	for (;;)
	{
		ssize_t		n = read(fd, chunk, sizeof(chunk));

		if (n > 0)
		{
			*bytes += n;
			explicit_bzero(chunk, n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0;			/* EAGAIN: open, nothing more now */
	}
}

/*
 * Run a credential_process command and collect what it prints.  Not popen:
 * the backend must keep servicing interrupts while it waits, and must be
 * able to kill a helper that hangs or ignores signals, so it forks the
 * shell itself, waits on the pipe together with its latch, and kills and
 * reaps the child on every way out.  Its stderr is a pipe of its own, read
 * and discarded: inherited, it would go verbatim into the server log.
 */
static char *
run_credential_process(const char *command, const char *profile)
{
	int			fds[2];
	int			errfds[2];
	volatile bool err_open = true;
	size_t		err_bytes = 0;
	volatile pid_t child;
	StringInfoData out;
	TimestampTz deadline;
	int			status = 0;
	volatile bool reaped = false;

	if (pipe(fds) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not create a pipe for credential_process: %m")));
	if (pipe(errfds) != 0)
	{
		close(fds[0]);
		close(fds[1]);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not create a pipe for credential_process: %m")));
	}
	fflush(NULL);
	child = fork();
	if (child < 0)
	{
		close(fds[0]);
		close(fds[1]);
		close(errfds[0]);
		close(errfds[1]);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not run the credential_process of profile \"%s\": %m", profile)));
	}
	if (child == 0)
	{
		/* the child: stdout and stderr to pipes, default signal handling, the shell */
		dup2(fds[1], STDOUT_FILENO);
		dup2(errfds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		close(errfds[0]);
		close(errfds[1]);
		pqsignal(SIGPIPE, SIG_DFL);
		pqsignal(SIGINT, SIG_DFL);
		pqsignal(SIGTERM, SIG_DFL);
		pqsignal(SIGQUIT, SIG_DFL);
		execl("/bin/sh", "sh", "-c", command, (char *) NULL);
		_exit(127);
	}
	close(fds[1]);
	close(errfds[1]);
	(void) fcntl(errfds[0], F_SETFL, O_NONBLOCK);

	initStringInfo(&out);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), CREDENTIAL_PROCESS_TIMEOUT_MS);
	PG_TRY();
	{
		for (;;)
		{
			char		chunk[4096];
			ssize_t		n;
			long		secs;
			int			usecs;
			int			rc;

			TimestampDifference(GetCurrentTimestamp(), deadline, &secs, &usecs);
			if (secs == 0 && usecs == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
						 errmsg("the credential_process of profile \"%s\" did not finish within %d seconds",
								profile, CREDENTIAL_PROCESS_TIMEOUT_MS / 1000)));
			/* woken at least every poll interval, so a chatty stderr never blocks the helper */
			rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								   fds[0], Min(secs * 1000 + usecs / 1000 + 1, CREDENTIAL_PROCESS_POLL_MS),
								   PG_WAIT_EXTENSION);
			if (rc & WL_LATCH_SET)
				ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			if (err_open)
				err_open = drain_stderr(errfds[0], &err_bytes);
			if (!(rc & WL_SOCKET_READABLE))
				continue;
			n = read(fds[0], chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			if (out.len + n > CREDENTIAL_PROCESS_MAX_OUTPUT)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
						 errmsg("the credential_process of profile \"%s\" printed too much", profile)));
			appendBinaryStringInfo(&out, chunk, n);
			explicit_bzero(chunk, sizeof(chunk));
		}
		while (waitpid(child, &status, 0) < 0 && errno == EINTR)
			CHECK_FOR_INTERRUPTS();
		reaped = true;
		if (err_open)
			(void) drain_stderr(errfds[0], &err_bytes);
	}
	PG_FINALLY();
	{
		close(fds[0]);
		close(errfds[0]);
		if (!reaped)
		{
			kill(child, SIGKILL);
			while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
				;
		}
	}
	PG_END_TRY();

	if (status != 0)
	{
		char	   *reason = wait_result_to_str(status);

		explicit_bzero(out.data, out.len);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the credential_process of profile \"%s\" failed", profile),
				 err_bytes > 0 ?
				 errdetail("%s; it wrote %zu bytes to stderr, not shown because they may hold secrets.",
						   reason, err_bytes) :
				 errdetail("%s", reason),
				 errhint("Run the command as the server's operating-system user to see its messages.")));
	}
	if (err_bytes > 0)
		ereport(LOG,
				(errmsg("the credential_process of profile \"%s\" wrote %zu bytes to stderr", profile, err_bytes),
				 errdetail("Not logged: they may hold secrets.")));
	return out.data;
}

/*
 * credential_process: run the profile's command and read the JSON it
 * prints ({"Version": 1, "AccessKeyId": ..., ...}), as botocore's
 * ProcessProvider does.
 */
bool
claude_process_credentials(const AwsProfile *profile, ClaudeCredentials *out, StringInfo why)
{
	const char *command = aws_profile_any(profile, "credential_process");
	char	   *printed;
	bool		ok;

	if (command == NULL)
	{
		appendStringInfo(why, "credential_process: profile \"%s\" has none", profile->name);
		return false;
	}

	printed = run_credential_process(command, profile->name);
	ok = claude_parse_credentials_json(printed, CLAUDE_CREDENTIALS_JSON_PROCESS, out, NULL);
	explicit_bzero(printed, strlen(printed));
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the credential_process of profile \"%s\" printed no valid credentials",
						profile->name),
				 errdetail("Expected JSON with \"Version\": 1, \"AccessKeyId\", \"SecretAccessKey\" and optionally \"SessionToken\" and \"Expiration\".")));
	snprintf(out->provider, sizeof(out->provider), "credential_process (profile %s)", profile->name);
	return true;
}
