#!/usr/bin/env python3
"""The quick start, as a new user runs it (README, Quick start).

./quickstart.sh against its emulator: the demo runs, the cluster's
credentials are a profile in the server user's shared credentials file
(mode 0600, owned by the server's user, no secret in a setting or the log),
so the restart command it prints, run from a shell with no AWS variables,
keeps calls working; README's pg_cron recipe, scheduled every minute, fills
a new row and then another one inserted later; --stop leaves nothing.  A
quick start that fails (--bedrock with no credentials; --bedrock whose
first call fails after the cluster started; one interrupted with SIGTERM
while its demo runs) leaves no postmaster, no data directory, no emulator
and no profile behind.  Runs as root, as CI does (the cluster runs as
postgres)."""

import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import EMU_SECRET, REPO, Reporter, free_port, pg_cron_missing, pg_major  # noqa: E402

t = Reporter("quickstart")
QUICKSTART = os.path.join(REPO, "quickstart.sh")
BIN = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
SERVER_USER = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
CREDS = os.path.join(pwd.getpwnam(SERVER_USER).pw_dir, ".aws", "credentials")
FAKE_SECRET = "quickstart/Fake+Secret/t135EXAMPLE"
started = []   # (dir, port) of every quick start run, stopped at the end whatever happens
scratch = []   # directories of this test's own, removed at the end


def file_state(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


CREDS_BEFORE = file_state(CREDS)


def clean_env(extra=None):
    """This shell's environment without any AWS_ variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")
           and k not in ("PGHOST", "PGPORT", "PGDATABASE", "PGOPTIONS", "PG_CLAUDE_EMULATOR_URL")}
    env.update(extra or {})
    return env


def demo(tag):
    d = f"/tmp/pg_claude_t135_{tag}_{os.getpid()}"
    port = free_port()
    started.append((d, port))
    return d, port, {"PG_CLAUDE_DEMO_DIR": d, "PG_CLAUDE_DEMO_PORT": str(port)}


def quickstart(args, env, timeout=600):
    return subprocess.run([QUICKSTART] + args, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def processes_of(d):
    """Pids of processes whose command line names the demo directory."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if d + "/" in cmd or cmd.rstrip().endswith(d):
            pids.append((int(p), cmd))
    return pids


def left_nothing(label, d):
    t.ok(not os.path.exists(d), f"{label}: no demo directory (no data directory) is left", d)
    procs = processes_of(d)
    t.ok(not procs, f"{label}: no postmaster and no emulator are left", procs)
    creds = file_state(CREDS)
    t.ok(creds == CREDS_BEFORE and (creds is None or d not in creds),
         f"{label}: the server user's credentials file is as it was", repr(creds))


def psql(d, port, sql):
    r = subprocess.run([os.path.join(BIN, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                        "-h", d, "-p", str(port), "-U", "postgres", "-d", "postgres"],
                       input=sql, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout.strip(), r.stderr


def readme_cron_recipe():
    """The ```sql block after README's "Overnight, with pg_cron"."""
    text = open(os.path.join(REPO, "README.md")).read()
    at = text.find("with pg_cron")
    m = re.search(r"```sql\n(.*?)```", text[at:], re.S) if at >= 0 else None
    return m.group(1) if m else None


def cron_recipe():
    """README's pg_cron recipe, scheduled every minute, fills a row and a row
    inserted later."""
    recipe = readme_cron_recipe()
    t.ok(recipe is not None and "cron.schedule" in recipe, "README has the pg_cron recipe", recipe)
    recipe = recipe or ""
    schedule = re.search(r"cron\.schedule\('[^']*',\s*'([^']*)'", recipe)
    every_minute = recipe.replace(f"'{schedule.group(1)}'", "'* * * * *'", 1) if schedule else recipe
    rc, out, err = psql(d, port, """
    CREATE TABLE IF NOT EXISTS support_tickets (id int PRIMARY KEY, subject text, body text, label text);
    ALTER TABLE support_tickets ADD COLUMN IF NOT EXISTS label text;
    INSERT INTO support_tickets (id, subject, body) VALUES (1, 'refund', 'I was charged twice for March');
    """ + every_minute)
    t.ok(rc == 0, "the recipe runs as written (schedule: every minute)", err)

    def wait_label(pk, timeout=150):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc, out, err = psql(d, port, f"SELECT label FROM support_tickets WHERE id = {pk}")
            if rc == 0 and out:
                return out
            time.sleep(1)
        return None

    label = wait_label(1)
    t.ok(label in ("billing", "bug", "praise", "question"), "a scheduled enrichment filled the row", label)
    rc, out, err = psql(d, port, "INSERT INTO support_tickets (id, subject, body) "
                                 "VALUES (2, 'crash', 'The export page crashes on download')")
    label = wait_label(2)
    t.ok(label in ("billing", "bug", "praise", "question"),
         "a row inserted later is filled by the next scheduled run", label)
    rc, out, err = psql(d, port, "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) "
                                 "FROM cron.job_run_details")
    ok_runs, all_runs = (out.split("|") + ["", ""])[:2]
    t.ok(rc == 0 and ok_runs == all_runs and int(ok_runs or 0) >= 2,
         "every scheduled run succeeded", out + err)
    psql(d, port, "SELECT cron.unschedule(jobid) FROM cron.job")


try:
    # --- failing quick starts leave nothing half-started ----------------------
    d, port, denv = demo("nocreds")
    home = tempfile.mkdtemp(prefix="pg_claude_t135_home_")   # no ~/.aws of this shell
    scratch.append(home)
    r = quickstart(["--bedrock"], clean_env(dict(denv, HOME=home, AWS_EC2_METADATA_DISABLED="true")))
    t.ok(r.returncode != 0 and "give this shell AWS credentials" in r.stderr,
         "--bedrock without credentials fails and says what to do", r.stdout[-2000:] + r.stderr[-2000:])
    left_nothing("--bedrock without credentials", d)

    # Keys Bedrock cannot accept, and a proxy that refuses, so nothing leaves
    # this machine: the cluster starts, then the demo's first call fails.
    d, port, denv = demo("badcall")
    r = quickstart(["--bedrock"], clean_env(dict(denv, AWS_ACCESS_KEY_ID="AKIAQUICKSTARTT13500",
                                                 AWS_SECRET_ACCESS_KEY=FAKE_SECRET,
                                                 AWS_EC2_METADATA_DISABLED="true",
                                                 https_proxy="http://127.0.0.1:9",
                                                 HTTPS_PROXY="http://127.0.0.1:9")))
    out = r.stdout + r.stderr
    t.ok(r.returncode != 0 and "CREATE EXTENSION" in r.stdout and "quick start failed" in r.stderr,
         "--bedrock whose first call fails: the cluster had started, the quick start fails",
         out[-3000:])
    left_nothing("--bedrock whose first call fails", d)
    t.ok(FAKE_SECRET not in out, "--bedrock: the secret is not printed", out[-2000:])

    # Interrupted (SIGTERM to the script) once the cluster and the emulator run.
    d, port, denv = demo("term")
    p = subprocess.Popen([QUICKSTART], cwd=REPO, env=clean_env(denv), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and p.poll() is None and not (
            os.path.exists(os.path.join(d, "data", "postmaster.pid"))
            and os.path.exists(os.path.join(d, "emulator.pid"))):
        time.sleep(0.05)
    was_up = p.poll() is None and bool(processes_of(d))
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=300)
    t.ok(was_up and p.returncode == 143 and "quick start failed" in out,
         "SIGTERM while the demo runs: the quick start stops (143)", f"up={was_up} rc={p.returncode}\n{out[-2000:]}")
    left_nothing("interrupted quick start", d)

    # --- the quick start, then a restart --------------------------------------
    d, port, denv = demo("ok")
    r = quickstart([], clean_env(denv))
    t.ok(r.returncode == 0 and "You said: In one sentence" in r.stdout,
         "./quickstart.sh runs its demo against the emulator", r.stdout[-2000:] + r.stderr[-2000:])
    restart = re.search(r"^Restart it with: (.*)$", r.stdout, re.M)
    stop = re.search(r"^Stop it with: +(.*)$", r.stdout, re.M)
    t.ok(restart is not None and stop is not None and "--stop" in stop.group(1),
         "it prints how to restart and how to stop the cluster", r.stdout[-500:])

    st = os.stat(CREDS) if os.path.exists(CREDS) else None
    t.ok(st is not None and stat.S_IMODE(st.st_mode) == 0o600
         and pwd.getpwuid(st.st_uid).pw_name == SERVER_USER,
         "the credentials are in the server user's shared credentials file, mode 0600, owned by it",
         f"{CREDS}: {st}")
    conf = file_state(os.path.join(d, "data", "postgresql.conf")) or ""
    t.ok(f"claude.profile = 'pg_claude_demo_{port}'" in conf and EMU_SECRET not in conf,
         "postgresql.conf names the profile and holds no secret")

    rc, out, err = psql(d, port, "SELECT claude_complete('before the restart')")
    t.ok(rc == 0 and out == "You said: before the restart", "a call before the restart", err)

    # The printed command, from a shell that has no AWS variable at all.
    rr = subprocess.run(["bash", "-c", restart.group(1) if restart else "false"],
                        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                             "LANG": "C"}, capture_output=True, text=True, timeout=120)
    t.ok(rr.returncode == 0, "the printed restart command restarts the cluster", rr.stdout + rr.stderr)
    rc, out, err = psql(d, port, "SELECT claude_complete('after the restart')")
    t.ok(rc == 0 and out == "You said: after the restart", "after pg_ctl restart, calls still work", err)
    rc, out, err = psql(d, port, "SELECT provider FROM claude_credentials()")
    t.ok(rc == 0 and out == f"shared credentials file (profile pg_claude_demo_{port})",
         "the credentials come from the profile", out + err)
    rc, out, err = psql(d, port, "SELECT string_agg(setting, ' ') FROM pg_settings")
    log = file_state(os.path.join(d, "server.log")) or ""
    t.ok(rc == 0 and EMU_SECRET not in out and EMU_SECRET not in log,
         "no secret in a setting or the server log")

    # --- README's pg_cron recipe on the quick-start cluster -------------------
    no_cron = pg_cron_missing()
    if no_cron and pg_major() != 15:
        t.skip("README's pg_cron recipe fills rows from a schedule", no_cron)
    else:
        t.ok(not no_cron, "pg_cron is installed for the quick-start cluster", no_cron)
        cron_recipe()

    # --- --stop leaves nothing -----------------------------------------------
    r = quickstart(["--stop"], clean_env(denv), timeout=120)
    t.ok(r.returncode == 0, "--stop", r.stdout + r.stderr)
    left_nothing("--stop", d)
finally:
    for d, port in started:
        if os.path.exists(d) or (file_state(CREDS) or "").find(d) >= 0:
            quickstart(["--stop"], clean_env({"PG_CLAUDE_DEMO_DIR": d, "PG_CLAUDE_DEMO_PORT": str(port)}),
                       timeout=120)
    for d in scratch:
        shutil.rmtree(d, ignore_errors=True)

sys.exit(t.summary())
