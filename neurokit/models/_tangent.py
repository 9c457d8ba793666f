"""Tangent-space projection as the first pipeline step: the geometric-mean reference is fitted
on the training fold's covariances only, then edges are selected from the projected matrix.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from neurokit.connectivity import TangentSpace
from neurokit.models._common import ModelError, _input_feature_names

__all__ = ["TangentProjector"]


class TangentProjector(TransformerMixin, BaseEstimator):
    """Project vectorised covariances to tangent space; pass the other columns through.

    X is laid out ``[covariances | rest]``: the first ``n_regions (n_regions + 1) / 2``
    columns hold each run's covariance matrix vectorised with its diagonal, in
    :func:`neurokit.connectivity.vectorize` order (the ``cov__A--B`` columns of a tangent
    features table); the remaining columns (other features, covariates, site code) pass
    through unchanged, after the tangent edges. ``fit`` learns the geometric-mean
    reference (:class:`neurokit.connectivity.TangentSpace`) of the training rows only;
    ``transform`` returns the off-diagonal tangent coordinates (``TangentSpace`` order),
    keeping only ``edges`` when given: the projection needs the whole matrix, so edge
    subsets (e.g. prefrontal-limbic) are taken after it. ComBat and covariate regression
    downstream then act on tangent vectors, never on covariances.

    Parameters
    ----------
    n_regions : int, default=0
        Regions of the covariance matrices; 0 makes the step a pass-through.
    edges : sequence of int or None, default=None
        Positions (in the off-diagonal upper-triangle order) of the tangent edges to keep;
        None keeps all ``n_regions (n_regions - 1) / 2``.

    Attributes
    ----------
    tangent_ : TangentSpace or None
        Fitted on the training covariances (None when ``n_regions`` is 0).
    mean_ : ndarray of shape (n_regions, n_regions) or None
        The geometric-mean reference, ``tangent_.mean_``.
    edges_ : ndarray of int
        Tangent edges kept.
    n_features_in_ : int
    """

    def __init__(self, n_regions=0, edges=None):
        self.n_regions = n_regions
        self.edges = edges

    def _n_block(self, n_columns):
        n = self.n_regions
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0 or n == 1:
            raise ModelError(f"'n_regions' must be 0 or an integer >= 2; got {n!r}.")
        width = int(n) * (int(n) + 1) // 2
        if width > n_columns:
            raise ModelError(
                f"'n_regions'={n} needs {width} covariance columns first in X, but X has {n_columns} column(s); "
                "X must start with the covariances vectorised with their diagonal (the cov__ columns)."
            )
        return width

    def fit(self, X, y=None):
        """Learn the geometric-mean reference of the training covariances.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_regions (n_regions + 1) / 2 + n_rest)
        y : ignored

        Returns
        -------
        self : TangentProjector
        """
        X = validate_data(self, X, dtype=np.float64)
        width = self._n_block(X.shape[1])
        n = int(self.n_regions)
        n_edges = n * (n - 1) // 2
        if n and self.edges is not None and np.size(self.edges) == 0:
            raise ModelError("'edges' is empty: keep at least one tangent edge, or None for all.")
        edges = np.arange(n_edges) if self.edges is None else np.asarray(self.edges)
        if edges.ndim != 1 or not np.issubdtype(edges.dtype, np.integer) or np.any((edges < 0) | (edges >= n_edges)):
            raise ModelError(
                f"'edges' must be integer positions in [0, {n_edges}) of the {n_edges} tangent edges, or None; "
                f"got {self.edges!r}."
            )
        self.edges_ = edges.astype(int)
        if n:
            self.tangent_ = TangentSpace().fit(X[:, :width])
            self.mean_ = self.tangent_.mean_
        else:
            self.tangent_, self.mean_ = None, None
        return self

    def transform(self, X):
        """Tangent edges relative to the fitted reference, then the pass-through columns.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_regions (n_regions + 1) / 2 + n_rest)

        Returns
        -------
        ndarray of shape (n_samples, n_kept_edges + n_rest)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if self.tangent_ is None:
            return X.copy()
        width = self._n_block(X.shape[1])
        return np.hstack([self.tangent_.transform(X[:, :width])[:, self.edges_], X[:, width:]])

    def get_feature_names_out(self, input_features=None):
        """``tangent_i--j`` (region indices) for the kept edges, then the pass-through names."""
        check_is_fitted(self)
        input_features = _input_feature_names(self, input_features)
        if self.tangent_ is None:
            return np.asarray(input_features, dtype=object)
        width = self._n_block(self.n_features_in_)
        names = self.tangent_.get_feature_names_out()[self.edges_]
        return np.asarray(list(names) + input_features[width:], dtype=object)
