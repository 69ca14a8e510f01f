#!/usr/bin/env python3
"""The job worker when its own round of asynchronous requests goes wrong:
answers already paid for are kept when the round ends in an error, and a
cancel while it resolves credentials requeues the requests rather than
failing them.  Credentials come from a credential_process the test controls."""

import os
import pwd
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import EMU_AKID, EMU_SECRET, Cluster, Emulator, Reporter, free_port  # noqa: E402

t = Reporter("worker faults")
OWNER = pwd.getpwnam("postgres")


def write_owned(path, text, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chown(os.path.dirname(path), OWNER.pw_uid, OWNER.pw_gid)
    os.chown(path, OWNER.pw_uid, OWNER.pw_gid)
    os.chmod(path, mode)


def cluster(name, emu, script_body):
    pg = Cluster(name, free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.worker_concurrency = 1
claude.cache = off
claude.max_retries = 2
""")
    script = os.path.join(pg.base, "aws", "cred.sh")
    conf = os.path.join(pg.base, "aws", "config")
    write_owned(script, "#!/bin/sh\n" + script_body.replace("@FLAG@", os.path.join(pg.base, "aws", "once")) +
                f"echo '{{\"Version\": 1, \"AccessKeyId\": \"{EMU_AKID}\", \"SecretAccessKey\": \"{EMU_SECRET}\"}}'\n",
                0o700)
    write_owned(conf, f"[profile proc]\ncredential_process = {script}\n")
    pg.start(env={"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": conf, "AWS_PROFILE": "proc",
                  "AWS_SHARED_CREDENTIALS_FILE": os.path.join(pg.base, "none")})
    pg.query("CREATE EXTENSION pg_claude")
    return pg


def settle(pg, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pg.query("SELECT count(*) FROM claude.requests WHERE state IN ('pending', 'running')") == "0":
            return
        time.sleep(0.2)


work = tempfile.mkdtemp(prefix="pg_claude_t095_")
emu = Emulator(work, tls=False)

# 1. The first request is answered; the second is refused as expired, and the
#    refresh fails (the credential source is down): the round ends in an error.
pg = cluster("t095a", emu, "if [ -e @FLAG@ ]; then echo 'credential source down' >&2; exit 1; fi\ntouch @FLAG@\n")
try:
    emu.reset()
    emu.control("faults", {"faults": [
        {"fault": "latency", "delay_ms": 1, "count": 1},
        {"fault": "error", "status": 403, "error_type": "ExpiredTokenException",
         "message": "The security token included in the request is expired", "count": 1}]})
    pg.query("BEGIN; SELECT claude_complete_async('first'); SELECT claude_complete_async('second'); COMMIT;")
    settle(pg)
    rows = pg.query("SELECT string_agg(state || ':' || coalesce(result, '-'), ',' ORDER BY id) FROM claude.requests")
    t.ok(rows.startswith("done:You said: first,error:"),
         "a round that ends in an error keeps the answer that was paid for", rows)
    err = pg.query("SELECT error FROM claude.requests ORDER BY id DESC LIMIT 1")
    t.ok("credential_process" in err, "the unanswered request fails with the error that ended the round", err)
    t.ok(pg.query("SELECT claude_complete_async('after') IS NOT NULL") == "t", "the worker goes on")
finally:
    pg.destroy()

# 2. A cancel of the worker while it waits for credentials stops the round
#    only: the request goes back to the queue and is answered afterwards.
pg = cluster("t095b", emu, "if [ ! -e @FLAG@ ]; then touch @FLAG@; sleep 3; fi\n")
try:
    emu.reset()
    pg.query("SELECT claude_complete_async('cancel me not')")
    time.sleep(1.2)
    pg.query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pg_claude worker'")
    settle(pg)
    row = pg.query("SELECT state || ':' || coalesce(result, '-') || ':' || coalesce(error, '-') FROM claude.requests")
    t.ok(row == "done:You said: cancel me not:-",
         "a cancel while credentials are resolved requeues the request; it is answered after", row)
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
