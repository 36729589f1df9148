"""Endpoint credentials: two keys per endpoint, and tokens the engine signs.

`key`: a primary and a secondary key, both valid, compared in constant time; regenerating one
leaves the other working. `aml_token`: an HMAC-signed token naming the endpoint and its expiry,
returned as Azure's REST API and get-credentials return it (accessToken, tokenType, and
expiryTimeUtc / refreshAfterTimeUtc as epoch seconds, the API's int64). `aad_token` endpoints
accept the same locally signed tokens: no Microsoft Entra ID is reachable offline (a documented
difference).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from workbench.contract import Credentials

TOKEN_LIFETIME_S = 3600
TOKEN_REFRESH_AFTER_S = 2700
KEY_TYPES = ("primary", "secondary")


def new_key() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class EndpointKeys:
    primary: str
    secondary: str

    @classmethod
    def generate(cls) -> EndpointKeys:
        return cls(new_key(), new_key())

    def regenerate(self, key_type: str) -> None:
        if key_type not in KEY_TYPES:
            raise ValueError("Key type must be 'primary' or 'secondary'.")
        setattr(self, key_type, new_key())

    def accepts(self, supplied: str) -> bool:
        given = supplied.encode()
        primary = hmac.compare_digest(given, self.primary.encode())
        secondary = hmac.compare_digest(given, self.secondary.encode())
        return primary or secondary


class TokenSigner:
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def issue(self, endpoint: str, now: float | None = None) -> Credentials:
        issued = time.time() if now is None else now
        expiry = int(issued + TOKEN_LIFETIME_S)
        payload = _b64(json.dumps({"endpoint": endpoint, "exp": expiry}, separators=(",", ":")).encode())
        token = f"{payload}.{self._sign(payload)}"
        return Credentials(
            access_token=token,
            expiry_time_utc=expiry,
            refresh_after_time_utc=int(issued + TOKEN_REFRESH_AFTER_S),
        )

    def accepts(self, endpoint: str, token: str, now: float | None = None) -> bool:
        payload, _, signature = token.partition(".")
        if not payload or not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return False
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            return False
        current = time.time() if now is None else now
        return bool(claims.get("endpoint") == endpoint and float(claims.get("exp", 0)) > current)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
