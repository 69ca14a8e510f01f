#!/usr/bin/env python3
"""What a cache hit and an audit record cost, beside a plain index lookup.

Starts the Bedrock emulator (test/emulator, no added latency) and a throwaway
cluster (shared_preload_libraries = 'pg_claude', claude.endpoint = the
emulator, claude.cache = on), fills claude.cache with D distinct prompts
(one upstream call each), then measures in one run:

  hit-repeat    SELECT count(claude_complete('prompt ' || (g % 10 + 1)))
                FROM generate_series(1, R) g     -- R hits on 10 cached prompts
  hit-distinct  SELECT count(claude_complete(body)) FROM prompts
                -- D hits, every row a different cached prompt
  index         the same D rows joined to a copy of claude.cache (key text
                PRIMARY KEY, response text) by an index nested loop: a plain
                index lookup on a comparable table, for reference
  audit rows    claude.cache = off; S calls one by one in one statement
                (a scalar claude_complete row by row, no latency): the audit
                writer's CPU per record
  audit apart   claude.cache = off; K calls, each its own statement, 100 ms
                apart, so that the writer has written the previous one before
                the next arrives: a transaction per record, the worst case

Each hit part runs in a fresh backend (nothing remembered in it yet).
µs/row is the backend's CPU per row (/proc/PID/task/*/schedstat); wall/row is
the statement's wall time per row.  The writer's CPU is net of its idle
wake-ups (measured for 3 s at start-up).  boto3 has no cache or audit to set
beside these: the boto3 client's CPU per call (bench/throughput.py part e,
~1.8-2.3 ms) is the figure to compare a hit with.

Usage: bench/cache_audit.py [--repeat 10000] [--distinct 5000] [--audit 100] [--sequential 2000]
See bench/README.md.  Python standard library only.
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(os.path.dirname(BENCH), "test", "lib"))
import harness  # noqa: E402
from throughput import Session, cpu_s  # noqa: E402


class Bench:
    def __init__(self, args):
        self.a = args
        self.work = tempfile.mkdtemp(prefix="pg_claude_bench_")
        self.sessions = []
        self.emu = self.pg = None
        self.rows = []

    def session(self):
        s = Session(self.pg, 600)
        self.sessions.append(s)
        return s

    def setup(self):
        self.emu = harness.Emulator(self.work, tls=False)
        self.emu.control("config", {"latency_ms": 0})
        self.pg = harness.Cluster("bench_cache", harness.free_port(), conf=f"""
shared_preload_libraries = 'pg_claude'
claude.endpoint = '{self.emu.http_url}'
claude.cache = on
claude.cache_max_entries = {max(100000, 2 * self.a.distinct)}
claude.database_name = 'postgres'
autovacuum = off
""")
        self.pg.start(env=harness.emulator_env())
        self.admin = self.session()
        d = self.a.distinct
        self.admin.run(f"""
CREATE EXTENSION pg_claude;
CREATE TABLE prompts (id int PRIMARY KEY, body text NOT NULL);
INSERT INTO prompts SELECT g, 'prompt ' || g FROM generate_series(1, {d}) g;
VACUUM ANALYZE prompts
""")
        self.version = self.admin.one("SELECT version()")
        self.bgw = int(self.admin.one(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_claude audit writer'"))
        # fill the cache: one upstream call per distinct prompt
        s = self.session()
        s.run("SELECT count(claude_complete(body)) FROM prompts")
        s.close()
        self.wait_rows("SELECT count(*) FROM claude.cache", d)
        self.wait_rows("SELECT count(*) FROM claude.usage", d)
        # the reference: the same keys and responses in a table of our own
        self.admin.run("""
CREATE TABLE ref (key text PRIMARY KEY, response text NOT NULL);
INSERT INTO ref SELECT key, response FROM claude.cache;
CREATE TABLE ref_keys AS SELECT p.id, c.key FROM prompts p
    JOIN claude.cache c ON c.prompt_sha256 = encode(sha256(convert_to(p.body, 'UTF8')), 'hex');
VACUUM ANALYZE ref, ref_keys, claude.cache
""")
        self.ref_n = int(self.admin.one("SELECT count(*) FROM ref_keys"))
        c0, t0 = cpu_s(self.bgw), time.monotonic()
        time.sleep(3)
        self.idle = (cpu_s(self.bgw) - c0) / (time.monotonic() - t0)

    def wait_rows(self, sql, expected, timeout=60):
        deadline = time.monotonic() + timeout
        n = -1
        while time.monotonic() < deadline:
            n = int(self.admin.one(sql))
            if n >= expected:
                return n
            time.sleep(0.1)
        raise RuntimeError(f"{sql}: {n} rows, expected {expected}")

    def usage(self):
        return int(self.admin.one("SELECT count(*) FROM claude.usage"))

    def measured(self, what, setup, sql, rows, hits=None):
        s = self.session()
        if setup:
            s.run(setup)
        s.run("SELECT 1")
        u0, req0 = self.usage(), self.emu.stats()["requests"]
        c0, w0 = cpu_s(s.pid), cpu_s(self.bgw)
        t0 = time.monotonic()
        out = s.one(sql)
        wall = time.monotonic() - t0
        cpu = cpu_s(s.pid) - c0
        expected_usage = u0 + (rows if hits is not None else 0)
        if hits is not None:
            self.wait_rows("SELECT count(*) FROM claude.usage", expected_usage)
        window = time.monotonic() - t0
        wcpu = max(0.0, cpu_s(self.bgw) - w0 - self.idle * window)
        reqs = self.emu.stats()["requests"] - req0
        s.close()
        if int(out) != rows:
            raise RuntimeError(f"{what}: {out} rows, expected {rows}")
        if hits is not None and reqs != 0:
            raise RuntimeError(f"{what}: {reqs} upstream requests, expected none (all hits)")
        self.rows.append((what, rows, wall, cpu, wcpu if hits is not None else None, reqs))

    def hits(self):
        r, d = self.a.repeat, self.a.distinct
        self.measured("hit, repeated prompts (10 keys)", None,
                      f"SELECT count(claude_complete('prompt ' || (g % 10 + 1))) FROM generate_series(1, {r}) g",
                      r, hits=True)
        self.measured("hit, distinct prompts (from the table)", None,
                      "SELECT count(claude_complete(body)) FROM prompts", d, hits=True)
        self.measured("plain index lookup (reference table)",
                      "SET enable_hashjoin = off; SET enable_mergejoin = off",
                      "SELECT count(r.response) FROM ref_keys k JOIN ref r ON r.key = k.key", self.ref_n)

    def audit(self):
        k = self.a.audit
        s = self.session()
        s.run("SET claude.cache = off")
        s.run("SELECT claude_complete('warm up')")
        self.wait_rows("SELECT count(*) FROM claude.usage", self.usage())
        time.sleep(0.5)
        # one by one: each call after the writer has written the one before
        u0 = self.usage()
        busy = 0.0
        w0 = cpu_s(self.bgw)
        t0 = time.monotonic()
        for i in range(k):
            s.run(f"SELECT claude_complete('one by one {i}')")
            self.wait_rows("SELECT count(*) FROM claude.usage", u0 + i + 1)
            time.sleep(0.1)   # past the writer's gathering (50 ms): the next call finds it idle
        window = time.monotonic() - t0
        w1 = cpu_s(self.bgw)
        one = max(0.0, w1 - w0 - self.idle * window) / k
        # row by row: n calls one after another in one statement
        n = self.a.sequential
        u0 = self.usage()
        w0, t0 = cpu_s(self.bgw), time.monotonic()
        s.run(f"SELECT count(claude_complete('row ' || g)) FROM generate_series(1, {n}) g")
        self.wait_rows("SELECT count(*) FROM claude.usage", u0 + n)
        window = time.monotonic() - t0
        rows = max(0.0, cpu_s(self.bgw) - w0 - self.idle * window) / n
        s.close()
        self.audit_rows = [("calls one by one, row by row (1 statement)", n, rows),
                           ("calls 100 ms apart (a transaction each)", k, one)]

    def report(self):
        out = [f"# {self.version}",
               f"# cache filled with {self.a.distinct} answers; audit writer idle {self.idle * 1e3:.1f} ms/s", "",
               f"{'what':<42} {'rows':>6} {'wall s':>7} {'wall/row':>9} {'CPU/row':>9} {'+writer/row':>12} {'upstream':>8}",
               "-" * 99]
        for what, n, wall, cpu, wcpu, reqs in self.rows:
            w = f"{wcpu * 1e6 / n:.1f} µs" if wcpu is not None else "-"
            out.append(f"{what:<42} {n:>6} {wall:>7.2f} {wall * 1e6 / n:>6.1f} µs {cpu * 1e6 / n:>6.1f} µs "
                       f"{w:>12} {reqs:>8}")
        out += ["", f"{'audit writer CPU per record':<44} {'records':>7} {'µs/record':>10}", "-" * 63]
        for what, n, per in self.audit_rows:
            out.append(f"{what:<44} {n:>7} {per * 1e6:>10.1f}")
        return "\n".join(out)

    def teardown(self):
        for s in self.sessions:
            s.kill()
        if self.pg is not None:
            self.pg.destroy()
        if self.emu is not None:
            self.emu.stop()
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=10000, help="hits on repeated prompts (10000)")
    ap.add_argument("--distinct", type=int, default=5000, help="distinct cached prompts (5000)")
    ap.add_argument("--audit", type=int, default=100, help="calls 100 ms apart for the audit writer (100)")
    ap.add_argument("--sequential", type=int, default=2000, help="calls row by row for the audit writer (2000)")
    args = ap.parse_args()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    b = Bench(args)
    try:
        t0 = time.monotonic()
        b.setup()
        b.hits()
        b.audit()
        print(b.report())
        print(f"\n(total run {time.monotonic() - t0:.0f} s)")
    finally:
        b.teardown()


if __name__ == "__main__":
    sys.exit(main())
