-- Setup: what the tests need from the server, made from SQL, so that
-- `make installcheck` runs them against any running server that has
-- pg_claude installed, preloaded or not.  make installcheck runs this
-- first and sql/teardown.sql last; test/with-emulator has started the
-- Bedrock emulator and passes its URL in PG_CLAUDE_EMULATOR_URL.
--
-- 1. The endpoint: the emulator, for this database only (ALTER DATABASE).
-- 2. Credentials the emulator accepts: its default key pair (see
--    test/emulator/bedrock_emulator.py).  The server reads keys from its
--    environment, which was fixed when it started and which SQL cannot
--    change, or from the shared credentials file, in the profile that the
--    claude.profile setting names.  When claude.profile is set, the server
--    ignores the keys in its environment.  The instance-metadata and
--    container endpoints are at fixed link-local addresses, which the
--    emulator cannot take.  So this setup adds a profile of its own,
--    pg_claude_installcheck, to the shared credentials file the server reads,
--    and sets claude.profile to it.  The server itself writes the file
--    (COPY TO PROGRAM, sql/include/credentials.sql), and the file's other
--    contents are kept.  claude.profile holds for the whole server (sighup):
--    ALTER SYSTEM here, ALTER SYSTEM RESET in teardown.  Both need the
--    superuser that runs the tests.
\getenv emulator_url PG_CLAUDE_EMULATOR_URL
\if :{?emulator_url}
\else
\echo 'PG_CLAUDE_EMULATOR_URL is not set: run these tests with make installcheck, which starts the Bedrock emulator'
\quit
\endif
\i sql/include/credentials.sql

-- roles are cluster-wide: drop those an interrupted run left behind
DO $$
DECLARE r name;
BEGIN
  FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_claude\_%' LOOP
    EXECUTE format('DROP OWNED BY %I', r);
    EXECUTE format('DROP ROLE %I', r);
  END LOOP;
END $$;

CREATE EXTENSION pg_claude;
ALTER DATABASE :"DBNAME" SET claude.endpoint = :'emulator_url';
COPY (VALUES ('[pg_claude_installcheck]'),
             ('aws_access_key_id = AKIAPGCLAUDEEMULATOR'),
             ('aws_secret_access_key = emulator/Secret+Key/0123456789abcdefEXAMPLE'))
  TO PROGRAM :'regress_claude_add_profile';
ALTER SYSTEM SET claude.profile = 'pg_claude_installcheck';
SELECT pg_reload_conf();

-- a new session has both
\c
SELECT current_setting('claude.endpoint') = :'emulator_url' AS endpoint_is_the_emulator;
SELECT provider, access_key_id FROM claude_credentials();
