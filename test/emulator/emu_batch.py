"""Bedrock batch inference for the emulator (bedrock 2023-04-20, control plane).

    POST /model-invocation-job                       CreateModelInvocationJob
    GET  /model-invocation-job/{jobIdentifier}       GetModelInvocationJob
    POST /model-invocation-job/{jobIdentifier}/stop  StopModelInvocationJob
    GET  /model-invocation-jobs                      ListModelInvocationJobs

Signed as service ``bedrock`` like the other control-plane calls; shapes and
the status enum as the service model defines them.  A job reads its JSONL
input from the emulator's own S3 (emu_s3) and writes, under
``{output uri}{job id}/``, one ``X.jsonl.out`` per input file ``X.jsonl`` (the
records in a shuffled order, as AWS does not keep the input order) and a
``manifest.json.out`` with the record and token counts.

Lifecycle, run by one thread per job and timed by the ``batch_*`` settings:
Submitted -> Validating -> Scheduled -> InProgress -> Completed, or
PartiallyCompleted (records left out of the output on demand, or the job's
timeout reached while InProgress: the records finished are written), Expired
(the timeout reached before InProgress), Failed (a validation failure, or on
demand) or Stopping -> Stopped (StopModelInvocationJob: the records finished so
far are written).  Each record is answered by the
same rules as InvokeModel (emu_claude on its ``modelInput``); a record whose
body InvokeModel would refuse becomes an error line with that message.

Limits: AWS's service quotas "Minimum number of records per batch inference
job" (100), "Records per input file per batch inference job" and "Records per
batch inference job" (50,000 each by default); the facts file
(claude-models/ap-southeast-2.json) gives only the batch price (50 % of
on-demand), so the limits are settings here and tests may lower them.

Choices where AWS documents nothing: a missing bucket, a bucket in another
region, a role outside ``batch_roles`` (when set), malformed JSONL and too
few or too many records fail the job while Validating (status Failed with a
message), as AWS checks those asynchronously; a malformed request (names,
ARNs, URIs, an unknown model) is a 400 ValidationException at once.  The same
clientRequestToken with the same request answers the first job's ARN and makes
no second job; with a different request it is a 400 ConflictException.
"""

import base64
import collections
import hashlib
import json
import random
import re
import threading
import time
from dataclasses import dataclass, fields
from datetime import datetime
from urllib.parse import unquote

import emu_catalogue as catalogue
import emu_claude as claude

OPERATIONS = ("CreateModelInvocationJob", "GetModelInvocationJob", "StopModelInvocationJob",
              "ListModelInvocationJobs")
STATUSES = ("Submitted", "Validating", "Scheduled", "InProgress", "Stopping", "Stopped",
            "PartiallyCompleted", "Completed", "Failed", "Expired")
TERMINAL = ("Stopped", "PartiallyCompleted", "Completed", "Failed", "Expired")
DEFAULT_TIMEOUT_HOURS = 168          # the service model's maximum (range 24..168)
MAX_PAGE_SIZE = 1000
RECORD_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

_JOB_PATH_RE = re.compile(r"/model-invocation-job/([^/]+)(/stop)?")
_NAME_RE = re.compile(r"[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}")
_TOKEN_RE = re.compile(r"[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}")
_ROLE_RE = re.compile(r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+")
_S3_URI_RE = re.compile(r"s3://([a-z0-9][-.a-z0-9]{1,61}[a-z0-9])"
                        r"((?:/[-!_*'().a-z0-9A-Z]+)*)(/?)")
_KMS_RE = re.compile(r"(arn:aws(-[^:]+)?:kms:[a-zA-Z0-9-]*:[0-9]{12}:((key/[a-zA-Z0-9-]{36})|"
                     r"(alias/[a-zA-Z0-9-_/]+)))|([a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+)")
_ID_RE = re.compile(r"(?:arn:aws(?:-[^:]+)?:bedrock:([a-z0-9-]{1,20}):([0-9]{12}):"
                    r"model-invocation-job/)?([a-z0-9]{12})")

MSG_NOT_FOUND = "The specified job could not be found."     # choice: AWS's text is unpublished
MSG_TOKEN_CONFLICT = ("The clientRequestToken %s was used before with different request "
                      "parameters.")
MSG_NOT_STOPPABLE = "The job %s is %s and cannot be stopped."
MSG_TOO_FEW = ("The number of records in the job's input (%d) is below the minimum number of "
               "records per batch inference job (%d).")
MSG_TOO_MANY_FILE = ("The input file %s has %d records, more than the maximum number of records "
                     "per input file per batch inference job (%d).")
MSG_TOO_MANY_JOB = ("The job's input has %d records, more than the maximum number of records per "
                    "batch inference job (%d).")
MSG_NO_BUCKET = "The S3 bucket %s does not exist or Amazon Bedrock cannot access it."
MSG_BUCKET_REGION = ("The S3 bucket %s is in %s; a batch inference job in %s must read and "
                     "write a bucket in its own region.")
MSG_NO_INPUT = "No .jsonl input file was found at %s."
MSG_BAD_LINE = "Line %d of %s is not a JSON object with a modelInput object."
MSG_ROLE = "Amazon Bedrock could not assume the service role %s."
MSG_INJECTED_FAILURE = "The batch inference job failed with an internal error."
MSG_EXPIRED = "The job did not start before its timeout of %d hours."
MSG_TIMED_OUT = ("The job reached its timeout of %d hours before every record was processed; "
                 "the output has the records finished.")
MSG_RECORD_ERROR = "The model failed to process this record (emulated per-record error)."


class BatchError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def validation(message):
    return BatchError(400, "ValidationException", message)


def constraint(value, member, rule):
    return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy "
                      "constraint: %s" % (value, member, rule))


def route(method, raw_path):
    """(operation, decoded job identifier or None) of a batch path, or None."""
    if raw_path == "/model-invocation-job" and method == "POST":
        return "CreateModelInvocationJob", None
    if raw_path == "/model-invocation-jobs" and method == "GET":
        return "ListModelInvocationJobs", None
    match = _JOB_PATH_RE.fullmatch(raw_path)
    if match is None:
        return None
    if match.group(2) and method == "POST":
        return "StopModelInvocationJob", unquote(match.group(1))
    if not match.group(2) and method == "GET":
        return "GetModelInvocationJob", unquote(match.group(1))
    return None


def iso(epoch):
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + ".%03dZ" % (
        int(epoch * 1000) % 1000)


def parse_time(value, member):
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        raise constraint(value, member, "Member must be a timestamp")


@dataclass
class BatchConfig:
    """The ``batch_*`` settings: POST /_emulator/config (with the prefix) or
    /_emulator/batch-config (with or without it); see test/emulator/README.md."""
    batch_submitted_ms: int = 20         # Submitted before Validating
    batch_validating_ms: int = 50        # Validating
    batch_scheduled_ms: int = 20         # Scheduled
    batch_in_progress_ms: int = 0        # InProgress, besides the per-record time
    batch_ms_per_record: float = 0.5     # InProgress, per record
    batch_min_records: int = 100
    batch_max_records_per_file: int = 50000
    batch_max_records_per_job: int = 50000
    batch_error_marker: str = ""         # records whose modelInput contains it fail
    batch_error_every: int = 0           # every Nth record (input order, 1-based) fails
    batch_error_code: int = 500
    batch_error_message: str = MSG_RECORD_ERROR
    batch_missing_marker: str = ""       # records whose modelInput contains it are left out
    batch_missing_every: int = 0         # every Nth record is left out of the output
    batch_fail_jobs: int = 0             # the next N jobs created end Failed
    batch_fail_stage: str = "InProgress"  # where they fail: Validating or InProgress
    batch_fail_message: str = MSG_INJECTED_FAILURE
    batch_roles: str = ""                # comma-separated role ARNs that exist ("" = any)
    batch_ms_per_hour: float = 0.0       # one hour of timeoutDurationInHours (0: no timeout)

    @classmethod
    def names(cls):
        return [f.name for f in fields(cls)]

    def update(self, changes):
        """Apply settings, named with or without the ``batch_`` prefix."""
        changes = {k if k.startswith("batch_") else "batch_" + k: v for k, v in changes.items()}
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise ValueError("unknown batch setting(s): %s" % ", ".join(unknown))
        for key, value in changes.items():
            kind = type(getattr(self, key))
            if kind is str:
                value = str(value)
                if key == "batch_fail_stage" and value not in ("Validating", "InProgress"):
                    raise ValueError("batch_fail_stage must be Validating or InProgress")
            else:
                value = kind(value)
                if value < 0:
                    raise ValueError("%s must be >= 0" % key)
            setattr(self, key, value)


class Job:
    def __init__(self, job_id, region, request, target, fail_message):
        self.job_id = job_id
        self.region = region
        self.arn = "arn:aws:bedrock:%s:%s:model-invocation-job/%s" % (
            region, catalogue.ACCOUNT, job_id)
        self.request = request
        self.target = target
        self.status = "Submitted"
        self.message = None
        self.submit_time = time.time()
        self.last_modified = self.submit_time
        self.end_time = None
        self.timeout_hours = request.get("timeoutDurationInHours") or DEFAULT_TIMEOUT_HOURS
        self.counts = None               # total/processed/success/error once known
        self.fail_message = fail_message  # a job-level failure asked for at creation
        self.stop_requested = threading.Event()
        self.abandoned = False           # the emulator was reset
        self.output_keys = []
        self.deadline = None             # epoch of the timeout when batch_ms_per_hour is set

    def summary(self):
        value = {
            "jobArn": self.arn,
            "jobName": self.request["jobName"],
            "modelId": self.request["modelId"],
            "roleArn": self.request["roleArn"],
            "status": self.status,
            "submitTime": iso(self.submit_time),
            "lastModifiedTime": iso(self.last_modified),
            "inputDataConfig": self.request["inputDataConfig"],
            "outputDataConfig": self.request["outputDataConfig"],
            "timeoutDurationInHours": self.timeout_hours,
            "jobExpirationTime": iso(self.submit_time + self.timeout_hours * 3600),
            "modelInvocationType": self.request.get("modelInvocationType", "InvokeModel"),
        }
        if self.request.get("clientRequestToken"):
            value["clientRequestToken"] = self.request["clientRequestToken"]
        if self.request.get("vpcConfig"):
            value["vpcConfig"] = self.request["vpcConfig"]
        if self.message:
            value["message"] = self.message
        if self.end_time is not None:
            value["endTime"] = iso(self.end_time)
        if self.counts is not None:
            value.update(self.counts)
        return value


class BatchService:
    """Jobs, idempotency tokens and counters, behind one lock."""

    def __init__(self, s3_store, log=None):
        self.s3 = s3_store
        self.log = log                  # called with one line per job status change
        self.lock = threading.Lock()
        self.config = BatchConfig()
        self._clear()

    def _clear(self):
        self.jobs = collections.OrderedDict()   # job id -> Job
        self.tokens = {}                        # (region, token) -> (fingerprint, job id)
        self.create_calls = 0
        self.jobs_created = 0
        self.idempotent_replays = 0
        self.calls = collections.Counter()

    def reset(self):
        with self.lock:
            for job in self.jobs.values():
                job.abandoned = True
                job.stop_requested.set()
            self._clear()
            self.config = BatchConfig()

    def update_config(self, changes):
        with self.lock:
            self.config.update(changes)
            return dict(self.config.__dict__)

    def get_config(self):
        with self.lock:
            return BatchConfig(**self.config.__dict__)

    def stats(self):
        with self.lock:
            by_status = collections.Counter(job.status for job in self.jobs.values())
            return {"create_calls": self.create_calls, "jobs_created": self.jobs_created,
                    "idempotent_replays": self.idempotent_replays,
                    "calls": dict(self.calls), "jobs_by_status": dict(by_status)}

    def describe(self):
        with self.lock:
            return {"jobs": [dict(job.summary(), outputKeys=list(job.output_keys))
                             for job in self.jobs.values()]}

    # Operations -------------------------------------------------------------

    def handle(self, operation, identifier, region, query, body):
        with self.lock:
            self.calls[operation] += 1
        if operation == "CreateModelInvocationJob":
            return self.create(region, body)
        if operation == "GetModelInvocationJob":
            job = self.find(region, identifier)
            with self.lock:
                return job.summary()
        if operation == "StopModelInvocationJob":
            return self.stop(region, identifier)
        return self.list(region, query)

    def create(self, region, body):
        with self.lock:
            self.create_calls += 1
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            raise BatchError(400, "SerializationException", "Unable to parse the request body.")
        if not isinstance(request, dict):
            raise BatchError(400, "SerializationException", "Unable to parse the request body.")
        target = self.check_request(request, region)
        token = request.get("clientRequestToken")
        fingerprint = hashlib.sha256(json.dumps(
            {k: v for k, v in request.items() if k != "clientRequestToken"},
            sort_keys=True).encode()).hexdigest()
        with self.lock:
            if token is not None and (region, token) in self.tokens:
                seen, job_id = self.tokens[(region, token)]
                if seen != fingerprint:
                    raise BatchError(400, "ConflictException", MSG_TOKEN_CONFLICT % token)
                self.idempotent_replays += 1
                return {"jobArn": self.jobs[job_id].arn}
            job_id = self.new_id()
            fail_message = None
            if self.config.batch_fail_jobs > 0:
                self.config.batch_fail_jobs -= 1
                fail_message = self.config.batch_fail_message
            job = Job(job_id, region, request, target, fail_message)
            self.jobs[job_id] = job
            if self.log is not None:
                self.log("batch job=%s region=%s status=Submitted name=%s" % (
                    job_id, region, request["jobName"]))
            if token is not None:
                self.tokens[(region, token)] = (fingerprint, job_id)
            self.jobs_created += 1
        threading.Thread(target=self.run_job, args=(job,), name="batch-" + job_id,
                         daemon=True).start()
        return {"jobArn": job.arn}

    def new_id(self):
        while True:
            job_id = "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                             for _ in range(12))
            if job_id not in self.jobs:
                return job_id

    def check_request(self, request, region):
        """Synchronous checks (the service model's constraints, the model)."""
        for member in ("jobName", "roleArn", "modelId", "inputDataConfig", "outputDataConfig"):
            if request.get(member) is None:
                raise validation("1 validation error detected: Value null at '%s' failed to "
                                 "satisfy constraint: Member must not be null" % member)
        name = request["jobName"]
        if not isinstance(name, str) or len(name) > 63 or not _NAME_RE.fullmatch(name):
            raise constraint(name, "jobName", "Member must satisfy regular expression pattern: "
                             + _NAME_RE.pattern)
        if not isinstance(request["roleArn"], str) or not _ROLE_RE.fullmatch(request["roleArn"]):
            raise constraint(request["roleArn"], "roleArn",
                             "Member must satisfy regular expression pattern: " + _ROLE_RE.pattern)
        token = request.get("clientRequestToken")
        if token is not None and (not isinstance(token, str) or not _TOKEN_RE.fullmatch(token)):
            raise constraint(token, "clientRequestToken",
                             "Member must satisfy regular expression pattern: " + _TOKEN_RE.pattern)
        hours = request.get("timeoutDurationInHours")
        if hours is not None and (not isinstance(hours, int) or not 24 <= hours <= 168):
            raise constraint(hours, "timeoutDurationInHours",
                             "Member must have value between 24 and 168")
        invocation = request.get("modelInvocationType", "InvokeModel")
        if invocation != "InvokeModel":
            raise validation("Only the InvokeModel invocation type is emulated.")
        for where, config_member, inner in (
                ("input", "inputDataConfig", "s3InputDataConfig"),
                ("output", "outputDataConfig", "s3OutputDataConfig")):
            config = request[config_member]
            s3_config = config.get(inner) if isinstance(config, dict) else None
            uri = s3_config.get("s3Uri") if isinstance(s3_config, dict) else None
            if not isinstance(uri, str) or len(uri) > 1024 or not _S3_URI_RE.fullmatch(uri):
                raise constraint(uri, "%s.%s.s3Uri" % (config_member, inner),
                                 "Member must satisfy regular expression pattern: "
                                 "s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+"
                                 "(?:/[-!_*'().a-z0-9A-Z]+)*)?/?")
            fmt = s3_config.get("s3InputFormat")
            if where == "input" and fmt is not None and fmt != "JSONL":
                raise constraint(fmt, "inputDataConfig.s3InputDataConfig.s3InputFormat",
                                 "Member must satisfy enum value set: [JSONL]")
            owner = s3_config.get("s3BucketOwner")
            if owner is not None and not re.fullmatch(r"[0-9]{12}", str(owner)):
                raise constraint(owner, "%s.%s.s3BucketOwner" % (config_member, inner),
                                 "Member must satisfy regular expression pattern: [0-9]{12}")
            key = s3_config.get("s3EncryptionKeyId")
            if where == "output" and key is not None and not _KMS_RE.fullmatch(str(key)):
                raise constraint(key, "outputDataConfig.s3OutputDataConfig.s3EncryptionKeyId",
                                 "Member must satisfy regular expression pattern")
        tags = request.get("tags", [])
        if not isinstance(tags, list) or len(tags) > 200 or any(
                not isinstance(t, dict) or not isinstance(t.get("key"), str)
                or not isinstance(t.get("value"), str) for t in tags):
            raise validation("tags must be a list of at most 200 {key, value} strings.")
        try:
            return catalogue.resolve(request["modelId"], region)
        except catalogue.ModelError as failure:
            raise BatchError(failure.status, failure.code, failure.message)

    def find(self, region, identifier):
        match = _ID_RE.fullmatch(identifier or "")
        if match is None:
            raise constraint(identifier, "jobIdentifier",
                             "Member must satisfy regular expression pattern: "
                             "((arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:"
                             "model-invocation-job/)?[a-z0-9]{12})")
        with self.lock:
            job = self.jobs.get(match.group(3))
        if job is None or job.region != region or \
                (match.group(1) is not None and match.group(1) != region) or \
                (match.group(2) is not None and match.group(2) != catalogue.ACCOUNT):
            raise BatchError(404, "ResourceNotFoundException", MSG_NOT_FOUND)
        return job

    def stop(self, region, identifier):
        job = self.find(region, identifier)
        with self.lock:
            if job.status in TERMINAL:
                raise validation(MSG_NOT_STOPPABLE % (job.job_id, job.status))
            if job.status != "Stopping":
                self._set(job, "Stopping")
            job.stop_requested.set()
        return {}

    def list(self, region, query):
        def param(name):
            values = query.get(name)
            return values[-1] if values else None

        status = param("statusEquals")
        if status is not None and status not in STATUSES:
            raise constraint(status, "statusEquals", "Member must satisfy enum value set: [%s]"
                             % ", ".join(STATUSES))
        name = param("nameContains")
        after = param("submitTimeAfter")
        before = param("submitTimeBefore")
        after = parse_time(after, "submitTimeAfter") if after else None
        before = parse_time(before, "submitTimeBefore") if before else None
        order = param("sortOrder") or "Descending"
        if order not in ("Ascending", "Descending"):
            raise constraint(order, "sortOrder",
                             "Member must satisfy enum value set: [Ascending, Descending]")
        sort_by = param("sortBy") or "CreationTime"
        if sort_by != "CreationTime":
            raise constraint(sort_by, "sortBy", "Member must satisfy enum value set: [CreationTime]")
        raw_size = param("maxResults")
        try:
            size = int(raw_size) if raw_size is not None else MAX_PAGE_SIZE
        except ValueError:
            raise constraint(raw_size, "maxResults", "Member must be an integer")
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise constraint(size, "maxResults", "Member must have value between 1 and 1000")
        token = param("nextToken")
        offset = 0
        if token:
            try:
                kind, offset = base64.urlsafe_b64decode(
                    token + "=" * (-len(token) % 4)).decode().rsplit(":", 1)
                offset = int(offset)
                if kind != "jobs" or offset < 0:
                    raise ValueError(token)
            except (ValueError, UnicodeDecodeError):
                raise validation("The provided pagination token is invalid.")
        with self.lock:
            jobs = [job for job in self.jobs.values() if job.region == region]
            jobs.sort(key=lambda j: (j.submit_time, j.job_id), reverse=order == "Descending")
            chosen = [job.summary() for job in jobs
                      if (status is None or job.status == status)
                      and (name is None or name in job.request["jobName"])
                      and (after is None or job.submit_time > after)
                      and (before is None or job.submit_time < before)]
        answer = {"invocationJobSummaries": chosen[offset:offset + size]}
        if offset + size < len(chosen):
            answer["nextToken"] = base64.urlsafe_b64encode(
                ("jobs:%d" % (offset + size)).encode()).decode().rstrip("=")
        return answer

    # The job's life ---------------------------------------------------------

    def _set(self, job, status, message=None):
        """Under self.lock."""
        if self.log is not None:
            self.log("batch job=%s region=%s status=%s%s" % (
                job.job_id, job.region, status, " records=%d" % job.counts["processedRecordCount"]
                if job.counts else ""))
        job.status = status
        job.last_modified = time.time()
        if message is not None:
            job.message = message
        if status in TERMINAL:
            job.end_time = job.last_modified

    def _advance(self, job, status):
        """Move on unless the job was stopped or abandoned; False if it was."""
        with self.lock:
            if job.abandoned or job.stop_requested.is_set():
                return False
            self._set(job, status)
            return True

    def _wait(self, job, ms):
        """Sleep ``ms``: None, or "stop" (a stop or a reset came) or "expired"
        (the job's timeout passed) when that cut the sleep short."""
        seconds = ms / 1000.0
        if job.deadline is not None and time.time() + seconds >= job.deadline:
            if job.stop_requested.wait(max(0.0, job.deadline - time.time())):
                return "stop"
            return "expired"
        if job.stop_requested.wait(seconds) if seconds > 0 else job.stop_requested.is_set():
            return "stop"
        return None

    def _end_early(self, job, why):
        """A stop or a timeout before InProgress: nothing was processed."""
        with self.lock:
            if job.abandoned:
                return
            if why == "expired":
                self._set(job, "Expired", MSG_EXPIRED % job.timeout_hours)
            else:
                self._set(job, "Stopped")

    def _phase(self, job, ms, next_status):
        """Wait out a phase, then enter the next; False if the job ended instead."""
        why = self._wait(job, ms)
        if why is None and self._advance(job, next_status):
            return True
        self._end_early(job, why or "stop")
        return False

    def run_job(self, job):
        config = self.get_config()
        if config.batch_ms_per_hour > 0:
            job.deadline = job.submit_time + job.timeout_hours * config.batch_ms_per_hour / 1000.0
        if not self._phase(job, config.batch_submitted_ms, "Validating"):
            return
        why = self._wait(job, config.batch_validating_ms)
        if why is not None:
            return self._end_early(job, why)
        try:
            files = self.read_input(job, config)
            if job.fail_message and config.batch_fail_stage == "Validating":
                raise validation(job.fail_message)
        except BatchError as failure:
            with self.lock:
                if not job.abandoned:
                    self._set(job, "Failed", failure.message)
            return
        total = sum(len(records) for _, records in files)
        with self.lock:
            job.counts = {"totalRecordCount": total, "processedRecordCount": 0,
                          "successRecordCount": 0, "errorRecordCount": 0}
        if not self._advance(job, "Scheduled"):
            return self._end_early(job, "stop")
        if self._phase(job, config.batch_scheduled_ms, "InProgress"):
            self.process(job, config, files, total)

    def read_input(self, job, config):
        """[(input key relative to the input location, [(recordId, modelInput)])]."""
        allowed = [r.strip() for r in config.batch_roles.split(",") if r.strip()]
        if allowed and job.request["roleArn"] not in allowed:
            raise BatchError(400, "ValidationException", MSG_ROLE % job.request["roleArn"])
        in_uri = job.request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        out_uri = job.request["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
        for uri in (in_uri, out_uri):
            bucket_name = _S3_URI_RE.fullmatch(uri).group(1)
            bucket = self.s3.bucket(bucket_name)
            if bucket is None:
                raise validation(MSG_NO_BUCKET % bucket_name)
            if bucket.region != job.region:
                raise validation(MSG_BUCKET_REGION % (bucket_name, bucket.region, job.region))
        match = _S3_URI_RE.fullmatch(in_uri)
        bucket = self.s3.bucket(match.group(1))
        path = match.group(2).lstrip("/")
        with self.s3.lock:
            if path.endswith(".jsonl") and not match.group(3) and path in bucket.objects:
                base = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
                keys = [path]
            else:
                base = path + "/" if path and not path.endswith("/") else path
                keys = sorted(k for k in bucket.objects
                              if k.startswith(base) and k.endswith(".jsonl"))
            bodies = [(k, bucket.objects[k][0]) for k in keys]
        if not bodies:
            raise validation(MSG_NO_INPUT % in_uri)
        files, total = [], 0
        for key, body in bodies:
            records = []
            for number, line in enumerate(body.decode("utf-8", "replace").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                if not isinstance(record, dict) or not isinstance(record.get("modelInput"), dict):
                    raise validation(MSG_BAD_LINE % (number, key))
                record_id = record.get("recordId")
                if record_id is None:            # AWS adds one (11 characters)
                    record_id = "".join(random.choice(RECORD_ID_CHARS) for _ in range(11))
                records.append((str(record_id), record["modelInput"]))
            if len(records) > config.batch_max_records_per_file:
                raise validation(MSG_TOO_MANY_FILE % (key, len(records),
                                                      config.batch_max_records_per_file))
            total += len(records)
            files.append((key[len(base):], records))
        if total < config.batch_min_records:
            raise validation(MSG_TOO_FEW % (total, config.batch_min_records))
        if total > config.batch_max_records_per_job:
            raise validation(MSG_TOO_MANY_JOB % (total, config.batch_max_records_per_job))
        return files

    def answer(self, job, model_input):
        """(modelOutput, None, tokens in, tokens out) or (None, error, 0, 0)."""
        target = job.target
        try:
            body = claude.validate_invoke_body(json.dumps(model_input).encode("utf-8"),
                                               target.model.max_output)
            claude.check_traits(body, target.model)
            if claude.count_input_tokens(body) > target.model.context_window:
                raise claude.BodyError(claude.MSG_TOO_LONG)
        except claude.BodyError as failure:
            return None, {"errorCode": 400, "errorMessage": failure.message}, 0, 0
        completion = claude.complete(body, job.request["modelId"], target.anthropic_model,
                                     None, target.model)
        return (claude.message_response(completion), None, completion.input_tokens,
                completion.output_tokens)

    def process(self, job, config, files, total):
        """Answer every record (stopping early on request), then write the output."""
        pause_ms = config.batch_in_progress_ms / max(1, total) + config.batch_ms_per_record
        results = []                    # (file, line dict or None when left out)
        index = 0
        owed_ms = 0.0
        cut = None                      # "stop" or "expired" once processing was cut short
        tokens_in = tokens_out = 0
        for name, records in files:
            for record_id, model_input in records:
                index += 1
                owed_ms += pause_ms
                if owed_ms >= 20:        # sleep in slices; a stop or the timeout interrupts
                    cut = self._wait(job, owed_ms)
                    owed_ms = 0.0
                elif job.stop_requested.is_set():
                    cut = "stop"
                if cut:
                    break
                text = json.dumps(model_input)
                if (config.batch_missing_marker and config.batch_missing_marker in text) or \
                        (config.batch_missing_every and index % config.batch_missing_every == 0):
                    results.append((name, None))
                    continue
                line = {"recordId": record_id, "modelInput": model_input}
                if (config.batch_error_marker and config.batch_error_marker in text) or \
                        (config.batch_error_every and index % config.batch_error_every == 0):
                    line["error"] = {"errorCode": config.batch_error_code,
                                     "errorMessage": config.batch_error_message}
                else:
                    output, error, used_in, used_out = self.answer(job, model_input)
                    if error is not None:
                        line["error"] = error
                    else:
                        line["modelOutput"] = output
                        tokens_in += used_in
                        tokens_out += used_out
                results.append((name, line))
                with self.lock:
                    job.counts["processedRecordCount"] += 1
                    job.counts["successRecordCount" if "modelOutput" in line
                               else "errorRecordCount"] += 1
            if cut:
                break
        if not cut and owed_ms > 0:
            cut = self._wait(job, owed_ms)
        if job.abandoned:
            return
        if job.fail_message and not cut:
            with self.lock:
                self._set(job, "Failed", job.fail_message)
            return
        self.write_output(job, files, results, tokens_in, tokens_out)
        with self.lock:
            if job.abandoned:
                return
            if cut == "stop":
                self._set(job, "Stopped")
            elif cut == "expired":
                self._set(job, "PartiallyCompleted", MSG_TIMED_OUT % job.timeout_hours)
            elif any(line is None for _, line in results):
                self._set(job, "PartiallyCompleted",
                          "Not all records could be processed; see the output files.")
            else:
                self._set(job, "Completed")

    def write_output(self, job, files, results, tokens_in, tokens_out):
        out_uri = job.request["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
        match = _S3_URI_RE.fullmatch(out_uri)
        bucket = self.s3.bucket(match.group(1))
        prefix = match.group(2).lstrip("/")
        prefix = prefix + "/" if prefix else ""
        prefix += job.job_id + "/"
        shuffle = random.Random(job.job_id)
        by_file = collections.OrderedDict((name, []) for name, _ in files)
        for name, line in results:
            if line is not None:
                by_file[name].append(line)
        written = []
        for name, lines in by_file.items():
            shuffle.shuffle(lines)
            data = "".join(json.dumps(line) + "\n" for line in lines).encode("utf-8")
            written.append((prefix + name + ".out", data))
        counts = job.counts
        manifest = {"totalRecordCount": counts["totalRecordCount"],
                    "processedRecordCount": counts["processedRecordCount"],
                    "successRecordCount": counts["successRecordCount"],
                    "errorRecordCount": counts["errorRecordCount"],
                    "inputTokenCount": tokens_in, "outputTokenCount": tokens_out}
        written.append((prefix + "manifest.json.out", json.dumps(manifest).encode("utf-8")))
        with self.s3.lock:
            for key, data in written:
                bucket.objects[key] = (data, '"%s"' % hashlib.md5(data).hexdigest(), time.time())
        job.output_keys = [key for key, _ in written]
