"""One strategy of a run: clean the extracted region signals, decide exclusion, compute the matrices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from neurokit.config import Config
from neurokit.io import Run
from neurokit.run._stage import _Stage


def _fd(confounds: pd.DataFrame) -> np.ndarray | None:
    if "framewise_displacement" not in confounds:
        return None
    return confounds["framewise_displacement"].to_numpy(dtype=float)



@dataclass
class _Denoised:
    """One strategy's cleaning, exclusion decision and connectivity of a run's extracted signals."""

    selection: Any
    cleaned: Any  # neurokit.denoise.Cleaned, or None when too few volumes were left
    motion: dict
    excluded: bool
    reasons: list
    checks: list  # every exclusion rule with the run's value and the outcome (neurokit.qc.exclusion_checks)
    matrices: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    strength: np.ndarray | None = None
    no_summary_note: str | None = None
    #: the QC's ``physio_regressors`` entry (neurokit.run._regressors); None when no strategy of the run has '+physio'
    physio_regressors: dict | None = None

    def qc_block(self) -> dict[str, Any]:
        """This strategy's entry in the QC JSON's ``Strategies`` block."""
        cleaned = self.cleaned
        return {
            "tDOFLost": None if cleaned is None else int(cleaned.tdof_lost),
            "tDOFRemaining": None if cleaned is None else int(cleaned.tdof_remaining),
            "NumberOfRegressors": None if cleaned is None else int(cleaned.n_regressors),
            "CensoredVolumes": [int(i) for i in self.selection.censored],
            "percent_censored": self.motion.get("percent_censored"),
            "Excluded": bool(self.excluded),
            "ExclusionReasons": list(self.reasons),
            "ExclusionChecks": self.checks,
            "SummaryIndices": self.summary or None,
            "StrategyDetails": self.selection.strategy,
        }


def _denoise_and_connect(signals, selection, confounds, run: Run, config: Config, n_volumes: int,
                         region_names: list[str], networks: list[str], atlas_name: str) -> _Denoised:
    """Clean ``signals`` (n_volumes, n_regions) with one strategy's ``selection``, decide exclusion,
    and compute the per-run matrices and summary indices (pure: nothing is written)."""
    from neurokit.connectivity import connectivity_matrix, fisher_z, region_pfc_limbic_strength, summary_indices
    from neurokit.denoise import InsufficientVolumesError, clean
    from neurokit.qc import exclusion_checks, motion_summary

    dn = config.denoise
    with _Stage("denoise"):
        n_censored = len(selection.censored)
        cleaned = None
        try:
            cleaned = clean(
                signals, selection.confounds, selection.sample_mask, t_r=run.t_r, **dn.clean_kwargs()
            )
        except InsufficientVolumesError as exc:
            insufficient = str(exc)
        else:
            insufficient = None

    with _Stage("qc"):
        motion = motion_summary(_fd(confounds), selection.sample_mask, n_volumes=n_volumes, source=run.confounds)
        checks = exclusion_checks(
            mean_fd=motion["mean_fd"],
            censored_fraction=n_censored / n_volumes,
            n_remaining=n_volumes - n_censored,
            tdof_remaining=None if cleaned is None else int(cleaned.tdof_remaining),
            **config.exclusion.decision_kwargs(dn.min_volumes),
        )
        reasons = [c["reason"] for c in checks if c["passed"] is False]
        if insufficient and not reasons:
            reasons = [insufficient]
        excluded = bool(reasons) or insufficient is not None
    result = _Denoised(selection, cleaned, motion, bool(excluded), list(reasons), checks)
    if cleaned is None:
        return result

    with _Stage("connectivity"):
        for kind in config.connectivity.per_run_kinds():
            result.matrices[kind] = connectivity_matrix(cleaned.signals, kind, **config.connectivity.matrix_kwargs())
        corr = result.matrices.get("correlation")
        if corr is None:
            corr = connectivity_matrix(cleaned.signals, "correlation", **config.connectivity.matrix_kwargs())
        z = fisher_z(corr)
        if min(networks.count("prefrontal"), networks.count("limbic")) >= 2:
            result.summary = {f"idx_{k}": float(v) for k, v in summary_indices(z, networks).items()}
            result.strength = region_pfc_limbic_strength(z, networks)
        else:  # e.g. Power 2011: no network labels, so no prefrontal-limbic indices
            result.no_summary_note = (
                f"atlas {atlas_name} has {networks.count('prefrontal')} prefrontal and "
                f"{networks.count('limbic')} limbic region(s) here (2 of each needed): no summary indices."
            )
    return result

