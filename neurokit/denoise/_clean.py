"""Clean region signals: detrend, filter, regress confounds, censor and standardise.

Follows the order of operations of nilearn 0.14 ``signal.clean`` so results agree within 1e-4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import linalg
from scipy import signal as sp_signal
from scipy.interpolate import CubicSpline

from neurokit.denoise._errors import DenoiseError, InsufficientVolumesError

__all__ = ["Cleaned", "clean", "partial_r2"]

_EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class Cleaned:
    """Result of :func:`clean`.

    Attributes
    ----------
    signals : numpy.ndarray, shape (n_kept, n_regions)
        Cleaned signals at the kept volumes.
    sample_mask : numpy.ndarray of int, shape (n_kept,)
        Indices (into the input volumes) of the rows of ``signals``.
    n_censored : int
        Input volumes not in ``signals``.
    n_regressors : int
        Linearly independent confound regressors removed (cosine drifts of ``filter="cosine"``
        included).
    tdof_lost : int
        ``n_regressors + n_trend + n_filter`` (see :func:`clean`, Notes).
    tdof_remaining : int
        ``n_kept - tdof_lost`` (may be <= 0: the run then carries no usable variance).
    n_nonfinite : int
        Non-finite input values zero-filled (only with ``ensure_finite=True``).
    """

    signals: np.ndarray
    sample_mask: np.ndarray
    n_censored: int
    n_regressors: int
    tdof_lost: int
    tdof_remaining: int
    n_nonfinite: int = 0


def _detrend(x: np.ndarray) -> np.ndarray:
    """Remove mean and linear trend of each column, shape (n_t, n) -> (n_t, n)."""
    x = x - x.mean(axis=0)
    if x.shape[0] < 2:
        return x
    t = np.arange(x.shape[0], dtype=float)
    t -= t.mean()
    t /= np.sqrt((t**2).sum())
    return x - np.outer(t, t @ x)


def _zscore_sample(x: np.ndarray, ddof: int = 1) -> np.ndarray:
    x = x - x.mean(axis=0)
    std = x.std(axis=0, ddof=ddof)
    std[std < _EPS] = 1.0
    return x / std


def _psc(x: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=0)
    zero = np.abs(mean) < _EPS
    out = (x - mean) / np.where(zero, 1.0, np.abs(mean)) * 100
    out[:, zero] = 0.0
    return out


def _critical(freq: float, nyq: float) -> float:
    # same guard as nilearn: keep the cut-off strictly inside (0, Nyquist)
    if freq >= nyq:
        return nyq - nyq * 10 * np.finfo(np.float32).eps
    return freq


def _butterworth(x: np.ndarray, t_r: float, low_pass, high_pass) -> np.ndarray:
    fs = 1.0 / t_r
    nyq = fs / 2
    freqs = [f for f in (high_pass, low_pass) if f is not None]
    crit = [_critical(f, nyq) for f in freqs]
    btype = "band" if len(crit) == 2 else ("high" if high_pass is not None else "low")
    if btype == "band" and crit[0] == crit[1]:
        return x
    sos = sp_signal.butter(N=5, Wn=crit if btype == "band" else crit[0], btype=btype, output="sos", fs=fs)
    try:
        return sp_signal.sosfiltfilt(sos, x, axis=0, padtype="odd")
    except ValueError as exc:
        # scipy's default padding for sosfiltfilt (as nilearn uses it)
        padlen = 3 * (2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum())))
        raise DenoiseError(
            f"{x.shape[0]} volumes are too few for the order-5 Butterworth filter (high_pass={high_pass}, "
            f"low_pass={low_pass}), which needs at least {padlen + 1} (scipy: {str(exc).rstrip('.')}). "
            "Set denoise.filter: cosine (filter='cosine', drift regressors instead), drop a cut-off "
            "(denoise.low_pass: null), or leave runs this short out with --exclude."
        ) from None


def _cosine_drifts(n: int, t_r: float, high_pass: float) -> np.ndarray:
    """DCT-II drift basis below ``high_pass`` Hz, shape (n, n_drifts), without the constant."""
    order = min(n - 1, int(np.floor(2 * n * high_pass * t_r)))
    k = np.arange(1, order + 1)
    return np.sqrt(2.0 / n) * np.cos(np.pi / n * (np.arange(n)[:, None] + 0.5) * k[None, :])


def _as_confounds(confounds, n_t: int) -> np.ndarray | None:
    if confounds is None:
        return None
    names = None
    if isinstance(confounds, pd.DataFrame):
        names = [str(c) for c in confounds.columns]
        confounds = confounds.to_numpy(dtype=float)
    confounds = np.asarray(confounds, dtype=float)
    if confounds.ndim == 1:
        confounds = confounds[:, None]
    if confounds.ndim != 2:
        raise DenoiseError(f"'confounds' must be 2D (n_volumes, n_regressors); got {confounds.ndim} dimensions.")
    if confounds.shape[0] != n_t:
        raise DenoiseError(
            f"'confounds' has {confounds.shape[0]} rows but 'signals' has {n_t} volumes; "
            "pass the confounds of this run (see check_confounds_length)."
        )
    bad = ~np.isfinite(confounds)
    if bad.any():
        col = int(np.argwhere(bad)[0][1])
        label = names[col] if names else f"column {col}"
        raise DenoiseError(f"'confounds' has non-finite values in {label!r}; select confounds with select_confounds().")
    if confounds.shape[1] == 0:
        return None
    return confounds


def _as_sample_mask(sample_mask, n_t: int) -> np.ndarray | None:
    if sample_mask is None:
        return None
    mask = np.asarray(sample_mask)
    if mask.dtype == bool:
        if mask.shape != (n_t,):
            raise DenoiseError(f"boolean 'sample_mask' must have shape ({n_t},); got {mask.shape}.")
        return np.flatnonzero(mask)
    if mask.ndim != 1 or (mask.size and not np.issubdtype(mask.dtype, np.integer)):
        raise DenoiseError(
            "'sample_mask' must be a 1D array of volume indices (or booleans), e.g. ConfoundSelection.sample_mask."
        )
    mask = mask.astype(np.int64)
    if mask.size and (mask.min() < 0 or mask.max() >= n_t):
        raise DenoiseError(
            f"'sample_mask' has indices outside 0..{n_t - 1} (got {mask.min()}..{mask.max()}); "
            "it must index the volumes of 'signals'."
        )
    if np.any(np.diff(mask) <= 0):
        raise DenoiseError("'sample_mask' indices must be strictly increasing without repeats.")
    return mask


def clean(
    signals: np.ndarray,
    confounds: np.ndarray | pd.DataFrame | None = None,
    sample_mask: np.ndarray | None = None,
    *,
    t_r: float,
    detrend: bool = True,
    standardize: Literal["zscore_sample", "zscore", "psc", "none"] | None = "zscore_sample",
    high_pass: float | None = 0.01,
    low_pass: float | None = 0.08,
    filter: Literal["butterworth", "cosine"] | None = "butterworth",
    standardize_confounds: bool = True,
    ensure_finite: bool = False,
    min_volumes: int = 50,
) -> Cleaned:
    """Detrend, filter, regress out confounds, censor and standardise region signals.

    Equals ``nilearn.signal.clean(signals, confounds=..., sample_mask=..., t_r=..., detrend=...,
    standardize=..., low_pass=..., high_pass=..., filter=...)`` (nilearn 0.14) within 1e-4 for
    float64 input, with the deliberate differences listed in Notes.

    Parameters
    ----------
    signals : array-like, shape (n_volumes, n_regions)
        Raw region signals; not modified.
    confounds : array-like or pandas.DataFrame, shape (n_volumes, n_regressors), optional
        Regressors, e.g. ``ConfoundSelection.confounds``; must be finite.
    sample_mask : array of int, shape (n_kept,), or bool, shape (n_volumes,), optional
        Volumes to keep (``ConfoundSelection.sample_mask``); None keeps all.
    t_r : float
        Repetition time in seconds.
    detrend : bool
        Remove mean and linear trend of signals and confounds.
    standardize : {"zscore_sample", "zscore", "psc", "none"} or None
        ``zscore_sample``: unit sample standard deviation (ddof=1); ``zscore``: ddof=0 (nilearn's
        old meaning); ``psc``: percent signal change; None or "none": leave as is.
    high_pass, low_pass : float or None
        Cut-offs in Hz; None turns a side off.
    filter : {"butterworth", "cosine"} or None
        ``butterworth``: order-5 zero-phase filter of signals and confounds, censored volumes
        first interpolated by a cubic spline; ``cosine``: DCT drift regressors below
        ``high_pass`` added to the confounds (low_pass ignored, as in nilearn); None: no filter.
    standardize_confounds : bool
        z-score confounds before regression (else scale by their maximum absolute value).
    ensure_finite : bool
        False: non-finite signals raise. True: they are replaced by 0 and counted in
        ``Cleaned.n_nonfinite``, so the QC report can show the imputation.
    min_volumes : int
        Fewest kept volumes (>= 2) for a usable run.

    Returns
    -------
    Cleaned

    Raises
    ------
    InsufficientVolumesError
        All volumes censored or fewer than ``min_volumes`` kept (carries the counts).
    DenoiseError
        Wrong shapes, out-of-range ``sample_mask``, non-finite values, bad parameters.

    Notes
    -----
    Order of operations (as nilearn): cosine drifts added to the confounds; with
    ``filter="butterworth"`` the censored volumes are replaced by a cubic-spline interpolation
    through the kept ones and volumes before the first / after the last kept volume are dropped,
    otherwise censored volumes are removed now; signals and confounds detrended; Butterworth
    filtering of both, then censoring; confounds standardised and projected out of the signals
    (pivoted QR, columns with ``|R_ii| <= 100 eps`` dropped as collinear); standardisation.

    Temporal degrees of freedom lost: ``n_regressors`` (rank of the confounds, cosine drifts
    included) + ``n_trend`` (2 with ``detrend``, else 1 when standardising removes the mean)
    + ``n_filter``, the fraction of the spectrum a Butterworth filter removes times the kept
    volumes: ``round(n_kept * (1 - (min(low_pass, nyq) - (high_pass or 0)) / nyq))``,
    ``nyq = 1 / (2 t_r)``.

    Deliberate differences from nilearn: non-finite input raises unless ``ensure_finite`` (nilearn
    silently zero-fills with ``ensure_finite=True`` and propagates NaN otherwise); all or too
    many censored volumes raise :class:`InsufficientVolumesError` instead of returning an empty
    or NaN matrix; the spline interpolation fills *every* censored volume (nilearn 0.14 indexes
    with ``~sample_mask`` on integer indices, which fills the volumes mirrored around the run's
    middle instead; both agree whenever no censored volume's mirror ``n-1-i`` is also censored).
    """
    if t_r is None or not np.isfinite(t_r) or t_r <= 0:
        raise DenoiseError(f"'t_r' must be a positive repetition time in seconds; got {t_r!r}.")
    if filter not in ("butterworth", "cosine", None, False):
        raise DenoiseError(f"'filter' must be one of ('butterworth', 'cosine', None); got {filter!r}.")
    if standardize in ("none", False):
        standardize = None
    if standardize not in ("zscore_sample", "zscore", "psc", None):
        raise DenoiseError(
            f"'standardize' must be one of ('zscore_sample', 'zscore', 'psc', None); got {standardize!r}."
        )
    for name, value in (("high_pass", high_pass), ("low_pass", low_pass)):
        if value is not None and not value > 0:
            raise DenoiseError(f"'{name}' must be a positive frequency in Hz or None; got {value!r}.")
    if high_pass is not None and low_pass is not None and high_pass >= low_pass:
        raise DenoiseError(f"'high_pass' ({high_pass} Hz) must be below 'low_pass' ({low_pass} Hz).")
    if filter == "cosine" and high_pass is None:
        raise DenoiseError("filter='cosine' needs 'high_pass' (Hz); pass high_pass=0.01 or filter=None.")
    if not (isinstance(min_volumes, (int, np.integer)) and min_volumes >= 2):
        raise DenoiseError(f"'min_volumes' must be an integer >= 2; got {min_volumes!r}.")

    x = np.array(signals, dtype=np.float64, copy=True)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise DenoiseError(f"'signals' must be 2D (n_volumes, n_regions); got {x.ndim} dimensions.")
    n_t = x.shape[0]
    nonfinite = ~np.isfinite(x)
    n_nonfinite = int(nonfinite.sum())
    if n_nonfinite:
        if not ensure_finite:
            cols = np.flatnonzero(nonfinite.any(axis=0))
            empty = np.flatnonzero(nonfinite.all(axis=0))
            if empty.size:
                # what extraction returns for a region none of whose voxels has signal
                raise DenoiseError(
                    f"'signals' columns {empty[:10].tolist()} are non-finite in every volume: those regions have no "
                    "usable voxel in this run (every voxel NaN or constant in the BOLD, e.g. outside the acquired "
                    "field of view or in signal dropout). Drop those regions before cleaning; zero-filling them "
                    "(ensure_finite=True) would make a meaningless signal."
                )
            raise DenoiseError(
                f"'signals' has {n_nonfinite} non-finite values (regions {cols[:5].tolist()}); fix the "
                "extraction or pass ensure_finite=True to zero-fill them (counted in Cleaned.n_nonfinite)."
            )
        x[nonfinite] = 0.0
    conf = _as_confounds(confounds, n_t)
    mask = _as_sample_mask(sample_mask, n_t)
    kept = n_t if mask is None else mask.size
    if kept < min_volumes:
        raise InsufficientVolumesError(
            f"{kept} of {n_t} volumes remain after censoring; at least {min_volumes} are needed "
            "(denoise.min_volumes). The run is excluded.",
            n_volumes=n_t, n_kept=kept, min_volumes=int(min_volumes),
        )
    if filter == "butterworth" and high_pass is None and low_pass is None:
        filter = None

    if filter == "cosine":
        drifts = _cosine_drifts(n_t, t_r, high_pass)
        if drifts.shape[1]:
            if conf is None:
                conf = drifts
            elif not _has_cosine(drifts, conf):
                conf = np.hstack([conf, drifts])

    if mask is not None:
        if filter == "butterworth":
            x = _interpolate(x, mask, t_r)
            conf = None if conf is None else _interpolate(conf, mask, t_r)
            mask = mask - mask[0]
        else:
            x = x[mask]
            conf = None if conf is None else conf[mask]

    original_mean = x.mean(axis=0)
    if detrend:
        x = _detrend(x)
        conf = None if conf is None else _detrend(conf)
    if filter == "butterworth":
        x = _butterworth(x, t_r, low_pass, high_pass)
        conf = None if conf is None else _butterworth(conf, t_r, low_pass, high_pass)
        if mask is not None:
            x = x[mask]
            conf = None if conf is None else conf[mask]

    n_regressors = 0
    if conf is not None:
        if standardize_confounds:
            conf = _zscore_sample(conf)
        else:
            peak = np.max(np.abs(conf), axis=0)
            peak[peak == 0] = 1
            conf = conf / peak
        q, r, _ = linalg.qr(conf, mode="economic", pivoting=True)
        q = q[:, np.abs(np.diag(r)) > _EPS * 100.0]
        n_regressors = q.shape[1]
        x = x - q @ (q.T @ x)

    if standardize == "psc":
        # nilearn adds the pre-filter mean back when filtering removed it
        if np.abs(x.mean(0)).mean() / np.abs(original_mean).mean() < 1e-1:
            x = x + original_mean
        x = _psc(x)
    elif standardize == "zscore_sample":
        x = _zscore_sample(x, ddof=1) if x.shape[0] > 1 else x
    elif standardize == "zscore":
        x = _zscore_sample(x, ddof=0) if x.shape[0] > 1 else x

    final_mask = np.arange(n_t) if sample_mask is None else _as_sample_mask(sample_mask, n_t)
    n_trend = 2 if detrend else (1 if standardize else 0)
    n_filter = 0
    if filter == "butterworth":
        nyq = 0.5 / t_r
        top = min(low_pass, nyq) if low_pass is not None else nyq
        n_filter = int(round(kept * (1 - (top - (high_pass or 0.0)) / nyq)))
    tdof_lost = n_regressors + n_trend + n_filter
    return Cleaned(
        signals=x,
        sample_mask=final_mask,
        n_censored=n_t - kept,
        n_regressors=n_regressors,
        tdof_lost=tdof_lost,
        tdof_remaining=kept - tdof_lost,
        n_nonfinite=n_nonfinite,
    )


def _has_cosine(drifts: np.ndarray, conf: np.ndarray) -> bool:
    """True if a user regressor correlates > 0.9 with a drift term (nilearn's check)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(drifts.T, conf.T)
    np.fill_diagonal(corr, 0)
    return bool(np.sum(corr[: drifts.shape[1], :].ravel() > 0.9) > 0)


def _interpolate(x: np.ndarray, mask: np.ndarray, t_r: float) -> np.ndarray:
    """Fill censored volumes by a cubic spline through the kept ones, shape (n_t, n) -> (m, n).

    Volumes before the first and after the last kept volume are dropped (no extrapolation).
    """
    times = np.arange(x.shape[0]) * t_r
    spline = CubicSpline(times[mask], x[mask], extrapolate=False)
    out = x.copy()
    censored = np.ones(x.shape[0], dtype=bool)
    censored[mask] = False
    out[censored] = spline(times[censored])
    return out[mask[0] : mask[-1] + 1]


def partial_r2(
    signals: np.ndarray,
    confounds: pd.DataFrame,
    columns,
    sample_mask: np.ndarray | None = None,
    *,
    t_r: float,
    detrend: bool = True,
    high_pass: float | None = 0.01,
    low_pass: float | None = 0.08,
    filter: Literal["butterworth", "cosine"] | None = "butterworth",
    standardize_confounds: bool = True,
    min_volumes: int = 50,
    **ignored,
) -> np.ndarray:
    """Per region, the share of variance some confounds explain beyond the others (partial R^2).

    Both fits go through :func:`clean` with the same detrending, filtering and censoring, so the
    share is that of the signal left after the other confounds and the filter:
    ``1 - RSS(all confounds) / RSS(all but columns)``.

    Parameters
    ----------
    signals : array-like, shape (n_volumes, n_regions)
    confounds : pandas.DataFrame, shape (n_volumes, n_regressors)
        Every confound of the strategy (e.g. ``ConfoundSelection.confounds``).
    columns : sequence of str
        The confounds whose added share is measured (e.g. the physiological regressors).
    sample_mask, t_r, detrend, high_pass, low_pass, filter, standardize_confounds, min_volumes
        As for :func:`clean` (``DenoiseConfig.clean_kwargs()`` fits; ``standardize`` is ignored:
        the shares are of the unstandardised residuals).

    Returns
    -------
    numpy.ndarray, shape (n_regions,)
        In [0, 1]; 0 for a region with no variance left.

    Raises
    ------
    DenoiseError
        A name of ``columns`` is not a column of ``confounds``, or as :func:`clean`.
    InsufficientVolumesError
        As :func:`clean`.
    """
    columns = [str(c) for c in columns]
    missing = [c for c in columns if c not in confounds.columns]
    if missing:
        raise DenoiseError(f"'columns' {missing} are not confounds (columns: {list(confounds.columns)[:8]} ...).")
    options = {"t_r": t_r, "detrend": detrend, "high_pass": high_pass, "low_pass": low_pass, "filter": filter,
               "standardize": None, "standardize_confounds": standardize_confounds, "min_volumes": min_volumes}
    full = clean(signals, confounds, sample_mask, **options).signals
    reduced = clean(signals, confounds.drop(columns=columns), sample_mask, **options).signals
    rss_full = ((full - full.mean(axis=0)) ** 2).sum(axis=0)
    rss_reduced = ((reduced - reduced.mean(axis=0)) ** 2).sum(axis=0)
    share = np.divide(rss_reduced - rss_full, rss_reduced, out=np.zeros_like(rss_reduced),
                      where=rss_reduced > _EPS * max(1.0, float(rss_reduced.max(initial=0.0))))
    return np.clip(share, 0.0, 1.0)
