"""Where the routers listen: 127.0.0.1 by default; another address only when asked, and then with
TLS (a certificate given, else a self-signed one the engine makes), as Azure's scoring URIs are
HTTPS with key or token auth."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from workbench.spec.local import is_loopback

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Listen:
    address: str = LOOPBACK
    certificate: Path | None = None
    key: Path | None = None

    @property
    def tls(self) -> bool:
        return self.certificate is not None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.address)

    def context(self) -> ssl.SSLContext | None:
        if self.certificate is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificate, self.key)
        return context

    def uri(self, port: int) -> str:
        """The scoring URI: the address itself, or this host's name where it listens on all."""
        host = socket.getfqdn() if self.address in ("0.0.0.0", "::") else self.address
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{port}/score"

    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.address else socket.AF_INET


LOCAL = Listen()
"""127.0.0.1 without TLS: the default."""
