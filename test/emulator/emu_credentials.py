"""The emulator's identity store: AWS access keys and Bedrock API keys.

Both live in dicts behind one lock, because credentials are added while the
server runs: from the command line at start, through the control endpoint
``POST /_emulator/credentials``, and by the credential endpoints of
emu_identity (IMDS, container credentials, STS), which issue temporary
credentials through :meth:`CredentialStore.issue_temporary`.

Every access key has a :class:`Principal` beside it: who it belongs to (the
ARN and user id GetCallerIdentity answers with) and ``issued_by``, the
endpoint that minted it (``static`` for keys given on the command line or
through the control API; ``imds``, ``container``, ``sts:AssumeRole ROLE
SESSION``, ``sts:AssumeRoleWithWebIdentity ROLE SESSION`` for issued ones).
The request log shows it, so a test can see which identity signed a Bedrock
call.  :meth:`expire_issued` ends every issued credential at once, for the
refresh tests; static ones are never touched by it.

Secrets never leave this module except to the SigV4 verifier and to the
endpoint that issued them; :meth:`describe` is what the control API shows.
"""

import base64
import secrets
import string
import threading
import time
from dataclasses import dataclass

from emu_sigv4 import Credential

ACCOUNT_ID = "123456789012"

DEFAULT_CREDENTIALS = (
    Credential("AKIAPGCLAUDEEMULATOR", "emulator/Secret+Key/0123456789abcdefEXAMPLE"),
    Credential("ASIAPGCLAUDESESSION1", "session/Secret+Key/abcdefghijklmnopEXAMPLE",
               "FQoGZXIvYXdzEmulatorSessionToken/+abc="),
)
DEFAULT_API_KEYS = ("bedrock-api-key-emulator-0123456789",)

# Real Bedrock API keys start with one of these (long-term keys "ABSK",
# short-term keys "bedrock-api-key-"); others are refused as malformed.
API_KEY_PREFIXES = ("ABSK", "bedrock-api-key-")

_KEY_ALPHABET = string.ascii_uppercase + string.digits
# Real session tokens start like this (base64 of a protobuf header).
_TOKEN_PREFIX = "IQoJb3JpZ2luX2VjE"


@dataclass
class Principal:
    """Who an access key belongs to, and which endpoint minted it."""
    issued_by: str
    arn: str
    user_id: str
    account: str = ACCOUNT_ID


# Every static key (command line, control API) is this IAM user's.
STATIC_PRINCIPAL = Principal("static", "arn:aws:iam::%s:user/pg-claude-emulator" % ACCOUNT_ID,
                             "AIDAPGCLAUDEEMULATOR1")


def parse_credential_spec(spec):
    """'AKID:SECRET[:TOKEN]' from the command line (the secret may hold '/')."""
    parts = spec.split(":")
    if len(parts) < 2:
        raise ValueError("credentials must be AKID:SECRET[:TOKEN]")
    token = parts[2] if len(parts) > 2 and parts[2] else None
    return Credential(parts[0], parts[1], token)


def _random_key_id():
    return "ASIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def _random_secret():
    """40 characters of base64, '+' and '/' included, like an AWS secret key."""
    return base64.b64encode(secrets.token_bytes(30)).decode("ascii")


def _random_session_token():
    """A long base64 token with '+', '/' and '=' padding, like AWS's: clients
    must carry it through headers and URL encoding untouched."""
    return _TOKEN_PREFIX + base64.b64encode(secrets.token_bytes(448)).decode("ascii")


class CredentialStore:
    def __init__(self, credentials=DEFAULT_CREDENTIALS, api_keys=DEFAULT_API_KEYS):
        self._lock = threading.Lock()
        self._credentials = {}
        self._principals = {}
        self._api_keys = set(api_keys)
        for credential in credentials:
            self.add(credential)

    def add(self, credential, principal=STATIC_PRINCIPAL):
        with self._lock:
            self._credentials[credential.access_key_id] = credential
            self._principals[credential.access_key_id] = principal

    def lookup(self, access_key_id):
        with self._lock:
            return self._credentials.get(access_key_id)

    def principal(self, access_key_id):
        """The :class:`Principal` of a known key, else None."""
        with self._lock:
            return self._principals.get(access_key_id)

    def issue_temporary(self, lifetime_seconds=3600, now=None, principal=None):
        """Mint and register a fresh ASIA... key with a session token.

        ``principal`` says who it belongs to and who issued it (default: an
        anonymous ``issued`` principal)."""
        now = time.time() if now is None else now
        credential = Credential(_random_key_id(), _random_secret(), _random_session_token(),
                                now + lifetime_seconds)
        if principal is None:
            principal = Principal("issued", STATIC_PRINCIPAL.arn, STATIC_PRINCIPAL.user_id)
        self.add(credential, principal)
        return credential

    def expire_issued(self, now=None):
        """Expire every credential issued so far (static ones stay); return how many."""
        now = time.time() if now is None else now
        count = 0
        with self._lock:
            for key, credential in self._credentials.items():
                if self._principals[key].issued_by == "static":
                    continue
                if credential.expires_at is None or credential.expires_at > now - 1:
                    credential.expires_at = now - 1
                    count += 1
        return count

    def add_api_key(self, key):
        with self._lock:
            self._api_keys.add(key)

    def check_api_key(self, key):
        """None if known, else the (code, message) Bedrock answers with."""
        with self._lock:
            known = key in self._api_keys
        if known:
            return None
        if not key.startswith(API_KEY_PREFIXES):
            return "Invalid API Key format: Must start with pre-defined prefix"
        return "Authentication failed: Please make sure your API Key is valid."

    def describe(self):
        """Non-secret view for the control API."""
        with self._lock:
            return {
                "access_keys": [{"access_key_id": c.access_key_id,
                                 "temporary": c.session_token is not None,
                                 "expires_at": c.expires_at,
                                 "issued_by": self._principals[c.access_key_id].issued_by}
                                for c in self._credentials.values()],
                "api_keys": len(self._api_keys),
            }
