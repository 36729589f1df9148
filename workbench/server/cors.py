"""CORS for the origins in AML_CORS_ORIGINS (or --access_control_allow_origins), as azmlinfsrv's
flask-cors setup answers them: an allowed origin gets `Access-Control-Allow-Origin` with its own
name and `Vary: Origin` on every answer; a preflight (OPTIONS with
Access-Control-Request-Method) also gets the methods azmlinfsrv allows (GET, POST) and the
headers it asked for, lowercased and sorted. Any other origin gets nothing added. `*` allows any.
"""

from __future__ import annotations

from collections.abc import Mapping

ALLOWED_METHODS = "GET, POST"


def cors_headers(origins: tuple[str, ...], method: str, request: Mapping[str, str]) -> list[tuple[str, str]]:
    """The headers to add to an answer to a request with these `request` headers."""
    if not origins:
        return []
    origin = request.get("Origin")
    if not origin:
        return []
    if "*" in origins:
        allowed = "*"
    elif origin.lower() in (o.lower() for o in origins):
        allowed = origin
    else:
        return []
    headers = [("Access-Control-Allow-Origin", allowed)]
    if method == "OPTIONS" and "Access-Control-Request-Method" in request:
        asked = request.get("Access-Control-Request-Headers", "")
        names = sorted({name.strip().lower() for name in asked.split(",") if name.strip()})
        if names:
            headers.append(("Access-Control-Allow-Headers", ", ".join(names)))
        headers.append(("Access-Control-Allow-Methods", ALLOWED_METHODS))
    if allowed != "*":
        headers.append(("Vary", "Origin"))
    return headers
