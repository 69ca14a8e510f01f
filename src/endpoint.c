/*-------------------------------------------------------------------------
 *
 * endpoint.c
 *	  Parsing of endpoint URLs (claude.endpoint and derived AWS hosts).
 *
 * Kept free of ereport so the GUC check hook can use it: a malformed
 * endpoint is refused at SET time, not at the first call.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "endpoint.h"

/*
 * Loopback means the request never leaves the machine, which is why a plain
 * http endpoint is tolerated there (the emulator, a local TLS-terminating
 * proxy) and nowhere else.
 */
bool
claude_host_is_loopback(const char *host)
{
	if (pg_strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return true;
	/* 127.0.0.0/8, written as a dotted quad */
	if (strncmp(host, "127.", 4) == 0)
	{
		const char *p = host + 4;
		int			dots = 0;

		for (; *p; p++)
		{
			if (*p == '.')
				dots++;
			else if (!isdigit((unsigned char) *p))
				return false;
		}
		return dots == 2;
	}
	return false;
}

/*
 * Split scheme://host[:port][/path] into its parts.  Query strings,
 * fragments and user-info are refused: an endpoint is a base URL, and
 * credentials never belong in a setting.
 */
bool
claude_endpoint_parse(const char *url, ClaudeEndpoint *ep, const char **why)
{
	const char *p;
	const char *host_start;
	const char *host_end;
	const char *path;
	size_t		hostlen;

	memset(ep, 0, sizeof(*ep));
	if (pg_strncasecmp(url, "https://", 8) == 0)
	{
		ep->https = true;
		p = url + 8;
	}
	else if (pg_strncasecmp(url, "http://", 7) == 0)
	{
		ep->https = false;
		p = url + 7;
	}
	else
	{
		*why = "The endpoint must start with https:// (or http:// for a loopback host).";
		return false;
	}

	if (strpbrk(url, "?#@ \t\r\n") != NULL)
	{
		*why = "The endpoint must be a base URL without user information, query, fragment or spaces.";
		return false;
	}

	if (*p == '[')
	{
		host_start = p + 1;
		host_end = strchr(host_start, ']');
		if (host_end == NULL)
		{
			*why = "The IPv6 address in the endpoint is missing its closing bracket.";
			return false;
		}
		p = host_end + 1;
	}
	else
	{
		host_start = p;
		while (*p && *p != ':' && *p != '/')
		{
			if (!isalnum((unsigned char) *p) && *p != '.' && *p != '-' && *p != '_')
			{
				*why = "The endpoint host contains an invalid character.";
				return false;
			}
			p++;
		}
		host_end = p;
	}

	hostlen = host_end - host_start;
	if (hostlen == 0 || hostlen >= CLAUDE_HOST_MAX)
	{
		*why = "The endpoint has no host, or the host is too long.";
		return false;
	}
	memcpy(ep->host, host_start, hostlen);
	ep->host[hostlen] = '\0';

	if (*p == ':')
	{
		long		port = 0;

		p++;
		if (!isdigit((unsigned char) *p))
		{
			*why = "The endpoint port must be a number.";
			return false;
		}
		while (isdigit((unsigned char) *p))
		{
			port = port * 10 + (*p - '0');
			if (port > 65535)
				break;
			p++;
		}
		if (port < 1 || port > 65535)
		{
			*why = "The endpoint port must be between 1 and 65535.";
			return false;
		}
		ep->port = (int) port;
	}

	path = p;
	if (*path != '\0' && *path != '/')
	{
		*why = "The endpoint is malformed after the host.";
		return false;
	}
	if (strlen(path) >= sizeof(ep->path_prefix))
	{
		*why = "The endpoint path is too long.";
		return false;
	}
	strlcpy(ep->path_prefix, path, sizeof(ep->path_prefix));
	/* trailing slashes are dropped: operation paths start with '/' */
	while (ep->path_prefix[0] && ep->path_prefix[strlen(ep->path_prefix) - 1] == '/')
		ep->path_prefix[strlen(ep->path_prefix) - 1] = '\0';

	if (!ep->https && !claude_host_is_loopback(ep->host))
	{
		*why = "Plain http is allowed only for a loopback host; use https.";
		return false;
	}

	/*
	 * The Host header carries the port only when it is not the scheme's
	 * default, which is what curl sends and what SigV4 must sign.
	 */
	{
		bool		v6 = strchr(ep->host, ':') != NULL;
		bool		default_port = ep->port == 0 ||
			(ep->https && ep->port == 443) || (!ep->https && ep->port == 80);
		char		hostpart[CLAUDE_HOST_MAX + 2];

		snprintf(hostpart, sizeof(hostpart), v6 ? "[%s]" : "%s", ep->host);
		if (default_port)
			snprintf(ep->host_header, sizeof(ep->host_header), "%s", hostpart);
		else
			snprintf(ep->host_header, sizeof(ep->host_header), "%s:%d",
					 hostpart, ep->port);
		snprintf(ep->base_url, sizeof(ep->base_url), "%s://%s%s",
				 ep->https ? "https" : "http", ep->host_header, ep->path_prefix);
	}
	return true;
}
