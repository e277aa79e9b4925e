"""Progress bars for every long loop: tqdm's redrawn bar on a terminal, plain lines in a log.

When the bar's stream is not a terminal (CI, `| tee`, a file), redraws would pile up as carriage-return
noise; there the bar prints whole lines: one when the first item is done (the loop has started, with its
total), then at most one every `SEJE_PROGRESS_SECONDS` (default 10), and a final one when it ends.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Iterable

from tqdm import tqdm

DEFAULT_SECONDS = 10.0


def log_interval() -> float:
    """Seconds between two progress lines in a log (SEJE_PROGRESS_SECONDS, default 10)."""
    try:
        return max(0.0, float(os.environ.get("SEJE_PROGRESS_SECONDS", DEFAULT_SECONDS)))
    except ValueError:
        return DEFAULT_SECONDS


class LogProgress(tqdm):
    """tqdm that writes whole lines: after the first item, at most one per `interval` seconds, and on close."""

    def __init__(self, *args: Any, interval: float | None = None, **kwargs: Any) -> None:
        self._interval = log_interval() if interval is None else interval
        self._last_line = time.monotonic()
        self._lines, self._logged_n = 0, 0
        kwargs.setdefault("ascii", True)
        self._then_check_every = max(kwargs.get("mininterval", 0.1), min(self._interval, 1.0))
        kwargs["mininterval"] = 0  # see the first item at once; then tqdm may call display() less often
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg is not None or self.n == 0:  # a clear ('') or nothing done yet: nothing to log
            return False
        now = time.monotonic()
        if self._lines and now - self._last_line < self._interval:
            return False
        self._write_line(now)
        return True

    def _write_line(self, now: float) -> None:
        self.fp.write(self.__str__() + "\n")
        self.fp.flush()
        self._last_line, self._lines, self._logged_n = now, self._lines + 1, self.n
        self.mininterval = self._then_check_every

    def clear(self, nolock: bool = False) -> None:
        """Nothing to erase: every line written stays."""

    def moveto(self, n: int) -> None:
        """No cursor movement in a log."""

    def close(self) -> None:
        if not self.disable and hasattr(self, "start_t"):
            if self.n != self._logged_n:
                self._write_line(time.monotonic())
            self.leave = False  # tqdm's own close would redraw the bar once more
        super().close()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_bar(iterable: Iterable | None = None, *, desc: str | None = None, total: float | None = None,
                 disable: bool = False, file: Any = None, interval: float | None = None, **kwargs: Any) -> tqdm:
    """A progress bar (tqdm's arguments): redrawn on a terminal; elsewhere a whole line every `interval`
    seconds (default SEJE_PROGRESS_SECONDS or 10) and one when the loop ends."""
    stream = file if file is not None else sys.stderr
    if _is_terminal(stream):
        return tqdm(iterable, desc=desc, total=total, disable=disable, file=stream, **kwargs)
    return LogProgress(iterable, desc=desc, total=total, disable=disable, file=stream, interval=interval, **kwargs)
