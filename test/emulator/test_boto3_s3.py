#!/usr/bin/env python3
"""Fidelity test: boto3's ``s3`` client against the emulator's S3 (emu_s3).

    python3 test/emulator/test_boto3_s3.py

* CreateBucket with a region, HeadBucket (its region header), PutObject and
  GetObject of keys that need encoding, ListObjectsV2 through boto3's
  paginator (over 1,000 keys, boto3's ``encoding-type=url``), NoSuchKey and
  NoSuchBucket as boto3 reads S3's XML errors;
* path-style and virtual-hosted addressing (the latter by sending to the
  emulator a request boto3 addressed and signed for
  ``BUCKET.s3.REGION.amazonaws.com``, with that Host header kept);
* a request signed with the wrong secret is refused (SignatureDoesNotMatch);
  one signed for another region gets S3's 400 with x-amz-bucket-region, which
  boto3's region redirector follows; a SlowDown fault is retried by boto3.

Prints ``ok - name`` / ``not ok - name: reason``, then ``N passed, M failed``;
exits 1 if anything failed.
"""

import os
import sys
import traceback
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto3                                            # noqa: E402
from botocore.config import Config                      # noqa: E402
from botocore.exceptions import ClientError             # noqa: E402

from emu_harness import EmulatorProcess                 # noqa: E402

AKID = "AKIAPGCLAUDEEMULATOR"
SECRET = "emulator/Secret+Key/0123456789abcdefEXAMPLE"
SYDNEY = "ap-southeast-2"
KEYS = ["plain.txt", "with space.txt", "plus+sign", "tilde~x", "a/b/c/deep.json",
        "unicode-\u00e9\u65e5\u672c.txt", "percent%41", "amp&lt<gt>", "q?mark=1"]

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


def s3(region=SYDNEY, style="path", secret=SECRET, retries=3):
    config = Config(s3={"addressing_style": style},
                    retries={"mode": "standard", "total_max_attempts": retries},
                    connect_timeout=5, read_timeout=30)
    if style == "path":
        return boto3.session.Session().client(
            "s3", region_name=region, endpoint_url=emu.http_url, aws_access_key_id=AKID,
            aws_secret_access_key=secret, config=config)
    # virtual-hosted: boto3 addresses and signs for BUCKET.s3.REGION.amazonaws.com;
    # the request then goes to the emulator with that Host header kept (still signed)
    client = boto3.session.Session().client(
        "s3", region_name=region, endpoint_url="http://s3.%s.amazonaws.com" % region,
        aws_access_key_id=AKID, aws_secret_access_key=secret, config=config)
    local = urllib.parse.urlsplit(emu.http_url).netloc

    def to_emulator(request, **_):
        parts = urllib.parse.urlsplit(request.url)
        request.headers["Host"] = parts.netloc
        request.url = urllib.parse.urlunsplit(parts._replace(netloc=local))

    client.meta.events.register("before-send", to_emulator)
    return client


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


def s3_stats():
    return emu.control("GET", "/_emulator/stats")["s3"]


@test
def create_and_head_bucket():
    c = s3()
    c.create_bucket(Bucket="syd-bucket",
                    CreateBucketConfiguration={"LocationConstraint": SYDNEY})
    head = c.head_bucket(Bucket="syd-bucket")
    region = head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region")
    check(region == SYDNEY, "x-amz-bucket-region %r" % region)
    listed = emu.control("GET", "/_emulator/s3-buckets")["buckets"]
    check({"name": "syd-bucket", "region": SYDNEY} in
          [{"name": b["name"], "region": b["region"]} for b in listed], "control API %r" % listed)


@test
def put_get_keys_that_need_encoding_path_style():
    c = s3()
    for key in KEYS:
        put = c.put_object(Bucket="syd-bucket", Key=key, Body=("body of " + key).encode())
        check(put["ETag"].startswith('"'), "ETag %r" % put["ETag"])
        got = c.get_object(Bucket="syd-bucket", Key=key)
        check(got["Body"].read() == ("body of " + key).encode(), "round trip of %r" % key)
        check(got["ETag"] == put["ETag"], "ETag differs for %r" % key)


@test
def put_get_virtual_hosted():
    c = s3(style="virtual")
    for key in KEYS[:6]:
        c.put_object(Bucket="syd-bucket", Key="vh/" + key, Body=b"v")
        check(c.get_object(Bucket="syd-bucket", Key="vh/" + key)["Body"].read() == b"v",
              "virtual-hosted round trip of %r" % key)
    last = emu.control("GET", "/_emulator/stats")["s3"]
    check(last["signature_failures"] == 0, "signature failures %r" % last)


@test
def list_objects_v2_paginates_over_1000_keys():
    c = s3()
    c.create_bucket(Bucket="many-keys", CreateBucketConfiguration={"LocationConstraint": SYDNEY})
    want = sorted("batch/in/%05d a+b.jsonl" % i for i in range(1234))
    for key in want:
        c.put_object(Bucket="many-keys", Key=key, Body=b"x")
    c.put_object(Bucket="many-keys", Key="other/not-listed", Body=b"x")
    before = s3_stats()["by_operation"].get("ListObjectsV2", 0)
    pages = list(c.get_paginator("list_objects_v2").paginate(Bucket="many-keys", Prefix="batch/"))
    got = [o["Key"] for page in pages for o in page.get("Contents", [])]
    check(got == want, "listed %d keys, first differences %r" % (
        len(got), [k for k in got if k not in want][:3]))
    check(len(pages) == 2, "%d pages" % len(pages))
    calls = s3_stats()["by_operation"]["ListObjectsV2"] - before
    check(calls == 2, "%d ListObjectsV2 requests" % calls)


@test
def no_such_key_and_no_such_bucket():
    c = s3()
    expect_error(lambda: c.get_object(Bucket="syd-bucket", Key="missing"), "NoSuchKey", 404)
    expect_error(lambda: c.get_object(Bucket="no-such-bucket", Key="k"), "NoSuchBucket", 404)
    expect_error(lambda: c.head_bucket(Bucket="no-such-bucket"), "404", 404)


@test
def wrong_secret_is_refused():
    c = s3(secret="not-the-secret")
    before = s3_stats()["signature_failures"]
    expect_error(lambda: c.put_object(Bucket="syd-bucket", Key="forged", Body=b"x"),
                 "SignatureDoesNotMatch", 403)
    check(s3_stats()["signature_failures"] == before + 1, "signature failure not counted")
    expect_error(lambda: s3().get_object(Bucket="syd-bucket", Key="forged"), "NoSuchKey", 404)


@test
def wrong_region_is_told_the_buckets_region():
    # boto3's S3RegionRedirector reads x-amz-bucket-region off S3's 400 and
    # signs again for the bucket's region: it works only if the 400 is S3's
    before = s3_stats()["by_status"].get("400", 0)
    got = s3(region="us-east-1").get_object(Bucket="syd-bucket", Key="plain.txt")
    check(got["Body"].read() == b"body of plain.txt", "redirected read")
    check(s3_stats()["by_status"].get("400", 0) == before + 1, "no 400 answered first")


@test
def slowdown_is_retried():
    emu.control("POST", "/_emulator/faults", {"fault": "error", "status": 503,
                                              "error_type": "SlowDown", "count": 2,
                                              "operations": ["PutObject"]})
    before = s3_stats()["by_operation"].get("PutObject", 0)
    s3(retries=4).put_object(Bucket="syd-bucket", Key="after-slowdown", Body=b"ok")
    check(s3_stats()["by_operation"]["PutObject"] - before == 3, "not three attempts")
    emu.control("POST", "/_emulator/faults", {"fault": "error", "status": 503,
                                              "operations": ["s3"]})
    expect_error(lambda: s3(retries=1).put_object(Bucket="syd-bucket", Key="k", Body=b""),
                 "SlowDown", 503)


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
