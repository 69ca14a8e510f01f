#!/usr/bin/env python3
"""Prices as published (the vendored December 2026 facts): every Claude model
the facts price costs, through claude.price_of, its global price on a
global. profile and its geographic price (1.1x for Sonnet 4.5 and newer) on
an au. profile or in-region; an edited price is the user's own and wins.
An ARN is priced by its resource id: a global. profile's ARN at the global
price, a geographic profile's or a foundation model's ARN at the geographic
one.  claude.jobs prices a job by the calls it made, at the price of the
model each used: the viewer's claude.model changes nothing; the tokens of
calls pruned from claude.usage are priced at the job's model, or not at all
(NULL) when it is not known, never as free."""

import json
import os
import sys
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("prices")
FACTS = json.load(open(os.path.join(os.path.dirname(HERE), "data", "claude-models", "ap-southeast-2.json")))
work = tempfile.mkdtemp(prefix="pg_claude_t097_")
emu = Emulator(work, tls=False)
pg = Cluster("t097", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.cache = off
""")


def price(model):
    out = pg.query(f"SELECT concat_ws(' ', p.input_per_mtok, p.output_per_mtok, p.cache_read_per_mtok, "
                   f"p.cache_write_per_mtok) FROM claude.price_of('{model}') p")
    return [Decimal(x) for x in out.split()] if out else None


def same(got, want):
    """want: [input, output, cache read, cache write] of the facts; None = not given."""
    return got is not None and all(w is None or g == Decimal(str(w)) for g, w in zip(got, want))


try:
    pg.start(env=emulator_env())
    pg.query("CREATE EXTENSION pg_claude")

    for m in FACTS["models"]:
        base = m["model"]
        glob = m["price"]["global"]
        geo = m["price"].get("geo")
        g = price("global." + base)
        t.ok(same(g, glob), f"{base}: the global. profile at the global price", f"{g} vs {glob}")
        if geo:
            a = price("au." + base)
            t.ok(same(a, geo), f"{base}: the au. profile at the geographic price", f"{a} vs {geo}")
            t.ok(same(price(base), geo), f"{base}: in-region at the geographic price", str(price(base)))
        arn = "arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/"
        g = price(arn + "global." + base)
        t.ok(same(g, glob), f"{base}: the global. profile's ARN at the global price", f"{g} vs {glob}")
        if geo:
            a = price(arn + "au." + base)
            t.ok(same(a, geo), f"{base}: the au. profile's ARN at the geographic price", f"{a} vs {geo}")
            f = price("arn:aws:bedrock:ap-southeast-2::foundation-model/" + base)
            t.ok(same(f, geo), f"{base}: the foundation model's ARN at the geographic price", f"{f} vs {geo}")

    # an edit is the user's own row, which wins; the published one stays
    pg.query("UPDATE claude.prices SET input_per_mtok = 2.5 WHERE model_pattern = '%claude-sonnet-5%'")
    t.ok(price("au.anthropic.claude-sonnet-5")[0] == Decimal("2.5")
         and pg.query("SELECT count(*) FROM claude.prices WHERE model_pattern = '%claude-sonnet-5%'") == "2",
         "an edited price is kept as the user's row and wins")
    pg.query("DELETE FROM claude.prices WHERE source = 'user'")

    # a job is priced by what it ran, whatever the viewer's claude.model
    pg.query("CREATE TABLE notes (id int PRIMARY KEY, body text, answer text);"
             "INSERT INTO notes SELECT g, 'note number ' || g, NULL FROM generate_series(1, 5) g")
    # no model option: the worker's claude.model (the default, Sonnet 5 via au.)
    job = pg.query("SELECT claude_enrich('notes', 'body', 'answer', 'complete')")
    deadline = time.monotonic() + 60
    while pg.query(f"SELECT state FROM claude.job WHERE id = {job}") not in ("done", "done_with_errors", "failed") \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    # the audit writer records the calls in its own transactions, shortly after
    while pg.query(f"SELECT count(*) FROM claude.usage WHERE job_id = {job}") != "5" \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    tokens = pg.query(f"SELECT string_agg(DISTINCT model, ',') || ' ' || sum(input_tokens) || ' ' || "
                      f"sum(output_tokens) FROM claude.usage WHERE job_id = {job}")
    used, inp, outp = tokens.split()
    inp, outp = int(inp), int(outp)
    t.ok(used == "au.anthropic.claude-sonnet-5", "the job ran on the worker's model", used)
    want = (Decimal(inp) * Decimal("2.2") + Decimal(outp) * Decimal("11")) / Decimal(1000000)
    costs = [pg.query(f"SET claude.model = '{m}'; SELECT estimated_cost_usd FROM claude.jobs WHERE id = {job}")
             .splitlines()[-1] for m in ("au.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.anthropic.claude-opus-5")]
    t.ok(costs[0] == costs[1] and Decimal(costs[0]) == want.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP),
         "claude.jobs prices a job at its own model's price, whatever the viewer's claude.model",
         f"{costs} vs {want} ({inp} in, {outp} out)")
    # calls pruned from claude.usage (claude.usage_retention) are not free:
    # their tokens, the job's less those of the calls that remain, are priced
    # at the job's model (the one its remaining calls used) ...
    job_tokens = pg.query(f"SELECT input_tokens || ' ' || output_tokens FROM claude.job WHERE id = {job}")
    t.ok(job_tokens == f"{inp} {outp}", "the job counted the tokens of its calls", f"{job_tokens} vs {inp} {outp}")
    pg.query("DELETE FROM claude.usage WHERE ctid IN "
             f"(SELECT ctid FROM claude.usage WHERE job_id = {job} ORDER BY ts LIMIT 2)")
    pruned = pg.query(f"SELECT estimated_cost_usd FROM claude.jobs WHERE id = {job}")
    t.ok(pruned == costs[0], "a job whose older calls were pruned costs what it cost", f"{pruned} vs {costs[0]}")
    # ... or, with none left, at the model resolved when it was queued
    # (claude.job.model); a job from before 0.3.0 has none: its model
    # option, and without one, unknown
    pg.query(f"DELETE FROM claude.usage WHERE job_id = {job}")
    gone = pg.query(f"SELECT coalesce(estimated_cost_usd::text, 'NULL') FROM claude.jobs WHERE id = {job}")
    t.ok(gone == costs[0], "a job with no call left costs its tokens at the model it was queued with",
         f"{gone} vs {costs[0]}")
    pg.query(f"UPDATE claude.job SET model = NULL WHERE id = {job}")
    gone = pg.query(f"SELECT coalesce(estimated_cost_usd::text, 'NULL') FROM claude.jobs WHERE id = {job}")
    t.ok(gone == "NULL", "a job with no call left, no model recorded and no model option has no estimate, not 0",
         gone)
    pg.query(f"""UPDATE claude.job SET options = '{{"model": "global.anthropic.claude-sonnet-5"}}' WHERE id = {job}""")
    optioned = pg.query(f"SELECT estimated_cost_usd FROM claude.jobs WHERE id = {job}")
    want = ((Decimal(inp) * 2 + Decimal(outp) * 10) / Decimal(1000000)).quantize(Decimal("0.000001"),
                                                                                rounding=ROUND_HALF_UP)
    t.ok(optioned and Decimal(optioned) == want, "with none left, its tokens at the price of its model option",
         f"{optioned} vs {want}")
    empty = pg.query("CREATE TABLE none_ (id int PRIMARY KEY, body text, answer text);"
                     "SELECT claude_enrich('none_', 'body', 'answer', 'complete')")
    t.ok(pg.query(f"SELECT estimated_cost_usd FROM claude.jobs WHERE id = {empty.splitlines()[-1]}") == "0",
         "a job that made no call costs 0")

    # a prompt-cache write for an hour costs 2x input, one for 5 minutes 1.25x
    # (facts: pricing_notes.cache); claude.stats prices each at its own rate
    big = "; ".join(f"detail {i} about billing disputes, refunds, invoices and charges" for i in range(400))
    model = "au.anthropic.claude-opus-4-8"
    rows = {}
    for ttl in ("1h", "5m"):
        # a prefix of its own per TTL (Opus 4.8 caches from 4,096 tokens), so each is a write
        labels = '{"billing": "%s", "bug": "something is broken (%s)"}' % (big, ttl)
        pg.query(f"SET claude.prompt_cache_ttl = '{ttl}'; "
                 f"SELECT claude_classify('charged twice ({ttl})', '{labels}'::jsonb, model => '{model}')")
        for _ in range(50):  # the audit writer is asynchronous
            rows[ttl] = pg.query("SELECT concat_ws(' ', input_tokens, output_tokens, coalesce(cache_read_tokens, 0), "
                                 "cache_write_tokens, cache_write_1h_tokens) FROM claude.usage "
                                 f"WHERE model = '{model}' AND function_name = 'claude_classify' "
                                 f"ORDER BY id DESC LIMIT 1 OFFSET {0 if ttl == '1h' else 0}").split()
            if len(rows[ttl]) == 5 and (ttl == "1h" or rows[ttl] != rows["1h"]):
                break
            time.sleep(0.1)
    w1h, w5m = rows["1h"], rows["5m"]
    t.ok(int(w1h[3]) > 0 and w1h[4] == w1h[3], "a 1-hour cache write is recorded as such", w1h)
    t.ok(int(w5m[3]) > 0 and w5m[4] == "0", "a 5-minute one is not", w5m)
    inp, outp, read, write = (Decimal(x) for x in price(model))
    t.ok(inp == Decimal("5.50"), "Opus 4.8 in Sydney at its geographic input price", str(inp))
    def cost(r):
        i, o, cr, cw, c1 = (Decimal(x) for x in r)
        return (i * inp + o * outp + cr * read + (cw - c1) * write + c1 * 2 * inp) / Decimal(1000000)
    for ttl, r in rows.items():
        got = pg.query(f"SELECT claude.cost_usd(claude.price_of('{model}'), {r[0]}, {r[1]}, {r[2]}, {r[3]}, {r[4]})")
        t.ok(Decimal(got) == cost(r), f"claude.cost_usd prices a {ttl} cache write at its rate", f"{got} vs {cost(r)}")
    stats = pg.query(f"SELECT estimated_cost_usd FROM claude.stats WHERE model = '{model}'")
    want = (cost(w1h) + cost(w5m)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    t.ok(stats and Decimal(stats) == want, "claude.stats adds both at their rates", f"{stats} vs {want}")
    one_h = pg.query(f"SELECT cache_write_1h_per_mtok, batch_factor FROM claude.price_of('{model}')").split("|")
    t.ok(Decimal(one_h[0]) == 2 * inp and Decimal(one_h[1]) == Decimal("0.5"),
         "the published 1-hour write price is 2x input and batch inference half", one_h)
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
