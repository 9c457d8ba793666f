"""Per-run connectivity matrices, Fisher z and (un)vectorisation of their upper triangle.

Numbers agree with nilearn's ``ConnectivityMeasure`` (0.14) for the same covariance estimator.
The default estimator is a fixed shrinkage, whose bias does not depend on the number of kept volumes.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import clone
from sklearn.covariance import OAS, EmpiricalCovariance, LedoitWolf, ShrunkCovariance

from neurokit.connectivity._validation import ConnectivityError, check_square

__all__ = ["KINDS", "COVARIANCE_ESTIMATORS", "DEFAULT_COVARIANCE_ESTIMATOR", "DEFAULT_SHRINKAGE", "connectivity_matrix",
           "fisher_z", "vectorize", "unvectorize", "edge_indices"]

#: Matrix kinds computed by :func:`connectivity_matrix`.
KINDS = ("correlation", "partial correlation", "covariance", "precision")

#: Names accepted by ``covariance_estimator``.
COVARIANCE_ESTIMATORS = ("shrunk", "ledoit_wolf", "empirical", "oas")

#: The estimator :func:`connectivity_matrix` and the configuration use by default: a fixed shrinkage, the
#: same for every run, so that its bias does not follow the number of volumes censoring leaves
#: (Ledoit-Wolf and OAS shrink short runs harder; evidence in docs/denoising.md).
DEFAULT_COVARIANCE_ESTIMATOR = "shrunk"
#: Shrinkage of ``covariance_estimator="shrunk"`` when none is given.
DEFAULT_SHRINKAGE = 0.1


def _check_shrinkage(shrinkage, covariance_estimator):
    """The shrinkage to use with ``covariance_estimator`` (None unless it is "shrunk"), or raise."""
    if not (isinstance(covariance_estimator, str) and covariance_estimator == "shrunk"):
        if shrinkage is not None:
            raise ConnectivityError(
                f"'shrinkage' applies to covariance_estimator='shrunk' only; got shrinkage={shrinkage!r} with "
                f"covariance_estimator={covariance_estimator!r}: drop 'shrinkage' or use covariance_estimator='shrunk'."
            )
        return None
    if shrinkage is None:
        return DEFAULT_SHRINKAGE
    if isinstance(shrinkage, bool) or not isinstance(shrinkage, numbers.Real) or not 0 < shrinkage < 1:
        raise ConnectivityError(
            f"'shrinkage' must be a number in (0, 1) (the weight of the scaled identity, e.g. {DEFAULT_SHRINKAGE}); "
            f"got {shrinkage!r}. Use covariance_estimator='empirical' for no shrinkage."
        )
    return float(shrinkage)


def _make_estimator(covariance_estimator, shrinkage=None):
    shrinkage = _check_shrinkage(shrinkage, covariance_estimator)
    if isinstance(covariance_estimator, str):
        if covariance_estimator == "shrunk":
            return ShrunkCovariance(shrinkage=shrinkage, store_precision=False)
        if covariance_estimator == "ledoit_wolf":
            return LedoitWolf(store_precision=False)
        if covariance_estimator == "empirical":
            return EmpiricalCovariance(store_precision=False)
        if covariance_estimator == "oas":
            return OAS(store_precision=False)
    elif hasattr(covariance_estimator, "fit"):
        return clone(covariance_estimator)
    raise ConnectivityError(
        f"'covariance_estimator' must be one of {COVARIANCE_ESTIMATORS} or an estimator with fit() "
        f"and covariance_; got {covariance_estimator!r}."
    )


def _check_timeseries(timeseries, allow_missing_regions: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return (float array, boolean mask of present regions) or raise."""
    x = np.asarray(timeseries, dtype=float)
    if x.ndim != 2:
        raise ConnectivityError(f"'timeseries' must be 2D (n_timepoints, n_regions); got shape {x.shape}.")
    if x.shape[0] < 2:
        raise ConnectivityError(f"'timeseries' needs at least 2 timepoints (rows); got {x.shape[0]}.")
    if x.shape[1] < 1:
        raise ConnectivityError("'timeseries' needs at least 1 region (column); got 0.")
    if np.isinf(x).any():
        cols = np.flatnonzero(np.isinf(x).any(axis=0)).tolist()
        raise ConnectivityError(f"'timeseries' has infinite values in region columns {cols}.")
    nan = np.isnan(x)
    missing = nan.all(axis=0)
    partial = nan.any(axis=0) & ~missing
    if partial.any():
        raise ConnectivityError(
            f"'timeseries' has NaN values in some timepoints of region columns {np.flatnonzero(partial).tolist()}; "
            "censor those volumes before computing connectivity."
        )
    if missing.any() and not allow_missing_regions:
        raise ConnectivityError(
            f"'timeseries' region columns {np.flatnonzero(missing).tolist()} are all NaN (regions without signal); "
            "drop them, or pass allow_missing_regions=True to get NaN rows and columns for them."
        )
    present = ~missing
    if not present.any():
        raise ConnectivityError("'timeseries' has no region with signal: every column is NaN.")
    sub = x[:, present]
    std = sub.std(axis=0)
    scale = np.maximum(np.abs(sub).max(axis=0), np.finfo(float).tiny)
    constant = std <= 1e-12 * scale
    if constant.any():
        cols = np.flatnonzero(present)[constant].tolist()
        raise ConnectivityError(
            f"'timeseries' region columns {cols} are constant over time (zero variance); their connectivity is undefined."
        )
    return sub, present


def _cov_to_corr(cov: np.ndarray) -> np.ndarray:
    d = 1.0 / np.sqrt(np.diag(cov))
    corr = cov * d[:, None] * d[None, :]
    np.fill_diagonal(corr, 1.0)
    return corr


def _inverse(cov: np.ndarray, n_timepoints: int) -> np.ndarray:
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ConnectivityError(
            f"the covariance of 'timeseries' is singular ({n_timepoints} timepoints, {cov.shape[0]} regions), "
            "so its precision and partial correlations do not exist; use a shrinkage estimator "
            "(covariance_estimator='shrunk')."
        ) from None
    # numpy, not scipy.linalg: scipy's LAPACK calls were 100-1000x slower here (scipy 1.17 wheels)
    return np.linalg.inv(cov)


def connectivity_matrix(timeseries, kind="correlation", *, covariance_estimator=DEFAULT_COVARIANCE_ESTIMATOR,
                        shrinkage=None, allow_missing_regions=False):
    """Connectivity matrix of one run's region time series.

    Parameters
    ----------
    timeseries : array-like of shape (n_timepoints, n_regions)
        Cleaned region signals of one run (censored volumes already removed).
    kind : {"correlation", "partial correlation", "covariance", "precision"}, default="correlation"
        Matrix to return. For group-referenced tangent-space connectivity use
        :class:`TangentSpace` on ``kind="covariance"`` matrices.
    covariance_estimator : {"shrunk", "ledoit_wolf", "empirical", "oas"} or estimator, default="shrunk"
        Covariance estimator: scikit-learn's ``ShrunkCovariance`` (a fixed ``shrinkage``),
        ``LedoitWolf``, ``EmpiricalCovariance`` or ``OAS`` (all with ``store_precision=False``),
        or any object with ``fit(X)`` and ``covariance_`` (cloned, never modified).
        Ledoit-Wolf and OAS choose their shrinkage from the data and shrink runs with fewer
        (kept) volumes harder, so their correlations fall with the number of volumes that
        censoring leaves; the fixed shrinkage scales every run's correlations alike.
    shrinkage : float in (0, 1), optional
        Weight of the scaled identity for ``covariance_estimator="shrunk"``:
        ``(1 - shrinkage) * S + shrinkage * trace(S) / n_regions * I`` with ``S`` the
        empirical covariance; default :data:`DEFAULT_SHRINKAGE` (0.1). Correlations are
        then the empirical ones times ``1 - shrinkage``, whatever the number of volumes.
        Not allowed with another estimator.
    allow_missing_regions : bool, default=False
        By default a region column that is entirely NaN (a region with no voxels in
        this run) raises. When True, such regions are left out of the estimate and
        their rows and columns of the result are NaN, so matrices of runs keep the
        same layout; the other entries then equal the matrix of the remaining regions
        (partial correlations are conditioned on the remaining regions only).

    Returns
    -------
    matrix : ndarray of shape (n_regions, n_regions)
        Symmetric matrix (symmetrised to remove rounding asymmetry); correlation and
        partial correlation have an exact unit diagonal.

    Raises
    ------
    ConnectivityError
        Unknown ``kind`` or estimator; ``shrinkage`` outside (0, 1) or given with an
        estimator other than "shrunk"; input not 2D; fewer than 2 timepoints;
        infinite values; NaN in part of a column (censor those volumes first);
        all-NaN columns unless ``allow_missing_regions``; constant columns;
        a singular covariance for "precision" or "partial correlation".

    Notes
    -----
    This follows nilearn 0.14 ``ConnectivityMeasure(kind=..., cov_estimator=...)``
    for the same estimator (nilearn's default is ``LedoitWolf(store_precision=False)``;
    neurokit's is the fixed shrinkage, see ``covariance_estimator``):

    - "correlation" first z-scores each column (mean removed, divided by the
      ``ddof=1`` standard deviation), then estimates the covariance and rescales it to
      a correlation. With a shrinkage estimator this standardisation changes the
      amount of shrinkage, so it is not the same as rescaling the covariance of the
      raw signals; nilearn does it this way and so does neurokit.
    - "covariance", "precision" and "partial correlation" use the raw signals; the
      partial correlation is ``-P_ij / sqrt(P_ii P_jj)`` of the precision ``P``.

    Unlike nilearn, NaN and constant columns are errors rather than NaN or
    zero-filled results.
    """
    if kind == "tangent":
        raise ConnectivityError(
            "'kind' 'tangent' is a group measure (relative to a reference fitted on training subjects); "
            "compute kind='covariance' per run and use TangentSpace on the group."
        )
    if kind not in KINDS:
        raise ConnectivityError(f"'kind' must be one of {KINDS}; got {kind!r}.")
    estimator = _make_estimator(covariance_estimator, shrinkage)
    x, present = _check_timeseries(timeseries, allow_missing_regions)
    if kind == "correlation":
        z = x - x.mean(axis=0)
        z = z / z.std(axis=0, ddof=1)
        result = _cov_to_corr(np.asarray(estimator.fit(z).covariance_, dtype=float))
    else:
        cov = np.asarray(estimator.fit(x).covariance_, dtype=float)
        if kind == "covariance":
            result = cov
        else:
            precision = _inverse(cov, x.shape[0])
            result = precision if kind == "precision" else -_cov_to_corr(precision)
            if kind == "partial correlation":
                np.fill_diagonal(result, 1.0)
    result = 0.5 * (result + result.T)
    if present.all():
        return result
    n = present.shape[0]
    full = np.full((n, n), np.nan)
    full[np.ix_(present, present)] = result
    return full


def fisher_z(r, *, eps=1e-7):
    """Fisher z-transform ``arctanh(r)`` of correlations, clipped to stay finite.

    Parameters
    ----------
    r : array-like of any shape
        Correlations in [-1, 1]; NaN stays NaN.
    eps : float, default=1e-7
        ``|r|`` is clipped to ``1 - eps`` first, so a unit diagonal maps to
        ``arctanh(1 - eps)`` (about 8.4 for the default) rather than infinity.

    Returns
    -------
    z : ndarray of the same shape as ``r`` (a float for a scalar input)

    Raises
    ------
    ConnectivityError
        If ``eps`` is not in (0, 1) or any ``|r|`` exceeds 1 by more than 1e-6
        (covariances passed by mistake).
    """
    if not isinstance(eps, numbers.Real) or not 0 < eps < 1:
        raise ConnectivityError(f"'eps' must be a number in (0, 1); got {eps!r}.")
    arr = np.asarray(r, dtype=float)
    too_big = np.abs(arr) > 1 + 1e-6
    if too_big.any():
        raise ConnectivityError(
            f"'r' must hold correlations in [-1, 1]; got values up to {np.nanmax(np.abs(arr)):.4g} "
            f"({int(too_big.sum())} entries outside)."
        )
    z = np.arctanh(np.clip(arr, -1 + eps, 1 - eps))
    return z if z.ndim else float(z)


def edge_indices(n_regions, *, include_diagonal=False):
    """Row and column indices of the edges in vectorised order.

    Parameters
    ----------
    n_regions : int
    include_diagonal : bool, default=False

    Returns
    -------
    rows, cols : ndarray of int, each of shape (n_edges,)
        Upper triangle in row-major order: (0, 1), (0, 2), ..., (0, n-1), (1, 2), ...
        (with (i, i) before (i, i+1) when the diagonal is included);
        ``n_edges = n (n - 1) / 2``, or ``n (n + 1) / 2`` with the diagonal.
    """
    if not isinstance(n_regions, numbers.Integral) or n_regions < 1:
        raise ConnectivityError(f"'n_regions' must be a positive integer; got {n_regions!r}.")
    return np.triu_indices(int(n_regions), k=0 if include_diagonal else 1)


#: Column prefixes of the group features table (``neurokit.io.build_features``): Fisher-z edges
#: ``edge__<A>--<B>``, and vectorised covariances ``cov__<A>--<B>`` (diagonal included) for tangent.
EDGE_PREFIX = "edge__"
COV_PREFIX = "cov__"


def vectorize(matrix, region_names=None, *, include_diagonal=False):
    """Upper triangle of a symmetric matrix (or a stack of them) as a vector, with edge names.

    Parameters
    ----------
    matrix : array-like of shape (n_regions, n_regions) or (n_matrices, n_regions, n_regions)
        Symmetric matrices (NaN allowed, e.g. for missing regions).
    region_names : sequence of str of length n_regions, optional
        Names used in the edge names; default ``"0", "1", ...``.
    include_diagonal : bool, default=False
        Also return the diagonal entries (edge name ``"A--A"``).

    Returns
    -------
    values : ndarray of shape (n_edges,) or (n_matrices, n_edges)
        Entries in :func:`edge_indices` order: the upper triangle, row by row.
        Unlike nilearn's ``sym_matrix_to_vec`` (lower triangle, diagonal divided by
        sqrt 2), values are neither reordered nor rescaled.
    edge_names : list of str of length n_edges
        ``"A--B"`` with A the row region and B the column region.

    Raises
    ------
    ConnectivityError
        If the matrix is not square or not symmetric (relative tolerance 1e-5), or
        ``region_names`` has the wrong length or repeated names.
    """
    arr = check_square(matrix, allow_stack=True)
    n = arr.shape[-1]
    if not np.allclose(arr, np.swapaxes(arr, -1, -2), rtol=1e-5, atol=1e-8, equal_nan=True):
        raise ConnectivityError("'matrix' must be symmetric; got a matrix that differs from its transpose.")
    names = _region_names(region_names, n)
    rows, cols = edge_indices(n, include_diagonal=include_diagonal)
    values = arr[..., rows, cols]
    return values, [f"{names[i]}--{names[j]}" for i, j in zip(rows, cols)]


def _region_names(region_names, n):
    if region_names is None:
        return [str(i) for i in range(n)]
    names = [str(s) for s in region_names]
    if len(names) != n:
        raise ConnectivityError(f"'region_names' must give one name per region ({n}); got {len(names)}.")
    if len(set(names)) != n:
        raise ConnectivityError(f"'region_names' must be unique; got repeated names in {names}.")
    return names


def unvectorize(values, n_regions, *, diagonal=0.0):
    """Symmetric matrix (or stack) from vectorised upper-triangle values.

    Parameters
    ----------
    values : array-like of shape (n_edges,) or (n_matrices, n_edges)
        In :func:`vectorize` order, either without the diagonal
        (``n_edges = n_regions (n_regions - 1) / 2``) or with it
        (``n_regions (n_regions + 1) / 2``); the length tells which.
    n_regions : int
    diagonal : float or array-like of shape (n_regions,), default=0.0
        Diagonal to fill in when ``values`` holds only off-diagonal entries
        (e.g. 1.0 for correlations); ignored otherwise.

    Returns
    -------
    matrix : ndarray of shape (n_regions, n_regions) or (n_matrices, n_regions, n_regions)
    """
    v = np.asarray(values, dtype=float)
    if v.ndim not in (1, 2):
        raise ConnectivityError(f"'values' must be 1D (n_edges,) or 2D (n_matrices, n_edges); got shape {v.shape}.")
    n_off = n_regions * (n_regions - 1) // 2 if isinstance(n_regions, numbers.Integral) else None
    rows_off, cols_off = edge_indices(n_regions)
    n = int(n_regions)
    if v.shape[-1] == n_off:
        out = np.zeros(v.shape[:-1] + (n, n))
        d = np.asarray(diagonal, dtype=float)
        if d.ndim > 1 or (d.ndim == 1 and d.shape[0] != n):
            raise ConnectivityError(f"'diagonal' must be a number or have n_regions={n} entries; got shape {d.shape}.")
        out[..., np.arange(n), np.arange(n)] = d
        rows, cols = rows_off, cols_off
    elif v.shape[-1] == n_off + n:
        out = np.zeros(v.shape[:-1] + (n, n))
        rows, cols = edge_indices(n, include_diagonal=True)
    else:
        raise ConnectivityError(
            f"'values' must have {n_off} entries (off-diagonal) or {n_off + n} (with diagonal) for "
            f"n_regions={n}; got {v.shape[-1]}."
        )
    out[..., rows, cols] = v
    out[..., cols, rows] = v
    return out
