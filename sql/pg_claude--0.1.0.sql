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
REVOKE ALL ON SCHEMA claude FROM PUBLIC;
