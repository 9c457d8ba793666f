"""Honest cross-validation of a whole model pipeline: grouped by participant, stratified by
stage, repeated, with a permutation null of the whole pipeline (optionally on dask).
"""

from __future__ import annotations

import inspect
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold
from threadpoolctl import threadpool_limits

from neurokit.models._common import TARGETS, ModelError
from neurokit.models._features import _design
from neurokit.models._patterns import (
    _softmax,
    activation_pattern,
    aggregate_class_patterns,
    aggregate_patterns,
    class_activation_patterns,
)
from neurokit.models._persist import FittedModel
from neurokit.models._pipeline import _target_kind, build_pipeline

__all__ = ["ModelResult", "cross_validate_model", "permute_within_participants"]

#: Metrics per kind; the first is the one the permutation p-value in ``metrics['p_value']`` is for.
METRICS = {"regression": ("spearman", "r2", "mae"), "classification": ("balanced_accuracy", "roc_auc")}
_LOWER_IS_BETTER = {"mae"}
_ENGINES = ("batched", "general")


@dataclass
class ModelResult:
    """Cross-validated results of one target and feature set.

    Attributes
    ----------
    metrics : dict
        JSON-serialisable: ``scores`` (per metric: ``mean``, ``sd`` and ``per_repeat``
        over repeats, ``p_value``, ``null_mean``, ``null_95``), ``primary_metric`` and its
        ``p_value``, ``confusion_matrix`` (classification), row counts, ``excluded``
        (rows left out, by reason), ``notes``, the CV settings, ``beyond_confounds``
        (the out-of-fold prediction's value beyond the confounds, see
        :func:`prediction_beyond_confounds`) and the p-values ``p_value_permutation``,
        ``p_value_beyond_confounds`` and ``p_value`` (combined by ``p_value_rule``,
        explained in ``p_value_rule_text``).
    predictions : pandas.DataFrame of shape (n_rows, n_columns)
        Out-of-fold predictions averaged over repeats, with ``participant_id``,
        ``session_id``, ``run_id``, ``y_true``, ``y_pred``, ``proba_<class>`` for classes.
    permutation_null : pandas.DataFrame of shape (n_permutations, n_metrics)
        Each metric (mean over repeats) of the whole pipeline refitted on permuted targets.
    patterns : pandas.DataFrame
        Activation patterns per feature, region and network pair, see :func:`aggregate_patterns`.
    model : FittedModel
        The pipeline refitted on every usable row.
    folds : ndarray of int, shape (n_repeats, n_rows)
        Test fold of each row (rows as in ``predictions``) in each repeat.
    class_patterns : pandas.DataFrame
        For more than two classes, one-vs-rest patterns per class (the rows of ``patterns``
        for each class, column ``class``; see :func:`aggregate_class_patterns`); else empty.
        Kept apart from ``patterns`` so that table keeps one row per feature.
    """

    target: str
    feature_set: str
    metrics: dict
    predictions: pd.DataFrame
    permutation_null: pd.DataFrame
    patterns: pd.DataFrame
    model: FittedModel
    folds: np.ndarray
    class_patterns: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class _Job:
    """Everything a (permuted) cross-validation needs; plain data, so it ships to dask workers."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray  # participant code per row
    strata: np.ndarray | None  # stratification labels for a continuous target
    sites: np.ndarray | None  # site code per row, for leave-site-out
    kind: str
    n_classes: int
    pipeline: object
    cv_folds: int
    seeds: tuple
    # outer (train, test) splits per seed, those of the observed target: the permutation null
    # reuses them, so only the target moves and what does not depend on it is fitted once per fold
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


def _splits(job, y, seed):
    if job.sites is not None:
        return list(LeaveOneGroupOut().split(job.X, groups=job.sites))
    strata = y if job.kind == "classification" else job.strata
    if strata is not None:
        largest = int(np.max(np.unique(strata, return_counts=True)[1]))
        if largest < job.cv_folds:  # scikit-learn's own error names neither the target nor the fix
            what = "class" if job.kind == "classification" else "stratum of the target"
            raise ModelError(
                f"cannot stratify {job.cv_folds} cross-validation folds: the largest {what} has {largest} rows "
                f"({len(np.unique(job.groups))} participants in all); lower models.cv_folds to {max(largest, 2)} "
                "or add participants."
            )
    cv = StratifiedGroupKFold(n_splits=job.cv_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return list(cv.split(job.X, strata, job.groups))


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
    """Predict the only class of a training fold that holds one (the permuted target of a small
    study can leave a fold so; the folds are the observed target's); False when there are more."""
    present = np.unique(y_train) if job.n_classes else ()
    if len(present) != 1:
        return False
    pred[test] = np.eye(job.n_classes)[int(present[0])]
    return True


def _inner_strata(job, rows):
    """Labels an inner search stratifies by: the observed classes, in every permutation."""
    return job.y[rows] if job.kind == "classification" else None


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


def _combine_p_values(metrics):
    """Make ``metrics['p_value']`` the larger of the permutation and beyond-confounds p-values.

    A model is called significant only if it beats the permutation null of the whole pipeline
    *and* its predictions explain the target beyond the confounds (Dinga et al. 2020). The
    claim is the conjunction of both alternatives, so its null is the union of both nulls,
    and the larger p-value is the intersection-union test of it (Berger 1982): valid at the
    nominal level for that union whatever the dependence between the tests. Fisher's or
    Stouffer's combination, or the smaller p-value, test only the intersection (neither
    effect) and would call a model significant on motion alone (docs/inference.md). Sets
    ``p_value_permutation``, ``p_value_beyond_confounds`` (None when not tested),
    ``p_value`` (what FDR corrects), ``p_value_rule`` and ``p_value_rule_text``.
    """
    permutation = metrics["p_value"]
    beyond = metrics.get("beyond_confounds") or {}
    metrics["p_value_permutation"] = permutation
    tested = beyond.get("computed") and beyond.get("p_permutation") is not None
    metrics["p_value_beyond_confounds"] = float(beyond["p_permutation"]) if tested else None
    if permutation is None or not tested:
        metrics["p_value_rule"] = "permutation"
        metrics["p_value_rule_text"] = (
            "No permutation test was run (n_permutations = 0)." if permutation is None else
            "The p-value is that of the whole-pipeline permutation test"
            + (f" (the test beyond the confounds was not run: {beyond['reason']})." if beyond.get("reason") else ".")
        )
        return
    metrics["p_value"] = max(permutation, metrics["p_value_beyond_confounds"])
    metrics["p_value_rule"] = "max(permutation, beyond_confounds)"
    metrics["p_value_rule_text"] = (
        "A model's p-value is the larger of the whole-pipeline permutation p-value and the permutation p-value "
        "of its out-of-fold predictions beyond the confounds (" + (beyond.get("confound_model") or "confounds")
        + "), an intersection-union test: it is small only if the model beats chance and adds something "
        "beyond motion and the other confounds."
    )


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ModelError(f"'{name}' must be an integer >= {minimum}; got {value!r}.")


def cross_validate_model(
    features,
    target,
    feature_set,
    networks,
    *,
    estimator=None,
    covariates=("age", "sex"),
    harmonize_site=True,
    edge_selection=None,
    cpm_threshold=0.01,
    stage_levels=None,
    control_level=None,
    cv_folds=5,
    cv_repeats=10,
    site_out=False,
    n_permutations=1000,
    random_state=0,
    client=None,
    permutation_engine="batched",
    atlas=None,
    measure=None,
    config_hash=None,
    confounds=None,
):
    """Cross-validate, permutation-test, interpret and refit one model.

    Rows missing the target, a feature, a covariate or (when harmonising) the site are
    left out and counted in ``metrics['excluded']``. Folds come from
    StratifiedGroupKFold on participants (a participant's runs and sessions are never
    split between training and test), stratified by the target's classes, or by stage
    for severity; the split is repeated ``cv_repeats`` times with different seeds. With
    ``site_out`` the folds are the sites instead (leave one site out, one repeat; test
    sites pass through harmonisation unadjusted). A features table of covariances
    (``cov__`` columns, the tangent measure) is projected to tangent space first in every
    fold, around the geometric mean of that fold's training runs; edges are picked after
    the projection and everything downstream (ComBat, covariates) acts on tangent edges,
    reported as ``edge__A--B``. The permutation test refits the whole
    pipeline, including harmonisation, covariate regression and selection, on targets
    permuted between participants (a participant's sessions move together), keeping the
    observed analysis's outer folds and inner stratification so that only the target
    moves; the p-value is ``(count + 1) / (n_permutations + 1)``, never below
    ``metrics['p_value_floor']`` = ``1 / (n_permutations + 1)``.

    Parameters
    ----------
    features : pandas.DataFrame of shape (n_runs, n_columns)
        The group features table.
    target : {'severity', 'stage', 'user_vs_control'}
    feature_set : {'pfc_limbic_edges', 'all_edges', 'summary_indices', 'biomarkers', 'combined'}
    networks : mapping of str to str
        ``{region: 'prefrontal' | 'limbic' | 'other'}``.
    estimator, edge_selection, cpm_threshold
        See :func:`build_pipeline`.
    covariates : sequence of str, default=('age', 'sex')
        Columns regressed out of the features inside each fold; an all-missing one is
        skipped with a note. Empty turns covariate regression off.
    harmonize_site : bool, default=True
        ComBat on the ``site`` column inside each fold (skipped, with a note, for one site).
    stage_levels : sequence of str, optional
        Recovery stages in order; default: the categories of the ``stage`` Categorical.
    control_level : str, optional
        Stage meaning 'not a user'; default: the first stage level.
    cv_folds : int, default=5
    cv_repeats : int, default=10
    site_out : bool, default=False
    n_permutations : int, default=1000
        0 skips the permutation test (p-values are then None).
    random_state : int, default=0
        Seeds the splits, the permutations and the estimators.
    client : distributed.Client, optional
        When given, permutations run as ``client.map`` tasks; the caller owns the client.
    permutation_engine : {'batched', 'general'}, default='batched'
        'batched' fits the target-independent steps once per
        outer fold and solves the ridge family for blocks of permutations at once;
        'general' refits the whole pipeline for every permutation. Both give the same
        null for the same permutations.
    atlas, measure, config_hash : str, optional
        Provenance stored with the fitted model and checked by :func:`predict`; atlas
        and measure default to ``features.attrs['atlas']`` / ``['measure']`` when set.
    confounds : sequence of str, optional
        Columns the out-of-fold predictions are tested beyond (``metrics['beyond_confounds']``,
        :func:`prediction_beyond_confounds`: splines of the motion measures, linear age,
        one-hot sex and site); default :data:`CONFOUNDS` (``models.confounds``). Columns
        absent from the table are skipped with a note.

    Returns
    -------
    ModelResult
    """
    if target not in TARGETS:
        raise ModelError(f"'target' must be one of {TARGETS}; got {target!r}.")
    kind = _target_kind(target)
    attrs = features.attrs if isinstance(features, pd.DataFrame) else {}
    atlas = atlas if atlas is not None else attrs.get("atlas")
    measure = measure if measure is not None else attrs.get("measure")
    _check_int(cv_folds, "cv_folds", 2)
    _check_int(cv_repeats, "cv_repeats", 1)
    _check_int(n_permutations, "n_permutations", 0)
    _check_int(random_state, "random_state", 0)
    if permutation_engine not in _ENGINES:
        raise ModelError(f"'permutation_engine' must be one of {_ENGINES}; got {permutation_engine!r}.")
    if isinstance(covariates, str):
        raise ModelError(f"'covariates' must be a sequence of column names; got the string {covariates!r}.")
    if isinstance(confounds, str):
        raise ModelError(f"'confounds' must be a sequence of column names; got the string {confounds!r}.")
    design = _design(
        features,
        target,
        feature_set,
        networks,
        covariates=tuple(covariates),
        harmonize_site=harmonize_site,
        stage_levels=stage_levels,
        control_level=control_level,
    )
    uses_edges = any(n.startswith("edge__") for n in design.model_features)
    if uses_edges and measure is not None and (measure == "tangent") != bool(design.tangent_regions):
        raise ModelError(
            f"measure {measure!r} does not match the features table, which holds "
            + ("'cov__' covariances (tangent measure)" if design.tangent_regions else "'edge__' edges, not 'cov__' covariances")
            + "; rebuild the features table with models.measure "
            + ("'tangent'" if design.tangent_regions else f"{measure!r}")
            + " or pass the measure it was built with."
        )
    harmonize = bool(design.site_levels)
    y = design.y
    classes = None
    n_classes = 0
    if kind == "classification":
        present = np.unique(y).astype(int)
        if len(present) == 0:
            raise ModelError(
                f"target {target!r} has no usable rows (every row lacks the target, a feature, a covariate "
                "or the site); check the phenotype's column mapping (columns: in the configuration)."
            )
        if len(present) < 2:
            raise ModelError(
                f"target {target!r} has a single class among usable rows ({design.classes[present[0]]!r}); "
                "nothing to classify."
            )
        classes = [design.classes[c] for c in present]
        y = np.searchsorted(present, y.astype(int))
        n_classes = len(classes)
    groups = pd.factorize(design.ids["participant_id"])[0]
    n_participants = int(groups.max()) + 1 if len(groups) else 0
    if n_participants < cv_folds:
        raise ModelError(f"'cv_folds'={cv_folds} exceeds the {n_participants} participants with usable rows; lower cv_folds.")
    strata = None
    if kind == "regression":
        if "stage" in features.columns and features["stage"].iloc[design.rows].notna().all():
            strata = pd.factorize(features["stage"].iloc[design.rows].astype(str))[0]
        else:  # no stage to stratify by: quintiles of the target
            strata = pd.qcut(y, q=min(5, cv_folds), labels=False, duplicates="drop")
    sites = None
    if site_out:
        if "site" not in features.columns or features["site"].iloc[design.rows].isna().any():
            raise ModelError(
                "site_out=True needs a 'site' value on every usable row; fill the 'site' column or set site_out=False."
            )
        site_labels = features["site"].iloc[design.rows].astype(str).to_numpy()
        per_person = pd.Series(site_labels).groupby(groups).nunique()
        if (per_person > 1).any():
            raise ModelError(
                "site_out=True needs each participant at one site, but some have runs at several sites; "
                "set site_out=False."
            )
        sites = pd.factorize(site_labels)[0]
        if sites.max() < 1:
            raise ModelError("site_out=True needs at least two sites; set site_out=False.")
    notes = list(design.notes)
    if harmonize:
        association = _site_association(design.X[:, -1], y, kind)
        if association > 0.5:
            notes.append(
                f"site is confounded with {target!r} (association {association:.2f} on a 0-1 scale): harmonisation "
                "removes site differences and with them part of any real effect; read site_out=True results too"
            )
    pipeline = build_pipeline(
        kind,
        estimator=estimator,
        n_covariates=len(design.covariate_columns),
        harmonize_site=harmonize,
        edge_selection=edge_selection,
        unseen_site="pooled" if site_out else "raise",
        cpm_threshold=cpm_threshold,
        random_state=random_state,
        tangent_regions=design.tangent_regions,
        tangent_edges=design.tangent_edges,
    )
    seeds = (random_state,) if site_out else tuple(random_state + r for r in range(cv_repeats))
    job = _Job(design.X, y, groups, strata, sites, kind, n_classes, pipeline, cv_folds, seeds)
    job.splits = [_splits(job, y, seed) for seed in seeds]

    oof, fold_patterns, folds = _run_cv(job, y, with_patterns=True)
    observed, per_repeat = _mean_scores(job, y, oof)

    from neurokit.models._permute import permutation_null  # builds on this module's fold helpers

    null = permutation_null(job, n_permutations, random_state, client=client, engine=permutation_engine)

    scores = {}
    for m in METRICS[kind]:
        entry = {
            "mean": observed[m],
            "sd": float(np.std([r[m] for r in per_repeat], ddof=1)) if len(per_repeat) > 1 else 0.0,
            "per_repeat": [r[m] for r in per_repeat],
            "p_value": None,
            "null_mean": None,
            "null_95": None,
        }
        if n_permutations:
            values = null[m].to_numpy()
            extreme = values <= observed[m] if m in _LOWER_IS_BETTER else values >= observed[m]
            entry["p_value"] = float((extreme.sum() + 1) / (n_permutations + 1))
            entry["null_mean"] = float(values.mean())
            entry["null_95"] = [float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))]
        scores[m] = entry

    predictions = design.ids.copy()
    mean_pred = np.mean(oof, axis=0)
    if kind == "regression":
        predictions["y_true"] = y
        predictions["y_pred"] = mean_pred
    else:
        predictions["y_true"] = [classes[c] for c in y]
        predictions["y_pred"] = [classes[c] for c in np.argmax(mean_pred, axis=1)]
        for j, c in enumerate(classes):
            predictions[f"proba_{c}"] = mean_pred[:, j]
    predictions["n_repeats"] = len(oof)

    metrics = {
        "target": target,
        "feature_set": feature_set,
        "kind": kind,
        "estimator": _estimator_name(estimator, kind),
        "cv": {
            "scheme": "leave_site_out" if site_out else "repeated_stratified_group_kfold",
            "folds": int(sites.max() + 1) if site_out else cv_folds,
            "repeats": len(seeds),
            "random_state": random_state,
        },
        "n_rows": int(len(y)),
        "n_participants": n_participants,
        "n_features": len(design.model_features),
        "measure": measure,  # for 'tangent', edge__A--B features are tangent-space edges
        "covariates": design.covariates,
        "harmonize_site": harmonize,
        "edge_selection": edge_selection,
        "excluded": design.excluded,
        "notes": notes,
        "primary_metric": METRICS[kind][0],
        "p_value": scores[METRICS[kind][0]]["p_value"],
        "n_permutations": n_permutations,
        "p_value_floor": 1.0 / (n_permutations + 1) if n_permutations else None,
        "permutation_engine": permutation_engine,
        "scores": scores,
    }
    # the post-hoc test of Dinga et al. 2020, next to the in-fold residualised score
    from neurokit.models._confounds import _beyond_confounds_metrics, _covariate_notes  # they import this module

    metrics["beyond_confounds"] = _beyond_confounds_metrics(
        features, design, kind, y, mean_pred, groups, n_permutations, random_state, confounds
    )
    metrics["notes"] += metrics["beyond_confounds"].pop("notes", [])
    _combine_p_values(metrics)
    metrics["notes"] += _covariate_notes(features, design, target, y, classes)
    if kind == "classification":
        metrics["classes"] = classes
        metrics["chance"] = {"balanced_accuracy": 1.0 / n_classes, "roc_auc": 0.5}
        cm = confusion_matrix(y, np.argmax(mean_pred, axis=1), labels=np.arange(n_classes))
        metrics["confusion_matrix"] = {"labels": classes, "rows": "true", "matrix": cm.tolist()}

    final = clone(pipeline)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        _quiet_fit_warnings()
        _fit(final, design.X, y, groups)
    if site_out:
        final.set_params(harmonize__unseen_site="raise")
    model = FittedModel(
        pipeline=final,
        target=target,
        kind=kind,
        feature_set=feature_set,
        estimator=metrics["estimator"],
        feature_names=design.feature_names,
        model_features=design.model_features,
        covariates=design.covariates,
        covariate_levels=design.covariate_levels,
        site_levels=design.site_levels,
        classes=classes,
        atlas=atlas,
        measure=measure,
        config_hash=config_hash,
    )
    patterns = aggregate_patterns(np.array([p for p, _ in fold_patterns]), design.model_features, networks)
    per_class = pd.DataFrame()
    if n_classes > 2:  # the overall pattern follows the expected class index: meaningless for unordered classes
        per_class = aggregate_class_patterns(np.array([c for _, c in fold_patterns]), classes,
                                             design.model_features, networks)
    return ModelResult(target, feature_set, metrics, predictions, null, patterns, model, folds, per_class)


def _site_association(site, y, kind):
    """Cramer's V of site and class (classification) or eta squared of the target by site (regression)."""
    if kind == "regression":
        total = ((y - y.mean()) ** 2).sum()
        between = sum((site == s).sum() * (y[site == s].mean() - y.mean()) ** 2 for s in np.unique(site))
        return float(between / total) if total > 0 else 0.0
    table = pd.crosstab(site, y).to_numpy()
    if min(table.shape) < 2:
        return 0.0
    chi2 = stats.chi2_contingency(table, correction=False)[0]
    return float(np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1))))


def _estimator_name(estimator, kind):
    if estimator is None:
        return "ridge"
    return estimator if isinstance(estimator, str) else type(estimator).__name__
