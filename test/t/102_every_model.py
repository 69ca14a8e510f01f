#!/usr/bin/env python3
"""Every model of the seeded catalogue through every function family
(complete, invoke, classify, multi-label, extract, sentiment, summarize,
summarize_agg, the _batch forms, async, enrich) against the emulator with
that model's constraints (doc/models.md): each is right the first time, so
the emulator answers no request with a 400.  Then a model nobody has heard
of, registered in the emulator with constraints of its own, works through
every family too, learning from Bedrock's refusals; the learnt traits are
rows of claude.models, and the next call is right first time."""

import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("every model")
work = tempfile.mkdtemp(prefix="pg_claude_t102_")
emu = Emulator(work, tls=False)
pg = Cluster("t102", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.cache = off
claude.temperature = '0.2'
""")

SCHEMA = ('{"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, '
          '"required": ["name", "age"]}')
LABELS = "ARRAY['other', 'billing', 'outage']"
FAMILIES = f"""
SELECT 'complete=' || claude_complete('hello there');
SELECT 'invoke=' || (jsonb_path_query_first(claude_invoke('{{"messages": [{{"role": "user", "content": "hi"}}]}}'), '$.content[*] ? (@.type == "text").text') #>> '{{}}');
SELECT 'classify=' || claude_classify('The outage took billing down', {LABELS});
SELECT 'multi=' || claude_classify_multi('The outage took billing down', {LABELS})::text;
SELECT 'extract=' || claude_extract('Name: Alice Smith, age: 42', '{SCHEMA}')::text;
SELECT 'sentiment=' || claude_sentiment('Great service, I love it');
SELECT 'summarize=' || claude_summarize('The quick brown fox jumps. It runs.');
SELECT 'agg=' || claude_summarize_agg(x ORDER BY x) FROM (VALUES ('First point. More.'), ('Second point.')) v(x);
SELECT 'cbatch=' || string_agg(label, ',' ORDER BY ord) FROM claude_classify_batch(ARRAY['a billing question', 'an outage'], {LABELS});
SELECT 'ebatch=' || string_agg(coalesce(error, 'ok'), ',' ORDER BY ord) FROM claude_extract_batch(ARRAY['Name: Bo, age: 3'], '{SCHEMA}');
"""
WANT = {
    "complete": "You said: hello there",
    "invoke": "You said: hi",
    "classify": "billing",
    "multi": "{billing,outage}",
    "extract": '{"age": 42, "name": "Alice Smith"}',
    "sentiment": "1",
    "summarize": "Summary: The quick brown fox jumps.",
    "agg": "Summary of 2 items: First point.",
    "cbatch": "billing,outage",
    "ebatch": "ok",
}


def families(model):
    rc, out, err = pg.psql(f"SET claude.model = '{model}';\n" + FAMILIES)
    got = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return rc, got, err


def worker_families(model, tag):
    """async and enrich: the worker's path."""
    pg.query(f"CREATE TABLE IF NOT EXISTS r_{tag} (id int PRIMARY KEY, body text, label text);"
             f"INSERT INTO r_{tag} VALUES (1, 'an outage today'), (2, 'billing twice') ON CONFLICT DO NOTHING")
    rid = pg.query(f"SELECT claude_complete_async('hello async', model => '{model}')")
    job = pg.query(f"SELECT claude_enrich('r_{tag}', 'body', 'label', 'classify', "
                   f"'{{\"labels\": [\"other\", \"billing\", \"outage\"], \"model\": \"{model}\"}}')")
    state = pg.query(f"SELECT claude_job_wait({job}, '60 seconds')")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and pg.query(f"SELECT state FROM claude.requests WHERE id = {rid}") \
            not in ("done", "failed"):
        time.sleep(0.1)
    labels = pg.query(f"SELECT string_agg(coalesce(label, 'NULL'), ',' ORDER BY id) FROM r_{tag}")
    answer = pg.query(f"SELECT coalesce(result, error) FROM claude.requests WHERE id = {rid}")
    return state, labels, answer


# one route per model that residency 'au' allows, else its global profile under 'none'
try:
    pg.start(env=emulator_env())
    pg.query("CREATE EXTENSION pg_claude")
    models = pg.query(
        "SELECT b.model_id, coalesce((SELECT p.model_id FROM claude.models p WHERE p.base_model = b.model_id "
        "AND p.model_id LIKE 'au.%'), CASE WHEN b.on_demand THEN b.model_id END, "
        "(SELECT p.model_id FROM claude.models p WHERE p.base_model = b.model_id AND p.model_id LIKE 'global.%'), "
        "(SELECT p.model_id FROM claude.models p WHERE p.base_model = b.model_id AND p.model_id LIKE 'apac.%')) "
        "FROM claude.models b WHERE b.source = 'seed' AND b.kind = 'foundation_model' ORDER BY 1").splitlines()
    t.ok(len(models) >= 14, "the seeded catalogue lists the Sydney models", len(models))
    for i, line in enumerate(models):
        base, route = line.split("|")
        if not route:
            continue  # not offered in Sydney (on demand or by a profile): nothing to call
        residency = "au" if route.startswith("au.") or route == base else "none"
        pg.query(f"ALTER SYSTEM SET claude.residency = '{residency}'; SELECT pg_reload_conf()")
        time.sleep(0.2)
        emu.reset()
        rc, got, err = families(route)
        bad = {k: (got.get(k), v) for k, v in WANT.items() if got.get(k) != v}
        st = emu.stats()
        t.ok(rc == 0 and not bad and "400" not in st["by_status"],
             f"{route}: every family, right the first time", (bad, err[-600:], st["by_status"]))
        state, labels, answer = worker_families(route, f"m{i}")
        t.ok(state == "done" and labels == "outage,billing" and answer == "You said: hello async"
             and "400" not in emu.stats()["by_status"],
             f"{route}: async and enrich through the worker", (state, labels, answer, emu.stats()["by_status"]))

    # --- a model the code has never heard of ---------------------------------------------------
    pg.query("ALTER SYSTEM SET claude.residency = 'au'; SELECT pg_reload_conf()")
    time.sleep(0.2)
    zephyr = {"id": "anthropic.claude-zephyr-7", "temperature": False, "top_p": False, "top_k": False,
              "forced_tool_choice": False, "structured_output": True, "thinking": "always_on",
              "regions": {"ap-southeast-2": ["au", "global"]}}
    emu.reset()
    emu.control("models", zephyr)
    t.ok(pg.query("SELECT resolved_by FROM claude.model_info('au.anthropic.claude-zephyr-7')") == "unknown",
         "the catalogue does not know the new model")
    rc, got, err = families("au.anthropic.claude-zephyr-7")
    bad = {k: (got.get(k), v) for k, v in WANT.items() if got.get(k) != v}
    t.ok(rc == 0 and not bad, "a model nobody has heard of works through every family", (bad, err[-800:]))
    learnt = pg.query("SELECT array_to_string(ARRAY[temperature::text, forced_tool_choice::text, thinking], ',') "
                      "FROM claude.models WHERE model_id = 'anthropic.claude-zephyr-7' AND source = 'learned'")
    t.ok(learnt == "false,false,always_on", "what Bedrock refused is learnt, as a row of claude.models", learnt)
    emu.reset()  # (a reset forgets registered models)
    emu.control("models", zephyr)
    rc, got, err = families("au.anthropic.claude-zephyr-7")
    t.ok(rc == 0 and got.get("classify") == "billing" and "400" not in emu.stats()["by_status"],
         "a new session is right the first time", (got, emu.stats()["by_status"]))
    state, labels, answer = worker_families("au.anthropic.claude-zephyr-7", "zephyr")
    t.ok("400" not in emu.stats()["by_status"], "the worker too is right the first time", emu.stats()["by_status"])
    t.ok(state == "done" and labels == "outage,billing" and answer == "You said: hello async",
         "the new model through the worker", (state, labels, answer))

    # an edit of the catalogue applies at once, in a session that already read it
    emu.reset()
    rc, out, err = pg.psql("SELECT claude_classify('billing', ARRAY['billing', 'bug'], model => 'au.anthropic.claude-opus-5');"
                           "UPDATE claude.models SET structured_output = false WHERE model_id = 'anthropic.claude-opus-5';"
                           "SELECT claude_classify('bug', ARRAY['billing', 'bug'], model => 'au.anthropic.claude-opus-5');")
    last = emu.stats()["last_request"]["body"]
    t.ok(rc == 0 and '"tool_choice":{"type":"tool"' in last and "output_config" not in last,
         "an edit of claude.models shapes the session's next request", (err, last[:300]))
    pg.query("DELETE FROM claude.models WHERE source = 'user'")

    # an explicit temperature to a model that refuses it: an error before anything is sent
    emu.reset()
    rc, out, err = pg.psql("SELECT claude_complete('hi', model => 'au.anthropic.claude-sonnet-5', temperature => 0.3)")
    t.ok(rc != 0 and "does not accept temperature" in err and "HINT" in err and emu.stats()["requests"] == 0,
         "an explicit temperature to Sonnet 5: 22023 with a hint, nothing sent", err)
    rc, out, err = pg.psql("SELECT claude_complete('hi', model => 'au.anthropic.claude-sonnet-5')")
    t.ok(rc == 0 and "NOTICE" in err and "claude.temperature is left out" in err,
         "claude.temperature left out for Sonnet 5, with a NOTICE", err)
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
