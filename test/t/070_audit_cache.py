#!/usr/bin/env python3
"""The audit log and the cache, preloaded (as in production): rows that
survive ROLLBACK and statement errors, one usage row per upstream attempt
(as many as the endpoint received), repeated requests answered from the
cache, parallel query, row-level security, TTL and eviction, percentiles
and cost in claude.stats, pg_dump keeping prices, and no waiting on
another transaction's locks."""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("audit and cache")
work = tempfile.mkdtemp(prefix="pg_claude_t070_")
emu = Emulator(work, tls=False)
pg = Cluster("t070", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
""")


def q(sql, user="postgres"):
    rc, out, err = pg.psql(sql, user=user)
    return rc, out, err


def wait_for(sql, expected, timeout=10.0):
    """Poll until sql returns expected (the worker writes asynchronously)."""
    deadline = time.monotonic() + timeout
    out = None
    while time.monotonic() < deadline:
        rc, out, err = q(sql)
        if out == str(expected):
            return True
        time.sleep(0.1)
    print(f"# waited for {sql!r} = {expected!r}, last {out!r}")
    return False


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")
    rc, out, err = q("SELECT backend_type FROM pg_stat_activity WHERE backend_type = 'pg_claude worker'")
    t.ok(out == "pg_claude worker", "the worker runs, shown as backend_type 'pg_claude worker'", out + err)

    # --- survives ROLLBACK and errors -------------------------------------------
    emu.reset()
    q("BEGIN; SELECT claude_complete('rolled back call'); ROLLBACK;")
    t.ok(wait_for("SELECT count(*) FROM claude.usage WHERE function_name = 'claude_complete' "
                  "AND http_status = 200 AND NOT cache_hit", 1),
         "a usage row survives the caller's ROLLBACK")
    t.ok(wait_for("SELECT count(*) FROM claude.cache", 1), "the cache row survives the caller's ROLLBACK")

    rc, out, err = q("SELECT claude_complete(p, model => m) FROM (VALUES ('first ok', NULL), "
                     "('then fails', 'anthropic.claude-nonexistent-v9:0')) v(p, m)")
    t.ok(rc != 0, "the statement failed", err)
    t.ok(wait_for("SELECT count(*) FROM claude.usage WHERE error_code = 'ValidationException'", 1) and
         wait_for("SELECT count(*) FROM claude.usage WHERE http_status = 200 AND NOT cache_hit", 2),
         "usage rows of a failed statement survive: the success before and the failure")

    # --- one row per attempt --------------------------------------------------------
    emu.fault(fault="throttle", count=2)
    q("SELECT claude_complete('throttled twice')")
    t.ok(wait_for("SELECT string_agg(coalesce(error_code, 'ok') || '/' || retries, ',' ORDER BY id) "
                  "FROM claude.usage WHERE prompt_sha256 = encode(sha256('throttled twice'), 'hex')",
                  "ThrottlingException/0,ThrottlingException/1,ok/2"),
         "one usage row per attempt, with the AWS code and retry number")

    # --- the cache --------------------------------------------------------------------
    before = emu.stats()["requests"]
    rc, out1, err = q("SELECT claude_complete('cache me'); SELECT claude_complete('cache me')")
    t.ok(out1 == "You said: cache me\nYou said: cache me" and emu.stats()["requests"] - before == 1,
         "a repeat in the same session is answered at once, without an upstream request",
         (out1, emu.stats()["requests"] - before))
    wait_for("SELECT count(*) FROM claude.cache WHERE prompt_sha256 = encode(sha256('cache me'), 'hex')", 1)
    rc, out2, err = q("SELECT claude_complete('cache me')")
    after = emu.stats()["requests"]
    t.ok(out2 == "You said: cache me" and after - before == 1,
         "another session's repeat is answered from claude.cache without an upstream request", (before, after))
    t.ok(wait_for("SELECT count(*) FILTER (WHERE cache_hit) || '/' || count(*) FROM claude.usage "
                  "WHERE prompt_sha256 = encode(sha256('cache me'), 'hex')", "2/3"),
         "the cache hits are in the audit log")
    t.ok(wait_for("SELECT hits FROM claude.cache WHERE prompt_sha256 = encode(sha256('cache me'), 'hex')", 2),
         "the cache row counts its hits")
    # many hits on a few rows in one statement: the writer counts them per row and batch, none lost
    q("SELECT claude_complete('many hits ' || g) FROM generate_series(1, 3) g")
    wait_for("SELECT count(*) FROM claude.cache WHERE prompt_sha256 IN (encode(sha256('many hits 1'), 'hex'), "
             "encode(sha256('many hits 2'), 'hex'), encode(sha256('many hits 3'), 'hex'))", 3)
    rc, used0, err = q("SELECT max(last_used_at) FROM claude.cache")
    mid = emu.stats()["requests"]
    rc, out, err = q("SELECT count(claude_complete('many hits ' || (g % 3 + 1))) FROM generate_series(1, 600) g")
    t.ok(out == "600" and emu.stats()["requests"] == mid, "600 repeats of 3 cached prompts send nothing upstream",
         (out, err, emu.stats()["requests"] - mid))
    t.ok(wait_for("SELECT string_agg(hits::text, ',' ORDER BY hits) FROM claude.cache WHERE prompt_sha256 IN "
                  "(encode(sha256('many hits 1'), 'hex'), encode(sha256('many hits 2'), 'hex'), "
                  "encode(sha256('many hits 3'), 'hex'))", "200,200,200"),
         "each cached row counts exactly its 200 hits")
    rc, out, err = q(f"SELECT min(last_used_at) > '{used0}' FROM claude.cache WHERE prompt_sha256 IN "
                     "(encode(sha256('many hits 1'), 'hex'), encode(sha256('many hits 2'), 'hex'), "
                     "encode(sha256('many hits 3'), 'hex'))")
    t.ok(out == "t", "and its last_used_at moves to its latest hit", (out, err))
    after = emu.stats()["requests"]

    rc, out, err = q("SET claude.cache = off; SELECT claude_complete('cache me')")
    t.ok(emu.stats()["requests"] - after == 1, "claude.cache = off asks Bedrock again")
    rc, out, err = q("SET claude.cache = 'read-only'; SELECT claude_complete('read only new')")
    time.sleep(1.5)
    rc, n, err = q("SELECT count(*) FROM claude.cache WHERE prompt_sha256 = encode(sha256('read only new'), 'hex')")
    t.ok(n == "0", "claude.cache = read-only does not store", n)
    rc, out, err = q("SELECT claude_cache_key('{\"messages\": [{\"role\": \"user\", \"content\": \"k\"}]}') "
                     "= claude_cache_key('{\"messages\": [{\"content\": \"k\", \"role\": \"user\"}]}')")
    t.ok(out == "t", "the key is canonical: key order does not matter", err)

    # every upstream attempt has its row
    total = emu.stats()["requests"]
    t.ok(wait_for("SELECT count(*) FROM claude.usage WHERE NOT cache_hit AND error_code IS DISTINCT FROM "
                  "'ResidencyViolation'", total),
         f"usage rows for upstream attempts = requests the endpoint received ({total})")

    # --- TTL and eviction ---------------------------------------------------------------
    emu.reset()
    q("SELECT claude_complete('short lived')")
    wait_for("SELECT count(*) FROM claude.cache WHERE prompt_sha256 = encode(sha256('short lived'), 'hex')", 1)
    time.sleep(1.2)
    q("SET claude.cache_ttl = '1s'; SELECT claude_complete('short lived')")
    t.ok(emu.stats()["requests"] == 2, "an entry older than claude.cache_ttl is not used", emu.stats()["requests"])
    q("ALTER SYSTEM SET claude.cache_max_entries = 3; SELECT pg_reload_conf()")
    time.sleep(0.5)
    for i in range(5):
        q(f"SELECT claude_complete('evict {i}')")
    wait_for("SELECT count(*) FROM claude.cache WHERE prompt_sha256 = encode(sha256('evict 4'), 'hex')", 1)
    rc, out, err = q("SELECT claude_maintain() >= 0; SELECT count(*) FROM claude.cache")
    t.ok(out.splitlines()[-1] == "3", "eviction keeps claude.cache_max_entries entries", out + err)
    rc, out, err = q("SELECT count(*) FROM claude.cache WHERE prompt_sha256 = encode(sha256('evict 4'), 'hex')")
    t.ok(out == "1", "the most recently used entry is kept", out)
    q("ALTER SYSTEM RESET claude.cache_max_entries; SELECT pg_reload_conf()")

    # --- parallel query ------------------------------------------------------------------
    q("CREATE TABLE tickets AS SELECT g AS id, 'parallel ticket ' || g AS body FROM generate_series(1, 400) g;"
      "ANALYZE tickets")
    par = ("SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
           "SET min_parallel_table_scan_size = 0; "
           # 16 renamed force_parallel_mode to debug_parallel_query
           "SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000 "
           "THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', false); ")
    rc, plan, err = q(par + "EXPLAIN (COSTS OFF) SELECT count(claude_complete(body)) FROM tickets")
    t.ok("Gather" in plan, "the plan is parallel", plan + err)
    rc, out, err = q(par + "SELECT count(claude_complete(body)) FROM tickets")
    t.ok(out.splitlines()[-1] == "400", "parallel query answers every row", out + err)
    t.ok(wait_for("SELECT count(*) FROM claude.usage WHERE prompt_sha256 IN "
                  "(SELECT encode(sha256(convert_to(body, 'UTF8')), 'hex') FROM tickets)", 400),
         "parallel workers' calls are in the audit log")
    rc, out, err = q("SELECT count(DISTINCT backend_pid) > 1 FROM claude.usage WHERE prompt_sha256 IN "
                     "(SELECT encode(sha256(convert_to(body, 'UTF8')), 'hex') FROM tickets)")
    t.ok(out == "t", "written by more than one process (the workers)", out)

    # --- row-level security ------------------------------------------------------------------
    q("CREATE ROLE analyst LOGIN; GRANT EXECUTE ON FUNCTION claude_complete(text, text, text, int, float8) TO analyst")
    q("SELECT claude_complete('analyst call')", user="analyst")
    wait_for("SELECT count(*) FROM claude.usage WHERE role_name = 'analyst'", 1)
    rc, out, err = q("SELECT count(*) || '/' || count(*) FILTER (WHERE role_name = 'analyst') FROM claude.usage",
                     user="analyst")
    t.ok(out == "1/1", "a plain role sees only its own usage rows", out + err)
    for stmt in ("DELETE FROM claude.usage", "UPDATE claude.usage SET model = 'x'",
                 "INSERT INTO claude.usage (role_name, database_name, backend_pid) VALUES ('analyst', 'x', 1)",
                 "TRUNCATE claude.usage", "SELECT * FROM claude.cache"):
        rc, out, err = q(stmt, user="analyst")
        t.ok(rc != 0 and "permission denied" in err, f"a plain role cannot: {stmt.split()[0]}", err)
    rc, out, err = q("SELECT count(*) > 0 FROM claude.stats", user="analyst")
    t.ok(out == "t", "a plain role reads claude.stats (its own rows)", err)

    # --- stats: percentiles and cost on known data ------------------------------------------------
    q("INSERT INTO claude.usage (ts, role_name, database_name, backend_pid, model, latency_ms, input_tokens, "
      "output_tokens, http_status) SELECT '2026-01-01 00:00+00', 'postgres', 'postgres', 1, "
      "'au.anthropic.claude-sonnet-4-5-20250929-v1:0', g, 1000000, 100000, 200 FROM generate_series(1, 100) g")
    rc, out, err = q("SELECT calls, p50_latency_ms, p95_latency_ms, p99_latency_ms, estimated_cost_usd "
                     "FROM claude.stats WHERE day = '2026-01-01'")
    # percentile_cont over 1..100: p50 50.5, p95 95.05, p99 99.01, rounded to 0.1 ms; cost at the au. (geographic)
    # price of Sonnet 4.5, 1.1x global: 100 * (1M * $3.30 + 0.1M * $16.50) / 1M
    t.ok(out == "100|50.5|95.1|99|495.000000", "claude.stats: p50/p95/p99 and cost on known data", out + err)
    q("INSERT INTO claude.usage (ts, role_name, database_name, backend_pid, model, error_code, http_status) "
      "VALUES ('2026-01-01 01:00+00', 'postgres', 'postgres', 1, 'au.anthropic.claude-sonnet-4-5-20250929-v1:0', "
      "'ThrottlingException', 429)")
    rc, out, err = q("SELECT errors, errors_by_code FROM claude.stats WHERE day = '2026-01-01'")
    t.ok(out == '1|{"ThrottlingException": 1}', "claude.stats: errors by code", out + err)

    # --- pg_dump keeps the price list ----------------------------------------------------------------
    q("UPDATE claude.prices SET input_per_mtok = 2.75 WHERE model_pattern = '%claude-sonnet-4-5%';"
      "INSERT INTO claude.prices VALUES ('%my-custom-model%', 'user', 'ours', 1, 2, 0, 0, 20)")
    dump = os.path.join(pg.base, "dump.sql")
    r = subprocess.run([os.path.join(pg.bindir, "pg_dump"), "-h", pg.base, "-p", str(pg.port), "-U", "postgres",
                        "-d", "postgres", "-f", dump], capture_output=True, text=True)
    q("CREATE DATABASE restored")
    r2 = subprocess.run(pg.psql_argv(db="restored") + ["-f", dump], capture_output=True, text=True)
    rc, out, err = pg.psql("SELECT (claude.price_of('au.anthropic.claude-sonnet-4-5-20250929-v1:0')).input_per_mtok;"
                           "SELECT count(*) FROM claude.prices WHERE model_pattern = '%my-custom-model%'", db="restored")
    t.ok(r.returncode == 0 and out.splitlines() == ["2.75", "1"],
         "pg_dump and restore keep the edited price list", out + err + r.stderr + r2.stderr[-500:])

    # --- never waiting on another transaction's locks ----------------------------------------------------
    holder = subprocess.Popen(pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    holder.stdin.write("BEGIN; LOCK TABLE claude.usage, claude.cache IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
    holder.stdin.flush()
    holder.stdout.readline()
    t0 = time.monotonic()
    rc, out, err = q("SET lock_timeout = '3s'; SELECT claude_complete('while locked')")
    elapsed = time.monotonic() - t0
    holder.stdin.write("COMMIT;\n")
    holder.stdin.close()
    holder.wait(10)
    t.ok(rc == 0 and elapsed < 2.0, f"a call does not wait on locks held by another transaction ({elapsed:.2f} s)",
         err)
    t.ok(wait_for("SELECT count(*) FROM claude.usage WHERE prompt_sha256 = encode(sha256('while locked'), 'hex')", 1),
         "its row is written once the lock is gone")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
