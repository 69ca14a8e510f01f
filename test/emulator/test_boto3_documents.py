#!/usr/bin/env python3
"""Fidelity test: boto3's ``bedrock-runtime`` invoke_model with image and
document content blocks against the emulator (emu_documents).

    python3 test/emulator/test_boto3_documents.py

* a PNG image block and a PDF document block (both built here) are
  accepted, and the answers show what the emulator read of the bytes (the
  PNG's width and height, the PDF's page count and text); a forced tool
  fills a schema from them;
* a media type that disagrees with the bytes, data that is not base64, a
  media type Claude does not read, a URL source, an image over 8000 px and a
  request with media over 20 MB are each a ValidationException (400), as
  boto3 reads it.

Prints ``ok - name`` / ``not ok - name: reason``, then ``N passed, M failed``;
exits 1 if anything failed.
"""

import base64
import json
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))

import boto3                                            # noqa: E402
from botocore.config import Config                      # noqa: E402
from botocore.exceptions import ClientError             # noqa: E402

from emu_harness import EmulatorProcess                 # noqa: E402
from tiny_media import pdf, png                         # noqa: E402

AKID = "AKIAPGCLAUDEEMULATOR"
SECRET = "emulator/Secret+Key/0123456789abcdefEXAMPLE"
MODEL = "au.anthropic.claude-sonnet-4-5-20250929-v1:0"

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


def client():
    return boto3.session.Session().client(
        "bedrock-runtime", region_name="ap-southeast-2", endpoint_url=emu.http_url,
        aws_access_key_id=AKID, aws_secret_access_key=SECRET,
        config=Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=60))


def block(kind, media_type, data):
    return {"type": kind, "source": {"type": "base64", "media_type": media_type,
                                     "data": base64.b64encode(data).decode()}}


def invoke(content, **extra):
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 256,
            "messages": [{"role": "user", "content": content}]}
    body.update(extra)
    response = client().invoke_model(modelId=MODEL, body=json.dumps(body),
                                     contentType="application/json", accept="application/json")
    return json.loads(response["body"].read())


def text_of(message):
    return "".join(b.get("text", "") for b in message["content"])


def check(condition, reason):
    if not condition:
        raise AssertionError(reason)


def refused(content, contains):
    try:
        invoke(content)
    except ClientError as error:
        check(error.response["Error"]["Code"] == "ValidationException", error.response["Error"])
        check(error.response["ResponseMetadata"]["HTTPStatusCode"] == 400, "not a 400")
        check(contains in error.response["Error"]["Message"], error.response["Error"]["Message"])
        return
    raise AssertionError("accepted")


@test
def png_image_block_is_read():
    answer = invoke([block("image", "image/png", png(31, 17)), {"type": "text", "text": "Describe"}])
    check("[image image/png, width: 31, height: 17]" in text_of(answer), text_of(answer))


@test
def pdf_document_block_is_read():
    data = pdf(["Invoice 7", "total: 99.95"], pages=2)
    answer = invoke([block("document", "application/pdf", data),
                     {"type": "text", "text": "Summarise: the attached document"}])
    check(text_of(answer).startswith("Summary:"), text_of(answer))
    check("pages: 2" in text_of(answer) and "Invoice 7" in text_of(answer), text_of(answer))


@test
def forced_tool_fills_schema_from_the_image():
    tool = {"name": "size", "description": "the image size", "input_schema": {
        "type": "object", "properties": {"width": {"type": "integer"}, "height": {"type": "integer"}},
        "required": ["width", "height"]}}
    answer = invoke([block("image", "image/png", png(640, 480)), {"type": "text", "text": "Size?"}],
                    tools=[tool], tool_choice={"type": "tool", "name": "size"})
    used = [b for b in answer["content"] if b["type"] == "tool_use"]
    check(used and used[0]["input"] == {"width": 640, "height": 480}, answer["content"])


@test
def media_type_must_match_the_bytes():
    refused([block("image", "image/jpeg", png(2, 2)), {"type": "text", "text": "x"}],
            "does not match the media type image/jpeg")


@test
def data_must_be_base64():
    bad = block("image", "image/png", png(2, 2))
    bad["source"]["data"] = "***"
    refused([bad, {"type": "text", "text": "x"}], "invalid base64 data")


@test
def unknown_media_type_is_refused():
    refused([block("image", "image/bmp", b"BM0000"), {"type": "text", "text": "x"}],
            "media_type: Input should be")
    refused([block("document", "image/png", png(2, 2)), {"type": "text", "text": "x"}],
            "media_type: Input should be 'application/pdf'")


@test
def only_base64_sources():
    refused([{"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
             {"type": "text", "text": "x"}], "only base64 sources")


@test
def image_over_8000_px_is_refused():
    refused([block("image", "image/png", png(8001, 1)), {"type": "text", "text": "x"}],
            "image dimensions exceed")


@test
def request_with_media_over_20_mb_is_refused():
    data = b"%PDF-1.4\n" + b"\x00" * (15 * 1024 * 1024 + 1)
    refused([block("document", "application/pdf", data), {"type": "text", "text": "x"}],
            "exceeds 20 MB maximum")


@test
def attachments_are_counted_in_the_last_request():
    invoke([block("image", "image/png", png(3, 3)), {"type": "text", "text": "x"}])
    last = emu.control("GET", "/_emulator/stats")["last_request"]
    check(last["attachments"] == {"images": 1, "documents": 0, "bytes": len(png(3, 3))}, last.get("attachments"))


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
