"""Every seje command line reports an error the same way: `Error: <one line>` on stderr, the same exit code.

The same bad input (a folder that is not what the command wants) walks through seje, seje-train,
seje-export and seje-bench, run as real processes through their console-script entry points.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from export.parity import ParityError
from seje_sdk.cli_errors import SejeCommand, SejeGroup
from seje_sdk.errors import BackendError, InputError

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = {"seje": "seje_sdk.cli", "seje-train": "trainer.cli", "seje-export": "export.cli", "seje-bench": "benchmarks.cli"}


def run_cli(name: str, *args: str) -> subprocess.CompletedProcess:
    code = f"import sys; from {ENTRY_POINTS[name]} import main; sys.argv[0] = {name!r}; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("name, args, says", [
    ("seje", ["info", "{empty}"], "manifest.json is missing"),
    ("seje-train", ["data-stats", "{empty}"], "layer1.json: missing"),
    ("seje-export", ["{empty}", "--out", "{tmp}/bundle"], "no config.json"),
    ("seje-bench", ["latency", "{empty}", "--out", "{tmp}/bench"], "manifest.json is missing"),
])
def test_bad_input_reads_the_same_in_every_command_line(tmp_path, name, args, says):
    (tmp_path / "empty").mkdir()
    args = [a.format(empty=tmp_path / "empty", tmp=tmp_path) for a in args]
    proc = run_cli(name, *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not any(p.exists() for p in (tmp_path / "bundle", tmp_path / "bench"))


def _toy(cls: type, error: Exception) -> click.BaseCommand:
    def body() -> None:
        raise error

    if cls is SejeCommand:
        return click.command(cls=SejeCommand)(body)
    group = click.group(cls=SejeGroup)(lambda: None)
    group.command("go")(body)
    return group


@pytest.mark.parametrize("cls", [SejeGroup, SejeCommand])
@pytest.mark.parametrize("error, code, message", [
    (InputError("recipes.json: not valid JSON"), 2, "Error: recipes.json: not valid JSON"),
    (BackendError("no GPU: no NVIDIA driver found"), 2, "Error: no GPU: no NVIDIA driver found"),
    (ParityError("image fp16: cosine 0.91 < 0.999"), 1, "Error: image fp16: cosine 0.91 < 0.999"),
    (KeyError("oops"), 1, "Error: internal error: KeyError: 'oops' (please report it with the command you ran)"),
])
def test_errors_map_to_one_line_and_their_exit_code(cls, error, code, message):
    result = CliRunner().invoke(_toy(cls, error), [] if cls is SejeCommand else ["go"])
    assert result.exit_code == code and result.output.strip() == message


def test_usage_errors_keep_clicks_exit_code_2():
    result = CliRunner().invoke(_toy(SejeGroup, InputError("x")), ["nosuch"])
    assert result.exit_code == 2 and "No such command 'nosuch'" in result.output
