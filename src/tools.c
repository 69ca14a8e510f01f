/*-------------------------------------------------------------------------
 *
 * tools.c
 *	  Forced tool use with a checked answer: the engine under classify,
 *	  extract and sentiment.
 *
 * The model is made to answer through one tool (tool_choice) whose
 * input_schema encodes what is acceptable (an enum of labels, a number in
 * [-1, 1], the caller's schema), and the answer is validated against that
 * schema before anything is returned: classification never returns a
 * value outside its labels, extraction never returns jsonb that does not
 * conform.  One retry tells the model what was wrong.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "bedrock.h"
#include "call.h"
#include "guc.h"
#include "jsonschema.h"
#include "tools.h"

#define TOOL_ATTEMPTS 2

void
claude_tool_defaults(ClaudeToolRequest *req, const char *model, int max_tokens)
{
	req->max_tokens = max_tokens;
	/* a classifier should not be creative: temperature 0 unless configured */
	if (!claude_guc_temperature(&req->temperature))
		req->temperature = 0.0;
	req->has_temperature = true;
	req->cache = claude_model_supports_caching(model);
}

cJSON *
claude_tool_call(ClaudeToolCall *call, char **why)
{
	const char *base_system = call->req.system;
	int			attempt;

	claude_check_context(strlen(call->req.prompt) +
						 (base_system ? strlen(base_system) : 0) +
						 strlen(call->req.input_schema),
						 call->req.max_tokens);

	*why = NULL;
	for (attempt = 0; attempt < TOOL_ATTEMPTS; attempt++)
	{
		ClaudeHttpResponse resp;
		ClaudeUsage usage;
		char	   *stop_reason;
		char	   *body;
		cJSON	   *input;

		body = claude_anthropic_build_tool(&call->req);
		claude_bedrock_invoke(call->model, body, strlen(body), &resp);
		input = claude_anthropic_tool_input(resp.body, call->req.tool_name, &usage, &stop_reason);

		if (input == NULL)
			*why = psprintf("the answer did not use the %s tool (stop_reason %s)",
							call->req.tool_name, stop_reason ? stop_reason : "none");
		else if (claude_schema_validate(call->schema, input, why))
			return input;

		/*
		 * Ask again, saying what was wrong.  The reason goes after the fixed
		 * system prompt, so the cached prefix stays the same.
		 */
		if (attempt + 1 < TOOL_ATTEMPTS)
		{
			call->req.system = psprintf("%s%sYour previous answer was not acceptable: %s. "
										"Answer again by calling the %s tool, using only allowed values.",
										base_system ? base_system : "", base_system ? "\n\n" : "",
										*why, call->req.tool_name);
			call->req.cache = false;
		}
	}
	call->req.system = base_system;
	return NULL;
}
