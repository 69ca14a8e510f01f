"""Bedrock guardrails, the request body log, and deterministic redactions.

Guardrails (configured by the tests: POST /_emulator/guardrails
``{"id": "gr1", "version": "1", "marker": "WORD"}``; reset forgets them)
are applied to InvokeModel as the runtime's service model describes it:
the ``X-Amzn-Bedrock-GuardrailIdentifier`` header names one, and
``X-Amzn-Bedrock-GuardrailVersion`` must come with it (a number or DRAFT);
``X-Amzn-Bedrock-Trace: ENABLED`` adds the trace.  A guardrail's word policy
blocks its marker word, in the input (the model is never asked) or in the
answer; the answer is then the guardrail's blocked message, with
``amazon-bedrock-guardrailAction: INTERVENED`` and, traced, the
``amazon-bedrock-trace.guardrail`` assessment (input: {id: ...}, outputs:
[{id: ...}]).  An answer a guardrail let through says ``NONE``.

The body log (``--body-log FILE``): every Bedrock request's body as it
arrived, one JSON line per request, so a test can grep what reached AWS.

Redactions: a request whose system prompt is pg_claude's redact task
("You redact personal information.") is answered with the text after
``Text:`` where names (a fixed list of given names and the capitalised
word after), street addresses and Australian phone numbers are replaced by
[NAME], [ADDRESS], [PHONE] (only the kinds listed on its ``Kinds to
redact:`` line): stable outputs for the regression tests.
"""

import json
import re
import threading

HEADER_ID = "X-Amzn-Bedrock-GuardrailIdentifier"
HEADER_VERSION = "X-Amzn-Bedrock-GuardrailVersion"
HEADER_TRACE = "X-Amzn-Bedrock-Trace"

# the runtime's service model (GuardrailIdentifier, GuardrailVersion, Trace)
ID_RE = re.compile(r"([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/([a-z0-9]+))")
VERSION_RE = re.compile(r"([1-9][0-9]{0,7})|(DRAFT)")
TRACES = ("ENABLED", "DISABLED", "ENABLED_FULL")

BLOCKED_MESSAGE = "Sorry, the model cannot answer this question."


class GuardrailError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Guardrails:
    """The configured guardrails, by id."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_id = {}

    def reset(self):
        with self.lock:
            self.by_id.clear()

    def configure(self, spec):
        gid = spec["id"]
        if not re.fullmatch(r"[a-z0-9]+", gid):
            raise ValueError("a guardrail id is lower-case letters and digits")
        entry = {"id": gid, "version": str(spec.get("version", "DRAFT")),
                 "marker": spec["marker"], "message": spec.get("message", BLOCKED_MESSAGE)}
        with self.lock:
            self.by_id[gid] = entry
        return dict(entry)

    def describe(self):
        with self.lock:
            return {"guardrails": [dict(e) for e in self.by_id.values()]}

    def for_request(self, headers):
        """(guardrail, trace) for a request's headers, (None, None) without
        one; GuardrailError for what the runtime refuses."""
        gid = headers.get(HEADER_ID)
        version = headers.get(HEADER_VERSION)
        trace = headers.get(HEADER_TRACE)
        if trace is not None and trace not in TRACES:
            raise GuardrailError(400, "ValidationException",
                                 "1 validation error detected: Value '%s' at 'trace' failed to satisfy "
                                 "constraint: Member must satisfy enum value set: [ENABLED, DISABLED, "
                                 "ENABLED_FULL]" % trace)
        if not gid:
            return None, None
        match = ID_RE.fullmatch(gid)
        if match is None:
            raise GuardrailError(400, "ValidationException",
                                 "1 validation error detected: Value '%s' at 'guardrailIdentifier' failed "
                                 "to satisfy constraint: Member must satisfy regular expression pattern" % gid)
        if not version:
            raise GuardrailError(400, "ValidationException",
                                 "Guardrail version is required when a guardrail identifier is specified.")
        if VERSION_RE.fullmatch(version) is None:
            raise GuardrailError(400, "ValidationException",
                                 "1 validation error detected: Value '%s' at 'guardrailVersion' failed to "
                                 "satisfy constraint: Member must satisfy regular expression pattern" % version)
        key = match.group(4) or match.group(1)
        with self.lock:
            entry = self.by_id.get(key)
        if entry is None or entry["version"] not in (version, "*"):
            raise GuardrailError(400, "ValidationException",
                                 "The guardrail identifier or version provided in the request does not exist.")
        return dict(entry), trace

    @staticmethod
    def matches(entry, text):
        return entry["marker"].lower() in (text or "").lower()

    @staticmethod
    def assessment(entry, blocked):
        words = [{"match": entry["marker"], "action": "BLOCKED"}] if blocked else []
        return {entry["id"]: {"wordPolicy": {"customWords": words},
                              "invocationMetrics": {"guardrailProcessingLatency": 1}}}

    def shape(self, response, entry, trace, input_text, output_text):
        """The response body under the guardrail: intervened (the blocked
        message instead of the answer) or passed (NONE)."""
        on_input = self.matches(entry, input_text)
        on_output = not on_input and self.matches(entry, output_text)
        if on_input or on_output:
            response["content"] = [{"type": "text", "text": entry["message"]}]
            response["stop_reason"] = "end_turn"
            if on_input:
                response["usage"]["output_tokens"] = 0
            response["amazon-bedrock-guardrailAction"] = "INTERVENED"
        else:
            response["amazon-bedrock-guardrailAction"] = "NONE"
        if trace in ("ENABLED", "ENABLED_FULL"):
            guardrail = {"input": self.assessment(entry, on_input)}
            if not on_input:
                guardrail["outputs"] = [self.assessment(entry, on_output)]
            response["amazon-bedrock-trace"] = {"guardrail": guardrail}
        return on_input or on_output


class BodyLog:
    """Every Bedrock request body, one JSON line each (None: no log)."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.file = open(path, "a", buffering=1) if path else None

    def write(self, operation, path, body):
        if self.file is None:
            return
        text = (body or b"").decode("utf-8", "replace")
        with self.lock:
            self.file.write(json.dumps({"operation": operation, "path": path, "body": text}) + "\n")


# --------------------------------------------------------------------------
# Deterministic redactions (the redact task)
# --------------------------------------------------------------------------

REDACT_SYSTEM = "You redact personal information."
GIVEN_NAMES = ("Alice", "Bob", "Charlotte", "David", "Emma", "Jack", "Liam", "Mia", "Noah",
               "Olivia", "Priya", "Wei", "Zoe")
_NAME_RE = re.compile(r"\b(?:%s)(?: [A-Z][a-z]+)?\b" % "|".join(GIVEN_NAMES))
_ADDRESS_RE = re.compile(
    r"\b\d{1,5} [A-Z][a-z]+(?: [A-Z][a-z]+)? (?:Street|St|Road|Rd|Avenue|Ave|Lane|Parade|Drive|Place)\b"
    r"(?:,? [A-Z][a-z]+(?: [A-Z][a-z]+)? (?:NSW|VIC|QLD|WA|SA|TAS|ACT|NT) \d{4})?")
_PHONE_RE = re.compile(r"(?:\+61 ?4|\b04)\d{2} ?\d{3} ?\d{3}\b|\(0\d\) ?\d{4} ?\d{4}")
_EMAIL_RE = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")


def redact_answer(system, text):
    """The redacted text of a redact request, or None for another request."""
    if not system.startswith(REDACT_SYSTEM):
        return None
    head, sep, body = text.partition("\n\nText:\n")
    if not sep or not head.startswith("Kinds to redact:"):
        return None
    kinds = {k.strip() for k in head[len("Kinds to redact:"):].split(",")}
    if "EMAIL" in kinds:
        body = _EMAIL_RE.sub("[EMAIL]", body)
    if "ADDRESS" in kinds:
        body = _ADDRESS_RE.sub("[ADDRESS]", body)
    if "PHONE" in kinds:
        body = _PHONE_RE.sub("[PHONE]", body)
    if "NAME" in kinds:
        body = _NAME_RE.sub("[NAME]", body)
    return body
