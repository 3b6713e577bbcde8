"""Revoking tokens (issue 12 item 6): the last live admin token cannot be revoked."""

from __future__ import annotations

from sqlalchemy import select

from scheduler.store import tokens
from scheduler.store.db import session_factory
from scheduler.store.tables import TokenRow
from tests.api.conftest import Api


def _id_of(api: Api, headers: dict[str, str]) -> int:
    raw = headers["Authorization"].removeprefix("Bearer ")
    with session_factory(api.engine)() as session:
        query = select(TokenRow.id).where(TokenRow.token_hash == tokens.hash_token(raw))
        return int(session.scalars(query).one())


def test_the_last_admin_token_is_not_revoked(api: Api) -> None:
    refused = api.client.delete(f"/v1/tokens/{_id_of(api, api.admin)}", headers=api.admin)
    assert refused.status_code == 409
    assert "last live admin token" in refused.json()["detail"]
    assert api.client.get("/v1/tokens", headers=api.admin).status_code == 200


def test_an_admin_token_goes_once_another_is_live(api: Api) -> None:
    second = api.token("admin")
    gone = api.client.delete(f"/v1/tokens/{_id_of(api, api.admin)}", headers=second)
    assert gone.status_code == 204
    assert api.client.get("/v1/tokens", headers=api.admin).status_code == 401
    assert api.client.delete(f"/v1/tokens/{_id_of(api, second)}", headers=second).status_code == 409


def test_an_expired_admin_token_does_not_count_as_live(api: Api) -> None:
    expired = api.token("admin", ttl_seconds=-1.0)
    assert api.client.get("/v1/tokens", headers=expired).status_code == 401
    only = _id_of(api, api.admin)
    assert api.client.delete(f"/v1/tokens/{only}", headers=api.admin).status_code == 409
    # The expired one may go: it leaves the number of live admins as it was.
    gone = api.client.delete(f"/v1/tokens/{_id_of(api, expired)}", headers=api.admin)
    assert gone.status_code == 204
