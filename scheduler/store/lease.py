"""The leader lease: a store row, so the transaction that commits decisions also checks it."""

from __future__ import annotations

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.store.tables import LeaseRow

NAME = "scheduler"


def acquire(session: Session, *, holder: str, now: float, ttl: float) -> bool:
    """Take or renew the lease in its own transaction; True when `holder` holds it afterwards."""
    result = session.execute(
        update(LeaseRow)
        .where(LeaseRow.name == NAME, (LeaseRow.holder == holder) | (LeaseRow.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        session.commit()
        return True
    try:
        session.execute(insert(LeaseRow).values(name=NAME, holder=holder, expires_at=now + ttl))
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
        return False


def fence(session: Session, *, holder: str, now: float, ttl: float) -> bool:
    """Inside the caller's transaction: renew the lease; False when `holder` no longer holds it
    (the caller must then not commit: fencing)."""
    result = session.execute(
        update(LeaseRow)
        .where(LeaseRow.name == NAME, LeaseRow.holder == holder)
        .values(expires_at=now + ttl)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release(session: Session, *, holder: str) -> None:
    """Give the lease up (on shutdown) so a standby takes over at once."""
    session.execute(
        update(LeaseRow)
        .where(LeaseRow.name == NAME, LeaseRow.holder == holder)
        .values(expires_at=0)
    )
    session.commit()
