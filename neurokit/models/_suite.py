"""Every model the group level reports, in one call: targets x feature sets, plus the
longitudinal model; a model the data cannot support is skipped with its reason.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from neurokit.models._common import FEATURE_SETS, TARGETS, ModelError
from neurokit.models._cv import cross_validate_model
from neurokit.models._longitudinal import _PREDICTORS, longitudinal_model

__all__ = ["ModelSuite", "fit_models", "fdr_correct"]


@dataclass
class ModelSuite:
    """Results of :func:`fit_models`.

    Attributes
    ----------
    results : dict of (str, str) to ModelResult
        ``{(target, feature_set): result}`` for every model that could be fitted, in fitting
        order; each ``metrics`` holds ``p_value_fdr``, its p-value corrected across these models.
    skipped : dict of (str, str) to str
        ``{(target, feature_set): reason}`` for models the data cannot support (e.g. no
        BDNF or HRV values, one class only).
    longitudinal : dict of str to dict
        ``{predictor: longitudinal_model(...) result}``, plus ``{'scan_hrv:<predictor>': ...}``
        for the scan-derived HRV per session as the outcome (when the table has ``scan_hrv``
        values); empty when not requested or when no run has a session. A model that failed
        is ``{"fitted": False, "outcome", "predictor", "message": "not fitted: <reason>"}``.
    """

    results: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    longitudinal: dict = field(default_factory=dict)


def fit_models(
    features,
    networks,
    *,
    targets=TARGETS,
    feature_sets=("pfc_limbic_edges", "summary_indices", "biomarkers", "combined"),
    longitudinal=True,
    longitudinal_outcome="idx_pfc_limbic",
    longitudinal_predictors=_PREDICTORS,
    longitudinal_scan_hrv=True,
    extra_metrics=None,
    on_model=None,
    **kwargs,
):
    """Cross-validate every target on every feature set, and fit the longitudinal model(s).

    Parameters
    ----------
    features : pandas.DataFrame of shape (n_runs, n_columns)
        The group features table.
    networks : mapping of str to str
        ``{region: network}``.
    targets : sequence of str, default=('severity', 'stage', 'user_vs_control')
    feature_sets : sequence of str, default=('pfc_limbic_edges', 'summary_indices', 'biomarkers', 'combined')
    longitudinal : bool, default=True
        Also fit :func:`longitudinal_model` once per ``longitudinal_predictors`` when some run
        has a ``session_id``. A longitudinal model that fails (a missing column, a singular
        design) is reported in :attr:`ModelSuite.longitudinal`, never raised: the predictive
        models do not depend on it.
    longitudinal_outcome : str, default='idx_pfc_limbic'
    longitudinal_predictors : sequence of {'stage', 'abstinence_days'}, default=('stage', 'abstinence_days')
    longitudinal_scan_hrv : bool, default=True
        Also fit ``scan_hrv ~ predictor`` per predictor (does the HRV measured in each
        session's scan follow recovery?), when some row has a ``scan_hrv`` value.
    extra_metrics : mapping of str to object, optional
        Entries added to every fitted model's ``metrics`` before ``p_value_fdr`` (e.g. the
        denoising strategy the features were made with).
    on_model : callable, optional
        ``on_model(target, feature_set, result, reason)`` after each model, with the
        ``ModelResult`` (``reason`` None) or, for a skipped model, ``result`` None and the
        reason; for progress reporting. ``result.metrics`` has no ``p_value_fdr`` yet.
    **kwargs
        Passed to :func:`cross_validate_model` (estimator, covariates, cv_folds,
        n_permutations, client, stage_levels, atlas, ...).

    Returns
    -------
    ModelSuite

    Raises
    ------
    ModelError
        For an unknown target, feature set or longitudinal predictor (before anything is fitted).
    """
    unknown_targets = [t for t in targets if t not in TARGETS]
    unknown_sets = [f for f in feature_sets if f not in FEATURE_SETS]
    if unknown_targets or unknown_sets:
        raise ModelError(
            f"unknown target(s) {unknown_targets} or feature set(s) {unknown_sets}; "
            f"targets are {TARGETS} and feature sets {FEATURE_SETS}."
        )
    unknown_predictors = [p for p in longitudinal_predictors if p not in _PREDICTORS]
    if isinstance(longitudinal_predictors, str) or unknown_predictors:
        raise ModelError(
            f"'longitudinal_predictors' must be a sequence of {_PREDICTORS}; got {longitudinal_predictors!r}."
        )
    suite = ModelSuite()
    for target in targets:
        for feature_set in feature_sets:
            try:
                result = cross_validate_model(features, target, feature_set, networks, **kwargs)
            except ModelError as err:  # the data cannot support this model: say so, go on
                suite.skipped[(target, feature_set)] = str(err)
                if on_model is not None:
                    on_model(target, feature_set, None, str(err))
                continue
            result.metrics.update(extra_metrics or {})
            suite.results[(target, feature_set)] = result
            if on_model is not None:
                on_model(target, feature_set, result, None)
    fitted = list(suite.results.values())
    for result, adjusted in zip(fitted, fdr_correct([r.metrics.get("p_value") for r in fitted])):
        result.metrics["p_value_fdr"] = adjusted
    sessions = features["session_id"].notna().any() if "session_id" in features.columns else False
    if longitudinal and sessions:
        for predictor in longitudinal_predictors:
            suite.longitudinal[predictor] = _longitudinal(features, longitudinal_outcome, predictor, kwargs)
        scan = "scan_hrv" in features.columns and features["scan_hrv"].notna().any()
        if longitudinal_scan_hrv and scan and longitudinal_outcome != "scan_hrv":
            for predictor in longitudinal_predictors:
                suite.longitudinal[f"scan_hrv:{predictor}"] = _longitudinal(features, "scan_hrv", predictor, kwargs)
    return suite


def _longitudinal(features, outcome, predictor, kwargs):
    """:func:`longitudinal_model`, or why it could not be fitted."""
    try:
        return longitudinal_model(features, outcome=outcome, predictor=predictor,
                                  stage_levels=kwargs.get("stage_levels"), control_level=kwargs.get("control_level"))
    except ValueError as err:  # a ModelError, or statsmodels on a singular design (LinAlgError is a ValueError)
        return {"fitted": False, "outcome": outcome, "predictor": predictor, "message": f"not fitted: {err}"}


def fdr_correct(p_values):
    """Benjamini-Hochberg false-discovery-rate adjusted p-values across models.

    Parameters
    ----------
    p_values : sequence of float or None, length n_models
        One p-value per model; None (no permutation test) is left out and stays None.

    Returns
    -------
    list of float or None, length n_models
        Adjusted p-values (the smallest FDR at which each model would be declared), in order.
    """
    values = list(p_values)
    bad = [v for v in values if v is not None and (not isinstance(v, numbers.Real) or not 0 <= v <= 1)]
    if bad:
        raise ModelError(f"'p_values' must hold numbers in [0, 1] or None; got {bad[0]!r}.")
    tested = [i for i, v in enumerate(values) if v is not None]
    p = np.array([values[i] for i in tested], dtype=float)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * len(p) / np.arange(1, len(p) + 1)
    adjusted = np.empty(len(p))
    adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = [None] * len(values)
    for i, a in zip(tested, adjusted):
        out[i] = float(a)
    return out
