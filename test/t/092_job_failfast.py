#!/usr/bin/env python3
"""Jobs fail fast and say why (issue 14, item 1).

Before a job is queued, claude_enrich refuses what cannot succeed, with no
request sent: a model the residency policy refuses (42501), options the
task's scalar function refuses (the same error), an output column whose
type cannot take the task's answer (42804: task complete into an int
column).  While a job runs, claude.job_max_consecutive_failures rows in a
row failing with the same non-retryable error stop it in state failed with
the AWS error code, a message and a sample row (an unknown model sends at
most that many requests, counted by the emulator); throttling never trips
it, and a success starts the count again.  A job some of whose rows failed
ends done_with_errors, as claude_job_wait says; claude.jobs shows the last
error and failures by code, and each owner reads why their row 42 failed in
claude.job_items (row level security: another role sees nothing)."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("job_failfast")
work = tempfile.mkdtemp(prefix="pg_claude_t092_")
emu = Emulator(work, tls=False)
pg = Cluster("t092", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.worker_concurrency = 16
claude.cache = off
""")
LABELS = '{"labels": ["billing", "bug"]}'
UNKNOWN = "au.anthropic.claude-nope-v1:0"


def q(sql, user="postgres"):
    return pg.psql("\\set VERBOSITY verbose\n" + sql, user=user)


def val(sql, user="postgres"):
    rc, out, err = q(sql, user)
    return out.splitlines()[-1] if out else err


def invokes():
    ops = emu.stats()["by_operation"]      # claude.stream = auto: calls stream
    return ops.get("InvokeModel", 0) + ops.get("InvokeModelWithResponseStream", 0)


def make_table(name, n, owner="alice", extra=""):
    q(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id int PRIMARY KEY, body text, label text{extra});"
      f"INSERT INTO {name} SELECT g, CASE WHEN g % 3 = 0 THEN 'billing question ' ELSE 'bug report ' END || g, NULL "
      f"FROM generate_series(1, {n}) g; ALTER TABLE {name} OWNER TO {owner}")


def enrich(table, output, task, options, user="alice", pre=""):
    return q(f"{pre}SELECT claude_enrich('{table}', 'body', '{output}', '{task}', '{options}')", user)


def wait(job, user="alice"):
    return val(f"SELECT claude_job_wait({job}, '120 seconds')", user)


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude; CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN; GRANT CREATE ON SCHEMA public TO alice;"
      "GRANT EXECUTE ON FUNCTION claude_enrich(regclass, text, text, text, jsonb), "
      "claude_job_wait(bigint, interval), claude_classify(text, text[], text, text), "
      "claude_complete_async(text, text, text, int, float8) TO alice, bob")

    # --- refused before any request ------------------------------------------
    make_table("tickets", 9)
    q("ALTER TABLE tickets ADD COLUMN n int, ADD COLUMN score numeric, ADD COLUMN facts jsonb")
    emu.reset()
    rc, out, err = enrich("tickets", "n", "complete", "{}")
    t.ok(rc != 0 and "42804" in err and '"n"' in err and "integer" in err and "text" in err
         and "DETAIL" in err and "HINT" in err,
         "task complete into an int column is refused (42804) naming the column, its type and what fits", err)
    t.ok(val("SELECT count(*) FROM claude.job") == "0" and invokes() == 0,
         "the refused job is not queued and sent nothing", (val("SELECT count(*) FROM claude.job"), invokes()))
    rc, out, err = enrich("tickets", "n", "sentiment", "{}")
    t.ok(rc != 0 and "42804" in err and "number" in err,
         "a sentiment score into an int column is refused (scores are fractions)", err)
    rc, out, err = enrich("tickets", "facts", "complete", "{}")
    t.ok(rc != 0 and "42804" in err, "free text into a jsonb column is refused", err)
    q("CREATE TYPE kind AS ENUM ('billing', 'bug'); CREATE TYPE mood AS ENUM ('billing', 'happy');"
      "CREATE DOMAIN short_text AS varchar(4000); "
      "ALTER TABLE tickets ADD COLUMN k kind, ADD COLUMN m mood, ADD COLUMN d short_text")
    rc, out, err = enrich("tickets", "m", "classify", LABELS)
    t.ok(rc != 0 and "42804" in err and '"bug" is not a value of mood' in err,
         "labels into an enum that lacks one are refused, naming the label", err)
    q("CREATE TABLE tickets_answer (id int PRIMARY KEY, answer int, input_sha256 text, "
      "updated_at timestamptz NOT NULL DEFAULT now()); ALTER TABLE tickets_answer OWNER TO alice")
    rc, out, err = enrich("tickets", "answer", "complete", '{"into": "table"}')
    t.ok(rc != 0 and "42804" in err and "tickets_answer" in err,
         "an existing result table whose column cannot take the answer is refused too", err)
    q("ALTER TABLE tickets ADD COLUMN tags text[], ADD COLUMN moods mood[]")
    rc, out, err = enrich("tickets", "moods", "classify", '{"labels": ["billing", "bug"], "multi": true}')
    t.ok(rc != 0 and "42804" in err and '"bug" is not a value of mood[]' in err,
         "multi-label into an array of an enum lacking a label is refused", err)
    accepted = []
    for col, task, opts in (("score", "sentiment", "{}"), ("facts", "extract",
                            '{"schema": {"type": "object", "properties": {"topic": {"type": "string"}}}}'),
                            ("k", "classify", LABELS), ("d", "summarize", "{}"),
                            ("tags", "classify", '{"labels": ["billing", "bug"], "multi": true}')):
        rc, out, err = enrich("tickets", col, task, opts)
        accepted.append((col, task, rc, out.splitlines()[-1] if out else err))
    t.ok(all(a[2] == 0 and a[3].isdigit() for a in accepted),
         "numeric takes a sentiment, jsonb an extraction, an enum with every label a label, a domain over varchar "
         "a summary, text[] the labels of a multi-label classification",
         accepted)
    states = [wait(a[3]) for a in accepted if a[3].isdigit()]
    t.ok(states == ["done"] * 5 and val("SELECT count(*) FROM tickets WHERE k = CASE WHEN id % 3 = 0 "
                                        "THEN 'billing'::kind ELSE 'bug' END") == "9",
         "those jobs run and the enum column holds the labels", states)

    emu.reset()
    rc, out, err = enrich("tickets", "label", "classify",
                          '{"labels": ["billing", "bug"], "model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}')
    rc2, out2, err2 = enrich("tickets", "label", "classify", LABELS,
                             pre="SET claude.model = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';\n")
    rc3, out3, err3 = q("SELECT claude_complete_async('x', model => 'us.anthropic.claude-sonnet-4-5-20250929-v1:0')",
                        "alice")
    first = [e.splitlines()[0] if e else "" for e in (err, err2, err3)]
    t.ok(rc != 0 and rc2 != 0 and rc3 != 0 and "claude.residency" in err and first[0] == first[1] == first[2]
         and invokes() == 0,
         "a model the residency policy refuses (named, or claude.model) is refused up front, "
         "as claude_complete_async refuses it", first)
    rc, out, err = enrich("tickets", "label", "classify", '{"labels": []}')
    rc2, out2, err2 = q("SELECT claude_classify('x', ARRAY[]::text[])", "alice")
    msg = [ln for ln in err.splitlines() if ln.startswith("ERROR")]
    msg2 = [ln for ln in err2.splitlines() if ln.startswith("ERROR")]
    t.ok(rc != 0 and msg and msg == msg2 and invokes() == 0,
         "options are refused with the scalar function's own error", (msg, msg2))

    # --- an unknown model: stops after the limit -------------------------------
    make_table("nope", 200)
    emu.reset()
    rc, out, err = enrich("nope", "label", "classify",
                          '{"labels": ["billing", "bug"], "model": "%s"}' % UNKNOWN)
    job = out.splitlines()[-1] if rc == 0 else err
    state = wait(job)
    sent = invokes()
    row = val(f"SELECT error_code || '|' || (error_pk IS NOT NULL) || '|' || failures::text || '|' || "
              f"rows_failed || '|' || error FROM claude.jobs WHERE id = {job}", "alice").split("|", 4)
    t.ok(state == "failed", "a job with an unknown model ends failed, as claude_job_wait says", (state, row))
    t.ok(1 <= sent <= 20, "it sent at most claude.job_max_consecutive_failures (20) requests", sent)
    t.ok(len(row) == 5 and row[0] in ("ValidationException", "ResourceNotFoundException") and row[1] == "true"
         and row[2] == '{"%s": %s}' % (row[0], row[3]) and row[0] in row[4] and "20" in row[4],
         "claude.jobs shows the AWS error code, a sample row, failures by code and the message", row)
    t.ok(val(f"SELECT count(*) FILTER (WHERE state = 'running') || '/' || count(*) FILTER (WHERE state = 'pending') "
             f"FROM claude.job_items WHERE job_id = {job}") == f"0/{200 - int(row[3]) if len(row) == 5 else 0}",
         "rows it had claimed but not sent are released, none left running",
         val(f"SELECT state, count(*) FROM claude.job_items WHERE job_id = {job} GROUP BY 1"))
    t.ok(val(f"SELECT count(*) FROM claude.job_items WHERE job_id = {job} AND state = 'failed' "
             f"AND error_code = '{row[0] if row else ''}'", "alice") == (row[3] if len(row) == 5 else "x"),
         "each failed row keeps its error code")

    emu.reset()
    rc, out, err = enrich("nope", "label", "classify", '{"labels": ["billing", "bug"], "model": "%s"}' % UNKNOWN,
                          pre="SET claude.job_max_consecutive_failures = 5;\n")
    job5 = out.splitlines()[-1] if rc == 0 else err
    state = wait(job5)
    t.ok(state == "failed" and 1 <= invokes() <= 5
         and val(f"SELECT max_consecutive_failures FROM claude.job WHERE id = {job5}") == "5",
         "the owner's claude.job_max_consecutive_failures = 5 goes with the job: at most 5 requests",
         (state, invokes()))

    # --- throttling never trips it --------------------------------------------
    q("ALTER SYSTEM SET claude.max_retries = 0; SELECT pg_reload_conf()")
    time.sleep(0.5)
    make_table("throttled", 60)
    emu.reset()
    emu.fault(fault="error", status=429, error_type="ThrottlingException", count=30,
              operations=["InvokeModel", "InvokeModelWithResponseStream"])
    rc, out, err = enrich("throttled", "label", "classify", LABELS, pre="SET claude.job_max_consecutive_failures = 5;\n")
    jobt = out.splitlines()[-1] if rc == 0 else err
    state = wait(jobt)
    detail = val(f"SELECT rows_done || '/' || rows_failed || '/' || failures::text FROM claude.jobs WHERE id = {jobt}")
    t.ok(state == "done_with_errors" and detail.startswith("30/30/") and '"ThrottlingException": 30' in detail
         and emu.stats()["faults_applied"] >= 30,
         "30 throttled rows in a row (no retries) do not fail a job that stops at 5: done_with_errors",
         (state, detail))
    q("ALTER SYSTEM RESET claude.max_retries; SELECT pg_reload_conf()")

    # --- a success starts the count again ---------------------------------------
    make_table("every4", 100, extra=", CHECK (label IS NULL OR id % 4 <> 0)")
    rc, out, err = enrich("every4", "label", "classify", LABELS, pre="SET claude.job_max_consecutive_failures = 8;\n")
    job4 = out.splitlines()[-1] if rc == 0 else err
    state = wait(job4)
    t.ok(state == "done_with_errors" and val(f"SELECT rows_done || '/' || rows_failed || '/' || failures::text "
                                             f"FROM claude.jobs WHERE id = {job4}") == '75/25/{"23514": 25}',
         "25 failed writes among successes never make 8 in a row: the job finishes, done_with_errors",
         (state, val(f"SELECT rows_done, rows_failed, failures, error FROM claude.jobs WHERE id = {job4}")))

    # --- done_with_errors, and why row 42 failed --------------------------------
    make_table("reviews", 100, extra=", CHECK (label IS NULL OR id <> 42)")
    rc, out, err = enrich("reviews", "label", "classify", LABELS)
    jobr = out.splitlines()[-1] if rc == 0 else err
    state = wait(jobr)
    t.ok(state == "done_with_errors", "a job with one failed row ends done_with_errors (claude_job_wait)", state)
    t.ok(val(f"SELECT state FROM claude.jobs WHERE id = {jobr}", "alice") == "done_with_errors"
         and val("SELECT count(*) FROM reviews WHERE label IS NOT NULL") == "99",
         "claude.jobs says so, and the other 99 rows are written")
    last = val(f"SELECT last_error_code || '|' || failures::text || '|' || (last_error LIKE '%reviews_check%') "
               f"FROM claude.jobs WHERE id = {jobr}", "alice")
    t.ok(last == '23514|{"23514": 1}|true', "claude.jobs shows the last error (code and message) and failures by code",
         last)
    why = f"SELECT state, error_code, error FROM claude.job_items WHERE job_id = {jobr} AND pk = '{{\"id\": 42}}'"
    rc, out, err = q(why, "alice")
    t.ok(rc == 0 and out.startswith("failed|23514|could not write the result") and "reviews_check" in out,
         "the owner reads why row 42 failed in one query on claude.job_items", (out, err))
    rc, out, err = q(why, "bob")
    rc2, out2, err2 = q(f"SELECT count(*) FROM claude.job_items", "bob")
    t.ok(rc == 0 and out == "" and out2 == "0", "another role sees none of the owner's rows", (out, err, out2))
    rc, out, err = q(why)
    t.ok(rc == 0 and out.startswith("failed|23514"), "a superuser sees them", out)
    q("CREATE ROLE auditor LOGIN; GRANT claude_auditor TO auditor;"
      "CREATE ROLE monitor LOGIN; GRANT pg_read_all_stats TO monitor")
    t.ok(val(f"SELECT count(*) FROM claude.job_items WHERE job_id = {jobr}", "auditor") == "100",
         "a claude_auditor member sees every job's rows")
    t.ok(val(f"SELECT count(*) FROM claude.job_items WHERE job_id = {jobr}", "monitor") == "0"
         and val(f"SELECT count(*) FROM claude.jobs WHERE id = {jobr}", "monitor") == "1",
         "a pg_read_all_stats member sees the job in claude.jobs but not its rows (their keys may be personal data)")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
