"""Read node and pod lists in the format of Alibaba's cluster-trace-gpu-v2023, checking every row."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from scheduler.core.gpu_catalog import GPU_MEMORY_MIB, is_known_model
from scheduler.core.model import GPU, MILLI_PER_GPU, Node, ReplicaRequest

MAX_PODS_PER_NODE = 1001  # the published protocol's pod limit per node


class TraceError(ValueError):
    """A trace file that cannot be used; the message names file:line and what is wrong."""


@dataclass(frozen=True, slots=True)
class TracePod:
    name: str
    request: ReplicaRequest

    @property
    def gpu_milli_total(self) -> int:
        return self.request.gpu_milli


def _canonical_model(model: str) -> str:
    for known in GPU_MEMORY_MIB:
        if known.upper() == model.upper():
            return known
    return model


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [column for column in required if column not in header]
            if missing:
                raise TraceError(f"{path}:1: missing column(s) {', '.join(missing)} "
                                 f"(found: {', '.join(header) or 'nothing'})")
            rows = []
            for row in reader:
                if None in row or any(row.get(column) is None for column in required):
                    raise TraceError(f"{path}:{reader.line_num}: expected {len(header)} fields")
                rows.append((reader.line_num, row))
            return rows
    except OSError as error:
        raise TraceError(f"{path}: cannot read: {error.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as error:
        raise TraceError(f"{path}: not a CSV file: {error}") from None


def _int(path: Path, line: int, row: dict[str, str], column: str, *, low: int = 0,
         high: int | None = None) -> int:
    text = row[column].strip()
    try:
        value = int(text)
    except ValueError:
        try:
            as_float = float(text)
        except ValueError:
            raise TraceError(f"{path}:{line}: {column} is {text!r}, not a number") from None
        if not as_float.is_integer():
            raise TraceError(f"{path}:{line}: {column} is {text!r}, not a whole number") from None
        value = int(as_float)
    if value < low:
        raise TraceError(f"{path}:{line}: {column} is {value}; it must be at least {low}")
    if high is not None and value > high:
        raise TraceError(f"{path}:{line}: {column} is {value}; it must be at most {high}")
    return value


def read_nodes(path: Path) -> list[Node]:
    """Nodes of a node list (sn, cpu_milli, memory_mib, gpu, model)."""
    nodes: list[Node] = []
    seen: set[str] = set()
    for line, row in _rows(path, ("sn", "cpu_milli", "memory_mib", "gpu", "model")):
        name = row["sn"].strip()
        if not name:
            raise TraceError(f"{path}:{line}: sn (node name) is empty")
        if name in seen:
            raise TraceError(f"{path}:{line}: node {name!r} appears twice")
        seen.add(name)
        gpus = _int(path, line, row, "gpu", high=64)
        model = row["model"].strip()
        if gpus and not is_known_model(model):
            raise TraceError(f"{path}:{line}: unknown GPU model {model!r}; known: "
                             f"{', '.join(sorted(GPU_MEMORY_MIB))}")
        model = _canonical_model(model)
        memory = GPU_MEMORY_MIB.get(model, 0)
        nodes.append(Node(
            name=name,
            cpu_millis=_int(path, line, row, "cpu_milli", low=1),
            memory_mib=_int(path, line, row, "memory_mib", low=1),
            gpus=tuple(GPU(index, model, memory, uuid=f"{name}-gpu{index}") for index in range(gpus)),
            max_pods=MAX_PODS_PER_NODE,
        ))
    if not nodes:
        raise TraceError(f"{path}: no nodes")
    return nodes


def read_pods(path: Path) -> list[TracePod]:
    """Pods of a pod list (name, cpu_milli, memory_mib, num_gpu, gpu_milli[, gpu_spec, ...])."""
    pods: list[TracePod] = []
    for line, row in _rows(path, ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")):
        name = row["name"].strip()
        if not name:
            raise TraceError(f"{path}:{line}: name is empty")
        cpu = _int(path, line, row, "cpu_milli")
        memory = _int(path, line, row, "memory_mib")
        count = _int(path, line, row, "num_gpu", high=64)
        milli = _int(path, line, row, "gpu_milli", high=MILLI_PER_GPU)
        spec = (row.get("gpu_spec") or "").strip()
        models = frozenset(_canonical_model(m.strip()) for m in spec.split("|") if m.strip())
        for model in models:
            if not is_known_model(model):
                raise TraceError(f"{path}:{line}: gpu_spec names unknown GPU model {model!r}")
        if count == 0 and milli:
            raise TraceError(f"{path}:{line}: gpu_milli is {milli} but num_gpu is 0")
        if count and not milli:
            raise TraceError(f"{path}:{line}: num_gpu is {count} but gpu_milli is 0")
        if count > 1 and milli != MILLI_PER_GPU:
            raise TraceError(f"{path}:{line}: a pod of {count} GPUs must take whole GPUs "
                             f"(gpu_milli 1000), not {milli}")
        gpu_milli = milli if count == 1 else count * MILLI_PER_GPU
        request = ReplicaRequest(cpu, memory, gpu_milli, gpu_models=models)
        pods.append(TracePod(name, request))
    if not pods:
        raise TraceError(f"{path}: no pods")
    return pods
