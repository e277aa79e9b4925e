#!/usr/bin/env bash
# Set up .venv and run the whole test suite (GPU tests skip visibly without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest tests "$@"
