"""Field types both ends of the wire validate with: the API's bodies and the agent's replies.

Every string passes `Text` (no NUL, no lone surrogate: PostgreSQL refuses the first, UTF-8 the
second, and a runner cannot exec either); every integer is bounded to what a signed 64-bit
column holds, or tighter; numbers are strict (`true` is not 1). Only pydantic and the standard
library are imported here, so the agent may use it without the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def check_text(value: str) -> str:
    """The value, unless it holds a character no store or process can take."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = value[error.start]
        raise ValueError(
            f"must be valid Unicode: a lone surrogate (\\u{ord(bad):04x}) at {error.start}"
        ) from None
    return value


def check_json_text(value: Any, where: str) -> None:
    """Raise unless every string (key or value) in a JSON-shaped `value` passes check_text."""
    if isinstance(value, str):
        try:
            check_text(value)
        except ValueError as error:
            raise ValueError(f"{where} {error}") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json_text(key, f"{where} (a key)")
            check_json_text(item, f"{where}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            check_json_text(item, f"{where}[{n}]")


def _whole_number(value: Any) -> Any:
    """2 for 2.0 (JSON and its schema's `integer` do not tell them apart); anything else, such
    as `true` or 2.5, is left for the strict check to refuse."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Text = Annotated[str, AfterValidator(check_text)]
as_whole = BeforeValidator(_whole_number)
"""Metadata for `Annotated[int, Field(bounds), as_whole]` where the int is optional: bounds
must come before the validator or the schema loses them (pydantic writes a bare `ge`)."""
Whole = Annotated[int, as_whole]
"""An integer in a strict model: 3 and 3.0 are accepted, `true`, "3" and 3.5 are not."""
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX), as_whole]
NodeName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,252})$",
        description="Letters, digits, '.', '_' or '-'; at most 253 characters.",
    ),
]
