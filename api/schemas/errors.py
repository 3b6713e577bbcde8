"""Error bodies, one shape for all: `{"detail": "what was wrong and what to do"}`.

A 422 says `detail` either as pydantic's list of field errors (the body or a parameter broke
the schema) or as one sentence (the request is well formed but names something impossible).
`errors(...)` gives the `responses=` mapping a router or route declares in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ErrorPublic(BaseModel):
    """What was wrong and what to do."""

    detail: str


class FieldError(BaseModel):
    """One broken field: where (`loc`), what (`msg`), pydantic's error `type`."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorPublic(BaseModel):
    """A 422: the field errors, or one sentence when the request is well formed but refused."""

    detail: list[FieldError] | str


_WHEN = {
    400: "The body could not be read (not UTF-8 JSON).",
    401: "No token, or an invalid, expired or revoked one.",
    403: "The token may not do this (admin only, another queue, another node).",
    404: "Nothing of that name or id, or a name in the body that does not exist.",
    409: "The request conflicts with stored state (it exists, it ended, it holds jobs, ...).",
    413: "The body is over the size limit.",
    422: "The body or a parameter is invalid, or asks for something impossible.",
    503: "The database is unavailable; retry shortly.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries for these error codes, each with the shared shape."""
    return {
        code: {
            "model": ValidationErrorPublic if code == 422 else ErrorPublic,
            "description": _WHEN[code],
        }
        for code in codes
    }
