#!/usr/bin/env python3
"""Every SQL example in README.md runs.

Each ```sql block of the README is run, in the README's order, against a
preloaded cluster and the emulator, after a prelude that creates what the
examples assume (the tables `tickets` and `support_tickets`, the login roles
they grant to).  Blocks that are signatures (`claude_x(arg type, ...)
RETURNS ...`) are not statements and are skipped; every other block must
run without error.  pg_cron's example runs when Debian's postgresql-15-cron
is installed (test/install-deps installs it)."""

import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
import subprocess  # noqa: E402
from harness import REPO, Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("readme")
work = tempfile.mkdtemp(prefix="pg_claude_t130_")
emu = Emulator(work, tls=False)
pkglib = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True).stdout.strip()
have_cron = os.path.exists(os.path.join(pkglib, "pg_cron.so"))
pg = Cluster("t130", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = '{"pg_claude,pg_cron" if have_cron else "pg_claude"}'
claude.database_name = 'postgres'
cron.database_name = 'postgres'
""")

PRELUDE = """
CREATE EXTENSION pg_claude;
CREATE ROLE alice LOGIN; CREATE ROLE etl_bob LOGIN;
CREATE ROLE data_platform_admins; CREATE ROLE data_platform_lead LOGIN;
CREATE TABLE tickets (id int PRIMARY KEY, body text);
INSERT INTO tickets VALUES (1, 'The invoice charged me twice'), (2, 'The app crashes on login');
CREATE TABLE support_tickets (id int PRIMARY KEY, customer text, subject text, body text, label text);
INSERT INTO support_tickets VALUES
    (1, 'acme', 'Invoice', 'We were charged twice for 5 seats of Pro, please refund', NULL),
    (2, 'acme', 'Login', 'Login is broken since the update, urgent', NULL),
    (3, 'globex', 'Thanks', 'Great product, the team loves it', NULL);
"""

SIGNATURE = re.compile(r"^\s*(claude_\w+|claude\.\w+)\s*\(.*(\)\s*(RETURNS|$)|,\s*$)", re.S)


def is_signature(block):
    lines = [ln for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    return bool(lines) and all(not re.match(r"^\s*(SELECT|WITH|UPDATE|INSERT|DELETE|ALTER|CREATE|GRANT|"
                                            r"REVOKE|SET|RESET|BEGIN|COMMIT|DROP)\b", ln, re.I)
                               for ln in lines) and bool(SIGNATURE.match(lines[0]))


readme = open(os.path.join(REPO, "README.md")).read()
blocks = re.findall(r"^```sql\n(.*?)^```", readme, re.S | re.M)
try:
    pg.start(env=emulator_env())
    rc, out, err = pg.psql(PRELUDE)
    t.ok(rc == 0, "prelude: the tables and roles the examples assume", err)
    ran = 0
    for i, block in enumerate(blocks):
        first = block.strip().splitlines()[0][:70]
        if is_signature(block):
            continue
        if "pg_cron" in block and not have_cron:
            t.ok(False, f"block {i} ({first}): pg_cron is not installed (test/install-deps installs it)")
            continue
        rc, out, err = pg.psql("\\set ON_ERROR_STOP 1\n" + block)
        t.ok(rc == 0 and "ERROR" not in err, f"README block {i} runs: {first}", err.strip()[:800])
        ran += 1
    t.ok(ran >= 15, f"{ran} of the README's {len(blocks)} SQL blocks ran (the rest are signatures)")
    log = pg.read_log()
    t.ok("terminated by signal" not in log, "no backend crashed")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
