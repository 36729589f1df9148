"""The user's scoring script: loading, the rules on init() and run(), and calling them.

The script is loaded as a module named `entry_module` (as azmlinfsrv does). How run() receives
its input is fixed when the script loads: `@rawhttp` gets the request object, `@input_schema`
gets one argument per parameter from the JSON body, an undecorated run() gets the body as text.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from workbench.server import rawhttp
from workbench.server.initstate import InitFingerprint, carry_over, fingerprint

logger = logging.getLogger("azmlinfsrv.user_script")

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class ScriptError(Exception):
    """The script cannot serve: it does not import, lacks init/run, or run's signature is refused."""


class UserCodeFailed(Exception):
    """init() or run() raised; the user's exception is the cause."""


INTERNAL_ERROR = "An unexpected internal error occurred. Check the logs for more info."


class BadInput(Exception):
    status = 400


class UndecodableInput(BadInput):
    """A body declared JSON that is not UTF-8: azmlinfsrv's Flask fails inside, a 500."""

    status = 500

    def __init__(self) -> None:
        super().__init__(INTERNAL_ERROR)


class UnsupportedInput(BadInput):
    status = 415


class UnsupportedMethod(Exception):
    pass


@dataclass(frozen=True)
class Incoming:
    """What the server hands over of an HTTP request, independent of the web framework."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    host: str

    @property
    def mimetype(self) -> str:
        for name, value in self.headers:
            if name.lower() == "content-type":
                return value.split(";")[0].strip().lower()
        return ""

    def header_dict(self) -> dict[str, str]:
        """Title-Case names, as werkzeug's headers give them to `request_headers`."""
        headers: dict[str, str] = {}
        for name, value in self.headers:
            key = name.title()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        return headers


class UserScript:
    def __init__(self, path: Path, module: types.ModuleType) -> None:
        self.path = path
        self.module = module
        self.init_state: InitFingerprint | None = None
        """What init() depended on when it ran; None until it ran (or when it cannot be told)."""
        self.user_init: Callable[[], Any] = module.init
        driver = getattr(module, "driver_module", None)
        if isinstance(driver, types.ModuleType) and hasattr(driver, "run"):
            self.user_run: Callable[..., Any] = driver.run
            logger.info(f"Found driver script at {module.__file__} and the score script at {driver.__file__}")
        else:
            self.user_run = module.run
            logger.info(f"Found user script at {module.__file__}")
        self._analyze_run()

    @classmethod
    def load(cls, path: Path) -> UserScript:
        rawhttp.reset_raw_requested()
        try:
            spec = importlib.util.spec_from_file_location("entry_module", path)
            if spec is None or spec.loader is None:
                raise ScriptError(f"Cannot load user script at {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        except ScriptError:
            raise
        except BaseException as exc:
            raise UserCodeFailed(
                "Failed to import user script because it raised an unhandled exception"
            ) from exc
        for name in ("init", "run"):
            if not hasattr(module, name):
                raise ScriptError(
                    f"User script at {module.__file__} does not have a {name}() function defined."
                )
        return cls(path, module)

    def _analyze_run(self) -> None:
        params = list(inspect.signature(self.user_run).parameters.values())
        if any(p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params):
            raise ScriptError("run() cannot accept positional-only arguments, *args, or **kwargs.")
        self.takes_headers = any(p.name == "request_headers" for p in params)
        self.parameters = [p for p in params if p.name != "request_headers"]
        if not self.parameters:
            raise ScriptError(
                'run() needs to accept an argument other than "request_headers".'
                if self.takes_headers
                else "run() needs to accept an argument for input data."
            )
        decorated = schema_decorated(self.user_run)
        if rawhttp.raw_requested() and decorated:
            raise ScriptError("run() cannot be decorated with both @rawhttp and @input_schema")
        if rawhttp.raw_requested():
            self.mode = "raw"
            logger.info(
                "run() is decorated with @rawhttp. Server will invoke it with the flask request object."
            )
        elif decorated:
            self.mode = "schema"
            names = ", ".join(p.name for p in self.parameters)
            logger.info(
                "run() is decorated with @input_schema. "
                f"Server will invoke it with the following arguments: {names}."
            )
        else:
            self.mode = "json"
            logger.info("run() is not decorated. Server will invoke it with the input in JSON string.")

    def init(self) -> None:
        self.init_state = fingerprint(self.path, os.environ.get("AZUREML_MODEL_DIR", ""))
        logger.info("Invoking user's init function")
        try:
            self.user_init()
        except BaseException as exc:
            raise UserCodeFailed("Caught an unhandled exception from the user script") from exc
        logger.info("Users's init has completed successfully")

    def keep_init_of(self, previous: UserScript) -> list[str]:
        """Take over what `previous`'s init() built instead of running init() (initstate.py)."""
        self.init_state = previous.init_state
        assert self.init_state is not None
        kept = carry_over(self.init_state.names, previous.module, self.module)
        logger.info(f"init() and the model are unchanged: kept what init() built ({', '.join(kept)})")
        return kept

    def arguments(self, request: Incoming) -> dict[str, Any]:
        """run()'s keyword arguments for `request`; raises BadInput, UnsupportedMethod."""
        first = self.parameters[0].name
        if self.mode == "raw":
            return {
                first: rawhttp.build_request(
                    request.method, request.path, request.query, request.headers, request.body, request.host
                )
            }
        if request.method == "GET":
            values = _query_values(request.query)
            if self.mode == "json":
                return {first: json.dumps(values)}
            return self._extract(values)
        if request.method != "POST":
            raise UnsupportedMethod(request.method)
        if self.mode == "json":
            data = b"" if request.mimetype in FORM_TYPES else request.body
            try:
                return {first: str(data, "utf-8")}
            except UnicodeDecodeError as exc:
                raise BadInput(f"Input cannot be decoded as UTF-8: {exc}") from None
        mimetype = request.mimetype
        if not (
            mimetype == "application/json"
            or (mimetype.startswith("application/") and mimetype.endswith("+json"))
        ):
            raise UnsupportedInput("Expects Content-Type to be application/json")
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            logger.error("Encountered Exception: the JSON body is not UTF-8")
            raise UndecodableInput() from None
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            if request.body:
                raise BadInput(f"POST body could not be decoded as JSON: {exc}") from None
            raise BadInput("POST body is empty. Expecting a JSON dictionary.") from None
        except RecursionError:
            raise BadInput("POST body could not be decoded as JSON: nested too deeply") from None
        if not isinstance(body, dict):
            raise BadInput("POST body should be a JSON dictionary.")
        return self._extract(body)

    def _extract(self, body: dict[str, Any]) -> dict[str, Any]:
        arguments: dict[str, Any] = {}
        for parameter in self.parameters:
            value = body.get(parameter.name, parameter.default)
            if value is inspect.Parameter.empty:
                raise BadInput(f"A value is not provided for the {parameter.name!r} parameter.")
            arguments[parameter.name] = value
        return arguments

    def run(self, arguments: dict[str, Any], headers: dict[str, str]) -> tuple[Any, float]:
        """run()'s result and its duration in ms; UserCodeFailed when it raises."""
        start = time.perf_counter()
        try:
            if self.takes_headers:
                result = self.user_run(**arguments, request_headers=headers)
            else:
                result = self.user_run(**arguments)
        except (Exception, SystemExit) as exc:  # sys.exit() in run() answers 500; the server goes on
            raise UserCodeFailed("Caught an unhandled exception from the user script") from exc
        return result, (time.perf_counter() - start) * 1000


def schema_decorated(function: Callable[..., Any]) -> bool:
    if "inference_schema" not in sys.modules and importlib.util.find_spec("inference_schema") is None:
        return False
    from inference_schema.schema_util import is_schema_decorated

    return bool(is_schema_decorated(function))


def _query_values(query: str) -> dict[str, Any]:
    """Query parameters parsed as JSON where possible; repeated keys become lists."""
    grouped: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        grouped.setdefault(key, []).append(value)
    return {
        k: _json_or_text(v[0]) if len(v) == 1 else [_json_or_text(x) for x in v] for k, v in grouped.items()
    }


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
