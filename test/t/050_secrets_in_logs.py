#!/usr/bin/env python3
"""No secret in the server log, pg_settings or error text, after every
error path: bad signature, bad token, throttling, 5xx, timeouts, resets,
TLS, residency refusals, no credentials, STS and container failures, and
Bedrock API keys; the log runs at DEBUG2 with verbose errors so that debug
output is searched too.  Residency refusals are logged with role, model,
region and reason."""

import os
import pwd
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import (EMU_AKID, EMU_SECRET, EMU_SESSION_AKID, EMU_SESSION_SECRET,  # noqa: E402
                     EMU_SESSION_TOKEN, Cluster, Emulator, Reporter, emulator_env, free_port)

API_KEY = "bedrock-api-key-emulator-0123456789"
WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.pg-claude-test-web-identity.sig"
CONTAINER_TOKEN = "container-auth-token-for-tests"
SECRETS = [EMU_SECRET, EMU_SESSION_SECRET, EMU_SESSION_TOKEN, API_KEY, WEB_TOKEN, CONTAINER_TOKEN]

t = Reporter("secrets")
work = tempfile.mkdtemp(prefix="pg_claude_t050_")
emu = Emulator(work, tls=True)
pg = Cluster("t050", free_port(), conf=f"""
claude.endpoint = '{emu.http_url}'
log_min_messages = debug2
log_error_verbosity = verbose
log_statement = 'none'
""")
owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
errors = []


def run(sql, env_note=""):
    rc, out, err = pg.psql("\\set VERBOSITY verbose\n" + sql)
    errors.append(err)
    return err


try:
    pg.start(env=emulator_env(EMU_SESSION_AKID, EMU_SESSION_SECRET, EMU_SESSION_TOKEN))
    pg.query("CREATE EXTENSION pg_claude")
    run("SELECT claude_complete('fine')")
    emu.fault(fault="throttle", count=5)
    run("SET claude.max_retries = 2; SELECT claude_complete('throttled')")
    emu.reset()
    emu.fault(fault="error", status=500, error_type="InternalServerException", count=5)
    run("SET claude.max_retries = 1; SELECT claude_complete('5xx')")
    emu.reset()
    emu.fault(fault="reset", count=5)
    run("SET claude.max_retries = 1; SELECT claude_complete('reset')")
    emu.reset()
    emu.fault(fault="malformed", count=1)
    run("SELECT claude_complete('malformed')")
    run("SET claude.timeout = '200ms'; SET claude.max_retries = 0; SELECT claude_complete('SLEEP 2000 x')")
    run("SET statement_timeout = '200ms'; SELECT claude_complete('SLEEP 2000 y')")
    run("SELECT claude_complete('x', model => 'us.anthropic.claude-sonnet-4-5-20250929-v1:0')")
    run("SELECT claude_complete('x', model => 'anthropic.claude-nonexistent-v9:0')")
    run(f"SET claude.endpoint = '{emu.https_url}'; SET claude.max_retries = 0; SELECT claude_complete('tls')")
    run("SELECT * FROM claude_credentials()")

    pg.restart(env=emulator_env(EMU_SESSION_AKID, EMU_SESSION_SECRET, "wrong" + EMU_SESSION_TOKEN))
    run("SELECT claude_complete('bad token')")
    pg.restart(env=emulator_env(EMU_AKID, "wrong" + EMU_SECRET))
    run("SELECT claude_complete('bad secret')")
    pg.restart(env={"AWS_EC2_METADATA_DISABLED": "true"})
    run("SELECT claude_complete('no credentials')")

    token_file = os.path.join(pg.base, "web-token")
    with open(token_file, "w") as f:
        f.write("wrong-" + WEB_TOKEN)
    if owner:
        os.chown(token_file, owner.pw_uid, owner.pw_gid)
    pg.restart(env={"AWS_EC2_METADATA_DISABLED": "true", "AWS_WEB_IDENTITY_TOKEN_FILE": token_file,
                    "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/pg-claude-bedrock",
                    "AWS_ENDPOINT_URL_STS": emu.http_url})
    run("SELECT claude_complete('bad web identity')")
    emu.control("identity", {"container_token": CONTAINER_TOKEN})
    pg.restart(env={"AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": emu.http_url + "/v2/credentials/x",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "wrong-" + CONTAINER_TOKEN})
    run("SELECT claude_complete('bad container token')")
    pg.restart(env={**emulator_env(), "AWS_ENDPOINT_URL_STS": emu.http_url})
    pg.append_conf("claude.role_arn = 'arn:aws:iam::123456789012:role/pg-claude-external'")
    pg.query("SELECT pg_reload_conf()")
    run("SELECT pg_sleep(0.2); SELECT claude_complete('role without external id')")
    pg.append_conf("claude.role_arn = ''")
    pg.restart(env={"AWS_BEARER_TOKEN_BEDROCK": API_KEY})
    run("SELECT claude_complete('bearer')")
    pg.restart(env={"AWS_BEARER_TOKEN_BEDROCK": "wrong-" + API_KEY})
    run("SELECT claude_complete('bad bearer')")

    log = pg.read_log()
    settings = pg.query("SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name LIKE 'claude.%'")
    everything = {"server log": log, "pg_settings": settings, "error text": "\n".join(errors)}
    for where, text in everything.items():
        leaked = [s[:12] + "..." for s in SECRETS if s in text]
        t.ok(not leaked, f"no secret, token or API key in {where}", leaked)
        t.ok(not re.search(r"Signature=[0-9a-f]{64}", text), f"no request signature in {where}")
        t.ok(not re.search(r"(?i)x-amz-security-token|authorization:\s*(aws4|bearer)", text),
             f"no Authorization or token header in {where}")
    t.ok("ERROR:" in log and log.count("ERROR:") >= 15, "the error paths were exercised", log.count("ERROR:"))
    t.ok(re.search(r'LOG:  .*pg_claude refused a request under claude.residency "au"', log) and
         re.search(r"DETAIL:  role postgres, model us\.anthropic\.claude-sonnet-4-5-20250929-v1:0, "
                   r"region ap-southeast-2, endpoint 127\.0\.0\.1: .*inference profile", log),
         "residency refusals are logged with role, model, region and reason")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
