#!/usr/bin/env python3
"""The pg_claude worker: asynchronous requests and enrichment jobs.

A job over a few thousand rows fills every row exactly once; kill -9 of
the worker and an immediate shutdown mid-job lose nothing and write
nothing twice (upstream requests bounded by rows + what was in flight);
injected 429/5xx faults; cancel; the request rate limit; a changed input is
re-processed and an unchanged one is not; per-row errors do not stop a
job; without preloading the async functions refuse with a hint."""

import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("worker")
work = tempfile.mkdtemp(prefix="pg_claude_t090_")
emu = Emulator(work, tls=False)
pg = Cluster("t090", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.worker_concurrency = 16
claude.cache = off
""")
N = 3000
LABELS = '{"labels": ["billing", "bug"]}'


def q(sql):
    rc, out, err = pg.psql("\\set VERBOSITY verbose\n" + sql)
    return rc, out, err


def val(sql):
    rc, out, err = q(sql)
    return out.splitlines()[-1] if out else err


def wait_state(job, states=("done", "done_with_errors", "failed", "cancelled"), timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = val(f"SELECT state FROM claude.job WHERE id = {job}")
        if s in states:
            return s
        time.sleep(0.2)
    return val(f"SELECT state FROM claude.job WHERE id = {job}")


def worker_pid():
    return val("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_claude worker'")


def make_table(name, n):
    q(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id int PRIMARY KEY, body text, label text);"
      f"INSERT INTO {name} SELECT g, CASE WHEN g % 3 = 0 THEN 'billing question ' ELSE 'bug report ' END || g, NULL "
      f"FROM generate_series(1, {n}) g")


def exactly_once(name, job, n):
    filled = val(f"SELECT count(*) FROM {name} WHERE label = CASE WHEN id % 3 = 0 THEN 'billing' ELSE 'bug' END")
    done = val(f"SELECT count(*) FROM claude.job_items WHERE job_id = {job} AND state = 'done'")
    writes = val(f"SELECT count(*) FROM claude.enrich_hashes WHERE job_id = {job}")
    return filled == str(n) and done == str(n) and writes == str(n), (filled, done, writes)


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")
    t.ok(worker_pid().isdigit(), "the worker runs")

    # --- a few thousand rows, exactly once --------------------------------------
    make_table("tickets", N)
    emu.reset()
    emu.control("config", {"latency_ms": 20})
    job = val(f"SELECT claude_enrich('tickets', 'body', 'label', 'classify', '{LABELS}')")
    state = val(f"SELECT claude_job_wait({job}, '120 seconds')")
    ok, detail = exactly_once("tickets", job, N)
    t.ok(state == "done" and ok, f"a {N}-row job fills every row exactly once", (state, detail))
    t.ok(emu.stats()["requests"] == N, "one upstream request per row", emu.stats()["requests"])
    t.ok(val(f"SELECT rows_total || '/' || rows_done || '/' || rows_failed || '/' || percent_done "
             f"FROM claude.jobs WHERE id = {job}") == f"{N}/{N}/0/100.0",
         "claude.jobs shows the progress", val(f"SELECT * FROM claude.jobs WHERE id = {job}"))
    time.sleep(1.5)
    t.ok(val(f"SELECT count(*) FROM claude.usage WHERE job_id = {job}") == str(N),
         "every job request is in the audit log with its job id")

    # a rerun costs nothing for unchanged rows; a changed row is re-processed
    q("UPDATE tickets SET body = 'billing now ' || id WHERE id IN (1, 2, 4)")
    emu.reset()
    job2 = val(f"SELECT claude_enrich('tickets', 'body', 'label', 'classify', '{LABELS}')")
    val(f"SELECT claude_job_wait({job2}, '60 seconds')")
    t.ok(emu.stats()["requests"] == 3 and val("SELECT string_agg(label, ',' ORDER BY id) FROM tickets WHERE id IN (1, 2, 3, 4)")
         == "billing,billing,billing,billing",
         "only the 3 changed rows are re-processed", emu.stats()["requests"])

    # results in a table of their own, keyed by the primary key, with a view
    make_table("t_into", 60)
    q("ALTER TABLE t_into DROP COLUMN label")
    job = val(f"SELECT claude_enrich('t_into', 'body', 'label', 'classify', "
              f"'{{\"labels\": [\"billing\", \"bug\"], \"into\": \"table\"}}')")
    state = wait_state(job)
    t.ok(state == "done" and val("SELECT count(*) FROM t_into_label WHERE label = CASE WHEN id % 3 = 0 "
                                 "THEN 'billing' ELSE 'bug' END") == "60"
         and val("SELECT count(label) FROM t_into_with_label") == "60",
         "into a result table keyed by the primary key, joined by a view", state)
    q("UPDATE t_into SET body = 'billing again' WHERE id = 1")
    job = val(f"SELECT claude_enrich('t_into', 'body', 'label', 'classify', "
              f"'{{\"labels\": [\"billing\", \"bug\"], \"into\": \"table\"}}')")
    wait_state(job)
    t.ok(val(f"SELECT rows_total FROM claude.job WHERE id = {job}") == "1" and
         val("SELECT label FROM t_into_with_label WHERE id = 1") == "billing",
         "a rerun into the table re-processes only the changed row")

    # --- an error mid-job costs that job, not the worker -----------------------------------------
    make_table("t_gone", 1000)
    emu.reset()
    emu.control("config", {"latency_ms": 50})
    pid = worker_pid()
    job = val(f"SELECT claude_enrich('t_gone', 'body', 'label', 'classify', '{LABELS}')")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and int(val(f"SELECT rows_done FROM claude.job WHERE id = {job}") or 0) < 100:
        time.sleep(0.05)
    q("DROP TABLE t_gone")
    state = wait_state(job, timeout=30)
    make_table("t_after", 20)
    job2 = val(f"SELECT claude_enrich('t_after', 'body', 'label', 'classify', '{LABELS}')")
    state2 = wait_state(job2, timeout=30)
    t.ok(state == "failed" and worker_pid() == pid and state2 == "done",
         "a source dropped mid-job fails that job; the same worker goes on to the next",
         (state, val(f"SELECT error FROM claude.job WHERE id = {job}"), pid, worker_pid(), state2))

    # --- kill -9 the worker mid-job ------------------------------------------------
    make_table("t_kill", 1500)
    emu.reset()
    emu.control("config", {"latency_ms": 50})
    job = val(f"SELECT claude_enrich('t_kill', 'body', 'label', 'classify', '{LABELS}')")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and int(val(f"SELECT rows_done FROM claude.job WHERE id = {job}") or 0) < 300:
        time.sleep(0.05)
    os.kill(int(worker_pid()), signal.SIGKILL)
    time.sleep(1)
    pg._as_owner([os.path.join(pg.bindir, "pg_isready"), "-h", pg.base, "-p", str(pg.port), "-t", "30"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not worker_pid().isdigit():
        time.sleep(0.2)
    state = wait_state(job)
    ok, detail = exactly_once("t_kill", job, 1500)
    reqs = emu.stats()["requests"]
    t.ok(state == "done" and ok, "after kill -9 of the worker: every row filled exactly once", (state, detail))
    t.ok(1500 <= reqs <= 1500 + 2 * 16, f"upstream requests within rows + in flight ({reqs})", reqs)

    # --- immediate shutdown mid-job ---------------------------------------------------
    make_table("t_crash", 1500)
    emu.reset()
    emu.control("config", {"latency_ms": 50})
    job = val(f"SELECT claude_enrich('t_crash', 'body', 'label', 'classify', '{LABELS}')")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and int(val(f"SELECT rows_done FROM claude.job WHERE id = {job}") or 0) < 300:
        time.sleep(0.05)
    pg.stop("immediate")
    pg.start(env=emulator_env())
    state = wait_state(job)
    ok, detail = exactly_once("t_crash", job, 1500)
    reqs = emu.stats()["requests"]
    t.ok(state == "done" and ok, "after an immediate shutdown mid-job: every row filled exactly once", (state, detail))
    t.ok(1500 <= reqs <= 1500 + 2 * 16, f"upstream requests within rows + in flight ({reqs})", reqs)

    # --- 20 % faults ----------------------------------------------------------------------
    # Faults are handed out in order, so late retries can meet several in a row: allow for that,
    # the point here being that no row is lost or written twice, not the retry budget.
    make_table("t_faults", 500)
    q("ALTER SYSTEM SET claude.max_retries = 10; SELECT pg_reload_conf()")
    time.sleep(0.5)
    emu.reset()
    emu.control("config", {"latency_ms": 0})
    faults = []
    for i in range(100):
        faults.append({"fault": "throttle", "count": 1} if i % 2 else
                      {"fault": "error", "status": 503, "error_type": "ServiceUnavailableException", "count": 1})
        faults.append({"fault": "latency", "delay_ms": 0, "count": 4})
    emu.control("faults", {"faults": faults})
    job = val(f"SELECT claude_enrich('t_faults', 'body', 'label', 'classify', '{LABELS}')")
    state = wait_state(job)
    ok, detail = exactly_once("t_faults", job, 500)
    t.ok(state == "done" and ok, "with 20 % of attempts throttled or failing, every row is filled once",
         (state, detail, emu.stats()["requests"],
          val(f"SELECT string_agg(DISTINCT coalesce(error, state), '; ') FROM claude.job_items "
              f"WHERE job_id = {job} AND state <> 'done'")))
    q("ALTER SYSTEM RESET claude.max_retries; SELECT pg_reload_conf()")

    # --- per-row errors do not stop the job ---------------------------------------------------
    q("CREATE TABLE t_err (id int PRIMARY KEY, body text, score numeric)")
    q("INSERT INTO t_err SELECT g, 'I love it ' || g, NULL FROM generate_series(1, 20) g")
    job = val("SELECT claude_enrich('t_err', 'body', 'score', 'sentiment')")  # an int column is refused (t/092)
    state = wait_state(job)
    t.ok(state == "done" and val(f"SELECT rows_done FROM claude.job WHERE id = {job}") == "20",
         "a sentiment job writes into a numeric column", val(f"SELECT * FROM claude.job_items WHERE job_id = {job} LIMIT 1"))
    # an answer that is no integer cannot go into an integers-only column: those rows fail, alone
    # (an int column itself is refused before the job is queued, t/092)
    q("CREATE TABLE t_err2 (id int PRIMARY KEY, body text, answer text CHECK (answer ~ '^[0-9]+$'))")
    q("INSERT INTO t_err2 SELECT g, 'REPEAT SYSTEM', NULL FROM generate_series(1, 5) g")
    q("INSERT INTO t_err2 SELECT g, 'some words', NULL FROM generate_series(6, 10) g")
    job = val("SELECT claude_enrich('t_err2', 'body', 'answer', 'complete', '{\"system\": \"42\"}')")
    state = wait_state(job)
    t.ok(state == "done_with_errors"
         and val(f"SELECT rows_done || '/' || rows_failed FROM claude.job WHERE id = {job}") == "5/5"
         and val("SELECT count(*) FROM t_err2 WHERE answer = '42'") == "5",
         "rows whose result cannot be written fail alone, with their error; the job ends done_with_errors",
         (val(f"SELECT rows_done || '/' || rows_failed FROM claude.job WHERE id = {job}"),
          val(f"SELECT string_agg(DISTINCT coalesce(error, '-'), ' | ') FROM claude.job_items WHERE job_id = {job}")))

    # --- cancel ------------------------------------------------------------------------------------
    make_table("t_cancel", 2000)
    emu.reset()
    emu.control("config", {"latency_ms": 100})
    job = val(f"SELECT claude_enrich('t_cancel', 'body', 'label', 'classify', '{LABELS}')")
    time.sleep(1.0)
    t.ok(val(f"SELECT claude_job_cancel({job})") == "t", "claude_job_cancel")
    time.sleep(1.0)
    done_then = val(f"SELECT rows_done FROM claude.job WHERE id = {job}")
    time.sleep(1.0)
    t.ok(val(f"SELECT state FROM claude.job WHERE id = {job}") == "cancelled" and
         val(f"SELECT rows_done FROM claude.job WHERE id = {job}") == done_then and int(done_then) < 2000,
         "a cancelled job stops", done_then)

    # --- rate limit ---------------------------------------------------------------------------------
    make_table("t_rate", 150)
    emu.reset()
    emu.control("config", {"latency_ms": 0})
    q("ALTER SYSTEM SET claude.requests_per_minute = 1200; SELECT pg_reload_conf()")
    time.sleep(0.5)
    job = val(f"SELECT claude_enrich('t_rate', 'body', 'label', 'classify', '{LABELS}')")
    state = wait_state(job)
    reqs = emu.control("requests?n=200")
    reqs = reqs.get("requests", reqs) if isinstance(reqs, dict) else reqs
    times = sorted(r["epoch"] for r in reqs)
    elapsed = times[-1] - times[0]
    rate = (len(times) - 1) / elapsed * 60
    print(f"# rate limit 1200/min: {len(times)} requests over {elapsed:.2f} s = {rate:.0f}/min")
    t.ok(state == "done" and rate <= 1200 * 1.05, f"the request rate stays within 5 % of the limit ({rate:.0f}/min)")
    q("ALTER SYSTEM RESET claude.requests_per_minute; SELECT pg_reload_conf()")

    # --- async requests -----------------------------------------------------------------------------
    emu.reset()
    rid = val("SELECT claude_complete_async('hello async')")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and val(f"SELECT state FROM claude.requests WHERE id = {rid}") != "done":
        time.sleep(0.1)
    t.ok(val(f"SELECT result FROM claude.requests WHERE id = {rid}") == "You said: hello async",
         "claude_complete_async: the result arrives in claude.requests")
    rc, out, err = q("BEGIN; SELECT claude_complete_async('rolled back'); ROLLBACK;")
    time.sleep(1.0)
    t.ok(val("SELECT count(*) FROM claude.requests WHERE prompt = 'rolled back'") == "0",
         "a rolled back request is never sent")

    # --- bad input ------------------------------------------------------------------------------------
    q("CREATE TABLE nopk (body text, label text)")
    rc, out, err = q("SELECT claude_enrich('nopk', 'body', 'label', 'classify', '{\"labels\": [\"a\"]}')")
    t.ok("42P16" in err and "primary key" in err, "a source without a primary key is refused", err)
    rc, out, err = q("SELECT claude_enrich('tickets', 'body', 'nosuch', 'classify', '{\"labels\": [\"a\"]}')")
    t.ok("42703" in err, "an unknown output column is refused", err)
    rc, out, err = q("SELECT claude_enrich('tickets', 'body', 'label', 'classify', '{}')")
    t.ok("22023" in err and "labels" in err, "classify without labels is refused", err)
    rc, out, err = q("SELECT claude_enrich('tickets', 'body', 'label', 'paraphrase')")
    t.ok("22023" in err, "an unknown task is refused", err)
    rc, out, err = q("SELECT claude_enrich('tickets', 'body) FROM tickets; SELECT (body', 'label', 'classify', '"
                     + LABELS + "')")
    t.ok("42601" in err and "single" in err, "an input smuggling in a second statement is refused (42601)", err)

    # --- a job owned by an ordinary role ------------------------------------------------------------
    # The worker reads and writes the owner's table as the owner, in a restricted operation: the
    # owner needs no rights on claude's own tables, and its input expression cannot change role.
    emu.reset()
    q("CREATE ROLE analyst LOGIN; GRANT EXECUTE ON FUNCTION claude_enrich(regclass, text, text, text, jsonb) "
      "TO analyst; CREATE SCHEMA analyst AUTHORIZATION analyst; SET ROLE analyst;"
      "CREATE TABLE analyst_tickets (id int PRIMARY KEY, body text, label text);"
      "INSERT INTO analyst_tickets SELECT g, CASE WHEN g % 3 = 0 THEN 'billing question ' ELSE 'bug report ' "
      "END || g FROM generate_series(1, 30) g;"
      "CREATE FUNCTION escalate(t text) RETURNS text LANGUAGE sql AS "
      "$$ SELECT set_config('role', 'postgres', false) || t $$")
    job = val("SET ROLE analyst; SET search_path = analyst, public; SELECT claude_enrich('analyst_tickets', 'body', 'label', 'classify', '"
              + LABELS + "')")
    state = wait_state(job)
    t.ok(state == "done" and val("SELECT count(*) FROM analyst.analyst_tickets WHERE label = CASE WHEN id % 3 = 0 "
                                 "THEN 'billing' ELSE 'bug' END") == "30",
         "a job owned by an ordinary role fills its table", (job, state, val(
             f"SELECT error FROM claude.job WHERE id = {job}")))
    job = val("SET ROLE analyst; SET search_path = analyst, public; SELECT claude_enrich('analyst_tickets', 'escalate(body)', 'label', 'classify', '"
              + LABELS + "')")
    state = wait_state(job)
    err = val(f"SELECT coalesce(error, '') FROM claude.job WHERE id = {job}")
    t.ok(state == "failed" and "role" in err and emu.stats()["requests"] == 30,
         "an input expression that tries to change role fails the job before any request", (state, err))
finally:
    pg.destroy()
    emu.stop()

# without preloading
pg2 = Cluster("t090b", free_port(), conf="")
try:
    pg2.start(env=emulator_env())
    pg2.psql("CREATE EXTENSION pg_claude")
    rc, out, err = pg2.psql("\\set VERBOSITY verbose\nSELECT claude_complete_async('x')")
    t.ok("55000" in err and "shared_preload_libraries" in err, "without preloading: 55000 with a hint", err)
finally:
    pg2.destroy()

sys.exit(t.summary())
