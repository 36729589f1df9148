"""Scoring URIs on another address only when asked, and then over TLS: a certificate given, or a
self-signed one the engine makes (naming the address) for any address that is not loopback."""

from __future__ import annotations

import ssl
import stat
import subprocess
from pathlib import Path

import httpx

from tests.engine.harness import ECHO, deployment_yaml, engine, folder_with, key_headers
from workbench.engine.tls import listen_for, self_signed


def test_a_given_certificate_serves_the_scoring_uri_over_https(tmp_path: Path) -> None:
    certificate, key = self_signed(tmp_path / "tls", "127.0.0.1")
    folder = folder_with(tmp_path, {"echo.py": ECHO}, {"blue": deployment_yaml("blue", "echo.py")})
    extra = ("--listen", "127.0.0.1", "--tls-cert", str(certificate), "--tls-key", str(key))
    with engine(folder, tmp_path, extra=extra) as running:
        (endpoint,) = running.wait_settled(120)
        uri = endpoint.scoring_uri or ""
        assert uri.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(certificate))
        answer = httpx.post(uri, json={"x": 1}, headers=key_headers(folder), verify=trusted, timeout=30)
        assert answer.status_code == 200, answer.text
        refused = httpx.post(uri, json={"x": 1}, verify=trusted, timeout=30)
        assert refused.status_code == 401  # TLS or not, the key is asked for
        plain = uri.replace("https://", "http://")
        try:
            httpx.post(plain, json={}, headers=key_headers(folder), timeout=10)
        except httpx.HTTPError:
            pass  # a plain-HTTP client is not answered in the clear
        else:
            raise AssertionError("plain HTTP was answered on a TLS port")


def test_an_address_other_than_loopback_gets_a_self_signed_certificate_naming_it(tmp_path: Path) -> None:
    listen = listen_for(tmp_path / "tls", "192.0.2.10", None, None)  # made, not bound: no traffic leaves
    assert listen.tls
    assert listen.certificate is not None
    assert listen.key is not None
    assert stat.S_IMODE(listen.key.stat().st_mode) == 0o600
    text = subprocess.run(
        ["openssl", "x509", "-in", str(listen.certificate), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "IP Address:192.0.2.10" in text
    assert "IP Address:127.0.0.1" in text
    assert listen.uri(8443) == "https://192.0.2.10:8443/score"
    assert not listen_for(tmp_path / "none", "127.0.0.1", None, None).tls  # loopback: plain, as before
