"""Field types shared by several schema families."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

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
GpuCount = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
