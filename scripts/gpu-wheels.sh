#!/usr/bin/env bash
# Download the cp312 manylinux wheels that scripts/gpu-check.sh needs and the GPU test machine lacks
# (gensim, ijson, click, psutil and their missing dependencies; see scripts/gpu_wheels.py), each
# once, under 60 MiB in all, and print the list with sizes. Run on a CPU machine with network:
#
#   scripts/gpu-wheels.sh DIR        then carry DIR with the checkout; gpu-check.sh installs from it
#
# DIR must be new, empty, or a previous output of this script (its wheels.txt marks it).
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: scripts/gpu-wheels.sh DIR" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STAGE="download GPU wheels"
source "$ROOT/scripts/fail-loudly.sh"
exec "${PYTHON:-python3}" "$ROOT/scripts/gpu_wheels.py" "$1"
