/*-------------------------------------------------------------------------
 *
 * http_protocol.h
 *	  Which HTTP version to ask each endpoint for, learnt per backend
 *	  (http_protocol.c).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_HTTP_PROTOCOL_H
#define PG_CLAUDE_HTTP_PROTOCOL_H

#include <curl/curl.h>

/*
 * The CURLOPT_HTTP_VERSION and CURLOPT_PIPEWAIT for a transfer to url:
 * HTTP/1.1 without waiting in cleartext; over TLS, h2 offered, and waiting
 * for a connection to share only unless the endpoint is known to answer
 * in HTTP/1.1.
 */
extern void claude_http_protocol_choose(const char *url, long *http_version, bool *pipewait);

/* Remember the version (CURLINFO_HTTP_VERSION) an endpoint answered in. */
extern void claude_http_protocol_learn(const char *url, long curl_http_version);

#endif							/* PG_CLAUDE_HTTP_PROTOCOL_H */
