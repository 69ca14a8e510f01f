#!/usr/bin/env python3
"""A job's definition is part of what is done, and its estimate is honest.

Each row's hash covers its input and the job's definition (task, labels,
instructions, model, max_tokens): relabelling a finished job redoes its
rows, re-running it unchanged sends nothing, and "redo" = "missing" / "all"
/ bad values behave as documented (requests counted by the emulator).  A
hash from before 0.3.0 (no definition digest) is adopted, not redone.  The
estimate (claude_enrich_estimate, and claude.jobs for a queued job) comes
before anything is sent and is priced at the job's model, never the
viewer's claude.model; a job runs on the model resolved when it was
queued; the ETA has no fractional seconds; paused time is left out of the
rate."""

import os
import re
import sys
import tempfile
import time
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("job_definition")
work = tempfile.mkdtemp(prefix="pg_claude_t093_")
emu = Emulator(work, tls=False)
pg = Cluster("t093", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.worker_concurrency = 4
claude.cache = off
""")
N = 20
OTHER_MODEL = "au.anthropic.claude-sonnet-4-5-20250929-v1:0"


def q(sql):
    return pg.psql("\\set VERBOSITY verbose\n" + sql)


def val(sql):
    rc, out, err = q(sql)
    return out.splitlines()[-1] if out else err


def sent():
    return emu.stats()["requests"]


def labels(*names):
    return '{"labels": [' + ", ".join(f'"{n}"' for n in names) + "]}"


def opts(base, **extra):
    body = base.rstrip("}")
    for k, v in extra.items():
        body += f', "{k}": ' + (f'"{v}"' if isinstance(v, str) else str(v))
    return body + "}"


def run(table, options, task="classify", timeout=60):
    """Queue a job, wait for it; (job id, state, requests it sent)."""
    emu.reset()
    job = val(f"SELECT claude_enrich('{table}', 'body', 'label', '{task}', '{options}')")
    state = val(f"SELECT claude_job_wait({job}, '{timeout} seconds')")
    return job, state, sent()


def make_table(name, n):
    q(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id int PRIMARY KEY, body text, label text);"
      f"INSERT INTO {name} SELECT g, CASE WHEN g % 3 = 0 THEN 'billing question ' ELSE 'bug report ' END || g, NULL "
      f"FROM generate_series(1, {n}) g")


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")
    make_table("tickets", N)
    A = labels("billing", "bug")

    # --- the estimate, before anything is sent -------------------------------------
    emu.reset()
    rc, out, err = q(f"SELECT rows_to_do || ' ' || input_tokens || ' ' || output_tokens || ' ' || "
                     f"coalesce(estimated_cost_usd::text, 'NULL') || ' ' || model "
                     f"FROM claude_enrich_estimate('tickets', 'body', 'label', 'classify', '{A}')")
    est = out.splitlines()[-1].split() if rc == 0 and out else []
    t.ok(rc == 0 and len(est) == 5 and est[0] == str(N) and sent() == 0,
         "claude_enrich_estimate counts the rows to do and sends nothing", (out, err, sent()))
    model = val("SHOW claude.model")
    if len(est) == 5:
        rows, tin, tout, cost, emodel = int(est[0]), int(est[1]), int(est[2]), est[3], est[4]
        inputs = int(val("SELECT sum(octet_length(body)) FROM tickets"))
        t.ok(emodel == model and tin > (inputs + 3) // 4 and tout > 0 and tout % N == 0,
             "input tokens are bytes/4 of the inputs plus the task's request per row; output at max_tokens per row",
             (est, inputs))
        want = val(f"SELECT round(claude.cost_usd(claude.price_of('{model}'), {tin}, {tout}), 6)")
        t.ok(cost == want and Decimal(cost) > 0, "the estimate is priced at the job's model", (cost, want))

        # a queued job shows its estimate (still uncommitted: the worker cannot have started it)
        rc, out, err = q(f"BEGIN; SELECT claude_enrich('tickets', 'body', 'label', 'classify', '{A}') AS id \\gset\n"
                         "SELECT state || ' ' || estimated_rows || ' ' || estimated_input_tokens || ' ' || "
                         "estimated_output_tokens || ' ' || estimated_job_cost_usd || ' ' || model "
                         "FROM claude.jobs WHERE id = :id; ROLLBACK;")
        shown = out.splitlines()[-1] if out else err
        t.ok(shown == f"queued {rows} {tin} {tout} {cost} {model}",
             "a queued job shows its estimate in claude.jobs", shown)

    # --- a first run does every row; an unchanged re-run sends nothing ---------------
    job1, state, n = run("tickets", A)
    t.ok(state == "done" and n == N, "the first run sends one request per row", (state, n))
    t.ok(val(f"SELECT count(*) FROM claude.enrich_hashes e JOIN claude.job j ON j.id = {job1} "
             "WHERE e.source = 'tickets'::regclass AND e.definition_sha256 = j.definition_sha256") == str(N),
         "each row's hash names the job's definition")
    t.ok(val(f"SELECT rows_to_do FROM claude_enrich_estimate('tickets', 'body', 'label', 'classify', '{A}')") == "0",
         "after it, the estimate has nothing to do")
    job, state, n = run("tickets", A)
    t.ok(state == "done" and n == 0 and val(f"SELECT rows_total FROM claude.job WHERE id = {job}") == "0",
         "re-running it unchanged sends nothing", (state, n))
    # option order and spacing are not a change
    job, state, n = run("tickets", '{ "labels" : ["billing","bug"] }')
    t.ok(state == "done" and n == 0, "the same definition written another way sends nothing", (state, n))

    # an input expression is the owner's code: claude_enrich does not run it; the
    # worker estimates the job as it populates it, before sending anything
    make_table("exprs", 8)
    expr = "body || ' !'"
    before = val(f"SELECT rows_to_do || ' ' || input_tokens || ' ' || output_tokens "
                 f"FROM claude_enrich_estimate('exprs', $${expr}$$, 'label', 'classify', '{A}')")
    rc, out, err = q(f"BEGIN; SELECT claude_enrich('exprs', $${expr}$$, 'label', 'classify', '{A}') AS id \\gset\n"
                     "SELECT coalesce(estimated_rows::text, 'none') FROM claude.jobs WHERE id = :id; COMMIT;")
    t.ok(out.splitlines()[-1:] == ["none"], "an expression input is not evaluated by claude_enrich", (out, err))
    ejob = val("SELECT max(id) FROM claude.job")
    state = val(f"SELECT claude_job_wait({ejob}, '60 seconds')")
    after = val(f"SELECT estimated_rows || ' ' || estimated_input_tokens || ' ' || estimated_output_tokens "
                f"FROM claude.jobs WHERE id = {ejob}")
    t.ok(state == "done" and before.startswith("8 ") and after == before,
         "the worker's estimate of an expression input is the one claude_enrich_estimate gave", (before, after))

    # --- relabelling redoes the rows it affects ---------------------------------------
    B = labels("billing", "bug", "other")
    t.ok(val(f"SELECT rows_to_do FROM claude_enrich_estimate('tickets', 'body', 'label', 'classify', '{B}')")
         == str(N), "the estimate of a relabelled job counts every row")
    job, state, n = run("tickets", B)
    t.ok(state == "done" and n == N, "relabelling a finished job redoes its rows", (state, n))
    job, state, n = run("tickets", B)
    t.ok(n == 0, "and re-running the relabelled job sends nothing", n)
    job, state, n = run("tickets", opts(B, instructions="Tickets from the web form."))
    t.ok(state == "done" and n == N, "new instructions redo the rows", (state, n))
    C = opts(B, instructions="Tickets from the web form.")

    # --- redo: missing, all, and a bad value -------------------------------------------
    D = labels("billing", "bug", "feature")
    job, state, n = run("tickets", opts(D, redo="missing"))
    t.ok(state == "done" and n == 0, "redo missing with new labels sends nothing when every row has a result",
         (state, n))
    q("UPDATE tickets SET label = NULL WHERE id IN (2, 5, 7)")
    t.ok(val("SELECT rows_to_do FROM claude_enrich_estimate('tickets', 'body', 'label', 'classify', "
             f"'{opts(D, redo='missing')}')") == "3", "the estimate under redo missing counts the rows with no result")
    job, state, n = run("tickets", opts(D, redo="missing"))
    t.ok(state == "done" and n == 3, "redo missing fills only the rows with no result", (state, n))
    # the rows done under D now carry D's digest; the others still C's: "changed" under C redoes those 3
    job, state, n = run("tickets", C)
    t.ok(n == 3, "back to the earlier definition, only the rows made under another are redone", n)
    job, state, n = run("tickets", opts(C, redo="all"))
    t.ok(state == "done" and n == N, "redo all sends every row, unchanged or not", (state, n))
    job, state, n = run("tickets", opts(C, redo="changed"))
    t.ok(n == 0, "redo changed (the default, spelt out) after it sends nothing", n)
    emu.reset()
    for bad in ('"sometimes"', "1"):
        rc, out, err = q(f"SELECT claude_enrich('tickets', 'body', 'label', 'classify', "
                         f"'{{\"labels\": [\"billing\", \"bug\"], \"redo\": {bad}}}')")
        t.ok(rc != 0 and "22023" in err and "HINT" in err and all(c in err for c in ('"changed"', '"missing"', '"all"')),
             f"redo {bad} is refused (22023) with a hint listing the choices", err)
    t.ok(val("SELECT count(*) FROM claude.job WHERE options ? 'redo' AND options->>'redo' NOT IN "
             "('changed', 'missing', 'all')") == "0" and sent() == 0, "and nothing is queued or sent")

    # --- max_tokens and the model are part of the definition ----------------------------
    make_table("notes", 6)
    job, state, n = run("notes", '{"max_tokens": 200}', task="complete")
    t.ok(state == "done" and n == 6, "a complete job", (state, n))
    job, state, n = run("notes", '{"max_tokens": 200}', task="complete")
    t.ok(n == 0, "unchanged: nothing sent", n)
    job, state, n = run("notes", '{"max_tokens": 300}', task="complete")
    t.ok(n == 6, "another max_tokens redoes the rows", n)

    # a job without a model option runs on the model resolved when it was queued
    emu.reset()
    job = val(f"SET claude.model = '{OTHER_MODEL}'; "
              "SELECT claude_enrich('notes', 'body', 'label', 'complete', '{\"max_tokens\": 300}')")
    state = val(f"SELECT claude_job_wait({job}, '60 seconds')")
    t.ok(state == "done" and sent() == 6 and val(f"SELECT model FROM claude.job WHERE id = {job}") == OTHER_MODEL,
         "another claude.model in the queueing session is another definition: the rows are redone",
         (state, sent()))
    deadline = time.monotonic() + 10
    while val(f"SELECT count(*) FROM claude.usage WHERE job_id = {job}") != "6" and time.monotonic() < deadline:
        time.sleep(0.2)
    t.ok(val(f"SELECT string_agg(DISTINCT model, ',') FROM claude.usage WHERE job_id = {job}") == OTHER_MODEL,
         "the worker sent them to the job's model, not its own claude.model")
    costs = [val(f"SET claude.model = '{m}'; SELECT estimated_job_cost_usd || ' ' || estimated_cost_usd "
                 f"FROM claude.jobs WHERE id = {job}")
             for m in (model, OTHER_MODEL, "global.anthropic.claude-opus-5")]
    want = val(f"SELECT round(claude.cost_usd(claude.price_of('{OTHER_MODEL}'), estimated_input_tokens, "
               f"estimated_output_tokens), 6) FROM claude.job WHERE id = {job}")
    t.ok(len(set(costs)) == 1 and costs[0].split()[0] == want,
         "claude.jobs prices the estimate at the job's model whatever the viewer's claude.model", (costs, want))

    # --- hashes from before 0.3.0 (no definition digest) are adopted, not redone ------------
    q("UPDATE claude.enrich_hashes SET definition_sha256 = NULL WHERE source = 'tickets'::regclass")
    job, state, n = run("tickets", C)
    t.ok(state == "done" and n == 0, "a hash with no definition digest is not redone under changed", (state, n))
    t.ok(val(f"SELECT count(*) FROM claude.enrich_hashes e JOIN claude.job j ON j.id = {job} "
             "WHERE e.source = 'tickets'::regclass AND e.definition_sha256 = j.definition_sha256") == str(N),
         "it takes the definition of the run that found it")
    job, state, n = run("tickets", A)
    t.ok(n == N, "so that a later relabel still redoes it", n)

    # --- rate and ETA: whole seconds, paused time left out -------------------------------
    make_table("slow", 60)
    emu.reset()
    emu.control("config", {"latency_ms": 300})
    job = val(f"SELECT claude_enrich('slow', 'body', 'label', 'classify', '{A}')")
    etas = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(etas) < 3:
        e = val(f"SELECT eta FROM claude.jobs WHERE id = {job} AND eta IS NOT NULL")
        if e and not e.startswith("(") and "ERROR" not in e:
            etas.append(e)
        time.sleep(0.3)
    t.ok(len(etas) == 3 and all(re.fullmatch(r"\d{2}:\d{2}:\d{2}", e) for e in etas),
         "the ETA is an interval in whole seconds", etas)
    val(f"SELECT claude_job_pause({job})")
    time.sleep(0.5)
    paused_done = val(f"SELECT rows_done + rows_failed FROM claude.job WHERE id = {job}")
    rate_paused_1 = val(f"SELECT rows_per_second FROM claude.jobs WHERE id = {job}")
    time.sleep(3)
    rate_paused_2 = val(f"SELECT rows_per_second FROM claude.jobs WHERE id = {job}")
    t.ok(val(f"SELECT state FROM claude.job WHERE id = {job}") == "paused" and rate_paused_1 == rate_paused_2
         and val(f"SELECT rows_done + rows_failed FROM claude.job WHERE id = {job}") == paused_done,
         "while paused, the rate stands still", (rate_paused_1, rate_paused_2))
    val(f"SELECT claude_job_resume({job})")
    state = val(f"SELECT claude_job_wait({job}, '60 seconds')")
    emu.control("config", {"latency_ms": 0})
    paused = float(val(f"SELECT paused_seconds FROM claude.job WHERE id = {job}"))
    got = val(f"SELECT rows_per_second FROM claude.jobs WHERE id = {job}")
    want = val(f"SELECT round((rows_done + rows_failed) / (extract(epoch FROM finished_at - started_at) "
               f"- paused_seconds)::numeric, 2) FROM claude.job WHERE id = {job}")
    naive = val(f"SELECT round((rows_done + rows_failed) / extract(epoch FROM finished_at - started_at)::numeric, 2) "
                f"FROM claude.job WHERE id = {job}")
    t.ok(state == "done" and paused >= 3.0, "the paused time is recorded on the job", (state, paused))
    t.ok(got == want and Decimal(got) > Decimal(naive), "the rate leaves the paused time out", (got, want, naive))
    t.ok(val(f"SELECT paused_at IS NULL FROM claude.job WHERE id = {job}") == "t", "resume clears paused_at")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
