#!/usr/bin/env python3
"""The audit log misses nothing while the job worker is busy (issue 11, D2
and item 6).

The audit writer is a worker of its own ("pg_claude audit writer"), so a
job that holds the job worker ("pg_claude worker") on a request the
emulator keeps for two minutes does not stop claude.usage from being
written.  Another role's 20,000 calls (one claude_complete_batch, cache
off, inside a transaction that is rolled back) through a deliberately
small ring (claude.audit_buffer = 64kB, about 220 packed records) leave exactly
20,000 usage rows and claude.dropped_records() at 0, even while the writer
itself is blocked for a few seconds: the caller waits for room
(back-pressure) instead of dropping.  A writer stuck past
claude.audit_wait_timeout makes the caller write its records itself (with
a WARNING); cancel ends a wait for room at once; every record that cannot
be kept is in the server log and counted."""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("audit back-pressure")
work = tempfile.mkdtemp(prefix="pg_claude_t100_")
emu = Emulator(work, tls=False)
pg = Cluster("t100", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.audit_buffer = '64kB'
claude.timeout = '180s'
""")
N = 20000
HOLD_MS = 150000          # the job's request: the emulator answers it after 150 s
stopped = []              # processes we SIGSTOPped, continued in `finally`


def q(sql, user="postgres"):
    return pg.psql(sql, user=user, timeout=300)


def val(sql, user="postgres"):
    rc, out, err = q(sql, user)
    return out.splitlines()[-1] if out else err.strip()


def wait_for(sql, expected, timeout=60.0):
    deadline = time.monotonic() + timeout
    out = None
    while time.monotonic() < deadline:
        out = val(sql)
        if out == str(expected):
            return True
        time.sleep(0.2)
    print(f"# waited for {sql!r} = {expected!r}, last {out!r}")
    return False


def pid_of(backend_type):
    pid = val(f"SELECT pid FROM pg_stat_activity WHERE backend_type = '{backend_type}'")
    return int(pid) if pid.isdigit() else 0


def stop(pid):
    if pid:
        os.kill(pid, signal.SIGSTOP)
        stopped.append(pid)


def cont(pid):
    if pid:
        os.kill(pid, signal.SIGCONT)
        stopped.remove(pid)


def analyst_usage(prefix):
    return ("SELECT count(*) FROM claude.usage WHERE role_name = 'analyst' AND prompt_sha256 IN "
            f"(SELECT encode(sha256(convert_to('{prefix} ' || g, 'UTF8')), 'hex') FROM generate_series(1, {N}) g)")


def batch_sql(prefix, n, wrap=("", "")):
    return (f"SET claude.max_concurrency = 32; {wrap[0]} SELECT count(*) FILTER (WHERE error IS NULL) FROM "
            f"claude_complete_batch(ARRAY(SELECT '{prefix} ' || g FROM generate_series(1, {n}) g)); {wrap[1]}\n")


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")
    rc, out, err = q("SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity "
                     "WHERE backend_type LIKE 'pg_claude%'")
    t.ok(out == "pg_claude audit writer,pg_claude worker",
         "two workers: the job worker keeps backend_type 'pg_claude worker', the audit writer has its own",
         out + err)

    q("CREATE ROLE analyst LOGIN; ALTER ROLE analyst SET claude.cache = off;"
      "GRANT EXECUTE ON FUNCTION claude_complete_batch(text[], text, text, int, float8) TO analyst")

    # --- the job worker, held hostage by a job whose request takes 150 s ---------------
    q("CREATE TABLE slow_t (id int PRIMARY KEY, b text, o text); INSERT INTO slow_t VALUES (1, 'slow', NULL)")
    emu.reset()
    emu.fault(fault="latency", delay_ms=HOLD_MS, count=1)
    job = val("SELECT claude_enrich('slow_t', 'b', 'o', 'complete')")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and emu.stats()["faults_applied"] < 1:
        time.sleep(0.2)
    busy = val(f"SELECT j.state || ' ' || i.state FROM claude.job j JOIN claude.job_items i ON i.job_id = j.id "
               f"WHERE j.id = {job}")
    t.ok(emu.stats()["faults_applied"] == 1 and busy == "running running",
         "the job worker is busy with a request the endpoint holds for 150 s", busy)

    # --- 20,000 calls, rolled back, while the writer is also blocked for a while -------------
    writer = pid_of("pg_claude audit writer")
    before = emu.stats()["requests"]
    holder = subprocess.Popen(pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    holder.stdin.write("BEGIN; LOCK TABLE claude.usage IN SHARE MODE; SELECT 'locked';\n")
    holder.stdin.flush()
    holder.stdout.readline()
    t0 = time.monotonic()
    caller = subprocess.Popen(pg.psql_argv(user="analyst"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    caller.stdin.write(batch_sql("bp", N, ("BEGIN;", "ROLLBACK;")))
    caller.stdin.flush()
    time.sleep(4)
    during = emu.stats()["requests"] - before
    wait = val(f"SELECT wait_event_type FROM pg_stat_activity WHERE pid = {writer}")
    holder.stdin.write("COMMIT;\n")
    holder.stdin.close()
    holder.wait(30)
    try:
        out, err = caller.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        caller.kill()
        out, err = caller.communicate()
    elapsed = time.monotonic() - t0
    print(f"# {N} calls in {elapsed:.1f} s; {during} upstream calls while the writer was blocked ({wait})")
    t.ok(wait == "Lock" and 0 < during < 300,
         "while the writer was blocked, the caller waited for room instead of dropping "
         f"({during} calls through a ring of about 220 records)", (wait, during))
    t.ok(caller.returncode == 0 and out.strip().splitlines()[-1:] == [str(N)] and "WARNING" not in err,
         f"the batch answered all {N} prompts, without a WARNING", (caller.returncode, out[-200:], err[-500:]))
    t.ok(wait_for(analyst_usage("bp"), N, timeout=60),
         f"claude.usage gained exactly {N} rows for them, though the caller rolled back")
    rc, out, err = q("SELECT claude.dropped_records(), (SELECT dropped_audit_records FROM claude.stats LIMIT 1)")
    t.ok(out.split("|")[0] == "0", "claude.dropped_records() stays 0", out + err)
    t.ok(val(f"SELECT j.state || ' ' || i.state FROM claude.job j JOIN claude.job_items i ON i.job_id = j.id "
             f"WHERE j.id = {job}") == "running running",
         "the job worker was busy with that one request all along")

    # --- a stuck writer: past claude.audit_wait_timeout the caller writes itself ---------
    q("ALTER SYSTEM SET claude.audit_wait_timeout = '1s'; SELECT pg_reload_conf()")
    time.sleep(0.5)
    stop(writer)   # idle (its ring is empty), so it holds no lock
    t0 = time.monotonic()
    rc, out, err = q(batch_sql("fb", 300), user="analyst")
    elapsed = time.monotonic() - t0
    warnings = err.count("WARNING:")
    t.ok(rc == 0 and out.splitlines()[-1] == "300" and warnings == 1 and
         "made no room in the audit buffer for 1000 ms" in err and elapsed < 30,
         f"with the writer stuck, 300 calls finish ({elapsed:.1f} s) with one WARNING", (rc, out, err[-800:]))
    rc, direct, err = q("SELECT count(*) FROM claude.usage WHERE role_name = 'analyst' AND prompt_sha256 IN "
                        "(SELECT encode(sha256(convert_to('fb ' || g, 'UTF8')), 'hex') FROM generate_series(1, 300) g)")
    cont(writer)
    t.ok(0 < int(direct) < 300, "the caller wrote the records the ring could not take itself", direct)
    t.ok(wait_for(analyst_usage("fb"), 300), "and the writer the rest, once it ran again: 300 rows")
    t.ok(val("SELECT claude.dropped_records()") == "0", "still nothing dropped")

    # --- cancel ends a wait for room ------------------------------------------------------
    q("ALTER SYSTEM SET claude.audit_wait_timeout = '60s'; SELECT pg_reload_conf()")
    time.sleep(0.5)
    stop(writer)
    caller = subprocess.Popen(pg.psql_argv(user="analyst"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    caller.stdin.write(batch_sql("cx", 500))
    caller.stdin.flush()
    time.sleep(3)
    t0 = time.monotonic()
    val("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = 'analyst' AND state = 'active'")
    try:
        out, err = caller.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        caller.kill()
        out, err = caller.communicate()
    elapsed = time.monotonic() - t0
    cont(writer)
    t.ok(caller.returncode != 0 and "canceling statement due to user request" in err and elapsed < 5,
         f"cancel ends a caller waiting for room within seconds ({elapsed:.1f} s)", (caller.returncode, err[-500:]))
    dropped = int(val("SELECT claude.dropped_records()"))
    logged = len(re.findall(r"pg_claude audit record \((interrupted call|cancelled while)", pg.read_log()))
    t.ok(dropped == logged, f"every record it could not keep is in the server log and counted ({logged})",
         (dropped, logged))
    q("ALTER SYSTEM RESET claude.audit_wait_timeout; SELECT pg_reload_conf()")
finally:
    for pid in list(stopped):
        try:
            os.kill(pid, signal.SIGCONT)
        except OSError:
            pass
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
