"""The physiology step of a run: read the recording once, measure HRV, never fail the run.

The recording is read before the strategies are cleaned, so that a step that models
physiological noise uses the same channels; the HRV is measured from it afterwards. A problem
of the data is a result with a reason (:func:`neurokit.io.run_recording`,
:func:`neurokit.physio.hrv_from_recording`); an unexpected exception is one too, with the
reason ``error``: the connectivity of a run never depends on its pulse trace.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from neurokit.config import PhysioConfig
from neurokit.io import Run, run_recording
from neurokit.physio import PhysioIssue, PhysioRecording, PhysioResult, hrv_from_recording

log = logging.getLogger("neurokit.run")

#: Reason of a physiology step that raised (a bug, or data no check foresaw); the run goes on.
ERROR = "error"
#: Reason when compute_run was given no raw dataset to look for recordings in.
NO_RAW_DATASET = "no_raw_dataset"


class _PhysioStep:
    """The run's recording and physiology, and the seconds both took."""

    def __init__(self, run: Run, settings: PhysioConfig, bids_dir: str | os.PathLike | None):
        self.run, self.settings, self.bids_dir = run, settings, bids_dir
        self.recording: PhysioRecording | None = None
        self.result: PhysioResult | None = None
        self.seconds = 0.0

    def read(self) -> PhysioRecording | None:
        """Find and read the recording (None when there is none, or it cannot be read: the reason is kept)."""
        started = time.perf_counter()
        if self.bids_dir is None:
            self.result = PhysioResult.unusable(PhysioIssue(
                NO_RAW_DATASET, f"no raw BIDS dataset was given for {self.run.run_id}, so its physiological recording "
                                "was not looked for; pass bids_dir= to neurokit.run.compute_run (or set "
                                "physio.enabled: false)."), **self._base())
        else:
            try:
                self.recording, self.result = run_recording(self.bids_dir, self.run,
                                                            columns=self.settings.columns.mapping())
            except Exception as exc:  # noqa: BLE001 - the run's connectivity must not depend on its recording
                self.recording, self.result = None, self._failed(exc, "reading")
        self.seconds += time.perf_counter() - started
        return self.recording

    def measure(self) -> PhysioResult:
        """The run's HRV and breathing rate from the recording read (or why there are none)."""
        started = time.perf_counter()
        if self.recording is not None:
            try:
                self.result = hrv_from_recording(self.recording, n_volumes=self.run.n_volumes, t_r=self.run.t_r,
                                                 run_id=self.run.run_id, **self.settings.measure_kwargs())
            except Exception as exc:  # noqa: BLE001 - as in read()
                self.result = self._failed(exc, "measuring")
        self.seconds += time.perf_counter() - started
        return self.result

    def _base(self) -> dict[str, Any]:
        sources = [str(s) for s in self.recording.sources] if self.recording is not None else []
        return {"run_id": self.run.run_id, "run_duration": self.run.n_volumes * self.run.t_r, "sources": sources}

    def _failed(self, exc: Exception, doing: str) -> PhysioResult:
        if isinstance(exc, MemoryError):
            raise exc
        base = self._base()
        files = ", ".join(Path(s).name for s in base["sources"]) or "its recording"
        message = (f"the physiology step failed while {doing} {files} of {self.run.run_id} "
                   f"({type(exc).__name__}: {exc}); the run is processed without HRV. This is a bug or a recording "
                   "no check foresaw: please report it with the file.")
        log.warning("%s", message, exc_info=log.isEnabledFor(logging.DEBUG))
        return PhysioResult.unusable(PhysioIssue(ERROR, message), **base)


def physio_block(result: PhysioResult) -> dict[str, Any]:
    """The QC JSON's ``Physio`` block of a run's physiology."""
    return {"usable": bool(result.usable), "reason": result.reason.code if result.reason else None,
            "message": result.reason.message if result.reason else None,
            "warnings": [w.code for w in result.warnings]}
