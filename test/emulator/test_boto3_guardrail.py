#!/usr/bin/env python3
"""Fidelity test: boto3's ``bedrock-runtime`` InvokeModel with a guardrail
against the emulator (emu_guardrail).

    python3 test/emulator/test_boto3_guardrail.py

* ``invoke_model(guardrailIdentifier=..., guardrailVersion=..., trace=...)``
  sends the three headers, signed (the emulator verifies SigV4 over them);
* an answer the guardrail lets through says ``NONE``, with the trace;
* the marker word in the input, or in the answer, is an intervention: the
  guardrail's message, ``INTERVENED``, the word policy in the trace (input,
  or outputs);
* an identifier without a version, an unknown guardrail or a bad trace value
  are the runtime's ValidationException;
* the body log records what each request sent;
* a redact request is answered with names, addresses and phones replaced.

Prints ``ok - name`` / ``not ok - name: reason``, then ``N passed, M failed``;
exits 1 if anything failed.
"""

import json
import os
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto3                                            # noqa: E402
from botocore.config import Config                      # noqa: E402
from botocore.exceptions import ClientError             # noqa: E402

from emu_harness import EmulatorProcess                 # noqa: E402

AKID = "AKIAPGCLAUDEEMULATOR"
SECRET = "emulator/Secret+Key/0123456789abcdefEXAMPLE"
MODEL = "au.anthropic.claude-sonnet-4-5-20250929-v1:0"
MARKER = "PINEAPPLE"

TESTS = []
emu = None
body_log = os.path.join(tempfile.mkdtemp(prefix="emu-guardrail-"), "bodies.jsonl")


def test(function):
    TESTS.append(function)
    return function


def clean_environment():
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                      AWS_EC2_METADATA_DISABLED="true")


def client():
    return boto3.session.Session().client(
        "bedrock-runtime", region_name="ap-southeast-2", endpoint_url=emu.http_url,
        aws_access_key_id=AKID, aws_secret_access_key=SECRET,
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5, read_timeout=30))


def body(text, system=None):
    b = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
         "messages": [{"role": "user", "content": text}]}
    if system:
        b["system"] = system
    return json.dumps(b)


def invoke(text, system=None, **guard):
    r = client().invoke_model(modelId=MODEL, body=body(text, system), contentType="application/json",
                              accept="application/json", **guard)
    return json.loads(r["body"].read())


def expect_error(call, code, status=None):
    try:
        call()
    except ClientError as error:
        got = error.response["Error"]["Code"]
        assert got == code, "expected %s, got %s (%s)" % (code, got, error.response["Error"])
        http = error.response["ResponseMetadata"]["HTTPStatusCode"]
        assert status is None or http == status, "expected HTTP %s, got %s" % (status, http)
        return error
    raise AssertionError("expected %s, the call succeeded" % code)


def check(condition, reason):
    if not condition:
        raise AssertionError(reason)


GUARD = {"guardrailIdentifier": "gr1", "guardrailVersion": "1", "trace": "ENABLED"}


def configure():
    emu.control("POST", "/_emulator/reset", {})
    emu.control("POST", "/_emulator/guardrails", {"id": "gr1", "version": "1", "marker": MARKER})


@test
def headers_sent_and_signed():
    configure()
    answer = invoke("hello", **GUARD)
    last = emu.control("GET", "/_emulator/stats")["last_request"]["headers"]
    signed = last.get("Authorization", "")
    check(last.get("X-Amzn-Bedrock-GuardrailIdentifier") == "gr1", "identifier header %r" % last)
    check(last.get("X-Amzn-Bedrock-GuardrailVersion") == "1", "version header")
    check(last.get("X-Amzn-Bedrock-Trace") == "ENABLED", "trace header")
    check("x-amzn-bedrock-guardrailidentifier" in signed and "x-amzn-bedrock-trace" in signed,
          "boto3 signs the guardrail headers: %s" % signed)
    check(answer.get("amazon-bedrock-guardrailAction") == "NONE", "passed: %r" % answer)
    trace = answer["amazon-bedrock-trace"]["guardrail"]
    check("gr1" in trace["input"] and "gr1" in trace["outputs"][0], "trace of both sides: %r" % trace)
    check(answer["content"][0]["text"] == "You said: hello", "the model's answer")


@test
def intervenes_on_input():
    configure()
    answer = invoke("tell me about %s please" % MARKER.lower(), **GUARD)
    check(answer.get("amazon-bedrock-guardrailAction") == "INTERVENED", "intervened: %r" % answer)
    check(answer["content"] == [{"type": "text", "text": "Sorry, the model cannot answer this question."}],
          "the blocked message: %r" % answer["content"])
    words = answer["amazon-bedrock-trace"]["guardrail"]["input"]["gr1"]["wordPolicy"]["customWords"]
    check(words == [{"match": MARKER, "action": "BLOCKED"}], "word policy in the trace: %r" % words)
    check("outputs" not in answer["amazon-bedrock-trace"]["guardrail"], "no output assessed")
    check(answer["usage"]["output_tokens"] == 0, "no output tokens")


@test
def intervenes_on_output():
    configure()
    answer = invoke("REPEAT SYSTEM", system="Say %s" % MARKER, **GUARD)
    check(answer.get("amazon-bedrock-guardrailAction") == "INTERVENED", "intervened: %r" % answer)
    out = answer["amazon-bedrock-trace"]["guardrail"]["outputs"][0]["gr1"]["wordPolicy"]["customWords"]
    check(out and out[0]["match"] == MARKER, "the output's word policy: %r" % out)


@test
def no_trace_without_asking():
    configure()
    answer = invoke("hello", guardrailIdentifier="gr1", guardrailVersion="1")
    check(answer.get("amazon-bedrock-guardrailAction") == "NONE" and "amazon-bedrock-trace" not in answer,
          "action without a trace: %r" % answer)


@test
def no_guardrail_no_action():
    configure()
    answer = invoke("about %s" % MARKER)
    check("amazon-bedrock-guardrailAction" not in answer, "no guardrail named: %r" % answer)


@test
def refusals():
    configure()
    expect_error(lambda: invoke("x", guardrailIdentifier="gr1"), "ValidationException", 400)
    expect_error(lambda: invoke("x", guardrailIdentifier="nosuch", guardrailVersion="1"),
                 "ValidationException", 400)
    expect_error(lambda: invoke("x", guardrailIdentifier="gr1", guardrailVersion="2"),
                 "ValidationException", 400)
    arn = "arn:aws:bedrock:ap-southeast-2:123456789012:guardrail/gr1"
    answer = invoke("hello", guardrailIdentifier=arn, guardrailVersion="1")
    check(answer.get("amazon-bedrock-guardrailAction") == "NONE", "by ARN: %r" % answer)


@test
def body_log_records_bodies():
    configure()
    invoke("log this line 4111 1111 1111 1111")
    with open(body_log) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    check(lines and lines[-1]["operation"] == "InvokeModel" and
          "log this line 4111 1111 1111 1111" in lines[-1]["body"], "last logged: %r" % lines[-1:])


@test
def redact_answers():
    configure()
    text = "Kinds to redact: NAME, ADDRESS, PHONE\n\nText:\nOlivia Chen, 3 Smith Street, Perth WA 6000, 0412 345 678"
    answer = invoke(text, system="You redact personal information. Reply with the text.")
    check(answer["content"][0]["text"] == "[NAME], [ADDRESS], [PHONE]", "redacted: %r" % answer["content"])
    answer = invoke("Kinds to redact: NAME\n\nText:\nOlivia at 3 Smith Street",
                    system="You redact personal information.")
    check(answer["content"][0]["text"] == "[NAME] at 3 Smith Street", "only the kinds listed: %r" % answer)


def main():
    global emu
    clean_environment()
    passed = failed = 0
    with EmulatorProcess(tls=False, extra_args=["--body-log", body_log]) as emu:
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
