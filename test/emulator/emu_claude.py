"""A deterministic stand-in for Claude behind Bedrock (Anthropic Messages API).

Four jobs, all pure functions of the request so that pg_regress output is
stable:

1. Validate an InvokeModel body the way Bedrock does for Anthropic models
   (JSON-schema style messages: ``Malformed input request: #: required key
   [max_tokens] not found, please reformat your input and try again.``), and
   Anthropic's own checks that Bedrock relays (max_tokens, cache_control).
2. Answer from the text of the LAST user message (text blocks concatenated):

   ``SLEEP <ms> rest``   wait <ms> before answering, then answer ``rest``
   ``REPEAT SYSTEM``     the system prompt verbatim
   ``REPEAT PARAMS``     compact sorted JSON of model, max_tokens, temperature,
                         anthropic_version, has_system
   ``Summarize these``   (or Summarise, any case) with lines "- item":
                         "Summary of N items: " + first sentence of item 1
   ``Summarize: text``   (or Summarise, any case, needs a ':')
                         "Summary: " + first sentence of text (<= 12 words)
   issue-19 tasks        translate, agg (and if, rank by tool): emu_tasks.py
   anything else         "You said: " + text

   With ``tool_choice`` {"type": "tool", "name": X} (or "any") the answer is
   one ``tool_use`` block whose input is filled from the tool's input_schema
   (see :func:`fill_schema`), stop_reason "tool_use".  A misbehaving model
   (``misbehave``: off_schema, no_tool, wrong_tool) breaks that contract.
3. Count tokens the same way everywhere: input = ceil(characters / 4) over
   the tools (name, description, compact schema JSON), the system prompt and
   all message content; output = whitespace-separated words of the answer.
   An answer longer than max_tokens words is cut there and stop_reason
   becomes "max_tokens".
4. Find the prefixes a request marks for prompt caching (cache_control on a
   tool, system block or message block; tools -> system -> messages), with
   their token counts and hashes.  The cache itself lives in emu_cache.

It also renders the answer as Anthropic streaming events and translates the
Converse API to and from the Messages shape (``cachePoint`` included), so
that every operation shares one engine.
"""

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass, field

import emu_guardrail
import emu_documents as documents
import emu_tasks

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

MAX_CACHE_BREAKPOINTS = 4
MSG_CACHE_UNSUPPORTED = ("You invoked an unsupported model or your request did not allow "
                         "prompt caching. See the documentation for more information.")
MSG_TOO_LONG = "Input is too long for requested model."
# Trait refusals (README, "Models and traits"); every one names the parameter.
MSG_SAMPLING_REFUSED = "`%s` is deprecated for this model."
MSG_SAMPLING_EXCLUSIVE = ("`temperature` and `top_p` cannot both be specified for this model. "
                          "Please use only one.")
MSG_THINKING_FORCED_TOOL = "Thinking may not be enabled when tool_choice forces tool use."
MSG_FORCED_TOOL_REFUSED = ("tool_choice: forcing tool use (type 'tool' or 'any') is not "
                           "supported for this model. Use output_config.format or tool_choice "
                           "{\"type\": \"auto\"}.")
MSG_THINKING_TYPE = '"thinking.type.%s" is not supported for this model.'
MSG_THINKING_USE_ADAPTIVE = (' Use "thinking.type.adaptive" and "output_config.effort" to '
                             'control thinking behavior.')
MSG_THINKING_ALWAYS_ON = " Thinking is always on for this model."
MSG_THINKING_TAG = ("thinking: Input tag '%s' found using 'type' does not match any of the "
                    "expected tags: 'adaptive', 'disabled', 'enabled'")
MSG_NO_STRUCTURED_OUTPUT = "output_config.format: Extra inputs are not permitted"
MSG_CACHE_TTL_ORDER = ("A 'ttl'='1h' cache_control block must not come after a 'ttl'='5m' "
                       "cache_control block. Note that blocks are processed in the following "
                       "order: `tools`, `system`, `messages`.")
EFFORTS = ("low", "medium", "high", "max")
MAX_OPTIONAL_PROPERTIES = 10
THINKING_TEXT = "Let me think about this request."
MSG_COUNT_TOO_LONG = "prompt is too long: %d tokens > %d maximum"

# Faults that make the model misbehave on a forced tool (misbehaving_block()).
MISBEHAVIOURS = ("off_schema", "no_tool", "wrong_tool")
NO_TOOL_TEXT = "I'd rather not use the tool."
WRONG_TOOL_NAME = "other_tool"
BAD_VALUE = "not-a-label"


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
    try:
        documents.check_body(len(raw), body)
    except documents.DocumentError as failure:
        raise BodyError(str(failure))
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
    _check_cache_control(body)


def _check_cache_control(body):
    """Anthropic's checks of cache_control (relayed by Bedrock as 400s)."""
    marked = [s for s in prompt_segments(body) if s.cache_control is not None]
    for segment in marked:
        mark = segment.cache_control
        if not isinstance(mark, dict) or mark.get("type") != "ephemeral":
            raise BodyError("%s.cache_control.type: Input should be 'ephemeral'" % segment.path)
        if "ttl" in mark and mark["ttl"] not in CACHE_TTLS:
            raise BodyError("%s.cache_control.ttl: Input should be '5m' or '1h'" % segment.path)
    if len(marked) > MAX_CACHE_BREAKPOINTS:
        raise BodyError("A maximum of %d blocks with cache_control may be provided. Found %d."
                        % (MAX_CACHE_BREAKPOINTS, len(marked)))
    ttls = [segment.cache_control.get("ttl", "5m") for segment in marked]
    if "5m" in ttls and "1h" in ttls[ttls.index("5m"):]:
        raise BodyError(MSG_CACHE_TTL_ORDER)


# --------------------------------------------------------------------------
# Model traits (sampling, thinking, forced tools, structured output)
# --------------------------------------------------------------------------

def is_forced(body):
    """Does the request's tool_choice force tool use (type 'tool' or 'any')?"""
    choice = body.get("tool_choice")
    return isinstance(choice, dict) and choice.get("type") in ("tool", "any")


def thinking_type(body):
    thinking = body.get("thinking")
    return thinking.get("type") if isinstance(thinking, dict) else None


def thinks(body, model):
    """Does ``model`` answer this request with a thinking block?"""
    mode = getattr(model, "thinking", None)
    if mode == "always_on":
        return True
    return mode in ("enabled", "adaptive") and thinking_type(body) in ("enabled", "adaptive")


def check_traits(body, model):
    """Refuse what ``model`` does not accept, as Claude does (400, the message
    names the parameter); raise BodyError.  Models without traits (thinking
    None) skip the thinking and output_config.effort checks, as before."""
    for key in ("temperature", "top_p", "top_k"):
        if key in body and not getattr(model, key):
            raise BodyError(MSG_SAMPLING_REFUSED % key)
    if model.sampling_exclusive and "temperature" in body and "top_p" in body:
        raise BodyError(MSG_SAMPLING_EXCLUSIVE)
    if model.thinking is not None and "thinking" in body:
        _check_thinking(body, model)
    if is_forced(body):
        if thinks(body, model):
            raise BodyError(MSG_THINKING_FORCED_TOOL)
        if not model.forced_tool_choice:
            raise BodyError(MSG_FORCED_TOOL_REFUSED)
    if "output_config" in body:
        _check_output_config(body["output_config"], model)


def _check_thinking(body, model):
    thinking = body["thinking"]
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "disabled", "adaptive"):
        raise BodyError(MSG_THINKING_TAG % kind)
    mode = model.thinking
    if mode == "none" and kind != "disabled":
        raise BodyError(MSG_THINKING_TYPE % kind)
    if mode in ("adaptive", "always_on") and kind == "enabled":
        raise BodyError(MSG_THINKING_TYPE % kind + MSG_THINKING_USE_ADAPTIVE)
    if mode == "always_on" and kind == "disabled":
        raise BodyError(MSG_THINKING_TYPE % kind + MSG_THINKING_ALWAYS_ON)
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if budget is None:
            raise BodyError("thinking.enabled.budget_tokens: Field required")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1024:
            raise BodyError("thinking.enabled.budget_tokens: Input should be greater than or "
                            "equal to 1024")
        if budget >= body["max_tokens"]:
            raise BodyError("`max_tokens` must be greater than `thinking.budget_tokens`.")


def _check_output_config(config, model):
    if not isinstance(config, dict):
        raise BodyError("output_config: Input should be a valid dictionary")
    if "format" in config:
        if not model.structured_output:
            raise BodyError(MSG_NO_STRUCTURED_OUTPUT)
        output_schema(config["format"])
    if model.thinking is None:
        return                                  # as before: effort and the rest not checked
    for key in config:
        if key not in ("format", "effort"):
            raise BodyError("output_config.%s: Extra inputs are not permitted" % key)
    if "effort" in config and config["effort"] not in EFFORTS:
        raise BodyError("output_config.effort: Input should be 'low', 'medium', 'high' or 'max'")


def output_schema(fmt):
    """The JSON schema of output_config.format, checked as Claude checks it
    (api_facts.structured_output), with local $refs inlined; or BodyError."""
    if not isinstance(fmt, dict):
        raise BodyError("output_config.format: Input should be a valid dictionary")
    if fmt.get("type") != "json_schema":
        raise BodyError("output_config.format.type: Input should be 'json_schema'")
    if "schema" not in fmt:
        raise BodyError("output_config.format.schema: Field required")
    schema = fmt["schema"]
    if not isinstance(schema, dict):
        raise BodyError("output_config.format.schema: Input should be a valid dictionary")
    definitions = dict(schema.get("definitions") or {}, **(schema.get("$defs") or {}))
    inlined = _inline_refs(schema, definitions, ())
    optional = _check_schema_node(inlined)
    if optional > MAX_OPTIONAL_PROPERTIES:
        raise BodyError("output_config.format.schema: Schemas with more than %d optional "
                        "properties are not supported (found %d)"
                        % (MAX_OPTIONAL_PROPERTIES, optional))
    return inlined


def _inline_refs(node, definitions, trail):
    """``node`` with every local $ref replaced by its definition."""
    if isinstance(node, list):
        return [_inline_refs(item, definitions, trail) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        name = None
        for prefix in ("#/$defs/", "#/definitions/"):
            if isinstance(ref, str) and ref.startswith(prefix):
                name = ref[len(prefix):]
        if ref == "#" or name in trail:
            raise BodyError("output_config.format.schema: Recursive schemas are not supported")
        if name not in definitions:
            raise BodyError("output_config.format.schema: Could not resolve $ref '%s'" % ref)
        return _inline_refs(definitions[name], definitions, trail + (name,))
    return {key: _inline_refs(value, definitions, trail)
            for key, value in node.items() if key not in ("$defs", "definitions")}


def _check_schema_node(node):
    """Refuse open objects; return the number of optional properties below."""
    if isinstance(node, list):
        return sum(_check_schema_node(item) for item in node)
    if not isinstance(node, dict):
        return 0
    optional = 0
    if _schema_type(node) == "object" and ("properties" in node or node.get("type") == "object"):
        if node.get("additionalProperties") is not False:
            raise BodyError("output_config.format.schema: For 'object' type, "
                            "'additionalProperties' must be explicitly set to false")
        required = set(node.get("required") or ())
        optional += sum(1 for key in node.get("properties") or {} if key not in required)
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            optional += sum(_check_schema_node(sub) for sub in value.values())
        elif key in ("items", "anyOf", "oneOf", "allOf"):
            optional += _check_schema_node(value)
    return optional


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
    if documents.is_attachment(block):
        return documents.describe(block)
    return ""


def content_text(content):
    """The text blocks, then a line per image or document (emu_documents)."""
    if isinstance(content, str):
        return content
    text = "".join(block_text(block) for block in content if not documents.is_attachment(block))
    seen = [documents.describe(block) for block in content if documents.is_attachment(block)]
    return text + "".join("\n" + line for line in seen)


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


def tool_text(tool):
    """What a tool definition contributes to the input: its name, description
    and input_schema as compact JSON with sorted keys (cache_control aside)."""
    schema = json.dumps(tool.get("input_schema", {}), sort_keys=True,
                        separators=(",", ":"), ensure_ascii=False)
    return "%s%s%s" % (tool.get("name") or "", tool.get("description") or "", schema)


@dataclass
class Segment:
    """One tool, system block or message block, in prompt (= cache) order."""
    path: str                       # e.g. "messages.0.content.1", for error messages
    chars: int                      # characters it adds to the token estimate
    key: str                        # canonical JSON, cache_control left out
    cache_control: object = None    # the block's cache_control, if any


def _segment(path, where, block, chars):
    if not isinstance(block, dict):
        return Segment(path, chars, json.dumps([where, block], sort_keys=True))
    plain = {k: v for k, v in block.items() if k != "cache_control"}
    return Segment(path, chars, json.dumps([where, plain], sort_keys=True),
                   block.get("cache_control"))


def prompt_segments(body):
    """The prompt as Anthropic caches it: tools, then system, then messages."""
    segments = []
    for i, tool in enumerate(body.get("tools") or ()):
        if isinstance(tool, dict):
            segments.append(_segment("tools.%d" % i, "tool", tool, len(tool_text(tool))))
    system = body.get("system")
    if isinstance(system, str):
        segments.append(Segment("system", len(system), json.dumps(["system", system])))
    for i, block in enumerate(system if isinstance(system, list) else ()):
        if isinstance(block, dict):
            segments.append(_segment("system.%d" % i, "system", block,
                                     len(block.get("text", ""))))
    for i, message in enumerate(body.get("messages") or ()):
        where = [i, message.get("role")]
        content = message.get("content", "")
        if isinstance(content, str):
            segments.append(Segment("messages.%d.content" % i, len(content),
                                    json.dumps([where, content])))
            continue
        for j, block in enumerate(content):
            segments.append(_segment("messages.%d.content.%d" % (i, j), where, block,
                                     len(block_text(block))))
    return segments


def tokens_for(chars):
    return math.ceil(chars / 4)


def count_input_tokens(body):
    """ceil(characters / 4) over tools, system prompt and messages (at least 1)."""
    return max(1, tokens_for(sum(s.chars for s in prompt_segments(body))))


@dataclass
class Breakpoint:
    """A cacheable prefix: everything up to and including a cache_control block."""
    tokens: int
    key: str                        # hash of the prefix's segments
    ttl_s: int


CACHE_TTLS = {"5m": 300, "1h": 3600}


def cache_breakpoints(body):
    """The prefixes marked for caching, shortest first."""
    points = []
    chars = 0
    digest = hashlib.sha256()
    for segment in prompt_segments(body):
        chars += segment.chars
        digest.update(segment.key.encode("utf-8") + b"\x00")
        if segment.cache_control is not None:
            ttl = segment.cache_control.get("ttl", "5m") if isinstance(
                segment.cache_control, dict) else "5m"
            points.append(Breakpoint(tokens_for(chars), digest.hexdigest(),
                                     CACHE_TTLS.get(ttl, 300)))
    return points


def has_cache_control(body):
    return any(s.cache_control is not None for s in prompt_segments(body))


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
_SUMMARIZE_MANY_RE = re.compile(r"\s*summari[sz]e these\b", re.IGNORECASE)
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


def list_items(text):
    """The lines of ``text`` that start with "- " (indentation allowed), without it."""
    return [line.lstrip()[2:] for line in text.splitlines() if line.lstrip().startswith("- ")]


def summarise(text):
    """The summary rules, or None when ``text`` is not a request for a summary."""
    items = list_items(text) if _SUMMARIZE_MANY_RE.match(text) else []
    if items:
        return "Summary of %d items: %s" % (len(items), first_sentence(items[0]))
    if _SUMMARIZE_RE.match(text) and ":" in text:
        return "Summary: " + first_sentence(text.split(":", 1)[1])
    return None


def answer_text(text, body, model_label):
    """The text rules, in order (see the module docstring)."""
    stripped = text.strip()
    if stripped.startswith("REPEAT SYSTEM"):
        return system_text(body.get("system"))
    if stripped.startswith("REPEAT PARAMS"):
        return repeat_params(body, model_label)
    redacted = emu_guardrail.redact_answer(system_text(body.get("system")), text)
    if redacted is not None:
        return redacted
    task_answer = emu_tasks.answer_text(text)
    if task_answer is not None:
        return task_answer
    summary = summarise(text)
    if summary is not None:
        return summary
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


def parse_number(text):
    """The number at the start of ``text`` (int unless it has a fraction), or None."""
    match = re.match(r"-?\d+(?:\.\d+)?", text or "")
    if match is None:
        return None
    digits = match.group(0)
    return float(digits) if "." in digits else int(digits)


def round_half_up(value):
    return int(math.floor(value + 0.5))


def clamp(value, low, high):
    if low is not None and value < low:
        value = low
    if high is not None and value > high:
        value = high
    return value


def _fill_number(schema, name, text, integer):
    low, high = schema.get("minimum"), schema.get("maximum")
    value = parse_number(labelled_value(name, text))
    if value is None and "default" in schema:
        value = schema["default"]
    if value is None:
        score_like = any(hint in (name or "").lower() for hint in SCORE_NAME_HINTS)
        if score_like or (low == -1 and high == 1):
            low = -1 if low is None else low
            high = 1 if high is None else high
            value = low + (sentiment_ratio(text) + 1) / 2 * (high - low)
            value = round_half_up(value) if integer else round(value, 4)
        else:
            value = 0
    value = clamp(value, low, high)
    return int(value) if integer else value


def _fill_boolean(schema, name, text):
    labelled = (labelled_value(name, text) or "").lower()
    if labelled.startswith(("true", "yes")):
        return True
    if labelled.startswith(("false", "no")):
        return False
    return bool(schema.get("default", False))


def _nullable(schema):
    kind = schema.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind)


def _fill_string(schema, name, text):
    value = labelled_value(name, text)
    if value is None and "default" in schema:
        return schema["default"]
    if value is None and _nullable(schema):
        return None
    if value is None:
        value = text.strip()
    if "maxLength" in schema:
        value = value[:schema["maxLength"]]
    if len(value) < schema.get("minLength", 0):
        value = value.ljust(schema["minLength"], ".")
    return value


def _fill_array(schema, name, text):
    items = schema.get("items", {}) or {}
    least = max(1, schema.get("minItems", 1))
    if "enum" in items:
        lowered = text.lower()
        values = [v for v in items["enum"] if str(v).lower() in lowered] or items["enum"][:1]
        values += [v for v in items["enum"] if v not in values][:max(0, least - len(values))]
    else:
        values = [fill_schema(items, text, name)] * least
    if "maxItems" in schema:
        values = values[:schema["maxItems"]]
    return values


def fill_schema(schema, text, name=None):
    """A value conforming to ``schema``, chosen deterministically from ``text``:
    enum -> the first value (in enum order) mentioned in the text, else the
    first; string -> the value labelled 'name: ...' in the text, else the
    default, else null if nullable, else the text; number -> the labelled
    number, else the default, else a sentiment for score-like names, else 0,
    clamped into bounds; boolean -> labelled true/yes/false/no, else the
    default, else false; array of enum -> every value mentioned, in enum order
    (at least one); other arrays -> one item; object -> every property,
    recursively (README, "Deterministic answers")."""
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
        return _fill_boolean(schema, name, text)
    if kind == "null":
        return None
    return _fill_string(schema, name, text)


def task_or_fill(schema, text):
    """The issue-19 tasks' answer (emu_tasks), else :func:`fill_schema`."""
    value = emu_tasks.tool_input(schema, text)
    return fill_schema(schema, text) if value is None else value


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
    if choice.get("type") == "auto":
        return chosen_tool(body, tools)
    return None


def chosen_tool(body, tools):
    """tool_choice auto: the model's own choice, made deterministic.  It calls
    a tool when the system prompt asks for it by name ("calling the X tool" or
    "call the X tool"), as Claude does when told to; otherwise it writes text."""
    system = system_text(body.get("system"))
    for tool in tools:
        name = tool.get("name")
        if name and ("calling the %s tool" % name in system or "call the %s tool" % name in system):
            return tool
    return None


# --------------------------------------------------------------------------
# Misbehaviour: an answer that breaks the tool's input_schema
# --------------------------------------------------------------------------

def not_in(values):
    """A string that is none of ``values``."""
    candidate = BAD_VALUE
    while candidate in values:
        candidate += "-x"
    return candidate


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def out_of_range(schema):
    """A number just outside the schema's bounds, or None if it has none."""
    integer = _schema_type(schema) == "integer"
    for key, step in (("maximum", 1), ("exclusiveMaximum", 1),
                      ("minimum", -1), ("exclusiveMinimum", -1)):
        if _number(schema.get(key)):
            value = schema[key] + step
            if integer:
                value = math.floor(value) if step > 0 else math.ceil(value)
            return value
    return None


def wrong_type(value):
    """A value of another JSON type."""
    if isinstance(value, str):
        return 0
    if isinstance(value, bool) or _number(value):
        return "not-a-number" if _number(value) else "not-a-boolean"
    return "not-an-%s" % ("array" if isinstance(value, list) else "object")


def _break(schema, value):
    """(broken, value): ``value`` with every enum and bound of ``schema`` violated."""
    if not isinstance(schema, dict):
        return False, value
    if "const" in schema:
        return True, not_in([schema["const"]])
    if "enum" in schema:
        return True, not_in(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return _break(options[0], value)
    kind = _schema_type(schema)
    if kind in ("number", "integer"):
        bad = out_of_range(schema)
        return (True, bad) if bad is not None else (False, value)
    if kind == "array" and isinstance(value, list):
        items = schema.get("items") or {}
        if isinstance(items, dict) and "enum" in items:
            return True, value + [not_in(items["enum"])]
        pairs = [_break(items, item) for item in value]
        return any(b for b, _ in pairs), [v for _, v in pairs]
    if kind == "object" and isinstance(value, dict):
        properties = schema.get("properties", {})
        pairs = {key: _break(properties.get(key, {}), item) for key, item in value.items()}
        return any(b for b, _ in pairs.values()), {k: v for k, (_, v) in pairs.items()}
    return False, value


def violate_schema(schema, text):
    """A tool input that does not conform to ``schema``: every enum gets
    "not-a-label", every bounded number max + 1 (else min - 1), every array of
    enum one extra "not-a-label"; with none of those, the first required
    property is left out, and with no required property either the first
    property gets a value of the wrong type."""
    broken, value = _break(schema, fill_schema(schema, text))
    if broken or not isinstance(value, dict) or not value:
        return value
    required = [key for key in schema.get("required", ()) if key in value]
    if required:
        value.pop(required[0])
    else:
        first = next(iter(value))
        value[first] = wrong_type(value[first])
    return value


def misbehaving_block(kind, tool, text, tool_id):
    """The content block a misbehaving model answers a forced tool with."""
    if kind == "no_tool":
        return {"type": "text", "text": NO_TOOL_TEXT}
    schema = tool.get("input_schema", {})
    if kind == "wrong_tool":
        return {"type": "tool_use", "id": tool_id, "name": WRONG_TOOL_NAME,
                "input": fill_schema(schema, text)}
    return {"type": "tool_use", "id": tool_id, "name": tool["name"],
            "input": violate_schema(schema, text)}


# --------------------------------------------------------------------------
# Completion and response shapes
# --------------------------------------------------------------------------

@dataclass
class Completion:
    message_id: str
    model: str                      # Anthropic model name, e.g. claude-3-haiku-20240307
    content: list                   # Anthropic content blocks (a thinking block first)
    stop_reason: str
    input_tokens: int               # not read from or written to the cache
    output_tokens: int              # thinking tokens included
    sleep_ms: int = 0
    text: str = field(default="")   # the text answer ("" for tool use)
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0     # both TTLs
    cache_requested: bool = False   # the request carried cache_control
    cache_write_1h_tokens: int = 0  # the part of cache_write_tokens written for 1 hour
    thinking_tokens: int = 0        # the part of output_tokens spent thinking

    @property
    def total_input_tokens(self):
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


def thinking_block(body, model, message_id):
    """(block, tokens) of the thinking a thinking model does first, or None."""
    if model is None or not thinks(body, model):
        return None
    tokens = model.thinking_tokens
    if thinking_type(body) == "enabled":
        tokens = min(tokens, body["thinking"]["budget_tokens"])
    digest = hashlib.sha256(("signature\x00" + message_id).encode("utf-8")).digest()
    signature = base64.b64encode(b"EqQB" + digest + digest[:16]).decode("ascii")
    return {"type": "thinking", "thinking": THINKING_TEXT, "signature": signature}, tokens


def output_format(body):
    config = body.get("output_config")
    return config.get("format") if isinstance(config, dict) else None


def complete(body, model_label, anthropic_model, misbehave=None, model=None):
    """Run the deterministic model on a validated Messages body.  ``misbehave``
    (one of MISBEHAVIOURS) changes the answer to a forced tool; ``model`` (an
    emu_catalogue.Model) decides whether a thinking block comes first."""
    sleep_ms, text = split_sleep(last_user_text(body["messages"]))
    message_id = stable_id("msg_bdrk_", model_label, json.dumps(body, sort_keys=True))
    input_tokens = count_input_tokens(body)
    budget, prefix, thought = body["max_tokens"], [], 0
    thinking = thinking_block(body, model, message_id)
    if thinking is not None:
        prefix, thought = [thinking[0]], min(thinking[1], budget)
        budget -= thought

    def done(content, stop_reason, output_tokens, answer=""):
        return Completion(message_id, anthropic_model, prefix + content, stop_reason,
                          input_tokens, thought + output_tokens, sleep_ms, answer,
                          thinking_tokens=thought)

    tool = forced_tool(body)
    if tool is not None:
        tool_id = stable_id("toolu_bdrk_", message_id)
        if misbehave in MISBEHAVIOURS:
            block = misbehaving_block(misbehave, tool, text, tool_id)
        else:
            block = {"type": "tool_use", "id": tool_id, "name": tool["name"],
                     "input": task_or_fill(tool.get("input_schema", {}), text)}
        if block["type"] == "text":
            return done([block], "end_turn", count_words(block["text"]), block["text"])
        return done([block], "tool_use", max(1, math.ceil(len(json.dumps(block["input"])) / 4)))
    fmt = output_format(body)
    if fmt is not None:
        answer = json.dumps(task_or_fill(output_schema(fmt), text), separators=(",", ":"),
                            ensure_ascii=False)
        tokens = max(1, math.ceil(len(answer) / 4))
        cut = tokens > budget
        if cut:
            answer, tokens = answer[:budget * 4], budget
        return done([{"type": "text", "text": answer}] if answer else [],
                    "max_tokens" if cut else "end_turn", tokens, answer)
    answer, cut = truncate_words(answer_text(text, body, model_label), budget)
    content = [{"type": "text", "text": answer}] if answer or not prefix else []
    return done(content, "max_tokens" if cut else "end_turn", count_words(answer), answer)


def apply_cache(completion, read_tokens, write_tokens, write_1h_tokens=0):
    """Move cached prefix tokens out of input_tokens (Anthropic's accounting:
    input + cache read + cache write = all input tokens)."""
    completion.input_tokens -= read_tokens + write_tokens
    completion.cache_read_tokens = read_tokens
    completion.cache_write_tokens = write_tokens
    completion.cache_write_1h_tokens = write_1h_tokens
    completion.cache_requested = True
    return completion


def usage(completion):
    value = {"input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens,
             "cache_creation_input_tokens": completion.cache_write_tokens,
             "cache_read_input_tokens": completion.cache_read_tokens}
    if completion.cache_requested:
        value["cache_creation"] = {
            "ephemeral_5m_input_tokens":
                completion.cache_write_tokens - completion.cache_write_1h_tokens,
            "ephemeral_1h_input_tokens": completion.cache_write_1h_tokens}
    return value


def invocation_metrics(completion, latency_ms, first_byte_ms):
    """``amazon-bedrock-invocationMetrics`` of the last stream chunk."""
    metrics = {"inputTokenCount": completion.input_tokens,
               "outputTokenCount": completion.output_tokens,
               "invocationLatency": latency_ms,
               "firstByteLatency": first_byte_ms}
    if completion.cache_requested:
        metrics["cacheReadInputTokenCount"] = completion.cache_read_tokens
        metrics["cacheWriteInputTokenCount"] = completion.cache_write_tokens
    return metrics


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
        elif block["type"] == "thinking":
            events.append({"type": "content_block_start", "index": index,
                           "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
            for piece in split_deltas(block["thinking"]):
                events.append({"type": "content_block_delta", "index": index,
                               "delta": {"type": "thinking_delta", "thinking": piece}})
            events.append({"type": "content_block_delta", "index": index,
                           "delta": {"type": "signature_delta", "signature": block["signature"]}})
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
    events.append({"type": "message_stop", "amazon-bedrock-invocationMetrics":
                   invocation_metrics(completion, latency_ms, first_byte_ms)})
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


def _with_cache_points(items, convert):
    """Convert Converse list items; a ``cachePoint`` item becomes cache_control
    on the item before it (Bedrock's mapping to Anthropic's breakpoints)."""
    out = []
    for item in items:
        if "cachePoint" in item:
            if out:
                point = item["cachePoint"] or {}
                out[-1]["cache_control"] = dict({"type": "ephemeral"},
                                                **({"ttl": point["ttl"]} if "ttl" in point else {}))
            continue
        converted = convert(item)
        if converted is not None:
            out.append(converted)
    return out


def _converse_tool(tool):
    if "toolSpec" not in tool:
        return None
    spec = tool["toolSpec"]
    return {"name": spec["name"], "description": spec.get("description", ""),
            "input_schema": spec.get("inputSchema", {}).get("json", {})}


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
                      "content": _with_cache_points(m.get("content", []), _converse_block)}
                     for m in messages],
    }
    system = _with_cache_points(request.get("system") or [], lambda b: (
        {"type": "text", "text": b["text"]} if "text" in b else None))
    if system:
        body["system"] = system
    for ours, theirs in (("temperature", "temperature"), ("topP", "top_p"),
                         ("stopSequences", "stop_sequences")):
        if ours in config:
            body[theirs] = config[ours]
    tool_config = request.get("toolConfig")
    if tool_config:
        body["tools"] = _with_cache_points(tool_config.get("tools", []), _converse_tool)
        choice = tool_config.get("toolChoice") or {}
        if "tool" in choice:
            body["tool_choice"] = {"type": "tool", "name": choice["tool"].get("name")}
        elif "any" in choice:
            body["tool_choice"] = {"type": "any"}
    text_format = (request.get("outputConfig") or {}).get("textFormat")
    if text_format is not None:
        body["output_config"] = {"format": _converse_format(text_format)}
    body.update(request.get("additionalModelRequestFields") or {})
    return body


def _converse_format(text_format):
    """outputConfig.textFormat -> output_config.format (the schema is a JSON string)."""
    schema = ((text_format.get("structure") or {}).get("jsonSchema") or {}).get("schema")
    try:
        parsed = json.loads(schema) if isinstance(schema, str) else schema
    except ValueError:
        raise BodyError("The model returned the following errors: output_config.format.schema: "
                        "Input should be a valid dictionary")
    return {"type": text_format.get("type"), "schema": parsed}


def converse_content(completion):
    out = []
    for block in completion.content:
        if block["type"] == "text":
            out.append({"text": block["text"]})
        elif block["type"] == "thinking":
            out.append({"reasoningContent": {"reasoningText": {
                "text": block["thinking"], "signature": block["signature"]}}})
        else:
            out.append({"toolUse": {"toolUseId": block["id"], "name": block["name"],
                                    "input": block["input"]}})
    return out


def converse_usage(completion):
    value = {"inputTokens": completion.input_tokens, "outputTokens": completion.output_tokens,
             "totalTokens": completion.total_input_tokens + completion.output_tokens,
             "cacheReadInputTokens": completion.cache_read_tokens,
             "cacheWriteInputTokens": completion.cache_write_tokens}
    written = [("5m", completion.cache_write_tokens - completion.cache_write_1h_tokens),
               ("1h", completion.cache_write_1h_tokens)]
    details = [{"ttl": ttl, "inputTokens": tokens} for ttl, tokens in written if tokens]
    if completion.cache_requested and details:
        value["cacheDetails"] = details
    return value


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
        elif block["type"] == "thinking":
            for piece in split_deltas(block["thinking"]):
                events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": {
                    "reasoningContent": {"text": piece}}}))
            events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": {
                "reasoningContent": {"signature": block["signature"]}}}))
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
