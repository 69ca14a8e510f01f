/*-------------------------------------------------------------------------
 *
 * anthropic.c
 *	  Anthropic Messages bodies (the InvokeModel payload for Claude):
 *	  building requests and reading responses, with cJSON.
 *
 * cJSON allocates through palloc here, so everything it builds belongs to
 * the caller's memory context and is released with it, on success and on
 * error alike.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "anthropic.h"
#include "attachment.h"
#include "guc.h"
#include "problem.h"

static void read_usage(const cJSON *root, ClaudeUsage *usage);

static void *
cjson_palloc(size_t size)
{
	return palloc(size);
}

static void
cjson_pfree(void *ptr)
{
	if (ptr)
		pfree(ptr);
}

void
claude_anthropic_init(void)
{
	cJSON_Hooks hooks = {cjson_palloc, cjson_pfree};

	cJSON_InitHooks(&hooks);
}

/* cJSON returns NULL only on allocation failure, which palloc never does. */
static char *
print_json(cJSON *root)
{
	char	   *out = cJSON_PrintUnformatted(root);

	if (out == NULL)
		elog(ERROR, "could not serialise a JSON request body");
	return out;
}

/*
 * A number as cJSON prints it, kept for the next body with the same value:
 * for a fraction cJSON prints with "%1.15g" and reads it back with sscanf
 * to check, on every body, and the temperature is the same call after call.
 */
static void
add_number(cJSON *object, const char *name, double value)
{
	static bool valid = false;
	static double last;
	static char text[64];

	if (!valid || value != last)
	{
		cJSON	   *n = cJSON_CreateNumber(value);
		char	   *printed = print_json(n);

		cJSON_Delete(n);
		valid = strlcpy(text, printed, sizeof(text)) < sizeof(text);
		last = value;
		if (!valid)
		{
			pfree(printed);
			cJSON_AddNumberToObject(object, name, value);
			return;
		}
		pfree(printed);
	}
	cJSON_AddRawToObject(object, name, text);
}

/*
 * An integer printed by PostgreSQL rather than cJSON, whose printer takes
 * the fraction path (print, then sscanf back) for every number.
 */
static void
add_integer(cJSON *object, const char *name, int32 value)
{
	char		text[12];

	pg_ltoa(value, text);
	cJSON_AddRawToObject(object, name, text);
}

/*
 * The user turn: the prompt alone, or the attachment's block and then the
 * prompt (Claude reads a document or image best before the question about
 * it: doc/documents.md).
 */
static cJSON *
user_turn(const char *prompt, const ClaudeAttachment *attachment)
{
	cJSON	   *msg = cJSON_CreateObject();

	cJSON_AddStringToObject(msg, "role", "user");
	if (attachment == NULL)
		cJSON_AddStringToObject(msg, "content", prompt);
	else
	{
		cJSON	   *content = cJSON_AddArrayToObject(msg, "content");
		cJSON	   *text = cJSON_CreateObject();

		cJSON_AddItemToArray(content, claude_attachment_block(attachment));
		cJSON_AddStringToObject(text, "type", "text");
		cJSON_AddStringToObject(text, "text", prompt);
		cJSON_AddItemToArray(content, text);
	}
	return msg;
}

char *
claude_anthropic_build(const ClaudeMessageRequest *req)
{
	cJSON	   *root = cJSON_CreateObject();
	cJSON	   *messages;

	cJSON_AddStringToObject(root, "anthropic_version", ANTHROPIC_BEDROCK_VERSION);
	add_integer(root, "max_tokens", req->max_tokens);
	if (req->system != NULL)
		cJSON_AddStringToObject(root, "system", req->system);
	if (req->has_temperature)
		add_number(root, "temperature", req->temperature);
	messages = cJSON_AddArrayToObject(root, "messages");
	cJSON_AddItemToArray(messages, user_turn(req->prompt, req->attachment));
	return print_json(root);
}

static cJSON *
ephemeral(bool one_hour)
{
	cJSON	   *cc = cJSON_CreateObject();

	cJSON_AddStringToObject(cc, "type", "ephemeral");
	if (one_hour)
		cJSON_AddStringToObject(cc, "ttl", "1h");
	return cc;
}

/*
 * Close every object of a schema for structured output; false when it
 * cannot be closed (open on purpose, or a $ref structured output may not
 * resolve).  *optional counts properties not in their object's required.
 */
static bool
close_schema(cJSON *node, int *optional)
{
	cJSON	   *child;
	const cJSON *type;
	const cJSON *props;

	if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
		return true;
	if (cJSON_IsObject(node))
	{
		if (cJSON_GetObjectItemCaseSensitive(node, "$ref") != NULL)
			return false;
		type = cJSON_GetObjectItemCaseSensitive(node, "type");
		props = cJSON_GetObjectItemCaseSensitive(node, "properties");
		if (cJSON_IsObject(props) || (cJSON_IsString(type) && strcmp(type->valuestring, "object") == 0))
		{
			const cJSON *extra = cJSON_GetObjectItemCaseSensitive(node, "additionalProperties");
			const cJSON *required = cJSON_GetObjectItemCaseSensitive(node, "required");
			const cJSON *p;

			if (extra != NULL && !cJSON_IsFalse(extra))
				return false;
			if (extra == NULL)
				cJSON_AddFalseToObject(node, "additionalProperties");
			cJSON_ArrayForEach(p, props)
			{
				bool		is_required = false;
				const cJSON *r;

				cJSON_ArrayForEach(r, required)
					if (cJSON_IsString(r) && strcmp(r->valuestring, p->string) == 0)
					is_required = true;
				if (!is_required)
					(*optional)++;
			}
		}
	}
	cJSON_ArrayForEach(child, node)
		if (!close_schema(child, optional))
		return false;
	return true;
}

char *
claude_anthropic_format_schema(const char *input_schema)
{
	cJSON	   *schema = cJSON_Parse(input_schema);
	int			optional = 0;

	/* structured output's own limit (api_facts.structured_output) */
	if (schema == NULL || !close_schema(schema, &optional) || optional > 10)
		return NULL;
	return print_json(schema);
}

char *
claude_anthropic_build_tool(const ClaudeToolRequest *req)
{
	cJSON	   *root = cJSON_CreateObject();
	cJSON	   *messages;

	cJSON_AddStringToObject(root, "anthropic_version", ANTHROPIC_BEDROCK_VERSION);
	add_integer(root, "max_tokens", req->max_tokens);
	if (req->has_temperature)
		add_number(root, "temperature", req->temperature);

	/*
	 * The fixed part of the request (tool definition, system prompt) comes
	 * first and is marked for caching, so many calls with one label set or
	 * one schema pay for it once.  Bedrock reads tools before system.
	 */
	if (req->mode != TOOL_FORMAT)
	{
		cJSON	   *tools = cJSON_AddArrayToObject(root, "tools");
		cJSON	   *tool = cJSON_CreateObject();
		cJSON	   *schema = cJSON_Parse(req->input_schema);
		cJSON	   *choice = cJSON_AddObjectToObject(root, "tool_choice");

		if (schema == NULL)
			elog(ERROR, "tool input schema is not valid JSON");
		cJSON_AddStringToObject(tool, "name", req->tool_name);
		cJSON_AddStringToObject(tool, "description", req->tool_description);
		cJSON_AddItemToObject(tool, "input_schema", schema);
		if (req->cache && req->system == NULL)
			cJSON_AddItemToObject(tool, "cache_control", ephemeral(req->cache_1h));
		cJSON_AddItemToArray(tools, tool);
		if (req->mode == TOOL_FORCED)
		{
			cJSON_AddStringToObject(choice, "type", "tool");
			cJSON_AddStringToObject(choice, "name", req->tool_name);
		}
		else
			cJSON_AddStringToObject(choice, "type", "auto");
	}
	else
	{
		cJSON	   *config = cJSON_AddObjectToObject(root, "output_config");
		cJSON	   *format = cJSON_AddObjectToObject(config, "format");
		cJSON	   *schema = cJSON_Parse(req->format_schema);

		if (schema == NULL)
			elog(ERROR, "structured output schema is not valid JSON");
		cJSON_AddStringToObject(format, "type", "json_schema");
		cJSON_AddItemToObject(format, "schema", schema);
	}

	if (req->system != NULL)
	{
		cJSON	   *system = cJSON_AddArrayToObject(root, "system");
		cJSON	   *block = cJSON_CreateObject();

		cJSON_AddStringToObject(block, "type", "text");
		cJSON_AddStringToObject(block, "text", req->system);
		/* one mark at the end of the fixed prefix covers the tool too */
		if (req->cache)
			cJSON_AddItemToObject(block, "cache_control", ephemeral(req->cache_1h));
		cJSON_AddItemToArray(system, block);
	}

	messages = cJSON_AddArrayToObject(root, "messages");
	cJSON_AddItemToArray(messages, user_turn(req->prompt, req->attachment));
	return print_json(root);
}

/*
 * A Messages response's root object, or NULL with *problem set.  parsed,
 * when not NULL, is json already parsed (the transport's check that the
 * answer is JSON made it): it is taken over, not parsed again.
 */
static cJSON *
response_root(const char *json, cJSON *parsed, ClaudeProblem *problem)
{
	cJSON	   *root = parsed ? parsed : cJSON_Parse(json);

	if (root == NULL || !cJSON_IsObject(root))
	{
		claude_problem(problem, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
					   "Bedrock returned a response that is not valid JSON", NULL, NULL);
		return NULL;
	}
	return root;
}

bool
claude_anthropic_read_tool_input(const char *json, const char *tool_name, ClaudeUsage *usage,
								 char **stop_reason, cJSON **input, ClaudeProblem *problem)
{
	return claude_anthropic_read_tool_input_parsed(json, NULL, tool_name, usage, stop_reason,
												   input, problem);
}

bool
claude_anthropic_read_tool_input_parsed(const char *json, cJSON *parsed, const char *tool_name,
										ClaudeUsage *usage, char **stop_reason, cJSON **input,
										ClaudeProblem *problem)
{
	cJSON	   *root = response_root(json, parsed, problem);
	const cJSON *content;
	cJSON	   *block;
	const cJSON *reason;

	*input = NULL;
	*stop_reason = NULL;
	if (root == NULL)
		return false;
	read_usage(root, usage);
	reason = cJSON_GetObjectItemCaseSensitive(root, "stop_reason");
	*stop_reason = cJSON_IsString(reason) ? pstrdup(reason->valuestring) : NULL;

	content = cJSON_GetObjectItemCaseSensitive(root, "content");
	cJSON_ArrayForEach(block, content)
	{
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(block, "type");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(block, "name");

		if (cJSON_IsString(type) && strcmp(type->valuestring, "tool_use") == 0 &&
			cJSON_IsString(name) && strcmp(name->valuestring, tool_name) == 0)
		{
			*input = cJSON_DetachItemFromObjectCaseSensitive(block, "input");
			break;
		}
	}
	/* structured output: the JSON is the text (thinking blocks are skipped) */
	if (*input == NULL)
	{
		StringInfoData text;

		initStringInfo(&text);
		cJSON_ArrayForEach(block, content)
		{
			const cJSON *type = cJSON_GetObjectItemCaseSensitive(block, "type");
			const cJSON *t = cJSON_GetObjectItemCaseSensitive(block, "text");

			if (cJSON_IsString(type) && strcmp(type->valuestring, "text") == 0 && cJSON_IsString(t))
				appendStringInfoString(&text, t->valuestring);
		}
		if (text.len > 0)
		{
			cJSON	   *object = cJSON_Parse(text.data);

			if (cJSON_IsObject(object))
				*input = object;
			else if (object)
				cJSON_Delete(object);
		}
	}
	cJSON_Delete(root);
	return true;
}

char *
claude_anthropic_normalize_body(const char *json, char **model_out)
{
	cJSON	   *root = cJSON_Parse(json);
	cJSON	   *model;

	if (root == NULL || !cJSON_IsObject(root))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request body must be a JSON object"),
				 errhint("Pass an Anthropic Messages body such as {\"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}.")));

	/* case-sensitive, as Bedrock reads them: "Max_Tokens" is not max_tokens */
	if (cJSON_GetObjectItemCaseSensitive(root, "anthropic_version") == NULL)
		cJSON_AddStringToObject(root, "anthropic_version", ANTHROPIC_BEDROCK_VERSION);
	if (cJSON_GetObjectItemCaseSensitive(root, "max_tokens") == NULL)
		cJSON_AddNumberToObject(root, "max_tokens", claude_max_tokens);

	model = cJSON_GetObjectItemCaseSensitive(root, "model");
	if (model != NULL)
	{
		if (!cJSON_IsString(model))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"model\" in the request body must be a string")));
		if (*model_out == NULL)
			*model_out = pstrdup(model->valuestring);
		cJSON_DeleteItemFromObjectCaseSensitive(root, "model");
	}
	return print_json(root);
}

static long
json_long(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(item) ? (long) item->valuedouble : 0;
}

static void
read_usage(const cJSON *root, ClaudeUsage *usage)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "usage");

	memset(usage, 0, sizeof(*usage));
	if (!cJSON_IsObject(u))
		return;
	usage->input_tokens = json_long(u, "input_tokens");
	usage->output_tokens = json_long(u, "output_tokens");
	usage->cache_read_tokens = json_long(u, "cache_read_input_tokens");
	usage->cache_write_tokens = json_long(u, "cache_creation_input_tokens");
	usage->cache_write_1h_tokens =
		json_long(cJSON_GetObjectItemCaseSensitive(u, "cache_creation"), "ephemeral_1h_input_tokens");
}

void
claude_anthropic_usage(const char *json, ClaudeUsage *usage)
{
	cJSON	   *root = cJSON_Parse(json);

	memset(usage, 0, sizeof(*usage));
	if (root != NULL)
	{
		read_usage(root, usage);
		cJSON_Delete(root);
	}
}

void
claude_anthropic_usage_parsed(const cJSON *root, ClaudeUsage *usage)
{
	memset(usage, 0, sizeof(*usage));
	read_usage(root, usage);
}

void
claude_anthropic_check_json(const char *json)
{
	cJSON	   *root = cJSON_Parse(json);

	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("Bedrock returned a response that is not valid JSON")));
	cJSON_Delete(root);
}

char *
claude_anthropic_read_text(const char *json, ClaudeUsage *usage, char **stop_reason,
						   ClaudeProblem *problem)
{
	return claude_anthropic_read_text_parsed(json, NULL, usage, stop_reason, problem);
}

char *
claude_anthropic_read_text_parsed(const char *json, cJSON *parsed, ClaudeUsage *usage,
								  char **stop_reason, ClaudeProblem *problem)
{
	cJSON	   *root = response_root(json, parsed, problem);
	const cJSON *content;
	const cJSON *block;
	const cJSON *reason;
	StringInfoData text;
	bool		any_text = false;

	*stop_reason = NULL;
	if (root == NULL)
		return NULL;
	content = cJSON_GetObjectItemCaseSensitive(root, "content");
	if (!cJSON_IsArray(content))
	{
		claude_problem(problem, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
					   "Bedrock returned a response without a \"content\" array", NULL, NULL);
		return NULL;
	}

	initStringInfo(&text);
	cJSON_ArrayForEach(block, content)
	{
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(block, "type");
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(block, "text");

		if (cJSON_IsString(type) && strcmp(type->valuestring, "text") == 0 &&
			cJSON_IsString(t))
		{
			appendStringInfoString(&text, t->valuestring);
			any_text = true;
		}
	}

	reason = cJSON_GetObjectItemCaseSensitive(root, "stop_reason");
	*stop_reason = cJSON_IsString(reason) ? pstrdup(reason->valuestring) : NULL;
	read_usage(root, usage);
	cJSON_Delete(root);

	if (!any_text)
	{
		claude_problem(problem, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, "Claude's answer contains no text",
					   psprintf("stop_reason: %s", *stop_reason ? *stop_reason : "(none)"),
					   "Use claude_invoke() to see the whole response.");
		return NULL;
	}
	return text.data;
}

char *
claude_anthropic_response_text(const char *json, ClaudeUsage *usage, char **stop_reason)
{
	ClaudeProblem problem;
	char	   *text = claude_anthropic_read_text(json, usage, stop_reason, &problem);

	if (text == NULL)
		claude_problem_raise(&problem);
	return text;
}
