\set ECHO none
-- pg_temp.try(sql): run sql, and say "ok" or "SQLSTATE: message" with its DETAIL
-- and HINT (request ids masked), so that one test can show many errors.
-- Included by the pg_regress inputs (\i sql/include/try.sql; paths are
-- relative to the repository, where pg_regress runs).
CREATE OR REPLACE FUNCTION pg_temp.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text; hnt text;
BEGIN
  EXECUTE sql;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                          det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
  RETURN st || ': ' || msg
      || coalesce(E'\nDETAIL: ' || nullif(regexp_replace(det, 'request id [0-9a-f-]{36}', 'request id <id>'), ''), '')
      || coalesce(E'\nHINT: ' || nullif(hnt, ''), '');
END $$;
\set ECHO all
