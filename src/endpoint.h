/*-------------------------------------------------------------------------
 *
 * endpoint.h
 *	  Parsing of endpoint URLs (claude.endpoint and derived AWS hosts).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_ENDPOINT_H
#define PG_CLAUDE_ENDPOINT_H

#include <stdbool.h>

#define CLAUDE_HOST_MAX 256

typedef struct ClaudeEndpoint
{
	bool		https;
	char		host[CLAUDE_HOST_MAX];	/* without brackets for IPv6 */
	int			port;			/* 0 when not given */
	char		host_header[CLAUDE_HOST_MAX + 8];	/* what goes in Host: */
	char		path_prefix[256];	/* "" or "/prefix" without trailing '/' */
	char		base_url[CLAUDE_HOST_MAX + 8 + 256 + 16];	/* scheme://host[:port][/prefix] */
} ClaudeEndpoint;

/*
 * Parse an http(s) URL.  On failure returns false and points *why at a
 * static explanation.  Never ereports: it is used from a GUC check hook.
 */
extern bool claude_endpoint_parse(const char *url, ClaudeEndpoint *ep,
								  const char **why);

extern bool claude_host_is_loopback(const char *host);

#endif							/* PG_CLAUDE_ENDPOINT_H */
