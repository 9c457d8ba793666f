"""Confound regression as an estimator: covariates (age, sex, mean FD) are regressed out of
the features with a linear model fitted on the training fold only.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from neurokit.models._common import _check_n_tail, _input_feature_names

__all__ = ["CovariateRegressor"]


class CovariateRegressor(TransformerMixin, BaseEstimator):
    """Regress covariates out of features, fitted on the training data only.

    X uses the tail layout: its last ``n_covariates`` columns are the covariates
    (already numeric, e.g. age, sex coded 0/1, mean FD) and the columns before them are
    the features. ``fit`` estimates, per feature, the ordinary-least-squares slopes of
    the feature on the centred covariates; ``transform`` subtracts the covariate part
    (the feature's training mean is kept) and drops the covariate columns. The target is
    never used, so the step cannot leak it.

    Parameters
    ----------
    n_covariates : int, default=0
        Number of trailing covariate columns of X; 0 makes the step a pass-through.

    Attributes
    ----------
    n_features_in_ : int
        Columns of X seen in ``fit`` (features + covariates).
    covariate_mean_ : ndarray of shape (n_covariates,)
        Training means of the covariates.
    coef_ : ndarray of shape (n_covariates, n_features)
        Slopes of each feature on the centred covariates.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> motion = rng.normal(size=(50, 1))
    >>> edges = 2 * motion + rng.normal(size=(50, 3))
    >>> clean = CovariateRegressor(n_covariates=1).fit_transform(np.hstack([edges, motion]))
    >>> clean.shape
    (50, 3)
    """

    def __init__(self, n_covariates=0):
        self.n_covariates = n_covariates

    def fit(self, X, y=None):
        """Learn the covariate slopes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features + n_covariates)
            Features followed by the covariates.
        y : ignored
            Present for Pipeline compatibility; the target is never used.

        Returns
        -------
        self : CovariateRegressor
        """
        X = validate_data(self, X, dtype=np.float64)
        _check_n_tail(self.n_covariates, "n_covariates", X.shape[1])
        k = int(self.n_covariates)
        features, covariates = X[:, : X.shape[1] - k], X[:, X.shape[1] - k :]
        self.covariate_mean_ = covariates.mean(axis=0)
        centred = covariates - self.covariate_mean_
        if k:
            # the pseudo-inverse copes with a constant or collinear covariate (e.g. one sex only in a fold)
            self.coef_ = np.linalg.pinv(centred) @ (features - features.mean(axis=0))
        else:
            self.coef_ = np.zeros((0, features.shape[1]))
        return self

    def transform(self, X):
        """Remove the covariate part of each feature.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features + n_covariates)

        Returns
        -------
        X_clean : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        k = int(self.n_covariates)
        features, covariates = X[:, : X.shape[1] - k], X[:, X.shape[1] - k :]
        return features - (covariates - self.covariate_mean_) @ self.coef_

    def get_feature_names_out(self, input_features=None):
        """Names of the feature columns (covariates are dropped)."""
        check_is_fitted(self)
        k = int(self.n_covariates)
        input_features = _input_feature_names(self, input_features)
        return np.asarray(input_features[: self.n_features_in_ - k], dtype=object)
