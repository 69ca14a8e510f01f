#!/usr/bin/env python3
"""Set-based calls: many requests in flight from one backend, no more
connections than the concurrency, per-element errors without an aborted
statement, retries inside a batch, cache hits skipping the network, one
audit row per attempt, and cancel interrupting everything in flight."""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("batch")
work = tempfile.mkdtemp(prefix="pg_claude_t080_")
emu = Emulator(work, tls=False)
pg = Cluster("t080", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
""")


def q(sql):
    return pg.psql("\\set VERBOSITY verbose\n" + sql)


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")
    # answers by tool use (the misbehaviour faults break tool answers; structured
    # output is constrained decoding, which they leave alone)
    q("UPDATE claude.models SET structured_output = false WHERE kind = 'foundation_model'")

    # concurrency: 64 prompts, 16 in flight, 300 ms each: about 4 waves, not 64
    emu.reset()
    emu.control("config", {"latency_ms": 300})
    t0 = time.monotonic()
    rc, out, err = q("SET claude.max_concurrency = 16; SET claude.cache = off;"
                     "SELECT count(*) FILTER (WHERE completion = 'You said: p ' || ord) "
                     "FROM claude_complete_batch(ARRAY(SELECT 'p ' || g FROM generate_series(1, 64) g))")
    elapsed = time.monotonic() - t0
    st = emu.stats()
    print(f"# 64 requests at 300 ms, 16 in flight: {elapsed:.2f} s (sequential would be 19.2 s)")
    t.ok(out.splitlines()[-1] == "64", "every element answered, in order", out + err)
    t.ok(elapsed < 64 * 0.3 / 4, f"requests overlap ({elapsed:.2f} s for 64 x 300 ms)")
    t.ok(0 < st["bedrock_connections"] <= 16, "no more connections than the concurrency",
         st["bedrock_connections"])

    # a second batch on the same backend reuses the connections
    rc, out, err = q("SET claude.max_concurrency = 4; SET claude.cache = off;"
                     "SELECT count(*) FROM claude_complete_batch(ARRAY(SELECT 'a ' || g FROM generate_series(1, 8) g));"
                     "SELECT count(*) FROM claude_complete_batch(ARRAY(SELECT 'b ' || g FROM generate_series(1, 8) g));"
                     "SELECT connections FROM claude_http_stats()")
    t.ok(out.splitlines()[-1] in ("1", "2", "3", "4"), "two batches in one backend open at most 4 connections",
         out + err)
    emu.control("config", {"latency_ms": 0})

    # per-element errors: the first 3 attempts are throttled, retries off
    emu.reset()
    emu.fault(fault="throttle", count=3)
    rc, out, err = q("SET claude.max_concurrency = 1; SET claude.max_retries = 0; SET claude.cache = off;"
                     "SELECT string_agg(coalesce(completion, 'ERR:' || split_part(error, ' (', 1)), '|' ORDER BY ord) "
                     "FROM claude_complete_batch(ARRAY['e1', 'e2', 'e3', 'e4', 'e5'])")
    t.ok(rc == 0 and out.splitlines()[-1] == "ERR:Bedrock InvokeModel failed: ThrottlingException|"
         "ERR:Bedrock InvokeModel failed: ThrottlingException|ERR:Bedrock InvokeModel failed: ThrottlingException|"
         "You said: e4|You said: e5", "a failed element is an error in its row, the others answer", out + err)

    # retries inside a batch
    emu.reset()
    emu.fault(fault="error", status=503, error_type="ServiceUnavailableException", count=4)
    rc, out, err = q("SET claude.max_concurrency = 4; SET claude.cache = off;"
                     "SELECT count(*) FILTER (WHERE error IS NULL) FROM claude_complete_batch("
                     "ARRAY(SELECT 'r ' || g FROM generate_series(1, 8) g))")
    t.ok(out.splitlines()[-1] == "8" and emu.stats()["requests"] == 12,
         "503s inside a batch are retried: 8 answers from 12 attempts", (out, emu.stats()["requests"]))

    # classify: an answer outside the labels gets a second round, per element
    emu.reset()
    emu.fault(fault="off_schema", count=2)
    rc, out, err = q("SET claude.max_concurrency = 1; SET claude.cache = off;"
                     "SELECT string_agg(coalesce(label, 'NULL'), ',' ORDER BY ord) FROM claude_classify_batch("
                     "ARRAY['billing one', 'bug two', 'billing three'], ARRAY['billing', 'bug'])")
    t.ok(out.splitlines()[-1] == "billing,bug,billing" and emu.stats()["requests"] == 5,
         "invalid tool answers are asked again; labels always within the set", (out, err, emu.stats()["requests"]))

    # the cache answers repeated elements without the network
    emu.reset()
    q("SELECT count(*) FROM claude_complete_batch(ARRAY['c1', 'c2', 'c3'])")
    time.sleep(1.5)  # the worker stores the answers
    before = emu.stats()["requests"]
    rc, out, err = q("SELECT count(*) FILTER (WHERE error IS NULL) FROM claude_complete_batch(ARRAY['c1', 'c2', 'c3', 'c4'])")
    t.ok(out.splitlines()[-1] == "4" and emu.stats()["requests"] - before == 1,
         "cached elements skip the network", (out, emu.stats()["requests"] - before))

    # one audit row per attempt, with the batch function's name
    time.sleep(1.5)
    rc, out, err = q("SELECT count(*) FROM claude.usage WHERE function_name = 'claude_complete_batch' AND NOT cache_hit")
    total_batch_attempts = int(out.splitlines()[-1])
    t.ok(total_batch_attempts >= 64 + 16 + 5 + 12, "batch attempts are in the audit log", total_batch_attempts)

    # cancel interrupts everything in flight
    proc = subprocess.Popen(pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdin.write("SELECT pg_backend_pid();\nSET claude.cache = off;\n"
                     "SELECT count(*) FROM claude_complete_batch(ARRAY(SELECT 'SLEEP 10000 ' || g FROM generate_series(1, 16) g));\n")
    proc.stdin.flush()
    pid = int(proc.stdout.readline().strip())
    time.sleep(0.7)
    t0 = time.monotonic()
    q(f"SELECT pg_cancel_backend({pid})")
    proc.stdin.close()
    err = proc.stderr.read()
    proc.wait(30)
    elapsed = (time.monotonic() - t0) * 1000
    print(f"# batch cancel latency: {elapsed:.0f} ms")
    t.ok("canceling statement due to user request" in err and elapsed < 250,
         f"cancel interrupts a batch with 8 requests in flight ({elapsed:.0f} ms)", err)
    time.sleep(1.5)
    rc, out, err = q("SELECT count(*) FROM claude.usage WHERE error_code = 'Interrupted' "
                     "AND function_name = 'claude_complete_batch'")
    t.ok(out.splitlines()[-1] == "8", "the interrupted attempts are audited", out)
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
