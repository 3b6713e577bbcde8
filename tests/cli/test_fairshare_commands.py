"""`gpusched fairshare --what-if`: the same division as the scheduler, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from scheduler.cli import fairshare_commands
from scheduler.core.fairshare import divide_fair_share

# A private app with only this command, so the test does not depend on other commands' modules.
app = typer.Typer()


@app.callback()
def _root() -> None:
    """Keep `fairshare` a subcommand, as it is under `gpusched`."""


fairshare_commands.register(app)
runner = CliRunner()

CLUSTER: dict[str, Any] = {
    "capacity": {"gpus": 10.5, "cpu_millis": 64000},
    "queues": [
        {"name": "research", "parent": None, "deserved": {"gpus": 6}},
        {
            "name": "vision",
            "parent": "research",
            "deserved": {"gpus": 4},
            "demand": {"gpus": 4.25, "cpu_millis": 8000},
        },
        {"name": "nlp", "parent": "research", "deserved": {"gpus": 2}, "demand": {"gpus": 9}},
        {
            "name": "prod",
            "deserved": {"gpus": 3},
            "limit": {"gpus": 3.5},
            "demand": {"gpus": 5, "cpu_millis": 100000},
            "priority": 1,
        },
    ],
}


def run(tmp_path: Path, document: object, *extra: str) -> Any:
    path = tmp_path / "cluster.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return runner.invoke(app, ["fairshare", "--what-if", str(path), *extra])


def test_json_output_has_every_queue_with_exact_fractional_gpus(tmp_path: Path) -> None:
    result = run(tmp_path, CLUSTER, "--json")
    assert result.exit_code == 0, result.output
    shares = json.loads(result.output)["fair_share"]
    # prod (priority 1): deserved 3, then 0.5 more up to its limit 3.5; research the other 7;
    # inside research: vision 4 + nlp 2 deserved, 1 left: vision needs 0.25 → nlp 2.75.
    # CPUs: nobody deserves any; prod (priority 1) takes all 64000 it can before vision.
    assert shares == {
        "prod": {"gpus": 3.5, "cpu_millis": 64000, "memory_mib": 0},
        "research": {"gpus": 7.0, "cpu_millis": 0, "memory_mib": 0},
        "nlp": {"gpus": 2.75, "cpu_millis": 0, "memory_mib": 0},
        "vision": {"gpus": 4.25, "cpu_millis": 0, "memory_mib": 0},
    }


def test_table_output_names_the_queues(tmp_path: Path) -> None:
    result = run(tmp_path, CLUSTER)
    assert result.exit_code == 0, result.output
    for text in ("Fair share of 10.5 GPUs", "research", "vision", "2.75", "4.25"):
        assert text in result.output


def test_usage_lowers_a_heavy_users_over_quota_share(tmp_path: Path) -> None:
    # a used 3x what b used, equal weights → over-quota weights 1:2 → 4 and 8 of 12 GPUs
    document = {
        "capacity": {"gpus": 12},
        "queues": [
            {"name": "a", "demand": {"gpus": 12}, "usage": {"gpus": 300}},
            {"name": "b", "demand": {"gpus": 12}, "usage": {"gpus": 100}},
        ],
    }
    shares = json.loads(run(tmp_path, document, "--json").output)["fair_share"]
    assert (shares["a"]["gpus"], shares["b"]["gpus"]) == (4.0, 8.0)


def test_usage_may_be_fractional(tmp_path: Path) -> None:
    # usage is a decayed integral, so 0.0004 GPU-units are fine (rounded); only ratios matter
    document = {
        "capacity": {"gpus": 2},
        "queues": [{"name": "a", "demand": {"gpus": 2}, "usage": {"gpus": 0.0004}}],
    }
    result = run(tmp_path, document, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["fair_share"]["a"]["gpus"] == 2.0


def test_a_limit_only_limits_the_resources_it_names(tmp_path: Path) -> None:
    document = {
        "capacity": {"gpus": 8, "cpu_millis": 1000},
        "queues": [{"name": "a", "limit": {"gpus": 2}, "demand": {"gpus": 8, "cpu_millis": 500}}],
    }
    shares = json.loads(run(tmp_path, document, "--json").output)["fair_share"]
    assert shares["a"] == {"gpus": 2.0, "cpu_millis": 500, "memory_mib": 0}


def _with_queue(**fields: Any) -> dict[str, Any]:
    return {"capacity": {"gpus": 4}, "queues": [{"name": "a", **fields}]}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"queues": []}, "'capacity' is missing"),
        ({"capacity": {"gpus": 4}}, "'queues' must be a list"),
        ({"capacity": {"gpus": -1}, "queues": []}, "capacity.gpus must be a finite number >= 0"),
        ({"capacity": {"gpus": "8"}, "queues": []}, 'capacity.gpus must be a number, got "8"'),
        ({"capacity": {"gpu": 8}, "queues": []}, "capacity has unknown key 'gpu'"),
        ({"capacity": {"gpus": 0.0001}, "queues": []}, "capacity.gpus must be a multiple of 0.001"),
        (
            _with_queue(demand={"cpu_millis": 1.5}),
            "queue 'a'.demand.cpu_millis must be a whole number, got 1.5",
        ),
        (_with_queue(parent="ghost"), "queue 'a' has unknown parent 'ghost'"),
        (_with_queue(parent="a"), "queue 'a' is part of a parent cycle"),
        (_with_queue(deserved={"gpus": -2}), "queue 'a'.deserved.gpus must be a finite number"),
        (_with_queue(demand={"cpu_millis": True}), "queue 'a'.demand.cpu_millis must be a number"),
        (_with_queue(over_quota_weight="x"), "queue 'a'.over_quota_weight must be a number"),
        (_with_queue(priority=1.5), "queue 'a': priority must be a whole number"),
        (_with_queue(deserverd={"gpus": 1}), "queue 'a' has unknown field 'deserverd'"),
        (
            {"capacity": {"gpus": 4}, "queues": [{"name": "a"}, {"name": "a"}]},
            "queue 'a' is defined twice",
        ),
        (
            {
                "capacity": {"gpus": 4},
                "queues": [{"name": "p", "demand": {"gpus": 1}}, {"name": "c", "parent": "p"}],
            },
            "queue 'p'.demand: only leaf queues hold jobs",
        ),
        ({"capacity": {"gpus": 4}, "queues": [{"parent": None}]}, "queues[0].name"),
        ('{"capacity": {"gpus": NaN}, "queues": []}', "NaN is not a valid amount"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_code_2(
    tmp_path: Path, document: object, message: str
) -> None:
    result = run(tmp_path, document, "--json")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["fairshare", "--what-if", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_what_if_is_required() -> None:
    result = runner.invoke(app, ["fairshare"])
    assert result.exit_code == 2
    assert "--what-if" in result.output


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
AMOUNTS = st.dictionaries(
    st.sampled_from(["gpus", "cpu_millis", "memory_mib", "gpu"]),
    st.integers(-1, 64) | st.floats(-1, 64, allow_nan=False) | JSON_VALUES,
    max_size=3,
)
QUEUE_DOCS = st.fixed_dictionaries(
    {"name": st.sampled_from(["a", "b", "c", ""])},
    optional={
        "parent": st.sampled_from([None, "a", "b", "c", "zz"]),
        "deserved": AMOUNTS,
        "limit": st.none() | AMOUNTS,
        "over_quota_weight": st.floats(-1, 4, allow_nan=False) | JSON_VALUES,
        "priority": st.integers(-2, 2) | JSON_VALUES,
        "demand": AMOUNTS,
        "usage": AMOUNTS,
    },
)
DOCUMENTS = st.fixed_dictionaries(
    {}, optional={"capacity": AMOUNTS | JSON_VALUES, "queues": st.lists(QUEUE_DOCS, max_size=4)}
)


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS | JSON_VALUES)
def test_any_document_is_either_divided_or_refused_with_a_message(document: object) -> None:
    try:
        parsed = fairshare_commands.parse_what_if(json.dumps(document))
    except fairshare_commands.WhatIfError as error:
        assert str(error)
        return
    shares = divide_fair_share(
        queues=parsed.queues, demand=parsed.demand, capacity=parsed.capacity, usage=parsed.usage
    )
    assert set(shares) == {q.name for q in parsed.queues}
