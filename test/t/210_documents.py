#!/usr/bin/env python3
"""Documents and images: claude_complete, claude_extract, claude_classify and
claude_summarize with a bytea attachment (PNG and PDF built in the test),
their _batch forms, a table of scanned invoices extracted into columns in one
statement; the media type read from the bytes or given and checked; NULL,
empty, unknown and oversized attachments refused before anything is sent
(the emulator counts requests); the cache keyed on the bytes; the overloads
leave the text forms' calls as they were."""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402
from tiny_media import pdf, png, sql_bytea  # noqa: E402

t = Reporter("documents")
work = tempfile.mkdtemp(prefix="pg_claude_t210_")
emu = Emulator(work, tls=False)
pg = Cluster("t210", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.cache = off
""")

PNG = sql_bytea(png(3, 2))
PNG2 = sql_bytea(png(5, 4))
INVOICE = pdf(["customer: Acme Pty Ltd", "total: 1234.50"])
REPORT = pdf(["Quarterly report for the board", "Revenue rose"], pages=3)
SIZE_SCHEMA = ('\'{"type": "object", "properties": {"width": {"type": "integer"}, '
               '"height": {"type": "integer"}}, "required": ["width", "height"]}\'')
INVOICE_SCHEMA = ('\'{"type": "object", "properties": {"customer": {"type": "string"}, '
                  '"total": {"type": "number"}}, "required": ["customer", "total"]}\'')


def q(sql):
    return pg.psql("\\set VERBOSITY verbose\n" + sql)


def last(out):
    lines = out.splitlines()
    return lines[-1] if lines else ""


def requests():
    return emu.stats()["requests"]


def refused(sql, code, words, name):
    """sql fails with code, its message and detail/hint containing words, and nothing is sent."""
    before = requests()
    rc, out, err = q(sql)
    t.ok(rc != 0 and code in err and all(w in err for w in words) and requests() == before,
         name, (rc, out, err, requests() - before))


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")

    # an image extraction, end to end: the emulator reads the PNG's header
    emu.reset()
    rc, out, err = q(f"SELECT claude_extract({PNG}, {SIZE_SCHEMA})")
    t.ok(rc == 0 and json.loads(last(out)) == {"width": 3, "height": 2},
         "claude_extract of a PNG: the answer has the image's width and height", out + err)
    sent = emu.stats()["last_request"]
    t.ok(sent.get("attachments") == {"images": 1, "documents": 0, "bytes": len(png(3, 2))},
         "one image block with the PNG's bytes reached the emulator", sent.get("attachments"))
    body = json.loads(sent["body"])
    content = body["messages"][0]["content"]
    t.ok(content[0]["type"] == "image" and content[0]["source"]["media_type"] == "image/png"
         and content[1]["type"] == "text", "the image block comes before the text", content)

    # a PDF summary, end to end: the emulator counts its pages and reads its text
    rc, out, err = q(f"SELECT claude_summarize({sql_bytea(REPORT)}, 40)")
    t.ok(rc == 0 and "pages: 3" in out and "Quarterly report" in out,
         "claude_summarize of a PDF: the summary has its page count and first text", out + err)
    body = json.loads(emu.stats()["last_request"]["body"])
    block = body["messages"][0]["content"][0]
    t.ok(block["type"] == "document" and block["source"] == {
        "type": "base64", "media_type": "application/pdf",
        "data": __import__("base64").b64encode(REPORT).decode()},
        "a PDF goes as a document block with a base64 source", block.get("type"))

    rc, out, err = q(f"SELECT claude_complete('What is in the picture?', {PNG})")
    t.ok(rc == 0 and "What is in the picture?" in out and "width: 3, height: 2" in out,
         "claude_complete(prompt, image): the prompt and the image both arrive", out + err)

    rc, out, err = q(f"SELECT claude_classify({sql_bytea(INVOICE)}, ARRAY['receipt', 'invoice', 'letter'])")
    t.ok(rc == 0 and last(out) in ("receipt", "invoice", "letter"),
         "claude_classify of a PDF answers one of the labels", out + err)

    # the media type: given and agreeing, given and not, unknown bytes
    rc, out, err = q(f"SELECT claude_extract({PNG}, {SIZE_SCHEMA}, media_type => 'image/png')")
    t.ok(rc == 0 and '"width": 3' in out, "media_type given and agreeing with the bytes", out + err)
    refused(f"SELECT claude_extract({PNG}, {SIZE_SCHEMA}, media_type => 'image/jpeg')", "22023",
            ["attachment is image/png, not the media_type given (image/jpeg)"],
            "media_type that disagrees with the bytes: 22023, nothing sent")
    refused(f"SELECT claude_summarize('\\x00010203'::bytea)", "22023",
            ["not a document or image", "image/png, image/jpeg, image/gif, image/webp, application/pdf"],
            "bytes of no known type: 22023 with the types in the hint, nothing sent")

    # a bare signature, no size after it: no image Claude can read
    for name, data in (("png", "89504e470d0a1a0a"), ("gif", "474946383961"), ("jpeg", "ffd8ff"),
                       ("webp", "524946460400000057454250")):
        refused(f"SELECT claude_extract('\\x{data}'::bytea, {SIZE_SCHEMA})", "22023",
                [f"image/{name} attachment has no width and height", "0x0"],
                f"a bare {name.upper()} signature (0x0): 22023, nothing sent")
    refused(f"SELECT claude_extract({sql_bytea(png(0, 0))}, {SIZE_SCHEMA})", "22023",
            ["image/png attachment has no width and height"], "a PNG whose header says 0x0: 22023, nothing sent")

    # NULL, empty, oversized
    rc, out, err = q(f"SELECT claude_extract(NULL::bytea, {SIZE_SCHEMA}) IS NULL")
    t.ok(rc == 0 and last(out) == "t", "a NULL document gives NULL, as a NULL text input does", out + err)
    refused("SELECT claude_complete('Describe it', NULL::bytea)", "22004",
            ["attachment must not be NULL"], "claude_complete with a NULL attachment: 22004, nothing sent")
    refused(f"SELECT claude_extract(''::bytea, {SIZE_SCHEMA})", "22023",
            ["attachment must not be empty"], "an empty attachment: 22023, nothing sent")
    big = png(2, 2, pad=4 * 1024 * 1024)
    refused(f"SELECT claude_extract({sql_bytea(big)}, {SIZE_SCHEMA})", "54000",
            ["image attachment is too large", "%d bytes" % len(big), "at most 3932160"],
            "a 4 MB image: 54000 with its size in DETAIL, nothing sent")
    refused(f"SELECT claude_extract({sql_bytea(png(9000, 1))}, {SIZE_SCHEMA})", "54000",
            ["9000x1 pixels", "at most 8000x8000"], "an image 9000 px wide: 54000, nothing sent")
    refused("SELECT claude_summarize('%PDF-1.4 '::bytea || decode(repeat('00', 16000000), 'hex'))", "54000",
            ["attachment is too large for one request", "16000009 bytes", "at most 20971520"],
            "a 16 MB PDF (21 MB in base64): 54000, nothing sent")

    # a model without vision (claude.models) is refused, naming it, before anything is sent
    q("INSERT INTO claude.models (model_id, source, vision) VALUES "
      "('anthropic.claude-3-haiku-20240307-v1:0', 'user', false)")
    refused(f"SELECT claude_extract({PNG}, {SIZE_SCHEMA}, model => 'anthropic.claude-3-haiku-20240307-v1:0')",
            "0A000", ['model "anthropic.claude-3-haiku-20240307-v1:0" does not read images or documents',
                      "WHERE vision"], "a model claude.models says has no vision: 0A000, nothing sent")
    refused(f"SELECT * FROM claude_summarize_documents(ARRAY[{PNG}], model => 'anthropic.claude-3-haiku-20240307-v1:0')",
            "0A000", ["does not read images"], "the same for a set-based form")
    rc, out, err = q("SELECT vision, count(*) FROM claude.models_merged WHERE kind = 'foundation_model' GROUP BY 1 ORDER BY 1")
    t.ok(rc == 0 and out.splitlines()[-2:][0].startswith("f|1") and out.splitlines()[-1].startswith("t|"),
         "claude.models: every seeded model reads images, but the one set otherwise", out + err)
    q("DELETE FROM claude.models WHERE source = 'user'")

    # the _batch forms: a row per element, a bad element its row's error
    emu.reset()
    rc, out, err = q(f"SELECT ord, result->>'width', result->>'height', split_part(error, ':', 1) "
                     f"FROM claude_extract_documents(ARRAY[{PNG}, {PNG2}, NULL, ''::bytea], {SIZE_SCHEMA}) ORDER BY ord")
    t.ok(rc == 0 and out.splitlines()[-4:] == ["1|3|2|", "2|5|4|", "3|||", "4|||attachment must not be empty"],
         "claude_extract_documents: two answers, a NULL row, an empty element's error", out + err)
    t.ok(requests() == 2, "the batch sent two requests", requests())
    rc, out, err = q(f"SELECT string_agg(split_part(completion, E'\\n', 2), '|' ORDER BY ord) FROM claude_complete_batch("
                     f"ARRAY['one', 'two'], ARRAY[{PNG}, {sql_bytea(INVOICE)}])")
    t.ok(rc == 0 and last(out) == "[image image/png, width: 3, height: 2]|"
         "[document application/pdf, pages: 1, text: customer: Acme Pty Ltd; total: 1234.50]",
         "claude_complete_batch: each prompt with its own attachment", out + err)
    refused(f"SELECT * FROM claude_complete_batch(ARRAY['one', 'two'], ARRAY[{PNG}])", "22023",
            ["one attachment per prompt", "2 prompts and 1 attachments"],
            "claude_complete_batch with arrays of different lengths: 22023")
    rc, out, err = q(f"SELECT string_agg(summary, '|' ORDER BY ord) FROM claude_summarize_documents("
                     f"ARRAY[{sql_bytea(REPORT)}, {sql_bytea(INVOICE)}])")
    t.ok(rc == 0 and "pages: 3" in out and "pages: 1" in out, "claude_summarize_documents of two PDFs", out + err)
    rc, out, err = q(f"SELECT count(*) FROM claude_classify_documents(ARRAY[{PNG}, {sql_bytea(INVOICE)}], "
                     "ARRAY['photo', 'invoice']) WHERE label IN ('photo', 'invoice')")
    t.ok(rc == 0 and last(out) == "2", "claude_classify_documents of an image and a PDF", out + err)

    # a table of scanned invoices extracted into columns in one statement
    invoices = [pdf(["customer: Acme Pty Ltd", "total: 1234.50"]),
                pdf(["customer: Bondi Bakery", "total: 88"]),
                pdf(["customer: Cairns Charters", "total: 4100.25"])]
    q("CREATE TABLE invoices (id int PRIMARY KEY, scan bytea, customer text, total numeric)")
    q("INSERT INTO invoices (id, scan) VALUES " +
      ", ".join(f"({i + 1}, {sql_bytea(d)})" for i, d in enumerate(invoices)))
    rc, out, err = q(f"UPDATE invoices SET (customer, total) = "
                     f"(SELECT r->>'customer', (r->>'total')::numeric FROM claude_extract(scan, {INVOICE_SCHEMA}) AS r);"
                     "SELECT string_agg(customer || '=' || total, '|' ORDER BY id) FROM invoices")
    t.ok(rc == 0 and last(out) == "Acme Pty Ltd=1234.5|Bondi Bakery=88|Cairns Charters=4100.25",
         "UPDATE ... SET (customer, total) from claude_extract(scan, schema): every invoice's columns", out + err)

    # the cache: keyed on the bytes
    emu.reset()
    a, b = sql_bytea(png(6, 7)), sql_bytea(png(7, 6))
    rc, out, err = q(f"SET claude.cache = on; SELECT claude_extract({a}, {SIZE_SCHEMA});"
                     f"SELECT claude_extract({a}, {SIZE_SCHEMA}); SELECT claude_extract({b}, {SIZE_SCHEMA})")
    t.ok(rc == 0 and requests() == 2 and out.count('"width": 6') == 2 and '"width": 7' in out,
         "the same image again is a cache hit; another image is not", (requests(), out, err))
    rc, out, err = q("SELECT pg_sleep(1); SELECT count(DISTINCT prompt_sha256) || ' of ' || count(*) FROM claude.usage "
                     "WHERE function_name = 'claude_extract' AND NOT cache_hit")
    t.ok(rc == 0 and int(last(out).split()[0] or 0) >= 2, "prompt_sha256 differs between two images", out + err)

    # claude.usage says what was attached, for the scalar and the set-based forms; text calls say nothing
    rc, out, err = q("SELECT function_name || ':' || attachment_type || ':' || attachment_bytes || ':' || count(*) "
                     "FROM claude.usage WHERE attachment_type IS NOT NULL AND function_name IN "
                     "('claude_extract', 'claude_complete_batch') AND (function_name <> 'claude_extract' OR cache_hit) "
                     "GROUP BY function_name, attachment_type, attachment_bytes ORDER BY 1")
    t.ok(rc == 0 and "claude_extract:image/png:%d:1" % len(png(6, 7)) in out.splitlines()
         and "claude_complete_batch:application/pdf:%d:1" % len(INVOICE) in out.splitlines()
         and "claude_complete_batch:image/png:%d:1" % len(png(3, 2)) in out.splitlines(),
         "claude.usage.attachment_type and attachment_bytes, scalar (a cache hit too) and set-based", out + err)
    rc, out, err = q("SELECT count(*) FROM claude.usage WHERE (attachment_type IS NULL) <> (attachment_bytes IS NULL) "
                     "OR (attachment_type IS NOT NULL AND prompt_sha256 IS NULL)")
    rc2, out2, err2 = q("SELECT claude_complete('plain text'); SELECT pg_sleep(1); "
                        "SELECT count(*) FROM claude.usage WHERE function_name = 'claude_complete' "
                        "AND attachment_type IS NULL")
    t.ok(rc == 0 and last(out) == "0" and rc2 == 0 and int(last(out2)) >= 1,
         "a text call has neither column; an attached one has both", (out, out2))

    # the emulator validates blocks as Bedrock does (claude_invoke sends them as given)
    bad = {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg",
                                     "data": __import__("base64").b64encode(png(3, 2)).decode()}},
        {"type": "text", "text": "hi"}]}]}
    rc, out, err = q("SELECT claude_invoke('%s'::jsonb)" % json.dumps(bad))
    t.ok(rc != 0 and "ValidationException" in err and "does not match the media type image/jpeg" in err,
         "the emulator refuses an image block whose bytes are not its media type", err)
    bad["messages"][0]["content"][0]["source"]["data"] = "not base64!"
    rc, out, err = q("SELECT claude_invoke('%s'::jsonb)" % json.dumps(bad))
    t.ok(rc != 0 and "invalid base64 data" in err, "the emulator refuses data that is not base64", err)

    # the text forms resolve as before
    rc, out, err = q("SELECT claude_complete('hello', 'a system prompt') IS NOT NULL, "
                     "claude_extract('width: 7', " + SIZE_SCHEMA + ")->>'width', "
                     "claude_summarize('Summarise: plain text. More.') LIKE 'Summary:%'")
    t.ok(rc == 0 and last(out) == "t|7|t", "unknown literals still call the text forms", out + err)
    rc, out, err = q("SELECT count(*) FROM claude_extract_batch(ARRAY['width: 1'], " + SIZE_SCHEMA + ")")
    t.ok(rc == 0 and last(out) == "1", "claude_extract_batch(text[]) as before", out + err)
    rc, out, err = q("SELECT claude_complete('Hello', NULL, NULL, NULL, NULL);"
                     "SELECT count(*) FROM claude_complete_batch(ARRAY['a'], NULL, NULL, NULL, NULL)")
    t.ok(rc == 0 and "You said: Hello" in out and last(out) == "1",
         "the text forms with untyped NULL arguments resolve as before", out + err)
    for call in ("claude_extract_batch('{a,b}', " + SIZE_SCHEMA + ")",
                 "claude_summarize_batch('{a,b}')", "claude_classify_batch('{a,b}', '[\"x\", \"y\"]')"):
        rc, out, err = q(f"SELECT count(*) FROM {call}")
        t.ok(rc == 0 and last(out) == "2", f"{call.split('(')[0]} of an untyped array literal: the text form", out + err)

    # privileges: the new forms are granted as the text forms are
    rc, out, err = q("SELECT count(*) FROM pg_proc p WHERE p.proname IN ('claude_complete', 'claude_extract', "
                     "'claude_classify', 'claude_summarize', 'claude_complete_batch', 'claude_extract_documents', "
                     "'claude_classify_documents', 'claude_summarize_documents') AND 'bytea'::regtype = ANY (p.proargtypes::oid[] || "
                     "ARRAY(SELECT typelem FROM pg_type WHERE oid = ANY (p.proargtypes::oid[])))"
                     " AND has_function_privilege('claude_user', p.oid, 'EXECUTE')"
                     " AND NOT has_function_privilege('public', p.oid, 'EXECUTE')")
    t.ok(rc == 0 and last(out) == "8", "8 attachment forms, for claude_user and not PUBLIC", out + err)
finally:
    pg.stop()
    emu.stop()
t.summary()
