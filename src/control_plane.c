/*-------------------------------------------------------------------------
 *
 * control_plane.c
 *	  The Bedrock control plane (service "bedrock", botocore's 2023-04-20
 *	  model): ListFoundationModels, ListInferenceProfiles (every page) and
 *	  GetInferenceProfile, as claude_models_refresh() reads them
 *	  (doc/models.md, "Refresh").
 *
 * Each request goes through the Bedrock operation (bedrock.c,
 * claude_bedrock_control_get: the endpoint, SigV4 or an API key, the one
 * transport and its retries, AWS's errors as a problem); here are the
 * operations' paths and queries and the shape of their answers.  An answer
 * without the array it exists to give is a problem, never an empty
 * listing: a refresh must not read it as "the region offers nothing".
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "bedrock.h"
#include "control_plane.h"
#include "aws_sign.h"

/* ListInferenceProfiles' maxResults: the most the API allows per page */
#define PROFILES_PER_PAGE 1000

/* A listing that keeps handing out tokens is broken, not long. */
#define MAX_PAGES 1000

/* The JSON object a GET answers, or NULL with *problem set. */
static cJSON *
get_object(const char *operation, const char *path, const char *query, ClaudeProblem *problem)
{
	char	   *body = claude_bedrock_control_get(operation, path, query, problem);
	cJSON	   *root;

	if (body == NULL)
		return NULL;
	root = cJSON_Parse(body);
	if (!cJSON_IsObject(root))
	{
		claude_problem(problem, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
					   psprintf("Bedrock %s answered with JSON that is not an object", operation),
					   NULL, NULL);
		return NULL;
	}
	return root;
}

/* root's member array, taken out of root, or NULL with *problem set. */
static cJSON *
take_array(cJSON *root, const char *operation, const char *member, ClaudeProblem *problem)
{
	cJSON	   *array = cJSON_DetachItemFromObjectCaseSensitive(root, member);

	if (!cJSON_IsArray(array))
	{
		claude_problem(problem, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
					   psprintf("Bedrock %s answered without \"%s\"", operation, member),
					   psprintf("An answer without its \"%s\" array says nothing of what the region offers.",
								member),
					   NULL);
		return NULL;
	}
	return array;
}

cJSON *
claude_control_foundation_models(ClaudeProblem *problem)
{
	const char *op = "ListFoundationModels";
	cJSON	   *root = get_object(op, "/foundation-models", "byProvider=Anthropic", problem);

	return root ? take_array(root, op, "modelSummaries", problem) : NULL;
}

cJSON *
claude_control_inference_profiles(const char *type, ClaudeProblem *problem)
{
	const char *op = "ListInferenceProfiles";
	cJSON	   *all = cJSON_CreateArray();
	char	   *token = NULL;
	int			pages = 0;

	do
	{
		char	   *query = psprintf("maxResults=%d%s%s&type=%s", PROFILES_PER_PAGE,
									 token ? "&nextToken=" : "", token ? token : "", type);
		cJSON	   *root = get_object(op, "/inference-profiles", query, problem);
		cJSON	   *page = root ? take_array(root, op, "inferenceProfileSummaries", problem) : NULL;
		const cJSON *next;
		cJSON	   *item;

		if (page == NULL)
			return NULL;
		while ((item = cJSON_DetachItemFromArray(page, 0)) != NULL)
			cJSON_AddItemToArray(all, item);
		next = cJSON_GetObjectItemCaseSensitive(root, "nextToken");
		token = cJSON_IsString(next) && next->valuestring[0] ? claude_uri_encode(next->valuestring, false) : NULL;
		if (token && ++pages >= MAX_PAGES)
		{
			claude_problem(problem, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
						   psprintf("Bedrock %s handed out a next page %d times", op, MAX_PAGES),
						   psprintf("type=%s; a listing that never ends is not read.", type), NULL);
			return NULL;
		}
	} while (token != NULL);
	return all;
}

cJSON *
claude_control_inference_profile(const char *id, ClaudeProblem *problem)
{
	/* an ARN is one path segment: its ':' and '/' are percent-encoded */
	return get_object("GetInferenceProfile", psprintf("/inference-profiles/%s", claude_uri_encode(id, false)),
					  NULL, problem);
}
