"""The Anthropic API's Messages endpoint on the emulator (issue 18).

``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` as
api.anthropic.com serves them: an ``x-api-key`` header (no SigV4), an
``anthropic-version`` header (``2023-06-01``; ``2026-10-21`` refuses
temperature, top_p and top_k), the model in the body, ``inference_geo``
("global" or "us"; "us" only for Opus 4.6 and later models), errors as
``{"type": "error", "error": {"type", "message"}}`` with a ``request-id``
header, ``retry-after`` on 429 and 529 for an overloaded API.  Answers come
by the same rules as InvokeModel's (emu_claude), so a test can compare the
providers.  The request class extends the emulator's Bedrock request; the
emulator hands it the paths below (bedrock_emulator.dispatch).
"""

import json
import re
import time
import uuid

import emu_catalogue as catalogue
import emu_claude as claude

PATHS = {"/v1/messages": "Messages", "/v1/messages/count_tokens": "MessagesCountTokens"}
OPERATIONS = tuple(PATHS.values())

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
    return raw_path in PATHS


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
            self.operation = PATHS[raw_path] if handler.command == "POST" else "Unknown"
            self.model_id = None
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
            self.send_success(json.dumps(answer).encode("utf-8"),
                              [("Content-Type", "application/json")])

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
