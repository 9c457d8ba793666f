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
    n_splits = min(int(n_splits), n_groups)
    if kind == "classification" and y is not None:
        # fewer inner folds than rows in the largest class: a small training fold still gets a search
        largest = int(np.max(np.unique(y, return_counts=True)[1]))
        if largest < 2:
            raise ModelError("every class of the inner search has a single row: it needs a class with at least 2.")
        n_splits = min(n_splits, largest)
    return list(_inner_splitter(kind, n_splits).split(X, y, groups))


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


def _balanced_weights(codes, n_classes):
    """Class-balanced row weights ``n / (n_classes * count of the row's class)``.

    ``codes`` of shape (n_rows,) or (n_targets, n_rows); the weights have its shape.
    """
    codes = np.asarray(codes)
    flat = np.atleast_2d(codes)
    counts = (flat[:, :, None] == np.arange(n_classes)).sum(axis=1).astype(float)  # (n_targets, n_classes)
    with np.errstate(divide="ignore"):  # an absent class has no rows to weight
        per_class = flat.shape[1] / (n_classes * counts)
    return np.take_along_axis(per_class, flat, axis=1).reshape(codes.shape)


def _ridge_basis(X, Y):
    """The eigen-basis every ridge penalty's solution on (X, Y) shares (unit row weights).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_targets)

    Returns
    -------
    x_mean : ndarray of shape (n_features,)
    G : ndarray of shape (n_features, rank)
    s2 : ndarray of shape (rank,)
    H : ndarray of shape (rank, n_targets)
        The ridge coefficients for penalty ``alpha`` are ``G @ (H / (s2 + alpha)[:, None])``.
    """
    x_mean = X.mean(axis=0)
    A = X - x_mean
    Yc = Y - Y.mean(axis=0)
    # eigen-decompose the smaller Gram matrix (A'A or AA'); eigh of a small square matrix is several
    # times faster than the SVD of A, and 1 / (s^2 + alpha) needs no division by s
    if A.shape[1] <= A.shape[0]:
        s2, V = np.linalg.eigh(A.T @ A)
        return x_mean, V, s2, V.T @ (A.T @ Yc)
    s2, U = np.linalg.eigh(A @ A.T)
    return x_mean, A.T @ U, s2, U.T @ Yc


def _ridge_decisions(X_fit, Y, X_new, alphas, centre_weights):
    """Ridge decision values on new rows, for every penalty and a block of targets at once.

    The coefficients of each target are those of unit-weight ridge on ``(X_fit, Y)`` (one
    decomposition for the whole block); its intercept puts the ``centre_weights``-weighted
    mean of the fitted rows on the weighted mean of its target. With uniform weights this is
    ordinary ridge; with class-balanced weights the decision threshold sits between the class
    means as if every class were equally frequent.

    Parameters
    ----------
    X_fit : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_block, n_outputs)
        Each target's (coded) outputs.
    X_new : ndarray of shape (n_new, n_features)
    alphas : ndarray of shape (n_alphas,)
    centre_weights : ndarray of shape (n_block, n_samples) or (1, n_samples)
        Each target's row weights for its intercept, summing to 1 (one row: shared by all).

    Returns
    -------
    ndarray of shape (n_alphas, n_block, n_new, n_outputs)
    """
    n, n_block, n_out = Y.shape
    centre_weights = np.broadcast_to(centre_weights, (n_block, n))
    x_mean, G, s2, H = _ridge_basis(X_fit, Y.reshape(n, n_block * n_out))
    scaled = (H[None] / (s2[None, :, None] + alphas[:, None, None])).reshape(len(alphas), len(s2), n_block, n_out)
    decision = np.einsum("mr,arbo->abmo", (X_new - x_mean) @ G, scaled)
    shift = np.einsum("br,arbo->abo", (centre_weights @ X_fit - x_mean) @ G, scaled)
    level = np.einsum("bn,nbo->bo", centre_weights, Y)
    return decision + (level[None] - shift)[:, :, None, :]


def _uniform_weights(n_rows):
    """Intercept weights of ordinary ridge, shared by every target: shape (1, n_rows)."""
    return np.full((1, n_rows), 1.0 / n_rows)


def _class_codes(codes, n_classes, reference=None):
    """Balanced one-vs-rest codes: each class's indicator standardised by its prevalence.

    Column ``c`` is ``(1[y = c] - p_c) / sqrt(p_c (1 - p_c))`` with ``p_c`` the share of class
    ``c`` among the ``reference`` rows (the training rows; default ``codes`` itself). Every
    column then has mean 0 and variance 1 on the training rows, whatever the class's size:
    fitted by ordinary ridge with its intercept, no class is favoured where the features say
    nothing (the -1/+1 coding scales a column's coefficients with the class's share, which
    draws predictions to the large classes; scaling by ``1 / p_c`` over-corrects, as the noise
    in a small class's mean then dominates, ``benchmarks/README.md``). A class absent from the
    reference rows gets a column of zeros. Only the right-hand side depends on the classes,
    so every target of a block shares one decomposition of the features.

    Parameters
    ----------
    codes : ndarray of int, shape (n_targets, n_rows)
    n_classes : int
    reference : ndarray of int, shape (n_targets, n_reference), optional

    Returns
    -------
    ndarray of shape (n_rows, n_targets, n_outputs)
        ``n_outputs`` is 1 for two classes (the column of class 1) else ``n_classes``.
    """
    codes = np.asarray(codes)
    reference = codes if reference is None else np.asarray(reference)
    share = (reference[:, :, None] == np.arange(n_classes)).mean(axis=1)  # (n_targets, n_classes)
    spread = np.sqrt(share * (1 - share))
    with np.errstate(divide="ignore"):
        scale = np.where(spread > 0, 1.0 / np.where(spread > 0, spread, 1.0), 0.0)
    indicator = (codes[:, :, None] == np.arange(n_classes)).astype(float)  # (n_targets, n_rows, n_classes)
    coded = ((indicator - share[:, None, :]) * scale[:, None, :]).transpose(1, 0, 2)
    return coded[:, :, 1:] if n_classes == 2 else coded


def _ridge_search(X, Y, alphas, splits, codes=None, n_classes=0):
    """Each target's pooled inner squared error of every penalty (class-weighted for classes).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_block, n_outputs) or None
        Each target's outputs (regression); None for classes, whose codes are made from the
        inner training rows of every split (:func:`_class_codes`), so each inner fit is the
        fit the estimator makes, and scored on the test rows coded the same way.
    alphas : ndarray of shape (n_alphas,)
    splits : list of (train, test) index arrays into the rows
    codes : ndarray of shape (n_block, n_samples), optional
        Class codes of each target (classification); None: regression, unit weights.
    n_classes : int

    Returns
    -------
    ndarray of shape (n_block, n_alphas)
    """
    n = len(X)
    n_block = len(codes) if codes is not None else Y.shape[1]
    score_weights = np.ones((n_block, n)) if codes is None else _balanced_weights(codes, n_classes)
    error = np.zeros((n_block, len(alphas)))
    for train, test in splits:
        if codes is None:
            fit_targets, test_targets = Y[train], Y[test]
        else:
            fit_targets = _class_codes(codes[:, train], n_classes)
            test_targets = _class_codes(codes[:, test], n_classes, reference=codes[:, train])
        decision = _ridge_decisions(X[train], fit_targets, X[test], alphas, _uniform_weights(len(train)))
        residual = decision - test_targets.transpose(1, 0, 2)[None]
        error += np.einsum("bm,abmo->ba", score_weights[:, test], residual**2)
    tested = np.concatenate([t for _, t in splits])
    return error / score_weights[:, tested].sum(axis=1, keepdims=True)


class _GroupRidgeBase(BaseEstimator):
    def _fit_path(self, X, Y, codes, groups, kind, y_for_split):
        _check_n_splits(self.n_splits)
        alphas = _check_grid(self.alphas, "alphas")
        splits = _inner_splits(kind, self.n_splits, X, y_for_split, groups)
        n_classes = 0 if codes is None else len(self.classes_)
        block_codes = None if codes is None else codes[None]
        self.cv_error_ = _ridge_search(X, None if codes is not None else Y[:, None], alphas, splits, block_codes,
                                       n_classes)[0]
        self.alpha_ = float(alphas[int(np.argmin(self.cv_error_))])
        self.n_splits_ = len(splits)
        x_mean, G, s2, H = _ridge_basis(X, Y)
        coef = G @ (H / (s2 + self.alpha_)[:, None])  # (n_features, n_targets)
        intercept = Y.mean(axis=0) - x_mean @ coef
        return coef.T, intercept  # (n_targets, n_features), (n_targets,)


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
        coef, intercept = self._fit_path(X, y[:, None], None, groups, "regression", y)
        self.coef_, self.intercept_ = coef[0], float(intercept[0])
        return self

    def predict(self, X):
        """Predicted target, shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_ + self.intercept_


class GroupRidgeClassifierCV(ClassifierMixin, _GroupRidgeBase):
    """Ridge classifier, balanced between classes, with alpha chosen by grouped inner CV.

    Each class is coded by its indicator standardised by the class's training prevalence,
    ``(1[y = c] - p_c) / sqrt(p_c (1 - p_c))`` (one column per class, that of class 1 for two
    classes), and fitted by ordinary ridge with unit row weights and its intercept. Every
    column then has mean 0 and variance 1 whatever the class's size, so on features that
    say nothing every class is predicted about equally often (the -1/+1 coding made each
    column's coefficients grow with the class's share and drew predictions to the large
    classes; ``benchmarks/README.md``). Reweighting the rows instead (scikit-learn's
    ``class_weight='balanced'``) gives each permuted target its own decomposition; this
    coding changes only the right-hand side, so the permutation null solves every permuted
    target from one decomposition per fold. Alpha minimises the class-weighted squared
    error of the coding (test rows coded with the inner training prevalences) pooled over
    inner folds from :class:`~sklearn.model_selection.StratifiedGroupKFold` on ``strata``
    (default: the classes; inside :func:`cross_validate_model`, one label, so the inner
    folds do not depend on the target).

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
            Labels the inner folds are stratified by; None: ``y``. Cross-validation passes
            one label for every row, so the inner folds come from the participants alone and
            are the same for the observed target and every permutation.

        Returns
        -------
        self : GroupRidgeClassifierCV
        """
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        codes = _fit_classes(self, y)
        Y = _class_codes(codes[None], len(self.classes_))[:, 0]
        split_by = codes if strata is None else _strata_codes(strata, len(y))
        self.coef_, self.intercept_ = self._fit_path(X, Y, codes, groups, "classification", split_by)
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
