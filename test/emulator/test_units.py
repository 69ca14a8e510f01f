#!/usr/bin/env python3
"""Unit checks of the emulator's building blocks against published test data.

    python3 test/emulator/test_units.py

* emu_sigv4 against the AWS SigV4 test suite (shared/data/sigv4-testsuite/v4):
  for every case the canonical request, the string to sign and the verdict
  are checked separately, with the case's own clock;
* emu_eventstream against the aws-sdk-go event-stream vectors
  (shared/data/eventstream-testdata): positive cases encode byte for byte and
  decode back, negative cases are rejected;
* emu_catalogue and emu_claude: the model table and the answer rules
  (classification, multi-label, sentiment, extraction, summaries), faults
  that make the model misbehave, token counting and CountTokens bodies;
* emu_cache: prompt caching (breakpoints, minimum length, expiry, TTL split);
* the facts-based catalogue, model traits, structured output, thinking
  blocks, the control-plane listings and the TPM reservations;
* emu_batch: routes, request checks, idempotency and one job's output;
* emu_identity and emu_credentials: routing of the credential endpoints,
  STS parameter checks and XML, issuing and expiring credentials.

Prints ``ok - name`` / ``not ok - name: reason`` and then ``N passed, M failed``.
No network, no boto3.
"""

import base64
import calendar
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bedrock_emulator as emulator          # noqa: E402
import emu_cache                             # noqa: E402
import emu_catalogue as catalogue            # noqa: E402
import emu_claude as claude                  # noqa: E402
import emu_credentials as credentials        # noqa: E402
import emu_eventstream as eventstream        # noqa: E402
import emu_identity as identity              # noqa: E402
import emu_sigv4 as sigv4                    # noqa: E402

# AWS's published test data, vendored beside the tests (testdata/); the
# environment variable points at another copy of the same layout.
SHARED = os.environ.get("PG_CLAUDE_SHARED_DATA", os.path.join(HERE, "testdata"))
RESULTS = []


def record(name, error=None):
    RESULTS.append(error is None)
    print("ok - %s" % name if error is None else "not ok - %s: %s" % (name, error))


def run(name, function, *args):
    try:
        function(*args)
    except Exception as error:                  # report and go on
        record(name, str(error) or type(error).__name__)
    else:
        record(name)


def read(path, mode="r"):
    with open(path, mode) as handle:
        return handle.read()


# --------------------------------------------------------------------------
# SigV4 test suite
# --------------------------------------------------------------------------

def parse_http_request(text):
    """'METHOD PATH HTTP/1.1' + 'Name:value' lines + blank line + body."""
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    first = lines[0].split(" ")
    method, target = first[0], " ".join(first[1:-1])
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:         # folded continuation
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    path, _, query = target.partition("?")
    return method, path, query, headers, body.encode("utf-8")


def sigv4_case(case_dir):
    context = json.loads(read(os.path.join(case_dir, "context.json")))
    creds = context["credentials"]
    # "omit_session_token": the token is sent but left out of the signature.
    credential = sigv4.Credential(creds["access_key_id"], creds["secret_access_key"],
                                  creds.get("token"))
    now = calendar.timegm(time.strptime(context["timestamp"], "%Y-%m-%dT%H:%M:%SZ"))
    method, path, query, headers, body = parse_http_request(
        read(os.path.join(case_dir, "header-signed-request.txt")))
    verified = sigv4.verify(method, path, query, headers, body,
                            lambda akid: credential if akid == credential.access_key_id else None,
                            now, service=context["service"], normalize=context["normalize"])
    expected_canonical = read(os.path.join(case_dir, "header-canonical-request.txt"))
    expected_sts = read(os.path.join(case_dir, "header-string-to-sign.txt"))
    if verified.canonical_request != expected_canonical:
        raise AssertionError("canonical request differs:\n%r\n%r"
                             % (verified.canonical_request, expected_canonical))
    if verified.string_to_sign != expected_sts:
        raise AssertionError("string to sign differs")


def sigv4_tamper_is_refused():
    """A vector with one changed header must fail with the AWS mismatch text."""
    case_dir = os.path.join(SHARED, "sigv4-testsuite", "v4", "get-vanilla")
    method, path, query, headers, body = parse_http_request(
        read(os.path.join(case_dir, "header-signed-request.txt")))
    headers = [(n, "other.amazonaws.com" if n.lower() == "host" else v) for n, v in headers]
    credential = sigv4.Credential("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    now = calendar.timegm((2015, 8, 30, 12, 36, 0))
    try:
        sigv4.verify(method, path, query, headers, body, lambda _: credential, now)
    except sigv4.AuthError as error:
        assert error.code == "InvalidSignatureException" and error.status == 403, error.code
        assert error.message == sigv4.MSG_SIGNATURE_MISMATCH
        return
    raise AssertionError("tampered request verified")


def sigv4_clock_window():
    credential = sigv4.Credential("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    case_dir = os.path.join(SHARED, "sigv4-testsuite", "v4", "get-vanilla")
    request = parse_http_request(read(os.path.join(case_dir, "header-signed-request.txt")))
    signed_at = calendar.timegm((2015, 8, 30, 12, 36, 0))
    sigv4.verify(*request, lambda _: credential, signed_at + 299)
    try:
        sigv4.verify(*request, lambda _: credential, signed_at + 600)
    except sigv4.AuthError as error:
        expected = ("Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z "
                    "(20150830T124600Z - 5 min.)")
        assert error.message == expected, error.message
        return
    raise AssertionError("10 minutes of skew accepted")


def sigv4_double_encoding():
    uri = sigv4.canonical_uri("/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke")
    assert uri == "/model/anthropic.claude-3-5-sonnet-20241022-v2%253A0/invoke", uri


def sigv4_s3_single_encoding():
    # S3: not normalised, encoded once (what the client sent, decoded once)
    uri = sigv4.canonical_uri("/bkt/a%20b//c/./d%2Be~f%E6%97%A5", normalize=False, s3=True)
    assert uri == "/bkt/a%20b//c/./d%2Be~f%E6%97%A5", uri
    # a client that left '~' or ':' unencoded is canonicalised the same way
    uri = sigv4.canonical_uri("/bkt/x~y:z", normalize=False, s3=True)
    assert uri == "/bkt/x~y%3Az", uri


# --------------------------------------------------------------------------
# Event stream vectors
# --------------------------------------------------------------------------

def header_from_json(item):
    value = item["value"]
    if item["type"] in (eventstream.STRING,):
        value = base64.b64decode(value).decode("utf-8")
    elif item["type"] in (eventstream.BYTE_ARRAY, eventstream.UUID):
        value = base64.b64decode(value)
    elif item["type"] == 2 and value > 127:
        value -= 256
    return eventstream.Header(item["name"], item["type"], value)


def eventstream_positive(name):
    encoded = read(os.path.join(SHARED, "eventstream-testdata", "encoded", "positive", name), "rb")
    decoded = json.loads(read(os.path.join(SHARED, "eventstream-testdata", "decoded", "positive",
                                           name)))
    headers = [header_from_json(item) for item in decoded["headers"]]
    payload = base64.b64decode(decoded["payload"]) if decoded["payload"] else b""
    ours = eventstream.encode_message(headers, payload)
    assert ours == encoded, "encoding differs"
    got_headers, got_payload, used = eventstream.decode_message(encoded)
    assert used == len(encoded) and got_payload == payload
    assert [h.name for h in got_headers] == [h.name for h in headers]
    assert (decoded["message_crc"] & 0xFFFFFFFF) == int.from_bytes(encoded[-4:], "big")


def eventstream_negative(name):
    data = read(os.path.join(SHARED, "eventstream-testdata", "encoded", "negative", name), "rb")
    try:
        eventstream.decode_message(data)
    except eventstream.EventStreamError:
        return
    raise AssertionError("corrupted message decoded")


def eventstream_bedrock_example():
    data = read(os.path.join(SHARED, "eventstream-examples", "bedrock_chunk_message_stop.bin"), "rb")
    [(headers, payload)] = eventstream.decode_all(data)
    assert eventstream.event_message(headers[":event-type"], payload) == data, "framing differs"


# --------------------------------------------------------------------------
# Catalogue and answers
# --------------------------------------------------------------------------

def expect_model_error(model_id, region, text):
    try:
        catalogue.resolve(model_id, region)
    except catalogue.ModelError as error:
        assert text in error.message, error.message
        return
    raise AssertionError("%s accepted in %s" % (model_id, region))


def catalogue_rules():
    target = catalogue.resolve("au.anthropic.claude-haiku-4-5-20251001-v1:0", "ap-southeast-2")
    assert target.kind == "profile" and target.geography == "au"
    assert catalogue.resolve("anthropic.claude-3-haiku-20240307-v1:0", "ap-southeast-2").kind == "base"
    expect_model_error("anthropic.claude-sonnet-4-5-20250929-v1:0", "ap-southeast-2",
                       "with on-demand throughput isn\u2019t supported")
    expect_model_error("au.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-east-1",
                       catalogue.MSG_INVALID_ID)
    expect_model_error("arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
                       "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "ap-southeast-2",
                       catalogue.MSG_INVALID_ID)
    target = catalogue.resolve("arn:aws:bedrock:ap-southeast-2:123456789012:"
                               "application-inference-profile/abc123", "ap-southeast-2")
    assert target.kind == "application-profile" and target.geography == "au", target
    for region, entry in catalogue.CATALOGUE.items():
        for base in entry["on_demand"] + [b for v in entry["profiles"].values() for b in v]:
            assert base in catalogue.MODELS, "%s: unknown base %s" % (region, base)


def body(text, **extra):
    value = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
             "messages": [{"role": "user", "content": text}]}
    value.update(extra)
    return value


def answer(text, **extra):
    completion = claude.complete(claude.validate_invoke_body(json.dumps(body(text, **extra))),
                                 "model-x", "claude-x")
    return completion


def claude_rules():
    assert answer("Hi").text == "You said: Hi"
    assert answer("SUMMARIZE: One two three four five six seven eight nine ten eleven "
                  "twelve thirteen. Next.").text == \
        "Summary: One two three four five six seven eight nine ten eleven twelve"
    assert answer("Summarize this text without a colon").text.startswith("You said: ")
    assert answer("REPEAT SYSTEM", system=[{"type": "text", "text": "A"},
                                           {"type": "text", "text": "B"}]).text == "AB"
    completion = answer("SLEEP 25 REPEAT PARAMS")
    assert completion.sleep_ms == 25
    assert json.loads(completion.text) == {"model": "model-x", "max_tokens": 100,
                                           "temperature": None, "has_system": False,
                                           "anthropic_version": "bedrock-2023-05-31"}
    completion = answer("a b c d e", max_tokens=2)
    assert (completion.text, completion.stop_reason, completion.output_tokens) == \
        ("You said:", "max_tokens", 2)
    assert answer("x" * 17).input_tokens == 5
    assert claude.split_deltas("  a b  c d e f g ") and \
        "".join(claude.split_deltas("  a b  c d e f g ")) == "  a b  c d e f g "


def claude_validation():
    cases = [
        ({"anthropic_version": "bedrock-2023-05-31", "messages": []},
         "Malformed input request: #: required key [max_tokens] not found"
         "#/messages: expected minimum item count: 1, found: 0, "
         "please reformat your input and try again."),
        (body("x", max_tokens=0), "#/max_tokens: 0 is not greater or equal to 1"),
        (body("x", anthropic_version="bedrock-2099-01-01"), "is not a valid enum value"),
        (body("x", stream=True), "#: extraneous key [stream] is not permitted"),
        (body("x", max_tokens=999999), "maximum allowed number of output tokens"),
    ]
    for value, text in cases:
        try:
            claude.validate_invoke_body(json.dumps(value), 4096)
        except claude.BodyError as error:
            assert text in error.message, error.message
            continue
        raise AssertionError("accepted %s" % value)


# --------------------------------------------------------------------------
# Forced tool use: the rules the SQL tests rely on
# --------------------------------------------------------------------------

def tool_answer(text, schema, misbehave=None, **extra):
    """The tool_use (or text) block answering ``text`` with one forced tool."""
    value = body(text, tools=[{"name": "answer", "description": "d", "input_schema": schema}],
                 tool_choice={"type": "tool", "name": "answer"}, **extra)
    completion = claude.complete(claude.validate_invoke_body(json.dumps(value)),
                                 "model-x", "claude-x", misbehave)
    return completion, completion.content[0]


def tool_input(text, schema, **extra):
    completion, block = tool_answer(text, schema, **extra)
    assert completion.stop_reason == "tool_use" and block["type"] == "tool_use", block
    return block["input"]


LABELS = {"type": "object", "required": ["label"],
          "properties": {"label": {"type": "string", "enum": ["other", "billing", "outage"]}}}
MULTI = {"type": "object", "required": ["labels"], "properties": {"labels": {
    "type": "array", "items": {"type": "string", "enum": ["urgent", "refund", "vip"]}}}}
SCORE = {"type": "object", "required": ["score"],
         "properties": {"score": {"type": "number", "minimum": -1, "maximum": 1}}}


def rules_classification():
    assert tool_input("The OUTAGE took billing down", LABELS) == {"label": "billing"}, \
        "first in enum order, not in text order; case-insensitive"
    assert tool_input("The site is down", LABELS) == {"label": "other"}, "none: the first label"
    assert tool_input("rebilling", LABELS) == {"label": "billing"}, "substring match"
    # Label descriptions in the system prompt (and the tool's description)
    # never count: only the last user message.
    system = "Labels: billing means invoices and payments; outage means the service is down."
    assert tool_input("My invoice is wrong", LABELS, system=system) == {"label": "other"}
    assert tool_input("My invoice is wrong", LABELS,
                      system=[{"type": "text", "text": system}]) == {"label": "other"}
    assert tool_input("an outage", LABELS, system=system) == {"label": "outage"}
    # Only the LAST user message counts.
    history = [{"role": "user", "content": "billing"}, {"role": "assistant", "content": "ok"},
               {"role": "user", "content": [{"type": "text", "text": "nothing to see"}]}]
    assert tool_input("x", LABELS, messages=history) == {"label": "other"}


def rules_multi_label():
    assert tool_input("VIP customer, urgent!", MULTI) == {"labels": ["urgent", "vip"]}, \
        "every label mentioned, in enum order"
    assert tool_input("nothing here", MULTI) == {"labels": ["urgent"]}, "none: the first label"
    schema = json.loads(json.dumps(MULTI))
    schema["properties"]["labels"]["minItems"] = 2
    assert tool_input("a refund", schema) == {"labels": ["refund", "urgent"]}, \
        "padded to minItems with unmentioned labels in enum order"


def rules_sentiment():
    assert tool_input("Great service, I love it", SCORE) == {"score": 1}
    assert tool_input("terrible and slow", SCORE) == {"score": -1}
    assert tool_input("good but slow and broken", SCORE) == {"score": -0.3333}, "(1-2)/3, 4 places"
    assert tool_input("It arrived on Tuesday", SCORE) == {"score": 0}
    assert tool_input("Good, good, bad", SCORE) == {"score": 0.3333}, "every occurrence counts"
    assert tool_input("not good", SCORE) == {"score": 1}, "no negation handling"
    assert tool_input("don't hate it", SCORE) == {"score": -1}, "words are runs of [a-z']"
    # Other score-like names and ranges are mapped linearly, integers half-up.
    rating = {"type": "object", "properties": {"rating": {"type": "integer", "minimum": 1,
                                                          "maximum": 5}}}
    assert tool_input("good", rating) == {"rating": 5}
    assert tool_input("good bad", rating) == {"rating": 3}
    assert tool_input("bad", rating) == {"rating": 1}
    assert tool_input("good good bad", rating) == {"rating": 4}, "1 + (1/3+1)/2*4 = 3.67 -> 4"
    assert claude.POSITIVE_WORDS.isdisjoint(claude.NEGATIVE_WORDS)


def rules_extraction():
    schema = {"type": "object", "required": ["name", "age"], "properties": {
        "name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 130},
        "height_m": {"type": "number"}, "email": {"type": ["string", "null"]},
        "vip": {"type": "boolean"}, "country": {"type": "string", "default": "AU"},
        "address": {"type": "object", "required": ["city"], "properties": {
            "city": {"type": "string"}, "postcode": {"type": "integer"}}},
        "tags": {"type": "array", "items": {"type": "string"}}}}
    text = "Name: Alice Smith, age: 42 years, height m: 1.7; vip: yes\ncity: Paris, tags: x"
    assert tool_input(text, schema) == {
        "name": "Alice Smith", "age": 42, "height_m": 1.7, "email": None, "vip": True,
        "country": "AU", "address": {"city": "Paris", "postcode": 0}, "tags": ["x"]}, \
        tool_input(text, schema)
    # Unlabelled: strings get the whole text, numbers 0 within bounds.
    assert tool_input("nobody here", schema)["name"] == "nobody here"
    assert tool_input("age: 200", schema)["age"] == 130, "labelled numbers are clamped"
    assert tool_input("age: 42.9", schema)["age"] == 42, "integers truncate"
    assert tool_input("age=7", schema)["age"] == 7, "'name = value' works too"
    # Required properties missing from "properties" get the text.
    value = tool_input("hello", {"type": "object", "required": ["x"], "properties": {}})
    assert value == {"x": "hello"}, value


def rules_summaries():
    assert answer("Summarize: The quick brown fox jumps. It runs away.").text == \
        "Summary: The quick brown fox jumps."
    text = ("Summarise these 3 reviews:\n- The fox jumps over the dog. Then it sleeps.\n"
            "  - Second review here.\nnot an item\n- Third")
    assert answer(text).text == "Summary of 3 items: The fox jumps over the dog.", answer(text).text
    staged = "summarize these summaries:\n- Summary of 3 items: A. B.\n- Summary: C."
    assert answer(staged).text == "Summary of 2 items: Summary of 3 items: A.", answer(staged).text
    assert answer("Summarize these: no items").text == "Summary: no items", \
        "no '- ' lines: the ordinary rule"
    assert answer("Summarize these").text == "You said: Summarize these"


def misbehaviour_faults():
    for kind in claude.MISBEHAVIOURS:
        emulator.Fault.from_json({"fault": kind, "count": 2})
    # off_schema: enums, bounds, arrays of enum.
    schema = {"type": "object", "required": ["label", "score", "tags", "n"], "properties": {
        "label": {"type": "string", "enum": ["a", "not-a-label"]},
        "score": {"type": "number", "minimum": -1, "maximum": 1},
        "n": {"type": "integer", "minimum": 3},
        "tags": {"type": "array", "items": {"enum": ["x", "y"]}},
        "name": {"type": "string"}}}
    completion, block = tool_answer("x name: Bo", schema, "off_schema")
    assert completion.stop_reason == "tool_use" and block["name"] == "answer", block
    assert block["input"] == {"label": "not-a-label-x", "score": 2, "n": 2,
                              "tags": ["x", "not-a-label"], "name": "Bo"}, block["input"]
    # ... no enum and no bounds: the first required property is left out ...
    plain = {"type": "object", "required": ["b", "a"],
             "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}
    assert tool_answer("a: 1, b: 2", plain, "off_schema")[1]["input"] == {"a": "1"}
    # ... and with nothing required, the first property gets the wrong type.
    plain["required"] = []
    assert tool_answer("a: 1, b: 2", plain, "off_schema")[1]["input"] == {"a": 0, "b": "2"}
    assert tool_answer("x", LABELS, "off_schema")[1]["input"] == {"label": "not-a-label"}
    # no_tool and wrong_tool.
    completion, block = tool_answer("billing", LABELS, "no_tool")
    assert block == {"type": "text", "text": claude.NO_TOOL_TEXT} and \
        completion.stop_reason == "end_turn" and block["text"] == "I'd rather not use the tool."
    completion, block = tool_answer("billing", LABELS, "wrong_tool")
    assert block["type"] == "tool_use" and block["name"] == "other_tool" and \
        block["input"] == {"label": "billing"} and completion.stop_reason == "tool_use", block
    # Without a forced tool the answer is the ordinary one.
    completion = claude.complete(claude.validate_invoke_body(json.dumps(body("Hi"))),
                                 "m", "c", "no_tool")
    assert completion.text == "You said: Hi"


# --------------------------------------------------------------------------
# Tokens, CountTokens bodies, prompt caching
# --------------------------------------------------------------------------

def token_counting():
    tool = {"name": "t", "description": "dd", "input_schema": {"type": "object", "b": 1, "a": "é"}}
    assert claude.tool_text(tool) == 't' 'dd' '{"a":"é","b":1,"type":"object"}'
    value = body("x" * 10, system="s" * 7, tools=[tool])
    expected = -(-(10 + 7 + len(claude.tool_text(tool))) // 4)
    assert claude.count_input_tokens(value) == expected
    marked = json.loads(json.dumps(value))
    marked["tools"][0]["cache_control"] = {"type": "ephemeral"}
    assert claude.count_input_tokens(marked) == expected, "cache_control does not count"
    # A Converse request counts as the InvokeModel body it maps to.
    converse = {"system": [{"text": "s" * 7}, {"cachePoint": {"type": "default"}}],
                "messages": [{"role": "user", "content": [{"text": "x" * 10}]}],
                "toolConfig": {"tools": [
                    {"toolSpec": {"name": "t", "description": "dd",
                                  "inputSchema": {"json": tool["input_schema"]}}},
                    {"cachePoint": {"type": "default"}}]}}
    mapped = claude.converse_to_messages(converse)
    assert claude.count_input_tokens(mapped) == expected
    assert mapped["system"] == [{"type": "text", "text": "s" * 7,
                                 "cache_control": {"type": "ephemeral"}}], mapped["system"]
    assert mapped["tools"][0]["cache_control"] == {"type": "ephemeral"}


def cache_control_validation():
    def refused(value, text):
        try:
            claude.validate_invoke_body(json.dumps(value))
        except claude.BodyError as error:
            assert error.message == text, error.message
            return
        raise AssertionError("accepted")

    block = {"type": "text", "text": "t", "cache_control": {"type": "ephemeral"}}
    refused(body([dict(block)] * 5), "A maximum of 4 blocks with cache_control may be provided. "
                                     "Found 5.")
    refused(body([dict(block, cache_control={"type": "persistent"})]),
            "messages.0.content.0.cache_control.type: Input should be 'ephemeral'")
    refused(body("x", system=[dict(block, cache_control={"type": "ephemeral", "ttl": "2h"})]),
            "system.0.cache_control.ttl: Input should be '5m' or '1h'")
    claude.validate_invoke_body(json.dumps(body([dict(block)] * 4)))


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def cache_breakpoints_and_prompt_cache():
    tools = [{"name": "t", "description": "", "input_schema": {}}]
    value = body([{"type": "text", "text": "u" * 40, "cache_control": {"type": "ephemeral"}},
                  {"type": "text", "text": "tail"}],
                 system=[{"type": "text", "text": "s" * 400,
                          "cache_control": {"type": "ephemeral"}}],
                 tools=tools)
    points = claude.cache_breakpoints(value)
    tool_chars = len(claude.tool_text(tools[0]))
    assert [p.tokens for p in points] == [-(-(tool_chars + 400) // 4),
                                          -(-(tool_chars + 440) // 4)], points
    assert claude.count_input_tokens(value) == -(-(tool_chars + 444) // 4)
    other = json.loads(json.dumps(value))
    other["messages"][0]["content"][1]["text"] = "other tail"     # after the breakpoints
    assert [p.key for p in claude.cache_breakpoints(other)] == [p.key for p in points]
    other["system"][0]["text"] = "S" * 400
    assert claude.cache_breakpoints(other)[0].key != points[0].key

    clock = FakeClock()
    cache = emu_cache.PromptCache(clock)
    assert cache.use("r", "m", points, 1000) == (0, 0), "below the minimum: nothing cached"
    assert cache.describe() == []
    first, second = points[0].tokens, points[1].tokens
    assert cache.use("r", "m", points, 100) == (0, second), "first request writes"
    assert cache.use("r", "m", points, 100) == (second, 0), "identical prefix reads"
    assert cache.use("r", "other-model", points, 100) == (0, second), "per model"
    assert cache.use("other-region", "m", points, 100) == (0, second), "per region"
    assert cache.use("r", "m", points[:1], 100) == (first, 0), "a shorter prefix hits"
    changed = claude.cache_breakpoints(dict(value, messages=[{"role": "user", "content": [
        {"type": "text", "text": "v" * 40, "cache_control": {"type": "ephemeral"}}]}]))
    assert cache.use("r", "m", changed, 100) == (first, changed[1].tokens - first), \
        "the system prefix is read, the rest written"
    clock.now += 299
    assert cache.use("r", "m", points, 100) == (second, 0), "a hit refreshes the 5 minutes"
    clock.now += 300
    assert cache.use("r", "m", points, 100) == (0, second), "expired after 5 minutes"
    assert cache.clear() > 0 and cache.describe() == []
    hour = claude.cache_breakpoints(body([{"type": "text", "text": "x" * 800, "cache_control": {
        "type": "ephemeral", "ttl": "1h"}}]))
    assert hour[0].ttl_s == 3600
    cache.use("r", "m", hour, 100)
    clock.now += 3000
    assert cache.use("r", "m", hour, 100) == (200, 0)


def cache_accounting():
    completion = answer("Hi")
    total = completion.input_tokens
    claude.apply_cache(completion, 0, total)
    assert claude.usage(completion) == {"input_tokens": 0, "output_tokens": 3,
                                        "cache_creation_input_tokens": total,
                                        "cache_read_input_tokens": 0,
                                        "cache_creation": {"ephemeral_5m_input_tokens": total,
                                                           "ephemeral_1h_input_tokens": 0}}
    assert "cache_creation" not in claude.usage(answer("Hi"))
    assert completion.total_input_tokens == total
    metrics = claude.invocation_metrics(completion, 5, 3)
    assert metrics["cacheWriteInputTokenCount"] == total and metrics["inputTokenCount"] == 0
    assert "cacheReadInputTokenCount" not in claude.invocation_metrics(answer("Hi"), 5, 3)
    assert claude.converse_usage(completion)["totalTokens"] == total + 3


def catalogue_limits():
    for base in catalogue.MODELS:
        row = catalogue.MODEL_TABLE[base]
        assert row.context_window in (200000, 1000000), base
        assert catalogue.CACHE_MIN_TOKENS[base] in (None, 1024, 2048, 4096), base
        assert row.max_output <= 128000 and row.name.startswith("claude-"), base
        assert len(row.display_name) <= 20, row.display_name      # BrandedName max
    for base in ("anthropic.claude-3-haiku-20240307-v1:0",
                 "anthropic.claude-3-5-sonnet-20240620-v1:0",
                 "anthropic.claude-3-5-sonnet-20241022-v2:0"):
        assert catalogue.CACHE_MIN_TOKENS[base] is None, base
    assert catalogue.CACHE_MIN_TOKENS["anthropic.claude-sonnet-4-5-20250929-v1:0"] == 1024
    assert catalogue.CACHE_MIN_TOKENS["anthropic.claude-3-5-haiku-20241022-v1:0"] == 2048
    assert catalogue.CACHE_MIN_TOKENS["anthropic.claude-haiku-4-5-20251001-v1:0"] == 4096
    # from the facts: Sonnet 4.6's minimum and the 1M-token windows
    assert catalogue.CACHE_MIN_TOKENS["anthropic.claude-sonnet-4-6"] == 2048
    assert catalogue.CONTEXT_WINDOW["anthropic.claude-sonnet-5"] == 1000000
    assert catalogue.CONTEXT_WINDOW["anthropic.claude-sonnet-4-5-20250929-v1:0"] == 200000


# --------------------------------------------------------------------------
# Issue 13: facts, traits, control plane, token reservations
# --------------------------------------------------------------------------

def catalogue_from_facts():
    facts = catalogue.FACTS
    listed = [entry["model"] for entry in facts["models"]]
    for base in listed:
        assert base in catalogue.MODEL_TABLE, base
    sydney, melbourne = catalogue.CATALOGUE["ap-southeast-2"], catalogue.CATALOGUE["ap-southeast-4"]
    for entry in facts["models"]:
        routes = entry["sydney"] if isinstance(entry["sydney"], list) else ["au", "global"]
        for route in catalogue.ROUTES:
            bases = sydney["on_demand"] if route == "on_demand" else sydney["profiles"].get(route, [])
            assert (entry["model"] in bases) == (route in routes), (entry["model"], route)
        for route in entry.get("melbourne", ()):
            bases = (melbourne["on_demand"] if route == "on_demand"
                     else melbourne["profiles"][route])
            assert entry["model"] in bases, (entry["model"], "melbourne", route)
    sonnet5 = catalogue.MODEL_TABLE["anthropic.claude-sonnet-5"]
    assert (sonnet5.temperature, sonnet5.top_p, sonnet5.top_k) == (False, False, False)
    assert sonnet5.structured_output and sonnet5.name == "claude-sonnet-5"
    opus48 = catalogue.MODEL_TABLE["anthropic.claude-opus-4-8"]
    assert not opus48.temperature and not opus48.top_p, "api_facts.sampling: Opus 4.7+"
    assert opus48.thinking == "adaptive"
    for base in ("anthropic.claude-opus-5-5", "anthropic.claude-fable-5-1"):
        model = catalogue.MODEL_TABLE[base]
        assert not model.forced_tool_choice and model.thinking == "always_on", base
    assert not catalogue.MODEL_TABLE["anthropic.claude-fable-5-1"].structured_output
    assert catalogue.MODEL_TABLE["anthropic.claude-3-haiku-20240307-v1:0"].lifecycle == "LEGACY"
    assert catalogue.MODEL_TABLE["anthropic.claude-3-haiku-20240307-v1:0"].end_of_life is None
    # the models the facts do not list keep their routes and no traits
    old = catalogue.MODEL_TABLE["anthropic.claude-3-5-sonnet-20240620-v1:0"]
    assert old.thinking is None and old.temperature and not old.structured_output
    assert "anthropic.claude-3-5-sonnet-20240620-v1:0" in sydney["on_demand"]
    assert catalogue.geography_destinations("au", "ap-southeast-2") == [
        "ap-southeast-2", "ap-southeast-4"]
    assert catalogue.geography_destinations("global", "ap-southeast-2") == ["ap-southeast-2", ""]
    assert catalogue.geography_destinations("us", "us-east-1") == [
        "us-east-1", "us-east-2", "us-west-2"]


def catalogue_registration_and_reset():
    try:
        model = catalogue.register_model({
            "id": "anthropic.claude-unit-9", "temperature": False, "thinking": "none",
            "regions": {"ca-central-1": ["on_demand"], "ap-southeast-2": ["global"]}})
        assert model.name == "claude-unit-9" and model.display_name == "Claude Unit 9"
        assert "ca-central-1" in catalogue.regions()
        assert catalogue.resolve("anthropic.claude-unit-9", "ca-central-1").model is model
        assert catalogue.resolve("global.anthropic.claude-unit-9", "ap-southeast-2").kind == "profile"
        expect_model_error("anthropic.claude-unit-9", "ap-southeast-2", "on-demand throughput")
        for bad in ({"id": "au.anthropic.x-1"}, {"id": "anthropic.x-1", "colour": "red"},
                    {"id": "anthropic.x-1", "thinking": "sometimes"},
                    {"id": "anthropic.x-1", "max_output": "many"},
                    {"id": "anthropic.x-1", "regions": {"ap-southeast-2": ["nowhere"]}}):
            try:
                catalogue.register_model(bad)
                raise AssertionError("accepted %r" % bad)
            except ValueError:
                pass
        catalogue.register_model({"id": "anthropic.claude-unit-9", "end_of_life": "2001-01-01",
                                  "regions": {"ap-southeast-2": ["on_demand"]}})
        try:
            catalogue.resolve("anthropic.claude-unit-9", "ap-southeast-2")
            raise AssertionError("past end of life accepted")
        except catalogue.ModelError as error:
            assert error.status == 404 and error.code == "ResourceNotFoundException", error.code
        profile = catalogue.register_application_profile(
            "ap-southeast-2", "unit1", "anthropic.claude-sonnet-5", ["ap-southeast-2", "us-east-1"])
        assert catalogue.app_profile_destinations(profile) == (
            "anthropic.claude-sonnet-5", ["ap-southeast-2", "us-east-1"])
        target = catalogue.resolve("arn:aws:bedrock:ap-southeast-2:123456789012:"
                                   "application-inference-profile/unit1", "ap-southeast-2")
        assert target.kind == "application-profile" and target.anthropic_model == "claude-sonnet-5"
    finally:
        catalogue.reset()
    assert "anthropic.claude-unit-9" not in catalogue.MODEL_TABLE
    assert "ca-central-1" not in catalogue.regions()
    assert catalogue.app_profile("ap-southeast-2", "unit1") is None
    assert catalogue.app_profile("ap-southeast-2", "abc123") is not None


def expect_body_error(text, request, model):
    try:
        claude.check_traits(request, model)
    except claude.BodyError as error:
        assert text in error.message, error.message
        return
    raise AssertionError("accepted: %r" % request)


def trait_checks():
    table = catalogue.MODEL_TABLE
    opus47, sonnet5 = table["anthropic.claude-opus-4-7"], table["anthropic.claude-sonnet-5"]
    opus55, fable5 = table["anthropic.claude-opus-5-5"], table["anthropic.claude-fable-5"]
    sonnet45 = table["anthropic.claude-sonnet-4-5-20250929-v1:0"]
    expect_body_error("`temperature` is deprecated for this model.", body("x", temperature=1),
                      opus47)
    expect_body_error("`top_k` is deprecated", body("x", top_k=3), sonnet5)
    expect_body_error("`temperature` and `top_p` cannot both be specified",
                      body("x", temperature=1, top_p=0.5), sonnet45)
    claude.check_traits(body("x", temperature=1), sonnet45)
    claude.check_traits(body("x", temperature=1, top_p=0.5),
                        table["anthropic.claude-3-haiku-20240307-v1:0"])
    forced = dict(tools=[{"name": "t", "input_schema": {"type": "object"}}],
                  tool_choice={"type": "tool", "name": "t"})
    expect_body_error("Thinking may not be enabled when tool_choice forces tool use.",
                      body("x", **forced), opus55)
    expect_body_error("Thinking may not be enabled", body("x", thinking={"type": "adaptive"},
                                                          **forced), opus47)
    claude.check_traits(body("x", **forced), opus47)
    no_force = catalogue.Model("anthropic.t-1", "t-1", "T 1", 100, 1000, None,
                               forced_tool_choice=False, thinking="none")
    expect_body_error("tool_choice: forcing tool use", body("x", **forced), no_force)
    expect_body_error('"thinking.type.enabled" is not supported for this model. Use '
                      '"thinking.type.adaptive"',
                      body("x", thinking={"type": "enabled", "budget_tokens": 2000}), opus47)
    expect_body_error('"thinking.type.disabled" is not supported',
                      body("x", thinking={"type": "disabled"}), opus55)
    expect_body_error('"thinking.type.adaptive" is not supported',
                      body("x", thinking={"type": "adaptive"}), no_force)
    expect_body_error("Input tag 'auto'", body("x", thinking={"type": "auto"}), opus47)
    expect_body_error("budget_tokens: Input should be greater than or equal to 1024",
                      body("x", thinking={"type": "enabled", "budget_tokens": 10}), sonnet5)
    claude.check_traits(body("x", thinking={"type": "disabled"}), opus47)
    # legacy models: thinking and output_config.effort are not checked
    claude.check_traits(body("x", thinking={"type": "sideways"}, output_config={"effort": "x"}),
                        sonnet45)
    expect_body_error("output_config.effort: Input should be", body(
        "x", output_config={"effort": "extreme"}), opus47)
    expect_body_error("output_config.format: Extra inputs are not permitted", body(
        "x", output_config={"format": {"type": "json_schema", "schema": {}}}), fable5)
    expect_body_error("output_config.verbosity: Extra inputs are not permitted", body(
        "x", output_config={"verbosity": 1}), sonnet5)
    assert claude.thinks(body("x"), opus55) and not claude.thinks(body("x"), opus47)
    assert claude.thinks(body("x", thinking={"type": "adaptive"}), opus47)
    assert not claude.thinks(body("x", thinking={"type": "adaptive"}), sonnet45)


def structured_output_rules():
    schema = {"type": "object", "additionalProperties": False, "required": ["who", "tier"],
              "$defs": {"tier": {"enum": ["gold", "silver"]}},
              "properties": {"who": {"type": "string"}, "tier": {"$ref": "#/$defs/tier"}}}
    fmt = {"type": "json_schema", "schema": schema}
    assert claude.output_schema(fmt)["properties"]["tier"] == {"enum": ["gold", "silver"]}
    completion = claude.complete(body("who: Ann, a silver member", output_config={"format": fmt}),
                                 "m", "claude-x")
    assert completion.content == [{"type": "text", "text": '{"who":"Ann","tier":"silver"}'}]
    assert completion.output_tokens == 8 and completion.stop_reason == "end_turn"
    cut = claude.complete(body("who: Ann", max_tokens=2, output_config={"format": fmt}), "m", "x")
    assert cut.stop_reason == "max_tokens" and cut.text == '{"who":"', cut.text
    for bad, text in (({"type": "json_object"}, "format.type: Input should be 'json_schema'"),
                      ({"type": "json_schema"}, "format.schema: Field required"),
                      ({"type": "json_schema", "schema": {"type": "object"}},
                       "'additionalProperties' must be explicitly set to false"),
                      ({"type": "json_schema", "schema": {"$ref": "#"}}, "Recursive schemas"),
                      ({"type": "json_schema", "schema": {"$ref": "#/$defs/x"}},
                       "Could not resolve $ref")):
        try:
            claude.output_schema(bad)
            raise AssertionError("accepted %r" % bad)
        except claude.BodyError as error:
            assert text in error.message, error.message


def thinking_answers():
    opus55 = catalogue.MODEL_TABLE["anthropic.claude-opus-5-5"]
    completion = claude.complete(body("one two three"), "m", "claude-opus-5-5", model=opus55)
    thinking, text = completion.content
    assert thinking["type"] == "thinking" and thinking["thinking"] == claude.THINKING_TEXT
    assert len(thinking["signature"]) > 40 and text["text"] == "You said: one two three"
    assert completion.output_tokens == 64 + 5 and completion.thinking_tokens == 64
    starved = claude.complete(body("one two", max_tokens=64), "m", "x", model=opus55)
    assert [b["type"] for b in starved.content] == ["thinking"]
    assert starved.stop_reason == "max_tokens" and starved.output_tokens == 64
    sonnet5 = catalogue.MODEL_TABLE["anthropic.claude-sonnet-5"]
    enabled = claude.complete(body("hi", max_tokens=2000, thinking={
        "type": "enabled", "budget_tokens": 1024}), "m", "x", model=sonnet5)
    assert enabled.thinking_tokens == 64
    events = claude.stream_events(completion, 5, 3)
    assert events[1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert claude.converse_content(completion)[0]["reasoningContent"]["reasoningText"][
        "signature"] == thinking["signature"]


def cache_ttl_split():
    clock = FakeClock()
    cache = emu_cache.PromptCache(clock)
    hour = claude.Breakpoint(3000, "a", 3600)
    five = claude.Breakpoint(5000, "b", 300)
    assert cache.use_split("r", "m", [hour, five], 1024) == (0, 5000, 3000)
    assert cache.use_split("r", "m", [hour, five], 1024) == (5000, 0, 0)
    clock.now += 400                                       # the 5-minute entry expired
    assert cache.use_split("r", "m", [hour, five], 1024) == (3000, 2000, 0)
    request = body("x", system=[
        {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "b", "cache_control": {"type": "ephemeral", "ttl": "1h"}}])
    try:
        claude.validate_invoke_body(json.dumps(request))
        raise AssertionError("1h after 5m accepted")
    except claude.BodyError as error:
        assert "must not come after a 'ttl'='5m'" in error.message, error.message
    completion = answer("Hi")
    claude.apply_cache(completion, 0, 10, 4)
    assert claude.usage(completion)["cache_creation"] == {"ephemeral_5m_input_tokens": 6,
                                                          "ephemeral_1h_input_tokens": 4}
    assert claude.converse_usage(completion)["cacheDetails"] == [
        {"ttl": "5m", "inputTokens": 6}, {"ttl": "1h", "inputTokens": 4}]


def quota_state(tpm, burndown=1.0):
    state = emulator.EmulatorState(credentials.CredentialStore([], []), emulator.Config(),
                                   "ap-southeast-2")
    clock = FakeClock()
    state.clock = clock
    state.update_config({"tokens_per_minute": tpm, "output_burndown": burndown})
    return state, clock


def token_reservations():
    state, clock = quota_state(1000)
    first = state.reserve_tokens(100, 800)                 # 900 held while it runs
    assert first.tokens == 900 and state.tokens_in_window() == 900
    try:
        state.reserve_tokens(10, 100)
        raise AssertionError("reservation beyond the quota accepted")
    except emulator.QuotaExceeded as refusal:
        assert str(refusal) == emulator.MSG_TOKEN_THROTTLE
    state.settle_tokens(first, 800 - 50)                   # 50 output tokens written
    assert state.tokens_in_window() == 150
    second = state.reserve_tokens(10, 840)                 # fits now: 150 + 850 = 1000
    assert state.tokens_in_window() == 1000 and second is not None
    clock.now += 61                                        # the window moves on
    assert state.tokens_in_window() == 0
    state, clock = quota_state(1000, burndown=5)
    try:
        state.reserve_tokens(10, 200)                      # 10 + 200 x 5 > 1000
        raise AssertionError("burn-down not applied")
    except emulator.QuotaExceeded:
        pass
    held = state.reserve_tokens(10, 150)                   # 760
    state.settle_tokens(held, (150 - 20) * 5)              # 20 written: 10 + 100 kept
    assert state.tokens_in_window() == 110 and state.stats()["tokens_throttled"] == 1
    state, _ = quota_state(0)
    assert state.reserve_tokens(10 ** 9, 10 ** 9) is None  # no quota: nothing held
    try:
        state.update_config({"output_burndown": -1})
        raise AssertionError("negative burn-down accepted")
    except ValueError:
        pass


def control_plane_rules():
    import emu_control_plane as control_plane
    assert control_plane.route("GET", "/inference-profiles/au.anthropic.claude-sonnet-5%3A0") == \
        ("GetInferenceProfile", "au.anthropic.claude-sonnet-5:0")
    assert control_plane.route("POST", "/foundation-models") is None
    answer = control_plane.list_inference_profiles("ap-southeast-2", {"maxResults": ["5"]})
    token = answer["nextToken"]
    assert control_plane.decode_token(token, "SYSTEM_DEFINED") == 5
    for bad in ("zzz", control_plane.encode_token(5, "APPLICATION")):
        try:
            control_plane.decode_token(bad, "SYSTEM_DEFINED")
            raise AssertionError("token %r accepted" % bad)
        except control_plane.ControlError as error:
            assert error.code == "ValidationException"
    pages, query = [], {"maxResults": ["7"]}
    while True:
        page = control_plane.list_inference_profiles("ap-southeast-2", query)
        pages += page["inferenceProfileSummaries"]
        if "nextToken" not in page:
            break
        query = {"maxResults": ["7"], "nextToken": [page["nextToken"]]}
    assert pages == control_plane.system_profiles("ap-southeast-2")
    models = control_plane.list_foundation_models("ap-southeast-2", {"byProvider": ["ANTHROPIC"]})
    assert len(models["modelSummaries"]) == len(control_plane._listed_models("ap-southeast-2"))
    try:
        control_plane.list_inference_profiles("ap-southeast-2", {"type": ["BOTH"]})
        raise AssertionError("bad type accepted")
    except control_plane.ControlError as error:
        assert "'typeEquals'" in error.message, error.message


def batch_rules():
    """emu_batch without HTTP: routes, request checks, idempotency, one job's
    output (every record once, shuffled the same way for the same job id)."""
    import emu_batch as batch
    import emu_s3
    assert batch.route("POST", "/model-invocation-job") == ("CreateModelInvocationJob", None)
    assert batch.route("GET", "/model-invocation-jobs") == ("ListModelInvocationJobs", None)
    arn = "arn:aws:bedrock:ap-southeast-2:123456789012:model-invocation-job/abcdef012345"
    assert batch.route("GET", "/model-invocation-job/" + arn.replace(":", "%3A").replace(
        "/", "%2F")) == ("GetModelInvocationJob", arn)
    assert batch.route("POST", "/model-invocation-job/abcdef012345/stop") == \
        ("StopModelInvocationJob", "abcdef012345")
    assert batch.route("GET", "/model-invocation-job/abcdef012345/stop") is None
    store = emu_s3.S3Store()
    store.create_bucket("unit-batch", "ap-southeast-2")
    service = batch.BatchService(store)
    service.update_config({"submitted_ms": 0, "validating_ms": 0, "scheduled_ms": 0,
                           "ms_per_record": 0, "error_every": 7})
    lines = "".join(json.dumps({"recordId": "r%03d" % i, "modelInput": {
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 32,
        "messages": [{"role": "user", "content": "Say %d" % i}]}}) + "\n" for i in range(100))
    store.bucket("unit-batch").objects["in/a.jsonl"] = (lines.encode(), '"x"', time.time())
    request = {"jobName": "unit", "roleArn": "arn:aws:iam::123456789012:role/R",
               "modelId": "au.anthropic.claude-sonnet-5", "clientRequestToken": "t1",
               "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://unit-batch/in/a.jsonl"}},
               "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://unit-batch/out/"}}}
    region = "ap-southeast-2"
    first = service.create(region, json.dumps(request).encode())["jobArn"]
    assert service.create(region, json.dumps(request).encode())["jobArn"] == first
    for change, code in (({"jobName": "other"}, "ConflictException"),
                         ({"clientRequestToken": "t2", "jobName": "-bad"}, "ValidationException"),
                         ({"clientRequestToken": "t3", "timeoutDurationInHours": 12},
                          "ValidationException"),
                         ({"clientRequestToken": "t4", "modelId": "anthropic.nope"},
                          "ValidationException")):
        try:
            service.create(region, json.dumps(dict(request, **change)).encode())
            raise AssertionError("accepted: %r" % change)
        except batch.BatchError as error:
            assert error.code == code, (change, error.code, error.message)
    stats = service.stats()
    assert (stats["create_calls"], stats["jobs_created"], stats["idempotent_replays"]) == \
        (6, 1, 1), stats
    job = service.find(region, first)
    deadline = time.time() + 10
    while job.status != "Completed" and time.time() < deadline:
        time.sleep(0.01)
    assert job.status == "Completed", job.summary()
    out = store.bucket("unit-batch").objects["out/%s/a.jsonl.out" % job.job_id][0].decode()
    records = [json.loads(line) for line in out.splitlines()]
    ids = [r["recordId"] for r in records]
    assert sorted(ids) == ["r%03d" % i for i in range(100)] and ids != sorted(ids)
    errors = sorted(r["recordId"] for r in records if "error" in r)
    assert errors == ["r%03d" % (i - 1) for i in range(7, 101, 7)], errors
    manifest = json.loads(store.bucket("unit-batch").objects[
        "out/%s/manifest.json.out" % job.job_id][0])
    assert (manifest["successRecordCount"], manifest["errorRecordCount"]) == (86, 14), manifest
    # the shuffle is a function of the job id: the same job id, the same order
    import random
    again = list(range(100))
    random.Random(job.job_id).shuffle(again)
    assert ids == ["r%03d" % i for i in again], "shuffle not seeded by the job id"
    try:
        service.stop(region, first)
        raise AssertionError("a Completed job was stopped")
    except batch.BatchError as error:
        assert error.code == "ValidationException"
    try:
        service.find("ap-southeast-4", first)
        raise AssertionError("a job was found in another region")
    except batch.BatchError as error:
        assert error.status == 404
    service.reset()
    assert service.stats()["jobs_created"] == 0 and service.get_config().batch_error_every == 0


def identity_routes():
    expected = {
        "/latest/api/token": "imds_token",
        "/latest/meta-data/iam/security-credentials/": "imds_role",
        "/latest/meta-data/iam/security-credentials": "imds_role",
        "/latest/meta-data/iam/security-credentials/some-role": "imds_credentials",
        "/latest/meta-data/placement/region": "imds_other",
        "/v2/credentials/8b2a6f0e-1234": "container_ecs",
        "/v1/credentials": "container_eks",
        "/": "sts",
    }
    for path, endpoint in expected.items():
        routed = identity.route(path)
        assert routed and routed[0] == endpoint, "%s -> %s" % (path, routed)
    for path in ("/model/x/invoke", "/model/a%3Ab/converse-stream", "/_emulator/stats", "/x"):
        assert identity.route(path) is None, path


def identity_sts_rules():
    def problem(params, action="AssumeRole"):
        _, _, members, required = identity.STS_ACTIONS[action]
        try:
            identity.validate(params, members, required)
        except identity.StsError as error:
            assert error.code == "ValidationError", error.code
            return error.message
        return None

    arn = "arn:aws:iam::123456789012:role/pg-claude-bedrock"
    assert problem({"RoleArn": arn, "RoleSessionName": "ok.name@x"}) is None
    assert problem({"RoleArn": arn}) == (
        "1 validation error detected: Value null at 'roleSessionName' failed to satisfy "
        "constraint: Member must not be null")
    message = problem({"RoleArn": arn, "RoleSessionName": "s", "DurationSeconds": "43201"})
    assert message.startswith("2 validation errors detected: ") and \
        "Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have " \
        "value less than or equal to 43200" in message, message
    message = problem({"RoleArn": arn, "RoleSessionName": "web", "WebIdentityToken": "ab"},
                      "AssumeRoleWithWebIdentity")
    assert "Value '***' at 'webIdentityToken'" in message, message   # never echoed
    xml = identity.xml_document("ErrorResponse", [
        ("Error", [("Type", "Sender"), ("Code", "X"), ("Message", "a < b & 'c'")]),
        ("RequestId", "r")])
    assert xml == ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n'
                   '  <Error>\n    <Type>Sender</Type>\n    <Code>X</Code>\n'
                   "    <Message>a &lt; b &amp; 'c'</Message>\n  </Error>\n"
                   '  <RequestId>r</RequestId>\n</ErrorResponse>\n'), xml
    assert all(code in identity.STS_ERRORS for code in identity.SIGV4_TO_STS.values())


def credential_store_issue_and_expire():
    store = credentials.CredentialStore()
    principal = identity.assumed_role_principal("imds", "arn:aws:iam::123456789012:role/r", "i-1")
    issued = store.issue_temporary(600, now=1000.0, principal=principal)
    assert issued.access_key_id.startswith("ASIA") and len(issued.access_key_id) == 20
    assert len(issued.secret_access_key) == 40 and issued.expires_at == 1600.0
    assert store.lookup(issued.access_key_id) is issued
    assert store.principal(issued.access_key_id).arn == \
        "arn:aws:sts::123456789012:assumed-role/r/i-1"
    assert store.principal("AKIAPGCLAUDEEMULATOR").issued_by == "static"
    assert store.expire_issued(now=1100.0) == 1 and issued.expires_at == 1099.0
    assert all(key["expires_at"] is None for key in store.describe()["access_keys"]
               if key["issued_by"] == "static")
    try:
        sigv4.check_token(issued, issued.session_token, 1100.0)
        raise AssertionError("expired credential accepted")
    except sigv4.AuthError as error:
        assert error.code == "ExpiredTokenException", error.code


def main():
    suite = os.path.join(SHARED, "sigv4-testsuite", "v4")
    for case in sorted(os.listdir(suite)):
        run("sigv4 vector %s" % case, sigv4_case, os.path.join(suite, case))
    run("sigv4 tampered request refused", sigv4_tamper_is_refused)
    run("sigv4 5-minute clock window", sigv4_clock_window)
    run("sigv4 canonical URI double encoding", sigv4_double_encoding)
    run("sigv4 canonical URI single encoding for S3", sigv4_s3_single_encoding)
    for name in sorted(os.listdir(os.path.join(SHARED, "eventstream-testdata", "encoded",
                                               "positive"))):
        run("eventstream positive %s" % name, eventstream_positive, name)
    for name in sorted(os.listdir(os.path.join(SHARED, "eventstream-testdata", "encoded",
                                               "negative"))):
        run("eventstream negative %s" % name, eventstream_negative, name)
    run("eventstream bedrock chunk example", eventstream_bedrock_example)
    run("catalogue rules", catalogue_rules)
    run("claude answer rules", claude_rules)
    run("claude body validation", claude_validation)
    run("rules: classification", rules_classification)
    run("rules: multi-label", rules_multi_label)
    run("rules: sentiment", rules_sentiment)
    run("rules: extraction", rules_extraction)
    run("rules: summaries", rules_summaries)
    run("faults: off_schema, no_tool, wrong_tool", misbehaviour_faults)
    run("token counting (tools, Converse)", token_counting)
    run("cache_control validation", cache_control_validation)
    run("prompt cache: breakpoints, minimum, expiry", cache_breakpoints_and_prompt_cache)
    run("prompt cache: usage accounting", cache_accounting)
    run("catalogue limits (context window, cache minimum)", catalogue_limits)
    run("catalogue from the facts (routes, traits, destinations)", catalogue_from_facts)
    run("catalogue: registered models and profiles, reset", catalogue_registration_and_reset)
    run("traits: sampling, thinking, forced tool_choice, output_config", trait_checks)
    run("structured output: schema checks and answers", structured_output_rules)
    run("thinking blocks and their tokens", thinking_answers)
    run("prompt cache: writes split by TTL, TTL order", cache_ttl_split)
    run("quota: TPM reservations and burn-down", token_reservations)
    run("control plane: routes, pagination, filters", control_plane_rules)
    run("batch: routes, checks, idempotency, output", batch_rules)
    run("identity routes", identity_routes)
    run("identity sts validation and xml", identity_sts_rules)
    run("credential store issue and expire", credential_store_issue_and_expire)
    failed = RESULTS.count(False)
    print("%d passed, %d failed" % (len(RESULTS) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
