#!/usr/bin/env python3
"""Streaming (issue 17): InvokeModelWithResponseStream in the transport,
ttft_ms in claude.usage, claude.stream, claude_complete_stream, mid-stream
exceptions, corrupt frames (a bounded fuzz through libcurl's write
callback), cancel and statement_timeout mid-stream."""

import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("stream")
work = tempfile.mkdtemp(prefix="pg_claude_t175_")
emu = Emulator(work)
pg = Cluster("t175", free_port(), conf=f"claude.endpoint = '{emu.http_url}'\nclaude.cache = off")
pg.start(env=emulator_env())
pg.query("CREATE EXTENSION pg_claude")
PROMPT = "one two three four five six seven eight nine ten eleven twelve"


def sql_error(sql):
    """Run SQL expected to fail; return (sqlstate, stderr)."""
    rc, out, err = pg.psql("\\set VERBOSITY verbose\n" + sql)
    state = None
    for line in err.splitlines():
        if line.startswith("ERROR:"):
            state = line.split()[1].rstrip(":")
            break
    return state, err


def last_usage(function_name, after_id, timeout=10):
    """(ttft_ms, latency_ms, error_code) of the newest claude.usage row after after_id."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = pg.query("SELECT coalesce(ttft_ms::text, 'NULL') || '|' || coalesce(latency_ms::text, 'NULL')"
                       " || '|' || coalesce(error_code, '') FROM claude.usage"
                       f" WHERE function_name = '{function_name}' AND id > {after_id}"
                       " ORDER BY id DESC LIMIT 1")
        if out:
            ttft, latency, code = out.split("|")
            return (None if ttft == "NULL" else float(ttft),
                    None if latency == "NULL" else float(latency), code)
        time.sleep(0.1)
    return None


def max_id():
    return int(pg.query("SELECT coalesce(max(id), 0) FROM claude.usage"))


def timing(first_byte_ms, latency_ms):
    emu.control("config", {"first_byte_ms": first_byte_ms, "latency_ms": latency_ms})


try:
    # --- the done-when timing: 150 ms to the first chunk, 600 ms in all -----
    emu.reset()
    timing(150, 600)
    pg.psql("SELECT claude_complete('warm the connection')")
    ttfts, latencies = [], []
    for mode in ("on", "auto"):
        before = max_id()
        rc, out, err = pg.psql(f"SET claude.stream = {mode}; SELECT claude_complete('{PROMPT}')")
        row = last_usage("claude_complete", before)
        t.ok(rc == 0 and out == "You said: " + PROMPT, f"claude.stream = {mode}: answered", err)
        t.ok(row is not None and row[0] is not None and abs(row[0] - 150) <= 10,
             f"claude.stream = {mode}: ttft_ms within 10 ms of 150", row)
        t.ok(row is not None and row[1] is not None and abs(row[1] - 600) <= 10,
             f"claude.stream = {mode}: latency_ms within 10 ms of 600", row)
    before = max_id()
    rc, out, err = pg.psql(f"SET claude.stream = off; SELECT claude_complete('{PROMPT}')")
    row = last_usage("claude_complete", before)
    t.ok(rc == 0 and row is not None and row[0] is None,
         "claude.stream = off: InvokeModel, ttft_ms NULL", row)
    t.ok(emu.stats()["by_operation"].get("InvokeModelWithResponseStream", 0) >= 3
         and emu.stats()["by_operation"].get("InvokeModel", 0) >= 1,
         "the emulator saw streamed and plain calls", emu.stats().get("by_operation"))
    timing(0, 0)

    # --- results identical either way -------------------------------------
    emu.reset()
    calls = [
        "SELECT claude_complete('identical answers, please', system => 'Be brief.')",
        "SELECT string_agg(completion, '|' ORDER BY ord) FROM claude_complete_batch(ARRAY['a b', 'c d e', 'f'])",
        "SELECT claude_classify('I love it', ARRAY['positive', 'negative'])",
        "SELECT claude_extract('Ann is 31', '{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}')",
        "SELECT (claude_invoke('{\"messages\":[{\"role\":\"user\",\"content\":\"same\"}],\"max_tokens\":50}')"
        " - 'id')::text",
    ]
    for sql in calls:
        outs = {}
        for mode in ("off", "on"):
            rc, out, err = pg.psql(f"SET claude.stream = {mode}; {sql}")
            outs[mode] = (rc, out, err)
        t.ok(outs["off"][0] == 0 and outs["off"] == outs["on"],
             "same result streamed or not: " + sql[7:50], outs)

    # --- claude_complete_stream: rows as they arrive ----------------------
    emu.reset()
    timing(150, 900)
    rc, out, err = pg.psql(
        "BEGIN;\n"
        f"DECLARE c CURSOR FOR SELECT claude_complete_stream('{PROMPT}');\n"
        "SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset\n"
        "FETCH 1 FROM c;\n"
        "SELECT round(((extract(epoch FROM clock_timestamp()) - :t0) * 1000)::numeric);\n"
        "FETCH ALL FROM c;\n"
        "SELECT round(((extract(epoch FROM clock_timestamp()) - :t0) * 1000)::numeric);\n"
        "COMMIT;")
    lines = out.splitlines()
    try:
        first_ms = float(lines[1])
        total_ms = float(lines[-1])
        rows = [lines[0]] + lines[2:-1]
    except (ValueError, IndexError):
        first_ms = total_ms = None
        rows = []
    t.ok(first_ms is not None and first_ms < 400 and total_ms >= 850,
         f"the first row arrives before the emulator finished ({first_ms} ms of {total_ms} ms)", out + err)
    t.ok(len(rows) > 2 and "".join(rows) == "You said: " + PROMPT,
         f"the rows ({len(rows)}) join to the whole answer", rows)
    timing(0, 0)
    rc, out, err = pg.psql("SELECT claude_complete_stream('x', max_tokens => 5) LIMIT 1")
    t.ok(rc == 0 and out != "", "LIMIT 1 ends the stream early", err)
    rc, out, err = pg.psql("SELECT count(*) FROM claude_complete_stream(NULL)")
    t.ok(rc == 0 and out == "0", "a NULL prompt: no rows", out + err)
    rc, out, err = pg.psql("SET claude.cache = on; SELECT claude_complete('cache this one'); "
                           "SELECT pg_sleep(0.5); "
                           "SELECT string_agg(p, '') || '/' || count(*) FROM claude_complete_stream('cache this one') p")
    t.ok(rc == 0 and out.splitlines()[-1] == "You said: cache this one/1",
         "a cache hit is the whole text as one row", out + err)
    before = max_id()
    pg.psql("SELECT claude_complete_stream('audited stream')")
    row = last_usage("claude_complete_stream", before)
    t.ok(row is not None and row[0] is not None and row[2] == "",
         "claude_complete_stream is audited with ttft_ms", row)
    pg.query("CREATE ROLE t175_plain LOGIN")
    rc, out, err = pg.psql("SELECT claude_complete_stream('x')", user="t175_plain")
    t.ok(rc != 0 and "permission denied" in err, "claude_complete_stream needs claude_user", err)

    state, err = sql_error("SELECT claude_complete_stream('a b'), claude_complete_stream('c d')")
    t.ok(state == "55000" and "another streamed answer" in err, "one stream at a time per session", err)
    rc, out, err = pg.psql("\\set ON_ERROR_STOP 0\n"
                           "SELECT claude_complete_stream('a b'), claude_complete_stream('c d');\n"
                           "SELECT string_agg(p, '') FROM (SELECT claude_complete_stream('next one') p) s;")
    t.ok(out.splitlines()[-1:] == ["You said: next one"], "after that refusal the next stream works",
         (out, err))

    # --- exceptions mid-stream -------------------------------------------
    for name, sqlstate, code in (("modelStreamErrorException", "38000", "ModelStreamErrorException"),
                                 ("throttlingException", "38000", "ThrottlingException"),
                                 ("validationException", "22023", "ValidationException"),
                                 ("internalServerException", "38000", "InternalServerException"),
                                 ("serviceUnavailableException", "38000", "ServiceUnavailableException"),
                                 ("modelTimeoutException", "38000", "ModelTimeoutException")):
        emu.reset()
        emu.fault(fault="stream_exception", error_type=name, message="stopped mid-answer", count=5)
        state, err = sql_error(f"SET claude.max_retries = 0; SELECT claude_complete('{PROMPT}')")
        t.ok(state == sqlstate and code in err and "stopped mid-answer" in err
             and "Received before it failed" in err and "You said" in err,
             f"{name}: {sqlstate} naming {code}, with the text so far in DETAIL", err)
    emu.reset()
    emu.fault(fault="stream_exception", error_type="throttlingException", count=2)
    rc, out, err = pg.psql(f"SELECT claude_complete('{PROMPT}')")
    t.ok(rc == 0 and out == "You said: " + PROMPT and emu.stats()["requests"] == 3,
         "a throttlingException mid-stream is retried like a 429", (out, err))
    emu.reset()
    emu.fault(fault="stream_exception", error_type="modelStreamErrorException", count=5)
    rc, out, err = pg.psql("SET claude.on_error = 'null'; SET claude.max_retries = 0; "
                           f"SELECT coalesce(claude_complete('{PROMPT}'), 'IS NULL')")
    t.ok(rc == 0 and out == "IS NULL" and "WARNING" in err and "Received before it failed" in err,
         "claude.on_error = null: NULL and a WARNING with the text so far", (out, err))
    emu.reset()
    emu.fault(fault="stream_exception", error_type="modelStreamErrorException", count=5)
    state, err = sql_error(f"SELECT claude_complete_stream('{PROMPT}')")
    t.ok(state == "38000" and "Received before it failed" in err,
         "claude_complete_stream: an exception after rows is an error, the text in DETAIL", err)
    t.ok(emu.stats()["requests"] == 1, "claude_complete_stream does not retry once rows are out",
         emu.stats()["requests"])
    emu.reset()
    emu.fault(fault="stream_exception", error_type="modelStreamErrorException", count=5)
    rc, out, err = pg.psql(f"SET claude.on_error = 'null'; SELECT claude_complete_stream('{PROMPT}')")
    t.ok(rc == 0 and "WARNING" in err and "ended early" in err,
         "claude_complete_stream under on_error = null: the rows so far and a WARNING", (out, err))

    # --- corrupt and truncated streams ------------------------------------
    emu.reset()
    emu.fault(fault="corrupt_frame", count=1)
    rc, out, err = pg.psql(f"SELECT claude_complete('{PROMPT}')")
    t.ok(rc == 0 and out == "You said: " + PROMPT and emu.stats()["requests"] == 2,
         "a corrupt frame is retried like an unusable answer", (out, err))
    emu.reset()
    emu.fault(fault="corrupt_frame", count=10, delay_ms=3)
    state, err = sql_error(f"SET claude.max_retries = 1; SELECT claude_complete('{PROMPT}')")
    t.ok(state == "38000" and "could not be read" in err and "checksum" in err and "HINT" in err,
         "a stream that never decodes: 38000 saying why", err)
    emu.reset()
    emu.fault(fault="truncated", count=10)
    state, err = sql_error(f"SET claude.max_retries = 0; SELECT claude_complete('{PROMPT}')")
    t.ok(state is not None and "ERROR" in err, "a truncated stream is a clear error", err)

    # bounded fuzz through the write callback: a flipped byte anywhere
    rng = random.Random(175)
    fuzz_calls = 60
    outcomes = {"error": 0, "answered": 0, "other": 0}
    for i in range(fuzz_calls):
        emu.fault(fault="corrupt_frame", count=1, delay_ms=rng.randrange(1, 1400))
        state, err = sql_error(f"SET claude.max_retries = 0; SELECT claude_complete('fuzz {i} {PROMPT}')")
        if state:
            outcomes["error"] += 1
        elif "ERROR" not in err and "server closed" not in err:
            outcomes["answered"] += 1
        else:
            outcomes["other"] += 1
    rc, out, err = pg.psql("SELECT 1")
    t.ok(rc == 0 and outcomes["other"] == 0, f"{fuzz_calls} corrupted streams: no crash {outcomes}", err)
    t.ok("terminated by signal" not in pg.read_log(), "the server log shows no crashed backend")

    # --- cancel and statement_timeout mid-stream ---------------------------
    emu.reset()
    timing(100, 10000)
    proc = subprocess.Popen(pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdin.write(f"SELECT pg_backend_pid();\nSET claude.stream = on;\nSELECT claude_complete('{PROMPT}');\n")
    proc.stdin.flush()
    pid = int(proc.stdout.readline().strip())
    time.sleep(0.6)
    t0 = time.monotonic()
    pg.query(f"SELECT pg_cancel_backend({pid})")
    proc.stdin.close()
    err = proc.stderr.read()
    proc.wait(30)
    elapsed = (time.monotonic() - t0) * 1000
    t.ok("canceling statement" in err and elapsed < 200,
         f"query cancel ends a stream within 200 ms ({elapsed:.0f} ms)", err)
    t1 = time.monotonic()
    state, err = sql_error(f"SET statement_timeout = 500; SELECT claude_complete('{PROMPT}')")
    elapsed = (time.monotonic() - t1) * 1000
    t.ok(state == "57014" and elapsed < 500 + 200 + 150,
         f"statement_timeout ends a stream within 200 ms ({elapsed:.0f} ms for 500)", err)
    proc = subprocess.Popen(pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdin.write(f"SELECT pg_backend_pid();\nSELECT claude_complete_stream('{PROMPT}');\n")
    proc.stdin.flush()
    pid = int(proc.stdout.readline().strip())
    time.sleep(0.6)
    t0 = time.monotonic()
    pg.query(f"SELECT pg_cancel_backend({pid})")
    proc.stdin.close()
    err = proc.stderr.read()
    proc.wait(30)
    elapsed = (time.monotonic() - t0) * 1000
    t.ok("canceling statement" in err and elapsed < 200,
         f"query cancel ends claude_complete_stream within 200 ms ({elapsed:.0f} ms)", err)
    timing(0, 0)
    rc, out, err = pg.psql("SELECT claude_complete('after the cancels'); "
                           "SELECT string_agg(p, '') FROM (SELECT claude_complete_stream('and again') p) s")
    t.ok(rc == 0 and out.splitlines() == ["You said: after the cancels", "You said: and again"],
         "calls and streams work after cancels", (out, err))
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
