#!/usr/bin/env python3
"""Fidelity test: botocore's own SigV4 signer against the emulator's
Bedrock Messages API (POST /anthropic/v1/messages, emu_bedrock_messages).

    python3 test/emulator/test_botocore_messages.py

Requests are signed by botocore.auth.SigV4Auth for service ``bedrock``
(bedrock-runtime) and ``bedrock-mantle`` and sent with urllib: the
emulator must accept what AWS's SDK signs and refuse a wrong signature or a
wrong service.  Prints ``ok``/``not ok`` per check and ``N passed, M failed``.
"""

import json
import os
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import botocore.auth                                    # noqa: E402
from botocore.awsrequest import AWSRequest              # noqa: E402
from botocore.credentials import Credentials            # noqa: E402

from emu_harness import EmulatorProcess                 # noqa: E402

CREDS = Credentials("AKIAPGCLAUDEEMULATOR", "emulator/Secret+Key/0123456789abcdefEXAMPLE")
WRONG = Credentials("AKIAPGCLAUDEEMULATOR", "not/the/secret")
API_KEY = "bedrock-api-key-emulator-0123456789"
AU_HAIKU = "au.anthropic.claude-haiku-4-5-20251001-v1:0"
BODY = {"model": AU_HAIKU, "max_tokens": 50,
        "messages": [{"role": "user", "content": "Say hello"}]}

passed = failed = 0


def check(name, cond, why=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - %s" % name)
    else:
        failed += 1
        print("not ok - %s: %s" % (name, why))


def send(emu, service, region, body=None, creds=CREDS, bearer=None, host=None):
    url = emu.http_url + "/anthropic/v1/messages"
    data = json.dumps(body or BODY).encode()
    headers = {"Content-Type": "application/json", "anthropic-version": "2023-06-01"}
    if host:
        headers["Host"] = host
    if bearer:
        headers["Authorization"] = "Bearer " + bearer
    else:
        req = AWSRequest(method="POST", url=url, data=data, headers=headers)
        botocore.auth.SigV4Auth(creds, service, region).add_auth(req)
        headers = dict(req.headers.items())
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def main():
    with EmulatorProcess(tls=False) as emu:
        status, headers, answer = send(emu, "bedrock", "ap-southeast-2")
        check("runtime: botocore's SigV4 (service bedrock) accepted", status == 200, (status, answer))
        check("runtime: an Anthropic Message with usage", answer.get("type") == "message"
              and answer["usage"]["input_tokens"] > 0 and answer["content"][0]["type"] == "text",
              answer)
        check("runtime: x-amzn-RequestId, no token headers", "x-amzn-RequestId" in headers
              and not any(k.lower().startswith("x-amzn-bedrock-") for k in headers), headers)

        status, _, answer = send(emu, "bedrock-mantle", "ap-southeast-4")
        check("mantle: botocore's SigV4 (service bedrock-mantle) accepted in ap-southeast-4",
              status == 200 and answer.get("type") == "message", (status, answer))
        status, _, answer = send(emu, "bedrock-mantle", "ap-southeast-2")
        check("mantle: Claude refused in ap-southeast-2", status == 404
              and answer["error"]["type"] == "not_found_error"
              and "ap-southeast-2" in answer["error"]["message"], (status, answer))

        status, _, answer = send(emu, "bedrock", "ap-southeast-2", creds=WRONG)
        check("a wrong signature is refused in the Anthropic shape", status == 403
              and answer.get("type") == "error" and "signature" in answer["error"]["message"],
              (status, answer))
        status, _, answer = send(emu, "bedrock-agent", "ap-southeast-2")
        check("a wrong service is refused", status in (401, 403) and answer.get("type") == "error"
              and "service" in answer["error"]["message"], (status, answer))

        body = dict(BODY, anthropic_version="bedrock-2023-05-31")
        status, _, answer = send(emu, "bedrock", "ap-southeast-2", body=body)
        check("anthropic_version in the body is refused", status == 400
              and answer["error"]["type"] == "invalid_request_error", (status, answer))
        status, _, answer = send(emu, "bedrock", "ap-southeast-2",
                                 body=dict(BODY, model="anthropic.claude-nonexistent-v1:0"))
        check("an unknown model is refused", status in (400, 404) and answer.get("type") == "error",
              (status, answer))

        status, _, answer = send(emu, None, None, bearer=API_KEY)
        check("a Bedrock API key is accepted", status == 200, (status, answer))
        status, _, answer = send(emu, None, None, bearer="bedrock-api-key-wrong")
        check("a wrong API key is refused", status == 403, (status, answer))

        ops = emu.stats()["by_operation"]
        check("the emulator counts each surface", ops.get("BedrockMessages", 0) >= 4
              and ops.get("MantleMessages", 0) == 2, ops)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
