"""A deterministic stand-in for Claude behind Bedrock (Anthropic Messages API).

Three jobs, all pure functions of the request so that pg_regress output is
stable:

1. Validate an InvokeModel body the way Bedrock does for Anthropic models
   (JSON-schema style messages: ``Malformed input request: #: required key
   [max_tokens] not found, please reformat your input and try again.``).
2. Answer from the text of the LAST user message (text blocks concatenated):

   ``SLEEP <ms> rest``   wait <ms> before answering, then answer ``rest``
   ``REPEAT SYSTEM``     the system prompt verbatim
   ``REPEAT PARAMS``     compact sorted JSON of model, max_tokens, temperature,
                         anthropic_version, has_system
   ``Summarize: text``   (or Summarise, any case, needs a ':')
                         "Summary: " + first sentence of text (<= 12 words)
   anything else         "You said: " + text

   With ``tool_choice`` {"type": "tool", "name": X} (or "any") the answer is
   one ``tool_use`` block whose input is filled from the tool's input_schema
   (see :func:`fill_schema`), stop_reason "tool_use".
3. Count tokens the same way everywhere: input = ceil(characters / 4) over the
   system prompt and all message content; output = whitespace-separated words
   of the answer.  An answer longer than max_tokens words is cut there and
   stop_reason becomes "max_tokens".

It also renders the answer as Anthropic streaming events and translates the
Converse API to and from the Messages shape, so that every operation shares
one engine.
"""

import hashlib
import json
import math
import re
from dataclasses import dataclass, field

ANTHROPIC_VERSION = "bedrock-2023-05-31"
DEFAULT_CONVERSE_MAX_TOKENS = 4096

# Keys Bedrock's schema for Anthropic Messages lets through; others are
# "extraneous" (a common client bug is sending "model" or "stream").
ALLOWED_KEYS = frozenset([
    "anthropic_version", "anthropic_beta", "max_tokens", "messages", "system",
    "temperature", "top_p", "top_k", "stop_sequences", "tools", "tool_choice",
    "thinking", "metadata", "output_config", "context_management",
])
REQUIRED_KEYS = ("anthropic_version", "max_tokens", "messages")

# Word lists behind the deterministic sentiment of "score"-like numbers.
POSITIVE_WORDS = frozenset("""
good great excellent love loved lovely happy glad pleased fantastic amazing
wonderful best perfect awesome helpful fast friendly recommend satisfied
delighted superb brilliant nice thanks thank positive enjoy enjoyed
""".split())
NEGATIVE_WORDS = frozenset("""
bad terrible awful hate hated poor slow broken worst angry disappointed
disappointing useless horrible rude refund problem problems issue issues
fail failed failure negative unhappy annoyed crash crashed wrong never
""".split())
SCORE_NAME_HINTS = ("score", "sentiment", "rating", "polarity")


class BodyError(Exception):
    """A ValidationException about the request body."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def malformed(violations):
    return BodyError("Malformed input request: %s, please reformat your input and try again."
                     % "".join(violations))


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------

def json_type(value):
    """Type names as the everit JSON-schema validator (used by Bedrock) prints them."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "BigDecimal"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "JSONArray"
    if isinstance(value, dict):
        return "JSONObject"
    return "Null"


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_range(path, value, low, high, violations):
    if low is not None and value < low:
        violations.append("#/%s: %s is not greater or equal to %s" % (path, value, low))
    if high is not None and value > high:
        violations.append("#/%s: %s is not less or equal to %s" % (path, value, high))


def _check_messages(messages, violations):
    if not isinstance(messages, list):
        violations.append("#/messages: expected type: JSONArray, found: %s" % json_type(messages))
        return
    if not messages:
        violations.append("#/messages: expected minimum item count: 1, found: 0")
    for i, message in enumerate(messages):
        where = "#/messages/%d" % i
        if not isinstance(message, dict):
            violations.append("%s: expected type: JSONObject, found: %s" % (where, json_type(message)))
            continue
        for key in ("role", "content"):
            if key not in message:
                violations.append("%s: required key [%s] not found" % (where, key))
        role = message.get("role")
        if "role" in message and role not in ("user", "assistant"):
            violations.append("%s/role: %s is not a valid enum value" % (where, role))
        content = message.get("content")
        if "content" in message and not isinstance(content, (str, list)):
            violations.append("%s/content: expected type: JSONArray, found: %s"
                              % (where, json_type(content)))
        if isinstance(content, list):
            for j, block in enumerate(content):
                if not isinstance(block, dict) or "type" not in block:
                    violations.append("%s/content/%d: required key [type] not found" % (where, j))


def validate_invoke_body(raw, max_output_tokens=None):
    """Parse and validate an InvokeModel body; return the dict or raise BodyError."""
    try:
        body = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (UnicodeDecodeError, ValueError):
        raise BodyError("Malformed input request, please reformat your input and try again.")
    if not isinstance(body, dict):
        raise malformed(["#: expected type: JSONObject, found: %s" % json_type(body)])
    violations = []
    for key in REQUIRED_KEYS:
        if key not in body:
            violations.append("#: required key [%s] not found" % key)
    for key in body:
        if key not in ALLOWED_KEYS:
            violations.append("#: extraneous key [%s] is not permitted" % key)
    if "anthropic_version" in body and body["anthropic_version"] != ANTHROPIC_VERSION:
        violations.append("#/anthropic_version: %s is not a valid enum value" % body["anthropic_version"])
    if "max_tokens" in body:
        max_tokens = body["max_tokens"]
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            violations.append("#/max_tokens: expected type: Integer, found: %s" % json_type(max_tokens))
        else:
            _check_range("max_tokens", max_tokens, 1, None, violations)
    for key, low, high in (("temperature", 0, 1), ("top_p", 0, 1), ("top_k", 0, None)):
        if key in body:
            if not is_number(body[key]):
                violations.append("#/%s: expected type: Number, found: %s" % (key, json_type(body[key])))
            else:
                _check_range(key, body[key], low, high, violations)
    if "system" in body and not isinstance(body["system"], (str, list)):
        violations.append("#/system: expected type: JSONArray, found: %s" % json_type(body["system"]))
    if "messages" in body:
        _check_messages(body["messages"], violations)
    if violations:
        raise malformed(violations)
    _check_semantics(body, max_output_tokens)
    return body


def _check_semantics(body, max_output_tokens):
    """Checks Anthropic makes after the schema (Bedrock relays its text)."""
    if max_output_tokens is not None and body["max_tokens"] > max_output_tokens:
        raise BodyError("max_tokens: %d > %d, which is the maximum allowed number of output "
                        "tokens for this model" % (body["max_tokens"], max_output_tokens))
    for i, message in enumerate(body["messages"]):
        content = message["content"]
        if content == "" or content == []:
            raise BodyError("messages.%d: all messages must have non-empty content except for "
                            "the optional final assistant message" % i)
        for block in content if isinstance(content, list) else ():
            if block.get("type") == "text" and not block.get("text"):
                raise BodyError("messages: text content blocks must be non-empty")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        names = [tool.get("name") for tool in body.get("tools") or ()]
        if choice.get("name") not in names:
            raise BodyError("tool_choice.name: Tool '%s' not found in tools" % choice.get("name"))


# --------------------------------------------------------------------------
# Text helpers and token counting
# --------------------------------------------------------------------------

def block_text(block):
    """Text a content block contributes (tool results included)."""
    if isinstance(block, str):
        return block
    kind = block.get("type")
    if kind == "text":
        return block.get("text", "")
    if kind == "tool_result":
        inner = block.get("content", "")
        return inner if isinstance(inner, str) else "".join(block_text(b) for b in inner)
    if kind == "tool_use":
        return json.dumps(block.get("input", {}), sort_keys=True)
    return ""


def content_text(content):
    if isinstance(content, str):
        return content
    return "".join(block_text(block) for block in content)


def system_text(system):
    if system is None:
        return ""
    if isinstance(system, str):
        return system
    return "".join(block.get("text", "") for block in system if isinstance(block, dict))


def last_user_text(messages):
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message["content"])
    return ""


def count_input_tokens(body):
    chars = len(system_text(body.get("system")))
    for message in body.get("messages", ()):
        chars += len(content_text(message.get("content", "")))
    return max(1, math.ceil(chars / 4))


def count_words(text):
    return len(text.split())


def truncate_words(text, limit):
    """Keep the text up to the end of its ``limit``-th word."""
    spans = [m.end() for m in re.finditer(r"\S+", text)]
    if len(spans) <= limit:
        return text, False
    return text[:spans[limit - 1]] if limit > 0 else "", True


def stable_id(prefix, *parts):
    """Ids derived from the request, so identical requests get identical answers."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()
    return prefix + digest[:24]


# --------------------------------------------------------------------------
# The deterministic answer
# --------------------------------------------------------------------------

_SLEEP_RE = re.compile(r"\s*SLEEP\s+(\d+)\b\s*", re.DOTALL)
_SUMMARIZE_RE = re.compile(r"\s*summari[sz]e", re.IGNORECASE)
_SENTENCE_RE = re.compile(r"(.*?[.!?])(?:\s|$)", re.DOTALL)


def split_sleep(text):
    """'SLEEP 250 rest' -> (250, 'rest'); anything else -> (0, text)."""
    match = _SLEEP_RE.match(text)
    if match is None:
        return 0, text
    return int(match.group(1)), text[match.end():]


def first_sentence(text, max_words=12):
    text = text.strip()
    match = _SENTENCE_RE.match(text)
    sentence = match.group(1) if match else text
    words = sentence.split()
    return " ".join(words[:max_words])


def repeat_params(body, model_label):
    return json.dumps({
        "model": model_label,
        "max_tokens": body.get("max_tokens"),
        "temperature": body.get("temperature"),
        "anthropic_version": body.get("anthropic_version"),
        "has_system": bool(body.get("system")),
    }, sort_keys=True, separators=(",", ":"))


def answer_text(text, body, model_label):
    """The text rules, in order (see the module docstring)."""
    stripped = text.strip()
    if stripped.startswith("REPEAT SYSTEM"):
        return system_text(body.get("system"))
    if stripped.startswith("REPEAT PARAMS"):
        return repeat_params(body, model_label)
    if _SUMMARIZE_RE.match(text) and ":" in text:
        return "Summary: " + first_sentence(text.split(":", 1)[1])
    return "You said: " + text


# --------------------------------------------------------------------------
# Forced tool use: fill a JSON schema from the user's text
# --------------------------------------------------------------------------

def pick_enum(values, text):
    lowered = text.lower()
    for value in values:
        if str(value).lower() in lowered:
            return value
    return values[0] if values else None


def sentiment_ratio(text):
    words = re.findall(r"[a-z']+", text.lower())
    positive = sum(1 for w in words if w in POSITIVE_WORDS)
    negative = sum(1 for w in words if w in NEGATIVE_WORDS)
    if positive + negative == 0:
        return 0.0
    return (positive - negative) / (positive + negative)


def labelled_value(name, text):
    """The value after 'name:' or 'name =' in the text, if the text labels it."""
    if not name:
        return None
    pattern = r"\b%s\s*[:=]\s*([^,;\n]+)" % re.escape(name.replace("_", " "))
    match = re.search(pattern, text, re.IGNORECASE) or \
        re.search(r"\b%s\s*[:=]\s*([^,;\n]+)" % re.escape(name), text, re.IGNORECASE)
    return match.group(1).strip() if match else None


def _schema_type(schema):
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        return "string"
    return kind


def _fill_number(schema, name, text, integer):
    low, high = schema.get("minimum"), schema.get("maximum")
    labelled = labelled_value(name, text)
    if labelled is not None:
        match = re.match(r"-?\d+(?:\.\d+)?", labelled)
        if match:
            value = float(match.group(0))
            return int(value) if integer else value
    score_like = any(hint in (name or "").lower() for hint in SCORE_NAME_HINTS)
    if score_like or (low == -1 and high == 1):
        low = -1 if low is None else low
        high = 1 if high is None else high
        value = low + (sentiment_ratio(text) + 1) / 2 * (high - low)
        return int(round(value)) if integer else round(value, 4)
    value = 0
    if low is not None and value < low:
        value = low
    if high is not None and value > high:
        value = high
    return int(value) if integer else value


def _fill_string(schema, name, text):
    value = labelled_value(name, text)
    if value is None:
        value = text.strip()
    if "maxLength" in schema:
        value = value[:schema["maxLength"]]
    if len(value) < schema.get("minLength", 0):
        value = value.ljust(schema["minLength"], ".")
    return value


def _fill_array(schema, name, text):
    items = schema.get("items", {}) or {}
    if "enum" in items:
        lowered = text.lower()
        values = [v for v in items["enum"] if str(v).lower() in lowered] or items["enum"][:1]
    else:
        values = [fill_schema(items, text, name)]
    if "maxItems" in schema:
        values = values[:schema["maxItems"]]
    return values


def fill_schema(schema, text, name=None):
    """A value conforming to ``schema``, chosen deterministically from ``text``:
    enum -> the first value mentioned in the text (else the first); string ->
    the value labelled 'name: ...' in the text, else the text; number -> the
    labelled number, a sentiment for score-like names, else 0 within bounds;
    boolean -> false; array of enum -> every value mentioned (at least one);
    object -> every property, recursively."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return pick_enum(schema["enum"], text)
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return fill_schema(options[0], text, name)
    kind = _schema_type(schema)
    if kind == "object":
        properties = schema.get("properties", {})
        value = {key: fill_schema(sub, text, key) for key, sub in properties.items()}
        for key in schema.get("required", ()):
            value.setdefault(key, text.strip())
        return value
    if kind == "array":
        return _fill_array(schema, name, text)
    if kind in ("number", "integer"):
        return _fill_number(schema, name, text, kind == "integer")
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _fill_string(schema, name, text)


def forced_tool(body):
    """The tool the request forces, or None."""
    choice = body.get("tool_choice")
    tools = body.get("tools") or []
    if not isinstance(choice, dict) or not tools:
        return None
    if choice.get("type") == "tool":
        return next((t for t in tools if t.get("name") == choice.get("name")), None)
    if choice.get("type") == "any":
        return tools[0]
    return None


# --------------------------------------------------------------------------
# Completion and response shapes
# --------------------------------------------------------------------------

@dataclass
class Completion:
    message_id: str
    model: str                      # Anthropic model name, e.g. claude-3-haiku-20240307
    content: list                   # Anthropic content blocks
    stop_reason: str
    input_tokens: int
    output_tokens: int
    sleep_ms: int = 0
    text: str = field(default="")   # the text answer ("" for tool use)


def complete(body, model_label, anthropic_model):
    """Run the deterministic model on a validated Messages body."""
    sleep_ms, text = split_sleep(last_user_text(body["messages"]))
    message_id = stable_id("msg_bdrk_", model_label, json.dumps(body, sort_keys=True))
    input_tokens = count_input_tokens(body)
    tool = forced_tool(body)
    if tool is not None:
        tool_input = fill_schema(tool.get("input_schema", {}), text)
        block = {"type": "tool_use", "id": stable_id("toolu_bdrk_", message_id),
                 "name": tool["name"], "input": tool_input}
        output_tokens = max(1, math.ceil(len(json.dumps(tool_input)) / 4))
        return Completion(message_id, anthropic_model, [block], "tool_use",
                          input_tokens, output_tokens, sleep_ms)
    answer, cut = truncate_words(answer_text(text, body, model_label), body["max_tokens"])
    return Completion(message_id, anthropic_model, [{"type": "text", "text": answer}],
                      "max_tokens" if cut else "end_turn", input_tokens,
                      count_words(answer), sleep_ms, answer)


def usage(completion):
    return {"input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def message_response(completion):
    """The InvokeModel response body (an Anthropic Message)."""
    return {
        "id": completion.message_id,
        "type": "message",
        "role": "assistant",
        "model": completion.model,
        "content": completion.content,
        "stop_reason": completion.stop_reason,
        "stop_sequence": None,
        "usage": usage(completion),
    }


def split_deltas(text, words_per_delta=3):
    """Pieces of ``text`` (a few words each) whose concatenation is ``text``."""
    pieces = re.findall(r"\s*\S+(?:\s+\S+){0,%d}" % (words_per_delta - 1), text)
    consumed = sum(len(p) for p in pieces)
    if consumed < len(text):
        if pieces:
            pieces[-1] += text[consumed:]
        else:
            pieces = [text]
    return pieces


def stream_events(completion, latency_ms, first_byte_ms):
    """Anthropic streaming events for a completion, as Bedrock sends them."""
    start = message_response(completion)
    start.update(content=[], stop_reason=None)
    start["usage"] = dict(start["usage"], output_tokens=1)
    events = [{"type": "message_start", "message": start}]
    for index, block in enumerate(completion.content):
        if block["type"] == "text":
            events.append({"type": "content_block_start", "index": index,
                           "content_block": {"type": "text", "text": ""}})
            for piece in split_deltas(block["text"]):
                events.append({"type": "content_block_delta", "index": index,
                               "delta": {"type": "text_delta", "text": piece}})
        else:
            events.append({"type": "content_block_start", "index": index,
                           "content_block": dict(block, input={})})
            partial = json.dumps(block["input"])
            for offset in range(0, len(partial), 16):
                events.append({"type": "content_block_delta", "index": index,
                               "delta": {"type": "input_json_delta",
                                         "partial_json": partial[offset:offset + 16]}})
        events.append({"type": "content_block_stop", "index": index})
    events.append({"type": "message_delta",
                   "delta": {"stop_reason": completion.stop_reason, "stop_sequence": None},
                   "usage": {"output_tokens": completion.output_tokens}})
    events.append({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": completion.input_tokens,
        "outputTokenCount": completion.output_tokens,
        "invocationLatency": latency_ms,
        "firstByteLatency": first_byte_ms}})
    return events


# --------------------------------------------------------------------------
# Converse <-> Messages
# --------------------------------------------------------------------------

def _converse_block(block):
    if "text" in block:
        return {"type": "text", "text": block["text"]}
    if "toolUse" in block:
        use = block["toolUse"]
        return {"type": "tool_use", "id": use.get("toolUseId"), "name": use.get("name"),
                "input": use.get("input", {})}
    if "toolResult" in block:
        result = block["toolResult"]
        inner = []
        for part in result.get("content", []):
            if "text" in part:
                inner.append({"type": "text", "text": part["text"]})
            elif "json" in part:
                inner.append({"type": "text", "text": json.dumps(part["json"], sort_keys=True)})
        return {"type": "tool_result", "tool_use_id": result.get("toolUseId"), "content": inner}
    return {"type": "unsupported"}


def converse_to_messages(request):
    """Translate a Converse request into an Anthropic Messages body."""
    messages = request.get("messages") or []
    if not messages or messages[0].get("role") != "user":
        raise BodyError("A conversation must start with a user message. Try again with a "
                        "conversation that starts with a user message.")
    config = request.get("inferenceConfig") or {}
    body = {
        "anthropic_version": ANTHROPIC_VERSION,
        "max_tokens": config.get("maxTokens", DEFAULT_CONVERSE_MAX_TOKENS),
        "messages": [{"role": m.get("role"),
                      "content": [_converse_block(b) for b in m.get("content", [])]}
                     for m in messages],
    }
    system = [b["text"] for b in request.get("system") or [] if "text" in b]
    if system:
        body["system"] = [{"type": "text", "text": t} for t in system]
    for ours, theirs in (("temperature", "temperature"), ("topP", "top_p"),
                         ("stopSequences", "stop_sequences")):
        if ours in config:
            body[theirs] = config[ours]
    tool_config = request.get("toolConfig")
    if tool_config:
        body["tools"] = [{"name": t["toolSpec"]["name"],
                          "description": t["toolSpec"].get("description", ""),
                          "input_schema": t["toolSpec"].get("inputSchema", {}).get("json", {})}
                         for t in tool_config.get("tools", []) if "toolSpec" in t]
        choice = tool_config.get("toolChoice") or {}
        if "tool" in choice:
            body["tool_choice"] = {"type": "tool", "name": choice["tool"].get("name")}
        elif "any" in choice:
            body["tool_choice"] = {"type": "any"}
    body.update(request.get("additionalModelRequestFields") or {})
    return body


def converse_content(completion):
    out = []
    for block in completion.content:
        if block["type"] == "text":
            out.append({"text": block["text"]})
        else:
            out.append({"toolUse": {"toolUseId": block["id"], "name": block["name"],
                                    "input": block["input"]}})
    return out


def converse_usage(completion):
    return {"inputTokens": completion.input_tokens, "outputTokens": completion.output_tokens,
            "totalTokens": completion.input_tokens + completion.output_tokens,
            "cacheReadInputTokens": 0, "cacheWriteInputTokens": 0}


def converse_response(completion, latency_ms):
    return {
        "output": {"message": {"role": "assistant", "content": converse_content(completion)}},
        "stopReason": completion.stop_reason,
        "usage": converse_usage(completion),
        "metrics": {"latencyMs": latency_ms},
    }


def converse_stream_events(completion, latency_ms):
    """(event type, payload) pairs of a ConverseStream response."""
    events = [("messageStart", {"role": "assistant"})]
    for index, block in enumerate(completion.content):
        if block["type"] == "text":
            for piece in split_deltas(block["text"]):
                events.append(("contentBlockDelta", {"contentBlockIndex": index,
                                                     "delta": {"text": piece}}))
        else:
            events.append(("contentBlockStart", {"contentBlockIndex": index, "start": {
                "toolUse": {"toolUseId": block["id"], "name": block["name"]}}}))
            events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": {
                "toolUse": {"input": json.dumps(block["input"])}}}))
        events.append(("contentBlockStop", {"contentBlockIndex": index}))
    events.append(("messageStop", {"stopReason": completion.stop_reason}))
    events.append(("metadata", {"usage": converse_usage(completion),
                                "metrics": {"latencyMs": latency_ms}}))
    return events
