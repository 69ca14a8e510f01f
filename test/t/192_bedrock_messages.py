#!/usr/bin/env python3
"""claude.bedrock_api = messages | mantle: Bedrock's Messages API as an
operation of the bedrock provider (doc/providers.md).

Against the emulator's POST /anthropic/v1/messages (SigV4 service bedrock
for messages, bedrock-mantle for mantle, verified by the emulator): every
task family, a batch, an async request and an enrichment job go that way
(the emulator's operation counts prove the path; no InvokeModel); the body
names the Bedrock model and carries no anthropic_version; a model the
catalogue marks messages_api false and mantle outside the regions that serve
it are refused (0A000) with nothing sent; residency au still refuses a
us. profile; the audit's operation column says Messages; the cache keeps
the two APIs apart; Anthropic-shaped errors keep their SQLSTATEs and the
x-amzn-RequestId; 429s are retried."""

import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("bedrock_messages")
work = tempfile.mkdtemp(prefix="pg_claude_t192_")
emu = Emulator(work, tls=False)
# claude.endpoint stands for every Bedrock host (runtime and mantle): the emulator is one
pg = Cluster("t192", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.bedrock_api = 'messages'
claude.model = 'au.anthropic.claude-haiku-4-5-20251001-v1:0'
claude.cache = off
""")


def q(sql, user="postgres"):
    return pg.psql("\\set VERBOSITY verbose\n" + sql, user=user)


def val(sql):
    rc, out, err = q(sql)
    return out.splitlines()[-1] if out else err


def ops():
    return emu.stats()["by_operation"]


def last():
    return emu.stats()["last_request"] or {}


def wait_usage(where, n=1):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if int(val(f"SELECT count(*) FROM claude.usage WHERE {where}") or 0) >= n:
            return True
        time.sleep(0.2)
    return False


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")

    # --- messages: every task family on bedrock-runtime's /anthropic/v1/messages ---
    emu.reset()
    out = val("SELECT claude_complete('Say hello')")
    t.ok(out and "ERROR" not in out, "claude_complete answers through Bedrock's Messages API", out)
    req = last()
    t.ok(req.get("path") == "/anthropic/v1/messages", "the request went to /anthropic/v1/messages",
         req.get("path"))
    hdr = {k.lower(): v for k, v in req.get("headers", {}).items()}
    t.ok("/bedrock/aws4_request" in hdr.get("authorization", "") and "x-api-key" not in hdr,
         "signed with SigV4 for service bedrock", hdr.get("authorization"))
    b = json.loads(req.get("body") or "{}")
    t.ok(b.get("model") == "au.anthropic.claude-haiku-4-5-20251001-v1:0" and "anthropic_version" not in b,
         "the body names the Bedrock model and has no anthropic_version", b)
    checks = {
        "claude_classify": "SELECT claude_classify('the invoice is wrong', ARRAY['billing','bug'])",
        "claude_extract": "SELECT claude_extract('Alice is 30', '{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}') IS NOT NULL",
        "claude_summarize": "SELECT claude_summarize('PostgreSQL is a database. It is old and reliable.')",
        "claude_classify_batch": "SELECT count(*) FROM claude_classify_batch(ARRAY['bill','bug','refund'], ARRAY['billing','bug'])",
        "claude_complete_stream": "SELECT count(*) FROM claude_complete_stream('stream me')",
    }
    for name, sql in checks.items():
        before = ops().get("BedrockMessages", 0)
        rc, out, err = q(sql)
        answer = out.splitlines()[-1] if out else ""
        t.ok(rc == 0 and answer not in ("", "f") and ops().get("BedrockMessages", 0) > before,
             f"{name} works on the Messages API", (answer, err[-400:]))
    o = ops()
    t.ok(not any(k.startswith("InvokeModel") for k in o) and o.get("BedrockMessages", 0) >= 8,
         "no InvokeModel (streamed or not) was sent", o)

    # --- the audit says which API -------------------------------------------------
    t.ok(wait_usage("operation = 'Messages' AND function_name = 'claude_complete' AND provider = 'bedrock' "
                    "AND region = 'ap-southeast-2' AND input_tokens > 0 AND output_tokens > 0"),
         "claude.usage records operation Messages, provider bedrock, tokens from the body's usage",
         val("SELECT string_agg(operation || ' ' || provider || ' ' || coalesce(input_tokens::text, '-'), ', ') FROM claude.usage"))
    t.ok(val("SELECT count(*) FROM claude.usage WHERE operation = 'InvokeModel'") == "0",
         "no audit row says InvokeModel")

    # --- async request and enrichment job: the worker uses the server's setting ---
    before = ops().get("BedrockMessages", 0)
    rid = val("SELECT claude_complete_async('hello async')")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and val(f"SELECT state FROM claude.requests WHERE id = {rid}") in ("pending", "running"):
        time.sleep(0.2)
    t.ok(val(f"SELECT state FROM claude.requests WHERE id = {rid}") == "done"
         and ops().get("BedrockMessages", 0) > before,
         "the worker sends an async request to the Messages API",
         val(f"SELECT error FROM claude.requests WHERE id = {rid}"))
    q("CREATE TABLE tickets (id int PRIMARY KEY, body text, label text);"
      "INSERT INTO tickets SELECT g, 'bug report ' || g, NULL FROM generate_series(1, 10) g")
    before = ops().get("BedrockMessages", 0)
    job = val("SELECT claude_enrich('tickets', 'body', 'label', 'classify', '{\"labels\": [\"billing\", \"bug\"]}')")
    state = val(f"SELECT claude_job_wait({job}, '60 seconds')")
    t.ok(state == "done" and val("SELECT count(*) FROM tickets WHERE label IS NOT NULL") == "10"
         and ops().get("BedrockMessages", 0) >= before + 10 and "InvokeModel" not in ops(),
         "an enrichment job runs on the Messages API", (state, ops(), val(f"SELECT error FROM claude.job WHERE id = {job}")))

    # --- the catalogue's fact: a model marked false is refused before sending -----
    t.ok(val("SELECT messages_api FROM claude.model_info('au.anthropic.claude-haiku-4-5-20251001-v1:0')") == "t"
         and val("SELECT messages_api FROM claude.model_info('anthropic.claude-3-haiku-20240307-v1:0')") == "f"
         and val("SELECT coalesce(messages_api::text, 'unknown') FROM claude.model_info('anthropic.claude-opus-4-20250514-v1:0')") == "unknown",
         "claude.models seeds messages_api: 4.5 and later true, Claude 3 false, 4.0 unknown")
    before = emu.stats()["requests"]
    rc, out, err = q("SELECT claude_complete('hi', model => 'anthropic.claude-3-haiku-20240307-v1:0')")
    t.ok(rc != 0 and "0A000" in err and "not on Bedrock's Messages API" in err
         and emu.stats()["requests"] == before,
         "a model marked messages_api false is refused (0A000), nothing sent", err[-400:])
    rc, out, err = q("SET claude.bedrock_api = invoke; "
                     "SELECT claude_complete('hi', model => 'anthropic.claude-3-haiku-20240307-v1:0')")
    t.ok(rc == 0 and any(k.startswith("InvokeModel") for k in ops()), "the same model under invoke goes to InvokeModel", (err[-300:], ops()))
    q("INSERT INTO claude.models (model_id, source, messages_api) "
      "VALUES ('anthropic.claude-3-haiku-20240307-v1:0', 'user', NULL)")
    rc, out, err = q("UPDATE claude.models SET messages_api = true WHERE model_id = 'anthropic.claude-3-haiku-20240307-v1:0' AND source = 'user'; "
                     "SELECT claude_complete('hi', model => 'anthropic.claude-3-haiku-20240307-v1:0')")
    t.ok(rc == 0 and last().get("path") == "/anthropic/v1/messages",
         "a user row marking it true lets it through", err[-300:])

    # --- mantle ---------------------------------------------------------------------
    before = emu.stats()["requests"]
    rc, out, err = q("SET claude.bedrock_api = mantle; SELECT claude_complete('hi')")
    t.ok(rc != 0 and "0A000" in err and "ap-southeast-2" in err and "ap-southeast-4" in err
         and emu.stats()["requests"] == before,
         "mantle in ap-southeast-2 is refused naming the regions that serve it, nothing sent", err[-400:])
    mantle = "SET claude.bedrock_api = mantle; SET claude.region = 'ap-southeast-4'; "
    for name, sql in [("claude_complete", "SELECT claude_complete('Say hello')"),
                      ("claude_classify", "SELECT claude_classify('the invoice is wrong', ARRAY['billing','bug'])"),
                      ("claude_extract", checks["claude_extract"]),
                      ("claude_classify_batch", checks["claude_classify_batch"])]:
        before = ops().get("MantleMessages", 0)
        rc, out, err = q(mantle + sql)
        answer = out.splitlines()[-1] if out else ""
        t.ok(rc == 0 and answer not in ("", "f") and ops().get("MantleMessages", 0) > before,
             f"{name} works on bedrock-mantle (SigV4 service bedrock-mantle, ap-southeast-4)", (answer, err[-400:]))
    hdr = {k.lower(): v for k, v in last().get("headers", {}).items()}
    t.ok("/ap-southeast-4/bedrock-mantle/aws4_request" in hdr.get("authorization", ""),
         "mantle requests are scoped to ap-southeast-4/bedrock-mantle", hdr.get("authorization"))
    t.ok(wait_usage("operation = 'Messages' AND region = 'ap-southeast-4' AND function_name = 'claude_classify'"),
         "the audit records mantle's calls in ap-southeast-4")

    # --- the worker under the server's mantle setting ------------------------------
    q("ALTER SYSTEM SET claude.bedrock_api = mantle; ALTER SYSTEM SET claude.region = 'ap-southeast-4'; "
      "SELECT pg_reload_conf()")
    time.sleep(1.0)
    before = ops().get("MantleMessages", 0)
    rid = val("SELECT claude_complete_async('hello mantle')")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and val(f"SELECT state FROM claude.requests WHERE id = {rid}") in ("pending", "running"):
        time.sleep(0.2)
    t.ok(val(f"SELECT state FROM claude.requests WHERE id = {rid}") == "done"
         and ops().get("MantleMessages", 0) == before + 1,
         "the worker sends an async request to bedrock-mantle under the server's setting",
         (val(f"SELECT error FROM claude.requests WHERE id = {rid}"), ops()))
    q("ALTER SYSTEM RESET claude.bedrock_api; ALTER SYSTEM RESET claude.region; SELECT pg_reload_conf()")
    time.sleep(1.0)

    # --- residency is judged as for InvokeModel ------------------------------------
    before = emu.stats()["requests"]
    rc, out, err = q("SELECT claude_complete('hi', model => 'us.anthropic.claude-haiku-4-5-20251001-v1:0')")
    t.ok(rc != 0 and "42R01" in err and emu.stats()["requests"] == before,
         "residency au refuses a us. profile on the Messages API, nothing sent", err[-300:])
    rc, out, err = q(mantle + "SELECT claude_complete('hi', model => 'us.anthropic.claude-haiku-4-5-20251001-v1:0')")
    t.ok(rc != 0 and "42R01" in err and emu.stats()["requests"] == before,
         "and on mantle", err[-300:])
    t.ok(wait_usage("operation = 'Messages' AND error_code = 'ResidencyViolation' "
                    "AND model = 'us.anthropic.claude-haiku-4-5-20251001-v1:0'", 2),
         "the refusals are audited as Messages calls")
    # bedrock-mantle's host names its region: judged like bedrock-runtime's
    rc, out, err = q("SET claude.endpoint = 'https://bedrock-mantle.us-east-1.api.aws'; "
                     + mantle + "SELECT claude_complete('hi')")
    t.ok(rc != 0 and "42R01" in err and "us-east-1" in err,
         "a bedrock-mantle host in another region is refused by residency au", err[-300:])

    # --- the cache keeps the APIs apart ----------------------------------------------
    q("ALTER SYSTEM SET claude.cache = on; SELECT pg_reload_conf()")
    time.sleep(0.5)
    q("SET claude.bedrock_api = invoke; SELECT claude_complete('cache me')")
    before = dict(ops())
    q("SELECT claude_complete('cache me')")
    t.ok(ops().get("BedrockMessages", 0) == before.get("BedrockMessages", 0) + 1,
         "an InvokeModel answer in the cache is not the Messages API's", (before, ops()))
    q("ALTER SYSTEM RESET claude.cache; SELECT pg_reload_conf()")

    # --- errors in the Anthropic shape, retries ---------------------------------------
    emu.fault(fault="throttle", count=1, operations=["BedrockMessages"])
    rc, out, err = q("SELECT claude_complete('retry me')")
    t.ok(rc == 0, "a 429 is retried", err[-300:])
    emu.fault(fault="error", status=400, count=5, operations=["BedrockMessages"], message="bad thing")
    rc, out, err = q("SET claude.max_retries = 0; SELECT claude_complete('fail me')")
    t.ok(rc != 0 and "22023" in err and "Bedrock Messages failed: invalid_request_error" in err
         and "bad thing" in err and "request id " in err and "request id (none)" not in err,
         "an Anthropic-shaped 400 is 22023 with its message and the x-amzn-RequestId", err[-500:])
    emu.reset()

    # --- a guardrail is never skipped: refused on this path -----------------------
    before = emu.stats()["requests"]
    rc, out, err = q("SET claude.guardrail_id = 'gr1'; SET claude.guardrail_version = '1'; "
                     "SELECT claude_complete('guard me')")
    t.ok(rc != 0 and "0A000" in err and "claude.bedrock_api is messages" in err
         and emu.stats()["requests"] == before,
         "a guardrail under messages is refused (0A000), nothing sent", err[-300:])

    # --- the setting: superuser or GRANT SET -----------------------------------------
    q("CREATE ROLE app LOGIN; GRANT USAGE ON SCHEMA claude TO app")
    rc, out, err = q("SET claude.bedrock_api = mantle", user="app")
    t.ok(rc != 0 and "42501" in err, "claude.bedrock_api is not settable by others", err[-200:])
    rc, out, err = q("SET claude.bedrock_api = carrier_pigeon")
    t.ok(rc != 0 and "22023" in err and "invoke" in err, "an unknown value is refused", err[-200:])
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
