"""Join and token bodies; the heartbeat's own models are the wire protocol's (scheduler.protocol)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scheduler.protocol import NodeSpec
from scheduler.protocol_types import Text


class JoinTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ttl_seconds: float = Field(default=86_400.0, gt=0, le=31_536_000, allow_inf_nan=False)
    uses: int = Field(default=1, ge=1, le=1_000_000, strict=True,
                      description="How many joins the token allows (single-use by default).")
    allow_replace: bool = Field(
        default=False, strict=True,
        description="A join with `replace: true` may take over the name of a node that is "
        "not ready (lost). The name of a ready node is never taken over.",
    )


class JoinTokenPublic(BaseModel):
    token: str
    expires_at: float
    uses: int
    allow_replace: bool


class JoinRequest(BaseModel):
    model_config = ConfigDict(strict=True)

    join_token: Text = Field(max_length=256)
    node: NodeSpec
    replace: bool = Field(
        default=False, strict=True,
        description="Take over the name of a lost (not ready) node; the join token must allow it.",
    )


class JoinReply(BaseModel):
    node: str
    token: str


class TokenCreate(BaseModel):
    """A user or admin token; a user token is limited to `queues` (at least one)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "anyOf": [
                {"properties": {"kind": {"const": "admin"}}},
                {"properties": {"queues": {"minItems": 1}}, "required": ["queues"]},
            ]
        },
    )

    kind: Literal["admin", "user"]
    name: Text = Field(min_length=1, max_length=128)
    queues: list[Text] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _user_has_queues(self) -> TokenCreate:
        if self.kind == "user" and not self.queues:
            raise ValueError("a user token needs at least one queue")
        return self


class TokenPublic(BaseModel):
    id: int
    kind: str
    name: str
    queues: list[str]
    node: str | None
    created_at: float
    expires_at: float | None
    token: str | None = None
    """The clear text, only in the reply that created it."""
