"""What the session asks of a placement policy; the policies themselves are plugins.

The session only calls `choose`; whoever opens the session picks the policy by name
(scheduler.core.plugins.placement.make_policy), so the session never imports a plugin.
"""

from __future__ import annotations

from typing import Protocol

from scheduler.core.model import GpuGrant, ReplicaRequest
from scheduler.core.state import BoolArray, ClusterState

Choice = tuple[int, tuple[GpuGrant, ...]]
"""A node index in session order and the GPU shares to take there."""


class PlacementPolicy(Protocol):
    """Choose where one replica goes among the nodes of `mask`, or None when none will do."""

    def choose(self, state: ClusterState, request: ReplicaRequest, mask: BoolArray) -> Choice | None:
        ...
