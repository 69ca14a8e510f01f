#!/usr/bin/env python3
"""Privileged SQL that no caller can hijack, and jobs that cannot touch what
they must not or hold the worker hostage.

Each attack below made a role superuser, read another role's rows, or
broke the cluster before it was closed (see doc/security.md):
  S1  an operator `=` (text, text) in the caller's schema, first in its
      search_path, during the cache lookup (and the direct audit write,
      without preloading);
  S2  an operator `=` (bigint, bigint) and a now() during claude_job_wait,
      claude_job_cancel, pause and resume;
  S3  a public.quote_ident(name) while the worker picks a job;
  S4  a public.convert_to(text, text) while the worker hashes a job's input;
  S5  a leaky function over claude.jobs;
  and: the cache shared across roles, job state of other roles, enrichment
  of catalogs / own tables / views / keys / the input (D1, W2), a job whose
  input sleeps (D2), a cancel during population (D3), a source dropped before
  the job is picked (H1).
The predefined roles (claude_user, claude_auditor) are attacked for what
they grant: superuser-only settings, administrator functions, the cache,
and, for the auditor, any write to what it reads.

Every trap function records who ran it, and as which role, in a table
anyone may write; the tests assert it never ran with rights its creator
lacks, and that no attacker became superuser."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("security")
work = tempfile.mkdtemp(prefix="pg_claude_t120_")
emu = Emulator(work, tls=False)

# Traps: each runs ALTER ROLE <attacker> SUPERUSER if it can, and logs
# current_user and whether that succeeded into a table anyone may write.
TRAP_SETUP = """
CREATE TABLE public.trap_log (who text, as_role text, escalated boolean, at timestamptz DEFAULT now());
GRANT INSERT, SELECT ON public.trap_log TO PUBLIC;
CREATE FUNCTION public.trap(attacker text) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE ok boolean := false;
BEGIN
  BEGIN
    EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', attacker);
    ok := true;
  EXCEPTION WHEN OTHERS THEN ok := false;
  END;
  INSERT INTO public.trap_log (who, as_role, escalated) VALUES (attacker, current_user, ok);
  RETURN ok;
END $f$;
GRANT EXECUTE ON FUNCTION public.trap(text) TO PUBLIC;
"""

# claude_job_owner is one of the roles CREATE EXTENSION makes (README "Privileges")
ROLES = """
CREATE ROLE carol LOGIN;      -- an analyst who owns a schema
GRANT claude_job_owner TO carol;
CREATE SCHEMA carol AUTHORIZATION carol;
CREATE ROLE alice LOGIN;      -- a job owner with private data
GRANT claude_job_owner TO alice;
CREATE SCHEMA alice AUTHORIZATION alice;
CREATE ROLE mallory LOGIN;    -- no pg_claude rights at all, only CREATE on public
GRANT CREATE ON SCHEMA public TO mallory;
CREATE ROLE bob LOGIN;
GRANT claude_job_owner TO bob;
"""

# carol's operators and now(), first in her search_path
CAROL_TRAPS = """
SET ROLE carol;
CREATE FUNCTION carol.eq_text(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN PERFORM public.trap('carol'); RETURN a OPERATOR(pg_catalog.=) b; END $f$;
CREATE OPERATOR carol.= (LEFTARG = text, RIGHTARG = text, FUNCTION = carol.eq_text);
CREATE FUNCTION carol.eq_int8(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN PERFORM public.trap('carol'); RETURN a OPERATOR(pg_catalog.=) b; END $f$;
CREATE OPERATOR carol.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = carol.eq_int8);
CREATE FUNCTION carol.now() RETURNS timestamptz LANGUAGE plpgsql AS $f$
BEGIN PERFORM public.trap('carol'); RETURN pg_catalog.now(); END $f$;
RESET ROLE;
"""

MALLORY_TRAPS = """
SET ROLE mallory;
CREATE FUNCTION public.quote_ident(n name) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN PERFORM public.trap('mallory'); RETURN pg_catalog.quote_ident(n::text); END $f$;
CREATE TABLE public.stolen (data text);
GRANT INSERT ON public.stolen TO PUBLIC;
CREATE FUNCTION public.convert_to(s text, enc text) RETURNS bytea LANGUAGE plpgsql AS $f$
BEGIN PERFORM public.trap('mallory'); INSERT INTO public.stolen VALUES (s);
RETURN pg_catalog.convert_to(s, enc::name); END $f$;
CREATE FUNCTION public.leak(x text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $f$
BEGIN INSERT INTO public.stolen VALUES ('leak: ' || coalesce(x, '')); RETURN true; END $f$;
RESET ROLE;
"""


def make_cluster(name, preload):
    conf = f"claude.endpoint = '{emu.http_url}'\nclaude.database_name = 'postgres'\n"
    if preload:
        conf += "shared_preload_libraries = 'pg_claude'\nclaude.job_input_timeout = '2s'\n"
    return Cluster(name, free_port(), conf=conf)


def runner(pg):
    def q(sql, user="postgres"):
        return pg.psql("\\set VERBOSITY verbose\n" + sql, user=user)

    def val(sql, user="postgres"):
        rc, out, err = q(sql, user)
        return out.splitlines()[-1] if out.strip() else err.strip()
    return q, val


def set_input_timeout(q, value):
    """claude.job_input_timeout for the worker, reloaded before the next job."""
    q(f"ALTER SYSTEM SET claude.job_input_timeout = '{value}'; SELECT pg_reload_conf()")
    time.sleep(0.5)


def superusers(val):
    return val("SELECT coalesce(string_agg(rolname, ',' ORDER BY rolname), '') FROM pg_roles "
               "WHERE rolsuper AND rolname IN ('carol', 'alice', 'mallory', 'bob', 'ursula', 'audrey')")


def privileged_trap_runs(val, who):
    """Trap runs as any role other than the attacker itself, or that escalated."""
    return val(f"SELECT count(*) FROM public.trap_log WHERE who = '{who}' "
               f"AND (as_role <> '{who}' OR escalated)")


def wait_state(val, job, states=("done", "done_with_errors", "failed", "cancelled"), timeout=60):
    deadline = time.monotonic() + timeout
    s = None
    while time.monotonic() < deadline:
        s = val(f"SELECT state FROM claude.job WHERE id = {job}")
        if s in states:
            return s
        time.sleep(0.1)
    return s


# ---------------------------------------------------------------------------
# Without preloading: the cache lookup and the direct audit write (S1)
# ---------------------------------------------------------------------------
pg = make_cluster("t120a", preload=False)
try:
    pg.start(env=emulator_env())
    q, val = runner(pg)
    q("CREATE EXTENSION pg_claude;" + TRAP_SETUP + ROLES + CAROL_TRAPS)
    rc, out, err = q("SET ROLE carol; SELECT claude_complete('cached prompt')")
    t.ok(rc == 0, "S1 setup: carol's first call answers and is cached", err)
    rc, out, err = q("SET ROLE carol; SET search_path = carol, public; "
                     "SELECT claude_complete('cached prompt'); SELECT claude_complete('a new prompt')")
    t.ok(rc == 0, "S1: calls with carol's operators first in her path still answer", err)
    t.ok(superusers(val) == "", "S1: carol's = (text, text) in the cache lookup and audit write: nobody became superuser",
         superusers(val))
    t.ok(privileged_trap_runs(val, "carol") == "0", "S1: carol's operator never ran with pg_claude's rights",
         val("SELECT string_agg(as_role || ':' || escalated, ',') FROM public.trap_log"))
    t.ok(val("SELECT count(*) FROM claude.usage WHERE role_name = 'carol' AND cache_hit") == "1",
         "S1: the repeat was still a cache hit, audited")
finally:
    pg.destroy()

# ---------------------------------------------------------------------------
# With the worker: S2-S5, cache scope, job visibility, D1-D3, W2, H1
# ---------------------------------------------------------------------------
pg = make_cluster("t120b", preload=True)
try:
    pg.start(env=emulator_env())
    q, val = runner(pg)
    q("CREATE EXTENSION pg_claude;" + TRAP_SETUP + ROLES + CAROL_TRAPS + MALLORY_TRAPS)
    q("SET ROLE alice; CREATE TABLE alice.secrets (id int PRIMARY KEY, body text, label text);"
      "INSERT INTO alice.secrets SELECT g, 'alice private note ' || g, NULL FROM generate_series(1, 30) g")

    # S3 and S4: alice's job runs while mallory's quote_ident / convert_to wait in public
    job = val("SET ROLE alice; SELECT claude_enrich('alice.secrets', 'body', 'label', 'complete')", "postgres")
    state = wait_state(val, job)
    t.ok(state == "done", "S3/S4: alice's job finishes with mallory's functions in public", state)
    t.ok(superusers(val) == "", "S3: mallory's public.quote_ident(name): nobody became superuser", superusers(val))
    t.ok(privileged_trap_runs(val, "mallory") == "0" and
         val("SELECT count(*) FROM public.trap_log WHERE who = 'mallory'") == "0",
         "S3/S4: mallory's functions never ran in the worker or as alice",
         val("SELECT string_agg(as_role, ',') FROM public.trap_log WHERE who = 'mallory'"))
    t.ok(val("SELECT count(*) FROM public.stolen") == "0", "S4: nothing of alice's was copied out",
         val("SELECT string_agg(data, ' | ') FROM public.stolen"))

    # S4, the other way round: the owner's own path is pinned at enrich time
    rc, out, err = q("SET ROLE alice; SET search_path = alice, public;"
                     "CREATE FUNCTION alice.shout(t text) RETURNS text LANGUAGE sql AS $$ SELECT upper(t) $$;"
                     "CREATE TABLE alice.notes (id int PRIMARY KEY, body text, loud text);"
                     "INSERT INTO alice.notes VALUES (1, 'hello'), (2, 'there');"
                     "SELECT claude_enrich('notes', 'shout(body)', 'loud', 'complete')")
    job = out.splitlines()[-1] if out.strip() else err
    t.ok(wait_state(val, job) == "done" and val("SELECT count(*) FROM alice.notes WHERE loud IS NOT NULL") == "2",
         "the input is evaluated under the search_path its owner had at claude_enrich",
         val(f"SELECT error FROM claude.job WHERE id = {job}"))

    # S2: carol's = (bigint, bigint) and now() during the job functions
    own = val("SET ROLE carol; CREATE TABLE carol.t (id int PRIMARY KEY, b text, o text);"
              "INSERT INTO carol.t VALUES (1, 'x');"
              "SELECT claude_enrich('carol.t', 'b', 'o', 'complete')")
    wait_state(val, own)
    for fn in ("claude_job_wait({j}, '1 second')", "claude_job_cancel({j})", "claude_job_pause({j})",
               "claude_job_resume({j})"):
        rc, out, err = q(f"SET ROLE carol; SET search_path = carol, public; SELECT {fn.format(j=own)}")
    t.ok(superusers(val) == "", "S2: carol's = (bigint, bigint) and now() in the job functions: nobody became superuser",
         superusers(val))
    t.ok(privileged_trap_runs(val, "carol") == "0", "S2: carol's operators never ran with pg_claude's rights",
         val("SELECT string_agg(as_role || ':' || escalated, ',') FROM public.trap_log WHERE who = 'carol'"))

    # job state: only your own (or an auditor's)
    alice_job = val("SELECT max(id) FROM claude.job WHERE role_name = 'alice'")
    rc, out, err = q(f"SET ROLE carol; SELECT claude_job_wait({alice_job}, '0 seconds')")
    t.ok(rc != 0 and "does not exist" in err,
         "claude_job_wait on another role's job answers as if there were no such job", err)
    rc, out, err = q(f"SET ROLE carol; SELECT claude_job_cancel({alice_job})")
    t.ok(rc != 0 and "does not exist" in err, "claude_job_cancel of another role's job: as if there were no such job",
         out + err)
    rc, out, err = q("SELECT claude_job_cancel(999999)")
    t.ok(rc != 0 and "job 999999 does not exist" in err, "claude_job_cancel of no job at all: the same error", err)
    t.ok(val(f"SET ROLE alice; SELECT claude_job_wait({alice_job}, '0 seconds')") == "done",
         "the owner sees her own job's state")

    # S5: claude.jobs is a security barrier
    q("UPDATE claude.job SET error = 'row data: alice private note 7' WHERE role_name = 'alice'")
    rc, out, err = q("SET ROLE mallory; SELECT count(*) FROM claude.jobs WHERE public.leak(error)")
    t.ok(val("SELECT count(*) FROM public.stolen WHERE data LIKE '%alice%'") == "0",
         "S5: a leaky function over claude.jobs sees none of another role's rows",
         val("SELECT string_agg(data, ' | ') FROM public.stolen"))
    t.ok(val("SELECT reloptions::text FROM pg_class WHERE oid = 'claude.jobs'::regclass") == "{security_barrier=true}",
         "S5: claude.jobs is declared security_barrier")

    # the cache: a role sees only its own answers unless a superuser shares it
    emu.reset()
    q("SET claude.cache = on; SET ROLE alice; SELECT claude_complete('my exact secret prompt')")
    time.sleep(1.5)     # the worker stores the answer
    rc, out, err = q("SET ROLE bob; SELECT claude_complete('my exact secret prompt')")
    time.sleep(1.5)
    t.ok(val("SELECT count(*) FROM claude.usage WHERE role_name = 'bob' AND cache_hit") == "0"
         and emu.stats()["requests"] >= 2,
         "cache_scope = role: another role's identical prompt is not answered from alice's cache",
         (val("SELECT string_agg(role_name || ':' || cache_hit, ',') FROM claude.usage "
              "WHERE prompt_sha256 = encode(sha256('my exact secret prompt'), 'hex')"), emu.stats()))
    rc, out, err = q("SET ROLE bob; SET claude.cache_scope = shared")
    t.ok(rc != 0 and "42501" in err, "claude.cache_scope is for superusers only", err)
    q("SET claude.cache_scope = shared; SET ROLE alice; SELECT claude_complete('a shared prompt')")
    time.sleep(1.5)
    q("SET claude.cache_scope = shared; SET ROLE bob; SELECT claude_complete('a shared prompt')")
    time.sleep(1.5)
    t.ok(val("SELECT count(*) FROM claude.usage WHERE role_name = 'bob' AND cache_hit") == "1",
         "cache_scope = shared (set by a superuser): roles share answers")

    # D1: catalogs and pg_claude's own tables are refused, even for a superuser
    before = val("SELECT md5(string_agg(relname, ',' ORDER BY oid)) FROM pg_class")
    for target in ("pg_class", "claude.cache", "claude.usage", "information_schema.sql_features"):
        rc, out, err = q(f"SELECT claude_enrich('{target}', 'relname', 'relname', 'complete')")
        t.ok(rc != 0 and ("42501" in err or "42809" in err or "42P16" in err),
             f"D1: claude_enrich('{target}', ...) is refused", err)
    time.sleep(1)
    t.ok(val("SELECT md5(string_agg(relname, ',' ORDER BY oid)) FROM pg_class") == before,
         "D1: no relation was renamed")

    # W2 and other targets: views, temp tables, key or input columns
    q("CREATE TABLE w (id int PRIMARY KEY, body text, out text, g text GENERATED ALWAYS AS (body) STORED);"
      "INSERT INTO w VALUES (1, 'hello'); CREATE VIEW wv AS SELECT * FROM w;")
    cases = [
        ("SELECT claude_enrich('w', 'body', 'body', 'complete')", "is also read by the input", "input column"),
        ("SELECT claude_enrich('w', 'body || out', 'out', 'complete')", "is also read by the input",
         "an output the input reads"),
        ("SELECT claude_enrich('w', 'body', 'id', 'complete')", "part of the primary key", "a key column"),
        ("SELECT claude_enrich('w', 'body', 'g', 'complete')", "generated column", "a generated column"),
        ("SELECT claude_enrich('w', 'body', 'ctid', 'complete')", "system column", "a system column"),
        ("SELECT claude_enrich('wv', 'body', 'out', 'complete')", "is not a table", "a view"),
        ("CREATE TEMP TABLE tt (id int PRIMARY KEY, b text, o text); SELECT claude_enrich('tt', 'b', 'o', 'complete')",
         "temporary table", "a temporary table"),
    ]
    for sql, expect, what in cases:
        rc, out, err = q(sql)
        t.ok(rc != 0 and expect in err, f"W2: enrichment into {what} is refused with a reason", err)
    t.ok(val("SELECT body FROM w WHERE id = 1") == "hello", "W2: the input was left alone")

    # D2: an input that sleeps fails its job within claude.job_input_timeout; the worker goes on
    q("CREATE TABLE slow (id int PRIMARY KEY, b text, o text); INSERT INTO slow VALUES (1, 'x'), (2, 'y');"
      "CREATE TABLE fast (id int PRIMARY KEY, b text, o text); INSERT INTO fast VALUES (1, 'x');")
    start = time.monotonic()
    slow = val("SELECT claude_enrich('slow', 'b || (SELECT pg_sleep(90))::text', 'o', 'complete')")
    fast = val("SELECT claude_enrich('fast', 'b', 'o', 'complete')")
    s1 = wait_state(val, slow, timeout=30)
    s2 = wait_state(val, fast, timeout=30)
    took = time.monotonic() - start
    err = val(f"SELECT error FROM claude.job WHERE id = {slow}")
    t.ok(s1 == "failed" and "claude.job_input_timeout" in err, "D2: a sleeping input fails its job and says why",
         (s1, err))
    t.ok(s2 == "done" and took < 15, f"D2: the next job runs at once ({took:.1f} s)", (s2, took))

    # D2: claude_job_cancel interrupts an input in progress
    set_input_timeout(q, '120s')
    slow2 = val("SELECT claude_enrich('slow', 'b || (SELECT pg_sleep(90))::text', 'o', 'complete')")
    time.sleep(1.5)
    start = time.monotonic()
    val(f"SELECT claude_job_cancel({slow2})")
    fast2 = val("SELECT claude_enrich('fast', 'b || ''!''', 'o', 'complete', '{}')")
    q("UPDATE fast SET o = NULL")
    s = wait_state(val, fast2, timeout=30)
    took = time.monotonic() - start
    t.ok(val(f"SELECT state FROM claude.job WHERE id = {slow2}") == "cancelled" and s == "done" and took < 10,
         f"D2: claude_job_cancel interrupts the input at once; the worker is free ({took:.1f} s)",
         (val(f"SELECT state, error FROM claude.job WHERE id = {slow2}"), s, took))
    set_input_timeout(q, '2s')

    # D3: cancelled while being populated stays cancelled, and writes nothing
    q("CREATE TABLE big (id int PRIMARY KEY, b text, o text);"
      "INSERT INTO big SELECT g, 'row ' || g, NULL FROM generate_series(1, 30000) g")
    set_input_timeout(q, '60s')
    big = val("SELECT claude_enrich('big', 'b || (SELECT pg_sleep(0.0002))::text', 'o', 'complete')")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and val(f"SELECT count(*) FROM claude.job_items WHERE job_id = {big}") == "0":
        time.sleep(0.05)
    val(f"SELECT claude_job_cancel({big})")
    time.sleep(3)
    t.ok(val(f"SELECT state FROM claude.job WHERE id = {big}") == "cancelled"
         and val("SELECT count(*) FROM big WHERE o IS NOT NULL") == "0",
         "D3: a job cancelled while being populated stays cancelled and writes nothing",
         (val(f"SELECT state FROM claude.job WHERE id = {big}"), val("SELECT count(*) FROM big WHERE o IS NOT NULL")))
    set_input_timeout(q, '2s')

    # H1: a source dropped before the job is picked fails the job with a reason
    rc, out, err = q("CREATE TABLE gone (id int PRIMARY KEY, b text, o text); INSERT INTO gone VALUES (1, 'x');"
                     "BEGIN; SELECT claude_enrich('gone', 'b', 'o', 'complete'); DROP TABLE gone; COMMIT;")
    gone = val("SELECT max(id) FROM claude.job")
    s = wait_state(val, gone, timeout=20)
    t.ok(s == "failed" and "no longer exists" in val(f"SELECT error FROM claude.job WHERE id = {gone}"),
         "H1: a job whose source was dropped before it was picked fails, saying so",
         (s, val(f"SELECT error FROM claude.job WHERE id = {gone}")))

    # each input is evaluated once per phase (population, then the request), not three times
    q("CREATE SEQUENCE evals; GRANT USAGE ON SEQUENCE evals TO PUBLIC;"
      "CREATE TABLE counted (id int PRIMARY KEY, b text, o text);"
      "INSERT INTO counted SELECT g, 'n' || g, NULL FROM generate_series(1, 50) g")
    job = val("SELECT claude_enrich('counted', 'b || (nextval(''evals'') * 0)::text', 'o', 'complete')")
    wait_state(val, job)
    t.ok(val("SELECT last_value FROM evals") == "100",
         "each input is evaluated once when the job is populated and once when it is sent (2 x 50)",
         val("SELECT last_value FROM evals"))

    # pg_cancel_backend of the worker leaves no row claimed
    set_input_timeout(q, '60s')
    q("CREATE TABLE interrupted (id int PRIMARY KEY, b text, o text);"
      "INSERT INTO interrupted SELECT g, 'n' || g, NULL FROM generate_series(1, 40) g")
    emu.control("config", {"latency_ms": 400})
    job = val("SELECT claude_enrich('interrupted', 'b', 'o', 'complete')")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and val(f"SELECT count(*) FROM claude.job_items WHERE job_id = {job} "
                                              "AND state = 'running'") == "0":
        time.sleep(0.05)
    val("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pg_claude worker'")
    emu.control("config", {"latency_ms": 0})
    s = wait_state(val, job, timeout=60)
    t.ok(s == "done" and val("SELECT count(*) FROM interrupted WHERE o IS NULL") == "0",
         "pg_cancel_backend of the worker: claimed rows go back to the queue and the job completes",
         (s, val(f"SELECT state, count(*) FROM claude.job_items WHERE job_id = {job} GROUP BY 1")))
    # review findings: the into-table path as the caller, under the caller's path
    q("SET ROLE mallory;"
      "CREATE FUNCTION public.array_position(v int2vector, e smallint) RETURNS int LANGUAGE plpgsql AS $f$"
      "BEGIN PERFORM public.trap('mallory'); RETURN pg_catalog.array_position(v::int2[], e); END $f$;"
      "CREATE FUNCTION public.vceq(a varchar, b varchar) RETURNS boolean LANGUAGE plpgsql AS $f$"
      "BEGIN PERFORM public.trap('mallory'); RETURN a::text OPERATOR(pg_catalog.=) b::text; END $f$;"
      "CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.vceq);"
      "RESET ROLE; GRANT CREATE ON SCHEMA public TO alice")
    rc, out, err = q("CREATE TABLE public.docs (id int PRIMARY KEY, body text); INSERT INTO public.docs VALUES (1, 'x');"
                     "CREATE TABLE public.vk (k varchar PRIMARY KEY, body text); INSERT INTO public.vk VALUES ('a', 'x');"
                     "SELECT claude_enrich('public.docs', 'body', 'summary', 'summarize', '{\"into\": \"table\"}');"
                     "SELECT claude_enrich('public.vk', 'body', 'o', 'complete', '{\"into\": \"table\"}');"
                     "SELECT count(*) FROM public.vk_with_o")
    t.ok(rc == 0 and superusers(val) == "" and privileged_trap_runs(val, "mallory") == "0",
         "into: table, created by a superuser: another role's array_position / = (varchar) never run",
         (err, superusers(val), val("SELECT string_agg(as_role, ',') FROM public.trap_log WHERE who = 'mallory'")))
    t.ok(val("SELECT count(*) FROM pg_depend d JOIN pg_operator o ON d.refclassid = 'pg_operator'::regclass "
             "AND d.refobjid = o.oid WHERE d.classid = 'pg_rewrite'::regclass AND o.oprnamespace = 'public'::regnamespace") == "0",
         "the generated view binds no operator outside pg_catalog")
    rc, out, err = q("SET ROLE mallory; CREATE TABLE public.tickets_label (id int PRIMARY KEY, label text, "
                     "input_sha256 text, updated_at timestamptz); GRANT ALL ON public.tickets_label TO PUBLIC;"
                     "RESET ROLE; CREATE TABLE public.tickets (id int PRIMARY KEY, body text);"
                     "ALTER TABLE public.tickets OWNER TO alice;"
                     "SET ROLE alice; SELECT claude_enrich('public.tickets', 'body', 'label', 'complete', '{\"into\": \"table\"}')")
    t.ok(rc != 0 and "not a table of yours" in err, "into: table refuses a result table another role owns", err)

    # W2: a whole-row reference or a subquery reading the output column is refused too
    for expr in ("s::text", "(SELECT coalesce(s.out, s.body))"):
        rc, out, err = q(f"SELECT claude_enrich('w', $${expr}$$, 'out', 'complete')")
        t.ok(rc != 0 and "is also read by the input" in err, f"W2: an input {expr} that reads the output is refused", err)

    # D2: owner code that catches the cancel, or slow triggers row after row, cannot hold the worker
    set_input_timeout(q, '2s')
    q("CREATE FUNCTION hold(x text) RETURNS text LANGUAGE plpgsql AS $f$ DECLARE i int := 0; BEGIN "
      "LOOP BEGIN PERFORM pg_catalog.pg_sleep(1000); EXCEPTION WHEN query_canceled THEN i := i + 1; "
      "IF i > 1000 THEN EXIT; END IF; END; END LOOP; RETURN x; END $f$;"
      "CREATE TABLE held (id int PRIMARY KEY, body text, o text); INSERT INTO held VALUES (1, 'a');"
      "CREATE TABLE trig (id int PRIMARY KEY, body text, o text); INSERT INTO trig SELECT g, 'r' || g FROM generate_series(1, 3) g;"
      "CREATE FUNCTION slow_trigger() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN PERFORM pg_catalog.pg_sleep(3); RETURN NEW; END $f$;"
      "CREATE TRIGGER slow BEFORE UPDATE ON trig FOR EACH ROW EXECUTE FUNCTION slow_trigger();")
    start = time.monotonic()
    held = val("SELECT claude_enrich('held', 'hold(body)', 'o', 'complete')")
    s1 = wait_state(val, held, timeout=40)
    took = time.monotonic() - start
    t.ok(s1 == "failed" and "ended itself" in val(f"SELECT error FROM claude.job WHERE id = {held}") and took < 30,
         f"owner code that catches its cancel: the worker ends itself at twice the limit and fails the job ({took:.1f} s)",
         (s1, val(f"SELECT error FROM claude.job WHERE id = {held}"), took))
    trig = val("SELECT claude_enrich('trig', 'body', 'o', 'complete')")
    s2 = wait_state(val, trig, timeout=40)
    t.ok(s2 == "failed" and "claude.job_input_timeout" in val(f"SELECT error FROM claude.job WHERE id = {trig}"),
         "a trigger on the source is owner code under the same time limit",
         (s2, val(f"SELECT error FROM claude.job WHERE id = {trig}")))

    # an advisory lock the owner's code takes does not stay with the worker
    q("CREATE FUNCTION lock_then_fail(x text) RETURNS text LANGUAGE plpgsql AS $f$ BEGIN "
      "PERFORM pg_catalog.pg_advisory_lock(777); RAISE EXCEPTION 'boom'; END $f$;"
      "CREATE TABLE locker (id int PRIMARY KEY, body text, o text); INSERT INTO locker VALUES (1, 'a');")
    lk = val("SELECT claude_enrich('locker', 'lock_then_fail(body)', 'o', 'complete')")
    wait_state(val, lk, timeout=30)
    t.ok(val("SELECT pg_try_advisory_lock(777)") == "t",
         "an advisory lock taken by a job's input is released, not kept by the worker",
         val("SELECT string_agg(pid::text || ':' || granted, ',') FROM pg_locks WHERE locktype = 'advisory'"))

    # a model the residency policy refuses is refused by claude_enrich itself
    rc, out, err = q("SELECT claude_enrich('fast', 'b', 'o', 'complete', "
                     "'{\"model\": \"us.anthropic.claude-sonnet-4-5-20250929-v1:0\"}')")
    t.ok(rc != 0 and "42R01" in err, "claude_enrich refuses a model outside claude.residency up front", err)

    # The predefined roles grant what the README says and no road beyond it.
    q("CREATE ROLE ursula LOGIN; GRANT claude_user TO ursula;"
      "CREATE ROLE audrey LOGIN; GRANT claude_auditor TO audrey;")
    for setting, value in (("claude.endpoint", "http://127.0.0.1:1"), ("claude.ca_file", "/etc/passwd"),
                           ("claude.cache_scope", "shared"), ("claude.log_prompts", "on"),
                           ("claude.region", "us-east-1"), ("claude.residency", "none")):
        rc, out, err = q(f"SET {setting} = '{value}'", user="ursula")
        rc2, out2, err2 = q(f"SELECT set_config('{setting}', '{value}', false)", user="ursula")
        t.ok(rc != 0 and "42501" in err and rc2 != 0 and "42501" in err2,
             f"claude_user cannot SET the superuser-only {setting} (42501)", err + err2)
    for what, sql in (("claude_models_refresh()", "SELECT claude_models_refresh()"),
                      ("claude_maintain()", "SELECT claude_maintain()"),
                      ("claude_enrich", "SELECT claude_enrich('fast', 'b', 'o', 'complete')"),
                      ("claude.cache", "SELECT count(*) FROM claude.cache"),
                      ("writes to claude.usage", "DELETE FROM claude.usage"),
                      ("writes to claude.prices", "UPDATE claude.prices SET input_per_mtok = 0"),
                      ("ALTER ROLE claude_user", "ALTER ROLE claude_user SET claude.residency = 'none'"),
                      ("GRANT claude_user", "GRANT claude_user TO mallory"),
                      ("GRANT claude_job_owner", "GRANT claude_job_owner TO ursula")):
        rc, out, err = q(sql, user="ursula")
        t.ok(rc != 0 and "42501" in err, f"claude_user gets no more: {what} refused (42501)", err)
    # claude.job_items is readable by everyone, each role its own jobs' rows only (row level security)
    others = int(val("SELECT count(*) FROM claude.job_items WHERE role_name <> 'ursula'"))
    rc, out, err = q("SELECT count(*) FROM claude.job_items WHERE role_name <> 'ursula'", user="ursula")
    t.ok(rc == 0 and out.strip() == "0" and others > 0,
         "claude_user gets no more: no other role's claude.job_items rows", (others, out, err))
    owned = val("SELECT count(*) FROM claude.usage WHERE role_name <> 'audrey'")
    t.ok(int(val("SELECT count(*) FROM claude.usage", user="audrey")) == int(owned) and int(owned) > 0,
         "claude_auditor reads every role's audit rows", (owned, val("SELECT count(*) FROM claude.usage", user="audrey")))
    for what, sql in (("DELETE FROM claude.usage", "DELETE FROM claude.usage"),
                      ("UPDATE claude.usage", "UPDATE claude.usage SET input_tokens = 0"),
                      ("INSERT INTO claude.usage", "INSERT INTO claude.usage (role_name) VALUES ('x')"),
                      ("TRUNCATE claude.usage", "TRUNCATE claude.usage"),
                      ("DELETE FROM claude.job", "DELETE FROM claude.job"),
                      ("UPDATE claude.job", "UPDATE claude.job SET state = 'done'"),
                      ("DELETE FROM claude.job_items", "DELETE FROM claude.job_items"),
                      ("claude.cache", "SELECT count(*) FROM claude.cache"),
                      ("claude_complete", "SELECT claude_complete('an auditor sends nothing')"),
                      ("claude_job_cancel of another role's job", f"SELECT claude_job_cancel({lk})")):
        rc, out, err = q(sql, user="audrey")
        t.ok(rc != 0 and "42501" in err, f"claude_auditor reads but cannot: {what} (42501)", err)
    t.ok(val("SELECT count(*) FROM claude.usage") == owned, "... and the audit log is as it was")

    t.ok(superusers(val) == "", "after everything: nobody became superuser", superusers(val))
    log = pg.read_log()
    crash = [i for i, line in enumerate(log.splitlines()) if "terminated by signal" in line]
    t.ok(not crash, "no backend crashed",
         "\n".join(log.splitlines()[max(0, crash[0] - 15):crash[0] + 3]) if crash else "")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
