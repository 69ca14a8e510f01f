#!/usr/bin/env python3
"""A local Amazon Bedrock emulator (runtime and control-plane listings) for
pg_claude's tests (stdlib only).

    python3 test/emulator/bedrock_emulator.py --port 18080 [--host 127.0.0.1]
        [--tls-port 18443 --tls-cert CERT --tls-key KEY]
        [--credentials AKID:SECRET[:TOKEN] ...] [--api-key KEY ...]
        [--latency-ms N] [--default-region REGION] [--log FILE]
        [--container-token TOKEN] [--imds-role NAME] [--web-identity-token TOKEN]
        [--no-imds]

When both listeners are up it prints exactly one line, ``ready http=PORT
https=PORT`` (https=0 when TLS is off), and flushes stdout; ``--port 0`` and
``--tls-port 0`` pick free ports.  SIGTERM or SIGINT stops it.

Design
------
* Two ThreadingHTTPServer listeners (plain and TLS) share one
  :class:`EmulatorState`: credentials, counters, the fault queue and the
  configuration.  Every accepted socket gets TCP_NODELAY, and every response is
  written with a single send, because http.server otherwise writes headers and
  body separately and sequential keep-alive requests then stall ~40 ms each on
  Nagle + delayed ACK (DESIGN.md section 6).
* HTTP/1.1 keep-alive; ``Expect: 100-continue`` is answered by http.server.
* Bedrock requests go: route -> authenticate (SigV4 verified independently by
  emu_sigv4, or a Bedrock API key as ``Authorization: Bearer``) -> base latency
  -> next queued fault -> quota -> resolve the model for the signing region
  (emu_catalogue) -> validate and answer deterministically (emu_claude) ->
  prompt cache (emu_cache, per region and base model; cleared by reset).
  Faults that make the model misbehave (off_schema, no_tool, wrong_tool)
  only change the answer to a forced tool.
* Errors are restJson1-shaped as AWS sends them: status, ``x-amzn-RequestId``,
  ``x-amzn-ErrorType: Code:http://internal.amazon.com/coral/<namespace>/`` and a
  JSON body ``{"message": ...}``; botocore reads the code from that header.
* The credential endpoints (EC2 instance metadata under ``/latest/``,
  container credentials under ``/v2/credentials/`` and ``/v1/credentials``,
  STS at ``/``) live in emu_identity; this module only routes to them.  Their
  counters are separate, so ``requests`` still counts Bedrock requests only.
* The Bedrock control plane (``GET /foundation-models``, ``GET
  /inference-profiles``, and one of each by id) is served from the same
  catalogue (emu_control_plane), signed with the same service name, ``bedrock``.
* ``tokens_per_minute`` reserves input + max_tokens x output_burndown when an
  invocation starts and gives the unused part back when its answer is complete.
* ``/_emulator/...`` is an unsigned JSON control API for the tests (stats,
  reset, faults, config, request log, credentials, identity, models,
  application profiles); see test/emulator/README.md.

Secrets never reach the log or the control API: the signature and session
token are redacted from the recorded ``last_request``.
"""

import argparse
import base64
import collections
import email.utils
import json
import os
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import emu_batch as batch                                  # noqa: E402
import emu_anthropic as anthropic                          # noqa: E402
import emu_bedrock_messages as bedrock_messages            # noqa: E402
import emu_cache                                           # noqa: E402
import emu_catalogue as catalogue                          # noqa: E402
import emu_claude as claude                                # noqa: E402
import emu_control_plane as control_plane                  # noqa: E402
import emu_documents as documents                          # noqa: E402
import emu_eventstream as eventstream                      # noqa: E402
import emu_stream as stream_shape                           # noqa: E402
import emu_guardrail as guardrail                          # noqa: E402
import emu_identity as identity                            # noqa: E402
import emu_s3 as s3                                        # noqa: E402
import emu_sigv4 as sigv4                                  # noqa: E402
from emu_credentials import (CredentialStore, DEFAULT_API_KEYS,       # noqa: E402
                             DEFAULT_CREDENTIALS, parse_credential_spec)

SIGNING_SERVICE = "bedrock"
DEFAULT_REGION = "ap-southeast-2"
MAX_BODY_BYTES = 64 * 1024 * 1024
RECENT_REQUESTS = 1000
NS_BEDROCK = "com.amazon.bedrock"
NS_CORAL = "com.amazon.coral.service"

# Bedrock Runtime operations served: (path suffix after /model/{modelId}/) -> name.
OPERATIONS = {
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
    "converse": "Converse",
    "converse-stream": "ConverseStream",
    "count-tokens": "CountTokens",
}
_OPERATION_RE = re.compile(r"/model/([^/]+)/(%s)" % "|".join(map(re.escape, OPERATIONS)))
_HOST_REGION_RE = re.compile(r"bedrock(?:-runtime)?(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com")
CONTROL_OPERATIONS = ("ListFoundationModels", "GetFoundationModel", "ListInferenceProfiles",
                      "GetInferenceProfile")
# A fault's "operations" may name operations, or one of these groups.
OPERATION_GROUPS = {"runtime": tuple(OPERATIONS.values()) + anthropic.OPERATIONS
                    + bedrock_messages.OPERATIONS, "control": CONTROL_OPERATIONS,
                    "s3": s3.OPERATIONS, "batch": batch.OPERATIONS}

# Default error code and message per HTTP status for the "error" fault.
STATUS_ERRORS = {
    400: ("ValidationException", "Input validation failed."),
    403: ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
    404: ("ResourceNotFoundException", "The specified resource was not found."),
    408: ("ModelTimeoutException", "Model has timed out in processing the request. Try your request again."),
    424: ("ModelErrorException", "The model encountered an error processing the request."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "The server encountered an internal error while processing the request."),
    503: ("ServiceUnavailableException", "Bedrock is unable to process your request."),
}
# Modelled in-stream exceptions (ResponseStream members) -> HTTP status/code.
STREAM_EXCEPTIONS = {
    "throttlingException": 429,
    "modelStreamErrorException": 424,
    "internalServerException": 500,
    "serviceUnavailableException": 503,
    "validationException": 400,
    "modelTimeoutException": 408,
}
FAULT_KINDS = ("throttle", "error", "reset", "truncated", "slow_body", "malformed",
               "latency", "stream_exception", "corrupt_frame", "model_not_ready") \
    + claude.MISBEHAVIOURS
# InvokeModel's body (and CountTokens' invokeModel.body): the Body shape's max.
MAX_INVOKE_BODY = 25000000
MSG_BODY_TOO_LONG = ("1 validation error detected: Value at '%s' failed to satisfy constraint: "
                     "Member must have length less than or equal to %d")
# cache_control on a model without prompt caching.  Reports of the refusal
# differ: Anthropic-shaped InvokeModel clients saw 400, Converse clients 403
# AccessDeniedException (README, "Prompt caching").
CACHE_REFUSALS = {
    "InvokeModel": (400, "ValidationException"),
    "InvokeModelWithResponseStream": (400, "ValidationException"),
    "Converse": (403, "AccessDeniedException"),
    "ConverseStream": (403, "AccessDeniedException"),
}
# Converse relays the model's own complaints behind this prefix.
CONVERSE_MODEL_ERROR = "The model returned the following errors: "
MSG_THROTTLE = "Too many requests, please wait before trying again."
MSG_TOKEN_THROTTLE = "Too many tokens, please wait before trying again."
MSG_NOT_READY = ("The model specified in the request is not ready to serve inference requests. "
                 "Please try again.")


class Answered(Exception):
    """Raised once a response (or a deliberate non-response) has been sent."""


class QuotaExceeded(Exception):
    """The token quota cannot hold a request's reservation."""


@dataclass
class Fault:
    kind: str
    remaining: int = 1
    status: int = None
    error_type: str = None
    message: str = None
    delay_ms: int = 0
    operations: tuple = None            # None: every runtime operation

    @classmethod
    def from_json(cls, spec):
        kind = spec.get("fault")
        if kind not in FAULT_KINDS:
            raise ValueError("fault must be one of %s" % ", ".join(FAULT_KINDS))
        count = int(spec.get("count", 1))
        if count < 1:
            raise ValueError("count must be >= 1")
        operations = spec.get("operations")
        if operations is not None:
            if isinstance(operations, str):
                operations = [operations]
            known = set(OPERATIONS.values()) | set(CONTROL_OPERATIONS) | set(s3.OPERATIONS) \
                | set(batch.OPERATIONS) | set(OPERATION_GROUPS) | set(anthropic.OPERATIONS) \
                | set(bedrock_messages.OPERATIONS)
            if not isinstance(operations, list) or not operations \
                    or any(op not in known for op in operations):
                raise ValueError("operations must list operation names or "
                                 "'runtime'/'control'/'s3'/'batch'")
            operations = tuple(sorted({name for op in operations
                                       for name in OPERATION_GROUPS.get(op, (op,))}))
        return cls(kind, count, spec.get("status"), spec.get("error_type"),
                   spec.get("message"), int(spec.get("delay_ms", 0)), operations)

    def applies_to(self, operation):
        return operation in (self.operations or OPERATION_GROUPS["runtime"])

    def describe(self):
        value = {k: v for k, v in self.__dict__.items() if v is not None}
        if self.operations is not None:
            value["operations"] = list(self.operations)
        return value


@dataclass
class Config:
    latency_ms: int = 0
    first_byte_ms: int = 0             # streams: first content delta at this, the end at latency_ms
    requests_per_minute: int = 0       # 0 = unlimited
    tokens_per_minute: int = 0         # reserved at the start: input + max_tokens x burn-down
    verbose_signature_errors: int = 0  # 1: append the canonical request, as coral does
    output_burndown: float = 1.0       # quota tokens one output token costs (AWS: 5 for Claude 4)


@dataclass
class Reservation:
    """Quota tokens held for one request in the current minute window."""
    at: float
    tokens: float


@dataclass
class Outcome:
    """What the log and the request history record about one Bedrock request."""
    operation: str
    method: str
    path: str
    scheme: str
    started: float = field(default_factory=time.time)
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    model_id: str = None
    region: str = None
    access_key_id: str = None
    issued_by: str = None
    auth: str = None
    status: object = None
    error_code: str = None
    fault: str = None


# --------------------------------------------------------------------------
# Shared state
# --------------------------------------------------------------------------

class EmulatorState:
    """Counters, fault queue, configuration and credentials, behind one lock."""

    def __init__(self, credentials, startup_config, default_region, log_path=None,
                 identity_service=None):
        self.lock = threading.Lock()
        self.credentials = credentials
        self.identity = identity_service or identity.IdentityService(
            credentials, default_region=default_region)
        self.startup_config = startup_config
        self.default_region = default_region
        self.log_file = open(log_path, "a", buffering=1) if log_path else None
        self.log_lock = threading.Lock()
        self.prompt_cache = emu_cache.PromptCache()
        self.s3 = s3.S3Store()                  # buckets and objects (emu_s3)
        self.batch = batch.BatchService(self.s3, self.log_line)     # batch jobs (emu_batch)
        self.guardrails = guardrail.Guardrails()    # configured by the tests (emu_guardrail)
        self.body_log = guardrail.BodyLog(None)
        self.clock = time.monotonic             # quota windows (injectable for the unit tests)
        self._reset_locked()

    def _reset_locked(self):
        self.generation = getattr(self, "generation", 0) + 1
        self.config = Config(**self.startup_config.__dict__)
        self.requests = 0
        self.connections = collections.Counter()
        self.bedrock_connections = 0
        self.by_operation = collections.Counter()
        self.by_status = collections.Counter()
        self.in_flight = 0              # counted requests not yet recorded by finish()
        self.max_in_flight = 0          # the most Bedrock requests in progress at once
        self.signature_failures = 0
        self.faults_applied = 0
        self.cache_writes = 0
        self.cache_reads = 0
        self.prompt_cache.clear()
        self.s3.reset()
        self.batch.reset()
        self.guardrails.reset()
        anthropic.reset()
        self.last_request = None
        self.last_auth_failure = None
        self.recent = collections.deque(maxlen=RECENT_REQUESTS)
        self.faults = collections.deque()
        self.request_times = collections.deque()
        self.token_times = collections.deque()     # Reservation entries
        self.tokens_throttled = 0
        catalogue.reset()

    def reset(self):
        with self.lock:
            self._reset_locked()
        self.identity.reset()

    def log_line(self, text):
        """One line in the log (--log), stamped like the request lines.  Its own
        lock: callers may hold another (emu_batch's), and stats() takes
        self.lock before emu_batch's."""
        if self.log_file:
            with self.log_lock:
                self.log_file.write("time=%s %s\n" % (
                    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), text))

    def count_connection(self, scheme):
        with self.lock:
            self.connections[scheme] += 1

    def count_bedrock_connection(self, seen_generation):
        """Count a connection's first Bedrock request since the last reset;
        return the generation to remember on the connection."""
        with self.lock:
            if seen_generation != self.generation:
                self.bedrock_connections += 1
            return self.generation

    def count_request(self, operation, last_request):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.requests += 1
            self.by_operation[operation] += 1
            self.last_request = last_request

    def count_cache(self, read_tokens, write_tokens):
        with self.lock:
            self.cache_reads += 1 if read_tokens else 0
            self.cache_writes += 1 if write_tokens else 0

    def count_auth_failure(self, failure=None):
        with self.lock:
            self.signature_failures += 1
            if failure is not None:
                self.last_auth_failure = {
                    "code": failure.code, "message": failure.message,
                    "canonical_request": failure.canonical_request,
                    "string_to_sign": failure.string_to_sign}

    def finish(self, outcome):
        """Record the outcome of one Bedrock request (status counters, history, log)."""
        elapsed_ms = int((time.time() - outcome.started) * 1000)
        summary = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(outcome.started)),
            "epoch": round(outcome.started, 3),
            "method": outcome.method, "path": outcome.path, "scheme": outcome.scheme,
            "operation": outcome.operation, "model_id": outcome.model_id,
            "region": outcome.region, "access_key_id": outcome.access_key_id,
            "issued_by": outcome.issued_by, "auth": outcome.auth, "status": outcome.status, "error_code": outcome.error_code,
            "fault": outcome.fault, "request_id": outcome.request_id, "latency_ms": elapsed_ms,
        }
        with self.lock:
            self.in_flight = max(0, self.in_flight - 1)
            self.by_status[str(outcome.status)] += 1
            self.recent.append(summary)
            if self.log_file:
                line = " ".join("%s=%s" % (k, summary[k]) for k in (
                    "time", "scheme", "method", "path", "operation", "model_id", "region",
                    "access_key_id", "auth", "status", "error_code", "fault", "request_id",
                    "latency_ms"))
                # Only the kind (static, imds, container, sts:AssumeRole, ...):
                # the full value has spaces and this log is one key=value per word.
                kind = (outcome.issued_by or "None").split(" ")[0]
                self.log_file.write("%s issued_by=%s\n" % (line, kind))

    # Faults ---------------------------------------------------------------

    def add_faults(self, faults):
        with self.lock:
            self.faults.extend(faults)
            return len(self.faults)

    def next_fault(self, operation):
        """The first queued fault that applies to ``operation`` (used up by one)."""
        with self.lock:
            for head in self.faults:
                if head.applies_to(operation):
                    break
            else:
                return None
            head.remaining -= 1
            if head.remaining <= 0:
                self.faults.remove(head)
            self.faults_applied += 1
            return head

    def pending_faults(self):
        with self.lock:
            return [f.describe() for f in self.faults]

    def clear_faults(self):
        with self.lock:
            self.faults.clear()

    # Configuration and quotas ----------------------------------------------

    def update_config(self, changes):
        batch_changes = {k: v for k, v in changes.items() if k in batch.BatchConfig.names()}
        changes = {k: v for k, v in changes.items() if k not in batch_changes}
        batch_config = self.batch.update_config(batch_changes)
        with self.lock:
            for key, value in changes.items():
                if not hasattr(self.config, key):
                    raise ValueError("unknown setting %r" % key)
                if key == "output_burndown":
                    value = float(value)
                    if value < 0:
                        raise ValueError("output_burndown must be >= 0")
                    self.config.output_burndown = value
                    continue
                setattr(self.config, key, int(value))
            if "requests_per_minute" in changes or "tokens_per_minute" in changes:
                self.request_times.clear()          # quotas count from now on
                self.token_times.clear()
            return dict(self.config.__dict__, **batch_config)

    def get_config(self):
        with self.lock:
            return Config(**self.config.__dict__)

    @staticmethod
    def _trim(window, now):
        while window and window[0][0] <= now - 60:
            window.popleft()

    def admit(self):
        """The per-minute request quota: None if admitted, else the throttling message."""
        now = self.clock()
        with self.lock:
            self._trim(self.request_times, now)
            rpm = self.config.requests_per_minute
            if rpm and len(self.request_times) >= rpm:
                return MSG_THROTTLE
            self.request_times.append((now, 1))
            return None

    @staticmethod
    def _trim_reservations(window, now):
        while window and window[0].at <= now - 60:
            window.popleft()

    def reserve_tokens(self, input_tokens, max_tokens):
        """Reserve input + max_tokens x output_burndown in the minute window, as
        Bedrock does when a request starts.  Returns the Reservation, None when
        there is no token quota, or raises QuotaExceeded."""
        now = self.clock()
        with self.lock:
            tpm = self.config.tokens_per_minute
            if not tpm:
                return None
            self._trim_reservations(self.token_times, now)
            wanted = input_tokens + max_tokens * self.config.output_burndown
            if sum(r.tokens for r in self.token_times) + wanted > tpm:
                self.tokens_throttled += 1
                raise QuotaExceeded(MSG_TOKEN_THROTTLE)
            reservation = Reservation(now, wanted)
            self.token_times.append(reservation)
            return reservation

    def settle_tokens(self, reservation, returned):
        """Give back ``returned`` quota tokens of a reservation (the unused
        output and the cache reads) once the answer is complete."""
        if reservation is None:
            return
        with self.lock:
            reservation.tokens = max(0.0, reservation.tokens - returned)

    def tokens_in_window(self):
        with self.lock:
            self._trim_reservations(self.token_times, self.clock())
            return sum(r.tokens for r in self.token_times)

    # Views -----------------------------------------------------------------

    def settle(self, timeout=0.5):
        """Wait (briefly) until requests already answered are recorded too.

        A request is recorded after its answer is written, so a client that
        reads the counters right after its answer could otherwise race the
        recording; a request still in progress (a long SLEEP) only delays
        this by the timeout."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if self.in_flight == 0:
                    return
            time.sleep(0.005)

    def stats(self):
        self.settle()
        identity_counters = self.identity.stats()
        with self.lock:
            return dict(identity_counters, **{
                "requests": self.requests,
                "connections": sum(self.connections.values()),
                "connections_http": self.connections["http"],
                "connections_https": self.connections["https"],
                "bedrock_connections": self.bedrock_connections,
                "max_in_flight": self.max_in_flight,
                "by_operation": dict(self.by_operation),
                "by_status": dict(self.by_status),
                "signature_failures": self.signature_failures,
                "faults_applied": self.faults_applied,
                "faults_pending": len(self.faults),
                "cache_writes": self.cache_writes,
                "cache_reads": self.cache_reads,
                "tokens_in_window": round(sum(r.tokens for r in self.token_times
                                              if r.at > self.clock() - 60), 3),
                "tokens_throttled": self.tokens_throttled,
                "last_request": self.last_request,
                "last_auth_failure": self.last_auth_failure,
                "s3": self.s3.stats(),
                "batch": self.batch.stats(),
            })

    def recent_requests(self, n):
        with self.lock:
            items = list(self.recent)
        return items[-n:] if n > 0 else []


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------

class EmulatorServer(ThreadingHTTPServer):
    """One listener; counts connections, disables Nagle, optionally speaks TLS."""
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address, state, scheme, tls_context=None):
        self.state = state
        self.scheme = scheme
        self.tls_context = tls_context
        super().__init__(address, BedrockHandler)

    def get_request(self):
        sock, address = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.state.count_connection(self.scheme)
        return sock, address

    def finish_request(self, request, client_address):
        # Runs in the connection's own thread, so a slow TLS handshake never
        # holds up the accept loop.
        conn = request
        if self.tls_context is not None:
            request.settimeout(30)
            try:
                conn = self.tls_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            if conn is not request:
                conn.close()

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, ssl.SSLError, socket.timeout, TimeoutError)):
            return
        super().handle_error(request, client_address)


# --------------------------------------------------------------------------
# Request handler
# --------------------------------------------------------------------------

class BedrockHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BedrockEmulator"
    sys_version = ""
    timeout = 300                       # idle keep-alive connections close after this

    def setup(self):
        super().setup()
        self.bedrock_generation = None      # reset generation this connection was counted in

    def log_message(self, fmt, *args):  # the emulator keeps its own log
        pass

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = lambda self: self.dispatch()

    @property
    def state(self):
        return self.server.state

    # Low-level I/O -----------------------------------------------------------

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self):
        body = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline()
            if len(body) > MAX_BODY_BYTES:
                raise ValueError("body too large")

    def head_bytes(self, status, headers):
        reason = self.responses.get(status, ("Unknown",))[0]
        lines = ["HTTP/1.1 %d %s" % (status, reason),
                 "Date: " + email.utils.formatdate(usegmt=True)]
        lines += ["%s: %s" % item for item in headers]
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send_all(self, status, headers, body):
        """Status line, headers and body in ONE write (see the Nagle note)."""
        if self.command == "HEAD":
            body = b""
        headers = list(headers) + [("Content-Length", str(len(body)))]
        self.wfile.write(self.head_bytes(status, headers) + body)

    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj).encode("utf-8")
        self.send_all(status, [("Content-Type", "application/json")] + list(headers), body)

    def hard_reset(self):
        """Close with RST (SO_LINGER 0) and no response."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    # Dispatch ------------------------------------------------------------------

    def dispatch(self):
        raw_path, _, raw_query = self.path.partition("?")
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send_json(400, {"message": "Could not read the request body."})
            return
        if raw_path.startswith("/_emulator/"):
            ControlApi(self, raw_path, raw_query, body).handle()
            return
        if s3.is_s3_request(self.headers):
            s3.S3Request(self, self.state.s3, raw_path, raw_query, body, self.state.next_fault,
                         self.state.credentials).handle()
            return
        if bedrock_messages.is_messages_path(raw_path):     # Bedrock's Messages API
            BedrockMessagesRequest(self, raw_path, raw_query, body).handle()
            return
        if anthropic.is_anthropic_path(raw_path):       # the Anthropic API (emu_anthropic)
            AnthropicRequest(self, raw_path, raw_query, body).handle()
            return
        credential_endpoint = identity.route(raw_path)
        if credential_endpoint is not None:
            endpoint, match = credential_endpoint
            identity.IdentityRequest(self, self.state.identity, endpoint, match,
                                     raw_path, raw_query, body).handle()
        else:
            BedrockRequest(self, raw_path, raw_query, body).handle()


# --------------------------------------------------------------------------
# One Bedrock request
# --------------------------------------------------------------------------

class BedrockRequest:
    def __init__(self, handler, raw_path, raw_query, body):
        self.h = handler
        self.state = handler.state
        self.raw_path = raw_path
        self.raw_query = raw_query
        self.body = body
        match = _OPERATION_RE.fullmatch(raw_path) if handler.command == "POST" else None
        self.operation = OPERATIONS[match.group(2)] if match else "Unknown"
        self.model_id = unquote(match.group(1)) if match else None
        control = control_plane.route(handler.command, raw_path) if match is None else None
        if control is None and match is None:
            control = batch.route(handler.command, raw_path)
        if control is not None:
            self.operation, self.model_id = control
        self.out = Outcome(self.operation, handler.command, raw_path, handler.server.scheme)
        self.out.model_id = self.model_id
        self.fault = None

    # Responses -----------------------------------------------------------------

    def base_headers(self):
        return [("x-amzn-RequestId", self.out.request_id)]

    def error(self, status, code, message, namespace=NS_BEDROCK, key="message"):
        self.out.status, self.out.error_code = status, code
        headers = self.base_headers() + [
            ("x-amzn-ErrorType", "%s:http://internal.amazon.com/coral/%s/" % (code, namespace))]
        self.h.send_json(status, {key: message}, headers)
        raise Answered()

    def validation(self, message):
        self.error(400, "ValidationException", message)

    def send_success(self, body_bytes, headers):
        """A 200 answer, shaped by the current fault (truncated, slow, malformed)."""
        self.out.status = 200
        kind = self.fault.kind if self.fault else None
        headers = self.base_headers() + headers
        if kind == "malformed":
            body_bytes = b'{"id": "msg_bdrk_malformed", "content": [{"type": "text", "te'
        if kind == "truncated":
            all_headers = headers + [("Content-Length", str(len(body_bytes) + 64))]
            half = body_bytes[:max(1, len(body_bytes) // 2)]
            self.h.wfile.write(self.h.head_bytes(200, all_headers) + half)
            self.h.close_connection = True          # then a plain close (FIN)
            return
        if kind == "slow_body":
            all_headers = headers + [("Content-Length", str(len(body_bytes)))]
            self.h.wfile.write(self.h.head_bytes(200, all_headers))
            trickle(self.h.wfile, body_bytes, self.fault.delay_ms)
            return
        self.h.send_all(200, headers, body_bytes)

    # Flow ----------------------------------------------------------------------

    def handle(self):
        self.h.bedrock_generation = self.state.count_bedrock_connection(self.h.bedrock_generation)
        self.state.count_request(self.operation, self.summary_for_stats())
        self.state.body_log.write(self.operation, self.raw_path, self.body)
        try:
            self.run()
        except Answered:
            pass
        except (ConnectionError, ssl.SSLError, socket.timeout):
            self.h.close_connection = True
        except Exception:                           # an emulator bug: say so, loudly
            traceback.print_exc()
            if self.out.status is None:
                try:
                    self.error(500, "InternalServerException", "emulator bug: see its stderr")
                except Answered:
                    pass
        finally:
            self.state.finish(self.out)

    def run(self):
        if self.operation == "Unknown":
            self.error(404, "UnknownOperationException", None, NS_CORAL)
        self.out.region = self.authenticate()
        config = self.state.get_config()
        latency = config.latency_ms
        if config.first_byte_ms and self.operation.endswith("Stream"):
            latency = 0                             # emu_stream spreads it over the stream
        if latency:
            time.sleep(latency / 1000.0)
        self.apply_fault()
        if self.operation in CONTROL_OPERATIONS:
            self.op_control()
            return
        if self.operation in batch.OPERATIONS:
            self.op_batch()
            return
        throttled = self.state.admit()
        if throttled:
            self.error(429, "ThrottlingException", throttled)
        getattr(self, "op_" + self.operation)()

    def summary_for_stats(self):
        headers = {}
        for name, value in self.h.headers.items():
            if name.lower() == "authorization":
                value = sigv4.redact_authorization(value)
            elif name.lower() == "x-amz-security-token":
                value = "REDACTED"
            headers[name] = value
        return {"method": self.h.command, "path": self.h.path, "headers": headers,
                "body": self.body[:65536].decode("utf-8", "replace"),
                "attachments": documents.stats_raw(self.body)}

    def authenticate(self):
        """Verify SigV4 or a Bedrock API key; return the region to serve."""
        authorization = self.h.headers.get("Authorization", "")
        if authorization.lower().startswith("bearer "):
            return self.authenticate_bearer(authorization[7:].strip())
        try:
            verified = sigv4.verify(
                self.h.command, self.raw_path, self.raw_query, self.h.headers.items(),
                self.body, self.state.credentials.lookup, time.time(),
                service=SIGNING_SERVICE, valid_regions=catalogue.regions())
        except sigv4.AuthError as failure:
            self.note_claimed_identity(authorization)
            self.state.count_auth_failure(failure)
            message = failure.message
            if failure.canonical_request and self.state.get_config().verbose_signature_errors:
                message = sigv4.aws_mismatch_detail(failure)
            self.error(failure.status, failure.code, message, NS_CORAL)
        self.out.auth, self.out.access_key_id = "sigv4", verified.access_key_id
        self.note_issuer(verified.access_key_id)
        return verified.region

    def note_issuer(self, access_key_id):
        """For the log: which endpoint minted the signing key (static, imds, ...)."""
        principal = self.state.credentials.principal(access_key_id)
        self.out.issued_by = principal.issued_by if principal else None

    def note_claimed_identity(self, authorization):
        """For the log: who the failed request claimed to be (never the signature)."""
        try:
            claimed = sigv4.parse_authorization(authorization)
        except sigv4.AuthError:
            return
        self.out.auth, self.out.access_key_id = "sigv4", claimed.access_key_id
        self.out.region = claimed.region
        self.note_issuer(claimed.access_key_id)

    def authenticate_bearer(self, key):
        refusal = self.state.credentials.check_api_key(key)
        if refusal:
            self.state.count_auth_failure()
            self.error(403, "AccessDeniedException", refusal, NS_CORAL, key="Message")
        self.out.auth = "bearer"
        match = _HOST_REGION_RE.search(self.h.headers.get("Host", ""))
        return match.group(1) if match else self.state.default_region

    def apply_fault(self):
        """Take the next queued fault; answer now if it replaces the answer."""
        self.fault = fault = self.state.next_fault(self.operation)
        if fault is None:
            return
        self.out.fault = fault.kind
        if fault.kind == "throttle":
            self.error(429, "ThrottlingException", fault.message or MSG_THROTTLE)
        elif fault.kind == "model_not_ready":
            self.error(429, fault.error_type or "ModelNotReadyException",
                       fault.message or MSG_NOT_READY)
        elif fault.kind == "error":
            status = int(fault.status or 500)
            code, message = STATUS_ERRORS.get(status, ("InternalServerException", "Error"))
            self.error(status, fault.error_type or code, fault.message or message)
        elif fault.kind == "reset":
            self.out.status = "reset"
            self.h.hard_reset()
            raise Answered()
        elif fault.kind == "latency":
            time.sleep(fault.delay_ms / 1000.0)
        elif fault.kind == "stream_exception" and not self.operation.endswith("Stream"):
            name = fault.error_type or "throttlingException"
            status = STREAM_EXCEPTIONS.get(name, 500)
            self.error(status, name[0].upper() + name[1:],
                       fault.message or STATUS_ERRORS.get(status, ("", "Error"))[1])

    # Model and body --------------------------------------------------------------

    def target(self):
        try:
            return catalogue.resolve(self.model_id, self.out.region)
        except catalogue.ModelError as failure:
            self.error(failure.status, failure.code, failure.message)

    def check_body_size(self, size, member="body"):
        if size > MAX_INVOKE_BODY:
            self.validation(MSG_BODY_TOO_LONG % (member, MAX_INVOKE_BODY))

    def invoke_body(self, target):
        try:
            return claude.validate_invoke_body(self.body, target.model.max_output)
        except claude.BodyError as failure:
            self.validation(failure.message)

    def json_request(self):
        try:
            value = json.loads(self.body or b"{}")
            if isinstance(value, dict):
                return value
        except ValueError:
            pass
        self.error(400, "SerializationException", "Unable to parse the request body as JSON.")

    def complete(self, body, target):
        """Model-level checks, the token reservation, the deterministic answer,
        prompt caching; the unused part of the reservation is given back."""
        converse = self.operation.startswith("Converse")
        model = target.model
        prefix = CONVERSE_MODEL_ERROR if converse else ""
        try:
            claude.check_traits(body, model)
        except claude.BodyError as failure:
            self.validation(prefix + failure.message)
        cached = claude.has_cache_control(body)
        if cached and model.cache_min is None:
            status, code = CACHE_REFUSALS[self.operation]
            self.error(status, code, claude.MSG_CACHE_UNSUPPORTED)
        all_input = claude.count_input_tokens(body)
        if all_input > model.context_window:
            self.validation(prefix + claude.MSG_TOO_LONG)
        try:
            reservation = self.state.reserve_tokens(all_input, body["max_tokens"])
        except QuotaExceeded as refusal:
            self.error(429, "ThrottlingException", str(refusal))
        returned = 0
        try:
            misbehave = self.fault.kind if self.fault else None
            completion = claude.complete(body, self.model_id, target.anthropic_model, misbehave,
                                         model)
            if cached:
                read, write, write_1h = self.state.prompt_cache.use_split(
                    target.region, target.base_id, claude.cache_breakpoints(body),
                    model.cache_min)
                claude.apply_cache(completion, read, write, write_1h)
                self.state.count_cache(read, write)
            if completion.sleep_ms:
                time.sleep(completion.sleep_ms / 1000.0)
            # Cache reads do not count against token quotas (AWS); output
            # burns the quota at output_burndown per token.
            unused = max(0, body["max_tokens"] - completion.output_tokens)
            returned = completion.cache_read_tokens + unused * self.state.get_config().output_burndown
            return completion
        except BaseException:
            returned = reservation.tokens if reservation is not None else 0
            raise
        finally:
            self.state.settle_tokens(reservation, returned)

    def elapsed_ms(self):
        return max(1, int((time.time() - self.out.started) * 1000))

    # Operations ------------------------------------------------------------------

    def guardrail(self):
        """(guardrail, trace) the request's headers name (emu_guardrail)."""
        try:
            return self.state.guardrails.for_request(self.h.headers)
        except guardrail.GuardrailError as failure:
            self.error(failure.status, failure.code, failure.message)

    def op_InvokeModel(self):
        self.check_body_size(len(self.body))
        target = self.target()
        entry, trace = self.guardrail()
        body = self.invoke_body(target)
        completion = self.complete(body, target)
        response = claude.message_response(completion)
        if entry is not None:
            input_text = " ".join(claude.content_text(m.get("content")) for m in body["messages"])
            if self.state.guardrails.shape(response, entry, trace, input_text, completion.text):
                completion.output_tokens = response["usage"]["output_tokens"]
        payload = json.dumps(response).encode("utf-8")
        headers = [
            ("Content-Type", "application/json"),
            ("X-Amzn-Bedrock-Invocation-Latency", str(self.elapsed_ms())),
            ("X-Amzn-Bedrock-Input-Token-Count", str(completion.input_tokens)),
            ("X-Amzn-Bedrock-Output-Token-Count", str(completion.output_tokens)),
        ]
        if completion.cache_requested:
            headers += [
                ("X-Amzn-Bedrock-Cache-Read-Input-Token-Count", str(completion.cache_read_tokens)),
                ("X-Amzn-Bedrock-Cache-Write-Input-Token-Count",
                 str(completion.cache_write_tokens))]
        self.send_success(payload, headers)

    def op_InvokeModelWithResponseStream(self):
        self.check_body_size(len(self.body))
        target = self.target()
        completion = self.complete(self.invoke_body(target), target)
        first_byte = self.elapsed_ms()
        events = claude.stream_events(completion, first_byte, first_byte)
        messages = [eventstream.event_message("chunk", json.dumps({"bytes": base64.b64encode(
            json.dumps(e, separators=(",", ":")).encode("utf-8")).decode("ascii")}).encode("utf-8"))
            for e in events]
        self.send_stream(messages)

    def op_Converse(self):
        target = self.target()
        completion = self.complete(self.converse_body(), target)
        payload = json.dumps(claude.converse_response(completion, self.elapsed_ms()))
        self.send_success(payload.encode("utf-8"), [("Content-Type", "application/json")])

    def op_ConverseStream(self):
        target = self.target()
        completion = self.complete(self.converse_body(), target)
        messages = [eventstream.event_message(kind, json.dumps(payload).encode("utf-8"))
                    for kind, payload in claude.converse_stream_events(completion, self.elapsed_ms())]
        self.send_stream(messages)

    def op_CountTokens(self):
        try:
            target = catalogue.resolve_for_count(self.model_id, self.out.region)
        except catalogue.ModelError as failure:
            self.error(failure.status, failure.code, failure.message)
        request = self.json_request().get("input")
        if not isinstance(request, dict) or len(request) != 1:
            self.validation("1 validation error detected: Value null at 'input' failed to "
                            "satisfy constraint: Member must not be null")
        body = self.count_tokens_body(request)
        tokens = claude.count_input_tokens(body)
        window = target.model.context_window
        if tokens > window:
            self.validation(claude.MSG_COUNT_TOO_LONG % (tokens, window))
        payload = json.dumps({"inputTokens": tokens}).encode("utf-8")
        self.send_success(payload, [("Content-Type", "application/json")])

    def count_tokens_body(self, request):
        """The Messages body whose input CountTokens counts (InvokeModel's count)."""
        invoke = request.get("invokeModel")
        if "invokeModel" in request and (not isinstance(invoke, dict) or invoke.get("body") is None):
            self.validation("1 validation error detected: Value null at 'input.invokeModel.body' "
                            "failed to satisfy constraint: Member must not be null")
        try:
            if invoke is not None:
                raw = base64.b64decode(invoke["body"], validate=True)
                self.check_body_size(len(raw), "input.invokeModel.body")
                return claude.validate_invoke_body(raw)
            return claude.converse_to_messages(request.get("converse") or {})
        except claude.BodyError as failure:
            self.validation(failure.message)
        except (ValueError, TypeError, AttributeError, KeyError):
            # not base64 (binascii.Error is a ValueError), or a shape we cannot read
            self.validation("Malformed input request, please reformat your input and try again.")

    def op_control(self):
        """A control-plane operation (emu_control_plane), shaped by the fault."""
        try:
            answer = control_plane.handle(self.operation, self.model_id, self.out.region,
                                          parse_qs(self.raw_query, keep_blank_values=True))
        except control_plane.ControlError as failure:
            self.error(failure.status, failure.code, failure.message)
        self.send_success(json.dumps(answer).encode("utf-8"),
                          [("Content-Type", "application/json")])

    def op_batch(self):
        """A batch inference operation (emu_batch)."""
        try:
            answer = self.state.batch.handle(self.operation, self.model_id, self.out.region,
                                             parse_qs(self.raw_query, keep_blank_values=True),
                                             self.body)
        except batch.BatchError as failure:
            self.error(failure.status, failure.code, failure.message)
        self.send_success(json.dumps(answer).encode("utf-8"),
                          [("Content-Type", "application/json")])

    def converse_body(self):
        try:
            return claude.converse_to_messages(self.json_request())
        except claude.BodyError as failure:
            self.validation(failure.message)
        except (KeyError, TypeError, AttributeError):
            self.validation("The model returned the following errors: Malformed input request, "
                            "please reformat your input and try again.")

    def send_stream(self, messages):
        """An event stream over chunked transfer encoding, shaped by the fault."""
        self.out.status = 200
        kind = self.fault.kind if self.fault else None
        headers = self.base_headers() + [
            ("Content-Type", "application/vnd.amazon.eventstream"),
            ("X-Amzn-Bedrock-Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked")]
        if kind == "malformed" and len(messages) > 1:
            broken = bytearray(messages[1])
            broken[-1] ^= 0xFF                      # bad message CRC
            messages[1] = bytes(broken)
        if kind == "stream_exception":
            messages = stream_shape.with_exception(messages, self.fault.error_type,
                                                   self.fault.message or MSG_THROTTLE)
        if kind == "corrupt_frame":
            messages = stream_shape.corrupt(messages, self.fault.delay_ms or None)
        wfile = self.h.wfile
        wfile.write(self.h.head_bytes(200, headers))
        config = self.state.get_config()
        if config.first_byte_ms and kind not in ("slow_body", "truncated"):
            stream_shape.write(wfile, messages, config.first_byte_ms,
                               max(config.latency_ms, config.first_byte_ms), self.out.started)
            wfile.write(b"0\r\n\r\n")
            return
        pause = (self.fault.delay_ms / 1000.0 / len(messages)) if kind == "slow_body" else 0
        cut = len(messages) // 2 if kind == "truncated" else None
        for index, message in enumerate(messages):
            if index == cut:
                self.h.close_connection = True      # no terminating chunk
                return
            if pause:
                time.sleep(pause)
            wfile.write(b"%x\r\n%s\r\n" % (len(message), message))
        wfile.write(b"0\r\n\r\n")


# The Anthropic API's Messages request (emu_anthropic), on BedrockRequest's flow.
AnthropicRequest = anthropic.request_class(BedrockRequest, Outcome, Answered)
# Bedrock's Messages API (emu_bedrock_messages): the API's shapes, Bedrock's auth.
BedrockMessagesRequest = bedrock_messages.request_class(AnthropicRequest)


def trickle(wfile, data, total_ms, max_writes=200):
    """Write ``data`` spread evenly over ``total_ms`` (at most max_writes sends)."""
    if not data:
        return
    pieces = min(len(data), max_writes)
    step = -(-len(data) // pieces)
    pause = total_ms / 1000.0 / pieces
    for offset in range(0, len(data), step):
        time.sleep(pause)
        wfile.write(data[offset:offset + step])


# --------------------------------------------------------------------------
# Control API
# --------------------------------------------------------------------------

class ControlApi:
    """Unsigned JSON endpoints under /_emulator/ for the tests."""

    def __init__(self, handler, raw_path, raw_query, body):
        self.h = handler
        self.state = handler.state
        self.route = raw_path[len("/_emulator/"):].strip("/")
        self.query = parse_qs(raw_query)
        self.body = body

    def handle(self):
        name = "%s_%s" % (self.h.command.lower(), self.route.replace("-", "_"))
        method = getattr(self, name, None)
        if method is None:
            self.h.send_json(404, {"error": "no control endpoint %s /_emulator/%s"
                                   % (self.h.command, self.route)})
            return
        try:
            result = method()
        except (ValueError, TypeError, KeyError, AttributeError) as failure:
            self.h.send_json(400, {"error": str(failure)})
            return
        self.h.send_json(200, result)

    def json(self):
        value = json.loads(self.body or b"{}")
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        return value

    def get_health(self):
        return {"ok": True}

    def get_stats(self):
        return self.state.stats()

    def post_reset(self):
        self.state.reset()
        return {"ok": True}

    def get_requests(self):
        n = int(self.query.get("n", ["20"])[0])
        self.state.settle()
        return {"requests": self.state.recent_requests(n)}

    def post_faults(self):
        spec = self.json()
        faults = [Fault.from_json(item) for item in spec.get("faults", [spec])]
        return {"ok": True, "pending": self.state.add_faults(faults)}

    def get_faults(self):
        return {"faults": self.state.pending_faults()}

    def get_cache(self):
        return {"entries": self.state.prompt_cache.describe()}

    def delete_cache(self):
        return {"ok": True, "cleared": self.state.prompt_cache.clear()}

    def delete_faults(self):
        self.state.clear_faults()
        return {"ok": True}

    def post_s3_buckets(self):
        spec = self.json()
        bucket = self.state.s3.create_bucket(spec["name"], spec.get("region"))
        return {"ok": True, "name": bucket.name, "region": bucket.region}

    def get_s3_buckets(self):
        return self.state.s3.describe()

    def post_anthropic_batch_config(self):
        return {"ok": True, "config": anthropic.configure(self.json())}

    def get_anthropic_batches(self):
        return {"batches": anthropic.describe()}

    def post_guardrails(self):
        return {"ok": True, "guardrail": self.state.guardrails.configure(self.json())}

    def get_guardrails(self):
        return self.state.guardrails.describe()

    def post_config(self):
        return {"ok": True, "config": self.state.update_config(self.json())}

    def get_config(self):
        return {"config": dict(self.state.get_config().__dict__,
                               **self.state.batch.get_config().__dict__)}

    def get_batch_jobs(self):
        return self.state.batch.describe()

    def post_batch_config(self):
        return {"ok": True, "config": self.state.batch.update_config(self.json())}

    def get_batch_config(self):
        return {"config": self.state.batch.get_config().__dict__}

    def post_credentials(self):
        spec = self.json()
        if not spec.get("access_key_id") or not spec.get("secret_access_key"):
            raise ValueError("access_key_id and secret_access_key are required")
        expires_at = spec.get("expires_at")
        self.state.credentials.add(sigv4.Credential(
            spec["access_key_id"], spec["secret_access_key"], spec.get("session_token"),
            float(expires_at) if expires_at is not None else None))
        return {"ok": True, "access_key_id": spec["access_key_id"]}

    def get_credentials(self):
        return self.state.credentials.describe()

    def post_api_keys(self):
        key = self.json()["key"]
        self.state.credentials.add_api_key(key)
        return {"ok": True}

    def post_application_profiles(self):
        spec = self.json()
        unknown = set(spec) - {"region", "id", "model", "destinations", "name", "description"}
        if unknown:
            raise ValueError("unknown field(s): %s" % ", ".join(sorted(unknown)))
        profile = catalogue.register_application_profile(
            spec["region"], spec["id"], spec["model"], spec.get("destinations"),
            spec.get("name"), spec.get("description"))
        summary = control_plane.application_profile(profile)
        if summary is None:
            catalogue.drop_application_profile(spec["region"], spec["id"])
            raise ValueError("model %r does not resolve in %s" % (spec["model"], spec["region"]))
        return {"ok": True, "profile": summary}

    def get_application_profiles(self):
        region = self.query.get("region", [None])[0]
        regions = [region] if region else catalogue.regions()
        return {"profiles": [summary for r in regions
                             for summary in control_plane.application_profiles(r)]}

    def post_models(self):
        model = catalogue.register_model(self.json())
        return {"ok": True, "model": model.describe()}

    def get_models(self):
        registered = self.query.get("registered", ["0"])[0] in ("1", "true")
        return {"models": [m.describe() for m in
                           (catalogue.model(base) for base in catalogue.MODELS)
                           if m is not None and (m.registered or not registered)]}

    def post_identity(self):
        expired = self.state.identity.update(self.json())
        return {"ok": True, "expired": expired, "config": self.state.identity.current().public()}

    def get_identity(self):
        n = int(self.query.get("n", ["20"])[0])
        return self.state.identity.describe(n)


# --------------------------------------------------------------------------
# Start-up
# --------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description="Amazon Bedrock Runtime emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--tls-port", type=int)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--credentials", action="extend", nargs="+", default=[],
                        metavar="AKID:SECRET[:TOKEN]")
    parser.add_argument("--api-key", action="append", default=[], metavar="KEY")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--default-region", default=DEFAULT_REGION,
                        help="region for API-key requests (no SigV4 scope to read it from)")
    parser.add_argument("--log")
    parser.add_argument("--body-log", help="every Bedrock request body, one JSON line each")
    parser.add_argument("--container-token",
                        help="container credentials require 'Authorization: TOKEN'")
    parser.add_argument("--imds-role", default=identity.DEFAULT_IMDS_ROLE)
    parser.add_argument("--web-identity-token", default=identity.DEFAULT_WEB_IDENTITY_TOKEN)
    parser.add_argument("--no-imds", action="store_true",
                        help="start with IMDS off (its paths close the connection)")
    args = parser.parse_args(argv)
    if args.tls_port is not None and not (args.tls_cert and args.tls_key):
        parser.error("--tls-port needs --tls-cert and --tls-key")
    if not args.imds_role or "/" in args.imds_role:
        parser.error("--imds-role must be a role name (no '/')")
    return args


def build_state(args):
    credentials = [parse_credential_spec(s) for s in args.credentials] or DEFAULT_CREDENTIALS
    store = CredentialStore(credentials, args.api_key or DEFAULT_API_KEYS)
    identity_service = identity.IdentityService(store, identity.IdentityConfig(
        imds_role=args.imds_role, imds_enabled=not args.no_imds,
        container_token=args.container_token, web_identity_token=args.web_identity_token),
        args.default_region)
    state = EmulatorState(store, Config(latency_ms=args.latency_ms), args.default_region, args.log,
                          identity_service)
    state.body_log = guardrail.BodyLog(args.body_log)
    return state


def start_servers(args, state):
    servers = [EmulatorServer((args.host, args.port), state, "http")]
    if args.tls_port is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        context.set_alpn_protocols(["http/1.1"])    # no HTTP/2 here; say so in ALPN
        servers.append(EmulatorServer((args.host, args.tls_port), state, "https", context))
    for server in servers:
        threading.Thread(target=server.serve_forever, name=server.scheme, daemon=True).start()
    return servers


def main(argv=None):
    args = parse_args(argv)
    state = build_state(args)
    servers = start_servers(args, state)
    ports = {s.scheme: s.server_address[1] for s in servers}
    print("ready http=%d https=%d" % (ports["http"], ports.get("https", 0)), flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
