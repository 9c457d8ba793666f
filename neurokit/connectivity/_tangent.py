"""Tangent-space connectivity: a scikit-learn transformer whose group reference is learned in fit.

The reference (geometric mean covariance) must come from training subjects only, so it is an estimator.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from neurokit.connectivity._measures import edge_indices
from neurokit.connectivity._validation import ConnectivityError

__all__ = ["TangentSpace"]


def _map_eigenvalues(function, symmetric):
    """``f(S)`` for a symmetric matrix or a stack of them (..., n, n), through the eigendecomposition."""
    values, vectors = np.linalg.eigh(symmetric)
    return (vectors * function(values)[..., None, :]) @ np.swapaxes(vectors, -1, -2)


def _geometric_mean(covariances, max_iter, tol):
    """Riemannian (affine-invariant) mean of SPD matrices; nilearn's algorithm (Fletcher 2007, alg. 3)."""
    gmean = covariances.mean(axis=0)
    norm_old, step, norm = np.inf, 1.0, np.inf
    for _ in range(max_iter):
        vals, vecs = np.linalg.eigh(gmean)
        inv_sqrt = (vecs / np.sqrt(vals)) @ vecs.T
        logs_mean = _map_eigenvalues(np.log, inv_sqrt @ covariances @ inv_sqrt).mean(axis=0)
        if np.isnan(logs_mean).any():
            raise ConnectivityError("the geometric mean of the covariances diverged (NaN after the matrix logarithm).")
        norm = np.linalg.norm(logs_mean)
        sqrt_g = (vecs * np.sqrt(vals)) @ vecs.T
        gmean = sqrt_g @ _map_eigenvalues(lambda v: np.exp(v * step), logs_mean) @ sqrt_g
        if norm < norm_old:
            norm_old = norm
        elif norm > norm_old:
            step /= 2.0
            norm = norm_old
        if tol is not None and norm / gmean.size < tol:
            break
    converged = tol is None or norm / gmean.size < tol
    return gmean, converged


def _n_regions(n_features: int) -> int:
    n = int(round((np.sqrt(8 * n_features + 1) - 1) / 2))
    if n * (n + 1) // 2 != n_features:
        raise ConnectivityError(
            "'X' must hold vectorised covariance matrices with their diagonal, i.e. n_regions*(n_regions+1)/2 "
            f"columns (1, 3, 6, 10, 15, ...); got {n_features} columns."
        )
    return n


class TangentSpace(TransformerMixin, BaseEstimator):
    """Tangent-space parametrisation of covariance matrices around a learned group mean.

    ``fit`` learns the geometric (Riemannian) mean of the training subjects'
    covariances; ``transform`` whitens each covariance ``C`` by that mean and returns
    ``logm(W C W)`` with ``W = mean_^(-1/2)``, vectorised (Varoquaux et al. 2010).
    Inside a :class:`~sklearn.pipeline.Pipeline` the reference is refitted on the
    training subjects of every cross-validation fold.

    Parameters
    ----------
    include_diagonal : bool, default=False
        Also return the diagonal of the tangent matrices. By default the output has
        one column per edge, in the order of :func:`vectorize` (upper triangle,
        row-major), so edge names and :func:`edge_networks` apply to it directly.
    max_iter : int, default=30
        Iterations of the geometric-mean gradient descent (nilearn uses 30).
    tol : float, default=1e-7
        Convergence tolerance on the gradient norm divided by ``n_regions**2``;
        a :class:`~sklearn.exceptions.ConvergenceWarning` is emitted when not reached.

    Attributes
    ----------
    mean_ : ndarray of shape (n_regions, n_regions)
        Geometric mean of the training covariances.
    whitening_ : ndarray of shape (n_regions, n_regions)
        ``mean_ ** (-1/2)``.
    n_regions_ : int
    n_features_in_ : int
        ``n_regions (n_regions + 1) / 2``.
    feature_names_in_ : ndarray of str
        Column names of a DataFrame ``X``, when it had string column names.

    Notes
    -----
    Input contract: ``X`` is either

    - a 2D array of shape (n_subjects, n_regions (n_regions + 1) / 2), each row a
      covariance matrix vectorised **with** its diagonal in :func:`vectorize` order,
      i.e. ``vectorize(cov, include_diagonal=True)[0]`` (this is what sits in a
      features table and what scikit-learn's pipelines and checks pass around), or
    - a 3D array of shape (n_subjects, n_regions, n_regions) of covariance matrices,
      e.g. ``connectivity_matrix(ts, "covariance")`` per run.

    Every matrix must be symmetric positive definite (use a shrinkage estimator).
    Results equal nilearn's ``ConnectivityMeasure(kind="tangent")`` computed on the
    same covariances. Unlike nilearn, ``transform`` accepts a single subject: it is
    expressed relative to the fitted reference, which is how a new participant is
    predicted. Vectorised output is not rescaled (nilearn divides the diagonal by
    sqrt 2 and uses the lower triangle).
    """

    def __init__(self, include_diagonal=False, max_iter=30, tol=1e-7):
        self.include_diagonal = include_diagonal
        self.max_iter = max_iter
        self.tol = tol

    def _covariances(self, X, reset):
        arr = X
        if not hasattr(X, "columns"):  # keep DataFrames whole so validate_data records their column names
            arr = check_array(X, allow_nd=True, dtype=np.float64)
            if arr.ndim == 3:
                if arr.shape[1] != arr.shape[2]:
                    raise ConnectivityError(
                        f"'X' as a 3D array must have shape (n_subjects, n_regions, n_regions); got {arr.shape}."
                    )
                if not np.allclose(arr, arr.transpose(0, 2, 1), rtol=1e-5, atol=1e-8):
                    raise ConnectivityError("'X' covariance matrices must be symmetric.")
                rows, cols = edge_indices(arr.shape[1], include_diagonal=True)
                arr = arr[:, rows, cols]
        arr = validate_data(self, arr, reset=reset, dtype=np.float64)
        n = _n_regions(arr.shape[1])
        rows, cols = edge_indices(n, include_diagonal=True)
        cov = np.zeros((arr.shape[0], n, n))
        cov[:, rows, cols] = arr
        cov[:, cols, rows] = arr
        min_eig = np.linalg.eigvalsh(cov)[:, 0]
        bad = np.flatnonzero(min_eig <= 0)
        if bad.size:
            raise ConnectivityError(
                f"'X' rows {bad[:10].tolist()} are not positive definite covariance matrices "
                f"(smallest eigenvalue {min_eig[bad[0]]:.3g}); estimate covariances with a shrinkage estimator "
                "(covariance_estimator='shrunk', the default)."
            )
        return cov

    def fit(self, X, y=None):
        """Learn the geometric-mean reference of the training covariances.

        Parameters
        ----------
        X : array-like of shape (n_subjects, n_regions (n_regions + 1) / 2) or (n_subjects, n_regions, n_regions)
            Covariance matrices, vectorised with their diagonal or as matrices.
        y : None
            Ignored.

        Returns
        -------
        self : TangentSpace
        """
        if not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise ConnectivityError(f"'max_iter' must be a positive integer; got {self.max_iter!r}.")
        if self.tol is not None and not (isinstance(self.tol, (int, float)) and self.tol > 0):
            raise ConnectivityError(f"'tol' must be a positive number or None; got {self.tol!r}.")
        cov = self._covariances(X, reset=True)
        mean, converged = _geometric_mean(cov, self.max_iter, self.tol)
        if not converged:
            warnings.warn(
                f"TangentSpace: the geometric mean did not reach tol={self.tol} in max_iter={self.max_iter} iterations.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.mean_ = mean
        self.whitening_ = _map_eigenvalues(lambda v: 1.0 / np.sqrt(v), mean)
        self.n_regions_ = cov.shape[1]
        return self

    def transform(self, X):
        """Tangent vectors of covariances relative to the fitted reference.

        Parameters
        ----------
        X : array-like of shape (n_subjects, n_regions (n_regions + 1) / 2) or (n_subjects, n_regions, n_regions)

        Returns
        -------
        tangent : ndarray of shape (n_subjects, n_edges) or (n_subjects, n_edges + n_regions)
            ``logm(whitening_ @ C @ whitening_)`` vectorised in :func:`vectorize` order,
            with the diagonal only when ``include_diagonal``.
        """
        check_is_fitted(self)
        cov = self._covariances(X, reset=False)
        w = self.whitening_
        rows, cols = edge_indices(self.n_regions_, include_diagonal=bool(self.include_diagonal))
        return _map_eigenvalues(np.log, w @ cov @ w)[:, rows, cols]

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns.

        Parameters
        ----------
        input_features : array-like of str, optional
            Names of the input columns (vectorised covariance entries, e.g. ``"A--B"``);
            default ``feature_names_in_`` when fitted on a DataFrame.

        Returns
        -------
        names : ndarray of str of shape (n_features_out,)
            The input name of each output entry's (row, column) pair, so edge names
            such as ``"A--B"`` carry over; ``"tangent_i--j"`` (region indices) when
            no input names are known.
        """
        check_is_fitted(self)
        rows, cols = edge_indices(self.n_regions_, include_diagonal=bool(self.include_diagonal))
        if input_features is None:
            input_features = getattr(self, "feature_names_in_", None)
        if input_features is None:
            return np.asarray([f"tangent_{i}--{j}" for i, j in zip(rows, cols)], dtype=object)
        names = np.asarray(input_features, dtype=object)
        if names.shape != (self.n_features_in_,):
            raise ConnectivityError(f"'input_features' must have {self.n_features_in_} names; got shape {names.shape}.")
        matrix = np.empty((self.n_regions_, self.n_regions_), dtype=object)
        all_rows, all_cols = edge_indices(self.n_regions_, include_diagonal=True)
        matrix[all_rows, all_cols] = names
        return matrix[rows, cols]
