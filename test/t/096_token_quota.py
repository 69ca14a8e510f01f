#!/usr/bin/env python3
"""The worker's token quota, kept as Bedrock keeps it: each request reserves
its input plus max_tokens x claude.output_burndown when it starts and gets
the unused part back when it ends.  Against an emulator that enforces a
TPM quota that way, a job whose worker is set to the same quota is never
throttled, although its concurrency alone would overrun the quota many
times; ModelNotReadyException (a 429 too) is retried and the job goes on."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("token quota")
work = tempfile.mkdtemp(prefix="pg_claude_t096_")
emu = Emulator(work, tls=False)
TPM, BURNDOWN, MAX_TOKENS, ROWS = 6000, 5, 200, 40
pg = Cluster("t096", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.worker_concurrency = 16
claude.cache = off
claude.tokens_per_minute = {TPM}
claude.output_burndown = {BURNDOWN}
""")


def wait_state(job, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = pg.query(f"SELECT state FROM claude.job WHERE id = {job}")
        if s in ("done", "failed", "cancelled"):
            return s
        time.sleep(0.2)
    return pg.query(f"SELECT state FROM claude.job WHERE id = {job}")


def job_over(table, options):
    pg.query(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY, body text, answer text);"
             f"INSERT INTO {table} SELECT g, 'SLEEP 300 row ' || g, NULL FROM generate_series(1, {ROWS}) g")
    return pg.query(f"SELECT claude_enrich('{table}', 'body', 'answer', 'complete', '{options}')")


try:
    pg.start(env=emulator_env())
    pg.query("CREATE EXTENSION pg_claude")

    # 1. Each request reserves about 1,000 tokens for 300 ms: at most 5 of the
    #    16 the worker could keep in flight fit the emulator's 6,000 TPM.
    emu.reset()
    emu.control("config", {"tokens_per_minute": TPM, "output_burndown": BURNDOWN})
    started = time.monotonic()
    job = job_over("quota_rows", f'{{"max_tokens": {MAX_TOKENS}}}')
    state = wait_state(job)
    elapsed = time.monotonic() - started
    s = emu.stats()
    filled = pg.query("SELECT count(*) FROM quota_rows WHERE answer = 'You said: row ' || id")
    t.ok(state == "done" and filled == str(ROWS), "a job at the TPM quota fills every row",
         f"{state} {filled}/{ROWS}")
    t.ok(s["tokens_throttled"] == 0 and "429" not in s["by_status"],
         "the emulator enforcing that quota throttled none of its requests",
         f"throttled {s['tokens_throttled']}, statuses {s['by_status']}")
    retries = pg.query(f"SELECT coalesce(sum(retries), 0) FROM claude.usage WHERE job_id = {job}")
    t.ok(retries == "0", "no request needed a retry", retries)
    # 40 rows of 300 ms, at most 5 at a time (6000 // 1010): 8 waves, 2.4 s at least
    t.ok(elapsed >= 2.4, "the reservations held the worker below its concurrency",
         f"{elapsed:.2f} s for {ROWS} rows")
    # what the job used is far below what it reserved: the unused part came back
    in_window = s["tokens_in_window"]
    t.ok(0 < in_window < ROWS * 100, "the quota keeps only what the requests used",
         f"{in_window} tokens in the window, {ROWS * (MAX_TOKENS * BURNDOWN)} reserved in all")

    # 2. ModelNotReadyException is retried, and the job completes.
    emu.reset()
    emu.control("faults", {"faults": [
        {"fault": "error", "status": 429, "error_type": "ModelNotReadyException",
         "message": "Model is not ready for inference. Wait and try your request again.", "count": 3}]})
    pg.query("DROP TABLE quota_rows")
    job = job_over("ready_rows", '{"max_tokens": 50}')
    state = wait_state(job)
    s = emu.stats()
    filled = pg.query("SELECT count(*) FROM ready_rows WHERE answer = 'You said: row ' || id")
    t.ok(state == "done" and filled == str(ROWS) and s["faults_applied"] == 3,
         "ModelNotReadyException is retried: the job fills every row",
         f"{state} {filled}/{ROWS}, faults {s['faults_applied']}")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
