"""The Bedrock control-plane operations pg_claude reads (bedrock 2023-04-20).

    GET /foundation-models                       ListFoundationModels
    GET /foundation-models/{modelIdentifier}     GetFoundationModel
    GET /inference-profiles                      ListInferenceProfiles
    GET /inference-profiles/{id or ARN}          GetInferenceProfile

Shapes as the service model (botocore's bedrock/2023-04-20/service-2.json)
defines them: FoundationModelSummary (with modelLifecycle: status, and
startOfLifeTime / legacyTime / endOfLifeTime where known) and
InferenceProfileSummary (models[]: one foundation-model ARN per destination
region).  Everything is computed from emu_catalogue for the request's region,
so a listing shows exactly what that region's runtime accepts.

Pure functions of (region, query): they return the JSON answer or raise
ControlError; bedrock_emulator does the HTTP, signing and faults.
"""

import base64
import re
from urllib.parse import unquote

import emu_catalogue as catalogue

OPERATIONS = {
    "foundation-models": ("ListFoundationModels", "GetFoundationModel"),
    "inference-profiles": ("ListInferenceProfiles", "GetInferenceProfile"),
}
_PATH_RE = re.compile(r"/(foundation-models|inference-profiles)(?:/([^/]+))?")
DEFAULT_PAGE_SIZE = 20          # ListInferenceProfiles without maxResults
MAX_PAGE_SIZE = 1000
PREFIX_NAMES = {"au": "AU", "apac": "APAC", "us": "US", "eu": "EU", "jp": "JP",
                "global": "GLOBAL"}
GEOGRAPHY_NAMES = {"au": "Australia", "apac": "Asia Pacific", "us": "the United States",
                   "eu": "Europe", "jp": "Japan", "global": "any commercial AWS Region"}
ENUMS = {
    "byCustomizationType": ("FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"),
    "byOutputModality": ("TEXT", "IMAGE", "EMBEDDING"),
    "byInferenceType": ("ON_DEMAND", "PROVISIONED"),
    "typeEquals": ("SYSTEM_DEFINED", "APPLICATION"),
}
MSG_PROFILE_NOT_FOUND = "The specified inference profile could not be found."
MSG_INVALID_TOKEN = "The provided pagination token is invalid."


class ControlError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def validation(message):
    return ControlError(400, "ValidationException", message)


def route(method, raw_path):
    """(operation name, decoded identifier or None) for a control-plane path, or None."""
    if method != "GET":
        return None
    match = _PATH_RE.fullmatch(raw_path)
    if match is None:
        return None
    listing, getter = OPERATIONS[match.group(1)]
    if match.group(2) is None:
        return listing, None
    return getter, unquote(match.group(2))


def handle(operation, identifier, region, query):
    """The answer (a dict) of one control-plane operation, or ControlError."""
    if operation == "ListFoundationModels":
        return list_foundation_models(region, query)
    if operation == "GetFoundationModel":
        return get_foundation_model(region, identifier)
    if operation == "ListInferenceProfiles":
        return list_inference_profiles(region, query)
    return get_inference_profile(region, identifier)


def _param(query, name, location=None):
    values = query.get(location or name)
    if not values:
        return None
    value = values[-1]
    if name in ENUMS and value not in ENUMS[name]:
        raise validation("1 validation error detected: Value '%s' at '%s' failed to satisfy "
                         "constraint: Member must satisfy enum value set: [%s]"
                         % (value, name, ", ".join(ENUMS[name])))
    return value


# --------------------------------------------------------------------------
# Foundation models
# --------------------------------------------------------------------------

def _listed_models(region):
    """(Model, inference types) of every base model the region serves, by id;
    models past their end of life are no longer listed."""
    entry = catalogue.region_entry(region) or {"on_demand": [], "profiles": {}}
    in_profiles = {base for bases in entry["profiles"].values() for base in bases}
    out = []
    for base in sorted(set(entry["on_demand"]) | in_profiles):
        model = catalogue.model(base)
        if model is None or model.past_end_of_life():
            continue
        types = (["ON_DEMAND"] if base in entry["on_demand"] else []) + \
                (["INFERENCE_PROFILE"] if base in in_profiles else [])
        out.append((model, types))
    return out


def lifecycle(model):
    value = {"status": model.lifecycle}
    for key, attribute in (("startOfLifeTime", "start_of_life"), ("legacyTime", "legacy_time"),
                           ("endOfLifeTime", "end_of_life")):
        if getattr(model, attribute):
            value[key] = getattr(model, attribute)
    return value


def foundation_model_summary(model, types, region):
    return {
        "modelArn": catalogue.foundation_model_arn(region, model.base_id),
        "modelId": model.base_id,
        "modelName": model.display_name,
        "providerName": model.provider,
        "inputModalities": list(model.input_modalities),
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": True,
        "customizationsSupported": [],
        "inferenceTypesSupported": types,
        "modelLifecycle": lifecycle(model),
    }


def list_foundation_models(region, query):
    provider = _param(query, "byProvider")
    customization = _param(query, "byCustomizationType")
    modality = _param(query, "byOutputModality")
    inference = _param(query, "byInferenceType")
    summaries = []
    for model, types in _listed_models(region):
        if provider is not None and provider.lower() != model.provider.lower():
            continue
        if customization is not None:           # no customization is offered here
            continue
        if modality is not None and modality != "TEXT":
            continue
        if inference is not None and inference not in types:
            continue
        summaries.append(foundation_model_summary(model, types, region))
    return {"modelSummaries": summaries}


def get_foundation_model(region, identifier):
    base = identifier
    match = re.fullmatch(r"arn:aws:bedrock:([a-z0-9-]+)::foundation-model/(.+)", identifier)
    if match is not None:
        if match.group(1) != region:
            raise validation(catalogue.MSG_INVALID_ID)
        base = match.group(2)
    model = catalogue.model(base)
    if model is not None and model.past_end_of_life():
        raise ControlError(404, "ResourceNotFoundException", catalogue.MSG_END_OF_LIFE)
    for listed, types in _listed_models(region):
        if listed.base_id == base:
            return {"modelDetails": foundation_model_summary(listed, types, region)}
    raise validation(catalogue.MSG_INVALID_ID)


# --------------------------------------------------------------------------
# Inference profiles
# --------------------------------------------------------------------------

def system_profile(region, prefix, model):
    profile_id = "%s.%s" % (prefix, model.base_id)
    return {
        "inferenceProfileName": "%s Anthropic %s" % (PREFIX_NAMES[prefix], model.display_name),
        "description": "Routes requests to %s in %s." % (model.display_name,
                                                         GEOGRAPHY_NAMES[prefix]),
        "createdAt": catalogue.PROFILE_TIME,
        "updatedAt": catalogue.PROFILE_TIME,
        "inferenceProfileArn": catalogue.system_profile_arn(region, profile_id),
        "models": [{"modelArn": catalogue.foundation_model_arn(destination, model.base_id)}
                   for destination in catalogue.geography_destinations(prefix, region)],
        "inferenceProfileId": profile_id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    }


def application_profile(profile):
    """The summary of an application profile, or None when its model is gone."""
    try:
        base, destinations = catalogue.app_profile_destinations(profile)
    except catalogue.ModelError:
        return None
    value = {
        "inferenceProfileName": profile.name or profile.profile_id,
        "createdAt": profile.created,
        "updatedAt": profile.created,
        "inferenceProfileArn": profile.arn(),
        "models": [{"modelArn": catalogue.foundation_model_arn(destination, base)}
                   for destination in destinations],
        "inferenceProfileId": profile.profile_id,
        "status": "ACTIVE",
        "type": "APPLICATION",
    }
    if profile.description:
        value["description"] = profile.description
    return value


def system_profiles(region):
    entry = catalogue.region_entry(region) or {"on_demand": [], "profiles": {}}
    out = []
    for prefix in catalogue.GEOGRAPHY_PREFIXES:
        for base in entry["profiles"].get(prefix, ()):
            model = catalogue.model(base)
            if model is not None and not model.past_end_of_life():
                out.append(system_profile(region, prefix, model))
    return sorted(out, key=lambda p: p["inferenceProfileId"])


def application_profiles(region):
    return [summary for summary in map(application_profile, catalogue.app_profiles(region))
            if summary is not None]


def _page_size(query):
    raw = _param(query, "maxResults")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise validation("1 validation error detected: Value '%s' at 'maxResults' failed to "
                         "satisfy constraint: Member must be an integer" % raw)
    if size < 1:
        raise validation("1 validation error detected: Value '%d' at 'maxResults' failed to "
                         "satisfy constraint: Member must have value greater than or equal "
                         "to 1" % size)
    if size > MAX_PAGE_SIZE:
        raise validation("1 validation error detected: Value '%d' at 'maxResults' failed to "
                         "satisfy constraint: Member must have value less than or equal to "
                         "%d" % (size, MAX_PAGE_SIZE))
    return size


def encode_token(offset, kind):
    return base64.urlsafe_b64encode(("%s:%d" % (kind, offset)).encode()).decode().rstrip("=")


def decode_token(token, kind):
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        token_kind, offset = text.rsplit(":", 1)
        if token_kind != kind or int(offset) < 0:
            raise ValueError(token)
        return int(offset)
    except (ValueError, UnicodeDecodeError):
        raise validation(MSG_INVALID_TOKEN)


def list_inference_profiles(region, query):
    """Without ``type`` only system-defined profiles are listed (README)."""
    kind = _param(query, "typeEquals", "type") or "SYSTEM_DEFINED"
    size = _page_size(query)
    token = _param(query, "nextToken")
    offset = decode_token(token, kind) if token else 0
    profiles = system_profiles(region) if kind == "SYSTEM_DEFINED" else application_profiles(region)
    page = profiles[offset:offset + size]
    answer = {"inferenceProfileSummaries": page}
    if offset + size < len(profiles):
        answer["nextToken"] = encode_token(offset + size, kind)
    return answer


def get_inference_profile(region, identifier):
    match = re.fullmatch(r"arn:aws:bedrock:([a-z0-9-]*):([0-9]{12})?:"
                         r"(inference-profile|application-inference-profile)/(.+)", identifier)
    kind = None
    if match is not None:
        if match.group(1) != region:
            raise ControlError(404, "ResourceNotFoundException", MSG_PROFILE_NOT_FOUND)
        kind, identifier = match.group(3), match.group(4)
    if kind != "application-inference-profile":
        prefix, _, base = identifier.partition(".")
        entry = catalogue.region_entry(region) or {"profiles": {}}
        model = catalogue.model(base)
        if (prefix in catalogue.GEOGRAPHY_PREFIXES and model is not None
                and base in entry["profiles"].get(prefix, ())):
            if model.past_end_of_life():
                raise ControlError(404, "ResourceNotFoundException", catalogue.MSG_END_OF_LIFE)
            return system_profile(region, prefix, model)
    if kind != "inference-profile":
        profile = catalogue.app_profile(region, identifier)
        summary = application_profile(profile) if profile is not None else None
        if summary is not None:
            return summary
    raise ControlError(404, "ResourceNotFoundException", MSG_PROFILE_NOT_FOUND)
