"""Per-run motion summaries and the run exclusion decision written to the QC metrics JSON.

Values are plain Python numbers so the pipeline can serialise them directly.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np

from neurokit.qc._validation import QCError

__all__ = ["TDOF_FLOOR", "exclusion_checks", "exclusion_decision", "motion_summary"]


def _kept_mask(sample_mask, n_volumes: int) -> np.ndarray:
    if sample_mask is None:
        return np.ones(n_volumes, dtype=bool)
    arr = np.asarray(sample_mask)
    if arr.ndim != 1:
        raise QCError(f"'sample_mask' must be 1D (indices of kept volumes or a boolean mask); got shape {arr.shape}.")
    if arr.dtype == bool:
        if arr.shape[0] != n_volumes:
            raise QCError(f"'sample_mask' as a boolean mask must have n_volumes={n_volumes} entries; got {arr.shape[0]}.")
        return arr.copy()
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise QCError(f"'sample_mask' must hold integer indices of kept volumes or booleans; got dtype {arr.dtype}.")
    if arr.size and (arr.min() < 0 or arr.max() >= n_volumes):
        raise QCError(f"'sample_mask' indices must be in [0, {n_volumes - 1}]; got {arr.min()}..{arr.max()}.")
    if np.unique(arr).size != arr.size:
        raise QCError("'sample_mask' has repeated volume indices.")
    mask = np.zeros(n_volumes, dtype=bool)
    mask[arr.astype(int)] = True
    return mask


def motion_summary(framewise_displacement, sample_mask=None, *, n_volumes, source=None):
    """Mean and maximum framewise displacement and how many volumes were censored.

    Parameters
    ----------
    framewise_displacement : array-like of shape (n_volumes,)
        fMRIPrep's ``framewise_displacement`` column in mm. Its first value is
        ``n/a`` (NaN: no previous volume) and is left out of the mean and maximum;
        a NaN anywhere else is an error.
    sample_mask : array-like of int of shape (n_kept,) or of bool of shape (n_volumes,), optional
        Volumes kept after censoring: indices (nilearn's ``sample_mask``
        convention) or a boolean mask, True = kept. None means nothing censored.
    n_volumes : int
        Number of volumes of the BOLD run; must equal the length of
        ``framewise_displacement``.
    source : str or Path, optional
        The confounds TSV the values come from, named in error messages.

    Returns
    -------
    summary : dict
        ``mean_fd`` and ``max_fd`` (mm, over all volumes with a defined FD, censored
        or not, as used for QC-FC and exclusion), ``n_volumes``, ``n_censored``,
        ``n_remaining``, ``censored_fraction`` (0-1) and ``percent_censored`` (0-100).

    Raises
    ------
    QCError
        Wrong lengths, negative or non-finite FD (other than the first value),
        or a malformed ``sample_mask``.
    """
    if not isinstance(n_volumes, numbers.Integral) or n_volumes < 2:
        raise QCError(f"'n_volumes' must be an integer >= 2; got {n_volumes!r}.")
    where = f"{Path(source).name}: " if source is not None else ""
    fix = ("re-run fMRIPrep for this run, fix the column (mm; 'n/a' only in the first row), "
           "or leave the run out with --exclude")
    if framewise_displacement is None:
        raise QCError(
            f"{where}'framewise_displacement' is None: the confounds table has no 'framewise_displacement' column, "
            "which fMRIPrep writes in every desc-confounds_timeseries.tsv; motion QC (mean FD, "
            f"exclusion.max_mean_fd) needs it: {fix}."
        )
    try:
        fd = np.asarray(framewise_displacement, dtype=float)
    except (TypeError, ValueError):
        raise QCError("'framewise_displacement' must be numeric (mm, 'n/a' read as NaN).") from None
    if fd.ndim != 1 or fd.shape[0] != n_volumes:
        raise QCError(
            f"'framewise_displacement' must have one value per volume (n_volumes={n_volumes}); got shape {fd.shape}."
        )
    defined = fd[1:] if np.isnan(fd[0]) else fd
    bad = ~np.isfinite(defined)
    if bad.any():
        first = int(np.flatnonzero(bad)[0]) + (n_volumes - defined.shape[0])
        raise QCError(
            f"{where}'framewise_displacement' must be finite except for its first value; got {fd[first]} at volume "
            f"{first} (row {first + 2} of the file): {fix}."
        )
    if (defined < 0).any():
        raise QCError(f"'framewise_displacement' must be >= 0 mm; got {defined.min():.4g}.")
    kept = _kept_mask(sample_mask, n_volumes)
    n_remaining = int(kept.sum())
    n_censored = n_volumes - n_remaining
    return {
        "mean_fd": float(defined.mean()),
        "max_fd": float(defined.max()),
        "n_volumes": int(n_volumes),
        "n_censored": n_censored,
        "n_remaining": n_remaining,
        "censored_fraction": n_censored / n_volumes,
        "percent_censored": 100.0 * n_censored / n_volumes,
    }


def _check_number(name, value, *, allow_none):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise QCError(f"'{name}' must be a number{' or None' if allow_none else ''}; got {value!r}.")


#: Temporal degrees of freedom below which a run is flagged even when ``exclusion.min_tdof`` is
#: off: the sampling error of a Fisher-z correlation is about ``1 / sqrt(tdof - 3)``, 0.16 at 40.
TDOF_FLOOR = 40


def exclusion_checks(
    *, mean_fd, censored_fraction, n_remaining, max_mean_fd, max_censored_fraction, min_volumes,
    tdof_remaining=None, min_tdof=None,
):
    """Every run exclusion rule, its value, its limit and whether the run passes it.

    Parameters are those of :func:`exclusion_decision`.

    Returns
    -------
    checks : list of dict
        One per rule, in a fixed order: ``rule`` (what is measured), ``key`` (the
        configuration key of the limit), ``value``, ``limit`` (None when the rule is off),
        ``passed`` (None when the rule is off or, for tDOF, the run was not cleaned),
        ``reason`` (the sentence naming value, limit and key when the run fails, else
        None) and ``flag`` (a warning that does not exclude: tDOF below :data:`TDOF_FLOOR`
        while ``min_tdof`` is off or lower; else None). Plain Python values, ready for JSON.
    """
    for name, value, allow_none in (
        ("mean_fd", mean_fd, False),
        ("censored_fraction", censored_fraction, False),
        ("n_remaining", n_remaining, False),
        ("max_mean_fd", max_mean_fd, True),
        ("max_censored_fraction", max_censored_fraction, True),
        ("min_volumes", min_volumes, True),
        ("tdof_remaining", tdof_remaining, True),
        ("min_tdof", min_tdof, True),
    ):
        _check_number(name, value, allow_none=allow_none)
    if not 0 <= censored_fraction <= 1:
        raise QCError(f"'censored_fraction' must be in [0, 1]; got {censored_fraction!r}.")

    def check(rule, key, value, limit, failed, reason):
        passed = None if limit is None or value is None else not failed
        return {"rule": rule, "key": key, "value": value, "limit": limit, "passed": passed,
                "reason": reason if passed is False else None, "flag": None}

    tdof = None if tdof_remaining is None else int(tdof_remaining)
    checks = [
        check("mean framewise displacement (mm)", "exclusion.max_mean_fd", round(float(mean_fd), 4), max_mean_fd,
              max_mean_fd is not None and mean_fd > max_mean_fd,
              f"mean framewise displacement {mean_fd:.3f} mm is above the limit of {max_mean_fd:g} mm "
              "(exclusion.max_mean_fd)" if max_mean_fd is not None else None),
        check("fraction of volumes censored", "exclusion.max_censored_fraction", round(float(censored_fraction), 4),
              max_censored_fraction, max_censored_fraction is not None and censored_fraction > max_censored_fraction,
              f"{100 * censored_fraction:.1f}% of volumes censored is above the limit of "
              f"{100 * max_censored_fraction:g}% (exclusion.max_censored_fraction)"
              if max_censored_fraction is not None else None),
        check("volumes left after censoring", "denoise.min_volumes", int(n_remaining), min_volumes,
              min_volumes is not None and n_remaining < min_volumes,
              f"{int(n_remaining)} volumes remain after censoring, fewer than the minimum of {int(min_volumes)} "
              "(denoise.min_volumes)" if min_volumes is not None else None),
        check("temporal degrees of freedom left", "exclusion.min_tdof", tdof, min_tdof,
              min_tdof is not None and tdof is not None and tdof < min_tdof,
              f"{tdof} temporal degrees of freedom remain after denoising, fewer than the minimum of "
              f"{int(min_tdof)} (exclusion.min_tdof); use fewer regressors (denoise.motion: basic), a wider band "
              "(denoise.low_pass: null) or longer runs" if min_tdof is not None else None),
    ]
    tdof_check = checks[-1]
    if tdof is not None and tdof < TDOF_FLOOR and tdof_check["passed"] is not False:
        limit = "off" if min_tdof is None else f"{min_tdof}"
        tdof_check["flag"] = (
            f"only {tdof} temporal degrees of freedom remain (fewer than {TDOF_FLOOR}, where a Fisher-z "
            f"correlation's sampling error passes 0.16); not excluded for it because exclusion.min_tdof is {limit}"
        )
    return checks


def exclusion_decision(
    *, mean_fd, censored_fraction, n_remaining, max_mean_fd, max_censored_fraction, min_volumes,
    tdof_remaining=None, min_tdof=None,
):
    """Decide whether a run is excluded, with a human-readable reason per broken rule.

    Parameters
    ----------
    mean_fd : float
        Mean framewise displacement of the run (mm).
    censored_fraction : float
        Fraction (0-1) of volumes censored.
    n_remaining : int
        Volumes left after censoring.
    max_mean_fd : float or None
        Exclude when ``mean_fd > max_mean_fd`` (config ``exclusion.max_mean_fd``); None disables.
    max_censored_fraction : float or None
        Exclude when ``censored_fraction > max_censored_fraction``
        (config ``exclusion.max_censored_fraction``); None disables.
    min_volumes : int or None
        Exclude when ``n_remaining < min_volumes`` (config ``denoise.min_volumes``); None disables.
    tdof_remaining : int or None
        Temporal degrees of freedom left after denoising (``Cleaned.tdof_remaining``); None
        when the run was not cleaned.
    min_tdof : int or None
        Exclude when ``tdof_remaining < min_tdof``; None disables. A short run with a band-pass
        filter and many regressors can keep enough volumes yet have no degrees of freedom
        left (``tdof_remaining <= 0``): its correlations then describe nothing but noise.

    Returns
    -------
    excluded : bool
    reasons : list of str
        One sentence per rule the run breaks, naming the metric, its value, the
        limit and the configuration key; empty when the run is kept.

    See Also
    --------
    exclusion_checks : every rule with its value and limit, for reports.
    """
    checks = exclusion_checks(
        mean_fd=mean_fd, censored_fraction=censored_fraction, n_remaining=n_remaining, max_mean_fd=max_mean_fd,
        max_censored_fraction=max_censored_fraction, min_volumes=min_volumes, tdof_remaining=tdof_remaining,
        min_tdof=min_tdof,
    )
    reasons = [c["reason"] for c in checks if c["passed"] is False]
    return bool(reasons), reasons
