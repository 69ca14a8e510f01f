/*-------------------------------------------------------------------------
 *
 * metadata.c
 *	  Credentials from the platform: EC2 instance metadata (IMDSv2 only)
 *	  and the container credential endpoint (ECS, EKS Pod Identity).
 *
 * Both follow botocore's fetchers (botocore/utils.py): IMDSv2 is a PUT for
 * a session token, then the role name, then the role's credentials, with a
 * one second budget per request and a single attempt, since on a machine
 * that is not an EC2 instance the address simply does not answer.  The
 * container endpoint is trusted only over https or on a loopback or
 * link-local container address, as botocore insists.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "aws_util.h"
#include "endpoint.h"
#include "http.h"
#include "metadata.h"

#define IMDS_DEFAULT_ENDPOINT		"http://169.254.169.254"
#define IMDS_DEFAULT_ENDPOINT_IPV6	"http://[fd00:ec2::254]"
#define IMDS_TIMEOUT_MS				1000
#define IMDS_TOKEN_TTL				"21600"
#define IMDS_CREDENTIALS_PATH		"/latest/meta-data/iam/security-credentials/"

#define CONTAINER_HOST				"http://169.254.170.2"
#define CONTAINER_TIMEOUT_MS		2000

/* Hosts a plain-http container credential URI may name (botocore's list). */
static const char *const container_hosts[] = {
	"169.254.170.2",			/* ECS */
	"169.254.170.23",			/* EKS Pod Identity */
	"fd00:ec2::23",				/* EKS Pod Identity, IPv6 */
};

/* GET or PUT with fixed headers, within a metadata budget. */
static void
metadata_request(const char *method, const char *url, const char *const *headers,
				 int timeout_ms, int retries, ClaudeHttpResponse *resp)
{
	ClaudeHttpRequest req;

	claude_http_request_init(&req, method, url);
	claude_http_fixed_headers(&req, headers);
	req.timeout_ms = timeout_ms;
	req.connect_timeout_ms = timeout_ms;
	req.max_retries = retries;
	if (strcmp(method, "PUT") == 0)
	{
		req.body = "";
		req.body_len = 0;
	}
	claude_http_execute(&req, resp);
}

bool
claude_imds_credentials(ClaudeCredentials *out, StringInfo why)
{
	const char *disabled = getenv("AWS_EC2_METADATA_DISABLED");
	const char *endpoint = claude_getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = claude_getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	char	   *base;
	char	   *token_header;
	char	   *role;
	ClaudeHttpResponse resp;
	const char *token_headers[] = {"X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL, NULL};
	const char *get_headers[2] = {NULL, NULL};

	if (disabled && pg_strcasecmp(disabled, "true") == 0)
	{
		appendStringInfoString(why, "instance metadata: disabled by AWS_EC2_METADATA_DISABLED");
		return false;
	}
	if (endpoint)
		base = pstrdup(endpoint);
	else
		base = pstrdup(mode && pg_strcasecmp(mode, "IPv6") == 0 ?
					   IMDS_DEFAULT_ENDPOINT_IPV6 : IMDS_DEFAULT_ENDPOINT);
	while (base[0] && base[strlen(base) - 1] == '/')
		base[strlen(base) - 1] = '\0';

	/* 1. a session token (IMDSv2; v1 is never used) */
	metadata_request("PUT", psprintf("%s/latest/api/token", base), token_headers,
					 IMDS_TIMEOUT_MS, 0, &resp);
	if (resp.curl_code != CURLE_OK || resp.status != 200 || resp.body_len == 0)
	{
		appendStringInfo(why, "instance metadata (%s): %s", base,
						 resp.curl_code != CURLE_OK ? resp.curl_error :
						 psprintf("token request answered HTTP %ld", resp.status));
		return false;
	}
	token_header = psprintf("X-aws-ec2-metadata-token: %s", resp.body);
	explicit_bzero(resp.body, resp.body_len);
	get_headers[0] = token_header;

	/* 2. the instance's role */
	metadata_request("GET", psprintf("%s%s", base, IMDS_CREDENTIALS_PATH), get_headers,
					 IMDS_TIMEOUT_MS, 0, &resp);
	if (resp.curl_code != CURLE_OK || resp.status != 200 || resp.body_len == 0)
	{
		explicit_bzero(token_header, strlen(token_header));
		appendStringInfo(why, "instance metadata (%s): %s", base,
						 resp.curl_code != CURLE_OK ? resp.curl_error :
						 resp.status == 404 ? "no IAM role attached to the instance" :
						 psprintf("role request answered HTTP %ld", resp.status));
		return false;
	}
	role = pstrdup(resp.body);
	if (strchr(role, '\n'))
		*strchr(role, '\n') = '\0';

	/* 3. the role's credentials */
	metadata_request("GET", psprintf("%s%s%s", base, IMDS_CREDENTIALS_PATH, role), get_headers,
					 IMDS_TIMEOUT_MS, 0, &resp);
	explicit_bzero(token_header, strlen(token_header));
	if (resp.curl_code != CURLE_OK || resp.status != 200 ||
		!claude_parse_credentials_json(resp.body, CLAUDE_CREDENTIALS_JSON_METADATA, out, NULL))
	{
		appendStringInfo(why, "instance metadata (%s): %s", base,
						 resp.curl_code != CURLE_OK ? resp.curl_error :
						 psprintf("credentials for role \"%s\" unavailable (HTTP %ld)", role, resp.status));
		if (resp.body)
			explicit_bzero(resp.body, resp.body_len);
		return false;
	}
	explicit_bzero(resp.body, resp.body_len);
	snprintf(out->provider, sizeof(out->provider), "instance metadata (IMDSv2, %s)", base);
	strlcpy(out->role_arn, role, sizeof(out->role_arn));
	return true;
}

/* botocore's rule: https anywhere; http only on loopback or the container hosts. */
static bool
container_uri_allowed(const char *uri)
{
	ClaudeEndpoint ep;
	const char *why;
	int			i;

	if (pg_strncasecmp(uri, "https://", 8) == 0)
		return true;
	if (pg_strncasecmp(uri, "http://", 7) != 0)
		return false;
	/* parse as if https to get the host, then judge it */
	{
		char	   *as_https = psprintf("https://%s", uri + 7);
		char	   *q = strchr(as_https + 8, '/');

		if (q)
			*q = '\0';			/* the host and port only */
		if (!claude_endpoint_parse(as_https, &ep, &why))
			return false;
	}
	if (claude_host_is_loopback(ep.host))
		return true;
	for (i = 0; i < (int) lengthof(container_hosts); i++)
		if (strcmp(ep.host, container_hosts[i]) == 0)
			return true;
	return false;
}

/* The authorization token: from its file (re-read each time) or the variable. */
static char *
container_auth_token(void)
{
	const char *file = claude_getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *value = claude_getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	char	   *token = NULL;

	if (file)
	{
		FILE	   *f = fopen(file, "r");
		char		buf[8192];
		size_t		n;

		if (f == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("could not read the container authorization token file \"%s\": %m", file)));
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		token = pstrdup(buf);
		explicit_bzero(buf, sizeof(buf));
	}
	else if (value)
		token = pstrdup(value);

	if (token && strpbrk(token, "\r\n"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the container authorization token contains a line break")));
	return token;
}

bool
claude_container_credentials(ClaudeCredentials *out, StringInfo why)
{
	const char *relative = claude_getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = claude_getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	char	   *uri;
	char	   *token;
	char	   *auth_line = NULL;
	const char *headers[3] = {"Accept: application/json", NULL, NULL};
	ClaudeHttpResponse resp;
	char	   *role_arn = NULL;

	if (relative == NULL && full == NULL)
	{
		appendStringInfoString(why, "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
							   "AWS_CONTAINER_CREDENTIALS_FULL_URI are not set");
		return false;
	}
	uri = relative ? psprintf("%s%s", CONTAINER_HOST, relative) : pstrdup(full);
	if (!relative && !container_uri_allowed(uri))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("refusing container credentials from \"%s\"", uri),
				 errdetail("AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, or http on a loopback address "
						   "or 169.254.170.2, 169.254.170.23 or fd00:ec2::23.")));

	token = container_auth_token();
	if (token)
	{
		auth_line = psprintf("Authorization: %s", token);
		headers[1] = auth_line;
		explicit_bzero(token, strlen(token));
	}

	/* botocore: two seconds, three attempts */
	PG_TRY();
	{
		metadata_request("GET", uri, headers, CONTAINER_TIMEOUT_MS, 2, &resp);
	}
	PG_FINALLY();
	{
		if (auth_line)
			explicit_bzero(auth_line, strlen(auth_line));
	}
	PG_END_TRY();

	if (resp.curl_code != CURLE_OK || resp.status != 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not get credentials from the container endpoint %s", uri),
				 errdetail_internal("%s", resp.curl_code != CURLE_OK ? resp.curl_error :
									psprintf("HTTP %ld", resp.status)),
				 errhint("Check AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI and the authorization token.")));
	if (!claude_parse_credentials_json(resp.body, CLAUDE_CREDENTIALS_JSON_METADATA, out, &role_arn))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the container endpoint %s returned no credentials", uri)));
	explicit_bzero(resp.body, resp.body_len);
	snprintf(out->provider, sizeof(out->provider), "container (%s)", uri);
	if (role_arn)
		strlcpy(out->role_arn, role_arn, sizeof(out->role_arn));
	return true;
}
