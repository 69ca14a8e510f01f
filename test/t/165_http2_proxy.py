#!/usr/bin/env python3
"""The production path: TLS and HTTP/2 through a real server (nginx, from
test/lib/proxy.py) in front of the emulator, and a full first wave.

Shown: a batch of 16 multiplexed on one HTTP/2 connection (counted at the
proxy) with the signature verified at the emulator through it; TLS sessions
resumed across calls; a max_concurrent_streams below claude.max_concurrency
respected without errors; GOAWAY (keepalive_requests, a reload) and a proxy
stopped mid-batch retried with every element answered exactly once (checked
against the emulator's own request log and claude.usage); HTTP/1.1-only TLS
servers; and a batch's first wave sending claude.max_concurrency requests at
once over HTTP/1.1 (plain and TLS) and over h2 (doc/architecture.md,
"Transport")."""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402
import proxy as proxylib  # noqa: E402

t = Reporter("http2 proxy")
if not proxylib.available():
    t.ok(False, "nginx with http2 and ssl is installed (test/install-deps)", proxylib.NGINX)
    sys.exit(t.summary())

LATENCY_MS = 400
work = tempfile.mkdtemp(prefix="pg_claude_t165_")
emu = Emulator(work, tls=True)
proxy = pg = None
try:
    proxy = proxylib.Proxy(work, emu.http_port, [
        proxylib.Listener("h2"),
        proxylib.Listener("h1", http2=False),
        proxylib.Listener("few", max_concurrent_streams=4),
        proxylib.Listener("goaway", keepalive_requests=5),
        proxylib.Listener("h1short", http2=False, keepalive_requests=3),
    ])
    # one bundle trusting both test CAs: the emulator's own TLS port and the proxy's
    bundle = os.path.join(work, "bundle.pem")
    with open(bundle, "w") as out:
        for ca in (emu.ca_file, proxy.ca_file):
            with open(ca) as f:
                out.write(f.read())
    os.chmod(bundle, 0o644)
    pg = Cluster("t165", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
claude.ca_file = '{bundle}'
shared_preload_libraries = 'pg_claude'
""")
except BaseException:
    if proxy is not None:
        proxy.stop()
    emu.stop()
    raise


def settings(endpoint, concurrency, retries=None):
    s = f"SET claude.endpoint = '{endpoint}'; SET claude.max_concurrency = {concurrency}; SET claude.cache = off;"
    if retries is not None:
        s += f" SET claude.max_retries = {retries};"
    return s


def batch_sql(prefix, n):
    return ("SELECT ord || '|' || coalesce(completion, '') || '|' || coalesce(error, '') "
            f"FROM claude_complete_batch(ARRAY(SELECT '{prefix} ' || g FROM generate_series(1, {n}) g)) "
            "ORDER BY ord;")


def parse(out, prefix, n):
    """(pid, answered exactly once in order, first error) from a batch's output."""
    lines = out.splitlines()
    pid = int(lines[0])
    rows = [l.split("|", 2) for l in lines[1:]]
    ok = len(rows) == n and all(r[0] == str(i + 1) and r[1] == f"You said: {prefix} {i + 1}" and r[2] == ""
                                for i, r in enumerate(rows))
    errors = [r[2] for r in rows if len(r) > 2 and r[2]]
    return pid, ok, errors[:1]


def run_batch(endpoint, prefix, n, concurrency, retries=None, during=None, delay=0.0):
    """Run one batch in a fresh backend; `during` is called `delay` s after it
    starts (while requests are in flight).  Returns (pid, ok, errors, elapsed, stderr)."""
    sql = settings(endpoint, concurrency, retries) + "SELECT pg_backend_pid();" + batch_sql(prefix, n)
    t0 = time.monotonic()
    proc = subprocess.Popen(pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if during is None:
        out, err = proc.communicate(sql, timeout=120)
    else:
        proc.stdin.write(sql)
        proc.stdin.close()
        time.sleep(delay)
        during()
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.wait(120)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        return None, False, [err], elapsed, err
    pid, ok, errors = parse(out.strip(), prefix, n)
    return pid, ok, errors, elapsed, err


def usage_rows(pid, expected_successes, timeout=10):
    """(request_id, http_status, error_code) of a backend's attempts, once the
    audit writer has stored at least the expected successes."""
    deadline = time.monotonic() + timeout
    rows = []
    while time.monotonic() < deadline:
        out = pg.query("SELECT coalesce(request_id, '') || '|' || coalesce(http_status::text, '') || '|' || "
                       f"coalesce(error_code, '') FROM claude.usage WHERE backend_pid = {pid} AND NOT cache_hit")
        rows = [tuple(l.split("|")) for l in out.splitlines() if l]
        if sum(1 for r in rows if r[1] == "200") >= expected_successes:
            time.sleep(0.3)    # and anything still on its way
            out = pg.query("SELECT coalesce(request_id, '') || '|' || coalesce(http_status::text, '') || '|' || "
                           f"coalesce(error_code, '') FROM claude.usage WHERE backend_pid = {pid} AND NOT cache_hit")
            return [tuple(l.split("|")) for l in out.splitlines() if l]
        time.sleep(0.1)
    return rows


def emulator_successes():
    """request ids of the emulator's answered (200) Bedrock requests since its reset."""
    recent = emu.control("requests?n=1000")["requests"]
    return [r["request_id"] for r in recent if r["status"] == 200], len(recent)


def exactly_once(name, pid, n, emulator_doubles_allowed=False):
    """Every element answered once: n successes in claude.usage, each an
    emulator request id, and (unless the network may have eaten answers)
    no request at the emulator beyond the audited ones."""
    rows = usage_rows(pid, n)
    ours = [r[0] for r in rows if r[1] == "200"]
    theirs, total = emulator_successes()
    st = emu.stats()
    t.ok(len(ours) == n and len(set(ours)) == n and set(ours) <= set(theirs),
         f"{name}: {n} successes audited, each a distinct request the emulator answered",
         (len(ours), len(set(ours)), len(theirs), rows[:5]))
    if emulator_doubles_allowed:
        t.ok(st["requests"] >= n, f"{name}: the emulator saw every element", st["requests"])
    else:
        # the emulator answered n, and saw no request we did not audit as an attempt
        t.ok(len(theirs) == n and st["requests"] <= len(rows),
             f"{name}: no element doubled (emulator: {st['requests']} requests, {len(theirs)} answered; "
             f"{len(rows)} attempts audited)", rows)
    t.ok(st["signature_failures"] == 0, f"{name}: every signature verified at the emulator", st["signature_failures"])
    return rows


def max_overlap(entries):
    """The most requests in progress at once on one connection, from the
    proxy's log (start = end - request_time, both in ms)."""
    best = 0
    for conn in {e["connection"] for e in entries}:
        events = []
        for e in entries:
            if e["connection"] == conn:
                end = round(e["end"] * 1000)
                events += [(end - round(e["request_time"] * 1000), 1), (end, -1)]
        now = 0
        for _, step in sorted(events):      # at a tie, an end (-1) comes first
            now += step
            best = max(best, now)
    return best


def fresh(latency=LATENCY_MS):
    emu.reset()
    emu.control("config", {"latency_ms": latency})
    return proxy.log_offset()


try:
    pg.start(env=emulator_env())
    pg.query("CREATE EXTENSION pg_claude")

    # --- the first wave is full ---------------------------------------------
    # 8 prompts at 400 ms and concurrency 8: one wave, well under 2 latencies,
    # with all 8 at the emulator at once (a stalled first wave sends one, then 7)
    for label, url in (("HTTP/1.1 plain", emu.http_url), ("HTTP/1.1 TLS", emu.https_url),
                       ("HTTP/1.1 TLS via nginx", proxy.url("h1")), ("h2 via nginx", proxy.url("h2"))):
        mark = fresh()
        pid, ok, errors, elapsed, err = run_batch(url, "wave", 8, 8)
        st = emu.stats()
        print(f"# first wave, {label}: 8 x {LATENCY_MS} ms at concurrency 8 in {elapsed:.2f} s, "
              f"{st['max_in_flight']} at once at the emulator")
        t.ok(ok, f"first wave, {label}: all 8 answered", (errors, err))
        t.ok(st["max_in_flight"] == 8, f"first wave, {label}: 8 requests in flight at once", st["max_in_flight"])
        t.ok(elapsed < 1.5 * LATENCY_MS / 1000, f"first wave, {label}: {elapsed:.2f} s, under 1.5 latencies")
        entries, _ = proxy.log_entries(mark)
        if label == "h2 via nginx":
            conns = {e["connection"] for e in entries}
            t.ok(len(entries) == 8 and all(e["protocol"] == "HTTP/2.0" for e in entries) and len(conns) == 1,
                 "first wave, h2: 8 streams on one connection", entries)
        elif "nginx" in label:
            t.ok(len(entries) == 8 and all(e["protocol"] == "HTTP/1.1" for e in entries)
                 and len({e["connection"] for e in entries}) == 8,
                 "first wave, HTTP/1.1 via nginx: 8 connections opened at once", entries)

    # --- a batch of 16 multiplexed on one connection -----------------------
    mark = fresh()
    sql = (settings(proxy.url("h2"), 16) + "SELECT pg_backend_pid();" + batch_sql("mux", 16) + batch_sql("again", 16)
           + "SELECT connections FROM claude_http_stats();")
    t0 = time.monotonic()
    rc, out, err = pg.psql(sql)
    elapsed = time.monotonic() - t0
    lines = out.splitlines()
    ok = rc == 0 and len(lines) == 34
    t.ok(ok and parse("\n".join(lines[:17]), "mux", 16)[1] and parse("\n".join([lines[0]] + lines[17:33]), "again", 16)[1],
         "two batches of 16 over h2: every element answered", (out, err))
    entries, _ = proxy.log_entries(mark)
    conns = {e["connection"] for e in entries}
    t.ok(len(entries) == 32 and len(conns) == 1 and all(e["http2"] == "h2" for e in entries),
         f"32 requests at concurrency 16: one HTTP/2 connection at the proxy ({len(conns)})", entries[:3])
    t.ok(ok and lines[-1] == "1", "the backend opened one connection for both batches", lines[-1:])
    t.ok(emu.stats()["max_in_flight"] == 16, "16 streams in flight at once", emu.stats()["max_in_flight"])
    print(f"# 2 x 16 at {LATENCY_MS} ms over one h2 connection: {elapsed:.2f} s")
    if ok:
        exactly_once("h2 batch", int(lines[0]), 32)

    # --- TLS session resumption across calls ---------------------------------
    # the server closes every connection after a few requests; each new one
    # resumes the backend's TLS session instead of a full handshake
    for name, calls in (("goaway", 12), ("h1short", 9)):
        mark = fresh(0)
        rc, out, err = pg.psql(settings(proxy.url(name), 1) +
                               "".join(f"SELECT claude_complete('resume {i}');" for i in range(calls)))
        entries, _ = proxy.log_entries(mark)
        firsts = [e for e in entries if e["connection_requests"] == 1]
        t.ok(rc == 0 and len(entries) == calls and len(firsts) >= 3,
             f"{name}: {calls} sequential calls over {len(firsts)} connections (the server closes them)",
             (err, entries))
        resumed = [e["reused"] == "r" for e in firsts]
        print(f"# {name}: TLS sessions resumed on new connections: {resumed}")
        if name == "h1short":
            t.ok(len(firsts) >= 3 and not resumed[0] and all(resumed[1:]),
                 f"{name}: every connection after the first resumed the TLS session "
                 f"({firsts[0]['ssl_protocol'] if firsts else ''})",
                 [(e["connection"], e["reused"], e["ssl_protocol"]) for e in firsts])

    # --- a stream limit below claude.max_concurrency --------------------------
    mark = fresh(200)
    pid, ok, errors, elapsed, err = run_batch(proxy.url("few"), "few", 32, 16)
    t.ok(ok, "max_concurrent_streams 4 < max_concurrency 16: all 32 answered, no errors", (errors, err))
    entries, _ = proxy.log_entries(mark)
    print(f"# 32 x 200 ms, concurrency 16, server allows 4 streams: {elapsed:.2f} s over "
          f"{len({e['connection'] for e in entries})} connection(s), "
          f"{emu.stats()['max_in_flight']} at once at the emulator")
    t.ok(len(entries) == 32 and all(e["status"] == 200 for e in entries),
         "the proxy answered every stream it accepted with 200", [e["status"] for e in entries])
    t.ok(entries and max_overlap(entries) <= 4,
         f"at most 4 streams at once on any connection ({max_overlap(entries) if entries else None})")
    if pid:
        rows = exactly_once("stream limit", pid, 32)
        t.ok(all(r[1] == "200" for r in rows), "stream limit: no failed attempt in claude.usage", rows)

    # --- GOAWAY mid-batch: keepalive_requests 5 ----------------------------
    mark = fresh(200)
    pid, ok, errors, elapsed, err = run_batch(proxy.url("goaway"), "goaway", 16, 16)
    t.ok(ok, "GOAWAY after 5 requests mid-batch: all 16 answered", (errors, err))
    entries, _ = proxy.log_entries(mark)
    t.ok(len({e["connection"] for e in entries}) >= 4,
         f"the batch needed {len({e['connection'] for e in entries})} connections (GOAWAY every 5)", entries)
    if pid:
        rows = exactly_once("GOAWAY", pid, 16)
        print(f"# GOAWAY every 5 requests: {len(rows)} attempts audited for 16 elements, "
              f"{sum(1 for r in rows if r[1] != '200')} of them failed and retried")

    # --- a reload mid-batch: the old workers GOAWAY and finish -------------
    fresh(400)
    pid, ok, errors, elapsed, err = run_batch(proxy.url("h2"), "reload", 24, 8, during=proxy.reload, delay=0.5)
    t.ok(ok, "nginx reloaded mid-batch: all 24 answered", (errors, err, proxy.read_error_log()[-2000:]))
    if pid:
        rows = exactly_once("reload", pid, 24)
        print(f"# reload mid-batch: {len(rows)} attempts audited for 24 elements")

    # --- the proxy stopped mid-batch, and back ---------------------------
    fresh(1000)
    pid, ok, errors, elapsed, err = run_batch(proxy.url("h2"), "stop", 16, 16, retries=8,
                                              during=proxy.restart, delay=0.5)
    t.ok(ok, "nginx stopped mid-batch and started again: all 16 answered", (errors, err))
    if pid:
        rows = exactly_once("stop", pid, 16, emulator_doubles_allowed=True)
        t.ok(any(r[1] != "200" for r in rows), "the cut attempts were audited and retried",
             rows)
        print(f"# proxy stopped mid-batch: {len(rows)} attempts for 16 elements; "
              f"the emulator answered {len(emulator_successes()[0])} (answers lost with the proxy)")

    # --- emulator faults through the proxy --------------------------------
    fresh(50)
    emu.fault(fault="reset", count=3)
    emu.fault(fault="error", status=503, error_type="ServiceUnavailableException", count=2)
    pid, ok, errors, elapsed, err = run_batch(proxy.url("h2"), "faults", 16, 16)
    t.ok(ok, "upstream resets (502 at the proxy) and 503s mid-batch: all 16 answered", (errors, err))
    if pid:
        rows = exactly_once("faults", pid, 16)
        t.ok(sum(1 for r in rows if r[1] == "502") == 3 and sum(1 for r in rows if r[1] == "503") == 2,
             "3 attempts answered 502 by the proxy and 2 answered 503, all retried", rows)
        t.ok(emu.stats()["requests"] == 16 + 5, "the emulator saw 16 + 5 requests", emu.stats()["requests"])

    # --- HTTP/1.1-only TLS server -------------------------------------
    mark = fresh()
    pid, ok, errors, elapsed, err = run_batch(proxy.url("h1"), "h1", 16, 8)
    entries, _ = proxy.log_entries(mark)
    t.ok(ok and len(entries) == 16 and all(e["protocol"] == "HTTP/1.1" for e in entries),
         "an HTTP/1.1-only TLS server: all 16 answered over HTTP/1.1", (errors, err))
    t.ok(len({e["connection"] for e in entries}) == 8 and elapsed < 3 * LATENCY_MS / 1000,
         f"HTTP/1.1: 8 connections, two full waves ({elapsed:.2f} s)", entries)
    if pid:
        exactly_once("HTTP/1.1", pid, 16)

    log = pg.read_log()
    t.ok("Signature=" not in log and "X-Amz-Security-Token" not in log, "no signature or token in the server log")
finally:
    pg.destroy()
    proxy.stop()
    emu.stop()

sys.exit(t.summary())
