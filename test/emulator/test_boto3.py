#!/usr/bin/env python3
"""Fidelity test: the real AWS SDK (boto3) against the Bedrock emulator.

    python3 test/emulator/test_boto3.py [--timing N]

If boto3 accepts the emulator's signatures checks, error shapes, event
streams, retries and connection behaviour, the emulator is close enough to
Bedrock for the C extension's tests to mean something.  The emulator is started
here on free ports, with a throwaway CA and server certificate made by the
``openssl`` CLI (emu_harness), and stopped at the end.

Prints ``ok - name`` or ``not ok - name: reason`` per check, then exactly
``N passed, M failed``; exits 1 if anything failed.  ``--timing N`` changes how
many sequential calls the throughput check makes (default 1000).
"""

import base64
import http.client
import json
import os
import sys
import time
import traceback
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto3                                            # noqa: E402
import botocore                                         # noqa: E402
import botocore.auth                                    # noqa: E402
from botocore.awsrequest import AWSRequest              # noqa: E402
from botocore.config import Config                      # noqa: E402
from botocore.credentials import Credentials            # noqa: E402
from botocore.exceptions import ClientError, EventStreamError  # noqa: E402

from emu_harness import EmulatorProcess                 # noqa: E402

AKID = "AKIAPGCLAUDEEMULATOR"
SECRET = "emulator/Secret+Key/0123456789abcdefEXAMPLE"
TEMP_AKID = "ASIAPGCLAUDESESSION1"
TEMP_SECRET = "session/Secret+Key/abcdefghijklmnopEXAMPLE"
TEMP_TOKEN = "FQoGZXIvYXdzEmulatorSessionToken/+abc="
API_KEY = "bedrock-api-key-emulator-0123456789"

AU_SONNET = "au.anthropic.claude-sonnet-4-5-20250929-v1:0"
US_SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU3 = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET45_BASE = "anthropic.claude-sonnet-4-5-20250929-v1:0"
PROFILE_ARN = "arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/" + AU_SONNET
FOUNDATION_ARN = "arn:aws:bedrock:ap-southeast-2::foundation-model/" + HAIKU3
APP_PROFILE_ARN = "arn:aws:bedrock:ap-southeast-2:123456789012:application-inference-profile/abc123"

TESTS = []
emu = None


def test(function):
    TESTS.append(function)
    return function


def clean_environment():
    """No ambient AWS configuration may leak into these clients."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                      AWS_EC2_METADATA_DISABLED="true")


def client(region="ap-southeast-2", akid=AKID, secret=SECRET, token=None, url=None,
           verify=None, config=None):
    config = config or Config(retries={"mode": "standard", "max_attempts": 4},
                              connect_timeout=5, read_timeout=30)
    return boto3.session.Session().client(
        "bedrock-runtime", region_name=region, endpoint_url=url or emu.http_url,
        aws_access_key_id=akid, aws_secret_access_key=secret, aws_session_token=token,
        verify=verify, config=config)


def messages_body(text, max_tokens=256, **extra):
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": text}]}
    body.update(extra)
    return json.dumps(body)


def invoke(c, model_id, text="Hello emulator", **extra):
    response = c.invoke_model(modelId=model_id, body=messages_body(text, **extra),
                              contentType="application/json", accept="application/json")
    return response, json.loads(response["body"].read())


def answer_text(message):
    return "".join(block.get("text", "") for block in message["content"])


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


def raw_post(model_id, operation, payload):
    """POST a raw body with the API key (for bodies boto3 will not send);
    return (status, error type header, decoded JSON answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", emu.http_port, timeout=30)
    try:
        connection.request("POST", "/model/%s/%s" % (model_id.replace(":", "%3A"), operation),
                           body=payload, headers={"Authorization": "Bearer " + API_KEY,
                                                  "Content-Type": "application/json"})
        response = connection.getresponse()
        return (response.status, (response.getheader("x-amzn-ErrorType") or "").split(":")[0],
                json.loads(response.read()))
    finally:
        connection.close()


CLASSIFY_TOOLS = [{"name": "classify", "description": "Pick the label.", "input_schema": {
    "type": "object", "required": ["label"],
    "properties": {"label": {"type": "string", "enum": ["billing", "outage", "other"]}}}}]
FORCE_CLASSIFY = {"type": "tool", "name": "classify"}


# --------------------------------------------------------------------------
# Model ids and answers
# --------------------------------------------------------------------------

@test
def invoke_model_au_profile():
    response, message = invoke(client(), AU_SONNET)
    check(answer_text(message) == "You said: Hello emulator", message)
    check(message["model"] == "claude-sonnet-4-5-20250929", message["model"])
    check(message["id"].startswith("msg_bdrk_"), message["id"])
    check(message["stop_reason"] == "end_turn", message["stop_reason"])
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    for name in ("x-amzn-requestid", "x-amzn-bedrock-invocation-latency",
                 "x-amzn-bedrock-input-token-count", "x-amzn-bedrock-output-token-count", "date"):
        check(name in headers, "missing header " + name)
    check(int(headers["x-amzn-bedrock-output-token-count"]) == message["usage"]["output_tokens"]
          == 4, message["usage"])
    check(message["usage"]["input_tokens"] == 4, message["usage"])   # ceil(14 / 4)


@test
def invoke_model_base_id_with_colon():
    _, message = invoke(client(), HAIKU3)
    check(answer_text(message) == "You said: Hello emulator", message)
    path = emu.stats()["last_request"]["path"]
    check("v1%3A0/invoke" in path, "':' not percent-encoded on the wire: " + path)


@test
def invoke_model_arns():
    c = client()
    for arn in (PROFILE_ARN, FOUNDATION_ARN, APP_PROFILE_ARN):
        _, message = invoke(c, arn)
        check(answer_text(message) == "You said: Hello emulator", "%s: %s" % (arn, message))
    check("%2F" in emu.stats()["last_request"]["path"], "ARN '/' not encoded")


@test
def answer_rules():
    c = client()
    _, message = invoke(c, AU_SONNET, "REPEAT SYSTEM", system="You are terse.")
    check(answer_text(message) == "You are terse.", message)
    _, message = invoke(c, AU_SONNET, "REPEAT PARAMS", temperature=0.5)
    expected = ('{"anthropic_version":"bedrock-2023-05-31","has_system":false,"max_tokens":256,'
                '"model":"%s","temperature":0.5}' % AU_SONNET)
    check(answer_text(message) == expected, answer_text(message))
    _, message = invoke(c, AU_SONNET, "summarise this: The quick brown fox jumps. It runs away.")
    check(answer_text(message) == "Summary: The quick brown fox jumps.", answer_text(message))
    _, message = invoke(c, AU_SONNET, "one two three four five six", max_tokens=3)
    check(answer_text(message) == "You said: one" and message["stop_reason"] == "max_tokens",
          message)
    started = time.monotonic()
    _, message = invoke(c, AU_SONNET, "SLEEP 200 wake up")
    check(time.monotonic() - started >= 0.2, "SLEEP did not wait")
    check(answer_text(message) == "You said: wake up", message)


@test
def forced_tool_use():
    tools = [{"name": "classify", "description": "pick a label", "input_schema": {
        "type": "object", "required": ["label", "score"],
        "properties": {"label": {"type": "string", "enum": ["billing", "outage", "other"]},
                       "score": {"type": "number", "minimum": -1, "maximum": 1},
                       "tags": {"type": "array", "items": {"enum": ["urgent", "refund", "vip"]}},
                       "name": {"type": "string"}}}}]
    _, message = invoke(client(), AU_SONNET,
                        "name: Alice, the outage was terrible and I want a refund, urgent",
                        tools=tools, tool_choice={"type": "tool", "name": "classify"})
    check(message["stop_reason"] == "tool_use", message)
    block = message["content"][0]
    check(block["type"] == "tool_use" and block["name"] == "classify"
          and block["id"].startswith("toolu_bdrk_"), block)
    check(block["input"]["label"] == "outage", block["input"])
    check(block["input"]["score"] < 0, block["input"])
    check(block["input"]["tags"] == ["urgent", "refund"], block["input"])
    check(block["input"]["name"] == "Alice", block["input"])


@test
def unknown_model_is_validation_exception():
    expect_error(lambda: invoke(client(), "anthropic.claude-9-nonexistent-v1:0"),
                 "ValidationException", 400, "The provided model identifier is invalid.")


@test
def profile_only_base_id_is_refused():
    expect_error(lambda: invoke(client(), SONNET45_BASE), "ValidationException", 400,
                 "Invocation of model ID %s with on-demand throughput" % SONNET45_BASE)


@test
def arn_from_another_region_is_refused():
    arn = PROFILE_ARN.replace("ap-southeast-2", "ap-southeast-4")
    expect_error(lambda: invoke(client(), arn), "ValidationException", 400,
                 "The provided model identifier is invalid.")


@test
def body_validation_messages():
    c = client()
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31",
                       "messages": [{"role": "user", "content": "hi"}]})
    expect_error(lambda: c.invoke_model(modelId=AU_SONNET, body=body), "ValidationException", 400,
                 "Malformed input request: #: required key [max_tokens] not found, "
                 "please reformat your input and try again.")
    expect_error(lambda: invoke(c, AU_SONNET, temperature=1.5), "ValidationException", 400,
                 "#/temperature: 1.5 is not less or equal to 1")
    expect_error(lambda: c.invoke_model(modelId=AU_SONNET, body=b"not json"),
                 "ValidationException", 400, "Malformed input request")
    expect_error(lambda: invoke(c, AU_SONNET, model="x"), "ValidationException", 400,
                 "extraneous key [model] is not permitted")


# --------------------------------------------------------------------------
# Transport and authentication
# --------------------------------------------------------------------------

@test
def https_with_private_ca():
    before = emu.stats()["connections_https"]
    _, message = invoke(client(url=emu.https_url, verify=emu.ca_file), AU_SONNET)
    check(answer_text(message) == "You said: Hello emulator", message)
    check(emu.stats()["connections_https"] == before + 1, "https connection not counted")


@test
def wrong_secret_is_invalid_signature():
    expect_error(lambda: invoke(client(secret="wrong/secret"), AU_SONNET),
                 "InvalidSignatureException", 403,
                 "The request signature we calculated does not match the signature you provided.")


@test
def unknown_access_key_is_unrecognized_client():
    expect_error(lambda: invoke(client(akid="AKIAUNKNOWNKEY000000"), AU_SONNET),
                 "UnrecognizedClientException", 403,
                 "The security token included in the request is invalid.")


@test
def unsigned_request_is_missing_token():
    c = client(config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}))
    expect_error(lambda: invoke(c, AU_SONNET), "MissingAuthenticationTokenException", 403,
                 "Missing Authentication Token")


@test
def temporary_credentials_need_their_token():
    _, message = invoke(client(akid=TEMP_AKID, secret=TEMP_SECRET, token=TEMP_TOKEN), AU_SONNET)
    check(answer_text(message) == "You said: Hello emulator", message)
    expect_error(lambda: invoke(client(akid=TEMP_AKID, secret=TEMP_SECRET, token="wrong"),
                                AU_SONNET), "UnrecognizedClientException", 403)
    expect_error(lambda: invoke(client(akid=TEMP_AKID, secret=TEMP_SECRET), AU_SONNET),
                 "UnrecognizedClientException", 403)


@test
def runtime_credentials_and_expiry():
    emu.control("POST", "/_emulator/credentials", {
        "access_key_id": "ASIARUNTIMEISSUED001", "secret_access_key": "rt/secret",
        "session_token": "rt-token", "expires_at": time.time() + 600})
    invoke(client(akid="ASIARUNTIMEISSUED001", secret="rt/secret", token="rt-token"), AU_SONNET)
    emu.control("POST", "/_emulator/credentials", {
        "access_key_id": "ASIARUNTIMEEXPIRED01", "secret_access_key": "old/secret",
        "session_token": "old-token", "expires_at": time.time() - 1})
    expect_error(lambda: invoke(client(akid="ASIARUNTIMEEXPIRED01", secret="old/secret",
                                       token="old-token"), AU_SONNET),
                 "ExpiredTokenException", 403, "The security token included in the request is expired")


@test
def skewed_clock_signature_expired():
    skewed = botocore.compat.get_current_datetime() - __import__("datetime").timedelta(minutes=10)
    with mock.patch("botocore.auth.get_current_datetime", lambda *a, **k: skewed):
        expect_error(lambda: invoke(client(), AU_SONNET), "InvalidSignatureException", 403,
                     "Signature expired: ")


@test
def wrong_signing_service_is_refused():
    url = emu.http_url + "/model/" + AU_SONNET.replace(":", "%3A") + "/invoke"
    request = AWSRequest("POST", url, data=messages_body("hi").encode(),
                         headers={"Content-Type": "application/json"})
    botocore.auth.SigV4Auth(Credentials(AKID, SECRET), "bedrock-runtime",
                            "ap-southeast-2").add_auth(request)
    import urllib.request
    import urllib.error
    prepared = request.prepare()
    try:
        urllib.request.urlopen(urllib.request.Request(
            prepared.url, data=prepared.body, headers=dict(prepared.headers), method="POST"))
        raise AssertionError("accepted a signature scoped to bedrock-runtime")
    except urllib.error.HTTPError as error:
        check(error.code == 403, error.code)
        check(error.headers["x-amzn-ErrorType"].startswith("InvalidSignatureException:"),
              error.headers["x-amzn-ErrorType"])
        body = json.loads(error.read())
        check(body["message"] == "Credential should be scoped to correct service: 'bedrock'. ", body)


@test
def us_east_1_scope_uses_us_catalogue():
    c = client(region="us-east-1")
    _, message = invoke(c, US_SONNET)
    check(answer_text(message) == "You said: Hello emulator", message)
    # the log entry is written after the answer is sent: give it a moment
    region = None
    for _ in range(50):
        recent = emu.control("GET", "/_emulator/requests?n=1")["requests"]
        region = recent[0]["region"] if recent else None
        if region == "us-east-1":
            break
        time.sleep(0.02)
    check(region == "us-east-1", "region not recorded")
    expect_error(lambda: invoke(c, AU_SONNET), "ValidationException", 400,
                 "The provided model identifier is invalid.")


@test
def bearer_api_key():
    os.environ["AWS_BEARER_TOKEN_BEDROCK"] = API_KEY
    try:
        c = boto3.session.Session().client("bedrock-runtime", region_name="ap-southeast-2",
                                           endpoint_url=emu.http_url)
        _, message = invoke(c, AU_SONNET)
        check(answer_text(message) == "You said: Hello emulator", message)
        last = emu.stats()["last_request"]["headers"]
        check(last.get("Authorization") == "Bearer REDACTED", last.get("Authorization"))
        os.environ["AWS_BEARER_TOKEN_BEDROCK"] = "bedrock-api-key-not-registered"
        c = boto3.session.Session().client("bedrock-runtime", region_name="ap-southeast-2",
                                           endpoint_url=emu.http_url)
        expect_error(lambda: invoke(c, AU_SONNET), "AccessDeniedException", 403,
                     "Authentication failed")
    finally:
        del os.environ["AWS_BEARER_TOKEN_BEDROCK"]


# --------------------------------------------------------------------------
# Faults and retries
# --------------------------------------------------------------------------

@test
def throttle_twice_then_success():
    emu.reset()
    emu.fault(fault="throttle", count=2)
    response, message = invoke(client(), AU_SONNET)
    check(answer_text(message) == "You said: Hello emulator", message)
    check(response["ResponseMetadata"]["RetryAttempts"] == 2, response["ResponseMetadata"])
    stats = emu.stats()
    check(stats["requests"] == 3, "emulator counted %d requests" % stats["requests"])
    check(stats["by_status"] == {"429": 2, "200": 1}, stats["by_status"])


@test
def throttle_error_shape():
    emu.fault(fault="throttle")
    c = client(config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    expect_error(lambda: invoke(c, AU_SONNET), "ThrottlingException", 429,
                 "Too many requests, please wait before trying again.")


@test
def server_error_is_retried():
    emu.fault(fault="error", status=500)
    response, _ = invoke(client(), AU_SONNET)
    check(response["ResponseMetadata"]["RetryAttempts"] == 1, response["ResponseMetadata"])
    emu.fault(fault="error", status=503)
    c = client(config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    expect_error(lambda: invoke(c, AU_SONNET), "ServiceUnavailableException", 503,
                 "Bedrock is unable to process your request.")


@test
def connection_reset_is_retried():
    emu.reset()
    emu.fault(fault="reset")
    response, message = invoke(client(), AU_SONNET)
    check(answer_text(message) == "You said: Hello emulator", message)
    check(response["ResponseMetadata"]["RetryAttempts"] == 1, response["ResponseMetadata"])
    check(emu.stats()["by_status"].get("reset") == 1, emu.stats()["by_status"])


@test
def truncated_body_is_detected():
    emu.fault(fault="truncated")
    response = client().invoke_model(modelId=AU_SONNET, body=messages_body("hi"))
    try:
        response["body"].read()
    except Exception as error:                      # botocore's IncompleteReadError
        check("read" in type(error).__name__.lower() or "incomplete" in str(error).lower(),
              repr(error))
        return
    raise AssertionError("short body read without error")


@test
def slow_and_malformed_bodies():
    emu.fault(fault="slow_body", delay_ms=300)
    started = time.monotonic()
    _, message = invoke(client(), AU_SONNET)
    check(time.monotonic() - started >= 0.3, "slow body was fast")
    check(answer_text(message) == "You said: Hello emulator", message)
    emu.fault(fault="malformed")
    response = client().invoke_model(modelId=AU_SONNET, body=messages_body("hi"))
    try:
        json.loads(response["body"].read())
        raise AssertionError("malformed body parsed")
    except ValueError:
        pass


@test
def latency_config_and_fault():
    emu.control("POST", "/_emulator/config", {"latency_ms": 150})
    try:
        started = time.monotonic()
        invoke(client(), AU_SONNET)
        check(time.monotonic() - started >= 0.15, "latency_ms not applied")
    finally:
        emu.control("POST", "/_emulator/config", {"latency_ms": 0})


# --------------------------------------------------------------------------
# Other operations
# --------------------------------------------------------------------------

@test
def response_stream_reassembles():
    c = client()
    text = "Stream me these several words please, all of them"
    _, message = invoke(c, AU_SONNET, text)
    response = c.invoke_model_with_response_stream(modelId=AU_SONNET, body=messages_body(text))
    events = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    deltas = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    check(len(deltas) > 1, "expected several deltas, got %d" % len(deltas))
    check("".join(deltas) == answer_text(message), deltas)
    check([e["type"] for e in events][0] == "message_start", events[0])
    check(events[-1]["type"] == "message_stop"
          and events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"]
          == message["usage"]["output_tokens"], events[-1])


@test
def response_stream_exception_event():
    emu.fault(fault="stream_exception", error_type="throttlingException")
    response = client().invoke_model_with_response_stream(modelId=AU_SONNET,
                                                          body=messages_body("a b c d e f"))
    try:
        for _ in response["body"]:
            pass
    except EventStreamError as error:
        check(error.response["Error"]["Code"] == "throttlingException", error.response)
        return
    raise AssertionError("no exception event raised")


@test
def converse_and_converse_stream():
    c = client()
    response = c.converse(modelId=AU_SONNET,
                          messages=[{"role": "user", "content": [{"text": "Hi there"}]}],
                          system=[{"text": "Be brief."}], inferenceConfig={"maxTokens": 50})
    check(response["output"]["message"]["content"][0]["text"] == "You said: Hi there", response)
    check(response["stopReason"] == "end_turn", response["stopReason"])
    check(response["usage"]["totalTokens"] == response["usage"]["inputTokens"]
          + response["usage"]["outputTokens"], response["usage"])
    stream = c.converse_stream(modelId=AU_SONNET,
                               messages=[{"role": "user", "content": [{"text": "Hi there"}]}])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in stream["stream"]
                   if "contentBlockDelta" in e)
    check(text == "You said: Hi there", text)
    tool = {"toolSpec": {"name": "pick", "inputSchema": {"json": {
        "type": "object", "properties": {"colour": {"enum": ["red", "green"]}}}}}}
    response = c.converse(modelId=AU_SONNET,
                          messages=[{"role": "user", "content": [{"text": "I like green"}]}],
                          toolConfig={"tools": [tool], "toolChoice": {"tool": {"name": "pick"}}})
    use = response["output"]["message"]["content"][0]["toolUse"]
    check(use["input"] == {"colour": "green"} and response["stopReason"] == "tool_use", response)


@test
def count_tokens_both_shapes():
    c = client()
    body = messages_body("Hello emulator")
    response = c.count_tokens(modelId=SONNET45_BASE, input={"invokeModel": {"body": body}})
    _, message = invoke(c, AU_SONNET)
    check(response["inputTokens"] == message["usage"]["input_tokens"], response)
    response = c.count_tokens(modelId=SONNET45_BASE, input={"converse": {
        "messages": [{"role": "user", "content": [{"text": "Hello emulator"}]}]}})
    check(response["inputTokens"] == 4, response)
    expect_error(lambda: c.count_tokens(modelId=AU_SONNET, input={"invokeModel": {"body": body}}),
                 "ValidationException", 400, "doesn't support counting tokens")


# --------------------------------------------------------------------------
# A misbehaving model, prompt caching, limits
# --------------------------------------------------------------------------

@test
def misbehaviour_faults():
    emu.reset()
    c = client()
    ask = dict(tools=CLASSIFY_TOOLS, tool_choice=FORCE_CLASSIFY)
    emu.fault(fault="off_schema")
    _, message = invoke(c, AU_SONNET, "an outage", **ask)
    check(message["content"][0]["input"] == {"label": "not-a-label"}, message)
    _, message = invoke(c, AU_SONNET, "an outage", **ask)
    check(message["content"][0]["input"] == {"label": "outage"}, "fault lasted: %s" % message)
    emu.fault(fault="no_tool")
    _, message = invoke(c, AU_SONNET, "an outage", **ask)
    check(message["content"] == [{"type": "text", "text": "I'd rather not use the tool."}]
          and message["stop_reason"] == "end_turn", message)
    emu.fault(fault="wrong_tool", count=2)
    _, message = invoke(c, AU_SONNET, "an outage", **ask)
    check(message["content"][0]["name"] == "other_tool"
          and message["stop_reason"] == "tool_use", message)
    response = c.invoke_model_with_response_stream(modelId=AU_SONNET,
                                                   body=messages_body("an outage", **ask))
    events = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    check(events[1]["content_block"]["name"] == "other_tool", events[1])
    stats = emu.stats()
    check(stats["faults_applied"] == 4 and stats["faults_pending"] == 0, stats)
    recent = emu.control("GET", "/_emulator/requests?n=2")["requests"]
    check([r["fault"] for r in recent] == ["wrong_tool", "wrong_tool"], recent)


LONG_SYSTEM = "You sort support tickets for ACME. " * 150          # 5250 characters


@test
def prompt_caching_invoke_model():
    emu.reset()
    c = client()
    system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    ask = dict(system=system, tools=CLASSIFY_TOOLS, tool_choice=FORCE_CLASSIFY)
    total = c.count_tokens(modelId=SONNET45_BASE, input={"invokeModel": {
        "body": messages_body("the outage", **ask)}})["inputTokens"]
    response, first = invoke(c, AU_SONNET, "the outage", **ask)
    usage = first["usage"]
    prefix = usage["cache_creation_input_tokens"]
    check(prefix >= 1024 and usage["cache_read_input_tokens"] == 0, usage)
    check(usage["input_tokens"] + prefix == total and usage["input_tokens"] == 3, (usage, total))
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    check(headers["x-amzn-bedrock-cache-write-input-token-count"] == str(prefix)
          and headers["x-amzn-bedrock-cache-read-input-token-count"] == "0"
          and headers["x-amzn-bedrock-input-token-count"] == "3", headers)
    _, second = invoke(c, AU_SONNET, "a billing question", **ask)
    check(second["usage"]["cache_read_input_tokens"] == prefix
          and second["usage"]["cache_creation_input_tokens"] == 0, second["usage"])
    stats = emu.stats()
    check(stats["cache_writes"] == 1 and stats["cache_reads"] == 1, stats)
    entries = emu.control("GET", "/_emulator/cache")["entries"]
    check(len(entries) == 1 and entries[0]["tokens"] == prefix
          and entries[0]["model"] == SONNET45_BASE and entries[0]["region"] == "ap-southeast-2",
          entries)
    # The stream reports it in message_start and in the invocation metrics.
    response = c.invoke_model_with_response_stream(modelId=AU_SONNET,
                                                   body=messages_body("x", **ask))
    events = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    check(events[0]["message"]["usage"]["cache_read_input_tokens"] == prefix, events[0])
    check(events[-1]["amazon-bedrock-invocationMetrics"]["cacheReadInputTokenCount"] == prefix,
          events[-1])
    emu.reset()
    check(emu.stats()["cache_reads"] == 0
          and emu.control("GET", "/_emulator/cache")["entries"] == [], "reset kept the cache")
    _, third = invoke(c, AU_SONNET, "the outage", **ask)
    check(third["usage"]["cache_creation_input_tokens"] == prefix, third["usage"])
    # Below the model's minimum: accepted, nothing cached.
    short = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    _, message = invoke(c, AU_SONNET, "hi", system=short)
    check(message["usage"]["cache_creation_input_tokens"] == 0
          and message["usage"]["cache_read_input_tokens"] == 0, message["usage"])
    emu.control("DELETE", "/_emulator/cache")
    _, fourth = invoke(c, AU_SONNET, "the outage", **ask)
    check(fourth["usage"]["cache_creation_input_tokens"] == prefix, "DELETE kept the cache")


@test
def prompt_caching_converse_and_refusals():
    emu.reset()
    c = client()
    kwargs = dict(modelId=AU_SONNET,
                  system=[{"text": LONG_SYSTEM}, {"cachePoint": {"type": "default"}}],
                  messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    first = c.converse(**kwargs)["usage"]
    second = c.converse(**kwargs)["usage"]
    check(first["cacheWriteInputTokens"] > 1024 and first["cacheReadInputTokens"] == 0, first)
    # ceil(5252 / 4) - ceil(5250 / 4): the uncached rest rounds to 0 here.
    check(second["cacheReadInputTokens"] == first["cacheWriteInputTokens"] == 1313
          and second["inputTokens"] == first["inputTokens"] == 0, second)
    check(second["totalTokens"] == 1313 + second["outputTokens"], second)
    # Models without prompt caching refuse cache_control (InvokeModel: 400).
    system = [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]
    expect_error(lambda: invoke(c, HAIKU3, system=system), "ValidationException", 400,
                 "You invoked an unsupported model or your request did not allow prompt "
                 "caching. See the documentation for more information.")
    expect_error(lambda: c.converse(**dict(kwargs, modelId=HAIKU3)), "AccessDeniedException", 403,
                 "You invoked an unsupported model")
    expect_error(lambda: invoke(c, AU_SONNET, system=[dict(system[0]) for _ in range(5)]),
                 "ValidationException", 400,
                 "A maximum of 4 blocks with cache_control may be provided. Found 5.")


@test
def count_tokens_matches_invoke_model():
    c = client()
    extra = dict(system="Sort tickets.", tools=CLASSIFY_TOOLS, tool_choice=FORCE_CLASSIFY)
    body = messages_body("my invoice is wrong", **extra)
    counted = c.count_tokens(modelId=SONNET45_BASE, input={"invokeModel": {"body": body}})
    _, message = invoke(c, AU_SONNET, "my invoice is wrong", **extra)
    check(counted["inputTokens"] == message["usage"]["input_tokens"], (counted, message["usage"]))
    converse = c.count_tokens(modelId=SONNET45_BASE, input={"converse": {
        "system": [{"text": "Sort tickets."}],
        "messages": [{"role": "user", "content": [{"text": "my invoice is wrong"}]}],
        "toolConfig": {"tools": [{"toolSpec": {
            "name": "classify", "description": "Pick the label.",
            "inputSchema": {"json": CLASSIFY_TOOLS[0]["input_schema"]}}}]}}})
    check(converse["inputTokens"] == counted["inputTokens"], (converse, counted))
    # Bodies boto3 would not send: not base64, not JSON, no body.
    malformed = "Malformed input request, please reformat your input and try again."
    for payload in ({"input": {"invokeModel": {"body": "{not base64!}"}}},
                    {"input": {"invokeModel": {"body": base64.b64encode(b"not json").decode()}}}):
        status, code, answer = raw_post(SONNET45_BASE, "count-tokens", json.dumps(payload))
        check((status, code, answer) == (400, "ValidationException", {"message": malformed}),
              (status, code, answer))
    status, code, answer = raw_post(SONNET45_BASE, "count-tokens",
                                    json.dumps({"input": {"invokeModel": {}}}))
    check(status == 400 and code == "ValidationException"
          and "'input.invokeModel.body'" in answer["message"], answer)
    too_long = messages_body("x" * 800004)
    expect_error(lambda: c.count_tokens(modelId=SONNET45_BASE, input={"invokeModel": {
        "body": too_long}}), "ValidationException", 400,
        "prompt is too long: 200001 tokens > 200000 maximum")


@test
def context_window_and_body_size():
    c = client()
    text = "x" * 800004                               # 200,001 tokens
    expect_error(lambda: invoke(c, AU_SONNET, text), "ValidationException", 400,
                 "Input is too long for requested model.")
    expect_error(lambda: c.converse(modelId=AU_SONNET, messages=[
        {"role": "user", "content": [{"text": text}]}]), "ValidationException", 400,
        "The model returned the following errors: Input is too long for requested model.")
    _, message = invoke(c, AU_SONNET, "x" * 800000)   # exactly 200,000: accepted
    check(message["usage"]["input_tokens"] == 200000, message["usage"])
    huge = messages_body("y" * 25000000)
    error = expect_error(lambda: c.invoke_model(modelId=AU_SONNET, body=huge),
                         "ValidationException", 400)
    check(error.response["Error"]["Message"] ==
          "1 validation error detected: Value at 'body' failed to satisfy constraint: "
          "Member must have length less than or equal to 25000000", error.response["Error"])


@test
def one_connection_for_100_calls():
    emu.reset()
    c = client()
    for _ in range(100):
        invoke(c, AU_SONNET)
    stats = emu.stats()
    check(stats["requests"] == 100, stats["requests"])
    check(stats["connections"] == 1 and stats["bedrock_connections"] == 1,
          "connections=%d bedrock_connections=%d" % (stats["connections"],
                                                     stats["bedrock_connections"]))


@test
def stats_redact_secrets():
    invoke(client(akid=TEMP_AKID, secret=TEMP_SECRET, token=TEMP_TOKEN), AU_SONNET)
    headers = emu.stats()["last_request"]["headers"]
    check(headers["X-Amz-Security-Token"] == "REDACTED", headers)
    check(headers["Authorization"].endswith("Signature=REDACTED"), headers["Authorization"])


TIMING_CALLS = 1000


@test
def sequential_throughput():
    c = client()
    invoke(c, AU_SONNET)
    started = time.monotonic()
    for _ in range(TIMING_CALLS):
        invoke(c, AU_SONNET)
    elapsed = time.monotonic() - started
    print("# %d sequential invoke_model calls took %.2f s (%.2f ms each)"
          % (TIMING_CALLS, elapsed, 1000 * elapsed / TIMING_CALLS))
    check(elapsed < TIMING_CALLS * 0.01, "%.2f s: Nagle/delayed-ACK stall?" % elapsed)


# --------------------------------------------------------------------------

def main():
    global emu, TIMING_CALLS
    if "--timing" in sys.argv:
        TIMING_CALLS = int(sys.argv[sys.argv.index("--timing") + 1])
    clean_environment()
    passed = failed = 0
    with EmulatorProcess() as emu:
        for function in TESTS:
            name = function.__name__
            try:
                function()
            except Exception as error:              # report and go on
                failed += 1
                reason = str(error) or type(error).__name__
                print("not ok - %s: %s" % (name, reason.replace("\n", " ")))
                if os.environ.get("VERBOSE"):
                    traceback.print_exc()
            else:
                passed += 1
                print("ok - %s" % name)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
