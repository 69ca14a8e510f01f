#!/usr/bin/env python3
"""Transport behaviour against the emulator: retries, keep-alive, cancel,
timeouts, TLS, and error mapping for broken exchanges."""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("transport")
work = tempfile.mkdtemp(prefix="pg_claude_t010_")
emu = Emulator(work, tls=True)
pg = Cluster("t010", free_port(), conf=f"claude.endpoint = '{emu.http_url}'")
pg.start(env=emulator_env())
pg.query("CREATE EXTENSION pg_claude")


def sql_error(sql):
    """Run SQL expected to fail; return (sqlstate, stderr)."""
    rc, out, err = pg.psql("\\set VERBOSITY verbose\n" + sql)
    state = None
    for line in err.splitlines():
        if line.startswith("ERROR:"):
            state = line.split()[1].rstrip(":")
            break
    return rc, state, err


try:
    # --- retries -----------------------------------------------------------
    emu.reset()
    emu.fault(fault="throttle", count=2)
    rc, out, err = pg.psql("SELECT claude_complete('after throttling')")
    st = emu.stats()
    t.ok(rc == 0 and out == "You said: after throttling", "throttled twice, then answered", err)
    t.ok(st["requests"] == 3, "three attempts reached the endpoint", st["requests"])

    emu.reset()
    emu.fault(fault="error", status=503, error_type="ServiceUnavailableException", count=1)
    emu.fault(fault="error", status=500, error_type="InternalServerException", count=1)
    rc, out, err = pg.psql("SELECT claude_complete('after 5xx')")
    t.ok(rc == 0 and out == "You said: after 5xx" and emu.stats()["requests"] == 3,
         "503 then 500, then answered", err)

    emu.reset()
    emu.fault(fault="reset", count=1)
    rc, out, err = pg.psql("SELECT claude_complete('after reset')")
    t.ok(rc == 0 and out == "You said: after reset", "connection reset is retried", err)

    emu.reset()
    emu.fault(fault="truncated", count=1)
    rc, out, err = pg.psql("SELECT claude_complete('after truncation')")
    t.ok(rc == 0 and out == "You said: after truncation", "truncated body is retried", err)

    emu.reset()
    emu.fault(fault="throttle", count=10)
    rc, state, err = sql_error("SET claude.max_retries = 2; SELECT claude_complete('never')")
    t.ok(rc != 0 and state == "38000" and "ThrottlingException" in err and "2 retries" in err,
         "retries exhausted: 38000 with the AWS code and retry count", err)
    t.ok(emu.stats()["requests"] == 3, "max_retries = 2 means three attempts", emu.stats()["requests"])

    emu.reset()
    emu.fault(fault="throttle", count=10)
    rc, state, err = sql_error("SET claude.max_retries = 0; SELECT claude_complete('once')")
    t.ok(rc != 0 and emu.stats()["requests"] == 1, "max_retries = 0 means one attempt", err)

    emu.reset()
    rc, state, err = sql_error("SELECT claude_complete('x', model => 'anthropic.claude-nonexistent-v9:0')")
    t.ok(state == "22023" and "ValidationException" in err and "request id" in err,
         "ValidationException: 22023 with request id", err)
    t.ok(emu.stats()["requests"] == 1, "4xx validation errors are not retried", emu.stats()["requests"])

    # a 200 whose body is not JSON is a fault on the way: retried, never cached
    emu.reset()
    emu.fault(fault="malformed", count=1)
    rc, out, err = pg.psql("SELECT claude_complete('malformed once')")
    t.ok(rc == 0 and out == "You said: malformed once" and emu.stats()["requests"] == 2,
         "a 200 that is not JSON is retried, then answered", (out, err, emu.stats()["requests"]))
    emu.reset()
    emu.fault(fault="malformed", count=10)
    # the buffered answer's check (a corrupt stream is t/175's)
    rc, state, err = sql_error("SET claude.stream = off; SET claude.max_retries = 2; "
                               "SELECT claude_complete('malformed')")
    t.ok(state == "38000" and "not JSON" in err and "2 retries" in err and "HINT" in err
         and emu.stats()["requests"] == 3,
         "a 200 that is never JSON: retried under max_retries, then 38000 saying so", err)
    emu.reset()
    emu.fault(fault="malformed", count=10)
    rc, state, err = sql_error("SET claude.stream = off; SET claude.max_retries = 1; "
                               "SELECT claude_invoke('{\"messages\":[{\"role\":\"user\",\"content\":\"m\"}]}')")
    t.ok(state == "38000" and "not JSON" in err and emu.stats()["requests"] == 2,
         "malformed JSON answer to claude_invoke: retried, then 38000", err)
    emu.reset()
    for _ in range(30):   # the audit log may be written a moment later
        rc, out, err = pg.psql("SELECT count(*) FROM claude.usage WHERE error_code = 'MalformedResponse'")
        if rc == 0 and int(out or 0) >= 1:
            break
        time.sleep(0.1)
    t.ok(rc == 0 and int(out or 0) >= 1, "a malformed attempt is audited as MalformedResponse", (out, err))

    # --- keep-alive --------------------------------------------------------
    emu.reset()
    calls = "\n".join(f"SELECT claude_complete('call {i}');" for i in range(50))
    rc, out, err = pg.psql(calls + "\nSELECT connections FROM claude_http_stats();")
    st = emu.stats()
    t.ok(rc == 0 and st["requests"] == 50, "50 sequential calls answered", err)
    t.ok(st["bedrock_connections"] == 1, "50 sequential calls opened one connection", st)
    t.ok(out.splitlines()[-1] == "1", "the backend counted one connection", out.splitlines()[-1:])

    # --- cancel and timeouts ----------------------------------------------
    emu.reset()
    proc = subprocess.Popen(pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdin.write("SELECT pg_backend_pid();\nSELECT claude_complete('SLEEP 10000 then answer');\n")
    proc.stdin.flush()
    pid = int(proc.stdout.readline().strip())
    time.sleep(0.5)
    t0 = time.monotonic()
    pg.query(f"SELECT pg_cancel_backend({pid})")
    proc.stdin.close()
    err = proc.stderr.read()
    proc.wait(30)
    elapsed = (time.monotonic() - t0) * 1000
    print(f"# cancel latency: {elapsed:.1f} ms (includes psql exit)")
    t.ok("canceling statement due to user request" in err and elapsed < 200,
         f"query cancel interrupts a call in flight within 200 ms ({elapsed:.0f} ms)", err)

    t0 = time.monotonic()
    rc, state, err = sql_error("SET statement_timeout = '300ms'; SELECT claude_complete('SLEEP 10000 x')")
    elapsed = (time.monotonic() - t0) * 1000
    print(f"# statement_timeout 300 ms: statement ended after {elapsed:.1f} ms")
    t.ok(state == "57014" and elapsed < 300 + 200 + 150,
         f"statement_timeout interrupts a call in flight ({elapsed:.0f} ms for 300 ms)", err)

    emu.reset()
    t0 = time.monotonic()
    rc, state, err = sql_error("SET claude.timeout = '400ms'; SET claude.max_retries = 0; "
                               "SELECT claude_complete('SLEEP 5000 x')")
    elapsed = (time.monotonic() - t0) * 1000
    t.ok(state == "08006" and "timed out" in err and elapsed < 400 + 500,
         f"claude.timeout ends an attempt ({elapsed:.0f} ms for 400 ms)", err)

    emu.reset()
    rc, state, err = sql_error("SET claude.timeout = '300ms'; SET claude.max_retries = 1; "
                               "SELECT claude_complete('SLEEP 5000 y')")
    t.ok(state == "08006" and emu.stats()["requests"] == 2, "timed-out attempts are retried", err)

    emu.reset()
    emu.fault(fault="slow_body", delay_ms=600, count=1)
    rc, out, err = pg.psql("SELECT claude_complete('slow body')")
    t.ok(rc == 0 and out == "You said: slow body", "a slow body within claude.timeout is fine", err)

    # the backend survives all of that and still reuses connections
    rc, out, err = pg.psql("SELECT claude_complete('still alive')")
    t.ok(rc == 0 and out == "You said: still alive", "calls work after cancels and timeouts", err)

    # --- connect failures -------------------------------------------------
    dead = free_port()
    pg.append_conf(f"claude.endpoint = 'http://127.0.0.1:{dead}'")
    pg.query("SELECT pg_reload_conf()")
    time.sleep(0.3)
    rc, state, err = sql_error("SET claude.max_retries = 1; SELECT claude_complete('nobody home')")
    t.ok(state == "08001" and "could not connect" in err, "connection refused: 08001", err)

    # --- TLS ----------------------------------------------------------------
    pg.append_conf(f"claude.endpoint = '{emu.https_url}'")
    pg.query("SELECT pg_reload_conf()")
    time.sleep(0.3)
    rc, state, err = sql_error("SET claude.max_retries = 0; SELECT claude_complete('tls without ca')")
    t.ok(state == "08001" and "certificate" in err and "claude.ca_file" in err,
         "untrusted certificate: 08001 naming claude.ca_file", err)
    rc, out, err = pg.psql(f"SET claude.ca_file = '{emu.ca_file}'; SELECT claude_complete('over tls')")
    t.ok(rc == 0 and out == "You said: over tls", "claude.ca_file trusts the test CA", err)
    emu.reset()
    rc, out, err = pg.psql(f"SET claude.ca_file = '{emu.ca_file}';" +
                           "".join(f"SELECT claude_complete('tls {i}');" for i in range(20)))
    st = emu.stats()
    t.ok(rc == 0 and st["bedrock_connections"] == 1 and st["requests"] == 20,
         "20 calls over TLS reuse one connection", st)
    # a missing CA bundle is said to be missing, not a verification failure
    rc, state, err = sql_error("LOAD 'pg_claude'; SET claude.ca_file = '/nonexistent/ca.pem'")
    t.ok(state == "22023" and "/nonexistent/ca.pem" in err and "No such file" in err and "HINT" in err,
         "SET claude.ca_file to a missing file: refused, saying it does not exist", err)
    rc, state, err = sql_error("LOAD 'pg_claude'; SET claude.ca_file = '/tmp'")
    t.ok(state == "22023" and "cannot be read" in err, "SET claude.ca_file to a directory: refused", err)
    pg.query("LOAD 'pg_claude'; ALTER SYSTEM SET claude.ca_file = '/nonexistent/ca.pem'")
    pg.query("SELECT pg_reload_conf()")
    time.sleep(0.3)
    rc, state, err = sql_error("SET claude.max_retries = 0; SELECT claude_complete('bad ca file')")
    t.ok(state == "58P01" and "could not read claude.ca_file" in err and "No such file" in err
         and "HINT" in err and "verify" not in err,
         "claude.ca_file missing at use (from the configuration file): 58P01, not a TLS failure", err)
    pg.query("LOAD 'pg_claude'; ALTER SYSTEM RESET claude.ca_file")
    pg.query("SELECT pg_reload_conf()")

    # --- secrets never in the log -------------------------------------------
    log = pg.read_log()
    from harness import EMU_SECRET
    t.ok(EMU_SECRET not in log and "Signature=" not in log, "no secret or signature in the server log")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
