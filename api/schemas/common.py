"""Field types shared by several schema families.

Every string the API stores passes `Text` (no NUL, no lone surrogate: PostgreSQL refuses the
first, UTF-8 the second, and a runner cannot exec either); every integer is bounded to what a
signed 64-bit column holds, or tighter; numbers are strict (`true` is not 1).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
GPU_STEP = 0.001
"""The smallest GPU share: requests and quotas are counted in thousandths of a GPU."""


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


def check_thousandths(value: float) -> float:
    """The value, unless it is finer than a thousandth of a GPU (then it would be rounded)."""
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number; got {value}")
    if value != 0 and abs(value) < GPU_STEP:
        raise ValueError(
            f"GPUs are counted in thousandths: the smallest amount above 0 is {GPU_STEP}; "
            f"got {value}"
        )
    if abs(value * 1000 - round(value * 1000)) > 1e-6:
        raise ValueError(f"GPUs are counted in thousandths; {value} is finer")
    return value


def _whole_number(value: Any) -> Any:
    """2 for 2.0 (JSON and its schema's `integer` do not tell them apart); anything else, such
    as `true` or 2.5, is left for the strict check to refuse."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class StrictBody(BaseModel):
    """A request body: unknown fields refused, numbers and booleans strict (`true` is not 1)."""

    model_config = ConfigDict(extra="forbid", strict=True)


Text = Annotated[str, AfterValidator(check_text)]
as_whole = BeforeValidator(_whole_number)
"""Metadata for `Annotated[int, Field(bounds), as_whole]` where the int is optional: bounds
must come before the validator or the schema loses them (pydantic writes a bare `ge`)."""
Whole = Annotated[int, as_whole]
"""An integer in a StrictBody: 3 and 3.0 are accepted, `true`, "3" and 3.5 are not."""
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX), as_whole]
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvName = Annotated[
    str,
    Field(
        pattern=ENV_NAME,
        max_length=256,
        description="An environment variable name: a letter or '_', then letters, digits or '_'.",
    ),
]
QueueName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([a-z0-9._-]{0,62})$",
        description="Lower-case letters, digits, '.', '_' or '-'; at most 63 characters.",
    ),
]
NodeName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,252})$",
        description="Letters, digits, '.', '_' or '-'; at most 253 characters.",
    ),
]
GpuCount = Annotated[
    float,
    Field(
        ge=0,
        le=1_000_000,
        allow_inf_nan=False,
        description="GPUs, in thousandths (0.001 is the smallest amount above 0).",
        # Said in the schema; checked by check_thousandths, whose message says the rule.
        json_schema_extra={"multipleOf": GPU_STEP},
    ),
    AfterValidator(check_thousandths),
]
