/*-------------------------------------------------------------------------
 *
 * redact.c
 *	  The local redaction pass on palloc'd text, and
 *	  claude.redact_before_send: that pass applied to the messages of a
 *	  request body before it is signed, cached or sent.
 *
 * Only the messages' text is touched (the user's data); the system prompt,
 * the tools and the schemas are ours.  A body in which nothing was found
 * is sent byte for byte as built.  The cache key is then of what is sent
 * (bedrock.c computes it after this), and the audit row counts what was
 * removed, per kind.  doc/redaction.md.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "lib/stringinfo.h"

#include "redact.h"

char *
claude_redact_text(const char *input, unsigned local_mask, ClaudeRedactCounts *counts)
{
	size_t		len = strlen(input);
	char	   *out = palloc(REDACT_OUT_SIZE(len));

	(void) redact_local(input, len, local_mask, out, counts);
	return out;
}

/* Replace the string item's value by its redaction, when it changes. */
static void
redact_string(cJSON *item, ClaudeRedactCounts *counts)
{
	char	   *out;

	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return;
	out = claude_redact_text(item->valuestring, REDACT_ALL_LOCAL, counts);
	if (strcmp(out, item->valuestring) != 0)
		cJSON_SetValuestring(item, out);
}

/* A content value: a string, or blocks (text, and tool results' content). */
static void
redact_content(cJSON *content, ClaudeRedactCounts *counts)
{
	cJSON	   *block;

	if (cJSON_IsString(content))
	{
		redact_string(content, counts);
		return;
	}
	if (!cJSON_IsArray(content))
		return;
	cJSON_ArrayForEach(block, content)
	{
		cJSON	   *type = cJSON_GetObjectItemCaseSensitive(block, "type");

		if (!cJSON_IsString(type))
			continue;
		if (strcmp(type->valuestring, "image") == 0 || strcmp(type->valuestring, "document") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("claude.redact_before_send cannot redact an attachment"),
					 errdetail("The local pass reads text; an image or a PDF would leave the database as it is."),
					 errhint("Send the document's text instead, or ask for claude.redact_before_send to be off for this role.")));
		if (strcmp(type->valuestring, "text") == 0)
			redact_string(cJSON_GetObjectItemCaseSensitive(block, "text"), counts);
		else if (strcmp(type->valuestring, "tool_result") == 0)
			redact_content(cJSON_GetObjectItemCaseSensitive(block, "content"), counts);
	}
}

const char *
claude_redact_body(const char *body, size_t *body_len, char *counts_json, size_t counts_json_len)
{
	ClaudeRedactCounts counts;
	cJSON	   *root;
	cJSON	   *message;
	StringInfoData s;
	char	   *out;
	int			total = 0;
	int			i;

	counts_json[0] = '\0';
	memset(&counts, 0, sizeof(counts));
	root = cJSON_ParseWithLength(body, *body_len);
	if (root == NULL)
		return body;
	cJSON_ArrayForEach(message, cJSON_GetObjectItemCaseSensitive(root, "messages"))
		redact_content(cJSON_GetObjectItemCaseSensitive(message, "content"), &counts);

	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	for (i = 0; i < REDACT_LOCAL_KINDS; i++)
		if (counts.n[i] > 0)
		{
			appendStringInfo(&s, "%s\"%s\": %d", total ? ", " : "", redact_kind_name((RedactKind) i), counts.n[i]);
			total += counts.n[i];
		}
	appendStringInfoChar(&s, '}');
	if (total == 0)
	{
		cJSON_Delete(root);
		return body;
	}
	strlcpy(counts_json, s.data, counts_json_len);
	out = cJSON_PrintUnformatted(root);
	if (out == NULL)
		elog(ERROR, "could not serialise a redacted request body");
	cJSON_Delete(root);
	*body_len = strlen(out);
	return out;
}
