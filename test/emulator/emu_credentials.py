"""The emulator's identity store: AWS access keys and Bedrock API keys.

Both live in dicts behind one lock, because credentials are added while the
server runs: from the command line at start, through the control endpoint
``POST /_emulator/credentials``, and (later) by the STS, IMDS and container
credential endpoints, which will issue temporary credentials by calling
:meth:`CredentialStore.issue_temporary`.

Secrets never leave this module except to the SigV4 verifier; :meth:`describe`
is what the control API shows.
"""

import secrets
import string
import threading
import time

from emu_sigv4 import Credential

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


def parse_credential_spec(spec):
    """'AKID:SECRET[:TOKEN]' from the command line (the secret may hold '/')."""
    parts = spec.split(":")
    if len(parts) < 2:
        raise ValueError("credentials must be AKID:SECRET[:TOKEN]")
    token = parts[2] if len(parts) > 2 and parts[2] else None
    return Credential(parts[0], parts[1], token)


class CredentialStore:
    def __init__(self, credentials=DEFAULT_CREDENTIALS, api_keys=DEFAULT_API_KEYS):
        self._lock = threading.Lock()
        self._credentials = {}
        self._api_keys = set(api_keys)
        for credential in credentials:
            self.add(credential)

    def add(self, credential):
        with self._lock:
            self._credentials[credential.access_key_id] = credential

    def lookup(self, access_key_id):
        with self._lock:
            return self._credentials.get(access_key_id)

    def issue_temporary(self, lifetime_seconds=3600, now=None):
        """Mint and register a fresh ASIA... key with a session token."""
        now = time.time() if now is None else now
        credential = Credential(
            "ASIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
            secrets.token_urlsafe(30),
            secrets.token_urlsafe(96),
            now + lifetime_seconds)
        self.add(credential)
        return credential

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
                                 "expires_at": c.expires_at}
                                for c in self._credentials.values()],
                "api_keys": len(self._api_keys),
            }
