"""Progress of a batch: a one-line bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("neurokit.progress")


class Progress:
    """Runs done / failed / remaining, rate and ETA.

    Parameters
    ----------
    total : int
        Number of tasks.
    enabled : bool or None
        Draw a bar; None = only when stderr is a terminal. When not drawing, a log
        line is written every ``log_every`` seconds and at the end.
    unit : str, default='runs'
        What the tasks are, for the text (the group level counts ``'models'``).
    """

    def __init__(self, total: int, enabled: bool | None = None, log_every: float = 30.0, stream=None, unit: str = "runs"):
        self.total, self.done, self.failed = total, 0, 0
        self.unit = unit
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = self._last_log = time.monotonic()
        self.log_every = log_every

    def _text(self) -> str:
        finished = self.done + self.failed
        elapsed = time.monotonic() - self.started
        rate = finished / elapsed * 60 if elapsed > 0 and finished else 0.0
        eta = (self.total - finished) / (rate / 60) if rate else float("nan")
        eta_text = f"{eta:5.0f}s" if eta == eta else "    ?"
        return (
            f"{self.unit} {finished}/{self.total}  ok {self.done}  failed {self.failed}  "
            f"remaining {self.total - finished}  {rate:5.1f}/min  ETA {eta_text}"
        )

    def update(self, ok: bool = True, failed: bool = False) -> None:
        """Count one finished task (``failed=True`` for a failure)."""
        if failed:
            self.failed += 1
        else:
            self.done += 1
        if self.enabled:
            width = 24
            filled = int(width * (self.done + self.failed) / max(self.total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self._text()}")
            self.stream.flush()
        elif time.monotonic() - self._last_log >= self.log_every:
            self._last_log = time.monotonic()
            log.info("%s", self._text())

    def close(self) -> None:
        """Finish the bar (and log the final counts)."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
        log.info("%s", self._text())
