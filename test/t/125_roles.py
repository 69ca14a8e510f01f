#!/usr/bin/env python3
"""The predefined roles: claude_user, claude_job_owner, claude_auditor.

CREATE EXTENSION creates them NOLOGIN (README "Privileges"); a second
database's CREATE EXTENSION reuses them; an existing role of that name is
reused only when it is a plain NOLOGIN role and refused (42710, nothing
installed) when it can log in; DROP EXTENSION leaves them and takes its
grants with it, so they can then be dropped.  A new login role granted
only claude_user runs every user-facing function (all three claude_classify
forms, literal labels included), claude_job_owner runs a job, and
claude_auditor reads every role's usage and job history.  The attacks on
what these roles grant are in t/120_security.py; this file checks that
they do what the README says."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("roles")
work = tempfile.mkdtemp(prefix="pg_claude_t125_")
emu = Emulator(work, tls=False)
pg = Cluster("t125", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
shared_preload_libraries = 'pg_claude'
claude.database_name = 'postgres'
""")
ROLES = ("claude_user", "claude_job_owner", "claude_auditor")


def q(sql, user="postgres", db="postgres"):
    return pg.psql("\\set VERBOSITY verbose\n" + sql, user=user, db=db)


def val(sql, user="postgres", db="postgres"):
    rc, out, err = q(sql, user, db)
    return out.splitlines()[-1] if rc == 0 and out.strip() else "ERROR " + err.strip()


def roles_state():
    return val("SELECT string_agg(rolname || ':' || rolcanlogin || ':' || rolsuper || ':' || "
               "coalesce(shobj_description(oid, 'pg_authid') <> '', false), ',' ORDER BY rolname) "
               "FROM pg_roles WHERE rolname IN ('claude_user', 'claude_job_owner', 'claude_auditor')")


try:
    pg.start(env=emulator_env())

    # an existing role that can log in is refused, and nothing is installed
    q("CREATE ROLE claude_user LOGIN")
    rc, out, err = q("CREATE EXTENSION pg_claude")
    t.ok(rc != 0 and "42710" in err and "claude_user" in err and "HINT" in err,
         "an existing LOGIN role claude_user: CREATE EXTENSION refused (42710, with a hint)", err)
    t.ok(val("SELECT count(*) FROM pg_extension WHERE extname = 'pg_claude'") == "0"
         and val("SELECT count(*) FROM pg_roles WHERE rolname IN ('claude_job_owner', 'claude_auditor')") == "0",
         "... and nothing of it stays (no extension, no other role)")
    q("DROP ROLE claude_user")
    # a NOLOGIN role that is a member of a predefined role: its members would get that too
    q("CREATE ROLE claude_job_owner NOLOGIN; GRANT pg_read_server_files TO claude_job_owner")
    rc, out, err = q("CREATE EXTENSION pg_claude")
    t.ok(rc != 0 and "42710" in err and "claude_job_owner" in err,
         "an existing NOLOGIN claude_job_owner that is a member of pg_read_server_files: refused (42710)", err)
    q("DROP ROLE claude_job_owner")
    # a NOLOGIN role a non-superuser administers (on 16+, the CREATEROLE role
    # that made it): that role could grant itself the auditor's rights
    q("CREATE ROLE mallory LOGIN CREATEROLE")
    q("CREATE ROLE claude_auditor NOLOGIN", user="mallory")
    q("GRANT claude_auditor TO mallory WITH ADMIN OPTION")   # 15: not implied by creating it
    rc, out, err = q("CREATE EXTENSION pg_claude")
    t.ok(rc != 0 and "42710" in err and "claude_auditor" in err and "ADMIN" in err,
         "an existing claude_auditor a non-superuser administers: refused (42710)", err)
    q("DROP ROLE claude_auditor; DROP ROLE mallory")

    # a plain NOLOGIN role made as the 0.2.0 README said, with a member: reused
    q("CREATE ROLE claude_auditor NOLOGIN; CREATE ROLE old_auditor LOGIN; GRANT claude_auditor TO old_auditor")
    rc, out, err = q("CREATE EXTENSION pg_claude")
    t.ok(rc == 0, "CREATE EXTENSION with an existing NOLOGIN claude_auditor reuses it", err)
    t.ok(roles_state() == "claude_auditor:false:false:true,claude_job_owner:false:false:true,"
                          "claude_user:false:false:true",
         "the three roles exist, NOLOGIN, not superuser, each with a comment", roles_state())
    t.ok(val("SELECT pg_has_role('claude_job_owner', 'claude_user', 'USAGE')") == "t",
         "claude_job_owner is a member of claude_user")
    t.ok(val("SELECT pg_has_role('old_auditor', 'claude_auditor', 'USAGE')") == "t",
         "the existing member of claude_auditor stays a member")

    # a second database: the roles exist, CREATE EXTENSION says nothing about them
    q("CREATE DATABASE second")
    rc, out, err = q("CREATE EXTENSION pg_claude", db="second")
    t.ok(rc == 0 and "NOTICE" not in err and "WARNING" not in err,
         "CREATE EXTENSION in a second database reuses the roles quietly", err)
    t.ok(val("SELECT has_function_privilege('claude_user', 'claude_complete(text, text, text, int, float8)', "
             "'EXECUTE')", db="second") == "t", "... and grants them there too")

    # a new analyst: one GRANT is all it needs for every user-facing function
    q("CREATE ROLE alice LOGIN; GRANT claude_user TO alice")
    calls = {
        "claude_complete": "SELECT claude_complete('Translate to French: good morning')",
        "claude_invoke": "SELECT claude_invoke('{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}') ? 'usage'",
        "claude_classify, text[]": "SELECT claude_classify('The invoice is wrong', ARRAY['billing', 'bug'])",
        "claude_classify, a JSON object literal":
            "SELECT claude_classify('The invoice is wrong', '{\"billing\": \"charges\", \"bug\": \"broken\"}')",
        "claude_classify, a JSON array literal": "SELECT claude_classify('The invoice is wrong', '[\"billing\", \"bug\"]')",
        "claude_classify, jsonb": "SELECT claude_classify('The invoice is wrong', '{\"billing\": \"charges\", \"bug\": \"broken\"}'::jsonb, "
                                  "instructions => 'Logins are bugs.')",
        "claude_classify_multi": "SELECT claude_classify_multi('Charged twice, urgent', ARRAY['billing', 'urgent'])",
        "claude_extract": "SELECT claude_extract('5 seats of Pro', '{\"type\": \"object\", \"properties\": "
                          "{\"seats\": {\"type\": \"integer\"}}}')",
        "claude_sentiment": "SELECT claude_sentiment('Great product')",
        "claude_summarize": "SELECT claude_summarize('A long text about invoices and refunds', 20)",
        "claude_summarize_agg": "SELECT claude_summarize_agg(x) FROM (VALUES ('a'), ('b')) v(x)",
        "claude_summarize_agg, max_words": "SELECT claude_summarize_agg(x, 10) FROM (VALUES ('a'), ('b')) v(x)",
        "claude_count_tokens(text)": "SELECT claude_count_tokens('hello')",
        "claude_count_tokens(jsonb)": "SELECT claude_count_tokens('{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}'::jsonb)",
        "claude_complete_batch": "SELECT count(*) FROM claude_complete_batch(ARRAY['a', 'b'])",
        "claude_classify_batch, text[]": "SELECT count(*) FROM claude_classify_batch(ARRAY['a', 'b'], ARRAY['x', 'y'])",
        "claude_classify_batch, a JSON literal":
            "SELECT count(*) FROM claude_classify_batch(ARRAY['a', 'b'], '{\"x\": \"one\", \"y\": \"two\"}') WHERE error IS NULL",
        "claude_extract_batch": "SELECT count(*) FROM claude_extract_batch(ARRAY['a'], '{\"type\": \"object\"}')",
        "claude_sentiment_batch": "SELECT count(*) FROM claude_sentiment_batch(ARRAY['a'])",
        "claude_summarize_batch": "SELECT count(*) FROM claude_summarize_batch(ARRAY['a'])",
        # issue 19: filter, translate, aggregate
        "claude_if": "SELECT claude_if('The invoice is wrong', 'Is this a complaint?')",
        "claude_if_batch": "SELECT count(*) FROM claude_if_batch(ARRAY['a'], 'Is it?')",
        "claude_translate": "SELECT claude_translate('good morning', 'fr')",
        "claude_translate_batch": "SELECT count(*) FROM claude_translate_batch(ARRAY['a'], 'de')",
        "claude_agg": "SELECT claude_agg(x, 'List them') FROM (VALUES ('a'), ('b')) v(x)",
        "claude_rank": "SELECT count(*) FROM claude_rank('refund', ARRAY['a refund', 'hours'])",
        "claude_residency_check": "SELECT allowed FROM claude_residency_check('au.anthropic.claude-sonnet-5')",
        "claude_data_flow": "SELECT count(*) FROM claude_data_flow()",
        "claude_credentials": "SELECT provider FROM claude_credentials()",
        "claude_http_stats": "SELECT requests > 0 FROM claude_http_stats()",
        "claude_cache_key": "SELECT length(claude_cache_key('{\"messages\": []}'))",
    }
    for name, sql in calls.items():
        rc, out, err = q(sql, user="alice")
        t.ok(rc == 0 and "ERROR" not in err, f"claude_user alone runs {name}", err.strip()[:600])
    rc, out, err = q("SELECT claude_classify('x', '{billing,bug}')", user="alice")
    t.ok(rc != 0 and "22023" in err and "JSON" in err and "ARRAY[" in err,
         "an array literal where JSON is expected: 22023 saying what would do", err)
    rc, out, err = q("SELECT claude_classify('x', NULL::text)", user="alice")
    t.ok(rc != 0 and "22004" in err, "labels NULL as text: 22004", err)
    t.ok(val("SELECT label FROM claude_classify_batch(ARRAY['a'], '[\"only\"]')", user="alice") == "only",
         "claude_classify_batch with a JSON array literal answers with its label")
    rc, out, err = q("CREATE TABLE t (id int PRIMARY KEY, b text, o text);"
                     "SELECT claude_enrich('t', 'b', 'o', 'complete')", user="alice")
    t.ok(rc != 0 and "42501" in err, "claude_user may not run jobs (claude_enrich: 42501)", err)

    # a job owner runs a job with one GRANT
    q("CREATE ROLE bob LOGIN; GRANT claude_job_owner TO bob; GRANT CREATE ON SCHEMA public TO bob")
    rc, out, err = q("CREATE TABLE bobs (id int PRIMARY KEY, body text, label text);"
                     "INSERT INTO bobs VALUES (1, 'charged twice'), (2, 'crashes');"
                     "SELECT claude_enrich('bobs', 'body', 'label', 'classify', "
                     "'{\"labels\": [\"billing\", \"bug\"]}') AS job \\gset\n"
                     "SELECT claude_job_wait(:job, '60s')", user="bob")
    t.ok(rc == 0 and out.splitlines()[-1].startswith("done"), "claude_job_owner alone runs a job to the end", err or out)
    t.ok(val("SELECT claude_complete('hi from a job owner') IS NOT NULL", user="bob") == "t",
         "claude_job_owner has claude_user's rights too")

    # the auditor reads everyone's usage and job history
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and val("SELECT count(DISTINCT role_name) FROM claude.usage "
                                              "WHERE role_name IN ('alice', 'bob')") != "2":
        time.sleep(0.2)   # the audit writer's rows
    t.ok(val("SELECT count(DISTINCT role_name) FROM claude.usage WHERE role_name IN ('alice', 'bob')",
             user="old_auditor") == "2", "claude_auditor reads every role's claude.usage")
    t.ok(val("SELECT count(DISTINCT role_name) FROM claude.usage", user="alice") == "1",
         "claude_user reads only its own claude.usage")
    t.ok(val("SELECT count(*) FROM claude.job_items i JOIN claude.job j ON j.id = i.job_id "
             "WHERE j.role_name = 'bob'", user="old_auditor") == "2",
         "claude_auditor reads every job's claude.job and claude.job_items")
    t.ok(val("SELECT count(*) FROM claude.jobs WHERE role_name = 'bob'", user="old_auditor") == "1",
         "claude_auditor sees every job in claude.jobs")
    t.ok(val("SELECT sum(calls) > 0 FROM claude_data_flow() WHERE 'alice' = ANY(roles)",
             user="old_auditor") == "t", "claude_auditor's claude_data_flow() covers every role")

    # DROP EXTENSION leaves the roles; with it gone everywhere they can be dropped
    rc, out, err = q("DROP EXTENSION pg_claude", db="second")
    t.ok(rc == 0, "DROP EXTENSION in the second database works", err)
    t.ok(val("SELECT count(*) FROM pg_roles WHERE rolname IN ('claude_user', 'claude_job_owner', "
             "'claude_auditor')") == "3", "... and leaves the roles (the other database still uses them)")
    t.ok(val("SELECT claude_classify('invoice', ARRAY['billing', 'bug']) IN ('billing', 'bug')", user="alice") == "t",
         "the first database's grants still work")
    q("DROP DATABASE second")
    rc, out, err = q("DROP ROLE claude_auditor")
    t.ok(rc != 0 and "2BP01" in err, "a predefined role cannot be dropped while an extension grants it rights", err)

    # a fresh database, extension created and dropped: the roles can go afterwards
    q("CREATE DATABASE third")
    q("CREATE EXTENSION pg_claude", db="third")
    rc, out, err = q("DROP EXTENSION pg_claude", db="third")
    t.ok(rc == 0, "DROP EXTENSION in a third database", err)
    log = pg.read_log()
    t.ok("terminated by signal" not in log, "no backend crashed")
finally:
    pg.destroy()

# Upgrade: a cluster whose roles were made by the 0.2.0 README
pg = Cluster("t125u", free_port(), conf=f"claude.endpoint = '{emu.http_url}'\n")
try:
    pg.start(env=emulator_env())
    rc, out, err = q("CREATE EXTENSION pg_claude VERSION '0.2.0';"
                     "CREATE ROLE claude_analyst NOLOGIN; CREATE ROLE claude_job_owner NOLOGIN;"
                     "GRANT claude_analyst TO claude_job_owner; CREATE ROLE etl_bob LOGIN;"
                     "GRANT claude_job_owner TO etl_bob")
    t.ok(rc == 0, "0.2.0 with the roles its README made", err)
    rc, out, err = q("ALTER EXTENSION pg_claude UPDATE")
    t.ok(rc == 0, "ALTER EXTENSION UPDATE reuses the README's claude_job_owner", err)
    t.ok(val("SELECT has_function_privilege('etl_bob', 'claude_classify(text, text[], text, text)', 'EXECUTE')") == "t"
         and val("SELECT pg_has_role('claude_job_owner', 'claude_user', 'USAGE')") == "t",
         "after the update, the README's job owner has claude_user's rights")
    rc, out, err = q("DROP EXTENSION pg_claude; DROP ROLE claude_auditor; CREATE ROLE claude_auditor LOGIN; "
                     "CREATE EXTENSION pg_claude VERSION '0.2.0'")
    t.ok(rc == 0, "0.2.0 again, beside a LOGIN role named claude_auditor", err)
    rc, out, err = q("ALTER EXTENSION pg_claude UPDATE")
    t.ok(rc != 0 and "42710" in err, "the update refuses an existing LOGIN claude_auditor (42710)", err)
    t.ok(val("SELECT extversion FROM pg_extension WHERE extname = 'pg_claude'") == "0.2.0",
         "... and stays at 0.2.0")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
