"""What a long step is doing: one live line on a terminal, plain log lines everywhere else.

A :class:`Progress` counts finished tasks (runs, models, reports); a :func:`phase` shows a step
that has no count (simulating a dataset, rendering the group report). On a terminal the line is
redrawn in place every second, and while it is shown every log record and every other write to
the same stream appears above it as a whole line: the line is cleared first and drawn again
after the text. When the stream is not a terminal (CI, a log file, ``--no-progress``) nothing is
redrawn and no carriage return is written: the step is reported by log records only.

The rate has one definition, used by the line and by the log record alike: tasks finished per
minute between the start and the moment the latest task finished (the time spent after it,
waiting or rendering, does not lower it).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import threading
import time
from typing import Iterator

__all__ = ["Progress", "phase", "format_duration"]

log = logging.getLogger("neurokit.progress")

#: Clears the terminal line the cursor is on (ANSI "erase in line"), after a carriage return.
_CLEAR = "\r\x1b[2K"

#: Seconds between redraws of a live line (the elapsed time and ETA move on between tasks).
_TICK = 1.0


def format_duration(seconds: float) -> str:
    """``'42 s'``, ``'3:07'`` (minutes:seconds) or ``'1:02:03'``; ``'?'`` for an unknown time."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return "?"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _LiveStream:
    """Stands in for the live line's stream while the line is shown (in logging handlers and as
    ``sys.stderr``): text written through it lands above the line, whose redraw waits until the
    text's line is complete."""

    def __init__(self, live: "_LiveLine"):
        self._live = live

    def write(self, text: str) -> int:
        return self._live.write_above(text)

    def flush(self) -> None:
        self._live.stream.flush()

    def isatty(self) -> bool:
        return True

    def __getattr__(self, name):  # encoding, fileno, ... of the real stream
        return getattr(self._live.stream, name)


class _LiveLine:
    """One line redrawn in place on a terminal, from ``render()``, with writes routed above it."""

    def __init__(self, stream, render):
        self.stream, self._render = stream, render
        self._lock = threading.RLock()
        self._mid_line = False  # text above the line has started a line and not finished it
        self._shown = False
        self._proxy = _LiveStream(self)
        self._swapped: list[logging.StreamHandler] = []
        self._stderr = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self) -> None:
        for handler in _stream_handlers():
            if handler.stream is self.stream:
                handler.setStream(self._proxy)
                self._swapped.append(handler)
        if sys.stderr is self.stream:
            self._stderr, sys.stderr = sys.stderr, self._proxy
        self.draw()
        self._ticker = threading.Thread(target=self._tick, name="neurokit-progress", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(_TICK):
            self.draw()

    def _width(self) -> int:
        return max(20, shutil.get_terminal_size((100, 24)).columns - 1)

    def draw(self) -> None:
        with self._lock:
            if self._mid_line or self._stop.is_set():
                return
            text = self._render()[: self._width()]  # never wraps: a wrapped line cannot be cleared
            self.stream.write(f"{_CLEAR}{text}")
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        with self._lock:
            if self._shown:
                self.stream.write(_CLEAR)
                self.stream.flush()
                self._shown = False

    def write_above(self, text: str) -> int:
        with self._lock:
            if not text:
                return 0
            if not self._mid_line:
                self.clear()
            n = self.stream.write(text)
            self._mid_line = not text.endswith("\n")
            if not self._mid_line and not self._stop.is_set():
                self.draw()
            return n

    def stop(self) -> None:
        """Stop redrawing, clear the line and give the handlers their stream back."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            if self._mid_line:
                self.stream.write("\n")
                self._mid_line = False
            self.clear()
            for handler in self._swapped:
                if handler.stream is self._proxy:
                    handler.setStream(self.stream)
            self._swapped = []
            if self._stderr is not None and sys.stderr is self._proxy:
                sys.stderr = self._stderr
            self._stderr = None


def _stream_handlers() -> list[logging.StreamHandler]:
    """Every stream handler of the loggers that can print to a terminal (file handlers excluded)."""
    loggers = [logging.getLogger(), *(obj for obj in logging.Logger.manager.loggerDict.values()
                                      if isinstance(obj, logging.Logger))]
    seen, found = set(), []
    for logger in loggers:
        for handler in logger.handlers:
            if (isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
                    and id(handler) not in seen):
                seen.add(id(handler))
                found.append(handler)
    return found


def _live(enabled: bool | None, stream) -> bool:
    if enabled is False:
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or file-like stream
        return False


class Progress:
    """Tasks done / failed / remaining, rate and ETA of a batch.

    Parameters
    ----------
    total : int
        Number of tasks.
    enabled : bool or None
        Show a live line. None or True: when ``stream`` is a terminal (a line redrawn in place
        cannot be read anywhere else); False: never (``--no-progress``). Without a live line a
        log record is written every ``log_every`` seconds, and in every case one at the end.
    log_every : float
        Seconds between the log records written when no line is shown.
    stream : file-like, optional
        Where the line goes; default ``sys.stderr``.
    unit : str, default='runs'
        What the tasks are, for the text (``'models'``, ``'participant reports'``).
    clock : callable, optional
        The time source (seconds; default ``time.monotonic``).
    """

    def __init__(self, total: int, enabled: bool | None = None, log_every: float = 30.0, stream=None,
                 unit: str = "runs", clock=time.monotonic):
        self.total, self.done, self.excluded, self.failed = int(total), 0, 0, 0
        self.unit = unit
        self.stream = stream or sys.stderr
        self.enabled = _live(enabled, self.stream)
        self._clock = clock
        self.started = self._last_log = clock()
        self._last_finish: float | None = None
        self.log_every = log_every
        self.closed = False
        self._line = _LiveLine(self.stream, self.line) if self.enabled and self.total else None
        if self._line is not None:
            self._line.start()

    @property
    def finished(self) -> int:
        """Tasks done (excluded ones too) or failed so far."""
        return self.done + self.excluded + self.failed

    def rate(self) -> float:
        """Tasks finished per minute, from the start to the latest finished task (0 before the first)."""
        if not self.finished or self._last_finish is None:
            return 0.0
        span = self._last_finish - self.started
        return self.finished / span * 60 if span > 0 else float("inf")

    def eta(self) -> float:
        """Seconds left at :meth:`rate`, as of the latest finished task (nan before the first).

        It is not counted down between tasks: a countdown reaches 0 while a slow task is still
        running, and says less than the rate does."""
        rate = self.rate()
        if not rate:
            return float("nan")
        return (self.total - self.finished) / (rate / 60) if rate != float("inf") else 0.0

    def text(self, now: float | None = None) -> str:
        """The counts, rate and times; the same words on the live line and in the log."""
        now = self._clock() if now is None else now
        rate = self.rate()
        rate_text = "?" if not rate else ("fast" if rate == float("inf") else f"{rate:.1f}/min")
        excluded = f"{self.excluded} excluded, " if self.excluded else ""
        text = (f"{self.unit} {self.finished}/{self.total}: {self.done} ok, {excluded}{self.failed} failed; "
                f"{rate_text}; elapsed {format_duration(now - self.started)}")
        if self.finished < self.total:
            text += f", ETA {format_duration(self.eta())}"
        return text

    def line(self, width: int | None = None) -> str:
        """The live line: a bar and :meth:`text`, the text alone when both do not fit in ``width``."""
        width = shutil.get_terminal_size((100, 24)).columns - 1 if width is None else width
        text = self.text()
        cells = 16
        filled = int(cells * self.finished / max(self.total, 1))
        line = f"[{'#' * filled}{'.' * (cells - filled)}] {text}"
        return line if len(line) <= width else text

    def update(self, ok: bool = True, failed: bool = False) -> None:
        """Count one finished task: done (``ok``), excluded (``ok=False``: finished, not usable) or failed."""
        if failed:
            self.failed += 1
        elif ok:
            self.done += 1
        else:
            self.excluded += 1
        now = self._clock()
        self._last_finish = now
        if self._line is not None:
            self._line.draw()
        elif now - self._last_log >= self.log_every and self.finished < self.total:  # close() logs the last
            self._last_log = now
            log.info("%s", self.text(now))

    def close(self) -> None:
        """Take the line down and log the final counts (once; later calls do nothing)."""
        if self.closed:
            return
        self.closed = True
        if self._line is not None:
            self._line.stop()
        # the final record replaces the line on the terminal, so the counts are printed once
        log.info("%s", self.text())

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def phase(what: str, *, enabled: bool | None = None, stream=None, logger: logging.Logger | None = None,
          clock=time.monotonic) -> Iterator[None]:
    """Show a step without a count: ``what ... 0:12`` on a terminal, and a log record when it ends.

    Parameters
    ----------
    what : str
        The step, as a phrase: ``'simulating 36 participants'``.
    enabled : bool or None
        As for :class:`Progress`: a live line only on a terminal, never with False. Without a
        live line the start is logged too, so a log shows what the pipeline was doing.
    stream : file-like, optional
        Default ``sys.stderr``.
    logger : logging.Logger, optional
        Where the records go (default ``neurokit.progress``).
    """
    logger = logger or log
    stream = stream or sys.stderr
    started = clock()
    line = None
    if _live(enabled, stream):
        line = _LiveLine(stream, lambda: f"{what} ... {format_duration(clock() - started)}")
        line.start()
    else:
        logger.info("%s ...", what)
    try:
        yield
    except BaseException:
        if line is not None:
            line.stop()
        logger.info("%s: stopped after %s", what, format_duration(clock() - started))
        raise
    if line is not None:
        line.stop()
    logger.info("%s: done in %s", what, format_duration(clock() - started))
