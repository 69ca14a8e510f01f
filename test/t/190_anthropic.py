#!/usr/bin/env python3
"""claude.provider = anthropic: the Anthropic API as a second provider.

Against the emulator's /v1/messages: every function family, a batch, an
async request and an enrichment job work under residency none; under au
(and region) every call is refused with zero requests at the emulator;
under us each request carries inference_geo "us" and an older model is
refused before sending; Anthropic's errors map to Bedrock's SQLSTATEs with
the request id, 429 (retry-after honoured) and 529 are retried; the key
comes from the environment or a private file and appears in no log,
error, setting or table."""

import json
import os
import pwd
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "emulator"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402
import emu_anthropic  # noqa: E402

KEY = sorted(emu_anthropic.API_KEYS)[0]
t = Reporter("anthropic")
work = tempfile.mkdtemp(prefix="pg_claude_t190_")
emu = Emulator(work, tls=False)
pg = Cluster("t190", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
claude.anthropic_endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
claude.provider = 'anthropic'
claude.residency = 'none'
claude.model = 'au.anthropic.claude-haiku-4-5-20251001-v1:0'
claude.cache = off
""")


def q(sql, user="postgres"):
    return pg.psql("\\set VERBOSITY verbose\n" + sql, user=user)


def val(sql):
    rc, out, err = q(sql)
    return out.splitlines()[-1] if out else err


def requests():
    return emu.stats()["requests"]


def recent(n=50):
    return emu.control(f"requests?n={n}")["requests"]


def last_body():
    last = emu.stats()["last_request"] or {}
    return json.loads(last.get("body") or "{}")


try:
    env = dict(emulator_env(), ANTHROPIC_API_KEY=KEY)
    pg.start(env=env)
    q("CREATE EXTENSION pg_claude")

    # --- every function family under residency none -------------------------
    emu.reset()
    out = val("SELECT claude_complete('Say hello')")
    t.ok(out and "ERROR" not in out, "claude_complete answers through the Anthropic API", out)
    last = emu.stats()["last_request"] or {}
    t.ok(last.get("path") == "/v1/messages", "the request went to /v1/messages", last.get("path"))
    hdr = {k.lower(): v for k, v in last.get("headers", {}).items()}
    t.ok(hdr.get("anthropic-version") == "2023-06-01" and "authorization" not in hdr
         and hdr.get("x-api-key") == "REDACTED", "x-api-key and anthropic-version, no SigV4", hdr)
    b = last_body()
    t.ok(b.get("model") == "claude-haiku-4-5-20251001" and "anthropic_version" not in b
         and "inference_geo" not in b, "the body names the API model, no anthropic_version, global", b)

    # claude_complete_stream: the Anthropic API's answer is not streamed here, so it is one row
    rc, sout, serr = q("SET claude.cache = off; SELECT string_agg(s, '') FROM claude_complete_stream('Say hello') s")
    whole = val("SELECT claude_complete('Say hello')")
    rows = sout.splitlines()
    t.ok(rc == 0 and rows and rows[-1] == whole and whole,
         "claude_complete_stream returns the Anthropic API's whole answer as its row", (sout, serr, whole))

    checks = {
        "claude_invoke": "SELECT claude_invoke('{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":20}') ->> 'type'",
        "claude_classify": "SELECT claude_classify('the invoice is wrong', ARRAY['billing','bug'])",
        "claude_sentiment": "SELECT claude_sentiment('I love it')",
        "claude_extract": "SELECT claude_extract('Alice is 30', '{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}') IS NOT NULL",
        "claude_summarize": "SELECT length(claude_summarize('a long text about cats and dogs')) > 0",
        "claude_count_tokens": "SELECT claude_count_tokens('hello there') > 0",
        "claude_classify_batch": "SELECT count(*) FROM claude_classify_batch(ARRAY['bill','bug','refund'], ARRAY['billing','bug'])",
        "claude_summarize_agg": "SELECT length(claude_summarize_agg(x)) > 0 FROM (VALUES ('one'), ('two')) v(x)",
    }
    for name, sql in checks.items():
        before = requests()
        rc, out, err = q(sql)
        answer = out.splitlines()[-1] if out else ""
        t.ok(rc == 0 and answer not in ("", "f") and requests() > before,
             f"{name} works on the Anthropic API", (answer, err[-400:]))
    paths = {r["path"] for r in recent(100)}
    t.ok(paths <= {"/v1/messages", "/v1/messages/count_tokens"},
         "nothing went to Bedrock's paths", paths)

    # --- async request and enrichment job (the worker) ------------------------
    rid = val("SELECT claude_complete_async('hello async')")
    rc, out, err = q(f"SELECT provider FROM claude.requests WHERE id = {rid}")
    t.ok(out.splitlines()[-1:] == ["anthropic"], "the async request records its provider", out + err)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and val(f"SELECT state FROM claude.requests WHERE id = {rid}") in ("pending", "running"):
        time.sleep(0.2)
    t.ok(val(f"SELECT state FROM claude.requests WHERE id = {rid}") == "done",
         "the worker sends the async request to the Anthropic API",
         val(f"SELECT error FROM claude.requests WHERE id = {rid}"))
    q("CREATE TABLE tickets (id int PRIMARY KEY, body text, label text);"
      "INSERT INTO tickets SELECT g, 'bug report ' || g, NULL FROM generate_series(1, 20) g")
    before = requests()
    job = val("SELECT claude_enrich('tickets', 'body', 'label', 'classify', '{\"labels\": [\"billing\", \"bug\"]}')")
    state = val(f"SELECT claude_job_wait({job}, '60 seconds')")
    t.ok(state == "done" and val("SELECT count(*) FROM tickets WHERE label IS NOT NULL") == "20",
         "an enrichment job runs on the Anthropic API", (state, val(f"SELECT error FROM claude.job WHERE id = {job}")))
    t.ok(val(f"SELECT definition ->> 'provider' FROM claude.job WHERE id = {job}") == "anthropic",
         "the job's definition records its provider")
    t.ok(requests() - before == 20 and all(p == "/v1/messages" for p in (r["path"] for r in recent(20))),
         "the worker used the job's provider (its own setting is bedrock)", requests() - before)
    time.sleep(1.5)
    t.ok(val("SELECT count(*) FROM claude.usage WHERE provider = 'anthropic' AND endpoint_host = '127.0.0.1' "
             "AND region IS NULL AND geography = 'global'") != "0"
         and val("SELECT count(*) FROM claude.usage WHERE provider <> 'anthropic'") == "0",
         "claude.usage records provider and endpoint", val("SELECT provider, region, endpoint_host, geography FROM claude.usage LIMIT 3"))
    t.ok(val("SELECT provider || '/' || geography FROM claude_data_flow() LIMIT 1") == "anthropic/global",
         "claude_data_flow shows the provider's path", val("SELECT * FROM claude_data_flow()"))

    # a provider option does not choose the provider: the setting does
    rc, out, err = q("SELECT claude_enrich('tickets', 'body', 'label', 'classify', "
                     "'{\"labels\": [\"billing\", \"bug\"], \"provider\": \"bedrock\", \"redo\": \"all\"}')")
    j2 = out.splitlines()[-1] if out else "0"
    val(f"SELECT claude_job_wait({j2}, '60 seconds')")
    rc, out, err = q("SET claude.provider = bedrock; SELECT claude_enrich('tickets', 'body', 'label', 'classify', "
                     "'{\"labels\": [\"billing\", \"bug\"], \"provider\": \"anthropic\", \"redo\": \"all\"}')")
    j3 = out.splitlines()[-1] if out else "0"
    val(f"SELECT claude_job_cancel({j3})")
    t.ok(val(f"SELECT coalesce(definition ->> 'provider', 'none') FROM claude.job WHERE id = {j2}") == "anthropic"
         and val(f"SELECT coalesce(definition ->> 'provider', 'none') FROM claude.job WHERE id = {j3}") == "none",
         "a provider option is ignored: the definition follows claude.provider", (j2, j3, err[-300:]))

    # --- the cache key includes the provider --------------------------------------
    q("ALTER SYSTEM SET claude.cache = on; SELECT pg_reload_conf()")
    time.sleep(0.5)
    cached0 = int(val("SELECT count(*) FROM claude.cache"))
    val("SELECT claude_complete('cache me')")
    before = requests()
    deadline = time.time() + 15        # the audit writer stores the answer behind the call
    while int(val("SELECT count(*) FROM claude.cache")) <= cached0 and time.time() < deadline:
        time.sleep(0.2)
    val("SELECT claude_complete('cache me')")
    t.ok(requests() == before, "an identical request is answered from the cache")
    rc, out, err = q("SET claude.provider = bedrock; SET claude.residency = none; SELECT claude_complete('cache me')")
    t.ok(rc == 0 and requests() == before + 1, "the same request on Bedrock is not the Anthropic API's cached answer",
         (requests() - before, err[-300:]))
    q("ALTER SYSTEM RESET claude.cache; SELECT pg_reload_conf()")
    time.sleep(0.5)

    # --- residency -----------------------------------------------------------------
    for residency in ("au", "region"):
        before = requests()
        rc, out, err = q(f"SET claude.residency = {residency}; SELECT claude_complete('x')")
        t.ok(rc != 0 and "42R01" in err and "claude.provider" in err and "claude.residency" in err,
             f"under {residency} a call is refused with 42R01 and a hint naming the settings", err[-500:])
        rc2, out2, err2 = q(f"SET claude.residency = {residency}; SELECT claude_complete_async('x')")
        rc3, out3, err3 = q(f"SET claude.residency = {residency}; SELECT count(*) FROM claude_classify_batch(ARRAY['a','b'], ARRAY['x','y'])")
        rc4, out4, err4 = q(f"SET claude.residency = {residency}; SELECT claude_enrich('tickets', 'body', 'label', 'classify', '{{\"labels\": [\"a\"]}}')")
        t.ok("42R01" in err2 and "42R01" in err3 and "42R01" in err4 and requests() == before,
             f"under {residency}: async, batch and enrichment refused, zero requests sent",
             (requests() - before, err2[-200:], err3[-200:], err4[-200:]))
    rc, out, err = q("SET claude.residency = au; SELECT allowed, geography, reason FROM claude_residency_check()")
    t.ok(rc == 0 and out.splitlines()[-1].startswith("f|") and "Australia" in out,
         "claude_residency_check says Australia is not a choice", out)
    rc, out, err = q("SET claude.residency = none; SELECT reason FROM claude_residency_check()")
    t.ok("United States only" in out, "and names the US-only workspace storage", out)

    emu.reset()
    rc, out, err = q("SET claude.residency = us; SELECT claude_complete('x', model => 'anthropic.claude-opus-4-6-v1')")
    b = last_body()
    t.ok(rc == 0 and b.get("inference_geo") == "us" and b.get("model") == "claude-opus-4-6",
         "under us the request carries inference_geo us", (b, err[-300:]))
    rc, out, err = q("SET claude.residency = us; SET claude.model = 'anthropic.claude-opus-4-6-v1'; "
                     "SELECT count(*) FROM claude_classify_batch(ARRAY['u1','u2','u3'], ARRAY['a','b'])")
    b = last_body()
    time.sleep(1.5)
    t.ok(rc == 0 and b.get("inference_geo") == "us" and requests() == 4
         and val("SELECT count(*) FROM claude.usage WHERE function_name = 'claude_classify_batch' "
                 "AND model = 'anthropic.claude-opus-4-6-v1' AND geography = 'us' AND error_code IS NULL") == "3",
         "under us a batch's requests carry inference_geo us", (requests(), b, err[-300:]))
    emu.reset()
    rc, out, err = q("SET claude.residency = us; SELECT claude_complete('x')")
    t.ok(rc != 0 and "42R01" in err and "Opus 4.6" in err and requests() == 0,
         "under us a model that cannot honour it is refused before sending", err[-400:])
    rc, out, err = q("SET claude.residency = us; SELECT geography, processed_in FROM claude_residency_check('claude-sonnet-5')")
    t.ok(out.splitlines()[-1:] == ["us|us (Anthropic API, inference_geo us)"], "claude_residency_check under us", out)

    # --- errors and retries -----------------------------------------------------------
    emu.reset()
    emu.fault(fault="throttle", count=1)
    t0 = time.monotonic()
    rc, out, err = q("SELECT claude_complete('retry me')")
    took = time.monotonic() - t0
    t.ok(rc == 0 and requests() == 2 and took >= emu_anthropic.RETRY_AFTER_S * 0.9,
         "429 rate_limit_error is retried after its retry-after", (requests(), took, err[-300:]))
    emu.reset()
    emu.fault(fault="error", status=529, count=1)
    rc, out, err = q("SELECT claude_complete('overloaded')")
    t.ok(rc == 0 and requests() == 2, "529 overloaded_error is retried", (requests(), err[-300:]))
    cases = [
        (400, "22023", "invalid_request_error"),
        (401, "28000", "authentication_error"),
        (403, "42501", "permission_error"),
        (404, "42704", "not_found_error"),
        (413, "22023", "request_too_large"),
        (500, "38000", "api_error"),
    ]
    for status, sqlstate, etype in cases:
        emu.reset()
        emu.fault(fault="error", status=status, count=10)
        rc, out, err = q("SET claude.max_retries = 1; SELECT claude_complete('fail')")
        t.ok(rc != 0 and sqlstate in err and etype in err and "request id req_emu_" in err,
             f"{etype} ({status}) is {sqlstate} with the request id", err[-400:])
    emu.reset()
    rc, out, err = q("SELECT claude_complete('x', model => 'anthropic.claude-sonnet-4-5-20250929-v1:0')")
    t.ok(rc != 0 and "42704" in err and "not_found_error" in err,
         "a model the API retired is not_found_error (42704)", err[-300:])
    time.sleep(1.5)
    t.ok(val("SELECT count(*) FROM claude.usage WHERE error_code = 'rate_limit_error' AND request_id LIKE 'req_emu_%'") != "0",
         "the audit log keeps the error type and request id")

    # --- credentials: the environment, a private file, never shown -----------------
    rc, out, err = q("SELECT provider, auth, access_key_id FROM claude_credentials()")
    line = out.splitlines()[-1] if out else ""
    t.ok("ANTHROPIC_API_KEY" in line and "x-api-key" in line and KEY not in line and KEY[-4:] in line,
         "claude_credentials shows the environment as the source, masked", line)
    keyfile = os.path.join(work, "anthropic.key")
    with open(keyfile, "w") as f:
        f.write(KEY + "\n")
    pw = pwd.getpwnam("postgres")
    os.chown(keyfile, pw.pw_uid, pw.pw_gid)
    os.chmod(keyfile, 0o644)
    os.chmod(work, 0o755)
    pg.append_conf(f"claude.anthropic_api_key_file = '{keyfile}'")
    pg.restart(env=emulator_env())     # no ANTHROPIC_API_KEY in the environment now
    emu.reset()
    rc, out, err = q("SELECT claude_complete('x')")
    t.ok(rc != 0 and "28000" in err and "accessible by others" in err and requests() == 0,
         "a key file others can read is refused before sending", err[-300:])
    os.chmod(keyfile, 0o600)
    rc, out, err = q("SELECT claude_complete('x')")
    t.ok(rc == 0 and requests() == 1, "a private key file is used", err[-300:])
    rc, out, err = q("SELECT provider FROM claude_credentials()")
    t.ok(keyfile in out, "claude_credentials names the file", out)
    rc, out, err = q("CREATE ROLE app LOGIN; GRANT claude_user TO app")
    rc, out, err = q("SET claude.provider = bedrock", user="app")
    t.ok(rc != 0 and "42501" in err, "claude.provider is for superusers (or GRANT SET)", err[-200:])
    rc, out, err = q("SET claude.anthropic_api_key_file = '/tmp/x'")
    t.ok(rc != 0 and "55P02" in err, "claude.anthropic_api_key_file is set in the server's configuration only", err[-200:])
    os.unlink(keyfile)
    rc, out, err = q("SELECT claude_complete('x')")
    t.ok(rc != 0 and "58P01" in err, "a missing key file is an error, nothing sent", err[-300:])

    # --- the key appears in no log, setting or table -----------------------------------
    time.sleep(1.5)
    log = pg.read_log()
    rc, dump, _ = q("SELECT string_agg(setting, ' ') FROM pg_settings; "
                    "SELECT string_agg(u::text, ' ') FROM claude.usage u; "
                    "SELECT string_agg(r::text, ' ') FROM claude.requests r; "
                    "SELECT string_agg(j::text, ' ') FROM claude.job j")
    t.ok(KEY not in log and KEY not in dump and KEY[8:24] not in log,
         "the API key is in no log, setting or table")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
