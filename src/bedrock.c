/*-------------------------------------------------------------------------
 *
 * bedrock.c
 *	  Bedrock Runtime operations: where requests are addressed and signed,
 *	  and how AWS and transport failures become PostgreSQL errors.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include <time.h>
#include <cjson/cJSON.h>

#include "common/base64.h"
#include "mb/pg_wchar.h"
#include "nodes/pg_list.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "aws_response.h"
#include "bedrock.h"
#include "bedrock_messages.h"
#include "bedrock_stream.h"
#include "call_policy.h"
#include "anthropic.h"
#include "audit.h"
#include "aws_sign.h"
#include "aws_util.h"
#include "cache.h"
#include "credentials.h"
#include "endpoint.h"
#include "guc.h"
#include "model_catalog.h"
#include "pg_compat.h"
#include "problem.h"
#include "provider.h"
#include "redact.h"
#include "residency.h"

/*
 * AWS error codes (x-amzn-ErrorType) and the SQLSTATE each becomes.  The
 * codes are the error shapes of the bedrock-runtime service model plus the
 * authentication errors every AWS JSON service returns.  Anything not
 * listed is an external routine exception.
 */
static const struct
{
	const char *code;
	int			sqlstate;
	const char *hint;
}			aws_error_map[] =
{
	{"ValidationException", ERRCODE_INVALID_PARAMETER_VALUE,
	"Check the model id (claude.model or the model argument) and the request body."},
	{"ResourceNotFoundException", ERRCODE_UNDEFINED_OBJECT,
	"Check that the model or inference profile exists in claude.region."},
	{"AccessDeniedException", ERRCODE_INSUFFICIENT_PRIVILEGE,
	"Check that the IAM identity may call bedrock:InvokeModel on this model and that model access is granted in the Bedrock console."},
	{"InvalidSignatureException", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"Check the server's clock and that the secret access key matches the access key id."},
	{"SignatureDoesNotMatch", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"Check the server's clock and that the secret access key matches the access key id."},
	{"UnrecognizedClientException", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"Check the access key id and, for temporary credentials, the session token."},
	{"ExpiredTokenException", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"The temporary credentials have expired; give the server fresh ones."},
	{"MissingAuthenticationTokenException", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, NULL},
	{"IncompleteSignatureException", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, NULL},
	{"ThrottlingException", ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
	"Bedrock throttled the request after all retries; lower the request rate, raise claude.max_retries, or ask AWS for a higher quota."},
	{"ServiceQuotaExceededException", ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
	"The account's Bedrock quota is exhausted; ask AWS for a higher quota."},
};

/*
 * Where requests go: the override setting, or the service's regional public
 * host (bedrock-runtime for the runtime, bedrock for the control plane).
 * Parsed once per change of what it comes from (the setting, the region),
 * not on every call.
 */
typedef struct EndpointMemo
{
	bool		valid;
	char	   *override;		/* TopMemoryContext copies */
	char	   *region;
	ClaudeEndpoint ep;
} EndpointMemo;

static EndpointMemo runtime_memo;
static EndpointMemo mantle_memo;
static EndpointMemo control_memo;

static void
resolve_service_endpoint(ClaudeEndpoint *ep, const char *override, const char *service,
						 EndpointMemo *memo)
{
	const char *why;
	char	   *url;

	if (override == NULL)
		override = "";
	if (memo->valid && strcmp(memo->override, override) == 0 &&
		strcmp(memo->region, claude_region) == 0)
	{
		*ep = memo->ep;
		return;
	}
	if (override[0])
		url = pstrdup(override);
	else
		url = psprintf("https://%s.%s.%s", service, claude_region,
					   strcmp(service, "bedrock-mantle") == 0 ? "api.aws" :
					   strncmp(claude_region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com");
	if (!claude_endpoint_parse(url, ep, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid Bedrock endpoint \"%s\"", url),
				 errdetail("%s", why)));
	pfree(url);

	memo->valid = false;
	if (memo->override)
		pfree(memo->override);
	if (memo->region)
		pfree(memo->region);
	memo->override = memo->region = NULL;
	memo->override = MemoryContextStrdup(TopMemoryContext, override);
	memo->region = MemoryContextStrdup(TopMemoryContext, claude_region);
	memo->ep = *ep;
	memo->valid = true;
}

static void
resolve_endpoint(ClaudeEndpoint *ep)
{
	resolve_service_endpoint(ep, claude_endpoint, "bedrock-runtime", &runtime_memo);
}

/* bedrock-mantle's host; claude.endpoint, when set, stands for every Bedrock host */
static void
resolve_api_endpoint(ClaudeEndpoint *ep, const char *api)
{
	if (api != NULL && strcmp(api, "mantle") == 0)
		resolve_service_endpoint(ep, claude_endpoint, "bedrock-mantle", &mantle_memo);
	else
		resolve_endpoint(ep);
}

char *
claude_bedrock_base_url(char *host_header, size_t host_header_len,
						char *path_prefix, size_t path_prefix_len)
{
	ClaudeEndpoint ep;

	resolve_endpoint(&ep);
	strlcpy(host_header, ep.host_header, host_header_len);
	strlcpy(path_prefix, ep.path_prefix, path_prefix_len);
	return pstrdup(ep.base_url);
}



/*
 * Sign one attempt with SigV4 (service "bedrock", claude.region).  Each
 * attempt is signed again: X-Amz-Date must be current and the credentials
 * may have changed since the last attempt.
 */
static struct curl_slist *
sign_attempt(void *arg, int attempt, const ClaudeHttpResponse *prev)
{
	SignContext *ctx = (SignContext *) arg;
	const char *api_key = claude_bedrock_api_key();
	const ClaudeCredentials *creds;
	AwsSignRequest req = {0};

	req.label = "Bedrock";
	req.method = ctx->method;
	req.host = ctx->host_header;
	req.path = ctx->path;
	req.query = ctx->query;
	req.body = ctx->body;
	req.body_len = ctx->body_len;
	req.content_type = "application/json";
	/* a stream answers in event-stream frames; the model's JSON is inside */
	req.accept = ctx->stream ? "application/vnd.amazon.eventstream" : "application/json";
	req.service = ctx->bedrock_api ? claude_bedrock_messages_service(ctx->bedrock_api) : "bedrock";
	req.region = claude_region;
	req.now = time(NULL);
	req.extra = ctx->guardrail;
	req.nextra = ctx->nguardrail;

	/*
	 * A Bedrock API key in the environment wins over SigV4 credentials, as
	 * in botocore (handlers.py, _should_prefer_bearer_auth).
	 */
	if (api_key != NULL)
	{
		struct curl_slist *list = aws_request_headers(&req);
		char	   *line = psprintf("Authorization: Bearer %s", api_key);

		list = claude_http_append_header(list, line);
		explicit_bzero(line, strlen(line));
		strlcpy(ctx->signed_with, "bearer", sizeof(ctx->signed_with));
		return list;
	}

	creds = claude_credentials_get();
	strlcpy(ctx->signed_with, creds->access_key_id, sizeof(ctx->signed_with));
	return aws_sign(&req, creds);
}

void
claude_bedrock_ready_to_sign(const ClaudeCallContext *cc)
{
	if (cc != NULL && claude_provider_is_anthropic(cc))
	{
		claude_anthropic_ready();
		return;
	}
	if (claude_bedrock_api_key() == NULL)
		(void) claude_credentials_get();
}

/* What an attempt that got no AWS error code failed with, for the audit log. */
static const char *
attempt_error_code(const ClaudeHttpResponse *resp)
{
	if (resp->interrupted)
		return "Interrupted";
	if (resp->curl_code == CURLE_OPERATION_TIMEDOUT)
		return "Timeout";
	if (resp->curl_code != CURLE_OK)
		return "ConnectionError";
	if (resp->error_type[0])
		return resp->error_type;
	if (resp->status < 200 || resp->status >= 300)
		return psprintf("HTTP%ld", resp->status);
	if (resp->unusable)
		return "MalformedResponse";
	return "";
}

/*
 * The prompt claude.log_prompts keeps: under claude.redact_before_send the
 * identifiers removed from what was sent are removed from the log too.
 */
static const char *
logged_prompt(const ClaudeCallContext *cc, const char *input, const char *body)
{
	ClaudeCallPolicy policy;

	if (input == NULL)
		return body;			/* the body sent: already redacted */
	claude_policy_of(cc, &policy);
	if (policy.redact_before_send && claude_log_prompts)
		return claude_redact_text(input, REDACT_ALL_LOCAL, NULL);
	return input;
}

/* One row of claude.usage per attempt: on_attempt callback of the transport. */
static void
audit_attempt(void *arg, const ClaudeHttpResponse *resp, int attempt)
{
	SignContext *ctx = (SignContext *) arg;
	ClaudeUsageRecord r;

	claude_usage_init(&r, &ctx->cc, ctx->bedrock_api ? CLAUDE_BEDROCK_MESSAGES_OPERATION : ctx->operation,
					  ctx->model);
	if (!claude_provider_is_anthropic(&ctx->cc))
		strlcpy(r.region, claude_region, sizeof(r.region));
	strlcpy(r.endpoint_host, ctx->endpoint_host, sizeof(r.endpoint_host));
	strlcpy(r.geography, ctx->geography, sizeof(r.geography));
	strlcpy(r.request_id, resp->request_id, sizeof(r.request_id));
	r.http_status = resp->status > 0 ? (int32) resp->status : -1;
	strlcpy(r.error_code, attempt_error_code(resp), sizeof(r.error_code));
	r.input_tokens = resp->input_tokens;
	r.output_tokens = resp->output_tokens;
	r.cache_read_tokens = resp->cache_read_tokens;
	r.cache_write_tokens = resp->cache_write_tokens;
	/*
	 * The body's usage block where headers are missing, and for how much of
	 * a cache write was for an hour (priced higher; no header says it).
	 */
	if (!resp->interrupted && resp->status >= 200 && resp->status < 300 && resp->body &&
		strcmp(ctx->operation, "InvokeModel") == 0 &&
		(r.input_tokens < 0 || r.output_tokens < 0 || r.cache_read_tokens < 0 ||
		 r.cache_write_tokens != 0))
	{
		ClaudeUsage usage;

		if (ctx->answer != NULL && ctx->answer_body == resp->body)
			claude_anthropic_usage_parsed(ctx->answer, &usage);
		else
			claude_anthropic_usage(resp->body, &usage);
		if (r.input_tokens < 0)
			r.input_tokens = usage.input_tokens;
		if (r.output_tokens < 0)
			r.output_tokens = usage.output_tokens;
		if (r.cache_read_tokens < 0)
			r.cache_read_tokens = usage.cache_read_tokens;
		if (r.cache_write_tokens < 0)
			r.cache_write_tokens = usage.cache_write_tokens;
		r.cache_write_1h_tokens = usage.cache_write_1h_tokens;
	}
	if (r.cache_write_tokens == 0)
		r.cache_write_1h_tokens = 0;
	r.latency_ms = resp->interrupted ? -1 : resp->latency_ms;
	r.ttft_ms = resp->interrupted || resp->ttft_ms < 0 ? -1 : resp->ttft_ms;
	r.retries = attempt;
	strlcpy(r.cache_key, ctx->cache_key, sizeof(r.cache_key));
	strlcpy(r.prompt_sha256, ctx->prompt_sha256, sizeof(r.prompt_sha256));
	strlcpy(r.redactions, ctx->redactions, sizeof(r.redactions));
	if (ctx->nguardrail > 0 && !resp->interrupted && resp->status >= 200 && resp->status < 300 && resp->body)
		claude_guardrail_summary(resp->body, ctx->answer_body == resp->body ? ctx->answer : NULL,
								 r.guardrail_action, sizeof(r.guardrail_action),
								 r.guardrail_trace, sizeof(r.guardrail_trace));
	if (resp->interrupted)
		claude_audit_usage_in_error(&r);
	else
		claude_audit_usage(&r, logged_prompt(&ctx->cc, ctx->cc.input, ctx->body));
}

/*
 * usable callback of the transport: every operation sent here answers
 * JSON, so a 2xx that is not JSON is a fault on the way (retried), never
 * an answer to parse, cache or bill.
 */
static bool
answer_is_json(void *arg, const ClaudeHttpResponse *resp)
{
	SignContext *ctx = (SignContext *) arg;
	MemoryContext old;
	cJSON	   *root;

	if (resp->body == NULL || resp->body_len == 0)
		return false;

	/*
	 * Kept, in the call's memory (this runs in the transport's per-attempt
	 * scratch), for the answer's reader to take instead of parsing again.
	 */
	old = MemoryContextSwitchTo(ctx->answer_cxt ? ctx->answer_cxt : CurrentMemoryContext);
	root = cJSON_ParseWithLength(resp->body, resp->body_len);
	MemoryContextSwitchTo(old);
	if (ctx->answer != NULL)
		cJSON_Delete(ctx->answer);
	ctx->answer = root;
	ctx->answer_body = root ? resp->body : NULL;
	return root != NULL;
}

struct cJSON *
claude_bedrock_take_answer(ClaudeBedrockCall *call, const char *body)
{
	SignContext *ctx = &call->ctx;
	cJSON	   *root = NULL;

	if (ctx->answer != NULL && ctx->answer_body == body)
		root = ctx->answer;
	else if (ctx->answer != NULL)
		cJSON_Delete(ctx->answer);
	ctx->answer = NULL;
	ctx->answer_body = NULL;
	return root;
}

/* ExpiredTokenException: drop the credentials that were just refused. */
static void
refresh_after_expiry(void *arg)
{
	SignContext *ctx = (SignContext *) arg;

	claude_credentials_invalidate(ctx->signed_with);
}

/*
 * The check before any request leaves the backend: residency.c judges
 * with the current settings; a refusal is an audit row, a LOG line for
 * operators (no request data) and 42R01.  Returns the geography the
 * request will reach.
 */
static const char *
enforce_residency(const ClaudeCallContext *cc, const char *operation, const char *model,
				  const char *endpoint_host)
{
	ClaudeResidencyVerdict v;
	ClaudeUsageRecord r;
	ClaudeModelRoutes routes;

	bool		anthropic = claude_provider_is_anthropic(cc);

	if (anthropic)
		claude_anthropic_judge(model, &v);	/* seam: the provider's path */
	else
	{
		claude_model_routes(model, &routes);
		claude_residency_judge(claude_residency, claude_region, endpoint_host, model, &routes, &v);
	}
	if (v.allowed)
		return pstrdup(v.geography);

	claude_usage_init(&r, cc, operation, model);
	if (!anthropic)
		strlcpy(r.region, claude_region, sizeof(r.region));
	strlcpy(r.endpoint_host, endpoint_host ? endpoint_host : "", sizeof(r.endpoint_host));
	strlcpy(r.geography, v.geography, sizeof(r.geography));
	strlcpy(r.error_code, "ResidencyViolation", sizeof(r.error_code));
	claude_audit_usage_in_error(&r);
	ereport(LOG,
			(errmsg("pg_claude refused a request under claude.residency \"%s\"", claude_residency),
			 errdetail_internal("role %s, model %s, region %s, endpoint %s: %s",
								GetUserNameFromId(GetUserId(), false), model,
								anthropic ? "(Anthropic API)" : claude_region,
								endpoint_host ? endpoint_host : "(regional default)", v.reason)));
	ereport(ERROR,
			(errcode(ERRCODE_CLAUDE_RESIDENCY_VIOLATION),
			 errmsg("request would be processed in %s, outside claude.residency \"%s\"",
					anthropic ? v.processed_in : claude_residency_place(&v, model), claude_residency),
			 errdetail("%s.", v.reason),
			 errhint("%s", v.hint)));
	return NULL;				/* not reached */
}

/* Models this backend has warned about being LEGACY. */
static List *legacy_warned = NIL;

/* A LEGACY model (claude.models): a WARNING, once per backend and model. */
static void
warn_legacy(const char *model)
{
	const ClaudeModelInfo *info = claude_model_info(model);
	ListCell   *lc;
	MemoryContext old;

	if (info->lifecycle == NULL || strcmp(info->lifecycle, "LEGACY") != 0)
		return;
	foreach(lc, legacy_warned)
		if (strcmp((const char *) lfirst(lc), model) == 0)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	legacy_warned = lappend(legacy_warned, pstrdup(model));
	MemoryContextSwitchTo(old);
	ereport(WARNING,
			(errcode(ERRCODE_WARNING_DEPRECATED_FEATURE),
			 errmsg("model \"%s\" is LEGACY on Bedrock%s%s", model,
					info->end_of_life ? "; its end of life is " : "",
					info->end_of_life ? info->end_of_life : ""),
			 info->successor ? errhint("claude.models names \"%s\" as its successor.", info->successor) : 0));
}

/*
 * Everything before sending: residency check (raises), the cache (returns
 * true when answered from it, the answer in call->resp), the path, and the
 * transport request with its signing and audit callbacks.
 */
bool
claude_bedrock_prepare(ClaudeBedrockCall *call, const ClaudeCallContext *cc,
					   const char *operation, const char *suffix, const char *model,
					   const char *body, size_t body_len)
{
	SignContext *ctx = &call->ctx;
	ClaudeEndpoint ep;
	char	   *encoded;
	char	   *path;
	const char *geography;
	bool		anthropic = claude_provider_is_anthropic(cc);
	bool		redacting;
	ClaudeCallPolicy policy;
	const char *api = claude_bedrock_messages_api(cc, operation);

	memset(call, 0, sizeof(*call));
	ctx->answer_cxt = CurrentMemoryContext;
	claude_audit_prepare();

	/* residency first: nothing is signed, let alone sent, if it is refused */
	if (anthropic)
	{
		geography = enforce_residency(cc, operation, model, claude_anthropic_host());
		/* seam: the provider's body (model in it, inference_geo), hashed as sent */
		body = claude_anthropic_shape_body(operation, model, geography, body);
		body_len = strlen(body);
	}
	else
	{
		resolve_api_endpoint(&ep, api);
		geography = enforce_residency(cc, api ? CLAUDE_BEDROCK_MESSAGES_OPERATION : operation, model,
									  claude_endpoint && claude_endpoint[0] ? ep.host : NULL);
	}
	if (api)
	{
		/* seam: Bedrock's Messages API, where the model and region allow it */
		claude_bedrock_messages_check(api, model);
		body = claude_bedrock_messages_body(model, body);
		body_len = strlen(body);
	}
	warn_legacy(model);

	ctx->operation = operation;
	ctx->bedrock_api = api;
	ctx->model = model;
	ctx->geography = geography;
	ctx->endpoint_host = anthropic ? claude_anthropic_host() : pstrdup(ep.host);
	ctx->cc = *cc;

	/*
	 * claude.redact_before_send: the identifiers go before anything else
	 * sees the body, so the cache key, the signature and prompt_sha256 are
	 * of what is sent (the audit never fingerprints a raw identifier:
	 * doc/redaction.md).
	 */
	claude_policy_of(cc, &policy);
	redacting = policy.redact_before_send && strncmp(operation, "InvokeModel", 11) == 0;
	if (redacting)
		body = claude_redact_body(body, &body_len, ctx->redactions, sizeof(ctx->redactions));
	claude_sha256_text(cc->input == NULL ? body :
					   redacting ? claude_redact_text(cc->input, REDACT_ALL_LOCAL, NULL) : cc->input,
					   ctx->prompt_sha256);
	ctx->nguardrail = claude_guardrail_headers(operation, &policy, ctx->guardrail);
	/* a guardrail someone relies on is never skipped silently */
	if (api && ctx->nguardrail > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("claude.guardrail_id is set, and pg_claude applies Bedrock guardrails to InvokeModel only"),
				 errdetail("claude.bedrock_api is %s; the Messages API takes no guardrail headers.", api),
				 errhint("Set claude.bedrock_api to invoke, or have the guardrail settings reset for this role.")));
	if (anthropic && ctx->nguardrail > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("claude.guardrail_id is set, and Bedrock guardrails do not apply to the Anthropic API"),
				 errdetail("claude.provider is anthropic; a guardrail is applied by Amazon Bedrock only."),
				 errhint("Set claude.provider to bedrock, or have the guardrail settings reset for this role.")));

	/* the cache: an identical request already answered costs nothing */
	if (strcmp(operation, "InvokeModel") == 0 && claude_cache_mode != CLAUDE_CACHE_OFF)
	{
		TimestampTz start = GetCurrentTimestamp();
		char	   *cached;

		/*
		 * The provider is part of the key (one's answer is not the other's),
		 * and so is a guardrail (its answer is not the bare model's).
		 */
		claude_cache_key(claude_cache_role(cc->role_name),
						 psprintf("%s%s%s%s", anthropic ? "anthropic:" : "",
								  api ? psprintf("%s:", api) : "", model,
								  ctx->nguardrail ? psprintf(" guardrail=%s:%s", ctx->guardrail[0].value,
															 ctx->guardrail[1].value) : ""),
						 body, ctx->cache_key);
		cached = claude_cache_lookup(ctx->cache_key);
		if (cached != NULL)
		{
			ClaudeUsageRecord r;
			long		secs;
			int			usecs;

			claude_usage_init(&r, cc, api ? CLAUDE_BEDROCK_MESSAGES_OPERATION : operation, model);
			if (!anthropic)
				strlcpy(r.region, claude_region, sizeof(r.region));
			strlcpy(r.geography, geography, sizeof(r.geography));
			r.cache_hit = true;
			TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
			r.latency_ms = secs * 1000.0 + usecs / 1000.0;
			strlcpy(r.cache_key, ctx->cache_key, sizeof(r.cache_key));
			strlcpy(r.prompt_sha256, ctx->prompt_sha256, sizeof(r.prompt_sha256));
			strlcpy(r.redactions, ctx->redactions, sizeof(r.redactions));
			/* a cached intervention is still one: counted again */
			if (ctx->nguardrail > 0)
				claude_guardrail_summary(cached, NULL, r.guardrail_action, sizeof(r.guardrail_action),
										 r.guardrail_trace, sizeof(r.guardrail_trace));
			claude_audit_usage(&r, logged_prompt(cc, cc->input, body));

			call->from_cache = true;
			call->resp.status = 200;
			call->resp.body = cached;
			call->resp.body_len = strlen(cached);
			call->resp.input_tokens = call->resp.output_tokens = -1;
			return true;
		}
	}

	if (anthropic)
	{
		/* seam: the provider's address and authentication; the rest is shared */
		ctx->method = "POST";
		ctx->body = body;
		ctx->body_len = body_len;
		claude_anthropic_request(&call->req, operation, body, body_len);
		call->req.prepare_arg = ctx;
		call->req.on_attempt = audit_attempt;
		call->req.usable = answer_is_json;
		return false;
	}

	/* The model id is one path label: ':' and '/' are percent-encoded. */
	encoded = claude_uri_encode(model, false);
	path = api ? psprintf("%s%s", ep.path_prefix, CLAUDE_BEDROCK_MESSAGES_PATH) :
		psprintf("%s/model/%s/%s", ep.path_prefix, encoded, suffix);

	ctx->method = "POST";
	ctx->path = path;
	ctx->host_header = pstrdup(ep.host_header);
	ctx->body = body;
	ctx->body_len = body_len;

	claude_http_request_init(&call->req, "POST",
							 psprintf("%s://%s%s", ep.https ? "https" : "http", ep.host_header, path));
	call->req.body = body;
	call->req.body_len = body_len;
	call->req.prepare = sign_attempt;
	call->req.prepare_arg = ctx;
	call->req.refresh_credentials = refresh_after_expiry;
	call->req.on_attempt = audit_attempt;
	call->req.usable = answer_is_json;
	if (api)
	{
		/* the Anthropic shapes; not streamed (claude.stream applies to InvokeModel) */
		claude_bedrock_messages_setup(&call->req);
		return false;
	}
	claude_aws_response_setup(&call->req);
	/* claude.stream: the same call as InvokeModelWithResponseStream */
	if (strcmp(operation, "InvokeModel") == 0 && claude_stream_wanted())
		claude_bedrock_stream_setup(call);
	return false;
}

void
claude_bedrock_stream_setup(ClaudeBedrockCall *call)
{
	SignContext *ctx = &call->ctx;
	const char *suffix = "/invoke";
	size_t		plen;
	size_t		ulen;

	/* a guardrail's verdict is judged on the whole answer (guardrail.c) */
	if (ctx->stream != NULL || call->from_cache || ctx->path == NULL || ctx->nguardrail > 0 ||
		strcmp(ctx->operation, "InvokeModel") != 0)
		return;
	plen = strlen(ctx->path);
	ulen = strlen(call->req.url);
	if (plen < strlen(suffix) || ulen < strlen(suffix) ||
		strcmp(ctx->path + plen - strlen(suffix), suffix) != 0 ||
		strcmp(call->req.url + ulen - strlen(suffix), suffix) != 0)
		return;
	/* the same request, signed for the path it now goes to */
	ctx->path = psprintf("%s-with-response-stream", ctx->path);
	call->req.url = psprintf("%s-with-response-stream", call->req.url);
	ctx->stream = claude_stream_attach(&call->req, ctx->answer_cxt);
}

bool
claude_bedrock_ok(const ClaudeHttpResponse *resp)
{
	return resp->curl_code == CURLE_OK && resp->status >= 200 && resp->status < 300 &&
		!resp->unusable;
}

/* After the transport: a good answer goes to the cache. */
void
claude_bedrock_finish(ClaudeBedrockCall *call, const ClaudeHttpResponse *resp)
{
	SignContext *ctx = &call->ctx;

	if (call->from_cache || !claude_bedrock_ok(resp))
		return;
	if (ctx->cache_key[0] && claude_cache_mode == CLAUDE_CACHE_ON)
	{
		ClaudeCacheRecord c;

		memset(&c, 0, sizeof(c));
		strlcpy(c.key, ctx->cache_key, sizeof(c.key));
		strlcpy(c.model, ctx->model, sizeof(c.model));
		strlcpy(c.operation, ctx->operation, sizeof(c.operation));
		strlcpy(c.prompt_sha256, ctx->prompt_sha256, sizeof(c.prompt_sha256));
		c.input_tokens = resp->input_tokens;
		c.output_tokens = resp->output_tokens;
		claude_audit_cache_store(&c, resp->body);
		claude_cache_remember(ctx->cache_key, resp->body);
	}
}

/*
 * POST an operation on a model: prepare, send with retries, finish, and
 * the error mapping.  Returns the body of a 2xx answer.
 */
static char *
bedrock_post(const ClaudeCallContext *cc, const char *operation, const char *suffix,
			 const char *model, const char *body, size_t body_len, ClaudeHttpResponse *resp)
{
	ClaudeBedrockCall *call = palloc(sizeof(ClaudeBedrockCall));

	if (claude_bedrock_prepare(call, cc, operation, suffix, model, body, body_len))
	{
		*resp = call->resp;
		return resp->body;
	}
	claude_http_execute(&call->req, resp);
	/* the caller reads the body itself: the JSON check's parse goes */
	(void) claude_bedrock_take_answer(call, NULL);
	if (!claude_bedrock_ok(resp))
		claude_bedrock_raise(operation, model, resp);
	claude_bedrock_finish(call, resp);
	return resp->body;
}

char *
claude_bedrock_invoke(const ClaudeCallContext *cc, const char *model, const char *body,
					  size_t body_len, ClaudeHttpResponse *resp)
{
	return bedrock_post(cc, "InvokeModel", "invoke", model, body, body_len, resp);
}

/*
 * CountTokens takes a foundation model id: "au.anthropic.claude-..." and
 * inference-profile ARNs count as the model they route to.
 */
char *
claude_bedrock_count_tokens_model(const char *model)
{
	const char *id = model;
	const char *slash;
	const char *dot;
	const char *second;

	if (strncmp(model, "arn:", 4) == 0 && (slash = strrchr(model, '/')) != NULL)
		id = slash + 1;
	dot = strchr(id, '.');
	second = dot ? strchr(dot + 1, '.') : NULL;
	/* a profile id has a geography before the provider: drop it */
	if (second && strncmp(dot + 1, "anthropic.", 10) == 0)
		id = dot + 1;
	return pstrdup(id);
}

long
claude_bedrock_count_tokens(const ClaudeCallContext *cc, const char *model, const char *invoke_body)
{
	size_t		len = strlen(invoke_body);
	int			enc_len;
	char	   *encoded;
	int			n;
	char	   *base = claude_bedrock_count_tokens_model(model);
	ClaudeCallPolicy policy;
	char		removed[128];
	char	   *body;
	cJSON	   *root;
	const cJSON *count;
	long		tokens;
	ClaudeHttpResponse resp;

	/* the body counted is the one InvokeModel would send (doc/redaction.md) */
	claude_policy_of(cc, &policy);
	if (policy.redact_before_send)
		invoke_body = claude_redact_body(invoke_body, &len, removed, sizeof(removed));
	enc_len = pg_b64_enc_len(len);
	encoded = palloc(enc_len + 1);
	n = pg_b64_encode((const claude_b64_byte *) invoke_body, len, encoded, enc_len);
	if (n < 0)
		elog(ERROR, "could not base64-encode the request body");
	encoded[n] = '\0';
	if (claude_provider_is_anthropic(cc))
	{
		/* seam: the Messages body itself, to /v1/messages/count_tokens */
		bedrock_post(cc, "CountTokens", "count-tokens", model, invoke_body, len, &resp);
		root = cJSON_Parse(resp.body);
		count = root ? cJSON_GetObjectItemCaseSensitive(root, "input_tokens") : NULL;
	}
	else
	{
		body = psprintf("{\"input\":{\"invokeModel\":{\"body\":\"%s\"}}}", encoded);
		bedrock_post(cc, "CountTokens", "count-tokens", base, body, strlen(body), &resp);
		root = cJSON_Parse(resp.body);
		count = root ? cJSON_GetObjectItemCaseSensitive(root, "inputTokens") : NULL;
	}
	if (!cJSON_IsNumber(count))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("%s CountTokens returned no token count",
						claude_provider_is_anthropic(cc) ? "the Anthropic API" : "Bedrock")));
	tokens = (long) count->valuedouble;
	cJSON_Delete(root);
	return tokens;
}

/* The "message" of an AWS JSON error body, or NULL. */
char *
claude_bedrock_error_message(const ClaudeHttpResponse *resp)
{
	cJSON	   *root;
	const cJSON *msg;
	char	   *out = NULL;

	if (resp->body == NULL || resp->body_len == 0)
		return NULL;
	root = cJSON_Parse(resp->body);
	if (root == NULL)
		return NULL;
	msg = cJSON_GetObjectItemCaseSensitive(root, "message");
	if (!cJSON_IsString(msg))
		msg = cJSON_GetObjectItemCaseSensitive(root, "Message");
	if (cJSON_IsString(msg))
		out = claude_scrub_aws_message(pstrdup(msg->valuestring));
	cJSON_Delete(root);
	return out;
}

/*
 * The control plane's endpoint: claude.control_endpoint, or the regional
 * one (raises on a URL that does not parse; the setting's check hook
 * refuses those).
 */
static void
resolve_control_endpoint(ClaudeEndpoint *ep)
{
	resolve_service_endpoint(ep, claude_control_endpoint, "bedrock", &control_memo);
}

/*
 * What a broken exchange (no HTTP answer) means, as a problem.  model NULL:
 * a control-plane request, to claude.control_endpoint's host.
 */
static void
transport_problem(const char *operation, const char *model, const ClaudeHttpResponse *resp,
				  ClaudeProblem *p)
{
	char		host[CLAUDE_HOST_MAX + 8];
	const char *what = model ? "Bedrock" : "the Bedrock control plane";
	const char *setting = model ? "claude.endpoint" : "claude.control_endpoint";

	if (model)
	{
		ClaudeEndpoint ep;

		/* a model call under claude.bedrock_api = mantle went to bedrock-mantle's host */
		resolve_api_endpoint(&ep, strcmp(operation, "InvokeModel") == 0 &&
							 claude_bedrock_api == CLAUDE_BEDROCK_API_MANTLE ? "mantle" : NULL);
		strlcpy(host, ep.host_header, sizeof(host));
	}
	else
	{
		ClaudeEndpoint ep;

		resolve_control_endpoint(&ep);
		strlcpy(host, ep.base_url, sizeof(host));
	}

	switch (resp->curl_code)
	{
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_ISSUER_ERROR:
			claude_problem(p, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
						   psprintf("could not verify the TLS certificate of %s", host),
						   resp->curl_error,
						   "If the endpoint uses a private certificate authority, set claude.ca_file to its CA bundle.");
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
		case CURLE_SSL_CONNECT_ERROR:
			claude_problem(p, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
						   psprintf("could not connect to %s at %s", what, host),
						   psprintf("%s (after %d retries)", resp->curl_error, resp->retries),
						   psprintf("Check claude.region, %s and the network path to the endpoint.", setting));
			break;
		case CURLE_OPERATION_TIMEDOUT:
			claude_problem(p, ERRCODE_CONNECTION_FAILURE,
						   psprintf("Bedrock %s timed out", operation),
						   psprintf("%s (claude.timeout is %d ms, claude.connect_timeout %d ms; %d retries)",
									resp->curl_error, claude_timeout_ms, claude_connect_timeout_ms,
									resp->retries),
						   model ? "Raise claude.timeout for long answers, or lower max_tokens." :
						   "Raise claude.timeout, or check the network path to the endpoint.");
			break;
		default:
			claude_problem(p, ERRCODE_CONNECTION_FAILURE,
						   psprintf("connection to %s at %s failed during %s", what, host, operation),
						   psprintf("%s (after %d retries)", resp->curl_error, resp->retries), NULL);
	}
}

/*
 * A streamed answer cut short: the text that arrived before, for DETAIL
 * (what was paid for is not lost), at most 1000 bytes of it.
 */
static const char *
partial_text(const ClaudeHttpResponse *resp)
{
	const char *text = resp->partial;
	int			len;

	if (text == NULL || text[0] == '\0')
		return "";
	len = pg_mbcliplen(text, strlen(text), 1000);
	return psprintf(" Received before it failed (%zu bytes): \"%.*s\"%s", strlen(text), len, text,
					len < (int) strlen(text) ? "..." : "");
}

/* What follows AWS's message before our own sentences: it may lack its full stop. */
static const char *
sentence_end(const char *message)
{
	size_t		n = strlen(message);

	return n > 0 && strchr(".!?", message[n - 1]) ? " " : ". ";
}

/*
 * What an answer that is not a success means: the SQLSTATE of its AWS
 * error code, with code, message and request id; one function for the
 * error a scalar call raises and the text a batch row or job row keeps.
 * model NULL: a control-plane listing, which concerns no model.
 */
static void
bedrock_problem(const char *operation, const char *model, const ClaudeHttpResponse *resp,
				ClaudeProblem *p)
{
	const char *code = resp->error_type[0] ? resp->error_type : NULL;
	char	   *message;
	int			sqlstate = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
	const char *hint = NULL;
	int			i;

	/* seam: an answer in the Anthropic API's shapes is read by its provider */
	if (resp->service && strcmp(resp->service, CLAUDE_SERVICE_ANTHROPIC) == 0)
	{
		claude_anthropic_problem(operation, model, resp, p);
		return;
	}
	/* seam: Bedrock's Messages API answers its own errors in the same shapes */
	if (resp->service && strcmp(resp->service, CLAUDE_SERVICE_BEDROCK_MESSAGES) == 0 &&
		claude_bedrock_messages_problem(operation, model, resp, p))
		return;
	if (resp->curl_code != CURLE_OK)
	{
		transport_problem(operation, model, resp, p);
		if (resp->partial && resp->partial[0])
			p->detail = psprintf("%s%s", p->detail ? p->detail : "", partial_text(resp));
		return;
	}
	if (resp->unusable && resp->stream_error[0])
	{
		claude_problem(p, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
					   psprintf("Bedrock %s sent an event stream that could not be read", operation),
					   psprintf("%s.%s%s%s Request id %s, %d retries.%s",
								resp->stream_error, model ? " Model: " : "", model ? model : "",
								model ? "." : "",
								resp->request_id[0] ? resp->request_id : "(none)", resp->retries,
								partial_text(resp)),
					   "Something between the database and Bedrock may be altering answers; "
					   "set claude.stream to off to have the answer in one piece, or raise claude.max_retries.");
		return;
	}
	if (resp->unusable)
	{
		claude_problem(p, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
					   psprintf("Bedrock %s answered with a body that is not JSON", operation),
					   psprintf("%s%s%sHTTP status %ld, content type %s, %zu bytes, request id %s, %d retries.",
								model ? "Model: " : "", model ? model : "", model ? ". " : "",
								resp->status,
								resp->content_type[0] ? resp->content_type : "(none)",
								resp->body_len,
								resp->request_id[0] ? resp->request_id : "(none)",
								resp->retries),
					   psprintf("Something between the database and Bedrock (a proxy, %s) may be "
								"altering answers; claude.max_retries sets how often it is asked again.",
								model ? "claude.endpoint" : "claude.control_endpoint"));
		return;
	}

	message = claude_bedrock_error_message(resp);
	for (i = 0; code && i < (int) lengthof(aws_error_map); i++)
	{
		if (strcmp(code, aws_error_map[i].code) == 0)
		{
			sqlstate = aws_error_map[i].sqlstate;
			/* a listing names no model: only the signing and quota hints apply */
			if (model || sqlstate == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION ||
				sqlstate == ERRCODE_EXTERNAL_ROUTINE_EXCEPTION)
				hint = aws_error_map[i].hint;
			break;
		}
	}
	if (model == NULL && sqlstate == ERRCODE_INSUFFICIENT_PRIVILEGE)
		hint = psprintf("Check that the IAM identity may call bedrock:%s in claude.region.", operation);
	/* past its end of life: the catalogue knows what replaces it */
	if (message && strstr(message, "end of its life") && model && model[0])
	{
		const ClaudeModelInfo *info = claude_model_info(model);

		hint = info->successor ?
			psprintf("Model \"%s\" is past its end of life; claude.models names \"%s\" as its successor "
					 "(set claude.model or pass model).", model, info->successor) :
			"The model is past its end of life; choose a current one (see claude.models).";
	}
	claude_problem(p, sqlstate,
				   psprintf("Bedrock %s failed: %s", operation,
							code ? code : psprintf("HTTP %ld", resp->status)),
				   psprintf("%s%s%s%s%sHTTP status %ld, request id %s, %d retries.",
							message ? message : "", message ? sentence_end(message) : "",
							model ? "Model: " : "", model ? model : "", model ? ". " : "",
							resp->status,
							resp->request_id[0] ? resp->request_id : "(none)",
							resp->retries),
				   hint);
	if (resp->partial && resp->partial[0])
		p->detail = psprintf("%s%s", p->detail, partial_text(resp));
}

void
claude_bedrock_raise(const char *operation, const char *model,
					 const ClaudeHttpResponse *resp)
{
	ClaudeProblem p;

	bedrock_problem(operation, model, resp, &p);
	claude_problem_raise(&p);
}

/* The same, as text for a row of a batch or a job: "message (detail)". */
char *
claude_bedrock_error_text(const char *operation, const char *model,
						  const ClaudeHttpResponse *resp)
{
	ClaudeProblem p;

	bedrock_problem(operation, model, resp, &p);
	return p.detail ? psprintf("%s (%s)", p.message, p.detail) : pstrdup(p.message);
}

static char *
control_call(const char *method, const char *operation, const char *path, const char *query,
			 const char *body, ClaudeProblem *problem)
{
	SignContext *ctx = palloc0(sizeof(SignContext));
	ClaudeHttpRequest req;
	ClaudeHttpResponse resp;
	ClaudeEndpoint ep;

	resolve_control_endpoint(&ep);
	ctx->answer_cxt = CurrentMemoryContext;
	ctx->method = method;
	ctx->path = psprintf("%s%s", ep.path_prefix, path);
	ctx->query = query;
	ctx->host_header = pstrdup(ep.host_header);
	ctx->body = body;
	ctx->body_len = strlen(body);
	ctx->operation = operation;
	ctx->model = "";
	claude_http_request_init(&req, method, psprintf("%s://%s%s%s%s", ep.https ? "https" : "http",
												   ep.host_header, ctx->path, query ? "?" : "",
												   query ? query : ""));
	if (strcmp(method, "POST") == 0)
	{
		req.body = body;
		req.body_len = strlen(body);
	}
	req.prepare = sign_attempt;
	req.prepare_arg = ctx;
	req.refresh_credentials = refresh_after_expiry;
	req.usable = answer_is_json;
	claude_aws_response_setup(&req);
	claude_http_execute(&req, &resp);
	if (!claude_bedrock_ok(&resp))
	{
		bedrock_problem(operation, NULL, &resp, problem);
		return NULL;
	}
	return resp.body;
}

char *
claude_bedrock_control_get(const char *operation, const char *path, const char *query,
						   ClaudeProblem *problem)
{
	return control_call("GET", operation, path, query, "", problem);
}

/* Batch inference's Create and Stop (job_batch.c): a JSON body, the same signer. */
char *
claude_bedrock_control_post(const char *operation, const char *path, const char *body,
							ClaudeProblem *problem)
{
	return control_call("POST", operation, path, NULL, body, problem);
}

/* The residency check alone, with the current settings (for work queued now, sent later). */
void
claude_bedrock_check_residency(const ClaudeCallContext *cc, const char *model)
{
	ClaudeEndpoint ep;

	if (claude_provider_is_anthropic(cc))
	{
		(void) enforce_residency(cc, "InvokeModel", model, claude_anthropic_host());
		return;
	}
	resolve_endpoint(&ep);
	(void) enforce_residency(cc, "InvokeModel", model,
							 claude_endpoint && claude_endpoint[0] ? ep.host : NULL);
}
