#!/usr/bin/env python3
"""claude_if and claude_translate (issue 19): scalar, _batch and enrichment
forms against the emulator; WHERE claude_if(...) filters a table; NULL, empty
and oversized input and bad languages give clear errors; a model that will
not answer true or false gives NULL with a WARNING; both ways of asking for a
boolean (structured output, forced tool) give the same answers; the cache,
the audit log and the residency check apply."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("tasks_if_translate")
work = tempfile.mkdtemp(prefix="pg_claude_t200_")
emu = Emulator(work, tls=False)
pg = Cluster("t200", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
""")


def q(sql):
    return pg.psql("\\set VERBOSITY verbose\n" + sql)


def last(sql):
    rc, out, err = q(sql)
    return (out.splitlines()[-1] if out.strip() else ""), err


def sqlstate(err):
    for line in err.splitlines():
        if line.startswith("ERROR:"):
            return line.split()[1].rstrip(":")
    return None


def wait_for(sql, want, timeout=60):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got, _ = last(sql)
        if got == want:
            return True
        time.sleep(0.2)
    return False


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")
    q("CREATE TABLE tickets (id int PRIMARY KEY, body text, complaint boolean, body_de text, n int);"
      "INSERT INTO tickets VALUES (1, 'I want to complain: the invoice is wrong'), "
      "(2, 'Thanks, the upgrade went smoothly'), (3, 'This is my third complaint about the outage'), "
      "(4, 'Where do I change my password?')")

    # --- claude_if -------------------------------------------------------------------------
    got, err = last("SELECT string_agg(id::text, ',' ORDER BY id) FROM tickets "
                    "WHERE claude_if(body, 'Is this a complaint?')")
    t.ok(got == "1,3", "WHERE claude_if(body, 'Is this a complaint?') keeps the complaints only", (got, err))
    got, err = last("SELECT claude_if('the printer caught fire', 'Is this about a printer?')::text || ',' || "
                    "claude_if('all good', 'Is this about a printer?')::text")
    t.ok(got == "true,false", "claude_if answers true and false", (got, err))
    got, err = last("SELECT string_agg(ord || ':' || coalesce(answer::text, 'null') || ':' || coalesce(error, ''), "
                    "'|' ORDER BY ord) FROM claude_if_batch(ARRAY['a complaint', NULL, 'praise', ''], "
                    "'Is this a complaint?')")
    t.ok(got == "1:true:|2:null:|3:false:|4:null:input must not be empty", "claude_if_batch: one row per element",
         (got, err))

    # both ways of asking: structured output and a forced tool, same answers
    q("UPDATE claude.models SET structured_output = false WHERE kind = 'foundation_model'")
    emu.reset()
    got, err = last("SET claude.cache = off; SELECT string_agg(id::text, ',' ORDER BY id) FROM tickets "
                    "WHERE claude_if(body, 'Is this a complaint?')")
    body = emu.stats()["last_request"]["body"]
    t.ok(got == "1,3" and '"tool_choice"' in body and '"name":"if"' in body,
         "with a forced tool (no structured output) the filter is the same", (got, err, body[:300]))

    # a model that will not comply: NULL with a WARNING, the row left out of WHERE
    emu.reset()
    emu.fault(fault="no_tool", count=2)
    rc, out, err = q("SET claude.cache = off; SELECT coalesce(claude_if('a complaint', 'Is this a complaint?')::text, 'null')")
    t.ok(rc == 0 and out.splitlines()[-1] == "null" and "could not be made to answer the question with true or false"
         in err and "WARNING" in err, "a model that will not answer true or false: NULL with a WARNING", (out, err))
    emu.reset()
    emu.fault(fault="off_schema", count=1)
    got, err = last("SET claude.cache = off; SELECT claude_if('a complaint', 'Is this a complaint?')")
    t.ok(got == "t", "an answer off the schema is asked for again and then used", (got, err))

    # errors
    for sql, state, what in [
            ("SELECT claude_if('x', NULL)", "22004", "a NULL question"),
            ("SELECT claude_if('x', '  ')", "22023", "an empty question"),
            ("SELECT claude_if('x', repeat('q', 5000))", "54000", "an oversized question"),
            ("SELECT claude_if('   ', 'Is it?')", "22023", "empty input"),
            ("SELECT claude_if(repeat('word ', 2000000), 'Is it?')", "54000", "oversized input")]:
        rc, out, err = q(sql)
        t.ok(sqlstate(err) == state, f"claude_if: {what} is {state}", err[-400:])
    got, err = last("SELECT claude_if(NULL, 'Is it?') IS NULL")
    t.ok(got == "t", "claude_if of NULL input is NULL", (got, err))
    rc, out, err = q("SELECT claude_if('x', repeat('q', 5000))")
    t.ok("HINT:" in err, "the errors carry a hint", err)

    # --- claude_translate ------------------------------------------------------------------
    got, err = last("SELECT claude_translate('Good morning', 'German')")
    t.ok(got == "[German] Good morning", "claude_translate by language name", (got, err))
    got, err = last("SELECT claude_translate('Good morning', 'pt-BR', 'en')")
    t.ok(got == "[Portuguese (pt-BR)] Good morning", "claude_translate by BCP 47 tag, with a source", (got, err))
    emu.reset()
    q("SET claude.cache = off; SELECT claude_translate('Bonjour', 'ja', source_language => 'French')")
    body = emu.stats()["last_request"]["body"]
    t.ok("from French into Japanese" in body, "the prompt names both languages", body[:300])
    got, err = last("SELECT string_agg(ord || ':' || coalesce(translation, 'null') || ':' || coalesce(error, ''), "
                    "'|' ORDER BY ord) FROM claude_translate_batch(ARRAY['one', NULL, 'three'], 'zh-Hant')")
    t.ok(got == "1:[Chinese (zh-Hant)] one:|2:null:|3:[Chinese (zh-Hant)] three:", "claude_translate_batch",
         (got, err))
    for sql, state, what in [
            ("SELECT claude_translate('x', 'Klingon')", "22023", "an unknown language name"),
            ("SELECT claude_translate('x', 'xx-YY')", "22023", "an unknown language subtag"),
            ("SELECT claude_translate('x', 'de-')", "22023", "a malformed tag"),
            ("SELECT claude_translate('x', 'de-toolongsubtag')", "22023", "a subtag over 8 characters"),
            ("SELECT claude_translate('x', 'de', 'Elvish')", "22023", "an unknown source language"),
            ("SELECT claude_translate('x', NULL)", "22004", "a NULL target language"),
            ("SELECT claude_translate('', 'de')", "22023", "empty input"),
            ("SELECT claude_translate(repeat('word ', 2000000), 'de')", "54000", "oversized input")]:
        rc, out, err = q(sql)
        t.ok(sqlstate(err) == state, f"claude_translate: {what} is {state}", err[-400:])
    rc, out, err = q("SELECT claude_translate('x', 'Klingon')")
    t.ok("HINT:  Use a name such as 'German'" in err, "an unknown language: the hint says what is accepted", err)

    # --- cache, audit, residency -------------------------------------------------------------
    emu.reset()
    got, err = last("SET claude.cache = on; SELECT claude_translate('cache me', 'fr') = claude_translate('cache me', 'fr')")
    t.ok(got == "t" and emu.stats()["requests"] == 1, "the second identical call is a cache hit",
         (got, err, emu.stats()["requests"]))
    t.ok(wait_for("SELECT count(*) FILTER (WHERE cache_hit) > 0 AND count(*) FILTER (WHERE NOT cache_hit) > 0 "
                  "FROM claude.usage WHERE function_name = 'claude_translate'", "t"),
         "claude_translate calls are audited, hits and misses")
    t.ok(wait_for("SELECT count(*) > 0 FROM claude.usage WHERE function_name = 'claude_if_batch'", "t"),
         "claude_if_batch calls are audited")
    us = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    rc, out, err = q(f"SET claude.residency = 'au'; SELECT claude_if('x', 'Is it?', model => '{us}')")
    t.ok(sqlstate(err) == "42R01", "claude_if is refused by residency like every function", err[-300:])

    # --- enrichment ----------------------------------------------------------------------------
    rc, out, err = q("SELECT claude_enrich('tickets', 'body', 'complaint', 'if', "
                     "'{\"question\": \"Is this a complaint?\"}')")
    job = out.splitlines()[-1] if rc == 0 else None
    t.ok(job is not None and job.isdigit(), "claude_enrich(..., 'if') starts a job", err)
    if job:
        state, err = last(f"SELECT claude_job_wait({job}, '60 seconds')")
        got, err = last("SELECT string_agg(id || ':' || complaint, ',' ORDER BY id) FROM tickets")
        t.ok(got == "1:true,2:false,3:true,4:false", "the if task fills a boolean column", (state, got, err))
    rc, out, err = q("SELECT claude_enrich('tickets', 'body', 'n', 'if', '{\"question\": \"Is it?\"}')")
    t.ok(sqlstate(err) == "42804" and "true or false" in err, "an int column cannot hold an if answer", err[-400:])
    rc, out, err = q("SELECT claude_enrich('tickets', 'body', 'complaint', 'if', '{}')")
    t.ok(sqlstate(err) == "22004", "the if task needs a question", err[-300:])
    rc, out, err = q("SELECT claude_enrich('tickets', 'body', 'body_de', 'translate', "
                     "'{\"target_language\": \"de\"}')")
    job = out.splitlines()[-1] if rc == 0 else None
    if job and job.isdigit():
        state, err = last(f"SELECT claude_job_wait({job}, '60 seconds')")
        got, err = last("SELECT string_agg(body_de, '|' ORDER BY id) FROM tickets WHERE id <= 2")
        t.ok(got == "[German] I want to complain: the invoice is wrong|[German] Thanks, the upgrade went smoothly",
             "the translate task fills a text column", (state, got, err))
    else:
        t.ok(False, "claude_enrich(..., 'translate') starts a job", err)
    rc, out, err = q("SELECT claude_enrich('tickets', 'body', 'body_de', 'translate', "
                     "'{\"target_language\": \"Klingon\"}')")
    t.ok(sqlstate(err) == "22023", "a bad language is refused when the job is defined", err[-300:])
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
