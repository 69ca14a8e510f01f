#!/usr/bin/env python3
"""Worker memory over a job's size: peak private memory (RssAnon) and peak
resident set (VmHWM) of the pg_claude worker while it enriches N rows at
zero latency, for each N given; beside it, a boto3 thread pool doing the
same requests for the smallest N (what a user would write instead).

The worker should stay flat in the job's size: it populates and claims in
bounded chunks and resets its memory per chunk.  Shared buffers it touches
count in VmHWM but not in RssAnon, so RssAnon is the figure to compare.

Not a timed test: it prints figures.
Usage: bench/worker_memory.py [--rows 10000 1000000] [--concurrency 16]
"""

import argparse
import concurrent.futures
import json
import os
import resource
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test", "lib"))
import harness  # noqa: E402


def proc_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def run_job(pg, rows):
    pg.query(f"DROP TABLE IF EXISTS tickets; CREATE TABLE tickets (id int PRIMARY KEY, body text, label text);"
             f"INSERT INTO tickets SELECT g, 'ticket ' || g || ' about billing', NULL "
             f"FROM generate_series(1, {rows}) g; VACUUM ANALYZE tickets")
    wpid = pg.query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_claude worker'")
    peak = {"anon": proc_kb(wpid, "RssAnon")}
    start_anon = peak["anon"]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak["anon"] = max(peak["anon"], proc_kb(wpid, "RssAnon"))
            except FileNotFoundError:
                return
            time.sleep(0.1)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.monotonic()
    job = pg.query("SELECT claude_enrich('tickets', 'body', 'label', 'classify', "
                   "'{\"labels\": [\"billing\", \"bug\"]}')")
    state = None
    while state not in ("done", "failed", "cancelled"):
        state = pg.query(f"SELECT claude_job_wait({job}, '60 seconds')")
    wall = time.monotonic() - t0
    stop.set()
    th.join()
    done = pg.query(f"SELECT rows_done || '/' || rows_total FROM claude.job WHERE id = {job}")
    return {"rows": rows, "state": state, "done": done, "wall_s": wall, "start_anon_kb": start_anon,
            "peak_anon_kb": peak["anon"], "vmhwm_kb": proc_kb(wpid, "VmHWM")}


def boto3_pool(emu, rows, concurrency):
    import boto3
    from botocore.config import Config
    env = harness.emulator_env()
    client = boto3.client("bedrock-runtime", region_name="ap-southeast-2", endpoint_url=emu.http_url,
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                          config=Config(max_pool_connections=concurrency, retries={"max_attempts": 3}))

    def one(i):
        body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
                "messages": [{"role": "user", "content": f"ticket {i} about billing"}]}
        r = client.invoke_model(modelId="au.anthropic.claude-sonnet-4-5-20250929-v1:0", body=json.dumps(body))
        return r["body"].read()
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for _ in pool.map(one, range(rows)):
            pass
    return time.monotonic() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[10000, 1000000])
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="pg_claude_bench_mem_")
    emu = harness.Emulator(work, tls=False)
    pg = harness.Cluster("benchm", harness.free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.worker_concurrency = {args.concurrency}
claude.cache = off
claude.usage_retention = 0
""")
    try:
        pg.start(env=harness.emulator_env())
        pg.query("CREATE EXTENSION pg_claude")
        print(f"worker memory, zero latency, claude.worker_concurrency {args.concurrency}")
        results = []
        for rows in args.rows:
            emu.reset()
            r = run_job(pg, rows)
            results.append(r)
            print(f"  {rows:>9} rows: {r['state']} ({r['done']}) in {r['wall_s']:7.1f} s; worker RssAnon "
                  f"{r['start_anon_kb'] / 1024:6.1f} MB at start, peak {r['peak_anon_kb'] / 1024:6.1f} MB; "
                  f"VmHWM {r['vmhwm_kb'] / 1024:6.1f} MB (includes shared buffers touched)", flush=True)
        if len(results) > 1:
            grow = (results[-1]["peak_anon_kb"] - results[0]["peak_anon_kb"]) / 1024
            print(f"  peak private memory, {results[-1]['rows']} rows vs {results[0]['rows']}: {grow:+.1f} MB")
        wall, maxrss = boto3_pool(emu, args.rows[0], args.concurrency)
        print(f"  boto3 ThreadPoolExecutor({args.concurrency}), {args.rows[0]} invoke_model calls: "
              f"{wall:7.1f} s, peak RSS {maxrss / 1024:6.1f} MB (the whole Python process)")
    finally:
        pg.destroy()
        emu.stop()


if __name__ == "__main__":
    main()
