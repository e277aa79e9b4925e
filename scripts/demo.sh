#!/usr/bin/env bash
# The main job on the embedded default data: set up .venv, then
# synth -> features -> fit -> eval -> export -> index + search -> latency benchmark -> summary.
# Everything lands in runs/demo/ (override with SEJE_DEMO_DIR); stages that already ran with the
# same inputs are reused by the features stage, the rest is rebuilt. Any failure names its stage,
# the command and its exit status. Torch/ONNX Runtime threads: OMP_NUM_THREADS if you set it (set it
# to 1 on a machine that other work keeps busy), else every CPU; never chosen from the load, so that
# the same machine always trains the same model.
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE="setup: .venv"
source scripts/fail-loudly.sh
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${SEJE_DEMO_DIR:-runs/demo}
RECIPES=${SEJE_DEMO_RECIPES:-3500}
CPUS=$(nproc)
USER_THREADS=${OMP_NUM_THREADS:-}
mkdir -p "$OUT"
start=$(date +%s)
stage() {
  STAGE=$1
  local load threads
  read -r load _ < /proc/loadavg
  threads=${USER_THREADS:-$CPUS}
  export OMP_NUM_THREADS=$threads
  printf '\n==== %s  (%ds elapsed; load %s on %s CPUs, %s thread(s))\n' "$1" "$(( $(date +%s) - start ))" "$load" "$CPUS" "$threads"
}

stage "1/8 synth: the embedded mini dataset in the Recipe1M layout"
seje-train synth "$OUT/data" --recipes "$RECIPES" --seed 0
stage "2/8 features: SEJE Phase 1 (word2vec, skip-instructions, tagger, rankers, categories)"
seje-train features --data "$OUT/data" --out "$OUT/features" --preset cpu
stage "3/8 fit: SEJE Phase 2 joint embedding"
seje-train fit --data "$OUT/data" --features "$OUT/features" --out "$OUT/run" --preset cpu
stage "4/8 eval: Recipe1M protocol (MedR, R@1/5/10, both directions, 1k bags), beside chance and the category-only oracle"
seje-train eval --run "$OUT/run"
stage "5/8 export: ONNX fp32 + fp16 (int8 too where the CPU has VNNI), verified against PyTorch"
INT8=$(python -c "from seje_sdk.backends.onnxruntime import cpu_has_vnni; print('--int8' if cpu_has_vnni() else '')")
[ -n "$INT8" ] || echo "this CPU has no AVX-512/AVX VNNI: int8 runs exact but no faster than fp32 here, so it is skipped"
seje-export "$OUT/run" --out "$OUT/bundle" --fp16 $INT8
seje info "$OUT/bundle"
stage "6/8 retrieve: index every recipe and the test photos, then search with a test photo and with typed words"
seje index build "$OUT/bundle" --recipes "$OUT/data/layer1.json" --images "$OUT/data/images/test" --out "$OUT/index"
# The first test photo by path, from a sorted glob: no pipe (find | sort | head killed sort with
# SIGPIPE under pipefail once the list outgrew a pipe buffer).
shopt -s globstar nullglob
PHOTOS=("$OUT"/data/images/test/**/*.jpg)
shopt -u globstar nullglob
[ "${#PHOTOS[@]}" -gt 0 ] || die "no test photos (*.jpg) under $OUT/data/images/test"
QUERY=${PHOTOS[0]}
seje search "$OUT/bundle" --index "$OUT/index" --image "$QUERY" -k 5
echo 'Typed words: seje search ... --text "chicken curry" -k 5 (photos, titled by their recipe)'
seje search "$OUT/bundle" --index "$OUT/index" --text "chicken curry" -k 5
stage "7/8 bench: encoder latency at batch 1 and 32, every backend interleaved, ratio vs PyTorch (torch.compile once, at 32)"
seje-bench latency "$OUT/bundle" --run "$OUT/run" --data "$OUT/data" --out "$OUT/bench" \
  --batch-sizes 1,32 --compile-batch-sizes 32 --iters 10 --warmup 2 --budget 60
stage "8/8 summary"
python -m benchmarks.demo_summary "$OUT" --query "$QUERY"
printf '\n==== done in %ds\n' "$(( $(date +%s) - start ))"
