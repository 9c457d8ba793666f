"""Honest cross-validation of a whole model pipeline: grouped by participant, folds built
without the target, repeated, with a permutation null of the whole pipeline (optionally on dask).
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.metrics import confusion_matrix
from threadpoolctl import threadpool_limits

from neurokit.models._common import TARGETS, ModelError
from neurokit.models._confounds import _beyond_confounds_metrics, _covariate_notes
from neurokit.models._features import _design
from neurokit.models._folds import (
    METRICS,
    _fit,
    _Job,
    _mean_scores,
    _quiet_fit_warnings,
    _run_cv,
    _splits,
    permute_within_participants,
)
from neurokit.models._patterns import aggregate_class_patterns, aggregate_patterns
from neurokit.models._permute import permutation_null
from neurokit.models._persist import FittedModel
from neurokit.models._pipeline import _target_kind, build_pipeline

__all__ = ["METRICS", "ModelResult", "cross_validate_model", "permute_within_participants"]

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
        (rows left out, by reason), ``notes``, ``chance`` (each score a model without
        information expects: 0 for Spearman and R², 1 / n_classes balanced accuracy, 0.5
        ROC AUC), the CV settings (``cv``: scheme ``repeated_group_kfold``, folds built from
        the participants alone, or ``leave_site_out``), ``beyond_confounds`` (the out-of-fold
        prediction's value beyond the confounds, see :func:`prediction_beyond_confounds`) and
        the p-values ``p_value_permutation``, ``p_value_beyond_confounds`` and ``p_value``
        (combined by ``p_value_rule``, explained in ``p_value_rule_text``).
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
        Test fold of each row (rows as in ``predictions``) in each repeat; built from the
        participants alone (never the target) and shared by every permutation.
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
    beyond_permutations=None,
):
    """Cross-validate, permutation-test, interpret and refit one model.

    Rows missing the target, a feature, a covariate or (when harmonising) the site are
    left out and counted in ``metrics['excluded']``. The folds are built from the
    participants alone, never from the target: participants (a participant's runs and
    sessions are never split between training and test) are shuffled by the seed and dealt
    to ``cv_folds`` folds balanced by rows; the split is repeated ``cv_repeats`` times with
    seeds ``random_state``, ``random_state + 1``, .... The inner alpha / C search of the
    default estimators likewise splits the training participants without looking at the
    target. A training fold can then lack a small class (its test rows are never predicted
    as that class; a fold with one class only predicts it), which the permutations meet in
    the same way; a class with a single participant is an error. With
    ``site_out`` the folds are the sites instead (leave one site out, one repeat; test
    sites pass through harmonisation unadjusted). A features table of covariances
    (``cov__`` columns, the tangent measure) is projected to tangent space first in every
    fold, around the geometric mean of that fold's training runs; edges are picked after
    the projection and everything downstream (ComBat, covariates) acts on tangent edges,
    reported as ``edge__A--B``. The permutation test refits the whole
    pipeline, including harmonisation, covariate regression and selection, on targets
    permuted between participants (a participant's sessions move together), on the same
    outer and inner folds as the observed analysis; as these never depend on the target,
    the observed and permuted scores are exchangeable under the null, and the p-value
    ``(count + 1) / (n_permutations + 1)`` is exact (never below
    ``metrics['p_value_floor']`` = ``1 / (n_permutations + 1)``).

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
    beyond_permutations : int, optional
        Permutations of the beyond-confounds test (cheap: the predictions are not refitted);
        default ``n_permutations``. :func:`sensitivity_analysis` skips the whole-pipeline null
        but keeps this one.

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
    notes = list(design.notes)
    if kind == "classification":
        notes += _small_class_notes(y, groups, classes, cv_folds, target)
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
    job = _Job(design.X, y, groups, sites, kind, n_classes, pipeline, cv_folds, seeds)
    job.splits = [_splits(job, seed) for seed in seeds]

    oof, fold_patterns, folds = _run_cv(job, y, with_patterns=True)
    observed, per_repeat = _mean_scores(job, y, oof)

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
            "scheme": "leave_site_out" if site_out else "repeated_group_kfold",
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
    hrv_source = {c: str(v) for c, v in (features.attrs.get("hrv_source") or {}).items() if c in design.feature_names}
    if hrv_source:  # what 'hrv' meant here (phenotype or scan), checked again when the model is applied
        metrics["hrv_source"] = hrv_source
    # the post-hoc test of Dinga et al. 2020, next to the in-fold residualised score
    metrics["beyond_confounds"] = _beyond_confounds_metrics(
        features, design, kind, y, mean_pred, groups,
        n_permutations if beyond_permutations is None else beyond_permutations, random_state, confounds
    )
    metrics["notes"] += metrics["beyond_confounds"].pop("notes", [])
    _combine_p_values(metrics)
    metrics["notes"] += _covariate_notes(features, design, target, y, classes)
    # the score a model without information expects (regression: no ranking, no variance explained)
    metrics["chance"] = {"spearman": 0.0, "r2": 0.0}
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
        hrv_source=hrv_source,
    )
    patterns = aggregate_patterns(np.array([p for p, _ in fold_patterns]), design.model_features, networks)
    per_class = pd.DataFrame()
    if n_classes > 2:  # the overall pattern follows the expected class index: meaningless for unordered classes
        per_class = aggregate_class_patterns(np.array([c for _, c in fold_patterns]), classes,
                                             design.model_features, networks)
    return ModelResult(target, feature_set, metrics, predictions, null, patterns, model, folds, per_class)


def _small_class_notes(y, groups, classes, cv_folds, target):
    """Notes for classes too small for every training fold to hold them; a ModelError for a
    class of one participant, which cross-validation can never train on while testing it."""
    people = pd.Series(groups).groupby(y).nunique().reindex(range(len(classes)), fill_value=0).to_numpy()
    single = [classes[c] for c in np.flatnonzero(people < 2)]
    if single:
        raise ModelError(
            f"class(es) {single} of target {target!r} have a single participant: cross-validation can never train "
            "on such a class while testing it; add participants of that class, or drop its rows from the features "
            "table before modelling."
        )
    few = [f"{classes[c]!r} ({people[c]})" for c in np.flatnonzero(people < cv_folds)]
    if not few:
        return []
    return [
        f"class(es) {', '.join(few)} have fewer participants than the {cv_folds} folds: the folds are drawn without "
        "looking at the target (so that the permutation p-value is exact), and a training fold can lack such a "
        "class; its rows in that fold are never predicted as it. Lower models.cv_folds or add participants for "
        "steadier scores."
    ]


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
