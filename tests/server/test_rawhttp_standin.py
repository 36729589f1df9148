"""The @rawhttp request stand-in, for environments without Flask or werkzeug: what scoring scripts
call on Flask's request (args, form, files) works the same."""

from __future__ import annotations

from pathlib import Path

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
