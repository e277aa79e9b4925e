#!/usr/bin/env bash
# The main job on the embedded default data: set up .venv, then synth -> features -> train ->
# evaluate -> export -> retrieve -> benchmark. Outputs go to runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
OUT=${SEJE_DEMO_DIR:-runs/demo}
mkdir -p "$OUT"
seje-train synth "$OUT/data" --recipes "${SEJE_DEMO_RECIPES:-2000}" --seed 0
