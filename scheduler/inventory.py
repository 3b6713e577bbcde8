"""A node's inventory as its agent reports it: one shape for the agent and the store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class GpuInventory:
    """One GPU of the node inventory, as the protocol's NODE.gpus[] entry."""

    index: int
    uuid: str
    model: str
    memory_mib: int
    compute_capability: str = ""
    mig_mode: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class NodeInventory:
    """A node as its agent sees it."""

    name: str
    cpu_millis: int
    memory_mib: int
    labels: dict[str, str] = field(default_factory=dict)
    enforcement: str = "none"
    gpus: tuple[GpuInventory, ...] = ()
