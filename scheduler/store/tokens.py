"""Bearer tokens: handed out once in the clear, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Literal

from sqlalchemy import ColumnElement, bindparam, or_, select, update
from sqlalchemy.orm import Session

from scheduler.store.tables import TokenRow

_BY_HASH = select(TokenRow).where(TokenRow.token_hash == bindparam("token_hash"))
"""Built once: every authenticated request runs it, so its compiled form stays cached."""
PREFIXES = {"admin": "gsk_", "user": "gsu_", "agent": "gsa_", "join": "gsj_"}


def hash_token(raw: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(raw.encode()).hexdigest()


def create(
    session: Session,
    kind: str,
    *,
    now: float,
    name: str = "",
    queues: Sequence[str] = (),
    node: str | None = None,
    ttl_seconds: float | None = None,
    uses: int | None = None,
    allow_replace: bool = False,
) -> tuple[str, TokenRow]:
    """Make a token of `kind`; returns the clear text (shown once) and the stored row.

    Join tokens only: `uses` joins (None: no limit), and whether a join may replace a lost node.
    """
    raw = PREFIXES[kind] + secrets.token_urlsafe(32)
    row = TokenRow(
        token_hash=hash_token(raw),
        kind=kind,
        name=name,
        queues=list(queues),
        node=node,
        created_at=now,
        expires_at=None if ttl_seconds is None else now + ttl_seconds,
        uses_left=uses,
        allow_replace=allow_replace,
    )
    session.add(row)
    session.flush()
    return raw, row


def find_valid(session: Session, raw: str, *, now: float) -> TokenRow | None:
    """The live (not revoked, not expired) token with this clear text, if any."""
    row = session.scalars(_BY_HASH, {"token_hash": hash_token(raw)}).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    return row


def revoke_node(session: Session, node: str, *, now: float) -> int:
    """Revoke every live agent token of `node`; returns how many were revoked."""
    result = session.execute(
        update(TokenRow)
        .where(TokenRow.kind == "agent", TokenRow.node == node, TokenRow.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def spend_use(session: Session, token_id: int, *, now: float) -> bool:
    """Take one use of a live join token; False when none is left (or it is revoked, expired).

    One conditional UPDATE: of two joins racing for the last use, exactly one changes the row
    (PostgreSQL re-checks the condition after the first commits; SQLite writers queue).
    """
    result = session.execute(
        update(TokenRow)
        .where(
            TokenRow.id == token_id,
            TokenRow.kind == "join",
            TokenRow.revoked_at.is_(None),
            _unexpired(now),
            or_(TokenRow.uses_left.is_(None), TokenRow.uses_left > 0),
        )
        .values(uses_left=TokenRow.uses_left - 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


Revoked = Literal["revoked", "missing", "last-admin"]


def revoke(session: Session, token_id: int, *, now: float) -> Revoked:
    """Revoke one token by id: "missing" when no live token has that id, "last-admin" (and
    nothing revoked) when it is the last live admin token, which would leave nobody in charge."""
    # Lock the live admin rows first: two revocations of the last two admins then run one after
    # the other, and the second sees the first's (PostgreSQL re-reads locked rows after waiting).
    admins = session.scalars(
        select(TokenRow.id)
        .where(TokenRow.kind == "admin", TokenRow.revoked_at.is_(None), _unexpired(now))
        .with_for_update()
    ).all()
    if list(admins) == [token_id]:
        return "last-admin"
    result = session.execute(
        update(TokenRow)
        .where(TokenRow.id == token_id, TokenRow.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return "revoked" if result.rowcount else "missing"  # type: ignore[attr-defined]


def _unexpired(now: float) -> ColumnElement[bool]:
    return or_(TokenRow.expires_at.is_(None), TokenRow.expires_at > now)


def list_live(session: Session) -> list[TokenRow]:
    """Every token not revoked, oldest first."""
    query = select(TokenRow).where(TokenRow.revoked_at.is_(None)).order_by(TokenRow.id)
    return list(session.scalars(query))
