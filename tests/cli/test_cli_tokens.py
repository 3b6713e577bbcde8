"""`gpusched tokens ...`: make, list and revoke bearer tokens."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def queues(api):
    for name in ("vision", "nlp", "v", "prod"):
        api.queue(name)


def test_tokens_lists_scopes_without_secrets(api, cli, queues):
    api.ok("POST", "/v1/tokens", json={"kind": "user", "name": "alice", "queues": ["vision", "nlp"]})

    result = cli("tokens")

    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "alice" in line).split()
    assert row[1:4] == ["user", "alice", "vision,nlp"]
    listed = json.loads(cli("tokens", "-o", "json").stdout)
    assert listed == api.ok("GET", "/v1/tokens")
    assert all(token.get("token") is None for token in listed)  # secrets are never listed


def test_create_a_user_token_for_queues_prints_it_once(api, cli, queues):
    result = cli("tokens", "create", "alice", "-q", "vision", "-q", "nlp")

    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("gs") and result.stdout == secret + "\n"
    assert "shown only now" in result.stderr
    (seen,) = api.seen("POST", "/v1/tokens")
    assert seen.body == {"kind": "user", "name": "alice", "queues": ["vision", "nlp"]}
    # the printed token works, within its queues
    assert cli("jobs", "--queue", "vision", GPUSCHED_TOKEN=secret).exit_code == 0
    assert cli("jobs", "--queue", "prod", GPUSCHED_TOKEN=secret).exit_code == 1


def test_create_needs_exactly_one_of_queue_or_admin(api, cli):
    assert cli("tokens", "create", "bob").exit_code == 2
    assert cli("tokens", "create", "bob", "--admin", "-q", "x").exit_code == 2
    made = cli("tokens", "create", "ops", "--admin")
    assert made.exit_code == 0, made.output
    assert api.seen("POST", "/v1/tokens")[0].body == {"kind": "admin", "name": "ops"}
    assert cli("nodes", GPUSCHED_TOKEN=made.stdout.strip()).exit_code == 0  # admin only


def test_revoke(api, cli, queues):
    made = api.ok("POST", "/v1/tokens", json={"kind": "user", "name": "alice", "queues": ["v"]})

    assert cli("tokens", "revoke", str(made["id"])).stdout == f"token {made['id']} revoked\n"
    missing = cli("tokens", "revoke", "99")
    assert missing.exit_code == 1
    assert "not found: no live token with id 99" in missing.stderr
    assert cli("jobs", GPUSCHED_TOKEN=made["token"]).exit_code == 1
