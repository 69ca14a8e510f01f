#!/usr/bin/env python3
"""claude_enrich over a bytea column (doc/job_definition.md, "Documents and
images"): a table of small PDF and PNG invoices extracted by one job, each
row's bytes sent as its attachment (the emulator reads them); a row with
bytes of no known type, an image too large or an empty one fails alone with
its SQLSTATE and nothing sent for it; the cache is the scalar form's (a
scan extracted by claude_extract(scan, schema) first is a hit for the job);
hashes are of the bytes (a re-run sends nothing, a changed scan is redone);
summarize, classify and complete over bytes; a model without vision fails
every row before sending; a task without a bytea form and batch mode are
refused at claude_enrich; the estimate counts the rows."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402
from tiny_media import pdf, png, sql_bytea  # noqa: E402

t = Reporter("documents_enrich")
work = tempfile.mkdtemp(prefix="pg_claude_t212_")
emu = Emulator(work, tls=False)
pg = Cluster("t212", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.cache = on
""")
SCHEMA = ('{"type": "object", "properties": {"customer": {"type": "string"}, "total": {"type": "number"}, '
          '"width": {"type": "integer"}, "height": {"type": "integer"}}}')
NOVISION = "anthropic.claude-3-haiku-20240307-v1:0"


def q(sql):
    return pg.psql("\\set VERBOSITY verbose\n" + sql)


def val(sql):
    rc, out, err = q(sql)
    return out.splitlines()[-1] if rc == 0 and out else err


def sent():
    return emu.stats()["requests"]


def run(table, column, output, task, options):
    """Queue a job and wait for it: (state, requests sent by it)."""
    before = sent()
    job = val(f"SELECT claude_enrich('{table}', '{column}', '{output}', '{task}', '{options}')")
    state = val(f"SELECT claude_job_wait({job}, '60 seconds')")
    return job, state, sent() - before


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")
    scans = {1: pdf(["customer: Acme Pty Ltd", "total: 1234.50"]),
             2: pdf(["customer: Bondi Bakery", "total: 88"]),
             3: png(3, 2),
             4: b"\x00\x01\x02\x03",
             5: png(2, 2, pad=4 * 1024 * 1024),
             6: b""}
    q("CREATE TABLE invoices (id int PRIMARY KEY, scan bytea, fields jsonb)")
    for i, data in scans.items():
        q(f"INSERT INTO invoices (id, scan) VALUES ({i}, {sql_bytea(data)})")
    q("INSERT INTO invoices (id, scan) VALUES (7, NULL)")

    est = val("SELECT rows_to_do FROM claude_enrich_estimate('invoices', 'scan', 'fields', 'extract', "
              f"'{{\"schema\": {SCHEMA}}}')")
    t.ok(est == "6", "the estimate counts the rows with bytes (NULL has nothing to send)", est)

    # row 1 through the scalar form first: the job's request for it is the same, a cache hit
    rc, out, err = q(f"SELECT claude_extract(scan, '{SCHEMA}') FROM invoices WHERE id = 1")
    t.ok(rc == 0 and "Acme Pty Ltd" in out, "claude_extract(scan, schema) of row 1", out + err)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and val("SELECT count(*) FROM claude.cache") == "0":
        time.sleep(0.2)

    job, state, n = run("invoices", "scan", "fields", "extract", f'{{"schema": {SCHEMA}}}')
    t.ok(state == "done_with_errors", "one job over the scans finishes with errors (the bad rows)", state)
    t.ok(n == 2, "two requests: row 1 is the scalar call's cache hit, rows 4-6 fail before sending", n)
    got = val("SELECT string_agg(id || '=' || CASE WHEN id = 3 THEN (fields->>'width') || 'x' || (fields->>'height') "
              "ELSE (fields->>'customer') || '/' || (fields->>'total') END, ' ' ORDER BY id) "
              "FROM invoices WHERE fields IS NOT NULL")
    t.ok(got == "1=Acme Pty Ltd/1234.5 2=Bondi Bakery/88 3=3x2",
         "the PDFs' customer and total and the PNG's size, each read from its own row's bytes", got)
    last = emu.stats()["last_request"]["attachments"]
    t.ok(last["images"] + last["documents"] == 1, "the requests carried the row's bytes as a block", last)
    items = val(f"SELECT string_agg(pk->>'id' || ':' || state || ':' || coalesce(error_code, ''), ' ' ORDER BY pk->>'id') "
                f"FROM claude.job_items WHERE job_id = {job} AND state = 'failed'")
    t.ok(items == "4:failed:22023 5:failed:54000 6:failed:22023",
         "unknown bytes and an empty scan fail alone with 22023, a 4 MB image with 54000", items)
    err = val(f"SELECT error FROM claude.job_items WHERE job_id = {job} AND pk->>'id' = '4'")
    t.ok("not a document or image Claude reads" in err, "the row's error says why", err)
    usage = val(f"SELECT count(*) FILTER (WHERE cache_hit) || '/' || count(*) FROM claude.usage WHERE job_id = {job}")
    t.ok(usage == "1/3", "claude.usage: three rows sent or served, one from the cache", usage)
    kinds = val(f"SELECT string_agg(attachment_type || ' ' || attachment_bytes, ', ' ORDER BY attachment_bytes) "
                f"FROM claude.usage WHERE job_id = {job}")
    want = ", ".join(sorted(("%s %d" % ("image/png" if i == 3 else "application/pdf", len(scans[i])) for i in (1, 2, 3)),
                            key=lambda s: int(s.split()[1])))
    t.ok(kinds == want, "claude.usage says what each job row attached (type and bytes)", (kinds, want))

    # hashes are of the bytes
    _, state, n = run("invoices", "scan", "fields", "extract", f'{{"schema": {SCHEMA}}}')
    t.ok(n == 0, "the same job again sends nothing", (state, n))
    q(f"UPDATE invoices SET scan = {sql_bytea(pdf(['customer: Cairns Charters', 'total: 4100.25']))} WHERE id = 2")
    _, state, n = run("invoices", "scan", "fields", "extract", f'{{"schema": {SCHEMA}}}')
    t.ok(n == 1 and val("SELECT fields->>'customer' FROM invoices WHERE id = 2") == "Cairns Charters",
         "a changed scan is sent again, alone", (state, n))

    # the other tasks with a bytea form
    q("CREATE TABLE docs (id int PRIMARY KEY, body bytea, summary text, kind text, answer text)")
    q(f"INSERT INTO docs VALUES (1, {sql_bytea(pdf(['Quarterly report for the board'], pages=2))}), "
      f"(2, {sql_bytea(png(4, 5))})")
    _, state, n = run("docs", "body", "summary", "summarize", "{}")
    got = val("SELECT string_agg(summary, '|' ORDER BY id) FROM docs")
    t.ok(state == "done" and n == 2 and "pages: 2" in got and "width: 4, height: 5" in got,
         "summarize over bytea: each document's summary", (state, got))
    _, state, n = run("docs", "body", "kind", "classify", '{"labels": ["report", "photo"]}')
    got = val("SELECT count(*) FROM docs WHERE kind IN ('report', 'photo')")
    t.ok(state == "done" and got == "2", "classify over bytea: a label per row", (state, got))
    _, state, n = run("docs", "body", "answer", "complete", '{"system": "Describe the attachment."}')
    got = val("SELECT answer FROM docs WHERE id = 2")
    t.ok(state == "done" and got == "[image image/png, width: 4, height: 5]",
         "complete over bytea: the answer is about the row's image", (state, got))

    # a model without vision: every row fails before anything is sent
    q(f"INSERT INTO claude.models (model_id, source, vision) VALUES ('{NOVISION}', 'user', false)")
    q("UPDATE docs SET summary = NULL")
    job, state, n = run("docs", "body", "summary", "summarize", f'{{"model": "{NOVISION}"}}')
    codes = val(f"SELECT string_agg(DISTINCT error_code, ',') || ' ' || count(*) FROM claude.job_items "
                f"WHERE job_id = {job} AND state = 'failed'")
    t.ok(n == 0 and codes == "0A000 2", "a model without vision: each row fails with 0A000, nothing sent", (state, codes))
    q("DELETE FROM claude.models WHERE source = 'user'")

    # refused at claude_enrich
    rc, out, err = q("SELECT claude_enrich('docs', 'body', 'answer', 'translate', '{\"target_language\": \"French\"}')")
    t.ok(rc != 0 and "0A000" in err and 'task "translate" does not read documents or images' in err,
         "a task without a bytea form: 0A000", err)
    rc, out, err = q("SELECT claude_enrich('docs', 'body', 'summary', 'summarize', '{\"mode\": \"batch\"}')")
    t.ok(rc != 0 and "0A000" in err and "batch mode does not send documents or images" in err,
         "batch mode over bytea: 0A000", err)
    rc, out, err = q("SELECT claude_enrich('docs', 'body::text', 'summary', 'summarize', '{}') IS NOT NULL")
    t.ok(rc == 0 and out.splitlines()[-1] == "t", "an input cast to text is text, as before", err)
finally:
    pg.stop()
    emu.stop()
t.summary()
