#!/usr/bin/env python3
"""Message Batches as claude_enrich's "mode": "batch" under claude.provider =
anthropic (issue 18 item 5, src/job_batch.c): no bucket needed; one batch
made per part, whose requests are the bodies the on-demand path sends
(model in the body, inference_geo "us" under residency us); every row
filled once with one claude.usage row at the batch price; a create whose
answer is lost, and a worker killed with kill -9 mid-create or mid-batch,
adopt the batch already made (exactly one at the emulator); an errored
request is a failed row; under au nothing is queued or sent; a cancel
cancels the batch."""

import os
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "emulator"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402
import emu_anthropic  # noqa: E402

KEY = sorted(emu_anthropic.API_KEYS)[0]
t = Reporter("message_batches")
work = tempfile.mkdtemp(prefix="pg_claude_t185_")
emu = Emulator(work, tls=False)
pg = Cluster("t185", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
claude.anthropic_endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.provider = 'anthropic'
claude.residency = 'none'
claude.model = 'au.anthropic.claude-haiku-4-5-20251001-v1:0'
claude.cache = off
claude.batch_poll_interval = 1
""")
LABELS = '{"labels": ["billing", "bug"]}'
ENV = dict(emulator_env(), ANTHROPIC_API_KEY=KEY)


def q(sql):
    return pg.psql("\\set VERBOSITY verbose\n" + sql)


def val(sql):
    rc, out, err = q(sql)
    return out.splitlines()[-1] if out else err


def ops():
    got = {}

    def walk(d):
        if isinstance(d, dict):
            for k, v in d.items():
                if k == "by_operation" and isinstance(v, dict):
                    for op, n in v.items():
                        got[op] = got.get(op, 0) + n
                else:
                    walk(v)
    walk(emu.stats())
    return got


def batches():
    return emu.control("anthropic-batches")["batches"]


def make_table(name, n):
    val(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id int PRIMARY KEY, body text, label text);"
        f"INSERT INTO {name} SELECT g, CASE WHEN g % 3 = 0 THEN 'billing question ' ELSE 'bug report ' END || g, NULL "
        f"FROM generate_series(1, {n}) g")


def enrich(table, extra=""):
    return val(f"SELECT claude_enrich('{table}', 'body', 'label', 'classify', "
               f"'{{\"mode\": \"batch\"}}'::jsonb || '{LABELS}'{extra})")


def wait_for(sql, timeout=60, step=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if val(sql) == "t":
            return True
        time.sleep(step)
    return False


def filled_once(table, job, n):
    state = val(f"SELECT claude_job_wait({job}, '120 seconds')")
    filled = val(f"SELECT count(*) FROM {table} WHERE label = CASE WHEN id % 3 = 0 THEN 'billing' ELSE 'bug' END")
    done = val(f"SELECT count(*) FROM claude.job_items WHERE job_id = {job} AND state = 'done'")
    usage = val(f"SELECT count(*) FROM claude.usage WHERE job_id = {job} AND batch_job_arn LIKE 'msgbatch_%'")
    return (state, filled, done, usage) == ("done", str(n), str(n), str(n)), (state, filled, done, usage)


try:
    pg.start(env=ENV)
    q("CREATE EXTENSION pg_claude")

    # --- one batch, the on-demand bodies, rows filled once at half price -----
    make_table("t1", 30)
    emu.reset()
    job = enrich("t1")
    ok, got = filled_once("t1", job, 30)
    o = ops()
    t.ok(ok, "batch mode without a bucket: every row filled once, one usage row each", got)
    t.ok(o.get("MessageBatchesCreate") == 1 and o.get("Messages", 0) == 0 and len(batches()) == 1,
         "one Message Batch created, nothing sent on demand", o)
    b = batches()[0] if batches() else {}
    t.ok(b.get("requests") == 30 and all(c.startswith(f"j{job}-r") and len(c) >= 11 for c in b["custom_ids"])
         and all(p.get("model") == "claude-haiku-4-5-20251001" and "anthropic_version" not in p
                 and "inference_geo" not in p for p in b["params"]),
         "each request is the API's body with the record's custom_id", b)
    t.ok(val(f"SELECT count(*) FROM claude.usage WHERE job_id = {job} AND provider = 'anthropic' "
             "AND operation = 'CreateMessageBatch' AND region IS NULL AND geography = 'global' "
             "AND endpoint_host = '127.0.0.1' AND input_tokens > 0") == "30",
         "usage rows: provider anthropic, no region, geography global, tokens",
         val(f"SELECT provider, operation, region, geography, endpoint_host FROM claude.usage WHERE job_id = {job} LIMIT 1"))
    t.ok(val(f"SELECT abs(s.c - 0.5 * d.c) < 0.000002 FROM "
             f"(SELECT sum(estimated_cost_usd) AS c FROM claude.stats) s, "
             f"(SELECT sum(claude.cost_usd(claude.price_of(model), input_tokens, output_tokens, cache_read_tokens, "
             f"cache_write_tokens, cache_write_1h_tokens)) AS c FROM claude.usage WHERE job_id = {job}) d") == "t",
         "claude.stats prices the records at the batch factor (half)")
    t.ok(val(f"SELECT phase || ' ' || (job_arn LIKE 'msgbatch_%') || ' ' || aws_status || ' ' || (output_uri IS NULL) "
             f"FROM claude.batch_parts WHERE job_id = {job}") == "done true ended true",
         "claude.batch_parts records the batch id and its status",
         val(f"SELECT * FROM claude.batch_parts WHERE job_id = {job}"))

    # --- an errored request is a failed row; the rest are written ---------------
    # Sonnet 4.5 is retired on the API (the facts file): the batch answers each request errored
    make_table("t2", 4)
    emu.reset()
    job = enrich("t2", " || '{\"model\": \"au.anthropic.claude-sonnet-4-5-20250929-v1:0\"}'")
    val(f"SELECT claude_job_wait({job}, '120 seconds')")
    failed = val(f"SELECT count(*) || ' ' || min(error_code) || ' ' || bool_and(error LIKE 'Anthropic Message Batch request failed%') "
                 f"FROM claude.job_items WHERE job_id = {job} AND state = 'failed'")
    t.ok(failed == "4 not_found_error true" and len(batches()) == 1 and
         val("SELECT count(*) FROM t2 WHERE label IS NOT NULL") == "0" and ops().get("Messages", 0) == 0
         and val(f"SELECT count(*) FROM claude.usage WHERE job_id = {job} AND error_code = 'not_found_error'") == "4",
         "an errored request is a failed row with the API's error type, and a usage row",
         (failed, val(f"SELECT error FROM claude.job_items WHERE job_id = {job} AND state = 'failed'")))

    # --- residency: au refuses before queueing; us sends inference_geo us ---------
    emu.reset()
    rc, out, err = q("SET claude.residency = au; SELECT claude_enrich('t1', 'body', 'label', 'classify', "
                     "'{\"mode\": \"batch\", \"redo\": \"all\", \"labels\": [\"a\"]}')")
    t.ok(rc != 0 and "42R01" in err and emu.stats()["requests"] == 0,
         "under au a batch-mode job is refused (42R01), zero requests", err[-300:])
    q("ALTER SYSTEM SET claude.residency = us; SELECT pg_reload_conf()")
    time.sleep(0.5)
    make_table("t3", 5)
    job = val("SET claude.residency = us; SELECT claude_enrich('t3', 'body', 'label', 'classify', "
              "'{\"mode\": \"batch\", \"model\": \"au.anthropic.claude-opus-4-6-v1\"}'::jsonb || '" + LABELS + "')")
    state = val(f"SELECT claude_job_wait({job}, '120 seconds')")
    reqs = batches()[-1]["params"] if batches() else []
    t.ok(state == "done" and len(reqs) == 5 and all(p.get("inference_geo") == "us" for p in reqs)
         and val(f"SELECT bool_and(geography = 'us') FROM claude.usage WHERE job_id = {job}") == "t",
         "under us every request of the batch carries inference_geo us", (state, reqs[:1]))
    q("ALTER SYSTEM RESET claude.residency; SELECT pg_reload_conf()")
    time.sleep(0.5)

    # --- a create whose answer is lost: the batch made is adopted, not made again --
    q("ALTER SYSTEM SET claude.timeout = '1s'; SELECT pg_reload_conf()")
    time.sleep(0.5)
    make_table("t4", 40)
    emu.reset()
    emu.control("anthropic-batch-config", {"create_answer_delay_ms": 2500, "delay_ms": 500})
    job = enrich("t4")
    ok, got = filled_once("t4", job, 40)
    t.ok(ok and len(batches()) == 1, "a create that timed out: its batch adopted, exactly one made",
         (got, batches(), ops().get("MessageBatchesCreate")))
    t.ok("adopted" in pg.read_log(), "the worker logs the adoption")
    q("ALTER SYSTEM RESET claude.timeout; SELECT pg_reload_conf()")
    time.sleep(0.5)

    # --- kill -9 in each phase: the same batch resumed, every row once ----------
    PHASES = [
        ("while the create is in flight", "phase = 'submitting'", {"create_answer_delay_ms": 1500, "delay_ms": 1500}),
        ("while the batch runs", "phase = 'in_progress'", {"delay_ms": 2000}),
    ]
    for n, (name, phase, config) in enumerate(PHASES):
        table = f"k{n}"
        make_table(table, 600)
        emu.reset()
        emu.control("anthropic-batch-config", config)
        job = enrich(table)
        hit = wait_for(f"SELECT EXISTS (SELECT 1 FROM claude.batch_parts WHERE job_id = {job} AND {phase})")
        pid = val("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_claude worker'")
        if pid.isdigit():
            os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.5)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and pg.psql("SELECT 1")[0] != 0:
            time.sleep(0.2)
        ok, got = filled_once(table, job, 600)
        t.ok(hit and ok and len(batches()) == 1,
             f"kill -9 {name}: one batch, every row filled once", (hit, got, batches()))

    # --- cancel: the batch is cancelled, its rows left undone -------------------
    make_table("t5", 20)
    emu.reset()
    emu.control("anthropic-batch-config", {"delay_ms": 60000})
    job = enrich("t5")
    hit = wait_for(f"SELECT EXISTS (SELECT 1 FROM claude.batch_parts WHERE job_id = {job} AND phase = 'in_progress')")
    val(f"SELECT claude_job_cancel({job})")
    t.ok(hit and wait_for(f"SELECT phase = 'done' FROM claude.batch_parts WHERE job_id = {job}", timeout=30, step=0.2)
         and all(b["canceled"] for b in batches()) and ops().get("MessageBatchesCancel", 0) >= 1
         and val("SELECT count(*) FROM t5 WHERE label IS NOT NULL") == "0",
         "claude_job_cancel cancels the Message Batch; nothing written", (batches(), ops()))

    t.ok(KEY not in pg.read_log(), "the API key is in no log line")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
