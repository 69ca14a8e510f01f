"""Bedrock's Messages API on the emulator (issue 18 item 1).

``POST /anthropic/v1/messages`` as bedrock-runtime.{region}.amazonaws.com
and bedrock-mantle.{region}.api.aws serve it: SigV4 (service ``bedrock`` on
the runtime host, ``bedrock-mantle`` on mantle, verified by emu_sigv4) or a
Bedrock API key; an Anthropic Messages body whose ``model`` is a Bedrock
model or inference-profile id (resolved as InvokeModel resolves the path's),
no ``anthropic_version`` needed; errors in the Anthropic shape
(``{"type": "error", "error": {...}}``) with ``x-amzn-RequestId``; token
counts in the body's ``usage`` only (no X-Amzn-Bedrock-* headers).

The emulator is one host, so the surface is told by the signing service
(``bedrock``: operation BedrockMessages; ``bedrock-mantle``: MantleMessages)
or, for an API key, by the Host header (a ``bedrock-mantle.`` host is
mantle).  Mantle answers Claude in MANTLE_REGIONS only.
"""

import json
import time
import uuid

import emu_catalogue as catalogue
import emu_claude as claude
import emu_sigv4 as sigv4

PATH = "/anthropic/v1/messages"
SERVICES = {"bedrock": "BedrockMessages", "bedrock-mantle": "MantleMessages"}
OPERATIONS = tuple(SERVICES.values())
# Where bedrock-mantle serves Claude, of the regions the facts speak of.
MANTLE_REGIONS = ("ap-southeast-4",)


def is_messages_path(raw_path):
    return raw_path == PATH


def request_class(anthropic_request):
    """Bedrock's Messages request: the Anthropic API's shapes, Bedrock's auth and models."""

    class BedrockMessagesRequest(anthropic_request):
        def __init__(self, handler, raw_path, raw_query, body):
            super().__init__(handler, "/v1/messages", raw_query, body)
            self.raw_path = raw_path
            self.operation = self.surface() if handler.command == "POST" else "Unknown"
            self.out.operation, self.out.path = self.operation, raw_path
            self.out.request_id = str(uuid.uuid4())

        def surface(self):
            authorization = self.h.headers.get("Authorization", "")
            if authorization.lower().startswith("bearer "):
                host = self.h.headers.get("Host", "")
                return SERVICES["bedrock-mantle" if host.startswith("bedrock-mantle.") else "bedrock"]
            try:
                claimed = sigv4.parse_authorization(authorization).service
            except sigv4.AuthError:
                claimed = "bedrock"
            return SERVICES.get(claimed, "BedrockMessages")

        def base_headers(self):
            return [("x-amzn-RequestId", self.out.request_id)]

        def summary_for_stats(self):
            # Bedrock's: the signature hidden, its scope (region, service) shown
            return super(anthropic_request, self).summary_for_stats()

        def authenticate(self):
            """SigV4 for the surface's service (or an API key), as Bedrock checks it."""
            authorization = self.h.headers.get("Authorization", "")
            if authorization.lower().startswith("bearer "):
                refusal = self.state.credentials.check_api_key(authorization[7:].strip())
                if refusal:
                    self.state.count_auth_failure()
                    self.error(403, "permission_error", refusal)
                self.out.auth = "bearer"
                return self.state.default_region
            service = "bedrock-mantle" if self.operation == "MantleMessages" else "bedrock"
            try:
                verified = sigv4.verify(
                    self.h.command, self.raw_path, self.raw_query, self.h.headers.items(),
                    self.body, self.state.credentials.lookup, time.time(),
                    service=service, valid_regions=catalogue.regions())
            except sigv4.AuthError as failure:
                self.state.count_auth_failure(failure)
                self.error(403 if failure.status == 403 else 401,
                           "permission_error" if failure.status == 403 else "authentication_error",
                           "%s: %s" % (failure.code, failure.message))
            self.out.auth, self.out.access_key_id = "sigv4", verified.access_key_id
            return verified.region

        def run(self):
            if self.operation == "Unknown":
                self.error(404, "not_found_error", "Not found")
            self.out.region = self.authenticate()
            self.version = self.h.headers.get("anthropic-version") or "2023-06-01"
            if self.operation == "MantleMessages" and self.out.region not in MANTLE_REGIONS:
                self.error(404, "not_found_error",
                           "bedrock-mantle does not serve Claude in %s" % self.out.region)
            self.apply_fault()
            throttled = self.state.admit()
            if throttled:
                self.error(429, "rate_limit_error", throttled)
            body = self.json_request()
            name = body.get("model")
            if not isinstance(name, str) or not name:
                self.error(400, "invalid_request_error", "model: Field required")
            try:
                target = catalogue.resolve(name, self.out.region)
            except catalogue.ModelError as failure:
                self.error(failure.status, failure.code, failure.message)
            self.out.model_id = self.model_id = name
            if "anthropic_version" in body:
                self.error(400, "invalid_request_error",
                           "anthropic_version: Extra inputs are not permitted")
            shaped = dict(body)
            shaped.pop("model")
            shaped["anthropic_version"] = claude.ANTHROPIC_VERSION
            raw = json.dumps(shaped).encode("utf-8")
            self.check_body_size(len(raw))
            try:
                checked = claude.validate_invoke_body(raw, target.model.max_output)
            except claude.BodyError as failure:
                self.error(400, "invalid_request_error", failure.message)
            saved, self.operation = self.operation, "InvokeModel"   # the shared rules' name
            try:
                completion = self.complete(checked, target)
            finally:
                self.operation = saved
            answer = claude.message_response(completion)
            self.send_success(json.dumps(answer).encode("utf-8"),
                              [("Content-Type", "application/json")])

    return BedrockMessagesRequest
