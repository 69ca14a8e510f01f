#!/usr/bin/env python3
"""Money spent is never silently erased (issue 14, item 4).

pg_dump/pg_restore into a new database keeps the audit log, the cache, job
history and the input hashes (and their id sequences: new ids do not
collide), and a finished job run again there sends nothing; DROP EXTENSION
pg_claude without CASCADE is refused while claude.usage holds rows (with a
HINT), CASCADE or TRUNCATE claude.usage first drops it; claude.job_retention
prunes finished jobs only, never the hashes; a run with nothing to do
replaces the earlier empty runs; DROP EXTENSION during a running job leaves
the worker idle and quiet (no ERROR, no restart), and it picks up again
after CREATE EXTENSION."""

import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("audit_survives")
work = tempfile.mkdtemp(prefix="pg_claude_t105_")
os.chmod(work, 0o755)
emu = Emulator(work, tls=False)
pg = Cluster("t105", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.worker_concurrency = 8
""")
LABELS = '{"labels": ["billing", "bug"]}'
N = 40


def q(sql, db="postgres"):
    return pg.psql("\\set VERBOSITY verbose\n" + sql, db=db)


def val(sql, db="postgres"):
    rc, out, err = q(sql, db)
    return out.splitlines()[-1] if out else err


def wait_state(job, db, states=("done", "failed", "cancelled"), timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = val(f"SELECT state FROM claude.job WHERE id = {job}", db)
        if s in states:
            return s
        time.sleep(0.2)
    return val(f"SELECT state FROM claude.job WHERE id = {job}", db)


def wait_for(sql, expected, db, timeout=30):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = val(sql, db)
        if got == expected:
            return got
        time.sleep(0.2)
    return got


def make_table(name, n, db):
    q(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id int PRIMARY KEY, body text, label text);"
      f"INSERT INTO {name} SELECT g, CASE WHEN g % 3 = 0 THEN 'billing question ' ELSE 'bug report ' END || g, NULL "
      f"FROM generate_series(1, {n}) g", db)


def worker_pid(db):
    return val("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_claude worker'", db)


# What must survive, as one comparable text per table: every row, every
# column, in order (regclass columns print as names, so they compare
# across databases).
FACTS = {
    "usage": "SELECT count(*) || ':' || md5(string_agg(u::text, '|' ORDER BY id)) FROM claude.usage u",
    "job": "SELECT count(*) || ':' || md5(string_agg(j::text, '|' ORDER BY id)) FROM claude.job j",
    "job_items": "SELECT count(*) || ':' || md5(string_agg(i::text, '|' ORDER BY job_id, pk::text)) FROM claude.job_items i",
    "enrich_hashes": "SELECT count(*) || ':' || md5(string_agg(h::text, '|' ORDER BY source::text, output, pk::text)) "
                     "FROM claude.enrich_hashes h",
    "cache": "SELECT count(*) || ':' || md5(string_agg(c::text, '|' ORDER BY key)) FROM claude.cache c",
}


def tool(name):
    return os.path.join(pg.bindir, name)


def client(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")

    # --- money spent in the first database ---------------------------------------
    make_table("reviews", N, "postgres")
    job = val(f"SELECT claude_enrich('reviews', 'body', 'label', 'classify', '{LABELS}')")
    state = val(f"SELECT claude_job_wait({job}, '120 seconds')")
    val("SELECT claude_complete('what is a token?')")
    t.ok(state == "done" and val("SELECT count(*) FROM reviews WHERE label IS NOT NULL") == str(N),
         f"a {N}-row job fills every row", state)
    # the audit writer writes within a second or so
    usage_n = wait_for("SELECT count(*) FROM claude.usage", str(N + 1), "postgres")
    t.ok(usage_n == str(N + 1), "the job's calls and the scalar call are in the audit log", usage_n)
    before = {k: val(v) for k, v in FACTS.items()}
    t.ok(before["enrich_hashes"].startswith(f"{N}:") and before["cache"].startswith(f"{N + 1}:"),
         "hashes and cache hold the job's rows", before)
    max_usage = val("SELECT max(id) FROM claude.usage")
    max_job = val("SELECT max(id) FROM claude.job")

    # --- pg_dump, pg_restore into a new database ---------------------------------------
    dump_file = os.path.join(work, "postgres.dump")
    r = client([tool("pg_dump"), "-h", pg.base, "-p", str(pg.port), "-U", "postgres", "-Fc", "-f", dump_file, "postgres"])
    t.ok(r.returncode == 0, "pg_dump -Fc succeeds", r.stderr[-1000:])
    listing = client([tool("pg_restore"), "-l", dump_file]).stdout
    t.ok(all(f"TABLE DATA claude {tbl}" in listing for tbl in ("usage", "job", "job_items", "enrich_hashes", "cache"))
         and all(f"SEQUENCE SET claude {s}" in listing for s in ("usage_id_seq", "job_id_seq")),
         "the dump holds the audit log, cache, job history, hashes and their id sequences",
         "\n".join(ln for ln in listing.splitlines() if " claude " in ln))
    # the cache can be left out (pg_dump applies --exclude-table-data to config tables)
    lean = os.path.join(work, "lean.dump")
    client([tool("pg_dump"), "-h", pg.base, "-p", str(pg.port), "-U", "postgres", "-Fc", "-f", lean,
            "--exclude-table-data=claude.cache", "postgres"])
    lean_listing = client([tool("pg_restore"), "-l", lean]).stdout
    t.ok("TABLE DATA claude cache" not in lean_listing and "TABLE DATA claude usage" in lean_listing,
         "pg_dump --exclude-table-data=claude.cache leaves the cache out, the audit log in")
    q("CREATE DATABASE restored")
    r = client([tool("pg_restore"), "-h", pg.base, "-p", str(pg.port), "-U", "postgres", "-d", "restored",
                "--exit-on-error", dump_file])
    t.ok(r.returncode == 0 and r.stderr.strip() == "", "pg_restore into a new database: no error", r.stderr[-2000:])
    after = {k: val(v, "restored") for k, v in FACTS.items()}
    for k in FACTS:
        t.ok(after[k] == before[k], f"claude.{k} is the same after restore", (before[k], after[k]))
    t.ok(val("SELECT count(*) FROM claude.enrich_hashes WHERE source = 'public.reviews'::regclass", "restored") == str(N),
         "the restored hashes point at the restored table")

    # --- the worker serves the restored database: a finished job run again sends nothing
    pg.append_conf("claude.database_name = 'restored'")
    pg.restart(env=emulator_env())
    emu.reset()
    job2 = val(f"SELECT claude_enrich('reviews', 'body', 'label', 'classify', '{LABELS}')", "restored")
    state = val(f"SELECT claude_job_wait({job2}, '60 seconds')", "restored")
    t.ok(state == "done" and emu.stats()["requests"] == 0
         and val(f"SELECT rows_total FROM claude.job WHERE id = {job2}", "restored") == "0",
         "re-running the finished job in the restored database sends nothing",
         (state, emu.stats()["requests"], val(f"SELECT rows_total FROM claude.job WHERE id = {job2}", "restored")))
    t.ok(int(job2) > int(max_job), "a new job id goes on after the restored ones (no collision)", (job2, max_job))
    q("UPDATE reviews SET body = 'billing again' WHERE id = 1", "restored")
    job3 = val(f"SELECT claude_enrich('reviews', 'body', 'label', 'classify', '{LABELS}')", "restored")
    state = val(f"SELECT claude_job_wait({job3}, '60 seconds')", "restored")
    t.ok(state == "done" and emu.stats()["requests"] == 1
         and val("SELECT label FROM reviews WHERE id = 1", "restored") == "billing",
         "a changed row is re-processed, and only that one", (state, emu.stats()["requests"]))
    new_n = wait_for("SELECT count(*) FROM claude.usage", str(N + 2), "restored")
    log = pg.read_log()
    t.ok(new_n == str(N + 2) and int(val("SELECT max(id) FROM claude.usage", "restored")) > int(max_usage)
         and "duplicate key" not in log,
         "new audit rows get new ids after the restored ones", (new_n, max_usage, re.findall(r".*duplicate key.*", log)))

    # --- a run with nothing to do does not pile up history --------------------------
    runs = []
    for _ in range(3):
        j = val(f"SELECT claude_enrich('reviews', 'body', 'label', 'classify', '{LABELS}')", "restored")
        runs.append((j, val(f"SELECT claude_job_wait({j}, '60 seconds')", "restored")))
    empties = val("SELECT string_agg(id::text, ',' ORDER BY id) FROM claude.job WHERE source = 'reviews'::regclass "
                  "AND rows_total = 0", "restored")
    t.ok(all(s == "done" for _, s in runs) and empties == runs[-1][0],
         "three runs with nothing to do leave one job row, the latest", (runs, empties))
    t.ok(val(f"SELECT count(*) FROM claude.job WHERE id IN ({job}, {job3})", "restored") == "2",
         "runs that sent requests stay")

    # --- job retention: finished jobs and their items only, never hashes or live jobs
    paused = val(f"BEGIN; SELECT claude_enrich('reviews', 'body', 'label', 'classify', '{LABELS}') AS j \\gset\n"
                 "SELECT claude_job_pause(:j); COMMIT; SELECT :j", "restored")
    q(f"UPDATE claude.job SET created_at = now() - interval '200 days', "
      f"finished_at = CASE WHEN finished_at IS NOT NULL THEN now() - interval '100 days' END "
      f"WHERE id IN ({job}, {paused})", "restored")
    rc, out, err = q("ALTER SYSTEM SET claude.job_retention = '30d'; SELECT pg_reload_conf()", "restored")
    time.sleep(0.5)
    q("SELECT claude_maintain()", "restored")
    t.ok(val(f"SELECT count(*) FROM claude.job WHERE id = {job}", "restored") == "0"
         and val(f"SELECT count(*) FROM claude.job_items WHERE job_id = {job}", "restored") == "0",
         "claude.job_retention prunes a finished job and its items")
    t.ok(val(f"SELECT state FROM claude.job WHERE id = {paused}", "restored") == "paused"
         and val(f"SELECT count(*) FROM claude.job WHERE id = {job3}", "restored") == "1",
         "a paused job (however old) and a recent finished job stay")
    t.ok(val("SELECT count(*) FROM claude.enrich_hashes", "restored") == str(N),
         "the input hashes stay: a rerun still sends nothing")
    q(f"SELECT claude_job_cancel({paused})", "restored")

    # --- DROP EXTENSION without CASCADE is refused while the audit log holds rows -----
    rc, out, err = q("DROP EXTENSION pg_claude", "restored")
    t.ok(rc != 0 and "2BP01" in err and "claude.usage holds" in err and "HINT:" in err
         and "CASCADE" in err and "TRUNCATE claude.usage" in err,
         "DROP EXTENSION pg_claude is refused with 2BP01 and a hint", err)
    rc, out, err = q("DROP EXTENSION IF EXISTS pg_claude RESTRICT", "restored")
    t.ok(rc != 0 and "2BP01" in err, "so is DROP EXTENSION IF EXISTS ... RESTRICT", err)
    t.ok(val("SELECT count(*) FROM claude.usage", "restored") == new_n
         and val("SELECT count(*) FROM pg_extension WHERE extname = 'pg_claude'", "restored") == "1",
         "the refused drop left the extension and its audit log as they were")
    q("CREATE ROLE t105_plain LOGIN", "restored")
    rc, out, err = pg.psql("\\set VERBOSITY verbose\nDROP EXTENSION pg_claude", db="restored", user="t105_plain")
    t.ok(rc != 0 and "42501" in err and "must be owner" in err and "claude.usage" not in err,
         "a role that does not own the extension is told so by PostgreSQL, and learns nothing of the log", err)
    # other extensions are not the guard's business
    rc, out, err = q("DROP EXTENSION IF EXISTS no_such_ext", "restored")
    t.ok(rc == 0, "DROP EXTENSION of another extension is not affected", err)

    # --- DROP EXTENSION ... CASCADE while a job runs: the worker waits quietly -------
    make_table("big", 3000, "restored")
    emu.control("config", {"latency_ms": 30})
    pid = worker_pid("restored")
    big = val(f"SELECT claude_enrich('big', 'body', 'label', 'classify', '{LABELS}')", "restored")
    got = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = val(f"SELECT rows_done FROM claude.job WHERE id = {big}", "restored")
        if got.isdigit() and int(got) >= 100:
            break
        time.sleep(0.05)
    log_at = len(pg.read_log())
    rc, out, err = q("DROP EXTENSION pg_claude CASCADE", "restored")
    t.ok(rc == 0 and val("SELECT count(*) FROM pg_extension WHERE extname = 'pg_claude'", "restored") == "0",
         "DROP EXTENSION pg_claude CASCADE drops it mid-job", (got, err))
    time.sleep(8)
    tail = pg.read_log()[log_at:]
    bad = [ln for ln in tail.splitlines() if re.search(r"ERROR|FATAL|PANIC|exited with exit code|terminated by signal", ln)]
    t.ok(bad == [] and worker_pid("restored") == pid,
         "after the drop the worker stays, with no ERROR and no restart in the log", (bad, pid, worker_pid("restored"), tail[-2000:]))
    t.ok(len([ln for ln in tail.splitlines() if "pg_claude worker" in ln]) <= 1,
         "at most one line from the worker about it", tail[-2000:])
    emu.control("config", {"latency_ms": 0})
    rc, out, err = q("CREATE EXTENSION pg_claude", "restored")
    make_table("after", 10, "restored")
    j = val(f"SELECT claude_enrich('after', 'body', 'label', 'classify', '{LABELS}')", "restored")
    state = val(f"SELECT claude_job_wait({j}, '60 seconds')", "restored")
    t.ok(rc == 0 and state == "done" and val("SELECT count(label) FROM after", "restored") == "10"
         and worker_pid("restored") == pid,
         "after CREATE EXTENSION the same worker picks up jobs again", (err, state))
    # calls in flight at the drop were paid for: their records waited in shared memory
    t.ok(wait_for(f"SELECT count(*) > 0 FROM claude.usage WHERE job_id = {big}", "t", "restored") == "t",
         "audit records of calls in flight at the drop are written once the extension is back",
         val(f"SELECT count(*) FROM claude.usage WHERE job_id = {big}", "restored"))

    # --- the deliberate way without CASCADE: empty the log, then drop ---------------
    rc, out, err = q("TRUNCATE claude.usage; DROP EXTENSION pg_claude", "postgres")
    t.ok(rc == 0, "TRUNCATE claude.usage, then DROP EXTENSION pg_claude (no CASCADE) drops it", err)
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
