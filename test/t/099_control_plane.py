#!/usr/bin/env python3
"""claude_models_refresh() against the emulator's control plane (signed, as
boto3's bedrock client is checked against in test/emulator): the Sydney
models and profiles appear as 'aws' rows; a model the code has never heard
of, registered in the emulator, appears with its routes and lifecycle; an
application inference profile is judged by its recorded destinations
(Sydney + Melbourne allowed under 'au', one with a US region refused with
zero requests sent); a control-plane failure is a WARNING and the old rows
stay; claude.control_endpoint is for superusers."""

import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from harness import Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402

t = Reporter("control plane")
work = tempfile.mkdtemp(prefix="pg_claude_t099_")
emu = Emulator(work, tls=False)
pg = Cluster("t099", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
claude.control_endpoint = '{emu.http_url}'
claude.cache = off
""")
ACCOUNT = "123456789012"


def app_arn(pid):
    return f"arn:aws:bedrock:ap-southeast-2:{ACCOUNT}:application-inference-profile/{pid}"


try:
    pg.start(env=emulator_env())
    pg.query("CREATE EXTENSION pg_claude")

    emu.control("models", {"id": "anthropic.claude-zephyr-7", "lifecycle": "LEGACY",
                           "end_of_life": "2099-01-31", "regions": {"ap-southeast-2": ["au", "global"]}})
    emu.control("application-profiles", {"region": "ap-southeast-2", "id": "team-au",
                                         "model": "anthropic.claude-sonnet-5",
                                         "destinations": ["ap-southeast-2", "ap-southeast-4"]})
    emu.control("application-profiles", {"region": "ap-southeast-2", "id": "team-us",
                                         "model": "anthropic.claude-sonnet-5",
                                         "destinations": ["ap-southeast-2", "us-east-1"]})
    before = emu.stats()["by_operation"]
    out = pg.query("SELECT concat_ws(',', foundation_models, system_profiles, application_profiles) "
                   "FROM claude_models_refresh()")
    counts = [int(x) for x in out.split(",")]
    ops = emu.stats()["by_operation"]
    t.ok(counts[0] >= 15 and counts[1] > 20 and counts[2] >= 3,
         "refresh lists the region's models, system profiles (past a 20-row page) and application profiles",
         out)
    again = pg.query("SELECT concat_ws(',', foundation_models, system_profiles, application_profiles) "
                     "FROM claude_models_refresh()")
    t.ok(again == out, "a second refresh replaces the rows the first wrote", again)
    t.ok(ops.get("ListFoundationModels", 0) == 1 and ops.get("ListInferenceProfiles", 0) >= 2,
         "through the control plane's own operations, signed", ops)

    row = pg.query("SELECT array_to_string(ARRAY[kind, lifecycle, end_of_life::text, family], '|') FROM claude.models "
                   "WHERE model_id = 'anthropic.claude-zephyr-7' AND source = 'aws'")
    t.ok(row == "foundation_model|LEGACY|2099-01-31|zephyr", "a model nobody knew appears, with its lifecycle", row)
    prof = pg.query("SELECT array_to_string(ARRAY[kind, base_model, destinations::text], '|') FROM claude.models "
                    "WHERE model_id = 'au.anthropic.claude-zephyr-7' AND source = 'aws'")
    t.ok(prof == "system_profile|anthropic.claude-zephyr-7|{ap-southeast-2,ap-southeast-4}",
         "its au. profile, with the regions it routes to", prof)
    glob = pg.query("SELECT destinations IS NULL FROM claude.models "
                    "WHERE model_id = 'global.anthropic.claude-zephyr-7' AND source = 'aws'")
    t.ok(glob == "t", "a global profile routes anywhere (no destination list)", glob)

    # residency by destinations
    rc, out, err = pg.psql(f"SELECT claude_complete('hello', model => '{app_arn('team-au')}')")
    t.ok(rc == 0 and out == "You said: hello",
         "an application profile routed to Sydney and Melbourne is allowed under 'au'", err)
    n = emu.stats()["requests"]
    rc, out, err = pg.psql(f"SELECT claude_complete('hello', model => '{app_arn('team-us')}')")
    t.ok(rc != 0 and "42R01" in pg.psql("\\set VERBOSITY verbose\n"
                                        f"SELECT claude_complete('x', model => '{app_arn('team-us')}')")[2]
         and "us-east-1" in err and emu.stats()["requests"] == n,
         "one routed to a US region is refused, naming it, with zero requests sent", err)
    chk = pg.query(f"SELECT allowed FROM claude_residency_check('{app_arn('team-us')}')")
    t.ok(chk == "f", "claude_residency_check says the same", chk)
    rc, out, err = pg.psql(f"SELECT claude_complete('hello', model => '{app_arn('unknown-one')}')")
    t.ok(rc != 0 and "records no destinations" in err, "an application profile not recorded is refused", err)

    # a failure keeps the old rows
    rows = pg.query("SELECT count(*) FROM claude.models WHERE source = 'aws'")
    emu.fault(fault="error", status=500, error_type="InternalServerException", message="boom",
              count=10, operations=["ListInferenceProfiles"])
    rc, out, err = pg.psql("SELECT foundation_models IS NULL FROM claude_models_refresh()")
    t.ok(rc == 0 and out == "t" and "WARNING" in err and "could not refresh" in err,
         "a control-plane failure is a WARNING", err)
    t.ok(pg.query("SELECT count(*) FROM claude.models WHERE source = 'aws'") == rows, "and the old rows stay")

    # only superusers point the control plane elsewhere, and call the refresh
    pg.query("CREATE ROLE plain LOGIN")
    rc, out, err = pg.psql("SELECT claude.dropped_records(); SET claude.control_endpoint = 'http://127.0.0.1:1'", user="plain")
    t.ok(rc != 0 and "permission denied" in err, "claude.control_endpoint is superuser-only", err)
    rc, out, err = pg.psql("SELECT * FROM claude_models_refresh()", user="plain")
    t.ok(rc != 0 and "permission denied" in err, "claude_models_refresh() is not for everyone", err)

    # lifecycle: a LEGACY model warns (once per session) with its end of life and successor
    rc, out, err = pg.psql("SELECT claude_complete('a', model => 'au.anthropic.claude-zephyr-7');"
                           "SELECT claude_complete('b', model => 'au.anthropic.claude-zephyr-7');")
    t.ok(rc == 0 and err.count("is LEGACY") == 1 and "2099-01-31" in err,
         "a LEGACY model gives one WARNING per session, with its end-of-life date", err)
    rc, out, err = pg.psql("SELECT claude_complete('a', model => 'anthropic.claude-3-haiku-20240307-v1:0')")
    t.ok(rc == 0 and "is LEGACY" in err and "claude-haiku-4-5" in err, "and names its successor", err)
    # past its end of life: AWS's error, with the successor from the catalogue
    emu.control("models", {"id": "anthropic.claude-zephyr-6", "end_of_life": "2026-01-01",
                           "regions": {"ap-southeast-2": ["on_demand"]}})
    pg.query("INSERT INTO claude.models (model_id, source, successor) "
             "VALUES ('anthropic.claude-zephyr-6', 'user', 'anthropic.claude-zephyr-7')")
    rc, out, err = pg.psql("SELECT claude_complete('a', model => 'anthropic.claude-zephyr-6')")
    t.ok(rc != 0 and "end of its life" in err and "HINT" in err and "anthropic.claude-zephyr-7" in err,
         "a model past its end of life: AWS's error with a HINT naming the successor", err)

    # the worker refreshes by itself every claude.models_refresh_interval
    pg.query("DELETE FROM claude.models WHERE source = 'aws'")
    pg.append_conf("shared_preload_libraries = 'pg_claude'\nclaude.database_name = 'postgres'\n"
                   "claude.models_refresh_interval = '2s'\n")
    emu.reset()
    emu.control("models", {"id": "anthropic.claude-zephyr-7", "regions": {"ap-southeast-2": ["au"]}})
    pg.restart(env=emulator_env())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and pg.query(
            "SELECT count(*) FROM claude.models WHERE source = 'aws' AND model_id = 'anthropic.claude-zephyr-7'") != "1":
        time.sleep(0.5)
    t.ok(pg.query("SELECT count(*) FROM claude.models WHERE source = 'aws' "
                  "AND model_id = 'anthropic.claude-zephyr-7'") == "1",
         "the worker refreshes the catalogue on its own (claude.models_refresh_interval)",
         [l for l in pg.read_log().splitlines() if "claude" in l.lower()][-8:])
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
