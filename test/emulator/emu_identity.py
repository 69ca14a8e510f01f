"""The credential endpoints: EC2 instance metadata, container credentials, STS.

They are served by the same process and ports as Bedrock, told apart by path
(Bedrock's paths all start with ``/model/``):

========================================  =====================================
``PUT /latest/api/token``                  IMDSv2 session token
``GET /latest/meta-data/...``              IMDS; token required (v1 refused)
``GET /v2/credentials/<id>``               ECS container credentials
``GET /v1/credentials``                    EKS Pod Identity credentials
``POST /`` (form body; or ``GET /?...``)   STS query protocol
========================================  =====================================

Design
------
* Every credential handed out is minted by
  :meth:`emu_credentials.CredentialStore.issue_temporary` with a
  :class:`~emu_credentials.Principal` saying who it is and which endpoint
  issued it, so Bedrock accepts it at once, GetCallerIdentity can name it and
  the request log can say where a signing key came from.  Each request for
  credentials mints a fresh key.
* IMDS behaves as on an instance with ``HttpTokens=required``: a token comes
  from ``PUT /latest/api/token`` (TTL 1..21600 s in
  ``X-aws-ec2-metadata-token-ttl-seconds``, refused with 403 when the PUT
  carries ``X-Forwarded-For``); every GET needs it in
  ``X-aws-ec2-metadata-token``, else 401.  IMDS answers are ``text/plain``,
  credentials pretty-printed as IMDS prints them.  When IMDS is switched off,
  every IMDS path closes the connection without an answer, as an unreachable
  IMDS looks to a client that tries it.
* Container credentials need ``Authorization: <token>`` (the exact value, no
  scheme) only when a container token is configured.
* STS speaks the query protocol: form-encoded parameters, XML answers
  indented as AWS indents them, errors as ``<ErrorResponse>`` with Type,
  Code, Message and RequestId.  AssumeRole and GetCallerIdentity must be
  SigV4-signed for service ``sts`` (any region; it is recorded);
  AssumeRoleWithWebIdentity is unsigned.  SigV4 failures reuse emu_sigv4 and
  are renamed to STS's codes (:data:`SIGV4_TO_STS`).  Parameters are checked
  against the constraints of botocore's STS model, with AWS's
  "N validation error(s) detected" wording.
* Roles, IMDS metadata, error statuses and parameter constraints are tables
  (:data:`ROLES`, :data:`IMDS_METADATA`, :data:`STS_ERRORS`,
  :data:`STS_ACTIONS`).
* :class:`IdentityService` holds the switchable configuration (control API
  ``/_emulator/identity``), the IMDS tokens, per-endpoint counters and a short
  history; it never holds secrets other than the configured tokens, and its
  views show neither.
"""

import collections
import hashlib
import json
import re
import secrets
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, fields
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import emu_sigv4 as sigv4
from emu_credentials import ACCOUNT_ID, Principal

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
STS_VERSION = "2011-06-15"
STS_SIGNING_SERVICE = "sts"

DEFAULT_IMDS_ROLE = "pg-claude-ec2-role"
DEFAULT_WEB_IDENTITY_TOKEN = "eyJhbGciOiJSUzI1NiJ9.pg-claude-test-web-identity.sig"
DEFAULT_LIFETIME_S = 21600          # IMDS and container credentials (6 h, as EC2)
DEFAULT_STS_DURATION_S = 3600
IMDS_TOKEN_TTL_RANGE = (1, 21600)
INSTANCE_ID = "i-0123456789abcdef0"
CONTAINER_ROLE_ARN = "arn:aws:iam::%s:role/pg-claude-container" % ACCOUNT_ID
OIDC_PROVIDER = "oidc.eks.ap-southeast-2.amazonaws.com/id/PGCLAUDEEMULATOR0000000000000000"
WEB_IDENTITY_SUBJECT = "system:serviceaccount:default:pg-claude"
WEB_IDENTITY_AUDIENCE = "sts.amazonaws.com"
RECENT = 200


@dataclass(frozen=True)
class Role:
    external_id: str = None         # required ExternalId for AssumeRole, if any
    web_identity: bool = False      # may be assumed with a web identity token


# The IAM roles STS knows.  Any known access key may assume a role that needs
# no ExternalId.
ROLES = {
    "arn:aws:iam::%s:role/pg-claude-bedrock" % ACCOUNT_ID: Role(web_identity=True),
    "arn:aws:iam::%s:role/pg-claude-external" % ACCOUNT_ID: Role(external_id="pgc-external-42"),
}

# Plain IMDS metadata besides the credentials (path under /latest/meta-data/).
IMDS_METADATA = {
    "instance-id": lambda region: INSTANCE_ID,
    "placement/region": lambda region: region,
    "placement/availability-zone": lambda region: region + "a",
}

# Endpoint routing: (path regex, endpoint).  Order matters.
ROUTES = (
    (re.compile(r"/latest/api/token"), "imds_token"),
    (re.compile(r"/latest/meta-data/iam/security-credentials/?"), "imds_role"),
    (re.compile(r"/latest/meta-data/iam/security-credentials/([^/]+)"), "imds_credentials"),
    (re.compile(r"/latest(?:/.*)?"), "imds_other"),
    (re.compile(r"/v2/credentials(?:/.*)?"), "container_ecs"),
    (re.compile(r"/v1/credentials"), "container_eks"),
    (re.compile(r"/"), "sts"),
)

# The counters /_emulator/stats shows (every request to the endpoint counts,
# refused ones too).
COUNTERS = ("imds_token", "imds_role", "imds_credentials", "imds_other", "container",
            "sts_assume_role", "sts_web_identity", "sts_get_caller_identity", "sts_other")

# STS error code -> HTTP status.
STS_ERRORS = {
    "AccessDenied": 403,
    "ValidationError": 400,
    "InvalidIdentityToken": 400,
    "MissingAuthenticationToken": 403,
    "InvalidClientTokenId": 403,
    "SignatureDoesNotMatch": 403,
    "ExpiredToken": 403,
    "IncompleteSignature": 400,
    "InvalidAction": 400,
    "MissingAction": 400,
    "InternalFailure": 500,
}
# emu_sigv4's (Bedrock-named) failure codes -> STS's names for the same thing.
SIGV4_TO_STS = {
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
    "UnrecognizedClientException": "InvalidClientTokenId",
    "ExpiredTokenException": "ExpiredToken",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "IncompleteSignatureException": "IncompleteSignature",
}
STS_MESSAGES = {
    "MissingAuthenticationToken": "Request is missing Authentication Token",
    "InvalidIdentityToken": "The web identity token that was passed could not be validated by "
                            "Amazon Web Services. Get a new identity token from the identity "
                            "provider and then retry the request.",
    "MissingAction": "The request must contain the parameter Action.",
}


@dataclass(frozen=True)
class Param:
    """One request parameter and its constraints (from botocore's STS model)."""
    name: str
    min_len: int = None
    max_len: int = None
    pattern: str = None
    int_range: tuple = None
    sensitive: bool = False

    @property
    def member(self):               # how AWS names it in validation messages
        return self.name[0].lower() + self.name[1:]


ROLE_ARN = Param("RoleArn", 20, 2048)
SESSION_NAME = Param("RoleSessionName", 2, 64, r"[\w+=,.@-]*")
DURATION = Param("DurationSeconds", int_range=(900, 43200))
EXTERNAL_ID = Param("ExternalId", 2, 1224, r"[\w+=,.@:/-]*")
WEB_TOKEN = Param("WebIdentityToken", 4, 20000, sensitive=True)
POLICY = Param("Policy", 1, 2048)

# Action -> (counter, signed, parameters, required parameter names).
STS_ACTIONS = {
    "AssumeRole": ("sts_assume_role", True, (ROLE_ARN, SESSION_NAME, DURATION, EXTERNAL_ID, POLICY),
                   ("RoleArn", "RoleSessionName")),
    "AssumeRoleWithWebIdentity": ("sts_web_identity", False,
                                  (ROLE_ARN, SESSION_NAME, WEB_TOKEN, DURATION, POLICY),
                                  ("RoleArn", "RoleSessionName", "WebIdentityToken")),
    "GetCallerIdentity": ("sts_get_caller_identity", True, (), ()),
}


def route(raw_path):
    """(endpoint, match) for a credential endpoint path, else None."""
    for pattern, endpoint in ROUTES:
        match = pattern.fullmatch(raw_path)
        if match:
            return endpoint, match
    return None


def iso_z(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def role_id(role_name):
    """A stable AROA... id per role name, as IAM gives every role one."""
    return "AROA" + hashlib.sha1(role_name.encode("utf-8")).hexdigest()[:17].upper()


def assumed_role_principal(issued_by, role_arn, session):
    name = role_arn.rsplit("/", 1)[-1]
    return Principal(issued_by, "arn:aws:sts::%s:assumed-role/%s/%s" % (ACCOUNT_ID, name, session),
                     "%s:%s" % (role_id(name), session))


# --------------------------------------------------------------------------
# Configuration and bookkeeping
# --------------------------------------------------------------------------

@dataclass
class IdentityConfig:
    imds_role: str = DEFAULT_IMDS_ROLE
    imds_enabled: bool = True
    container_token: str = None             # None: no Authorization required
    web_identity_token: str = DEFAULT_WEB_IDENTITY_TOKEN
    credential_lifetime_s: int = None       # None: the defaults (see lifetime())

    def public(self):
        """The configuration without the tokens (secrets)."""
        return {
            "imds_role": self.imds_role,
            "imds_enabled": self.imds_enabled,
            "container_token_required": self.container_token is not None,
            "web_identity_token_is_default": self.web_identity_token == DEFAULT_WEB_IDENTITY_TOKEN,
            "credential_lifetime_s": self.credential_lifetime_s,
        }


def _checked(name, value):
    """Validate one control API field; return the value to store."""
    if name == "imds_role":
        if not isinstance(value, str) or not value or "/" in value:
            raise ValueError("imds_role must be a non-empty string without '/'")
    elif name == "web_identity_token":
        if not isinstance(value, str) or not value:
            raise ValueError("web_identity_token must be a non-empty string")
    elif name == "imds_enabled":
        if not isinstance(value, bool):
            raise ValueError("imds_enabled must be true or false")
    elif name == "container_token":
        if value is not None and (not isinstance(value, str) or not value
                                  or "\r" in value or "\n" in value):
            raise ValueError("container_token must be a non-empty one-line string or null")
    elif name == "credential_lifetime_s":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise ValueError("credential_lifetime_s must be an integer >= 0 or null")
    return value


class IdentityService:
    """Configuration, IMDS tokens, counters and history of the credential endpoints."""

    def __init__(self, credentials, startup=None, default_region="ap-southeast-2"):
        self.credentials = credentials
        self.startup = startup or IdentityConfig()
        self.default_region = default_region
        self.lock = threading.Lock()
        self.tokens = {}                    # IMDS token -> expiry (epoch s)
        self._reset_locked()

    def _reset_locked(self):
        self.config = IdentityConfig(**self.startup.__dict__)
        self.counters = collections.Counter({name: 0 for name in COUNTERS})
        self.errors = 0
        self.recent = collections.deque(maxlen=RECENT)
        self.last_auth_failure = None

    def reset(self):
        """Counters, history and configuration back to start-up (tokens and
        issued credentials stay, like the static ones)."""
        with self.lock:
            self._reset_locked()

    def current(self):
        with self.lock:
            return IdentityConfig(**self.config.__dict__)

    def update(self, changes):
        """Apply a control API change; return the number of credentials expired."""
        known = {f.name for f in fields(IdentityConfig)} | {"expire_issued"}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError("unknown identity field(s): %s" % ", ".join(unknown))
        checked = {k: _checked(k, v) for k, v in changes.items() if k != "expire_issued"}
        expire = changes.get("expire_issued", False)
        if not isinstance(expire, bool):
            raise ValueError("expire_issued must be true or false")
        with self.lock:
            for key, value in checked.items():
                setattr(self.config, key, value)
        return self.credentials.expire_issued() if expire else 0

    def lifetime(self, requested=None):
        """Seconds issued credentials live: the override, else STS's requested
        DurationSeconds, else DEFAULT_LIFETIME_S (IMDS, container)."""
        override = self.current().credential_lifetime_s
        if override is not None:
            return override
        return requested if requested is not None else DEFAULT_LIFETIME_S

    # IMDS tokens -------------------------------------------------------------

    def new_token(self, ttl, now):
        token = "AQAEA" + secrets.token_urlsafe(42)
        with self.lock:
            for old in [t for t, expiry in self.tokens.items() if expiry <= now]:
                del self.tokens[old]
            self.tokens[token] = now + ttl
        return token

    def token_valid(self, token, now):
        with self.lock:
            expiry = self.tokens.get(token)
        return expiry is not None and now < expiry

    # Bookkeeping -------------------------------------------------------------

    def count(self, counter):
        with self.lock:
            self.counters[counter] += 1

    def record(self, entry, auth_failure=None):
        with self.lock:
            self.recent.append(entry)
            if entry["status"] != 200:
                self.errors += 1
            if auth_failure is not None:
                self.last_auth_failure = auth_failure

    def stats(self):
        with self.lock:
            result = dict(self.counters)
            result["identity_errors"] = self.errors
            return result

    def describe(self, n=20):
        with self.lock:
            return {
                "config": self.config.public(),
                "defaults": {"imds_role": DEFAULT_IMDS_ROLE,
                             "imds_container_lifetime_s": DEFAULT_LIFETIME_S,
                             "sts_duration_s": DEFAULT_STS_DURATION_S},
                "account": ACCOUNT_ID,
                "roles": [{"arn": arn, "external_id_required": role.external_id is not None,
                           "web_identity": role.web_identity} for arn, role in ROLES.items()],
                "container_role_arn": CONTAINER_ROLE_ARN,
                "imds_tokens_live": sum(1 for e in self.tokens.values() if e > time.time()),
                "counters": dict(self.counters),
                "last_auth_failure": self.last_auth_failure,
                "recent": list(self.recent)[-n:] if n > 0 else [],
            }


# --------------------------------------------------------------------------
# One request to a credential endpoint
# --------------------------------------------------------------------------

class Done(Exception):
    """Raised once the answer (or the deliberate silence) has been sent."""


class StsError(Exception):
    def __init__(self, code, message=None):
        super().__init__(message)
        self.code = code
        self.message = message if message is not None else STS_MESSAGES.get(code, code)


class IdentityRequest:
    """Serve one request on a credential endpoint through the HTTP handler
    ``handler`` (which provides command, headers, send_all, close_connection)."""

    def __init__(self, handler, service, endpoint, match, raw_path, raw_query, body):
        self.h = handler
        self.service = service
        self.endpoint = endpoint
        self.match = match
        self.raw_path = raw_path
        self.raw_query = raw_query
        self.body = body
        self.now = time.time()
        self.request_id = str(uuid.uuid4())
        self.auth_failure = None
        self.entry = {"time": iso_z(self.now), "epoch": round(self.now, 3),
                      "endpoint": endpoint, "method": handler.command, "path": raw_path,
                      "status": None, "error_code": None}

    def handle(self):
        try:
            getattr(self, "do_" + self.endpoint)()
        except Done:
            pass
        except (ConnectionError, TimeoutError):
            self.h.close_connection = True
        except Exception:                       # an emulator bug: say so, loudly
            traceback.print_exc()
            if self.entry["status"] is None:
                try:
                    self.reply(500, "text/plain", b"emulator bug: see its stderr")
                except Done:
                    pass
        finally:
            self.service.record(self.entry, self.auth_failure)

    # Answers -------------------------------------------------------------------

    def reply(self, status, content_type, body, headers=(), error_code=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.entry["status"], self.entry["error_code"] = status, error_code
        self.h.send_all(status, [("Content-Type", content_type)] + list(headers), body)
        raise Done()

    def silence(self):
        """Close the connection without answering (an unreachable IMDS)."""
        self.entry["status"], self.entry["error_code"] = "closed", "unreachable"
        self.h.close_connection = True
        raise Done()

    def note_issued(self, credential, principal):
        self.entry["access_key_id"] = credential.access_key_id
        self.entry["issued_by"] = principal.issued_by
        self.entry["expires_at"] = iso_z(credential.expires_at)

    # IMDS ----------------------------------------------------------------------

    def imds_error(self, status, reason):
        body = ('<?xml version="1.0" encoding="iso-8859-1"?>\n'
                '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
                '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
                '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
                ' <head>\n  <title>%d - %s</title>\n </head>\n <body>\n  <h1>%d - %s</h1>\n'
                ' </body>\n</html>\n' % (status, reason, status, reason))
        self.reply(status, "text/html", body, error_code=reason)

    def imds_text(self, text):
        self.reply(200, "text/plain", text)

    def imds_enter(self, counter, methods=("GET",)):
        """Count; go silent when IMDS is off; refuse other methods; check the token."""
        self.service.count(counter)
        if not self.service.current().imds_enabled:
            self.silence()
        if self.h.command not in methods:
            self.imds_error(405, "Method Not Allowed")
        if counter != "imds_token":
            token = self.h.headers.get("X-aws-ec2-metadata-token")
            if not token or not self.service.token_valid(token, self.now):
                self.imds_error(401, "Unauthorized")

    def do_imds_token(self):
        self.imds_enter("imds_token", methods=("PUT",))
        if self.h.headers.get("X-Forwarded-For") is not None:
            self.imds_error(403, "Forbidden")
        raw_ttl = self.h.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        low, high = IMDS_TOKEN_TTL_RANGE
        if not raw_ttl.strip().isdigit() or not low <= int(raw_ttl) <= high:
            self.imds_error(400, "Bad Request")
        ttl = int(raw_ttl)
        token = self.service.new_token(ttl, self.now)
        self.reply(200, "text/plain", token,
                   [("X-aws-ec2-metadata-token-ttl-seconds", str(ttl))])

    def do_imds_role(self):
        self.imds_enter("imds_role")
        self.imds_text(self.service.current().imds_role)

    def do_imds_credentials(self):
        self.imds_enter("imds_credentials")
        role = self.match.group(1)
        if role != self.service.current().imds_role:
            self.imds_error(404, "Not Found")
        principal = assumed_role_principal(
            "imds", "arn:aws:iam::%s:role/%s" % (ACCOUNT_ID, role), INSTANCE_ID)
        credential = self.service.credentials.issue_temporary(
            self.service.lifetime(), self.now, principal)
        self.note_issued(credential, principal)
        document = collections.OrderedDict([
            ("Code", "Success"),
            ("LastUpdated", iso_z(self.now)),
            ("Type", "AWS-HMAC"),
            ("AccessKeyId", credential.access_key_id),
            ("SecretAccessKey", credential.secret_access_key),
            ("Token", credential.session_token),
            ("Expiration", iso_z(credential.expires_at)),
        ])
        # IMDS pretty-prints, with " : " between name and value.
        self.imds_text(json.dumps(document, indent=2, separators=(",", " : ")))

    def do_imds_other(self):
        self.imds_enter("imds_other")
        item = self.raw_path[len("/latest/meta-data/"):].strip("/") \
            if self.raw_path.startswith("/latest/meta-data/") else None
        if item not in IMDS_METADATA:
            self.imds_error(404, "Not Found")
        self.imds_text(IMDS_METADATA[item](self.service.default_region))

    # Container credentials -----------------------------------------------------

    def container(self, session, with_account):
        self.service.count("container")
        if self.h.command != "GET":
            self.reply(405, "application/json", json.dumps(
                {"Code": "MethodNotAllowed", "Message": "Only GET is supported"}),
                error_code="MethodNotAllowed")
        expected = self.service.current().container_token
        if expected is not None:
            given = self.h.headers.get("Authorization")
            if given is None or not secrets.compare_digest(given.encode("utf-8"),
                                                           expected.encode("utf-8")):
                message = ("Authorization header is missing" if given is None
                           else "Authorization token is invalid")
                self.reply(401, "application/json",
                           json.dumps({"Code": "AccessDenied", "Message": message}),
                           error_code="AccessDenied")
        principal = assumed_role_principal("container", CONTAINER_ROLE_ARN, session)
        credential = self.service.credentials.issue_temporary(
            self.service.lifetime(), self.now, principal)
        self.note_issued(credential, principal)
        document = collections.OrderedDict([
            ("AccessKeyId", credential.access_key_id),
            ("SecretAccessKey", credential.secret_access_key),
            ("Token", credential.session_token),
            ("Expiration", iso_z(credential.expires_at)),
            ("RoleArn", CONTAINER_ROLE_ARN),
        ])
        if with_account:
            document["AccountId"] = ACCOUNT_ID
        self.reply(200, "application/json", json.dumps(document))

    def do_container_ecs(self):
        self.container("pg-claude-ecs-task", with_account=False)

    def do_container_eks(self):
        self.container("eks-pg-claude-pod", with_account=True)

    # STS -----------------------------------------------------------------------

    def do_sts(self):
        params = self.sts_params()
        action = params.get("Action")
        spec = STS_ACTIONS.get(action)
        self.service.count(spec[0] if spec else "sts_other")
        self.entry["action"] = action
        try:
            if not action:
                raise StsError("MissingAction")
            if spec is None or params.get("Version") != STS_VERSION:
                raise StsError("InvalidAction", "Could not find operation %s for version %s"
                               % (action, params.get("Version", "NO_VERSION_SPECIFIED")))
            _, signed, members, required = spec
            caller = self.sts_authenticate() if signed else None
            validate(params, members, required)
            getattr(self, "sts_" + action)(params, caller)
        except StsError as failure:
            self.sts_error(failure)

    def sts_params(self):
        """Query-string and form parameters (first value of each)."""
        text = self.raw_query
        content_type = self.h.headers.get("Content-Type", "")
        if self.body and "application/x-www-form-urlencoded" in content_type.lower():
            text = "&".join(p for p in (text, self.body.decode("utf-8", "replace")) if p)
        return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}

    def sts_authenticate(self):
        """Verify SigV4 for service sts; return the caller's Principal."""
        try:
            verified = sigv4.verify(self.h.command, self.raw_path, self.raw_query,
                                    self.h.headers.items(), self.body,
                                    self.service.credentials.lookup, self.now,
                                    service=STS_SIGNING_SERVICE)
        except sigv4.AuthError as failure:
            code = SIGV4_TO_STS.get(failure.code, failure.code)
            self.auth_failure = {"code": code, "message": failure.message,
                                 "canonical_request": failure.canonical_request,
                                 "string_to_sign": failure.string_to_sign}
            raise StsError(code, STS_MESSAGES.get(code, failure.message))
        self.entry["caller"] = verified.access_key_id
        self.entry["region"] = verified.region
        return self.service.credentials.principal(verified.access_key_id)

    def sts_reply(self, action, result):
        body = xml_document("%sResponse" % action, [
            ("%sResult" % action, result),
            ("ResponseMetadata", [("RequestId", self.request_id)])])
        self.reply(200, "text/xml", body, [("x-amzn-RequestId", self.request_id)])

    def sts_error(self, failure):
        body = xml_document("ErrorResponse", [
            ("Error", [("Type", "Sender" if STS_ERRORS.get(failure.code, 400) < 500 else "Receiver"),
                       ("Code", failure.code), ("Message", failure.message)]),
            ("RequestId", self.request_id)])
        self.reply(STS_ERRORS.get(failure.code, 400), "text/xml", body,
                   [("x-amzn-RequestId", self.request_id)], error_code=failure.code)

    def sts_issue(self, action, params, requested_duration):
        """Mint credentials for an assumed role; return (credential, principal, result head)."""
        role_arn, session = params["RoleArn"], params["RoleSessionName"]
        principal = assumed_role_principal("sts:%s %s %s" % (action, role_arn, session),
                                           role_arn, session)
        credential = self.service.credentials.issue_temporary(
            self.service.lifetime(requested_duration), self.now, principal)
        self.note_issued(credential, principal)
        self.entry["role_arn"], self.entry["session"] = role_arn, session
        credentials = [("AccessKeyId", credential.access_key_id),
                       ("SecretAccessKey", credential.secret_access_key),
                       ("SessionToken", credential.session_token),
                       ("Expiration", iso_z(credential.expires_at))]
        user = [("AssumedRoleId", principal.user_id), ("Arn", principal.arn)]
        return [("Credentials", credentials), ("AssumedRoleUser", user)]

    def sts_AssumeRole(self, params, caller):
        role = ROLES.get(params["RoleArn"])
        if role is None or (role.external_id is not None
                            and params.get("ExternalId") != role.external_id):
            raise StsError("AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole "
                           "on resource: %s" % (caller.arn, params["RoleArn"]))
        result = self.sts_issue("AssumeRole", params, duration(params))
        if params.get("Policy"):
            result.append(("PackedPolicySize", packed_policy_size(params["Policy"])))
        self.sts_reply("AssumeRole", result)

    def sts_AssumeRoleWithWebIdentity(self, params, caller):
        expected = self.service.current().web_identity_token
        if not secrets.compare_digest(params["WebIdentityToken"].encode("utf-8"),
                                      expected.encode("utf-8")):
            raise StsError("InvalidIdentityToken")
        role = ROLES.get(params["RoleArn"])
        if role is None or not role.web_identity:
            raise StsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        result = self.sts_issue("AssumeRoleWithWebIdentity", params, duration(params))
        result[1:1] = [("SubjectFromWebIdentityToken", WEB_IDENTITY_SUBJECT)]
        if params.get("Policy"):
            result.append(("PackedPolicySize", packed_policy_size(params["Policy"])))
        result += [("Provider", "arn:aws:iam::%s:oidc-provider/%s" % (ACCOUNT_ID, OIDC_PROVIDER)),
                   ("Audience", WEB_IDENTITY_AUDIENCE)]
        self.sts_reply("AssumeRoleWithWebIdentity", result)

    def sts_GetCallerIdentity(self, params, caller):
        self.sts_reply("GetCallerIdentity", [("Arn", caller.arn), ("UserId", caller.user_id),
                                             ("Account", caller.account)])


# --------------------------------------------------------------------------
# STS helpers
# --------------------------------------------------------------------------

def duration(params):
    value = params.get("DurationSeconds")
    return int(value) if value else DEFAULT_STS_DURATION_S


def packed_policy_size(policy):
    """Percentage of the packed-policy allowance used (AWS's meaning)."""
    return max(1, min(100, len(policy) * 100 // 2048))


def constraint_failures(param, value):
    """AWS's wording for each constraint ``value`` breaks (empty when valid)."""
    shown = "***" if param.sensitive else value
    prefix = "Value '%s' at '%s' failed to satisfy constraint: " % (shown, param.member)
    problems = []
    if param.int_range is not None:
        if not re.fullmatch(r"-?\d+", value):
            return [prefix + "Member must be an integer"]
        low, high = param.int_range
        if int(value) < low:
            problems.append("Member must have value greater than or equal to %d" % low)
        if int(value) > high:
            problems.append("Member must have value less than or equal to %d" % high)
    if param.min_len is not None and len(value) < param.min_len:
        problems.append("Member must have length greater than or equal to %d" % param.min_len)
    if param.max_len is not None and len(value) > param.max_len:
        problems.append("Member must have length less than or equal to %d" % param.max_len)
    if param.pattern is not None and not re.fullmatch(param.pattern, value):
        problems.append("Member must satisfy regular expression pattern: %s" % param.pattern)
    return [prefix + p for p in problems]


def validate(params, members, required):
    """Raise ValidationError listing every broken constraint, as AWS does."""
    problems = []
    for param in members:
        value = params.get(param.name)
        if value is None:
            if param.name in required:
                problems.append("Value null at '%s' failed to satisfy constraint: "
                                "Member must not be null" % param.member)
            continue
        problems += constraint_failures(param, value)
    if problems:
        raise StsError("ValidationError", "%d validation error%s detected: %s" % (
            len(problems), "" if len(problems) == 1 else "s", "; ".join(problems)))


def xml_element(name, value, depth):
    """``value`` is text, or a list of (name, value) children."""
    pad = "  " * depth
    if isinstance(value, list):
        inner = "".join(xml_element(n, v, depth + 1) for n, v in value)
        return "%s<%s>\n%s%s</%s>\n" % (pad, name, inner, pad, name)
    return "%s<%s>%s</%s>\n" % (pad, name, escape(str(value)), name)


def xml_document(root, children):
    """An STS answer, laid out as AWS lays it out (two-space indent)."""
    inner = "".join(xml_element(n, v, 1) for n, v in children)
    return '<%s xmlns="%s">\n%s</%s>\n' % (root, STS_NAMESPACE, inner, root)
