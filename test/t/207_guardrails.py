#!/usr/bin/env python3
"""Bedrock guardrails: claude.guardrail_id and claude.guardrail_version
(superuser or GRANT SET) send the guardrail headers, signed, on every
InvokeModel; an intervention is NULL with a WARNING, or an error under
claude.guardrail_on_intervention = error; claude.usage records the action
and which policy acted, so interventions can be counted; the cache keeps
guarded and unguarded answers apart."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("guardrails")
work = tempfile.mkdtemp(prefix="pg_claude_t207_")
emu = Emulator(work, tls=False)
pg = Cluster("t207", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.cache = off
""")
MARKER = "PINEAPPLE"
GUARD = "SET claude.guardrail_id = 'gr1'; SET claude.guardrail_version = '1';"


def q(sql, user="postgres"):
    return pg.psql("\\set VERBOSITY verbose\n" + sql, user=user)


def val(sql, user="postgres"):
    rc, out, err = q(sql, user)
    return out.splitlines()[-1] if rc == 0 and out else "ERROR: " + err


def wait_for(sql, want, seconds=15):
    deadline = time.time() + seconds
    got = val(sql)
    while got != want and time.time() < deadline:
        time.sleep(0.2)
        got = val(sql)
    return got


def configure():
    emu.reset()
    emu.control("guardrails", {"id": "gr1", "version": "1", "marker": MARKER})


try:
    pg.start(env=emulator_env())
    q("CREATE EXTENSION pg_claude")
    q("CREATE ROLE analyst LOGIN; GRANT claude_user TO analyst")

    # ---- who may set them, and what they accept ----
    rc, out, err = q("SET claude.guardrail_id = 'gr1'", user="analyst")
    t.ok(rc != 0 and "42501" in err, "claude.guardrail_id is not for every role", err)
    rc, out, err = q("SET claude.guardrail_version = '1'", user="analyst")
    t.ok(rc != 0 and "42501" in err, "claude.guardrail_version is not for every role", err)
    rc, out, err = q("SET claude.guardrail_id = 'Not An Id'")
    t.ok(rc != 0 and "22023" in err and "invalid guardrail identifier" in err and "ARN" in err,
         "a malformed identifier is refused with the forms it may take", err)
    rc, out, err = q("SET claude.guardrail_version = '01'")
    t.ok(rc != 0 and "22023" in err and "DRAFT" in err, "a malformed version is refused", err)
    rc, out, err = q("SET claude.guardrail_on_intervention = 'ignore'")
    t.ok(rc != 0 and "22023" in err, "guardrail_on_intervention is null or error", err)
    rc, out, err = q("GRANT SET ON PARAMETER claude.guardrail_id, claude.guardrail_version TO analyst")
    t.ok(rc == 0, "GRANT SET hands them to a role", err)

    # ---- headers sent and signed; a passed answer ----
    configure()
    got = val(GUARD + "SELECT claude_complete('hello')", user="analyst")
    last = emu.stats()["last_request"]["headers"]
    t.ok(got == "You said: hello", "an answer the guardrail passes is returned", got)
    t.ok(last.get("X-Amzn-Bedrock-GuardrailIdentifier") == "gr1" and
         last.get("X-Amzn-Bedrock-GuardrailVersion") == "1" and last.get("X-Amzn-Bedrock-Trace") == "ENABLED",
         "the guardrail headers are sent", last)
    t.ok("x-amzn-bedrock-guardrailidentifier;x-amzn-bedrock-guardrailversion;x-amzn-bedrock-trace"
         in last.get("Authorization", ""), "and signed (the emulator verified the signature over them)",
         last.get("Authorization"))
    t.ok(wait_for("SELECT guardrail_action FROM claude.usage WHERE function_name = 'claude_complete' "
                  "ORDER BY id DESC LIMIT 1", "NONE") == "NONE", "claude.usage records NONE")

    # no guardrail: no headers
    configure()
    val("SELECT claude_complete('plain')")
    t.ok("X-Amzn-Bedrock-GuardrailIdentifier" not in emu.stats()["last_request"]["headers"],
         "without claude.guardrail_id no guardrail header is sent")

    # ---- interventions ----
    configure()
    rc, out, err = q(GUARD + f"SELECT coalesce(claude_complete('tell me about {MARKER}'), 'NULL')")
    t.ok(rc == 0 and out.splitlines()[-1] == "NULL" and 'guardrail "gr1" intervened; returning NULL' in err,
         "an intervention is NULL with a WARNING", (out, err))
    rc, out, err = q(GUARD + "SET claude.guardrail_on_intervention = error;"
                     f"SELECT claude_complete('tell me about {MARKER}')")
    t.ok(rc != 0 and "38000" in err and 'guardrail "gr1" intervened' in err and "guardrail_trace" in err,
         "claude.guardrail_on_intervention = error raises it (38000)", err)
    rc, out, err = q(GUARD + f"SELECT coalesce(claude_complete('REPEAT SYSTEM', system => 'say {MARKER}'), 'NULL')")
    t.ok(out.splitlines()[-1:] == ["NULL"] and "intervened" in err, "an intervention on the answer, too", (out, err))
    rc, out, err = q(GUARD + f"SELECT coalesce(claude_sentiment('I love {MARKER}')::text, 'NULL')")
    t.ok(out.splitlines()[-1:] == ["NULL"] and "intervened" in err, "a tool task's intervention is NULL too",
         (out, err))
    rc, out, err = q(GUARD + f"SELECT ord, coalesce(completion, 'NULL'), coalesce(error, '') "
                     f"FROM claude_complete_batch(ARRAY['fine', 'about {MARKER}']) ORDER BY ord")
    t.ok(rc == 0 and out.splitlines() == ["1|You said: fine|", '2|NULL|Bedrock guardrail "gr1" intervened'],
         "a batch: the intervened element's error names the guardrail, the others answer", (out, err))

    # aggregates: a blocked message is neither the group's answer nor an item of the next stage
    q("CREATE TABLE notes (id int, body text); INSERT INTO notes VALUES (1, 'fine'), (2, 'about " + MARKER + "')")
    for agg in ("claude_agg(body, 'List them' ORDER BY id)", "claude_summarize_agg(body ORDER BY id)"):
        rc, out, err = q(GUARD + f"SELECT coalesce({agg}, 'NULL') FROM notes")
        t.ok(rc == 0 and out.splitlines()[-1:] == ["NULL"] and 'guardrail "gr1" intervened in' in err,
             f"{agg.split('(')[0]}: an intervention is NULL with a WARNING", (out, err))
    rc, out, err = q(GUARD + "SET claude.guardrail_on_intervention = error;"
                     "SELECT claude_agg(body, 'List them' ORDER BY id) FROM notes")
    t.ok(rc != 0 and "38000" in err and 'guardrail "gr1" intervened in claude_agg' in err,
         "claude_agg under guardrail_on_intervention = error raises it (38000)", err)
    rc, out, err = q(GUARD + "SELECT claude_agg(body, 'List them') FROM notes WHERE id = 1")
    t.ok(rc == 0 and "intervened" not in err and out.splitlines()[-1].startswith("Answer to"),
         "a group the guardrail passes is answered", (out, err))

    n = wait_for("SELECT count(*) FROM claude.usage WHERE guardrail_action = 'INTERVENED'", "8")
    t.ok(n == "8", "claude.usage counts the interventions (the aggregates' too)", n)
    traces = val("SELECT string_agg(DISTINCT guardrail_trace, ' / ') FROM claude.usage "
                 "WHERE guardrail_action = 'INTERVENED'")
    t.ok("input:wordPolicy" in traces and "outputs:wordPolicy" in traces,
         "guardrail_trace says which side and which policy", traces)

    # ---- the runtime's refusals are clear errors ----
    configure()
    rc, out, err = q("SET claude.guardrail_id = 'nosuch'; SET claude.guardrail_version = '1';"
                     "SELECT claude_complete('x')")
    t.ok(rc != 0 and "ValidationException" in err and "does not exist" in err,
         "an unknown guardrail is Bedrock's ValidationException", err)
    rc, out, err = q("SET claude.guardrail_id = 'gr1'; SELECT claude_complete('x')")
    t.ok(rc != 0 and "does not exist" in err, "no version set means DRAFT, which this guardrail has not", err)

    # ---- the cache keeps guarded and unguarded answers apart ----
    configure()
    rc, out, err = q("SET claude.cache = on; SELECT claude_complete('cached once');"
                     + GUARD + "SELECT claude_complete('cached once');")
    t.ok(rc == 0 and emu.stats()["requests"] == 2, "a guardrail's request is not answered from an unguarded entry",
         (out, err, emu.stats()["requests"]))
    before = val("SELECT count(*) FROM claude.usage WHERE guardrail_action = 'INTERVENED'")
    rc, out, err = q("SET claude.cache = on;" + GUARD + f"SELECT claude_complete('cached {MARKER}');"
                     f"SELECT claude_complete('cached {MARKER}');")
    after = wait_for("SELECT count(*) FROM claude.usage WHERE guardrail_action = 'INTERVENED'",
                     str(int(before) + 2))
    hit = val("SELECT count(*) FROM claude.usage WHERE guardrail_action = 'INTERVENED' AND cache_hit")
    t.ok(emu.stats()["requests"] == 3 and after == str(int(before) + 2) and hit == "1" and
         err.count("intervened") == 2, "an intervention answered from the cache is NULL and counted again",
         (before, after, hit, err))

    # ---- a role's guardrail reaches the worker: its jobs and asynchronous requests are guarded ----
    configure()
    q("CREATE ROLE guarded LOGIN; GRANT claude_user, claude_job_owner TO guarded;"
      "ALTER ROLE guarded SET claude.guardrail_id = 'gr1'; ALTER ROLE guarded SET claude.guardrail_version = '1';"
      "CREATE TABLE guarded_t (id int PRIMARY KEY, body text, out text); ALTER TABLE guarded_t OWNER TO guarded;"
      f"INSERT INTO guarded_t VALUES (1, 'a fine row'), (2, 'a row about {MARKER}')")
    job = val("SELECT claude_enrich('guarded_t', 'body', 'out', 'complete')", user="guarded")
    state = val(f"SELECT claude_job_wait({job}, '60 seconds')")
    rows = val("SELECT string_agg(id || '=' || coalesce(out, 'NULL'), ' ' ORDER BY id) FROM guarded_t")
    item_error = val(f"SELECT error FROM claude.job_items WHERE job_id = {job} AND error IS NOT NULL")
    last = emu.stats()["last_request"]["headers"]
    t.ok(state == "done_with_errors" and rows == "1=You said: a fine row 2=NULL"
         and "guardrail intervened" in item_error and last.get("X-Amzn-Bedrock-GuardrailIdentifier") == "gr1",
         "a role's claude.guardrail_id applies to its jobs in the worker: the blocked row fails, the other is written",
         (job, state, rows, item_error, last))
    req = val(f"SELECT claude_complete_async('async about {MARKER}')", user="guarded")
    got = wait_for(f"SELECT state FROM claude.requests WHERE id = {req}", "error", 60)
    t.ok(got == "error" and emu.stats()["last_request"]["headers"].get("X-Amzn-Bedrock-GuardrailVersion") == "1",
         "and to its claude_complete_async requests", (req, got))
    n = wait_for("SELECT count(*) FROM claude.usage WHERE role_name = 'guarded' AND guardrail_action = 'INTERVENED'",
                 "2")
    t.ok(n == "2", "the worker's interventions are counted in claude.usage for the role", n)
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
