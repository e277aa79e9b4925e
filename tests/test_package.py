"""Installed package: every console script exists and prints real help."""
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "script, expect",
    [
        ("seje", ["embed", "search", "info"]),
        ("seje-train", ["synth", "features", "fit", "eval"]),
        ("seje-export", ["--fp16", "--int8", "--engine"]),
        ("seje-bench", ["latency", "retrieval"]),
    ],
)
def test_console_scripts_print_help(script, expect):
    out = subprocess.run([str(BIN / script), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for word in expect:
        assert word in out.stdout, f"{script} --help does not mention {word}"
