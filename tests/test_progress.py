"""Progress output suits where it goes: a redrawn bar on a terminal, whole lines every few seconds in a log."""
from __future__ import annotations

import io
import re
import time
from pathlib import Path

from tqdm import tqdm

from seje_sdk.progress import LogProgress, progress_bar

ROOT = Path(__file__).resolve().parents[1]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_whole_lines_at_the_interval_and_one_final_line():
    log = io.StringIO()
    bar = progress_bar(range(40), desc="tagger 1/3", file=log, interval=0.2)
    assert isinstance(bar, LogProgress)
    for i in bar:
        bar.set_postfix(loss=1.0 / (i + 1))  # a forced refresh per step, as the training loops do
        if i == 20:
            tqdm.write("epoch note", file=log)
        time.sleep(0.025)
    text = log.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    bars = [line for line in lines if line.startswith("tagger 1/3")]
    # about 1 s of work at 0.2 s intervals: a handful of lines, not one per step (40 refreshes were asked for)
    assert 2 <= len(bars) <= 8, lines
    assert bars[-1].startswith("tagger 1/3: 100%") and "40/40" in bars[-1] and "loss=0.025" in bars[-1]
    assert "epoch note" in lines


def test_a_loop_that_stops_early_ends_on_one_line_not_a_repeat():
    log = io.StringIO()
    bar = progress_bar(total=10, desc="timing", file=log, interval=0.1)
    for _ in range(4):
        time.sleep(0.12)
        bar.update(1)
    time.sleep(0.12)
    bar.close()  # a time budget ran out at 4 of 10: the last line logged already says so
    lines = log.getvalue().splitlines()
    assert lines[-1].startswith("timing:  40%") and len(lines) == len(set(lines))


def test_a_quick_loop_logs_its_start_and_its_end_and_disable_is_silent():
    log = io.StringIO()
    assert sum(progress_bar(range(5), desc="fast", file=log)) == 10
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("fast:  20%|") and lines[1].startswith("fast: 100%|")
    quiet = io.StringIO()
    with progress_bar(total=3, desc="off", file=quiet, disable=True) as bar:
        bar.update(3)
    assert quiet.getvalue() == ""


def test_a_terminal_gets_tqdms_redrawn_bar():
    term = Terminal()
    bar = progress_bar(range(3), desc="embed", file=term, mininterval=0)
    assert type(bar) is tqdm
    list(bar)
    assert "\r" in term.getvalue()


def test_every_progress_bar_in_the_packages_goes_through_the_helper():
    direct = []
    for package in ("seje_sdk", "trainer", "export", "benchmarks"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "progress.py" and path.parent.name == "seje_sdk":
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(r"(?<![\w.])tqdm\(|tqdm\.auto", line):
                    direct.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not direct, "use seje_sdk.progress.progress_bar:\n" + "\n".join(direct)
