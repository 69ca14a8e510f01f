#!/usr/bin/env python3
"""No argument crashes the server (issue 11, C1/C2 and item 3).

Generated from the catalog: every function and aggregate that belongs to
the extension (pg_proc joined to pg_depend), so a new one is covered
without editing this file.  Each is called with NULL in each argument
position (the others valid), and with empty, huge, negative, extreme and
malformed values in each position, as a role granted what the README's
roles get (the superuser where the README grants nothing).  Every call
must give an answer or a clean ERROR with a real SQLSTATE (not XX000):
never a lost connection, a hang or a crash.  At the end the server log
must hold no 'terminated by signal' and the postmaster must not have
reinitialised (the checkpointer and the pg_claude worker keep their pids).

Then the smaller points of the issue that need the worker: claude_job_wait
with huge, negative and NULL timeouts."""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("arguments")
work = tempfile.mkdtemp(prefix="pg_claude_t110_")
emu = Emulator(work, tls=False)
pg = Cluster("t110", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
claude.s3_endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.timeout = '5s'
claude.max_retries = 1
claude.worker_concurrency = 4
""")
USER = "arg_tester"
CALL_TIMEOUT = 60
LOST = ("server closed the connection unexpectedly", "connection to server was lost",
        "terminated abnormally", "could not connect to server", "no connection to the server")

# --- values -----------------------------------------------------------------
# Valid values first by argument name, then by type; every value is an SQL
# expression.  The base call uses these; each variant replaces one.
VALID_BY_NAME = {
    "media_type": "NULL",
    "prompt": "'hello'", "input": "'hello there'", "system": "'be brief'",
    "model": "'au.anthropic.claude-sonnet-4-5-20250929-v1:0'",
    "max_tokens": "16", "temperature": "0.5", "max_words": "20", "instructions": "'be careful'",
    "labels": "ARRAY['billing', 'bug']", "prompts": "ARRAY['one', 'two']", "inputs": "ARRAY['one', 'two']",
    "schema": """'{"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}'""",
    "body": """'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}'""",
    "source": "'args_src'", "output": "'label'", "task": "'complete'", "options": "'{}'",
    "timeout": "'100 ms'", "since": "now() - interval '1 day'",
    "uri": "'s3://args-bucket/args/key'",     # the emulator's S3 (made below)
    "kinds": "ARRAY['TFN', 'EMAIL']",         # claude_redact*: kinds the local pass has too
    "question": "'Is it a greeting?'", "target_language": "'de'", "source_language": "'en'",
    "instruction": "'List the greetings'", "query": "'greetings'", "candidates": "ARRAY['hello', 'bye']",
    "chunk_size": "2",   # issue 19 tasks
}
VALID_BY_TYPE = {
    "text": "'hello'", "integer": "10", "bigint": "1", "double precision": "0.5", "jsonb": "'{}'",
    "text[]": "ARRAY['a', 'b']", "interval": "'100 ms'", "timestamp with time zone": "now()",
    "regclass": "'args_src'", "internal": "NULL",
    # a 1x1 PNG and a minimal PDF (doc/documents.md: the type is read from the bytes)
    "bytea": "'\\x89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da636870500000022400e195a4b18b0000000049454e44ae426082'", "bytea[]": "ARRAY['%PDF-1.4 %%EOF'::bytea, '%PDF-1.4 %%EOF'::bytea]",
}
MB_TEXT = "repeat('x', 1048576)"
EDGES_BY_TYPE = {
    "text": ["''", "'   '", MB_TEXT, "repeat('é', 400000)", "E'line\\nbreak\\ttab'", "'😀 ünïcødé'",
             "$$'); SELECT pg_sleep(30); --$$", "'{\"not\": \"json\"}'", "42::int::text"],
    "integer": ["0", "-1", "2147483647", "-2147483648", "'abc'", "1e10"],
    "bigint": ["0", "-1", "9223372036854775807", "-9223372036854775808", "'1x'"],
    "double precision": ["'NaN'", "'Infinity'", "'-Infinity'", "-0.5", "1.5", "1e308", "'4.9e-324'", "'nope'"],
    "interval": ["'0'", "'-1 second'", "'1000000 years'", "'-1000000 years'", "'178000000 years'",
                 "'1 microsecond'", "'forever'"],
    "timestamp with time zone": ["'infinity'", "'-infinity'", "'4713-01-01 BC'", "'294276-12-31'", "'soon'"],
    "jsonb": ["'{}'", "'[]'", "'null'", "'\"text\"'", "'0'", "'{\"bad\"'",
              "(repeat('[', 2000) || repeat(']', 2000))",
              "(repeat('{\"a\": ', 2000) || '1' || repeat('}', 2000))",
              "(SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 100000) g)",
              "jsonb_build_object('x', " + MB_TEXT + ")"],
    "text[]": ["'{}'", "ARRAY[NULL]::text[]", "ARRAY['']", "ARRAY['a', NULL]", "'{{a,b},{c,d}}'",
               "'[0:1]={a,b}'", "'{unclosed'", "array_fill(NULL::text, ARRAY[100000])",
               "array_fill(''::text, ARRAY[100000])", "ARRAY[" + MB_TEXT + "]"],
    "regclass": ["'pg_class'", "'claude.job'", "'args_view'", "'args_nopk'", "0::oid", "4294967295::oid",
                 "'no_such_table'"],
    "internal": [],
    "bytea": ["''", "'\\x00'", "'%PDF'", "'\\x89504e47'", "decode(repeat('00', 5000000), 'hex')"],
    "bytea[]": ["'{}'", "ARRAY[NULL]::bytea[]", "ARRAY[''::bytea]", "'{{a,b},{c,d}}'"],
}
# Internal errors (XX000) still to be turned into proper ones, by function:
# the source of claude_enrich is opened before it is checked, so an OID
# that names no relation is PostgreSQL's own "could not open relation"
# (claude_enrich's checks of its source are being reworked, issue 11 item 4).
KNOWN_INTERNAL = {}
# Malformed values that only make sense for one argument.
EDGES_BY_NAME = {
    "body": ["""'{"messages": "x"}'""", """'{"messages": []}'""",
             """'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2147483647}'""",
             """'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}'""",
             """'{"anthropic_version": 5, "messages": [{"role": "user", "content": "hi"}]}'""",
             """'{"model": 7, "messages": [{"role": "user", "content": "hi"}]}'""",
             """'{"model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "messages": [{"role": "user", "content": "hi"}]}'"""],
    "schema": ["""'{"type": "object", "required": "name"}'""",
               """'{"type": "object", "properties": []}'""",
               """'{"type": "object", "properties": {"a": {"type": "nonsense"}}}'""",
               """'{"type": "object", "properties": {"a": {"$ref": "#"}}}'""",
               """'{"type": "object", "properties": {"a": {"enum": []}}}'""",
               """'{"type": "object", "properties": {"a": {"type": "string", "maxLength": -1}}}'""",
               """'{"type": "object", "properties": {"a": {"type": "number", "minimum": 1e308}}}'""",
               """'{"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}}'""",
               """'{"type": "array", "items": {"type": "string"}}'""",
               """'{"type": "object", "required": ["Name"], "properties": {"name": {"type": "string"}}}'"""],
    "labels": ["array_fill('a'::text, ARRAY[100000])",
               "(SELECT array_agg('label ' || g) FROM generate_series(1, 100000) g)",
               """'{"billing": "money", "bug": null}'""", """'{"": "empty"}'"""],
    "prompts": ["(SELECT array_agg('prompt ' || g) FROM generate_series(1, 300) g)"],
    "inputs": ["(SELECT array_agg('input ' || g) FROM generate_series(1, 300) g)"],
    "model": ["'arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/noprefix'",
              "'arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/'",
              "'arn:aws:bedrock'", "'us.anthropic.claude-sonnet-4-5-20250929-v1:0'", "'../../etc/passwd'"],
    "task": ["'classify'", "'extract'", "'COMPLETE'"],
    "options": ["""'{"into": "table"}'""", """'{"labels": 5}'""", """'{"unknown": true}'""",
                """'{"batch_size": -1}'""", """'{"mode": "batch"}'"""],
    "kinds": ["ARRAY['SHOE_SIZE']", "ARRAY['name', 'NAME']", "ARRAY['NAME']"],
    "input_enrich": ["'id'", "'body || (SELECT 1)'", "'1; DROP TABLE args_src'"],
}


def sql_type(t_):
    return "text[]" if t_ == "text[]" else t_


def lit(expr, typ):
    if expr == "NULL":
        return f"NULL::{typ}"
    return f"CAST({expr} AS {typ})"


def psql(sql, user):
    argv = pg.psql_argv(user=user)
    try:
        r = subprocess.run(argv, input="\\set VERBOSITY verbose\n" + sql, capture_output=True,
                           text=True, timeout=CALL_TIMEOUT)
        return r.returncode, r.stdout.strip(), r.stderr
    except subprocess.TimeoutExpired:
        return None, "", "(timed out)"


def outcome(rc, err):
    """'answer', 'error SQLSTATE', 'crash' or 'hang'."""
    if rc is None:
        return "hang"
    if any(s in err for s in LOST):
        return "crash"
    if rc == 0:
        return "answer"
    m = re.search(r"^(?:ERROR|FATAL):\s+([0-9A-Z]{5}):", err, re.M)
    return "error " + (m.group(1) if m else "?")


def q(sql, user="postgres"):
    rc, out, err = psql(sql, user)
    return rc, out, err


def val(sql, user="postgres"):
    rc, out, err = q(sql, user)
    return out.splitlines()[-1] if out else err


def pids():
    return val("SELECT string_agg(backend_type || '=' || pid, ',' ORDER BY backend_type) FROM pg_stat_activity "
               "WHERE backend_type IN ('checkpointer', 'pg_claude worker')")


CATALOG = """
SELECT json_agg(json_build_object(
    'sig', p.oid::regprocedure::text, 'schema', n.nspname, 'name', p.proname, 'kind', p.prokind,
    'retset', p.proretset, 'ret', p.prorettype::regtype::text,
    'types', (SELECT coalesce(json_agg(format_type(a, NULL) ORDER BY i), '[]')
              FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(a, i)),
    'names', (SELECT coalesce(json_agg(nm ORDER BY i), '[]')
              FROM unnest(coalesce(p.proargnames, '{}')) WITH ORDINALITY u(nm, i)
              WHERE p.proargmodes IS NULL OR p.proargmodes[i] IN ('i', 'b', 'v'))) ORDER BY 1)
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_claude'
JOIN pg_namespace n ON n.oid = p.pronamespace
"""


def build(fn, args):
    """The statement calling fn with args (SQL expressions, already cast)."""
    qual = f"{fn['schema']}.{fn['name']}"
    if fn["kind"] == "a":
        cols = ", ".join(f"c{i}" for i in range(len(args)))
        row = "(" + ", ".join(args) + ")"
        return (f"SELECT length({qual}({cols})) FROM (VALUES {row}, {row}, {row}) AS s({cols})")
    call = f"{qual}({', '.join(args)})"
    if fn["retset"]:
        return f"SELECT count(*) FROM {call}"
    if fn["ret"] in ("trigger", "event_trigger", "internal"):
        return f"SELECT {call} IS NULL"
    return f"SELECT length(({call})::text)"


def values_for(fn):
    """(label, args) for the base call and every variant."""
    types = [sql_type(x) for x in fn["types"]]
    names = fn["names"] + [""] * (len(types) - len(fn["names"]))
    enrich = fn["name"] in ("claude_enrich", "claude_enrich_estimate")  # input is an expression over the source

    def valid(i):
        if types[i] == "internal":
            return "NULL"
        if names[i] == "labels" and types[i] == "jsonb":
            return """'{"billing": "money", "bug": "broken"}'"""
        if names[i] == "labels" and types[i] == "text":
            return """'["billing", "bug"]'"""
        if names[i] == "input" and enrich:
            return "'body'"
        if names[i] == "job":
            return str(JOB)
        if names[i] in VALID_BY_NAME and not (names[i] == "model" and fn["name"] == "price_of"):
            return VALID_BY_NAME[names[i]]
        return VALID_BY_TYPE.get(types[i], "NULL")

    base = [valid(i) for i in range(len(types))]
    out = [("valid", [lit(v, types[i]) for i, v in enumerate(base)])]
    for i, typ in enumerate(types):
        variants = ["NULL"]
        if typ != "internal":
            variants += EDGES_BY_TYPE.get(typ, [])
            key = "input_enrich" if (enrich and names[i] == "input") else names[i]
            variants += [v for v in EDGES_BY_NAME.get(key, [])
                         if not (typ == "text[]" and v.startswith("'{\""))
                         and not (typ == "jsonb" and key == "labels" and v.startswith(("array", "(SELECT")))]
        for v in variants:
            args = list(base)
            args[i] = v
            out.append((f"{names[i] or '$' + str(i + 1)} = {v[:60]}", [lit(a, types[j]) for j, a in enumerate(args)]))
    if fn["kind"] == "a":
        qual = f"{fn['schema']}.{fn['name']}"
        more = ", " + lit(base[1], types[1]) if len(types) > 1 else ""
        out.append(("empty group", None, f"SELECT {qual}(x{more}) IS NULL FROM (SELECT 'a'::text WHERE false) s(x)"))
        out.append(("NULL-only group", None,
                    f"SELECT {qual}(x{more}) IS NULL FROM (VALUES (NULL::text), (NULL)) s(x)"))
        out.append(("2,000-row group", None,
                    f"SELECT length({qual}('item ' || g || ' ' || repeat('words ', 50){more})) "
                    "FROM generate_series(1, 2000) g"))
    return out


JOB = None
try:
    pg.start(env=emulator_env())
    t0 = time.monotonic()
    q("CREATE EXTENSION pg_claude")
    # the README's roles (see "Privileges"): claude_job_owner is made by CREATE EXTENSION
    readme = [
        "GRANT SELECT ON claude.cache TO claude_job_owner",
        f"CREATE ROLE {USER} LOGIN",
        f"GRANT claude_job_owner TO {USER}",
    ]
    for stmt in readme:
        q(stmt)
    emu.control("s3-buckets", {"name": "args-bucket", "region": "ap-southeast-2"})
    q("SELECT claude.s3_put('s3://args-bucket/args/key', 'x')")
    q("CREATE TABLE args_src (id int PRIMARY KEY, body text, label text);"
      "INSERT INTO args_src VALUES (1, 'first row', NULL), (2, 'second row', NULL);"
      "CREATE TABLE args_nopk (body text, label text); CREATE VIEW args_view AS SELECT * FROM args_src;"
      f"ALTER TABLE args_src OWNER TO {USER}; ALTER TABLE args_nopk OWNER TO {USER};"
      f"ALTER VIEW args_view OWNER TO {USER}; GRANT CREATE ON SCHEMA public TO {USER}")
    JOB = val("SELECT claude_enrich('args_src', 'body', 'label', 'complete')", USER)
    q(f"SELECT claude_job_cancel({JOB})", USER)
    t.ok(JOB.isdigit(), "a job to wait on", JOB)
    before = pids()

    fns = json.loads(val(CATALOG))
    t.ok(len(fns) >= 30 and any(f["kind"] == "a" for f in fns),
         f"the catalog lists the extension's functions and aggregates ({len(fns)})", [f["sig"] for f in fns])
    total = 0
    internal_errors = []
    for fn in fns:
        callable_by_user = val(f"SELECT has_function_privilege('{USER}', '{fn['sig']}', 'EXECUTE')") == "t"
        user = USER if callable_by_user else "postgres"
        bad, counts, base = [], {}, None
        for case in values_for(fn):
            label, args = case[0], case[1]
            stmt = case[2] if len(case) > 2 else build(fn, args)
            rc, out, err = psql(stmt, user)
            o = outcome(rc, err)
            total += 1
            counts[o.split()[0]] = counts.get(o.split()[0], 0) + 1
            if label == "valid":
                base = (o, err.strip()[:300])
            if o in ("crash", "hang", "error ?"):
                bad.append(f"{o}: {stmt[:200]}\n{err.strip()[:300]}")
                if o == "crash":
                    time.sleep(3)   # let the postmaster finish its reinitialisation
            elif o == "error XX000" and not any(k in err for k in KNOWN_INTERNAL.get(fn["name"], ())):
                internal_errors.append(f"{fn['sig']} {label}: {err.strip()[:200]}")
        t.ok(not bad, f"{fn['sig']} as {user}: {sum(counts.values())} calls, "
             f"{counts.get('answer', 0)} answers, {counts.get('error', 0)} clean errors", "\n".join(bad))
        if fn["ret"] not in ("trigger", "event_trigger", "internal") and "internal" not in fn["types"]:
            t.ok(base[0] == "answer", f"{fn['sig']}: the valid call answers (so the variants test something)",
                 base)
    t.ok(not internal_errors, "no call ends in an internal error (XX000): every error has a real SQLSTATE",
         "\n".join(internal_errors))
    log = pg.read_log()
    t.ok("terminated by signal" not in log and "was terminated" not in log and "reinitializing" not in log,
         f"{total} calls: the server log shows no backend crash",
         "\n".join(l for l in log.splitlines() if "terminated" in l or "reinitializ" in l)[:3000])
    after = pids()
    t.ok(before == after and "pg_claude worker" in after, "the postmaster never reinitialised (same pids)",
         (before, after))

    # --- claude_job_wait's timeout ---------------------------------------------
    running = val("SELECT claude_enrich('args_src', $$'SLEEP 60000 ' || body$$, 'slow_label', 'complete', "
                  "'{\"into\": \"table\", \"table\": \"args_slow\"}')", USER)
    start = time.monotonic()
    rc, out, err = q(f"SELECT claude_job_wait({JOB}, '1000000 years')", USER)
    t.ok(rc == 0 and out in ("cancelled", "done") and time.monotonic() - start < 5,
         "claude_job_wait(job, '1000000 years') of a finished job answers at once", (out, err))
    rc, out, err = q(f"SET statement_timeout = '1s'; SELECT claude_job_wait({running}, '1000000 years')", USER)
    t.ok(rc != 0 and "57014" in err, "a huge timeout waits without limit (until statement_timeout)", err)
    start = time.monotonic()
    rc, out, err = q(f"SELECT claude_job_wait({running}, '-1 hour')", USER)
    t.ok(rc != 0 and "22023" in err and "timeout" in err and time.monotonic() - start < 5,
         "a negative timeout is an error naming the timeout", err)
    rc, out, err = q(f"SELECT claude_job_wait({running}, '0')", USER)
    t.ok(rc == 0 and out in ("queued", "running", "failed"), "a zero timeout checks once and returns the state", (out, err))
    rc, out, err = q(f"SELECT claude_job_wait({running}, NULL)", USER)
    t.ok(rc != 0 and "22004" in err and "HINT" in err, "a NULL timeout is an error with a hint", err)
    rc, out, err = q("SELECT claude_job_wait(NULL, '1 second') IS NULL", USER)
    t.ok(rc == 0 and out == "t", "a NULL job gives NULL", (out, err))
    q(f"SELECT claude_job_cancel({running})", USER)

    # a guard against calls that hang, not a speed target: it grows with the catalog (about 1,000
    # calls, each its own psql, on a machine shared with the rest of the suite)
    t.ok(time.monotonic() - t0 < 360, f"the run took {time.monotonic() - t0:.0f} s (under 6 minutes, "
         f"{total} calls)")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
