/* pg_claude--0.1.0.sql: call Anthropic Claude on Amazon Bedrock from SQL */

\echo Use "CREATE EXTENSION pg_claude" to load this file. \quit

-- State lives in its own schema; user functions in the extension's schema.
CREATE SCHEMA claude;
COMMENT ON SCHEMA claude IS 'pg_claude state: cache, audit log, jobs';

CREATE FUNCTION @extschema@.claude_complete(
    prompt      text,
    system      text    DEFAULT NULL,
    model       text    DEFAULT NULL,
    max_tokens  int     DEFAULT NULL,
    temperature float8  DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_complete'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.claude_complete(text, text, text, int, float8) IS
'Send one prompt to Claude through Bedrock InvokeModel and return the answer text';

CREATE FUNCTION @extschema@.claude_invoke(
    body  jsonb,
    model text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'claude_invoke'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.claude_invoke(jsonb, text) IS
'Send a raw Anthropic Messages body through Bedrock InvokeModel and return the whole response';

-- The function family: classify, extract, sentiment, summarize, count tokens.
CREATE FUNCTION @extschema@.claude_classify(
    input        text,
    labels       text[],
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_classify'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.claude_classify(text, text[], text, text) IS
'The one label that best fits the input (always one of labels, or NULL with a WARNING)';

CREATE FUNCTION @extschema@.claude_classify(
    input        text,
    labels       jsonb,
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_classify_described'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.claude_classify(text, jsonb, text, text) IS
'The one label that best fits the input, labels given as {"label": "description", ...}';

CREATE FUNCTION @extschema@.claude_classify_multi(
    input        text,
    labels       text[],
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL)
RETURNS text[]
AS 'MODULE_PATHNAME', 'claude_classify_multi'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.claude_classify_multi(text, text[], text, text) IS
'Every label that applies to the input, in the order of labels';

CREATE FUNCTION @extschema@.claude_extract(
    input        text,
    schema       jsonb,
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'claude_extract'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.claude_extract(text, jsonb, text, text) IS
'Structured data from the input, conforming to the JSON Schema given (validated before it is returned)';

CREATE FUNCTION @extschema@.claude_sentiment(
    input text,
    model text DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'claude_sentiment'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.claude_sentiment(text, text) IS
'Sentiment of the input, from -1 (very negative) to 1 (very positive)';

CREATE FUNCTION @extschema@.claude_summarize(
    input     text,
    max_words int  DEFAULT 50,
    model     text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_summarize'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.claude_summarize(text, int, text) IS
'A summary of the input in at most max_words words';

CREATE FUNCTION claude.summarize_agg_transfn(internal, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'claude_summarize_agg_transfn'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION claude.summarize_agg_transfn(internal, text, int)
RETURNS internal
AS 'MODULE_PATHNAME', 'claude_summarize_agg_transfn'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION claude.summarize_agg_finalfn(internal)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_summarize_agg_finalfn'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE AGGREGATE @extschema@.claude_summarize_agg(text) (
    SFUNC = claude.summarize_agg_transfn,
    STYPE = internal,
    FINALFUNC = claude.summarize_agg_finalfn,
    PARALLEL = RESTRICTED
);

COMMENT ON AGGREGATE @extschema@.claude_summarize_agg(text) IS
'One summary of a group of texts (ORDER BY inside the call orders them), in stages when the group is large';

CREATE AGGREGATE @extschema@.claude_summarize_agg(text, int) (
    SFUNC = claude.summarize_agg_transfn,
    STYPE = internal,
    FINALFUNC = claude.summarize_agg_finalfn,
    PARALLEL = RESTRICTED
);

COMMENT ON AGGREGATE @extschema@.claude_summarize_agg(text, int) IS
'One summary of a group of texts in at most max_words words';

CREATE FUNCTION @extschema@.claude_count_tokens(
    prompt text,
    model  text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'claude_count_tokens'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.claude_count_tokens(text, text) IS
'Input tokens of the request claude_complete(prompt) would send (Bedrock CountTokens)';

CREATE FUNCTION @extschema@.claude_count_tokens(
    body  jsonb,
    model text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'claude_count_tokens_body'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.claude_count_tokens(jsonb, text) IS
'Input tokens of a Messages body (Bedrock CountTokens)';

CREATE FUNCTION @extschema@.claude_http_stats(
    OUT requests    bigint,
    OUT connections bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'claude_http_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.claude_http_stats() IS
'Requests sent and connections opened by this backend''s transport';

CREATE FUNCTION @extschema@.claude_credentials(
    OUT provider      text,
    OUT auth          text,
    OUT access_key_id text,
    OUT role_arn      text,
    OUT expiration    timestamptz,
    OUT shared_cache  boolean)
RETURNS record
AS 'MODULE_PATHNAME', 'claude_credentials'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.claude_credentials() IS
'Which provider supplied the AWS credentials, the masked access key id, role and expiry (never a secret)';

CREATE FUNCTION @extschema@.claude_residency_check(
    model             text DEFAULT NULL,
    OUT allowed       boolean,
    OUT geography     text,
    OUT processed_in  text,
    OUT reason        text)
RETURNS record
AS 'MODULE_PATHNAME', 'claude_residency_check'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_residency_check(text) IS
'Would claude.residency allow a request to this model with the current region and endpoint? Sends nothing';

CREATE FUNCTION claude.backend_data_flow(
    OUT ts            timestamptz,
    OUT role_name     text,
    OUT region        text,
    OUT endpoint_host text,
    OUT model         text,
    OUT geography     text,
    OUT http_status   int,
    OUT input_tokens  bigint,
    OUT output_tokens bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'claude_backend_data_flow'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION claude.backend_data_flow() IS
'Every request this backend sent: where, which model, which role, outcome and tokens';

-- The table an auditor asks for: where requests were processed, by whom.
CREATE FUNCTION @extschema@.claude_data_flow(since timestamptz DEFAULT '-infinity')
RETURNS TABLE (
    region        text,
    endpoint_host text,
    model         text,
    geography     text,
    calls         bigint,
    failed_calls  bigint,
    input_tokens  numeric,
    output_tokens numeric,
    roles         text[],
    first_call    timestamptz,
    last_call     timestamptz)
LANGUAGE sql VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.region, f.endpoint_host, f.model, f.geography,
           count(*), count(*) FILTER (WHERE f.http_status NOT BETWEEN 200 AND 299),
           sum(f.input_tokens), sum(f.output_tokens),
           array_agg(DISTINCT f.role_name ORDER BY f.role_name),
           min(f.ts), max(f.ts)
    FROM claude.backend_data_flow() AS f
    WHERE f.ts >= since
    GROUP BY f.region, f.endpoint_host, f.model, f.geography
    ORDER BY f.region, f.endpoint_host, f.model
$$;

COMMENT ON FUNCTION @extschema@.claude_data_flow(timestamptz) IS
'Where requests were processed since a time: region, endpoint host, model, geography, calls, tokens, roles';

-- Calls cost money and send data out of the database: nobody may call
-- Claude until an administrator grants it (see README, "Privileges").
REVOKE ALL ON FUNCTION @extschema@.claude_complete(text, text, text, int, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_invoke(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_http_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_credentials() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_residency_check(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION claude.backend_data_flow() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_data_flow(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_classify(text, text[], text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_classify(text, jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_classify_multi(text, text[], text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_extract(text, jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_sentiment(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_summarize(text, int, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION claude.summarize_agg_transfn(internal, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION claude.summarize_agg_transfn(internal, text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION claude.summarize_agg_finalfn(internal) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_summarize_agg(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_summarize_agg(text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_count_tokens(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_count_tokens(jsonb, text) FROM PUBLIC;
REVOKE ALL ON SCHEMA claude FROM PUBLIC;
