"""Each level's log file, ``OUTPUT_DIR/logs/<level>-<YYYYmmdd-HHMMSS>.log``.

A level opens its log with :func:`level_log` before it checks its inputs. Records are
held in memory until the level calls ``start()`` (its inputs are valid and it is about to
write); an invocation that fails its checks therefore leaves no log and no folder behind,
while one that passes keeps every record from the beginning. The file receives neurokit's
records from INFO up, every other library's from WARNING up, Python warnings, and the
exception that ends the level (with its traceback unless it is an input error, which the
command line prints as one line).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Iterator

from neurokit._errors import NeurokitError

__all__ = ["LevelLog", "level_log"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Logs open in this process, innermost last; a level run inside another of the same
#: output folder (run_study -> run_participant) starts the outer ones with its own.
_ACTIVE: list["LevelLog"] = []


def _wanted(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.name == "neurokit" or record.name.startswith("neurokit.")


class LevelLog(logging.Handler):
    """A logging handler that buffers records until :meth:`start`, then appends them to :attr:`path`.

    Parameters
    ----------
    output_dir : str or Path
        The derivative dataset; the file goes to its ``logs/`` folder.
    level : str
        ``participant``, ``group`` or ``study``: the file name's prefix.
    """

    def __init__(self, output_dir: str | os.PathLike, level: str):
        super().__init__(logging.INFO)
        self.output_dir = Path(os.path.abspath(output_dir))
        self.analysis_level = level
        self.path = self.output_dir / "logs" / f"{level}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        self.setFormatter(logging.Formatter(_FORMAT))
        self.addFilter(_wanted)
        self._pending: list[str] | None = []
        self._stream = None

    @property
    def started(self) -> bool:
        """Whether the file exists (records now go straight to it)."""
        return self._pending is None

    def start(self) -> Path:
        """Create the file with the records so far; also starts the enclosing levels' logs of this folder."""
        for log in _ACTIVE:
            if log.output_dir == self.output_dir and not log.started:
                log._open()
        if not self.started:
            self._open()
        return self.path

    def _open(self) -> None:
        self.acquire()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            self._stream.writelines(line + "\n" for line in self._pending)
            self._stream.flush()
            self._pending = None
        finally:
            self.release()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            if self._pending is not None:
                self._pending.append(line)
            else:
                self._stream.write(line + "\n")
                self._stream.flush()
        except Exception:  # noqa: BLE001 - logging must never end the run
            self.handleError(record)

    def close(self) -> None:
        self.acquire()
        try:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
        finally:
            self.release()
        super().close()

    def record_exit(self, exc: BaseException) -> None:
        """Write the exception that ends the level (only once the file exists: a rejected invocation writes nothing)."""
        if not self.started:
            return
        logger = logging.getLogger(f"neurokit.{self.analysis_level}")
        if isinstance(exc, KeyboardInterrupt):
            msg, exc_info = "interrupted; completed runs are kept, rerun to continue.", None
        elif isinstance(exc, NeurokitError):
            msg, exc_info = f"the {self.analysis_level} level stopped: {exc}", None
        else:
            msg, exc_info = f"the {self.analysis_level} level stopped on an unexpected error:", (type(exc), exc, exc.__traceback__)
        # straight to this file: the terminal shows the exception once, from the command line or the caller
        self.handle(logger.makeRecord(logger.name, logging.ERROR, __file__, 0, msg, (), exc_info))


@contextlib.contextmanager
def level_log(output_dir: str | os.PathLike, level: str) -> Iterator[LevelLog]:
    """Collect a level's log records, warnings and final exception for ``OUTPUT_DIR/logs/<level>-*.log``.

    Nothing is written until the returned handler's ``start()`` is called. Opening the
    same level and folder again inside the context returns the open log (the command line
    opens it around a level and its reports, the level itself opens it too).

    Parameters
    ----------
    output_dir : str or Path
        The derivative dataset.
    level : str
        ``participant``, ``group`` or ``study``.

    Yields
    ------
    LevelLog
    """
    folder = Path(os.path.abspath(output_dir))
    for log in _ACTIVE:
        if log.output_dir == folder and log.analysis_level == level:
            yield log
            return
    handler = LevelLog(folder, level)
    package = logging.getLogger("neurokit")
    package_level = package.level
    if package.getEffectiveLevel() > logging.INFO:  # keep -v's DEBUG; make INFO reach the file otherwise
        package.setLevel(logging.INFO)
    shown = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):
        text = warnings.formatwarning(message, category, filename, lineno, line).rstrip()
        handler.handle(logging.makeLogRecord(
            {"name": "py.warnings", "levelno": logging.WARNING, "levelname": "WARNING", "msg": text}))
        shown(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning
    root = logging.getLogger()
    # Python prints warnings and errors through logging.lastResort only while no handler is
    # installed; with ours installed, a caller who configured no logging would see nothing.
    terminal = None if root.handlers else logging.StreamHandler()
    if terminal is not None:
        terminal.setLevel(logging.WARNING)
        root.addHandler(terminal)
    root.addHandler(handler)
    _ACTIVE.append(handler)
    try:
        yield handler
    except BaseException as exc:
        handler.record_exit(exc)
        raise
    finally:
        _ACTIVE.remove(handler)
        root.removeHandler(handler)
        if terminal is not None:
            root.removeHandler(terminal)
        warnings.showwarning = shown
        package.setLevel(package_level)
        handler.close()
