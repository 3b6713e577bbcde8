"""`--simulate-gpus`: the spec parser, simulated devices, the CLI's answer to bad input, Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from agent.simulated import SimulatedSource, parse_simulate_spec
from agent.stream import TelemetryStream
from scheduler.cli.main import _register_all, app
from tests.support.services import REDIS, require_redis


@pytest.mark.parametrize(
    ("text", "nodes", "gpus", "model", "memory_mib"),
    [
        ("2x8xA100-80GB", 2, 8, "A100-80GB", 81920),
        ("1x1xT4", 1, 1, "T4", 15360),  # known model: its real memory
        ("1x2xh100", 1, 2, "H100", 81559),  # case-insensitive, catalogue spelling
        ("3x4xRTX4090-24GB", 3, 4, "RTX4090-24GB", 24576),  # unknown model with memory
    ],
)
def test_good_specs(text: str, nodes: int, gpus: int, model: str, memory_mib: int) -> None:
    spec = parse_simulate_spec(text)
    assert (spec.nodes, spec.gpus_per_node, spec.model, spec.memory_mib) == (
        nodes, gpus, model, memory_mib)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8xA100", "expected NODESxGPUSxMODEL"),
        ("", "expected NODESxGPUSxMODEL"),
        ("0x1xT4", "NODES must be 1..1000"),
        ("1x0xT4", "GPUS must be 1..64"),
        ("1x1xWarpDrive", "unknown GPU model 'WarpDrive'"),
        ("1x1xG1", "memory of G1 is not published"),
    ],
)
def test_bad_specs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_simulate_spec(text)


def test_simulated_gpus_are_stable_and_follow_their_load() -> None:
    spec = parse_simulate_spec("1x2xL4")
    first = SimulatedSource(node_name="n-sim-0", spec=spec)
    assert first.inventory() == SimulatedSource(node_name="n-sim-0", spec=spec).inventory()
    assert first.inventory() != SimulatedSource(node_name="n-sim-1", spec=spec).inventory()
    _idle, busy = first.inventory()
    first.set_load({busy.uuid: 500})
    samples = first.sample()
    assert samples[0].utilization == 0 and samples[0].memory_used_mib == 0
    assert 40 <= (samples[1].utilization or 0) <= 55
    assert all(s.healthy for s in samples)


def test_cli_refuses_a_bad_spec_with_a_clear_message(tmp_path: Path) -> None:
    _register_all()
    result = CliRunner().invoke(app, ["agent", "--server", "http://127.0.0.1:9",
                                      "--simulate-gpus", "2x8", "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert "expected NODESxGPUSxMODEL" in result.output


def test_telemetry_goes_to_a_capped_redis_stream() -> None:
    require_redis(REDIS)
    client = redis.Redis.from_url(REDIS, socket_connect_timeout=1)
    key = f"gpusched-test:{uuid.uuid4().hex}:telemetry"
    stream = TelemetryStream(REDIS, stream=key, maxlen=5)
    try:
        for i in range(300):
            stream.publish("node-a", [{"index": 0, "utilization": float(i)}])
        # Trimmed approximately (MAXLEN ~ drops whole blocks of about 100 entries).
        assert 5 <= client.xlen(key) < 300
        last = client.xrevrange(key, count=1)[0][1]
        assert last[b"node"] == b"node-a" and b'"utilization": 299.0' in last[b"telemetry"]
    finally:
        client.delete(key)
        stream.close()


def test_redis_being_down_costs_only_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    stream = TelemetryStream("redis://127.0.0.1:1/0")
    stream.publish("node-a", [])
    stream.publish("node-a", [])
    assert caplog.text.count("telemetry to Redis failed") == 1
