/*-------------------------------------------------------------------------
 *
 * retry.c
 *	  The retry policy: which outcomes are tried again, and how long to
 *	  wait first.
 *
 * The transport (http_pump.c) schedules retries but does not judge them: each
 * request names its policy.  The bases and lists follow the AWS SDKs'
 * "standard" retry mode; claude.max_retries bounds the attempts.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "retry.h"

#define BACKOFF_BASE_MS			100
#define BACKOFF_THROTTLE_BASE_MS 500
#define BACKOFF_CAP_MS			20000

/*
 * AWS error codes worth another attempt, whatever the status (botocore's
 * throttling and transient lists, plus Bedrock's ModelNotReadyException,
 * which AWS documents as retried by the SDKs).
 */
static const char *const aws_transient_codes[] = {
	"ServiceUnavailableException",
	"InternalServerException",
	"ModelNotReadyException",
	"RequestTimeout",
	"RequestTimeoutException",
	"PriorRequestNotComplete",
};

/* Throttling codes: retried, with the longer backoff base. */
static const char *const aws_throttling_codes[] = {
	"ThrottlingException",
	"Throttling",
	"TooManyRequestsException",
	"RequestLimitExceeded",
};

/* HTTP statuses retried whatever the body says. */
static const long retryable_statuses[] = {429, 500, 502, 503, 504};

/* Transport failures retried: the exchange broke, not the request. */
static const CURLcode retryable_curl_codes[] = {
	CURLE_COULDNT_RESOLVE_HOST,
	CURLE_COULDNT_CONNECT,
	CURLE_OPERATION_TIMEDOUT,
	CURLE_SEND_ERROR,
	CURLE_RECV_ERROR,
	CURLE_GOT_NOTHING,
	CURLE_PARTIAL_FILE,
	CURLE_HTTP2,
	CURLE_HTTP2_STREAM,
	CURLE_SSL_CONNECT_ERROR,
};

static bool
listed(const char *code, const char *const *list, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(code, list[i]) == 0)
			return true;
	return false;
}

ClaudeRetry
claude_retry_http(long status, CURLcode curl_code, bool unusable)
{
	if (curl_code != CURLE_OK)
	{
		for (int i = 0; i < (int) lengthof(retryable_curl_codes); i++)
			if (curl_code == retryable_curl_codes[i])
				return CLAUDE_RETRY;
		return CLAUDE_RETRY_NO;
	}
	if (status >= 200 && status < 300)
		return unusable ? CLAUDE_RETRY : CLAUDE_RETRY_NO;
	if (status == 429)
		return CLAUDE_RETRY_THROTTLED;
	for (int i = 0; i < (int) lengthof(retryable_statuses); i++)
		if (status == retryable_statuses[i])
			return CLAUDE_RETRY;
	return CLAUDE_RETRY_NO;
}

ClaudeRetry
claude_retry_aws(long status, CURLcode curl_code, bool unusable, const char *error_type)
{
	if (curl_code == CURLE_OK && (status < 200 || status >= 300) && error_type[0])
	{
		if (strcmp(error_type, "ExpiredTokenException") == 0)
			return CLAUDE_RETRY_REFRESH;
		if (listed(error_type, aws_throttling_codes, lengthof(aws_throttling_codes)))
			return CLAUDE_RETRY_THROTTLED;
		if (listed(error_type, aws_transient_codes, lengthof(aws_transient_codes)))
			return CLAUDE_RETRY;
	}
	return claude_retry_http(status, curl_code, unusable);
}

long
claude_retry_backoff_ms(int attempt, bool throttled, double jitter)
{
	double		base = throttled ? BACKOFF_THROTTLE_BASE_MS : BACKOFF_BASE_MS;
	double		ceiling = base * pow(2.0, Max(attempt - 1, 0));

	if (ceiling > BACKOFF_CAP_MS)
		ceiling = BACKOFF_CAP_MS;
	return (long) (jitter * ceiling);
}
