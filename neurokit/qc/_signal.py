"""Temporal signal-to-noise ratio of raw region signals, for the participant QC report."""

from __future__ import annotations

import numpy as np

from neurokit.qc._validation import QCError

__all__ = ["region_tsnr"]


def region_tsnr(raw_signals, exclude_volumes=None):
    """Temporal SNR of each region's raw mean signal.

    Parameters
    ----------
    raw_signals : array-like of shape (n_timepoints, n_regions)
        Region means of the preprocessed BOLD before any cleaning (positive
        intensities). A column that is entirely NaN (a region without voxels)
        gives NaN.
    exclude_volumes : array-like of int, optional
        Volumes to leave out, typically the non-steady-state volumes
        (``ConfoundSelection.non_steady_state``): one bright initial volume of a
        60-volume run halves the tSNR, which then reflects the scanner's
        equilibration rather than the data's noise (MRIQC also drops them).

    Returns
    -------
    tsnr : ndarray of shape (n_regions,)
        ``mean_t(x) / std_t(detrend(x))``: the mean of the raw signal over time
        divided by the standard deviation (``ddof=0``, as nipype's ``TSNR`` that
        fMRIPrep uses) of the signal after removing a least-squares linear trend,
        so slow drift does not count as noise.

    Raises
    ------
    QCError
        Fewer than 3 timepoints, infinite values, NaN in part of a column, a column
        with mean <= 0 (not raw intensities: pass signals before cleaning) or a
        column without variance around its linear trend (tSNR undefined).
    """
    x = np.asarray(raw_signals, dtype=float)
    if x.ndim != 2:
        raise QCError(f"'raw_signals' must be 2D (n_timepoints, n_regions); got shape {x.shape}.")
    if exclude_volumes is not None:
        drop = np.asarray(exclude_volumes)
        if drop.size and (drop.ndim != 1 or not np.issubdtype(drop.dtype, np.integer)
                          or drop.min() < 0 or drop.max() >= x.shape[0]):
            raise QCError(
                f"'exclude_volumes' must be integer volume indices in [0, {x.shape[0] - 1}]; got {drop.tolist()!r}."
            )
        x = np.delete(x, drop.astype(int), axis=0)
    if x.shape[0] < 3:
        raise QCError(f"'raw_signals' needs at least 3 timepoints to detrend; got {x.shape[0]}.")
    if np.isinf(x).any():
        raise QCError(f"'raw_signals' has infinite values in region columns {np.flatnonzero(np.isinf(x).any(0)).tolist()}.")
    nan = np.isnan(x)
    missing = nan.all(axis=0)
    partial = nan.any(axis=0) & ~missing
    if partial.any():
        raise QCError(f"'raw_signals' has NaN values in some timepoints of region columns {np.flatnonzero(partial).tolist()}.")
    tsnr = np.full(x.shape[1], np.nan)
    present = np.flatnonzero(~missing)
    sub = x[:, present]
    mean = sub.mean(axis=0)
    if (mean <= 0).any():
        raise QCError(
            f"'raw_signals' region columns {present[mean <= 0].tolist()} have a mean <= 0; "
            "tSNR needs raw intensities, not cleaned or demeaned signals."
        )
    # least-squares linear detrend in closed form (scipy.signal.detrend was ~20x slower here)
    t = np.arange(sub.shape[0], dtype=float)
    t -= t.mean()
    centred = sub - mean
    resid = centred - np.outer(t, (t @ centred) / (t @ t))
    std = resid.std(axis=0)
    constant = std <= 1e-12 * mean
    if constant.any():
        raise QCError(f"'raw_signals' region columns {present[constant].tolist()} have no variance after removing a linear trend; their tSNR is undefined.")
    tsnr[present] = mean / std
    return tsnr
