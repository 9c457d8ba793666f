"""Longitudinal mixed-effects model of prefrontal-limbic coupling over recovery, reported
beside the predictive models when participants have several sessions.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from neurokit.models._common import ModelError

__all__ = ["longitudinal_model"]

_PREDICTORS = ("stage", "abstinence_days")


def longitudinal_model(
    features, *, outcome="idx_pfc_limbic", predictor="stage", covariates=(), stage_levels=None, control_level=None
):
    """Mixed-effects model ``outcome ~ predictor (+ covariates)`` with a random intercept per participant.

    Runs of one session are averaged first, so each observation is a participant's
    session. The model is fitted (statsmodels MixedLM, REML) only when at least two
    participants have two or more sessions; otherwise the result says why it was not.

    Parameters
    ----------
    features : pandas.DataFrame of shape (n_runs, n_columns)
        The group features table (``participant_id``, ``session_id``, roles, indices).
    outcome : str, default='idx_pfc_limbic'
        Numeric column modelled, e.g. a summary index or one edge.
    predictor : {'stage', 'abstinence_days'}, default='stage'
        ``stage`` enters as categories against ``control_level`` (or, when no control
        session remains, against the first stage present); ``abstinence_days`` as a slope.
    covariates : sequence of str, default=()
        Numeric or categorical columns added as fixed effects (e.g. ``('age', 'mean_fd')``).
    stage_levels : sequence of str, optional
        Stage order; default: the categories of the ``stage`` Categorical, else sorted values.
    control_level : str, optional
        Reference stage; default: the first stage level.

    Returns
    -------
    dict
        JSON-serialisable. Always ``fitted`` (bool), ``message``, ``outcome``,
        ``predictor``, ``n_observations``, ``n_participants``, ``n_multi_session``,
        ``excluded``. When fitted also ``formula``, ``params`` (list of ``{term, coef,
        se, z, p, ci_low, ci_high}``), ``random_intercept_var``, ``residual_var``,
        ``converged``, ``log_likelihood`` and ``warnings``.
    """
    import statsmodels.formula.api as smf

    if not isinstance(features, pd.DataFrame):
        raise ModelError(f"'features' must be a pandas DataFrame; got {type(features).__name__}.")
    if predictor not in _PREDICTORS:
        raise ModelError(f"'predictor' must be one of {_PREDICTORS}; got {predictor!r}.")
    if isinstance(covariates, str):
        raise ModelError(f"'covariates' must be a sequence of column names; got the string {covariates!r}.")
    needed = ["participant_id", outcome, predictor, *covariates]
    missing = [c for c in needed if c not in features.columns]
    if missing:
        raise ModelError(f"longitudinal_model needs column(s) {missing} in the features table.")
    session = features["session_id"] if "session_id" in features.columns else pd.Series(np.nan, index=features.index)
    data = pd.DataFrame(
        {
            "participant_id": features["participant_id"].astype(str),
            "session_id": session.astype(object).where(session.notna(), "<none>").astype(str),
            "y": pd.to_numeric(features[outcome], errors="coerce"),
        }
    )
    if predictor == "stage":
        if stage_levels is None:
            stage = features["stage"]
            stage_levels = (
                [str(c) for c in stage.cat.categories]
                if isinstance(stage.dtype, pd.CategoricalDtype)
                else sorted(set(stage.dropna().astype(str)))
            )
        data["x"] = features["stage"].astype(object).where(features["stage"].notna(), None)
    else:
        data["x"] = pd.to_numeric(features[predictor], errors="coerce")
    cov_names = [f"c{i}" for i in range(len(covariates))]
    for name, cov in zip(cov_names, covariates):
        data[name] = features[cov].to_numpy()
    numeric = ["y"] + ([] if predictor == "stage" else ["x"]) + [
        n for n, c in zip(cov_names, covariates) if pd.api.types.is_numeric_dtype(features[c])
    ]
    first = [c for c in data.columns if c not in numeric + ["participant_id", "session_id"]]
    data = data.groupby(["participant_id", "session_id"], sort=False).agg(
        {**{c: "mean" for c in numeric}, **{c: "first" for c in first}}
    ).reset_index()
    usable = data.drop(columns="session_id").notna().all(axis=1)
    excluded = {"sessions missing outcome, predictor or covariates": int((~usable).sum())} if (~usable).any() else {}
    data = data[usable]
    per_person = data.groupby("participant_id").size()
    result = {
        "fitted": False,
        "outcome": outcome,
        "predictor": predictor,
        "covariates": list(covariates),
        "n_observations": int(len(data)),
        "n_participants": int(len(per_person)),
        "n_multi_session": int((per_person >= 2).sum()),
        "excluded": excluded,
    }
    if result["n_multi_session"] < 2:
        result["message"] = (
            f"not fitted: {result['n_multi_session']} participant(s) have two or more usable sessions; a "
            "random-intercept longitudinal model needs at least two."
        )
        return result
    if predictor == "stage":
        present = [s for s in stage_levels if s in set(data["x"])]
        default = stage_levels[0] if stage_levels[0] in present else present[0]
        reference = control_level if control_level in present else default
        if len(present) < 2:
            result["message"] = f"not fitted: only one stage ({present[0]!r}) among usable sessions."
            return result
        term = f"C(x, Treatment(reference={reference!r}))"
    else:
        term = "x"
    formula = " + ".join([f"y ~ {term}", *cov_names])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = smf.mixedlm(formula, data, groups=data["participant_id"]).fit(reml=True)
    readable = f"{outcome} ~ " + " + ".join([term.replace("C(x,", f"C({predictor},") if term != "x" else predictor, *covariates])

    def name_of(t):
        t = t.replace("C(x,", f"C({predictor},")
        t = t if t != "x" else predictor
        for name, cov in zip(cov_names, covariates):
            t = cov if t == name else t.replace(f"{name}[", f"{cov}[")
        return t

    ci = fit.conf_int()
    params = []
    for t in fit.fe_params.index:
        params.append(
            {
                "term": name_of(t),
                "coef": float(fit.fe_params[t]),
                "se": float(fit.bse_fe[t]),
                "z": float(fit.tvalues[t]),
                "p": float(fit.pvalues[t]),
                "ci_low": float(ci.loc[t, 0]),
                "ci_high": float(ci.loc[t, 1]),
            }
        )
    result.update(
        fitted=True,
        message="fitted",
        formula=readable + " + (1 | participant_id)",
        params=params,
        random_intercept_var=float(np.asarray(fit.cov_re)[0, 0]),
        residual_var=float(fit.scale),
        converged=bool(fit.converged),
        log_likelihood=float(fit.llf),
        warnings=sorted({str(w.message).splitlines()[0] for w in caught}),
    )
    return result
