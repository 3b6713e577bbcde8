#!/usr/bin/env bash
# Run the node agent against the real NVML for about a minute with two half-GPU replicas on GPU 0.
#   OUT=/some/dir benchmarks/real_gpu_check.sh      (the device machine sets OUT itself)
# Results in $OUT: summary.txt, inventory.json, telemetry.jsonl, attribution.json, replicas.json,
# nvidia-smi.txt, agent.log, the replicas' logs. Needs python3 with pip and an NVIDIA driver; the
# project runs from this checkout. PyTorch is used when the machine has it, else each replica is
# a CUDA-less busy loop (summary.txt and torch.txt say so).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/real-gpu-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export OUT CHECK_SECONDS=${CHECK_SECONDS:-60}

{ nvidia-smi -L && nvidia-smi -q; } > "$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed" >&2

# The agent needs only pynvml and httpx; they go to a side directory so the system's own packages
# (a preinstalled torch) stay as they are. Offline machines use the wheelhouse ./.whl.
DEPS=$PWD/.gpu-deps
if ! "$PY" -c 'import pynvml, httpx' 2>/dev/null; then
  if [ -d .whl ]; then
    "$PY" -m pip install -q --target "$DEPS" --no-index --find-links .whl nvidia-ml-py httpx
  else
    "$PY" -m pip install -q --target "$DEPS" nvidia-ml-py httpx
  fi
fi
export PYTHONPATH=$PWD:$DEPS${PYTHONPATH:+:$PYTHONPATH}
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' \
  > "$OUT/torch.txt" 2>&1 || echo "torch missing: replicas run CUDA-less busy loops" > "$OUT/torch.txt"
cat "$OUT/torch.txt"
"$PY" benchmarks/real_gpu_check.py
