"""Connectome-based predictive modelling (Shen et al. 2017) as scikit-learn estimators.

Edges correlated with the target in the training fold (p < threshold) form a positive and
a negative network; each sample's summed strength in them feeds a linear model.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.utils.validation import check_is_fitted, validate_data

from neurokit.models._common import ModelError, _fit_classes

__all__ = ["CPMRegressor", "CPMClassifier"]

_NETWORKS = ("both", "positive", "negative")


def _edge_correlations(X, y):
    """Pearson r of each column of X with y and its two-sided p-value, shape (n_features,) each."""
    n = X.shape[0]
    Xc = X - X.mean(axis=0)
    yc = y - y.mean()
    denom = np.sqrt((Xc**2).sum(axis=0) * (yc**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denom > 0, Xc.T @ yc / np.where(denom > 0, denom, 1.0), 0.0)
    r = np.clip(r, -1.0, 1.0)
    if n < 3:
        return r, np.ones_like(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r * np.sqrt((n - 2) / np.maximum(1.0 - r**2, 1e-300))
    p = 2 * stats.t.sf(np.abs(t), df=n - 2)
    return r, np.where(denom > 0, p, 1.0)


class _CPMBase(BaseEstimator):
    def __init__(self, threshold=0.01, network="both"):
        self.threshold = threshold
        self.network = network

    def _check_params(self):
        if not isinstance(self.threshold, numbers.Real) or not 0 < self.threshold <= 1:
            raise ModelError(f"'threshold' must be a p-value in (0, 1]; got {self.threshold!r}.")
        if self.network not in _NETWORKS:
            raise ModelError(f"'network' must be one of {_NETWORKS}; got {self.network!r}.")

    def _select(self, X, y_numeric):
        r, p = _edge_correlations(X, y_numeric)
        self.edge_r_ = r
        self.positive_mask_ = (r > 0) & (p < self.threshold)
        self.negative_mask_ = (r < 0) & (p < self.threshold)

    def _strengths(self, X):
        pos = X[:, self.positive_mask_].sum(axis=1)
        neg = X[:, self.negative_mask_].sum(axis=1)
        if self.network == "positive":
            return pos[:, None]
        if self.network == "negative":
            return neg[:, None]
        return np.column_stack([pos, neg])

    @property
    def coef_(self):
        """Per-edge weights implied by the strength model, shape (n_features,) or (n_classes, n_features)."""
        check_is_fitted(self)
        w = np.atleast_2d(self.model_.coef_)
        cols = {"positive": [self.positive_mask_], "negative": [self.negative_mask_]}.get(
            self.network, [self.positive_mask_, self.negative_mask_]
        )
        edges = np.stack([m.astype(float) for m in cols])  # (n_strengths, n_features)
        out = w @ edges
        return out[0] if out.shape[0] == 1 and np.ndim(self.model_.coef_) == 1 else out


class CPMRegressor(RegressorMixin, _CPMBase):
    """Connectome-based predictive modelling for a continuous target.

    Parameters
    ----------
    threshold : float, default=0.01
        p-value of the edge-target Pearson correlation below which an edge is selected.
    network : {'both', 'positive', 'negative'}, default='both'
        Which network strengths enter the linear model.

    Attributes
    ----------
    positive_mask_, negative_mask_ : ndarray of bool, shape (n_features,)
        Edges selected into the positive / negative network in ``fit``.
    edge_r_ : ndarray of shape (n_features,)
        Training correlation of each edge with the target.
    model_ : LinearRegression
        Fitted on the network strengths; with no edge selected it predicts the training mean.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 30))
    >>> y = X[:, :3].sum(axis=1) + rng.normal(size=200)
    >>> cpm = CPMRegressor().fit(X, y)
    >>> bool(cpm.positive_mask_[:3].all())
    True
    """

    def fit(self, X, y):
        """Select edges and fit the strength model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : CPMRegressor
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        self._select(X, y)
        self.model_ = LinearRegression().fit(self._strengths(X), y)
        return self

    def predict(self, X):
        """Predicted target, shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.model_.predict(self._strengths(X))


class CPMClassifier(ClassifierMixin, _CPMBase):
    """Connectome-based predictive modelling for a class target.

    Edges are selected by their correlation with the class index (classes in sorted
    order, so an ordered target such as recovery stage coded 0 < 1 < 2 is treated as
    ordinal; for two classes this is the point-biserial correlation). A balanced L2
    logistic regression is fitted on the network strengths.

    Parameters
    ----------
    threshold : float, default=0.01
        p-value of the edge-class correlation below which an edge is selected.
    network : {'both', 'positive', 'negative'}, default='both'
        Which network strengths enter the model.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    positive_mask_, negative_mask_ : ndarray of bool, shape (n_features,)
    edge_r_ : ndarray of shape (n_features,)
    model_ : LogisticRegression
    n_features_in_ : int
    """

    def fit(self, X, y):
        """Select edges and fit the strength model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : CPMClassifier
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        codes = _fit_classes(self, y)
        self._select(X, codes.astype(float))
        self.model_ = LogisticRegression(class_weight="balanced", max_iter=1000).fit(self._strengths(X), codes)
        return self

    def decision_function(self, X):
        """Decision values, shape (n_samples,) for two classes else (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.model_.decision_function(self._strengths(X))

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.model_.predict_proba(self._strengths(X))

    def predict(self, X):
        """Predicted class labels, shape (n_samples,)."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # a two-number baseline, not a strong classifier
        return tags
