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

-- Calls cost money and send data out of the database: nobody may call
-- Claude until an administrator grants it (see README, "Privileges").
REVOKE ALL ON FUNCTION @extschema@.claude_complete(text, text, text, int, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_invoke(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_http_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_credentials() FROM PUBLIC;
REVOKE ALL ON SCHEMA claude FROM PUBLIC;
