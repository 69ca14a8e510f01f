#!/usr/bin/env python3
"""Streaming under valgrind (issue 17): a single-user backend runs streamed
calls (claude_complete with claude.stream on, claude_complete_stream to the
end and cut short by LIMIT, a batch), then streams ending in exception
events and streams with corrupt frames; no block lost from pg_claude's,
libcurl's or cJSON's frames and no invalid read or write."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
import harness  # noqa: E402

t = harness.Reporter("stream memory")
work = tempfile.mkdtemp(prefix="pg_claude_t176_")
emu = harness.Emulator(work)
pg = harness.Cluster("t176", harness.free_port(), conf=f"claude.endpoint = '{emu.http_url}'\n"
                     "shared_preload_libraries = 'pg_claude'\nclaude.cache = off")
PROMPT = "one two three four five six seven eight nine ten"


def valgrind(sql):
    env = dict(harness.emulator_env(), PATH=os.environ.get("PATH", "/usr/bin:/bin"), HOME=pg.home)
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    argv = prefix + ["env", "-i"] + [f"{k}={v}" for k, v in env.items()] + [
        "valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
        "--num-callers=40", os.path.join(harness.pg_bindir(), "postgres"), "--single",
        "-D", pg.data, "postgres"]
    r = subprocess.run(argv, input=sql, capture_output=True, text=True, timeout=1200)
    return r.stdout + r.stderr


def judge(out, label, expect):
    t.ok("Memcheck" in out and "ERROR SUMMARY" in out and expect(out),
         f"{label}: the calls ran under valgrind as expected", out[-3000:])
    records = re.split(r"\n==\d+== \n", out)
    ours = [rec for rec in records if re.search(r"(in)?directly lost", rec)
            and re.search(r"pg_claude\.so|libcurl|libssl|libcrypto|libcjson", rec)]
    t.ok(not ours, f"{label}: no memory lost from pg_claude, libcurl, OpenSSL or cJSON",
         "\n\n".join(ours)[:4000])
    invalid = re.findall(r"==\d+== (Invalid (?:read|write|free)[^\n]*|Conditional jump[^\n]*"
                         r"|Use of uninitialised[^\n]*)", out)
    t.ok(not invalid, f"{label}: no invalid memory access", "\n".join(invalid[:20]))
    t.ok("Process terminating" not in out and "terminated by signal" not in out,
         f"{label}: the backend did not crash", out[-1500:])


try:
    pg.start(env=harness.emulator_env())
    pg.query("CREATE EXTENSION pg_claude")
    pg.stop()
    if shutil.which("valgrind") is None:
        t.ok(False, "valgrind is installed")
    else:
        sql = "\n".join(
            ["SET claude.stream = on;"] +
            [f"SELECT claude_complete('streamed {i} {PROMPT}');" for i in range(8)] +
            [f"SELECT claude_complete_stream('rows {i} {PROMPT}');" for i in range(4)] +
            ["SELECT claude_complete_stream('cut short') LIMIT 1;",
             "SELECT count(*) FROM claude_complete_batch(ARRAY['a', 'b c', 'd e f']);",
             "SELECT claude_invoke('{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}');"]) + "\n"
        judge(valgrind(sql), "streamed calls", lambda out: out.count("You said: streamed") == 8
              and out.count("You said: rows") == 4)

        emu.reset()
        emu.fault(fault="stream_exception", error_type="modelStreamErrorException", count=1000)
        sql = "\n".join(
            ["SET claude.max_retries = 0;", "SET claude.on_error = 'null';"] +
            [f"SELECT claude_complete('exception {i} {PROMPT}');" for i in range(4)] +
            [f"SELECT claude_complete_stream('exception rows {i} {PROMPT}');" for i in range(3)] +
            ["SET claude.on_error = 'raise';",
             f"SELECT claude_complete('raised {PROMPT}');",
             f"SELECT claude_complete_stream('raised rows {PROMPT}');"]) + "\n"
        judge(valgrind(sql), "exception events",
              lambda out: out.count("Received before it failed") >= 7)

        emu.reset()
        emu.fault(fault="corrupt_frame", count=1000)
        sql = "\n".join(
            ["SET claude.max_retries = 1;"] +
            [f"SELECT claude_complete('corrupt {i} {PROMPT}');" for i in range(10)] +
            [f"SELECT claude_complete_stream('corrupt rows {i} {PROMPT}');" for i in range(4)]) + "\n"
        judge(valgrind(sql), "corrupt frames", lambda out: out.count("could not be read") >= 10)
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
