"""The @rawhttp request stand-in, for environments without Flask or werkzeug: what scoring scripts
call on Flask's request (args, form, files) works the same."""

from __future__ import annotations

from pathlib import Path

import pytest
import werkzeug.exceptions
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from workbench.server.rawhttp import AMLRequest


def request(query: str, content_type: str, body: bytes) -> AMLRequest:
    return AMLRequest("POST", "/score", query, [("Content-Type", content_type)], body, "127.0.0.1:5001")


def test_query_arguments_behave_as_a_multidict() -> None:
    args = request("a=1&a=2&b=x&empty=", "text/plain", b"").args

    assert args["a"] == "1"
    assert args.get("a", type=int) == 1
    assert args.get("b", type=int, default=-1) == -1
    assert args.getlist("a") == ["1", "2"]
    assert args.getlist("a", type=int) == [1, 2]
    assert args.to_dict() == {"a": "1", "b": "x", "empty": ""}
    assert args.to_dict(flat=False) == {"a": ["1", "2"], "b": ["x"], "empty": [""]}
    assert args.get("missing") is None


def test_urlencoded_and_multipart_forms_and_files(tmp_path: Path) -> None:
    assert request("", "application/x-www-form-urlencoded", b"x=1&x=2&y=z").form.getlist("x") == ["1", "2"]

    boundary = "----wb"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="label"\r\n\r\ncat\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="image.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + b"\x89PNG\x00\xff"
        + f"\r\n--{boundary}--\r\n".encode()
    )
    upload = request("", f"multipart/form-data; boundary={boundary}", body)

    assert upload.form.to_dict() == {"label": "cat"}
    stored = upload.files["file"]
    assert (stored.filename, stored.mimetype) == ("image.png", "image/png")
    assert stored.read() == b"\x89PNG\x00\xff"
    stored.save(tmp_path / "saved.png")
    assert (tmp_path / "saved.png").read_bytes() == b"\x89PNG\x00\xff"
    assert upload.values.to_dict() == {"label": "cat"}
    assert request("", "application/json", b"{}").files == {}


def test_cookies_headers_full_path_and_get_json_as_werkzeugs_request() -> None:
    """The stand-in against the real thing (werkzeug, what Flask's request is): what a script reads."""
    headers = [("Cookie", "session=abc; theme=dark"), ("X-Custom", "1"), ("Content-Type", "text/plain")]
    ours = AMLRequest("POST", "/score", "a=1&b=2", headers, b"not json", "127.0.0.1:5001")
    real = Request(
        EnvironBuilder(
            path="/score", query_string="a=1&b=2", method="POST", headers=headers, data=b"not json"
        ).get_environ()
    )
    assert ours.cookies.to_dict() == real.cookies.to_dict()
    assert {k: v for k, v in ours.headers.items() if k != "Content-Length"} == {
        k: v for k, v in real.headers.items() if k not in ("Host", "Content-Length")
    }
    assert dict(ours.headers)["X-Custom"] == dict(real.headers)["X-Custom"]
    assert ours.full_path == real.full_path
    with pytest.raises(werkzeug.exceptions.UnsupportedMediaType):
        real.get_json()
    with pytest.raises(Exception, match="415 Unsupported Media Type"):
        ours.get_json()
    assert ours.get_json(silent=True) is real.get_json(silent=True) is None
