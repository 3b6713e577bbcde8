#!/usr/bin/env bash
# Run the node agent against the real NVML for about a minute with two half-GPU replicas on GPU 0.
#   OUT=/some/dir benchmarks/real_gpu_check.sh      (the device machine sets OUT itself)
# Results in $OUT: summary.txt, inventory.json, telemetry.jsonl, attribution.json, replicas.json,
# nvidia-smi.txt, agent.log, the replicas' logs. Needs python3 and an NVIDIA driver; the agent's
# few dependencies come from ./.whl (a wheelhouse carried along) or the network; PyTorch is used
# when the machine has it, else each replica is a CUDA-less busy loop (summary.txt says so).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/real-gpu-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export OUT CHECK_SECONDS=${CHECK_SECONDS:-60}

{ nvidia-smi -L && nvidia-smi -q; } > "$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed" >&2

# System site packages stay visible so a preinstalled torch can be used by the replicas.
if ! "$PY" -c 'import pynvml, httpx, typer' 2>/dev/null; then
  "$PY" -m venv --system-site-packages .venv-gpu
  PY=$PWD/.venv-gpu/bin/python
  if [ -d .whl ]; then
    "$PY" -m pip install -q --no-index --find-links .whl nvidia-ml-py httpx typer
  else
    "$PY" -m pip install -q nvidia-ml-py httpx typer
  fi
fi
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' \
  > "$OUT/torch.txt" 2>&1 || echo "torch missing: replicas run CUDA-less busy loops" > "$OUT/torch.txt"
cat "$OUT/torch.txt"
# The project itself runs from the checkout: the agent needs only pynvml, httpx and typer.
PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} "$PY" benchmarks/real_gpu_check.py
