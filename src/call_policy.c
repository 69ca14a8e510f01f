/*-------------------------------------------------------------------------
 *
 * call_policy.c
 *	  The caller's redaction and guardrail, carried to the worker.
 *
 * claude.redact_before_send and claude.guardrail_id/_version are set for a
 * role (ALTER ROLE ... SET) by someone with the right to; the worker is a
 * process of its own, with its own settings, that never sees the role's.
 * So what the caller had when a job or request was queued travels with it
 * (a job's definition, claude.requests.policy), and the worker follows it:
 * redaction when either the caller or the worker has it on, the caller's
 * guardrail or else the worker's.  Nothing the caller had is ever dropped
 * on the way to the background (doc/redaction.md, "In the background").
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "call_policy.h"
#include "guc.h"

static const char *
or_empty(const char *s)
{
	return s ? s : "";
}

static void
session_policy(ClaudeCallPolicy *out)
{
	out->redact_before_send = claude_redact_before_send;
	out->guardrail_id = or_empty(claude_guardrail_id);
	out->guardrail_version = out->guardrail_id[0] ? or_empty(claude_guardrail_version) : "";
}

void
claude_policy_of(const ClaudeCallContext *cc, ClaudeCallPolicy *out)
{
	session_policy(out);
	if (cc->policy == NULL)
		return;
	out->redact_before_send |= cc->policy->redact_before_send;
	if (cc->policy->guardrail_id[0] != '\0')
	{
		out->guardrail_id = cc->policy->guardrail_id;
		out->guardrail_version = cc->policy->guardrail_version;
	}
}

/* The session's policy as a JSON object; NULL when nothing is set. */
static cJSON *
policy_json(void)
{
	ClaudeCallPolicy p;
	cJSON	   *o;

	session_policy(&p);
	if (!p.redact_before_send && p.guardrail_id[0] == '\0')
		return NULL;
	o = cJSON_CreateObject();
	if (p.redact_before_send)
		cJSON_AddTrueToObject(o, "redact_before_send");
	if (p.guardrail_id[0] != '\0')
	{
		cJSON_AddStringToObject(o, "guardrail_id", p.guardrail_id);
		if (p.guardrail_version[0] != '\0')
			cJSON_AddStringToObject(o, "guardrail_version", p.guardrail_version);
	}
	return o;
}

/* cJSON allocates with palloc (claude_anthropic_init): its text is returned as it is */
char *
claude_policy_queued(void)
{
	cJSON	   *o = policy_json();
	char	   *text;

	if (o == NULL)
		return NULL;
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text == NULL)
		elog(ERROR, "out of memory");
	return text;
}

void
claude_policy_add_to_definition(cJSON *root)
{
	cJSON	   *o = policy_json();

	/* absent when nothing is set: a definition without one keeps its digest */
	cJSON_DeleteItemFromObjectCaseSensitive(root, "policy");
	if (o != NULL)
		cJSON_AddItemToObject(root, "policy", o);
}

static const char *
string_member(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? pstrdup(v->valuestring) : "";
}

const ClaudeCallPolicy *
claude_policy_from_json(const char *json, bool in_definition)
{
	cJSON	   *root = json ? cJSON_Parse(json) : NULL;
	const cJSON *o = root && in_definition ? cJSON_GetObjectItemCaseSensitive(root, "policy") : root;
	ClaudeCallPolicy *p = NULL;

	if (cJSON_IsObject(o))
	{
		p = palloc0(sizeof(ClaudeCallPolicy));
		p->redact_before_send = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "redact_before_send"));
		p->guardrail_id = string_member(o, "guardrail_id");
		p->guardrail_version = string_member(o, "guardrail_version");
	}
	cJSON_Delete(root);
	return p;
}
