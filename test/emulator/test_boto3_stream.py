#!/usr/bin/env python3
"""The emulator's streams (issue 17) checked with boto3's invoke_model_with_response_stream.

    python3 test/emulator/test_boto3_stream.py

first_byte_ms separate from latency_ms, an exception event after the first
content delta, and corrupt frames (emu_stream.py).  Prints ``ok``/``not ok``
per check, then ``N passed, M failed``.
"""

import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto3                                            # noqa: E402
from botocore.config import Config                      # noqa: E402
from botocore.exceptions import EventStreamError        # noqa: E402

from emu_harness import EmulatorProcess                 # noqa: E402

AKID = "AKIAPGCLAUDEEMULATOR"
SECRET = "emulator/Secret+Key/0123456789abcdefEXAMPLE"
MODEL = "au.anthropic.claude-sonnet-4-5-20250929-v1:0"
TESTS = []
emu = None


def test(function):
    TESTS.append(function)
    return function


def check(cond, detail):
    if not cond:
        raise AssertionError(str(detail)[:400])


def client():
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                      AWS_EC2_METADATA_DISABLED="true")
    return boto3.session.Session().client(
        "bedrock-runtime", region_name="ap-southeast-2", endpoint_url=emu.http_url,
        aws_access_key_id=AKID, aws_secret_access_key=SECRET,
        config=Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=30))


def body(text):
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 256,
                       "messages": [{"role": "user", "content": text}]})


def timed_stream(text):
    """(seconds to the first content delta, seconds to the end, events)."""
    c = client()
    start = time.monotonic()
    response = c.invoke_model_with_response_stream(modelId=MODEL, body=body(text))
    first = None
    events = []
    for event in response["body"]:
        e = json.loads(event["chunk"]["bytes"])
        events.append(e)
        if first is None and e["type"] == "content_block_delta":
            first = time.monotonic() - start
    return first, time.monotonic() - start, events


def config(**values):
    emu.control("POST", "/_emulator/config", values)


@test
def first_byte_separate_from_latency():
    config(first_byte_ms=150, latency_ms=600)
    try:
        first, total, events = timed_stream("one two three four five six seven eight")
    finally:
        config(first_byte_ms=0, latency_ms=0)
    check(0.14 <= first <= 0.20, "first content delta after %.3f s" % first)
    check(0.59 <= total <= 0.66, "stream ended after %.3f s" % total)
    check(events[-1]["type"] == "message_stop", events[-1])
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    check(text == "You said: one two three four five six seven eight", text)


@test
def latency_alone_unchanged():
    config(latency_ms=200)
    try:
        first, total, _ = timed_stream("a b c")
    finally:
        config(latency_ms=0)
    check(first >= 0.19 and total - first < 0.05, (first, total))


@test
def exception_after_first_delta():
    emu.fault(fault="stream_exception", error_type="modelStreamErrorException",
              message="the model stopped")
    response = client().invoke_model_with_response_stream(modelId=MODEL, body=body("a b c d e f"))
    seen = []
    try:
        for event in response["body"]:
            seen.append(json.loads(event["chunk"]["bytes"])["type"])
    except EventStreamError as error:
        check(error.response["Error"]["Code"] == "modelStreamErrorException", error.response)
        check("content_block_delta" in seen, seen)
        return
    raise AssertionError("no exception event raised")


@test
def each_exception_name():
    for name in ("throttlingException", "validationException", "internalServerException",
                 "serviceUnavailableException", "modelTimeoutException"):
        emu.fault(fault="stream_exception", error_type=name)
        response = client().invoke_model_with_response_stream(modelId=MODEL, body=body("x y"))
        try:
            for _ in response["body"]:
                pass
        except EventStreamError as error:
            check(error.response["Error"]["Code"] == name, error.response)
            continue
        raise AssertionError("%s: no exception raised" % name)


@test
def corrupt_frames_refused():
    refused = 0
    for offset in (1, 5, 9, 14, 40, 90):
        emu.fault(fault="corrupt_frame", delay_ms=offset)
        response = client().invoke_model_with_response_stream(modelId=MODEL, body=body("p q r s"))
        try:
            for _ in response["body"]:
                pass
        except AssertionError:
            raise
        except Exception:                           # ChecksumMismatch, ParserError, ...
            refused += 1
    check(refused == 6, "boto3 refused %d of 6 corrupted streams" % refused)


@test
def clean_stream_after_faults():
    _, _, events = timed_stream("still fine")
    check(events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop", events)


def main():
    global emu
    passed = failed = 0
    with EmulatorProcess(tls=False) as emu:
        for function in TESTS:
            try:
                function()
            except Exception as error:              # report and go on
                failed += 1
                print("not ok - %s: %s" % (function.__name__, str(error).replace("\n", " ")))
                if os.environ.get("VERBOSE"):
                    traceback.print_exc()
            else:
                passed += 1
                print("ok - %s" % function.__name__)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
