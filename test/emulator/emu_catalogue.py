"""Which Claude model ids Bedrock accepts in which region, and each model's
limits: data tables.

A snapshot, kept as data so that it is easy to correct (sources: AWS Bedrock
user guide, "Supported foundation models" and "Supported Regions and models for
inference profiles"; the region lists are approximate and only need to be
realistic enough for the tests).

For each region the table lists
* ``on_demand``: base model ids that can be invoked directly in that region;
* ``profiles``: for each geography prefix (``au``, ``apac``, ``us``, ``eu``,
  ``jp``, ``global``) the base models of the system-defined cross-region
  inference profiles callable from that (source) region.

``MODEL_TABLE`` has one row per base model: the name Anthropic reports, the
largest max_tokens, the context window and the minimum cacheable prefix
(None: no prompt caching on Bedrock).

A base id that appears in a region's profiles but not in its on-demand list is
*profile-only* there: invoking it directly is answered as AWS does ("... with
on-demand throughput isn’t supported ...").  Everything else is "The provided
model identifier is invalid."

Identifiers accepted (the path segment, percent-decoded once):
  anthropic.claude-3-haiku-20240307-v1:0                         base id
  au.anthropic.claude-sonnet-4-5-20250929-v1:0                   profile id
  arn:aws:bedrock:REGION::foundation-model/BASE                  (account optional)
  arn:aws:bedrock:REGION:ACCOUNT:inference-profile/PROFILE
  arn:aws:bedrock:REGION:ACCOUNT:application-inference-profile/ID
An ARN's region must be the request's (SigV4 scope) region.
"""

import re
import threading
from dataclasses import dataclass

# Short aliases used only to keep the tables below readable.
_H3 = "anthropic.claude-3-haiku-20240307-v1:0"
_S35 = "anthropic.claude-3-5-sonnet-20240620-v1:0"
_S35V2 = "anthropic.claude-3-5-sonnet-20241022-v2:0"
_H35 = "anthropic.claude-3-5-haiku-20241022-v1:0"
_S37 = "anthropic.claude-3-7-sonnet-20250219-v1:0"
_S4 = "anthropic.claude-sonnet-4-20250514-v1:0"
_O4 = "anthropic.claude-opus-4-20250514-v1:0"
_O41 = "anthropic.claude-opus-4-1-20250805-v1:0"
_S45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
_H45 = "anthropic.claude-haiku-4-5-20251001-v1:0"
_O45 = "anthropic.claude-opus-4-5-20251101-v1:0"
_S46 = "anthropic.claude-sonnet-4-6"
_O46 = "anthropic.claude-opus-4-6-v1"

# One row per base model.  Columns:
#   name            the "model" value Anthropic reports in responses;
#   max_output      largest max_tokens the model accepts (Anthropic's limits);
#   context_window  input tokens the model takes (the 1M-token beta of some
#                   Sonnet models is not modelled);
#   cache_min       minimum cacheable prefix in tokens (Anthropic's "minimum
#                   cacheable prompt length", AWS's "minimum tokens per cache
#                   checkpoint"), or None where Bedrock has no prompt caching
#                   for the model (Claude 3 Haiku, Claude 3.5 Sonnet v1; v2
#                   only for customers of the old preview, so None here).
_COLUMNS = ("name", "max_output", "context_window", "cache_min")
MODEL_TABLE = {
    _H3: ("claude-3-haiku-20240307", 4096, 200000, None),
    _S35: ("claude-3-5-sonnet-20240620", 4096, 200000, None),
    _S35V2: ("claude-3-5-sonnet-20241022", 8192, 200000, None),
    _H35: ("claude-3-5-haiku-20241022", 8192, 200000, 2048),
    _S37: ("claude-3-7-sonnet-20250219", 64000, 200000, 1024),
    _S4: ("claude-sonnet-4-20250514", 64000, 200000, 1024),
    _O4: ("claude-opus-4-20250514", 32000, 200000, 1024),
    _O41: ("claude-opus-4-1-20250805", 32000, 200000, 1024),
    _S45: ("claude-sonnet-4-5-20250929", 64000, 200000, 1024),
    _H45: ("claude-haiku-4-5-20251001", 64000, 200000, 4096),
    _O45: ("claude-opus-4-5-20251101", 64000, 200000, 4096),
    _S46: ("claude-sonnet-4-6", 64000, 200000, 1024),
    _O46: ("claude-opus-4-6", 128000, 200000, 4096),
}


def _column(name):
    index = _COLUMNS.index(name)
    return {base: row[index] for base, row in MODEL_TABLE.items()}


# Column views, by base model id.
MODELS = _column("name")
MAX_OUTPUT_TOKENS = _column("max_output")
CONTEXT_WINDOW = _column("context_window")
CACHE_MIN_TOKENS = _column("cache_min")

_GLOBAL = [_S4, _S45, _H45, _O45, _S46, _O46]
_US = [_H3, _S35, _S35V2, _H35, _S37, _S4, _O4, _O41, _S45, _H45, _O45, _S46, _O46]
_AU = [_S45, _H45, _O45, _S46, _O46]

CATALOGUE = {
    "ap-southeast-2": {     # Sydney
        "on_demand": [_H3, _S35, _S35V2],
        "profiles": {"au": _AU, "apac": [_H3, _S35, _S35V2, _S37, _S4, _S45, _H45],
                     "global": _GLOBAL},
    },
    "ap-southeast-4": {     # Melbourne
        "on_demand": [],
        "profiles": {"au": _AU, "apac": [_S4, _S45, _H45], "global": _GLOBAL},
    },
    "us-east-1": {
        "on_demand": [_H3, _S35],
        "profiles": {"us": _US, "global": _GLOBAL},
    },
    "us-west-2": {
        "on_demand": [_H3, _S35, _S35V2, _H35],
        "profiles": {"us": _US, "global": _GLOBAL},
    },
    "eu-central-1": {       # Frankfurt
        "on_demand": [_H3, _S35],
        "profiles": {"eu": [_H3, _S35, _S37, _S4, _S45, _H45, _O45, _S46, _O46],
                     "global": _GLOBAL},
    },
    "ap-northeast-1": {     # Tokyo
        "on_demand": [_H3, _S35],
        "profiles": {"jp": [_S45, _H45, _S46],
                     "apac": [_H3, _S35, _S35V2, _S37, _S4, _S45, _H45],
                     "global": _GLOBAL},
    },
}

# Application inference profiles known per region: (region, id) -> source,
# where source is a base id or a system profile id valid in that region.
# More can be registered at run time (register_application_profile).
APPLICATION_PROFILES = {
    ("ap-southeast-2", "abc123"): "au.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ("ap-southeast-4", "abc123"): "au.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ("us-east-1", "abc123"): "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ("us-west-2", "abc123"): "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ("eu-central-1", "abc123"): "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ("ap-northeast-1", "abc123"): "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
}
_app_lock = threading.Lock()

GEOGRAPHY_PREFIXES = ("au", "apac", "us", "eu", "jp", "global")

MSG_INVALID_ID = "The provided model identifier is invalid."
MSG_ON_DEMAND = ("Invocation of model ID %s with on-demand throughput isn\u2019t supported. "
                 "Retry your request with the ID or ARN of an inference profile that "
                 "contains this model.")
MSG_NO_COUNT = "The provided model doesn't support counting tokens."

_ARN_RE = re.compile(
    r"arn:aws:bedrock:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12})?:"
    r"(?P<kind>foundation-model|inference-profile|application-inference-profile)/(?P<id>.+)")


class ModelError(Exception):
    """A ValidationException about the model identifier."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass
class Target:
    """A resolved model: what to run, and how it was addressed."""
    requested: str          # the identifier as given (decoded path segment)
    base_id: str            # e.g. anthropic.claude-3-haiku-20240307-v1:0
    anthropic_model: str    # e.g. claude-3-haiku-20240307
    kind: str               # "base" | "profile" | "application-profile"
    geography: str          # profile prefix, or None for a base model
    region: str


def regions():
    return tuple(CATALOGUE)


def profile_only(region):
    """Base ids reachable only through a profile in ``region``."""
    entry = CATALOGUE[region]
    in_profiles = {base for bases in entry["profiles"].values() for base in bases}
    return in_profiles - set(entry["on_demand"])


def register_application_profile(region, profile_id, source):
    with _app_lock:
        APPLICATION_PROFILES[(region, profile_id)] = source


def _resolve_base(model_id, region, requested):
    entry = CATALOGUE[region]
    if model_id in entry["on_demand"]:
        return Target(requested, model_id, MODELS[model_id], "base", None, region)
    if model_id in profile_only(region):
        raise ModelError(MSG_ON_DEMAND % model_id)
    raise ModelError(MSG_INVALID_ID)


def _split_profile(model_id):
    prefix, dot, base = model_id.partition(".")
    if dot and prefix in GEOGRAPHY_PREFIXES and base in MODELS:
        return prefix, base
    return None, None


def _resolve_plain(model_id, region, requested):
    prefix, base = _split_profile(model_id)
    if prefix is None:
        return _resolve_base(model_id, region, requested)
    if base in CATALOGUE[region]["profiles"].get(prefix, ()):
        return Target(requested, base, MODELS[base], "profile", prefix, region)
    raise ModelError(MSG_INVALID_ID)


def resolve(model_id, region):
    """Resolve an identifier for inference in ``region``, or raise ModelError."""
    if region not in CATALOGUE:
        raise ModelError(MSG_INVALID_ID)
    if not model_id.startswith("arn:"):
        return _resolve_plain(model_id, region, model_id)
    match = _ARN_RE.fullmatch(model_id)
    if match is None or match.group("region") != region:
        raise ModelError(MSG_INVALID_ID)
    kind, inner = match.group("kind"), match.group("id")
    if kind == "foundation-model":
        if _split_profile(inner)[0] is not None:
            raise ModelError(MSG_INVALID_ID)
        return _resolve_base(inner, region, model_id)
    if kind == "inference-profile":
        if _split_profile(inner)[0] is None:
            raise ModelError(MSG_INVALID_ID)
        return _resolve_plain(inner, region, model_id)
    with _app_lock:
        source = APPLICATION_PROFILES.get((region, inner))
    if source is None:
        raise ModelError(MSG_INVALID_ID)
    target = _resolve_plain(source, region, model_id)
    target.kind = "application-profile"
    return target


def resolve_for_count(model_id, region):
    """CountTokens takes plain base model ids only (profiles and ARNs refused)."""
    if region not in CATALOGUE:
        raise ModelError(MSG_INVALID_ID)
    if model_id.startswith("arn:") or _split_profile(model_id)[0] is not None:
        raise ModelError(MSG_NO_COUNT)
    entry = CATALOGUE[region]
    if model_id in entry["on_demand"] or model_id in profile_only(region):
        return Target(model_id, model_id, MODELS[model_id], "base", None, region)
    raise ModelError(MSG_INVALID_ID)
