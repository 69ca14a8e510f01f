#!/usr/bin/env python3
"""claude_models_refresh() against the emulator's control plane (signed, as
boto3's bedrock client is checked against in test/emulator): every Sydney
model and profile boto3 lists appears as an 'aws' row; a second refresh
changes nothing; a model the code has never heard of, registered in the
emulator, appears with its routes and lifecycle, and a lifecycle change is
taken; what the emulator stops listing leaves 'aws' (seed and user rows
stay); more than 1,000 application profiles take two pages; an application
inference profile is judged by its recorded destinations (Sydney +
Melbourne allowed under 'au', one with a US region refused naming it with
zero requests sent); a control-plane failure or an answer without its list
is a WARNING and the old rows stay; GetInferenceProfile is asked where a
listing leaves a profile's models out; claude.control_endpoint and the
refresh are for superusers; a LEGACY model warns once per session with its
end of life and successor, and past its end of life Bedrock's error gets a
HINT naming the successor; the worker refreshes on its own."""

import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from harness import EMU_AKID, EMU_SECRET, Cluster, Emulator, Reporter, emulator_env, free_port  # noqa: E402
from tiny_media import png, sql_bytea  # noqa: E402

import boto3  # noqa: E402

t = Reporter("control plane")
work = tempfile.mkdtemp(prefix="pg_claude_t099_")
emu = Emulator(work, tls=False)
pg = Cluster("t099", free_port(), conf=f"""claude.endpoint = '{emu.http_url}'
claude.control_endpoint = '{emu.http_url}'
claude.cache = off
""")
ACCOUNT = "123456789012"
SYDNEY = "ap-southeast-2"
REFRESH = ("SELECT concat_ws(',', foundation_models, system_profiles, application_profiles, "
           "added, changed, removed) FROM claude_models_refresh()")


def app_arn(pid):
    return f"arn:aws:bedrock:{SYDNEY}:{ACCOUNT}:application-inference-profile/{pid}"


def refresh():
    """The refresh's counts: [models, system, application, added, changed, removed]."""
    out = pg.query(REFRESH)
    return [int(x) for x in out.split(",")] if out else None


def aws_ids():
    return set(pg.query("SELECT model_id FROM claude.models WHERE source = 'aws' "
                        f"AND region = '{SYDNEY}'").split("\n")) - {""}


def row(model_id, cols, source="aws"):
    return pg.query(f"SELECT array_to_string(ARRAY[{cols}], '|', '') FROM claude.models "
                    f"WHERE model_id = '{model_id}' AND source = '{source}'")


def boto3_listing():
    c = boto3.session.Session().client("bedrock", region_name=SYDNEY, endpoint_url=emu.http_url,
                                       aws_access_key_id=EMU_AKID, aws_secret_access_key=EMU_SECRET)
    ids = {m["modelId"] for m in c.list_foundation_models(byProvider="Anthropic")["modelSummaries"]}
    for kind, key in (("SYSTEM_DEFINED", "inferenceProfileId"), ("APPLICATION", "inferenceProfileArn")):
        for page in c.get_paginator("list_inference_profiles").paginate(typeEquals=kind):
            ids |= {p[key] for p in page["inferenceProfileSummaries"]}
    return ids


class Stub(BaseHTTPRequestHandler):
    """A control plane that leaves models[] out of its listing (or, broken,
    answers without the list at all); it checks no signature."""
    broken = False
    seen = []

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        Stub.seen.append(url.path)
        zephyr = "arn:aws:bedrock:%s::foundation-model/anthropic.claude-zephyr-7"
        if url.path == "/foundation-models":
            body = {} if Stub.broken else {"modelSummaries": [{
                "modelId": "anthropic.claude-zephyr-7", "modelName": "Claude Zephyr 7",
                "inferenceTypesSupported": ["ON_DEMAND"], "modelLifecycle": {"status": "ACTIVE"}}]}
        elif url.path == "/inference-profiles" and q.get("type") == ["APPLICATION"]:
            body = {"inferenceProfileSummaries": [{"inferenceProfileArn": app_arn("stub-1"),
                                                   "inferenceProfileId": "stub-1", "type": "APPLICATION"}]}
        elif url.path == "/inference-profiles":
            body = {"inferenceProfileSummaries": []}
        elif unquote(url.path) == "/inference-profiles/" + app_arn("stub-1"):
            body = {"inferenceProfileArn": app_arn("stub-1"),
                    "models": [{"modelArn": zephyr % SYDNEY}, {"modelArn": zephyr % "ap-southeast-4"}]}
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


try:
    pg.start(env=emulator_env())
    pg.query("CREATE EXTENSION pg_claude")
    seed_rows = pg.query("SELECT count(*) FROM claude.models WHERE source = 'seed'")

    emu.control("models", {"id": "anthropic.claude-zephyr-7", "regions": {SYDNEY: ["au", "global"]}})
    emu.control("models", {"id": "anthropic.claude-zephyr-6", "lifecycle": "LEGACY", "end_of_life": "2099-01-31",
                           "regions": {SYDNEY: ["on_demand", "au"]}})
    emu.control("application-profiles", {"region": SYDNEY, "id": "team-au", "model": "anthropic.claude-sonnet-5",
                                         "destinations": [SYDNEY, "ap-southeast-4"]})
    emu.control("application-profiles", {"region": SYDNEY, "id": "team-us", "model": "anthropic.claude-sonnet-5",
                                         "destinations": [SYDNEY, "us-east-1"]})
    before = emu.stats()["by_operation"]
    counts = refresh()
    ops = emu.stats()["by_operation"]
    t.ok(counts and counts[0] >= 17 and counts[1] > 20 and counts[2] >= 3 and counts[3] == sum(counts[:3])
         and counts[4:] == [0, 0], "a first refresh adds the region's models, system profiles (past a "
         "20-row page) and application profiles", counts)
    t.ok(ops.get("ListFoundationModels", 0) - before.get("ListFoundationModels", 0) == 1
         and ops.get("ListInferenceProfiles", 0) - before.get("ListInferenceProfiles", 0) == 2
         and ops.get("GetInferenceProfile", 0) == before.get("GetInferenceProfile", 0),
         "through the control plane's listings, signed (no GetInferenceProfile: the listings say it all)", ops)
    listed = boto3_listing()
    t.ok(aws_ids() == listed, "every model and profile boto3 lists in Sydney is an 'aws' row, and no other",
         (sorted(listed - aws_ids())[:5], sorted(aws_ids() - listed)[:5]))
    t.ok(pg.query("SELECT count(*) FROM claude.models WHERE source = 'seed'") == seed_rows,
         "the seed rows are as they were")

    again = refresh()
    t.ok(again and again[:3] == counts[:3] and again[3:] == [0, 0, 0],
         "a second refresh replaces the rows and changes nothing", again)

    t.ok(row("anthropic.claude-zephyr-6", "kind, lifecycle, end_of_life::text, family, version::text, "
             "on_demand::text, successor") ==
         "foundation_model|LEGACY|2099-01-31|zephyr|6|true|anthropic.claude-zephyr-7",
         "a model nobody knew appears, with its lifecycle and its family's newest ACTIVE as successor",
         row("anthropic.claude-zephyr-6", "kind, lifecycle, end_of_life::text, family, version::text, "
             "on_demand::text, successor"))
    prof = row("au.anthropic.claude-zephyr-7", "kind, base_model, destinations::text")
    t.ok(prof == "system_profile|anthropic.claude-zephyr-7|{ap-southeast-2,ap-southeast-4}",
         "its au. profile, with the regions it routes to", prof)
    t.ok(row("global.anthropic.claude-zephyr-7", "kind, (destinations IS NULL)::text") == "system_profile|true",
         "a global profile routes anywhere (no destination list)")
    t.ok(row(app_arn("team-us"), "kind, base_model, destinations::text") ==
         "application_profile|anthropic.claude-sonnet-5|{ap-southeast-2,us-east-1}",
         "an application profile by its ARN, with its base model and destinations")

    # a lifecycle change is taken; what is no longer listed leaves 'aws' only
    pg.query("INSERT INTO claude.models (model_id, source, note) "
             "VALUES ('global.anthropic.claude-zephyr-7', 'user', 'ours')")
    emu.control("models", {"id": "anthropic.claude-zephyr-7", "lifecycle": "LEGACY",
                           "regions": {SYDNEY: ["au"]}})
    changed = refresh()
    t.ok(changed and changed[3] == 0 and changed[4] >= 1 and changed[5] == 1,
         "a refresh counts what changed and what was removed", changed)
    t.ok(row("anthropic.claude-zephyr-7", "lifecycle") == "LEGACY", "a lifecycle change is taken")
    t.ok(row("global.anthropic.claude-zephyr-7", "model_id") == ""
         and row("global.anthropic.claude-zephyr-7", "note", "user") == "ours",
         "a profile no longer listed leaves the 'aws' rows; the user's row of it stays")
    emu.control("models", {"id": "anthropic.claude-zephyr-7", "regions": {SYDNEY: ["au", "global"]}})
    refresh()

    # residency by recorded destinations
    rc, out, err = pg.psql(f"SELECT claude_complete('hello', model => '{app_arn('team-au')}')")
    t.ok(rc == 0 and out == "You said: hello",
         "an application profile routed to Sydney and Melbourne is allowed under 'au'", err)
    n, invokes = emu.stats()["requests"], emu.stats()["by_operation"].get("InvokeModel", 0)
    rc, out, err = pg.psql("\\set VERBOSITY verbose\n"
                           f"SELECT claude_complete('hello', model => '{app_arn('team-us')}')")
    t.ok(rc != 0 and "42R01" in err and "us-east-1 is outside Australia" in err
         and emu.stats()["requests"] == n and emu.stats()["by_operation"].get("InvokeModel", 0) == invokes,
         "one routed to a US region is refused, naming it, with zero requests sent", err)
    chk = pg.query(f"SELECT allowed::text || '|' || reason FROM claude_residency_check('{app_arn('team-us')}')")
    t.ok(chk.startswith("false|") and "us-east-1" in chk, "claude_residency_check says the same", chk)
    chk = pg.query(f"SELECT allowed FROM claude_residency_check('{app_arn('team-au')}')")
    t.ok(chk == "t", "and allows the Australian one", chk)
    rc, out, err = pg.psql(f"SET claude.residency = 'none'; SELECT claude_complete('hi', model => '{app_arn('team-us')}')")
    t.ok(rc == 0 and out == "You said: hi", "under 'none' it goes", err)
    rc, out, err = pg.psql(f"SELECT claude_complete('hello', model => '{app_arn('unknown-one')}')")
    t.ok(rc != 0 and "records no destinations" in err and emu.stats()["requests"] == n + 1,
         "an application profile not recorded is refused, nothing sent", err)

    # more than a page of application profiles (1,000 per page)
    for i in range(1005):
        emu.control("application-profiles", {"region": SYDNEY, "id": f"bulk-{i:04d}",
                                             "model": "au.anthropic.claude-sonnet-5"})
    before = emu.stats()["by_operation"].get("ListInferenceProfiles", 0)
    paged = refresh()
    t.ok(paged and paged[2] >= 1008 and paged[3] == 1005
         and emu.stats()["by_operation"].get("ListInferenceProfiles", 0) - before == 3
         and pg.query(f"SELECT count(*) FROM claude.models WHERE source = 'aws' AND model_id LIKE "
                      f"'{app_arn('bulk-')}%' AND destinations = '{{ap-southeast-2,ap-southeast-4}}'") == "1005",
         "1,005 more application profiles: two pages, every one recorded with its destinations", paged)

    # vision from inputModalities: a model nobody knew, with and without IMAGE
    emu.control("models", {"id": "anthropic.claude-nimbus-3", "regions": {SYDNEY: ["on_demand"]}})
    emu.control("models", {"id": "anthropic.claude-nimbus-3-lite", "input_modalities": ["TEXT"],
                           "regions": {SYDNEY: ["on_demand"]}})
    refresh()
    t.ok(row("anthropic.claude-nimbus-3", "vision::text") == "true"
         and row("anthropic.claude-nimbus-3-lite", "vision::text") == "false"
         and pg.query("SELECT count(*) FROM claude.models WHERE source = 'aws' AND kind = 'foundation_model' "
                      "AND vision IS NOT TRUE AND model_id <> 'anthropic.claude-nimbus-3-lite'") == "0",
         "vision is true where inputModalities lists IMAGE, false where it does not",
         (row("anthropic.claude-nimbus-3", "vision::text"), row("anthropic.claude-nimbus-3-lite", "vision::text")))
    image = sql_bytea(png(3, 2))
    rc, out, err = pg.psql(f"SELECT claude_complete('What is it?', {image}, model => 'anthropic.claude-nimbus-3')")
    t.ok(rc == 0 and "width: 3, height: 2" in out, "a new model listed with IMAGE is sent an image", (out, err))
    n = emu.stats()["requests"]
    rc, out, err = pg.psql("\\set VERBOSITY verbose\n"
                           f"SELECT claude_complete('What is it?', {image}, model => 'anthropic.claude-nimbus-3-lite')")
    t.ok(rc != 0 and "0A000" in err and 'model "anthropic.claude-nimbus-3-lite" does not read images' in err
         and emu.stats()["requests"] == n,
         "one listed without IMAGE is refused with 0A000, nothing sent", err)
    rc, out, err = pg.psql("SELECT claude_complete('hello', model => 'anthropic.claude-nimbus-3-lite')")
    t.ok(rc == 0 and out == "You said: hello", "and still answers text", err)

    # a failure keeps the old rows
    rows = pg.query("SELECT count(*) FROM claude.models WHERE source = 'aws'")
    emu.fault(fault="error", status=500, error_type="InternalServerException", message="boom",
              count=10, operations=["ListInferenceProfiles"])
    rc, out, err = pg.psql("SELECT (foundation_models IS NULL)::text || '|' || error FROM claude_models_refresh()")
    t.ok(rc == 0 and out.startswith("true|Bedrock ListInferenceProfiles failed: InternalServerException")
         and "WARNING" in err and "could not refresh" in err and "boom" in err,
         "a control-plane failure is a WARNING with AWS's error, returned too", (out, err))
    t.ok(pg.query("SELECT count(*) FROM claude.models WHERE source = 'aws'") == rows, "and the old rows stay")
    emu.control("faults", {"fault": "malformed", "count": 10, "operations": ["ListFoundationModels"]})
    rc, out, err = pg.psql("SELECT foundation_models IS NULL FROM claude_models_refresh()")
    t.ok(rc == 0 and out == "t" and "not JSON" in err
         and pg.query("SELECT count(*) FROM claude.models WHERE source = 'aws'") == rows,
         "an answer that is not JSON too", err)
    urllib.request.urlopen(urllib.request.Request(emu.http_url + "/_emulator/faults", method="DELETE"))

    # a listing without models[]: GetInferenceProfile; one without its list: a WARNING
    stub = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    stub_url = f"http://127.0.0.1:{stub.server_address[1]}"
    got = pg.query(f"SET claude.control_endpoint = '{stub_url}'; " + REFRESH)
    t.ok(got.startswith("1,0,1,") and any(p.startswith("/inference-profiles/arn") for p in Stub.seen)
         and row(app_arn("stub-1"), "base_model, destinations::text") ==
         "anthropic.claude-zephyr-7|{ap-southeast-2,ap-southeast-4}",
         "a profile listed without models[] is asked for with GetInferenceProfile", (got, Stub.seen))
    t.ok(row("anthropic.claude-zephyr-7", "coalesce(vision::text, 'null')") == "null",
         "a listing without inputModalities says nothing of vision (NULL: the seed's or the family's stands)")
    rows = pg.query("SELECT count(*) FROM claude.models WHERE source = 'aws'")
    Stub.broken = True
    rc, out, err = pg.psql(f"SET claude.control_endpoint = '{stub_url}'; "
                           "SELECT foundation_models IS NULL FROM claude_models_refresh()")
    t.ok(rc == 0 and out == "t" and "without \"modelSummaries\"" in err
         and pg.query("SELECT count(*) FROM claude.models WHERE source = 'aws'") == rows,
         "an answer without its list is a WARNING, not an empty region", err)
    stub.shutdown()
    refresh()

    # only superusers point the control plane elsewhere, and call the refresh
    pg.query("CREATE ROLE plain LOGIN")
    # (the library loaded first: before, a SET would only make a placeholder)
    rc, out, err = pg.psql("SELECT claude.dropped_records(); SET claude.control_endpoint = 'http://127.0.0.1:1'",
                           user="plain")
    t.ok(rc != 0 and "permission denied" in err, "claude.control_endpoint is superuser-only", err)
    rc, out, err = pg.psql("SELECT claude.dropped_records(); SET claude.control_endpoint = 'http://example.com'")
    t.ok(rc != 0 and "invalid value" in err, "and validated like claude.endpoint", err)
    rc, out, err = pg.psql("SELECT * FROM claude_models_refresh()", user="plain")
    t.ok(rc != 0 and "permission denied" in err, "claude_models_refresh() is not for everyone", err)

    # lifecycle: a LEGACY model warns (once per session) with its end of life and successor
    rc, out, err = pg.psql("SELECT claude_complete('a', model => 'au.anthropic.claude-zephyr-6');"
                           "SELECT claude_complete('b', model => 'au.anthropic.claude-zephyr-6');")
    t.ok(rc == 0 and err.count("is LEGACY") == 1 and "2099-01-31" in err and "anthropic.claude-zephyr-7" in err,
         "a LEGACY model gives one WARNING per session, with its end-of-life date and successor", err)
    rc, out, err = pg.psql("SELECT claude_complete('a', model => 'anthropic.claude-3-haiku-20240307-v1:0')")
    t.ok(rc == 0 and "is LEGACY" in err and "claude-haiku-4-5" in err, "a seeded LEGACY model too", err)
    # past its end of life: AWS's error, with the successor the refresh recorded
    emu.control("models", {"id": "anthropic.claude-zephyr-6", "lifecycle": "LEGACY", "end_of_life": "2026-01-01",
                           "regions": {SYDNEY: ["on_demand", "au"]}})
    rc, out, err = pg.psql("SELECT claude_complete('a', model => 'anthropic.claude-zephyr-6')")
    t.ok(rc != 0 and "ResourceNotFoundException" in err and "end of its life" in err and "HINT" in err
         and "anthropic.claude-zephyr-7" in err,
         "a model past its end of life: AWS's error with a HINT naming the successor", err)
    gone = refresh()
    t.ok(gone and gone[5] >= 2 and row("anthropic.claude-zephyr-6", "model_id") == "",
         "once AWS no longer lists it, the refresh removes it (and its profile)", gone)

    # the worker refreshes by itself every claude.models_refresh_interval
    pg.query("DELETE FROM claude.models WHERE source = 'aws'")
    pg.append_conf("shared_preload_libraries = 'pg_claude'\nclaude.database_name = 'postgres'\n"
                   "claude.models_refresh_interval = '2s'\n")
    emu.reset()
    emu.control("models", {"id": "anthropic.claude-zephyr-7", "regions": {SYDNEY: ["au"]}})
    pg.restart(env=emulator_env())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and row("anthropic.claude-zephyr-7", "model_id") == "":
        time.sleep(0.5)
    t.ok(row("anthropic.claude-zephyr-7", "model_id") == "anthropic.claude-zephyr-7"
         and "pg_claude worker refreshed claude.models" in pg.read_log(),
         "the worker refreshes the catalogue on its own (claude.models_refresh_interval)",
         [line for line in pg.read_log().splitlines() if "claude" in line.lower()][-8:])
    worker = pg.query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_claude worker'")
    emu.fault(fault="error", status=503, count=50, operations=["control"])
    pg.query("DELETE FROM claude.models WHERE source = 'aws'")
    warned = f"[{worker}] WARNING:  could not refresh claude.models"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and warned not in pg.read_log():
        time.sleep(0.5)
    t.ok(warned in pg.read_log()
         and pg.query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_claude worker'") == worker,
         "a failed refresh in the worker is a WARNING in the log, and the worker lives on",
         [line for line in pg.read_log().splitlines() if "refresh" in line][-4:])
finally:
    pg.destroy()
    emu.stop()

sys.exit(t.summary())
