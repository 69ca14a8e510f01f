/*-------------------------------------------------------------------------
 *
 * provider.c
 *	  Which provider a call goes to: the caller's claude.provider, or what
 *	  a queued request or job recorded when it was queued.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "guc.h"
#include "provider.h"

const char *
claude_provider_current(void)
{
	return claude_provider == CLAUDE_PROVIDER_ANTHROPIC ?
		CLAUDE_PROVIDER_NAME_ANTHROPIC : CLAUDE_PROVIDER_NAME_BEDROCK;
}

bool
claude_provider_is_anthropic(const ClaudeCallContext *cc)
{
	return cc->provider != NULL && strcmp(cc->provider, CLAUDE_PROVIDER_NAME_ANTHROPIC) == 0;
}

const char *
claude_provider_checked(const char *name)
{
	if (name == NULL || name[0] == '\0' || strcmp(name, CLAUDE_PROVIDER_NAME_BEDROCK) == 0)
		return CLAUDE_PROVIDER_NAME_BEDROCK;
	if (strcmp(name, CLAUDE_PROVIDER_NAME_ANTHROPIC) == 0)
		return CLAUDE_PROVIDER_NAME_ANTHROPIC;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("unknown provider \"%s\" recorded for queued work", name),
			 errdetail("Only \"bedrock\" and \"anthropic\" are known to this version of pg_claude."),
			 errhint("Cancel the request or job and queue it again.")));
	return NULL;				/* not reached */
}

/*
 * A job's definition names its provider only when it is not Bedrock, so
 * that the definitions (and digests) of jobs queued before there was a
 * choice stay what they were (doc/job_definition.md).
 */
const char *
claude_provider_of_definition(const char *definition)
{
	cJSON	   *root = definition ? cJSON_Parse(definition) : NULL;
	const cJSON *p = root ? cJSON_GetObjectItemCaseSensitive(root, "provider") : NULL;
	const char *name = claude_provider_checked(cJSON_IsString(p) ? p->valuestring : NULL);

	cJSON_Delete(root);
	return name;
}
