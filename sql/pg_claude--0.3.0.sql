/* pg_claude--0.1.0.sql: call Anthropic Claude on Amazon Bedrock from SQL */

\echo Use "CREATE EXTENSION pg_claude" to load this file. \quit

-- State lives in its own schema; user functions in the extension's schema.
CREATE SCHEMA claude;
COMMENT ON SCHEMA claude IS 'pg_claude state: cache, audit log, jobs';

-- ---------------------------------------------------------------------------
-- Predefined roles, ready to grant (README "Privileges", doc/security.md):
-- claude_user calls Claude, claude_job_owner also runs background work,
-- claude_auditor reads every role's usage and job history.  Roles belong
-- to the cluster, not to one database: they cannot be members of the
-- extension, DROP EXTENSION leaves them, and a second database's CREATE
-- EXTENSION finds them.  An existing role is reused only when it is a plain
-- NOLOGIN role (as pg_claude, or the 0.2.0 README, made it); one that can
-- log in, has any attribute beyond INHERIT, or is a member of a role with
-- one or of a predefined pg_* role is refused rather than handed these
-- rights.
-- ---------------------------------------------------------------------------
DO $roles$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT n.name, a.oid, a.rolcanlogin, a.rolsuper, a.rolcreaterole, a.rolcreatedb,
                    a.rolreplication, a.rolbypassrls, n.ord
             FROM pg_catalog.unnest(ARRAY['claude_user', 'claude_job_owner', 'claude_auditor'])
                  WITH ORDINALITY AS n(name, ord)
             LEFT JOIN pg_catalog.pg_roles a ON a.rolname OPERATOR(pg_catalog.=) n.name
             ORDER BY n.ord
    LOOP
        IF r.oid IS NULL THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r.name);
        ELSIF r.rolcanlogin OR r.rolsuper OR r.rolcreaterole OR r.rolcreatedb
              OR r.rolreplication OR r.rolbypassrls
              OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles g
                         WHERE g.oid OPERATOR(pg_catalog.<>) r.oid
                           AND pg_catalog.pg_has_role(r.oid, g.oid, 'MEMBER')
                           AND (g.rolsuper OR g.rolcreaterole OR g.rolreplication OR g.rolbypassrls
                                OR g.rolname OPERATOR(pg_catalog.~~) 'pg\_%'))
              -- a non-superuser holding ADMIN on it (on 16 and later, the
              -- CREATEROLE role that made it) could grant it to itself
              OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                         JOIN pg_catalog.pg_roles a ON a.oid OPERATOR(pg_catalog.=) m.member
                         WHERE m.roleid OPERATOR(pg_catalog.=) r.oid AND m.admin_option
                           AND NOT a.rolsuper) THEN
            RAISE EXCEPTION 'role "%" already exists and is not a plain NOLOGIN role', r.name
                USING ERRCODE = 'duplicate_object',
                      DETAIL = pg_catalog.format('pg_claude grants %I the right to call Claude (or to read '
                                                 'every role''s audit log); a role that can log in, has '
                                                 'SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, '
                                                 'or is a member of a role with one of those or of a '
                                                 'predefined pg_* role, or that a role other than a superuser '
                                                 'administers (WITH ADMIN OPTION), was not made for that: its '
                                                 'members would have more than its name says, or anyone its '
                                                 'administrator chose.', r.name),
                      HINT = pg_catalog.format('Rename it (ALTER ROLE %1$I RENAME TO ...), or make it a plain '
                                               'group role (ALTER ROLE %1$I NOLOGIN NOCREATEDB NOCREATEROLE '
                                               'NOREPLICATION NOBYPASSRLS, and REVOKE such memberships and '
                                               'ADMIN OPTION grants), then try again.',
                                               r.name);
        END IF;
    END LOOP;
    -- a job owner may do all a user may
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                   WHERE m.roleid OPERATOR(pg_catalog.=) 'claude_user'::pg_catalog.regrole
                     AND m.member OPERATOR(pg_catalog.=) 'claude_job_owner'::pg_catalog.regrole) THEN
        GRANT claude_user TO claude_job_owner;
    END IF;
END
$roles$;
COMMENT ON ROLE claude_user IS
'pg_claude: may call Claude from queries (every claude_* function but the job functions and the administrator''s)';
COMMENT ON ROLE claude_job_owner IS
'pg_claude: claude_user, plus background work (claude_complete_async, claude_enrich and the job functions)';
COMMENT ON ROLE claude_auditor IS
'pg_claude: reads every role''s audit log (claude.usage) and job history (claude.job, claude.job_items); writes nothing';

-- ---------------------------------------------------------------------------
-- The audit log: one row per upstream call attempt and per cache hit.
-- Written by the pg_claude worker from shared memory (so rows survive the
-- caller's ROLLBACK), or by the calling backend when pg_claude is not
-- preloaded.  Users read their own rows; nobody but the extension writes.
-- ---------------------------------------------------------------------------
CREATE TABLE claude.usage (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts                 timestamptz NOT NULL DEFAULT now(),
    role_name          text NOT NULL,
    database_name      text NOT NULL,
    backend_pid        int NOT NULL,
    function_name      text,
    operation          text,
    model              text,
    region             text,
    endpoint_host      text,
    geography          text,
    request_id         text,
    http_status        int,
    error_code         text,
    input_tokens       bigint,
    output_tokens      bigint,
    cache_read_tokens  bigint,
    cache_write_tokens bigint,
    latency_ms         double precision,
    ttft_ms            double precision,
    retries            int,
    cache_hit          boolean NOT NULL DEFAULT false,
    job_id             bigint,
    prompt_sha256      text,
    prompt             text,
    cache_key          text,
    cache_write_1h_tokens bigint,
    redactions         jsonb,
    guardrail_action   text,
    guardrail_trace    text,
    provider           text NOT NULL DEFAULT 'bedrock',
    batch_job_arn      text,
    attachment_type    text,
    attachment_bytes   bigint
);
COMMENT ON COLUMN claude.usage.provider IS 'Where the request went: bedrock (Amazon Bedrock) or anthropic (the Anthropic API); see endpoint_host';
-- issue 19: what claude.redact_before_send removed, and the guardrail's verdict
COMMENT ON COLUMN claude.usage.redactions IS 'What claude.redact_before_send removed from the prompt, per kind ({"TFN": 1}); NULL when nothing';
COMMENT ON COLUMN claude.usage.guardrail_action IS 'The Bedrock guardrail''s action on this answer (INTERVENED or NONE); NULL without claude.guardrail_id';
COMMENT ON COLUMN claude.usage.guardrail_trace IS 'Which guardrail policies assessed the input or the answer (side:policy, ...), from the trace';
COMMENT ON COLUMN claude.usage.cache_write_tokens IS 'Tokens written to the prompt cache (both TTLs)';
COMMENT ON COLUMN claude.usage.cache_write_1h_tokens IS 'Of cache_write_tokens, those written for an hour (priced higher)';
COMMENT ON COLUMN claude.usage.batch_job_arn IS 'The AWS batch inference job (its ARN), or the Anthropic Message Batch (its id), that answered the record: priced at claude.prices.batch_factor';
COMMENT ON COLUMN claude.usage.attachment_type IS 'The media type of the document or image sent with the prompt (image/png, application/pdf, ...); NULL when none';
COMMENT ON COLUMN claude.usage.attachment_bytes IS 'The size of that document or image in bytes (before base64); NULL when none';
CREATE INDEX usage_ts_idx ON claude.usage (ts);
CREATE INDEX usage_role_ts_idx ON claude.usage (role_name, ts);
CREATE INDEX usage_job_idx ON claude.usage (job_id) WHERE job_id IS NOT NULL;
COMMENT ON TABLE claude.usage IS
'Audit log: one row per Bedrock call attempt and per cache hit (prompt only with claude.log_prompts)';
COMMENT ON COLUMN claude.usage.id IS 'Row id, in the order the rows were written';
COMMENT ON COLUMN claude.usage.ts IS 'When the attempt ended, or the cache hit was answered';
COMMENT ON COLUMN claude.usage.role_name IS 'Role that made the call (current_user)';
COMMENT ON COLUMN claude.usage.database_name IS 'Database the call was made in';
COMMENT ON COLUMN claude.usage.backend_pid IS 'Process id of the backend or worker that made the call';
COMMENT ON COLUMN claude.usage.function_name IS 'SQL function that made the call, e.g. claude_classify_batch';
COMMENT ON COLUMN claude.usage.operation IS 'Bedrock operation: InvokeModel, CountTokens, ...';
COMMENT ON COLUMN claude.usage.model IS 'Model id, inference profile id or ARN the request named';
COMMENT ON COLUMN claude.usage.region IS 'AWS region the request went to';
COMMENT ON COLUMN claude.usage.endpoint_host IS 'Host the request went to';
COMMENT ON COLUMN claude.usage.geography IS 'Where the request is processed (au, apac, jp, eu, us, global, us-gov, or its region); for a refusal, where it would have been';
COMMENT ON COLUMN claude.usage.request_id IS 'AWS request id of the attempt (x-amzn-RequestId)';
COMMENT ON COLUMN claude.usage.http_status IS 'HTTP status of the attempt; NULL when no answer arrived or nothing was sent';
COMMENT ON COLUMN claude.usage.error_code IS 'AWS error code (ThrottlingException, ...) or pg_claude''s (ResidencyViolation, MalformedResponse, ...); NULL on success';
COMMENT ON COLUMN claude.usage.input_tokens IS 'Input tokens Bedrock counted for the attempt';
COMMENT ON COLUMN claude.usage.output_tokens IS 'Output tokens Bedrock counted for the attempt';
COMMENT ON COLUMN claude.usage.cache_read_tokens IS 'Input tokens read from the prompt cache';
COMMENT ON COLUMN claude.usage.latency_ms IS 'Milliseconds from sending the request to the whole answer';
COMMENT ON COLUMN claude.usage.ttft_ms IS 'Milliseconds to the first token (streamed requests only)';
COMMENT ON COLUMN claude.usage.retries IS 'The attempt''s number: 0 for the first, 1 for the first retry, ...';
COMMENT ON COLUMN claude.usage.cache_hit IS 'True when claude.cache answered and nothing was sent';
COMMENT ON COLUMN claude.usage.job_id IS 'The claude.job the call was made for, if any';
COMMENT ON COLUMN claude.usage.prompt_sha256 IS 'SHA-256 (hex) of the function''s input, to join calls to source rows';
COMMENT ON COLUMN claude.usage.prompt IS 'The prompt; only with claude.log_prompts = on';
COMMENT ON COLUMN claude.usage.cache_key IS 'The claude.cache key of the request (see claude_cache_key)';

ALTER TABLE claude.usage ENABLE ROW LEVEL SECURITY;
CREATE POLICY usage_own_rows ON claude.usage FOR SELECT
    USING (role_name OPERATOR(pg_catalog.=) pg_catalog.current_user());
-- claude_auditor members read every row (a second, permissive policy)
CREATE POLICY usage_auditor_rows ON claude.usage FOR SELECT TO claude_auditor
    USING (true);

-- Money spent is never silently erased (README, "The audit log").  pg_dump
-- keeps every row, and the id sequence, so ids go on after a restore
-- rather than collide.  DROP EXTENSION without CASCADE is refused while
-- rows exist (src/drop_guard.c): an event trigger, because only the
-- statement says whether CASCADE was asked for.
SELECT pg_catalog.pg_extension_config_dump('claude.usage', '');
SELECT pg_catalog.pg_extension_config_dump('claude.usage_id_seq', '');

CREATE FUNCTION claude.drop_guard()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'claude_drop_guard'
LANGUAGE C;
COMMENT ON FUNCTION claude.drop_guard() IS
'Refuses DROP EXTENSION pg_claude without CASCADE while claude.usage holds rows (event trigger claude_drop_guard)';
REVOKE ALL ON FUNCTION claude.drop_guard() FROM PUBLIC;
CREATE EVENT TRIGGER claude_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION claude.drop_guard();
COMMENT ON EVENT TRIGGER claude_drop_guard IS
'Refuses DROP EXTENSION pg_claude without CASCADE while the audit log claude.usage holds rows';

-- ---------------------------------------------------------------------------
-- The response cache, keyed by the SHA-256 of the canonical request
-- (model and body with keys in canonical order).
-- ---------------------------------------------------------------------------
CREATE TABLE claude.cache (
    key            text PRIMARY KEY,
    model          text NOT NULL,
    operation      text NOT NULL DEFAULT 'InvokeModel',
    prompt_sha256  text,
    response       text NOT NULL,
    input_tokens   bigint,
    output_tokens  bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    hits           bigint NOT NULL DEFAULT 0
);
CREATE INDEX cache_last_used_idx ON claude.cache (last_used_at);
CREATE INDEX cache_prompt_idx ON claude.cache (prompt_sha256);
COMMENT ON TABLE claude.cache IS
'Bedrock responses by request key; a repeated identical request is answered from here';
COMMENT ON COLUMN claude.cache.key IS 'SHA-256 of the canonical request: model, body with keys in canonical order, and the role unless claude.cache_scope = shared';
COMMENT ON COLUMN claude.cache.model IS 'Model id the request named';
COMMENT ON COLUMN claude.cache.operation IS 'Bedrock operation the response answers';
COMMENT ON COLUMN claude.cache.prompt_sha256 IS 'SHA-256 (hex) of the function''s input (joins claude.usage.prompt_sha256)';
COMMENT ON COLUMN claude.cache.response IS 'The response body Bedrock sent';
COMMENT ON COLUMN claude.cache.input_tokens IS 'Input tokens of the call that made the entry';
COMMENT ON COLUMN claude.cache.output_tokens IS 'Output tokens of the call that made the entry';
COMMENT ON COLUMN claude.cache.created_at IS 'When the entry was written';
COMMENT ON COLUMN claude.cache.last_used_at IS 'When the entry last answered a request (least recently used are evicted first)';
COMMENT ON COLUMN claude.cache.hits IS 'Requests the entry answered';
-- Answers already paid for: kept by pg_dump (at most claude.cache_max_entries
-- rows; pg_dump --exclude-table-data=claude.cache leaves them out).
SELECT pg_catalog.pg_extension_config_dump('claude.cache', '');

-- ---------------------------------------------------------------------------
-- Prices, editable, kept by pg_dump.  USD per million tokens, Bedrock
-- on-demand list prices as of 2026-12 (https://aws.amazon.com/bedrock/pricing/,
-- test/data/claude-models/ap-southeast-2.json): input, output, cache read, cache write (5-minute TTL).
-- Geographic profiles (au., us., eu., jp.) and in-region calls of Sonnet 4.5
-- and newer cost 1.1x the global. profile's price; older models carry no
-- premium.  Where the list gives no cache price, the published rule applies
-- (read 0.1x input, write 1.25x input).  Edit to match your agreement.
-- ---------------------------------------------------------------------------
CREATE TABLE claude.prices (
    model_pattern        text NOT NULL,
    source               text NOT NULL DEFAULT 'user',
    description          text,
    input_per_mtok       numeric NOT NULL,
    output_per_mtok      numeric NOT NULL,
    cache_read_per_mtok  numeric NOT NULL DEFAULT 0,
    cache_write_per_mtok numeric NOT NULL DEFAULT 0,
    priority             int NOT NULL DEFAULT 0,
    cache_write_1h_per_mtok numeric,
    batch_factor         numeric NOT NULL DEFAULT 0.5 CHECK (batch_factor > 0 AND batch_factor <= 1),
    PRIMARY KEY (model_pattern, source)
);
COMMENT ON TABLE claude.prices IS
'USD per million tokens by model id pattern (LIKE); your rows (source ''user'') win over the published ones';
COMMENT ON COLUMN claude.prices.model_pattern IS 'LIKE pattern of the model ids the row prices; the longest matching pattern wins within a source';
COMMENT ON COLUMN claude.prices.source IS 'user (yours, wins) or the published list the row comes from, e.g. aws-list-2026-12';
COMMENT ON COLUMN claude.prices.description IS 'What the row prices, e.g. Claude Sonnet 5 (global)';
COMMENT ON COLUMN claude.prices.input_per_mtok IS 'USD per million input tokens';
COMMENT ON COLUMN claude.prices.output_per_mtok IS 'USD per million output tokens';
COMMENT ON COLUMN claude.prices.cache_read_per_mtok IS 'USD per million input tokens read from the prompt cache';
COMMENT ON COLUMN claude.prices.priority IS 'Tie-break between patterns of the same length: higher wins';
-- A model's row prices its geographic and in-region calls; its global. row
-- (a longer pattern, so it wins for global. ids) the global profile.
-- a 1-hour cache write costs 2x input (the published rule); batch inference half
INSERT INTO claude.prices (model_pattern, source, description, input_per_mtok, output_per_mtok,
                           cache_read_per_mtok, cache_write_per_mtok, priority,
                           cache_write_1h_per_mtok, batch_factor)
SELECT v.*, 2 * v.input_per_mtok, 0.5 FROM (VALUES
    ('%claude-opus-5-5%',          'aws-list-2026-12', 'Claude Opus 5.5',            4.40, 22.00, 0.44,  5.50,  10),  -- geo price inferred (1.1x global): the list gives the global one only
    ('global.%claude-opus-5-5%',   'aws-list-2026-12', 'Claude Opus 5.5 (global)',   4.00, 20.00, 0.40,  5.00,  10),
    ('%claude-opus-5%',            'aws-list-2026-12', 'Claude Opus 5',              5.50, 27.50, 0.55,  6.875, 10),
    ('global.%claude-opus-5%',     'aws-list-2026-12', 'Claude Opus 5 (global)',     5.00, 25.00, 0.50,  6.25,  10),
    ('%claude-opus-4-8%',          'aws-list-2026-12', 'Claude Opus 4.8',            5.50, 27.50, 0.55,  6.875, 10),
    ('global.%claude-opus-4-8%',   'aws-list-2026-12', 'Claude Opus 4.8 (global)',   5.00, 25.00, 0.50,  6.25,  10),
    ('%claude-opus-4-7%',          'aws-list-2026-12', 'Claude Opus 4.7',            5.50, 27.50, 0.55,  6.875, 10),
    ('global.%claude-opus-4-7%',   'aws-list-2026-12', 'Claude Opus 4.7 (global)',   5.00, 25.00, 0.50,  6.25,  10),
    ('%claude-opus-4-6%',          'aws-list-2026-12', 'Claude Opus 4.6',            5.50, 27.50, 0.55,  6.875, 10),
    ('global.%claude-opus-4-6%',   'aws-list-2026-12', 'Claude Opus 4.6 (global)',   5.00, 25.00, 0.50,  6.25,  10),
    ('%claude-opus-4-5%',          'aws-list-2026-12', 'Claude Opus 4.5',            5.50, 27.50, 0.55,  6.875, 10),  -- geo price inferred (1.1x global): the list gives the global one only
    ('global.%claude-opus-4-5%',   'aws-list-2026-12', 'Claude Opus 4.5 (global)',   5.00, 25.00, 0.50,  6.25,  10),
    ('%claude-opus-4-1%',          'aws-list-2026-12', 'Claude Opus 4.1',           15.00, 75.00, 1.50, 18.75,  10),
    ('%claude-opus-4-%',           'aws-list-2026-12', 'Claude Opus 4',             15.00, 75.00, 1.50, 18.75,   5),
    ('%claude-sonnet-5%',          'aws-list-2026-12', 'Claude Sonnet 5',            2.20, 11.00, 0.22,  2.75,  10),
    ('global.%claude-sonnet-5%',   'aws-list-2026-12', 'Claude Sonnet 5 (global)',   2.00, 10.00, 0.20,  2.50,  10),
    ('%claude-sonnet-4-6%',        'aws-list-2026-12', 'Claude Sonnet 4.6',          3.30, 16.50, 0.33,  4.125, 10),
    ('global.%claude-sonnet-4-6%', 'aws-list-2026-12', 'Claude Sonnet 4.6 (global)', 3.00, 15.00, 0.30,  3.75,  10),
    ('%claude-sonnet-4-5%',        'aws-list-2026-12', 'Claude Sonnet 4.5',          3.30, 16.50, 0.33,  4.125, 10),
    ('global.%claude-sonnet-4-5%', 'aws-list-2026-12', 'Claude Sonnet 4.5 (global)', 3.00, 15.00, 0.30,  3.75,  10),
    ('%claude-sonnet-4-%',         'aws-list-2026-12', 'Claude Sonnet 4',            3.00, 15.00, 0.30,  3.75,   5),
    ('%claude-haiku-4-5%',         'aws-list-2026-12', 'Claude Haiku 4.5',           1.10,  5.50, 0.11,  1.375, 10),
    ('global.%claude-haiku-4-5%',  'aws-list-2026-12', 'Claude Haiku 4.5 (global)',  1.00,  5.00, 0.10,  1.25,  10),
    ('%claude-fable-5-1%',         'aws-list-2026-12', 'Claude Fable 5.1',          11.00, 55.00, 0.275,13.75,  10),  -- geo price inferred (1.1x global): the list gives the global one only
    ('global.%claude-fable-5-1%',  'aws-list-2026-12', 'Claude Fable 5.1 (global)', 10.00, 50.00, 0.25, 12.50,  10),
    ('%claude-fable-5%',           'aws-list-2026-12', 'Claude Fable 5',            11.00, 55.00, 1.10, 13.75,  10),  -- geo price inferred (1.1x global): the list gives the global one only
    ('global.%claude-fable-5%',    'aws-list-2026-12', 'Claude Fable 5 (global)',   10.00, 50.00, 1.00, 12.50,  10),
    ('%claude-3-7-sonnet%',        'aws-list-2026-12', 'Claude 3.7 Sonnet',          3.00, 15.00, 0.30,  3.75,  10),
    ('%claude-3-5-sonnet%',        'aws-list-2026-12', 'Claude 3.5 Sonnet',          3.00, 15.00, 0.30,  3.75,  10),
    ('%claude-3-5-haiku%',         'aws-list-2026-12', 'Claude 3.5 Haiku',           0.80,  4.00, 0.08,  1.00,  10),
    ('%claude-3-haiku%',           'aws-list-2026-12', 'Claude 3 Haiku',             0.25,  1.25, 0,     0,     10)
) AS v (model_pattern, source, description, input_per_mtok, output_per_mtok,
         cache_read_per_mtok, cache_write_per_mtok, priority);

-- Editing a published row records your price as a row of your own (the
-- published one stays): pg_dump keeps exactly your rows, and a restore,
-- which re-creates the published ones, never collides with them.
CREATE FUNCTION claude.prices_keep_published()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO claude.prices (model_pattern, source, description, input_per_mtok, output_per_mtok,
                               cache_read_per_mtok, cache_write_per_mtok, priority,
                               cache_write_1h_per_mtok, batch_factor)
    VALUES (NEW.model_pattern, 'user', NEW.description, NEW.input_per_mtok, NEW.output_per_mtok,
            NEW.cache_read_per_mtok, NEW.cache_write_per_mtok, NEW.priority,
            NEW.cache_write_1h_per_mtok, NEW.batch_factor)
    ON CONFLICT (model_pattern, source) DO UPDATE SET
        description = EXCLUDED.description, input_per_mtok = EXCLUDED.input_per_mtok,
        output_per_mtok = EXCLUDED.output_per_mtok, cache_read_per_mtok = EXCLUDED.cache_read_per_mtok,
        cache_write_per_mtok = EXCLUDED.cache_write_per_mtok, priority = EXCLUDED.priority,
        cache_write_1h_per_mtok = EXCLUDED.cache_write_1h_per_mtok, batch_factor = EXCLUDED.batch_factor;
    -- the published row unchanged, so the statement reports the rows it edited
    RETURN OLD;
END $$;
COMMENT ON FUNCTION claude.prices_keep_published() IS 'Trigger: an edit of a published price becomes a row of your own (source user)';
CREATE TRIGGER prices_keep_published BEFORE UPDATE ON claude.prices
    FOR EACH ROW WHEN (OLD.source <> 'user') EXECUTE FUNCTION claude.prices_keep_published();
SELECT pg_catalog.pg_extension_config_dump('claude.prices', $$WHERE source = 'user'$$);
COMMENT ON COLUMN claude.prices.cache_write_per_mtok IS 'USD per million tokens written to the prompt cache for 5 minutes';
COMMENT ON COLUMN claude.prices.cache_write_1h_per_mtok IS
'USD per million tokens written to the prompt cache for an hour (claude.prompt_cache_ttl = 1h); NULL: 2x input';
COMMENT ON COLUMN claude.prices.batch_factor IS 'Share of the on-demand price a batch inference job pays (0.5: half)';

-- The price that applies to a model id: your rows first.  An ARN is priced
-- by its resource id (what follows the first '/'): a global. profile's ARN
-- costs what its global. id costs, a foundation model's ARN what the model
-- costs in-region.
CREATE FUNCTION claude.price_of(model text)
RETURNS claude.prices
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p FROM claude.prices p
    WHERE pg_catalog.regexp_replace(model, '^arn:[^/]*/', '') LIKE p.model_pattern
    ORDER BY (p.source = 'user') DESC, p.priority DESC, length(p.model_pattern) DESC
    LIMIT 1
$$;
COMMENT ON FUNCTION claude.price_of(text) IS 'The claude.prices row that prices a model id (yours over published, the longest pattern)';

-- What a call's tokens cost at a price, in USD (unrounded).  Tokens written
-- for an hour are part of cache_write_tokens and cost the 1-hour price
-- (NULL there: the published rule, 2x input).  Qualified throughout and
-- without a search_path of its own, so the planner can inline it.
CREATE FUNCTION claude.cost_usd(price claude.prices, input_tokens numeric, output_tokens numeric,
                                cache_read_tokens numeric DEFAULT 0, cache_write_tokens numeric DEFAULT 0,
                                cache_write_1h_tokens numeric DEFAULT 0)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ((coalesce(input_tokens, 0) OPERATOR(pg_catalog.*) (price).input_per_mtok)
          OPERATOR(pg_catalog.+) (coalesce(output_tokens, 0) OPERATOR(pg_catalog.*) (price).output_per_mtok)
          OPERATOR(pg_catalog.+) (coalesce(cache_read_tokens, 0) OPERATOR(pg_catalog.*) (price).cache_read_per_mtok)
          OPERATOR(pg_catalog.+) ((coalesce(cache_write_tokens, 0) OPERATOR(pg_catalog.-) coalesce(cache_write_1h_tokens, 0))
                                  OPERATOR(pg_catalog.*) (price).cache_write_per_mtok)
          OPERATOR(pg_catalog.+) (coalesce(cache_write_1h_tokens, 0)
                                  OPERATOR(pg_catalog.*) coalesce((price).cache_write_1h_per_mtok,
                                                                  2 OPERATOR(pg_catalog.*) (price).input_per_mtok)))
           OPERATOR(pg_catalog./) 1000000.0
$$;
COMMENT ON FUNCTION claude.cost_usd(claude.prices, numeric, numeric, numeric, numeric, numeric) IS
'USD that tokens cost at a claude.prices row (cache writes for an hour at the 1-hour price)';

-- BEGIN claude.models (generated by sql/catalogue.py: edit that, not this)
-- ---------------------------------------------------------------------------
-- The model catalogue (doc/models.md): one row per model, profile or ARN and
-- per source of what is known about it.  'seed' rows come with the
-- extension, 'aws' rows from claude_models_refresh(), 'learned' rows from
-- requests Bedrock refused, 'user' rows from you.  claude.model_info() merges
-- them column by column, user over learned over aws over seed; a NULL
-- column says nothing.  pg_dump keeps every row but the seed, which each
-- install and upgrade writes afresh, so your edits survive both.
-- ---------------------------------------------------------------------------
CREATE TABLE claude.models (
    model_id            text NOT NULL,
    source              text NOT NULL DEFAULT 'user'
                        CHECK (source IN ('seed', 'aws', 'learned', 'user')),
    kind                text CHECK (kind IN ('foundation_model', 'system_profile',
                                             'application_profile', 'provisioned_model')),
    base_model          text,
    family              text,
    version             numeric,
    display_name        text,
    region              text,
    on_demand           boolean,
    destinations        text[],
    lifecycle           text CHECK (lifecycle IN ('ACTIVE', 'LEGACY')),
    end_of_life         date,
    successor           text,
    temperature         boolean,
    top_p               boolean,
    top_k               boolean,
    sampling_exclusive  boolean,
    forced_tool_choice  boolean,
    structured_output   boolean,
    prompt_caching      boolean,
    cache_min_tokens    int CHECK (cache_min_tokens >= 0),
    cache_ttls          text[],
    context_window      int CHECK (context_window > 0),
    max_output          int CHECK (max_output > 0),
    thinking            text CHECK (thinking IN ('none', 'enabled', 'adaptive', 'always_on')),
    count_tokens        boolean,
    output_burndown     numeric CHECK (output_burndown >= 0),
    vision              boolean,
    messages_api        boolean,
    note                text,
    updated_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (model_id, source)
);
COMMENT ON TABLE claude.models IS
'Models, inference profiles and ARNs: routing, lifecycle and traits, one row per source (seed, aws, learned, user); read through claude.model_info()';
SELECT pg_catalog.pg_extension_config_dump('claude.models', $$WHERE source <> 'seed'$$);

-- An UPDATE of a seed or aws row records the columns it changes in your row
-- (source 'user') and leaves the published one as it was, so the next
-- upgrade or refresh cannot undo your edit.  The statement still reports
-- the rows it matched.
CREATE FUNCTION claude.models_keep_published()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    changed jsonb := '{}';
    k text;
    v jsonb;
BEGIN
    FOR k, v IN SELECT * FROM jsonb_each(to_jsonb(NEW)) LOOP
        IF k NOT IN ('model_id', 'source', 'updated_at') AND v IS DISTINCT FROM to_jsonb(OLD) -> k THEN
            changed := changed || jsonb_build_object(k, v);
        END IF;
    END LOOP;
    IF changed OPERATOR(pg_catalog.<>) '{}' THEN
        INSERT INTO claude.models AS m (model_id, source) VALUES (OLD.model_id, 'user')
            ON CONFLICT (model_id, source) DO NOTHING;
        UPDATE claude.models AS m
           SET (kind, base_model, family, version, display_name, region, on_demand, destinations,
                lifecycle, end_of_life, successor, temperature, top_p, top_k, sampling_exclusive,
                forced_tool_choice, structured_output, prompt_caching, cache_min_tokens, cache_ttls,
                context_window, max_output, thinking, count_tokens, output_burndown, vision, messages_api, note,
                updated_at)
             = (SELECT r.kind, r.base_model, r.family, r.version, r.display_name, r.region, r.on_demand,
                       r.destinations, r.lifecycle, r.end_of_life, r.successor, r.temperature, r.top_p,
                       r.top_k, r.sampling_exclusive, r.forced_tool_choice, r.structured_output,
                       r.prompt_caching, r.cache_min_tokens, r.cache_ttls, r.context_window,
                       r.max_output, r.thinking, r.count_tokens, r.output_burndown, r.vision, r.messages_api, r.note,
                       now()
                FROM jsonb_populate_record(m, changed) AS r)
         WHERE m.model_id OPERATOR(pg_catalog.=) OLD.model_id
           AND m.source OPERATOR(pg_catalog.=) 'user';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER models_keep_published BEFORE UPDATE ON claude.models
    FOR EACH ROW WHEN (OLD.source IN ('seed', 'aws')) EXECUTE FUNCTION claude.models_keep_published();

-- Backends keep what they read of the catalogue until it changes: a change
-- invalidates the table's relcache entry, which tells every backend.
CREATE FUNCTION claude.models_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'claude_models_changed'
LANGUAGE C;
CREATE TRIGGER models_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON claude.models
    FOR EACH STATEMENT EXECUTE FUNCTION claude.models_changed();

-- Family and version of a model id: ('opus', 4.6) from
-- anthropic.claude-opus-4-6-v1, ('sonnet', 3.5) from
-- anthropic.claude-3-5-sonnet-20241022-v2:0; NULLs when the id says neither.
CREATE FUNCTION claude.model_family(model text, OUT family text, OUT version numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(a[1], b[3]),
           coalesce(a[2] || coalesce('.' || a[3], ''), b[1] || coalesce('.' || b[2], ''))::numeric
    FROM (SELECT pg_catalog.regexp_match(model, 'claude-([a-z]+)-([0-9]+)(?:-([0-9])(?![0-9]))?') AS a,
                 pg_catalog.regexp_match(model, 'claude-([0-9]+)(?:-([0-9]))?-([a-z]+)') AS b) AS m
$$;

-- Every model id merged over its sources (user over learned over aws over
-- seed, column by column; arrays travel as text, since array_agg of arrays
-- is two-dimensional).
CREATE VIEW claude.models_merged AS
SELECT m.model_id,
       (array_agg(m.kind ORDER BY s.rank) FILTER (WHERE m.kind IS NOT NULL))[1] AS kind,
       (array_agg(m.base_model ORDER BY s.rank) FILTER (WHERE m.base_model IS NOT NULL))[1] AS base_model,
       (array_agg(m.family ORDER BY s.rank) FILTER (WHERE m.family IS NOT NULL))[1] AS family,
       (array_agg(m.version ORDER BY s.rank) FILTER (WHERE m.version IS NOT NULL))[1] AS version,
       (array_agg(m.display_name ORDER BY s.rank) FILTER (WHERE m.display_name IS NOT NULL))[1] AS display_name,
       (array_agg(m.region ORDER BY s.rank) FILTER (WHERE m.region IS NOT NULL))[1] AS region,
       (array_agg(m.on_demand ORDER BY s.rank) FILTER (WHERE m.on_demand IS NOT NULL))[1] AS on_demand,
       pg_catalog.string_to_array((array_agg(pg_catalog.array_to_string(m.destinations, ',') ORDER BY s.rank)
                                   FILTER (WHERE m.destinations IS NOT NULL))[1], ',') AS destinations,
       (array_agg(m.lifecycle ORDER BY s.rank) FILTER (WHERE m.lifecycle IS NOT NULL))[1] AS lifecycle,
       (array_agg(m.end_of_life ORDER BY s.rank) FILTER (WHERE m.end_of_life IS NOT NULL))[1] AS end_of_life,
       (array_agg(m.successor ORDER BY s.rank) FILTER (WHERE m.successor IS NOT NULL))[1] AS successor,
       (array_agg(m.temperature ORDER BY s.rank) FILTER (WHERE m.temperature IS NOT NULL))[1] AS temperature,
       (array_agg(m.top_p ORDER BY s.rank) FILTER (WHERE m.top_p IS NOT NULL))[1] AS top_p,
       (array_agg(m.top_k ORDER BY s.rank) FILTER (WHERE m.top_k IS NOT NULL))[1] AS top_k,
       (array_agg(m.sampling_exclusive ORDER BY s.rank) FILTER (WHERE m.sampling_exclusive IS NOT NULL))[1] AS sampling_exclusive,
       (array_agg(m.forced_tool_choice ORDER BY s.rank) FILTER (WHERE m.forced_tool_choice IS NOT NULL))[1] AS forced_tool_choice,
       (array_agg(m.structured_output ORDER BY s.rank) FILTER (WHERE m.structured_output IS NOT NULL))[1] AS structured_output,
       (array_agg(m.prompt_caching ORDER BY s.rank) FILTER (WHERE m.prompt_caching IS NOT NULL))[1] AS prompt_caching,
       (array_agg(m.cache_min_tokens ORDER BY s.rank) FILTER (WHERE m.cache_min_tokens IS NOT NULL))[1] AS cache_min_tokens,
       pg_catalog.string_to_array((array_agg(pg_catalog.array_to_string(m.cache_ttls, ',') ORDER BY s.rank)
                                   FILTER (WHERE m.cache_ttls IS NOT NULL))[1], ',') AS cache_ttls,
       (array_agg(m.context_window ORDER BY s.rank) FILTER (WHERE m.context_window IS NOT NULL))[1] AS context_window,
       (array_agg(m.max_output ORDER BY s.rank) FILTER (WHERE m.max_output IS NOT NULL))[1] AS max_output,
       (array_agg(m.thinking ORDER BY s.rank) FILTER (WHERE m.thinking IS NOT NULL))[1] AS thinking,
       (array_agg(m.count_tokens ORDER BY s.rank) FILTER (WHERE m.count_tokens IS NOT NULL))[1] AS count_tokens,
       (array_agg(m.output_burndown ORDER BY s.rank) FILTER (WHERE m.output_burndown IS NOT NULL))[1] AS output_burndown,
       (array_agg(m.vision ORDER BY s.rank) FILTER (WHERE m.vision IS NOT NULL))[1] AS vision,
       (array_agg(m.messages_api ORDER BY s.rank) FILTER (WHERE m.messages_api IS NOT NULL))[1] AS messages_api,
       array_agg(DISTINCT m.source ORDER BY m.source) AS sources
FROM claude.models AS m
JOIN (VALUES ('user', 1), ('learned', 2), ('aws', 3), ('seed', 4)) AS s(source, rank)
  ON s.source OPERATOR(pg_catalog.=) m.source
GROUP BY m.model_id;
COMMENT ON VIEW claude.models_merged IS 'claude.models with each id''s sources merged (user over learned over aws over seed)';

-- What pg_claude knows of a model as called: the row of the id itself (a
-- profile's routing), over the row of its base model (traits, lifecycle),
-- over the newest model of its family (a model not yet in the table
-- inherits its family's newest traits).  resolved_by says which applied:
-- 'catalogue', 'family' or 'unknown' (every trait NULL: the request is sent
-- as before and what Bedrock refuses is learned).
CREATE FUNCTION claude.model_info(model text)
RETURNS TABLE (model_id text, base_model text, kind text, family text, version numeric,
               display_name text, region text, on_demand boolean, destinations text[],
               lifecycle text, end_of_life date, successor text,
               temperature boolean, top_p boolean, top_k boolean, sampling_exclusive boolean,
               forced_tool_choice boolean, structured_output boolean, prompt_caching boolean,
               cache_min_tokens int, cache_ttls text[], context_window int, max_output int,
               thinking text, count_tokens boolean, output_burndown numeric, vision boolean,
               messages_api boolean, resolved_by text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bare text := regexp_replace(model, '^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:(foundation-model|inference-profile)/', '');
    self claude.models_merged;
    base claude.models_merged;
    fam claude.models_merged;
    base_id text;
    f record;
    how text := 'catalogue';
BEGIN
    SELECT * INTO self FROM claude.models_merged AS v WHERE v.model_id OPERATOR(pg_catalog.=) model;
    IF self.model_id IS NULL AND bare OPERATOR(pg_catalog.<>) model THEN
        SELECT * INTO self FROM claude.models_merged AS v WHERE v.model_id OPERATOR(pg_catalog.=) bare;
    END IF;
    base_id := coalesce(self.base_model,
                        regexp_replace(bare, '^(au|apac|us|eu|jp|ca|in|us-gov|global)\.', ''));
    IF base_id OPERATOR(pg_catalog.=) coalesce(self.model_id, '') THEN
        base := self;
    ELSE
        SELECT * INTO base FROM claude.models_merged AS v WHERE v.model_id OPERATOR(pg_catalog.=) base_id;
    END IF;
    IF base.model_id IS NULL OR base.temperature IS NULL THEN
        f := claude.model_family(base_id);
        SELECT * INTO fam FROM claude.models_merged AS v
         WHERE v.family OPERATOR(pg_catalog.=) coalesce(base.family, f.family)
           AND v.kind OPERATOR(pg_catalog.=) 'foundation_model'
           AND v.model_id OPERATOR(pg_catalog.<>) base_id
         ORDER BY v.version DESC NULLS LAST, v.model_id DESC
         LIMIT 1;
        how := CASE WHEN fam.model_id IS NOT NULL THEN 'family'
                    WHEN base.model_id IS NOT NULL THEN 'catalogue' ELSE 'unknown' END;
    END IF;
    model_id := model;
    base_model := base_id;
    kind := coalesce(self.kind, CASE WHEN bare ~ '^[a-z-]+\.[a-z0-9-]+\.' THEN 'system_profile'
                                     WHEN model LIKE 'arn:%' THEN NULL ELSE 'foundation_model' END);
    family := coalesce(base.family, fam.family);
    version := coalesce(base.version, (claude.model_family(base_id)).version);
    display_name := coalesce(self.display_name, base.display_name);
    region := coalesce(self.region, base.region);
    on_demand := coalesce(self.on_demand, base.on_demand);
    destinations := self.destinations;
    lifecycle := coalesce(self.lifecycle, base.lifecycle);
    end_of_life := coalesce(self.end_of_life, base.end_of_life);
    successor := coalesce(self.successor, base.successor);
    temperature := coalesce(self.temperature, base.temperature, fam.temperature);
    top_p := coalesce(self.top_p, base.top_p, fam.top_p);
    top_k := coalesce(self.top_k, base.top_k, fam.top_k);
    sampling_exclusive := coalesce(self.sampling_exclusive, base.sampling_exclusive, fam.sampling_exclusive);
    forced_tool_choice := coalesce(self.forced_tool_choice, base.forced_tool_choice, fam.forced_tool_choice);
    structured_output := coalesce(self.structured_output, base.structured_output, fam.structured_output);
    prompt_caching := coalesce(self.prompt_caching, base.prompt_caching, fam.prompt_caching);
    cache_min_tokens := coalesce(self.cache_min_tokens, base.cache_min_tokens, fam.cache_min_tokens);
    cache_ttls := coalesce(self.cache_ttls, base.cache_ttls, fam.cache_ttls);
    context_window := coalesce(self.context_window, base.context_window, fam.context_window);
    max_output := coalesce(self.max_output, base.max_output, fam.max_output);
    thinking := coalesce(self.thinking, base.thinking, fam.thinking);
    count_tokens := coalesce(self.count_tokens, base.count_tokens, fam.count_tokens);
    output_burndown := coalesce(self.output_burndown, base.output_burndown, fam.output_burndown);
    vision := coalesce(self.vision, base.vision, fam.vision);
    -- not inherited from the family: a model not yet known is not known to be on it
    messages_api := coalesce(self.messages_api, base.messages_api);
    resolved_by := how;
    RETURN NEXT;
END $$;
COMMENT ON FUNCTION claude.model_info(text) IS
'What pg_claude knows of a model id, profile or ARN: routing, lifecycle, traits, and whether the catalogue or a family rule said so';

-- Foundation models in Sydney, December 2026 (test/data/claude-models/ap-southeast-2.json).
INSERT INTO claude.models (source, region, model_id, kind, family, version, display_name, on_demand, lifecycle, end_of_life, successor, temperature, top_p, top_k, sampling_exclusive, forced_tool_choice, structured_output, prompt_caching, cache_min_tokens, context_window, max_output, thinking, count_tokens, output_burndown, vision, messages_api, cache_ttls, note) VALUES
    ('seed', 'ap-southeast-2', 'anthropic.claude-fable-5', 'foundation_model', 'fable', 5, 'Claude Fable 5', false, 'ACTIVE', NULL, NULL, true, true, true, true, true, false, true, 4096, 200000, 64000, 'enabled', true, 5, true, true, '{5m,1h}', NULL),
    ('seed', 'ap-southeast-2', 'anthropic.claude-fable-5-1', 'foundation_model', 'fable', 5.1, 'Claude Fable 5.1', false, 'ACTIVE', NULL, NULL, true, true, true, true, false, false, true, 4096, 200000, 64000, 'always_on', true, 5, true, true, '{5m,1h}', 'Sydney routes unverified: au and global assumed'),
    ('seed', 'ap-southeast-2', 'anthropic.claude-3-haiku-20240307-v1:0', 'foundation_model', 'haiku', 3, 'Claude 3 Haiku', true, 'LEGACY', NULL, 'anthropic.claude-haiku-4-5-20251001-v1:0', true, true, true, false, true, false, false, NULL, 200000, 4096, 'none', true, 1, true, false, NULL, 'end of life 2026-09-10 (unverified)'),
    ('seed', 'ap-southeast-2', 'anthropic.claude-3-5-haiku-20241022-v1:0', 'foundation_model', 'haiku', 3.5, 'Claude 3.5 Haiku', false, 'ACTIVE', NULL, NULL, true, true, true, false, true, false, true, 2048, 200000, 8192, 'none', true, 1, true, false, '{5m,1h}', 'not in the facts: Anthropic''s model overview'),
    ('seed', 'ap-southeast-2', 'anthropic.claude-haiku-4-5-20251001-v1:0', 'foundation_model', 'haiku', 4.5, 'Claude Haiku 4.5', false, 'ACTIVE', NULL, NULL, true, true, true, true, true, true, true, 4096, 200000, 64000, 'enabled', true, 5, true, true, '{5m,1h}', NULL),
    ('seed', 'ap-southeast-2', 'anthropic.claude-opus-4-20250514-v1:0', 'foundation_model', 'opus', 4, 'Claude Opus 4', false, 'ACTIVE', NULL, NULL, true, true, true, false, true, false, true, 1024, 200000, 32000, 'enabled', true, 5, true, NULL, '{5m,1h}', 'not in the facts: Anthropic''s model overview'),
    ('seed', 'ap-southeast-2', 'anthropic.claude-opus-4-1-20250805-v1:0', 'foundation_model', 'opus', 4.1, 'Claude Opus 4.1', false, 'ACTIVE', NULL, NULL, true, true, true, true, true, false, true, 1024, 200000, 32000, 'enabled', true, 5, true, NULL, '{5m,1h}', 'not in the facts: Anthropic''s model overview'),
    ('seed', 'ap-southeast-2', 'anthropic.claude-opus-4-5-20251101-v1:0', 'foundation_model', 'opus', 4.5, 'Claude Opus 4.5', false, 'ACTIVE', NULL, NULL, true, true, true, true, true, true, true, 4096, 200000, 64000, 'enabled', true, 5, true, true, '{5m,1h}', NULL),
    ('seed', 'ap-southeast-2', 'anthropic.claude-opus-4-6-v1', 'foundation_model', 'opus', 4.6, 'Claude Opus 4.6', false, 'ACTIVE', NULL, NULL, true, true, true, true, true, true, true, 4096, 1000000, 128000, 'enabled', true, 5, true, true, '{5m,1h}', NULL),
    ('seed', 'ap-southeast-2', 'anthropic.claude-opus-4-7', 'foundation_model', 'opus', 4.7, 'Claude Opus 4.7', false, 'ACTIVE', NULL, NULL, false, false, false, false, true, true, true, 4096, 1000000, 128000, 'adaptive', true, 5, true, true, '{5m,1h}', NULL),
    ('seed', 'ap-southeast-2', 'anthropic.claude-opus-4-8', 'foundation_model', 'opus', 4.8, 'Claude Opus 4.8', false, 'ACTIVE', NULL, NULL, false, false, false, false, true, true, true, 4096, 1000000, 128000, 'adaptive', true, 5, true, true, '{5m,1h}', NULL),
    ('seed', 'ap-southeast-2', 'anthropic.claude-opus-5', 'foundation_model', 'opus', 5, 'Claude Opus 5', false, 'ACTIVE', NULL, NULL, false, false, false, false, true, true, true, 4096, 1000000, 128000, 'adaptive', true, 5, true, true, '{5m,1h}', NULL),
    ('seed', 'ap-southeast-2', 'anthropic.claude-opus-5-5', 'foundation_model', 'opus', 5.5, 'Claude Opus 5.5', false, 'ACTIVE', NULL, NULL, false, false, false, false, false, true, true, 4096, 1000000, 128000, 'always_on', true, 5, true, true, '{5m,1h}', 'Sydney routes unverified: au and global assumed'),
    ('seed', 'ap-southeast-2', 'anthropic.claude-3-5-sonnet-20240620-v1:0', 'foundation_model', 'sonnet', 3.5, 'Claude 3.5 Sonnet', true, 'ACTIVE', NULL, NULL, true, true, true, false, true, false, false, NULL, 200000, 4096, 'none', true, 1, true, false, NULL, 'not in the facts: Anthropic''s model overview'),
    ('seed', 'ap-southeast-2', 'anthropic.claude-3-5-sonnet-20241022-v2:0', 'foundation_model', 'sonnet', 3.5, 'Claude 3.5 Sonnet', true, 'ACTIVE', NULL, NULL, true, true, true, false, true, false, false, NULL, 200000, 8192, 'none', true, 1, true, false, NULL, 'not in the facts: Anthropic''s model overview'),
    ('seed', 'ap-southeast-2', 'anthropic.claude-3-7-sonnet-20250219-v1:0', 'foundation_model', 'sonnet', 3.7, 'Claude 3.7 Sonnet', false, 'ACTIVE', NULL, NULL, true, true, true, false, true, false, true, 1024, 200000, 64000, 'enabled', true, 1, true, false, '{5m,1h}', 'not in the facts: Anthropic''s model overview'),
    ('seed', 'ap-southeast-2', 'anthropic.claude-sonnet-4-20250514-v1:0', 'foundation_model', 'sonnet', 4, 'Claude Sonnet 4', false, 'LEGACY', NULL, 'anthropic.claude-sonnet-5', true, true, true, false, true, false, true, 1024, 200000, 64000, 'enabled', true, 5, true, NULL, '{5m,1h}', NULL),
    ('seed', 'ap-southeast-2', 'anthropic.claude-sonnet-4-5-20250929-v1:0', 'foundation_model', 'sonnet', 4.5, 'Claude Sonnet 4.5', false, 'ACTIVE', NULL, NULL, true, true, true, true, true, true, true, 1024, 200000, 64000, 'enabled', true, 5, true, true, '{5m,1h}', NULL),
    ('seed', 'ap-southeast-2', 'anthropic.claude-sonnet-4-6', 'foundation_model', 'sonnet', 4.6, 'Claude Sonnet 4.6', false, 'ACTIVE', NULL, NULL, true, true, true, true, true, true, true, 2048, 1000000, 64000, 'enabled', true, 5, true, true, '{5m,1h}', NULL),
    ('seed', 'ap-southeast-2', 'anthropic.claude-sonnet-5', 'foundation_model', 'sonnet', 5, 'Claude Sonnet 5', false, 'ACTIVE', NULL, NULL, false, false, false, false, true, true, true, 2048, 1000000, 64000, 'enabled', true, 5, true, true, '{5m,1h}', NULL);

-- Their system-defined inference profiles, with the regions each routes to
-- (NULL: any commercial region).
INSERT INTO claude.models (source, region, model_id, kind, base_model, destinations) VALUES
    ('seed', 'ap-southeast-2', 'apac.anthropic.claude-3-5-sonnet-20240620-v1:0', 'system_profile', 'anthropic.claude-3-5-sonnet-20240620-v1:0', '{ap-northeast-1,ap-northeast-2,ap-northeast-3,ap-south-1,ap-south-2,ap-southeast-1,ap-southeast-2,ap-southeast-4,ap-east-2,ap-southeast-3,ap-southeast-5,ap-southeast-7}'),
    ('seed', 'ap-southeast-2', 'apac.anthropic.claude-3-5-sonnet-20241022-v2:0', 'system_profile', 'anthropic.claude-3-5-sonnet-20241022-v2:0', '{ap-northeast-1,ap-northeast-2,ap-northeast-3,ap-south-1,ap-south-2,ap-southeast-1,ap-southeast-2,ap-southeast-4,ap-east-2,ap-southeast-3,ap-southeast-5,ap-southeast-7}'),
    ('seed', 'ap-southeast-2', 'apac.anthropic.claude-3-7-sonnet-20250219-v1:0', 'system_profile', 'anthropic.claude-3-7-sonnet-20250219-v1:0', '{ap-northeast-1,ap-northeast-2,ap-northeast-3,ap-south-1,ap-south-2,ap-southeast-1,ap-southeast-2,ap-southeast-4,ap-east-2,ap-southeast-3,ap-southeast-5,ap-southeast-7}'),
    ('seed', 'ap-southeast-2', 'apac.anthropic.claude-sonnet-4-20250514-v1:0', 'system_profile', 'anthropic.claude-sonnet-4-20250514-v1:0', '{ap-northeast-1,ap-northeast-2,ap-northeast-3,ap-south-1,ap-south-2,ap-southeast-1,ap-southeast-2,ap-southeast-4,ap-east-2,ap-southeast-3,ap-southeast-5,ap-southeast-7}'),
    ('seed', 'ap-southeast-2', 'au.anthropic.claude-fable-5-1', 'system_profile', 'anthropic.claude-fable-5-1', '{ap-southeast-2,ap-southeast-4}'),
    ('seed', 'ap-southeast-2', 'au.anthropic.claude-haiku-4-5-20251001-v1:0', 'system_profile', 'anthropic.claude-haiku-4-5-20251001-v1:0', '{ap-southeast-2,ap-southeast-4}'),
    ('seed', 'ap-southeast-2', 'au.anthropic.claude-opus-4-6-v1', 'system_profile', 'anthropic.claude-opus-4-6-v1', '{ap-southeast-2,ap-southeast-4}'),
    ('seed', 'ap-southeast-2', 'au.anthropic.claude-opus-4-7', 'system_profile', 'anthropic.claude-opus-4-7', '{ap-southeast-2,ap-southeast-4}'),
    ('seed', 'ap-southeast-2', 'au.anthropic.claude-opus-4-8', 'system_profile', 'anthropic.claude-opus-4-8', '{ap-southeast-2,ap-southeast-4}'),
    ('seed', 'ap-southeast-2', 'au.anthropic.claude-opus-5', 'system_profile', 'anthropic.claude-opus-5', '{ap-southeast-2,ap-southeast-4}'),
    ('seed', 'ap-southeast-2', 'au.anthropic.claude-opus-5-5', 'system_profile', 'anthropic.claude-opus-5-5', '{ap-southeast-2,ap-southeast-4}'),
    ('seed', 'ap-southeast-2', 'au.anthropic.claude-sonnet-4-5-20250929-v1:0', 'system_profile', 'anthropic.claude-sonnet-4-5-20250929-v1:0', '{ap-southeast-2,ap-southeast-4}'),
    ('seed', 'ap-southeast-2', 'au.anthropic.claude-sonnet-4-6', 'system_profile', 'anthropic.claude-sonnet-4-6', '{ap-southeast-2,ap-southeast-4}'),
    ('seed', 'ap-southeast-2', 'au.anthropic.claude-sonnet-5', 'system_profile', 'anthropic.claude-sonnet-5', '{ap-southeast-2,ap-southeast-4}'),
    ('seed', 'ap-southeast-2', 'global.anthropic.claude-fable-5', 'system_profile', 'anthropic.claude-fable-5', NULL),
    ('seed', 'ap-southeast-2', 'global.anthropic.claude-fable-5-1', 'system_profile', 'anthropic.claude-fable-5-1', NULL),
    ('seed', 'ap-southeast-2', 'global.anthropic.claude-haiku-4-5-20251001-v1:0', 'system_profile', 'anthropic.claude-haiku-4-5-20251001-v1:0', NULL),
    ('seed', 'ap-southeast-2', 'global.anthropic.claude-opus-4-5-20251101-v1:0', 'system_profile', 'anthropic.claude-opus-4-5-20251101-v1:0', NULL),
    ('seed', 'ap-southeast-2', 'global.anthropic.claude-opus-4-6-v1', 'system_profile', 'anthropic.claude-opus-4-6-v1', NULL),
    ('seed', 'ap-southeast-2', 'global.anthropic.claude-opus-4-7', 'system_profile', 'anthropic.claude-opus-4-7', NULL),
    ('seed', 'ap-southeast-2', 'global.anthropic.claude-opus-4-8', 'system_profile', 'anthropic.claude-opus-4-8', NULL),
    ('seed', 'ap-southeast-2', 'global.anthropic.claude-opus-5', 'system_profile', 'anthropic.claude-opus-5', NULL),
    ('seed', 'ap-southeast-2', 'global.anthropic.claude-opus-5-5', 'system_profile', 'anthropic.claude-opus-5-5', NULL),
    ('seed', 'ap-southeast-2', 'global.anthropic.claude-sonnet-4-5-20250929-v1:0', 'system_profile', 'anthropic.claude-sonnet-4-5-20250929-v1:0', NULL),
    ('seed', 'ap-southeast-2', 'global.anthropic.claude-sonnet-4-6', 'system_profile', 'anthropic.claude-sonnet-4-6', NULL),
    ('seed', 'ap-southeast-2', 'global.anthropic.claude-sonnet-5', 'system_profile', 'anthropic.claude-sonnet-5', NULL);
-- END claude.models

-- What the catalogue's columns and functions mean (outside the generated block)
COMMENT ON COLUMN claude.models.model_id IS 'Model id, inference profile id or ARN';
COMMENT ON COLUMN claude.models.source IS 'seed (the install), aws (claude_models_refresh), learned (from Bedrock''s refusals) or user (yours, wins)';
COMMENT ON COLUMN claude.models.kind IS 'foundation_model, system_profile, application_profile or provisioned_model';
COMMENT ON COLUMN claude.models.base_model IS 'Foundation model a profile routes to';
COMMENT ON COLUMN claude.models.family IS 'Model family: opus, sonnet, haiku, ...';
COMMENT ON COLUMN claude.models.version IS 'Version within the family, e.g. 4.5';
COMMENT ON COLUMN claude.models.display_name IS 'Name as Bedrock shows it';
COMMENT ON COLUMN claude.models.region IS 'Region the row was listed in (claude_models_refresh)';
COMMENT ON COLUMN claude.models.on_demand IS 'Callable on demand (not only provisioned or through a profile)';
COMMENT ON COLUMN claude.models.destinations IS 'Regions a profile routes requests to; NULL: anywhere';
COMMENT ON COLUMN claude.models.lifecycle IS 'ACTIVE or LEGACY';
COMMENT ON COLUMN claude.models.end_of_life IS 'When Bedrock stops serving it';
COMMENT ON COLUMN claude.models.successor IS 'Model to move to when it is LEGACY';
COMMENT ON COLUMN claude.models.temperature IS 'Accepts temperature';
COMMENT ON COLUMN claude.models.top_p IS 'Accepts top_p';
COMMENT ON COLUMN claude.models.top_k IS 'Accepts top_k';
COMMENT ON COLUMN claude.models.sampling_exclusive IS 'Accepts temperature or top_p, not both';
COMMENT ON COLUMN claude.models.forced_tool_choice IS 'Accepts a forced tool_choice';
COMMENT ON COLUMN claude.models.structured_output IS 'Supports structured output (constrained JSON)';
COMMENT ON COLUMN claude.models.prompt_caching IS 'Supports prompt caching (cache_control)';
COMMENT ON COLUMN claude.models.cache_min_tokens IS 'Fewest tokens a cached prompt prefix needs';
COMMENT ON COLUMN claude.models.cache_ttls IS 'Prompt cache TTLs it accepts (5m, 1h)';
COMMENT ON COLUMN claude.models.context_window IS 'Context window, in tokens';
COMMENT ON COLUMN claude.models.max_output IS 'Most output tokens a request may ask for';
COMMENT ON COLUMN claude.models.thinking IS 'Extended thinking: none, enabled, adaptive or always_on';
COMMENT ON COLUMN claude.models.count_tokens IS 'Bedrock CountTokens supports it';
COMMENT ON COLUMN claude.models.output_burndown IS 'Quota tokens one output token costs under claude.tokens_per_minute';
COMMENT ON COLUMN claude.models.vision IS 'Reads images and PDF documents (attachments are refused when false)';
COMMENT ON COLUMN claude.models.messages_api IS 'On Bedrock''s Messages API (claude.bedrock_api = messages or mantle is refused when false; NULL: not known, allowed)';
COMMENT ON COLUMN claude.models.note IS 'Where the row''s facts come from';
COMMENT ON COLUMN claude.models.updated_at IS 'When the row last changed';
COMMENT ON FUNCTION claude.models_keep_published() IS 'Trigger: an edit of a published model row becomes a row of your own (source user)';
COMMENT ON FUNCTION claude.models_changed() IS 'Trigger: tells every backend that claude.models changed';
COMMENT ON FUNCTION claude.model_family(text) IS 'Family and version of a model id (a new Opus behaves like the newest Opus)';
COMMENT ON COLUMN claude.models_merged.model_id IS 'Model id, inference profile id or ARN';
COMMENT ON COLUMN claude.models_merged.kind IS 'foundation_model, system_profile, application_profile or provisioned_model';
COMMENT ON COLUMN claude.models_merged.base_model IS 'Foundation model a profile routes to';
COMMENT ON COLUMN claude.models_merged.family IS 'Model family: opus, sonnet, haiku, ...';
COMMENT ON COLUMN claude.models_merged.version IS 'Version within the family, e.g. 4.5';
COMMENT ON COLUMN claude.models_merged.display_name IS 'Name as Bedrock shows it';
COMMENT ON COLUMN claude.models_merged.region IS 'Region the row was listed in (claude_models_refresh)';
COMMENT ON COLUMN claude.models_merged.on_demand IS 'Callable on demand (not only provisioned or through a profile)';
COMMENT ON COLUMN claude.models_merged.destinations IS 'Regions a profile routes requests to; NULL: anywhere';
COMMENT ON COLUMN claude.models_merged.lifecycle IS 'ACTIVE or LEGACY';
COMMENT ON COLUMN claude.models_merged.end_of_life IS 'When Bedrock stops serving it';
COMMENT ON COLUMN claude.models_merged.successor IS 'Model to move to when it is LEGACY';
COMMENT ON COLUMN claude.models_merged.temperature IS 'Accepts temperature';
COMMENT ON COLUMN claude.models_merged.top_p IS 'Accepts top_p';
COMMENT ON COLUMN claude.models_merged.top_k IS 'Accepts top_k';
COMMENT ON COLUMN claude.models_merged.sampling_exclusive IS 'Accepts temperature or top_p, not both';
COMMENT ON COLUMN claude.models_merged.forced_tool_choice IS 'Accepts a forced tool_choice';
COMMENT ON COLUMN claude.models_merged.structured_output IS 'Supports structured output (constrained JSON)';
COMMENT ON COLUMN claude.models_merged.prompt_caching IS 'Supports prompt caching (cache_control)';
COMMENT ON COLUMN claude.models_merged.cache_min_tokens IS 'Fewest tokens a cached prompt prefix needs';
COMMENT ON COLUMN claude.models_merged.cache_ttls IS 'Prompt cache TTLs it accepts (5m, 1h)';
COMMENT ON COLUMN claude.models_merged.context_window IS 'Context window, in tokens';
COMMENT ON COLUMN claude.models_merged.max_output IS 'Most output tokens a request may ask for';
COMMENT ON COLUMN claude.models_merged.thinking IS 'Extended thinking: none, enabled, adaptive or always_on';
COMMENT ON COLUMN claude.models_merged.count_tokens IS 'Bedrock CountTokens supports it';
COMMENT ON COLUMN claude.models_merged.output_burndown IS 'Quota tokens one output token costs under claude.tokens_per_minute';
COMMENT ON COLUMN claude.models_merged.vision IS 'Reads images and PDF documents (attachments are refused when false)';
COMMENT ON COLUMN claude.models_merged.messages_api IS 'On Bedrock''s Messages API (claude.bedrock_api = messages or mantle is refused when false; NULL: not known, allowed)';
COMMENT ON COLUMN claude.models_merged.sources IS 'Sources merged into the row, in the order they win';

CREATE FUNCTION claude.dropped_records()
RETURNS bigint
AS 'MODULE_PATHNAME', 'claude_dropped_records'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION claude.dropped_records() IS
'Audit and cache records dropped because the shared buffer was full, since the server started';

CREATE FUNCTION @extschema@.claude_maintain()
RETURNS bigint
AS 'MODULE_PATHNAME', 'claude_maintain'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.claude_maintain() IS
'Apply claude.usage_retention, claude.job_retention, claude.cache_ttl and claude.cache_max_entries now (the worker does it every minute)';

CREATE FUNCTION @extschema@.claude_cache_key(body jsonb, model text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_cache_key_sql'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_cache_key(jsonb, text) IS
'The claude.cache key of the request claude_invoke(body, model) would send';

-- Per model and day: calls, cache hits, errors by code, latency
-- percentiles, tokens, estimated cost.  security_invoker: each role sees
-- the statistics of the rows it may see.
CREATE VIEW claude.stats WITH (security_invoker = true) AS
WITH u AS (
    SELECT usage.*, (usage.ts AT TIME ZONE 'UTC')::date AS day,
           claude.price_of(usage.model) AS price
    FROM claude.usage
), errs AS (
    SELECT e.model, e.day, jsonb_object_agg(e.error_code, e.n) AS errors_by_code
    FROM (SELECT u.model, u.day, u.error_code, count(*) AS n
          FROM u WHERE u.error_code IS NOT NULL AND NOT u.cache_hit
          GROUP BY u.model, u.day, u.error_code) e
    GROUP BY e.model, e.day
)
SELECT u.model,
       u.day,
       count(*) FILTER (WHERE NOT u.cache_hit) AS calls,
       count(*) FILTER (WHERE u.cache_hit) AS cache_hits,
       count(*) FILTER (WHERE NOT u.cache_hit AND u.error_code IS NOT NULL) AS errors,
       coalesce(errs.errors_by_code, '{}') AS errors_by_code,
       pg_catalog.round((percentile_cont(0.50) WITHIN GROUP (ORDER BY u.latency_ms) FILTER (WHERE NOT u.cache_hit))::numeric, 1)::float8 AS p50_latency_ms,
       pg_catalog.round((percentile_cont(0.95) WITHIN GROUP (ORDER BY u.latency_ms) FILTER (WHERE NOT u.cache_hit))::numeric, 1)::float8 AS p95_latency_ms,
       pg_catalog.round((percentile_cont(0.99) WITHIN GROUP (ORDER BY u.latency_ms) FILTER (WHERE NOT u.cache_hit))::numeric, 1)::float8 AS p99_latency_ms,
       sum(u.input_tokens) FILTER (WHERE NOT u.cache_hit) AS input_tokens,
       sum(u.output_tokens) FILTER (WHERE NOT u.cache_hit) AS output_tokens,
       sum(u.cache_read_tokens) FILTER (WHERE NOT u.cache_hit) AS cache_read_tokens,
       sum(u.cache_write_tokens) FILTER (WHERE NOT u.cache_hit) AS cache_write_tokens,
       round(sum(claude.cost_usd(u.price, u.input_tokens, u.output_tokens, u.cache_read_tokens,
                                 u.cache_write_tokens, u.cache_write_1h_tokens)
                 -- a batch inference record pays the batch share (job_batch.c)
                 * CASE WHEN u.batch_job_arn IS NOT NULL THEN (u.price).batch_factor ELSE 1 END)
             FILTER (WHERE NOT u.cache_hit), 6) AS estimated_cost_usd,
       claude.dropped_records() AS dropped_audit_records,
       pg_catalog.round((percentile_cont(0.50) WITHIN GROUP (ORDER BY u.ttft_ms) FILTER (WHERE NOT u.cache_hit))::numeric, 1)::float8 AS p50_ttft_ms,
       pg_catalog.round((percentile_cont(0.95) WITHIN GROUP (ORDER BY u.ttft_ms) FILTER (WHERE NOT u.cache_hit))::numeric, 1)::float8 AS p95_ttft_ms,
       pg_catalog.round((percentile_cont(0.99) WITHIN GROUP (ORDER BY u.ttft_ms) FILTER (WHERE NOT u.cache_hit))::numeric, 1)::float8 AS p99_ttft_ms
FROM u LEFT JOIN errs ON errs.model IS NOT DISTINCT FROM u.model AND errs.day = u.day
GROUP BY u.model, u.day, errs.errors_by_code;
COMMENT ON VIEW claude.stats IS 'Per model and day: calls, cache hits, errors by code, latency percentiles, tokens and estimated cost (of the rows you may see)';
COMMENT ON COLUMN claude.stats.model IS 'Model id the calls named';
COMMENT ON COLUMN claude.stats.day IS 'Day of the calls (UTC)';
COMMENT ON COLUMN claude.stats.calls IS 'Calls sent (attempts, retries included)';
COMMENT ON COLUMN claude.stats.cache_hits IS 'Requests answered from claude.cache';
COMMENT ON COLUMN claude.stats.errors IS 'Calls that failed';
COMMENT ON COLUMN claude.stats.errors_by_code IS 'Failed calls by error code, as a JSON object';
COMMENT ON COLUMN claude.stats.p50_latency_ms IS 'Median latency of the calls, in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.stats.p95_latency_ms IS '95th percentile latency, in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.stats.p99_latency_ms IS '99th percentile latency, in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.stats.input_tokens IS 'Input tokens of the calls';
COMMENT ON COLUMN claude.stats.output_tokens IS 'Output tokens of the calls';
COMMENT ON COLUMN claude.stats.cache_read_tokens IS 'Input tokens read from the prompt cache';
COMMENT ON COLUMN claude.stats.cache_write_tokens IS 'Tokens written to the prompt cache';
COMMENT ON COLUMN claude.stats.estimated_cost_usd IS 'Cost at claude.prices (USD)';
COMMENT ON COLUMN claude.stats.dropped_audit_records IS 'Audit records lost since the server started (claude.dropped_records())';

-- Per model and hour: claude.stats' columns, an hour (UTC) in place of the day.
CREATE VIEW claude.stats_hourly WITH (security_invoker = true) AS
WITH u AS (
    SELECT usage.*, pg_catalog.date_trunc('hour', usage.ts AT TIME ZONE 'UTC') AS hour,
           claude.price_of(usage.model) AS price
    FROM claude.usage
), errs AS (
    SELECT e.model, e.hour, jsonb_object_agg(e.error_code, e.n) AS errors_by_code
    FROM (SELECT u.model, u.hour, u.error_code, count(*) AS n
          FROM u WHERE u.error_code IS NOT NULL AND NOT u.cache_hit
          GROUP BY u.model, u.hour, u.error_code) e
    GROUP BY e.model, e.hour
)
SELECT u.model,
       u.hour,
       count(*) FILTER (WHERE NOT u.cache_hit) AS calls,
       count(*) FILTER (WHERE u.cache_hit) AS cache_hits,
       count(*) FILTER (WHERE NOT u.cache_hit AND u.error_code IS NOT NULL) AS errors,
       coalesce(errs.errors_by_code, '{}') AS errors_by_code,
       pg_catalog.round((percentile_cont(0.50) WITHIN GROUP (ORDER BY u.latency_ms) FILTER (WHERE NOT u.cache_hit))::numeric, 1)::float8 AS p50_latency_ms,
       pg_catalog.round((percentile_cont(0.95) WITHIN GROUP (ORDER BY u.latency_ms) FILTER (WHERE NOT u.cache_hit))::numeric, 1)::float8 AS p95_latency_ms,
       pg_catalog.round((percentile_cont(0.99) WITHIN GROUP (ORDER BY u.latency_ms) FILTER (WHERE NOT u.cache_hit))::numeric, 1)::float8 AS p99_latency_ms,
       sum(u.input_tokens) FILTER (WHERE NOT u.cache_hit) AS input_tokens,
       sum(u.output_tokens) FILTER (WHERE NOT u.cache_hit) AS output_tokens,
       sum(u.cache_read_tokens) FILTER (WHERE NOT u.cache_hit) AS cache_read_tokens,
       sum(u.cache_write_tokens) FILTER (WHERE NOT u.cache_hit) AS cache_write_tokens,
       round(sum(claude.cost_usd(u.price, u.input_tokens, u.output_tokens, u.cache_read_tokens,
                                 u.cache_write_tokens, u.cache_write_1h_tokens)
                 -- a batch inference record pays the batch share (job_batch.c)
                 * CASE WHEN u.batch_job_arn IS NOT NULL THEN (u.price).batch_factor ELSE 1 END)
             FILTER (WHERE NOT u.cache_hit), 6) AS estimated_cost_usd,
       claude.dropped_records() AS dropped_audit_records,
       pg_catalog.round((percentile_cont(0.50) WITHIN GROUP (ORDER BY u.ttft_ms) FILTER (WHERE NOT u.cache_hit))::numeric, 1)::float8 AS p50_ttft_ms,
       pg_catalog.round((percentile_cont(0.95) WITHIN GROUP (ORDER BY u.ttft_ms) FILTER (WHERE NOT u.cache_hit))::numeric, 1)::float8 AS p95_ttft_ms,
       pg_catalog.round((percentile_cont(0.99) WITHIN GROUP (ORDER BY u.ttft_ms) FILTER (WHERE NOT u.cache_hit))::numeric, 1)::float8 AS p99_ttft_ms
FROM u LEFT JOIN errs ON errs.model IS NOT DISTINCT FROM u.model AND errs.hour = u.hour
GROUP BY u.model, u.hour, errs.errors_by_code;
COMMENT ON VIEW claude.stats_hourly IS 'Per model and hour: claude.stats'' columns (of the rows you may see)';
COMMENT ON COLUMN claude.stats_hourly.model IS 'Model id the calls named';
COMMENT ON COLUMN claude.stats_hourly.hour IS 'Hour of the calls (UTC)';
COMMENT ON COLUMN claude.stats_hourly.calls IS 'Calls sent (attempts, retries included)';
COMMENT ON COLUMN claude.stats_hourly.cache_hits IS 'Requests answered from claude.cache';
COMMENT ON COLUMN claude.stats_hourly.errors IS 'Calls that failed';
COMMENT ON COLUMN claude.stats_hourly.errors_by_code IS 'Failed calls by error code, as a JSON object';
COMMENT ON COLUMN claude.stats_hourly.p50_latency_ms IS 'Median latency of the calls, in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.stats_hourly.p95_latency_ms IS '95th percentile latency, in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.stats_hourly.p99_latency_ms IS '99th percentile latency, in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.stats_hourly.input_tokens IS 'Input tokens of the calls';
COMMENT ON COLUMN claude.stats_hourly.output_tokens IS 'Output tokens of the calls';
COMMENT ON COLUMN claude.stats_hourly.cache_read_tokens IS 'Input tokens read from the prompt cache';
COMMENT ON COLUMN claude.stats_hourly.cache_write_tokens IS 'Tokens written to the prompt cache';
COMMENT ON COLUMN claude.stats_hourly.estimated_cost_usd IS 'Cost at claude.prices (USD)';
COMMENT ON COLUMN claude.stats_hourly.dropped_audit_records IS 'Audit records lost since the server started (claude.dropped_records())';
COMMENT ON COLUMN claude.stats_hourly.p50_ttft_ms IS 'Median time to first token of the streamed calls, in milliseconds (0.1 ms); NULL when none streamed';
COMMENT ON COLUMN claude.stats_hourly.p95_ttft_ms IS '95th percentile time to first token, in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.stats_hourly.p99_ttft_ms IS '99th percentile time to first token, in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.stats.p50_ttft_ms IS 'Median time to first token of the streamed calls, in milliseconds (0.1 ms); NULL when none streamed';
COMMENT ON COLUMN claude.stats.p95_ttft_ms IS '95th percentile time to first token, in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.stats.p99_ttft_ms IS '99th percentile time to first token, in milliseconds (0.1 ms)';

-- Load tests (claude_load_test, src/load_test.c): one row per test, written
-- by the extension; each role reads its own, claude_auditor every role's.
CREATE TABLE claude.load_tests (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at         timestamptz NOT NULL,
    role_name          text NOT NULL,
    model              text NOT NULL,
    region             text NOT NULL,
    endpoint_host      text NOT NULL,
    concurrency        int NOT NULL,
    requested_requests int,
    requested_duration interval,
    stopped_by         text NOT NULL CHECK (stopped_by IN ('requests', 'duration', 'budget')),
    requests           int NOT NULL,
    errors             int NOT NULL,
    errors_by_code     jsonb NOT NULL,
    wall_s             float8 NOT NULL,
    throughput_rps     float8,
    output_tokens_per_s float8,
    input_tokens       bigint,
    output_tokens      bigint,
    p50_latency_ms     float8,
    p95_latency_ms     float8,
    p99_latency_ms     float8,
    p50_ttft_ms        float8,
    p95_ttft_ms        float8,
    p99_ttft_ms        float8,
    estimated_max_usd  numeric NOT NULL,
    cost_usd           numeric
);
COMMENT ON TABLE claude.load_tests IS 'One row per claude_load_test(): what was sent, how fast, what it cost';
COMMENT ON COLUMN claude.load_tests.id IS 'Row id';
COMMENT ON COLUMN claude.load_tests.started_at IS 'When the first request was sent';
COMMENT ON COLUMN claude.load_tests.role_name IS 'Role that ran the test (current_user)';
COMMENT ON COLUMN claude.load_tests.model IS 'Model id, inference profile id or ARN the requests named';
COMMENT ON COLUMN claude.load_tests.region IS 'claude.region during the test';
COMMENT ON COLUMN claude.load_tests.endpoint_host IS 'Host the requests went to';
COMMENT ON COLUMN claude.load_tests.concurrency IS 'Requests kept in flight';
COMMENT ON COLUMN claude.load_tests.requested_requests IS 'Requests asked for (count mode), or NULL';
COMMENT ON COLUMN claude.load_tests.requested_duration IS 'How long the test was asked to run (duration mode), or NULL';
COMMENT ON COLUMN claude.load_tests.stopped_by IS 'What ended the test: requests (all sent), duration (time up) or budget (claude.load_test_max_usd bought no more)';
COMMENT ON COLUMN claude.load_tests.requests IS 'Requests finished (after retries)';
COMMENT ON COLUMN claude.load_tests.errors IS 'Requests that failed';
COMMENT ON COLUMN claude.load_tests.errors_by_code IS 'Failed requests by error code (AWS code, HTTP status or transport error), as a JSON object';
COMMENT ON COLUMN claude.load_tests.wall_s IS 'Seconds from the first request sent to the last answer';
COMMENT ON COLUMN claude.load_tests.throughput_rps IS 'Requests finished per second of wall time';
COMMENT ON COLUMN claude.load_tests.output_tokens_per_s IS 'Output tokens per second of wall time';
COMMENT ON COLUMN claude.load_tests.input_tokens IS 'Input tokens Bedrock counted';
COMMENT ON COLUMN claude.load_tests.output_tokens IS 'Output tokens Bedrock counted';
COMMENT ON COLUMN claude.load_tests.p50_latency_ms IS 'Median latency of the successful requests (last attempt), in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.load_tests.p95_latency_ms IS '95th percentile latency, in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.load_tests.p99_latency_ms IS '99th percentile latency, in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.load_tests.p50_ttft_ms IS 'Median time to first token, in milliseconds (0.1 ms); NULL unless the requests streamed';
COMMENT ON COLUMN claude.load_tests.p95_ttft_ms IS '95th percentile time to first token, in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.load_tests.p99_ttft_ms IS '99th percentile time to first token, in milliseconds (0.1 ms)';
COMMENT ON COLUMN claude.load_tests.estimated_max_usd IS 'The upper bound estimated before the test, checked against claude.load_test_max_usd';
COMMENT ON COLUMN claude.load_tests.cost_usd IS 'What the counted tokens cost at claude.prices (USD); NULL when the model has no price';
ALTER TABLE claude.load_tests ENABLE ROW LEVEL SECURITY;
CREATE POLICY load_tests_own_rows ON claude.load_tests FOR SELECT
    USING (role_name OPERATOR(pg_catalog.=) pg_catalog.current_user());
CREATE POLICY load_tests_auditor_rows ON claude.load_tests FOR SELECT TO claude_auditor
    USING (true);
SELECT pg_catalog.pg_extension_config_dump('claude.load_tests', '');

CREATE FUNCTION @extschema@.claude_load_test(
    prompt text DEFAULT 'Reply with the word OK.',
    concurrency int DEFAULT 4,
    duration interval DEFAULT NULL,
    requests int DEFAULT NULL,
    max_tokens int DEFAULT 16,
    model text DEFAULT NULL,
    prompts text[] DEFAULT NULL)
RETURNS claude.load_tests
AS 'MODULE_PATHNAME', 'claude_load_test'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.claude_load_test(text, int, interval, int, int, text, text[]) IS
'Load-test the configured Bedrock path: concurrency requests in flight for a duration or a count, cache off, every request audited; refused when its estimated cost exceeds claude.load_test_max_usd';
REVOKE ALL ON FUNCTION @extschema@.claude_load_test(text, int, interval, int, int, text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.claude_load_test(text, int, interval, int, int, text, text[])
    TO claude_job_owner;

-- ---------------------------------------------------------------------------
-- Asynchronous requests and enrichment jobs, done by the pg_claude worker.
-- ---------------------------------------------------------------------------
CREATE TABLE claude.requests (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at   timestamptz NOT NULL DEFAULT now(),
    role_name    text NOT NULL DEFAULT current_user,
    model        text NOT NULL,
    body         text NOT NULL,
    prompt       text,
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'running', 'done', 'error')),
    result       text,
    response     jsonb,
    error        text,
    completed_at timestamptz,
    provider     text NOT NULL DEFAULT 'bedrock' CHECK (provider IN ('bedrock', 'anthropic')),
    policy       jsonb
);
COMMENT ON COLUMN claude.requests.provider IS 'Where the worker sends it: claude.provider when it was queued';
COMMENT ON COLUMN claude.requests.policy IS 'The caller''s claude.redact_before_send and guardrail when it was queued, which the worker follows (NULL: none set)';
CREATE INDEX requests_pending_idx ON claude.requests (id) WHERE state IN ('pending', 'running');
COMMENT ON TABLE claude.requests IS
'claude_complete_async() requests and their results (kept for claude.request_retention)';
COMMENT ON COLUMN claude.requests.id IS 'Request id, as claude_complete_async returned it';
COMMENT ON COLUMN claude.requests.created_at IS 'When the request was queued';
COMMENT ON COLUMN claude.requests.role_name IS 'Role that queued the request; the one role that may read it';
COMMENT ON COLUMN claude.requests.model IS 'Model the request is sent to';
COMMENT ON COLUMN claude.requests.body IS 'The Messages request body';
COMMENT ON COLUMN claude.requests.prompt IS 'The prompt as given';
COMMENT ON COLUMN claude.requests.state IS 'pending, running, done or error';
COMMENT ON COLUMN claude.requests.result IS 'The answer text (state done)';
COMMENT ON COLUMN claude.requests.response IS 'The whole response (state done)';
COMMENT ON COLUMN claude.requests.error IS 'Why it failed (state error)';
COMMENT ON COLUMN claude.requests.completed_at IS 'When the request finished';
ALTER TABLE claude.requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY requests_own_rows ON claude.requests FOR SELECT
    USING (role_name OPERATOR(pg_catalog.=) pg_catalog.current_user());

CREATE TABLE claude.job (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at    timestamptz NOT NULL DEFAULT now(),
    role_name     text NOT NULL DEFAULT current_user,
    source        regclass NOT NULL,
    input         text NOT NULL,
    output        name NOT NULL,
    into_table    regclass,      -- results in this table (keyed by the primary key), not in source
    task          text NOT NULL,  -- a name in the task table (src/task.c), checked by claude_enrich
    options       jsonb NOT NULL DEFAULT '{}',
    state         text NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'paused', 'done', 'done_with_errors', 'failed', 'cancelled')),
    rows_total    bigint,
    rows_done     bigint NOT NULL DEFAULT 0,
    rows_failed   bigint NOT NULL DEFAULT 0,
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    started_at    timestamptz,
    finished_at   timestamptz,
    error         text,
    search_path   text,          -- the owner's search_path at claude_enrich: the input is evaluated under it
    -- fail fast (README, "In the background"): the owner's
    -- claude.job_max_consecutive_failures at claude_enrich, what stopped
    -- the job, the latest row failure and the failed rows by error code
    max_consecutive_failures int NOT NULL DEFAULT 20,
    error_code    text,
    error_pk      jsonb,
    last_error_code text,
    last_error    text,
    failures      jsonb NOT NULL DEFAULT '{}',
    -- what the job sends, resolved when it is queued (doc/job_definition.md): the worker
    -- runs this, and each row's hash in claude.enrich_hashes names it
    model                   text,
    definition              jsonb,
    definition_sha256       text,
    -- the estimate, made before anything is sent (claude_enrich or the worker)
    estimated_rows          bigint,
    estimated_input_tokens  bigint,
    estimated_output_tokens bigint,
    -- time spent paused, left out of the rate and the ETA
    paused_at               timestamptz,
    paused_seconds          double precision NOT NULL DEFAULT 0
);
COMMENT ON TABLE claude.job IS 'claude_enrich() jobs; read claude.jobs for progress';
COMMENT ON COLUMN claude.job.max_consecutive_failures IS
'claude.job_max_consecutive_failures of the owner when the job was queued: after that many consecutive rows failing with the same non-retryable error the job stops as failed (0: never)';
COMMENT ON COLUMN claude.job.error_code IS
'Why the job failed: the AWS error code (ValidationException, AccessDeniedException, ...) or the SQLSTATE of the error that stopped it';
COMMENT ON COLUMN claude.job.error_pk IS
'A row (its primary key) that failed with error_code, when the job stopped after consecutive failures';
COMMENT ON COLUMN claude.job.last_error_code IS 'Error code of the latest row that failed';
COMMENT ON COLUMN claude.job.last_error IS 'Error of the latest row that failed';
COMMENT ON COLUMN claude.job.failures IS 'Failed rows by error code, e.g. {"ValidationException": 12}';
COMMENT ON COLUMN claude.job.id IS 'Job id, as claude_enrich returned it';
COMMENT ON COLUMN claude.job.created_at IS 'When the job was queued';
COMMENT ON COLUMN claude.job.role_name IS 'Owner: the role that called claude_enrich; the job reads and writes as it';
COMMENT ON COLUMN claude.job.source IS 'Table the job fills';
COMMENT ON COLUMN claude.job.input IS 'Expression over the source row that is sent (a column or any SQL expression)';
COMMENT ON COLUMN claude.job.output IS 'Column that receives the answers';
COMMENT ON COLUMN claude.job.into_table IS 'Table receiving the results instead of source (option into: table)';
COMMENT ON COLUMN claude.job.task IS 'complete, classify, summarize, extract or sentiment';
COMMENT ON COLUMN claude.job.options IS 'Options given to claude_enrich (labels, schema, model, ...)';
COMMENT ON COLUMN claude.job.state IS 'queued, running, paused, done, done_with_errors (done, some rows failed), failed or cancelled';
COMMENT ON COLUMN claude.job.rows_total IS 'Rows to fill (known once the job is populated)';
COMMENT ON COLUMN claude.job.rows_done IS 'Rows filled';
COMMENT ON COLUMN claude.job.rows_failed IS 'Rows whose request or write failed (errors in claude.job_items)';
COMMENT ON COLUMN claude.job.input_tokens IS 'Input tokens the job''s calls used';
COMMENT ON COLUMN claude.job.output_tokens IS 'Output tokens the job''s calls used';
COMMENT ON COLUMN claude.job.started_at IS 'When the worker started the job';
COMMENT ON COLUMN claude.job.finished_at IS 'When the job ended';
COMMENT ON COLUMN claude.job.error IS 'Why the job failed';
COMMENT ON COLUMN claude.job.search_path IS 'The owner''s search_path at claude_enrich: the input is evaluated under it';
COMMENT ON COLUMN claude.job.model IS 'The model the job runs on, resolved when it was queued';
COMMENT ON COLUMN claude.job.definition IS 'What the job sends: task, request options, resolved model, max_tokens and temperature, and the owner''s redaction and guardrail (policy)';
COMMENT ON COLUMN claude.job.definition_sha256 IS 'SHA-256 of definition, kept with each row''s input hash in claude.enrich_hashes';
COMMENT ON COLUMN claude.job.estimated_rows IS 'Rows the job sends, counted before anything is sent (at queue time for a column input)';
COMMENT ON COLUMN claude.job.estimated_input_tokens IS 'Estimated input tokens (UTF-8 bytes / 4 of each input and its request)';
COMMENT ON COLUMN claude.job.estimated_output_tokens IS 'Output tokens at most (max_tokens per row)';
COMMENT ON COLUMN claude.job.paused_at IS 'When the job was paused, while it is';
COMMENT ON COLUMN claude.job.paused_seconds IS 'Seconds the job spent paused after it started (left out of rate and ETA)';

CREATE TABLE claude.job_items (
    job_id        bigint NOT NULL REFERENCES claude.job (id) ON DELETE CASCADE,
    pk            jsonb NOT NULL,
    input_sha256  text,
    state         text NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts      int NOT NULL DEFAULT 0,
    error         text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    error_code    text,           -- AWS error code, or the SQLSTATE of a failure found here
    role_name     text NOT NULL,  -- the job's owner, for row level security
    PRIMARY KEY (job_id, pk)
);
CREATE INDEX job_items_pending_idx ON claude.job_items (job_id) WHERE state = 'pending';
COMMENT ON TABLE claude.job_items IS 'One row per source row a job must fill; per-row errors are kept here';
COMMENT ON COLUMN claude.job_items.error_code IS
'Why the row failed: the AWS error code (ValidationException, ThrottlingException, ...) or the SQLSTATE of a failure found before sending or when writing';
COMMENT ON COLUMN claude.job_items.role_name IS 'The job''s owner: the role that may read this row (row level security)';
-- Each owner reads their own jobs' rows; the worker (a superuser) and the
-- extension owner's privileged code own the table and are not filtered.
ALTER TABLE claude.job_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY job_items_own_rows ON claude.job_items FOR SELECT
    USING (role_name OPERATOR(pg_catalog.=) pg_catalog.current_user()
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                      WHERE r.rolname OPERATOR(pg_catalog.=) 'claude_auditor'
                        AND pg_catalog.pg_has_role(CURRENT_USER, r.oid, 'USAGE')));
COMMENT ON COLUMN claude.job_items.job_id IS 'The claude.job this row belongs to';
COMMENT ON COLUMN claude.job_items.pk IS 'Primary key of the source row, as a JSON object';
COMMENT ON COLUMN claude.job_items.input_sha256 IS 'SHA-256 (hex) of the input when the row was populated';
COMMENT ON COLUMN claude.job_items.state IS 'pending, running, done or failed';
COMMENT ON COLUMN claude.job_items.attempts IS 'Times the row was sent';
COMMENT ON COLUMN claude.job_items.error IS 'Why the row failed (state failed)';
COMMENT ON COLUMN claude.job_items.updated_at IS 'When the row last changed state';

-- Batch inference (README, "Overnight at half price"): one row per AWS
-- batch inference job of an enrichment job, each phase recorded before the
-- next starts, so a crash or restart resumes the same AWS job (job_batch.c).
CREATE TABLE claude.batch_parts (
    job_id        bigint NOT NULL REFERENCES claude.job (id) ON DELETE CASCADE,
    part          int NOT NULL,
    phase         text NOT NULL DEFAULT 'building'
                  CHECK (phase IN ('building', 'built', 'uploaded', 'submitting', 'submitted', 'in_progress',
                                   'stopping', 'downloading', 'done')),
    max_records   int NOT NULL,
    records       int NOT NULL DEFAULT 0,
    input_uri     text,
    output_uri    text,
    client_token  text NOT NULL,
    job_arn       text,
    aws_status    text,
    message       text,
    missing       int NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    submitted_at  timestamptz,
    finished_at   timestamptz,
    PRIMARY KEY (job_id, part)
);
COMMENT ON TABLE claude.batch_parts IS 'One row per AWS batch inference job (or Anthropic Message Batch) of an enrichment job in batch mode';
COMMENT ON COLUMN claude.batch_parts.job_id IS 'The claude.job this AWS job works for';
COMMENT ON COLUMN claude.batch_parts.part IS 'Its number within the job (0, 1, ...): one input file each';
COMMENT ON COLUMN claude.batch_parts.phase IS 'building, built, uploaded (Bedrock), submitting (Message Batches), submitted, in_progress, stopping, downloading or done';
COMMENT ON COLUMN claude.batch_parts.max_records IS 'The most records the part takes (claude.batch_max_records split evenly)';
COMMENT ON COLUMN claude.batch_parts.records IS 'Records in its input file';
COMMENT ON COLUMN claude.batch_parts.input_uri IS 'The input JSONL object, once uploaded';
COMMENT ON COLUMN claude.batch_parts.output_uri IS 'Where Bedrock writes the output (NULL for a Message Batch: its results stay at the API)';
COMMENT ON COLUMN claude.batch_parts.client_token IS 'The clientRequestToken: from the job id, part and definition digest, so a retry never makes a second AWS job';
COMMENT ON COLUMN claude.batch_parts.job_arn IS 'The AWS job''s ARN (a Message Batch: its msgbatch_ id), once created';
COMMENT ON COLUMN claude.batch_parts.aws_status IS 'Its status as GetModelInvocationJob last said (Submitted, InProgress, Completed, ...), or a Message Batch''s processing_status';
COMMENT ON COLUMN claude.batch_parts.message IS 'Its message as GetModelInvocationJob last said, or what pg_claude did';
COMMENT ON COLUMN claude.batch_parts.missing IS 'Records absent from its output (or answered off the task): sent again on demand';
COMMENT ON COLUMN claude.batch_parts.created_at IS 'When the part was started';
COMMENT ON COLUMN claude.batch_parts.submitted_at IS 'When CreateModelInvocationJob answered (a Message Batch: when its create was sent, then when it answered)';
COMMENT ON COLUMN claude.batch_parts.finished_at IS 'When its results were all written';
-- A row sent in a batch: its record (recordId j<job>-r<record>) and what
-- it carries; deleted when its result is written, so the on-demand claim
-- (job_queue.c) leaves alone exactly the rows a batch still owes.
CREATE TABLE claude.batch_records (
    job_id        bigint NOT NULL REFERENCES claude.job (id) ON DELETE CASCADE,
    record        int NOT NULL,
    part          int NOT NULL,
    pk            jsonb NOT NULL,
    input_sha256  text NOT NULL,
    body          text NOT NULL,
    PRIMARY KEY (job_id, record)
);
CREATE INDEX batch_records_pk_idx ON claude.batch_records (job_id, pk);
COMMENT ON TABLE claude.batch_records IS 'Rows of an enrichment job in a batch inference job, until their result is written';
COMMENT ON COLUMN claude.batch_records.job_id IS 'The claude.job the row belongs to';
COMMENT ON COLUMN claude.batch_records.record IS 'Its number in the job: the recordId is j<job_id>-r<record>';
COMMENT ON COLUMN claude.batch_records.part IS 'The claude.batch_parts row whose input file holds it';
COMMENT ON COLUMN claude.batch_records.pk IS 'Primary key of the source row, as a JSON object';
COMMENT ON COLUMN claude.batch_records.input_sha256 IS 'SHA-256 (hex) of the input the body was made from';
COMMENT ON COLUMN claude.batch_records.body IS 'The modelInput: exactly the InvokeModel body the on-demand path would send';

-- What each output was made from: a row is re-processed only when its
-- input changed since its result was written.
CREATE TABLE claude.enrich_hashes (
    source        regclass NOT NULL,
    output        name NOT NULL,
    pk            jsonb NOT NULL,
    input_sha256  text NOT NULL,
    job_id        bigint,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- the definition (claude.job.definition_sha256) the result was made
    -- under; NULL: made before 0.3.0, adopted by the next run (CHANGELOG)
    definition_sha256 text,
    PRIMARY KEY (source, output, pk)
);
COMMENT ON TABLE claude.enrich_hashes IS 'What each result was made from: the input hash per source row and output column';
COMMENT ON COLUMN claude.enrich_hashes.source IS 'Enriched table';
COMMENT ON COLUMN claude.enrich_hashes.output IS 'Output column of the result';
COMMENT ON COLUMN claude.enrich_hashes.pk IS 'Primary key of the source row, as a JSON object';
COMMENT ON COLUMN claude.enrich_hashes.input_sha256 IS 'SHA-256 (hex) of the input the result was made from: a row is redone only when it changes';
COMMENT ON COLUMN claude.enrich_hashes.job_id IS 'The job that wrote the result';
COMMENT ON COLUMN claude.enrich_hashes.updated_at IS 'When the result was written';

-- Job history and the hashes survive pg_dump/restore: a finished job run
-- again in the restored database sends nothing.  pg_dump loads claude.job
-- before claude.job_items (their foreign key), and the id sequence, so new
-- job ids do not collide with restored ones.  regclass columns are dumped
-- as names and so point at the restored tables.
SELECT pg_catalog.pg_extension_config_dump('claude.job', '');
SELECT pg_catalog.pg_extension_config_dump('claude.job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('claude.job_items', '');
SELECT pg_catalog.pg_extension_config_dump('claude.enrich_hashes', '');
COMMENT ON COLUMN claude.enrich_hashes.definition_sha256 IS 'The job definition the result was made under (NULL: before 0.3.0, adopted by the next run)';

-- security_barrier: a caller's own (leaky) functions in WHERE never see
-- the rows of jobs they may not.
CREATE VIEW claude.jobs WITH (security_barrier) AS
SELECT j.id, j.role_name, j.source, j.output, j.task, j.state,
       j.rows_total, j.rows_done, j.rows_failed,
       CASE WHEN j.rows_total > 0
            THEN round(100.0 * (j.rows_done + j.rows_failed) / j.rows_total, 1) END AS percent_done,
       j.input_tokens, j.output_tokens,
       -- What the job's calls cost, each at the price of the model it used:
       -- its calls in claude.usage summed by model, each model priced once.
       -- Tokens the job counted that no remaining call accounts for (calls
       -- pruned by claude.usage_retention, or records the audit log lost)
       -- are priced at the job's model: the one resolved when it was queued
       -- (claude.job.model), else (jobs from before 0.3.0) its model option,
       -- else the one model its remaining calls used.  NULL when a model has no price, or
       -- when such tokens have no model to be priced at (never the viewer's
       -- claude.model: the job may have run on another).  0 for a job that
       -- made no call.
       (WITH used AS (
            SELECT u.model,
                   sum(coalesce(u.input_tokens, 0)) AS input_tokens,
                   sum(coalesce(u.output_tokens, 0)) AS output_tokens,
                   sum(coalesce(u.cache_read_tokens, 0)) AS cache_read_tokens,
                   sum(coalesce(u.cache_write_tokens, 0)) AS cache_write_tokens,
                   sum(coalesce(u.cache_write_1h_tokens, 0)) AS cache_write_1h_tokens,
                   u.batch_job_arn IS NOT NULL AS batch
            FROM claude.usage u
            WHERE u.job_id OPERATOR(pg_catalog.=) j.id AND NOT u.cache_hit
            GROUP BY u.model, u.batch_job_arn IS NOT NULL
        ), unrecorded AS (
            SELECT coalesce(j.model, j.options->>'model', (SELECT min(used.model) FROM used
                                                   HAVING count(*) OPERATOR(pg_catalog.=) 1)) AS model,
                   greatest(j.input_tokens - coalesce((SELECT sum(used.input_tokens) FROM used), 0), 0) AS input_tokens,
                   greatest(j.output_tokens - coalesce((SELECT sum(used.output_tokens) FROM used), 0), 0) AS output_tokens,
                   0 AS cache_read_tokens, 0 AS cache_write_tokens, 0 AS cache_write_1h_tokens,
                   false AS batch
        ), parts AS (
            SELECT * FROM used
            UNION ALL
            SELECT * FROM unrecorded
            WHERE unrecorded.input_tokens OPERATOR(pg_catalog.>) 0
               OR unrecorded.output_tokens OPERATOR(pg_catalog.>) 0
        )
        SELECT CASE WHEN count(*) OPERATOR(pg_catalog.=) 0 THEN 0
                    WHEN bool_and((p.price).input_per_mtok IS NOT NULL) THEN
                        round(sum(claude.cost_usd(p.price, t.input_tokens, t.output_tokens,
                                                  t.cache_read_tokens, t.cache_write_tokens,
                                                  t.cache_write_1h_tokens)
                                  * CASE WHEN t.batch THEN (p.price).batch_factor ELSE 1 END), 6) END
        FROM parts t CROSS JOIN LATERAL (SELECT claude.price_of(t.model) AS price) p) AS estimated_cost_usd,
       -- the job's estimate, made before anything was sent
       -- (doc/job_definition.md), priced at the job's model, never the viewer's
       j.model, j.estimated_rows, j.estimated_input_tokens, j.estimated_output_tokens,
       CASE WHEN j.estimated_rows IS NOT NULL
            THEN round(claude.cost_usd(claude.price_of(coalesce(j.model, j.options->>'model')),
                                       j.estimated_input_tokens, j.estimated_output_tokens), 6)
       END AS estimated_job_cost_usd,
       -- rate and ETA over the time the job ran, its paused time left out
       CASE WHEN j.started_at IS NOT NULL AND j.rows_done + j.rows_failed > 0
            THEN round(((j.rows_done + j.rows_failed) / a.seconds)::numeric, 2)
       END AS rows_per_second,
       CASE WHEN j.state = 'running' AND j.rows_done + j.rows_failed > 0 AND j.rows_total IS NOT NULL
            THEN make_interval(secs => round(((greatest(j.rows_total - j.rows_done - j.rows_failed, 0)
                                               * a.seconds) / (j.rows_done + j.rows_failed))::numeric)::float8)
       END AS eta,
       j.created_at, j.started_at, j.finished_at, j.error,
       j.error_code, j.error_pk, j.last_error_code, j.last_error, j.failures,
       -- batch mode: the AWS jobs (claude.batch_parts), the least advanced first
       b.batch_state, b.batch_job_arns, b.batch_status, b.batch_message
FROM claude.job j
LEFT JOIN LATERAL (
    SELECT coalesce((pg_catalog.array_agg(bp.phase ORDER BY bp.part)
                     FILTER (WHERE bp.phase OPERATOR(pg_catalog.<>) 'done'))[1], 'done') AS batch_state,
           pg_catalog.array_agg(bp.job_arn ORDER BY bp.part) FILTER (WHERE bp.job_arn IS NOT NULL) AS batch_job_arns,
           pg_catalog.string_agg(bp.aws_status, ', ' ORDER BY bp.part) AS batch_status,
           pg_catalog.string_agg(bp.message, '; ' ORDER BY bp.part) AS batch_message
    FROM claude.batch_parts bp WHERE bp.job_id OPERATOR(pg_catalog.=) j.id
    HAVING count(*) OPERATOR(pg_catalog.>) 0) b ON true
CROSS JOIN LATERAL (
    SELECT greatest(extract(epoch FROM coalesce(j.finished_at, now()) - j.started_at)
                    - j.paused_seconds
                    - CASE WHEN j.paused_at IS NOT NULL
                           THEN greatest(extract(epoch FROM coalesce(j.finished_at, now())
                                                 - greatest(j.paused_at, j.started_at)), 0)
                           ELSE 0 END,
                    0.001) AS seconds) a
WHERE j.role_name OPERATOR(pg_catalog.=) CURRENT_USER
   OR pg_catalog.pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'USAGE')
   OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
              WHERE r.rolname OPERATOR(pg_catalog.=) 'claude_auditor'
                AND pg_catalog.pg_has_role(CURRENT_USER, r.oid, 'USAGE'))
   OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER);
COMMENT ON VIEW claude.jobs IS 'Enrichment jobs: state, rows done/failed/total, tokens, cost, rate, ETA';
COMMENT ON COLUMN claude.jobs.error_code IS
'Why the job failed: the AWS error code or the SQLSTATE of the error that stopped it';
COMMENT ON COLUMN claude.jobs.error_pk IS 'A row (its primary key) that failed with error_code';
COMMENT ON COLUMN claude.jobs.last_error_code IS 'Error code of the latest row that failed';
COMMENT ON COLUMN claude.jobs.last_error IS 'Error of the latest row that failed (claude.job_items has every row''s)';
COMMENT ON COLUMN claude.jobs.batch_state IS 'Batch mode: the phase of its least advanced AWS job (building, uploaded, submitted, in_progress, downloading), or done; NULL on demand';
COMMENT ON COLUMN claude.jobs.batch_job_arns IS 'Batch mode: the ARNs of its AWS batch inference jobs (or the ids of its Message Batches)';
COMMENT ON COLUMN claude.jobs.batch_status IS 'Batch mode: their statuses as Bedrock last said';
COMMENT ON COLUMN claude.jobs.batch_message IS 'Batch mode: their messages';
COMMENT ON COLUMN claude.jobs.failures IS 'Failed rows by error code, e.g. {"ValidationException": 12}';
COMMENT ON COLUMN claude.jobs.id IS 'Job id, as claude_enrich returned it';
COMMENT ON COLUMN claude.jobs.created_at IS 'When the job was queued';
COMMENT ON COLUMN claude.jobs.role_name IS 'Owner: the role that called claude_enrich; the job reads and writes as it';
COMMENT ON COLUMN claude.jobs.source IS 'Table the job fills';
COMMENT ON COLUMN claude.jobs.output IS 'Column that receives the answers';
COMMENT ON COLUMN claude.jobs.task IS 'complete, classify, summarize, extract or sentiment';
COMMENT ON COLUMN claude.jobs.state IS 'queued, running, paused, done, done_with_errors (done, some rows failed), failed or cancelled';
COMMENT ON COLUMN claude.jobs.rows_total IS 'Rows to fill (known once the job is populated)';
COMMENT ON COLUMN claude.jobs.rows_done IS 'Rows filled';
COMMENT ON COLUMN claude.jobs.rows_failed IS 'Rows whose request or write failed (errors in claude.job_items)';
COMMENT ON COLUMN claude.jobs.input_tokens IS 'Input tokens the job''s calls used';
COMMENT ON COLUMN claude.jobs.output_tokens IS 'Output tokens the job''s calls used';
COMMENT ON COLUMN claude.jobs.started_at IS 'When the worker started the job';
COMMENT ON COLUMN claude.jobs.finished_at IS 'When the job ended';
COMMENT ON COLUMN claude.jobs.error IS 'Why the job failed';
COMMENT ON COLUMN claude.jobs.percent_done IS 'Percentage of rows_total done or failed';
COMMENT ON COLUMN claude.jobs.estimated_cost_usd IS 'What the job''s calls cost, each at the price of the model it used (claude.prices); NULL when a model has no price';
COMMENT ON COLUMN claude.jobs.rows_per_second IS 'Rows done or failed per second the job ran (paused time left out)';
COMMENT ON COLUMN claude.jobs.eta IS 'Estimated time until a running job ends, in whole seconds, at the rate it ran (paused time left out)';
COMMENT ON COLUMN claude.jobs.model IS 'The model the job runs on, resolved when it was queued';
COMMENT ON COLUMN claude.jobs.estimated_rows IS 'Rows the job sends, counted before anything is sent (at queue time for a column input)';
COMMENT ON COLUMN claude.jobs.estimated_input_tokens IS 'Estimated input tokens (UTF-8 bytes / 4 of each input and its request)';
COMMENT ON COLUMN claude.jobs.estimated_output_tokens IS 'Output tokens at most (max_tokens per row)';
COMMENT ON COLUMN claude.jobs.estimated_job_cost_usd IS 'The estimate priced at the job''s model (an upper bound on output)';

CREATE FUNCTION @extschema@.claude_complete(
    prompt      text,
    system      text    DEFAULT NULL,
    model       text    DEFAULT NULL,
    max_tokens  int     DEFAULT NULL,
    temperature float8  DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_complete'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_complete(text, text, text, int, float8) IS
'Send one prompt to Claude through Bedrock InvokeModel and return the answer text';

-- Issue 17: the answer's text in pieces as they arrive (README, "Streaming").
CREATE FUNCTION @extschema@.claude_complete_stream(
    prompt      text,
    system      text    DEFAULT NULL,
    model       text    DEFAULT NULL,
    max_tokens  int     DEFAULT NULL,
    temperature float8  DEFAULT NULL)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'claude_complete_stream'
LANGUAGE C VOLATILE PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION @extschema@.claude_complete_stream(text, text, text, int, float8) IS
'claude_complete through InvokeModelWithResponseStream: the answer text in pieces as they arrive (call it in a SELECT list)';
REVOKE ALL ON FUNCTION @extschema@.claude_complete_stream(text, text, text, int, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.claude_complete_stream(text, text, text, int, float8) TO claude_user;

CREATE FUNCTION @extschema@.claude_invoke(
    body  jsonb,
    model text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'claude_invoke'
LANGUAGE C VOLATILE PARALLEL SAFE;

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
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_classify(text, text[], text, text) IS
'The one label that best fits the input (always one of labels, or NULL with a WARNING)';

CREATE FUNCTION @extschema@.claude_classify(
    input        text,
    labels       jsonb,
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_classify_described'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_classify(text, jsonb, text, text) IS
'The one label that best fits the input, labels given as {"label": "description", ...}';

CREATE FUNCTION @extschema@.claude_classify(
    input        text,
    labels       text,
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_classify_json'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_classify(text, text, text, text) IS
'The one label that best fits the input, labels given in JSON: ["label", ...] or {"label": "description", ...} (what a quoted literal resolves to)';

CREATE FUNCTION @extschema@.claude_classify_multi(
    input        text,
    labels       text[],
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL)
RETURNS text[]
AS 'MODULE_PATHNAME', 'claude_classify_multi'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_classify_multi(text, text[], text, text) IS
'Every label that applies to the input, in the order of labels';

CREATE FUNCTION @extschema@.claude_extract(
    input        text,
    schema       jsonb,
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'claude_extract'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_extract(text, jsonb, text, text) IS
'Structured data from the input, conforming to the JSON Schema given (validated before it is returned)';

CREATE FUNCTION @extschema@.claude_sentiment(
    input text,
    model text DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'claude_sentiment'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_sentiment(text, text) IS
'Sentiment of the input, from -1 (very negative) to 1 (very positive)';

CREATE FUNCTION @extschema@.claude_summarize(
    input     text,
    max_words int  DEFAULT 50,
    model     text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_summarize'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_summarize(text, int, text) IS
'A summary of the input in at most max_words words';

CREATE FUNCTION claude.summarize_agg_transfn(internal, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'claude_summarize_agg_transfn'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION claude.summarize_agg_transfn(internal, text) IS 'Transition function of claude_summarize_agg(text)';

CREATE FUNCTION claude.summarize_agg_transfn(internal, text, int)
RETURNS internal
AS 'MODULE_PATHNAME', 'claude_summarize_agg_transfn'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION claude.summarize_agg_transfn(internal, text, int) IS 'Transition function of claude_summarize_agg(text, int)';

CREATE FUNCTION claude.summarize_agg_finalfn(internal)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_summarize_agg_finalfn'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION claude.summarize_agg_finalfn(internal) IS 'Final function of claude_summarize_agg: summarises the group, in stages when it is large';

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

-- claude_agg (issue 19): an instruction answered over a group, in stages;
-- in parallel, workers gather the items and the leader joins them.
CREATE FUNCTION claude.agg_transfn(internal, text, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'claude_agg_transfn'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION claude.agg_transfn(internal, text, text) IS 'Transition function of claude_agg(text, text)';

CREATE FUNCTION claude.agg_combinefn(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'claude_agg_combinefn'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION claude.agg_combinefn(internal, internal) IS 'Combine function of claude_agg: joins the items two workers gathered';

CREATE FUNCTION claude.agg_serialfn(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'claude_agg_serialfn'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION claude.agg_serialfn(internal) IS 'Serial function of claude_agg: a worker''s items as bytes';

CREATE FUNCTION claude.agg_deserialfn(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'claude_agg_deserialfn'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION claude.agg_deserialfn(bytea, internal) IS 'Deserial function of claude_agg: a worker''s items from bytes';

CREATE FUNCTION claude.agg_finalfn(internal)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_agg_finalfn'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION claude.agg_finalfn(internal) IS 'Final function of claude_agg: answers the instruction over the group, in stages when it is large';

CREATE AGGREGATE @extschema@.claude_agg(input text, instruction text) (
    SFUNC = claude.agg_transfn,
    STYPE = internal,
    COMBINEFUNC = claude.agg_combinefn,
    SERIALFUNC = claude.agg_serialfn,
    DESERIALFUNC = claude.agg_deserialfn,
    FINALFUNC = claude.agg_finalfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.claude_agg(text, text) IS
'One answer to an instruction over a group of texts (ORDER BY inside the call orders them), in stages when the group is large';

REVOKE ALL ON FUNCTION claude.agg_transfn(internal, text, text), claude.agg_combinefn(internal, internal),
    claude.agg_serialfn(internal), claude.agg_deserialfn(bytea, internal), claude.agg_finalfn(internal),
    @extschema@.claude_agg(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.claude_agg(text, text) TO claude_user;
-- END claude_agg

-- Filter and translate (issue 19): claude_if, claude_translate and their
-- _batch forms; tasks "if" and "translate" of claude_enrich.
CREATE FUNCTION @extschema@.claude_if(
    input    text,
    question text,
    model    text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'claude_if'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_if(text, text, text) IS
'The answer to a yes-or-no question about the input (NULL with a WARNING when the model does not answer true or false)';

CREATE FUNCTION @extschema@.claude_if_batch(
    inputs   text[],
    question text,
    model    text DEFAULT NULL)
RETURNS TABLE (ord int, answer boolean, error text)
AS 'MODULE_PATHNAME', 'claude_if_batch'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_if_batch(text[], text, text) IS
'claude_if of every element, many requests in flight; one row per element (ord, answer, error)';

CREATE FUNCTION @extschema@.claude_translate(
    input           text,
    target_language text,
    source_language text DEFAULT NULL,
    model           text DEFAULT NULL,
    max_tokens      int  DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_translate'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_translate(text, text, text, text, int) IS
'The input translated into target_language (a language name or BCP 47 tag, checked before sending)';

CREATE FUNCTION @extschema@.claude_translate_batch(
    inputs          text[],
    target_language text,
    source_language text DEFAULT NULL,
    model           text DEFAULT NULL,
    max_tokens      int  DEFAULT NULL)
RETURNS TABLE (ord int, translation text, error text)
AS 'MODULE_PATHNAME', 'claude_translate_batch'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_translate_batch(text[], text, text, text, int) IS
'claude_translate of every element, many requests in flight; one row per element (ord, translation, error)';

REVOKE ALL ON FUNCTION
    @extschema@.claude_if(text, text, text),
    @extschema@.claude_if_batch(text[], text, text),
    @extschema@.claude_translate(text, text, text, text, int),
    @extschema@.claude_translate_batch(text[], text, text, text, int)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.claude_if(text, text, text),
    @extschema@.claude_if_batch(text[], text, text),
    @extschema@.claude_translate(text, text, text, text, int),
    @extschema@.claude_translate_batch(text[], text, text, text, int)
    TO claude_user;
-- END filter and translate

-- claude_rank (issue 19): relevance scores of candidates, a request per chunk.
CREATE FUNCTION @extschema@.claude_rank(
    query      text,
    candidates text[],
    chunk_size int  DEFAULT 20,
    model      text DEFAULT NULL)
RETURNS TABLE (ord int, score float8)
AS 'MODULE_PATHNAME', 'claude_rank'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_rank(text, text[], int, text) IS
'Relevance in [0, 1] of each candidate to the query, one request per chunk of candidates; highest first, ties by ord';
REVOKE ALL ON FUNCTION @extschema@.claude_rank(text, text[], int, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.claude_rank(text, text[], int, text) TO claude_user;
-- END claude_rank


CREATE FUNCTION @extschema@.claude_count_tokens(
    prompt text,
    model  text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'claude_count_tokens'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_count_tokens(text, text) IS
'Input tokens of the request claude_complete(prompt) would send (Bedrock CountTokens)';

CREATE FUNCTION @extschema@.claude_count_tokens(
    body  jsonb,
    model text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'claude_count_tokens_body'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_count_tokens(jsonb, text) IS
'Input tokens of a Messages body (Bedrock CountTokens)';

CREATE FUNCTION @extschema@.claude_complete_async(
    prompt      text,
    system      text   DEFAULT NULL,
    model       text   DEFAULT NULL,
    max_tokens  int    DEFAULT NULL,
    temperature float8 DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'claude_complete_async'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.claude_complete_async(text, text, text, int, float8) IS
'Queue a completion for the worker; the result appears in claude.requests (needs shared_preload_libraries)';

CREATE FUNCTION @extschema@.claude_enrich(
    source  regclass,
    input   text,
    output  text,
    task    text,
    options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'claude_enrich'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.claude_enrich(regclass, text, text, text, jsonb) IS
'Queue a job filling output for every row of source with no result, or whose input or definition changed (option redo); returns the job id';

CREATE FUNCTION @extschema@.claude_enrich_estimate(
    source  regclass,
    input   text,
    output  text,
    task    text,
    options jsonb DEFAULT '{}')
RETURNS TABLE (rows_to_do bigint, input_tokens bigint, output_tokens bigint,
               estimated_cost_usd numeric, model text, estimated_batch_cost_usd numeric)
AS 'MODULE_PATHNAME', 'claude_enrich_estimate'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.claude_enrich_estimate(regclass, text, text, text, jsonb) IS
'What claude_enrich with the same arguments would send and cost on demand and as batch inference (at claude.prices.batch_factor), without queueing or sending anything';

CREATE FUNCTION @extschema@.claude_job_cancel(job bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'claude_job_cancel'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION @extschema@.claude_job_cancel(bigint) IS
'Cancel a job (yours, or any for a superuser); rows already written stay';

CREATE FUNCTION @extschema@.claude_job_pause(job bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'claude_job_pause'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.claude_job_pause(bigint) IS 'Pause a job (yours, or any for a superuser); claude_job_resume goes on';

CREATE FUNCTION @extschema@.claude_job_resume(job bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'claude_job_resume'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.claude_job_resume(bigint) IS 'Resume a paused job';

CREATE FUNCTION @extschema@.claude_job_wait(job bigint, timeout interval DEFAULT '1 hour')
RETURNS text
AS 'MODULE_PATHNAME', 'claude_job_wait'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.claude_job_wait(bigint, interval) IS
'Wait until the job is done, done_with_errors, failed or cancelled (or the timeout passes); returns its state';

-- Set-based forms: many requests in flight from one statement.
CREATE FUNCTION @extschema@.claude_complete_batch(
    prompts     text[],
    system      text   DEFAULT NULL,
    model       text   DEFAULT NULL,
    max_tokens  int    DEFAULT NULL,
    temperature float8 DEFAULT NULL)
RETURNS TABLE (ord int, completion text, error text)
AS 'MODULE_PATHNAME', 'claude_complete_batch'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_complete_batch(text[], text, text, int, float8) IS 'claude_complete of every prompt, many requests in flight; one row per element (ord, completion, error)';

CREATE FUNCTION @extschema@.claude_classify_batch(
    inputs       text[],
    labels       text[],
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL)
RETURNS TABLE (ord int, label text, error text)
AS 'MODULE_PATHNAME', 'claude_classify_batch'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_classify_batch(text[], text[], text, text) IS 'claude_classify of every element, many requests in flight; one row per element (ord, label, error)';

CREATE FUNCTION @extschema@.claude_classify_batch(
    inputs       text[],
    labels       jsonb,
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL)
RETURNS TABLE (ord int, label text, error text)
AS 'MODULE_PATHNAME', 'claude_classify_described_batch'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_classify_batch(text[], jsonb, text, text) IS
'claude_classify of every element, labels given as {"label": "description", ...}, many requests in flight; one row per element';

CREATE FUNCTION @extschema@.claude_classify_batch(
    inputs       text[],
    labels       text,
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL)
RETURNS TABLE (ord int, label text, error text)
AS 'MODULE_PATHNAME', 'claude_classify_json_batch'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.claude_classify_batch(text[], text, text, text) IS
'claude_classify of every element, labels given in JSON (array or object), many requests in flight; one row per element';

CREATE FUNCTION @extschema@.claude_extract_batch(
    inputs       text[],
    schema       jsonb,
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL)
RETURNS TABLE (ord int, result jsonb, error text)
AS 'MODULE_PATHNAME', 'claude_extract_batch'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_extract_batch(text[], jsonb, text, text) IS 'claude_extract of every element, many requests in flight; one row per element (ord, result, error)';

CREATE FUNCTION @extschema@.claude_sentiment_batch(
    inputs text[],
    model  text DEFAULT NULL)
RETURNS TABLE (ord int, sentiment float8, error text)
AS 'MODULE_PATHNAME', 'claude_sentiment_batch'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_sentiment_batch(text[], text) IS 'claude_sentiment of every element, many requests in flight; one row per element (ord, sentiment, error)';

-- issue 19: redaction (task_redact.c, doc/redaction.md)
CREATE FUNCTION @extschema@.claude_redact(
    input text,
    kinds text[] DEFAULT NULL,
    model text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_redact'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_redact(text, text[], text) IS
'The input with personal information replaced by typed placeholders ([NAME], [TFN], ...); numbers with a check digit and emails are replaced locally before sending';

CREATE FUNCTION @extschema@.claude_redact_batch(
    inputs text[],
    kinds  text[] DEFAULT NULL,
    model  text DEFAULT NULL)
RETURNS TABLE (ord int, redacted text, error text)
AS 'MODULE_PATHNAME', 'claude_redact_batch'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_redact_batch(text[], text[], text) IS 'claude_redact of every element, many requests in flight; one row per element (ord, redacted, error)';

CREATE FUNCTION @extschema@.claude_redact_local(
    input text,
    kinds text[] DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_redact_local'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_redact_local(text, text[]) IS
'The input with checksum-valid TFNs, ABNs, Medicare and card numbers and email addresses replaced by placeholders, locally (no request)';

REVOKE ALL ON FUNCTION @extschema@.claude_redact(text, text[], text),
    @extschema@.claude_redact_batch(text[], text[], text),
    @extschema@.claude_redact_local(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.claude_redact(text, text[], text),
    @extschema@.claude_redact_batch(text[], text[], text),
    @extschema@.claude_redact_local(text, text[]) TO claude_user;

CREATE FUNCTION @extschema@.claude_summarize_batch(
    inputs    text[],
    max_words int  DEFAULT 50,
    model     text DEFAULT NULL)
RETURNS TABLE (ord int, summary text, error text)
AS 'MODULE_PATHNAME', 'claude_summarize_batch'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_summarize_batch(text[], int, text) IS 'claude_summarize of every element, many requests in flight; one row per element (ord, summary, error)';

-- Documents and images (README "Documents and images", doc/documents.md):
-- the task functions with a bytea attachment, its media type read from
-- the bytes (or given, and then checked), sized against Bedrock's limits
-- before anything is sent.  claude_complete's attachment form keeps
-- max_tokens and temperature where the text form has them (model moves
-- after them), so a text-form call with untyped NULLs resolves as before.
-- The set-based forms over documents are claude_<task>_documents, not
-- overloads of claude_<task>_batch: an untyped array literal would make
-- those ambiguous.
CREATE FUNCTION @extschema@.claude_complete(
    prompt      text,
    attachment  bytea,
    system      text    DEFAULT NULL,
    max_tokens  int     DEFAULT NULL,
    temperature float8  DEFAULT NULL,
    model       text    DEFAULT NULL,
    media_type  text    DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_complete_attached'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_complete(text, bytea, text, int, float8, text, text) IS
'Send one prompt with a document or image (PNG, JPEG, GIF, WebP, PDF) and return the answer text';

CREATE FUNCTION @extschema@.claude_extract(
    document     bytea,
    schema       jsonb,
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL,
    media_type   text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'claude_extract_attached'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_extract(bytea, jsonb, text, text, text) IS
'Structured data from a document or image (a scanned invoice, a PDF), conforming to the JSON Schema given';

CREATE FUNCTION @extschema@.claude_classify(
    document     bytea,
    labels       text[],
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL,
    media_type   text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_classify_attached'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_classify(bytea, text[], text, text, text) IS
'The one label that best fits a document or image (always one of labels, or NULL with a WARNING)';

CREATE FUNCTION @extschema@.claude_summarize(
    document   bytea,
    max_words  int  DEFAULT 50,
    model      text DEFAULT NULL,
    media_type text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'claude_summarize_attached'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_summarize(bytea, int, text, text) IS
'A summary of a document or image in at most max_words words';

CREATE FUNCTION @extschema@.claude_complete_batch(
    prompts     text[],
    attachments bytea[],
    system      text   DEFAULT NULL,
    max_tokens  int    DEFAULT NULL,
    temperature float8 DEFAULT NULL,
    model       text   DEFAULT NULL,
    media_type  text   DEFAULT NULL)
RETURNS TABLE (ord int, completion text, error text)
AS 'MODULE_PATHNAME', 'claude_complete_batch_attached'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_complete_batch(text[], bytea[], text, int, float8, text, text) IS
'claude_complete of every prompt with its attachment, many requests in flight; one row per element (ord, completion, error)';

CREATE FUNCTION @extschema@.claude_extract_documents(
    documents    bytea[],
    schema       jsonb,
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL,
    media_type   text DEFAULT NULL)
RETURNS TABLE (ord int, result jsonb, error text)
AS 'MODULE_PATHNAME', 'claude_extract_documents'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_extract_documents(bytea[], jsonb, text, text, text) IS
'claude_extract of every document or image (the _batch form for bytea), many requests in flight; one row per element (ord, result, error)';

CREATE FUNCTION @extschema@.claude_classify_documents(
    documents    bytea[],
    labels       text[],
    instructions text DEFAULT NULL,
    model        text DEFAULT NULL,
    media_type   text DEFAULT NULL)
RETURNS TABLE (ord int, label text, error text)
AS 'MODULE_PATHNAME', 'claude_classify_documents'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_classify_documents(bytea[], text[], text, text, text) IS
'claude_classify of every document or image (the _batch form for bytea), many requests in flight; one row per element (ord, label, error)';

CREATE FUNCTION @extschema@.claude_summarize_documents(
    documents  bytea[],
    max_words  int  DEFAULT 50,
    model      text DEFAULT NULL,
    media_type text DEFAULT NULL)
RETURNS TABLE (ord int, summary text, error text)
AS 'MODULE_PATHNAME', 'claude_summarize_documents'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.claude_summarize_documents(bytea[], int, text, text) IS
'claude_summarize of every document or image (the _batch form for bytea), many requests in flight; one row per element (ord, summary, error)';

-- Calls cost money: granted as the text forms are (README, "Privileges").
REVOKE ALL ON FUNCTION
    @extschema@.claude_complete(text, bytea, text, int, float8, text, text),
    @extschema@.claude_extract(bytea, jsonb, text, text, text),
    @extschema@.claude_classify(bytea, text[], text, text, text),
    @extschema@.claude_summarize(bytea, int, text, text),
    @extschema@.claude_complete_batch(text[], bytea[], text, int, float8, text, text),
    @extschema@.claude_extract_documents(bytea[], jsonb, text, text, text),
    @extschema@.claude_classify_documents(bytea[], text[], text, text, text),
    @extschema@.claude_summarize_documents(bytea[], int, text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.claude_complete(text, bytea, text, int, float8, text, text),
    @extschema@.claude_extract(bytea, jsonb, text, text, text),
    @extschema@.claude_classify(bytea, text[], text, text, text),
    @extschema@.claude_summarize(bytea, int, text, text),
    @extschema@.claude_complete_batch(text[], bytea[], text, int, float8, text, text),
    @extschema@.claude_extract_documents(bytea[], jsonb, text, text, text),
    @extschema@.claude_classify_documents(bytea[], text[], text, text, text),
    @extschema@.claude_summarize_documents(bytea[], int, text, text)
    TO claude_user;

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

-- The table an auditor asks for: where requests were processed, by whom.
-- Reads the audit log (cache hits never left the database: not counted).
CREATE FUNCTION @extschema@.claude_data_flow(since timestamptz DEFAULT '-infinity')
RETURNS TABLE (
    provider      text,
    region        text,
    endpoint_host text,
    model         text,
    geography     text,
    calls         bigint,
    failed_calls  bigint,
    refused_calls bigint,
    input_tokens  numeric,
    output_tokens numeric,
    roles         text[],
    first_call    timestamptz,
    last_call     timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.provider, u.region, u.endpoint_host, u.model, u.geography,
           count(*) FILTER (WHERE u.error_code IS DISTINCT FROM 'ResidencyViolation'),
           count(*) FILTER (WHERE u.error_code IS NOT NULL AND u.error_code <> 'ResidencyViolation'),
           count(*) FILTER (WHERE u.error_code = 'ResidencyViolation'),
           sum(u.input_tokens), sum(u.output_tokens),
           array_agg(DISTINCT u.role_name ORDER BY u.role_name),
           min(u.ts), max(u.ts)
    FROM claude.usage AS u
    WHERE u.ts >= since AND NOT u.cache_hit
    GROUP BY u.provider, u.region, u.endpoint_host, u.model, u.geography
    ORDER BY u.provider, u.region, u.endpoint_host, u.model
$$;

COMMENT ON FUNCTION @extschema@.claude_data_flow(timestamptz) IS
'Where requests were processed since a time: provider, region, endpoint host, model, geography, calls, tokens, roles';

-- The catalogue refreshed from the Bedrock control plane of claude.region
-- (doc/models.md); the worker runs it every claude.models_refresh_interval.
CREATE FUNCTION @extschema@.claude_models_refresh(
    OUT region               text,
    OUT foundation_models    int,
    OUT system_profiles      int,
    OUT application_profiles int,
    OUT added                int,
    OUT changed              int,
    OUT removed              int,
    OUT error                text)
RETURNS record
AS 'MODULE_PATHNAME', 'claude_models_refresh'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.claude_models_refresh() IS
'Replace claude.region''s aws rows of claude.models with what the Bedrock control plane lists (models, system and application profiles): the counts listed, added, changed and removed; a failure is a WARNING, its error, and the old rows kept';

-- S3 through the one transport and signer (src/s3.c), the groundwork of
-- batch mode: superuser only, since they sign with the server's credentials.
CREATE FUNCTION claude.s3_put(uri text, body bytea) RETURNS text
AS 'MODULE_PATHNAME', 'claude_s3_put_sql'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION claude.s3_put(text, bytea) IS
'PutObject of body at an s3://bucket/key URI, after claude.residency has judged the bucket''s region: the ETag (superuser)';
CREATE FUNCTION claude.s3_get(uri text) RETURNS bytea
AS 'MODULE_PATHNAME', 'claude_s3_get_sql'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION claude.s3_get(text) IS
'GetObject of an s3://bucket/key URI: the object''s bytes (superuser)';
CREATE FUNCTION claude.s3_list(uri text) RETURNS SETOF text
AS 'MODULE_PATHNAME', 'claude_s3_list_sql'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION claude.s3_list(text) IS
'ListObjectsV2 of an s3://bucket/prefix URI, every page: the keys (superuser)';
CREATE FUNCTION claude.s3_bucket_region(uri text) RETURNS text
AS 'MODULE_PATHNAME', 'claude_s3_bucket_region_sql'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION claude.s3_bucket_region(text) IS
'HeadBucket of an s3://bucket URI: the bucket''s region (x-amz-bucket-region) (superuser)';
REVOKE ALL ON FUNCTION claude.s3_put(text, bytea), claude.s3_get(text), claude.s3_list(text),
    claude.s3_bucket_region(text) FROM PUBLIC;

-- Calls cost money and send data out of the database: nobody may call
-- Claude until an administrator grants it (see README, "Privileges").
REVOKE ALL ON FUNCTION @extschema@.claude_complete(text, text, text, int, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_invoke(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_http_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_complete_async(text, text, text, int, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_enrich(regclass, text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_enrich_estimate(regclass, text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_job_cancel(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_job_pause(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_job_resume(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_job_wait(bigint, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_complete_batch(text[], text, text, int, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_classify_batch(text[], text[], text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_extract_batch(text[], jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_sentiment_batch(text[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_summarize_batch(text[], int, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_credentials() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_residency_check(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_data_flow(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_classify(text, text[], text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_classify(text, jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_classify(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_classify_batch(text[], jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_classify_batch(text[], text, text, text) FROM PUBLIC;
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
REVOKE ALL ON FUNCTION claude.dropped_records() FROM PUBLIC;
REVOKE ALL ON FUNCTION claude.prices_keep_published() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_maintain() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_cache_key(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.claude_models_refresh() FROM PUBLIC;
REVOKE ALL ON SCHEMA claude FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA claude FROM PUBLIC;

-- Everyone may read their own audit rows (row-level security) and the
-- prices and statistics; nobody but the extension writes the audit log.
GRANT USAGE ON SCHEMA claude TO PUBLIC;
GRANT SELECT ON claude.usage, claude.prices, claude.stats, claude.requests, claude.jobs TO PUBLIC;
GRANT SELECT ON claude.job_items TO PUBLIC;  -- row level security: each owner's own rows
GRANT EXECUTE ON FUNCTION claude.price_of(text), claude.dropped_records() TO PUBLIC;
GRANT SELECT ON claude.models, claude.models_merged TO PUBLIC;
GRANT SELECT ON claude.stats_hourly, claude.load_tests TO PUBLIC;  -- load_tests: row level security
GRANT EXECUTE ON FUNCTION claude.model_info(text), claude.model_family(text) TO PUBLIC;
REVOKE ALL ON FUNCTION claude.models_keep_published(), claude.models_changed() FROM PUBLIC;

-- The predefined roles (created at the top of this script).  claude_user:
-- every function a query calls; not the administrator's claude_maintain()
-- and claude_models_refresh().
GRANT EXECUTE ON FUNCTION
    @extschema@.claude_complete(text, text, text, int, float8),
    @extschema@.claude_invoke(jsonb, text),
    @extschema@.claude_classify(text, text[], text, text),
    @extschema@.claude_classify(text, jsonb, text, text),
    @extschema@.claude_classify(text, text, text, text),
    @extschema@.claude_classify_multi(text, text[], text, text),
    @extschema@.claude_extract(text, jsonb, text, text),
    @extschema@.claude_sentiment(text, text),
    @extschema@.claude_summarize(text, int, text),
    @extschema@.claude_summarize_agg(text),
    @extschema@.claude_summarize_agg(text, int),
    @extschema@.claude_count_tokens(text, text),
    @extschema@.claude_count_tokens(jsonb, text),
    @extschema@.claude_complete_batch(text[], text, text, int, float8),
    @extschema@.claude_classify_batch(text[], text[], text, text),
    @extschema@.claude_classify_batch(text[], jsonb, text, text),
    @extschema@.claude_classify_batch(text[], text, text, text),
    @extschema@.claude_extract_batch(text[], jsonb, text, text),
    @extschema@.claude_sentiment_batch(text[], text),
    @extschema@.claude_summarize_batch(text[], int, text),
    @extschema@.claude_cache_key(jsonb, text),
    @extschema@.claude_http_stats(),
    @extschema@.claude_credentials(),
    @extschema@.claude_residency_check(text),
    @extschema@.claude_data_flow(timestamptz)
    TO claude_user;
-- claude_job_owner (a member of claude_user): background work
GRANT EXECUTE ON FUNCTION
    @extschema@.claude_complete_async(text, text, text, int, float8),
    @extschema@.claude_enrich(regclass, text, text, text, jsonb),
    @extschema@.claude_enrich_estimate(regclass, text, text, text, jsonb),
    @extschema@.claude_job_wait(bigint, interval),
    @extschema@.claude_job_cancel(bigint),
    @extschema@.claude_job_pause(bigint),
    @extschema@.claude_job_resume(bigint)
    TO claude_job_owner;
-- claude_auditor: reads (claude.usage through usage_auditor_rows), never writes
GRANT SELECT ON claude.job, claude.job_items TO claude_auditor;
GRANT EXECUTE ON FUNCTION
    @extschema@.claude_data_flow(timestamptz),
    @extschema@.claude_job_wait(bigint, interval)
    TO claude_auditor;
