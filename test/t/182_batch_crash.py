#!/usr/bin/env python3
"""Batch mode is crash-safe (issue 16 item 4, src/job_batch.c): the worker
killed with kill -9, or the server restarted (immediate shutdown), in each
phase of a batch job - while its rows are recorded and before the upload
finished, right after CreateModelInvocationJob, while the AWS job runs, and
half way through writing the results - resumes the same AWS job: the
emulator saw exactly one AWS job created (a repeated Create carries the same
clientRequestToken and gets the same job), every row is filled once
(enrich_hashes, job_items), one claude.usage row per record, nothing owed.
The kill is timed by the phase the job records in claude.batch_parts, with
the emulator's batch processing delay holding each phase open."""

import os
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("batch_crash")
work = tempfile.mkdtemp(prefix="pg_claude_t182_")
emu = Emulator(work, tls=False)
pg = Cluster("t182", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
claude.control_endpoint = '{emu.http_url}'
claude.s3_endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.cache = off
claude.batch_poll_interval = 1
claude.batch_s3_uri = 's3://syd-batch/crash/'
claude.batch_role_arn = 'arn:aws:iam::123456789012:role/BedrockBatch'
""")
LABELS = '{"labels": ["billing", "bug"]}'
N = 3000


def val(sql):
    rc, out, err = pg.psql(sql)
    return out.splitlines()[-1] if out else err


def ops():
    """Requests by operation at the emulator (runtime, control plane, S3)."""
    got = {}

    def walk(d):
        if isinstance(d, dict):
            for k, v in d.items():
                if k == "by_operation" and isinstance(v, dict):
                    for op, n in v.items():
                        got[op] = got.get(op, 0) + n
                else:
                    walk(v)
    s = emu.stats()
    walk(s)
    # claude.stream = auto: an on-demand row is an InvokeModel, streamed or not
    if "InvokeModelWithResponseStream" in got:
        got["InvokeModel"] = got.get("InvokeModel", 0) + got.pop("InvokeModelWithResponseStream")
    return got


def emu_jobs():
    """The AWS batch jobs the emulator holds."""
    return emu.control("batch-jobs").get("jobs", [])


def worker_pid():
    return val("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_claude worker'")


def wait_for(sql, timeout=120, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if val(sql) == "t":
            return True
        time.sleep(step)
    return False


def make_table(name, n):
    val(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id int PRIMARY KEY, body text, label text);"
        f"INSERT INTO {name} SELECT g, CASE WHEN g % 3 = 0 THEN 'billing question ' ELSE 'bug report ' END || g, NULL "
        f"FROM generate_series(1, {n}) g")


def crash(how):
    if how == "kill -9":
        pid = worker_pid()
        if pid.isdigit():
            os.kill(int(pid), signal.SIGKILL)
        # the postmaster resets every backend and recovers: wait for it
        time.sleep(0.5)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and pg.psql("SELECT 1")[0] != 0:
            time.sleep(0.2)
    else:
        pg.stop("immediate")
        pg.start(env=emulator_env())


# (name, the moment to crash at, as SQL true at that moment)
PHASES = [
    ("before the upload finished",
     "SELECT EXISTS (SELECT 1 FROM claude.batch_parts WHERE job_id = {job} AND phase IN ('building', 'built'))"),
    ("after CreateModelInvocationJob",
     "SELECT EXISTS (SELECT 1 FROM claude.batch_parts WHERE job_id = {job} AND phase = 'submitted')"),
    ("while the AWS job runs",
     "SELECT EXISTS (SELECT 1 FROM claude.batch_parts WHERE job_id = {job} AND phase = 'in_progress')"),
    ("half way through writing the results",
     "SELECT EXISTS (SELECT 1 FROM claude.batch_parts WHERE job_id = {job} AND phase = 'downloading') "
     "AND (SELECT rows_done BETWEEN 1 AND " + str(N - 1) + " FROM claude.job WHERE id = {job})"),
]

try:
    pg.start(env=emulator_env())
    val("CREATE EXTENSION pg_claude")
    n = 0
    for how in ("kill -9", "restart"):
        for name, when in PHASES:
            n += 1
            table = f"crash{n}"
            make_table(table, N)
            emu.reset()
            emu.control("s3-buckets", {"name": "syd-batch", "region": "ap-southeast-2"})
            emu.control("batch-config", {"submitted_ms": 1500, "in_progress_ms": 1500})
            job = val(f"SELECT claude_enrich('{table}', 'body', 'label', 'classify', "
                      f"'{{\"mode\": \"batch\"}}'::jsonb || '{LABELS}')")
            hit = wait_for(when.format(job=job), step=0.01)
            crash(how)
            state = val(f"SELECT claude_job_wait({job}, '180 seconds')")
            filled = val(f"SELECT count(*) FROM {table} WHERE label = CASE WHEN id % 3 = 0 THEN 'billing' ELSE 'bug' END")
            hashes = val(f"SELECT count(*) FROM claude.enrich_hashes WHERE job_id = {job}")
            done = val(f"SELECT count(*) FROM claude.job_items WHERE job_id = {job} AND state = 'done'")
            usage = val(f"SELECT count(*) FROM claude.usage WHERE job_id = {job} AND batch_job_arn IS NOT NULL")
            arns = val(f"SELECT count(DISTINCT job_arn) FROM claude.batch_parts WHERE job_id = {job}")
            o = ops()
            t.ok(hit, f"{how} {name}: the moment was reached")
            t.ok(len(emu_jobs()) == 1 and arns == "1",
                 f"{how} {name}: exactly one AWS job (Create called {o.get('CreateModelInvocationJob', 0)} times)",
                 (emu_jobs(), arns))
            t.ok(state == "done" and filled == hashes == done == str(N),
                 f"{how} {name}: every row filled exactly once", (state, filled, hashes, done))
            t.ok(usage == str(N) and o.get("InvokeModel", 0) == 0,
                 f"{how} {name}: one usage row per record, nothing sent on demand", (usage, o))
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
