#!/usr/bin/env python3
"""The worker's rate limits, kept as Bedrock keeps its quotas: each attempt
reserves its input plus max_tokens x claude.output_burndown when it starts
and gets the unused part back when it ends (all of it when it was refused
before running, none when it may have run).  Against an emulator that
enforces a TPM quota that way, a job whose worker is set to the same quota
is never throttled, although its concurrency alone would overrun the quota
many times, and it keeps its requests going without waves; the request
pace is kept to the request, not to the minute's ledger; a request larger
than the whole quota fails at once without being sent; with
claude.output_burndown = -1 each model's factor comes from claude.models
(5x Sonnet 5, 1x Claude 3 Haiku); a retry reserves
anew when it is sent; ModelNotReadyException (a 429 too) is retried and,
unlike ThrottlingException, leaves the limits alone.

Each part starts a fresh worker (a restart), so that no part inherits the
reservations or the slowed-down limits of another."""

import os
import re
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
claude.output_burndown = {BURNDOWN}
""")


def fresh(settings, emulator_config):
    """A new worker with these settings, and an emulator with this config."""
    pg.query("SELECT claude_job_cancel(id) FROM claude.job WHERE state NOT IN ('done', 'done_with_errors', 'failed', 'cancelled')")
    pg.query("ALTER SYSTEM RESET ALL")
    for name, value in settings.items():
        pg.query(f"ALTER SYSTEM SET {name} = '{value}'")
    pg.restart()
    emu.reset()
    emu.control("config", emulator_config)


def wait_state(job, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = pg.query(f"SELECT state FROM claude.job WHERE id = {job}")
        if s in ("done", "done_with_errors", "failed", "cancelled"):
            return s
        time.sleep(0.1)
    return pg.query(f"SELECT state FROM claude.job WHERE id = {job}")


def job_over(table, options, rows=ROWS, body="'SLEEP 300 row ' || g"):
    pg.query(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY, body text, answer text);"
             f"INSERT INTO {table} SELECT g, {body}, NULL FROM generate_series(1, {rows}) g")
    return pg.query(f"SELECT claude_enrich('{table}', 'body', 'answer', 'complete', '{options}')")


def filled(table, rows=ROWS):
    return pg.query(f"SELECT count(*) FROM {table} WHERE answer = 'You said: row ' || id") == str(rows)


def timed_job(table, options, **kw):
    started = time.monotonic()
    job = job_over(table, options, **kw)
    state = wait_state(job)
    return job, state, time.monotonic() - started


QUOTA = {"tokens_per_minute": TPM, "output_burndown": BURNDOWN}
NOT_READY = {"fault": "error", "status": 429, "error_type": "ModelNotReadyException",
             "message": "Model is not ready for inference. Wait and try your request again."}

try:
    pg.start(env=emulator_env())
    pg.query("CREATE EXTENSION pg_claude")

    # 1. Each request reserves about 1,000 tokens for 300 ms: at most 5 of the
    #    16 the worker could keep in flight fit the emulator's 6,000 TPM.
    fresh({"claude.tokens_per_minute": TPM}, QUOTA)
    job, state, elapsed = timed_job("quota_rows", f'{{"max_tokens": {MAX_TOKENS}}}')
    s = emu.stats()
    t.ok(state == "done" and filled("quota_rows"), "a job at the TPM quota fills every row", state)
    t.ok(s["tokens_throttled"] == 0 and "429" not in s["by_status"],
         "the emulator enforcing that quota throttled none of its requests",
         f"throttled {s['tokens_throttled']}, statuses {s['by_status']}")
    retries = pg.query(f"SELECT coalesce(sum(retries), 0) FROM claude.usage WHERE job_id = {job}")
    t.ok(retries == "0", "no request needed a retry", retries)
    # 40 rows of 300 ms, at most 5 at a time (6000 // 1010): 8 waves, 2.4 s at least
    t.ok(elapsed >= 2.4, "the reservations held the worker below its concurrency",
         f"{elapsed:.2f} s for {ROWS} rows")
    # a row goes as soon as an answer makes room, not when the whole round has
    # drained and a second more has passed (which took 8 x 1.3 s)
    t.ok(elapsed < 7.0, "a row goes as soon as an answer gives its reservation back",
         f"{elapsed:.2f} s for {ROWS} rows")
    # what the job used is far below what it reserved: the unused part came back
    in_window = s["tokens_in_window"]
    t.ok(0 < in_window < ROWS * 100, "the quota keeps only what the requests used",
         f"{in_window} tokens in the window, {ROWS * (MAX_TOKENS * BURNDOWN)} reserved in all")
    baseline = elapsed
    print(f"# part 1: {elapsed:.2f} s for {ROWS} rows", flush=True)

    # 2. The request pace is the pace, whatever the token ledger holds: 600 a
    #    minute is one every 100 ms, not one a second.
    fresh({"claude.tokens_per_minute": 1000000, "claude.requests_per_minute": 600},
          {"tokens_per_minute": 1000000, "requests_per_minute": 600, "output_burndown": BURNDOWN})
    job, state, elapsed = timed_job("paced_rows", '{"max_tokens": 50}', rows=20, body="'row ' || g")
    s = emu.stats()
    print(f"# part 2: {elapsed:.2f} s for 20 rows", flush=True)
    t.ok(state == "done" and filled("paced_rows", 20) and "429" not in s["by_status"],
         "a job at 600 requests a minute fills every row unthrottled", f"{state} {s['by_status']}")
    t.ok(1.8 <= elapsed < 6.0, "requests are paced at 100 ms, not at the ledger's second",
         f"{elapsed:.2f} s for 20 rows")

    # 3. ModelNotReadyException is retried and leaves the limits alone; the
    #    same number of ThrottlingExceptions slows the worker down.  (Each
    #    attempt is heard, retried ones too: a job whose throttled attempts
    #    all succeed when retried would otherwise never slow down.)
    fresh({"claude.tokens_per_minute": TPM}, QUOTA)
    emu.control("faults", {"faults": [dict(NOT_READY, count=6)]})
    job, state, not_ready = timed_job("ready_rows", f'{{"max_tokens": {MAX_TOKENS}}}')
    s = emu.stats()
    t.ok(state == "done" and filled("ready_rows") and s["faults_applied"] == 6,
         "ModelNotReadyException is retried: the job fills every row",
         f"{state}, faults {s['faults_applied']}")
    fresh({"claude.tokens_per_minute": TPM}, QUOTA)
    emu.control("faults", {"faults": [{"fault": "throttle", "count": 6}]})
    job, state, throttled = timed_job("throttled_rows", f'{{"max_tokens": {MAX_TOKENS}}}')
    s = emu.stats()
    t.ok(state == "done" and filled("throttled_rows") and s["faults_applied"] == 6,
         "ThrottlingException is retried: the job fills every row", f"{state}, faults {s['faults_applied']}")
    print(f"# part 3: {not_ready:.2f} s not ready, {throttled:.2f} s throttled", flush=True)
    t.ok(not_ready < baseline + 1.5, "ModelNotReadyException left the limits as they were",
         f"{not_ready:.2f} s, {baseline:.2f} s without faults")
    t.ok(throttled > not_ready + 1.5, "the same number of ThrottlingExceptions slowed the worker down",
         f"{throttled:.2f} s throttled, {not_ready:.2f} s not ready")

    # 4. A request larger than the whole quota can never go (Bedrock refuses
    #    it every time, and its 429s would slow everyone down): it fails at
    #    once, without being sent, saying why.
    fresh({"claude.tokens_per_minute": TPM}, QUOTA)
    job, state, elapsed = timed_job("huge_rows", '{"max_tokens": 2000}', rows=3)
    s = emu.stats()
    errors = pg.query(f"SELECT string_agg(DISTINCT error, ' | ') FROM claude.job_items WHERE job_id = {job}")
    t.ok(s["requests"] == 0, "a request reserving more than the quota is not sent",
         f"{s['requests']} requests, statuses {s['by_status']}")
    t.ok(state == "failed" or pg.query(f"SELECT count(*) FROM claude.job_items WHERE job_id = {job} "
                                       "AND state = 'failed'") == "3",
         "its rows fail", state)
    t.ok(re.search(r"token reservation of 10\d{3} exceeds claude\.tokens_per_minute \(6000\)", errors or ""),
         "the error names the reservation and the setting", errors)
    t.ok(elapsed < 10, "at once", f"{elapsed:.2f} s")

    # 4b. With claude.output_burndown = -1 each model's factor comes from
    #     claude.models: the same 2,000 max_tokens reserve about 10,000 on
    #     Sonnet 5 (5x, refused unsent) and about 2,000 on Claude 3 Haiku
    #     (1x), which goes, against a quota that counts its output once.
    fresh({"claude.tokens_per_minute": TPM, "claude.output_burndown": -1},
          {"tokens_per_minute": TPM, "output_burndown": 1})
    job, state, _ = timed_job("per_model_5x", '{"max_tokens": 2000}', rows=1)
    t.ok(emu.stats()["requests"] == 0 and state in ("failed", "done_with_errors") and
         pg.query(f"SELECT count(*) FROM claude.job_items WHERE job_id = {job} AND state = 'failed'") == "1",
         "per model: Sonnet 5's output counts 5x, so 2,000 max_tokens do not fit a 6,000 quota", state)
    job, state, _ = timed_job("per_model_1x", '{"max_tokens": 2000, "model": "anthropic.claude-3-haiku-20240307-v1:0"}',
                              rows=2)
    s = emu.stats()
    t.ok(state == "done" and filled("per_model_1x", rows=2) and s["by_status"].get("429", 0) == 0,
         "per model: Claude 3 Haiku's counts once, so the same request goes, and is not throttled",
         f"{state}, statuses {s['by_status']}")

    # 5. A retry reserves anew when it is sent, at the tail of the ledger, as
    #    the service counts it.  A request of 3,000 input tokens is refused 7
    #    times (ModelNotReadyException, seconds of backoff in all) and then
    #    answered: the emulator holds its 3,250 tokens for a minute from that
    #    answer.  A request of 3,500 more fits only once they are gone: sent
    #    when a minute has passed since the first attempt, it would be
    #    throttled.
    fresh({"claude.tokens_per_minute": TPM, "claude.max_retries": 7}, QUOTA)
    emu.control("faults", {"faults": [dict(NOT_READY, count=7)]})
    big = "'row ' || g || ' ' || repeat('x', 12000)"
    job, state, _ = timed_job("retried_rows", '{"max_tokens": 50}', rows=1, body=big)
    s = emu.stats()
    t.ok(state == "done" and s["faults_applied"] == 7 and s["tokens_in_window"] > 3000,
         "a request refused 7 times is answered, and its tokens are held",
         f"{state}, faults {s['faults_applied']}, {s['tokens_in_window']} tokens held")
    job, state, elapsed = timed_job("after_rows", '{"max_tokens": 700}', rows=1, body="'row ' || g")
    s = emu.stats()
    t.ok(state == "done" and filled("after_rows", 1), "the next request is answered", state)
    t.ok(s["tokens_throttled"] == 0, "the next request waited for the retry's reservation, not the first attempt's",
         f"throttled {s['tokens_throttled']}, waited {elapsed:.1f} s")

    # 6. An attempt that may have run keeps its reservation: one cut off by
    #    claude.timeout (1 s) while the service goes on for 3 s (holding its
    #    reservation) does not make room for the next request.
    fresh({"claude.tokens_per_minute": TPM, "claude.max_retries": 0, "claude.timeout": "1s"}, QUOTA)
    job, state, _ = timed_job("cut_rows", '{"max_tokens": 700}', rows=1, body="'SLEEP 3000 row ' || g")
    t.ok(state == "failed" or pg.query(f"SELECT state FROM claude.job_items WHERE job_id = {job}") == "failed",
         "a request past claude.timeout fails", state)
    job = job_over("waiting_rows", '{"max_tokens": 700}', rows=1, body="'row ' || g")
    time.sleep(3.5)
    s = emu.stats()
    t.ok(s["tokens_throttled"] == 0 and s["requests"] == 1,
         "the next request waits: the timed-out attempt may hold its reservation",
         f"throttled {s['tokens_throttled']}, {s['requests']} requests")
    pg.query(f"SELECT claude_job_cancel({job})")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
