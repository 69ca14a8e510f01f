#!/usr/bin/env python3
"""claude_agg and claude_rank (issue 19).  claude_agg: an instruction
answered over a group, in one request when the group fits and in stages (map,
then reduce) when it does not.  claude_rank: scores in [0, 1], one request per
chunk of candidates, ties ordered by ord, NULL and blank candidates unsent;
enrichment task rank.  For both: NULL, empty and oversized input; audit."""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("tasks_agg_rank")
work = tempfile.mkdtemp(prefix="pg_claude_t201_")
emu = Emulator(work, tls=False)
pg = Cluster("t201", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
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


try:
    pg.start(env=emulator_env())
    rc, out, err = q("CREATE EXTENSION pg_claude")
    t.ok(rc == 0, "the extension installs", err[-400:])
    q("CREATE TABLE reviews (id int PRIMARY KEY, product text, body text);"
      "INSERT INTO reviews VALUES (1, 'kettle', 'It leaks. Otherwise fine.'), (2, 'kettle', 'Too loud.'),"
      "(3, 'toaster', 'Burns the bread.'), (4, 'toaster', NULL), (5, 'lamp', NULL)")

    # --- one request per group ------------------------------------------------------------
    emu.reset()
    got, err = last("SET claude.cache = off; SELECT string_agg(product || '=' || coalesce(a, 'null'), '|' ORDER BY product) FROM "
                    "(SELECT product, claude_agg(body, 'List the complaints' ORDER BY id) a FROM reviews GROUP BY product) s")
    want = ('kettle=Answer to "List the complaints" over 2 items: It leaks.|lamp=null|'
            'toaster=Answer to "List the complaints" over 1 items: Burns the bread.')
    t.ok(got == want, "claude_agg answers per group; a group without input is NULL", (got, err))
    t.ok(emu.stats()["requests"] == 2, "one request per group that has input", emu.stats()["requests"])
    body = json.loads(emu.stats()["last_request"]["body"])
    t.ok("- Burns the bread." in body["messages"][0]["content"][0]["text"]
         if isinstance(body["messages"][0]["content"], list) else "- Burns the bread." in body["messages"][0]["content"],
         "the group's texts are sent as '- ' lines", body)

    # --- staged: a group bigger than one request -----------------------------------------------
    emu.reset()
    got, err = last("SET claude.cache = off; SET claude.summarize_chunk_tokens = 1000; "
                    "SELECT claude_agg('review ' || g || ': ' || repeat('words ', 100), 'Count the reviews') "
                    "FROM generate_series(1, 40) g")
    requests = emu.stats()["requests"]
    t.ok(got.startswith('Answer to "Count the reviews" over ') and requests > 2,
         f"a group larger than one request is answered in stages ({requests} requests)", (got, err))
    body = emu.stats()["last_request"]["body"]
    t.ok("each item is the answer over one part of the group" in body, "the last stage combines partial answers",
         body[:400])
    emu.reset()
    got, err = last("SET claude.cache = off; SET claude.summarize_chunk_tokens = 1000; "
                    "SELECT claude_agg(repeat('x', 20000), 'Describe it')")
    t.ok(got.startswith('Answer to "Describe it"') and emu.stats()["requests"] > 1,
         "an item larger than a request is cut into pieces, not refused", (got[:80], err))

    # --- errors -------------------------------------------------------------------------------
    for sql, state, what in [
            ("SELECT claude_agg(body, NULL) FROM reviews", "22004", "a NULL instruction"),
            ("SELECT claude_agg(body, ' ') FROM reviews", "22023", "an empty instruction"),
            ("SELECT claude_agg(body, repeat('i', 5000)) FROM reviews", "54000", "an oversized instruction"),
            ("SELECT claude_agg(body, 'Summarise ' || id) FROM reviews", "22023", "an instruction that changes")]:
        rc, out, err = q(sql)
        t.ok(sqlstate(err) == state and "HINT:" in err, f"claude_agg: {what} is {state}", err[-400:])
    got, err = last("SELECT claude_agg(body, 'x') IS NULL FROM reviews WHERE body IS NULL OR body = ''")
    t.ok(got == "t", "claude_agg over only NULL input is NULL, without a request", (got, err))
    got, err = last("SELECT count(*) FROM claude.usage WHERE function_name = 'claude_agg'")
    t.ok(got.isdigit() and int(got) > 0, "claude_agg's requests are audited", (got, err))

    # --- in parallel: workers gather the items, the leader joins them and asks once ----------
    q("CREATE TABLE many_reviews AS SELECT g AS id, 'review ' || g AS body FROM generate_series(1, 3000) g;"
      "ANALYZE many_reviews")
    par = ("SET claude.cache = off; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;"
           "SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;")
    rc, plan, err = q(par + "EXPLAIN (COSTS OFF) SELECT claude_agg(body, 'Count the reviews') FROM many_reviews")
    t.ok("Partial Aggregate" in plan and "Gather" in plan,
         "claude_agg is aggregated in parallel (Partial Aggregate under Gather)", plan + err)
    emu.reset()
    rc, out, err = q(par + "SELECT claude_agg(body, 'Count the reviews') FROM many_reviews")
    sent = json.loads(emu.stats()["last_request"]["body"])["messages"][0]["content"]
    sent = sent if isinstance(sent, str) else sent[0]["text"]
    lines = sorted(l for l in sent.splitlines() if l.startswith("- review "))
    t.ok(rc == 0 and emu.stats()["requests"] == 1 and "over 3000 items" in out
         and lines == sorted(f"- review {g}" for g in range(1, 3001)),
         "in parallel, one request holds every row exactly once", (out[-300:], err[-400:], len(lines)))

    # --- claude_rank ---------------------------------------------------------------------------
    cands = ("ARRAY['refund policy for annual plans', 'office opening hours', NULL, "
             "'how a refund is paid', '   ', 'annual plans and their refund policy']")
    emu.reset()
    got, err = last("SET claude.cache = off; SELECT string_agg(ord || '=' || coalesce(score::text, 'null'), ' ' ORDER BY n) "
                    f"FROM claude_rank('refund policy annual', {cands}, chunk_size => 2) WITH ORDINALITY r(ord, score, n)")
    t.ok(got == "1=1 6=1 4=0.33 2=0 3=null 5=null",
         "scores in [0, 1], highest first, ties by ord, NULL and blank candidates last with NULL", (got, err))
    t.ok(emu.stats()["requests"] == 2, "4 candidates in chunks of 2: 2 requests", emu.stats()["requests"])
    emu.reset()
    got, err = last("SET claude.cache = off; SELECT count(*) FROM claude_rank('refund', "
                    "ARRAY(SELECT 'refund ' || g FROM generate_series(1, 45) g))")
    t.ok(got == "45" and emu.stats()["requests"] == 3, "45 candidates at the default chunk of 20: 3 requests",
         (got, err, emu.stats()["requests"]))
    got, err = last("SELECT count(*) FROM claude_rank('q', NULL)")
    t.ok(got == "0", "NULL candidates: no rows", (got, err))
    got, err = last("SELECT count(*) FROM claude_rank('q', '{}')")
    t.ok(got == "0", "an empty array: no rows", (got, err))
    q("UPDATE claude.models SET structured_output = false WHERE kind = 'foundation_model'")
    emu.reset()
    got, err = last("SET claude.cache = off; SELECT string_agg(ord::text, ',') FROM claude_rank('refund policy annual', "
                    f"{cands}, chunk_size => 2)")
    body = emu.stats()["last_request"]["body"]
    t.ok(got == "1,6,4,2,3,5" and '"tool_choice"' in body, "a forced tool ranks the same", (got, err))
    emu.reset()
    emu.fault(fault="off_schema", count=10)
    rc, out, err = q("SET claude.cache = off; SELECT * FROM claude_rank('q', ARRAY['a', 'b'])")
    t.ok(sqlstate(err) == "38000" and "one score in [0, 1] per candidate" in err,
         "scores off the schema twice: an error naming the candidates", err[-400:])
    emu.reset()
    for sql, state, what in [
            ("SELECT * FROM claude_rank(NULL, ARRAY['a'])", "22004", "a NULL query"),
            ("SELECT * FROM claude_rank('', ARRAY['a'])", "22023", "an empty query"),
            ("SELECT * FROM claude_rank(repeat('q', 5000), ARRAY['a'])", "54000", "an oversized query"),
            ("SELECT * FROM claude_rank('q', ARRAY['a'], chunk_size => 0)", "22023", "chunk_size 0"),
            ("SELECT * FROM claude_rank('q', ARRAY['a'], chunk_size => 101)", "22023", "chunk_size over 100"),
            ("SELECT * FROM claude_rank('q', ARRAY[repeat('word ', 2000000)])", "54000", "an oversized candidate")]:
        rc, out, err = q(sql)
        t.ok(sqlstate(err) == state, f"claude_rank: {what} is {state}", err[-400:])
    n = emu.stats()["requests"]
    rc, out, err = q("SELECT * FROM claude_rank('q', ARRAY[['a', 'b'], ['c', 'd']])")
    t.ok(sqlstate(err) == "2202E" and "one-dimensional" in err and "2 dimensions" in err
         and emu.stats()["requests"] == n,
         "claude_rank: a 2-D candidates array is 2202E, not ranked flattened, nothing sent", err[-400:])
    # every list argument: a 2-D array would be read flattened, its rows lost
    for sql, what in [
            ("SELECT * FROM claude_complete_batch(ARRAY[['a', 'b'], ['c', 'd']])", "prompts"),
            ("SELECT * FROM claude_if_batch(ARRAY[['a', 'b'], ['c', 'd']], 'Is it?')", "inputs"),
            ("SELECT * FROM claude_translate_batch(ARRAY[['a', 'b']], 'French')", "inputs"),
            ("SELECT * FROM claude_classify_batch(ARRAY['a'], ARRAY[['x', 'y'], ['z', 'w']])", "labels"),
            ("SELECT claude_classify('a', ARRAY[['x', 'y'], ['z', 'w']])", "labels"),
            ("SELECT * FROM claude_complete_batch(ARRAY[['a'], ['b']], ARRAY[['\\x00'::bytea], ['\\x00'::bytea]])",
             "prompts"),
            ("SELECT claude_redact('a', ARRAY[['TFN'], ['ABN']])", "kinds")]:
        rc, out, err = q(sql)
        t.ok(sqlstate(err) == "2202E" and f"{what} must be a one-dimensional array" in err
             and emu.stats()["requests"] == n,
             f"a 2-D {what} array is 2202E, nothing sent: {sql[:60]}", err[-400:])
    got, err = last("SELECT count(*) > 0 FROM claude.usage WHERE function_name = 'claude_rank'")
    t.ok(got == "t", "claude_rank's requests are audited", (got, err))

    # enrichment: each row is one candidate
    q("ALTER TABLE reviews ADD COLUMN relevance float8")
    rc, out, err = q("SELECT claude_enrich('reviews', 'body', 'relevance', 'rank', '{\"query\": \"bread burns\"}')")
    job = out.splitlines()[-1] if rc == 0 and out.strip() else ""
    if job.isdigit():
        state, err = last(f"SELECT claude_job_wait({job}, '60 seconds')")
        got, err = last("SELECT string_agg(id || '=' || relevance, ',' ORDER BY id) FROM reviews WHERE body IS NOT NULL")
        t.ok(got == "1=0,2=0,3=1", "the rank task scores each row as one candidate", (state, got, err))
    else:
        t.ok(False, "claude_enrich(..., 'rank') starts a job", err)
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
