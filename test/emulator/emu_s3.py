"""Amazon S3 for the emulator: buckets with a region, PutObject, GetObject,
ListObjectsV2 (continuation tokens), HeadBucket and CreateBucket.

Served on the emulator's own ports: a request is S3 when its SigV4 scope
names the service ``s3`` or it carries ``x-amz-content-sha256`` (Bedrock
requests carry neither).  Both addressing styles work: virtual-hosted when
the Host is ``BUCKET.s3.REGION.amazonaws.com`` (or ``BUCKET.s3.amazonaws.com``),
path-style (``/BUCKET/KEY``) otherwise.

Signatures are verified by emu_sigv4 with S3's canonical rules (the path
decoded and encoded once, not normalised; ``x-amz-content-sha256`` required
and checked against the body).  A request signed for another region than the
bucket's gets S3's 400 AuthorizationHeaderMalformed with
``x-amz-bucket-region``, which is how clients learn a bucket's region.
Errors are S3's XML (``<Error><Code>NoSuchKey</Code>...``).

Counters are kept apart from the Bedrock ones (``stats()["s3"]``), so the
emulator's ``requests`` still counts Bedrock requests only.  Faults queued
with ``operations`` naming S3 operations (or the group ``s3``) apply here:
``error`` answers the status with ``error_type`` as the XML Code (503:
SlowDown by default), ``reset`` closes the connection, ``latency`` waits.
"""

import base64
import collections
import email.utils
import hashlib
import re
import threading
import time
import uuid
from urllib.parse import parse_qsl, quote, unquote
from xml.sax.saxutils import escape

import emu_sigv4 as sigv4

OPERATIONS = ("PutObject", "GetObject", "ListObjectsV2", "HeadBucket", "CreateBucket")
DEFAULT_BUCKET_REGION = "us-east-1"        # S3's region when CreateBucket names none
MAX_KEYS = 1000                            # ListObjectsV2's page size and its cap
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_VIRTUAL_HOST_RE = re.compile(r"(?P<bucket>[a-z0-9][a-z0-9.-]*)\.s3(?:[.-](?P<region>[a-z0-9-]+))?"
                              r"\.amazonaws\.com")
_SCOPE_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/s3/")

# Default error code and message per HTTP status for the "error" fault.
STATUS_ERRORS = {
    400: ("InvalidRequest", "Invalid Request"),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}
# emu_sigv4's (coral) codes as S3 names them.
AUTH_CODES = {
    "InvalidSignatureException": (403, "SignatureDoesNotMatch"),
    "UnrecognizedClientException": (403, "InvalidAccessKeyId"),
    "ExpiredTokenException": (400, "ExpiredToken"),
    "IncompleteSignatureException": (400, "AuthorizationHeaderMalformed"),
    "MissingAuthenticationTokenException": (403, "AccessDenied"),
}
MSG_SIGNATURE = ("The request signature we calculated does not match the signature you provided. "
                 "Check your key and signing method.")


def is_s3_request(headers):
    """Is this an S3 request (its SigV4 scope, or S3's payload header)?"""
    return bool(_SCOPE_RE.search(headers.get("Authorization", ""))) \
        or headers.get("x-amz-content-sha256") is not None


class Answered(Exception):
    """Raised once the response has been sent."""


class Bucket:
    def __init__(self, name, region):
        self.name = name
        self.region = region
        self.objects = {}           # key (str) -> (body bytes, etag, last-modified epoch)


class S3Store:
    """Buckets and objects, and the S3 counters, behind one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self._clear()

    def _clear(self):
        self.buckets = {}
        self.by_operation = collections.Counter()
        self.by_status = collections.Counter()
        self.signature_failures = 0
        self.requests = 0

    def reset(self):
        with self.lock:
            self._clear()

    def create_bucket(self, name, region):
        if not _BUCKET_RE.fullmatch(name or ""):
            raise ValueError("invalid bucket name %r" % name)
        with self.lock:
            bucket = self.buckets.get(name)
            if bucket is None:
                bucket = self.buckets[name] = Bucket(name, region or DEFAULT_BUCKET_REGION)
            return bucket

    def bucket(self, name):
        with self.lock:
            return self.buckets.get(name)

    def count(self, operation):
        with self.lock:
            self.requests += 1
            self.by_operation[operation] += 1

    def finish(self, status, signature_failure=False):
        with self.lock:
            self.by_status[str(status)] += 1
            if signature_failure:
                self.signature_failures += 1

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "by_operation": dict(self.by_operation),
                    "by_status": dict(self.by_status),
                    "signature_failures": self.signature_failures}

    def describe(self):
        with self.lock:
            return {"buckets": [{"name": b.name, "region": b.region, "objects": len(b.objects),
                                 "keys": sorted(b.objects)[:100]}
                                for b in self.buckets.values()]}


class S3Request:
    """One S3 request: route, authenticate, fault, answer."""

    def __init__(self, handler, store, raw_path, raw_query, body, next_fault, credentials):
        self.h = handler
        self.store = store
        self.raw_path = raw_path
        self.raw_query = raw_query
        self.query = dict(parse_qsl(raw_query, keep_blank_values=True))
        self.body = body
        self.next_fault = next_fault
        self.credentials = credentials
        self.request_id = uuid.uuid4().hex[:16].upper()
        self.status = None
        self.signature_failure = False
        self.bucket_name, self.key = self._locate()
        self.operation = self._operation()

    def _locate(self):
        host = (self.h.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        path = unquote(self.raw_path)
        match = _VIRTUAL_HOST_RE.fullmatch(host)
        if match:
            return match.group("bucket"), path[1:]
        bucket, _, key = path.lstrip("/").partition("/")
        return bucket, key

    def _operation(self):
        method = self.h.command
        if not self.key:
            if method == "HEAD":
                return "HeadBucket"
            if method == "PUT":
                return "CreateBucket"
            if method == "GET":
                return "ListObjectsV2"
            return "Unknown"
        return {"PUT": "PutObject", "GET": "GetObject"}.get(method, "Unknown")

    # Responses -------------------------------------------------------------------

    def send(self, status, headers, body=b""):
        self.status = status
        headers = [("x-amz-request-id", self.request_id),
                   ("x-amz-id-2", base64.b64encode(self.request_id.encode()).decode())] + headers
        self.h.send_all(status, headers, body)
        raise Answered()

    def error(self, status, code, message, headers=(), **extra):
        body = ['<?xml version="1.0" encoding="UTF-8"?>', "<Error>",
                "<Code>%s</Code>" % escape(code), "<Message>%s</Message>" % escape(message)]
        body += ["<%s>%s</%s>" % (k, escape(str(v)), k) for k, v in extra.items()]
        body += ["<RequestId>%s</RequestId>" % self.request_id, "</Error>"]
        self.send(status, [("Content-Type", "application/xml")] + list(headers),
                  "".join(body).encode("utf-8"))

    # Flow ------------------------------------------------------------------------

    def handle(self):
        self.store.count(self.operation)
        try:
            self.run()
        except Answered:
            pass
        finally:
            self.store.finish(self.status, self.signature_failure)

    def run(self):
        if self.operation == "Unknown":
            self.error(405, "MethodNotAllowed",
                       "The specified method is not allowed against this resource.")
        region = self.scope_region()
        bucket = self.store.bucket(self.bucket_name)
        if self.operation == "CreateBucket":
            self.authenticate()
            self.apply_fault()
            self.op_CreateBucket()
        if bucket is None:
            self.authenticate()
            self.error(404, "NoSuchBucket", "The specified bucket does not exist.",
                       BucketName=self.bucket_name)
        if region != bucket.region:
            # how S3 tells a client the bucket's region
            self.error(400, "AuthorizationHeaderMalformed",
                       "The authorization header is malformed; the region '%s' is wrong; "
                       "expecting '%s'" % (region, bucket.region),
                       [("x-amz-bucket-region", bucket.region)], Region=bucket.region)
        self.authenticate()
        self.apply_fault()
        getattr(self, "op_" + self.operation)(bucket)

    def scope_region(self):
        try:
            return sigv4.parse_authorization(self.h.headers.get("Authorization", "")).region
        except sigv4.AuthError:
            return None

    def authenticate(self):
        if self.h.headers.get("x-amz-content-sha256") is None:
            self.error(400, "InvalidRequest",
                       "Missing required header for this request: x-amz-content-sha256")
        try:
            sigv4.verify(self.h.command, self.raw_path, self.raw_query, self.h.headers.items(),
                         self.body, self.credentials.lookup, time.time(), service="s3",
                         normalize=False, s3=True)
        except sigv4.AuthError as failure:
            status, code = AUTH_CODES.get(failure.code, (failure.status, failure.code))
            self.signature_failure = code == "SignatureDoesNotMatch"
            message = MSG_SIGNATURE if self.signature_failure else failure.message
            extra = {}
            if failure.canonical_request:
                extra["CanonicalRequest"] = failure.canonical_request
            self.error(status, code, message, **extra)

    def apply_fault(self):
        fault = self.next_fault(self.operation)
        if fault is None:
            return
        if fault.kind == "error" or fault.kind == "throttle":
            status = int(fault.status or 503)
            code, message = STATUS_ERRORS.get(status, ("InternalError", "Error"))
            self.error(status, fault.error_type or code, fault.message or message)
        elif fault.kind == "reset":
            self.status = "reset"
            self.h.hard_reset()
            raise Answered()
        elif fault.kind == "latency":
            time.sleep(fault.delay_ms / 1000.0)

    # Operations ------------------------------------------------------------------

    def op_CreateBucket(self):
        match = re.search(rb"<LocationConstraint>([^<]*)</LocationConstraint>", self.body or b"")
        region = match.group(1).decode() if match and match.group(1) else DEFAULT_BUCKET_REGION
        if self.store.bucket(self.bucket_name) is not None:
            self.error(409, "BucketAlreadyOwnedByYou",
                       "Your previous request to create the named bucket succeeded and you "
                       "already own it.", BucketName=self.bucket_name)
        try:
            self.store.create_bucket(self.bucket_name, region)
        except ValueError:
            self.error(400, "InvalidBucketName", "The specified bucket is not valid.",
                       BucketName=self.bucket_name)
        self.send(200, [("Location", "/" + self.bucket_name)])

    def op_HeadBucket(self, bucket):
        self.send(200, [("x-amz-bucket-region", bucket.region)])

    def op_PutObject(self, bucket):
        etag = '"%s"' % hashlib.md5(self.body).hexdigest()
        with self.store.lock:
            bucket.objects[self.key] = (bytes(self.body), etag, time.time())
        self.send(200, [("ETag", etag)])

    def op_GetObject(self, bucket):
        with self.store.lock:
            found = bucket.objects.get(self.key)
        if found is None:
            self.error(404, "NoSuchKey", "The specified key does not exist.", Key=self.key)
        body, etag, modified = found
        self.send(200, [("ETag", etag), ("Content-Type", "application/octet-stream"),
                        ("Last-Modified", email.utils.formatdate(modified, usegmt=True))], body)

    def op_ListObjectsV2(self, bucket):
        if self.query.get("list-type") != "2":
            self.error(400, "InvalidArgument", "Only ListObjectsV2 (list-type=2) is emulated.")
        prefix = self.query.get("prefix", "")
        token = self.query.get("continuation-token")
        start_after = self.query.get("start-after", "")
        url_encoded = self.query.get("encoding-type") == "url"
        try:
            max_keys = min(int(self.query.get("max-keys", MAX_KEYS)), MAX_KEYS)
        except ValueError:
            self.error(400, "InvalidArgument", "Provided max-keys not an integer or within "
                       "integer range")
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                self.error(400, "InvalidArgument", "The continuation token provided is incorrect")
        else:
            after = start_after
        with self.store.lock:
            keys = sorted(k for k in bucket.objects if k.startswith(prefix) and k > after)
            page = [(k,) + bucket.objects[k] for k in keys[:max_keys]]
        truncated = len(keys) > max_keys

        def text(value):
            return escape(quote(value, safe="/") if url_encoded else value)

        out = ['<?xml version="1.0" encoding="UTF-8"?>',
               '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
               "<Name>%s</Name>" % escape(bucket.name), "<Prefix>%s</Prefix>" % text(prefix),
               "<KeyCount>%d</KeyCount>" % len(page), "<MaxKeys>%d</MaxKeys>" % max_keys,
               "<IsTruncated>%s</IsTruncated>" % ("true" if truncated else "false")]
        if url_encoded:
            out.append("<EncodingType>url</EncodingType>")
        if token is not None:
            out.append("<ContinuationToken>%s</ContinuationToken>" % escape(token))
        if start_after:
            out.append("<StartAfter>%s</StartAfter>" % text(start_after))
        if truncated:
            next_token = base64.urlsafe_b64encode(page[-1][0].encode("utf-8")).decode()
            out.append("<NextContinuationToken>%s</NextContinuationToken>" % next_token)
        for key, body, etag, modified in page:
            out.append("<Contents><Key>%s</Key><LastModified>%s</LastModified>"
                       "<ETag>%s</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass>"
                       "</Contents>" % (text(key), time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                                                 time.gmtime(modified)),
                                        escape(etag), len(body)))
        out.append("</ListBucketResult>")
        self.send(200, [("Content-Type", "application/xml")], "".join(out).encode("utf-8"))
