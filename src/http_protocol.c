/*-------------------------------------------------------------------------
 *
 * http_protocol.c
 *	  Which HTTP version to ask each endpoint for, and whether a new
 *	  transfer should wait for a connection it might share: what this
 *	  backend learnt from the endpoint's earlier answers.
 *
 * Asking for HTTP/2 with CURLOPT_PIPEWAIT makes libcurl hold every transfer
 * but the first until it knows whether the first connection multiplexes.
 * Over TLS it knows once ALPN is done; in cleartext only when the first
 * answer arrives, which turned a batch's first wave into one request
 * followed by the rest a whole latency later (doc/architecture.md,
 * "Transport").  So cleartext URLs get HTTP/1.1 and no waiting (h2c is
 * never used), and an https endpoint gets PIPEWAIT only while it is
 * unknown or known to speak HTTP/2: once it has answered in HTTP/1.1, the
 * first wave opens its connections at once.  The knowledge is kept per
 * origin (scheme, host and port) for the life of the backend, because
 * libcurl's own is lost when the endpoint's last connection closes.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "http_protocol.h"

/* Few endpoints per backend: Bedrock, its control plane, STS, IMDS. */
#define MAX_ORIGINS 16
#define MAX_ORIGIN_LEN 256

typedef enum OriginProtocol
{
	ORIGIN_UNKNOWN = 0,
	ORIGIN_HTTP1,
	ORIGIN_HTTP2
} OriginProtocol;

typedef struct KnownOrigin
{
	char		origin[MAX_ORIGIN_LEN];
	OriginProtocol protocol;
} KnownOrigin;

static KnownOrigin known[MAX_ORIGINS];
static int	nknown = 0;
static int	next_victim = 0;

/*
 * The URL's origin, "scheme://authority", lower-cased into buf; false when
 * it does not fit (such a URL is simply never remembered).
 */
static bool
url_origin(const char *url, char *buf, size_t buflen)
{
	const char *sep = strstr(url, "://");
	size_t		len;

	if (sep == NULL)
		return false;
	len = (sep - url) + 3 + strcspn(sep + 3, "/?#");
	if (len >= buflen)
		return false;
	for (size_t i = 0; i < len; i++)
		buf[i] = pg_tolower((unsigned char) url[i]);
	buf[len] = '\0';
	return true;
}

static KnownOrigin *
origin_lookup(const char *origin)
{
	for (int i = 0; i < nknown; i++)
		if (strcmp(known[i].origin, origin) == 0)
			return &known[i];
	return NULL;
}

void
claude_http_protocol_choose(const char *url, long *http_version, bool *pipewait)
{
	char		origin[MAX_ORIGIN_LEN];
	KnownOrigin *k;

	if (pg_strncasecmp(url, "https:", 6) != 0)
	{
		*http_version = CURL_HTTP_VERSION_1_1;
		*pipewait = false;
		return;
	}

	/*
	 * h2 is still offered to a known HTTP/1.1 endpoint, so one that starts
	 * speaking it is noticed; only the waiting is dropped.
	 */
	*http_version = CURL_HTTP_VERSION_2TLS;
	k = url_origin(url, origin, sizeof(origin)) ? origin_lookup(origin) : NULL;
	*pipewait = (k == NULL || k->protocol != ORIGIN_HTTP1);
}

void
claude_http_protocol_learn(const char *url, long curl_http_version)
{
	char		origin[MAX_ORIGIN_LEN];
	OriginProtocol protocol;
	KnownOrigin *k;

	if (curl_http_version == CURL_HTTP_VERSION_2_0)
		protocol = ORIGIN_HTTP2;
	else if (curl_http_version == CURL_HTTP_VERSION_1_1 ||
			 curl_http_version == CURL_HTTP_VERSION_1_0)
		protocol = ORIGIN_HTTP1;
	else
		return;					/* no answer, or a version we never ask for */
	if (pg_strncasecmp(url, "https:", 6) != 0 || !url_origin(url, origin, sizeof(origin)))
		return;
	k = origin_lookup(origin);
	if (k == NULL)
	{
		if (nknown < MAX_ORIGINS)
			k = &known[nknown++];
		else
		{
			k = &known[next_victim];
			next_victim = (next_victim + 1) % MAX_ORIGINS;
		}
		strlcpy(k->origin, origin, sizeof(k->origin));
	}
	k->protocol = protocol;
}
