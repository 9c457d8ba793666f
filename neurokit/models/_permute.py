"""The batched permutation engine: the permutation null of a whole model pipeline, computed
for blocks of permutations at once.

Within an outer fold only the target moves between permutations (the outer and inner folds
are built without the target, the same for the observed analysis and every permutation), so the steps that never see the
target (tangent projection, ComBat, covariate regression, scaling) are fitted once per
fold and block. The ridge family (:class:`GroupRidgeCV`, :class:`GroupRidgeClassifierCV`)
is then solved for every permuted target as the columns of one multi-output problem,
alpha chosen per target from the same grouped inner splits in closed form (one
eigendecomposition per inner split for the whole block; the classifier's class balance sits
in its coding of the classes, not in row weights, so it shares the decomposition too).
Other final steps (edge selection, logistic, SVM, CPM) are refitted per permutation on the
shared preparation. Blocks of permutations are dask tasks when a client is given; memory
per task is bounded by the block size, never (permutations x folds x rows x features).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from neurokit.models._common import ModelError
from neurokit.models._folds import (
    METRICS,
    _batch_scores,
    _fit,
    _inner_strata,
    _one_class_fold,
    _permutation_scores,
    _permuted_target,
    _predict_scores,
    _quiet_fit_warnings,
    _repeat_means,
)
from neurokit.models._inner import (
    GroupRidgeClassifierCV,
    GroupRidgeCV,
    _check_grid,
    _class_codes,
    _check_n_splits,
    _inner_splits,
    _ridge_decisions,
    _ridge_search,
    _uniform_weights,
)
from neurokit.models._patterns import _softmax

__all__ = ["permutation_null"]

#: Permutations per task: bounds a task's memory and leaves tasks for every worker.
BLOCK_SIZE = 100


def permutation_null(job, n_permutations, random_state, *, client=None, engine="batched", block_size=BLOCK_SIZE):
    """Metrics of the pipeline cross-validated on each permutation of the target.

    Parameters
    ----------
    job : neurokit.models._folds._Job
        The observed analysis (data, pipeline, outer splits per repeat).
    n_permutations : int
    random_state : int
        Permutation ``i`` is drawn from ``(random_state, 7919, i)`` on every path and worker.
    client : distributed.Client, optional
        Runs the blocks (or, for 'general', the permutations) as ``client.map`` tasks.
    engine : {'batched', 'general'}, default='batched'
        'general' refits the whole pipeline for every permutation (the reference).
    block_size : int, default=100
        Permutations per batched task.

    Returns
    -------
    pandas.DataFrame of shape (n_permutations, n_metrics)
        Each metric's mean over repeats, one row per permutation in order.
    """
    _check_block_size(block_size)
    columns = list(METRICS[job.kind])
    if not n_permutations:
        return pd.DataFrame([], columns=columns)
    if engine == "general":
        task, items = _permutation_scores, list(range(n_permutations))
    else:
        task = _block_scores
        items = [range(i, min(i + block_size, n_permutations)) for i in range(0, n_permutations, block_size)]
    if client is not None:
        job_future = client.scatter(job, broadcast=True)
        parts = client.gather(client.map(task, items, job=job_future, random_state=random_state))
    else:
        parts = [task(item, job, random_state) for item in items]
    if engine == "general":
        return pd.DataFrame(parts, columns=columns)
    return pd.DataFrame({m: np.concatenate([p[m] for p in parts]) for m in columns}, columns=columns)


def _block_scores(indices, job, random_state):
    """Mean-over-repeats metrics of a block of permutations, dict of metric to (n_block,)."""
    targets = np.stack([_permuted_target(job, i, random_state) for i in indices])
    per_repeat = [_batch_scores(job.kind, targets, pred, job.n_classes) for pred in _batched_oof(job, targets)]
    return {m: _repeat_means([r[m] for r in per_repeat]) for m in METRICS[job.kind]}


def _split_pipeline(pipeline):
    """The target-independent steps (a Pipeline, or None) and the rest (from 'select' or the model)."""
    names = [name for name, _ in pipeline.steps]
    cut = names.index("select") if "select" in names else len(names) - 1
    return (Pipeline(pipeline.steps[:cut]) if cut else None), Pipeline(pipeline.steps[cut:])


def _batched_oof(job, targets):
    """Out-of-fold predictions of every target row, per repeat.

    Parameters
    ----------
    job : _Job
    targets : ndarray of shape (n_block, n_rows)
        Permuted targets (class codes for classification).

    Returns
    -------
    list of ndarray, one per repeat, of shape (n_block, n_rows) or (n_block, n_rows, n_classes)
    """
    prep, head = _split_pipeline(job.pipeline)
    model = head.steps[-1][1] if len(head.steps) == 1 else None
    ridge = type(model) in (GroupRidgeCV, GroupRidgeClassifierCV)
    shape = targets.shape + ((job.n_classes,) if job.n_classes else ())
    out = []
    # small matrices: multi-threaded BLAS only adds overhead, and blocks run in parallel as tasks
    with threadpool_limits(limits=1), warnings.catch_warnings():
        _quiet_fit_warnings()
        for splits in job.splits:
            pred = np.zeros(shape)
            for train, test in splits:
                if prep is None:
                    Z_train, Z_test = job.X[train], job.X[test]
                else:
                    fitted = clone(prep)
                    Z_train, Z_test = fitted.fit_transform(job.X[train]), fitted.transform(job.X[test])
                Y = targets[:, train]
                todo = np.arange(len(targets))
                if ridge:
                    solvable = _ridge_solvable(job, Y)
                    rows = np.flatnonzero(solvable)
                    if len(rows):
                        pred[rows[:, None], test] = _ridge_scores(job, model, Z_train, Z_test, Y[rows], train)
                    todo = np.flatnonzero(~solvable)
                for j in todo:  # the general final steps, on the shared preparation
                    if _one_class_fold(job, Y[j], pred[j], test):
                        continue
                    fitted_head = clone(head)
                    _fit(fitted_head, Z_train, Y[j], job.groups[train], _inner_strata(job, train))
                    pred[j, test] = _predict_scores(fitted_head, Z_test, job.n_classes)
            out.append(pred)
    return out


def _ridge_solvable(job, Y):
    """Which permuted training targets the batched ridge solves: all, for regression; for
    classes, those whose training rows hold every class (the rest go the general way)."""
    if not job.n_classes:
        return np.ones(len(Y), dtype=bool)
    return np.all([(Y == c).any(axis=1) for c in range(job.n_classes)], axis=0)


def _ridge_scores(job, model, Z_train, Z_test, Y, train):
    """Test predictions (regression) or class probabilities of a ridge model for each target row.

    Parameters
    ----------
    model : GroupRidgeCV or GroupRidgeClassifierCV
        Unfitted; its ``alphas`` and ``n_splits`` are used.
    Z_train, Z_test : ndarray of shape (n_train, n_features), (n_test, n_features)
        Prepared training and test rows.
    Y : ndarray of shape (n_block, n_train)
        Training targets (class codes, every class present, for classification).
    train : ndarray of int
        Training rows of ``job`` (for the participants and the inner stratification).

    Returns
    -------
    ndarray of shape (n_block, n_test) or (n_block, n_test, n_classes)
    """
    _check_n_splits(model.n_splits)
    alphas = _check_grid(model.alphas, "alphas")
    groups = job.groups[train]
    k = job.n_classes
    if not k:
        inner = _inner_splits("regression", model.n_splits, Z_train, None, groups)
        return _ridge_select(Z_train, Z_test, Y.T[:, :, None], alphas, inner)[:, :, 0]
    inner = _inner_splits("classification", model.n_splits, Z_train, _inner_strata(job, train), groups)
    decision = _ridge_select(Z_train, Z_test, _class_codes(Y, k), alphas, inner, Y, k)
    if k == 2:
        d = decision[:, :, 0]
        decision = np.stack([-d / 2, d / 2], axis=2)
    return _softmax(decision.reshape(-1, k)).reshape(decision.shape)


def _ridge_select(Z_train, Z_test, T, alphas, inner, codes=None, n_classes=0):
    """Ridge decision values on the test rows for each target, alpha chosen per target by the
    pooled inner squared error, as :class:`GroupRidgeCV` / :class:`GroupRidgeClassifierCV`
    choose it for one target; one decomposition per inner split for the whole block.

    Parameters
    ----------
    Z_train, Z_test : ndarray of shape (n_train, n_features), (n_test, n_features)
    T : ndarray of shape (n_train, n_block, n_outputs)
        Each target's coded outputs.
    alphas : ndarray of shape (n_alphas,)
        Sorted ascending.
    inner : list of (train, test) index arrays into the training rows
    codes : ndarray of shape (n_block, n_train), optional
        Class codes of each target (classification: ``T`` is their :func:`_class_codes`,
        recoded from each inner training fold for the search; class-balanced scores).
    n_classes : int

    Returns
    -------
    ndarray of shape (n_block, n_test, n_outputs)
    """
    n_block = T.shape[1]
    search = _ridge_search(Z_train, T if codes is None else None, alphas, inner, codes, n_classes)
    best = np.argmin(search, axis=1)  # (n_block,)
    decision = _ridge_decisions(Z_train, T, Z_test, alphas, _uniform_weights(len(Z_train)))  # (n_alphas, n_block, n_test, n_outputs)
    return decision[best, np.arange(n_block)]


def _check_block_size(block_size):
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ModelError(f"'block_size' must be an integer >= 1; got {block_size!r}.")
