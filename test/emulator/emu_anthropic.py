"""The Anthropic API's Messages endpoint on the emulator (issue 18).

``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` as
api.anthropic.com serves them: an ``x-api-key`` header (no SigV4), an
``anthropic-version`` header (``2023-06-01``; ``2026-10-21`` refuses
temperature, top_p and top_k), the model in the body, ``inference_geo``
("global" or "us"; "us" only for Opus 4.6 and later models), errors as
``{"type": "error", "error": {"type", "message"}}`` with a ``request-id``
header, ``retry-after`` on 429 and 529 for an overloaded API; Message
Batches (``/v1/messages/batches``: create, retrieve, list, results as JSONL,
cancel, delete; at most 100,000 requests or 256 MB; every request answered
when the batch is created, shown ``in_progress`` for EMU_ANTHROPIC_BATCH_DELAY_MS
(1 s) and ``ended`` after; a cancel ends it at once).  Answers come
by the same rules as InvokeModel's (emu_claude), so a test can compare the
providers.  The request class extends the emulator's Bedrock request; the
emulator hands it the paths below (bedrock_emulator.dispatch).
"""

import json
import os
import re
import threading
import time
import uuid
from urllib.parse import parse_qs

import emu_catalogue as catalogue
import emu_claude as claude

PATHS = {"/v1/messages": "Messages", "/v1/messages/count_tokens": "MessagesCountTokens"}
# Message Batches: /v1/messages/batches[/{id}[/results|/cancel]]
_BATCH_RE = re.compile(r"/v1/messages/batches(?:/(msgbatch_[0-9a-f]+)(?:/(results|cancel))?)?")
BATCH_OPERATIONS = ("MessageBatchesCreate", "MessageBatchesList", "MessageBatchesRetrieve",
                    "MessageBatchesResults", "MessageBatchesCancel", "MessageBatchesDelete")
OPERATIONS = tuple(PATHS.values()) + BATCH_OPERATIONS
# At most 100,000 requests or 256 MB in one batch.
BATCH_MAX_REQUESTS = 100000
BATCH_MAX_BYTES = 256 * 1024 * 1024
# How long a batch is "in_progress" (the API: usually within an hour, at most 24 h).
BATCH_DELAY_S = float(os.environ.get("EMU_ANTHROPIC_BATCH_DELAY_MS", "1000")) / 1000.0
BATCH_TTL_S = 24 * 3600

# The keys the emulated API accepts (tests give the server one of these).
API_KEYS = {"sk-ant-emu-0123456789abcdefghijklmnopqrstuvwxyz"}
VERSIONS = ("2023-06-01", "2026-10-21")
NO_SAMPLING_VERSION = "2026-10-21"

# Retired on the Anthropic API (the facts file: Sonnet 4.5 on 2026-11-30).
RETIRED = ("claude-sonnet-4-5",)

STATUS_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 529: "overloaded_error",
}
# Bedrock's error codes, as the shared flow raises them, in the API's words.
AWS_TO_STATUS = {
    "ValidationException": 400, "ThrottlingException": 429, "AccessDeniedException": 403,
    "ResourceNotFoundException": 404, "ServiceUnavailableException": 529,
    "InternalServerException": 500, "ModelNotReadyException": 529,
}
RETRY_AFTER_S = 1


def is_anthropic_path(raw_path):
    return raw_path in PATHS or _BATCH_RE.fullmatch(raw_path) is not None


def batch_operation(method, raw_path):
    match = _BATCH_RE.fullmatch(raw_path)
    if match is None:
        return None, None
    batch_id, sub = match.groups()
    table = {
        (None, None, "POST"): "MessageBatchesCreate", (None, None, "GET"): "MessageBatchesList",
        ("id", None, "GET"): "MessageBatchesRetrieve", ("id", None, "DELETE"): "MessageBatchesDelete",
        ("id", "results", "GET"): "MessageBatchesResults", ("id", "cancel", "POST"): "MessageBatchesCancel",
    }
    return table.get(("id" if batch_id else None, sub, method), "Unknown"), batch_id


class ItemError(Exception):
    """A batch request's refusal, kept as its errored result instead of sent."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class BatchStore:
    """Message Batches by id: requests answered when created, shown once ended."""

    def __init__(self):
        self.lock = threading.Lock()
        self.batches = {}

    def add(self, batch):
        with self.lock:
            self.batches[batch["id"]] = batch

    def get(self, batch_id):
        with self.lock:
            return self.batches.get(batch_id)

    def remove(self, batch_id):
        with self.lock:
            return self.batches.pop(batch_id, None)

    def all(self):
        with self.lock:
            return sorted(self.batches.values(), key=lambda b: b["created"], reverse=True)


BATCHES = BatchStore()

# Settable through /_emulator/anthropic-batch-config, restored by a reset:
# delay_ms, how long a new batch is in_progress; create_answer_delay_ms, how
# long a create waits to answer after the batch is made (a client that times
# out first has made a batch it never heard of).
_DEFAULT_SETTINGS = {"delay_ms": BATCH_DELAY_S * 1000.0, "create_answer_delay_ms": 0}
SETTINGS = dict(_DEFAULT_SETTINGS)


def configure(changes):
    unknown = set(changes) - set(_DEFAULT_SETTINGS)
    if unknown:
        raise ValueError("unknown Message Batches setting(s): %s" % ", ".join(sorted(unknown)))
    for key, value in changes.items():
        if not isinstance(value, (int, float)) or value < 0:
            raise ValueError("%s must be a number of milliseconds" % key)
        SETTINGS[key] = float(value)
    return dict(SETTINGS)


def reset():
    SETTINGS.clear()
    SETTINGS.update(_DEFAULT_SETTINGS)
    with BATCHES.lock:
        BATCHES.batches.clear()


def describe():
    """Every batch held, oldest first: id, request count, the first ten custom ids and params."""
    return [{"id": b["id"], "requests": len(b["results"]),
             "custom_ids": [r["custom_id"] for r in b["results"]][:10],
             "params": b.get("params", []),
             "canceled": b["canceled_at"] is not None}
            for b in reversed(BATCHES.all())]


def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + ".000000Z"


def batch_view(batch, base_url, now=None):
    """The MessageBatch object as the API shows it at ``now``."""
    now = time.time() if now is None else now
    delay = batch.get("delay", BATCH_DELAY_S)
    ended = batch["canceled_at"] is not None or now >= batch["created"] + delay
    counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    for item in batch["results"]:
        if not ended:
            counts["processing"] += 1
        elif batch["canceled_at"] is not None and batch["canceled_at"] < batch["created"] + delay:
            counts["canceled"] += 1
        else:
            counts[item["result"]["type"]] += 1
    end = None
    if ended:
        end = batch["canceled_at"] if batch["canceled_at"] is not None and \
            batch["canceled_at"] < batch["created"] + delay else batch["created"] + delay
    return {
        "id": batch["id"], "type": "message_batch",
        "processing_status": "ended" if ended else "in_progress",
        "request_counts": counts,
        "created_at": _iso(batch["created"]), "expires_at": _iso(batch["created"] + BATCH_TTL_S),
        "ended_at": _iso(end) if end else None,
        "cancel_initiated_at": _iso(batch["canceled_at"]) if batch["canceled_at"] else None,
        "archived_at": None,
        "results_url": "%s/v1/messages/batches/%s/results" % (base_url, batch["id"]) if ended else None,
    }


def us_capable(name):
    """inference_geo "us": Opus 4.6 and the models after it."""
    match = re.fullmatch(r"claude-[a-z]+-(\d+)(?:-(\d{1,2}))?(?:-\d{8})?", name)
    if match is None:
        return False
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    return (major, minor) >= (4, 6)


def find_model(name):
    """The catalogue's model whose Anthropic name is ``name`` (date suffix optional)."""
    for base_id in sorted(catalogue.MODEL_TABLE):
        found = catalogue.model(base_id)
        if found is not None and (found.name == name or re.sub(r"-\d{8}$", "", found.name) == name):
            return found
    return None


def request_class(bedrock_request, outcome, answered):
    """The Messages request, built on the emulator's BedrockRequest."""

    class AnthropicRequest(bedrock_request):
        def __init__(self, handler, raw_path, raw_query, body):
            self.h = handler
            self.state = handler.state
            self.raw_path = raw_path
            self.raw_query = raw_query
            self.body = body
            self.operation = PATHS[raw_path] if handler.command == "POST" and raw_path in PATHS \
                else "Unknown"
            self.batch_id = None
            if raw_path not in PATHS:
                self.operation, self.batch_id = batch_operation(handler.command, raw_path)
            self.model_id = None
            self.collecting = False
            self.out = outcome(self.operation, handler.command, raw_path, handler.server.scheme)
            self.out.request_id = "req_emu_" + uuid.uuid4().hex[:24]
            self.fault = None
            self.version = None

        def base_headers(self):
            return [("request-id", self.out.request_id)]

        def error(self, status, code, message, namespace=None, key=None):
            """Any refusal in the API's shape; Bedrock's codes in its terms."""
            if code in AWS_TO_STATUS and status not in STATUS_TYPES:
                status = AWS_TO_STATUS[code]
            if code not in STATUS_TYPES.values():
                if code == "ServiceUnavailableException" or status == 503:
                    status = 529
                code = STATUS_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
            if getattr(self, "collecting", False):
                raise ItemError(status, code, message or code)
            self.out.status, self.out.error_code = status, code
            headers = self.base_headers()
            if status in (429, 529):
                headers.append(("retry-after", str(RETRY_AFTER_S)))
            self.h.send_json(status, {"type": "error", "error": {"type": code, "message": message or code},
                                      "request_id": self.out.request_id}, headers)
            raise answered()

        def summary_for_stats(self):
            headers = {}
            for name, value in self.h.headers.items():
                headers[name] = "REDACTED" if name.lower() in ("x-api-key", "authorization") else value
            return {"method": self.h.command, "path": self.h.path, "headers": headers,
                    "body": self.body[:65536].decode("utf-8", "replace")}

        def authenticate(self):
            # x-api-key (the API's documented header, what pg_claude sends) or,
            # as the official SDK sends an API key since 1.x, Authorization: Bearer
            key = self.h.headers.get("x-api-key")
            authorization = self.h.headers.get("Authorization", "")
            if not key and authorization.lower().startswith("bearer "):
                key = authorization[7:].strip()
            if not key:
                self.state.count_auth_failure()
                self.error(401, "authentication_error", "x-api-key header is required")
            self.out.auth = "x-api-key" if self.h.headers.get("x-api-key") else "bearer"
            if key not in API_KEYS:
                self.state.count_auth_failure()
                self.error(401, "authentication_error", "invalid x-api-key")
            version = self.h.headers.get("anthropic-version")
            if version is None:
                self.error(400, "invalid_request_error", "anthropic-version: header is required")
            if version not in VERSIONS:
                self.error(400, "invalid_request_error",
                           "anthropic-version: invalid version %s" % version)
            self.version = version
            return self.state.default_region

        def run(self):
            if self.operation == "Unknown":
                self.error(404, "not_found_error", "Not found")
            self.out.region = self.authenticate()
            latency = self.state.get_config().latency_ms
            if latency:
                time.sleep(latency / 1000.0)
            self.apply_fault()
            throttled = self.state.admit()
            if throttled:
                self.error(429, "rate_limit_error", throttled)
            if self.operation.startswith("MessageBatches"):
                self.batch_request()
                return
            body = self.json_request()
            found, name = self.model_of(body)
            self.out.model_id = self.model_id = name
            if self.operation == "MessagesCountTokens":
                self.count_tokens(body, found)
            else:
                self.messages(body, found, name)

        def model_of(self, body):
            name = body.get("model")
            if not isinstance(name, str) or not name:
                self.error(400, "invalid_request_error", "model: Field required")
            found = find_model(name)
            if found is None or any(name.startswith(r) for r in RETIRED) or found.past_end_of_life():
                self.error(404, "not_found_error", "model: %s" % name)
            return found, name

        def bedrock_shape(self, body, found, name):
            """The body as InvokeModel would take it: checked by the same rules."""
            if "anthropic_version" in body:
                self.error(400, "invalid_request_error", "anthropic_version: Extra inputs are not permitted")
            geo = body.pop("inference_geo", None)
            if geo is not None:
                if geo not in ("global", "us"):
                    self.error(400, "invalid_request_error",
                               "inference_geo: Input should be 'global' or 'us'")
                if geo == "us" and not us_capable(name):
                    self.error(400, "invalid_request_error",
                               "inference_geo is not supported for model %s" % name)
            if self.version == NO_SAMPLING_VERSION:
                for key in ("temperature", "top_p", "top_k"):
                    if key in body:
                        self.error(400, "invalid_request_error",
                                   "%s: Extra inputs are not permitted in anthropic-version %s"
                                   % (key, NO_SAMPLING_VERSION))
            shaped = dict(body)
            shaped.pop("model", None)
            shaped["anthropic_version"] = claude.ANTHROPIC_VERSION
            return shaped

        def messages(self, body, found, name):
            self.send_success(json.dumps(self.answer(body, found, name)).encode("utf-8"),
                              [("Content-Type", "application/json")])

        def answer(self, body, found, name):
            """The Message for a Messages body, by InvokeModel's rules (or self.error)."""
            self.model_id = name
            shaped = self.bedrock_shape(body, found, name)
            raw = json.dumps(shaped).encode("utf-8")
            self.check_body_size(len(raw))
            try:
                checked = claude.validate_invoke_body(raw, found.max_output)
            except claude.BodyError as failure:
                self.error(400, "invalid_request_error", failure.message)
            target = catalogue.Target(name, found.base_id, found.name, "base", None,
                                      self.out.region, found)
            saved, self.operation = self.operation, "InvokeModel"   # the shared rules' name
            try:
                completion = self.complete(checked, target)
            finally:
                self.operation = saved
            answer = claude.message_response(completion)
            answer["model"] = name
            answer["id"] = answer["id"].replace("msg_bdrk_", "msg_", 1)   # the API's own ids
            return answer

        # Message Batches -------------------------------------------------------------

        def base_url(self):
            return "%s://%s" % (self.h.server.scheme, self.h.headers.get("Host", "127.0.0.1"))

        def batch_request(self):
            op = self.operation
            if op == "MessageBatchesCreate":
                self.batch_create()
                return
            if op == "MessageBatchesList":
                self.batch_list()
                return
            batch = BATCHES.get(self.batch_id)
            if batch is None:
                self.error(404, "not_found_error", "message_batch_id: %s not found" % self.batch_id)
            view = batch_view(batch, self.base_url())
            if op == "MessageBatchesRetrieve":
                self.send_json_ok(view)
            elif op == "MessageBatchesCancel":
                if view["processing_status"] != "ended" and batch["canceled_at"] is None:
                    batch["canceled_at"] = time.time()
                self.send_json_ok(batch_view(batch, self.base_url()))
            elif op == "MessageBatchesDelete":
                if view["processing_status"] != "ended":
                    self.error(400, "invalid_request_error",
                               "Batch %s cannot be deleted while it is in progress" % batch["id"])
                BATCHES.remove(batch["id"])
                self.send_json_ok({"id": batch["id"], "type": "message_batch_deleted"})
            elif op == "MessageBatchesResults":
                if view["processing_status"] != "ended":
                    self.error(400, "invalid_request_error",
                               "Batch %s has not ended; its results are not ready" % batch["id"])
                canceled = batch["canceled_at"] is not None and \
                    batch["canceled_at"] < batch["created"] + batch.get("delay", BATCH_DELAY_S)
                lines = [json.dumps({"custom_id": r["custom_id"], "result": {"type": "canceled"}}
                                    if canceled else r) for r in batch["results"]]
                self.send_success(("\n".join(lines) + "\n").encode("utf-8"),
                                  [("Content-Type", "application/binary")])

        def batch_list(self):
            """Newest first, a page of ``limit`` (1 to 1000, default 20) after ``after_id``."""
            query = parse_qs(self.raw_query or "")
            try:
                limit = int(query.get("limit", ["20"])[0])
            except ValueError:
                limit = 0
            if not 1 <= limit <= 1000:
                self.error(400, "invalid_request_error", "limit: Input should be between 1 and 1000")
            views = [batch_view(b, self.base_url()) for b in BATCHES.all()]
            after = query.get("after_id", [None])[0]
            if after is not None:
                ids = [v["id"] for v in views]
                views = views[ids.index(after) + 1:] if after in ids else []
            page = views[:limit]
            self.send_json_ok({"data": page, "has_more": len(views) > limit,
                               "first_id": page[0]["id"] if page else None,
                               "last_id": page[-1]["id"] if page else None})

        def send_json_ok(self, obj):
            self.send_success(json.dumps(obj).encode("utf-8"), [("Content-Type", "application/json")])

        def batch_create(self):
            if len(self.body) > BATCH_MAX_BYTES:
                self.error(413, "request_too_large", "Batch exceeds the maximum of 256 MB")
            body = self.json_request()
            items = body.get("requests")
            if not isinstance(items, list) or not items:
                self.error(400, "invalid_request_error", "requests: Field required (a non-empty list)")
            if len(items) > BATCH_MAX_REQUESTS:
                self.error(400, "invalid_request_error",
                           "requests: at most %d requests in one batch" % BATCH_MAX_REQUESTS)
            seen = set()
            for item in items:
                custom_id = item.get("custom_id") if isinstance(item, dict) else None
                if not isinstance(custom_id, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", custom_id):
                    self.error(400, "invalid_request_error",
                               "requests: each custom_id must be 1 to 64 letters, digits, - or _")
                if custom_id in seen:
                    self.error(400, "invalid_request_error", "requests: custom_id %s is not unique" % custom_id)
                seen.add(custom_id)
                if not isinstance(item.get("params"), dict):
                    self.error(400, "invalid_request_error", "requests.%s.params: Field required" % custom_id)
            results = []
            self.collecting = True
            try:
                for item in items:
                    try:
                        params = dict(item["params"])
                        found, name = self.model_of(params)
                        results.append({"custom_id": item["custom_id"],
                                        "result": {"type": "succeeded",
                                                   "message": self.answer(params, found, name)}})
                    except ItemError as failure:
                        results.append({"custom_id": item["custom_id"], "result": {
                            "type": "errored", "error": {"type": "error", "error": {
                                "type": failure.code, "message": failure.message}}}})
            finally:
                self.collecting = False
            batch = {"id": "msgbatch_" + uuid.uuid4().hex[:24], "created": time.time(),
                     "canceled_at": None, "results": results, "delay": SETTINGS["delay_ms"] / 1000.0,
                     "params": [item["params"] for item in items[:10]]}
            BATCHES.add(batch)
            if SETTINGS["create_answer_delay_ms"]:
                time.sleep(SETTINGS["create_answer_delay_ms"] / 1000.0)
            self.send_json_ok(batch_view(batch, self.base_url()))

        def count_tokens(self, body, found):
            for key in ("max_tokens", "temperature", "top_p", "top_k", "inference_geo"):
                if key in body:
                    self.error(400, "invalid_request_error", "%s: Extra inputs are not permitted" % key)
            shaped = dict(body)
            shaped.pop("model", None)
            shaped["anthropic_version"] = claude.ANTHROPIC_VERSION
            shaped["max_tokens"] = 1
            try:
                checked = claude.validate_invoke_body(json.dumps(shaped).encode("utf-8"))
            except claude.BodyError as failure:
                self.error(400, "invalid_request_error", failure.message)
            tokens = claude.count_input_tokens(checked)
            self.send_success(json.dumps({"input_tokens": tokens}).encode("utf-8"),
                              [("Content-Type", "application/json")])

    return AnthropicRequest
