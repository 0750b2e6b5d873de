"""The progress bar of long commands, on stderr: redrawn in place on a terminal, plain lines in a log file."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class ProgressBar:
    """A one-line progress bar on stderr: redrawn in place on a terminal (at most 10 Hz); elsewhere (a log file,
    a pipe) a plain line at the start, then at most one every `log_interval_s` seconds, and the final one."""

    def __init__(self, total: int | None, label: str, *, stream: TextIO | None = None, enabled: bool = True,
                 log_interval_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.label, self.stream, self.enabled = total, label, stream or sys.stderr, enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_interval_s, self._clock = log_interval_s, clock
        self._last_draw: float | None = None
        self._pending: str | None = None  # the latest state, when it has not been written yet

    def update(self, done: int, info: str = "") -> None:
        if not self.enabled:
            return
        now = self._clock()
        final = self.total is not None and done >= self.total
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
            text = f"{self.label} [{bar}] {done}/{self.total} {info}".rstrip()
        else:
            text = f"{self.label} {done} {info}".rstrip()
        self._pending = text
        interval = 0.1 if self.tty else self.log_interval_s
        if final or self._last_draw is None or now - self._last_draw >= interval:
            self._write(text)
            self._last_draw = now

    def _write(self, text: str) -> None:
        self.stream.write("\r" + text[:150].ljust(80) if self.tty else text + "\n")
        self.stream.flush()
        self._pending = None

    def close(self) -> None:
        """End the bar: on a terminal, move to a new line; elsewhere write the last state if it is not out yet."""
        if not self.enabled:
            return
        if self._pending is not None:
            self._write(self._pending)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
