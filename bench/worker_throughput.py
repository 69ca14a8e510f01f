#!/usr/bin/env python3
"""Worker throughput: claude_enrich over N rows at a set latency and
claude.worker_concurrency, against the ideal rows/s (concurrency / latency).

Not a timed test: it prints figures.
Usage: bench/worker_throughput.py [--rows 3200] [--concurrency 32] [--latency-ms 200]
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test", "lib"))
import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=3200)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency-ms", type=int, default=200)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="pg_claude_bench_worker_")
    emu = harness.Emulator(work, tls=False)
    pg = harness.Cluster("benchw", harness.free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.worker_concurrency = {args.concurrency}
claude.cache = off
""")
    try:
        pg.start(env=harness.emulator_env())
        pg.query("CREATE EXTENSION pg_claude")
        pg.query(f"CREATE TABLE tickets (id int PRIMARY KEY, body text, label text);"
                 f"INSERT INTO tickets SELECT g, 'ticket ' || g || ' about billing', NULL "
                 f"FROM generate_series(1, {args.rows}) g")
        emu.reset()
        emu.control("config", {"latency_ms": args.latency_ms})
        wpid = pg.query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_claude worker'")
        cpu0 = proc_cpu(wpid)
        t0 = time.monotonic()
        job = pg.query("SELECT claude_enrich('tickets', 'body', 'label', 'classify', "
                       "'{\"labels\": [\"billing\", \"bug\"]}')")
        state = pg.query(f"SELECT claude_job_wait({job}, '1 hour')")
        wall = time.monotonic() - t0
        cpu = proc_cpu(wpid) - cpu0
        ideal = args.concurrency / (args.latency_ms / 1000.0)
        st = emu.stats()
        progress = pg.query(f"SELECT rows_done || ' done, ' || rows_failed || ' failed, ' || rows_per_second "
                            f"|| ' rows/s (claude.jobs)' FROM claude.jobs WHERE id = {job}")
        print(f"worker throughput: {args.rows} rows, latency {args.latency_ms} ms, "
              f"claude.worker_concurrency {args.concurrency}")
        print(f"  job state: {state}; {progress}")
        print(f"  wall (enqueue to done):        {wall:8.2f} s  {args.rows / wall:8.1f} rows/s  "
              f"{100 * args.rows / wall / ideal:5.1f} % of ideal {ideal:.0f} rows/s")
        print(f"  upstream requests: {st['requests']}, connections: {st['bedrock_connections']}")
        print(f"  worker CPU: {cpu:.2f} s = {1000 * cpu / args.rows:.3f} ms per row")
    finally:
        pg.destroy()
        emu.stop()


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
