#!/usr/bin/env python3
"""Memory: no leaks in a long-lived backend.

1. A single-user backend runs calls of every kind (success, AWS error,
   truncated answer, TLS failure and success, claude_invoke) under valgrind
   memcheck; no block lost from pg_claude's, libcurl's or OpenSSL's frames,
   and no invalid read or write anywhere.
2. A normal backend's resident memory stays flat over thousands of calls.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
import harness  # noqa: E402

t = harness.Reporter("memory")
work = tempfile.mkdtemp(prefix="pg_claude_t030_")
emu = harness.Emulator(work, tls=True)
# as in production: preloaded (audit records go through shared memory)
pg = harness.Cluster("t030", harness.free_port(), conf=f"claude.endpoint = '{emu.http_url}'\n"
                     "shared_preload_libraries = 'pg_claude'\nclaude.cache = off")


def rss_kb(pid):
    """Private resident memory: RssAnon, not VmRSS, which also counts the
    shared-memory pages (shared buffers, the audit ring) a backend touches."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


try:
    pg.start(env=harness.emulator_env())
    pg.query("CREATE EXTENSION pg_claude")

    # --- 2. flat memory in a running backend ------------------------------
    proc = subprocess.Popen(pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

    def run(sql):
        proc.stdin.write(sql + "\n")
        proc.stdin.flush()
        return proc.stdout.readline().strip()

    pid = int(run("SELECT pg_backend_pid();"))
    run("SELECT count(claude_complete('warm ' || i)) FROM generate_series(1, 500) i;")
    before = rss_kb(pid)
    run("SELECT count(claude_complete('steady ' || i)) FROM generate_series(1, 3000) i;")
    for k in range(100):
        run(f"SELECT count(claude_classify('ticket {k} ' || i, ARRAY['billing', 'bug'])) FROM generate_series(1, 5) i;")
    after = rss_kb(pid)
    proc.stdin.close()
    proc.wait()
    print(f"# backend private RSS after 500 calls: {before} kB, after 4,000 more: {after} kB")
    t.ok(after - before < 1024, f"RSS grows < 1 MB over 4,000 calls in 101 statements ({after - before} kB)")

    # --- 1. valgrind on a single-user backend -----------------------------
    if shutil.which("valgrind") is None:
        t.ok(False, "valgrind is installed")
    else:
        pg.stop()
        sql = "\n".join(
            [f"SELECT claude_complete('call {i}');" for i in range(20)] +
            ["SELECT claude_invoke('{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}');",
             "SELECT claude_complete('x', model => 'no-such-model');",
             "SELECT claude_complete('one two three four', max_tokens => 2);",
             f"SET claude.endpoint = '{emu.https_url}';",
             "SET claude.max_retries = 0;",
             "SELECT claude_complete('tls without ca');",
             f"SET claude.ca_file = '{emu.ca_file}';",
             "SELECT claude_complete('tls 1');",
             "SELECT claude_complete('tls 2');"]) + "\n"
        def valgrind(env, sql, extra_args=()):
            env = dict(env, PATH=os.environ.get("PATH", "/usr/bin:/bin"), HOME=pg.home)
            prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
            argv = prefix + ["env", "-i"] + [f"{k}={v}" for k, v in env.items()] + [
                "valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                "--num-callers=40", os.path.join(harness.pg_bindir(), "postgres"), "--single",
                "-D", pg.data] + list(extra_args) + ["postgres"]
            r = subprocess.run(argv, input=sql, capture_output=True, text=True, timeout=1200)
            return r.stdout + r.stderr

        def judge(out, expected_answers, label):
            answers = out.count("You said")
            t.ok(answers == expected_answers,
                 f"{label}: all calls ran under valgrind ({answers} of {expected_answers} answers)",
                 out[-3000:])
            records = re.split(r"\n==\d+== \n", out)
            ours = [rec for rec in records if re.search(r"(in)?directly lost", rec)
                    and re.search(r"pg_claude\.so|libcurl|libssl|libcrypto|libcjson", rec)]
            t.ok(not ours, f"{label}: no memory lost from pg_claude, libcurl, OpenSSL or cJSON",
                 "\n\n".join(ours)[:4000])
            invalid = re.findall(r"==\d+== (Invalid (?:read|write|free)[^\n]*|Conditional jump[^\n]*"
                                 r"|Use of uninitialised[^\n]*)", out)
            t.ok(not invalid, f"{label}: no invalid memory access", "\n".join(invalid[:20]))

        judge(valgrind(harness.emulator_env(), sql), 24, "static keys")

        # temporary credentials: IMDSv2, then claude.role_arn through STS,
        # an expired token refreshed, and claude_credentials()
        sql2 = "\n".join(
            [f"SELECT claude_complete('imds {i}');" for i in range(5)] +
            ["SELECT provider FROM claude_credentials();",
             "SELECT claude_complete('no such profile', model => 'no-such-model');"]) + "\n"
        emu.control("identity", {"imds_enabled": True})
        out = valgrind({"AWS_EC2_METADATA_SERVICE_ENDPOINT": emu.http_url + "/",
                        "AWS_ENDPOINT_URL_STS": emu.http_url}, sql2,
                       ["-c", "claude.role_arn=arn:aws:iam::123456789012:role/pg-claude-bedrock"])
        judge(out, 5, "IMDS + AssumeRole")
        t.ok("claude.role_arn via instance metadata" in out,
             "under valgrind the role was assumed with IMDS credentials", out[-2000:])
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
