/*-------------------------------------------------------------------------
 *
 * aws_response.c
 *	  What AWS says in its response headers: the request id, the error
 *	  type, and Bedrock's token counts.
 *
 * The transport keeps the headers a request names and knows nothing of
 * them; this is where their AWS meaning lives, for Bedrock and STS alike.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "aws_response.h"
#include "retry.h"

/* Positions in aws_headers, as the transport keeps them in resp->captured. */
enum
{
	H_REQUEST_ID,
	H_S3_REQUEST_ID,
	H_ERROR_TYPE,
	H_INPUT_TOKENS,
	H_OUTPUT_TOKENS,
	H_CACHE_READ_TOKENS,
	H_CACHE_WRITE_TOKENS,
	H_COUNT
};

static const char *const aws_headers[H_COUNT + 1] = {
	[H_REQUEST_ID] = "x-amzn-RequestId",
	[H_S3_REQUEST_ID] = "x-amz-request-id",
	[H_ERROR_TYPE] = "x-amzn-ErrorType",
	[H_INPUT_TOKENS] = "X-Amzn-Bedrock-Input-Token-Count",
	[H_OUTPUT_TOKENS] = "X-Amzn-Bedrock-Output-Token-Count",
	[H_CACHE_READ_TOKENS] = "X-Amzn-Bedrock-Cache-Read-Input-Token-Count",
	[H_CACHE_WRITE_TOKENS] = "X-Amzn-Bedrock-Cache-Write-Input-Token-Count",
	[H_COUNT] = NULL
};

StaticAssertDecl(H_COUNT <= CLAUDE_HTTP_MAX_CAPTURED, "too many AWS headers to capture");

static long
count_or_unknown(const char *value)
{
	return value[0] ? strtol(value, NULL, 10) : -1;
}

static void
read_aws_response(ClaudeHttpResponse *resp)
{
	char	   *sep;

	strlcpy(resp->request_id, resp->captured[H_REQUEST_ID][0] ? resp->captured[H_REQUEST_ID] :
			resp->captured[H_S3_REQUEST_ID], sizeof(resp->request_id));
	/* "ValidationException:http://internal.amazon.com/..." */
	strlcpy(resp->error_type, resp->captured[H_ERROR_TYPE], sizeof(resp->error_type));
	sep = strchr(resp->error_type, ':');
	if (sep)
		*sep = '\0';
	resp->input_tokens = count_or_unknown(resp->captured[H_INPUT_TOKENS]);
	resp->output_tokens = count_or_unknown(resp->captured[H_OUTPUT_TOKENS]);
	resp->cache_read_tokens = count_or_unknown(resp->captured[H_CACHE_READ_TOKENS]);
	resp->cache_write_tokens = count_or_unknown(resp->captured[H_CACHE_WRITE_TOKENS]);
}

static ClaudeRetry
aws_retry_policy(const ClaudeHttpResponse *resp)
{
	return claude_retry_aws(resp->status, resp->curl_code, resp->unusable, resp->error_type);
}

void
claude_aws_response_setup(ClaudeHttpRequest *req)
{
	req->capture_headers = aws_headers;
	req->read_response = read_aws_response;
	req->retry_policy = aws_retry_policy;
}
