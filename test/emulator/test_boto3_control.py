#!/usr/bin/env python3
"""Fidelity test: boto3's ``bedrock`` (control plane) and ``bedrock-runtime``
clients against the emulator's catalogue, model traits and token quota.

    python3 test/emulator/test_boto3_control.py

* ListFoundationModels (byProvider, byInferenceType), GetFoundationModel,
  ListInferenceProfiles (both types, boto3's paginator), GetInferenceProfile
  (system and application profiles, destination regions), all read with
  boto3's own parsers; every listing agrees with what the runtime accepts;
* models and application profiles registered through the control API appear
  there and are invokable with their own constraints; reset drops them;
* InvokeModel refusals of the new models' traits (temperature, top_p, top_k,
  forced tool_choice, thinking types, output_config.format), structured
  output, thinking blocks, prompt caching by TTL, the TPM reservation and the
  ModelNotReadyException fault.

Prints ``ok - name`` / ``not ok - name: reason``, then ``N passed, M failed``;
exits 1 if anything failed.
"""

import datetime
import json
import os
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto3                                            # noqa: E402
from botocore.config import Config                      # noqa: E402
from botocore.exceptions import ClientError             # noqa: E402

from emu_harness import EmulatorProcess                 # noqa: E402

AKID = "AKIAPGCLAUDEEMULATOR"
SECRET = "emulator/Secret+Key/0123456789abcdefEXAMPLE"
SYDNEY, MELBOURNE, AUCKLAND = "ap-southeast-2", "ap-southeast-4", "ap-southeast-6"
SONNET5 = "anthropic.claude-sonnet-5"
AU_SONNET5 = "au." + SONNET5
AU_SONNET45 = "au.anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU3 = "anthropic.claude-3-haiku-20240307-v1:0"
NEW_MODEL = "anthropic.claude-zephyr-7"
FORCE = {"type": "tool", "name": "classify"}
TOOLS = [{"name": "classify", "description": "Pick the label.", "input_schema": {
    "type": "object", "required": ["label"],
    "properties": {"label": {"type": "string", "enum": ["billing", "outage", "other"]}}}}]
EXTRACT = {"type": "object", "additionalProperties": False,
           "required": ["name", "age", "label"],
           "properties": {"name": {"type": "string"},
                          "age": {"type": "integer", "minimum": 0, "maximum": 130},
                          "label": {"type": "string", "enum": ["billing", "outage", "other"]},
                          "vip": {"type": "boolean"}}}

TESTS = []
emu = None


def test(function):
    TESTS.append(function)
    return function


def clean_environment():
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                      AWS_EC2_METADATA_DISABLED="true")


def client(service, region=SYDNEY, retries=5):
    return boto3.session.Session().client(
        service, region_name=region, endpoint_url=emu.http_url, aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"mode": "standard", "total_max_attempts": retries},
                      connect_timeout=5, read_timeout=30))


def control(region=SYDNEY, retries=5):
    return client("bedrock", region, retries)


def runtime(region=SYDNEY, retries=5):
    return client("bedrock-runtime", region, retries)


def body(text="Hello emulator", max_tokens=256, **extra):
    value = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens,
             "messages": [{"role": "user", "content": text}]}
    value.update(extra)
    return json.dumps(value)


def invoke(c, model_id, text="Hello emulator", **extra):
    response = c.invoke_model(modelId=model_id, body=body(text, **extra))
    return response, json.loads(response["body"].read())


def expect_error(call, code, status=None, contains=None):
    try:
        call()
    except ClientError as error:
        got = error.response["Error"]["Code"]
        message = error.response["Error"].get("Message", "")
        assert got == code, "expected %s, got %s (%s)" % (code, got, message)
        http = error.response["ResponseMetadata"]["HTTPStatusCode"]
        assert status is None or http == status, "expected HTTP %s, got %s" % (status, http)
        assert contains is None or contains in message, "message %r lacks %r" % (message, contains)
        return error
    raise AssertionError("expected %s, the call succeeded" % code)


def check(condition, reason):
    if not condition:
        raise AssertionError(reason)


def all_profiles(c, **kwargs):
    pages = c.get_paginator("list_inference_profiles").paginate(**kwargs)
    return [p for page in pages for p in page["inferenceProfileSummaries"]]


def arn_regions(profile):
    return [m["modelArn"].split(":")[3] for m in profile["models"]]


# --------------------------------------------------------------------------
# Control plane
# --------------------------------------------------------------------------

@test
def list_foundation_models_sydney():
    c = control()
    summaries = c.list_foundation_models()["modelSummaries"]
    ids = [s["modelId"] for s in summaries]
    for base in (HAIKU3, SONNET5, "anthropic.claude-opus-4-7", "anthropic.claude-opus-5",
                 "anthropic.claude-fable-5", "anthropic.claude-opus-5-5",
                 "anthropic.claude-fable-5-1", "anthropic.claude-sonnet-4-5-20250929-v1:0"):
        check(base in ids, "%s not listed in Sydney" % base)
    by_id = {s["modelId"]: s for s in summaries}
    sonnet = by_id[SONNET5]
    check(sonnet["modelArn"] == "arn:aws:bedrock:ap-southeast-2::foundation-model/" + SONNET5,
          sonnet)
    check(sonnet["modelName"] == "Claude Sonnet 5" and sonnet["providerName"] == "Anthropic",
          sonnet)
    check(sonnet["inferenceTypesSupported"] == ["INFERENCE_PROFILE"], sonnet)
    check(sonnet["modelLifecycle"] == {"status": "ACTIVE"}, sonnet["modelLifecycle"])
    check(by_id[HAIKU3]["inferenceTypesSupported"] == ["ON_DEMAND"], by_id[HAIKU3])
    check(by_id[HAIKU3]["modelLifecycle"]["status"] == "LEGACY", by_id[HAIKU3])
    check(by_id["anthropic.claude-sonnet-4-20250514-v1:0"]["modelLifecycle"]["status"]
          == "LEGACY", "Sonnet 4 is LEGACY in the facts")
    anthropic = c.list_foundation_models(byProvider="Anthropic")["modelSummaries"]
    check([s["modelId"] for s in anthropic] == ids, "byProvider=Anthropic dropped models")
    check(c.list_foundation_models(byProvider="Amazon")["modelSummaries"] == [], "Amazon")
    on_demand = c.list_foundation_models(byInferenceType="ON_DEMAND")["modelSummaries"]
    check(HAIKU3 in [s["modelId"] for s in on_demand]
          and SONNET5 not in [s["modelId"] for s in on_demand], on_demand)
    expect_error(lambda: c.list_foundation_models(byInferenceType="SOMETIMES"),
                 "ValidationException", 400, "Member must satisfy enum value set")
    # Melbourne serves Sonnet 5 on demand (facts: melbourne on_demand)
    melbourne = {s["modelId"]: s for s in control(MELBOURNE).list_foundation_models()[
        "modelSummaries"]}
    check(melbourne[SONNET5]["inferenceTypesSupported"] == ["ON_DEMAND", "INFERENCE_PROFILE"],
          melbourne[SONNET5])
    details = c.get_foundation_model(modelIdentifier=SONNET5)["modelDetails"]
    check(details == sonnet, details)
    expect_error(lambda: c.get_foundation_model(modelIdentifier="anthropic.claude-none-1"),
                 "ValidationException", 400, "The provided model identifier is invalid.")


@test
def listings_agree_with_the_runtime():
    """Every ON_DEMAND model answers by base id, every other is refused on
    demand; every system profile listed answers through the runtime."""
    for region in (SYDNEY, MELBOURNE):
        c, r = control(region), runtime(region)
        for summary in c.list_foundation_models()["modelSummaries"]:
            base = summary["modelId"]
            if "ON_DEMAND" in summary["inferenceTypesSupported"]:
                _, message = invoke(r, base)
                check(message["stop_reason"] == "end_turn", (region, base, message))
            else:
                expect_error(lambda: invoke(r, base), "ValidationException", 400,
                             "with on-demand throughput isn\u2019t supported")
        profiles = all_profiles(c)
        for profile in profiles:
            _, message = invoke(r, profile["inferenceProfileId"])
            check(message["content"][-1]["text"] == "You said: Hello emulator", (profile, message))
            _, message = invoke(r, profile["inferenceProfileArn"])
            check(message["content"][-1]["text"] == "You said: Hello emulator", profile)
        for prefix in ("us.", "eu.", "jp."):
            check(not any(p["inferenceProfileId"].startswith(prefix) for p in profiles),
                  "%s profile listed in %s" % (prefix, region))


@test
def list_inference_profiles_types_and_pagination():
    c = control()
    system = all_profiles(c)
    check(len(system) > 20, "expected more than one default page: %d" % len(system))
    check(all(p["type"] == "SYSTEM_DEFINED" and p["status"] == "ACTIVE" for p in system), system)
    first = c.list_inference_profiles()
    check(len(first["inferenceProfileSummaries"]) == 20 and "nextToken" in first,
          "default page size 20 with a nextToken")
    small = all_profiles(c, typeEquals="SYSTEM_DEFINED", PaginationConfig={"PageSize": 3})
    check([p["inferenceProfileId"] for p in small] == [p["inferenceProfileId"] for p in system],
          "pages of 3 differ from the default pages")
    big = c.list_inference_profiles(maxResults=1000)
    check("nextToken" not in big and len(big["inferenceProfileSummaries"]) == len(system), big)
    ids = {p["inferenceProfileId"] for p in system}
    for wanted in (AU_SONNET5, "global." + SONNET5, "au.anthropic.claude-opus-4-7",
                   "global.anthropic.claude-fable-5", "au.anthropic.claude-opus-5-5",
                   "apac.anthropic.claude-sonnet-4-20250514-v1:0", AU_SONNET45):
        check(wanted in ids, "%s not listed" % wanted)
    check("au.anthropic.claude-fable-5" not in ids, "Fable 5 is global only in Sydney")
    application = all_profiles(c, typeEquals="APPLICATION")
    check([p["inferenceProfileId"] for p in application] == ["abc123"], application)
    check(application[0]["type"] == "APPLICATION", application)
    expect_error(lambda: c.list_inference_profiles(maxResults=1001), "ValidationException", 400,
                 "less than or equal to 1000")
    expect_error(lambda: c.list_inference_profiles(nextToken="garbage!"), "ValidationException",
                 400, "pagination token")
    expect_error(lambda: c.list_inference_profiles(typeEquals="CUSTOM"), "ValidationException",
                 400, "[SYSTEM_DEFINED, APPLICATION]")


@test
def get_inference_profile_destinations():
    c = control()
    au = c.get_inference_profile(inferenceProfileIdentifier=AU_SONNET5)
    check(au["type"] == "SYSTEM_DEFINED" and au["status"] == "ACTIVE", au)
    check(au["inferenceProfileArn"] == "arn:aws:bedrock:ap-southeast-2:123456789012:"
          "inference-profile/" + AU_SONNET5, au["inferenceProfileArn"])
    check(arn_regions(au) == [SYDNEY, MELBOURNE], au["models"])
    check(all(m["modelArn"].endswith(":foundation-model/" + SONNET5) for m in au["models"]),
          au["models"])
    check(isinstance(au["createdAt"], datetime.datetime), au["createdAt"])
    by_arn = c.get_inference_profile(inferenceProfileIdentifier=au["inferenceProfileArn"])
    check(by_arn["models"] == au["models"], by_arn)
    glob = c.get_inference_profile(inferenceProfileIdentifier="global." + SONNET5)
    check([m["modelArn"] for m in glob["models"]] == [
        "arn:aws:bedrock:ap-southeast-2::foundation-model/" + SONNET5,
        "arn:aws:bedrock:::foundation-model/" + SONNET5], glob["models"])
    apac = c.get_inference_profile(
        inferenceProfileIdentifier="apac.anthropic.claude-sonnet-4-20250514-v1:0")
    check(SYDNEY in arn_regions(apac) and "ap-northeast-1" in arn_regions(apac), apac["models"])
    # au. called from Auckland also routes to Auckland (facts, routing.au)
    auckland = control(AUCKLAND).get_inference_profile(inferenceProfileIdentifier=AU_SONNET5)
    check(arn_regions(auckland) == [SYDNEY, MELBOURNE, AUCKLAND], auckland["models"])
    app = c.get_inference_profile(inferenceProfileIdentifier="abc123")
    check(app["type"] == "APPLICATION" and app["inferenceProfileArn"].endswith(
        ":application-inference-profile/abc123"), app)
    check(arn_regions(app) == [SYDNEY, MELBOURNE], app["models"])
    by_arn = c.get_inference_profile(inferenceProfileIdentifier=app["inferenceProfileArn"])
    check(by_arn["inferenceProfileId"] == "abc123", by_arn)
    for missing in ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "nope",
                    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"):
        expect_error(lambda: c.get_inference_profile(inferenceProfileIdentifier=missing),
                     "ResourceNotFoundException", 404)


@test
def application_profiles_with_destinations():
    emu.reset()
    c, r = control(), runtime()
    emu.control("POST", "/_emulator/application-profiles", {
        "region": SYDNEY, "id": "aussie1", "model": SONNET5,
        "destinations": [SYDNEY, MELBOURNE], "name": "aussie-only"})
    emu.control("POST", "/_emulator/application-profiles", {
        "region": SYDNEY, "id": "roamer1", "model": "global." + SONNET5,
        "destinations": [SYDNEY, "us-east-1", "us-west-2"]})
    aussie = c.get_inference_profile(inferenceProfileIdentifier="aussie1")
    check(aussie["inferenceProfileName"] == "aussie-only"
          and arn_regions(aussie) == [SYDNEY, MELBOURNE], aussie)
    roamer = c.get_inference_profile(
        inferenceProfileIdentifier="arn:aws:bedrock:ap-southeast-2:123456789012:"
                                   "application-inference-profile/roamer1")
    check(arn_regions(roamer) == [SYDNEY, "us-east-1", "us-west-2"], roamer["models"])
    listed = [p["inferenceProfileId"] for p in all_profiles(c, typeEquals="APPLICATION")]
    check(listed == ["abc123", "aussie1", "roamer1"], listed)
    _, message = invoke(r, aussie["inferenceProfileArn"])
    check(message["model"] == "claude-sonnet-5", message)
    expect_error(lambda: invoke(r, aussie["inferenceProfileArn"], temperature=0.5),
                 "ValidationException", 400, "`temperature` is deprecated for this model.")
    emu.reset()
    expect_error(lambda: c.get_inference_profile(inferenceProfileIdentifier="aussie1"),
                 "ResourceNotFoundException", 404)


@test
def registered_model_everywhere_with_its_traits():
    emu.reset()
    c, r = control(), runtime()
    answer = emu.control("POST", "/_emulator/models", {
        "id": NEW_MODEL, "model_name": "Claude Zephyr 7", "max_output": 32000,
        "context_window": 300000, "cache_min": 1024, "temperature": False,
        "forced_tool_choice": False, "structured_output": True, "thinking": "adaptive",
        "lifecycle": "LEGACY", "end_of_life": "2099-01-31",
        "regions": {SYDNEY: ["au", "global"], MELBOURNE: ["au", "global", "on_demand"]}})
    check(answer["model"]["name"] == "claude-zephyr-7", answer)
    summary = c.get_foundation_model(modelIdentifier=NEW_MODEL)["modelDetails"]
    check(summary["modelName"] == "Claude Zephyr 7"
          and summary["inferenceTypesSupported"] == ["INFERENCE_PROFILE"], summary)
    check(summary["modelLifecycle"]["status"] == "LEGACY"
          and summary["modelLifecycle"]["endOfLifeTime"].year == 2099, summary["modelLifecycle"])
    check(summary["inputModalities"] == ["TEXT", "IMAGE"], summary["inputModalities"])
    emu.control("POST", "/_emulator/models", {"id": NEW_MODEL + "-text", "input_modalities": ["TEXT"],
                                              "regions": {SYDNEY: ["on_demand"]}})
    text_only = [s for s in c.list_foundation_models(byProvider="Anthropic")["modelSummaries"]
                 if s["modelId"] == NEW_MODEL + "-text"]
    check(len(text_only) == 1 and text_only[0]["inputModalities"] == ["TEXT"], text_only)
    ids = [p["inferenceProfileId"] for p in all_profiles(c)]
    check("au." + NEW_MODEL in ids and "global." + NEW_MODEL in ids, ids)
    profile = c.get_inference_profile(inferenceProfileIdentifier="au." + NEW_MODEL)
    check(arn_regions(profile) == [SYDNEY, MELBOURNE], profile["models"])
    _, message = invoke(r, "au." + NEW_MODEL)
    check(message["model"] == "claude-zephyr-7", message)
    expect_error(lambda: invoke(r, "au." + NEW_MODEL, temperature=0), "ValidationException",
                 400, "`temperature` is deprecated")
    expect_error(lambda: invoke(r, "au." + NEW_MODEL, tools=TOOLS, tool_choice=FORCE),
                 "ValidationException", 400, "tool_choice")
    expect_error(lambda: invoke(r, "au." + NEW_MODEL, max_tokens=32001), "ValidationException",
                 400, "max_tokens: 32001 > 32000")
    _, message = invoke(r, "au." + NEW_MODEL, "name: Zed",
                        output_config={"format": {"type": "json_schema", "schema": EXTRACT}})
    check(json.loads(message["content"][0]["text"])["name"] == "Zed", message)
    expect_error(lambda: invoke(r, NEW_MODEL), "ValidationException", 400, "on-demand")
    _, message = invoke(runtime(MELBOURNE), NEW_MODEL)
    check(message["model"] == "claude-zephyr-7", message)
    count = runtime(MELBOURNE).count_tokens(modelId=NEW_MODEL, input={"invokeModel": {
        "body": body("abcd")}})
    check(count["inputTokens"] == 1, count)
    # past its end of life: gone from the listings, refused at run time
    emu.control("POST", "/_emulator/models", {
        "id": NEW_MODEL, "lifecycle": "LEGACY", "end_of_life": "2026-01-01",
        "regions": {SYDNEY: ["au"]}})
    check(NEW_MODEL not in [s["modelId"] for s in c.list_foundation_models()["modelSummaries"]],
          "past end of life but listed")
    expect_error(lambda: c.get_foundation_model(modelIdentifier=NEW_MODEL),
                 "ResourceNotFoundException", 404, "reached the end of its life")
    expect_error(lambda: invoke(r, "au." + NEW_MODEL), "ResourceNotFoundException", 404,
                 "This model version has reached the end of its life.")
    emu.reset()
    check(NEW_MODEL not in [s["modelId"] for s in c.list_foundation_models()["modelSummaries"]],
          "reset kept the registered model")
    expect_error(lambda: invoke(r, "au." + NEW_MODEL), "ValidationException", 400,
                 "The provided model identifier is invalid.")


@test
def control_plane_faults_and_bearer():
    emu.reset()
    c = control()
    emu.fault(fault="throttle")                   # runtime faults skip the control plane
    check(len(c.list_foundation_models()["modelSummaries"]) > 10, "listing")
    check(emu.control("GET", "/_emulator/faults")["faults"][0]["kind"] == "throttle", "queue")
    emu.control("DELETE", "/_emulator/faults")
    emu.fault(fault="throttle", count=2, operations=["control"])
    response = c.list_inference_profiles()
    check(response["ResponseMetadata"]["RetryAttempts"] == 2, response["ResponseMetadata"])
    emu.fault(fault="error", status=500, operations=["GetInferenceProfile"])
    _, message = invoke(runtime(), AU_SONNET5)          # the fault waits for its operation
    check(message["model"] == "claude-sonnet-5", message)
    expect_error(lambda: control(retries=1).get_inference_profile(
        inferenceProfileIdentifier=AU_SONNET5), "InternalServerException", 500)
    stats = emu.stats()
    check(stats["by_operation"].get("ListInferenceProfiles") == 3
          and stats["by_operation"].get("ListFoundationModels") == 1, stats["by_operation"])
    os.environ["AWS_BEARER_TOKEN_BEDROCK"] = "bedrock-api-key-emulator-0123456789"
    try:
        bearer = boto3.session.Session().client("bedrock", region_name=MELBOURNE,
                                                endpoint_url=emu.http_url)
        listed = bearer.list_foundation_models()["modelSummaries"]
        check(stats is not None and len(listed) > 5, listed)
        if emu.stats()["last_request"]["headers"].get("Authorization") == "Bearer REDACTED":
            recent = emu.control("GET", "/_emulator/requests?n=1")["requests"][-1]
            check(recent["auth"] == "bearer", recent)
    finally:
        del os.environ["AWS_BEARER_TOKEN_BEDROCK"]


# --------------------------------------------------------------------------
# Runtime: traits of the new models
# --------------------------------------------------------------------------

@test
def sampling_refusals_name_the_parameter():
    r = runtime()
    for model in ("au.anthropic.claude-opus-4-7", "au.anthropic.claude-opus-4-8",
                  "au.anthropic.claude-opus-5", AU_SONNET5):
        expect_error(lambda: invoke(r, model, temperature=0.5), "ValidationException", 400,
                     "`temperature` is deprecated for this model.")
    expect_error(lambda: invoke(r, "au.anthropic.claude-opus-4-7", top_p=0.9),
                 "ValidationException", 400, "`top_p` is deprecated for this model.")
    expect_error(lambda: invoke(r, AU_SONNET5, top_k=5), "ValidationException", 400,
                 "`top_k` is deprecated for this model.")
    expect_error(lambda: invoke(r, AU_SONNET45, temperature=0.5, top_p=0.9),
                 "ValidationException", 400,
                 "`temperature` and `top_p` cannot both be specified for this model.")
    _, message = invoke(r, AU_SONNET45, temperature=0.5)      # alone: accepted, as before
    check(message["stop_reason"] == "end_turn", message)
    _, message = invoke(r, "global.anthropic.claude-fable-5", temperature=0.5)
    check(message["model"] == "claude-fable-5", message)
    expect_error(lambda: r.converse(modelId=AU_SONNET5, messages=[
        {"role": "user", "content": [{"text": "hi"}]}], inferenceConfig={"temperature": 0.1}),
        "ValidationException", 400,
        "The model returned the following errors: `temperature` is deprecated for this model.")


@test
def forced_tool_choice_refusals():
    r = runtime()
    for model in ("au.anthropic.claude-opus-5-5", "au.anthropic.claude-fable-5-1"):
        for choice in (FORCE, {"type": "any"}):
            expect_error(lambda: invoke(r, model, tools=TOOLS, tool_choice=choice),
                         "ValidationException", 400,
                         "Thinking may not be enabled when tool_choice forces tool use.")
        _, message = invoke(r, model, "the outage", tools=TOOLS, tool_choice={"type": "auto"})
        check([b["type"] for b in message["content"]] == ["thinking", "text"], message)
    _, message = invoke(r, AU_SONNET5, "the outage", tools=TOOLS, tool_choice=FORCE)
    check(message["content"][0]["input"] == {"label": "outage"}, message)
    expect_error(lambda: invoke(r, "au.anthropic.claude-opus-4-7", tools=TOOLS, tool_choice=FORCE,
                                thinking={"type": "adaptive"}), "ValidationException", 400,
                 "Thinking may not be enabled when tool_choice forces tool use.")


@test
def structured_output():
    r = runtime()
    fmt = {"format": {"type": "json_schema", "schema": EXTRACT}}
    text = "Name: Alice Smith, age: 42 years; vip: yes, the outage hurt"
    response, message = invoke(r, AU_SONNET5, text, output_config=fmt)
    check(len(message["content"]) == 1 and message["content"][0]["type"] == "text", message)
    value = json.loads(message["content"][0]["text"])
    check(value == {"name": "Alice Smith", "age": 42, "label": "outage", "vip": True}, value)
    check(message["stop_reason"] == "end_turn", message)
    check(message["usage"]["output_tokens"] == -(-len(message["content"][0]["text"]) // 4),
          message["usage"])
    # the same on the stream and on Converse (outputConfig.textFormat)
    stream = r.invoke_model_with_response_stream(modelId=AU_SONNET5,
                                                 body=body(text, output_config=fmt))
    events = [json.loads(e["chunk"]["bytes"]) for e in stream["body"]]
    streamed = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    check(json.loads(streamed) == value, streamed)
    converse = r.converse(modelId=AU_SONNET5, messages=[
        {"role": "user", "content": [{"text": text}]}], outputConfig={"textFormat": {
            "type": "json_schema", "structure": {"jsonSchema": {
                "schema": json.dumps(EXTRACT), "name": "person"}}}})
    check(json.loads(converse["output"]["message"]["content"][0]["text"]) == value, converse)
    _, message = invoke(r, AU_SONNET45, text, output_config=fmt)       # facts: true
    check(json.loads(message["content"][0]["text"]) == value, message)
    for model in ("global.anthropic.claude-fable-5", HAIKU3, "au.anthropic.claude-fable-5-1"):
        expect_error(lambda: invoke(r, model, text, output_config=fmt), "ValidationException",
                     400, "output_config.format: Extra inputs are not permitted")
    open_object = {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {
        "name": {"type": "string"}}}}}
    expect_error(lambda: invoke(r, AU_SONNET5, text, output_config=open_object),
                 "ValidationException", 400, "'additionalProperties' must be explicitly set")
    recursive = {"format": {"type": "json_schema", "schema": {
        "$defs": {"node": {"type": "object", "additionalProperties": False,
                           "properties": {"child": {"$ref": "#/$defs/node"}}}},
        "$ref": "#/$defs/node"}}}
    expect_error(lambda: invoke(r, AU_SONNET5, text, output_config=recursive),
                 "ValidationException", 400, "Recursive schemas are not supported")
    many = {"format": {"type": "json_schema", "schema": {
        "type": "object", "additionalProperties": False,
        "properties": {"p%d" % i: {"type": "string"} for i in range(11)}}}}
    expect_error(lambda: invoke(r, AU_SONNET5, text, output_config=many),
                 "ValidationException", 400, "more than 10 optional properties")


@test
def thinking_types_and_blocks():
    r = runtime()
    opus = "au.anthropic.claude-opus-4-7"
    expect_error(lambda: invoke(r, opus, thinking={"type": "enabled", "budget_tokens": 2048},
                                max_tokens=4096), "ValidationException", 400,
                 '"thinking.type.enabled" is not supported for this model.')
    _, plain = invoke(r, opus)
    check([b["type"] for b in plain["content"]] == ["text"], plain)
    _, message = invoke(r, opus, thinking={"type": "adaptive"}, output_config={"effort": "low"})
    thinking, text = message["content"]
    check(thinking["type"] == "thinking" and thinking["signature"], thinking)
    check(text["text"] == "You said: Hello emulator", text)
    check(message["usage"]["output_tokens"] == 64 + plain["usage"]["output_tokens"],
          message["usage"])
    always = "au.anthropic.claude-opus-5-5"
    expect_error(lambda: invoke(r, always, thinking={"type": "disabled"}),
                 "ValidationException", 400, '"thinking.type.disabled" is not supported')
    _, message = invoke(r, always, "one two three four five", max_tokens=66)
    check([b["type"] for b in message["content"]] == ["thinking", "text"], message)
    check(message["content"][1]["text"] == "You said:" and message["stop_reason"] == "max_tokens"
          and message["usage"]["output_tokens"] == 66, message)
    # Sonnet 5 accepts enabled (budget_tokens) and adaptive
    _, message = invoke(r, AU_SONNET5, thinking={"type": "enabled", "budget_tokens": 1024},
                        max_tokens=2048)
    check(message["content"][0]["type"] == "thinking", message)
    expect_error(lambda: invoke(r, AU_SONNET5, thinking={"type": "enabled",
                                                         "budget_tokens": 1024}),
                 "ValidationException", 400, "`max_tokens` must be greater than")
    stream = r.invoke_model_with_response_stream(modelId=always, body=body())
    events = [json.loads(e["chunk"]["bytes"]) for e in stream["body"]]
    kinds = [e["delta"]["type"] for e in events if e["type"] == "content_block_delta"]
    check(kinds[0] == "thinking_delta" and "signature_delta" in kinds
          and kinds[-1] == "text_delta", kinds)
    converse = r.converse(modelId=always, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    blocks = converse["output"]["message"]["content"]
    check("reasoningContent" in blocks[0] and blocks[1] == {"text": "You said: hi"}, blocks)
    chunks = list(r.converse_stream(modelId=always, messages=[
        {"role": "user", "content": [{"text": "hi"}]}])["stream"])
    check(any("reasoningContent" in c.get("contentBlockDelta", {}).get("delta", {})
              for c in chunks), chunks)


@test
def prompt_cache_minimum_and_ttls():
    emu.reset()
    r = runtime()
    prefix = "You sort support tickets for ACME. " * 150          # 1313 tokens
    system = [{"type": "text", "text": prefix, "cache_control": {"type": "ephemeral"}}]
    _, message = invoke(r, AU_SONNET5, "hi", system=system)          # Sonnet 5 minimum 2048
    check(message["usage"]["cache_creation_input_tokens"] == 0, message["usage"])
    _, message = invoke(r, AU_SONNET45, "hi", system=system)         # Sonnet 4.5: 1024
    usage = message["usage"]
    check(usage["cache_creation"] == {"ephemeral_5m_input_tokens": 1313,
                                      "ephemeral_1h_input_tokens": 0}, usage)
    long_prefix = prefix * 2                                          # 2625 tokens
    hour = [{"type": "text", "text": long_prefix, "cache_control": {"type": "ephemeral",
                                                                    "ttl": "1h"}},
            {"type": "text", "text": prefix, "cache_control": {"type": "ephemeral"}}]
    _, message = invoke(r, AU_SONNET5, "hi", system=hour)
    usage = message["usage"]
    check(usage["cache_creation"]["ephemeral_1h_input_tokens"] == 2625
          and usage["cache_creation"]["ephemeral_5m_input_tokens"]
          == usage["cache_creation_input_tokens"] - 2625, usage)
    converse = r.converse(modelId=AU_SONNET5, system=[
        {"text": long_prefix}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
        messages=[{"role": "user", "content": [{"text": "x"}]}])["usage"]
    check(converse["cacheReadInputTokens"] == 2625, converse)
    wrong = [dict(hour[1]), dict(hour[0])]
    expect_error(lambda: invoke(r, AU_SONNET5, "hi", system=wrong), "ValidationException", 400,
                 "must not come after a 'ttl'='5m' cache_control block")


# --------------------------------------------------------------------------
# Quota and ModelNotReady
# --------------------------------------------------------------------------

@test
def tokens_per_minute_reserves_max_tokens():
    emu.reset()
    r = runtime(retries=1)
    emu.control("POST", "/_emulator/config", {"tokens_per_minute": 1000})
    expect_error(lambda: invoke(r, AU_SONNET45, max_tokens=1000), "ThrottlingException", 429,
                 "Too many tokens, please wait before trying again.")
    for _ in range(5):                       # 4 + 900 reserved, 4 + 4 kept: all fit
        invoke(r, AU_SONNET45, max_tokens=900)
    check(emu.stats()["tokens_in_window"] == 40, emu.stats())
    # a request in flight holds its whole reservation
    results = []
    slow = threading.Thread(target=lambda: results.append(
        invoke(r, AU_SONNET45, "SLEEP 600 hold", max_tokens=600)))
    slow.start()
    time.sleep(0.2)
    expect_error(lambda: invoke(r, AU_SONNET45, max_tokens=400), "ThrottlingException", 429,
                 "Too many tokens")
    slow.join()
    invoke(r, AU_SONNET45, max_tokens=400)
    emu.control("POST", "/_emulator/config", {"tokens_per_minute": 1000, "output_burndown": 5})
    expect_error(lambda: invoke(r, AU_SONNET45, max_tokens=200), "ThrottlingException", 429)
    _, message = invoke(r, AU_SONNET45, max_tokens=150)       # 4 + 750 reserved
    check(emu.stats()["tokens_in_window"] == 4 + 5 * message["usage"]["output_tokens"],
          emu.stats()["tokens_in_window"])
    check(emu.stats()["tokens_throttled"] == 3, emu.stats()["tokens_throttled"])
    emu.reset()
    check(emu.control("GET", "/_emulator/config")["config"]["output_burndown"] == 1.0, "reset")


@test
def model_not_ready_is_retried():
    emu.reset()
    emu.fault(fault="model_not_ready")
    response, message = invoke(runtime(), AU_SONNET5)
    check(response["ResponseMetadata"]["RetryAttempts"] == 1, response["ResponseMetadata"])
    emu.fault(fault="model_not_ready")
    expect_error(lambda: invoke(runtime(retries=1), AU_SONNET5), "ModelNotReadyException", 429,
                 "not ready to serve inference requests")


# --------------------------------------------------------------------------

def main():
    global emu
    clean_environment()
    passed = failed = 0
    with EmulatorProcess(tls=False) as emu:
        for function in TESTS:
            name = function.__name__
            try:
                function()
            except Exception as error:              # report and go on
                failed += 1
                reason = str(error) or type(error).__name__
                print("not ok - %s: %s" % (name, reason.replace("\n", " ")[:2000]))
                if os.environ.get("VERBOSE"):
                    traceback.print_exc()
            else:
                passed += 1
                print("ok - %s" % name)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
