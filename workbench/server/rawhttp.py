"""The raw-HTTP API that scoring scripts import: `rawhttp`, `AMLRequest`, `AMLResponse`.

Where the user's environment has azureml-inference-server-http, its own classes are used, for
exact behaviour. Otherwise this module stands in for them, under the same module names, including
the legacy `azureml.contrib.services.aml_request` / `aml_response` that old scripts import. The
request object handed to a `@rawhttp` run() is Flask's (or werkzeug's) Request when those are
installed, and a small stand-in with the same basic API when they are not.
"""

from __future__ import annotations

import email.parser
import email.policy
import importlib.util
import io
import json
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

REAL_PACKAGE = "azureml_inference_server_http"
_rawHttpRequested = False


def rawhttp(func: Callable[..., Any]) -> Callable[..., Any]:
    """Marks run() as wanting the raw request. As in azmlinfsrv, the mark is process-wide."""
    global _rawHttpRequested
    _rawHttpRequested = True
    return func


def raw_requested() -> bool:
    if _rawHttpRequested:
        return True
    real = sys.modules.get(f"{REAL_PACKAGE}.api.aml_request")
    return bool(real is not None and getattr(real, "_rawHttpRequested", False))


def reset_raw_requested() -> None:
    global _rawHttpRequested
    _rawHttpRequested = False
    real = sys.modules.get(f"{REAL_PACKAGE}.api.aml_request")
    if real is not None and hasattr(real, "_rawHttpRequested"):
        setattr(real, "_rawHttpRequested", False)  # noqa: B010


class _Headers(list):  # type: ignore[type-arg]
    """A list of (name, value) pairs with the few dict-like methods scripts use."""

    def add(self, name: str, value: Any) -> None:
        self.append((name, str(value)))

    add_header = add

    def remove(self, name: str) -> None:
        self[:] = [(k, v) for k, v in self if k.lower() != name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k.lower() == name.lower() for k, _ in self)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            for k, v in self:
                if k.lower() == key.lower():
                    return v
            raise KeyError(key)
        return super().__getitem__(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, str):
            self.remove(key)
            self.append((key, str(value)))
        else:
            super().__setitem__(key, value)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def items(self) -> list[tuple[str, str]]:
        return list(self)

    def keys(self) -> list[str]:
        return [k for k, _ in self]

    def values(self) -> list[str]:
        return [v for _, v in self]

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self if k.lower() == name.lower()]


class UnsupportedMediaType(Exception):
    """What Flask's get_json() raises for a body that is not declared JSON (werkzeug's 415)."""

    code = 415
    description = (
        "Did not attempt to load JSON data because the request Content-Type was not 'application/json'."
    )

    def __init__(self) -> None:
        super().__init__(f"415 Unsupported Media Type: {self.description}")


class AMLResponse:
    """Stand-in for azmlinfsrv's AMLResponse (a flask.Response) when neither is installed."""

    def __init__(
        self,
        message: Any,
        status_code: int,
        response_headers: Mapping[str, str] | None = None,
        json_str: bool = False,
        run_function_failed: bool = False,
    ) -> None:
        self.status_code = status_code
        self.headers = _Headers()
        headers = dict(response_headers or {})
        if message is None:
            body, content_type = b"{}", "application/json"
        elif json_str:
            body, content_type = json.dumps(message).encode(), "application/json"
        else:
            body = message if isinstance(message, bytes) else str(message).encode()
            content_type = "text/html; charset=utf-8"
            if "Content-Type" in headers:
                content_type = ""
        if content_type:
            self.headers.add("Content-Type", content_type)
        self.headers["x-ms-run-function-failed"] = run_function_failed
        for name, value in headers.items():
            for part in str(value).split(","):
                self.headers.add(name, part.strip())
        self._body = body

    def get_data(self) -> bytes:
        return self._body

    @property
    def data(self) -> bytes:
        return self._body


class MultiDict(dict):  # type: ignore[type-arg]
    """werkzeug's MultiDict as scoring scripts use it: `[key]` and `get()` give a key's first
    value, `getlist()` all of them, `to_dict(flat=False)` every list."""

    def __init__(self, pairs: Iterable[tuple[str, Any]] = ()) -> None:
        super().__init__()
        self._lists: dict[str, list[Any]] = {}
        for key, value in pairs:
            self._lists.setdefault(key, []).append(value)
            if key not in self:
                super().__setitem__(key, value)

    def get(self, key: str, default: Any = None, type: Callable[[Any], Any] | None = None) -> Any:
        if key not in self:
            return default
        if type is None:
            return self[key]
        try:
            return type(self[key])
        except (ValueError, TypeError):
            return default

    def getlist(self, key: str, type: Callable[[Any], Any] | None = None) -> list[Any]:
        values = self._lists.get(key, [])
        return [type(v) for v in values] if type else list(values)

    def items(self, multi: bool = False) -> Any:
        if multi:
            return [(key, value) for key, values in self._lists.items() for value in values]
        return super().items()

    def to_dict(self, flat: bool = True) -> dict[str, Any]:
        return dict(self) if flat else {key: list(values) for key, values in self._lists.items()}


class FileStorage:
    """An uploaded file, as werkzeug's FileStorage: its name, type and content."""

    def __init__(self, name: str, filename: str, content_type: str, content: bytes) -> None:
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.mimetype = content_type.split(";", maxsplit=1)[0].strip().lower()
        self.stream = io.BytesIO(content)

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)

    def save(self, destination: Any) -> None:
        if hasattr(destination, "write"):
            destination.write(self.stream.getvalue())
        else:
            with open(destination, "wb") as out:
                out.write(self.stream.getvalue())


def _parse_form(content_type: str, body: bytes) -> tuple[MultiDict, MultiDict]:
    """(form fields, files) of a urlencoded or multipart/form-data body; empty for anything else."""
    mimetype = content_type.split(";", maxsplit=1)[0].strip().lower()
    if mimetype == "application/x-www-form-urlencoded":
        return MultiDict(parse_qsl(body.decode("latin-1"), keep_blank_values=True)), MultiDict()
    if mimetype != "multipart/form-data":
        return MultiDict(), MultiDict()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: list[tuple[str, Any]] = []
    files: list[tuple[str, Any]] = []
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files.append((name, FileStorage(name, filename, part.get_content_type(), content)))
        else:
            charset = part.get_content_charset() or "utf-8"
            fields.append((name, content.decode(charset, errors="replace")))
    return MultiDict(fields), MultiDict(files)


class AMLRequest:
    """Stand-in for Flask's request when neither flask nor werkzeug is installed."""

    def __init__(
        self, method: str, path: str, query: str, headers: Iterable[tuple[str, str]], body: bytes, host: str
    ) -> None:
        self.method = method
        self.path = path
        self.query_string = query.encode()
        self.headers = _Headers(headers)
        self._body = body
        self.host = host
        self.url = f"http://{host}{path}" + (f"?{query}" if query else "")
        self.full_path = f"{path}?{query}"
        self.cookies = MultiDict(
            (name, morsel.value) for name, morsel in SimpleCookie(self.headers.get("Cookie") or "").items()
        )
        self.args = MultiDict(parse_qsl(query, keep_blank_values=True))
        self.mimetype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        self.content_type = self.headers.get("Content-Type")
        self._form: tuple[MultiDict, MultiDict] | None = None

    @property
    def form(self) -> MultiDict:
        """Fields of a urlencoded or multipart body, as Flask gives them."""
        return self._parsed_form()[0]

    @property
    def files(self) -> MultiDict:
        """Uploaded files of a multipart body: name -> FileStorage (filename, read(), save())."""
        return self._parsed_form()[1]

    @property
    def values(self) -> MultiDict:
        return MultiDict([*self.args.items(multi=True), *self.form.items(multi=True)])

    def _parsed_form(self) -> tuple[MultiDict, MultiDict]:
        if self._form is None:
            self._form = _parse_form(self.content_type or "", self._body)
        return self._form

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False) -> Any:
        return self._body.decode() if as_text else self._body

    @property
    def data(self) -> bytes:
        return self._body

    @property
    def is_json(self) -> bool:
        return self.mimetype == "application/json" or (
            self.mimetype.startswith("application/") and self.mimetype.endswith("+json")
        )

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if not (force or self.is_json):
            if silent:
                return None
            raise UnsupportedMediaType()
        try:
            return json.loads(self._body)
        except ValueError:
            if silent:
                return None
            raise

    @property
    def json(self) -> Any:
        return self.get_json()

    @property
    def stream(self) -> io.BytesIO:
        return io.BytesIO(self._body)


def install_aliases() -> None:
    """Make `from azureml.contrib.services.aml_request import rawhttp` and friends work."""
    real = importlib.util.find_spec(REAL_PACKAGE) is not None
    this = sys.modules[__name__]
    for kind in ("aml_request", "aml_response"):
        modern = f"{REAL_PACKAGE}.api.{kind}"
        module = importlib.import_module(modern) if real else this
        if not real:
            _register(modern, this)
        _register(f"azureml.contrib.services.{kind}", module)


def _register(name: str, module: types.ModuleType) -> None:
    """Put `module` at `name` in sys.modules, creating empty parent packages that do not exist."""
    if name in sys.modules:
        return
    sys.modules[name] = module
    child = module
    parent, _, attribute = name.rpartition(".")
    while parent:
        package = sys.modules.get(parent)
        if package is None:
            try:
                package = importlib.import_module(parent)
            except ImportError:
                package = types.ModuleType(parent)
                package.__path__ = []
                sys.modules[parent] = package
        setattr(package, attribute, child)
        child = package
        parent, _, attribute = parent.rpartition(".")


def build_request(
    method: str,
    path: str,
    query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    host: str,
    scheme: str = "http",
) -> Any:
    """The request object for a @rawhttp run(): Flask's when installed, else werkzeug's, else ours."""
    headers = list(headers)
    try:
        from flask import Request
    except ImportError:
        try:
            from werkzeug.wrappers import Request
        except ImportError:
            return AMLRequest(method, path, query, headers, body, host)
    server, _, port = host.partition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": server or "localhost",
        "SERVER_PORT": port or "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key != "CONTENT_LENGTH":
            key = f"HTTP_{key}"
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    return Request(environ)
