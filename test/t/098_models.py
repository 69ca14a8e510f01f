#!/usr/bin/env python3
"""The model catalogue (doc/models.md): claude.models is seeded from the
vendored December 2026 facts, claude.model_info() resolves ids, profiles and
ARNs to the base model's traits, a model the table does not know inherits its
family's newest traits, a user's edit is a row of its own that wins and
survives a re-seed, and pg_dump keeps exactly the rows that are not seed."""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from harness import Cluster, Reporter, free_port  # noqa: E402

t = Reporter("models")
REPO = os.path.dirname(os.path.dirname(HERE))
FACTS = json.load(open(os.path.join(REPO, "test", "data", "claude-models", "ap-southeast-2.json")))
work = tempfile.mkdtemp(prefix="pg_claude_t098_")
pg = Cluster("t098", free_port(), conf="claude.cache = off\n")


def info(model, cols):
    arr = ", ".join(c.strip() + "::text" for c in cols.split(","))
    out = pg.query(f"SELECT array_to_string(ARRAY[{arr}], '|', '') FROM claude.model_info('{model}')")
    return [{"true": "t", "false": "f"}.get(v, v) for v in out.split("|")]


try:
    pg.start()
    pg.query("CREATE EXTENSION pg_claude")

    r = subprocess.run([sys.executable, os.path.join(REPO, "sql", "catalogue.py"), "--check"],
                       capture_output=True, text=True)
    t.ok(r.returncode == 0, "the install and upgrade scripts carry sql/catalogue.py's block", r.stdout)

    # every model of the facts, with what the facts say of it
    for m in FACTS["models"]:
        base, traits = m["model"], m["traits"]
        row = dict(zip(["kind", "temperature", "top_p", "top_k", "forced", "structured", "caching",
                        "cache_min", "context", "thinking", "lifecycle", "resolved"],
                       info(base, "kind, temperature, top_p, top_k, forced_tool_choice, structured_output, "
                                  "prompt_caching, cache_min_tokens, context_window, thinking, lifecycle, "
                                  "resolved_by")))
        want_ok = row["kind"] == "foundation_model" and row["resolved"] == "catalogue"
        for key, col in (("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k"),
                         ("forced_tool_choice", "forced"), ("structured_output", "structured")):
            if key in traits:
                want_ok &= row[col] == ("t" if traits[key] else "f")
        if "cache_min_tokens" in traits:
            want_ok &= row["cache_min"] == str(traits["cache_min_tokens"])
        if traits.get("prompt_caching") is False:
            want_ok &= row["caching"] == "f" and row["cache_min"] == ""
        if "context_window" in traits:
            want_ok &= row["context"] == str(traits["context_window"])
        if "thinking" in traits:
            want_ok &= row["thinking"] == ("always_on" if traits["thinking"].startswith("always")
                                           else "adaptive")
        want_ok &= row["lifecycle"] == ("LEGACY" if m["lifecycle"].startswith("LEGACY") else "ACTIVE")
        t.ok(want_ok, f"{base}: seeded as the facts say", str(row))

    # api_facts.sampling: Opus 4.7+ and Sonnet 5 refuse every sampling setting
    for base in ("anthropic.claude-opus-4-7", "anthropic.claude-opus-4-8", "anthropic.claude-opus-5",
                 "anthropic.claude-opus-5-5", "anthropic.claude-sonnet-5"):
        t.ok(info(base, "temperature, top_p, top_k") == ["f", "f", "f"], f"{base}: no sampling settings")

    # profiles and ARNs resolve to their base model; routes are the profile's
    t.ok(info("au.anthropic.claude-sonnet-5", "kind, base_model, destinations, structured_output") ==
         ["system_profile", "anthropic.claude-sonnet-5", "{ap-southeast-2,ap-southeast-4}", "t"],
         "an au. profile: its routes and its base model's traits")
    arn = "arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/global.anthropic.claude-opus-5-5"
    t.ok(info(arn, "kind, base_model, forced_tool_choice, thinking") ==
         ["system_profile", "anthropic.claude-opus-5-5", "f", "always_on"],
         "an inference-profile ARN resolves to its base model")
    t.ok(info("arn:aws:bedrock:ap-southeast-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
              "kind, prompt_caching, lifecycle, successor") ==
         ["foundation_model", "f", "LEGACY", "anthropic.claude-haiku-4-5-20251001-v1:0"],
         "a foundation-model ARN; a LEGACY model names its successor")

    # family rules: an Opus the table does not know inherits the newest Opus
    t.ok(info("au.anthropic.claude-opus-6-v1:0", "resolved_by, family, version, temperature, "
              "forced_tool_choice, structured_output, max_output") ==
         ["family", "opus", "6", "f", "f", "t", "128000"],
         "a newer Opus inherits the newest Opus's traits")
    t.ok(info("anthropic.claude-zephyr-7", "resolved_by, temperature, structured_output") ==
         ["unknown", "", ""], "a family nobody knows: every trait unknown")

    # an edit of a seed row is the user's own row; the seed stays as published
    out = pg.query("WITH u AS (UPDATE claude.models SET temperature = true, note = 'our gateway strips it' "
                   "WHERE model_id = 'anthropic.claude-sonnet-5' RETURNING 1) SELECT count(*) FROM u")
    t.ok(out == "1", "the edit reports the row it matched", out)
    t.ok(pg.query("SELECT array_to_string(ARRAY[source, temperature::text, top_p::text, note], '|', '') FROM claude.models "
                  "WHERE model_id = 'anthropic.claude-sonnet-5' ORDER BY source") ==
         "seed|false|false|\nuser|true||our gateway strips it",
         "the user row holds only what changed; the seed row is untouched")
    t.ok(info("au.anthropic.claude-sonnet-5", "temperature, top_p") == ["t", "f"],
         "model_info: the user's column wins, the others stay the seed's")

    # a model added by hand: the columns left NULL come from its family
    pg.query("INSERT INTO claude.models (model_id, source, kind, family, version, max_output) "
             "VALUES ('anthropic.claude-sonnet-5-5', 'user', 'foundation_model', 'sonnet', 5.5, 32000)")
    t.ok(info("au.anthropic.claude-sonnet-5-5", "resolved_by, max_output, temperature, structured_output") ==
         ["family", "32000", "t", "t"],
         "a hand-added model: its own columns, the rest from its family's newest (the edited Sonnet 5)")

    # pg_dump keeps the user's rows, not the seed (which each install writes)
    dump = subprocess.run([os.path.join(pg.bindir, "pg_dump"), "-h", pg.base, "-p", str(pg.port),
                           "-U", "postgres", "-a", "-t", "claude.models", "postgres"],
                          capture_output=True, text=True, user="postgres" if os.geteuid() == 0 else None)
    t.ok("our gateway strips it" in dump.stdout and "claude-sonnet-5-5" in dump.stdout
         and "Claude Opus 4.7" not in dump.stdout, "pg_dump keeps the user's rows only",
         dump.stderr[-500:])

    # a re-seed (the upgrade's DELETE + INSERT of seed rows) keeps the edit
    pg.query("DELETE FROM claude.models WHERE source = 'seed' AND model_id = 'anthropic.claude-sonnet-5'")
    pg.query("INSERT INTO claude.models (model_id, source, kind, family, version, temperature) "
             "VALUES ('anthropic.claude-sonnet-5', 'seed', 'foundation_model', 'sonnet', 5, false)")
    t.ok(info("anthropic.claude-sonnet-5", "temperature") == ["t"], "the edit survives a re-seed")

    # everyone reads the catalogue; nobody but the owner writes it
    pg.query("CREATE ROLE reader LOGIN")
    t.ok(pg.query("SELECT structured_output FROM claude.model_info('au.anthropic.claude-opus-5')",
                  user="reader") == "t", "any role reads model_info")
    rc, _, err = pg.psql("UPDATE claude.models SET temperature = true", user="reader")
    t.ok(rc != 0 and "permission denied" in err, "a plain role cannot edit the catalogue", err)

    # An invalidation that arrives while a backend looks a model up (its
    # lookup waits for a lock, another session changes claude.models and
    # commits) empties the backend's catalogue cache mid-lookup: the entry
    # being built must survive it (it was freed half built: signal 11).
    holder = subprocess.Popen(pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    holder.stdin.write("BEGIN; LOCK pg_extension IN ACCESS EXCLUSIVE MODE;"
                       "UPDATE claude.models SET model_id = model_id WHERE false;"
                       "SELECT pg_sleep(2); COMMIT;\n")
    holder.stdin.close()
    import time
    time.sleep(0.7)
    rc, out, err = pg.psql("SELECT allowed, geography FROM claude_residency_check('😀 ünïcødé')")
    holder.wait(30)
    log = pg.read_log()
    t.ok(rc == 0 and out == "f|unknown" and "terminated by signal" not in log,
         "a model looked up while claude.models changes under it: answered, no backend crash",
         (rc, out, err, [l for l in log.splitlines() if "signal" in l][:3]))
finally:
    pg.destroy()

sys.exit(t.summary())
