"""Bad trace rows are rejected with file:line and what is wrong; good ones read as requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.sim.trace import TraceError, read_nodes, read_pods

POD_HEADER = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n"
NODE_HEADER = "sn,cpu_milli,memory_mib,gpu,model\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("p1,1000,1024,1,1200,", "trace.csv:2: gpu_milli is 1200; it must be at most 1000"),
        ("p1,-5,1024,0,0,", "trace.csv:2: cpu_milli is -5; it must be at least 0"),
        ("p1,abc,1024,0,0,", "trace.csv:2: cpu_milli is 'abc', not a number"),
        ("p1,1000,1024,1,500,Z9000", "trace.csv:2: gpu_spec names unknown GPU model 'Z9000'"),
        ("p1,1000,1024,2,500,", "trace.csv:2: a pod of 2 GPUs must take whole GPUs"),
        ("p1,1000,1024,0,300,", "trace.csv:2: gpu_milli is 300 but num_gpu is 0"),
        ("p1,1000,1024", "trace.csv:2: expected 6 fields"),
    ],
)
def test_bad_pod_rows_name_file_line_and_problem(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(TraceError, match=message.replace("(", r"\(")):
        read_pods(write(tmp_path, POD_HEADER + row + "\n"))


def test_missing_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"trace.csv:1: missing column.*gpu_milli"):
        read_pods(write(tmp_path, "name,cpu_milli,memory_mib,num_gpu\np,1,1,0\n"))


def test_unknown_node_model_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"trace.csv:3: unknown GPU model .X1."):
        read_nodes(write(tmp_path, NODE_HEADER + "n1,1000,1000,2,T4\nn2,1000,1000,2,X1\n"))


def test_duplicate_node_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="node 'n1' appears twice"):
        read_nodes(write(tmp_path, NODE_HEADER + "n1,1000,1000,2,T4\nn1,1000,1000,2,T4\n"))


def test_good_rows_become_requests(tmp_path: Path) -> None:
    pods = read_pods(write(tmp_path, POD_HEADER + "a,6000,12288,1,460,\nb,8000,1,4,1000,V100M32|T4\n"))
    assert pods[0].request.gpu_milli == 460 and pods[0].request.is_sharing
    # 4 whole GPUs → 4000 thousandths, allowed on either model
    assert pods[1].request.gpu_milli == 4000
    assert pods[1].request.gpu_models == frozenset({"V100M32", "T4"})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot read"):
        read_pods(tmp_path / "nope.csv")
