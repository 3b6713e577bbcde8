"""Jobs stored the way POST /v1/jobs stores them: api.submission.prepare's row, then jobs.add_many."""

from __future__ import annotations

from typing import Any

from api.auth import Principal
from api.schemas.jobs import JobCreate
from api.submission import prepare


def submit_row(
    job_id: str,
    *,
    queue: str = "q",
    token_id: int = 0,
    idempotency_key: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The row a submit of `fields` (JobCreate's; one GPU unless told) builds, id fixed, times 0."""
    body = JobCreate.model_validate({"queue": queue, "command": ["true"], "gpus": 1, **fields})
    principal = Principal(token_id=token_id, kind="admin", name="admin")
    row = dict(prepare(body, principal=principal, idempotency_key=idempotency_key).row)
    row.update(id=job_id, created_at=0.0, updated_at=0.0)
    return row

