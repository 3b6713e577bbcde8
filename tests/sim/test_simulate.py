"""`gpusched simulate` follows the published protocol and prints the JSON contract of DESIGN.md."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from scheduler.cli.main import _register_all, app
from scheduler.cli.sim_commands import DATA
from scheduler.core.plugins.placement.typical import typical_shapes
from scheduler.sim.protocol import AllocCurve, build_workload, round_half_up
from scheduler.sim.trace import read_nodes, read_pods

_register_all()
runner = CliRunner()


def test_typical_shapes_of_the_default_trace() -> None:
    # The protocol's figure: 35 of the 91 (CPU, GPU milli, GPU count, spec) shapes cover 95%.
    pods = read_pods(DATA / "openb_pod_list_default.csv")
    shapes = typical_shapes(pod.request for pod in pods)
    assert len(shapes) == 35
    assert abs(sum(s.weight for s in shapes) - 1.0) < 1e-9


def test_inflation_stops_before_the_target() -> None:
    nodes = read_nodes(DATA / "openb_node_list_gpu_node.csv")
    pods = read_pods(DATA / "openb_pod_list_default.csv")
    workload = build_workload(nodes, pods, seed=42, arrive=1.3)
    total = sum(p.request.gpu_milli for p in workload.pods)
    cluster = 6212 * 1000
    assert workload.cluster_gpu_milli == cluster
    # clones are appended until the next would pass 1.3 × cluster (a multi-GPU clone may overshoot)
    assert 1.29 * cluster < total <= 1.3 * cluster + 7000
    assert len(workload.pods) > len(pods)
    # same seed, same order
    assert build_workload(nodes, pods, seed=42, arrive=1.3) == workload


def test_rounding_is_half_away_from_zero() -> None:
    assert round_half_up(2.5) == 3.0 and round_half_up(0.125, 2) == 0.13


def test_alloc_curve_buckets() -> None:
    curve = AllocCurve(1000)
    curve.record(arrived=1000, used=900)  # bucket 100, value 90.00
    curve.record(arrived=1004, used=910)  # round(100.4) = 100, value 91.00
    curve.record(arrived=1200, used=950)  # bucket 120
    assert curve.alloc_at(100) == 90.5
    assert curve.alloc_at(110) is None
    assert curve.alloc_at(121) == 95.0  # empty bucket takes r−1..r+1


def small_trace(tmp_path: Path) -> tuple[Path, Path]:
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("sn,cpu_milli,memory_mib,gpu,model\n"
                     + "".join(f"n{i},32000,131072,4,T4\n" for i in range(30)))
    pods = tmp_path / "pods.csv"
    rows = [f"p{i},2000,8192,1,{(100, 250, 500)[i % 3]}," for i in range(40)]
    pods.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n" + "\n".join(rows) + "\n")
    return nodes, pods


def test_simulate_json_contract(tmp_path: Path) -> None:
    nodes, pods = small_trace(tmp_path)
    result = runner.invoke(app, ["simulate", "--nodes", str(nodes), "--pods", str(pods),
                                 "--policy", "fgd", "--seeds", "1-3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["policy"] == "fgd" and data["seeds"] == [1, 2, 3]
    assert set(data["median_alloc_at"]) == {"100", "110", "120", "130"}
    run = data["runs"][0]
    assert set(run) == {"seed", "pods_tried", "pods_failed", "alloc_at", "seconds"}
    # 120 GPUs × 1.3 = 156 GPUs arrive, at most 0.5 GPU per event (<1 bucket); ≤ 120 fit
    assert 0 < run["alloc_at"]["130"] <= 100


def test_simulate_rejects_a_bad_trace_without_traceback(tmp_path: Path) -> None:
    nodes, pods = small_trace(tmp_path)
    pods.write_text(pods.read_text() + "bad,1000,1024,1,5000,\n")
    result = runner.invoke(app, ["simulate", "--nodes", str(nodes), "--pods", str(pods), "--json"])
    assert result.exit_code == 2
    assert "pods.csv:42: gpu_milli is 5000" in result.output
    assert "Traceback" not in result.output


def test_simulate_rejects_unknown_policy(tmp_path: Path) -> None:
    nodes, pods = small_trace(tmp_path)
    result = runner.invoke(app, ["simulate", "--nodes", str(nodes), "--pods", str(pods),
                                 "--policy", "magic"])
    assert result.exit_code == 2 and "unknown policy 'magic'" in result.output
