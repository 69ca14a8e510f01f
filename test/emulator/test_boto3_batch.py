#!/usr/bin/env python3
"""Fidelity test: boto3's ``bedrock`` and ``s3`` clients drive the emulator's
batch inference (emu_batch).

    python3 test/emulator/test_boto3_batch.py

* CreateModelInvocationJob with input in S3 (one file, or a prefix of
  several), the job's lifecycle through GetModelInvocationJob (by ARN and by
  id) to Completed, the output ``X.jsonl.out`` files (every record once, the
  answers InvokeModel gives for the same bodies, not in input order) and
  ``manifest.json.out``;
* clientRequestToken idempotency (one job, the same ARN; a different request
  with the same token is a ConflictException), the emulator's counters;
* StopModelInvocationJob (Stopping -> Stopped with the records done so far),
  per-record errors (a marker, every Nth, bodies InvokeModel refuses),
  records left out (PartiallyCompleted), a job-level failure on demand,
  validation failures (too few records, a missing bucket, a bucket in another
  region), malformed requests refused at once;
* ListModelInvocationJobs filters and boto3's paginator.

Prints ``ok - name`` / ``not ok - name: reason``, then ``N passed, M failed``;
exits 1 if anything failed.
"""

import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto3                                            # noqa: E402
from botocore.config import Config                      # noqa: E402
from botocore.exceptions import ClientError             # noqa: E402

from emu_harness import EmulatorProcess                 # noqa: E402

AKID = "AKIAPGCLAUDEEMULATOR"
SECRET = "emulator/Secret+Key/0123456789abcdefEXAMPLE"
SYDNEY = "ap-southeast-2"
MODEL = "au.anthropic.claude-sonnet-5"
ROLE = "arn:aws:iam::123456789012:role/BedrockBatch"
BUCKET = "batch-syd"
FAST = {"batch_submitted_ms": 10, "batch_validating_ms": 10, "batch_scheduled_ms": 10,
        "batch_ms_per_record": 0}

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


_CLIENTS = {}


def client(service, region=SYDNEY):
    """One client per service and region (making one takes boto3 ~0.1 s)."""
    if (service, region) in _CLIENTS:
        return _CLIENTS[(service, region)]
    config = Config(retries={"mode": "standard", "total_max_attempts": 2},
                    connect_timeout=5, read_timeout=30, s3={"addressing_style": "path"})
    made = _CLIENTS[(service, region)] = boto3.session.Session().client(
        service, region_name=region, endpoint_url=emu.http_url, aws_access_key_id=AKID,
        aws_secret_access_key=SECRET, config=config)
    return made


def check(condition, reason):
    if not condition:
        raise AssertionError(reason)


def expect_error(call, code, status=None, fragment=None):
    try:
        call()
    except ClientError as error:
        got = error.response["Error"]["Code"]
        check(got == code, "expected %s, got %s (%s)" % (code, got, error.response["Error"]))
        http = error.response["ResponseMetadata"]["HTTPStatusCode"]
        check(status is None or http == status, "expected HTTP %s, got %s" % (status, http))
        message = error.response["Error"].get("Message", "")
        check(fragment is None or fragment in message, "message %r" % message)
        return error
    raise AssertionError("expected %s, the call succeeded" % code)


def configure(**settings):
    emu.control("POST", "/_emulator/config", dict(FAST, **settings))


def batch_stats():
    return emu.stats()["batch"]


def body(text, max_tokens=64):
    return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": text}]}


def upload(key, texts, bucket=BUCKET, first=0):
    lines = [json.dumps({"recordId": "R%05d" % (first + i), "modelInput": body(t)})
             for i, t in enumerate(texts)]
    client("s3").put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode())


def texts(n, start=0):
    return ["Write one sentence about number %d." % (start + i) for i in range(n)]


def create(name, in_uri, out_uri="s3://%s/out/" % BUCKET, **extra):
    arguments = dict(jobName=name, roleArn=ROLE, modelId=MODEL,
                     inputDataConfig={"s3InputDataConfig": {"s3Uri": in_uri}},
                     outputDataConfig={"s3OutputDataConfig": {"s3Uri": out_uri}})
    arguments.update(extra)
    return client("bedrock").create_model_invocation_job(**arguments)["jobArn"]


def wait(arn, until=("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"),
         timeout=30):
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client("bedrock").get_model_invocation_job(jobIdentifier=arn)
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in until:
            return job, seen
        time.sleep(0.02)
    raise AssertionError("job %s still %s after %ss (seen %s)" % (arn, seen[-1], timeout, seen))


def read_output(arn, name, out_prefix="out/"):
    job_id = arn.rsplit("/", 1)[1]
    data = client("s3").get_object(Bucket=BUCKET, Key="%s%s/%s" % (out_prefix, job_id, name))
    raw = data["Body"].read().decode()
    if name.endswith(".jsonl.out"):
        return [json.loads(line) for line in raw.splitlines() if line.strip()]
    return json.loads(raw)


def setup():
    s3 = client("s3")
    for bucket, region in ((BUCKET, SYDNEY), ("batch-virginia", "us-east-1")):
        kwargs = {} if region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": region}}
        client("s3", region).create_bucket(Bucket=bucket, **kwargs)
    return s3


# --------------------------------------------------------------------------

@test
def lifecycle_to_completed_with_output_and_manifest():
    emu.reset()
    setup()
    configure(batch_ms_per_record=1, batch_validating_ms=80, batch_scheduled_ms=60)
    upload("in/one.jsonl", texts(150))
    arn = create("enrich-one", "s3://%s/in/one.jsonl" % BUCKET, clientRequestToken="tok-one",
                 inputDataConfig={"s3InputDataConfig": {
                     "s3Uri": "s3://%s/in/one.jsonl" % BUCKET, "s3InputFormat": "JSONL"}},
                 tags=[{"key": "team", "value": "data"}], timeoutDurationInHours=24)
    check(arn.startswith("arn:aws:bedrock:%s:123456789012:model-invocation-job/" % SYDNEY), arn)
    job, seen = wait(arn)
    check(job["status"] == "Completed", job)
    check(seen[0] in ("Submitted", "Validating") and "InProgress" in seen, seen)
    order = ["Submitted", "Validating", "Scheduled", "InProgress", "Completed"]
    check([s for s in order if s in seen] == seen, "out of order: %s" % seen)
    for key in ("jobName", "modelId", "roleArn", "submitTime", "lastModifiedTime", "endTime",
                "inputDataConfig", "outputDataConfig", "jobExpirationTime"):
        check(key in job, "%s missing from %s" % (key, job))
    check(job["clientRequestToken"] == "tok-one" and job["timeoutDurationInHours"] == 24, job)
    check((job["totalRecordCount"], job["processedRecordCount"], job["successRecordCount"],
           job["errorRecordCount"]) == (150, 150, 150, 0), job)
    lines = read_output(arn, "one.jsonl.out")
    ids = [line["recordId"] for line in lines]
    check(sorted(ids) == ["R%05d" % i for i in range(150)], "record ids %s" % ids[:5])
    check(ids != sorted(ids), "output kept the input order")
    by_id = {line["recordId"]: line for line in lines}
    invoked = json.loads(client("bedrock-runtime").invoke_model(
        modelId=MODEL, body=json.dumps(body(texts(150)[7])))["body"].read())
    check(by_id["R00007"]["modelOutput"]["content"] == invoked["content"],
          "batch answer %s vs InvokeModel %s" % (by_id["R00007"]["modelOutput"], invoked))
    check(by_id["R00007"]["modelInput"] == body(texts(150)[7]), by_id["R00007"])
    manifest = read_output(arn, "manifest.json.out")
    check(manifest["totalRecordCount"] == 150 and manifest["successRecordCount"] == 150
          and manifest["errorRecordCount"] == 0 and manifest["processedRecordCount"] == 150,
          manifest)
    tokens_out = sum(line["modelOutput"]["usage"]["output_tokens"] for line in lines)
    tokens_in = sum(line["modelOutput"]["usage"]["input_tokens"] for line in lines)
    check(manifest["inputTokenCount"] == tokens_in and manifest["outputTokenCount"] == tokens_out,
          manifest)
    by_id_job = client("bedrock").get_model_invocation_job(jobIdentifier=arn.rsplit("/", 1)[1])
    check(by_id_job["jobArn"] == arn, by_id_job)


@test
def prefix_input_with_several_files():
    emu.reset()
    setup()
    configure()
    upload("in/multi/a.jsonl", texts(60), first=0)
    upload("in/multi/sub/b.jsonl", texts(70, 60), first=60)
    client("s3").put_object(Bucket=BUCKET, Key="in/multi/notes.txt", Body=b"ignored")
    arn = create("enrich-multi", "s3://%s/in/multi/" % BUCKET, clientRequestToken="tok-multi")
    job, _ = wait(arn)
    check(job["status"] == "Completed" and job["totalRecordCount"] == 130, job)
    a = read_output(arn, "a.jsonl.out")
    b = read_output(arn, "sub/b.jsonl.out")
    check(len(a) == 60 and len(b) == 70, (len(a), len(b)))
    check({line["recordId"] for line in b} == {"R%05d" % i for i in range(60, 130)}, "b ids")


@test
def idempotent_create_makes_one_job():
    emu.reset()
    setup()
    configure(batch_ms_per_record=5)
    upload("in/idem.jsonl", texts(120))
    before = batch_stats()
    first = create("enrich-idem", "s3://%s/in/idem.jsonl" % BUCKET, clientRequestToken="same-1")
    again = create("enrich-idem", "s3://%s/in/idem.jsonl" % BUCKET, clientRequestToken="same-1")
    check(first == again, "%s vs %s" % (first, again))
    expect_error(lambda: create("enrich-other", "s3://%s/in/idem.jsonl" % BUCKET,
                                clientRequestToken="same-1"), "ConflictException", 400)
    stats = batch_stats()
    check(stats["create_calls"] - before["create_calls"] == 3, stats)
    check(stats["jobs_created"] - before["jobs_created"] == 1, stats)
    check(stats["idempotent_replays"] == 1, stats)
    listed = client("bedrock").list_model_invocation_jobs()["invocationJobSummaries"]
    check(len(listed) == 1 and listed[0]["jobArn"] == first, listed)
    # boto3 fills an absent clientRequestToken itself (idempotencyToken): a new job each call
    other = create("enrich-auto", "s3://%s/in/idem.jsonl" % BUCKET)
    check(other != first and batch_stats()["jobs_created"] == 2, batch_stats())
    wait(first)
    wait(other)


@test
def stop_keeps_the_records_done():
    emu.reset()
    setup()
    configure(batch_ms_per_record=20)
    upload("in/stop.jsonl", texts(200))
    arn = create("enrich-stop", "s3://%s/in/stop.jsonl" % BUCKET, clientRequestToken="tok-stop")
    wait(arn, until=("InProgress",))
    time.sleep(0.5)
    client("bedrock").stop_model_invocation_job(jobIdentifier=arn)
    status = client("bedrock").get_model_invocation_job(jobIdentifier=arn)["status"]
    check(status in ("Stopping", "Stopped"), status)
    job, _ = wait(arn)
    check(job["status"] == "Stopped" and "endTime" in job, job)
    lines = read_output(arn, "stop.jsonl.out")
    check(0 < len(lines) < 200, "%d lines after a stop" % len(lines))
    check(job["processedRecordCount"] == len(lines), (job["processedRecordCount"], len(lines)))
    manifest = read_output(arn, "manifest.json.out")
    check(manifest["processedRecordCount"] == len(lines) and manifest["totalRecordCount"] == 200,
          manifest)
    expect_error(lambda: client("bedrock").stop_model_invocation_job(jobIdentifier=arn),
                 "ValidationException", 400, "cannot be stopped")


@test
def stop_before_it_runs():
    emu.reset()
    setup()
    configure(batch_validating_ms=2000)
    upload("in/early.jsonl", texts(100))
    arn = create("enrich-early", "s3://%s/in/early.jsonl" % BUCKET)
    client("bedrock").stop_model_invocation_job(jobIdentifier=arn)
    job, _ = wait(arn, timeout=5)
    check(job["status"] == "Stopped", job)


@test
def per_record_errors_on_demand_and_from_the_model():
    emu.reset()
    setup()
    configure(batch_error_marker="FAILME", batch_error_every=50, batch_error_code=429,
              batch_error_message="Too many tokens")
    items = texts(100)
    items[3] = "FAILME please"
    upload("in/err.jsonl", items)
    # one body InvokeModel would refuse: max_tokens 0
    bad = json.dumps({"recordId": "BAD01", "modelInput": dict(body("x"), max_tokens=0)})
    s3 = client("s3")
    old = s3.get_object(Bucket=BUCKET, Key="in/err.jsonl")["Body"].read()
    s3.put_object(Bucket=BUCKET, Key="in/err.jsonl", Body=old + bad.encode() + b"\n")
    arn = create("enrich-err", "s3://%s/in/err.jsonl" % BUCKET)
    job, _ = wait(arn)
    check(job["status"] == "Completed", job)
    lines = {line["recordId"]: line for line in read_output(arn, "err.jsonl.out")}
    check(len(lines) == 101, len(lines))
    errors = {k for k, v in lines.items() if "error" in v}
    check(errors == {"R00003", "R00049", "R00099", "BAD01"}, errors)
    check(lines["R00003"]["error"] == {"errorCode": 429, "errorMessage": "Too many tokens"},
          lines["R00003"])
    check(lines["BAD01"]["error"]["errorCode"] == 400 and "modelOutput" not in lines["BAD01"],
          lines["BAD01"])
    check(job["errorRecordCount"] == 4 and job["successRecordCount"] == 97, job)
    manifest = read_output(arn, "manifest.json.out")
    check(manifest["errorRecordCount"] == 4, manifest)


@test
def missing_records_make_a_partial_job():
    emu.reset()
    setup()
    configure(batch_missing_every=10, batch_missing_marker="number 5.")
    upload("in/miss.jsonl", texts(100))
    arn = create("enrich-miss", "s3://%s/in/miss.jsonl" % BUCKET)
    job, _ = wait(arn)
    check(job["status"] == "PartiallyCompleted" and job.get("message"), job)
    lines = read_output(arn, "miss.jsonl.out")
    ids = {line["recordId"] for line in lines}
    check(len(lines) == 89 and "R00005" not in ids and "R00009" not in ids, (len(lines), ids))
    check(job["totalRecordCount"] == 100 and job["processedRecordCount"] == 89, job)


@test
def job_level_failure_on_demand():
    emu.reset()
    setup()
    configure(batch_fail_jobs=1, batch_fail_message="Internal failure, try again",
              batch_ms_per_record=2)
    upload("in/fail.jsonl", texts(100))
    arn = create("enrich-fail", "s3://%s/in/fail.jsonl" % BUCKET)
    job, seen = wait(arn)
    check(job["status"] == "Failed" and job["message"] == "Internal failure, try again", job)
    check("InProgress" in seen, seen)
    arn2 = create("enrich-next", "s3://%s/in/fail.jsonl" % BUCKET)
    check(wait(arn2)[0]["status"] == "Completed", "only the next job fails")
    configure(batch_fail_jobs=1, batch_fail_stage="Validating")
    arn3 = create("enrich-fail3", "s3://%s/in/fail.jsonl" % BUCKET)
    job, seen = wait(arn3)
    check(job["status"] == "Failed" and "InProgress" not in seen, (job, seen))


@test
def timeouts_expire_or_cut_a_job_short():
    emu.reset()
    setup()
    emu.control("POST", "/_emulator/batch-config", {"ms_per_hour": 20, "validating_ms": 2000})
    got = emu.control("GET", "/_emulator/batch-config")["config"]       # 24 h = 480 ms
    check(got["batch_ms_per_hour"] == 20 and got["batch_validating_ms"] == 2000, got)
    try:
        emu.control("POST", "/_emulator/batch-config", {"no_such_setting": 1})
        raise AssertionError("an unknown batch setting was accepted")
    except RuntimeError as refused:
        check("no_such_setting" in str(refused), refused)
    upload("in/slow.jsonl", texts(200))
    job, seen = wait(create("late", "s3://%s/in/slow.jsonl" % BUCKET,
                            timeoutDurationInHours=24))
    check(job["status"] == "Expired" and "24 hours" in job["message"], job)
    check("InProgress" not in seen, seen)
    configure(batch_ms_per_hour=20, batch_validating_ms=10, batch_ms_per_record=5)  # ~1 s of work
    arn = create("cut", "s3://%s/in/slow.jsonl" % BUCKET, timeoutDurationInHours=24)
    job, seen = wait(arn)
    check(job["status"] == "PartiallyCompleted" and "timeout" in job["message"], job)
    lines = read_output(arn, "slow.jsonl.out")
    check(0 < len(lines) < 200 and job["processedRecordCount"] == len(lines),
          (len(lines), job))


@test
def validation_failures_while_validating():
    emu.reset()
    setup()
    configure()
    upload("in/few.jsonl", texts(99))
    job, _ = wait(create("few", "s3://%s/in/few.jsonl" % BUCKET))
    check(job["status"] == "Failed" and "minimum number of records" in job["message"], job)
    check("(99)" in job["message"] and "(100)" in job["message"], job["message"])
    job, _ = wait(create("nobucket", "s3://no-such-bucket/in/x.jsonl"))
    check(job["status"] == "Failed" and "no-such-bucket" in job["message"], job)
    client("s3", "us-east-1").put_object(Bucket="batch-virginia", Key="in/x.jsonl", Body=b"{}")
    job, _ = wait(create("otherregion", "s3://batch-virginia/in/x.jsonl"))
    check(job["status"] == "Failed" and "us-east-1" in job["message"], job)
    job, _ = wait(create("noinput", "s3://%s/nothing/" % BUCKET))
    check(job["status"] == "Failed" and "No .jsonl" in job["message"], job)
    client("s3").put_object(Bucket=BUCKET, Key="in/bad.jsonl", Body=b'{"recordId": "x"}\n')
    job, _ = wait(create("badline", "s3://%s/in/bad.jsonl" % BUCKET))
    check(job["status"] == "Failed" and "Line 1" in job["message"], job)
    configure(batch_max_records_per_file=50)
    job, _ = wait(create("perfile", "s3://%s/in/few.jsonl" % BUCKET))
    check(job["status"] == "Failed" and "per input file" in job["message"], job)
    configure(batch_max_records_per_file=50000, batch_max_records_per_job=98,
              batch_min_records=10)
    job, _ = wait(create("perjob", "s3://%s/in/few.jsonl" % BUCKET))
    check(job["status"] == "Failed" and "per batch inference job (98)" in job["message"], job)
    configure(batch_max_records_per_job=50000, batch_roles="arn:aws:iam::123456789012:role/Other")
    job, _ = wait(create("role", "s3://%s/in/few.jsonl" % BUCKET))
    check(job["status"] == "Failed" and ROLE in job["message"], job)
    configure(batch_roles="")
    job, _ = wait(create("fewok", "s3://%s/in/few.jsonl" % BUCKET))
    check(job["status"] == "Completed", "batch_min_records=10 lets 99 through: %s" % job)


@test
def malformed_requests_refused_at_once():
    emu.reset()
    setup()
    before = batch_stats()["jobs_created"]
    uri = "s3://%s/in/x.jsonl" % BUCKET
    expect_error(lambda: create("bad name!", uri), "ValidationException", 400, "jobName")
    expect_error(lambda: create("n", uri, modelId="anthropic.claude-nope"),
                 "ValidationException", 400)
    expect_error(lambda: client("bedrock").create_model_invocation_job(
        jobName="n", roleArn="not-an-arn", modelId=MODEL,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": uri}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://%s/out/" % BUCKET}}),
        "ValidationException", 400, "roleArn")
    expect_error(lambda: create("n", "https://example.com/x"), "ValidationException", 400,
                 "s3Uri")
    expect_error(lambda: create("n", uri, outputDataConfig={"s3OutputDataConfig": {
        "s3Uri": "s3://%s/out/" % BUCKET, "s3EncryptionKeyId": "not a key"}}),
        "ValidationException", 400)
    expect_error(lambda: create("n", uri, inputDataConfig={"s3InputDataConfig": {
        "s3Uri": uri, "s3InputFormat": "CSV"}}), "ValidationException", 400, "s3InputFormat")
    check(batch_stats()["jobs_created"] == before, batch_stats())
    expect_error(lambda: client("bedrock").get_model_invocation_job(
        jobIdentifier="abcdefabcdef"), "ResourceNotFoundException", 404)
    expect_error(lambda: client("bedrock").get_model_invocation_job(jobIdentifier="BAD"),
                 "ValidationException", 400)


@test
def kms_key_and_arn_model_accepted():
    emu.reset()
    setup()
    configure()
    upload("in/kms.jsonl", texts(100))
    profile = "arn:aws:bedrock:%s:123456789012:inference-profile/%s" % (SYDNEY, MODEL)
    arn = create("enrich-kms", "s3://%s/in/kms.jsonl" % BUCKET, modelId=profile,
                 outputDataConfig={"s3OutputDataConfig": {
                     "s3Uri": "s3://%s/kms" % BUCKET,
                     "s3EncryptionKeyId": "alias/batch-key"}})
    job, _ = wait(arn)
    check(job["status"] == "Completed" and job["modelId"] == profile, job)
    check(job["outputDataConfig"]["s3OutputDataConfig"]["s3EncryptionKeyId"] == "alias/batch-key",
          job)
    check(len(read_output(arn, "kms.jsonl.out", "kms/")) == 100, "output under kms/")


@test
def list_filters_and_paginates():
    emu.reset()
    setup()
    configure(batch_validating_ms=5000)
    upload("in/list.jsonl", texts(100))
    arns = [create("list-job-%02d" % i, "s3://%s/in/list.jsonl" % BUCKET) for i in range(7)]
    other = create("unrelated", "s3://%s/in/list.jsonl" % BUCKET)
    bedrock = client("bedrock")
    pages = list(bedrock.get_paginator("list_model_invocation_jobs").paginate(
        nameContains="list-job", PaginationConfig={"PageSize": 3}))
    got = [s["jobArn"] for page in pages for s in page["invocationJobSummaries"]]
    check(len(pages) == 3 and got == list(reversed(arns)), (len(pages), got))
    ascending = bedrock.list_model_invocation_jobs(sortOrder="Ascending", maxResults=2)
    check([s["jobArn"] for s in ascending["invocationJobSummaries"]] == arns[:2]
          and "nextToken" in ascending, ascending)
    bedrock.stop_model_invocation_job(jobIdentifier=other)
    wait(other)
    stopped = bedrock.list_model_invocation_jobs(statusEquals="Stopped")["invocationJobSummaries"]
    check([s["jobArn"] for s in stopped] == [other], stopped)
    expect_error(lambda: bedrock.list_model_invocation_jobs(nextToken="garbage!"),
                 "ValidationException", 400)
    elsewhere = client("bedrock", "ap-southeast-4").list_model_invocation_jobs()
    check(elsewhere["invocationJobSummaries"] == [], "jobs are per region")
    expect_error(lambda: client("bedrock", "ap-southeast-4").get_model_invocation_job(
        jobIdentifier=other), "ResourceNotFoundException", 404)
    for arn in arns:
        bedrock.stop_model_invocation_job(jobIdentifier=arn)


@test
def faults_apply_to_batch_operations():
    emu.reset()
    setup()
    configure()
    upload("in/fault.jsonl", texts(100))
    emu.fault(fault="throttle", operations=["batch"])
    arn = create("enrich-fault", "s3://%s/in/fault.jsonl" % BUCKET, clientRequestToken="tok-f")
    stats = batch_stats()
    check(emu.stats()["by_status"].get("429") == 1, emu.stats()["by_status"])
    check(stats["create_calls"] == 1 and stats["jobs_created"] == 1, stats)   # boto3 retried
    check(wait(arn)[0]["status"] == "Completed", "after a retried throttle")
    jobs = emu.control("GET", "/_emulator/batch-jobs")["jobs"]
    check(len(jobs) == 1 and jobs[0]["outputKeys"][-1].endswith("manifest.json.out"), jobs)


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
