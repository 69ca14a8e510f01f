#!/usr/bin/env python3
"""Throughput of pg_claude's ways of calling Bedrock, side by side with boto3.

Starts the Bedrock emulator (test/emulator) with a set latency and a throwaway
cluster (shared_preload_libraries = 'pg_claude', claude.endpoint = the emulator,
claude.cache = off so that every call goes upstream), then does the same work of
N prompts at concurrency C several ways, in one run, on this machine:

  a   scalar claude_complete() row by row: one backend, sequential
  b1  claude_complete_batch() with claude.max_concurrency = C
  b2  "classify this column fast": claude_classify_batch() over array_agg(body),
      labels written back with one UPDATE
  b3  claude_complete_batch() over the table, answers written back with one
      UPDATE (the SQL counterpart of d)
  c1  parallel query with the scalar function, compact table (as loaded)
  c2  parallel query with the scalar function, one row per heap page
  d   boto3: read the rows with psql, invoke_model in a ThreadPoolExecutor(C),
      write the answers back with one COPY + UPDATE
  e   CPU per request with no emulated latency: backend vs boto3 process,
      sequential and at concurrency C

Usage: bench/throughput.py [--n 200] [--concurrency 16] [--latency-ms 200]
                           [--parts a,b,c,d,e] [--cpu-n N] [--boto3-pool K]
See bench/README.md.  Python standard library + boto3 only.
"""

import argparse
import csv
import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(BENCH), "test", "lib"))
import harness  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
REGION = "ap-southeast-2"
LABELS = ("billing", "bug", "praise")
PLACEHOLDER = '"prompt 0"'     # the JSON string the captured body carries


def waves_s(n, c, latency_ms):
    """The floor for N requests at concurrency C: ceil(N/C) waves of one latency each."""
    return -(-n // c) * latency_ms / 1000.0


# --------------------------------------------------------------------------
# /proc readings
# --------------------------------------------------------------------------

def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_ticks_s(pid):
    """utime + stime of the whole process (dead threads included), seconds,
    in clock ticks (1/CLK_TCK resolution)."""
    f = stat_fields(pid)
    return (int(f[11]) + int(f[12])) / TICK


def children_cpu_s(pid):
    """cutime + cstime: CPU of the children this process has reaped."""
    f = stat_fields(pid)
    return (int(f[13]) + int(f[14])) / TICK


def cpu_ns_s(pid):
    """Scheduler run time summed over the live threads (/proc/PID/task/*/schedstat),
    seconds, nanosecond resolution."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


def cpu_s(pid):
    """Precise CPU of a process: schedstat (ns) unless the tick count says
    that threads which have exited used more (then ticks)."""
    ns, ticks = cpu_ns_s(pid), cpu_ticks_s(pid)
    return ns if ns >= ticks - 2.0 / TICK else ticks


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------
# A psql process kept open: statements in on stdin, rows out on stdout
# --------------------------------------------------------------------------

class Session:
    SENTINEL = "__pg_claude_bench_done__"

    def __init__(self, pg, timeout_s=None):
        self.proc = subprocess.Popen(pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.errors = []
        threading.Thread(target=self._drain, daemon=True).start()
        self.pid = int(self.run("SELECT pg_backend_pid()")[0])
        if timeout_s:
            self.run(f"SET statement_timeout = '{int(timeout_s)}s'")

    def _drain(self):
        for line in self.proc.stderr:
            self.errors.append(line)

    def run(self, sql):
        self.proc.stdin.write(sql.strip().rstrip(";") + ";\n\\echo " + self.SENTINEL + "\n")
        self.proc.stdin.flush()
        out = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                time.sleep(0.1)
                raise RuntimeError(f"psql ended during: {sql.strip()[:200]}\n{''.join(self.errors)}")
            line = line.rstrip("\n")
            if line == self.SENTINEL:
                return out
            out.append(line)

    def one(self, sql):
        return self.run(sql)[-1]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------
# The boto3 client (runs as a child process: its own CPU and peak RSS)
# --------------------------------------------------------------------------

def client_main(spec):
    cpu_start = time.process_time()
    import concurrent.futures
    import boto3
    from botocore.config import Config
    import_cpu = time.process_time() - cpu_start

    n, conc, mode = spec["n"], spec["concurrency"], spec["mode"]
    template = spec["body_template"]
    model = spec["model"]
    result = {"import_cpu_s": import_cpu}

    def make_client():
        return boto3.client("bedrock-runtime", region_name=REGION, endpoint_url=spec["endpoint"],
                            verify=spec.get("verify", True),
                            aws_access_key_id=harness.EMU_AKID,
                            aws_secret_access_key=harness.EMU_SECRET,
                            config=Config(max_pool_connections=spec["pool"]))

    def call(client, prompt):
        body = template.replace(PLACEHOLDER, json.dumps(prompt), 1)
        if spec.get("op") == "stream":
            # what a streaming client does: decode every event, gather the text deltas
            r = client.invoke_model_with_response_stream(modelId=model, body=body, contentType="application/json",
                                                         accept="application/json")
            text = []
            for event in r["body"]:
                chunk = json.loads(event["chunk"]["bytes"])
                if chunk.get("type") == "content_block_delta":
                    text.append(chunk["delta"].get("text", ""))
            return "".join(text)
        r = client.invoke_model(modelId=model, body=body, contentType="application/json",
                                accept="application/json")
        return json.loads(r["body"].read())["content"][0]["text"]

    if mode == "d":
        psql = spec["psql"]
        c0 = time.process_time()
        client = make_client()          # at the top of the script, with the imports: not timed
        result["client_cpu_s"] = time.process_time() - c0
        cpu0, t0 = time.process_time(), time.monotonic()
        # read
        r = subprocess.run(psql + ["-c", "COPY (SELECT id, body FROM tickets ORDER BY id) TO STDOUT WITH (FORMAT csv)"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("read failed: " + r.stderr)
        rows = [(int(i), b) for i, b in csv.reader(io.StringIO(r.stdout))]
        t_read = time.monotonic()
        # call
        with concurrent.futures.ThreadPoolExecutor(max_workers=conc) as pool:
            answers = list(pool.map(lambda row: call(client, row[1]), rows))
        t_call = time.monotonic()
        cpu_call = time.process_time()
        # write back: one COPY into a temporary table, one UPDATE
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for (i, _), a in zip(rows, answers):
            w.writerow([i, a])
        script = ("BEGIN;\nCREATE TEMP TABLE answers (id int, answer text) ON COMMIT DROP;\n"
                  "COPY answers FROM STDIN WITH (FORMAT csv);\n" + buf.getvalue() + "\\.\n"
                  "UPDATE tickets t SET answer = a.answer FROM answers a WHERE t.id = a.id;\nCOMMIT;\n")
        w = subprocess.run(psql, input=script, capture_output=True, text=True)
        if w.returncode != 0:
            raise RuntimeError("write back failed: " + w.stderr)
        t1 = time.monotonic()
        cpu1 = time.process_time()
        ch = resource.getrusage(resource.RUSAGE_CHILDREN)
        result.update(wall_s=t1 - t0, cpu_s=cpu1 - cpu0, read_s=t_read - t0, call_s=t_call - t_read,
                      write_s=t1 - t_call, call_cpu_s=cpu_call - cpu0, rows=len(answers),
                      psql_cpu_s=ch.ru_utime + ch.ru_stime)
    else:  # "e": CPU of the invoke loop only, after a warm-up call
        c0 = time.process_time()
        client = make_client()
        result["client_cpu_s"] = time.process_time() - c0
        call(client, "warm up")
        prompts = [f"prompt {g}" for g in range(1, n + 1)]
        cpu0, t0 = time.process_time(), time.monotonic()
        if conc == 1:
            answers = [call(client, p) for p in prompts]
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers=conc) as pool:
                answers = list(pool.map(lambda p: call(client, p), prompts))
        result.update(wall_s=time.monotonic() - t0, cpu_s=time.process_time() - cpu0, rows=len(answers))
    result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result), flush=True)


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.a = args
        self.n, self.c, self.lat = args.n, args.concurrency, args.latency_ms
        self.results = []          # rows of the main table
        self.cpu_rows = []         # rows of the part (e) table
        self.notes = []
        self.sessions = []
        self.children = []
        self.work = tempfile.mkdtemp(prefix="pg_claude_bench_")
        self.emu = None
        self.proxy = None
        self.pg = None
        # generous: a sequential pass at the set latency, five times over, plus a minute
        self.timeout_s = 60 + 5 * self.n * max(self.lat, 5) / 1000.0

    # -- setup / teardown ----------------------------------------------------

    def setup(self):
        self.emu = harness.Emulator(self.work, tls=False)
        # --via h1/h2: the production path, TLS through Debian's nginx (test/lib/proxy.py)
        # in front of the emulator; boto3 goes the same way (HTTP/1.1 over TLS: botocore has no h2)
        self.endpoint, self.verify, tls_conf = self.emu.http_url, True, ""
        if self.a.via != "http":
            import proxy as proxylib
            self.proxy = proxylib.Proxy(self.work, self.emu.http_port,
                                        [proxylib.Listener("edge", http2=self.a.via == "h2")])
            self.endpoint, self.verify = self.proxy.url("edge"), self.proxy.ca_file
            tls_conf = f"claude.ca_file = '{self.proxy.ca_file}'\n"
        mwp = max(32, self.c + 8)
        self.pg = harness.Cluster("bench", harness.free_port(), conf=f"""
shared_preload_libraries = 'pg_claude'
claude.endpoint = '{self.endpoint}'
{tls_conf}claude.cache = off
claude.database_name = 'postgres'
max_worker_processes = {mwp}
max_parallel_workers = {mwp}
autovacuum = off
""")
        self.pg.start(env=harness.emulator_env())
        with open(os.path.join(self.pg.data, "postmaster.pid")) as f:
            self.postmaster = int(f.readline())
        self.admin = self.session()
        n, c = self.n, self.c
        self.admin.run(f"""
CREATE EXTENSION pg_claude;
CREATE TABLE tickets (id int PRIMARY KEY, body text NOT NULL, label text, answer text);
INSERT INTO tickets (id, body) SELECT g, 'prompt ' || g FROM generate_series(1, {n}) g;
CREATE TABLE par_compact (id int, body text NOT NULL) WITH (parallel_workers = {c});
INSERT INTO par_compact SELECT g, 'prompt ' || g FROM generate_series(1, {n}) g;
CREATE TABLE par_spread (id int, body text NOT NULL, pad char(900))
    WITH (parallel_workers = {c}, fillfactor = 10);
INSERT INTO par_spread SELECT g, 'prompt ' || g, 'x' FROM generate_series(1, {n}) g;
VACUUM ANALYZE tickets, par_compact, par_spread
""")
        self.pages = {t: int(self.admin.one(f"SELECT relpages FROM pg_class WHERE relname = '{t}'"))
                      for t in ("par_compact", "par_spread")}
        self.bgw = int(self.admin.one("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_claude audit writer'"))
        self.pg_version = self.admin.one("SELECT version()")
        # the exact request body claude_complete sends, for boto3 to send too
        self.emu_prepare(0)
        s = self.session()
        s.run("SELECT claude_complete('prompt 0')")
        self.model = s.one("SHOW claude.model")
        s.close()
        body = self.emu.stats()["last_request"]["body"]
        if body.count(PLACEHOLDER) != 1:
            raise RuntimeError("cannot find the prompt in the captured body: " + body)
        self.body_template = body
        # a fresh backend's VmHWM, for reference
        s = self.session()
        self.idle_hwm_kb = vm_hwm_kb(s.pid)
        s.close()
        self.wait_audit()
        # the pg_claude audit writer wakes up every second even when idle: its idle rate, to take off
        c0, t0 = cpu_s(self.bgw), time.monotonic()
        time.sleep(3)
        self.bgw_idle_rate = (cpu_s(self.bgw) - c0) / (time.monotonic() - t0)

    def bgw_net(self, cpu, seconds):
        """The pg_claude audit writer's CPU over a window, less its idle wake-ups."""
        return max(0.0, cpu - self.bgw_idle_rate * seconds)

    def teardown(self):
        for s in self.sessions:           # a statement may still be running: no waiting
            s.kill()
        for p in self.children:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.pg is not None:
            self.pg.destroy()
        if self.proxy is not None:
            self.proxy.stop()
        if self.emu is not None:
            self.emu.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def session(self):
        s = Session(self.pg, self.timeout_s)
        self.sessions.append(s)
        return s

    def emu_prepare(self, latency_ms):
        self.emu.reset()                                  # also restores latency: set it after
        self.emu.control("config", {"latency_ms": latency_ms})

    def usage_rows(self):
        return int(self.admin.one("SELECT count(*) FROM claude.usage"))

    def wait_audit(self, expected=None, timeout=20):
        """Until the pg_claude audit writer has written `expected` usage rows (or
        the count stops moving); returns the count."""
        deadline = time.monotonic() + timeout
        last, still = -1, 0
        while time.monotonic() < deadline:
            n = self.usage_rows()
            if expected is not None and n >= expected:
                return n
            still = still + 1 if n == last else 0
            if expected is None and still >= 5:
                return n
            last = n
            time.sleep(0.1)
        return last

    # -- one measured SQL statement ------------------------------------------

    def run_sql_part(self, key, what, setup_sql, sql, check_sql=None, ideal_s=None, monitor_workers=False,
                     explain=False):
        s = self.session()
        if setup_sql:
            s.run(setup_sql)
        u0 = self.usage_rows()
        self.emu_prepare(self.lat)
        time.sleep(0.3)                                   # earlier sessions' backends are reaped by now
        bgw0, tb0 = cpu_s(self.bgw), time.monotonic()
        pm0 = children_cpu_s(self.postmaster)
        mon = WorkerMonitor(self, s.pid) if monitor_workers else None
        cpu0 = cpu_s(s.pid)
        t0 = time.monotonic()
        out = s.run(sql)
        wall = time.monotonic() - t0
        cpu = cpu_s(s.pid) - cpu0
        hwm = vm_hwm_kb(s.pid)
        if mon:
            mon.stop()
        time.sleep(0.3)                                   # let the postmaster reap the workers
        pm_children = children_cpu_s(self.postmaster) - pm0
        if mon:
            mon.sess.close()                              # only now: its backend's exit is not a worker's CPU
        st = self.emu.stats()
        u1 = self.wait_audit(u0 + st["requests"])
        bgw_cpu = cpu_s(self.bgw) - bgw0
        bgw_window = time.monotonic() - tb0
        check = s.one(check_sql) if check_sql else (st["requests"] if explain else out[-1])
        s.close()
        row = dict(key=key, what=what, wall=wall, rows=int(check), reqs=st["requests"],
                   conns=st["bedrock_connections"], cpu=cpu, cpu_who="backend", hwm_kb=hwm,
                   bgw_cpu=bgw_cpu, bgw_net=self.bgw_net(bgw_cpu, bgw_window), bgw_window=bgw_window,
                   audit_rows=u1 - u0, ideal=ideal_s)
        if mon:
            plan = "\n".join(out)
            planned = re.search(r"Workers Planned: (\d+)", plan)
            launched = re.search(r"Workers Launched: (\d+)", plan)
            scan = plan.split("Parallel Seq Scan", 1)[-1]
            per_worker = [int(x) for x in re.findall(r"Worker \d+:\s+actual rows=(\d+)", scan)]
            row.update(planned=int(planned.group(1)) if planned else 0,
                       launched=int(launched.group(1)) if launched else 0,
                       worker_rows=per_worker, leader_rows=self.n - sum(per_worker),
                       leader_cpu=cpu, workers_cpu=pm_children, workers_cpu_polled=mon.cpu(),
                       workers_seen=len(mon.seen), workers_hwm_kb=mon.max_hwm(), plan=plan)
            row["cpu"] = cpu + pm_children
            row["cpu_who"] = "leader+workers"
            row["hwm_kb"] = max(hwm, mon.max_hwm())
        self.results.append(row)
        self.print_row_detail(row)
        return row

    # -- the parts -------------------------------------------------------------

    def part_a(self):
        n = self.n
        self.run_sql_part("a", "scalar claude_complete, row by row (1 backend)", None,
                          f"SELECT count(claude_complete('prompt ' || g)) FROM generate_series(1, {n}) g",
                          ideal_s=n * self.lat / 1000.0)

    def part_b(self):
        n, c = self.n, self.c
        ideal = waves_s(n, c, self.lat)
        self.run_sql_part("b1", f"claude_complete_batch, max_concurrency={c}", f"SET claude.max_concurrency = {c}",
                          f"SELECT count(*) FILTER (WHERE error IS NULL) FROM claude_complete_batch("
                          f"ARRAY(SELECT 'prompt ' || g FROM generate_series(1, {n}) g))", ideal_s=ideal)
        labels = ", ".join(f"'{x}'" for x in LABELS)
        self.admin.run("UPDATE tickets SET label = NULL; VACUUM tickets")
        self.run_sql_part(
            "b2", "classify_batch over the column + UPDATE", f"SET claude.max_concurrency = {c}",
            f"""WITH b AS (SELECT array_agg(body ORDER BY id) AS bodies, array_agg(id ORDER BY id) AS ids FROM tickets),
                    r AS (SELECT b.ids[r.ord] AS id, r.label
                          FROM b, claude_classify_batch(b.bodies, ARRAY[{labels}]) r WHERE r.error IS NULL)
               UPDATE tickets t SET label = r.label FROM r WHERE t.id = r.id""",
            check_sql=f"SELECT count(*) FROM tickets WHERE label IN ({labels})", ideal_s=ideal)
        self.admin.run("UPDATE tickets SET answer = NULL; VACUUM tickets")
        self.run_sql_part(
            "b3", "complete_batch over the table + UPDATE", f"SET claude.max_concurrency = {c}",
            """WITH b AS (SELECT array_agg(body ORDER BY id) AS bodies, array_agg(id ORDER BY id) AS ids FROM tickets),
                    r AS (SELECT b.ids[r.ord] AS id, r.completion
                          FROM b, claude_complete_batch(b.bodies) r WHERE r.error IS NULL)
               UPDATE tickets t SET answer = r.completion FROM r WHERE t.id = r.id""",
            check_sql="SELECT count(*) FROM tickets WHERE answer = 'You said: ' || body", ideal_s=ideal)

    def part_c(self):
        n, c = self.n, self.c
        par = (f"SET max_parallel_workers_per_gather = {c}; SET parallel_setup_cost = 0; "
               f"SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; "
               f"SET force_parallel_mode = off")
        for key, table, desc in (("c1", "par_compact", "compact"), ("c2", "par_spread", "1 row/page")):
            self.run_sql_part(
                key, f"parallel query, scalar fn, {desc} ({self.pages[table]} pages)", par,
                f"EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF) SELECT count(claude_complete(body)) FROM {table}",
                ideal_s=waves_s(n, c, self.lat), monitor_workers=True, explain=True)
            # EXPLAIN ANALYZE prints no count: the emulator's requests stand for the rows

    def part_d(self):
        self.admin.run("UPDATE tickets SET answer = NULL; VACUUM tickets")
        self.emu_prepare(self.lat)
        time.sleep(0.3)
        pm0 = children_cpu_s(self.postmaster)
        spec = dict(mode="d", n=self.n, concurrency=self.c, pool=self.a.boto3_pool or self.c,
                    endpoint=self.endpoint, verify=self.verify, model=self.model, body_template=self.body_template,
                    psql=self.pg.psql_argv())
        t0 = time.monotonic()
        res = self.run_client(spec)
        total = time.monotonic() - t0
        time.sleep(0.3)
        pm = children_cpu_s(self.postmaster) - pm0
        st = self.emu.stats()
        done = int(self.admin.one("SELECT count(*) FROM tickets WHERE answer = 'You said: ' || body"))
        row = dict(key="d", what=f"boto3 ThreadPool({self.c}) + psql read/COPY+UPDATE", wall=res["wall_s"],
                   rows=done, reqs=st["requests"], conns=st["bedrock_connections"], cpu=res["cpu_s"],
                   cpu_who="python", hwm_kb=res["maxrss_kb"], bgw_cpu=None, bgw_net=None, audit_rows=None,
                   ideal=waves_s(self.n, self.c, self.lat), client=res, process_total_s=total,
                   backends_cpu=pm)
        self.results.append(row)
        self.print_row_detail(row)

    def part_e(self):
        """Like for like: claude.stream = off against invoke_model, on against
        invoke_model_with_response_stream (every event decoded)."""
        n, c = self.a.cpu_n or self.n, self.c
        print(f"\n== e: CPU per request, no emulated latency, {n} calls each, after one warm-up call", flush=True)
        for op, stream in (("InvokeModel", "off"), ("stream", "on")):
            for mode, conc in (("sequential", 1), ("concurrent", c)):
                s = self.session()
                s.run(f"SET claude.stream = {stream}")
                s.run("SELECT claude_complete('warm up')")
                if conc == 1:
                    sql = f"SELECT count(claude_complete('prompt ' || g)) FROM generate_series(1, {n}) g"
                    how = "scalar, row by row"
                else:
                    s.run(f"SET claude.max_concurrency = {conc}")
                    sql = (f"SELECT count(*) FILTER (WHERE error IS NULL) FROM claude_complete_batch("
                           f"ARRAY(SELECT 'prompt ' || g FROM generate_series(1, {n}) g))")
                    how = f"complete_batch, max_concurrency={conc}"
                u0 = self.usage_rows()
                self.emu_prepare(0)
                bgw0, tb0 = cpu_s(self.bgw), time.monotonic()
                cpu0 = cpu_s(s.pid)
                t0 = time.monotonic()
                out = s.run(sql)
                wall = time.monotonic() - t0
                cpu = cpu_s(s.pid) - cpu0
                st = self.emu.stats()
                self.wait_audit(u0 + st["requests"])
                bgw = self.bgw_net(cpu_s(self.bgw) - bgw0, time.monotonic() - tb0)
                s.close()
                self.cpu_rows.append(dict(client="pg_claude backend", op=op, mode=mode,
                                          how=f"{how}, stream={stream}", n=int(out[-1]), wall=wall,
                                          cpu=cpu, conns=st["bedrock_connections"], reqs=st["requests"], bgw=bgw))
                self.print_cpu_row(self.cpu_rows[-1])

                self.emu_prepare(0)
                spec = dict(mode="e", op="stream" if stream == "on" else "invoke", n=n, concurrency=conc,
                            pool=self.a.boto3_pool or c, endpoint=self.endpoint, verify=self.verify,
                            model=self.model, body_template=self.body_template)
                res = self.run_client(spec)
                st = self.emu.stats()
                call = "invoke_model_with_response_stream" if stream == "on" else "invoke_model"
                self.cpu_rows.append(dict(client="boto3 process", op=op, mode=mode,
                                          how=(call if conc == 1 else f"{call}, pool({conc})"),
                                          n=res["rows"], wall=res["wall_s"], cpu=res["cpu_s"],
                                          conns=st["bedrock_connections"], reqs=st["requests"], bgw=None,
                                          import_cpu=res["import_cpu_s"], client_cpu=res["client_cpu_s"]))
                self.print_cpu_row(self.cpu_rows[-1])

    def run_client(self, spec):
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--client", json.dumps(spec)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.children.append(p)
        try:
            out, err = p.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise RuntimeError("boto3 client timed out")
        if p.returncode != 0:
            raise RuntimeError("boto3 client failed:\n" + err)
        return json.loads(out.strip().splitlines()[-1])

    # -- output ---------------------------------------------------------------

    def print_row_detail(self, r):
        n = self.n
        line = (f"{r['key']:<3} {r['what']}: {r['wall']:.2f} s, {r['rows']}/{n} rows, {r['reqs']} requests, "
                f"{r['conns']} connections, {r['cpu_who']} CPU {r['cpu'] * 1000:.1f} ms, peak RSS "
                f"{r['hwm_kb'] / 1024:.1f} MB")
        if r.get("bgw_cpu") is not None:
            line += (f", pg_claude audit writer CPU {r['bgw_cpu'] * 1000:.1f} ms over {r['bgw_window']:.1f} s "
                     f"({r['bgw_net'] * 1000:.1f} ms net of idle wake-ups) for {r['audit_rows']} audit rows")
        print(line, flush=True)
        if "planned" in r:
            print(f"    workers planned {r['planned']}, launched {r['launched']} (seen running: {r['workers_seen']}); "
                  f"rows per worker {r['worker_rows']}, leader {r['leader_rows']}", flush=True)
            print(f"    CPU: leader {r['leader_cpu'] * 1000:.1f} ms, workers {r['workers_cpu'] * 1000:.1f} ms "
                  f"(postmaster's reaped-children CPU, 1/{TICK} s resolution; polled from /proc while running: "
                  f"{r['workers_cpu_polled'] * 1000:.1f} ms); worker peak RSS {r['workers_hwm_kb'] / 1024:.1f} MB",
                  flush=True)
        if "client" in r:
            cl = r["client"]
            print(f"    read {cl['read_s']:.2f} s, invoke {cl['call_s']:.2f} s, write {cl['write_s']:.2f} s; "
                  f"python CPU {cl['cpu_s'] * 1000:.1f} ms (invoke phase {cl['call_cpu_s'] * 1000:.1f} ms), "
                  f"not counted: import boto3 {cl['import_cpu_s'] * 1000:.0f} ms and boto3.client() "
                  f"{cl['client_cpu_s'] * 1000:.0f} ms, once; psql children "
                  f"{cl['psql_cpu_s'] * 1000:.1f} ms; their backends {r['backends_cpu'] * 1000:.0f} ms; "
                  f"whole process incl. interpreter start {r['process_total_s']:.2f} s", flush=True)

    def print_cpu_row(self, r):
        extra = f", pg_claude audit writer {r['bgw'] * 1e6 / r['n']:.0f} µs/req (audit)" if r.get("bgw") is not None else ""
        if r.get("import_cpu") is not None:
            extra = (f", not counted: import boto3 {r['import_cpu'] * 1000:.0f} ms and boto3.client() "
                     f"{r['client_cpu'] * 1000:.0f} ms, once")
        print(f"   {r['client']:<18} {r['mode']:<10} ({r['how']}): {r['wall']:.2f} s, {r['n'] / r['wall']:.0f} req/s, "
              f"CPU {r['cpu'] * 1e6 / r['n']:.0f} µs/req, {r['conns']} connections{extra}", flush=True)

    def table(self):
        n, c, lat = self.n, self.c, self.lat
        out = []
        if self.results:
            out.append(f"N = {n} prompts, concurrency C = {c}, emulated latency {lat} ms; "
                       f"ideal = the wave floor, ceil(N/C) x latency (a: N x latency)")
            hdr = (f"{'part':<4} {'what':<52} {'wall s':>7} {'rows/s':>7} {'ideal s':>7} {'eff':>6} "
                   f"{'CPU/req':>9} {'(who)':<15} {'+audit':>7} {'peak RSS':>9} {'conns':>5} {'reqs':>5}")
            out += [hdr, "-" * len(hdr)]
            for r in self.results:
                eff = f"{100 * r['ideal'] / r['wall']:.0f}%" if r["ideal"] else "n/a"
                audit = f"{r['bgw_net'] * 1e6 / max(r['reqs'], 1):.0f}" if r.get("bgw_net") is not None else "-"
                ideal = f"{r['ideal']:.2f}" if r["ideal"] else "-"
                out.append(f"{r['key']:<4} {r['what'][:52]:<52} {r['wall']:>7.2f} {r['rows'] / r['wall']:>7.1f} "
                           f"{ideal:>7} {eff:>6} {r['cpu'] * 1e6 / max(r['reqs'], 1):>6.0f} µs {r['cpu_who']:<15} "
                           f"{audit:>7} {r['hwm_kb'] / 1024:>6.1f} MB {r['conns']:>5} {r['reqs']:>5}")
            for r in self.results:
                if "planned" in r:
                    out.append(f"  {r['key']}: workers planned {r['planned']}, launched {r['launched']}; rows per "
                               f"worker {r['worker_rows']}, leader {r['leader_rows']}")
            out.append(f"  CPU/req: CPU of the doing process(es) / requests sent; +audit: pg_claude audit writer µs/req "
                       f"(writing claude.usage; net of its idle {self.bgw_idle_rate * 1000:.1f} ms/s); "
                       f"peak RSS: VmHWM (backend; c: max over leader and workers) or ru_maxrss (python); "
                       f"an idle backend's VmHWM is {self.idle_hwm_kb / 1024:.1f} MB")
        if self.cpu_rows:
            out.append("")
            out.append(f"e: CPU per request, no emulated latency ({self.cpu_rows[0]['n']} calls, after a warm-up call)")
            hdr = (f"{'client':<19} {'op':<12} {'mode':<11} {'how':<46} {'wall s':>7} {'req/s':>7} {'CPU/req':>10} "
                   f"{'+audit':>7} {'conns':>5}")
            out += [hdr, "-" * len(hdr)]
            for r in self.cpu_rows:
                audit = f"{r['bgw'] * 1e6 / r['n']:.0f}" if r.get("bgw") is not None else "-"
                out.append(f"{r['client']:<19} {r['op']:<12} {r['mode']:<11} {r['how']:<46} {r['wall']:>7.2f} "
                           f"{r['n'] / r['wall']:>7.0f} {r['cpu'] * 1e6 / r['n']:>7.0f} µs {audit:>7} {r['conns']:>5}")
            by = {(r["client"], r["op"], r["mode"]): r for r in self.cpu_rows}
            for op in ("InvokeModel", "stream"):
                for mode in ("sequential", "concurrent"):
                    pg, b3 = by.get(("pg_claude backend", op, mode)), by.get(("boto3 process", op, mode))
                    if pg and b3:
                        p, b = pg["cpu"] / pg["n"], b3["cpu"] / b3["n"]
                        out.append(f"boto3 CPU per request / pg_claude CPU per request, {op}, {mode}: {b / p:.1f}x "
                                   f"({b / (p + pg['bgw'] / pg['n']):.1f}x counting the pg_claude audit writer's audit)")
        return "\n".join(out)


class WorkerMonitor:
    """Polls pg_stat_activity (from its own session) for the leader's parallel
    workers and reads their CPU and VmHWM from /proc while they run."""

    def __init__(self, bench, leader_pid, interval=0.02):
        self.sess = bench.session()
        self.leader = leader_pid
        self.interval = interval
        self.seen = {}                  # pid -> [cpu_s, hwm_kb]
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.halt.is_set():
            try:
                pids = [int(x) for x in self.sess.run(
                    f"SELECT pid FROM pg_stat_activity WHERE leader_pid = {self.leader} "
                    f"AND backend_type = 'parallel worker'") if x]
            except RuntimeError:
                return
            for pid in pids:
                try:
                    self.seen[pid] = [cpu_s(pid), vm_hwm_kb(pid)]
                except (FileNotFoundError, ProcessLookupError):
                    pass
            self.halt.wait(self.interval)

    def stop(self):
        self.halt.set()
        self.thread.join(10)

    def cpu(self):
        return sum(v[0] for v in self.seen.values())

    def max_hwm(self):
        return max((v[1] for v in self.seen.values()), default=0)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--client":
        return client_main(json.loads(sys.argv[2]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="prompts (rows) per part (200)")
    ap.add_argument("--concurrency", type=int, default=16, help="C: requests in flight (16)")
    ap.add_argument("--latency-ms", type=int, default=200, help="emulated Bedrock latency (200)")
    ap.add_argument("--parts", default="a,b,c,d,e", help="which of a,b,c,d,e to run (all)")
    ap.add_argument("--cpu-n", type=int, default=None, help="calls per client in part e (default N)")
    ap.add_argument("--via", choices=("http", "h1", "h2"), default="http",
                    help="http: straight to the emulator; h1/h2: TLS through nginx speaking HTTP/1.1 or HTTP/2")
    ap.add_argument("--boto3-pool", type=int, default=None,
                    help="botocore max_pool_connections (default C; botocore's own default is 10)")
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = set(parts) - set("abcde")
    if bad or args.n < 1 or args.concurrency < 1:
        ap.error(f"bad --parts {sorted(bad)} or --n/--concurrency")

    # SIGTERM/SIGHUP: unwind through the finally below (cluster destroyed, emulator stopped)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))

    b = Bench(args)
    try:
        t0 = time.monotonic()
        b.setup()
        print(f"# {b.pg_version}\n# emulator {b.emu.http_url}, endpoint {b.endpoint} (--via {args.via}), "
              f"model {b.model}, tables: "
              f"par_compact {b.pages['par_compact']} pages, par_spread {b.pages['par_spread']} pages", flush=True)
        for p in "abcde":
            if p in parts:
                getattr(b, "part_" + p)()
        print("\n" + b.table())
        print(f"\n(total run {time.monotonic() - t0:.0f} s)")
    finally:
        b.teardown()


if __name__ == "__main__":
    sys.exit(main())
