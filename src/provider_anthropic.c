/*-------------------------------------------------------------------------
 *
 * provider_anthropic.c
 *	  Anthropic's own API as a provider: where its requests go, how they
 *	  are authenticated and shaped, where they are processed, and what its
 *	  errors mean (doc/providers.md).  The pipeline is bedrock.c's.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "endpoint.h"
#include "guc.h"
#include "provider.h"
#include "retry.h"

#define ANTHROPIC_DEFAULT_URL "https://api.anthropic.com"
#define ANTHROPIC_API_VERSION "2023-06-01"
#define ANTHROPIC_KEY_ENV "ANTHROPIC_API_KEY"
#define ANTHROPIC_KEY_MAX 512

/* Longest wait a retry-after may ask for that is honoured whole. */
#define RETRY_AFTER_MAX_MS 60000

/*
 * Anthropic error types (doc/providers.md), by the HTTP status that
 * carries each, and the SQLSTATE of Bedrock's equivalent (bedrock.c).
 */
static const struct
{
	long		status;
	const char *type;
	int			sqlstate;
	const char *hint;
}			anthropic_errors[] =
{
	{400, "invalid_request_error", ERRCODE_INVALID_PARAMETER_VALUE,
	"Check the model (claude.model or the model argument) and the request body."},
	{401, "authentication_error", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
	"Check the API key in the server's ANTHROPIC_API_KEY or claude.anthropic_api_key_file."},
	{403, "permission_error", ERRCODE_INSUFFICIENT_PRIVILEGE,
	"Check that the API key's workspace may use this model."},
	{404, "not_found_error", ERRCODE_UNDEFINED_OBJECT,
	"Check that the model exists on the Anthropic API (claude.models lists Bedrock ids; see doc/providers.md)."},
	{413, "request_too_large", ERRCODE_INVALID_PARAMETER_VALUE,
	"The request is larger than the API accepts; send less input."},
	{429, "rate_limit_error", ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
	"The Anthropic API rate-limited the request after all retries; lower the request rate or raise claude.max_retries."},
	{500, "api_error", ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, NULL},
	{529, "overloaded_error", ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
	"The Anthropic API was overloaded after all retries; try again later or raise claude.max_retries."},
};

static const char *
error_type_of_status(long status)
{
	int			i;

	for (i = 0; i < (int) lengthof(anthropic_errors); i++)
		if (anthropic_errors[i].status == status)
			return anthropic_errors[i].type;
	return status >= 500 ? "api_error" : "invalid_request_error";
}

/* ---------------------------------------------------------------------
 * Models
 * --------------------------------------------------------------------- */

/*
 * claude.model stays a Bedrock id (the catalogue's): the API id is what
 * is left without an ARN's path, a geography prefix, "anthropic." and a
 * "-v1:0" / "-v1" version.  An id without "anthropic." is taken as an API
 * id already ("claude-opus-4-6").
 */
char *
claude_anthropic_model_id(const char *model)
{
	const char *id = model;
	const char *p;
	char	   *out;
	size_t		n;

	if (strncmp(id, "arn:", 4) == 0 && (p = strrchr(id, '/')) != NULL)
		id = p + 1;
	p = strstr(id, "anthropic.");
	if (p == NULL)
		return pstrdup(id);
	out = pstrdup(p + strlen("anthropic."));
	n = strlen(out);
	if (n > 5 && strcmp(out + n - 5, "-v1:0") == 0)
		out[n - 5] = '\0';
	else if (n > 3 && strcmp(out + n - 3, "-v1") == 0)
		out[n - 3] = '\0';
	return out;
}

/*
 * inference_geo is honoured by Opus 4.6 and the models after it; older
 * ones refuse the field.  The generation is the "-N[-M]" after the family
 * name (a date suffix is not a minor version).
 */
bool
claude_anthropic_us_capable(const char *api_model)
{
	const char *p;
	int			major = 0;
	int			minor = 0;

	if (strncmp(api_model, "claude-", 7) != 0)
		return false;
	p = strchr(api_model + 7, '-');
	if (p == NULL || !isdigit((unsigned char) p[1]))
		return false;				/* claude-3-haiku: the 3 family and older */
	major = atoi(p + 1);
	p = strchr(p + 1, '-');
	if (p && isdigit((unsigned char) p[1]) && strspn(p + 1, "0123456789") <= 2)
		minor = atoi(p + 1);
	return major > 4 || (major == 4 && minor >= 6);
}

/* ---------------------------------------------------------------------
 * Residency
 * --------------------------------------------------------------------- */

void
claude_anthropic_judge(const char *model, ClaudeResidencyVerdict *v)
{
	char	   *api_model = claude_anthropic_model_id(model);

	memset(v, 0, sizeof(*v));
	if (strcmp(claude_residency, "none") == 0)
	{
		v->allowed = true;
		strlcpy(v->geography, "global", sizeof(v->geography));
		strlcpy(v->processed_in, "global (Anthropic API)", sizeof(v->processed_in));
		strlcpy(v->reason, "The Anthropic API processes the request wherever Anthropic runs it, "
				"in any country; its workspace storage is in the United States only",
				sizeof(v->reason));
		return;
	}
	if (strcmp(claude_residency, "us") == 0 && claude_anthropic_us_capable(api_model))
	{
		v->allowed = true;
		strlcpy(v->geography, "us", sizeof(v->geography));
		strlcpy(v->processed_in, "us (Anthropic API, inference_geo us)", sizeof(v->processed_in));
		strlcpy(v->reason, "The Anthropic API processes the request in the United States "
				"(inference_geo \"us\"); its workspace storage is in the United States only",
				sizeof(v->reason));
		return;
	}
	v->allowed = false;
	if (strcmp(claude_residency, "us") == 0)
	{
		strlcpy(v->geography, "global", sizeof(v->geography));
		strlcpy(v->processed_in, "global (Anthropic API)", sizeof(v->processed_in));
		snprintf(v->reason, sizeof(v->reason),
				 "model %s cannot be kept in the United States on the Anthropic API: "
				 "inference_geo is honoured by Opus 4.6 and later models only", api_model);
		strlcpy(v->hint, "Choose a newer model (claude.model), or set claude.provider = bedrock "
				"and use a us. inference profile.", sizeof(v->hint));
		return;
	}
	strlcpy(v->geography, "us", sizeof(v->geography));
	strlcpy(v->processed_in, "us or global (Anthropic API)", sizeof(v->processed_in));
	snprintf(v->reason, sizeof(v->reason),
			 "the Anthropic API processes requests in the United States or globally; "
			 "%s is not a choice it offers (its workspace storage is in the United States only)",
			 strcmp(claude_residency, "au") == 0 ? "Australia" :
			 strcmp(claude_residency, "region") == 0 ? "a single AWS region" : "that geography");
	strlcpy(v->hint, "Set claude.provider = bedrock to keep requests within claude.residency, "
			"or claude.residency = us or none to allow the Anthropic API.", sizeof(v->hint));
}

/* ---------------------------------------------------------------------
 * Endpoint and API key
 * --------------------------------------------------------------------- */

static void
resolve_anthropic_endpoint(ClaudeEndpoint *ep)
{
	const char *url = claude_anthropic_endpoint && claude_anthropic_endpoint[0] ?
		claude_anthropic_endpoint : ANTHROPIC_DEFAULT_URL;
	const char *why;

	if (!claude_endpoint_parse(url, ep, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid Anthropic API endpoint \"%s\"", url),
				 errdetail("%s", why),
				 errhint("Correct claude.anthropic_endpoint.")));
}

char *
claude_anthropic_host(void)
{
	ClaudeEndpoint ep;

	resolve_anthropic_endpoint(&ep);
	return pstrdup(ep.host);
}

/*
 * The key from claude.anthropic_api_key_file (when set) or the postmaster's
 * environment, palloc'd (the caller zeroes it), or NULL.  Like ssh with a
 * private key, a file others may read is refused: the key is as good as
 * published.
 */
static char *
read_key(const char **source)
{
	const char *path = claude_anthropic_api_key_file;
	char	   *key;
	struct stat st;
	int			fd;
	ssize_t		n;

	if (path == NULL || path[0] == '\0')
	{
		const char *env = getenv(ANTHROPIC_KEY_ENV);

		*source = "environment (" ANTHROPIC_KEY_ENV ")";
		return env && env[0] ? pstrdup(env) : NULL;
	}
	*source = psprintf("file %s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the Anthropic API key file \"%s\": %m", path),
				 errhint("Check claude.anthropic_api_key_file; the file must be readable by the server's operating system user.")));
	if (fstat(fd, &st) != 0 || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the Anthropic API key file \"%s\" is accessible by others", path),
				 errdetail("Its permissions are %04o; a key others can read is not used.",
						   (unsigned) (st.st_mode & 07777)),
				 errhint("chmod 600 the file (owned by the server's user).")));
	}
	key = palloc0(ANTHROPIC_KEY_MAX + 1);
	n = read(fd, key, ANTHROPIC_KEY_MAX);
	close(fd);
	if (n < 0)
		n = 0;
	key[n] = '\0';
	/* one line: trailing white space (the editor's newline) is not the key's */
	while (n > 0 && isspace((unsigned char) key[n - 1]))
		key[--n] = '\0';
	if (n == 0)
	{
		pfree(key);
		return NULL;
	}
	return key;
}

static char *
require_key(void)
{
	const char *source;
	char	   *key = read_key(&source);

	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no Anthropic API key"),
				 errdetail("claude.provider is anthropic, and %s holds no key.", source),
				 errhint("Set ANTHROPIC_API_KEY in the server's environment, or name a file with claude.anthropic_api_key_file.")));
	return key;
}

void
claude_anthropic_ready(void)
{
	char	   *key = require_key();

	explicit_bzero(key, strlen(key));
	pfree(key);
}

const char *
claude_anthropic_key_source(char **masked)
{
	const char *source;
	char	   *key = read_key(&source);
	size_t		n;

	if (key == NULL)
	{
		*masked = NULL;
		return source;
	}
	/* four characters each end and a fixed middle: not even the length shows */
	n = strlen(key);
	*masked = n <= 12 ? pstrdup("****") :
		psprintf("%.4s****%s", key, key + n - 4);
	explicit_bzero(key, n);
	pfree(key);
	return source;
}

/* ---------------------------------------------------------------------
 * Requests
 * --------------------------------------------------------------------- */

/* Fields the count_tokens endpoint refuses: they shape an answer, not input. */
static const char *const not_counted[] = {
	"max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "metadata",
	"inference_geo", "service_tier",
};

char *
claude_anthropic_shape_body(const char *operation, const char *model, const char *geography,
							const char *body)
{
	cJSON	   *root = cJSON_Parse(body);
	char	   *text;
	char	   *out;
	int			i;

	if (root == NULL || !cJSON_IsObject(root))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request body is not a JSON object"),
				 errhint("Pass an Anthropic Messages request body.")));
	/* Bedrock's version field is Bedrock's: the API takes a header */
	cJSON_DeleteItemFromObjectCaseSensitive(root, "anthropic_version");
	cJSON_DeleteItemFromObjectCaseSensitive(root, "model");
	cJSON_AddStringToObject(root, "model", claude_anthropic_model_id(model));
	cJSON_DeleteItemFromObjectCaseSensitive(root, "inference_geo");
	if (strcmp(operation, "CountTokens") == 0)
	{
		for (i = 0; i < (int) lengthof(not_counted); i++)
			cJSON_DeleteItemFromObjectCaseSensitive(root, not_counted[i]);
	}
	else if (strcmp(geography, "us") == 0)
		cJSON_AddStringToObject(root, "inference_geo", "us");	/* residency us: doc/providers.md */
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (text == NULL)
		elog(ERROR, "out of memory");
	out = pstrdup(text);
	cJSON_free(text);
	return out;
}

/* Headers of one attempt: the key, read again each time (the file may be rotated). */
static struct curl_slist *
anthropic_headers(void *arg, int attempt, const ClaudeHttpResponse *prev)
{
	struct curl_slist *list = NULL;
	char	   *key = require_key();
	char	   *line = psprintf("x-api-key: %s", key);

	list = claude_http_append_header(list, "Content-Type: application/json");
	list = claude_http_append_header(list, "Accept: application/json");
	list = claude_http_append_header(list, "anthropic-version: " ANTHROPIC_API_VERSION);
	list = claude_http_append_header(list, line);
	explicit_bzero(line, strlen(line));
	explicit_bzero(key, strlen(key));
	pfree(line);
	pfree(key);
	return list;
}

enum
{
	H_REQUEST_ID,
	H_RETRY_AFTER,
	H_COUNT
};

static const char *const anthropic_capture[H_COUNT + 1] = {
	[H_REQUEST_ID] = "request-id",
	[H_RETRY_AFTER] = "retry-after",
	[H_COUNT] = NULL
};

/*
 * The body is not read yet here: an error's type is the one its status
 * carries (the body's own, when it differs, is in the error's detail).
 */
static void
read_anthropic_response(ClaudeHttpResponse *resp)
{
	const char *after = resp->captured[H_RETRY_AFTER];

	resp->service = CLAUDE_SERVICE_ANTHROPIC;
	strlcpy(resp->request_id, resp->captured[H_REQUEST_ID], sizeof(resp->request_id));
	resp->error_type[0] = '\0';
	if (resp->curl_code == CURLE_OK && resp->status != 0 &&
		(resp->status < 200 || resp->status >= 300))
		strlcpy(resp->error_type, error_type_of_status(resp->status), sizeof(resp->error_type));
	/* seconds (the API's form); an HTTP date is not waited for beyond the backoff */
	resp->retry_after_ms = 0;
	if (after[0] && strspn(after, "0123456789.") == strlen(after))
		resp->retry_after_ms = Min((long) (strtod(after, NULL) * 1000.0), RETRY_AFTER_MAX_MS);
	/* no token headers: the body's usage block counts (bedrock.c's audit) */
	resp->input_tokens = resp->output_tokens = -1;
	resp->cache_read_tokens = resp->cache_write_tokens = -1;
}

static ClaudeRetry
anthropic_retry_policy(const ClaudeHttpResponse *resp)
{
	if (resp->curl_code == CURLE_OK && (resp->status == 429 || resp->status == 529))
		return CLAUDE_RETRY_THROTTLED;
	return claude_retry_http(resp->status, resp->curl_code, resp->unusable);
}

void
claude_anthropic_request(ClaudeHttpRequest *req, const char *operation,
						 const char *body, size_t body_len)
{
	ClaudeEndpoint ep;
	const char *path = strcmp(operation, "CountTokens") == 0 ?
		"/v1/messages/count_tokens" : "/v1/messages";

	resolve_anthropic_endpoint(&ep);
	claude_http_request_init(req, "POST",
							 psprintf("%s://%s%s%s", ep.https ? "https" : "http",
									  ep.host_header, ep.path_prefix, path));
	req->body = body;
	req->body_len = body_len;
	req->prepare = anthropic_headers;	/* its arg is the caller's (the audit's) */
	req->capture_headers = anthropic_capture;
	req->read_response = read_anthropic_response;
	req->retry_policy = anthropic_retry_policy;
}

/*
 * A create is tried again only when its answer proves no batch was made:
 * a rate limit or an overloaded API (the request was turned away), or no
 * connection at all.  The API takes no idempotency key, so anything else
 * (a timeout, a reset, a 500) may have made one; job_batch.c then looks
 * for it before sending another.
 */
static ClaudeRetry
create_retry_policy(const ClaudeHttpResponse *resp)
{
	if (resp->curl_code == CURLE_OK)
		return resp->status == 429 || resp->status == 529 ? CLAUDE_RETRY_THROTTLED : CLAUDE_RETRY_NO;
	return resp->curl_code == CURLE_COULDNT_CONNECT || resp->curl_code == CURLE_COULDNT_RESOLVE_HOST ?
		CLAUDE_RETRY : CLAUDE_RETRY_NO;
}

char *
claude_anthropic_batches_call(const char *method, const char *operation, const char *path,
							  const char *body, bool *maybe_made, ClaudeProblem *problem)
{
	ClaudeEndpoint ep;
	ClaudeHttpRequest req;
	ClaudeHttpResponse resp;
	bool		create = strcmp(operation, CLAUDE_ANTHROPIC_BATCH_CREATE) == 0;

	resolve_anthropic_endpoint(&ep);
	claude_http_request_init(&req, method,
							 psprintf("%s://%s%s%s", ep.https ? "https" : "http",
									  ep.host_header, ep.path_prefix, path));
	if (body != NULL)
	{
		req.body = body;
		req.body_len = strlen(body);
	}
	req.prepare = anthropic_headers;
	req.capture_headers = anthropic_capture;
	req.read_response = read_anthropic_response;
	req.retry_policy = create ? create_retry_policy : anthropic_retry_policy;
	claude_http_execute(&req, &resp);
	if (maybe_made)
		*maybe_made = false;
	if (resp.curl_code == CURLE_OK && resp.status >= 200 && resp.status < 300)
		return resp.body;
	if (maybe_made && create)
		*maybe_made = resp.curl_code != CURLE_OK ?
			(resp.curl_code != CURLE_COULDNT_CONNECT && resp.curl_code != CURLE_COULDNT_RESOLVE_HOST) :
			(resp.status >= 500 && resp.status != 529);
	claude_anthropic_problem(operation, NULL, &resp, problem);
	return NULL;
}

/* ---------------------------------------------------------------------
 * Errors
 * --------------------------------------------------------------------- */

/* {"type": "error", "error": {"type", "message"}}: the inner type and message. */
void
claude_anthropic_error_body(const ClaudeHttpResponse *resp, char **type, char **message)
{
	cJSON	   *root;
	const cJSON *err;
	const cJSON *t;
	const cJSON *m;

	*type = *message = NULL;
	if (resp->body == NULL || resp->body_len == 0)
		return;
	root = cJSON_ParseWithLength(resp->body, resp->body_len);
	err = root ? cJSON_GetObjectItemCaseSensitive(root, "error") : NULL;
	t = err ? cJSON_GetObjectItemCaseSensitive(err, "type") : NULL;
	m = err ? cJSON_GetObjectItemCaseSensitive(err, "message") : NULL;
	if (cJSON_IsString(t))
		*type = pstrdup(t->valuestring);
	if (cJSON_IsString(m))
		*message = pstrdup(m->valuestring);
	cJSON_Delete(root);
}

int
claude_anthropic_error_sqlstate(const char *type)
{
	int			i;

	for (i = 0; i < (int) lengthof(anthropic_errors); i++)
		if (strcmp(type, anthropic_errors[i].type) == 0)
			return anthropic_errors[i].sqlstate;
	return ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
}

void
claude_anthropic_problem(const char *operation, const char *model,
						 const ClaudeHttpResponse *resp, ClaudeProblem *p)
{
	char	   *type;
	char	   *message;
	char	   *host = claude_anthropic_host();
	const char *api_model = model && model[0] ? claude_anthropic_model_id(model) : NULL;
	int			sqlstate = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
	const char *hint = NULL;
	int			i;

	if (resp->curl_code != CURLE_OK)
	{
		claude_problem(p, resp->curl_code == CURLE_OPERATION_TIMEDOUT ?
					   ERRCODE_CONNECTION_FAILURE : ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
					   psprintf("could not reach the Anthropic API at %s during %s", host, operation),
					   psprintf("%s (after %d retries)", resp->curl_error, resp->retries),
					   "Check claude.anthropic_endpoint, claude.timeout and the network path to the endpoint.");
		return;
	}
	if (resp->unusable)
	{
		claude_problem(p, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
					   psprintf("the Anthropic API answered %s with a body that is not JSON", operation),
					   psprintf("HTTP status %ld, request id %s, %d retries.", resp->status,
								resp->request_id[0] ? resp->request_id : "(none)", resp->retries),
					   "Something between the database and the API (a proxy, claude.anthropic_endpoint) may be altering answers.");
		return;
	}
	claude_anthropic_error_body(resp, &type, &message);
	if (type == NULL)
		type = pstrdup(resp->error_type[0] ? resp->error_type : error_type_of_status(resp->status));
	for (i = 0; i < (int) lengthof(anthropic_errors); i++)
	{
		if (strcmp(type, anthropic_errors[i].type) == 0)
		{
			sqlstate = anthropic_errors[i].sqlstate;
			hint = anthropic_errors[i].hint;
			break;
		}
	}
	claude_problem(p, sqlstate,
				   psprintf("Anthropic API %s failed: %s", operation, type),
				   psprintf("%s%s%s%s%sHTTP status %ld, request id %s, %d retries.",
							message ? message : "",
							message && message[0] && !strchr(".!?", message[strlen(message) - 1]) ? ". " :
							message ? " " : "",
							api_model ? "Model: " : "", api_model ? api_model : "",
							api_model ? ". " : "",
							resp->status,
							resp->request_id[0] ? resp->request_id : "(none)",
							resp->retries),
				   hint);
}
