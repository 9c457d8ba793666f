"""The default model pipelines: tangent projection, harmonisation, covariates, scaling, selection, model.

Every step is an estimator, so cross-validation refits all of them in each training fold.
"""

from __future__ import annotations

import numbers

from sklearn.base import BaseEstimator, clone
from sklearn.feature_selection import SelectPercentile, f_classif, f_regression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC, LinearSVR

from neurokit.models._common import TARGETS, ModelError
from neurokit.models._covariates import CovariateRegressor
from neurokit.models._cpm import CPMClassifier, CPMRegressor
from neurokit.models._harmonize import ComBatHarmonizer
from neurokit.models._inner import GroupLogisticRegressionCV, GroupRidgeClassifierCV, GroupRidgeCV
from neurokit.models._tangent import TangentProjector

__all__ = ["build_pipeline", "ESTIMATORS"]

#: Named estimators for :func:`build_pipeline`.
ESTIMATORS = ("ridge", "logistic", "svm", "cpm")

_KINDS = ("regression", "classification")


def _target_kind(target_kind):
    if target_kind in _KINDS:
        return target_kind
    if target_kind in TARGETS:
        return "regression" if target_kind == "severity" else "classification"
    raise ModelError(f"'target_kind' must be one of {_KINDS + TARGETS}; got {target_kind!r}.")


def _make_estimator(kind, estimator, random_state, cpm_threshold):
    if isinstance(estimator, BaseEstimator):
        return clone(estimator)
    # ridge for classes too: as accurate as L2 logistic on simulated studies (benchmarks/README.md,
    # bench_models --compare-estimators; Dadi et al. 2019 found the same on real data), and its
    # permutations are batched
    name = "ridge" if estimator is None else estimator
    if name not in ESTIMATORS:
        raise ModelError(f"'estimator' must be one of {ESTIMATORS}, None or a scikit-learn estimator; got {estimator!r}.")
    if kind == "regression":
        if name == "logistic":
            raise ModelError("'estimator'='logistic' cannot predict a continuous target; use 'ridge', 'svm' or 'cpm'.")
        return {
            "ridge": lambda: GroupRidgeCV(),
            "svm": lambda: LinearSVR(C=0.1, max_iter=20000, random_state=random_state),
            "cpm": lambda: CPMRegressor(threshold=cpm_threshold),
        }[name]()
    return {
        "ridge": lambda: GroupRidgeClassifierCV(),
        # a small C grid chosen by inner 3-fold log-loss, grouped by participant (kept small: it
        # runs in every fold of every permutation); class weights balance unequal stages
        "logistic": lambda: GroupLogisticRegressionCV(),
        "svm": lambda: LinearSVC(C=0.1, class_weight="balanced", max_iter=20000, random_state=random_state),
        "cpm": lambda: CPMClassifier(threshold=cpm_threshold),
    }[name]()


def build_pipeline(
    target_kind,
    *,
    estimator=None,
    n_covariates=0,
    harmonize_site=True,
    edge_selection=None,
    unseen_site="raise",
    cpm_threshold=0.01,
    random_state=0,
    tangent_regions=0,
    tangent_edges=None,
):
    """The model pipeline for X in the tail layout ``[features | covariates | site]``.

    Steps, each refit in every training fold: ``tangent`` (:class:`TangentProjector`, only
    when ``tangent_regions``; the features then start with the vectorised covariances,
    projected around the training fold's geometric mean, and ``tangent_edges`` picks the
    edges kept after projection), ``harmonize`` (:class:`ComBatHarmonizer`,
    only when ``harmonize_site``; X then ends with the site code column), ``covariates``
    (:class:`CovariateRegressor`, removes the ``n_covariates`` covariate columns from the
    features), ``scale`` (StandardScaler), ``select`` (SelectPercentile with an F-test,
    only when ``edge_selection`` is set) and ``model``.

    Parameters
    ----------
    target_kind : {'regression', 'classification'} or a target name
        ``'severity'`` means regression; ``'stage'`` and ``'user_vs_control'`` classification.
    estimator : {'ridge', 'logistic', 'svm', 'cpm'}, estimator or None, default=None
        None = 'ridge': :class:`GroupRidgeCV` (regression) or :class:`GroupRidgeClassifierCV`
        balanced between classes (classification), alpha chosen by an inner CV grouped by
        participant (fit with ``model__groups``); 'logistic' = L2
        :class:`GroupLogisticRegressionCV` (balanced, C chosen the same way);
        'svm' = LinearSVR / LinearSVC; 'cpm' =
        :class:`CPMRegressor` / :class:`CPMClassifier`. An estimator instance is cloned.
    n_covariates : int, default=0
        Number of covariate columns in X (after the features, before the site code).
    harmonize_site : bool, default=True
        Whether X ends with a site code column to harmonise on.
    edge_selection : float or None, default=None
        Fraction (0, 1] of features kept by a univariate F-test inside each fold.
    unseen_site : {'raise', 'pooled'}, default='raise'
        See :class:`ComBatHarmonizer`.
    cpm_threshold : float, default=0.01
        Edge-selection p-value of the CPM estimators.
    random_state : int, default=0
        Seed of the estimators that use one.
    tangent_regions : int, default=0
        Regions of the covariance matrices at the start of X (tangent measure); 0: none.
    tangent_edges : sequence of int or None, default=None
        Tangent edges kept after projection, see :class:`TangentProjector`.

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    kind = _target_kind(target_kind)
    if not isinstance(n_covariates, numbers.Integral) or n_covariates < 0:
        raise ModelError(f"'n_covariates' must be a non-negative integer; got {n_covariates!r}.")
    steps = []
    if tangent_regions:
        steps.append(("tangent", TangentProjector(n_regions=tangent_regions, edges=tangent_edges)))
    if harmonize_site:
        steps.append(("harmonize", ComBatHarmonizer(n_covariates=int(n_covariates), unseen_site=unseen_site)))
    steps.append(("covariates", CovariateRegressor(n_covariates=int(n_covariates))))
    steps.append(("scale", StandardScaler()))
    if edge_selection is not None:
        if not isinstance(edge_selection, numbers.Real) or not 0 < edge_selection <= 1:
            raise ModelError(f"'edge_selection' must be a fraction in (0, 1] or None; got {edge_selection!r}.")
        score = f_regression if kind == "regression" else f_classif
        steps.append(("select", SelectPercentile(score, percentile=100 * float(edge_selection))))
    steps.append(("model", _make_estimator(kind, estimator, random_state, cpm_threshold)))
    return Pipeline(steps)
