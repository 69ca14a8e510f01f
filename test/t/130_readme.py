#!/usr/bin/env python3
"""Every example in README.md runs as written.

The README's Quick start block (```sh, `./quickstart.sh`) runs first: it
builds, installs and starts the quick-start cluster and the Bedrock
emulator, and every other example runs on that cluster (the README says
so).  Then every ```sql and ```sh block runs in the README's order, nothing
added before or between them: the examples create the tables and roles
they use.  SQL blocks go to the cluster through the `psql -h ... -p ... -U
...` the README says to connect with, with ON_ERROR_STOP; shell blocks run
with `bash -e` from the repository root.  A block fails the test when it
fails.

Not run, and reported as skipped:
  - SQL blocks that are signatures (`claude_x(arg type, ...) RETURNS ...`),
    not statements;
  - shell blocks whose first line is `# needs AWS` (real AWS credentials
    and Bedrock access, which a test machine does not have);
  - shell blocks whose first line is `# runs the test suite` (this test is
    part of it);
  - the pg_cron recipe on a PostgreSQL other than 15, for which Debian 12
    has no pg_cron (on 15 a missing pg_cron fails it).
Blocks without a language (diagrams, error output) are not examples.

The quick-start cluster lives in /tmp/pg_claude_demo (port 55432): a demo
cluster running there is replaced, and `./quickstart.sh --stop` removes it
at the end.  Needs root (or sudo), as the quick start does."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import REPO, Reporter, pg_bindir, pg_cron_missing, pg_major, quickstart_demo_lock  # noqa: E402

t = Reporter("readme")
demo_lock = quickstart_demo_lock()   # the demo cluster is one per machine
SKIP_MARKS = ("# needs AWS", "# runs the test suite")
USES_CRON = re.compile(r"cron\.schedule|CREATE EXTENSION[^;]*pg_cron", re.I)
SIGNATURE = re.compile(r"^\s*(claude_\w+|claude\.\w+)\s*\(.*(\)\s*(RETURNS|$)|,\s*$)", re.S)
STATEMENT = re.compile(r"^\s*(SELECT|WITH|UPDATE|INSERT|DELETE|ALTER|CREATE|GRANT|REVOKE|SET|RESET|"
                       r"BEGIN|COMMIT|DROP)\b", re.I)


def is_signature(block):
    lines = [ln for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    return bool(lines) and all(not STATEMENT.match(ln) for ln in lines) and bool(SIGNATURE.match(lines[0]))


def sh(script, timeout=1800):
    r = subprocess.run(["bash", "-e", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


readme = open(os.path.join(REPO, "README.md")).read()
blocks = [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", readme, re.S | re.M)]
connect = re.search(r"psql -h (\S+) -p (\d+) -U (\w+)", readme)
quick = [i for i, (lang, body) in enumerate(blocks) if lang == "sh" and body.lstrip().startswith("./quickstart.sh")]
t.ok(connect is not None, "the README says how to connect to the quick-start cluster (psql -h ... -p ... -U ...)")
t.ok(len(quick) == 1, "the README has one Quick start block (./quickstart.sh)", quick)
psql = [os.path.join(pg_bindir(), "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-h", connect.group(1), "-p", connect.group(2),
        "-U", connect.group(3), "-d", "postgres"] if connect else None

no_cron = pg_cron_missing()
try:
    rc, out, err = sh(blocks[quick[0]][1])
    t.ok(rc == 0, "the Quick start block runs: " + blocks[quick[0]][1].strip().splitlines()[0][:60],
         (out + err)[-3000:])
    counts = {"sql": 0, "sh": 0, "signature": 0, "needs AWS / test suite": 0}
    for i, (lang, body) in enumerate(blocks):
        if i == quick[0] or lang not in ("sql", "sh"):
            continue
        first = body.strip().splitlines()[0][:70] if body.strip() else ""
        if lang == "sql" and is_signature(body):
            counts["signature"] += 1
            continue
        if lang == "sh" and first.startswith(SKIP_MARKS):
            counts["needs AWS / test suite"] += 1
            print(f"ok - readme: block {i} skipped ({first})", flush=True)
            continue
        if USES_CRON.search(body) and no_cron and pg_major() != 15:
            t.skip(f"README block {i} ({lang}): {first}", no_cron)
            continue
        if lang == "sql":
            r = subprocess.run(psql, input=body, capture_output=True, text=True, timeout=600)
            rc, out, err = r.returncode, r.stdout, r.stderr
        else:
            rc, out, err = sh(body)
        counts[lang] += 1
        t.ok(rc == 0 and "ERROR" not in err, f"README block {i} ({lang}) runs as written: {first}",
             (err or out).strip()[-1500:])
    t.ok(counts["sql"] >= 20, f"every example ran: {counts}")
    log = sh("cat " + os.path.join(connect.group(1), "server.log") + " 2>/dev/null || true")[1] if connect else ""
    t.ok("terminated by signal" not in log, "no backend of the quick-start cluster crashed")
finally:
    sh("./quickstart.sh --stop")

sys.exit(t.summary())
