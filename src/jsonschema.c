/*-------------------------------------------------------------------------
 *
 * jsonschema.c
 *	  A JSON Schema subset, enough to check the structured answers of
 *	  forced tool use before they are returned to SQL.
 *
 * The model is asked to fill a tool's input_schema, and usually does; this
 * is what makes "usually" into "always": an answer that does not conform
 * is never returned as if it did.  Keywords outside the subset are
 * accepted in schemas and ignored in validation (they still reach the
 * model, which is told about them).
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "jsonschema.h"

#define MAX_SCHEMA_DEPTH 32

static const char *const json_types[] = {
	"object", "array", "string", "number", "integer", "boolean", "null",
};

static bool
known_type(const char *t)
{
	int			i;

	for (i = 0; i < (int) lengthof(json_types); i++)
		if (strcmp(t, json_types[i]) == 0)
			return true;
	return false;
}

static bool
check_node(const cJSON *schema, const char *path, int depth, char **why)
{
	const cJSON *type;
	const cJSON *props;
	const cJSON *req;
	const cJSON *items;
	const cJSON *en;
	const cJSON *child;
	const cJSON *addl;
	static const char *const numeric_keywords[] = {
		"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
		"minItems", "maxItems", "minLength", "maxLength",
	};
	int			i;

	if (depth > MAX_SCHEMA_DEPTH)
	{
		*why = psprintf("%s: the schema nests deeper than %d levels", path, MAX_SCHEMA_DEPTH);
		return false;
	}
	if (!cJSON_IsObject(schema))
	{
		*why = psprintf("%s: a schema must be a JSON object", path);
		return false;
	}

	type = cJSON_GetObjectItemCaseSensitive(schema, "type");
	if (type)
	{
		if (cJSON_IsString(type))
		{
			if (!known_type(type->valuestring))
			{
				*why = psprintf("%s: unknown type \"%s\"", path, type->valuestring);
				return false;
			}
		}
		else if (cJSON_IsArray(type))
		{
			cJSON_ArrayForEach(child, type)
			{
				if (!cJSON_IsString(child) || !known_type(child->valuestring))
				{
					*why = psprintf("%s: \"type\" must name JSON types", path);
					return false;
				}
			}
		}
		else
		{
			*why = psprintf("%s: \"type\" must be a string or an array of strings", path);
			return false;
		}
	}

	en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
	if (en && (!cJSON_IsArray(en) || cJSON_GetArraySize(en) == 0))
	{
		*why = psprintf("%s: \"enum\" must be a non-empty array", path);
		return false;
	}

	for (i = 0; i < (int) lengthof(numeric_keywords); i++)
	{
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(schema, numeric_keywords[i]);

		if (k && !cJSON_IsNumber(k))
		{
			*why = psprintf("%s: \"%s\" must be a number", path, numeric_keywords[i]);
			return false;
		}
	}

	props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
	if (props)
	{
		if (!cJSON_IsObject(props))
		{
			*why = psprintf("%s: \"properties\" must be an object", path);
			return false;
		}
		cJSON_ArrayForEach(child, props)
		{
			char	   *sub = psprintf("%s.%s", path, child->string);

			if (!check_node(child, sub, depth + 1, why))
				return false;
		}
	}

	req = cJSON_GetObjectItemCaseSensitive(schema, "required");
	if (req)
	{
		if (!cJSON_IsArray(req))
		{
			*why = psprintf("%s: \"required\" must be an array of property names", path);
			return false;
		}
		cJSON_ArrayForEach(child, req)
		{
			if (!cJSON_IsString(child))
			{
				*why = psprintf("%s: \"required\" must be an array of property names", path);
				return false;
			}
		}
	}

	addl = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
	if (addl && !cJSON_IsBool(addl) &&
		!check_node(addl, psprintf("%s.additionalProperties", path), depth + 1, why))
		return false;

	items = cJSON_GetObjectItemCaseSensitive(schema, "items");
	if (items && !check_node(items, psprintf("%s[]", path), depth + 1, why))
		return false;
	return true;
}

bool
claude_schema_check(const cJSON *schema, char **why)
{
	const cJSON *type;

	if (!cJSON_IsObject(schema))
	{
		*why = pstrdup("the schema must be a JSON object such as {\"type\": \"object\", \"properties\": {...}}");
		return false;
	}
	type = cJSON_GetObjectItemCaseSensitive(schema, "type");
	if (!cJSON_IsString(type) || strcmp(type->valuestring, "object") != 0)
	{
		*why = pstrdup("the schema must describe an object: its \"type\" must be \"object\"");
		return false;
	}
	return check_node(schema, "$", 0, why);
}

static const char *
value_type(const cJSON *v)
{
	if (cJSON_IsObject(v))
		return "object";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsBool(v))
		return "boolean";
	return "null";
}

static bool
type_matches(const char *t, const cJSON *v)
{
	if (strcmp(t, "integer") == 0)
		return cJSON_IsNumber(v) && floor(v->valuedouble) == v->valuedouble &&
			isfinite(v->valuedouble);
	if (strcmp(t, "number") == 0)
		return cJSON_IsNumber(v);
	return strcmp(t, value_type(v)) == 0;
}

static bool
validate(const cJSON *schema, const cJSON *v, const char *path, int depth, char **why)
{
	const cJSON *k;
	const cJSON *child;

	if (depth > MAX_SCHEMA_DEPTH || !cJSON_IsObject(schema))
		return true;

	if ((k = cJSON_GetObjectItemCaseSensitive(schema, "type")) != NULL)
	{
		bool		ok = false;

		if (cJSON_IsString(k))
			ok = type_matches(k->valuestring, v);
		else if (cJSON_IsArray(k))
			cJSON_ArrayForEach(child, k)
				if (cJSON_IsString(child) && type_matches(child->valuestring, v))
				ok = true;
		if (!ok)
		{
			*why = psprintf("%s: expected %s, got %s", path,
							cJSON_IsString(k) ? k->valuestring : "one of the listed types",
							value_type(v));
			return false;
		}
	}

	if ((k = cJSON_GetObjectItemCaseSensitive(schema, "enum")) != NULL && cJSON_IsArray(k))
	{
		bool		found = false;

		cJSON_ArrayForEach(child, k)
			if (cJSON_Compare(child, v, true))
			found = true;
		if (!found)
		{
			char	   *shown = cJSON_PrintUnformatted(v);

			*why = psprintf("%s: %s is not one of the allowed values", path, shown ? shown : "value");
			return false;
		}
	}
	if ((k = cJSON_GetObjectItemCaseSensitive(schema, "const")) != NULL &&
		!cJSON_Compare(k, v, true))
	{
		*why = psprintf("%s: not the required constant", path);
		return false;
	}

	if (cJSON_IsNumber(v))
	{
		double		d = v->valuedouble;

		if ((k = cJSON_GetObjectItemCaseSensitive(schema, "minimum")) && cJSON_IsNumber(k) && d < k->valuedouble)
		{
			*why = psprintf("%s: %g is below the minimum %g", path, d, k->valuedouble);
			return false;
		}
		if ((k = cJSON_GetObjectItemCaseSensitive(schema, "maximum")) && cJSON_IsNumber(k) && d > k->valuedouble)
		{
			*why = psprintf("%s: %g is above the maximum %g", path, d, k->valuedouble);
			return false;
		}
		if ((k = cJSON_GetObjectItemCaseSensitive(schema, "exclusiveMinimum")) && cJSON_IsNumber(k) && d <= k->valuedouble)
		{
			*why = psprintf("%s: %g is not above %g", path, d, k->valuedouble);
			return false;
		}
		if ((k = cJSON_GetObjectItemCaseSensitive(schema, "exclusiveMaximum")) && cJSON_IsNumber(k) && d >= k->valuedouble)
		{
			*why = psprintf("%s: %g is not below %g", path, d, k->valuedouble);
			return false;
		}
	}

	if (cJSON_IsString(v))
	{
		/* length in characters, as JSON Schema counts it */
		int			chars = pg_mbstrlen(v->valuestring);

		if ((k = cJSON_GetObjectItemCaseSensitive(schema, "minLength")) && cJSON_IsNumber(k) && chars < k->valuedouble)
		{
			*why = psprintf("%s: shorter than %g characters", path, k->valuedouble);
			return false;
		}
		if ((k = cJSON_GetObjectItemCaseSensitive(schema, "maxLength")) && cJSON_IsNumber(k) && chars > k->valuedouble)
		{
			*why = psprintf("%s: longer than %g characters", path, k->valuedouble);
			return false;
		}
	}

	if (cJSON_IsArray(v))
	{
		int			n = cJSON_GetArraySize(v);
		int			i;
		const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");

		if ((k = cJSON_GetObjectItemCaseSensitive(schema, "minItems")) && cJSON_IsNumber(k) && n < k->valuedouble)
		{
			*why = psprintf("%s: fewer than %g items", path, k->valuedouble);
			return false;
		}
		if ((k = cJSON_GetObjectItemCaseSensitive(schema, "maxItems")) && cJSON_IsNumber(k) && n > k->valuedouble)
		{
			*why = psprintf("%s: more than %g items", path, k->valuedouble);
			return false;
		}
		if ((k = cJSON_GetObjectItemCaseSensitive(schema, "uniqueItems")) && cJSON_IsTrue(k))
		{
			for (i = 0; i < n; i++)
			{
				int			j;

				for (j = i + 1; j < n; j++)
					if (cJSON_Compare(cJSON_GetArrayItem(v, i), cJSON_GetArrayItem(v, j), true))
					{
						*why = psprintf("%s: items %d and %d are the same", path, i, j);
						return false;
					}
			}
		}
		if (items)
		{
			i = 0;
			cJSON_ArrayForEach(child, v)
			{
				if (!validate(items, child, psprintf("%s[%d]", path, i), depth + 1, why))
					return false;
				i++;
			}
		}
	}

	if (cJSON_IsObject(v))
	{
		const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
		const cJSON *addl = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");

		if ((k = cJSON_GetObjectItemCaseSensitive(schema, "required")) && cJSON_IsArray(k))
		{
			cJSON_ArrayForEach(child, k)
			{
				/* JSON names are case-sensitive: "name" does not satisfy "Name" */
				if (cJSON_IsString(child) &&
					cJSON_GetObjectItemCaseSensitive(v, child->valuestring) == NULL)
				{
					*why = psprintf("%s: required property \"%s\" is missing", path, child->valuestring);
					return false;
				}
			}
		}
		cJSON_ArrayForEach(child, v)
		{
			const cJSON *sub = props ? cJSON_GetObjectItemCaseSensitive(props, child->string) : NULL;
			char	   *subpath = psprintf("%s.%s", path, child->string);

			if (sub)
			{
				if (!validate(sub, child, subpath, depth + 1, why))
					return false;
			}
			else if (cJSON_IsFalse(addl))
			{
				*why = psprintf("%s: property \"%s\" is not allowed", path, child->string);
				return false;
			}
			else if (cJSON_IsObject(addl) && !validate(addl, child, subpath, depth + 1, why))
				return false;
		}
	}
	return true;
}

bool
claude_schema_validate(const cJSON *schema, const cJSON *value, char **why)
{
	return validate(schema, value, "$", 0, why);
}
