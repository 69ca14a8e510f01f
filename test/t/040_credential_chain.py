#!/usr/bin/env python3
"""The full credential chain against the emulator's IMDSv2, container and
STS endpoints: each provider alone, role assumption, the fallback order,
refresh before expiry, refresh after an expired-token answer, the shared
cache (no stampede), Bedrock API keys, and the all-fail error."""

import os
import pwd
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import (EMU_AKID, EMU_SECRET, Cluster, Emulator, Reporter,  # noqa: E402
                     emulator_env, free_port)

ROLE = "arn:aws:iam::123456789012:role/pg-claude-bedrock"
EXTERNAL_ROLE = "arn:aws:iam::123456789012:role/pg-claude-external"
EXTERNAL_ID = "pgc-external-42"
WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.pg-claude-test-web-identity.sig"
CONTAINER_TOKEN = "container-auth-token-for-tests"
API_KEY = "bedrock-api-key-emulator-0123456789"

t = Reporter("credential chain")
work = tempfile.mkdtemp(prefix="pg_claude_t040_")
emu = Emulator(work, tls=False)
pg = Cluster("t040", free_port(), conf=f"claude.endpoint = '{emu.http_url}'\nclaude.max_retries = 0")
owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
NO_IMDS = {"AWS_EC2_METADATA_DISABLED": "true"}
IMDS = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": emu.http_url + "/"}
STS = {"AWS_ENDPOINT_URL_STS": emu.http_url}


def write_owned(path, text, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    if owner:
        os.chown(os.path.dirname(path), owner.pw_uid, owner.pw_gid)
        os.chown(path, owner.pw_uid, owner.pw_gid)
    os.chmod(path, mode)


def call(prompt="hello", extra=""):
    rc, out, err = pg.psql("\\set VERBOSITY verbose\n" + extra +
                           f"SELECT claude_complete('{prompt}')")
    state = None
    for line in err.splitlines():
        if line.startswith("ERROR:"):
            state = line.split()[1].rstrip(":")
    return rc, out, state, err


def creds():
    out = pg.query("SELECT provider || '|' || auth || '|' || coalesce(access_key_id, '') || '|' || "
                   "coalesce(role_arn, '') || '|' || coalesce(expiration::text, '') || '|' || shared_cache "
                   "FROM claude_credentials()")
    return out.split("|")


class Session:
    """One backend for several statements (caches are per backend)."""

    def __init__(self):
        self.proc = subprocess.Popen(pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def run(self, sql):
        self.proc.stdin.write(sql.rstrip(";") + ";\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self):
        self.proc.stdin.close()
        err = self.proc.stderr.read()
        self.proc.wait()
        return err


def last_request():
    reqs = emu.control("requests?n=1")
    reqs = reqs.get("requests", reqs) if isinstance(reqs, dict) else reqs
    return reqs[-1] if reqs else {}


def stats():
    return emu.stats()


def fresh(env, conf_lines=()):
    emu.reset()
    emu.control("identity", {"imds_enabled": True, "credential_lifetime_s": 21600,
                             "container_token": None})
    pg.stop()
    with open(os.path.join(pg.data, "postgresql.auto.conf"), "w") as f:
        f.write("\n".join(conf_lines) + "\n")
    pg.start(env=env)


try:
    pg.start(env=NO_IMDS)
    pg.query("CREATE EXTENSION pg_claude")

    # --- each provider alone ------------------------------------------------
    fresh(IMDS)
    rc, out, state, err = call("via imds")
    st = stats()
    c = creds()
    t.ok(rc == 0 and out == "You said: via imds", "IMDSv2 alone: answered", err)
    t.ok(c[0].startswith("instance metadata") and c[3] == "pg-claude-ec2-role" and c[4] != "",
         "claude_credentials() names IMDS, the role and the expiry", c)
    t.ok(c[2].startswith("ASIA") and "*" in c[2] and len(c[2]) == 20, "the access key id is masked", c[2])
    t.ok(st.get("imds_token", 0) >= 1 and st.get("imds_credentials", 0) == 1,
         "IMDSv2: token, then credentials, fetched once", st)
    t.ok(last_request().get("issued_by", "").startswith("imds"), "Bedrock saw IMDS-issued credentials",
         last_request())

    emu.control("identity", {"container_token": CONTAINER_TOKEN})
    container_env = {**NO_IMDS, "AWS_CONTAINER_CREDENTIALS_FULL_URI": emu.http_url + "/v2/credentials/pgc",
                     "AWS_CONTAINER_AUTHORIZATION_TOKEN": CONTAINER_TOKEN}
    fresh(container_env)
    emu.control("identity", {"container_token": CONTAINER_TOKEN})
    rc, out, state, err = call("via container")
    st = stats()
    t.ok(rc == 0 and out == "You said: via container" and creds()[0].startswith("container"),
         "container credentials (full URI + authorization token)", err)
    t.ok(st.get("container", 0) == 1, "container endpoint called once", st)

    token_file = os.path.join(pg.base, "tokens", "container-token")
    write_owned(token_file, CONTAINER_TOKEN)
    env = dict(container_env)
    del env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = token_file
    fresh(env)
    emu.control("identity", {"container_token": CONTAINER_TOKEN})
    rc, out, state, err = call("via container file")
    t.ok(rc == 0 and out == "You said: via container file", "container authorization token from a file", err)

    env = dict(container_env, AWS_CONTAINER_AUTHORIZATION_TOKEN="wrong-token")
    fresh(env)
    emu.control("identity", {"container_token": CONTAINER_TOKEN})
    rc, out, state, err = call("bad container token")
    t.ok(state == "28000" and "container" in err and CONTAINER_TOKEN not in err and "wrong-token" not in err,
         "a refused container token: 28000, token not shown", err)

    env = {**NO_IMDS, "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://example.com/creds"}
    fresh(env)
    rc, out, state, err = call("remote container uri")
    t.ok(state == "28000" and "refusing container credentials" in err,
         "a plain-http container URI off loopback is refused", err)

    web_file = os.path.join(pg.base, "tokens", "web-identity")
    write_owned(web_file, WEB_TOKEN)
    fresh({**NO_IMDS, **STS, "AWS_WEB_IDENTITY_TOKEN_FILE": web_file, "AWS_ROLE_ARN": ROLE,
           "AWS_ROLE_SESSION_NAME": "pgc-irsa"})
    rc, out, state, err = call("via web identity")
    st = stats()
    lr = last_request()
    c = creds()
    t.ok(rc == 0 and out == "You said: via web identity" and c[0].startswith("web identity") and c[3] == ROLE,
         "web identity (IRSA): AssumeRoleWithWebIdentity", (err, c))
    t.ok(st.get("sts_web_identity", 0) == 1 and "WebIdentity" in lr.get("issued_by", ""),
         "STS issued the credentials Bedrock saw", (st, lr))

    write_owned(web_file, "not-the-token")
    fresh({**NO_IMDS, **STS, "AWS_WEB_IDENTITY_TOKEN_FILE": web_file, "AWS_ROLE_ARN": ROLE})
    rc, out, state, err = call("bad web identity")
    t.ok(state == "28000" and "InvalidIdentityToken" in err and "not-the-token" not in err,
         "a refused web identity token: 28000 with the STS code", err)
    write_owned(web_file, WEB_TOKEN)

    # --- role assumption ------------------------------------------------------
    fresh({**NO_IMDS, **STS, **emulator_env()},
          [f"claude.role_arn = '{ROLE}'", "claude.role_session_name = 'pgc-db'"])
    rc, out, state, err = call("as role")
    st = stats()
    lr = last_request()
    c = creds()
    t.ok(rc == 0 and out == "You said: as role" and c[3] == ROLE and c[0].startswith("claude.role_arn via environment"),
         "claude.role_arn: AssumeRole signed with the environment's keys", (err, c))
    t.ok("AssumeRole" in lr.get("issued_by", "") and "pgc-db" in lr.get("issued_by", "")
         and lr.get("access_key_id", "") != EMU_AKID,
         "Bedrock was called with the assumed role's credentials", lr)
    t.ok(st.get("sts_assume_role", 0) == 1, "one AssumeRole", st)

    fresh({**NO_IMDS, **STS, **emulator_env()}, [f"claude.role_arn = '{EXTERNAL_ROLE}'"])
    rc, out, state, err = call("no external id")
    t.ok(state == "28000" and "AccessDenied" in err, "a role that needs an external id refuses without it", err)
    fresh({**NO_IMDS, **STS, **emulator_env()},
          [f"claude.role_arn = '{EXTERNAL_ROLE}'", f"claude.role_external_id = '{EXTERNAL_ID}'"])
    rc, out, state, err = call("with external id")
    t.ok(rc == 0 and out == "You said: with external id", "claude.role_external_id is passed", err)

    conf_file = os.path.join(pg.base, "aws", "config")
    write_owned(conf_file, f"""[profile base]
aws_access_key_id = {EMU_AKID}
aws_secret_access_key = {EMU_SECRET}

[profile app]
role_arn = {EXTERNAL_ROLE}
source_profile = base
external_id = {EXTERNAL_ID}
role_session_name = pgc-profile
""")
    fresh({**NO_IMDS, **STS, "AWS_CONFIG_FILE": conf_file, "AWS_PROFILE": "app",
           "AWS_SHARED_CREDENTIALS_FILE": os.path.join(pg.base, "none")})
    rc, out, state, err = call("profile role")
    c = creds()
    t.ok(rc == 0 and out == "You said: profile role" and c[3] == EXTERNAL_ROLE and "assume role" in c[0],
         "profile role_arn + source_profile + external_id", (err, c))

    proc_script = os.path.join(pg.base, "aws", "cred-proc.sh")
    write_owned(proc_script, "#!/bin/sh\n"
                f"echo '{{\"Version\": 1, \"AccessKeyId\": \"{EMU_AKID}\", \"SecretAccessKey\": \"{EMU_SECRET}\"}}'\n",
                mode=0o700)
    write_owned(conf_file, f"[profile proc]\ncredential_process = {proc_script}\n")
    fresh({**NO_IMDS, "AWS_CONFIG_FILE": conf_file, "AWS_PROFILE": "proc",
           "AWS_SHARED_CREDENTIALS_FILE": os.path.join(pg.base, "none")})
    rc, out, state, err = call("via process")
    t.ok(rc == 0 and out == "You said: via process" and creds()[0].startswith("credential_process"),
         "credential_process", err)

    # its stderr may hold secrets: counted, never copied into the log or the error
    leak = "AWS_SECRET_ACCESS_KEY=leaked/Stderr+Secret0123456789EXAMPLE"
    write_owned(proc_script, "#!/bin/sh\n"
                f"echo 'debug: {leak}' >&2\n"
                f"echo '{{\"Version\": 1, \"AccessKeyId\": \"{EMU_AKID}\", \"SecretAccessKey\": \"{EMU_SECRET}\"}}'\n",
                mode=0o700)
    fresh({**NO_IMDS, "AWS_CONFIG_FILE": conf_file, "AWS_PROFILE": "proc",
           "AWS_SHARED_CREDENTIALS_FILE": os.path.join(pg.base, "none")})
    rc, out, state, err = call("chatty process")
    log = pg.read_log()
    t.ok(rc == 0 and out == "You said: chatty process" and leak not in log and "leaked/Stderr" not in log
         and "wrote 67 bytes to stderr" in log,
         "credential_process stderr: only its length is logged, never its text",
         (err, [l for l in log.splitlines() if "stderr" in l or "leaked" in l]))
    write_owned(proc_script, "#!/bin/sh\n"
                + "".join(f"echo 'line {i}: {leak}' >&2\n" for i in range(2000))
                + "exit 3\n", mode=0o700)
    fresh({**NO_IMDS, "AWS_CONFIG_FILE": conf_file, "AWS_PROFILE": "proc",
           "AWS_SHARED_CREDENTIALS_FILE": os.path.join(pg.base, "none")})
    rc, out, state, err = call("failing chatty process")
    log = pg.read_log()
    t.ok(rc != 0 and state == "28000" and "bytes to stderr" in err and "leaked/Stderr" not in err
         and "leaked/Stderr" not in log,
         "a failing credential_process that floods stderr: no hang, no secret in the error or the log",
         (err, [l for l in log.splitlines() if "leaked" in l][:3]))

    # --- order ----------------------------------------------------------------
    fresh({**IMDS, **emulator_env()})
    rc, out, state, err = call("env first")
    t.ok(rc == 0 and creds()[0] == "environment" and stats().get("imds_credentials", 0) == 0,
         "environment wins over instance metadata, which is not even asked", stats())
    fresh({**IMDS, "AWS_CONTAINER_CREDENTIALS_FULL_URI": emu.http_url + "/v2/credentials/pgc"})
    rc, out, state, err = call("container before imds")
    t.ok(rc == 0 and creds()[0].startswith("container") and stats().get("imds_credentials", 0) == 0,
         "container wins over instance metadata", stats())
    fresh({**IMDS, "AWS_WEB_IDENTITY_TOKEN_FILE": web_file, "AWS_ROLE_ARN": ROLE, **STS,
           "AWS_CONTAINER_CREDENTIALS_FULL_URI": emu.http_url + "/v2/credentials/pgc"})
    rc, out, state, err = call("web identity before container")
    t.ok(rc == 0 and creds()[0].startswith("web identity") and stats().get("container", 0) == 0,
         "web identity wins over container", stats())

    dead = f"http://127.0.0.1:{free_port()}/"
    fresh({"AWS_EC2_METADATA_SERVICE_ENDPOINT": dead})
    rc, out, state, err = call("nothing")
    t.ok(state == "28000" and "no AWS credentials found" in err and all(
        p in err for p in ("environment:", "assume role:", "web identity:", "shared credentials file",
                           "credential_process:", "config file", "container:", "instance metadata")),
         "all fail: the error lists every provider and why", err)

    # --- refresh ----------------------------------------------------------------
    fresh(IMDS)
    emu.control("identity", {"credential_lifetime_s": 302})
    sess = Session()
    sess.run("SELECT claude_complete('first')")
    sess.run("SELECT claude_complete('second')")
    n1 = stats().get("imds_credentials", 0)
    sess.run("SELECT pg_sleep(2.5)")
    third = sess.run("SELECT claude_complete('third')")
    n2 = stats().get("imds_credentials", 0)
    sess.close()
    t.ok(n1 == 1 and n2 == 2 and third == "You said: third",
         "credentials are refreshed 5 minutes before they expire, not after", (n1, n2, third))

    fresh(IMDS)
    sess = Session()
    sess.run("SELECT claude_complete('before expiry')")
    emu.control("identity", {"expire_issued": True})
    before = stats()
    out = sess.run("SELECT claude_complete('after expiry')")
    after = stats()
    err = sess.close()
    t.ok(out == "You said: after expiry", "an expired token is refreshed and retried once", err)
    t.ok(after["requests"] - before["requests"] == 2 and
         after.get("by_status", {}).get("403", 0) - before.get("by_status", {}).get("403", 0) == 1 and
         after.get("imds_credentials", 0) - before.get("imds_credentials", 0) == 1,
         "exactly one refused attempt and one refresh", (before, after))

    # --- shared cache: no stampede ---------------------------------------------
    pg.append_conf("shared_preload_libraries = 'pg_claude'")
    fresh(IMDS)
    procs = [subprocess.Popen(pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    for i, p in enumerate(procs):
        p.stdin.write(f"SELECT claude_complete('backend {i}');\n")
        p.stdin.flush()
    outs = [p.communicate()[0].strip() for p in procs]
    st = stats()
    t.ok(all(o.startswith("You said: backend") for o in outs), "8 concurrent backends answered", outs)
    t.ok(st.get("imds_credentials", 0) == 1, "8 backends, one IMDS credential fetch (shared cache)", st)
    t.ok(creds()[5] == "true", "claude_credentials() reports the shared cache", creds())

    # --- Bedrock API key ----------------------------------------------------------
    fresh({**NO_IMDS, **emulator_env(), "AWS_BEARER_TOKEN_BEDROCK": API_KEY})
    rc, out, state, err = call("bearer")
    lr = last_request()
    t.ok(rc == 0 and out == "You said: bearer" and lr.get("auth_type", lr.get("auth", "")) == "bearer",
         "AWS_BEARER_TOKEN_BEDROCK wins over SigV4 credentials", (err, lr))
    t.ok(creds()[1] == "bearer" and API_KEY not in "|".join(creds()), "claude_credentials() shows bearer, not the key")
    fresh({**NO_IMDS, "AWS_BEARER_TOKEN_BEDROCK": "bedrock-api-key-unknown"})
    rc, out, state, err = call("bad bearer")
    t.ok(state is not None and "bedrock-api-key-unknown" not in err, "an unknown API key is refused, not echoed", err)

    # --- secrets never shown ------------------------------------------------------------
    log = pg.read_log()
    settings = pg.query("SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name LIKE 'claude.%'")
    leaked = [s for s in (EMU_SECRET, WEB_TOKEN, CONTAINER_TOKEN, API_KEY) if s in log or s in settings]
    t.ok(not leaked, "no secret, token or API key in the server log or pg_settings", leaked)
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
