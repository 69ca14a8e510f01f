/*-------------------------------------------------------------------------
 *
 * bedrock_messages.c
 *	  Bedrock's Messages API (POST /anthropic/v1/messages) as an operation
 *	  of the bedrock provider: on bedrock-runtime (claude.bedrock_api =
 *	  messages, SigV4 service bedrock) or bedrock-mantle.{region}.api.aws
 *	  (mantle, SigV4 service bedrock-mantle).  The pipeline, residency,
 *	  signing and audit are bedrock.c's; the body and error shapes are the
 *	  Anthropic API's (doc/providers.md).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "lib/stringinfo.h"

#include "bedrock_messages.h"
#include "guc.h"
#include "model_catalog.h"
#include "provider.h"
#include "retry.h"

/*
 * Where bedrock-mantle serves Claude, of the regions the facts speak of
 * (in Australia: Melbourne only).  Data: a region added here is served.
 */
static const char *const mantle_regions[] = {
	"ap-southeast-4",
};

/* Longest wait a retry-after may ask for that is honoured whole. */
#define RETRY_AFTER_MAX_MS 60000

const char *
claude_bedrock_messages_api(const ClaudeCallContext *cc, const char *operation)
{
	if (claude_provider_is_anthropic(cc) || strcmp(operation, "InvokeModel") != 0)
		return NULL;			/* CountTokens stays Bedrock's own operation */
	switch (claude_bedrock_api)
	{
		case CLAUDE_BEDROCK_API_MESSAGES:
			return "messages";
		case CLAUDE_BEDROCK_API_MANTLE:
			return "mantle";
	}
	return NULL;
}

const char *
claude_bedrock_messages_service(const char *api)
{
	return strcmp(api, "mantle") == 0 ? "bedrock-mantle" : "bedrock";
}

static bool
mantle_serves(const char *region)
{
	int			i;

	for (i = 0; i < (int) lengthof(mantle_regions); i++)
		if (strcmp(region, mantle_regions[i]) == 0)
			return true;
	return false;
}

void
claude_bedrock_messages_check(const char *api, const char *model)
{
	const ClaudeModelInfo *info;

	if (strcmp(api, "mantle") == 0 && !mantle_serves(claude_region))
	{
		StringInfoData served;
		int			i;

		initStringInfo(&served);
		for (i = 0; i < (int) lengthof(mantle_regions); i++)
			appendStringInfo(&served, "%s%s", i ? ", " : "", mantle_regions[i]);
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("bedrock-mantle does not serve Claude in region %s", claude_region),
				 errdetail("claude.bedrock_api is mantle; bedrock-mantle serves Claude in %s.",
						   served.data),
				 errhint("Set claude.region to a region it serves, or claude.bedrock_api to messages or invoke.")));
	}
	info = claude_model_info(model);
	if (info->messages_api == TRAIT_NO)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" is not on Bedrock's Messages API", model),
				 errdetail("claude.bedrock_api is %s, and claude.models marks the model messages_api false.",
						   api),
				 errhint("Set claude.bedrock_api to invoke for this model, or choose a newer model.")));
}

char *
claude_bedrock_messages_body(const char *model, const char *body)
{
	cJSON	   *root = cJSON_Parse(body);
	char	   *text;
	char	   *out;

	if (root == NULL || !cJSON_IsObject(root))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request body is not a JSON object"),
				 errhint("Pass an Anthropic Messages request body.")));
	/* InvokeModel's version field; the API takes the model (a Bedrock id) in the body */
	cJSON_DeleteItemFromObjectCaseSensitive(root, "anthropic_version");
	cJSON_DeleteItemFromObjectCaseSensitive(root, "model");
	cJSON_AddStringToObject(root, "model", model);
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (text == NULL)
		elog(ERROR, "out of memory");
	out = pstrdup(text);
	cJSON_free(text);
	return out;
}

enum
{
	H_REQUEST_ID,
	H_API_REQUEST_ID,
	H_ERROR_TYPE,
	H_RETRY_AFTER,
	H_COUNT
};

static const char *const messages_capture[H_COUNT + 1] = {
	[H_REQUEST_ID] = "x-amzn-RequestId",
	[H_API_REQUEST_ID] = "request-id",
	[H_ERROR_TYPE] = "x-amzn-ErrorType",
	[H_RETRY_AFTER] = "retry-after",
	[H_COUNT] = NULL
};

static const char *
type_of_status(long status)
{
	switch (status)
	{
		case 400:
			return "invalid_request_error";
		case 401:
			return "authentication_error";
		case 403:
			return "permission_error";
		case 404:
			return "not_found_error";
		case 413:
			return "request_too_large";
		case 429:
			return "rate_limit_error";
		case 529:
			return "overloaded_error";
	}
	return status >= 500 ? "api_error" : "invalid_request_error";
}

/*
 * An AWS front end's refusal carries x-amzn-ErrorType (kept, as
 * InvokeModel's); the API's own errors only their status.  No token
 * headers: the body's usage counts (bedrock.c's audit).
 */
static void
read_messages_response(ClaudeHttpResponse *resp)
{
	const char *after = resp->captured[H_RETRY_AFTER];
	char	   *sep;

	resp->service = CLAUDE_SERVICE_BEDROCK_MESSAGES;
	strlcpy(resp->request_id, resp->captured[H_REQUEST_ID][0] ? resp->captured[H_REQUEST_ID] :
			resp->captured[H_API_REQUEST_ID], sizeof(resp->request_id));
	strlcpy(resp->error_type, resp->captured[H_ERROR_TYPE], sizeof(resp->error_type));
	sep = strchr(resp->error_type, ':');
	if (sep)
		*sep = '\0';
	if (!resp->error_type[0] && resp->curl_code == CURLE_OK && resp->status != 0 &&
		(resp->status < 200 || resp->status >= 300))
		strlcpy(resp->error_type, type_of_status(resp->status), sizeof(resp->error_type));
	resp->retry_after_ms = 0;
	if (after[0] && strspn(after, "0123456789.") == strlen(after))
		resp->retry_after_ms = Min((long) (strtod(after, NULL) * 1000.0), RETRY_AFTER_MAX_MS);
	resp->input_tokens = resp->output_tokens = -1;
	resp->cache_read_tokens = resp->cache_write_tokens = -1;
}

/* Bedrock's rules, and the API's 529 (overloaded) as a throttle. */
static ClaudeRetry
messages_retry_policy(const ClaudeHttpResponse *resp)
{
	if (resp->curl_code == CURLE_OK && (resp->status == 429 || resp->status == 529))
		return CLAUDE_RETRY_THROTTLED;
	return claude_retry_aws(resp->status, resp->curl_code, resp->unusable, resp->error_type);
}

void
claude_bedrock_messages_setup(ClaudeHttpRequest *req)
{
	req->capture_headers = messages_capture;
	req->read_response = read_messages_response;
	req->retry_policy = messages_retry_policy;
}

bool
claude_bedrock_messages_problem(const char *operation, const char *model,
								const ClaudeHttpResponse *resp, ClaudeProblem *p)
{
	char	   *type;
	char	   *message;

	if (resp->curl_code != CURLE_OK || resp->unusable)
		return false;
	claude_anthropic_error_body(resp, &type, &message);
	if (type == NULL)
		return false;			/* an AWS-shaped refusal: Bedrock's mapping reads it */
	claude_problem(p, claude_anthropic_error_sqlstate(type),
				   psprintf("Bedrock %s failed: %s", CLAUDE_BEDROCK_MESSAGES_OPERATION, type),
				   psprintf("%s%s%s%s%sHTTP status %ld, request id %s, %d retries.",
							message ? message : "",
							message && message[0] && !strchr(".!?", message[strlen(message) - 1]) ? ". " :
							message ? " " : "",
							model ? "Model: " : "", model ? model : "", model ? ". " : "",
							resp->status,
							resp->request_id[0] ? resp->request_id : "(none)",
							resp->retries),
				   strcmp(type, "not_found_error") == 0 ?
				   "Check that the model or inference profile is on the Messages API in claude.region "
				   "(claude.models' messages_api), or set claude.bedrock_api to invoke." :
				   strcmp(type, "rate_limit_error") == 0 || strcmp(type, "overloaded_error") == 0 ?
				   "Bedrock throttled the request after all retries; lower the request rate or raise claude.max_retries." :
				   NULL);
	return true;
}
