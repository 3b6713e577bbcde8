"""`gpusched tokens ...`: make, list and revoke bearer tokens."""

from __future__ import annotations

import json

TOKENS = [
    {"id": 1, "kind": "admin", "name": "bootstrap", "queues": [], "node": None,
     "created_at": 1_700_000_000.0, "expires_at": None},
    {"id": 7, "kind": "user", "name": "alice", "queues": ["vision", "nlp"], "node": None,
     "created_at": 1_700_000_000.0, "expires_at": None},
]  # fmt: skip


def test_tokens_lists_scopes_without_secrets(api, cli):
    api.json("GET", "/v1/tokens", TOKENS)

    result = cli("tokens")

    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "alice" in line).split()
    assert row[:4] == ["7", "user", "alice", "vision,nlp"]
    assert json.loads(cli("tokens", "-o", "json").stdout) == TOKENS


def test_create_a_user_token_for_queues_prints_it_once(api, cli):
    made = dict(TOKENS[1], token="gsu_secret")
    api.json("POST", "/v1/tokens", made, status=201)

    result = cli("tokens", "create", "alice", "-q", "vision", "-q", "nlp")

    assert result.exit_code == 0, result.output
    assert result.stdout == "gsu_secret\n"
    assert "shown only now" in result.stderr
    (seen,) = api.seen("POST", "/v1/tokens")
    assert seen.body == {"kind": "user", "name": "alice", "queues": ["vision", "nlp"]}


def test_create_needs_exactly_one_of_queue_or_admin(api, cli):
    assert cli("tokens", "create", "bob").exit_code == 2
    assert cli("tokens", "create", "bob", "--admin", "-q", "x").exit_code == 2
    api.json("POST", "/v1/tokens", dict(TOKENS[0], token="gsk_new"), status=201)
    assert cli("tokens", "create", "ops", "--admin").stdout == "gsk_new\n"
    assert api.seen("POST", "/v1/tokens")[0].body == {"kind": "admin", "name": "ops"}


def test_revoke(api, cli):
    api.on("DELETE", "/v1/tokens/7", api.Reply(204))
    api.json("DELETE", "/v1/tokens/99", {"detail": "no live token with id 99"}, status=404)

    assert cli("tokens", "revoke", "7").stdout == "token 7 revoked\n"
    missing = cli("tokens", "revoke", "99")
    assert missing.exit_code == 1
    assert "not found: no live token with id 99" in missing.stderr
