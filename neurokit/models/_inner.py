"""Default estimators whose hyperparameter (ridge alpha, logistic C) is chosen by an inner
cross-validation grouped by participant, so one person's sessions never sit on both sides.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold
from sklearn.utils.validation import check_is_fitted, validate_data

from neurokit.models._common import ModelError, _fit_classes

__all__ = ["GroupRidgeCV", "GroupRidgeClassifierCV", "GroupLogisticRegressionCV"]

#: Ridge penalties searched by default (the RidgeCV grid used before).
RIDGE_ALPHAS = tuple(np.logspace(-2, 4, 13).tolist())
#: Logistic inverse penalties searched by default.
LOGISTIC_CS = (0.01, 0.1, 1.0)


def _inner_splitter(kind, n_splits):
    """The inner splitter: stratified by class for classification; deterministic (no shuffle)."""
    return StratifiedGroupKFold(n_splits=n_splits) if kind == "classification" else GroupKFold(n_splits=n_splits)


def _check_n_splits(n_splits):
    if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral) or n_splits < 2:
        raise ModelError(f"'n_splits' must be an integer >= 2; got {n_splits!r}.")


def _check_grid(values, name):
    grid = np.asarray(values, dtype=float).ravel() if np.ndim(values) else np.asarray([], dtype=float)
    if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ModelError(f"'{name}' must be a non-empty sequence of positive numbers; got {values!r}.")
    return np.sort(grid)


def _inner_splits(kind, n_splits, X, y, groups):
    """Grouped inner splits; ``groups=None`` treats every row as its own participant."""
    if groups is None:
        groups = np.arange(len(X))
    groups = np.asarray(groups)
    if groups.shape != (len(X),):
        raise ModelError(f"'groups' must hold one participant code per row of X ({len(X)}); got shape {groups.shape}.")
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ModelError(
            "'groups' holds a single participant: the inner search of alpha / C needs at least 2 participants."
        )
    splitter = _inner_splitter(kind, min(int(n_splits), n_groups))
    return list(splitter.split(X, y, groups))


def _strata_codes(strata, n_rows):
    """Integer codes of the inner stratification labels; a ModelError unless one label per row."""
    strata = np.asarray(strata)
    if strata.shape != (n_rows,):
        raise ModelError(f"'strata' must hold one label per row of X ({n_rows}); got shape {strata.shape}.")
    return np.unique(strata, return_inverse=True)[1]


def _pooled_choice(grid, loss, weights, splits):
    """Each grid value's summed inner loss divided by the total weight of the test rows, and the value with the smallest."""
    pooled = loss / weights[np.concatenate([t for _, t in splits])].sum()
    return pooled, float(grid[int(np.argmin(pooled))])


def _ridge_path(X, Y, w, alphas):
    """Weighted ridge solutions for every alpha: coefficients (n_alphas, n_features, n_targets), intercepts."""
    coef, intercept = _ridge_path_batch(X, Y[None], w[None], alphas)
    return coef[0], intercept[0]


def _ridge_path_batch(X, Y, w, alphas):
    """:func:`_ridge_path` for a batch of weightings of the same rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_batch, n_samples, n_targets)
    w : ndarray of shape (n_batch, n_samples)
        Row weights of each batch member (one SVD each).
    alphas : ndarray of shape (n_alphas,)

    Returns
    -------
    coef : ndarray of shape (n_batch, n_alphas, n_features, n_targets)
    intercept : ndarray of shape (n_batch, n_alphas, n_targets)
    """
    sw = w / w.sum(axis=1, keepdims=True)
    x_mean, y_mean = sw @ X, np.einsum("bn,bnt->bt", sw, Y)
    root = np.sqrt(w)[:, :, None]
    A = root * (X[None] - x_mean[:, None])  # (b, n, p)
    AtY = np.matmul(A.transpose(0, 2, 1), root * (Y - y_mean[:, None]))  # (b, p, n_targets)
    ridge = alphas[None, :, None, None]
    # eigen-decompose the smaller Gram matrix (A'A or AA'); eigh of a small square matrix is several
    # times faster than the SVD of A, and 1 / (s^2 + alpha) needs no division by s
    if A.shape[2] <= A.shape[1]:
        s2, V = np.linalg.eigh(np.matmul(A.transpose(0, 2, 1), A))
        VtAtY = np.matmul(V.transpose(0, 2, 1), AtY)[:, None]  # (b, 1, p, n_targets)
        coef = np.matmul(V[:, None], VtAtY / (s2[:, None, :, None] + ridge))
    else:
        s2, U = np.linalg.eigh(np.matmul(A, A.transpose(0, 2, 1)))
        UtY = np.matmul(U.transpose(0, 2, 1), root * (Y - y_mean[:, None]))[:, None]  # (b, 1, n, n_targets)
        coef = np.matmul(np.matmul(A.transpose(0, 2, 1), U)[:, None], UtY / (s2[:, None, :, None] + ridge))
    intercept = y_mean[:, None] - np.einsum("bp,bapt->bat", x_mean, coef)
    return coef, intercept


class _GroupRidgeBase(BaseEstimator):
    def _fit_path(self, X, Y, w, groups, kind, y_for_split):
        _check_n_splits(self.n_splits)
        alphas = _check_grid(self.alphas, "alphas")
        splits = _inner_splits(kind, self.n_splits, X, y_for_split, groups)
        error = np.zeros(len(alphas))
        for train, test in splits:
            coef, intercept = _ridge_path(X[train], Y[train], w[train], alphas)
            pred = np.einsum("np,apt->ant", X[test], coef) + intercept[:, None, :]
            error += np.einsum("n,ant->a", w[test], (pred - Y[test][None]) ** 2)
        self.cv_error_, self.alpha_ = _pooled_choice(alphas, error, w, splits)
        self.n_splits_ = len(splits)
        coef, intercept = _ridge_path(X, Y, w, np.array([self.alpha_]))
        return coef[0].T, intercept[0]  # (n_targets, n_features), (n_targets,)


class GroupRidgeCV(RegressorMixin, _GroupRidgeBase):
    """Ridge regression whose penalty is chosen by participant-grouped inner K-fold CV.

    Replaces RidgeCV's leave-one-out search, which puts a participant's other sessions in
    the inner training set and so picks alpha on leaked information. ``fit`` splits the
    rows with :class:`~sklearn.model_selection.GroupKFold` on ``groups`` (participant
    codes; inside :func:`cross_validate_model` they are passed as ``model__groups``),
    computes every alpha's ridge solution from one SVD per split, picks the alpha with
    the smallest pooled inner mean squared error and refits on all rows. ``predict`` needs
    no groups, so the model applies to new participants.

    Parameters
    ----------
    alphas : sequence of float, default=13 values from 1e-2 to 1e4 (log-spaced)
    n_splits : int, default=5
        Inner folds (fewer when there are fewer participants).

    Attributes
    ----------
    alpha_ : float
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    cv_error_ : ndarray of shape (n_alphas,)
        Inner mean squared error of each alpha (alphas sorted ascending).
    n_splits_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 5))
    >>> y = X @ [1.0, 0.5, 0.0, 0.0, 0.0] + rng.normal(size=40)
    >>> model = GroupRidgeCV().fit(X, y, groups=np.repeat(np.arange(20), 2))
    >>> model.n_splits_
    5
    """

    def __init__(self, alphas=RIDGE_ALPHAS, n_splits=5):
        self.alphas = alphas
        self.n_splits = n_splits

    def fit(self, X, y, groups=None):
        """Choose alpha by grouped inner CV, then fit on all rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        groups : array-like of shape (n_samples,), optional
            Participant code per row; None treats every row as its own participant.

        Returns
        -------
        self : GroupRidgeCV
        """
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, ensure_min_samples=2)
        coef, intercept = self._fit_path(X, y[:, None], np.ones(len(y)), groups, "regression", y)
        self.coef_, self.intercept_ = coef[0], float(intercept[0])
        return self

    def predict(self, X):
        """Predicted target, shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_ + self.intercept_


def _balanced_weights(codes, n_classes):
    counts = np.bincount(codes, minlength=n_classes).astype(float)
    return (len(codes) / (n_classes * counts))[codes]


class GroupRidgeClassifierCV(ClassifierMixin, _GroupRidgeBase):
    """Ridge classifier (balanced class weights) with alpha chosen by grouped inner CV.

    As :class:`GroupRidgeCV` on the classes coded -1/+1 (one column per class, one for
    two classes), scored by the class-weighted squared error of that coding (what
    RidgeClassifierCV's leave-one-out search scores), with inner folds from
    :class:`~sklearn.model_selection.StratifiedGroupKFold`.

    Parameters
    ----------
    alphas : sequence of float, default=13 values from 1e-2 to 1e4 (log-spaced)
    n_splits : int, default=3

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    alpha_ : float
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    cv_error_ : ndarray of shape (n_alphas,)
    n_splits_ : int
    n_features_in_ : int
    """

    def __init__(self, alphas=RIDGE_ALPHAS, n_splits=3):
        self.alphas = alphas
        self.n_splits = n_splits

    def fit(self, X, y, groups=None, strata=None):
        """Choose alpha by grouped inner CV, then fit on all rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        groups : array-like of shape (n_samples,), optional
        strata : array-like of shape (n_samples,), optional
            Labels the inner folds are stratified by; None: ``y``. The permutation null
            passes the observed target, so every permutation shares the inner folds.

        Returns
        -------
        self : GroupRidgeClassifierCV
        """
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        codes = _fit_classes(self, y)
        k = len(self.classes_)
        Y = np.where(codes[:, None] == np.arange(k)[None, :], 1.0, -1.0)
        if k == 2:
            Y = Y[:, 1:]
        split_by = codes if strata is None else _strata_codes(strata, len(y))
        self.coef_, self.intercept_ = self._fit_path(X, Y, _balanced_weights(codes, k), groups, "classification", split_by)
        return self

    def decision_function(self, X):
        """Decision values, shape (n_samples,) for two classes else (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        d = X @ self.coef_.T + self.intercept_
        return d[:, 0] if d.shape[1] == 1 else d

    def predict(self, X):
        """Predicted class labels, shape (n_samples,)."""
        d = self.decision_function(X)
        return self.classes_[(d > 0).astype(int) if d.ndim == 1 else np.argmax(d, axis=1)]


class GroupLogisticRegressionCV(ClassifierMixin, BaseEstimator):
    """L2 logistic regression (balanced class weights) with C chosen by grouped inner CV.

    Replaces LogisticRegressionCV, whose inner folds can split a participant's sessions.
    ``fit`` splits the rows with :class:`~sklearn.model_selection.StratifiedGroupKFold`
    on ``groups``, fits every C from smallest to largest with warm starts in each split,
    picks the C with the smallest pooled inner log-loss (class-balanced, like the fit)
    and refits on all rows. Multinomial for more than two classes (newton-cg solver).

    Parameters
    ----------
    Cs : sequence of float, default=(0.01, 0.1, 1.0)
    n_splits : int, default=3
    max_iter : int, default=2000
    tol : float, default=1e-4

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    C_ : float
    estimator_ : LogisticRegression
        Refitted on all rows with ``C_``.
    coef_, intercept_, n_iter_
        Those of ``estimator_``.
    cv_log_loss_ : ndarray of shape (n_Cs,)
        Inner log-loss of each C (Cs sorted ascending).
    n_splits_ : int
    n_features_in_ : int
    """

    def __init__(self, Cs=LOGISTIC_CS, n_splits=3, max_iter=2000, tol=1e-4):
        self.Cs = Cs
        self.n_splits = n_splits
        self.max_iter = max_iter
        self.tol = tol

    def _logistic(self, C, warm_start=False):
        # newton-cg: ~15% less CPU than lbfgs on these small problems (same C chosen), warm-started along Cs
        return LogisticRegression(
            C=C, class_weight="balanced", solver="newton-cg", max_iter=self.max_iter, tol=self.tol, warm_start=warm_start
        )

    def fit(self, X, y, groups=None, strata=None):
        """Choose C by grouped inner CV, then fit on all rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        groups : array-like of shape (n_samples,), optional
            Participant code per row; None treats every row as its own participant.
        strata : array-like of shape (n_samples,), optional
            Labels the inner folds are stratified by; None: ``y`` (see
            :meth:`GroupRidgeClassifierCV.fit`).

        Returns
        -------
        self : GroupLogisticRegressionCV
        """
        _check_n_splits(self.n_splits)
        Cs = _check_grid(self.Cs, "Cs")
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        codes = _fit_classes(self, y)
        k = len(self.classes_)
        weights = _balanced_weights(codes, k)
        split_by = codes if strata is None else _strata_codes(strata, len(y))
        splits = _inner_splits("classification", self.n_splits, X, split_by, groups)
        loss = np.zeros(len(Cs))
        for train, test in splits:
            if len(np.unique(codes[train])) < 2:  # a one-class inner training set predicts nothing
                loss += np.log(k) * weights[test].sum()
                continue
            model = self._logistic(Cs[0], warm_start=True)
            for i, C in enumerate(Cs):
                model.set_params(C=C).fit(X[train], codes[train])
                proba = np.full((len(test), k), 1e-15)
                proba[:, model.classes_] = np.clip(model.predict_proba(X[test]), 1e-15, None)
                loss[i] -= weights[test] @ np.log(proba[np.arange(len(test)), codes[test]])
        self.cv_log_loss_, self.C_ = _pooled_choice(Cs, loss, weights, splits)
        self.n_splits_ = len(splits)
        self.estimator_ = self._logistic(self.C_).fit(X, codes)
        self.coef_, self.intercept_ = self.estimator_.coef_, self.estimator_.intercept_
        self.n_iter_ = self.estimator_.n_iter_
        return self

    def decision_function(self, X):
        """Decision values, shape (n_samples,) for two classes else (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.estimator_.decision_function(X)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        """Predicted class labels, shape (n_samples,)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
