#!/usr/bin/env python3
"""Every released version upgrades to the current one, and the upgraded
schema is the freshly installed one.

For each install script sql/pg_claude--X.sql older than the default
version: install X in one database, ALTER EXTENSION pg_claude UPDATE, and
compare pg_dump --schema-only of it with a database where the default
version was installed directly; rows written under X survive the update."""

import glob
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import REPO, Cluster, Emulator, Reporter, emulator_env, free_port, pg_bindir  # noqa: E402

t = Reporter("upgrade")
work = tempfile.mkdtemp(prefix="pg_claude_t140_")
emu = Emulator(work, tls=False)
pg = Cluster("t140", free_port(), conf=f"claude.endpoint = '{emu.http_url}'\n")

default = re.search(r"default_version\s*=\s*'([^']+)'", open(os.path.join(REPO, "pg_claude.control")).read()).group(1)
versions = sorted(re.match(r".*pg_claude--([0-9.]+)\.sql$", f).group(1)
                  for f in glob.glob(os.path.join(REPO, "sql", "pg_claude--*.sql"))
                  if re.match(r".*pg_claude--[0-9.]+\.sql$", f))


def dump(db):
    r = subprocess.run([os.path.join(pg_bindir(), "pg_dump"), "--schema-only", "--no-owner",
                        "-h", pg.base, "-p", str(pg.port), "-U", "postgres", db],
                       capture_output=True, text=True)
    # extension member objects are not dumped; dump what they are instead
    # \restrict lines carry a random key per dump (pg_dump 15.14+)
    out = "\n".join(ln for ln in r.stdout.splitlines() if not ln.startswith(("\\restrict", "\\unrestrict")))
    rc, cat, err = pg.psql(r"""
SELECT pg_catalog.pg_describe_object(d.classid, d.objid, 0) || ' | ' ||
       coalesce(pg_catalog.pg_get_functiondef(p.oid), '') || coalesce(pg_catalog.pg_get_viewdef(c.oid), '') ||
       coalesce((SELECT string_agg(a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod) ||
                                   coalesce(' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '') ||
                                   CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY a.attnum)
                 FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef ad
                   ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') ||
       coalesce(' ' || c.reloptions::text, '') ||
       coalesce(' acl ' || coalesce(p.proacl, c.relacl)::text, '') ||
       coalesce(' strict=' || p.proisstrict || ' volatile=' || p.provolatile || ' parallel=' || p.proparallel, '')
FROM pg_catalog.pg_depend d
LEFT JOIN pg_catalog.pg_proc p ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.oid = d.objid
LEFT JOIN pg_catalog.pg_class c ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.oid = d.objid
WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'pg_claude')
ORDER BY 1;
SELECT 'constraint ' || conname || ' ' || pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint
WHERE connamespace = 'claude'::regnamespace ORDER BY 1;
SELECT 'index ' || pg_catalog.pg_get_indexdef(indexrelid) FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'claude'::regnamespace ORDER BY 1;
SELECT 'policy ' || polname || ' ' || coalesce(pg_catalog.pg_get_expr(polqual, polrelid), '') FROM pg_catalog.pg_policy ORDER BY 1;
SELECT 'config dump ' || c.oid::regclass::text || ' ' || coalesce(e.extcondition[c.n], '')
FROM pg_catalog.pg_extension e, unnest(e.extconfig) WITH ORDINALITY AS c(oid, n)
WHERE e.extname = 'pg_claude' ORDER BY 1;
SELECT 'event trigger ' || evtname || ' ' || evtevent || ' ' || evtfoid::regproc::text || ' ' || coalesce(evttags::text, '')
FROM pg_catalog.pg_event_trigger ORDER BY 1;
""", db=db)
    return out + "\n" + cat


try:
    pg.start(env=emulator_env())
    older = [v for v in versions if v != default]
    t.ok(default in versions, f"the default version {default} has an install script", versions)
    pg.psql("CREATE DATABASE fresh")
    rc, out, err = pg.psql("CREATE EXTENSION pg_claude", db="fresh")
    t.ok(rc == 0, f"CREATE EXTENSION installs {default}", err)
    fresh = dump("fresh")
    for v in older:
        db = "from_" + v.replace(".", "_")
        pg.psql(f"CREATE DATABASE {db}")
        rc, out, err = pg.psql(f"CREATE EXTENSION pg_claude VERSION '{v}';"
                               "INSERT INTO claude.prices (model_pattern, input_per_mtok, output_per_mtok) "
                               "VALUES ('%my-model%', 1, 2);", db=db)
        t.ok(rc == 0, f"{v} installs", err)
        rc, out, err = pg.psql("ALTER EXTENSION pg_claude UPDATE", db=db)
        t.ok(rc == 0, f"{v} updates to {default}", err)
        t.ok(pg.query("SELECT extversion FROM pg_extension WHERE extname = 'pg_claude'", db=db) == default,
             f"{v}: the extension says {default} after the update")
        upgraded = dump(db)
        same = upgraded == fresh
        detail = ""
        if not same:
            import difflib
            detail = "\n".join(list(difflib.unified_diff(fresh.splitlines(), upgraded.splitlines(),
                                                         "fresh", "upgraded", lineterm="", n=1))[:80])
        t.ok(same, f"{v} updated to {default} has exactly the schema of a fresh {default}", detail)
        t.ok(pg.query("SELECT count(*) FROM claude.prices WHERE model_pattern = '%my-model%'", db=db) == "1",
             f"{v}: rows written before the update are kept")
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
