"""The agent's side of the HTTP protocol (docs/agent-protocol.md): join, heartbeat, log upload."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 30.0
LOG_CHUNK_BYTES = 1 << 20


class ReporterError(RuntimeError):
    """The scheduler refused the agent for good (bad join token, revoked node token)."""


class Reporter:
    """Talks to the scheduler for one node; while it is unreachable, backs off without blocking."""

    def __init__(
        self,
        *,
        server: str,
        node: str,
        token_file: Path,
        token: str | None = None,
        join_token: str | None = None,
        replace: bool = False,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.node = node
        self._token_file = token_file
        self._token = token or _read_token(token_file)
        self._join_token = join_token
        self._replace = replace
        self._clock = clock
        self._client = httpx.Client(base_url=server.rstrip("/"), timeout=timeout,
                                    transport=transport)
        self._failures = 0
        self._next_attempt = 0.0
        self.max_backoff = MAX_BACKOFF_SECONDS
        """The longest wait between failed heartbeats (the node agent shortens it before a fence)."""

    @property
    def connected(self) -> bool:
        return self._failures == 0

    def close(self) -> None:
        self._client.close()

    # -- joining -------------------------------------------------------------------------
    def ensure_token(self, node: dict[str, Any]) -> None:
        """Join with the join token unless a node token is at hand; stores it mode 600."""
        if self._token:
            return
        if not self._join_token:
            raise ReporterError(f"node {self.node} has no token: pass --token, or --join-token "
                                "from `gpusched nodes join-token`")
        body: dict[str, Any] = {"join_token": self._join_token, "node": node}
        if self._replace:  # take over the name of a lost node (the join token must allow it)
            body["replace"] = True
        reply = self._client.post("/v1/agents/join", json=body)
        if reply.status_code in (400, 401, 403, 404, 409, 422):
            raise ReporterError(f"joining as {self.node} refused ({reply.status_code}): "
                                f"{_detail(reply)}")
        reply.raise_for_status()
        body = reply.json()
        if body.get("node") and body["node"] != self.node:
            log.warning("the scheduler named this node %s, not %s", body["node"], self.node)
            self.node = str(body["node"])
        self._token = str(body["token"])
        _write_secret(self._token_file, self._token)
        log.info("joined as node %s; token stored in %s", self.node, self._token_file)

    # -- heartbeats ----------------------------------------------------------------------
    def heartbeat(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """POST one heartbeat; the reply, or None when skipped (backing off) or failed."""
        if self._clock() < self._next_attempt:
            return None
        try:
            self.ensure_token(body["node"])
            reply = self._client.post(f"/v1/agents/{self.node}/heartbeat", json=body,
                                      headers=self._auth())
            if reply.status_code in (401, 403):
                raise ReporterError(f"the scheduler refused node {self.node}'s token "
                                    f"({reply.status_code}): {_detail(reply)}")
            reply.raise_for_status()
            data = reply.json()
            if not isinstance(data, dict) or not isinstance(data.get("desired"), list):
                raise ValueError(f"heartbeat reply without a desired list: {str(data)[:200]}")
        except (httpx.HTTPError, ValueError, ReporterError) as exc:
            self._failed(exc)
            return None
        if self._failures:
            log.info("scheduler reachable again after %d failed heartbeats", self._failures)
        self._failures = 0
        return data

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        delay = min(self.max_backoff, 2.0 ** min(self._failures - 1, 5))
        self._next_attempt = self._clock() + delay
        # Log the first failure and then sparsely, not once a second.
        if self._failures == 1 or self._failures % 10 == 0:
            log.warning("heartbeat of %s failed (%d in a row, retry in %.0f s): %s",
                        self.node, self._failures, delay, exc)

    # -- logs ----------------------------------------------------------------------------
    def upload_log(self, *, job_id: str, replica: int, attempt: int, path: Path,
                   offset: int) -> int:
        """Send the attempt's log bytes after `offset`; returns the new offset (same on failure)."""
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return offset
        if size <= offset or not self.connected:
            return offset
        with open(path, "rb") as src:
            src.seek(offset)
            chunk = src.read(LOG_CHUNK_BYTES)
        try:
            reply = self._client.post(
                f"/v1/agents/{self.node}/logs/{job_id}/{replica}",
                params={"offset": offset, "attempt": attempt},
                content=chunk, headers={**self._auth(), "Content-Type": "application/octet-stream"},
            )
            if reply.status_code == 409:  # our offset is not where the scheduler is: resync
                return _size_held(reply, default=offset)
            reply.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("log upload of %s/%d failed: %s", job_id, replica, exc)
            return offset
        return _size_held(reply, default=offset + len(chunk))

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}


def _size_held(reply: httpx.Response, *, default: int) -> int:
    """The log size the scheduler says it holds (it may answer {"size": N}), else `default`."""
    try:
        size = reply.json().get("size")
    except (ValueError, AttributeError):
        return default
    return size if isinstance(size, int) and size >= 0 else default


def _detail(reply: httpx.Response) -> str:
    try:
        return str(reply.json().get("detail", reply.text))[:300]
    except ValueError:
        return reply.text[:300]


def _read_token(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _write_secret(path: Path, secret: str) -> None:
    """Write a token readable by its owner only, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
