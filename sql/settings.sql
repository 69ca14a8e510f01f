-- Settings: defaults, validation at SET time, and who may set what
LOAD 'pg_claude';
-- the defaults (boot_val: what the server's configuration and sql/setup.sql
-- set does not show here)
SELECT name, boot_val, unit, context FROM pg_settings
WHERE name LIKE 'claude.%' AND context <> 'postmaster'
ORDER BY name;
-- two more, read at server start, exist when pg_claude is preloaded and only then
SELECT array(SELECT name FROM pg_settings WHERE name LIKE 'claude.%' AND context = 'postmaster'
             ORDER BY name)
       = CASE WHEN current_setting('shared_preload_libraries') ~ '(^|[,/"[:space:]])pg_claude([,"[:space:]]|$)'
              THEN '{claude.audit_buffer,claude.database_name}'::text[] ELSE '{}' END
       AS postmaster_settings_iff_preloaded;

-- malformed values are refused at SET, not at the first call
SET claude.region = 'Sydney';
SET claude.region = 'ap-southeast-2; DROP TABLE x';
SET claude.region = 'ap-southeast-4';
SHOW claude.region;
RESET claude.region;
SET claude.endpoint = 'ftp://bedrock.example.com';
SET claude.endpoint = 'http://bedrock.example.com';
SET claude.endpoint = 'https://user:pw@bedrock.example.com';
SET claude.endpoint = 'https://bedrock.example.com:99999';
SET claude.endpoint = 'https://vpce-0abc-xyz.bedrock-runtime.ap-southeast-2.vpce.amazonaws.com';
RESET claude.endpoint;
SET claude.temperature = '1.5';
SET claude.temperature = 'warm';
SET claude.max_tokens = 0;
SET claude.max_retries = -1;
SET claude.timeout = '30s';
SHOW claude.timeout;
RESET claude.timeout;
SET claude.model = '';
SET claude.model = 'has space';
SET claude.profile = 'analytics';
-- credential settings are server-wide (reload), validated by ALTER SYSTEM
SET claude.role_arn = 'arn:aws:iam::123456789012:role/pg-claude';
ALTER SYSTEM SET claude.role_arn = 'not-an-arn';
ALTER SYSTEM SET claude.role_session_name = 'x';
ALTER SYSTEM SET claude.role_session_name = 'has space';
ALTER SYSTEM SET claude.role_external_id = 'bad id!';

-- a plain role: may not call Claude until granted, may not move data
CREATE ROLE regress_claude_analyst LOGIN;
SET ROLE regress_claude_analyst;
SELECT claude_complete('hi');
SET claude.region = 'us-east-1';
SET claude.endpoint = 'https://example.com';
SET claude.ca_file = '/tmp/evil.pem';
SET claude.max_tokens = 100;   -- per-call defaults are anyone's
SET claude.model = 'au.anthropic.claude-haiku-4-5-20251001-v1:0';
RESET ROLE;

GRANT EXECUTE ON FUNCTION claude_complete(text, text, text, int, float8) TO regress_claude_analyst;
GRANT SET ON PARAMETER claude.region TO regress_claude_analyst;
SET ROLE regress_claude_analyst;
SELECT claude_complete('Hello from an analyst');
SET claude.region = 'ap-southeast-4';
SHOW claude.region;
RESET claude.region;
RESET ROLE;

REVOKE SET ON PARAMETER claude.region FROM regress_claude_analyst;
REVOKE EXECUTE ON FUNCTION claude_complete(text, text, text, int, float8) FROM regress_claude_analyst;
DROP ROLE regress_claude_analyst;
