"""The fold machinery every path through the models shares: the outer and inner splits,
fitting and scoring a pipeline fold by fold, the permutation of the target between
participants and the metrics. The observed analysis (:mod:`._cv`), the batched permutation
null (:mod:`._permute`) and the beyond-confounds test (:mod:`._confounds`) build on it; it
imports none of them.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import LeaveOneGroupOut
from threadpoolctl import threadpool_limits

from neurokit.models._patterns import _softmax, activation_pattern, class_activation_patterns

__all__ = ["METRICS", "permute_within_participants"]

#: Metrics per kind; the first is the one the permutation p-value in ``metrics['p_value']`` is for.
METRICS = {"regression": ("spearman", "r2", "mae"), "classification": ("balanced_accuracy", "roc_auc")}


@dataclass
class _Job:
    """Everything a (permuted) cross-validation needs; plain data, so it ships to dask workers."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray  # participant code per row
    sites: np.ndarray | None  # site code per row, for leave-site-out
    kind: str
    n_classes: int
    pipeline: object
    cv_folds: int
    seeds: tuple
    # outer (train, test) splits per seed, built from the participants alone (never the target):
    # the observed run and every permutation share them, so only the target moves and what does
    # not depend on it is fitted once per fold
    splits: list | None = None


def permute_within_participants(groups, rng):
    """Row order that gives each participant the target rows of another participant.

    A participant's rows stay together (their sessions move as one block), so the null
    keeps the within-participant structure; blocks are exchanged only between
    participants with the same number of rows.

    Parameters
    ----------
    groups : ndarray of shape (n_rows,)
        Participant code per row; rows of a participant in session order.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int, shape (n_rows,)
        ``y[perm]`` is the permuted target.
    """
    groups = np.asarray(groups)
    members = {g: np.flatnonzero(groups == g) for g in pd.unique(groups)}
    perm = np.arange(len(groups))
    by_size = {}
    for g, rows in members.items():
        by_size.setdefault(len(rows), []).append(g)
    for same in by_size.values():
        donors = rng.permutation(len(same))
        for g, d in zip(same, donors):
            perm[members[g]] = members[same[d]]
    return perm


def _quiet_fit_warnings():
    # repeated in every fold of every permutation; small classes in the inner C search are expected
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)


def _participant_folds(groups, n_folds, seed):
    """Outer (train, test) splits built from the participants alone: never from the target.

    The participants are shuffled by ``seed`` and dealt, those with the most rows first
    (equal sizes in shuffled order), each to the fold holding the fewest rows so far, so
    folds are balanced by rows when participants have several sessions. Because nothing
    here depends on the target, the observed target and every permutation of it are scored
    on the same folds and are exchangeable: ``p = (k + 1) / (n + 1)`` is exact.

    Parameters
    ----------
    groups : ndarray of int, shape (n_rows,)
        Participant code per row, codes 0..n_participants-1.
    n_folds : int
        At most the number of participants.
    seed : int

    Returns
    -------
    list of (train, test) index arrays, one per fold
    """
    groups = np.asarray(groups)
    sizes = np.bincount(groups)
    order = np.random.default_rng([seed, 6007]).permutation(len(sizes))
    order = order[np.argsort(-sizes[order], kind="stable")]
    rows = np.zeros(n_folds, dtype=int)
    fold_of = np.empty(len(sizes), dtype=int)
    for g in order:
        k = int(np.argmin(rows))  # the first of the lightest folds
        fold_of[g] = k
        rows[k] += sizes[g]
    test_fold = fold_of[groups]
    return [(np.flatnonzero(test_fold != k), np.flatnonzero(test_fold == k)) for k in range(n_folds)]


def _splits(job, seed):
    """Outer splits of one repeat: the sites (leave one site out), else participant folds."""
    if job.sites is not None:
        return list(LeaveOneGroupOut().split(job.X, groups=job.sites))
    return _participant_folds(job.groups, job.cv_folds, seed)


def _inner_strata(job, rows):
    """Labels the inner alpha / C search of a classifier stratifies by inside cross-validation:
    one label for every row, so its inner folds come from the participants alone (grouped,
    balanced by rows) and are the same for the observed target and every permutation; None
    for regression, whose inner folds never look at the target."""
    return np.zeros(len(rows), dtype=int) if job.kind == "classification" else None


def _predict_scores(model, X, n_classes):
    """Regression predictions (n,) or class probabilities (n, n_classes) on code columns."""
    if n_classes == 0:
        return model.predict(X)
    classes = model.classes_.astype(int)
    if hasattr(model, "predict_proba"):
        p = model.predict_proba(X)
    else:
        d = model.decision_function(X)
        p = _softmax(np.column_stack([-d / 2, d / 2]) if d.ndim == 1 else d)
    full = np.zeros((len(X), n_classes))
    full[:, classes] = p
    return full


def _fit(pipeline, X, y, groups, strata=None):
    """Fit a pipeline, giving the participant codes (and the inner stratification labels) to a
    final estimator whose inner search uses them."""
    name, final = pipeline.steps[-1]
    accepted = inspect.signature(final.fit).parameters
    params = {f"{name}__groups": groups} if "groups" in accepted else {}
    if strata is not None and "strata" in accepted:
        params[f"{name}__strata"] = strata
    return pipeline.fit(X, y, **params)


def _run_cv(job, y, *, with_patterns=False):
    """Out-of-fold scores per repeat (list of arrays), one pattern per fit (optional), test folds."""
    # the matrices are small: multi-threaded BLAS only adds overhead, and permutations
    # already run in parallel as dask tasks
    with threadpool_limits(limits=1):
        return _run_cv_serial(job, y, with_patterns)


def _run_cv_serial(job, y, with_patterns):
    oof, patterns, folds = [], [], []
    for splits in job.splits:
        pred = np.zeros((len(y), job.n_classes)) if job.n_classes else np.zeros(len(y))
        fold = np.full(len(y), -1)
        for k, (train, test) in enumerate(splits):
            fold[test] = k
            if not with_patterns and _one_class_fold(job, y[train], pred, test):
                continue
            model = clone(job.pipeline)
            with warnings.catch_warnings():
                _quiet_fit_warnings()
                _fit(model, job.X[train], y[train], job.groups[train], _inner_strata(job, train))
            pred[test] = _predict_scores(model, job.X[test], job.n_classes)
            if with_patterns:
                # (overall pattern, one-vs-rest patterns of an unordered multi-class target or None)
                patterns.append((activation_pattern(model, job.X[train]),
                                 class_activation_patterns(model, job.X[train], job.n_classes)
                                 if job.n_classes > 2 else None))
        oof.append(pred)
        folds.append(fold)
    return oof, patterns, np.array(folds)


def _one_class_fold(job, y_train, pred, test):
    """Predict the only class of a training fold that holds one (folds are built without the
    target, so a small study can leave a fold so); False when there are more."""
    present = np.unique(y_train) if job.n_classes else ()
    if len(present) != 1:
        return False
    pred[test] = np.eye(job.n_classes)[int(present[0])]
    return True


def _batch_scores(kind, y, pred, n_classes):
    """Every metric of many out-of-fold predictions at once.

    The observed target, the general path and the batched engine all score through this
    function, so equal predictions give bit-equal scores (ties with the observed score
    count the same way on both paths). Equal to scikit-learn's scores (tested).

    Parameters
    ----------
    kind : {'regression', 'classification'}
    y : ndarray of shape (n_batch, n_rows)
        Targets (class codes for classification).
    pred : ndarray of shape (n_batch, n_rows) or (n_batch, n_rows, n_classes)
        Predictions, or class probabilities.
    n_classes : int

    Returns
    -------
    dict of str to ndarray of shape (n_batch,)
    """
    if kind == "regression":
        ry, rp = stats.rankdata(y, axis=1), stats.rankdata(pred, axis=1)
        ry, rp = ry - ry.mean(axis=1, keepdims=True), rp - rp.mean(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = (ry * rp).sum(axis=1) / np.sqrt((ry**2).sum(axis=1) * (rp**2).sum(axis=1))
            residual = ((y - pred) ** 2).sum(axis=1)
            total = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
            r2 = np.where(total > 0, 1 - residual / total, np.where(residual > 0, 0.0, 1.0))
        rho = np.where(np.ptp(pred, axis=1) > 0, rho, 0.0)  # constant prediction: no ranking
        return {"spearman": rho, "r2": r2, "mae": np.abs(y - pred).mean(axis=1)}
    y = y.astype(int)
    labels = np.argmax(pred, axis=2)
    classes = np.arange(n_classes)
    truth = y[:, :, None] == classes
    support = truth.sum(axis=1)
    hits = (truth & (labels[:, :, None] == classes)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        balanced = np.nanmean(hits / support, axis=1)
    ranks = stats.rankdata(pred, axis=1)  # per class, over rows; ties share their mean rank
    positive = support.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * truth).sum(axis=1) - positive * (positive + 1) / 2) / (positive * (y.shape[1] - positive))
    return {"balanced_accuracy": balanced, "roc_auc": auc[:, 1] if n_classes == 2 else np.nanmean(auc, axis=1)}


def _repeat_means(per_repeat):
    """Mean over repeats, shape (n_batch,), of scores of shape (n_repeats, n_batch)."""
    return np.ascontiguousarray(np.asarray(per_repeat, dtype=float).T).mean(axis=1)


def _mean_scores(job, y, oof):
    scores = _batch_scores(job.kind, np.broadcast_to(y, (len(oof), len(y))), np.stack(oof), job.n_classes)
    per_repeat = [{m: float(v[r]) for m, v in scores.items()} for r in range(len(oof))]
    return {m: float(_repeat_means(v[:, None])[0]) for m, v in scores.items()}, per_repeat


def _permuted_target(job, index, random_state):
    """The target under permutation ``index`` (the same permutation on every path and worker)."""
    rng = np.random.default_rng([random_state, 7919, index])
    return job.y[permute_within_participants(job.groups, rng)]


def _permutation_scores(index, job, random_state):
    """Metrics of the whole pipeline cross-validated on one permutation of the target."""
    y = _permuted_target(job, index, random_state)
    oof, _, _ = _run_cv(job, y)
    return _mean_scores(job, y, oof)[0]
