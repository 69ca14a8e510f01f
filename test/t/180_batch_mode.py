#!/usr/bin/env python3
"""Batch mode for claude_enrich (issue 16, src/job_batch.c) against the
emulator's S3 and batch control plane: "mode" is validated; batch asked for
without claude.batch_s3_uri / claude.batch_role_arn is refused before the job
is queued; a bucket in us-east-1 under claude.residency 'au' is refused (42R01)
with zero S3 PutObject requests; "auto" under claude.batch_min_rows (and a
"batch" job under Bedrock's 100-record minimum) runs on demand; a 5,000-row
job in batch mode fills every row once through one AWS job (one
CreateModelInvocationJob, no InvokeModel), recordIds j<job>-r<n>, one
claude.usage row per record with the job ARN, priced at half the on-demand
price in claude.stats and claude.jobs; the estimate shows both prices; rows
already cached are filled from the cache, not sent; a CreateModelInvocationJob answer cut short is retried with the same
clientRequestToken and makes one AWS job; a record with an error is a failed
row with its code, records missing from the output go on demand;
claude.batch_max_records splits the job into
several AWS jobs; claude_job_cancel stops the AWS job and keeps what it
finished.  Prints the wall time and request counts of a 5,000-row job in
batch mode next to on demand."""

import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("batch_mode")
work = tempfile.mkdtemp(prefix="pg_claude_t180_")
emu = Emulator(work, tls=False)
ROLE = "arn:aws:iam::123456789012:role/BedrockBatch"
pg = Cluster("t180", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
claude.control_endpoint = '{emu.http_url}'
claude.s3_endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.worker_concurrency = 16
claude.cache = off
claude.batch_poll_interval = 1
""")
LABELS = '{"labels": ["billing", "bug"]}'
N = 5000


def q(sql, user="postgres"):
    return pg.psql("\\set VERBOSITY verbose\n" + sql, user=user)


def val(sql):
    rc, out, err = q(sql)
    return out.splitlines()[-1] if out else err


def settings(**kw):
    for k, v in kw.items():
        q(f"ALTER SYSTEM SET claude.{k} = '{v}'" if v is not None else f"ALTER SYSTEM RESET claude.{k}")
    q("SELECT pg_reload_conf()")
    time.sleep(0.5)


def make_table(name, n):
    q(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id int PRIMARY KEY, body text, label text);"
      f"INSERT INTO {name} SELECT g, CASE WHEN g % 3 = 0 THEN 'billing question ' ELSE 'bug report ' END || g, NULL "
      f"FROM generate_series(1, {n}) g")


def exactly_once(name, job, n):
    filled = val(f"SELECT count(*) FROM {name} WHERE label = CASE WHEN id % 3 = 0 THEN 'billing' ELSE 'bug' END")
    done = val(f"SELECT count(*) FROM claude.job_items WHERE job_id = {job} AND state = 'done'")
    writes = val(f"SELECT count(*) FROM claude.enrich_hashes WHERE job_id = {job}")
    return filled == str(n) and done == str(n) and writes == str(n), (filled, done, writes)


def ops():
    """Requests by operation at the emulator: runtime, control plane (batch too) and S3."""
    s = emu.stats()
    got = {}

    def walk(d):
        if isinstance(d, dict):
            for k, v in d.items():
                if k == "by_operation" and isinstance(v, dict):
                    for op, n in v.items():
                        got[op] = got.get(op, 0) + n
                else:
                    walk(v)
    walk(s)
    # claude.stream = auto: an on-demand row is an InvokeModel, streamed or not
    if "InvokeModelWithResponseStream" in got:
        got["InvokeModel"] = got.get("InvokeModel", 0) + got.pop("InvokeModelWithResponseStream")
    return got


def wait(job, timeout=300):
    return val(f"SELECT claude_job_wait({job}, '{timeout} seconds')")


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")
    emu.control("s3-buckets", {"name": "syd-batch", "region": "ap-southeast-2"})
    emu.control("s3-buckets", {"name": "us-batch", "region": "us-east-1"})
    make_table("small", 150)

    # --- the option and the settings, before anything is queued ----------------
    rc, out, err = q(f"SELECT claude_enrich('small', 'body', 'label', 'classify', '{{\"mode\": \"fast\"}}'::jsonb || '{LABELS}')")
    t.ok(rc != 0 and "22023" in err and "mode" in err, "an unknown mode is 22023", err)
    rc, out, err = q(f"SELECT claude_enrich('small', 'body', 'label', 'classify', '{{\"mode\": \"batch\"}}'::jsonb || '{LABELS}')")
    t.ok(rc != 0 and "55000" in err and "claude.batch_s3_uri" in err and "HINT" in err,
         "batch without claude.batch_s3_uri / claude.batch_role_arn is refused before queueing", err)
    t.ok(val("SELECT count(*) FROM claude.job") == "0", "nothing was queued")

    # --- a bucket residency refuses: before any object is written ---------------
    settings(batch_s3_uri="s3://us-batch/pg/", batch_role_arn=ROLE, residency="au")
    emu.reset()
    emu.control("s3-buckets", {"name": "syd-batch", "region": "ap-southeast-2"})
    emu.control("s3-buckets", {"name": "us-batch", "region": "us-east-1"})
    rc, out, err = q(f"SELECT claude_enrich('small', 'body', 'label', 'classify', '{{\"mode\": \"batch\"}}'::jsonb || '{LABELS}')")
    t.ok(rc != 0 and "42R01" in err, "a us-east-1 bucket under residency au is refused (42R01)", err)
    t.ok(ops().get("PutObject", 0) == 0 and ops().get("CreateModelInvocationJob", 0) == 0,
         "zero PutObject and zero CreateModelInvocationJob requests", ops())
    t.ok(val("SELECT count(*) FROM claude.job") == "0", "and no job was queued")
    settings(residency=None, batch_s3_uri="s3://syd-batch/pg/")

    # --- auto under the minimum: on demand ---------------------------------------
    emu.reset()
    emu.control("s3-buckets", {"name": "syd-batch", "region": "ap-southeast-2"})
    job = val(f"SELECT claude_enrich('small', 'body', 'label', 'classify', '{{\"mode\": \"auto\"}}'::jsonb || '{LABELS}')")
    state = wait(job, 120)
    ok, detail = exactly_once("small", job, 150)
    t.ok(state == "done" and ok, "auto with 150 rows (under claude.batch_min_rows 1000) fills every row once", (state, detail))
    o = ops()
    t.ok(o.get("InvokeModel", 0) == 150 and o.get("CreateModelInvocationJob", 0) == 0 and o.get("PutObject", 0) == 0,
         "on demand: 150 InvokeModel, no batch job, no S3 object", o)
    t.ok(val(f"SELECT count(*) FROM claude.batch_parts WHERE job_id = {job}") == "0", "no batch part recorded")

    # --- the estimate shows both prices ------------------------------------------
    make_table("tickets", N)
    est = val(f"SELECT estimated_cost_usd || ' ' || estimated_batch_cost_usd FROM claude_enrich_estimate("
              f"'tickets', 'body', 'label', 'classify', '{LABELS}')").split()
    t.ok(len(est) == 2 and abs(float(est[1]) * 2 - float(est[0])) < 1e-5,
         "claude_enrich_estimate: the batch price is half the on-demand price", est)

    # --- 5,000 rows in batch mode --------------------------------------------------
    STATS = "SELECT coalesce(sum(estimated_cost_usd), 0) FROM claude.stats WHERE model = 'au.anthropic.claude-sonnet-5'"
    stats_before = float(val(STATS))
    emu.reset()
    emu.control("s3-buckets", {"name": "syd-batch", "region": "ap-southeast-2"})
    started = time.monotonic()
    job = val(f"SELECT claude_enrich('tickets', 'body', 'label', 'classify', '{{\"mode\": \"batch\"}}'::jsonb || '{LABELS}')")
    state = wait(job, 300)
    batch_wall = time.monotonic() - started
    batch_ops = ops()
    ok, detail = exactly_once("tickets", job, N)
    t.ok(state == "done" and ok, "a 5,000-row batch job fills every row exactly once", (state, detail))
    t.ok(batch_ops.get("CreateModelInvocationJob", 0) == 1 and batch_ops.get("InvokeModel", 0) == 0
         and emu.stats()["batch"]["jobs_created"] == 1,
         "one CreateModelInvocationJob, no InvokeModel", batch_ops)
    t.ok(batch_ops.get("PutObject", 0) == 1, "one input object", batch_ops)
    arn = val(f"SELECT job_arn FROM claude.batch_parts WHERE job_id = {job}")
    t.ok(arn.startswith("arn:aws:bedrock:"), "the part records the AWS job ARN", arn)
    uri = val(f"SELECT input_uri FROM claude.batch_parts WHERE job_id = {job}")
    lines = val(f"SELECT convert_from(claude.s3_get('{uri}'), 'UTF8')") and \
        pg.query(f"SELECT convert_from(claude.s3_get('{uri}'), 'UTF8')").splitlines()
    recs = [json.loads(x) for x in lines if x.strip()]
    ids = [r["recordId"] for r in recs]
    t.ok(len(recs) == N and len(set(ids)) == N and all(i.startswith(f"j{job}-r") and len(i) >= 11 for i in ids)
         and all(r["modelInput"]["messages"] for r in recs),
         "the input JSONL: 5,000 records, recordIds j<job>-r<n> (11+ characters, unique), each an InvokeModel body",
         ids[:3])
    t.ok(val(f"SELECT batch_state || ' ' || (batch_job_arns)[1] FROM claude.jobs WHERE id = {job}") == "done " + arn,
         "claude.jobs shows the batch state and ARN")
    t.ok(val(f"SELECT count(*) FROM claude.usage WHERE job_id = {job} AND batch_job_arn = '{arn}'") == str(N),
         "one claude.usage row per record, with the AWS job ARN")
    t.ok(val(f"SELECT count(*) FROM claude.batch_records WHERE job_id = {job}") == "0",
         "no record is left owed")
    full = val(f"SELECT round(sum(claude.cost_usd(claude.price_of(model), input_tokens, output_tokens)), 6) "
               f"FROM claude.usage WHERE job_id = {job}")
    jobs_cost = val(f"SELECT estimated_cost_usd FROM claude.jobs WHERE id = {job}")
    stats_cost = float(val(STATS)) - stats_before
    t.ok(abs(float(jobs_cost) * 2 - float(full)) < 1e-5, "claude.jobs prices the job at half the on-demand price",
         (jobs_cost, full))
    t.ok(abs(stats_cost * 2 - float(full)) < 1e-4, "claude.stats too", (stats_cost, full))

    # the same job on demand, for the comparison
    q("UPDATE tickets SET label = NULL; TRUNCATE claude.enrich_hashes")
    emu.reset()
    emu.control("s3-buckets", {"name": "syd-batch", "region": "ap-southeast-2"})
    started = time.monotonic()
    job2 = val(f"SELECT claude_enrich('tickets', 'body', 'label', 'classify', '{LABELS}')")
    state = wait(job2, 300)
    demand_wall = time.monotonic() - started
    demand_ops = ops()
    ok, detail = exactly_once("tickets", job2, N)
    t.ok(state == "done" and ok, "the same 5,000 rows on demand", (state, detail))
    print(f"# 5,000 rows: batch {batch_wall:.1f} s, {sum(batch_ops.values())} requests {json.dumps(batch_ops, sort_keys=True)}; "
          f"on demand {demand_wall:.1f} s, {sum(demand_ops.values())} requests {json.dumps(demand_ops, sort_keys=True)}")

    # --- claude.redact_before_send reaches the JSONL; a guardrail keeps batch mode off ---
    settings(redact_before_send="on")
    q("DROP TABLE IF EXISTS secrets; CREATE TABLE secrets (id int PRIMARY KEY, body text, label text);"
      "INSERT INTO secrets SELECT g, 'bug report, my TFN is 123 456 782, row ' || g, NULL FROM generate_series(1, 150) g")
    emu.reset()
    emu.control("s3-buckets", {"name": "syd-batch", "region": "ap-southeast-2"})
    job = val(f"SELECT claude_enrich('secrets', 'body', 'label', 'classify', '{{\"mode\": \"batch\"}}'::jsonb || '{LABELS}')")
    state = wait(job, 300)
    uri = val(f"SELECT input_uri FROM claude.batch_parts WHERE job_id = {job}")
    jsonl = pg.query(f"SELECT convert_from(claude.s3_get('{uri}'), 'UTF8')")
    t.ok(state == "done" and jsonl.count("[TFN]") == 150 and "123 456 782" not in jsonl,
         "batch mode under claude.redact_before_send: the uploaded records are redacted", (state, jsonl[:300]))
    settings(redact_before_send=None, guardrail_id="gr1", guardrail_version="1")
    rc, out, err = q(f"SELECT claude_enrich('secrets', 'body', 'label', 'classify', "
                     f"'{{\"mode\": \"batch\", \"redo\": \"all\"}}'::jsonb || '{LABELS}')")
    t.ok(rc != 0 and "0A000" in err and "guardrail" in err,
         "batch mode is refused while a guardrail is set: batch inference would skip it", (out, err))
    settings(guardrail_id=None, guardrail_version=None)

    # --- the cache: rows already cached are not sent -------------------------------
    settings(cache="on")
    make_table("cached", 300)
    pg.query(f"SELECT claude_classify(body, ARRAY['billing', 'bug']) FROM cached WHERE id <= 100")
    # the audit writer stores the answers in claude.cache a moment later
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and int(val("SELECT count(*) FROM claude.cache")) < 100:
        time.sleep(0.2)
    emu.reset()
    emu.control("s3-buckets", {"name": "syd-batch", "region": "ap-southeast-2"})
    job = val(f"SELECT claude_enrich('cached', 'body', 'label', 'classify', '{{\"mode\": \"batch\"}}'::jsonb || '{LABELS}')")
    state = wait(job, 120)
    ok, detail = exactly_once("cached", job, 300)
    recs = val(f"SELECT records FROM claude.batch_parts WHERE job_id = {job}")
    t.ok(state == "done" and ok and recs == "200", "cached rows come from the cache: 200 records sent for 300 rows",
         (state, detail, recs))
    settings(cache="off")

    # --- split by claude.batch_max_records -------------------------------------------
    settings(batch_max_records="400")
    make_table("split", 1000)
    emu.reset()
    emu.control("s3-buckets", {"name": "syd-batch", "region": "ap-southeast-2"})
    job = val(f"SELECT claude_enrich('split', 'body', 'label', 'classify', '{{\"mode\": \"batch\"}}'::jsonb || '{LABELS}')")
    state = wait(job, 120)
    ok, detail = exactly_once("split", job, 1000)
    parts = val(f"SELECT string_agg(records::text, ',' ORDER BY part) FROM claude.batch_parts WHERE job_id = {job}")
    t.ok(state == "done" and ok and parts == "334,334,332" and ops().get("CreateModelInvocationJob", 0) == 3,
         "1,000 rows at most 400 a job: three AWS jobs, every row once", (state, detail, parts, ops()))
    settings(batch_max_records=None)

    # --- a Create whose answer is lost is retried with the same token: one AWS job -----
    make_table("retry", 200)
    emu.reset()
    emu.control("s3-buckets", {"name": "syd-batch", "region": "ap-southeast-2"})
    emu.fault(fault="truncated", count=1, operations=["CreateModelInvocationJob"])
    job = val(f"SELECT claude_enrich('retry', 'body', 'label', 'classify', '{{\"mode\": \"batch\"}}'::jsonb || '{LABELS}')")
    state = wait(job, 120)
    ok, detail = exactly_once("retry", job, 200)
    b = emu.stats()["batch"]
    t.ok(state == "done" and ok and b["create_calls"] == 2 and b["jobs_created"] == 1 and b["idempotent_replays"] == 1,
         "a CreateModelInvocationJob answer cut short is retried with the same clientRequestToken: one AWS job",
         (state, detail, b))

    # --- record errors and missing records -------------------------------------------
    make_table("faulty", 400)
    emu.reset()
    emu.control("s3-buckets", {"name": "syd-batch", "region": "ap-southeast-2"})
    emu.control("batch-config", {"error_every": 10, "error_code": 400, "missing_every": 25})
    job = val(f"SELECT claude_enrich('faulty', 'body', 'label', 'classify', '{{\"mode\": \"batch\"}}'::jsonb || '{LABELS}')")
    state = wait(job, 120)
    failed = val(f"SELECT count(*) || ' ' || min(error_code) || ' ' || bool_and(error LIKE '%Bedrock batch record failed%') "
                 f"FROM claude.job_items WHERE job_id = {job} AND state = 'failed'")
    missing = val(f"SELECT missing FROM claude.batch_parts WHERE job_id = {job}")
    done = val(f"SELECT count(*) FROM claude.job_items WHERE job_id = {job} AND state = 'done'")
    # records 10, 20, ... fail except where 25 | n took them out first (50, 100, ...: 8 of 40)
    t.ok(failed == "32 400 true", "a record with an error is a failed row with its code and message", failed)
    t.ok(missing == "16" and ops().get("InvokeModel", 0) == 16 and done == "368" and state == "done_with_errors",
         "records missing from the output are sent on demand, never dropped", (missing, ops(), done, state))

    # --- cancel: the AWS job is stopped, what it finished is kept ----------------------
    make_table("stopme", 1000)
    emu.reset()
    emu.control("s3-buckets", {"name": "syd-batch", "region": "ap-southeast-2"})
    emu.control("batch-config", {"ms_per_record": 4})
    job = val(f"SELECT claude_enrich('stopme', 'body', 'label', 'classify', '{{\"mode\": \"batch\"}}'::jsonb || '{LABELS}')")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and val(f"SELECT batch_status FROM claude.jobs WHERE id = {job}") != "InProgress":
        time.sleep(0.05)
    time.sleep(1.5)
    val(f"SELECT claude_job_cancel({job})")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and val(f"SELECT batch_state FROM claude.jobs WHERE id = {job}") != "done":
        time.sleep(0.2)
    kept = int(val(f"SELECT count(*) FROM claude.job_items WHERE job_id = {job} AND state = 'done'"))
    filled = int(val("SELECT count(*) FROM stopme WHERE label IS NOT NULL"))
    status = val(f"SELECT state || ' ' || batch_status FROM claude.jobs WHERE id = {job}")
    t.ok(ops().get("StopModelInvocationJob", 0) == 1 and status == "cancelled Stopped",
         "claude_job_cancel stops the AWS job (StopModelInvocationJob)", (ops(), status))
    t.ok(0 < kept < 1000 and kept == filled and ops().get("InvokeModel", 0) == 0,
         "and keeps what it finished, sending nothing more", (kept, filled, ops()))

    # --- a batch job under Bedrock's minimum: on demand -------------------------------
    make_table("tiny", 50)
    emu.reset()
    emu.control("s3-buckets", {"name": "syd-batch", "region": "ap-southeast-2"})
    job = val(f"SELECT claude_enrich('tiny', 'body', 'label', 'classify', '{{\"mode\": \"batch\"}}'::jsonb || '{LABELS}')")
    state = wait(job, 60)
    ok, detail = exactly_once("tiny", job, 50)
    t.ok(state == "done" and ok and ops().get("InvokeModel", 0) == 50,
         "\"batch\" with 50 rows (under Bedrock's 100) runs on demand", (state, detail, ops()))
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
