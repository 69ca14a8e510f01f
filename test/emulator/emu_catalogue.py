"""Which Claude model ids Bedrock accepts in which region, each model's limits
and traits, and the inference profiles: data, and resolution of identifiers.

The facts come from ``test/data/claude-models/ap-southeast-2.json`` (a vendored
copy of the shared facts file: Claude on Bedrock from Sydney and Melbourne,
December 2026).  From it this module takes, per model: the routes in Sydney
and Melbourne, the lifecycle, and the traits it states (sampling parameters,
forced tool_choice, structured output, thinking, context window, minimum
cacheable prefix).  What the facts do not give (maximum output, the model name
Anthropic reports, limits of the new models, models the facts no longer list,
regions outside Australia) is kept here, in ``LIMITS`` and ``BASE_CATALOGUE``,
and says so in test/emulator/README.md.

For each region the catalogue lists
* ``on_demand``: base model ids that can be invoked directly in that region;
* ``profiles``: for each geography prefix (``au``, ``apac``, ``us``, ``eu``,
  ``jp``, ``global``) the base models of the system-defined cross-region
  inference profiles callable from that (source) region.

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

Tests may register models and application inference profiles at run time
(``register_model``, ``register_application_profile``); ``reset`` restores
the built-in catalogue.  Every table below is guarded by one lock.
"""

import calendar
import json
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

HERE = os.path.dirname(os.path.abspath(__file__))
FACTS_FILE = os.path.join(HERE, "..", "data", "claude-models", "ap-southeast-2.json")
ACCOUNT = "123456789012"
SYDNEY, MELBOURNE, AUCKLAND = "ap-southeast-2", "ap-southeast-4", "ap-southeast-6"

# Thinking modes (the "thinking" trait).  None: a model from before the traits
# were modelled; its ``thinking`` parameter is not checked and it never
# answers with a thinking block (as the emulator always behaved).
#   none       only {"type": "disabled"} (or no thinking) is accepted
#   enabled    "enabled" (with budget_tokens), "adaptive" and "disabled"
#   adaptive   "adaptive" and "disabled"; "enabled" is refused
#   always_on  "adaptive" (or no thinking); "enabled" and "disabled" are refused
THINKING_MODES = ("none", "enabled", "adaptive", "always_on")
ROUTES = ("on_demand", "au", "apac", "us", "eu", "jp", "global")
GEOGRAPHY_PREFIXES = ("au", "apac", "us", "eu", "jp", "global")
LIFECYCLES = ("ACTIVE", "LEGACY")

MSG_INVALID_ID = "The provided model identifier is invalid."
MSG_ON_DEMAND = ("Invocation of model ID %s with on-demand throughput isn\u2019t supported. "
                 "Retry your request with the ID or ARN of an inference profile that "
                 "contains this model.")
MSG_NO_COUNT = "The provided model doesn't support counting tokens."
MSG_END_OF_LIFE = ("This model version has reached the end of its life. Please refer to the "
                   "AWS documentation for more details.")


@dataclass
class Model:
    """One base model: limits and traits (README, "Models and traits")."""
    base_id: str
    name: str                       # the "model" Anthropic reports, e.g. claude-sonnet-5
    display_name: str               # ListFoundationModels' modelName, e.g. "Claude Sonnet 5"
    max_output: int                 # largest max_tokens accepted
    context_window: int             # input tokens accepted
    cache_min: object               # minimum cacheable prefix (tokens); None: no caching
    temperature: bool = True        # False: `temperature` is refused (400)
    top_p: bool = True
    top_k: bool = True
    sampling_exclusive: bool = False    # temperature and top_p together are refused
    forced_tool_choice: bool = True     # False: tool_choice tool/any is refused
    structured_output: bool = False     # output_config.format accepted and honoured
    thinking: object = None             # None or one of THINKING_MODES
    thinking_tokens: int = 64           # output tokens one thinking block costs
    count_tokens: bool = True           # CountTokens answers for this model
    lifecycle: str = "ACTIVE"           # ACTIVE | LEGACY
    start_of_life: str = None           # ISO 8601 timestamps, as the control plane serves them
    legacy_time: str = None
    end_of_life: str = None             # past it, inference is refused (404)
    provider: str = "Anthropic"
    input_modalities: tuple = ("TEXT", "IMAGE")     # ListFoundationModels' inputModalities
    registered: bool = False            # added through the control API

    def past_end_of_life(self, now=None):
        if not self.end_of_life:
            return False
        return (time.time() if now is None else now) >= parse_time(self.end_of_life)

    def describe(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}


def parse_time(text):
    """Epoch seconds of an ISO 8601 date or UTC timestamp ('2026-09-10', '...T00:00:00Z')."""
    text = text.strip().replace("Z", "+00:00")
    for pattern in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S+00:00", "%Y-%m-%dT%H:%M:%S.%f+00:00"):
        try:
            return calendar.timegm(time.strptime(text, pattern))
        except ValueError:
            continue
    raise ValueError("not an ISO 8601 date or UTC timestamp: %r" % text)


def iso_time(text):
    """A date or timestamp in the control plane's form (YYYY-MM-DDTHH:MM:SSZ)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(parse_time(text)))


# --------------------------------------------------------------------------
# The built-in tables
# --------------------------------------------------------------------------

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
_O47 = "anthropic.claude-opus-4-7"
_O48 = "anthropic.claude-opus-4-8"
_O5 = "anthropic.claude-opus-5"
_S5 = "anthropic.claude-sonnet-5"
_F5 = "anthropic.claude-fable-5"
_O55 = "anthropic.claude-opus-5-5"
_F51 = "anthropic.claude-fable-5-1"

# What the facts file does not say, per base model: (name Anthropic reports,
# ListFoundationModels modelName, max_output, context_window, cache_min,
# thinking).  The facts override context_window, cache_min and thinking where
# they state them.  max_output: Anthropic's published limits; for the models
# after Opus 4.6 (not in the facts) the family's newest (Opus 128000, Sonnet
# and Fable 64000).  cache_min: Anthropic's "minimum cacheable prompt length";
# the new models inherit their family's newest (Opus 4096, Sonnet 5 2048 from
# Sonnet 4.6, Fable 4096).  None: no prompt caching on Bedrock (Claude 3
# Haiku, Claude 3.5 Sonnet v1, v2 only for customers of the old preview).
_LIMIT_COLUMNS = ("name", "display_name", "max_output", "context_window", "cache_min", "thinking")
LIMITS = {
    _H3: ("claude-3-haiku-20240307", "Claude 3 Haiku", 4096, 200000, None, None),
    _S35: ("claude-3-5-sonnet-20240620", "Claude 3.5 Sonnet", 4096, 200000, None, None),
    _S35V2: ("claude-3-5-sonnet-20241022", "Claude 3.5 Sonnet v2", 8192, 200000, None, None),
    _H35: ("claude-3-5-haiku-20241022", "Claude 3.5 Haiku", 8192, 200000, 2048, None),
    _S37: ("claude-3-7-sonnet-20250219", "Claude 3.7 Sonnet", 64000, 200000, 1024, None),
    _S4: ("claude-sonnet-4-20250514", "Claude Sonnet 4", 64000, 200000, 1024, None),
    _O4: ("claude-opus-4-20250514", "Claude Opus 4", 32000, 200000, 1024, None),
    _O41: ("claude-opus-4-1-20250805", "Claude Opus 4.1", 32000, 200000, 1024, None),
    _S45: ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", 64000, 200000, 1024, None),
    _H45: ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", 64000, 200000, 4096, None),
    _O45: ("claude-opus-4-5-20251101", "Claude Opus 4.5", 64000, 200000, 4096, None),
    _S46: ("claude-sonnet-4-6", "Claude Sonnet 4.6", 64000, 200000, 1024, None),
    _O46: ("claude-opus-4-6", "Claude Opus 4.6", 128000, 200000, 4096, None),
    _O47: ("claude-opus-4-7", "Claude Opus 4.7", 128000, 1000000, 4096, "adaptive"),
    _O48: ("claude-opus-4-8", "Claude Opus 4.8", 128000, 1000000, 4096, "adaptive"),
    _O5: ("claude-opus-5", "Claude Opus 5", 128000, 1000000, 4096, "adaptive"),
    _S5: ("claude-sonnet-5", "Claude Sonnet 5", 64000, 1000000, 2048, "enabled"),
    _F5: ("claude-fable-5", "Claude Fable 5", 64000, 200000, 4096, "enabled"),
    _O55: ("claude-opus-5-5", "Claude Opus 5.5", 128000, 1000000, 4096, "always_on"),
    _F51: ("claude-fable-5-1", "Claude Fable 5.1", 64000, 200000, 4096, "always_on"),
}

# api_facts.sampling: "temperature/top_p/top_k are refused with a 400 by Opus
# 4.7+ and Sonnet 5" -- applied to every model it names, on top of the
# per-model traits (which list only some of the three for some models).
SAMPLING_REFUSED = (_O47, _O48, _O5, _S5, _O55)
# "`temperature` and `top_p` cannot both be specified for this model": Bedrock
# answers this for Opus 4.1 and the Claude 4.5 models and later (public
# reports); the models that refuse each one alone are left out.
SAMPLING_EXCLUSIVE = (_O41, _S45, _H45, _O45, _S46, _O46, _F5, _F51)
# "sydney": "unverified" in the facts: served as au + global (README).
UNVERIFIED_ROUTES = ("au", "global")

# Regions and routes.  Sydney and Melbourne are rebuilt from the facts for the
# models the facts list (see _apply_routes); these are the routes of the
# models they no longer list, and the other regions (approximate: only
# realistic enough for the tests).
_GLOBAL = [_S4, _S45, _H45, _O45, _S46, _O46]
_US = [_H3, _S35, _S35V2, _H35, _S37, _S4, _O4, _O41, _S45, _H45, _O45, _S46, _O46]
_AU = [_S45, _H45, _O45, _S46, _O46]
BASE_CATALOGUE = {
    SYDNEY: {
        "on_demand": [_H3, _S35, _S35V2],
        "profiles": {"au": _AU, "apac": [_H3, _S35, _S35V2, _S37, _S4, _S45, _H45],
                     "global": _GLOBAL},
    },
    MELBOURNE: {
        "on_demand": [],
        "profiles": {"au": _AU, "apac": [_S4, _S45, _H45], "global": _GLOBAL},
    },
    AUCKLAND: {            # the au. profile is callable from here (facts, routing.au)
        "on_demand": [],
        "profiles": {"au": _AU, "global": _GLOBAL},
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
# The new models outside Australia (the facts cover Sydney and Melbourne
# only): an assumption, so that us., eu., jp. and global. profiles of them
# exist where such profiles usually do.
ELSEWHERE = {
    _O47: ("us", "eu", "global"), _O48: ("us", "eu", "global"), _O5: ("us", "eu", "global"),
    _S5: ("us", "eu", "jp", "global"),
    _F5: ("global",), _O55: ("global",), _F51: ("global",),
}

# Destination regions of the geographic profiles (GetInferenceProfile's
# models[]): au, apac and jp from the facts (routing), us and eu as AWS lists
# them; the calling region is always among them (facts, source_in_geography).
# A global profile routes to any commercial region: its models[] are the
# calling region's ARN and the region-less arn:aws:bedrock:::foundation-model/
# ARN, as AWS shows them.
DESTINATIONS = {
    "us": ["us-east-1", "us-east-2", "us-west-2"],
    "eu": ["eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-3"],
}

# Application inference profiles known per region: (region, id) -> AppProfile.
_BUILTIN_APP_SOURCE = {
    SYDNEY: "au.", MELBOURNE: "au.", "us-east-1": "us.", "us-west-2": "us.",
    "eu-central-1": "eu.", "ap-northeast-1": "jp.",
}
PROFILE_TIME = "2026-08-21T00:00:00Z"       # createdAt of the system-defined profiles

_ARN_RE = re.compile(
    r"arn:aws:bedrock:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12})?:"
    r"(?P<kind>foundation-model|inference-profile|application-inference-profile)/(?P<id>.+)")
_BASE_ID_RE = re.compile(r"[a-z0-9-]{1,63}\.[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63}){0,2}(:[a-z0-9-]{1,63}){0,2}")
_APP_ID_RE = re.compile(r"[a-zA-Z0-9-:.]{1,64}")


@dataclass
class AppProfile:
    region: str
    profile_id: str
    source: str                     # a base id or a system profile id
    name: str = None
    description: str = None
    destinations: list = None       # explicit destination regions (else from the source)
    created: str = PROFILE_TIME
    registered: bool = False

    def arn(self):
        return "arn:aws:bedrock:%s:%s:application-inference-profile/%s" % (
            self.region, ACCOUNT, self.profile_id)


class ModelError(Exception):
    """An error about the model identifier (default: 400 ValidationException)."""

    def __init__(self, message, status=400, code="ValidationException"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


@dataclass
class Target:
    """A resolved model: what to run, and how it was addressed."""
    requested: str          # the identifier as given (decoded path segment)
    base_id: str            # e.g. anthropic.claude-3-haiku-20240307-v1:0
    anthropic_model: str    # e.g. claude-3-haiku-20240307
    kind: str               # "base" | "profile" | "application-profile"
    geography: str          # profile prefix, or None for a base model
    region: str
    model: Model = None


# --------------------------------------------------------------------------
# Building the tables from the facts
# --------------------------------------------------------------------------

def load_facts(path=FACTS_FILE):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _thinking_mode(text):
    text = (text or "").strip().lower()
    if text.startswith("always on"):
        return "always_on"
    if text.startswith("adaptive"):
        return "adaptive"
    return None


def _lifecycle(entry):
    status = str(entry.get("lifecycle", "ACTIVE")).upper()
    return "LEGACY" if status.startswith("LEGACY") else "ACTIVE"


def _end_of_life(entry):
    """The facts' end-of-life date, unless they mark it unverified."""
    eol = entry.get("eol")
    if not eol or "unverified" in eol:
        return None
    return iso_time(eol.split()[0])


def build_models(facts):
    """base id -> Model: LIMITS, overlaid with the traits the facts give."""
    models = {}
    for base, row in LIMITS.items():
        values = dict(zip(_LIMIT_COLUMNS, row))
        models[base] = Model(base_id=base, **values)
    for entry in facts["models"]:
        model = models.get(entry["model"])
        if model is None:
            raise ValueError("facts model %s has no LIMITS row" % entry["model"])
        traits = entry.get("traits", {})
        for key in ("temperature", "top_p", "top_k", "forced_tool_choice"):
            if traits.get(key) is False:
                setattr(model, key, False)
        if traits.get("structured_output") is True:
            model.structured_output = True
        if "context_window" in traits:
            model.context_window = int(traits["context_window"])
        if "cache_min_tokens" in traits:
            model.cache_min = int(traits["cache_min_tokens"])
        if traits.get("prompt_caching") is False:
            model.cache_min = None
        if _thinking_mode(traits.get("thinking")):
            model.thinking = _thinking_mode(traits["thinking"])
        model.lifecycle = _lifecycle(entry)
        model.end_of_life = _end_of_life(entry)
    for base in SAMPLING_REFUSED:
        models[base].temperature = models[base].top_p = models[base].top_k = False
    for base in SAMPLING_EXCLUSIVE:
        models[base].sampling_exclusive = True
    return models


def _routes(entry, key):
    routes = entry.get(key)
    if routes is None and key == "melbourne":
        # No Melbourne list: the profiles callable from Sydney are callable
        # from Melbourne too (au. and global. span both); on-demand is per region.
        routes = [r for r in _routes(entry, "sydney") if r != "on_demand"]
    if routes is None or routes == "unverified":
        routes = list(UNVERIFIED_ROUTES)
    return list(routes)


def _add_route(catalogue, region, base, route):
    entry = catalogue.setdefault(region, {"on_demand": [], "profiles": {}})
    bases = entry["on_demand"] if route == "on_demand" else entry["profiles"].setdefault(route, [])
    if base not in bases:
        bases.append(base)


def _remove_everywhere(catalogue, base, regions=None):
    for region, entry in catalogue.items():
        if regions is not None and region not in regions:
            continue
        if base in entry["on_demand"]:
            entry["on_demand"].remove(base)
        for bases in entry["profiles"].values():
            if base in bases:
                bases.remove(base)


def _copy_catalogue(catalogue):
    """A copy whose lists are all distinct (the tables above share some)."""
    return {region: _copy_entry(entry) for region, entry in catalogue.items()}


def _copy_entry(entry):
    return {"on_demand": list(entry["on_demand"]),
            "profiles": {prefix: list(bases) for prefix, bases in entry["profiles"].items()}}


def build_catalogue(facts):
    """region -> {"on_demand": [...], "profiles": {prefix: [...]}}."""
    catalogue = _copy_catalogue(BASE_CATALOGUE)
    for entry in facts["models"]:
        base = entry["model"]
        _remove_everywhere(catalogue, base, (SYDNEY, MELBOURNE, AUCKLAND))
        sydney, melbourne = _routes(entry, "sydney"), _routes(entry, "melbourne")
        for route in sydney:
            _add_route(catalogue, SYDNEY, base, route)
        for route in melbourne:
            _add_route(catalogue, MELBOURNE, base, route)
        for route in set(sydney + melbourne) & {"au", "global"}:
            _add_route(catalogue, AUCKLAND, base, route)
    for base, routes in ELSEWHERE.items():
        for region, entry in catalogue.items():
            if region in (SYDNEY, MELBOURNE, AUCKLAND):
                continue
            for route in routes:
                if route in entry["profiles"]:
                    _add_route(catalogue, region, base, route)
    return catalogue


def build_destinations(facts):
    destinations = dict(DESTINATIONS)
    for prefix in ("au", "apac", "jp"):
        destinations[prefix] = list(facts["routing"][prefix]["to"])
    return destinations


def build_application_profiles():
    return {(region, "abc123"): AppProfile(region, "abc123", prefix + _S45, name="abc123")
            for region, prefix in _BUILTIN_APP_SOURCE.items()}


FACTS = load_facts()
_lock = threading.RLock()
MODEL_TABLE = {}
APPLICATION_PROFILES = {}
GEO_DESTINATIONS = {}


def reset():
    """Back to the built-in catalogue: registered models and profiles are dropped."""
    with _lock:
        MODEL_TABLE.clear()
        MODEL_TABLE.update(build_models(FACTS))
        live = build_catalogue(FACTS)
        for region in list(CATALOGUE):
            if region not in live:
                del CATALOGUE[region]
        CATALOGUE.update(live)
        APPLICATION_PROFILES.clear()
        APPLICATION_PROFILES.update(build_application_profiles())
        GEO_DESTINATIONS.clear()
        GEO_DESTINATIONS.update(build_destinations(FACTS))


class _Column(Mapping):
    """A live read-only view of one column of MODEL_TABLE."""

    def __init__(self, name):
        self.name = name

    def __getitem__(self, base):
        return getattr(MODEL_TABLE[base], self.name)

    def __iter__(self):
        with _lock:
            return iter(list(MODEL_TABLE))

    def __len__(self):
        return len(MODEL_TABLE)


# Column views, by base model id (live: registered models appear in them).
MODELS = _Column("name")
MAX_OUTPUT_TOKENS = _Column("max_output")
CONTEXT_WINDOW = _Column("context_window")
CACHE_MIN_TOKENS = _Column("cache_min")

CATALOGUE = {}
reset()


# --------------------------------------------------------------------------
# Registration (control API)
# --------------------------------------------------------------------------

_MODEL_FIELDS = {
    "id": str, "name": str, "model_name": str, "max_output": int, "context_window": int,
    "cache_min": (int, type(None)), "temperature": bool, "top_p": bool, "top_k": bool,
    "sampling_exclusive": bool, "forced_tool_choice": bool, "structured_output": bool,
    "thinking": (str, type(None)), "thinking_tokens": int, "count_tokens": bool,
    "lifecycle": str, "start_of_life": (str, type(None)), "legacy_time": (str, type(None)),
    "end_of_life": (str, type(None)), "provider": str, "regions": dict,
    "input_modalities": list,
}


def _default_name(base_id):
    name = base_id.split(".", 1)[1] if "." in base_id else base_id
    return re.sub(r"-v\d+(:\d+)?$", "", name)


def _default_display(name):
    words = name.replace("-", " ").split()
    return " ".join(w.capitalize() for w in words)[:20]


def register_model(spec):
    """Add (or replace) a base model from a control-API spec; return its Model."""
    unknown = set(spec) - set(_MODEL_FIELDS)
    if unknown:
        raise ValueError("unknown model field(s): %s" % ", ".join(sorted(unknown)))
    for key, kind in _MODEL_FIELDS.items():
        if key in spec and (not isinstance(spec[key], kind)
                            or (kind is int and isinstance(spec[key], bool))):
            raise ValueError("model field %r has the wrong type" % key)
    base = spec.get("id")
    if not base or not _BASE_ID_RE.fullmatch(base) or base.split(".")[0] in GEOGRAPHY_PREFIXES:
        raise ValueError("id must be a base model id such as anthropic.claude-x-1 "
                         "(no geography prefix)")
    thinking = spec.get("thinking", "enabled")
    if thinking is not None and thinking not in THINKING_MODES:
        raise ValueError("thinking must be one of %s or null" % ", ".join(THINKING_MODES))
    lifecycle = spec.get("lifecycle", "ACTIVE")
    if lifecycle not in LIFECYCLES:
        raise ValueError("lifecycle must be ACTIVE or LEGACY")
    times = {key: iso_time(spec[key]) if spec.get(key) else None
             for key in ("start_of_life", "legacy_time", "end_of_life")}
    for key in ("max_output", "context_window", "thinking_tokens"):
        if key in spec and spec[key] < 1:
            raise ValueError("%s must be >= 1" % key)
    regions = spec.get("regions") or {region: ["au", "global"]
                                      for region in (SYDNEY, MELBOURNE, AUCKLAND)}
    for region, routes in regions.items():
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
            raise ValueError("not a region name: %r" % region)
        if not isinstance(routes, list) or any(r not in ROUTES for r in routes):
            raise ValueError("regions.%s must be a list of %s" % (region, ", ".join(ROUTES)))
    name = spec.get("name") or _default_name(base)
    model = Model(
        base_id=base, name=name, display_name=spec.get("model_name") or _default_display(name),
        max_output=spec.get("max_output", 64000), context_window=spec.get("context_window", 200000),
        cache_min=spec.get("cache_min", 1024),
        temperature=spec.get("temperature", True), top_p=spec.get("top_p", True),
        top_k=spec.get("top_k", True), sampling_exclusive=spec.get("sampling_exclusive", False),
        forced_tool_choice=spec.get("forced_tool_choice", True),
        structured_output=spec.get("structured_output", False), thinking=thinking,
        thinking_tokens=spec.get("thinking_tokens", 64),
        count_tokens=spec.get("count_tokens", True), lifecycle=lifecycle,
        provider=spec.get("provider", "Anthropic"),
        input_modalities=tuple(spec.get("input_modalities", ("TEXT", "IMAGE"))), registered=True, **times)
    with _lock:
        MODEL_TABLE[base] = model
        _remove_everywhere(CATALOGUE, base)
        for region, routes in regions.items():
            for route in routes:
                _add_route(CATALOGUE, region, base, route)
    return model


def register_application_profile(region, profile_id, source, destinations=None, name=None,
                                 description=None):
    """An application inference profile in ``region`` copied from ``source`` (a
    base or system profile id); ``destinations`` overrides its regions."""
    if not _APP_ID_RE.fullmatch(profile_id or ""):
        raise ValueError("id must match [a-zA-Z0-9-:.]{1,64}")
    if not isinstance(source, str) or not source:
        raise ValueError("model must be a base or system profile id")
    if destinations is not None:
        if (not isinstance(destinations, list) or not destinations
                or not all(isinstance(r, str) and r for r in destinations)):
            raise ValueError("destinations must be a non-empty list of regions")
    profile = AppProfile(region, profile_id, source, name or profile_id, description,
                         list(destinations) if destinations is not None else None,
                         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), True)
    with _lock:
        CATALOGUE.setdefault(region, {"on_demand": [], "profiles": {}})
        APPLICATION_PROFILES[(region, profile_id)] = profile
    return profile


def drop_application_profile(region, profile_id):
    with _lock:
        APPLICATION_PROFILES.pop((region, profile_id), None)


# --------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------

def regions():
    with _lock:
        return tuple(CATALOGUE)


def model(base_id):
    with _lock:
        return MODEL_TABLE.get(base_id)


def region_entry(region):
    """A copy of one region's routes (or None)."""
    with _lock:
        entry = CATALOGUE.get(region)
        return _copy_entry(entry) if entry is not None else None


def profile_only(region):
    """Base ids reachable only through a profile in ``region``."""
    entry = region_entry(region) or {"on_demand": [], "profiles": {}}
    in_profiles = {base for bases in entry["profiles"].values() for base in bases}
    return in_profiles - set(entry["on_demand"])


def foundation_model_arn(region, base):
    return "arn:aws:bedrock:%s::foundation-model/%s" % (region, base)


def system_profile_arn(region, profile_id):
    return "arn:aws:bedrock:%s:%s:inference-profile/%s" % (region, ACCOUNT, profile_id)


def geography_destinations(prefix, region):
    """Destination regions of a geographic profile called from ``region``
    ("" for a global profile: any commercial region)."""
    if prefix == "global":
        return [region, ""]
    with _lock:
        listed = list(GEO_DESTINATIONS.get(prefix, []))
    return listed if region in listed else listed + [region]


def app_profile(region, profile_id):
    with _lock:
        return APPLICATION_PROFILES.get((region, profile_id))


def app_profiles(region):
    with _lock:
        return [p for (r, _), p in sorted(APPLICATION_PROFILES.items()) if r == region]


def app_profile_destinations(profile):
    """(base id, destination regions) of an application profile, or ModelError."""
    target = _resolve_app_source(profile)
    if profile.destinations is not None:
        return target.base_id, list(profile.destinations)
    if target.geography is not None:
        return target.base_id, geography_destinations(target.geography, profile.region)
    return target.base_id, [profile.region]


# --------------------------------------------------------------------------
# Resolution for inference
# --------------------------------------------------------------------------

def _target(requested, base, kind, geography, region):
    found = model(base)
    if found.past_end_of_life():
        raise ModelError(MSG_END_OF_LIFE, 404, "ResourceNotFoundException")
    return Target(requested, base, found.name, kind, geography, region, found)


def _resolve_base(model_id, region, requested):
    entry = region_entry(region)
    if model(model_id) is not None and model_id in entry["on_demand"]:
        return _target(requested, model_id, "base", None, region)
    if model(model_id) is not None and model_id in profile_only(region):
        raise ModelError(MSG_ON_DEMAND % model_id)
    raise ModelError(MSG_INVALID_ID)


def _split_profile(model_id):
    prefix, dot, base = model_id.partition(".")
    if dot and prefix in GEOGRAPHY_PREFIXES and model(base) is not None:
        return prefix, base
    return None, None


def _resolve_plain(model_id, region, requested):
    prefix, base = _split_profile(model_id)
    if prefix is None:
        return _resolve_base(model_id, region, requested)
    if base in region_entry(region)["profiles"].get(prefix, ()):
        return _target(requested, base, "profile", prefix, region)
    raise ModelError(MSG_INVALID_ID)


def _resolve_app_source(profile, requested=None):
    requested = requested or profile.arn()
    if profile.destinations is not None and model(profile.source) is not None:
        # Explicit destinations: the profile routes the base model there,
        # whether or not the calling region serves it on demand.
        return _target(requested, profile.source, "application-profile", None, profile.region)
    target = _resolve_plain(profile.source, profile.region, requested)
    target.kind = "application-profile"
    return target


def resolve(model_id, region):
    """Resolve an identifier for inference in ``region``, or raise ModelError."""
    if region_entry(region) is None:
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
    profile = app_profile(region, inner)
    if profile is None:
        raise ModelError(MSG_INVALID_ID)
    return _resolve_app_source(profile, model_id)


def resolve_for_count(model_id, region):
    """CountTokens takes plain base model ids only (profiles and ARNs refused)."""
    if region_entry(region) is None:
        raise ModelError(MSG_INVALID_ID)
    if model_id.startswith("arn:") or _split_profile(model_id)[0] is not None:
        raise ModelError(MSG_NO_COUNT)
    entry = region_entry(region)
    if model(model_id) is not None and (model_id in entry["on_demand"]
                                        or model_id in profile_only(region)):
        target = _target(model_id, model_id, "base", None, region)
        if not target.model.count_tokens:
            raise ModelError(MSG_NO_COUNT)
        return target
    raise ModelError(MSG_INVALID_ID)
