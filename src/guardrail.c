/*-------------------------------------------------------------------------
 *
 * guardrail.c
 *	  Bedrock guardrails: the request headers, and the answer's verdict.
 *
 * InvokeModel takes the guardrail as headers (the runtime's service model:
 * X-Amzn-Bedrock-GuardrailIdentifier, X-Amzn-Bedrock-GuardrailVersion,
 * X-Amzn-Bedrock-Trace); they are signed like every header sent.  The
 * answer carries "amazon-bedrock-guardrailAction" (INTERVENED or NONE)
 * and, with the trace enabled, "amazon-bedrock-trace".guardrail: per
 * side (input, outputs) and per guardrail, the policies that assessed it.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "lib/stringinfo.h"

#include "guardrail.h"
#include "guc.h"

#define ACTION_FIELD "amazon-bedrock-guardrailAction"
#define TRACE_FIELD "amazon-bedrock-trace"

int
claude_guardrail_headers(const char *operation, const ClaudeCallPolicy *policy, AwsHeader *out)
{
	if (policy->guardrail_id[0] == '\0' || strncmp(operation, "InvokeModel", 11) != 0)
		return 0;
	out[0].name = "X-Amzn-Bedrock-GuardrailIdentifier";
	out[0].value = policy->guardrail_id;
	/* the runtime refuses an identifier without a version: DRAFT unless set */
	out[1].name = "X-Amzn-Bedrock-GuardrailVersion";
	out[1].value = policy->guardrail_version[0] ? policy->guardrail_version : "DRAFT";
	/* the trace is what the audit row summarises */
	out[2].name = "X-Amzn-Bedrock-Trace";
	out[2].value = "ENABLED";
	return 3;
}

/* The answer's root: parsed, or json parsed (*owned then). */
static const cJSON *
answer_root(const char *json, const cJSON *parsed, cJSON **owned)
{
	*owned = NULL;
	if (parsed)
		return parsed;
	/* most answers have no guardrail at all: spare them a parse */
	if (json == NULL || strstr(json, ACTION_FIELD) == NULL)
		return NULL;
	*owned = cJSON_Parse(json);
	return *owned;
}

bool
claude_guardrail_intervened(const char *json, const cJSON *parsed)
{
	cJSON	   *owned;
	const cJSON *root = answer_root(json, parsed, &owned);
	const cJSON *action = root ? cJSON_GetObjectItemCaseSensitive(root, ACTION_FIELD) : NULL;
	bool		intervened = cJSON_IsString(action) && strcmp(action->valuestring, "INTERVENED") == 0;

	if (owned)
		cJSON_Delete(owned);
	return intervened;
}

/* "side:policy" for each policy object under one guardrail's assessment. */
static void
summarise_assessment(StringInfo s, const char *side, const cJSON *assessment)
{
	const cJSON *policy;

	cJSON_ArrayForEach(policy, assessment)
	{
		if (!cJSON_IsObject(policy) || policy->string == NULL)
			continue;
		/* metrics and invocation details are not policies */
		if (strstr(policy->string, "Policy") == NULL)
			continue;
		appendStringInfo(s, "%s%s:%s", s->len ? ", " : "", side, policy->string);
	}
}

void
claude_guardrail_summary(const char *json, const cJSON *parsed, char *action, size_t action_len,
						 char *trace, size_t trace_len)
{
	cJSON	   *owned;
	const cJSON *root = answer_root(json, parsed, &owned);
	const cJSON *a;
	const cJSON *guardrail;
	const cJSON *side;
	StringInfoData s;

	action[0] = trace[0] = '\0';
	if (root == NULL)
		return;
	a = cJSON_GetObjectItemCaseSensitive(root, ACTION_FIELD);
	if (cJSON_IsString(a))
		strlcpy(action, a->valuestring, action_len);
	guardrail = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, TRACE_FIELD), "guardrail");
	initStringInfo(&s);
	/* input: {id: assessment}; outputs: [{id: assessment}, ...] */
	cJSON_ArrayForEach(side, guardrail)
	{
		const cJSON *entry;

		if (side->string == NULL)
			continue;
		if (cJSON_IsArray(side))
		{
			const cJSON *one;

			cJSON_ArrayForEach(one, side)
				cJSON_ArrayForEach(entry, one)
				summarise_assessment(&s, side->string, entry);
		}
		else
			cJSON_ArrayForEach(entry, side)
				summarise_assessment(&s, side->string, entry);
	}
	strlcpy(trace, s.data, trace_len);
	pfree(s.data);
	if (owned)
		cJSON_Delete(owned);
}
