"""The OpenAPI document tells the truth (issue 12 item 12): every error the API answers is
declared, with one error shape, and what the schema calls valid is accepted."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from tests.api.conftest import Api

_ERROR = "#/components/schemas/ErrorPublic"


def _document(api: Api) -> dict[str, Any]:
    reply = api.client.get("/openapi.json")
    assert reply.status_code == 200
    return dict(reply.json())


def _validate(document: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """Validate `value` against `schema`, resolving $refs into the document's components (with
    the validator schemathesis uses: Python's jsonschema gets multipleOf 0.001 wrong)."""
    jsonschema_rs.validator_for({**schema, "components": document["components"]}).validate(value)


@pytest.mark.parametrize(
    ("method", "path", "codes"),
    [
        ("get", "/v1/jobs/{job_id}", {401, 403, 404, 422, 503}),
        ("delete", "/v1/jobs/{job_id}", {401, 403, 404, 409, 503}),
        ("post", "/v1/jobs", {401, 403, 404, 409, 413, 422, 503}),
        ("post", "/v1/queues", {401, 403, 404, 409, 413, 422, 503}),
        ("patch", "/v1/queues/{name}", {401, 403, 404, 409, 413, 422, 503}),
        ("delete", "/v1/queues/{name}", {401, 403, 404, 409, 503}),
        ("delete", "/v1/tokens/{token_id}", {401, 403, 404, 409, 422, 503}),
        ("post", "/v1/agents/join", {401, 409, 413, 422, 503}),
        ("post", "/v1/agents/{node}/heartbeat", {401, 403, 413, 422, 503}),
        ("post", "/v1/agents/{node}/logs/{job_id}/{replica}", {401, 403, 404, 409, 413, 422, 503}),
        ("get", "/v1/nodes", {401, 403, 503}),
    ],
)
def test_errors_are_documented_with_one_shape(
    api: Api, method: str, path: str, codes: set[int]
) -> None:
    responses = _document(api)["paths"][path][method]["responses"]
    missing = {code for code in codes if str(code) not in responses}
    assert not missing, f"{method.upper()} {path} does not document {sorted(missing)}"
    for code in codes - {422}:
        schema = responses[str(code)]["content"]["application/json"]["schema"]
        assert schema == {"$ref": _ERROR}, (code, schema)


def test_a_string_detail_422_matches_the_declared_schema(api: Api) -> None:
    document = _document(api)
    declared = document["paths"]["/v1/jobs"]["post"]["responses"]["422"]
    schema = declared["content"]["application/json"]["schema"]
    api.queue("vision")
    reply = api.client.post(
        "/v1/jobs", json={"queue": "vision", "gpus": 0.5, "command": []}, headers=api.admin
    )
    assert reply.status_code == 422 and isinstance(reply.json()["detail"], list)
    _validate(document, schema, reply.json())
    _validate(document, schema, {"detail": "the body describes node 'a' but the path says 'b'"})


def test_an_empty_program_is_refused_by_the_schema_too(api: Api) -> None:
    document = _document(api)
    create = document["components"]["schemas"]["JobCreate"]
    body = {"queue": "vision", "gpus": 0.5, "command": [""]}
    with pytest.raises(jsonschema_rs.ValidationError):
        _validate(document, create, body)
    _validate(document, create, {**body, "command": ["echo", ""]})  # an empty argument is fine
    api.queue("vision")
    assert api.client.post("/v1/jobs", json=body, headers=api.admin).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"queue": "vision", "gpus": 0.0001, "command": ["x"]},
        {"queue": "vision", "gpus": 1.5, "command": ["x"]},
        {"queue": "vision", "command": ["x"]},
        {"queue": "vision", "gpus": 1, "command": ["x"], "env": {"A=B": "v"}},
        {"queue": "vision", "gpus": 1, "command": ["x"], "replicas": True},
    ],
)
def test_the_schema_refuses_what_the_api_refuses(api: Api, body: dict[str, Any]) -> None:
    document = _document(api)
    with pytest.raises(jsonschema_rs.ValidationError):
        _validate(document, document["components"]["schemas"]["JobCreate"], body)


def test_a_missing_queue_is_404_not_a_422_the_schema_cannot_explain(api: Api) -> None:
    reply = api.client.post(
        "/v1/jobs", json={"queue": "nope", "gpus": 1, "command": ["x"]}, headers=api.admin
    )
    assert reply.status_code == 404 and "queue 'nope' does not exist" in reply.json()["detail"]


def test_every_bound_is_a_json_schema_keyword(api: Api) -> None:
    """pydantic writes a bare `ge`/`le` (no keyword: no bound) for some optional integers."""
    raw: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            raw.extend(f"{where}.{key}" for key in ("ge", "le", "gt", "lt") if key in node)
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for n, value in enumerate(node):
                walk(value, f"{where}[{n}]")

    walk(_document(api), "$")
    assert raw == []


def test_a_405_lists_every_method_of_the_path(api: Api) -> None:
    reply = api.client.put("/v1/queues/vision", headers=api.admin)
    assert reply.status_code == 405
    assert reply.headers["allow"] == "DELETE, GET, PATCH"
