"""Swagger 2.0 and OpenAPI 3.0 / 3.1 documents of a scoring script, as azmlinfsrv serves them.

Undecorated scripts get empty `ServiceInput` / `ServiceOutput` schemas; `@input_schema` /
`@output_schema` scripts get inference-schema's. A `swagger.json` or `swagger2.json` (v2) or
`swagger3.json` (v3) in the app root is served instead of the generated document.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.server.script import schema_decorated
from workbench.server.settings import Settings

logger = logging.getLogger("azmlinfsrv.swagger")

EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "example": {}}
VERSIONS = {"2": ("2", "2.0"), "3": ("3", "3.0"), "3.1": ("3.1",)}
USER_FILES = {"2": ("swagger.json", "swagger2.json"), "3": ("swagger3.json",), "3.1": ("swagger3.1.json",)}

_HEALTH = "Simple health check endpoint to ensure the service is up at any given point."
_HEALTHY = "If service is up and running, this response will be returned with the content 'Healthy'"
_FAILED = "The service failed to execute due to an error."
_SCORE = "Run web service's model and get the prediction output"
_PAYLOAD = "The input payload for executing the real-time machine learning service."
_SCORED = "The service processed the input correctly and provided a result prediction, if applicable."
_PARAM = {
    "type": "object",
    "properties": {"param": {"type": "object", "additionalProperties": {"type": "object"}}},
}
_ERROR = {"type": "object", "properties": {"message": {"type": "string"}}}
_BEARER = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "description": "For example: Bearer abc123",
}


class SwaggerNotFound(Exception):
    pass


class Swagger:
    def __init__(self, app_root: Path, run: Callable[..., Any], name: str, version: str, prefix: str) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        input_schema, output_schema, supported = _schemas(run)
        skipped: list[str] = []
        for version_name, aliases in VERSIONS.items():
            document = _user_file(app_root, version_name)
            if document is None and any(a in supported for a in aliases):
                document = _generate(version_name, input_schema, output_schema, name, version, prefix)
            if document is None:
                skipped.append(version_name)
                continue
            for alias in aliases:
                self.documents[alias] = document
        self.supported = sorted(v for v in VERSIONS if v not in skipped)
        if self.supported and skipped:
            logger.info(
                f"Swaggers are prepared for versions [{', '.join(self.supported)}] "
                f"and skipped for versions [{', '.join(sorted(skipped))}]."
            )
        elif self.supported:
            logger.info(f"Swaggers are prepared for the following versions: [{', '.join(self.supported)}].")
        else:
            logger.info("No swagger is prepared.")

    def get(self, version: str) -> dict[str, Any]:
        valid = {alias for aliases in VERSIONS.values() for alias in aliases}
        if version not in valid:
            raise SwaggerNotFound(
                f"Swagger version [{version}] is not valid. "
                f"Supported versions: [{', '.join(self.supported)}]."
            )
        document = self.documents.get(version)
        if document is None:
            raise SwaggerNotFound(
                f"Swagger version [{version}] is not supported for the scoring script. "
                f"Supported swagger versions: [{', '.join(self.supported)}]."
            )
        return document


def swagger_for(settings: Settings, run: Callable[..., Any]) -> Swagger:
    return Swagger(
        settings.app_root, run, settings.service_name, settings.service_version, settings.service_path_prefix
    )


def _schemas(run: Callable[..., Any]) -> tuple[Any, Any, list[str]]:
    if not schema_decorated(run):
        return EMPTY_SCHEMA, EMPTY_SCHEMA, ["2.0", "3.0", "3.1"]
    from inference_schema.schema_util import get_input_schema, get_output_schema, get_supported_versions

    return get_input_schema(run), get_output_schema(run), list(get_supported_versions(run))


def _user_file(app_root: Path, version: str) -> dict[str, Any] | None:
    for name in USER_FILES[version]:
        path = app_root / name
        if path.is_file():
            document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            logger.info(f"Loaded user's swagger file for version [{version}] from {path}")
            return document
    return None


def _generate(
    version: str, input_schema: Any, output_schema: Any, name: str, service_version: str, prefix: str
) -> dict[str, Any]:
    base = f"/{prefix.strip('/')}" if prefix else ""
    info = {
        "title": name,
        "description": f"API specification for the Azure Machine Learning service {name}",
        "version": service_version,
    }
    inputs, outputs = copy.deepcopy(input_schema), copy.deepcopy(output_schema)
    if version == "2":
        return {
            "swagger": "2.0",
            "info": info,
            "schemes": ["https"],
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "securityDefinitions": {"Bearer": _BEARER},
            "paths": _paths_v2(base),
            "definitions": {"ServiceInput": inputs, "ServiceOutput": outputs, "ErrorResponse": _ERROR},
        }
    return {
        "openapi": "3.1.0" if version == "3.1" else "3.0.3",
        "info": info,
        "security": [{"Bearer": []}],
        "paths": _paths_v3(base),
        "components": {
            "schemas": {"ServiceInput": inputs, "ServiceOutput": outputs, "ErrorResponse": _ERROR},
            "securitySchemes": {"Bearer": _BEARER},
        },
    }


def _paths_v2(base: str) -> dict[str, Any]:
    error = {"description": _FAILED, "schema": {"$ref": "#/definitions/ErrorResponse"}}
    return {
        f"{base}/": {
            "get": {
                "operationId": "ServiceHealthCheck",
                "description": _HEALTH,
                "responses": {
                    "200": {
                        "description": _HEALTHY,
                        "schema": {"type": "string"},
                        "examples": {"application/json": "Healthy"},
                    },
                    "default": error,
                },
            }
        },
        f"{base}/score": {
            "post": {
                "operationId": "RunMLService",
                "description": _SCORE,
                "security": [{"Bearer": []}],
                "parameters": [
                    {
                        "name": "serviceInputPayload",
                        "in": "body",
                        "description": _PAYLOAD,
                        "schema": {"$ref": "#/definitions/ServiceInput"},
                    }
                ],
                "responses": {
                    "200": {"description": _SCORED, "schema": {"$ref": "#/definitions/ServiceOutput"}},
                    "default": error,
                },
            }
        },
        f"{base}/swagger.json": {
            "get": {
                "operationId": "GetSwaggerSpec",
                "description": "Get the Swagger specification.",
                "parameters": [
                    {"name": "version", "in": "query", "required": False, "type": "integer", "enum": [2, 3]}
                ],
                "responses": {
                    "200": {"description": "The Swagger specification.", "schema": {"type": "string"}},
                    "default": error,
                },
            }
        },
    }


def _paths_v3(base: str) -> dict[str, Any]:
    def json_of(ref: str) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}

    error = {"description": _FAILED, "content": json_of("ErrorResponse")}
    return {
        f"{base}/": {
            "get": {
                "operationId": "ServiceHealthCheck",
                "description": _HEALTH,
                "responses": {
                    "200": {
                        "description": _HEALTHY,
                        "content": {"text/plain": {"schema": {"type": "string", "example": "Healthy"}}},
                    },
                    "default": error,
                },
            }
        },
        f"{base}/score": {
            "post": {
                "operationId": "RunMLService",
                "description": _SCORE,
                "security": [{"Bearer": []}],
                "requestBody": {"description": _PAYLOAD, "content": json_of("ServiceInput")},
                "responses": {
                    "200": {"description": _SCORED, "content": json_of("ServiceOutput")},
                    "default": error,
                },
            }
        },
        f"{base}/swagger.json": {
            "get": {
                "operationId": "GetSwaggerSpec",
                "description": "Get the Swagger specification.",
                "parameters": [
                    {
                        "name": "version",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "enum": [2, 3]},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The Swagger specification.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "default": error,
                },
            }
        },
    }
