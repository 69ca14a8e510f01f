#!/usr/bin/env python3
"""The function family when the model misbehaves (emulator faults
off_schema, no_tool, wrong_tool): classification never returns a value
outside its labels, extraction never returns jsonb that does not conform,
sentiment never leaves [-1, 1]; one retry, then NULL with a WARNING (or an
error, for extraction).  Also prompt caching: the fixed part of a
classification is marked cache_control where the model supports it, and
read from the cache on the next call."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("function faults")
work = tempfile.mkdtemp(prefix="pg_claude_t060_")
emu = Emulator(work, tls=False)
# the cache would answer repeated requests without asking the (faulty) model
pg = Cluster("t060", free_port(), conf=f"claude.endpoint = '{emu.http_url}'\nclaude.cache = off")
LABELS = "ARRAY['billing', 'bug', 'praise']"
SCHEMA = ('{"type": "object", "properties": {"priority": {"type": "string", "enum": ["low", "high"]},'
          ' "seats": {"type": "integer", "minimum": 1, "maximum": 100}}, "required": ["priority", "seats"]}')


def sql(q):
    rc, out, err = pg.psql("\\set VERBOSITY verbose\n" + q)
    state = None
    for line in err.splitlines():
        if line.startswith("ERROR:"):
            state = line.split()[1].rstrip(":")
    return rc, out, state, err


try:
    pg.start(env=emulator_env())
    pg.query("CREATE EXTENSION pg_claude")
    # answers by tool use (the misbehaviour faults break tool answers; structured
    # output is constrained decoding, which they leave alone)
    pg.query("UPDATE claude.models SET structured_output = false WHERE kind = 'foundation_model'")

    for fault in ("off_schema", "no_tool", "wrong_tool"):
        emu.reset()
        emu.fault(fault=fault, count=1)
        rc, out, state, err = sql(f"SELECT claude_classify('a billing question', {LABELS})")
        t.ok(rc == 0 and out == "billing" and emu.stats()["requests"] == 2,
             f"{fault} once: asked again, answered within the labels", (out, err, emu.stats()["requests"]))

        emu.reset()
        emu.fault(fault=fault, count=2)
        rc, out, state, err = sql(f"SELECT claude_classify('a billing question', {LABELS}) IS NULL")
        t.ok(rc == 0 and out == "t" and "WARNING:" in err and "one of the labels" in err
             and emu.stats()["requests"] == 2,
             f"{fault} twice: NULL with a WARNING, never a value outside the labels", (out, err))

    emu.reset()
    emu.fault(fault="off_schema", count=2)
    rc, out, state, err = sql(f"SELECT claude_classify_multi('billing bug', {LABELS}) IS NULL")
    t.ok(rc == 0 and out == "t" and "WARNING:" in err, "multi-label off the labels twice: NULL with a WARNING", err)

    emu.reset()
    emu.fault(fault="off_schema", count=1)
    rc, out, state, err = sql(f"SELECT claude_extract('priority: high, seats: 12', '{SCHEMA}')")
    t.ok(rc == 0 and out == '{"seats": 12, "priority": "high"}', "extract off the schema once: asked again, valid",
         (out, err))

    emu.reset()
    emu.fault(fault="off_schema", count=2)
    rc, out, state, err = sql(f"SELECT claude_extract('priority: high, seats: 12', '{SCHEMA}')")
    t.ok(state == "38000" and "does not conform to the schema" in err and "$." in err,
         "extract off the schema twice: 38000 naming the violation", err)

    # W1: "required" is case-sensitive. off_schema leaves out the first
    # required name, "Name"; the answer still has "name", which must not do.
    cased = ('{"type": "object", "properties": {"name": {"type": "string"}, "Name": {"type": "string"}},'
             ' "required": ["Name"]}')
    emu.reset()
    emu.fault(fault="off_schema", count=2)
    rc, out, state, err = sql(f"SELECT claude_extract('name: alice', '{cased}')")
    t.ok(state == "38000" and 'required property "Name" is missing' in err and emu.stats()["requests"] == 2,
         "extract: an answer with \"name\" does not satisfy a schema requiring \"Name\"", (out, err))

    emu.reset()
    emu.fault(fault="off_schema", count=2)
    rc, out, state, err = sql(f"SET claude.on_error = 'null'; SELECT claude_extract('priority: high', '{SCHEMA}') IS NULL")
    t.ok(rc == 0 and out.splitlines()[-1] == "t" and "WARNING:" in err,
         "extract off the schema under on_error = 'null': NULL with a WARNING", err)

    emu.reset()
    emu.fault(fault="off_schema", count=2)
    rc, out, state, err = sql("SELECT claude_sentiment('I love it') IS NULL")
    t.ok(rc == 0 and out == "t" and "WARNING:" in err, "sentiment out of [-1, 1] twice: NULL with a WARNING", err)
    emu.reset()
    emu.fault(fault="off_schema", count=1)
    rc, out, state, err = sql("SELECT claude_sentiment('I love it')")
    t.ok(rc == 0 and out == "1", "sentiment out of range once: asked again", (out, err))

    # prompt caching: a long label description makes the fixed prefix cacheable
    # (the default model, Sonnet 5, caches prefixes of 2,048 tokens and more)
    big = "; ".join(f"detail {i} about billing disputes, refunds, invoices and charges" for i in range(200))
    labels = '{"billing": "%s", "bug": "something is broken", "praise": "compliments"}' % big
    emu.reset()
    rc, out, state, err = sql(f"SELECT claude_classify('billing: charged twice', '{labels}'::jsonb);"
                              f"SELECT claude_classify('a bug in billing', '{labels}'::jsonb);")
    st = emu.stats()
    t.ok(rc == 0 and st.get("cache_writes") == 1 and st.get("cache_reads") == 1,
         "the label set is written to the prompt cache once and read on the next call", (err, st))
    last = emu.stats()["last_request"]["body"]
    t.ok('"cache_control":{"type":"ephemeral"}' in last, "the fixed prefix (tool and system prompt) carries cache_control")

    # a prefix below the model's minimum is not marked (Bedrock would cache nothing)
    emu.reset()
    rc, out, state, err = sql(f"SELECT claude_classify('billing', {LABELS})")
    t.ok(rc == 0 and "cache_control" not in emu.stats()["last_request"]["body"],
         "no cache_control on a prefix below the model's minimum", err)

    emu.reset()
    rc, out, state, err = sql(f"SELECT claude_classify('billing', {LABELS}, model => 'anthropic.claude-3-haiku-20240307-v1:0')")
    t.ok(rc == 0 and out == "billing" and "cache_control" not in emu.stats()["last_request"]["body"],
         "no cache_control for a model without prompt caching", (out, err))
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
