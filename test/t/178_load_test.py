#!/usr/bin/env python3
"""claude_load_test against the emulator: concurrency C for a duration at
fixed latency L gives p50 near L and throughput near C / L; a count is
sent exactly, past the response cache, each request audited; refusals
(cost over claude.load_test_max_usd, no price, bad arguments, no
privilege) send nothing; errors are counted by code; cancel stops it with
what was sent audited; claude.load_tests rows are seen by their owner and
claude_auditor only.  claude.stats and claude.stats_hourly: TTFT
percentiles (rows inserted directly), rounded to 0.1 ms, NULL without."""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("load_test")
work = tempfile.mkdtemp(prefix="pg_claude_t178_")
emu = Emulator(work, tls=False)
pg = Cluster("t178", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
""")


def q(sql, user="postgres"):
    return pg.psql("\\set VERBOSITY verbose\n" + sql, user=user)


def last(out):
    return out.splitlines()[-1] if out else ""


def invoke_count():
    ops = emu.stats()["by_operation"]
    return ops.get("InvokeModel", 0) + ops.get("InvokeModelWithResponseStream", 0)


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")
    q("CREATE ROLE lt LOGIN IN ROLE claude_job_owner; CREATE ROLE plain LOGIN IN ROLE claude_user;"
      "CREATE ROLE aud LOGIN IN ROLE claude_auditor; GRANT CREATE ON SCHEMA public TO lt")

    # --- who may run it: claude_job_owner, not a mere claude_user
    before = invoke_count()
    rc, out, err = q("SELECT requests FROM claude_load_test('hi', 1, requests => 1)", user="plain")
    t.ok(rc != 0 and "42501" in err, "a claude_user who is not a claude_job_owner may not run a load test", err)

    # --- bad arguments are refused before anything is sent
    rc, out, err = q("SELECT claude_load_test('hi', 0, requests => 1)", user="lt")
    t.ok(rc != 0 and "22023" in err and "concurrency" in err, "concurrency 0 is refused (22023)", err)
    rc, out, err = q("SELECT claude_load_test('hi', 2)", user="lt")
    t.ok(rc != 0 and "22004" in err and "duration or a number" in err, "neither duration nor count: 22004", err)
    rc, out, err = q("SELECT claude_load_test('hi', 2, duration => '1 month')", user="lt")
    t.ok(rc != 0 and "22023" in err and "HINT" in err, "a duration in months is refused with a hint", err)
    rc, out, err = q("SELECT claude_load_test(NULL, 2, requests => 2)", user="lt")
    t.ok(rc != 0 and "22004" in err, "no prompt: 22004", err)

    # --- the budget: over claude.load_test_max_usd, refused before any request
    rc, out, err = q("SELECT claude_load_test('hi', 4, requests => 100000, max_tokens => 4000)", user="lt")
    t.ok(rc != 0 and "54000" in err and "claude.load_test_max_usd" in err,
         "an estimate over claude.load_test_max_usd is refused (54000)", err)
    rc, out, err = q("ALTER SYSTEM SET claude.load_test_max_usd = 0; SELECT pg_reload_conf()")
    time.sleep(0.5)
    rc, out, err = q("SELECT claude_load_test('hi', 1, requests => 1)", user="lt")
    t.ok(rc != 0 and "54000" in err, "claude.load_test_max_usd = 0 refuses every load test", err)
    q("ALTER SYSTEM SET claude.load_test_max_usd = 0.0005; SELECT pg_reload_conf()")
    time.sleep(0.5)
    rc, out, err = q("SELECT claude_load_test('hi', 4, duration => '5 seconds')", user="lt")
    t.ok(rc != 0 and "54000" in err and "fewer than the concurrency of 4" in err,
         "a test by duration whose budget cannot fill the pump once is refused", err)
    q("ALTER SYSTEM RESET claude.load_test_max_usd; SELECT pg_reload_conf()")
    time.sleep(0.5)
    rc, out, err = q("SELECT claude_load_test('hi', 1, requests => 1000001)", user="lt")
    t.ok(rc != 0 and "22023" in err, "more than a million requests is refused (22023)", err)
    rc, out, err = q("SET claude.load_test_max_usd = 5", user="lt")
    t.ok(rc != 0 and "42501" in err, "claude.load_test_max_usd is a superuser setting", err)
    # a model without a price cannot be bounded
    q("DELETE FROM claude.prices WHERE model_pattern LIKE '%haiku-4-5%'")
    rc, out, err = q("SELECT claude_load_test('hi', 1, requests => 1, "
                     "model => 'au.anthropic.claude-haiku-4-5-20251001-v1:0')", user="lt")
    t.ok(rc != 0 and "55000" in err and "claude.prices" in err, "an unpriced model is refused (55000)", err)
    t.ok(invoke_count() == before, "none of the refused load tests sent a request",
         invoke_count() - before)

    # --- a count: exactly that many reach the service, past a warm cache
    emu.reset()
    q("SELECT claude_complete('same prompt')", user="lt")  # now cached
    before = invoke_count()
    rc, out, err = q("SET claude.cache = on;"
                     "SELECT requests, errors, stopped_by, concurrency, requested_requests, "
                     "input_tokens > 0 AND output_tokens > 0, cost_usd > 0, cost_usd <= estimated_max_usd, "
                     "endpoint_host, region FROM claude_load_test('same prompt', 4, requests => 20);"
                     "SHOW claude.cache", user="lt")
    rows = out.splitlines()
    f = rows[0].split("|") if rows else []
    t.ok(rc == 0 and f[:5] == ["20", "0", "requests", "4", "20"], "a count of 20: 20 requests, no errors",
         out + err)
    t.ok(rc == 0 and f[5:8] == ["t", "t", "t"], "tokens counted; cost priced and within the estimate", out)
    t.ok(rc == 0 and len(f) > 9 and f[8] != "" and f[8] in emu.http_url and f[9] == "ap-southeast-2",
         "the endpoint host and region are recorded", f)
    t.ok(invoke_count() - before == 20, "every request reached the service despite the cache",
         invoke_count() - before)
    t.ok(last(out) == "on", "claude.cache is back as it was after the test", out)
    time.sleep(1.5)
    rc, out, err = q("SELECT count(*), count(*) FILTER (WHERE cache_hit), "
                     "count(*) FILTER (WHERE role_name = 'lt' AND operation = 'InvokeModel') "
                     "FROM claude.usage WHERE function_name = 'claude_load_test'")
    t.ok(out == "20|0|20", "each request is audited as claude_load_test, none from the cache", out)

    # a test by duration alone sends only what the budget buys
    q("ALTER SYSTEM SET claude.load_test_max_usd = 0.005; SELECT pg_reload_conf()")
    time.sleep(0.5)
    before = invoke_count()
    t0 = time.monotonic()
    rc, out, err = q("SELECT stopped_by, requests, estimated_max_usd <= 0.005 FROM "
                     "claude_load_test('hi', 4, duration => '30 seconds')", user="lt")
    f = out.split("|")
    t.ok(rc == 0 and f[0] == "budget" and f[2] == "t" and int(f[1]) >= 4 and time.monotonic() - t0 < 10
         and invoke_count() - before == int(f[1]),
         "a test by duration stops when the budget has bought all it can", out + err)
    q("ALTER SYSTEM RESET claude.load_test_max_usd; SELECT pg_reload_conf()")
    time.sleep(0.5)

    # --- several prompts (a table as an array), errors by code
    emu.reset()
    emu.fault(fault="error", status=400, error_type="ValidationException", count=3)
    q("CREATE TABLE public.lt_prompts (p text); INSERT INTO public.lt_prompts VALUES ('one'), ('two'), ('three')",
      user="lt")
    rc, out, err = q("SELECT requests, errors, errors_by_code FROM claude_load_test(concurrency => 2, requests => 9, "
                     "prompts => ARRAY(SELECT p FROM public.lt_prompts))", user="lt")
    t.ok(rc == 0 and out == '9|3|{"ValidationException": 3}', "failed requests are counted by code", out + err)

    # --- duration: C=16 for 10 s at L: p50 ~ L, throughput ~ C / L (the "done when")
    L = 250
    C = 16
    emu.reset()
    FB = 100
    emu.control("config", {"latency_ms": L, "first_byte_ms": FB})
    t0 = time.monotonic()
    rc, out, err = q(f"SELECT requests, errors, stopped_by, p50_latency_ms, p99_latency_ms, throughput_rps, "
                     f"wall_s, p50_ttft_ms FROM claude_load_test('load', {C}, duration => '10 seconds')",
                     user="lt")
    elapsed = time.monotonic() - t0
    emu.control("config", {"latency_ms": 0, "first_byte_ms": 0})
    f = out.split("|")
    print(f"# load test C={C} L={L} ms 10 s: {out} ({elapsed:.1f} s)")
    ok = rc == 0 and len(f) == 8
    t.ok(ok and f[1] == "0" and f[2] == "duration", "a test by duration ends by its duration", out + err)
    if ok:
        p50 = float(f[3])
        rps = float(f[5])
        t.ok(abs(p50 - L) <= 0.05 * L, f"p50 latency {p50} ms within 5 % of the emulator's {L} ms", out)
        t.ok(abs(rps - C / (L / 1000.0)) <= 0.05 * C / (L / 1000.0),
             f"throughput {rps} req/s within 5 % of C / L = {C / (L / 1000.0)}", out)
        t.ok(10.0 <= float(f[6]) <= 10.0 + 2 * L / 1000.0 and elapsed < 12,
             "nothing starts after the deadline: the wall time is the duration plus at most one request", out)
        t.ok(f[7] != "" and abs(float(f[7]) - FB) <= 10,
             f"p50 TTFT within 10 ms of the emulator's first byte at {FB} ms (calls stream under claude.stream = auto)", out)
    st = emu.stats()
    t.ok(st["max_in_flight"] <= C and st["max_in_flight"] >= C - 1, "C requests were kept in flight",
         st["max_in_flight"])

    # --- cancel: the pump stops, what was sent stays audited, nothing is stored
    emu.reset()
    emu.control("config", {"latency_ms": 300})
    rc, out, err = q("SELECT count(*) FROM claude.load_tests")
    stored_before = last(out)
    proc = subprocess.Popen(pg.psql_argv(user="lt"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdin.write("SELECT pg_backend_pid();\n"
                     "SELECT claude_load_test('cancel me', 8, duration => '30 seconds');\n")
    proc.stdin.flush()
    pid = int(proc.stdout.readline().strip())
    time.sleep(1.0)
    t0 = time.monotonic()
    q(f"SELECT pg_cancel_backend({pid})")
    proc.stdin.close()
    err = proc.stderr.read()
    proc.wait(30)
    elapsed = (time.monotonic() - t0) * 1000
    emu.control("config", {"latency_ms": 0})
    t.ok("canceling statement due to user request" in err and elapsed < 500,
         f"cancel stops a load test ({elapsed:.0f} ms)", err)
    time.sleep(1.5)
    sent = invoke_count()
    rc, out, err = q("SELECT count(*) FROM claude.usage WHERE prompt_sha256 = "
                     "encode(sha256(convert_to('cancel me', 'UTF8')), 'hex')")
    t.ok(sent > 0 and int(last(out)) >= sent, f"every request sent before the cancel is audited ({out} rows, "
         f"{sent} sent)", out)
    rc, out, err = q("SELECT count(*) FROM claude.load_tests")
    t.ok(last(out) == stored_before, "a cancelled test stores no row", out)

    # --- visibility of claude.load_tests, like claude.usage
    rc, out, err = q("SELECT count(*) FROM claude.load_tests", user="lt")
    n_lt = last(out)
    rc, out2, err = q("SELECT count(*) FROM claude.load_tests", user="plain")
    rc, out3, err = q("SELECT count(*) FROM claude.load_tests", user="aud")
    t.ok(n_lt.isdigit() and int(n_lt) >= 3 and last(out2) == "0" and last(out3) == n_lt,
         "its owner and claude_auditor see the rows, another role does not", (n_lt, out2, out3, err))
    rc, out, err = q("INSERT INTO claude.load_tests (started_at, role_name, model, region, endpoint_host, "
                     "concurrency, stopped_by, requests, errors, errors_by_code, wall_s, estimated_max_usd) "
                     "VALUES (now(), 'lt', 'm', 'r', 'h', 1, 'requests', 1, 0, '{}', 1, 0)", user="lt")
    t.ok(rc != 0 and "42501" in err, "a role cannot write claude.load_tests itself", err)

    # --- TTFT percentiles in claude.stats and claude.stats_hourly (rows inserted directly)
    vals = [float(v) for v in range(100, 1100, 10)] + [1234.56]
    q("INSERT INTO claude.usage (ts, role_name, database_name, backend_pid, function_name, operation, model, "
      "region, latency_ms, ttft_ms, retries, cache_hit) SELECT '2026-01-02 03:15:00+00', 'lt', 'postgres', 1, "
      "'test', 'InvokeModel', 'ttft-model', 'ap-southeast-2', v * 2, v, 0, false "
      f"FROM unnest(ARRAY{vals}::float8[]) v;"
      "INSERT INTO claude.usage (ts, role_name, database_name, backend_pid, function_name, operation, model, "
      "region, latency_ms, retries, cache_hit) VALUES ('2026-01-02 04:15:00+00', 'lt', 'postgres', 1, 'test', "
      "'InvokeModel', 'ttft-model', 'ap-southeast-2', 5, 0, false)")

    def pct(xs, p):
        xs = sorted(xs)
        k = (len(xs) - 1) * p
        lo = int(k)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

    want = [round(pct(vals, p), 1) for p in (0.5, 0.95, 0.99)]
    rc, out, err = q("SELECT p50_ttft_ms, p95_ttft_ms, p99_ttft_ms FROM claude.stats_hourly "
                     "WHERE model = 'ttft-model' AND hour = '2026-01-02 03:00'", user="lt")
    got = [float(x) for x in out.split("|")] if rc == 0 and out else []
    t.ok(got == want, f"stats_hourly: TTFT p50/p95/p99 {got} = {want}", out + err)
    rc, out, err = q("SELECT p50_ttft_ms, p99_ttft_ms, calls FROM claude.stats WHERE model = 'ttft-model'", user="lt")
    f = out.split("|")
    t.ok(rc == 0 and float(f[0]) == want[0] and float(f[1]) == round(pct(vals, 0.99), 1) and f[2] == str(len(vals) + 1),
         "stats: TTFT percentiles over the day, the call without TTFT not counted in them", out + err)
    rc, out, err = q("SELECT p50_ttft_ms IS NULL, p50_latency_ms, calls FROM claude.stats_hourly "
                     "WHERE model = 'ttft-model' AND hour = '2026-01-02 04:00'", user="lt")
    t.ok(out == "t|5|1", "an hour without streamed calls has NULL TTFT percentiles", out + err)
    rc, out, err = q("SELECT count(*) FROM claude.stats_hourly WHERE model = 'ttft-model'", user="plain")
    t.ok(out == "0", "stats_hourly shows only the rows a role may see", out)
    rc, out, err = q("SELECT sum(calls) FROM claude.stats_hourly WHERE model = 'ttft-model'", user="aud")
    t.ok(out == str(len(vals) + 1), "claude_auditor sees every role's hours", out)
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
