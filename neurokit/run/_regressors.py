"""A run's physiological noise regressors for its ``+physio`` strategies, and what its QC records of them.

The computation is :func:`neurokit.physio.physio_regressors`; this module gives it what the run
knows: the recording compute_run read, the TR and volume count, and the reference slice time
from fMRIPrep's preprocessed-BOLD sidecar or the raw BOLD sidecar (inherited keys merged).
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from neurokit.config import Config
from neurokit.io import Run, raw_bold_sidecar

log = logging.getLogger("neurokit.run")

def _json(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_physio_regressors(run: Run, recording, config: Config, *, bids_dir: str | os.PathLike | None = None,
                          n_volumes: int | None = None, reason=None):
    """The run's :class:`neurokit.physio.PhysioRegressors` with the configuration's ``physio.regressors``.

    Parameters
    ----------
    run : Run
    recording : neurokit.physio.PhysioRecording or None
        The recording compute_run read (None: none usable).
    config : Config
    bids_dir : path-like, optional
        The raw dataset, for the raw BOLD sidecar's ``SliceTiming``.
    n_volumes : int, optional
        Volumes of the BOLD run (default ``run.n_volumes``).
    reason : neurokit.physio.PhysioIssue, optional
        Why there is no recording (from reading it), used when ``recording`` is None.

    Returns
    -------
    (PhysioRegressors, str)
        The regressors and where the reference slice time came from (``StartTime``,
        ``SliceTiming median``, ``TR/2``).
    """
    from neurokit.physio import PhysioIssue, physio_regressors, reference_slice_time

    n = int(run.n_volumes if n_volumes is None else n_volumes)
    slice_time, source = reference_slice_time(run.t_r, _json(run.bold_json), raw_bold_sidecar(bids_dir, run))
    pc = config.physio
    regressors = physio_regressors(recording, n_volumes=n, t_r=run.t_r, slice_time=slice_time,
                                   kind=pc.cardiac_kind, max_rejected_fraction=pc.max_rejected_fraction,
                                   **pc.regressors.kwargs())
    if recording is None and reason is not None:
        regressors.reason = PhysioIssue(reason.code, reason.message, True)
    if not regressors.used:
        log.warning("%s: no physiological regressors (%s): %s; its '+physio' strategies are cleaned with their "
                    "other confounds only.", run.run_id, regressors.reason.code, regressors.reason.message)
    else:
        for warning in regressors.warnings:
            if warning.code in ("cardiac", "respiratory"):
                log.warning("%s: %s", run.run_id, warning.message)
    return regressors, source


def qc_block(regressors, slice_source: str | None, variance_share: float | None,
             chance: float | None = None) -> dict[str, Any]:
    """The QC JSON's ``physio_regressors`` entry of a ``+physio`` strategy (INTERFACES.md 3).

    ``variance_share_chance`` is what as many regressors of pure noise would explain on average,
    ``k / (tDOF remaining + k)`` (the mean of a Beta(k/2, (d-k)/2) partial R^2): a share near it
    says the regressors found no physiological noise.
    """
    used = bool(regressors is not None and regressors.used)
    reason = None if regressors is None else regressors.reason

    def rounded(value):
        return None if value is None or not math.isfinite(value) else round(float(value), 6)

    return {
        "used": used,
        "reason": None if reason is None else reason.code,
        "message": None if reason is None else reason.message,
        "columns": list(regressors.columns) if used else [],
        "variance_share": rounded(variance_share) if used else None,
        "variance_share_chance": rounded(chance) if used else None,
        "warnings": [] if regressors is None else [w.code for w in regressors.warnings],
        "slice_time": None if regressors is None else regressors.slice_time,
        "slice_time_source": slice_source,
    }


def variance_share(signals: np.ndarray, selection, columns, t_r: float, clean_kwargs: Mapping[str, Any]) -> float | None:
    """Median over regions of the share of variance ``columns`` explain beyond the strategy's other
    confounds, after its filtering (:func:`neurokit.denoise.partial_r2`); None without them."""
    from neurokit.denoise import InsufficientVolumesError, partial_r2

    columns = [c for c in columns if c in selection.confounds.columns]
    if not columns:
        return None
    try:
        shares = partial_r2(signals, selection.confounds, columns, selection.sample_mask, t_r=t_r, **clean_kwargs)
    except InsufficientVolumesError:
        return None
    return float(np.median(shares)) if shares.size else None


#: Reason of a regressor computation that raised (a bug, or data no check foresaw); the run goes on.
ERROR = "error"


@dataclass
class _NoiseRegressors:
    """A run's physiological noise regressors and where its reference slice time came from."""

    regressors: Any  # neurokit.physio.PhysioRegressors
    slice_source: str | None = None

    @classmethod
    def compute(cls, run: Run, step, config: Config, bids_dir, n_volumes: int) -> "_NoiseRegressors":
        """From the recording the physiology step read (``step``: neurokit.run._physio._PhysioStep);
        never raises but for MemoryError: a failure is regressors with the reason ``error``."""
        from neurokit.physio import PhysioIssue, PhysioRegressors

        recording = None if step is None else step.recording
        reason = None
        if recording is None and step is not None and step.result is not None:
            reason = step.result.reason
        try:
            regressors, source = run_physio_regressors(run, recording, config, bids_dir=bids_dir,
                                                       n_volumes=n_volumes, reason=reason)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the run's connectivity must not depend on its recording
            files = ", ".join(Path(s).name for s in getattr(recording, "sources", ())) or "its recording"
            message = (f"the physiological regressors of {run.run_id} could not be computed from {files} "
                       f"({type(exc).__name__}: {exc}); its '+physio' strategies are cleaned with their other "
                       "confounds only. This is a bug or a recording no check foresaw: please report it with the file.")
            log.warning("%s", message, exc_info=log.isEnabledFor(logging.DEBUG))
            regressors = PhysioRegressors(regressors=pd.DataFrame(index=pd.RangeIndex(n_volumes)),
                                          reason=PhysioIssue(ERROR, message, True))
            source = None
        return cls(regressors, source)

    def block(self, strategy: str, signals: np.ndarray, denoised, t_r: float,
              clean_kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """The QC entry of one strategy's cleaning (``denoised``: neurokit.run._strategy._Denoised);
        None for a strategy without ``+physio``."""
        if not strategy.endswith("+physio"):
            return None
        share = chance = None
        if self.regressors.used and denoised.cleaned is not None:
            share = variance_share(signals, denoised.selection, self.regressors.columns, t_r, clean_kwargs)
            k = len(self.regressors.columns)
            left = denoised.cleaned.tdof_remaining + k  # before the regressors took theirs
            chance = k / left if left > 0 else None
        return qc_block(self.regressors, self.slice_source, share, chance)
