"""Group QC-FC: how strongly each edge's connectivity tracks head motion across runs, and its distance dependence.

Ciric et al. 2017 and Parkes et al. 2018 benchmark denoising strategies with these.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from neurokit.connectivity import edge_indices
from neurokit.qc._validation import QCError

__all__ = ["qc_fc", "qc_fc_distance_dependence", "qc_fc_summary", "region_distances"]


def _finite_2d(name, value, n_rows=None, allow_nan=False):
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise QCError(f"'{name}' must be numeric; encode categorical covariates (e.g. sex) as numbers first.") from None
    if arr.ndim == 1 and name == "covariates":
        arr = arr[:, None]
    if arr.ndim != 2:
        raise QCError(f"'{name}' must be 2D (n_runs, ...); got shape {arr.shape}.")
    if n_rows is not None and arr.shape[0] != n_rows:
        raise QCError(f"'{name}' must have one row per run ({n_rows}); got {arr.shape[0]}.")
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise QCError(f"'{name}' has NaN or infinite values in runs (rows) {rows[:10].tolist()}; drop or impute those runs first.")
    return arr


def qc_fc(edges, mean_fd, covariates=None, *, return_pvalues=False, nan_policy="raise"):
    """Correlation of each edge with mean framewise displacement across runs (QC-FC).

    Parameters
    ----------
    edges : array-like of shape (n_runs, n_edges)
        Connectivity (e.g. Fisher-z) of each run's edges, one row per run.
    mean_fd : array-like of shape (n_runs,)
        Mean framewise displacement of each run (mm).
    covariates : array-like of shape (n_runs,) or (n_runs, n_covariates), optional
        Numeric covariates (e.g. age, sex coded 0/1). When given, the result is the
        partial correlation: edges and mean FD are both residualised on an intercept
        and the covariates by least squares before correlating.
    return_pvalues : bool, default=False
        Also return two-sided p-values from the t distribution with
        ``n_runs - 2 - n_covariates`` degrees of freedom.
    nan_policy : {"raise", "omit"}, default="raise"
        NaN in ``edges`` (e.g. edges of a region missing in some runs) raise, or with
        "omit" each such edge uses only the runs where it has a value (its own
        degrees of freedom). ``mean_fd`` and ``covariates`` must always be finite.

    Returns
    -------
    qcfc : ndarray of shape (n_edges,)
        Pearson (or partial) correlation of each edge with mean FD.
    pvalues : ndarray of shape (n_edges,)
        Only when ``return_pvalues``.

    Raises
    ------
    QCError
        Mismatched shapes, non-finite or non-numeric values, too few runs
        (at least ``n_covariates + 4``), mean FD or an edge that is constant across
        runs (after covariates are removed).
    """
    if nan_policy not in ("raise", "omit"):
        raise QCError(f"'nan_policy' must be one of ('raise', 'omit'); got {nan_policy!r}.")
    x = _finite_2d("edges", edges, allow_nan=nan_policy == "omit")
    n_runs = x.shape[0]
    fd = np.asarray(mean_fd, dtype=float)
    if fd.ndim != 1 or fd.shape[0] != n_runs:
        raise QCError(f"'mean_fd' must be 1D with one value per run ({n_runs}); got shape {fd.shape}.")
    if not np.isfinite(fd).all():
        raise QCError(f"'mean_fd' has NaN or infinite values in runs {np.flatnonzero(~np.isfinite(fd))[:10].tolist()}.")
    design = np.ones((n_runs, 1))
    if covariates is not None:
        design = np.column_stack([design, _finite_2d("covariates", covariates, n_runs)])
    n_cov = design.shape[1] - 1
    r = np.empty(x.shape[1])
    df = np.full(x.shape[1], n_runs - 2 - n_cov)
    has_nan = np.isnan(x).any(axis=0)
    complete = np.flatnonzero(~has_nan)
    if complete.size:
        r[complete] = _partial_correlation(x[:, complete], fd, design, complete)
    for k in np.flatnonzero(has_nan):
        rows = ~np.isnan(x[:, k])
        r[k] = _partial_correlation(x[rows, k : k + 1], fd[rows], design[rows], [k])[0]
        df[k] = rows.sum() - 2 - n_cov
    if not return_pvalues:
        return r
    with np.errstate(divide="ignore"):
        t = r * np.sqrt(df / np.maximum(1 - r**2, 0))
    return r, 2 * stats.t.sf(np.abs(t), df)


def _partial_correlation(x, fd, design, columns):
    """Correlation of each column of x with fd after regressing both on design; columns names them in errors."""
    n_runs, n_cov = design.shape[0], design.shape[1] - 1
    if n_runs < n_cov + 4:
        raise QCError(
            f"'edges' needs at least {n_cov + 4} runs for QC-FC with {n_cov} covariates; "
            f"got {n_runs}{'' if len(columns) > 1 else f' with a value for edge {columns[0]}'}."
        )
    both = np.column_stack([fd, x])
    beta, *_ = np.linalg.lstsq(design, both, rcond=None)
    resid = both - design @ beta
    norms = np.sqrt((resid**2).sum(axis=0))
    # relative to the values' magnitude, so rounding residue of a constant column counts as zero
    scale = np.sqrt(n_runs) * np.abs(both).max(axis=0)
    tiny = norms <= 1e-10 * np.maximum(scale, np.finfo(float).tiny)
    if tiny[0]:
        raise QCError("'mean_fd' is constant across runs (after removing covariates); QC-FC is undefined.")
    if tiny[1:].any():
        bad = np.asarray(columns)[tiny[1:]]
        raise QCError(f"'edges' columns {bad[:10].tolist()} are constant across runs (after removing covariates).")
    return np.clip((resid[:, 1:] * resid[:, :1]).sum(axis=0) / (norms[1:] * norms[0]), -1.0, 1.0)


def qc_fc_distance_dependence(qcfc, distances):
    """Spearman correlation between edges' QC-FC and the distance between their regions.

    Parameters
    ----------
    qcfc : array-like of shape (n_edges,)
        From :func:`qc_fc`.
    distances : array-like of shape (n_edges,)
        From :func:`region_distances`, in the same edge order.

    Returns
    -------
    rho : float
        Negative values mean motion inflates short-range more than long-range
        connectivity, the typical residual-motion signature.
    """
    q = np.asarray(qcfc, dtype=float)
    d = np.asarray(distances, dtype=float)
    if q.ndim != 1 or d.ndim != 1 or q.shape != d.shape:
        raise QCError(f"'qcfc' and 'distances' must be 1D of the same length; got shapes {q.shape} and {d.shape}.")
    if q.shape[0] < 3:
        raise QCError(f"'qcfc' needs at least 3 edges; got {q.shape[0]}.")
    if not (np.isfinite(q).all() and np.isfinite(d).all()):
        raise QCError("'qcfc' and 'distances' must be finite.")
    if np.ptp(q) == 0 or np.ptp(d) == 0:
        raise QCError("'qcfc' and 'distances' must each vary across edges; got a constant.")
    return float(stats.spearmanr(q, d).statistic)


def region_distances(coords):
    """Euclidean distance between region centres, for every edge.

    Parameters
    ----------
    coords : array-like of shape (n_regions, 3)
        Region centres in mm (the atlas table's x, y, z).

    Returns
    -------
    distances : ndarray of shape (n_edges,)
        In the edge order of :func:`neurokit.connectivity.vectorize` (upper
        triangle, row-major, no diagonal).
    """
    c = np.asarray(coords, dtype=float)
    if c.ndim != 2 or c.shape[1] != 3 or c.shape[0] < 2:
        raise QCError(f"'coords' must have shape (n_regions >= 2, 3); got {c.shape}.")
    if not np.isfinite(c).all():
        raise QCError(f"'coords' has non-finite values in regions {np.flatnonzero(~np.isfinite(c).all(1)).tolist()}.")
    rows, cols = edge_indices(c.shape[0])
    return np.linalg.norm(c[rows] - c[cols], axis=1)


def qc_fc_summary(qcfc, pvalues, *, alpha=0.05):
    """Benchmarks of residual motion across edges (Ciric et al. 2017).

    Parameters
    ----------
    qcfc : array-like of shape (n_edges,)
        From :func:`qc_fc`.
    pvalues : array-like of shape (n_edges,)
        From ``qc_fc(..., return_pvalues=True)``.
    alpha : float, default=0.05
        Uncorrected significance level.

    Returns
    -------
    summary : dict
        ``n_edges``, ``median_abs_qcfc`` (median of ``|qcfc|``) and
        ``percent_significant`` (percentage of edges with ``p < alpha``, uncorrected),
        as plain Python numbers.
    """
    q = np.asarray(qcfc, dtype=float)
    p = np.asarray(pvalues, dtype=float)
    if q.ndim != 1 or q.shape != p.shape or q.size == 0:
        raise QCError(f"'qcfc' and 'pvalues' must be 1D of the same non-zero length; got shapes {q.shape} and {p.shape}.")
    if not (np.isfinite(q).all() and np.isfinite(p).all()):
        raise QCError("'qcfc' and 'pvalues' must be finite.")
    if not 0 < alpha < 1:
        raise QCError(f"'alpha' must be in (0, 1); got {alpha!r}.")
    return {
        "n_edges": int(q.size),
        "median_abs_qcfc": float(np.median(np.abs(q))),
        "percent_significant": float(100.0 * np.mean(p < alpha)),
    }
