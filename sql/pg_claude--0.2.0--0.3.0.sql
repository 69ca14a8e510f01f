/* pg_claude--0.2.0--0.3.0.sql: prices of December 2026, jobs priced by what ran (see CHANGELOG) */

\echo Use "ALTER EXTENSION pg_claude UPDATE TO '0.3.0'" to load this file. \quit

-- The published prices of 2026-12 replace those of 2026-11; your own rows
-- (source 'user') stay and still win.
DELETE FROM claude.prices WHERE source = 'aws-list-2026-11';
COMMENT ON TABLE claude.prices IS
'USD per million tokens by model id pattern (LIKE); your rows (source ''user'') win over the published ones';
-- A model's row prices its geographic and in-region calls; its global. row
-- (a longer pattern, so it wins for global. ids) the global profile.
INSERT INTO claude.prices VALUES
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
    ('%claude-3-haiku%',           'aws-list-2026-12', 'Claude 3 Haiku',             0.25,  1.25, 0,     0,     10);

-- The price that applies to a model id: your rows first.  An ARN is priced
-- by its resource id (what follows the first '/'): a global. profile's ARN
-- costs what its global. id costs, a foundation model's ARN what the model
-- costs in-region.
CREATE OR REPLACE FUNCTION claude.price_of(model text)
RETURNS claude.prices
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p FROM claude.prices p
    WHERE pg_catalog.regexp_replace(model, '^arn:[^/]*/', '') LIKE p.model_pattern
    ORDER BY (p.source = 'user') DESC, p.priority DESC, length(p.model_pattern) DESC
    LIMIT 1
$$;

-- claude.jobs prices a job's calls from the audit log, by job.
CREATE INDEX usage_job_idx ON claude.usage (job_id) WHERE job_id IS NOT NULL;

-- security_barrier: a caller's own (leaky) functions in WHERE never see
-- the rows of jobs they may not.
CREATE OR REPLACE VIEW claude.jobs WITH (security_barrier) AS
SELECT j.id, j.role_name, j.source, j.output, j.task, j.state,
       j.rows_total, j.rows_done, j.rows_failed,
       CASE WHEN j.rows_total > 0
            THEN round(100.0 * (j.rows_done + j.rows_failed) / j.rows_total, 1) END AS percent_done,
       j.input_tokens, j.output_tokens,
       -- What the job's calls cost, each at the price of the model it used:
       -- its calls in claude.usage summed by model, each model priced once.
       -- Tokens the job counted that no remaining call accounts for (calls
       -- pruned by claude.usage_retention, or records the audit log lost)
       -- are priced at the job's model: its model option, else the one
       -- model its remaining calls used.  NULL when a model has no price, or
       -- when such tokens have no model to be priced at (never the viewer's
       -- claude.model: the job may have run on another).  0 for a job that
       -- made no call.
       (WITH used AS (
            SELECT u.model,
                   sum(coalesce(u.input_tokens, 0)) AS input_tokens,
                   sum(coalesce(u.output_tokens, 0)) AS output_tokens,
                   sum(coalesce(u.cache_read_tokens, 0)) AS cache_read_tokens,
                   sum(coalesce(u.cache_write_tokens, 0)) AS cache_write_tokens
            FROM claude.usage u
            WHERE u.job_id OPERATOR(pg_catalog.=) j.id AND NOT u.cache_hit
            GROUP BY u.model
        ), unrecorded AS (
            SELECT coalesce(j.options->>'model', (SELECT min(used.model) FROM used
                                                   HAVING count(*) OPERATOR(pg_catalog.=) 1)) AS model,
                   greatest(j.input_tokens - coalesce((SELECT sum(used.input_tokens) FROM used), 0), 0) AS input_tokens,
                   greatest(j.output_tokens - coalesce((SELECT sum(used.output_tokens) FROM used), 0), 0) AS output_tokens,
                   0 AS cache_read_tokens, 0 AS cache_write_tokens
        ), parts AS (
            SELECT * FROM used
            UNION ALL
            SELECT * FROM unrecorded
            WHERE unrecorded.input_tokens OPERATOR(pg_catalog.>) 0
               OR unrecorded.output_tokens OPERATOR(pg_catalog.>) 0
        )
        SELECT CASE WHEN count(*) OPERATOR(pg_catalog.=) 0 THEN 0
                    WHEN bool_and((p.price).input_per_mtok IS NOT NULL) THEN
                        round(sum(t.input_tokens * (p.price).input_per_mtok
                                + t.output_tokens * (p.price).output_per_mtok
                                + t.cache_read_tokens * (p.price).cache_read_per_mtok
                                + t.cache_write_tokens * (p.price).cache_write_per_mtok)
                              / 1000000.0, 6) END
        FROM parts t CROSS JOIN LATERAL (SELECT claude.price_of(t.model) AS price) p) AS estimated_cost_usd,
       CASE WHEN j.started_at IS NOT NULL AND j.rows_done + j.rows_failed > 0
            THEN round(((j.rows_done + j.rows_failed)
                 / greatest(extract(epoch FROM coalesce(j.finished_at, now()) - j.started_at), 0.001))::numeric, 2)
       END AS rows_per_second,
       CASE WHEN j.state = 'running' AND j.rows_done + j.rows_failed > 0 AND j.rows_total IS NOT NULL
            THEN (j.rows_total - j.rows_done - j.rows_failed)
                 * (coalesce(j.finished_at, now()) - j.started_at) / (j.rows_done + j.rows_failed)
       END AS eta,
       j.created_at, j.started_at, j.finished_at, j.error
FROM claude.job j
WHERE j.role_name OPERATOR(pg_catalog.=) CURRENT_USER
   OR pg_catalog.pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'USAGE')
   OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
              WHERE r.rolname OPERATOR(pg_catalog.=) 'claude_auditor'
                AND pg_catalog.pg_has_role(CURRENT_USER, r.oid, 'USAGE'))
   OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER);
COMMENT ON VIEW claude.jobs IS 'Enrichment jobs: state, rows done/failed/total, tokens, cost, rate, ETA';
