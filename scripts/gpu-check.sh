#!/usr/bin/env bash
# Prove seje's GPU path on a machine with an NVIDIA GPU and no network, in under 8 minutes:
#   synth a tiny dataset -> features -> fit on the GPU -> export (fp32 + fp16 ONNX, TensorRT engines
#   where TensorRT works) -> every GPU-marked test this machine can run -> seje-bench latency
#   (PyTorch CUDA eager/torch.compile in fp32/fp16/bf16, ONNX Runtime CUDA, TensorRT; what is
#   missing is listed as skipped with the reason).
# Runs with the Python that has torch ($PYTHON, default python3) and puts this checkout first on
# PYTHONPATH. Packages that Python lacks (gensim, ijson, ...) come as wheels in $GPU_WHEELS (default
# ./gpu-wheels, made on a CPU machine by scripts/gpu-wheels.sh DIR and carried with the checkout):
# when that folder exists they are installed into a temporary folder, never into the Python. Writes at most 8 files into OUT_DIR: gpu-check.log (every step's
# output), gpu-check.json + gpu-check.md (machine, steps, tests, backends), latency.json,
# latency.md and the latency plots. Exit 0 when every step passed; without a GPU it exits 3 with
# one line saying what is missing.
#
# Usage: scripts/gpu-check.sh OUT_DIR        (PYTHON=/path/to/python scripts/gpu-check.sh OUT_DIR)
set -uo pipefail
if [ $# -ne 1 ]; then
  echo "usage: scripts/gpu-check.sh OUT_DIR" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_NO_INDEX=1
DEADLINE=$((SECONDS + 450))  # 7.5 minutes for all steps; the summary takes seconds

# 1. Is there a GPU that PyTorch can use? One clear line and a non-zero exit when not.
if ! reason=$("$PY" - <<'EOF'
import sys
try:
    import torch
except ImportError:
    print(f"no PyTorch in {sys.executable}: run with PYTHON=/path/to/the/python/that/has/torch"); sys.exit(1)
if not torch.cuda.is_available():
    from seje_sdk.backends.gpu import driver_cuda_version
    why = ("no NVIDIA driver (libcuda.so.1 cannot be loaded)" if driver_cuda_version() is None
           else f"torch {torch.__version__} (CUDA build {torch.version.cuda}) sees no CUDA device")
    print(f"no NVIDIA GPU usable: {why}"); sys.exit(1)
print(torch.cuda.get_device_name(0))
EOF
); then
  echo "gpu-check: $reason" >&2
  exit 3
fi
mkdir -p "$1" && OUT=$(cd "$1" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/seje-gpu-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
LOG=$OUT/gpu-check.log
: > "$LOG"
echo "gpu-check: $reason; working in $WORK, writing $OUT"

# Run one step with a time limit (its budget, or what is left of the 7.5 minutes); log and time it.
step() {
  local name=$1 budget=$2; shift 2
  local left=$((DEADLINE - SECONDS)); [ "$left" -lt "$budget" ] && budget=$left
  local start=$SECONDS rc
  if [ "$budget" -le 0 ]; then
    rc=124
  else
    echo "=== $name: $* (limit ${budget}s)" >> "$LOG"
    timeout --kill-after=10 "$budget" "$@" >> "$LOG" 2>&1; rc=$?
  fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" "$budget" >> "$WORK/steps.tsv"
  printf 'gpu-check: %-8s %s (%ss)\n' "$name" "$([ "$rc" = 0 ] && echo ok || echo "FAILED rc=$rc")" "$((SECONDS - start))"
  return "$rc"
}

# 2. The wheels this Python lacks, into a temporary folder on PYTHONPATH (pip without an index, or
#    unpacked as zip files when this Python has no pip).
WHEELS=${GPU_WHEELS:-$ROOT/gpu-wheels}
if compgen -G "$WHEELS/*.whl" > /dev/null; then
  if "$PY" -m pip --version > /dev/null 2>&1; then
    step wheels 60 "$PY" -m pip install --quiet --no-index --no-deps --target "$WORK/site" "$WHEELS"/*.whl
  else
    step wheels 60 "$PY" -c "import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in sys.argv[2:]]" \
      "$WORK/site" "$WHEELS"/*.whl
  fi
  export PYTHONPATH="$PYTHONPATH:$WORK/site"
fi

D=$WORK/data F=$WORK/features R=$WORK/run B=$WORK/bundle
step synth 30 "$PY" -m trainer.cli synth "$D" --recipes 160 --seed 7 --image-size 64 \
  && step features 120 "$PY" -m trainer.cli features --data "$D" --out "$F" --preset tiny \
  && step fit 90 "$PY" -m trainer.cli fit --data "$D" --features "$F" --out "$R" --preset tiny \
  && step export 90 "$PY" -m export.cli "$R" --out "$B" --fp16 --engine auto --max-batch 64
# Only the files holding GPU tests: collecting every test module would import packages (fastapi,
# httpx, faiss, ...) that the GPU machine lacks and gpu-check does not need.
mapfile -t GPU_TESTS < <(grep -l "mark.gpu(" "$ROOT"/tests/test_*.py)
step tests 120 "$PY" -m pytest "${GPU_TESTS[@]}" -m gpu -q -rA -p no:cacheprovider
if [ -f "$B/manifest.json" ]; then
  # benchmarks.cli has no __main__ block: call its click group (the seje-bench entry point) directly.
  step bench 300 "$PY" -c "from benchmarks.cli import main; main()" latency "$B" --run "$R" --out "$WORK/bench" \
    --batch-sizes 1,8,32 --warmup 3 --iters 10 --budget 10 --no-e2e
  cp "$WORK"/bench/latency.json "$WORK"/bench/latency.md "$WORK"/bench/*.png "$OUT"/ 2>/dev/null
fi

# Summary: gpu-check.json and gpu-check.md from the steps, the pytest log and the latency report.
"$PY" - "$OUT" "$WORK/steps.tsv" "$B" <<'EOF'
import json, re, sys
from pathlib import Path

out, steps_file, bundle = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
steps = [dict(zip(("step", "rc", "seconds", "limit_s"), line.split("\t"))) for line in steps_file.read_text().splitlines()]
log = (out / "gpu-check.log").read_text(errors="replace")
from benchmarks.environment import capture_environment, environment_summary
env = capture_environment()
tests = re.findall(r"^(?:PASSED|FAILED|ERROR|SKIPPED).*$", log, flags=re.M)
manifest = json.loads((bundle / "manifest.json").read_text()) if (bundle / "manifest.json").is_file() else {}
latency = json.loads((out / "latency.json").read_text()) if (out / "latency.json").is_file() else {}
backends = {}
for row in latency.get("rows", []):
    key = f"{row['backend']}/{row['precision']}"
    if row["status"] == "ok":
        backends[key] = "measured"
    else:
        backends.setdefault(key, f"{row['status']}: {row.get('reason') or row.get('error') or ''}")
summary = {"ok": all(s["rc"] == "0" for s in steps), "environment": env, "steps": steps, "tests": tests,
           "tensorrt_engines": manifest.get("variants", {}).get("tensorrt"), "backends": backends}
(out / "gpu-check.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
md = ["# seje gpu-check", "", environment_summary(env), "", "| step | result | seconds (limit) |", "|---|---|---|"]
md += [f"| {s['step']} | {'ok' if s['rc'] == '0' else 'FAILED rc=' + s['rc']} | {s['seconds']} ({s['limit_s']}) |" for s in steps]
md += ["", "## GPU tests", ""] + [f"- {t}" for t in tests] + ["", "## Backends in seje-bench latency", ""]
md += [f"- {k}: {v}" for k, v in sorted(backends.items())] + ["", "Timings: latency.md; every step's output: gpu-check.log."]
(out / "gpu-check.md").write_text("\n".join(md) + "\n")
print(f"gpu-check: {'all steps passed' if summary['ok'] else 'some steps FAILED'}; report in {out}/gpu-check.md")
sys.exit(0 if summary["ok"] else 1)
EOF
