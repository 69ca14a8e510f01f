"""Server-side verification of AWS Signature Version 4 (header form only).

Written from the SigV4 specification, independently of both the extension's C
signer and botocore, so that the emulator is a real second opinion: if the two
disagree about a canonical request, the test fails instead of both being wrong
in the same way.

The verifier rebuilds the canonical request from what actually arrived on the
wire:

* method;
* canonical URI: the raw request path as received (still percent-encoded),
  normalised (dot segments and empty segments removed), then every byte
  URI-encoded again except '/'.  This is the double encoding of non-S3
  services: ``...v2%3A0`` on the wire is ``...v2%253A0`` in the canonical
  request;
* canonical query: each name and value decoded once, re-encoded, sorted;
* canonical headers: only the headers named in SignedHeaders, names
  lower-cased, values trimmed with inner whitespace runs collapsed, repeated
  headers joined with ',';
* payload hash: sha256 of the body received, or the value of
  x-amz-content-sha256 when that header is present and signed.

Time is a parameter (``now``), never read here, so the AWS test vectors (signed
in 2015) can be replayed.  Every failure raises :class:`AuthError` carrying the
AWS error code, HTTP status and message AWS would answer with.
"""

import calendar
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
MAX_SKEW_SECONDS = 5 * 60          # AWS allows 5 minutes for most services
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")

# AWS's own wording, so that clients can be tested on what they show users.
MSG_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service "
    "documentation for details.")
MSG_INVALID_TOKEN = "The security token included in the request is invalid."
MSG_EXPIRED_TOKEN = "The security token included in the request is expired"


class AuthError(Exception):
    """An authentication failure, shaped like AWS's answer."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.canonical_request = None       # set on a signature mismatch
        self.string_to_sign = None


def incomplete(message):
    return AuthError(400, "IncompleteSignatureException", message)


def invalid_signature(message):
    return AuthError(403, "InvalidSignatureException", message)


@dataclass
class Credential:
    """One known credential; ``session_token`` is set for temporary ones."""
    access_key_id: str
    secret_access_key: str
    session_token: str = None
    expires_at: float = None        # epoch seconds, None = never


@dataclass
class ParsedAuthorization:
    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: list
    signature: str


@dataclass
class Verified:
    """What a successful verification tells the caller."""
    access_key_id: str
    region: str
    service: str
    canonical_request: str = field(repr=False)
    string_to_sign: str = field(repr=False)


# --------------------------------------------------------------------------
# Canonical request, piece by piece (each piece testable on its own)
# --------------------------------------------------------------------------

def uri_encode(raw, keep_slash):
    """Percent-encode bytes (or latin-1 str) as SigV4 requires: upper-case hex,
    unreserved characters untouched, '/' kept only in paths."""
    if isinstance(raw, str):
        raw = raw.encode("latin-1", errors="strict") if all(ord(c) < 256 for c in raw) \
            else raw.encode("utf-8")
    out = []
    for byte in raw:
        if byte in UNRESERVED or (keep_slash and byte == 0x2F):
            out.append(chr(byte))
        else:
            out.append("%%%02X" % byte)
    return "".join(out)


def normalize_path(path):
    """Remove '.' and '..' segments and empty segments (RFC 3986 5.2.4 plus the
    AWS rule that consecutive slashes collapse); keep a trailing slash."""
    if not path:
        return "/"
    segments = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    result = "/" + "/".join(segments)
    if path.endswith("/") and segments:
        result += "/"
    return result


def canonical_uri(raw_path, normalize=True, s3=False):
    """The raw path as received, normalised, then URI-encoded (again).

    S3 is the exception: its path is neither normalised nor encoded twice;
    the received path is decoded once and encoded once."""
    if s3:
        return uri_encode(unquote_to_bytes(raw_path or "/"), keep_slash=True)
    path = normalize_path(raw_path) if normalize else (raw_path or "/")
    return uri_encode(path, keep_slash=True)


def canonical_query(raw_query):
    """Decode each name and value once, re-encode them, sort by name then value."""
    if not raw_query:
        return ""
    pairs = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((uri_encode(unquote_to_bytes(name), keep_slash=False),
                      uri_encode(unquote_to_bytes(value), keep_slash=False)))
    pairs.sort()
    return "&".join("%s=%s" % pair for pair in pairs)


def trim_all(value):
    return " ".join(value.split())


def canonical_headers(header_pairs, signed_headers):
    """Canonical header block for the names in SignedHeaders only.

    ``header_pairs`` is the received list of (name, value), in arrival order.
    """
    values = {}
    for name, value in header_pairs:
        values.setdefault(name.lower(), []).append(trim_all(value))
    lines = []
    for name in signed_headers:
        lines.append("%s:%s\n" % (name, ",".join(values.get(name, []))))
    return "".join(lines)


def build_canonical_request(method, raw_path, raw_query, header_pairs,
                            signed_headers, payload_hash, normalize=True, s3=False):
    return "\n".join([
        method.upper(),
        canonical_uri(raw_path, normalize, s3),
        canonical_query(raw_query),
        canonical_headers(header_pairs, signed_headers),
        ";".join(signed_headers),
        payload_hash,
    ])


def build_string_to_sign(amz_date, scope, canonical_request):
    return "\n".join([
        ALGORITHM,
        amz_date,
        scope,
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
    ])


def signing_key(secret, date, region, service):
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def compute_signature(secret, date, region, service, string_to_sign):
    key = signing_key(secret, date, region, service)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------
# Parsing and checks
# --------------------------------------------------------------------------

_PARAM_RE = re.compile(r"\s*([A-Za-z]+)\s*=\s*([^,\s]*)\s*")


def parse_authorization(value):
    """Split 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...'."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise incomplete("Unsupported AWS 'algorithm': '%s'" % algorithm)
    params = {}
    for item in rest.split(","):
        match = _PARAM_RE.fullmatch(item)
        if match:
            params[match.group(1)] = match.group(2)
    missing = [name for name in ("Credential", "Signature", "SignedHeaders")
               if not params.get(name)]
    if missing:
        raise incomplete(" ".join(
            "Authorization header requires '%s' parameter." % name for name in missing))
    parts = params["Credential"].split("/")
    if len(parts) != 5:
        raise incomplete(
            "Credential must have exactly 5 slash-delimited elements, "
            "e.g. keyid/date/region/service/term, got '%s'" % params["Credential"])
    return ParsedAuthorization(
        access_key_id=parts[0], date=parts[1], region=parts[2], service=parts[3],
        terminator=parts[4],
        signed_headers=params["SignedHeaders"].lower().split(";"),
        signature=params["Signature"].lower())


def _amz_time(stamp):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(stamp))


def parse_amz_date(value):
    """Parse 'YYYYMMDDTHHMMSSZ' to epoch seconds, or None."""
    try:
        return calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ"))
    except (TypeError, ValueError):
        return None


def check_clock(amz_date, now):
    """The 5-minute skew window, with AWS's messages."""
    signed_at = parse_amz_date(amz_date)
    if signed_at is None:
        raise incomplete("Date must be in ISO-8601 'basic format'. Got '%s'. "
                         "See http://en.wikipedia.org/wiki/ISO_8601" % amz_date)
    if signed_at < now - MAX_SKEW_SECONDS:
        raise invalid_signature(
            "Signature expired: %s is now earlier than %s (%s - 5 min.)"
            % (amz_date, _amz_time(now - MAX_SKEW_SECONDS), _amz_time(now)))
    if signed_at > now + MAX_SKEW_SECONDS:
        raise invalid_signature(
            "Signature not yet current: %s is still later than %s (%s + 5 min.)"
            % (amz_date, _amz_time(now + MAX_SKEW_SECONDS), _amz_time(now)))


def check_token(credential, header_token, now):
    """Temporary credentials need their exact session token; expired ones fail."""
    if credential.session_token is not None:
        if header_token is None or not hmac.compare_digest(
                header_token.encode("utf-8"), credential.session_token.encode("utf-8")):
            raise AuthError(403, "UnrecognizedClientException", MSG_INVALID_TOKEN)
    elif header_token is not None:
        raise AuthError(403, "UnrecognizedClientException", MSG_INVALID_TOKEN)
    if credential.expires_at is not None and now >= credential.expires_at:
        raise AuthError(403, "ExpiredTokenException", MSG_EXPIRED_TOKEN)


def payload_hash_for(header_map, signed_headers, body):
    """sha256 of the body, unless x-amz-content-sha256 is present and signed."""
    actual = hashlib.sha256(body).hexdigest()
    declared = header_map.get("x-amz-content-sha256")
    if declared is None or "x-amz-content-sha256" not in signed_headers:
        return actual
    if declared != UNSIGNED_PAYLOAD and declared.lower() != actual:
        raise invalid_signature(
            "The provided 'x-amz-content-sha256' header does not match what was computed.")
    return declared


def verify(method, raw_path, raw_query, header_pairs, body, lookup, now,
           service=None, valid_regions=None, normalize=True, s3=False):
    """Verify a header-signed request; return :class:`Verified` or raise AuthError.

    ``lookup(access_key_id)`` returns a :class:`Credential` or None.
    ``service``: the only signing name accepted (None accepts any).
    ``valid_regions``: container of acceptable scope regions (None: any).
    """
    header_map = {}
    for name, value in header_pairs:
        header_map.setdefault(name.lower(), value)
    authorization = header_map.get("authorization")
    if authorization is None:
        raise AuthError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    auth = parse_authorization(authorization)

    if "host" not in auth.signed_headers and ":authority" not in auth.signed_headers:
        raise incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    amz_date = header_map.get("x-amz-date")
    if amz_date is None:
        raise incomplete("Authorization header requires existence of either a 'X-Amz-Date' "
                         "or a 'Date' header.")
    if auth.terminator != TERMINATOR:
        raise invalid_signature("Credential should be scoped with a valid terminator: "
                                "'aws4_request', not '%s'." % auth.terminator)
    if service is not None and auth.service != service:
        raise invalid_signature("Credential should be scoped to correct service: '%s'. " % service)
    if valid_regions is not None and auth.region not in valid_regions:
        raise invalid_signature("Credential should be scoped to a valid region. ")
    if auth.date != amz_date[:8]:
        raise invalid_signature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            "from HTTP: '%s' != '%s', from '%s'." % (auth.date, amz_date[:8], amz_date))
    check_clock(amz_date, now)

    credential = lookup(auth.access_key_id)
    if credential is None:
        raise AuthError(403, "UnrecognizedClientException", MSG_INVALID_TOKEN)
    check_token(credential, header_map.get("x-amz-security-token"), now)

    canonical = build_canonical_request(
        method, raw_path, raw_query, header_pairs, auth.signed_headers,
        payload_hash_for(header_map, auth.signed_headers, body), normalize, s3)
    scope = "/".join([auth.date, auth.region, auth.service, TERMINATOR])
    to_sign = build_string_to_sign(amz_date, scope, canonical)
    expected = compute_signature(credential.secret_access_key, auth.date, auth.region,
                                 auth.service, to_sign)
    if not hmac.compare_digest(expected.encode("ascii"), auth.signature.encode("ascii", "replace")):
        failure = invalid_signature(MSG_SIGNATURE_MISMATCH)
        failure.canonical_request = redact_token(canonical, header_map)
        failure.string_to_sign = to_sign
        raise failure
    return Verified(auth.access_key_id, auth.region, auth.service, canonical, to_sign)


def redact_token(canonical, header_map):
    """The canonical request with the session token's value hidden."""
    token = header_map.get("x-amz-security-token")
    return canonical.replace(trim_all(token), "REDACTED") if token else canonical


def aws_mismatch_detail(failure):
    """The long form coral services append to a signature mismatch message."""
    return ("%s\n\nThe Canonical String for this request should have been\n'%s'\n\n"
            "The String-to-Sign should have been\n'%s'\n"
            % (failure.message, failure.canonical_request, failure.string_to_sign))


def redact_authorization(value):
    """Authorization header safe to show: signature and bearer keys hidden."""
    if value is None:
        return None
    if value.lower().startswith("bearer "):
        return "Bearer REDACTED"
    return re.sub(r"Signature=[0-9A-Fa-f]*", "Signature=REDACTED", value)
