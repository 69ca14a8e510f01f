#!/usr/bin/env python3
"""Credentials, first cut: the postmaster's environment and the shared
credentials/config files, the error when nothing is found, and that no
secret ever reaches the log, pg_settings or an error."""

import os
import pwd
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import (EMU_AKID, EMU_SECRET, EMU_SESSION_AKID, EMU_SESSION_SECRET,  # noqa: E402
                     EMU_SESSION_TOKEN, Cluster, Emulator, Reporter, emulator_env, free_port)

t = Reporter("credentials")
work = tempfile.mkdtemp(prefix="pg_claude_t020_")
emu = Emulator(work, tls=False)
pg = Cluster("t020", free_port(), conf=f"claude.endpoint = '{emu.http_url}'\nclaude.max_retries = 0")
owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None


def write_owned(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    if owner:
        os.chown(os.path.dirname(path), owner.pw_uid, owner.pw_gid)
        os.chown(path, owner.pw_uid, owner.pw_gid)
    os.chmod(path, 0o600)


def call(prompt="hello"):
    rc, out, err = pg.psql("\\set VERBOSITY verbose\nSELECT claude_complete('%s')" % prompt)
    state = None
    for line in err.splitlines():
        if line.startswith("ERROR:"):
            state = line.split()[1].rstrip(":")
    return rc, out, state, err


try:
    # IMDS is disabled wherever a test expects "nothing found", so the
    # result cannot depend on whether the test machine is an EC2 instance
    NO_IMDS = {"AWS_EC2_METADATA_DISABLED": "true"}
    pg.start(env=NO_IMDS)
    pg.query("CREATE EXTENSION pg_claude")

    rc, out, state, err = call()
    t.ok(state == "28000" and "no AWS credentials found" in err, "no credentials: 28000", err)
    t.ok("environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set" in err
         and "shared credentials file" in err and "config file" in err,
         "the error lists every provider tried and why", err)
    t.ok("HINT:" in err and "AWS_SHARED_CREDENTIALS_FILE" in err, "the hint says what was looked for", err)
    t.ok(emu.stats()["requests"] == 0, "nothing was sent without credentials")

    pg.restart(env=dict(NO_IMDS, AWS_ACCESS_KEY_ID=EMU_AKID))
    rc, out, state, err = call()
    t.ok(state == "28000" and "partial AWS credentials" in err and EMU_AKID not in err,
         "half a key pair: 28000, naming the missing variable only", err)

    pg.restart(env=emulator_env())
    rc, out, state, err = call("from env")
    t.ok(rc == 0 and out == "You said: from env", "environment credentials", err)

    pg.restart(env=emulator_env(EMU_SESSION_AKID, EMU_SESSION_SECRET, EMU_SESSION_TOKEN))
    rc, out, state, err = call("with token")
    t.ok(rc == 0 and out == "You said: with token", "environment session credentials carry the token", err)
    last = emu.control("requests?n=1")
    t.ok(EMU_SESSION_AKID in str(last), "the request was signed with the session key", last)

    pg.restart(env=emulator_env(EMU_SESSION_AKID, EMU_SESSION_SECRET, "wrong-token"))
    rc, out, state, err = call()
    t.ok(state == "28000" and "UnrecognizedClientException" in err, "wrong session token: 28000", err)

    pg.restart(env=emulator_env(EMU_AKID, "not-the-secret"))
    rc, out, state, err = call()
    t.ok(state == "28000" and "InvalidSignatureException" in err and "clock" in err,
         "wrong secret: 28000 InvalidSignatureException with a hint", err)

    # shared credentials file named by the environment, profile from AWS_PROFILE
    cred_file = os.path.join(pg.base, "aws", "credentials")
    write_owned(cred_file, f"""# test file
[default]
aws_access_key_id = AKIDWRONGDEFAULT
aws_secret_access_key = wrong

[pgc]
aws_access_key_id = {EMU_AKID}
aws_secret_access_key = {EMU_SECRET}
""")
    pg.restart(env={"AWS_SHARED_CREDENTIALS_FILE": cred_file, "AWS_PROFILE": "pgc"})
    rc, out, state, err = call("from file")
    t.ok(rc == 0 and out == "You said: from file", "shared credentials file, AWS_PROFILE", err)

    # ~/.aws/credentials of the server's user, default profile
    write_owned(os.path.join(pg.home, ".aws", "credentials"),
                f"[default]\naws_access_key_id={EMU_AKID}\naws_secret_access_key={EMU_SECRET}\n")
    pg.restart(env=NO_IMDS)
    rc, out, state, err = call("from home")
    t.ok(rc == 0 and out == "You said: from home", "~/.aws/credentials, default profile", err)
    os.remove(os.path.join(pg.home, ".aws", "credentials"))

    # config file, [profile NAME] section, session credentials
    conf_file = os.path.join(pg.base, "aws", "config")
    write_owned(conf_file, f"""[profile cfg]
region = ap-southeast-2
aws_access_key_id = {EMU_SESSION_AKID}
aws_secret_access_key = {EMU_SESSION_SECRET}
aws_session_token = {EMU_SESSION_TOKEN}
""")
    pg.restart(env={"AWS_CONFIG_FILE": conf_file, "AWS_PROFILE": "cfg",
                    "AWS_SHARED_CREDENTIALS_FILE": os.path.join(pg.base, "none")})
    rc, out, state, err = call("from config")
    t.ok(rc == 0 and out == "You said: from config", "config file [profile cfg] with a session token", err)

    # claude.profile (reload) beats AWS_PROFILE and skips the environment
    pg.append_conf("claude.profile = 'pgc'")
    pg.restart(env={**NO_IMDS, "AWS_ACCESS_KEY_ID": "AKIDWRONGENV", "AWS_SECRET_ACCESS_KEY": "wrong",
                    "AWS_SHARED_CREDENTIALS_FILE": cred_file, "AWS_PROFILE": "default"})
    rc, out, state, err = call("claude.profile")
    t.ok(rc == 0 and out == "You said: claude.profile", "claude.profile selects the profile", err)

    # key rotation: a rewritten file is picked up by a running backend
    rc, out, err = pg.psql("SELECT claude_complete('before rotation');\n"
                           "\\! sleep 0.05\n"
                           f"\\! sed -i 's/{EMU_AKID}/AKIDROTATEDAWAY/' {cred_file}\n"
                           "\\set VERBOSITY verbose\nSELECT claude_complete('after rotation');")
    t.ok("UnrecognizedClientException" in err and "You said: before rotation" in out,
         "a rewritten credentials file is re-read by the same backend", out + err)

    pg.append_conf("claude.profile = 'missing'")
    pg.query("SELECT pg_reload_conf()")
    time.sleep(0.3)
    rc, out, state, err = call()
    t.ok(state == "28000" and "no profile \"missing\"" in err and "skipped because claude.profile is set" in err,
         "a missing profile is reported per provider", err)

    # no secret anywhere a user or operator can read
    settings = pg.query("SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name LIKE 'claude.%'")
    log = pg.read_log()
    secrets = [EMU_SECRET, EMU_SESSION_SECRET, EMU_SESSION_TOKEN]
    t.ok(not any(s in settings for s in secrets), "no secret in pg_settings")
    t.ok(not any(s in log for s in secrets), "no secret or token in the server log")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
