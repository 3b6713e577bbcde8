"""What a user sees when the server is down, the token is wrong, or the request is refused."""

from __future__ import annotations

import os

import httpx

REJECTED = "missing, invalid, expired or revoked bearer token"


def test_server_down_says_so_and_exits_1(cli, dead_url):
    result = cli("jobs", GPUSCHED_URL=dead_url)

    assert result.exit_code == 1
    assert f"cannot reach gpusched at {dead_url}: is `gpusched up` running?" in result.stderr
    assert "Traceback" not in result.output


def test_server_down_on_submit_does_not_retry_forever(cli, dead_url):
    result = cli("submit", "-q", "v", "--gpus", "1", "--", "true", GPUSCHED_URL=dead_url)

    assert result.exit_code == 1
    assert "cannot reach gpusched" in result.stderr


def test_rejected_token_explains_where_it_came_from_and_what_to_do(api, cli):
    result = cli("jobs", GPUSCHED_TOKEN="gsk_wrong_secret")

    assert result.exit_code == 1
    assert f"the token was rejected ({REJECTED}" in result.stderr
    assert "it came from GPUSCHED_TOKEN)" in " ".join(result.stderr.split())
    assert "set GPUSCHED_TOKEN or pass --token" in result.stderr
    assert "gsk_wrong_secret" not in result.output  # never echo a secret
    assert "Traceback" not in result.output


def test_without_any_token_nothing_is_sent_and_the_message_says_where_to_get_one(api, cli, tmp_path):
    result = cli("queues", GPUSCHED_TOKEN=None, GPUSCHED_HOME=str(tmp_path / "empty"))

    assert result.exit_code == 1
    (seen,) = api.seen("GET", "/v1/queues")
    assert "authorization" not in seen.headers
    assert "no token to send" in result.stderr
    assert str(tmp_path / "empty" / "admin-token") in " ".join(result.stderr.split())


def test_token_comes_from_the_admin_token_file_by_default(api, cli, tmp_path):
    home = tmp_path / "gh"
    home.mkdir()
    (home / "admin-token").write_text(api.admin_token + "\n")
    os.chmod(home / "admin-token", 0o600)
    api.queue("vision")

    result = cli("queues", GPUSCHED_TOKEN=None, GPUSCHED_HOME=str(home))

    assert result.exit_code == 0, result.output
    assert "vision" in result.stdout
    assert api.seen("GET", "/v1/queues")[0].headers["authorization"] == f"Bearer {api.admin_token}"


def test_options_override_the_environment(api, cli, dead_url):
    user = api.token("user", queues=["vision"])

    result = cli("jobs", "--url", api.url, "--token", user, GPUSCHED_URL=dead_url)

    assert result.exit_code == 0, result.output
    assert api.seen("GET", "/v1/jobs")[0].headers["authorization"] == f"Bearer {user}"


def test_url_without_scheme_is_taken_as_http(api, cli):
    result = cli("nodes", GPUSCHED_URL=api.url.removeprefix("http://") + "/")

    assert result.exit_code == 0, result.output
    assert len(api.seen("GET", "/v1/nodes")) == 1


def test_forbidden_names_the_scope_problem(api, cli):
    user = api.token("user", queues=["vision"])

    result = cli("queues", "create", "x", "--deserved-gpus", "1", GPUSCHED_TOKEN=user)

    assert result.exit_code == 1
    assert "not allowed: this token may not do this (admin only)" in result.stderr
    assert "POST /v1/queues is outside this token's scope" in " ".join(result.stderr.split())


def test_not_found(api, cli):
    result = cli("job", "nope")

    assert result.exit_code == 1
    assert "not found: no job with id 'nope'" in result.stderr


def test_a_server_error_from_a_proxy_is_reported_not_raised(api, cli):
    api.transport.interpose[("GET", "/v1/jobs/x")] = lambda: httpx.Response(
        500, text="Internal Server Error"
    )

    result = cli("job", "x")

    assert result.exit_code == 1
    assert "server error (500) on GET /v1/jobs/x: Internal Server Error" in result.stderr
    assert "Traceback" not in result.output


def test_conflict_shows_the_detail(api, cli):
    api.queue("busy")
    api.submit("busy")

    result = cli("queues", "delete", "busy")

    assert result.exit_code == 1
    assert "queue 'busy' holds 1 jobs; it keeps their history (409)" in result.stderr


def test_a_reply_that_is_not_json_is_reported(api, cli):
    api.transport.interpose[("GET", "/v1/jobs/x")] = lambda: httpx.Response(
        200, text="<html>proxy</html>"
    )

    result = cli("job", "x")

    assert result.exit_code == 1
    assert "not JSON" in result.stderr
