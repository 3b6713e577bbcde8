"""Field types shared by the API's own schema families (the user-facing bodies).

The types the agent's wire shares with them (`Text`, `Whole`, `Int64`, ...) live in
scheduler.protocol_types, which the agent imports too.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

GPU_STEP = 0.001
"""The smallest GPU share: requests and quotas are counted in thousandths of a GPU."""


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


class StrictBody(BaseModel):
    """A request body: unknown fields refused, numbers and booleans strict (`true` is not 1)."""

    model_config = ConfigDict(extra="forbid", strict=True)


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
