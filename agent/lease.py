"""The shell wrapper every replica runs in, and the lease that lets it fence itself."""

from __future__ import annotations

import math
import os
from pathlib import Path

# The wrapper records the exit status in a file, so an agent restarted while the replica ran can
# still report how it ended; "$@" keeps the user's argv intact (no re-quoting). With a lease file,
# a watcher in the replica's process group stops the group (SIGTERM, grace, SIGKILL) once the
# lease (a wall-clock second the agent pushes forward at each heartbeat) is past: a dead agent
# cannot fence its replicas itself, and the scheduler may already run them elsewhere.
WRAPPER = """if [ -n "$GPUSCHED_LEASE_FILE" ]; then (
  trap '' TERM
  while sleep 1 && kill -0 $$; do
    read -r until < "$GPUSCHED_LEASE_FILE" || continue
    [ "$(date +%s)" -le "$until" ] && continue
    : > "${GPUSCHED_EXIT_FILE%.exit}.fenced"
    kill -TERM 0; sleep "$GPUSCHED_FENCE_GRACE"; kill -KILL 0
  done
) 2>/dev/null & fi
"$@"; rc=$?; echo "$rc" > "$GPUSCHED_EXIT_FILE"; exit "$rc"
"""


def write_lease(path: Path, *, until: float) -> None:
    """Let the watchers run their replicas until the wall-clock second `until` (rounded up)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{math.ceil(until)}\n")
    os.replace(tmp, path)  # a watcher never reads half a number
