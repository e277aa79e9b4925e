#!/usr/bin/env bash
# The main job on the embedded default data: set up .venv, then
# synth -> features -> fit -> eval -> export -> index + search -> latency benchmark.
# Everything lands in runs/demo/ (override with SEJE_DEMO_DIR); stages that already ran with the
# same inputs are reused by the features stage, the rest is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${SEJE_DEMO_DIR:-runs/demo}
RECIPES=${SEJE_DEMO_RECIPES:-3500}
mkdir -p "$OUT"
start=$(date +%s)
stage() { printf '\n==== %s  (%ds elapsed)\n' "$1" "$(( $(date +%s) - start ))"; }

stage "1/7 synth: the embedded mini dataset in the Recipe1M layout"
seje-train synth "$OUT/data" --recipes "$RECIPES" --seed 0
stage "2/7 features: SEJE Phase 1 (word2vec, skip-instructions, tagger, rankers, categories)"
seje-train features --data "$OUT/data" --out "$OUT/features" --preset cpu
stage "3/7 fit: SEJE Phase 2 joint embedding"
seje-train fit --data "$OUT/data" --features "$OUT/features" --out "$OUT/run" --preset cpu
stage "4/7 eval: Recipe1M protocol (MedR, R@1/5/10, both directions, 1k bags), beside chance and the category-only oracle"
seje-train eval --run "$OUT/run"
stage "5/7 export: ONNX fp32 + fp16 (int8 too where the CPU has VNNI), verified against PyTorch"
INT8=$(python -c "from seje_sdk.backends.onnxruntime import cpu_has_vnni; print('--int8' if cpu_has_vnni() else '')")
[ -n "$INT8" ] || echo "this CPU has no AVX-512/AVX VNNI: int8 runs exact but no faster than fp32 here (README, int8), so it is skipped"
seje-export "$OUT/run" --out "$OUT/bundle" --fp16 $INT8
seje info "$OUT/bundle"
stage "6/7 retrieve: index every recipe, then search with a test photo"
seje index build "$OUT/bundle" --recipes "$OUT/data/layer1.json" --out "$OUT/index"
QUERY=$(find "$OUT/data/images/test" -type f | sort | head -n 1)
seje search "$OUT/bundle" --index "$OUT/index" --image "$QUERY" -k 5
python - "$OUT" "$QUERY" <<'PY'
import json, pathlib, sys
from seje_sdk import Retriever
out, query = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
owner = next(r["id"] for r in json.loads((out / "data/layer2.json").read_text()) if any(i["id"] == query.name for i in r["images"]))
title = next(r["title"] for r in json.loads((out / "data/layer1.json").read_text()) if r["id"] == owner)
r = Retriever.load(out / "bundle")
r.load_index(out / "index")
ranked = [i for i, _ in r.search(images=[str(query)], k=r.info()["index"]["recipe"])[0]]
print(f"query photo {query.name} was taken from recipe {owner} ({title!r}): "
      f"rank {ranked.index(owner) + 1} of {len(ranked)} recipes (the rank MedR measures)")
PY
stage "7/7 bench: encoder latency at batch 1 and 32, every backend interleaved, ratio vs PyTorch (torch.compile once, at 32)"
seje-bench latency "$OUT/bundle" --run "$OUT/run" --data "$OUT/data" --out "$OUT/bench" \
  --batch-sizes 1,32 --compile-batch-sizes 32 --iters 10 --warmup 2 --budget 60
stage "done: data, features, run, bundle, index and bench reports are in $OUT/"
