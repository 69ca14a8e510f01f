-- Data residency: every geography's allow/refuse matrix, checked before
-- anything is sent, and refusals that name the geography and the setting.
LOAD 'pg_claude';
\i sql/include/try.sql

CREATE TEMP TABLE models (ord int, model text);
INSERT INTO models VALUES
  (1,  'anthropic.claude-3-haiku-20240307-v1:0'),
  (2,  'au.anthropic.claude-sonnet-4-5-20250929-v1:0'),
  (3,  'apac.anthropic.claude-sonnet-4-20250514-v1:0'),
  (4,  'jp.anthropic.claude-sonnet-4-5-20250929-v1:0'),
  (5,  'us.anthropic.claude-sonnet-4-5-20250929-v1:0'),
  (6,  'eu.anthropic.claude-sonnet-4-5-20250929-v1:0'),
  (7,  'global.anthropic.claude-sonnet-4-5-20250929-v1:0'),
  (8,  'us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0'),
  (9,  'xx.anthropic.claude-sonnet-4-5-20250929-v1:0'),
  (10, 'arn:aws:bedrock:ap-southeast-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0'),
  (11, 'arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/au.anthropic.claude-sonnet-4-5-20250929-v1:0'),
  (12, 'arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0'),
  (13, 'arn:aws:bedrock:ap-southeast-4:123456789012:application-inference-profile/abc123'),
  (14, 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123'),
  (15, 'arn:aws:bedrock:ap-southeast-2:123456789012:provisioned-model/pt-42'),
  (16, 'arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0'),
  (17, 'arn:aws:iam::123456789012:role/not-a-model'),
  (18, 'not-a-model');

-- one row per model: allowed?, and where it would be processed
CREATE FUNCTION pg_temp.matrix() RETURNS TABLE (ord int, model text, allowed boolean, geography text)
LANGUAGE sql AS $$
  SELECT m.ord, left(m.model, 60), r.allowed, r.geography
  FROM models m, LATERAL claude_residency_check(m.model) r ORDER BY m.ord
$$;

-- the default: au, Sydney
SHOW claude.residency;
SHOW claude.region;
SELECT * FROM pg_temp.matrix();
SELECT * FROM claude_residency_check('au.anthropic.claude-sonnet-4-5-20250929-v1:0');
SELECT * FROM claude_residency_check('us.anthropic.claude-sonnet-4-5-20250929-v1:0');

-- au from Melbourne is Australian; Auckland and Virginia are not
SET claude.region = 'ap-southeast-4';
SELECT allowed, geography FROM claude_residency_check('anthropic.claude-3-haiku-20240307-v1:0');
SET claude.region = 'ap-southeast-6';
SELECT allowed, geography, reason FROM claude_residency_check('au.anthropic.claude-sonnet-4-5-20250929-v1:0');
SET claude.region = 'us-east-1';
SELECT allowed, geography, reason FROM claude_residency_check('au.anthropic.claude-sonnet-4-5-20250929-v1:0');
RESET claude.region;

-- region: only claude.region, no inference profiles
SET claude.residency = 'region';
SELECT * FROM pg_temp.matrix();

-- apac: Asia-Pacific, including au. and jp.
SET claude.residency = 'apac';
SELECT * FROM pg_temp.matrix();

-- jp, eu, us from one of their regions
SET claude.residency = 'jp';
SET claude.region = 'ap-northeast-1';
SELECT * FROM pg_temp.matrix();
SET claude.residency = 'eu';
SET claude.region = 'eu-central-1';
SELECT * FROM pg_temp.matrix();
SET claude.residency = 'us';
SET claude.region = 'us-west-2';
SELECT * FROM pg_temp.matrix();
RESET claude.region;

-- none: anything that is a model
SET claude.residency = 'none';
SELECT * FROM pg_temp.matrix();
RESET claude.residency;

-- the endpoint host counts too
SET claude.endpoint = 'https://bedrock-runtime.us-east-1.amazonaws.com';
SELECT allowed, reason FROM claude_residency_check();
SET claude.endpoint = 'https://bedrock-runtime.ap-southeast-4.amazonaws.com';
SELECT allowed, reason FROM claude_residency_check();
SET claude.endpoint = 'https://bedrock-runtime-fips.ca-central-1.amazonaws.com';
SELECT allowed, reason FROM claude_residency_check();
SET claude.endpoint = 'https://vpce-0a1b2c-xyz.bedrock-runtime.ap-southeast-2.vpce.amazonaws.com';
SELECT allowed, reason FROM claude_residency_check();
SET claude.endpoint = 'https://bedrock-runtime.ap-southeast-2.amazonaws.com';
SELECT allowed, reason FROM claude_residency_check();
-- host names are compared case-insensitively and exactly; unknown hosts fail closed
SET claude.endpoint = 'https://BEDROCK-RUNTIME.US-EAST-1.AMAZONAWS.COM';
SELECT allowed, reason FROM claude_residency_check();
SET claude.endpoint = 'https://bedrock-runtime.ap-southeast-2.amazonaws.com.example.net';
SELECT allowed, reason FROM claude_residency_check();
SET claude.endpoint = 'https://52.94.1.1';
SELECT allowed, reason FROM claude_residency_check();
SET claude.endpoint = 'https://[2600:1f14::1]:443';
SELECT allowed, reason FROM claude_residency_check();
SET claude.endpoint = 'https://bedrock-proxy.corp.example.com';
SELECT allowed, geography FROM claude_residency_check();
SET claude.residency = 'none';
SELECT allowed, geography FROM claude_residency_check();
RESET claude.residency;
RESET claude.endpoint;

-- a refusal happens before anything is signed or sent
SELECT requests AS before FROM claude_http_stats() \gset
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'us.anthropic.claude-sonnet-4-5-20250929-v1:0')$$);
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'apac.anthropic.claude-sonnet-4-20250514-v1:0')$$);
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'global.anthropic.claude-sonnet-4-5-20250929-v1:0')$$);
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'no-such-model')$$);
SELECT pg_temp.try($$SELECT claude_invoke('{"model": "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "messages": [{"role": "user", "content": "hi"}]}')$$);
SET claude.region = 'us-east-1';
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'anthropic.claude-3-haiku-20240307-v1:0')$$);
RESET claude.region;
SET claude.model = 'global.anthropic.claude-sonnet-4-5-20250929-v1:0';
SELECT pg_temp.try($$SELECT claude_complete('hi')$$);
RESET claude.model;
-- inference profile ARNs without a geographic prefix, or naming nothing, fail closed
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/noprefix')$$);
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/')$$);
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile')$$);
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/anthropic.claude-sonnet-4-5-20250929-v1:0')$$);
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'arn:aws:bedrock:ap-southeast-2::foundation-model/')$$);
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'arn:aws:bedrock:ap-southeast-2:123456789012:no-such-type/x')$$);
SELECT requests - :before AS requests_sent_for_refused FROM claude_http_stats();
-- under none they are let through (nothing is refused there)
SET claude.residency = 'none';
SELECT allowed FROM claude_residency_check('arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/noprefix');
RESET claude.residency;

-- allowed requests go, and the data flow (from the audit log) shows where
SELECT clock_timestamp() AS t0 \gset
SELECT claude_complete('Where am I processed?');
SELECT claude_complete('And me?', model => 'anthropic.claude-3-haiku-20240307-v1:0');
SELECT region, endpoint_host, model, geography, calls, failed_calls,
       roles = ARRAY[current_user::text] AS roles_are_mine
FROM claude_data_flow(:'t0');
SELECT count(*) AS flows_in_the_future FROM claude_data_flow(now() + interval '1 hour');

-- who may move data: a plain role cannot change residency, region or endpoint
CREATE ROLE regress_claude_plain LOGIN;
SET ROLE regress_claude_plain;
SET claude.residency = 'none';
SET claude.region = 'us-east-1';
SET claude.endpoint = 'https://bedrock-runtime.us-east-1.amazonaws.com';
RESET ROLE;
GRANT SET ON PARAMETER claude.residency TO regress_claude_plain;
SET ROLE regress_claude_plain;
SET claude.residency = 'apac';
SHOW claude.residency;
RESET claude.residency;
RESET ROLE;
REVOKE SET ON PARAMETER claude.residency FROM regress_claude_plain;

-- EXECUTE is revoked from PUBLIC on every function of the extension
SELECT p.proname, has_function_privilege('regress_claude_plain', p.oid, 'EXECUTE') AS plain_may_execute
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_claude'
ORDER BY p.proname;
SELECT has_schema_privilege('regress_claude_plain', 'claude', 'USAGE') AS plain_uses_claude_schema;
DROP ROLE regress_claude_plain;
