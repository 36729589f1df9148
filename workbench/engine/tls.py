"""The routers' listen address, and the certificate for it: the user's where given, else, for an
address that is not loopback, a self-signed one made once with `openssl` and kept in
`.workbench/tls/` (the key mode 0600), naming this host, localhost, 127.0.0.1 and the address."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

from workbench.errors import StartupError
from workbench.router.listen import Listen
from workbench.spec.local import is_loopback

DAYS = 825


def listen_for(folder: Path, address: str | None, certificate: Path | None, key: Path | None) -> Listen:
    """Where the engine's routers listen, with TLS where the address is not loopback."""
    address = address or "127.0.0.1"
    if (certificate is None) != (key is None):
        raise StartupError("give both --tls-cert and --tls-key, or neither")
    if certificate is not None and key is not None:
        for path in (certificate, key):
            if not path.is_file():
                raise StartupError(f"{path}: no such file (TLS certificate or key)")
        given = Listen(address, certificate, key)
        try:
            given.context()
        except (ssl.SSLError, OSError) as exc:
            raise StartupError(
                f"--tls-cert {certificate} and --tls-key {key} do not load as a PEM certificate and its "
                f"private key ({exc.strerror or exc})"
            ) from exc
        return given
    if is_loopback(address):
        return Listen(address)
    made_certificate, made_key = self_signed(folder, address)
    return Listen(address, made_certificate, made_key)


def self_signed(folder: Path, address: str) -> tuple[Path, Path]:
    """A self-signed certificate for this host and `address` in `folder` (made once)."""
    certificate, key = folder / "cert.pem", folder / "key.pem"
    names = _names(address)
    stamp = folder / "names"
    if certificate.is_file() and key.is_file() and stamp.is_file() and stamp.read_text() == names:
        return certificate, key
    openssl = shutil.which("openssl")
    if openssl is None:
        raise StartupError(
            f"listening on {address} needs TLS and `openssl` is not installed to make a certificate: "
            "install openssl, or give --tls-cert and --tls-key"
        )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    made = subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(DAYS),
            "-keyout", str(key), "-out", str(certificate),
            "-subj", f"/CN={socket.getfqdn()}", "-addext", f"subjectAltName={names}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if made.returncode != 0:
        raise StartupError(f"openssl could not make a certificate: {made.stderr.strip()}")
    key.chmod(0o600)
    stamp.write_text(names)
    return certificate, key


def _names(address: str) -> str:
    names = [f"DNS:{socket.getfqdn()}", "DNS:localhost", "IP:127.0.0.1"]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        names.append(f"DNS:{address}")
    else:
        if not ip.is_unspecified:
            names.append(f"IP:{ip}")
    return ",".join(dict.fromkeys(names))
