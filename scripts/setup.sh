#!/usr/bin/env bash
# Create .venv (Python 3.11) and install seje with every CPU extra, torch pinned by constraints.txt.
# Idempotent: reinstalls only when pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE="create .venv"
source scripts/fail-loudly.sh
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.seje-install-stamp
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)  # every reader reads to the end: no SIGPIPE
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  STAGE="pip install seje with every CPU extra"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[cpu,train,export,faiss,bench,corpus,ray,serve,dev]"
  echo "$want" > "$stamp"
fi
# A real browser for the search page's end-to-end test (Debian's chromium + chromedriver).
STAGE="chromium for the browser test"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
      || echo "setup: could not install chromium; the browser test will skip and say why"
  else
    echo "setup: chromium/chromedriver missing and not root; the browser test will skip and say why"
  fi
fi
