#!/usr/bin/env python3
"""The emulator's credential endpoints against botocore's real credential chain.

    python3 test/emulator/test_boto3_credentials.py

Each chain check runs boto3 in a child process (this file with ``--child``)
whose environment is built from nothing: a fresh temporary HOME (no
``~/.aws``), the region, and only the variables the scenario is about.  The
child resolves credentials with the ordinary ``Session().get_credentials()``
chain, calls invoke_model on the emulator with them, and prints one JSON line
saying what it got.  So what is proven is that botocore 1.43's own IMDS,
container, web-identity and assume-role providers accept the emulator's
answers, and that Bedrock then accepts what they were given.  IMDS is
disabled in every child but the IMDS ones (``AWS_EC2_METADATA_DISABLED``), so
no child probes 169.254.169.254.

The HTTP-level rules (IMDSv2 token handling, container Authorization, STS
error shapes as botocore parses them) are checked in this process.

Prints ``ok - name`` or ``not ok - name: reason`` per check, then exactly
``N passed, M failed``; exits 1 if anything failed.
"""

import calendar
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

AKID = "AKIAPGCLAUDEEMULATOR"
SECRET = "emulator/Secret+Key/0123456789abcdefEXAMPLE"
ACCOUNT = "123456789012"
BEDROCK_ROLE = "arn:aws:iam::%s:role/pg-claude-bedrock" % ACCOUNT
EXTERNAL_ROLE = "arn:aws:iam::%s:role/pg-claude-external" % ACCOUNT
EXTERNAL_ID = "pgc-external-42"
WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.pg-claude-test-web-identity.sig"
CONTAINER_TOKEN = "pgc-container-token-0123456789"
REGION = "ap-southeast-2"
MODEL = "au.anthropic.claude-sonnet-4-5-20250929-v1:0"


# --------------------------------------------------------------------------
# Child: the real credential chain, then invoke_model
# --------------------------------------------------------------------------

def child(spec):
    """Resolve credentials the ordinary way; run the steps; print one JSON line."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    def failure(error):
        response = getattr(error, "response", None) or {}
        return {"exception": type(error).__name__,
                "code": response.get("Error", {}).get("Code"),
                "message": str(error)[:300]}

    out = {"method": None, "access_key_id": None, "steps": []}
    session = boto3.session.Session()
    try:
        credentials = session.get_credentials()
        if credentials is not None:
            out["method"] = credentials.method
            out["access_key_id"] = credentials.get_frozen_credentials().access_key
    except Exception as error:                  # what the chain raised
        out["credential_error"] = failure(error)
    if out["access_key_id"] is None:
        print(json.dumps(out))
        return
    client = session.client("bedrock-runtime", endpoint_url=spec["url"],
                            config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    for step in spec.get("steps", ["invoke"]):
        if step == "invoke":
            body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                               "messages": [{"role": "user", "content": "from the chain"}]})
            try:
                answer = json.loads(client.invoke_model(modelId=MODEL, body=body)["body"].read())
                out["steps"].append({"text": answer["content"][0]["text"]})
            except ClientError as error:
                out["steps"].append(failure(error))
        elif step == "expire":
            request = urllib.request.Request(
                spec["url"] + "/_emulator/identity", method="POST",
                data=json.dumps({"expire_issued": True}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                out["steps"].append({"expired": json.loads(response.read())["expired"]})
    print(json.dumps(out))


# --------------------------------------------------------------------------
# Parent
# --------------------------------------------------------------------------

TESTS = []
emu = None


def test(function):
    TESTS.append(function)
    return function


def check(condition, reason):
    if not condition:
        raise AssertionError(reason)


def run_chain(env=None, files=None, steps=("invoke",), imds=False):
    """Run the child in a clean environment; return its JSON answer.

    ``files``: {relative path under HOME: text}.  ``env`` values may use
    {home} and {url}."""
    with tempfile.TemporaryDirectory(prefix="pgc-chain-") as home:
        for relative, text in (files or {}).items():
            path = os.path.join(home, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as handle:
                handle.write(text)
        child_env = {"HOME": home, "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                     "LANG": "C.UTF-8", "AWS_DEFAULT_REGION": REGION}
        if not imds:
            child_env["AWS_EC2_METADATA_DISABLED"] = "true"
        for name, value in (env or {}).items():
            child_env[name] = value.format(home=home, url=emu.http_url)
        spec = json.dumps({"url": emu.http_url, "steps": list(steps)})
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", spec],
                              env=child_env, capture_output=True, text=True, timeout=60)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise AssertionError("child failed (%d): %s" % (done.returncode, done.stderr[-500:]))
    return json.loads(lines[-1])


def control(method, path, body=None):
    return emu.control(method, path, body)


def counters():
    return emu.stats()


def delta(before, after, *names):
    return {name: after[name] - before[name] for name in names}


def last_bedrock_request():
    return control("GET", "/_emulator/requests?n=1")["requests"][-1]


def last_identity_entry(endpoint=None):
    recent = control("GET", "/_emulator/identity?n=50")["recent"]
    if endpoint:
        recent = [e for e in recent if e["endpoint"] == endpoint]
    return recent[-1]


def raw(method, path, headers=None, body=None):
    """One plain HTTP exchange: (status, headers dict (lower-case), body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", emu.http_port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        connection.close()


def imds_token(ttl="21600"):
    status, headers, body = raw("PUT", "/latest/api/token",
                                {"X-aws-ec2-metadata-token-ttl-seconds": ttl})
    check(status == 200, "token PUT answered %d" % status)
    return body.decode()


def epoch_of(stamp):
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))


def answered(result, index=0):
    step = result["steps"][index]
    check(step.get("text") == "You said: from the chain", "invoke failed: %s" % step)


def sts_client(akid=AKID, secret=SECRET, token=None, unsigned=False, validate=True):
    import boto3
    import botocore
    from botocore.config import Config
    config = Config(retries={"mode": "standard", "total_max_attempts": 1},
                    parameter_validation=validate,
                    signature_version=botocore.UNSIGNED if unsigned else None)
    return boto3.session.Session().client(
        "sts", region_name=REGION, endpoint_url=emu.http_url, aws_access_key_id=akid,
        aws_secret_access_key=secret, aws_session_token=token, config=config)


def sts_error(call, code, status, contains=None):
    from botocore.exceptions import ClientError
    try:
        call()
    except ClientError as error:
        got = error.response["Error"]
        http_status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        check(got["Code"] == code, "expected %s, got %s (%s)" % (code, got["Code"], got))
        check(http_status == status, "%s: expected HTTP %d, got %d" % (code, status, http_status))
        check(got.get("Type") == "Sender", "Error.Type: %s" % got)
        check(error.response["ResponseMetadata"].get("RequestId"), "no RequestId parsed")
        check(contains is None or contains in got.get("Message", ""),
              "message %r lacks %r" % (got.get("Message"), contains))
        return got
    raise AssertionError("expected %s, the call succeeded" % code)


# --------------------------------------------------------------------------
# (a) IMDS
# --------------------------------------------------------------------------

@test
def imds_chain_gets_credentials_and_invokes():
    before = counters()
    result = run_chain({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "{url}/"}, imds=True)
    check(result["method"] == "iam-role", result)
    check(result["access_key_id"].startswith("ASIA"), result)
    answered(result)
    got = delta(before, counters(), "imds_token", "imds_role", "imds_credentials", "requests")
    check(got == {"imds_token": 1, "imds_role": 1, "imds_credentials": 1, "requests": 1}, got)
    last = last_bedrock_request()
    check(last["issued_by"] == "imds" and last["access_key_id"] == result["access_key_id"], last)


@test
def imds_off_means_no_credentials():
    control("POST", "/_emulator/identity", {"imds_enabled": False})
    try:
        before = counters()
        result = run_chain({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "{url}/"}, imds=True)
        check(result["access_key_id"] is None and "credential_error" not in result,
              "botocore found credentials with IMDS off: %s" % result)
        got = delta(before, counters(), "imds_token", "imds_credentials", "requests")
        check(got["imds_token"] >= 1 and got["imds_credentials"] == 0 and got["requests"] == 0,
              got)
        check(last_identity_entry("imds_token")["status"] == "closed", "not closed silently")
    finally:
        control("POST", "/_emulator/identity", {"imds_enabled": True})


@test
def imds_v2_http_rules():
    status, _, _ = raw("GET", "/latest/meta-data/iam/security-credentials/")
    check(status == 401, "IMDSv1 GET answered %d, not 401" % status)
    status, _, _ = raw("GET", "/latest/meta-data/iam/security-credentials/",
                       {"X-aws-ec2-metadata-token": "AQAEAnot-a-real-token"})
    check(status == 401, "unknown token answered %d" % status)
    for ttl in ("0", "21601", "abc"):
        status, _, _ = raw("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": ttl})
        check(status == 400, "TTL %s answered %d" % (ttl, status))
    status, _, _ = raw("PUT", "/latest/api/token")
    check(status == 400, "PUT without TTL answered %d" % status)
    status, _, _ = raw("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60",
                                                    "X-Forwarded-For": "10.0.0.1"})
    check(status == 403, "X-Forwarded-For answered %d" % status)
    status, headers, token = raw("PUT", "/latest/api/token",
                                 {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    check(status == 200 and headers.get("x-aws-ec2-metadata-token-ttl-seconds") == "60", headers)
    auth = {"X-aws-ec2-metadata-token": token.decode()}
    status, headers, body = raw("GET", "/latest/meta-data/iam/security-credentials/", auth)
    check(status == 200 and body == b"pg-claude-ec2-role", (status, body))
    check(headers["content-type"] == "text/plain", headers)
    status, _, _ = raw("GET", "/latest/meta-data/iam/security-credentials/other-role", auth)
    check(status == 404, "unknown role answered %d" % status)
    status, _, body = raw("GET", "/latest/meta-data/placement/region", auth)
    check(status == 200 and body == REGION.encode(), (status, body))


@test
def imds_credentials_document():
    auth = {"X-aws-ec2-metadata-token": imds_token()}
    now = time.time()
    status, _, body = raw("GET", "/latest/meta-data/iam/security-credentials/pg-claude-ec2-role",
                          auth)
    check(status == 200, status)
    document = json.loads(body)
    check(list(document) == ["Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey",
                             "Token", "Expiration"], list(document))
    check(document["Code"] == "Success" and document["Type"] == "AWS-HMAC", document["Code"])
    check(abs(epoch_of(document["Expiration"]) - now - 21600) < 5, document["Expiration"])
    check(abs(epoch_of(document["LastUpdated"]) - now) < 5, document["LastUpdated"])
    control("POST", "/_emulator/identity", {"credential_lifetime_s": 900})
    try:
        status, _, body = raw("GET", "/latest/meta-data/iam/security-credentials/pg-claude-ec2-role",
                              auth)
        check(abs(epoch_of(json.loads(body)["Expiration"]) - time.time() - 900) < 5, body[-40:])
    finally:
        control("POST", "/_emulator/identity", {"credential_lifetime_s": None})


@test
def imds_token_expires():
    auth = {"X-aws-ec2-metadata-token": imds_token("1")}
    status, _, _ = raw("GET", "/latest/meta-data/iam/security-credentials/", auth)
    check(status == 200, "fresh token refused: %d" % status)
    time.sleep(1.1)
    status, _, _ = raw("GET", "/latest/meta-data/iam/security-credentials/", auth)
    check(status == 401, "expired token answered %d" % status)


# --------------------------------------------------------------------------
# (e) expiry of issued credentials
# --------------------------------------------------------------------------

@test
def expire_issued_gives_expired_token_exception():
    result = run_chain({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "{url}/"}, imds=True,
                       steps=("invoke", "expire", "invoke"))
    answered(result)
    check(result["steps"][1]["expired"] >= 1, result["steps"][1])
    step = result["steps"][2]
    check(step.get("code") == "ExpiredTokenException"
          and "The security token included in the request is expired" in step["message"], step)
    last = last_bedrock_request()
    check(last["status"] == 403 and last["error_code"] == "ExpiredTokenException"
          and last["issued_by"] == "imds", last)
    # Static keys are untouched by expire_issued.
    static = run_chain({"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET})
    answered(static)
    check(last_bedrock_request()["issued_by"] == "static", last_bedrock_request())


# --------------------------------------------------------------------------
# (b) and (g) container credentials
# --------------------------------------------------------------------------

@test
def container_full_uri_with_token():
    control("POST", "/_emulator/identity", {"container_token": CONTAINER_TOKEN})
    try:
        before = counters()
        result = run_chain({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "{url}/v2/credentials/abc",
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN": CONTAINER_TOKEN})
        check(result["method"] == "container-role", result)
        answered(result)
        check(delta(before, counters(), "container")["container"] == 1, "container not counted")
        check(last_bedrock_request()["issued_by"] == "container", last_bedrock_request())
    finally:
        control("POST", "/_emulator/identity", {"container_token": None})


@test
def container_token_file_and_eks_path():
    control("POST", "/_emulator/identity", {"container_token": CONTAINER_TOKEN})
    try:
        result = run_chain({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "{url}/v1/credentials",
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "{home}/eks/token"},
                           files={"eks/token": CONTAINER_TOKEN})
        check(result["method"] == "container-role", result)
        answered(result)
        status, _, body = raw("GET", "/v1/credentials", {"Authorization": CONTAINER_TOKEN})
        document = json.loads(body)
        check(status == 200 and document["AccountId"] == ACCOUNT
              and document["RoleArn"].endswith(":role/pg-claude-container"), document.keys())
        status, _, body = raw("GET", "/v2/credentials/x", {"Authorization": CONTAINER_TOKEN})
        check(status == 200 and "AccountId" not in json.loads(body), body[:80])
    finally:
        control("POST", "/_emulator/identity", {"container_token": None})


@test
def container_wrong_token_fails_the_chain():
    control("POST", "/_emulator/identity", {"container_token": CONTAINER_TOKEN})
    try:
        before = counters()
        result = run_chain({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "{url}/v2/credentials/abc",
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "not-the-token"})
        error = result.get("credential_error") or {}
        check(result["access_key_id"] is None
              and error.get("exception") == "CredentialRetrievalError", result)
        got = delta(before, counters(), "container", "requests")
        check(got == {"container": 3, "requests": 0}, "botocore tries 3 times: %s" % got)
        for headers in ({}, {"Authorization": "Bearer " + CONTAINER_TOKEN}):
            status, response_headers, body = raw("GET", "/v2/credentials/abc", headers)
            check(status == 401 and response_headers["content-type"] == "application/json"
                  and json.loads(body)["Code"] == "AccessDenied", (status, body))
    finally:
        control("POST", "/_emulator/identity", {"container_token": None})
    status, _, _ = raw("GET", "/v2/credentials/abc")
    check(status == 200, "no token configured: any request is served (%d)" % status)


# --------------------------------------------------------------------------
# (c) web identity
# --------------------------------------------------------------------------

WEB_ENV = {"AWS_WEB_IDENTITY_TOKEN_FILE": "{home}/token", "AWS_ROLE_ARN": BEDROCK_ROLE,
           "AWS_ROLE_SESSION_NAME": "pgc-web", "AWS_ENDPOINT_URL_STS": "{url}"}


@test
def web_identity_chain():
    before = counters()
    result = run_chain(WEB_ENV, files={"token": WEB_TOKEN})
    check(result["method"] == "assume-role-with-web-identity", result)
    answered(result)
    check(delta(before, counters(), "sts_web_identity")["sts_web_identity"] == 1, "not counted")
    check(last_bedrock_request()["issued_by"]
          == "sts:AssumeRoleWithWebIdentity %s pgc-web" % BEDROCK_ROLE, last_bedrock_request())
    entry = last_identity_entry("sts")
    check(entry["status"] == 200 and "caller" not in entry, "was signed? %s" % entry)


@test
def web_identity_wrong_token():
    result = run_chain(WEB_ENV, files={"token": "eyJ.not-the-token.sig"})
    error = result.get("credential_error") or {}
    check(error.get("code") == "InvalidIdentityToken", result)


# --------------------------------------------------------------------------
# (d) assume role from a profile
# --------------------------------------------------------------------------

def profile_config(role, external_id=None):
    text = ("[profile base]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n"
            "[profile bedrock]\nrole_arn = %s\nsource_profile = base\n"
            "role_session_name = pgc-profile\n" % (AKID, SECRET, role))
    if external_id:
        text += "external_id = %s\n" % external_id
    return {".aws/config": text}


PROFILE_ENV = {"AWS_PROFILE": "bedrock", "AWS_ENDPOINT_URL_STS": "{url}"}


@test
def assume_role_profile_chain():
    before = counters()
    result = run_chain(PROFILE_ENV, files=profile_config(BEDROCK_ROLE))
    check(result["method"] == "assume-role", result)
    answered(result)
    check(delta(before, counters(), "sts_assume_role")["sts_assume_role"] == 1, "not counted")
    check(last_bedrock_request()["issued_by"] == "sts:AssumeRole %s pgc-profile" % BEDROCK_ROLE,
          last_bedrock_request())
    entry = last_identity_entry("sts")
    check(entry["caller"] == AKID and entry["region"] == REGION
          and entry["action"] == "AssumeRole", entry)


@test
def assume_role_external_id():
    result = run_chain(PROFILE_ENV, files=profile_config(EXTERNAL_ROLE, EXTERNAL_ID))
    check(result["method"] == "assume-role", result)
    answered(result)
    check(last_bedrock_request()["issued_by"].startswith("sts:AssumeRole " + EXTERNAL_ROLE),
          last_bedrock_request())
    for external_id in (None, "pgc-wrong-id"):
        result = run_chain(PROFILE_ENV, files=profile_config(EXTERNAL_ROLE, external_id))
        error = result.get("credential_error") or {}
        check(error.get("code") == "AccessDenied"
              and "not authorized to perform: sts:AssumeRole" in error["message"], result)


# --------------------------------------------------------------------------
# STS directly: shapes, errors, lifetimes
# --------------------------------------------------------------------------

@test
def sts_errors_as_botocore_parses_them():
    sts_error(lambda: sts_client(secret="wrong/secret").get_caller_identity(),
              "SignatureDoesNotMatch", 403, "The request signature we calculated does not match")
    sts_error(lambda: sts_client(akid="AKIAUNKNOWNKEY000000").get_caller_identity(),
              "InvalidClientTokenId", 403, "The security token included in the request is invalid.")
    sts_error(lambda: sts_client(unsigned=True).assume_role(
        RoleArn=BEDROCK_ROLE, RoleSessionName="unsigned"),
        "MissingAuthenticationToken", 403, "Request is missing Authentication Token")
    sts_error(lambda: sts_client().assume_role(RoleArn=EXTERNAL_ROLE, RoleSessionName="no-ext"),
              "AccessDenied", 403, "User: arn:aws:iam::123456789012:user/pg-claude-emulator is "
              "not authorized to perform: sts:AssumeRole on resource: " + EXTERNAL_ROLE)
    sts_error(lambda: sts_client().assume_role(RoleArn=BEDROCK_ROLE + "-nope",
                                               RoleSessionName="x-y"), "AccessDenied", 403)
    lax = sts_client(validate=False)
    sts_error(lambda: lax.assume_role(RoleArn=BEDROCK_ROLE, RoleSessionName="bad name"),
              "ValidationError", 400, "1 validation error detected: Value 'bad name' at "
              "'roleSessionName' failed to satisfy constraint: Member must satisfy regular "
              "expression pattern: [\\w+=,.@-]*")
    sts_error(lambda: lax.assume_role(RoleArn=BEDROCK_ROLE, RoleSessionName="x",
                                      DurationSeconds=899),
              "ValidationError", 400, "2 validation errors detected: ")
    sts_error(lambda: sts_client(unsigned=True).assume_role_with_web_identity(
        RoleArn=BEDROCK_ROLE, RoleSessionName="web", WebIdentityToken="eyJ.wrong.sig"),
        "InvalidIdentityToken", 400)
    issued = sts_client().assume_role(RoleArn=BEDROCK_ROLE, RoleSessionName="to-expire")
    keys = issued["Credentials"]
    control("POST", "/_emulator/identity", {"expire_issued": True})
    sts_error(lambda: sts_client(keys["AccessKeyId"], keys["SecretAccessKey"],
                                 keys["SessionToken"]).get_caller_identity(),
              "ExpiredToken", 403, "The security token included in the request is expired")


@test
def sts_shapes_and_lifetimes():
    started = time.time()
    response = sts_client().assume_role(RoleArn=BEDROCK_ROLE, RoleSessionName="pgc-shape",
                                        DurationSeconds=900)
    credentials = response["Credentials"]
    check(credentials["AccessKeyId"].startswith("ASIA") and credentials["SessionToken"], response)
    check(abs(credentials["Expiration"].timestamp() - started - 900) < 5,
          credentials["Expiration"])
    user = response["AssumedRoleUser"]
    check(user["Arn"] == "arn:aws:sts::%s:assumed-role/pg-claude-bedrock/pgc-shape" % ACCOUNT
          and user["AssumedRoleId"].startswith("AROA")
          and user["AssumedRoleId"].endswith(":pgc-shape"), user)
    check("PackedPolicySize" not in response, "PackedPolicySize without a policy")
    me = sts_client(credentials["AccessKeyId"], credentials["SecretAccessKey"],
                    credentials["SessionToken"]).get_caller_identity()
    check(me["Arn"] == user["Arn"] and me["UserId"] == user["AssumedRoleId"]
          and me["Account"] == ACCOUNT, me)
    me = sts_client().get_caller_identity()
    check(me["Arn"] == "arn:aws:iam::%s:user/pg-claude-emulator" % ACCOUNT, me)
    web = sts_client(unsigned=True).assume_role_with_web_identity(
        RoleArn=BEDROCK_ROLE, RoleSessionName="pgc-web2", WebIdentityToken=WEB_TOKEN)
    check(web["SubjectFromWebIdentityToken"] and web["Provider"] and web["Audience"]
          and abs(web["Credentials"]["Expiration"].timestamp() - started - 3600) < 5, web)
    control("POST", "/_emulator/identity", {"credential_lifetime_s": 1234})
    try:
        response = sts_client().assume_role(RoleArn=BEDROCK_ROLE, RoleSessionName="pgc-override",
                                            DurationSeconds=3600)
        check(abs(response["Credentials"]["Expiration"].timestamp() - time.time() - 1234) < 5,
              response["Credentials"]["Expiration"])
    finally:
        control("POST", "/_emulator/identity", {"credential_lifetime_s": None})
    status, headers, body = raw("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
                                b"Action=GetCallerIdentity&Version=2011-06-15")
    check(headers["content-type"] == "text/xml"
          and body.startswith(b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'),
          body[:120])


# --------------------------------------------------------------------------
# Control API and counters
# --------------------------------------------------------------------------

@test
def identity_control_api():
    control("POST", "/_emulator/identity", {"container_token": CONTAINER_TOKEN,
                                            "web_identity_token": "eyJ.other.sig",
                                            "imds_role": "other-role"})
    view = control("GET", "/_emulator/identity")
    text = json.dumps(view)
    check(CONTAINER_TOKEN not in text and "eyJ.other.sig" not in text, "a secret is shown")
    check(view["config"]["container_token_required"] is True
          and view["config"]["web_identity_token_is_default"] is False
          and view["config"]["imds_role"] == "other-role", view["config"])
    check(SECRET not in json.dumps(control("GET", "/_emulator/credentials")), "secret shown")
    for bad in ({"imds_enabled": "yes"}, {"credential_lifetime_s": -1}, {"no_such_field": 1},
                {"imds_role": ""}, {"expire_issued": 1}):
        try:
            control("POST", "/_emulator/identity", bad)
            raise AssertionError("accepted %s" % bad)
        except RuntimeError as error:
            check("identity" in str(error) or "must" in str(error), error)
    emu.reset()
    stats = emu.stats()
    view = control("GET", "/_emulator/identity")
    check(view["config"]["container_token_required"] is False
          and view["config"]["imds_role"] == "pg-claude-ec2-role"
          and view["config"]["web_identity_token_is_default"] is True, view["config"])
    names = ("imds_token", "imds_role", "imds_credentials", "container", "sts_assume_role",
             "sts_web_identity", "sts_get_caller_identity")
    check(all(stats[name] == 0 for name in names), "reset left counters: %s" % stats)


@test
def identity_calls_do_not_count_as_bedrock_requests():
    emu.reset()
    imds_token()
    raw("GET", "/v2/credentials/abc")
    sts_client().get_caller_identity()
    stats = emu.stats()
    check(stats["requests"] == 0 and stats["bedrock_connections"] == 0
          and stats["by_status"] == {}, stats)
    check(stats["imds_token"] == 1 and stats["container"] == 1
          and stats["sts_get_caller_identity"] == 1, stats)


# --------------------------------------------------------------------------

def clean_environment():
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                      AWS_EC2_METADATA_DISABLED="true")


def main():
    global emu
    from emu_harness import EmulatorProcess
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
                print("not ok - %s: %s" % (name, reason.replace("\n", " ")))
                if os.environ.get("VERBOSE"):
                    traceback.print_exc()
            else:
                passed += 1
                print("ok - %s" % name)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())
