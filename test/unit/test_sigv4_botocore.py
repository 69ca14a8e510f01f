#!/usr/bin/env python3
"""Compare our signer (src/sigv4.h) with botocore's SigV4 signer on real request shapes.

The AWS test vectors only use the made-up service "service" and never carry
a percent-encoded path, so they cannot show that we sign Bedrock requests the
way AWS verifies them.  botocore can: this test lets botocore build and sign
real requests (InvokeModel, STS GetCallerIdentity, ListFoundationModels, S3
GetObject), captures them just before they would be sent, and signs the same
method, wire path, query, headers and body with test/unit/sigv4_sign (which
wraps src/sigv4_*.c).  The Authorization headers must be identical.

Nothing is sent over the network: a 'before-send' hook captures the request
and aborts.  The clock is fixed by patching botocore.auth.get_current_datetime.

Headers: botocore signs the request as built by the serializer; User-Agent
and the amz-sdk-* headers are excluded from signing (or added after it), and
Content-Length is added after signing.  We pass the captured headers minus
those, and minus what the signer must add itself (X-Amz-Date,
X-Amz-Security-Token and, for S3, X-Amz-Content-SHA256), so the signer's own
header handling is exercised too.

Build first:  make -C test/unit
Run:          python3 test/unit/test_sigv4_botocore.py
Prints "ok - name" / "not ok - name: reason" per check, then
"N passed, M failed"; exit status 1 on any failure.
"""

import datetime
import logging
import os
import subprocess
import sys
import urllib.parse
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
SIGN = os.path.join(HERE, "sigv4_sign")

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = ("IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+"
                 "exampleSessionToken/with+plus/and=equals==")
FIXED_NOW = datetime.datetime(2026, 1, 2, 3, 4, 5)     # botocore uses naive UTC
FIXED_AMZ_DATE = "20260102T030405Z"

# Never signed by botocore, or added after signing.
NOT_SIGNED = {"authorization", "user-agent", "content-length",
              "amz-sdk-invocation-id", "amz-sdk-request", "expect",
              "transfer-encoding", "x-amzn-trace-id"}
# Added by the signer itself, from its parameters.
SIGNER_ADDS = {"x-amz-date", "x-amz-security-token"}

SONNET_ID = "anthropic.claude-3-5-sonnet-20241022-v2:0"
SONNET_CANONICAL_URI = "/model/anthropic.claude-3-5-sonnet-20241022-v2%253A0/invoke"
PROFILE_ARN = ("arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/"
               "au.anthropic.claude-sonnet-4-5-20250929-v1:0")
PROFILE_WIRE_PATH = ("/model/arn%3Aaws%3Abedrock%3Aap-southeast-2%3A123456789012"
                     "%3Ainference-profile%2Fau.anthropic.claude-sonnet-4-5-20250929-v1"
                     "%3A0/invoke")
PROFILE_CANONICAL_URI = PROFILE_WIRE_PATH.replace("%", "%25")

results = []


def report(name, ok, reason=""):
    results.append(ok)
    if ok:
        print(f"ok - {name}")
    else:
        print(f"not ok - {name}: {reason}")


class Captured(Exception):
    """Raised by the before-send hook to stop botocore from sending."""


class CanonicalRequestLog(logging.Handler):
    """Collect the canonical requests botocore.auth logs at DEBUG level."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.canonical = []

    def emit(self, record):
        if record.msg.startswith("CanonicalRequest") and record.args:
            self.canonical.append(record.args[0])


def botocore_request(service, region, operation, token=None, s3_config=None, **params):
    """Let botocore build and sign one request; return what it would send."""
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    client = session.create_client(
        service, region_name=region,
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        aws_session_token=token,
        # S3: no aws-chunked trailing checksum (src/s3.c sends a plain body)
        config=Config(retries={"total_max_attempts": 1}, s3=s3_config,
                      **({"request_checksum_calculation": "when_required"} if s3_config else {})))
    captured = {}

    def before_send(request, **_):
        captured["request"] = request
        raise Captured()

    client.meta.events.register("before-send", before_send)

    log = CanonicalRequestLog()
    auth_logger = logging.getLogger("botocore.auth")
    old_level = auth_logger.level
    auth_logger.addHandler(log)
    auth_logger.setLevel(logging.DEBUG)
    try:
        with mock.patch("botocore.auth.get_current_datetime", return_value=FIXED_NOW):
            try:
                getattr(client, operation)(**params)
            except Captured:
                pass
    finally:
        auth_logger.removeHandler(log)
        auth_logger.setLevel(old_level)

    if "request" not in captured:
        raise RuntimeError("botocore did not reach before-send")
    request = captured["request"]
    headers = {}
    for name, value in request.headers.items():
        headers[name] = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    body = request.body or b""
    if hasattr(body, "read"):          # S3 PutObject: a file-like body
        body.seek(0)
        body = body.read()
    if isinstance(body, str):
        body = body.encode("utf-8")
    return {
        "method": request.method,
        "url": request.url,
        "headers": headers,
        "body": body,
        "canonical": log.canonical[-1] if log.canonical else None,
    }


def raw_sigv4_request(method, url, headers, body, service, region, token=None):
    """Sign a hand-built AWSRequest with botocore's SigV4Auth directly."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    log = CanonicalRequestLog()
    auth_logger = logging.getLogger("botocore.auth")
    old_level = auth_logger.level
    auth_logger.addHandler(log)
    auth_logger.setLevel(logging.DEBUG)
    try:
        with mock.patch("botocore.auth.get_current_datetime", return_value=FIXED_NOW):
            SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, token), service, region).add_auth(request)
    finally:
        auth_logger.removeHandler(log)
        auth_logger.setLevel(old_level)
    out_headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    return {"method": method, "url": url, "headers": out_headers, "body": body or b"",
            "canonical": log.canonical[-1] if log.canonical else None}


def sign_with_c(captured, service, region, token=None, s3=False):
    """Run sigv4_sign on the captured request; return its output sections."""
    parts = urllib.parse.urlsplit(captured["url"])
    argv = [SIGN, "-X", captured["method"], "-p", parts.path or "/",
            "-r", region, "-s", service, "-a", ACCESS_KEY, "-T", FIXED_AMZ_DATE,
            "-d", "-", "-H", f"Host: {parts.netloc}"]
    if parts.query:
        argv += ["-q", parts.query]
    skip = NOT_SIGNED | SIGNER_ADDS | ({"x-amz-content-sha256"} if s3 else set())
    for name, value in captured["headers"].items():
        if name.lower() not in skip:
            argv += ["-H", f"{name}: {value}"]
    if token:
        argv += ["-t", token]
    if s3:
        argv += ["--no-normalize", "--no-double-encode", "--content-sha256"]
    env = dict(os.environ, SIGV4_SECRET_ACCESS_KEY=SECRET_KEY)
    proc = subprocess.run(argv, input=captured["body"], capture_output=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"sigv4_sign exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace').strip()}")
    sections = {}
    current = None
    for line in proc.stdout.decode("utf-8").split("\n"):
        if line.startswith("== ") and line.endswith(" =="):
            current = line[3:-3]
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return {k: "\n".join(v).rstrip("\n") for k, v in sections.items()}


def compare(name, captured, service, region, token=None, s3=False, canonical_uri=None):
    """One check: same Authorization; optionally pin the canonical URI."""
    try:
        ours = sign_with_c(captured, service, region, token=token, s3=s3)
    except Exception as exc:       # report, keep going with the other checks
        report(name, False, str(exc))
        return
    theirs = captured["headers"].get("Authorization")
    if ours.get("authorization") != theirs:
        report(name, False,
               f"Authorization differs\n  botocore: {theirs}\n  sigv4:    {ours.get('authorization')}\n"
               f"  botocore canonical request:\n{captured['canonical']}\n"
               f"  sigv4 canonical request:\n{ours.get('canonical request')}")
        return
    if captured["canonical"] is not None and captured["canonical"] != ours.get("canonical request"):
        report(name, False, "same signature but different canonical request (?)")
        return
    if canonical_uri is not None:
        got = ours["canonical request"].split("\n")[1]
        bgot = captured["canonical"].split("\n")[1] if captured["canonical"] else None
        if got != canonical_uri or bgot != canonical_uri:
            report(name, False, f"canonical URI: want {canonical_uri}, sigv4 {got}, botocore {bgot}")
            return
    report(name, True)


def main():
    if not os.access(SIGN, os.X_OK):
        print(f"not ok - setup: {SIGN} not built (run: make -C test/unit)")
        print("0 passed, 1 failed")
        return 1
    try:
        import botocore  # noqa: F401
    except ImportError:
        print("not ok - setup: botocore is not installed")
        print("0 passed, 1 failed")
        return 1

    # 1. Bedrock InvokeModel, model id with ':' -> %3A on the wire, %253A signed
    cap = botocore_request("bedrock-runtime", "us-east-1", "invoke_model",
                           modelId=SONNET_ID, contentType="application/json",
                           accept="application/json",
                           body=b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":16,'
                                b'"messages":[{"role":"user","content":"Hi"}]}')
    wire = urllib.parse.urlsplit(cap["url"]).path
    if wire != "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke":
        report("bedrock-invoke-model-colon", False, f"unexpected wire path {wire}")
    else:
        compare("bedrock-invoke-model-colon", cap, "bedrock", "us-east-1",
                canonical_uri=SONNET_CANONICAL_URI)

    # 2. Inference profile ARN: the whole label is encoded, '/' included
    cap = botocore_request("bedrock-runtime", "ap-southeast-2", "invoke_model",
                           modelId=PROFILE_ARN, contentType="application/json",
                           body=b'{"max_tokens":1}')
    wire = urllib.parse.urlsplit(cap["url"]).path
    if wire != PROFILE_WIRE_PATH:
        report("bedrock-invoke-model-arn", False, f"unexpected wire path {wire}")
    else:
        compare("bedrock-invoke-model-arn", cap, "bedrock", "ap-southeast-2",
                canonical_uri=PROFILE_CANONICAL_URI)

    # 3. Temporary credentials: X-Amz-Security-Token added and signed
    cap = botocore_request("bedrock-runtime", "us-west-2", "invoke_model", token=SESSION_TOKEN,
                           modelId=SONNET_ID, contentType="application/json",
                           accept="application/json", body=b'{"max_tokens":8}')
    compare("bedrock-invoke-model-session-token", cap, "bedrock", "us-west-2",
            token=SESSION_TOKEN, canonical_uri=SONNET_CANONICAL_URI)

    # 4. STS query-protocol POST with a form body (and a session token)
    cap = botocore_request("sts", "us-east-1", "get_caller_identity", token=SESSION_TOKEN)
    if not cap["body"].startswith(b"Action=GetCallerIdentity"):
        report("sts-form-post", False, f"unexpected body {cap['body']!r}")
    else:
        compare("sts-form-post", cap, "sts", "us-east-1", token=SESSION_TOKEN)

    # 5. GET with a query that needs encoding (space, '/', ':', '+', '~')
    cap = botocore_request("bedrock", "us-west-2", "list_foundation_models",
                           byProvider="a b/c:d+e~f", byOutputModality="TEXT")
    compare("bedrock-get-query", cap, "bedrock", "us-west-2")

    # 6. Header value whitespace: trimmed, inner runs (tabs too) collapsed
    cap = raw_sigv4_request("POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke",
                            {"Content-Type": "application/json",
                             "X-Custom-Header": "  a   b \t c  ", "X-Empty": ""},
                            b"{}", "bedrock", "us-east-1")
    compare("header-whitespace-and-empty", cap, "bedrock", "us-east-1")

    # 7. Pre-encoded, unsorted query with a repeated key and an empty value
    cap = raw_sigv4_request("GET", "https://example.amazonaws.com/a/b?z=1&a=%2F%20x&a=&m=%E1%88%B4",
                            {}, b"", "service", "us-east-1")
    compare("get-preencoded-query", cap, "service", "us-east-1")

    # 8. S3 style: no normalisation, no double encoding, x-amz-content-sha256
    cap = botocore_request("s3", "us-east-1", "get_object", Bucket="examplebucket",
                           Key="photos/a b//c:d~e+f.txt")
    compare("s3-get-object-single-encoding", cap, "s3", "us-east-1", s3=True)

    # 9-14. S3 as src/s3.c sends it (botocore.auth.S3SigV4Auth is the
    # authority): payload signed, keys that need encoding, path-style and
    # virtual-hosted, ListObjectsV2 with a continuation token, HeadBucket
    signed = {"payload_signing_enabled": True}
    for name, key in (("space", "batch/in put/part 1.jsonl"), ("plus", "a+b/c+d.jsonl"),
                      ("tilde-slash", "~x/y~/z//w"), ("unicode", "r\u00e9sum\u00e9/\u65e5\u672c.jsonl")):
        cap = botocore_request("s3", "ap-southeast-2", "put_object", s3_config=dict(signed),
                               Bucket="pgclaude-batch", Key=key, Body=b'{"recordId":"1"}\n')
        wire = urllib.parse.urlsplit(cap["url"]).path
        want = "/" + urllib.parse.quote(key.encode("utf-8"), safe="/~")
        if wire != want:
            report("s3-put-object-" + name, False, f"unexpected wire path {wire}")
        else:
            compare("s3-put-object-" + name, cap, "s3", "ap-southeast-2", s3=True,
                    canonical_uri=want)
    cap = botocore_request("s3", "ap-southeast-2", "put_object", token=SESSION_TOKEN,
                           s3_config=dict(signed, addressing_style="path"),
                           Bucket="pgclaude.batch.dotted", Key="in/a b+c.jsonl", Body=b"x")
    compare("s3-put-object-path-style-session-token", cap, "s3", "ap-southeast-2",
            token=SESSION_TOKEN, s3=True)
    cap = botocore_request("s3", "ap-southeast-2", "list_objects_v2", Bucket="pgclaude-batch",
                           Prefix="batch/job 7/out+x/", ContinuationToken="1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
    compare("s3-list-objects-v2-continuation", cap, "s3", "ap-southeast-2", s3=True)
    cap = botocore_request("s3", "us-east-1", "head_bucket", Bucket="pgclaude-batch")
    compare("s3-head-bucket", cap, "s3", "us-east-1", s3=True)

    passed = sum(1 for r in results if r)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
