#!/usr/bin/env python3
"""PGXS conventions: `make installcheck` passes against a running server that
has nothing configured for pg_claude, preloaded or not, and leaves it as it
found it; `make`, `make install` and `make test` install no system package;
test/unit reads nothing outside the repository.

Each server is a fresh cluster (test/lib/harness.py: initdb as postgres
under /tmp), started with an empty environment: no AWS variable, no
claude.* setting.  `make installcheck` runs as a user would run it, with
PGHOST, PGPORT and PGUSER; it starts the Bedrock emulator and stops it.
The last cluster stands for a server that is in use: keys of its own in
its environment (that the emulator does not know), a shared credentials
file of its own, and what an interrupted run left behind."""

import os
import re
import socket
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import REPO, Cluster, Reporter, free_port, installcheck, regress_results  # noqa: E402

t = Reporter("installcheck")
REGRESS = re.search(r"^REGRESS\s*=\s*(.*)$", open(os.path.join(REPO, "Makefile")).read(), re.M).group(1).split()


def port_open(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def check_run(pg, label):
    """make installcheck passes and stops its emulator."""
    r = installcheck(pg)
    out = r.stdout + r.stderr
    passed, failed = regress_results(r.stdout)
    diffs = ""
    if r.returncode != 0 and os.path.exists(os.path.join(REPO, "regression.diffs")):
        diffs = open(os.path.join(REPO, "regression.diffs")).read()[:6000]
    t.ok(r.returncode == 0 and passed == len(REGRESS) and failed == 0,
         f"{label}: make installcheck passes ({passed} of {len(REGRESS)} tests)", out[-3000:] + diffs)
    m = re.search(r"bedrock emulator: http://127\.0\.0\.1:(\d+)", out)
    t.ok(m is not None and "bedrock emulator: stopped" in out and not port_open(int(m.group(1))),
         f"{label}: it started the emulator and stopped it", out[-1500:])


def check_left_clean(pg, label, credentials_file, expect_content=None):
    """What sql/setup.sql changed is undone."""
    rc, out, err = pg.psql("LOAD 'pg_claude'; SELECT setting || '|' || source FROM pg_settings "
                           "WHERE name = 'claude.profile'")
    t.ok(rc == 0 and out == "|default", f"{label}: claude.profile is back to its default", out + err)
    roles = pg.query("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'regress\\_claude\\_%'")
    t.ok(roles == "0", f"{label}: no regress_claude_ role is left", roles)
    dbset = pg.query("SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                     "WHERE d.datname = 'contrib_regression' AND array_to_string(s.setconfig, ',') LIKE '%claude.%'")
    t.ok(dbset == "0", f"{label}: contrib_regression has no claude.* setting left", dbset)
    if expect_content is None:
        t.ok(not os.path.exists(credentials_file) and not os.path.exists(os.path.dirname(credentials_file)),
             f"{label}: the credentials file it made is gone", credentials_file)
    else:
        content = open(credentials_file).read() if os.path.exists(credentials_file) else None
        t.ok(content == expect_content, f"{label}: the server's own credentials file is as it was",
             repr(content))


# --- a fresh server, pg_claude not preloaded ------------------------------
pg = Cluster("t150", free_port())
try:
    pg.start(env={})
    check_run(pg, "not preloaded")
    check_left_clean(pg, "not preloaded", os.path.join(pg.home, ".aws", "credentials"))
finally:
    pg.destroy()

# --- a fresh server, pg_claude preloaded ----------------------------------
pg = Cluster("t150p", free_port(), conf="shared_preload_libraries = 'pg_claude'\n")
try:
    pg.start(env={})
    t.ok(pg.query("SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pg_claude%'") != "0",
         "preloaded: the pg_claude worker runs")
    check_run(pg, "preloaded")
    check_left_clean(pg, "preloaded", os.path.join(pg.home, ".aws", "credentials"))
finally:
    pg.destroy()

# --- a server in use: its own keys, its own file, an interrupted run --------
pg = Cluster("t150u", free_port(), conf="shared_preload_libraries = 'pg_claude'\n")
try:
    own = os.path.join(pg.base, "own-credentials")
    mine = "# the operator's\n[default]\naws_access_key_id = AKIAOPERATOROWNKEY00\n" \
           "aws_secret_access_key = operator/own/secret"          # no final newline
    stale = "\n# pg_claude installcheck: begin (left by an interrupted run)\n" \
            "[pg_claude_installcheck]\naws_access_key_id = AKIASTALE\n# pg_claude installcheck: end\n"
    with open(own, "w") as f:
        f.write(mine + stale)
    os.chmod(own, 0o640)
    if pg.run_as:
        import pwd
        pw = pwd.getpwnam(pg.run_as)
        os.chown(own, pw.pw_uid, pw.pw_gid)
    pg.start(env={"AWS_ACCESS_KEY_ID": "AKIAOPERATOROWNKEY00", "AWS_SECRET_ACCESS_KEY": "operator/own/secret",
                  "AWS_SHARED_CREDENTIALS_FILE": own})
    pg.query("CREATE ROLE regress_claude_analyst; "
             "GRANT SET ON PARAMETER claude.region TO regress_claude_analyst; "
             "ALTER SYSTEM SET claude.profile = 'pg_claude_installcheck'; SELECT pg_reload_conf()")
    check_run(pg, "in use")
    check_left_clean(pg, "in use", own, expect_content=mine + "\n")
    t.ok(stat.S_IMODE(os.stat(own).st_mode) == 0o640, "in use: the file keeps its mode",
         oct(os.stat(own).st_mode))
    check_run(pg, "in use, run again")
    check_left_clean(pg, "in use, run again", own, expect_content=mine + "\n")
finally:
    pg.destroy()

# --- no system packages from make; nothing outside the repository in test/unit ---
for target in ("all", "install", "installcheck", "test"):
    r = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True)
    t.ok(r.returncode == 0 and not re.search(r"apt-get|apt |dpkg -i|install-deps(?! --check)", r.stdout),
         f"make {target} installs no system package (make -n)", r.stdout[-1500:] + r.stderr)
run = open(os.path.join(REPO, "test", "run")).read()
code = "\n".join(ln for ln in run.splitlines() if not ln.lstrip().startswith("#"))
t.ok("apt-get" not in code and re.search(r"^\s*(sudo\s+)?test/install-deps(?!\s+--check)", code, re.M) is None,
     "test/run (make test) only checks the packages (install-deps --check)")
r = subprocess.run(["make", "-n", "-C", "test/unit", "check"], cwd=REPO, capture_output=True, text=True)
t.ok(r.returncode == 0 and "../" not in r.stdout.replace("../../src", "") and "vectors/aws-sigv4-testsuite/" in r.stdout,
     "test/unit check reads its vectors from test/unit/vectors only", r.stdout)

sys.exit(t.summary())
