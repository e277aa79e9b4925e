"""The shell scripts fail loudly (stage, command, exit status) and hold no pipe that can die of SIGPIPE."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(ROOT.glob("scripts/*.sh")) + [ROOT / ".ci" / "run"]


def _run(body: str, tmp_path: Path) -> subprocess.CompletedProcess:
    script = tmp_path / "job.sh"
    script.write_text(f"set -euo pipefail\nsource {ROOT / 'scripts/fail-loudly.sh'}\n{body}\n")
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60)


def test_a_failing_command_names_the_stage_the_command_and_the_status(tmp_path):
    res = _run('STAGE="4/8 eval"\necho before\npython3 -c "import sys; sys.exit(3)"\necho after', tmp_path)
    assert res.returncode == 3 and res.stdout == "before\n"
    assert 'FAILED in stage "4/8 eval"' in res.stderr
    assert 'command: python3 -c "import sys; sys.exit(3)"' in res.stderr and "exit status: 3" in res.stderr


def test_the_old_query_pipeline_now_fails_with_its_signal_named(tmp_path):
    # What killed the demo silently: a reader that stops early, more input than a pipe buffer holds.
    res = _run('STAGE="6/8 retrieve"\nQUERY=$(seq 1 200000 | sort | head -n 1)\necho "never $QUERY"', tmp_path)
    assert res.returncode == 141 and "never" not in res.stdout
    assert 'FAILED in stage "6/8 retrieve"' in res.stderr and "exit status: 141 (killed by SIGPIPE)" in res.stderr


def test_die_reports_our_own_failure_the_same_way(tmp_path):
    res = _run('STAGE="6/8 retrieve"\ndie "no test photos under runs/demo/data/images/test"', tmp_path)
    assert res.returncode == 1 and 'FAILED in stage "6/8 retrieve"' in res.stderr and "no test photos" in res.stderr


def test_every_script_fails_loudly_and_pipes_into_no_early_exit_reader():
    early_exit = re.compile(r"\|\s*(head|grep\s+-[a-zA-Z]*[qm]|sed\s+-n\s+['\"]?\d+q|awk\s+.*\bexit\b)")
    for script in SCRIPTS:
        text = script.read_text(encoding="utf-8")
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert not early_exit.search(code), f"{script.name}: a pipe into a reader that exits early (SIGPIPE under pipefail)"
        if script.name not in ("fail-loudly.sh", "gpu-check.sh"):  # gpu-check.sh reports each step itself
            assert re.search(r"source \S*scripts/fail-loudly\.sh", code) and "set -euo pipefail" in code, script.name
