"""A sensitivity table of the analysis choices: the primary metric with and without mean FD
among the in-fold covariates, and with the runs excluded by QC put back.
"""

from __future__ import annotations

import pandas as pd

from neurokit.models._common import ModelError
from neurokit.models._cv import cross_validate_model

__all__ = ["sensitivity_analysis"]


def sensitivity_analysis(
    features, target, feature_set, networks, *, excluded_features=None, covariates=("age", "sex"), **kwargs
):
    """The primary metric under each analysis choice, cross-validated without permutations.

    Variants: ``configured`` (the covariates given), ``without mean_fd`` (or ``with
    mean_fd`` when the configuration leaves it out) and, when ``excluded_features``
    holds usable rows, ``excluded runs put back``. Each row also carries the
    prediction's value beyond the confounds (its partial correlation) with the permutation
    p-value of that test (``n_permutations`` of them: the predictions are not refitted).

    Parameters
    ----------
    features : pandas.DataFrame of shape (n_runs, n_columns)
        The group features table (included runs).
    target, feature_set, networks
        See :func:`cross_validate_model`.
    excluded_features : pandas.DataFrame, optional
        Features rows of the runs excluded by QC, same columns (matrices the participant
        level wrote for them); None or empty skips that variant.
    covariates : sequence of str, default=('age', 'sex')
        The configured covariates.
    **kwargs
        Passed to :func:`cross_validate_model` (the whole-pipeline null is skipped; its
        ``n_permutations``, default 1000, go to the beyond-confounds test).

    Returns
    -------
    list of dict
        One row per variant: ``variant``, ``covariates``, ``n_rows``, ``metric``, ``mean``,
        ``sd``, ``beyond_confounds`` (``measure``, ``value``, ``p_permutation``).
    """
    covariates = tuple(covariates)
    kwargs = {**kwargs, "n_permutations": 0, "beyond_permutations": kwargs.get("n_permutations", 1000)}
    if "mean_fd" in covariates:
        alternative = tuple(c for c in covariates if c != "mean_fd")
    else:
        alternative = covariates + ("mean_fd",)
    variants = [("configured", features, covariates),
                ("without mean_fd" if "mean_fd" in covariates else "with mean_fd", features, alternative)]
    if excluded_features is not None and len(excluded_features):
        both = pd.concat([features, excluded_features], ignore_index=True)
        if "stage" in features.columns and isinstance(features["stage"].dtype, pd.CategoricalDtype):
            both["stage"] = pd.Categorical(both["stage"], dtype=features["stage"].dtype)  # concat may drop the order
        variants.append(("excluded runs put back", both, covariates))
    rows = []
    for name, table, covs in variants:
        try:
            result = cross_validate_model(table, target, feature_set, networks, covariates=covs, **kwargs)
        except ModelError as err:
            rows.append({"variant": name, "covariates": list(covs), "error": str(err)})
            continue
        m = result.metrics
        score = m["scores"][m["primary_metric"]]
        beyond = m.get("beyond_confounds") or {}
        rows.append({"variant": name, "covariates": list(m["covariates"]), "n_rows": m["n_rows"],
                     "metric": m["primary_metric"], "mean": score["mean"], "sd": score["sd"],
                     "beyond_confounds": {"measure": beyond.get("effect_name", "partial_r"),
                                          "value": beyond.get("effect"),
                                          "p_permutation": beyond.get("p_permutation")}})
    return rows

