/* pg_claude--0.1.0--0.2.0.sql: hardening (see CHANGELOG, 0.2.0) */

\echo Use "ALTER EXTENSION pg_claude UPDATE TO '0.2.0'" to load this file. \quit

-- A job's input is evaluated under the search_path its owner had at
-- claude_enrich; jobs queued before this version use "$user", public.
ALTER TABLE claude.job ADD COLUMN search_path text;

-- Task names live in one place, the task table in the C code, which
-- claude_enrich checks against: no second list here to drift from it.
ALTER TABLE claude.job DROP CONSTRAINT job_task_check;

-- security_barrier: a caller's own (leaky) functions in WHERE never see
-- the rows of jobs they may not.
CREATE OR REPLACE VIEW claude.jobs WITH (security_barrier) AS
SELECT j.id, j.role_name, j.source, j.output, j.task, j.state,
       j.rows_total, j.rows_done, j.rows_failed,
       CASE WHEN j.rows_total > 0
            THEN round(100.0 * (j.rows_done + j.rows_failed) / j.rows_total, 1) END AS percent_done,
       j.input_tokens, j.output_tokens,
       round((j.input_tokens * coalesce((claude.price_of(coalesce(j.options->>'model', current_setting('claude.model')))).input_per_mtok, 0)
            + j.output_tokens * coalesce((claude.price_of(coalesce(j.options->>'model', current_setting('claude.model')))).output_per_mtok, 0))
            / 1000000.0, 6) AS estimated_cost_usd,
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

-- NULL in, NULL out: a NULL job is no job (it was read as job 0).
ALTER FUNCTION @extschema@.claude_job_cancel(bigint) STRICT;
ALTER FUNCTION @extschema@.claude_job_pause(bigint) STRICT;
ALTER FUNCTION @extschema@.claude_job_resume(bigint) STRICT;
