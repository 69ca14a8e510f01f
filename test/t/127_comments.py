#!/usr/bin/env python3
"""Every object users query has a COMMENT: each function and aggregate of
the extension, each table and view, each of their columns, and the
predefined roles (README "Privileges") — after a fresh CREATE EXTENSION
and after the update from every older version (both scripts must add
them).  A missing comment is listed by name (`\\dd`-style), so whoever adds
an object or column sees at once which COMMENT to write."""

import glob
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import REPO, Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("comments")
work = tempfile.mkdtemp(prefix="pg_claude_t127_")
emu = Emulator(work, tls=False)
pg = Cluster("t127", free_port(), conf=f"claude.endpoint = '{emu.http_url}'\n")

# Objects that are members of the extension and lack a (non-empty) comment.
MISSING = r"""
WITH members AS (
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
    WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
      AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'pg_claude'))
SELECT 'function ' || p.oid::pg_catalog.regprocedure
FROM members m JOIN pg_catalog.pg_proc p ON m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.oid = m.objid
WHERE coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') = ''
UNION ALL
SELECT CASE c.relkind WHEN 'v' THEN 'view ' ELSE 'table ' END || c.oid::pg_catalog.regclass
FROM members m JOIN pg_catalog.pg_class c ON m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.oid = m.objid
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND coalesce(pg_catalog.obj_description(c.oid, 'pg_class'), '') = ''
UNION ALL
SELECT 'column ' || c.oid::pg_catalog.regclass || '.' || pg_catalog.quote_ident(a.attname)
FROM members m JOIN pg_catalog.pg_class c ON m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.oid = m.objid
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND coalesce(pg_catalog.col_description(c.oid, a.attnum), '') = ''
UNION ALL
SELECT 'role ' || r.name
FROM pg_catalog.unnest(ARRAY['claude_user', 'claude_job_owner', 'claude_auditor']) AS r(name)
LEFT JOIN pg_catalog.pg_roles a ON a.rolname = r.name
WHERE coalesce(pg_catalog.shobj_description(a.oid, 'pg_authid'), '') = ''
ORDER BY 1
"""

default = re.search(r"default_version\s*=\s*'([^']+)'", open(os.path.join(REPO, "pg_claude.control")).read()).group(1)
older = sorted(re.match(r".*pg_claude--([0-9.]+)\.sql$", f).group(1)
               for f in glob.glob(os.path.join(REPO, "sql", "pg_claude--*.sql"))
               if re.match(r".*pg_claude--[0-9.]+\.sql$", f) and not f.endswith(f"--{default}.sql"))

try:
    pg.start(env=emulator_env())
    pg.psql("CREATE DATABASE fresh")
    rc, out, err = pg.psql("CREATE EXTENSION pg_claude", db="fresh")
    t.ok(rc == 0, f"CREATE EXTENSION pg_claude ({default})", err)
    rc, out, err = pg.psql(MISSING, db="fresh")
    t.ok(rc == 0 and out == "", "a fresh install: every function, table, view, column and role has a COMMENT",
         "missing:\n" + (out or err))
    t.ok(int(pg.query("SELECT count(*) FROM pg_description d JOIN pg_depend e ON e.objid = d.objoid "
                      "AND e.deptype = 'e' JOIN pg_extension x ON x.oid = e.refobjid AND x.extname = 'pg_claude'",
                      db="fresh")) > 200, "... (the check sees the comments it counts)")
    for v in older:
        db = "from_" + v.replace(".", "_")
        pg.psql(f"CREATE DATABASE {db}")
        rc, out, err = pg.psql(f"CREATE EXTENSION pg_claude VERSION '{v}'; ALTER EXTENSION pg_claude UPDATE", db=db)
        t.ok(rc == 0, f"{v} installs and updates to {default}", err)
        rc, out, err = pg.psql(MISSING, db=db)
        t.ok(rc == 0 and out == "", f"{v} updated to {default}: everything has a COMMENT", "missing:\n" + (out or err))
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
