"""The OpenAPI document, with FastAPI's list-only 422 replaced by the API's real 422 shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.schemas.errors import ValidationErrorPublic

_FASTAPI_422 = "#/components/schemas/HTTPValidationError"
_ERROR = "#/components/schemas/ErrorPublic"
_OURS = "#/components/schemas/ValidationErrorPublic"


def install(app: FastAPI) -> None:
    """Make `app.openapi()` declare every 422 as `ValidationErrorPublic` (list or sentence)."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _replace_422(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def _replace_422(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    ours = ValidationErrorPublic.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(ours.pop("$defs", {}))
    components["ValidationErrorPublic"] = ours
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            _errors_are_json(operation.get("responses", {}))
            declared = operation.get("responses", {}).get("422")
            if declared is None:
                continue
            body = declared.setdefault("content", {}).setdefault("application/json", {})
            if body.get("schema", {}).get("$ref") in (None, _FASTAPI_422):
                body["schema"] = {"$ref": _OURS}
                declared["description"] = (
                    "The body or a parameter is invalid (a list of field errors), or the "
                    "request asks for something impossible (one sentence)."
                )
    # FastAPI's own list-only shapes are no longer referenced.
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def _errors_are_json(responses: dict[str, Any]) -> None:
    """Errors are JSON also on routes whose success is text (FastAPI gives them its type)."""
    for code, declared in responses.items():
        content = declared.get("content", {})
        if not code.startswith(("4", "5")) or "application/json" in content:
            continue
        for media_type, body in list(content.items()):
            if body.get("schema", {}).get("$ref") in (_ERROR, _FASTAPI_422):
                content["application/json"] = content.pop(media_type)
