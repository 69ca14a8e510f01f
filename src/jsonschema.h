/*-------------------------------------------------------------------------
 *
 * jsonschema.h
 *	  A JSON Schema subset: checking schemas, validating tool answers.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_JSONSCHEMA_H
#define PG_CLAUDE_JSONSCHEMA_H

#include <cjson/cJSON.h>

/*
 * Is schema usable as a tool's input_schema: a JSON object with
 * "type": "object", and well-formed keywords throughout?  On failure *why
 * says what is wrong (palloc'd).
 */
extern bool claude_schema_check(const cJSON *schema, char **why);

/*
 * Does value conform to schema?  Keywords checked: type, enum, const,
 * properties, required, additionalProperties (false or a schema), items,
 * minItems, maxItems, uniqueItems, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, minLength, maxLength.  On failure *why names the path
 * ("$.labels[1]") and the rule broken.
 */
extern bool claude_schema_validate(const cJSON *schema, const cJSON *value, char **why);

#endif							/* PG_CLAUDE_JSONSCHEMA_H */
