#!/usr/bin/env bash
# Set up .venv and run the whole test suite (GPU tests skip visibly without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE="setup: .venv"
source scripts/fail-loudly.sh
bash scripts/setup.sh
STAGE="tests"
# pytest's own summary says what failed; exit 5 (no test collected) fails here too.
exec .venv/bin/python -m pytest tests "$@"
