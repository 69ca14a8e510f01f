"""Test harness: a throwaway PostgreSQL cluster, the Bedrock emulator, and
TAP-style reporting.

Everything here drives real processes: initdb/pg_ctl (run as the
unprivileged `postgres` user when we are root, since PostgreSQL refuses to
run as root), psql for SQL, and test/emulator/bedrock_emulator.py for
Bedrock.  Tests import this module and report with `Reporter`.
"""

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMULATOR = os.path.join(REPO, "test", "emulator", "bedrock_emulator.py")

# The emulator's default credentials (see test/emulator/bedrock_emulator.py).
EMU_AKID = "AKIAPGCLAUDEEMULATOR"
EMU_SECRET = "emulator/Secret+Key/0123456789abcdefEXAMPLE"
EMU_SESSION_AKID = "ASIAPGCLAUDESESSION1"
EMU_SESSION_SECRET = "session/Secret+Key/abcdefghijklmnopEXAMPLE"
EMU_SESSION_TOKEN = "FQoGZXIvYXdzEmulatorSessionToken/+abc="


def pg_bindir():
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def pgxs_dir():
    out = subprocess.run(["pg_config", "--pgxs"], capture_output=True, text=True, check=True)
    return os.path.dirname(os.path.dirname(out.stdout.strip()))


class Reporter:
    """Counts results and prints `ok - name` / `not ok - name` lines."""

    def __init__(self, suite):
        self.suite = suite
        self.passed = 0
        self.failed = 0

    def ok(self, cond, name, detail=""):
        if cond:
            self.passed += 1
            print(f"ok - {self.suite}: {name}", flush=True)
        else:
            self.failed += 1
            msg = f"not ok - {self.suite}: {name}"
            if detail:
                msg += "\n    # " + str(detail).replace("\n", "\n    # ")
            print(msg, flush=True)
        return cond

    def skip(self, name, reason):
        """A check that cannot run here, said so; it counts neither way."""
        print(f"ok - {self.suite}: {name} # SKIP {reason}", flush=True)

    def summary(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 0 if self.failed == 0 else 1


def quickstart_demo_lock():
    """Hold, until the process ends, the lock of the quick-start demo
    cluster (/tmp/pg_claude_demo, port 55432: fixed, as the README says), so
    that two suites on one machine (15 and 18) take turns with it."""
    import fcntl
    f = open("/tmp/pg_claude_demo.lock", "w")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def pg_major():
    """The major version of the PostgreSQL that pg_config names."""
    out = subprocess.run(["pg_config", "--version"], capture_output=True, text=True, check=True)
    return int(re.search(r"PostgreSQL (\d+)", out.stdout).group(1))


def pg_cron_missing():
    """None when pg_cron is installed for this PostgreSQL; otherwise why not.
    On 15 test/install-deps installs Debian's postgresql-15-cron, so a missing
    one there is a failure for the caller to report; on later releases there
    is no package to install on Debian 12 (and sid's pg-cron source is not
    fetchable), so the caller skips."""
    pkglib = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True,
                            check=True).stdout.strip()
    if os.path.exists(os.path.join(pkglib, "pg_cron.so")):
        return None
    major = pg_major()
    if major == 15:
        return "pg_cron is not installed (test/install-deps installs postgresql-15-cron)"
    return f"no pg_cron for PostgreSQL {major} on this machine (Debian 12 packages it for 15 only)"


def make_test_ca(workdir):
    """A CA and a server certificate for 127.0.0.1/localhost, made with the
    openssl CLI.  Returns (ca_file, cert_file, key_file)."""
    ca_key = os.path.join(workdir, "ca.key")
    ca_crt = os.path.join(workdir, "ca.crt")
    key = os.path.join(workdir, "server.key")
    csr = os.path.join(workdir, "server.csr")
    crt = os.path.join(workdir, "server.crt")
    ext = os.path.join(workdir, "server.ext")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=pg_claude test CA", "-keyout", ca_key, "-out", ca_crt)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", key, "-out", csr)
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
        "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt)
    for p in (ca_crt, crt, key):
        os.chmod(p, 0o644)
    return ca_crt, crt, key


class Emulator:
    """The Bedrock emulator as a subprocess, on free loopback ports."""

    def __init__(self, workdir, tls=True, extra_args=()):
        self.workdir = workdir
        self.ca_file = None
        os.chmod(workdir, 0o755)  # the server (another user) reads the CA file
        args = [sys.executable, EMULATOR, "--port", "0",
                "--log", os.path.join(workdir, "emulator.log")]
        if tls:
            self.ca_file, crt, key = make_test_ca(workdir)
            args += ["--tls-port", "0", "--tls-cert", crt, "--tls-key", key]
        args += list(extra_args)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("ready"):
            raise RuntimeError("emulator did not start: " + line + self.proc.stdout.read())
        fields = dict(kv.split("=") for kv in line.split()[1:])
        self.http_port = int(fields["http"])
        self.https_port = int(fields.get("https", "0") or 0)
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        self.https_url = f"https://127.0.0.1:{self.https_port}" if self.https_port else None

    def control(self, path, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.http_url + "/_emulator/" + path, data=data,
                                     method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else {}

    def stats(self):
        return self.control("stats")

    def reset(self):
        return self.control("reset", {})

    def fault(self, **kw):
        return self.control("faults", kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Cluster:
    """A throwaway PostgreSQL cluster under /tmp, owned by an unprivileged
    user, reachable on a Unix socket in its own directory."""

    def __init__(self, name, port, conf="", env=None):
        self.base = tempfile.mkdtemp(prefix=f"pg_claude_{name}_", dir="/tmp")
        self.data = os.path.join(self.base, "data")
        self.home = os.path.join(self.base, "home")
        self.log = os.path.join(self.base, "server.log")
        self.port = port
        self.bindir = pg_bindir()
        self.run_as = None
        if os.geteuid() == 0:
            self.run_as = "postgres"
            pw = pwd.getpwnam("postgres")
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
        os.makedirs(self.home, exist_ok=True)
        if self.run_as:
            os.chown(self.home, pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)
        self.env = env or {}
        self._as_owner([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres",
                        "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"], check=True)
        self.append_conf(f"""
port = {port}
listen_addresses = ''
unix_socket_directories = '{self.base}'
fsync = off
log_line_prefix = '%m [%p] %q%u@%d '
lc_messages = 'C'
{conf}
""")

    def _as_owner(self, argv, check=False, env=None):
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home,
                    "LANG": "C", "LC_ALL": "C"}
        full_env.update(env or {})
        if self.run_as:
            argv = ["runuser", "-u", self.run_as, "--"] + ["env", "-i"] + \
                   [f"{k}={v}" for k, v in full_env.items()] + argv
            return subprocess.run(argv, capture_output=True, text=True, check=check)
        return subprocess.run(argv, capture_output=True, text=True, check=check, env=full_env)

    def append_conf(self, text):
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(text + "\n")

    def start(self, env=None):
        if env is not None:
            self.env = env
        r = self._as_owner([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", self.log,
                            "-w", "-t", "60", "start"], env=self.env)
        if r.returncode != 0:
            raise RuntimeError("pg_ctl start failed: " + r.stdout + r.stderr + self.read_log())

    def stop(self, mode="fast"):
        self._as_owner([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", mode,
                        "-w", "stop"])

    def restart(self, env=None):
        self.stop()
        self.start(env)

    def read_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def psql_argv(self, db="postgres", user="postgres"):
        return [os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", self.base, "-p", str(self.port), "-U", user, "-d", db]

    def psql(self, sql, db="postgres", user="postgres", timeout=120):
        """Run SQL; returns (returncode, stdout stripped, stderr)."""
        r = subprocess.run(self.psql_argv(db, user), input=sql, capture_output=True,
                           text=True, timeout=timeout)
        return r.returncode, r.stdout.strip(), r.stderr

    def query(self, sql, db="postgres", user="postgres"):
        rc, out, err = self.psql(sql, db, user)
        if rc != 0:
            raise RuntimeError(f"query failed: {sql}\n{err}")
        return out

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


def installcheck(cluster, user="postgres", timeout=600):
    """`make installcheck` against a running cluster, as a user of it would
    run it: PGHOST, PGPORT and PGUSER in the environment, nothing else
    configured (make installcheck starts the emulator itself).  Returns the
    CompletedProcess."""
    env = dict(os.environ, PGHOST=cluster.base, PGPORT=str(cluster.port), PGUSER=user)
    for k in list(env):
        if k.startswith("AWS_") or k in ("PGDATABASE", "PGOPTIONS", "PG_CLAUDE_EMULATOR_URL"):
            del env[k]
    return subprocess.run(["make", "-s", "installcheck"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def regress_results(output):
    """(passed, failed) test counts from pg_regress's output (15's
    "test NAME ... ok" lines and 16's TAP "ok N - NAME" lines)."""
    passed = failed = 0
    for line in output.splitlines():
        m = re.match(r"^\s*(?:test\s+)?\S+\s+\.\.\.\s+(ok|FAILED|failed)\b", line) or \
            re.match(r"^(ok|not ok)\s+\d+\s+[-+]\s+\S+", line)
        if m:
            if m.group(1) == "ok":
                passed += 1
            else:
                failed += 1
    return passed, failed


def emulator_env(akid=EMU_AKID, secret=EMU_SECRET, token=None):
    env = {"AWS_ACCESS_KEY_ID": akid, "AWS_SECRET_ACCESS_KEY": secret}
    if token:
        env["AWS_SESSION_TOKEN"] = token
    return env


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
