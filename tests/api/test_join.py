"""Joining (issue 12 item 7): a live node's name is never taken over; join tokens are counted."""

from __future__ import annotations

import time
from typing import Any

import pytest

from scheduler.backends.standalone import liveness
from scheduler.store.db import session_factory
from scheduler.store.tables import NodeRow
from tests.api.conftest import Api, node_spec


def _join_token(api: Api, **body: Any) -> str:
    reply = api.client.post("/v1/agents/join-tokens", json=body, headers=api.admin)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["token"])


def _join(api: Api, token: str, name: str, **body: Any) -> Any:
    return api.client.post(
        "/v1/agents/join", json={"join_token": token, "node": node_spec(name), **body}
    )


def _lose(api: Api, name: str) -> None:
    """Mark the node not ready, as the loop does when its agent falls silent."""
    with session_factory(api.engine)() as session:
        node = session.get(NodeRow, name)
        assert node is not None
        node.ready = False
        session.commit()


def test_a_join_token_is_single_use_by_default(api: Api) -> None:
    token = _join_token(api)
    assert _join(api, token, "node-a").status_code == 201
    again = _join(api, token, "node-b")
    assert again.status_code == 401 and "used up" in again.json()["detail"]


def test_uses_n_allows_n_joins(api: Api) -> None:
    token = _join_token(api, uses=2)
    assert _join(api, token, "node-a").status_code == 201
    assert _join(api, token, "node-b").status_code == 201
    assert _join(api, token, "node-c").status_code == 401


def test_the_name_of_a_live_node_is_refused_whatever_the_token(api: Api) -> None:
    first = _join(api, _join_token(api), "node-a")
    agent = {"Authorization": f"Bearer {first.json()['token']}"}
    for body in ({}, {"replace": True}):
        taken = _join(api, _join_token(api, allow_replace=True), "node-a", **body)
        assert taken.status_code == 409, taken.text
        assert "live" in taken.json()["detail"]
    # The first agent still holds its node.
    beat = api.client.post(
        "/v1/agents/node-a/heartbeat", json={"node": node_spec("node-a")}, headers=agent
    )
    assert beat.status_code == 200


def test_a_refused_join_spends_no_use(api: Api) -> None:
    _join(api, _join_token(api), "node-a")
    token = _join_token(api)
    assert _join(api, token, "node-a").status_code == 409
    assert _join(api, token, "node-b").status_code == 201


def test_a_lost_node_is_rejoined_only_with_replace_and_a_token_that_allows_it(api: Api) -> None:
    first = _join(api, _join_token(api), "node-a")
    old_agent = {"Authorization": f"Bearer {first.json()['token']}"}
    _lose(api, "node-a")
    plain = _join(api, _join_token(api, allow_replace=True), "node-a")
    assert plain.status_code == 409 and "replace" in plain.json()["detail"]
    not_allowed = _join(api, _join_token(api), "node-a", replace=True)
    assert not_allowed.status_code == 403 and "allow-replace" in not_allowed.json()["detail"]
    taken = _join(api, _join_token(api, allow_replace=True), "node-a", replace=True)
    assert taken.status_code == 201, taken.text
    old = api.client.post(
        "/v1/agents/node-a/heartbeat", json={"node": node_spec("node-a")}, headers=old_agent
    )
    assert old.status_code == 401  # the lost agent's token went with the name


def test_liveness_marks_a_silent_node_lost_so_it_can_be_replaced(api: Api) -> None:
    # The same path the loop takes, not a hand-set flag: silence past node_timeout.
    _join(api, _join_token(api), "node-a")
    with session_factory(api.engine)() as session:
        later = time.time() + api.settings.node_timeout_seconds + 1
        liveness.expire_silent_nodes(
            session, now=later, timeout=api.settings.node_timeout_seconds, since=0.0,
            grace=api.settings.grace_seconds,
        )
        session.commit()
    taken = _join(api, _join_token(api, allow_replace=True), "node-a", replace=True)
    assert taken.status_code == 201, taken.text


def test_join_token_bodies_are_checked(api: Api) -> None:
    for body in ({"uses": 0}, {"uses": -1}, {"uses": True}, {"allow_replace": "yes"}):
        reply = api.client.post("/v1/agents/join-tokens", json=body, headers=api.admin)
        assert reply.status_code == 422, body
    made = api.client.post(
        "/v1/agents/join-tokens", json={"uses": 3, "allow_replace": True}, headers=api.admin
    ).json()
    assert made["uses"] == 3 and made["allow_replace"] is True


def test_an_agent_started_with_replace_takes_over_a_lost_node(api: Api, tmp_path: Any) -> None:
    # The agent's own join path (`gpusched agent --replace`), against the real route.
    from agent.reporter import Reporter, ReporterError

    _join(api, _join_token(api), "node-a")
    _lose(api, "node-a")
    node = node_spec("node-a")

    def reporter(token: str, *, replace: bool) -> Reporter:
        return Reporter(server="http://testserver", node="node-a",
                        token_file=tmp_path / f"token-{replace}", join_token=token,
                        replace=replace, transport=api.client._transport)

    plain = reporter(_join_token(api, allow_replace=True), replace=False)
    with pytest.raises(ReporterError, match=r"409.*replace"):
        plain.ensure_token(node)
    taking = reporter(_join_token(api, allow_replace=True), replace=True)
    taking.ensure_token(node)
    assert (tmp_path / "token-True").read_text().strip().startswith("gs")
