"""Confound control that can be read next to in-fold residualisation: the predictive value of
out-of-fold predictions beyond the confounds, covariate-target associations and exclusion
bias (the sensitivity table of the analysis choices is in :mod:`._sensitivity`).

In-fold covariate regression (:class:`CovariateRegressor`) removes from every feature the
part a confound explains; when a confound tracks the target (mean FD tracks severity)
it removes the effect with it. Following Dinga et al. (2020), the test here works on the
predictions instead: does the prediction explain the target beyond what the confounds
already explain (target ~ confounds vs target ~ confounds + prediction)? The prediction's
p-value comes from permuting its residual after regression on the confounds
(Freedman & Lane 1983), by participant blocks.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from scipy import stats

from neurokit.models._common import TARGETS, ModelError
from neurokit.models._features import _encode_covariates, _target
from neurokit.models._folds import permute_within_participants

__all__ = [
    "CONFOUNDS",
    "prediction_beyond_confounds",
    "covariate_associations",
    "exclusion_bias",
]

#: Confounds the post-hoc tests and association tables use when present in the features table.
CONFOUNDS = ("mean_fd", "age", "sex", "site")

_EPS = 1e-12


# ----------------------------------------------------------------------------- helpers
def _design_matrix(confounds):
    """Intercept plus the non-constant confound columns, shape (n, 1 + n_kept)."""
    confounds = np.asarray(confounds, dtype=float).reshape(len(confounds), -1)
    keep = np.ptp(confounds, axis=0) > 0 if confounds.size else np.zeros(confounds.shape[1], bool)
    return np.column_stack([np.ones(len(confounds)), confounds[:, keep]])


def _residualise(design, values):
    """Least-squares fit of ``values`` (n,) or (n, m) on ``design`` and the residuals."""
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    fitted = design @ coef
    return fitted, values - fitted


def _rss(design, y):
    return float(np.sum(_residualise(design, y)[1] ** 2))


def _corr(a, b):
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / denom) if denom > _EPS else 0.0


def _log_odds(proba):
    """Class probabilities (n, k) -> log-odds against the first class, (n, k - 1)."""
    p = np.clip(np.asarray(proba, dtype=float), 1e-6, 1.0)
    return np.log(p[:, 1:]) - np.log(p[:, :1])


def _multinomial_loglik(design, codes, n_classes, *, ridge=1e-6, max_iter=100):
    """Maximised log-likelihood of a multinomial logistic model of ``codes`` on ``design`` (with intercept).

    Newton-Raphson with step halving on a small problem (a few confound columns); the
    tiny ridge keeps the optimum finite under separation (a near-perfect prediction)
    without moving the log-likelihood where an unpenalised maximum exists.
    """
    n, p = design.shape
    m = n_classes - 1
    Y = np.zeros((n, n_classes))
    Y[np.arange(n), codes] = 1.0

    def loglik(beta):
        eta = np.column_stack([np.zeros(n), design @ beta.reshape(p, m)])
        eta -= eta.max(axis=1, keepdims=True)
        log_p = eta - np.log(np.exp(eta).sum(axis=1, keepdims=True))
        return float((Y * log_p).sum()), np.exp(log_p)

    beta = np.zeros(p * m)
    ll, prob = loglik(beta)
    penalised = ll - ridge * beta @ beta
    for _ in range(max_iter):
        resid = Y[:, 1:] - prob[:, 1:]
        grad = (design.T @ resid).ravel() - 2 * ridge * beta
        P = prob[:, 1:]
        # Hessian blocks -X' diag(P_j (delta_jl - P_l)) X, laid out to match beta.reshape(p, m)
        W = P[:, :, None] * (np.eye(m)[None] - P[:, None, :])
        H = np.einsum("na,njl,nb->ajbl", design, W, design).reshape(p * m, p * m) + 2 * ridge * np.eye(p * m)
        step = np.linalg.solve(H, grad)
        t = 1.0
        while t > 1e-8:
            candidate = beta + t * step
            ll_new, prob_new = loglik(candidate)
            pen_new = ll_new - ridge * candidate @ candidate
            if pen_new >= penalised - 1e-12:
                break
            t /= 2
        gain = pen_new - penalised
        beta, ll, prob, penalised = candidate, ll_new, prob_new, pen_new
        if abs(gain) < 1e-10:
            break
    return ll


def _check_permutations(n_permutations, random_state):
    for value, name in ((n_permutations, "n_permutations"), (random_state, "random_state")):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ModelError(f"'{name}' must be an integer >= 0; got {value!r}.")


def _p_from_null(observed, null):
    """Permutation p-value ``(count(null >= observed) + 1) / (n + 1)``; None without permutations."""
    if not len(null):
        return None
    return float((np.sum(np.asarray(null) >= observed - 1e-12) + 1) / (len(null) + 1))


# ----------------------------------------------------------------------------- beyond the confounds
def prediction_beyond_confounds(
    y, prediction, confounds, *, kind, groups=None, n_permutations=1000, random_state=0, confound_names=None
):
    """Predictive value of out-of-fold predictions beyond the confounds (Dinga et al. 2020).

    Compares the model ``target ~ confounds`` with ``target ~ confounds + prediction``.
    Regression: ordinary least squares; the result is the gain in R² (``delta_r2``), its
    F-test, and the partial correlation of prediction and target controlling for the
    confounds (Pearson on values, Spearman on ranks). Classification: logistic regression
    of the classes on the confounds, then with the prediction's log-odds added (one
    column per class after the first); the result is the likelihood-ratio statistic
    ``2 (llf_full - llf_reduced)``, its chi-square p-value (k - 1 degrees of freedom)
    and the gain in McFadden's pseudo-R² (``delta_d2``, the D² of Dinga et al.).

    The permutation p-value leaves the target and confounds as they are and permutes the
    prediction's residual after regression on the confounds, by participant blocks
    (Freedman-Lane): the null keeps the prediction's share explained by the confounds
    and breaks only its unique link with the target. The test statistic is the partial
    Pearson correlation (regression; one-sided, a prediction that agrees with the
    target) or the likelihood ratio (classification). The smallest possible p-value is
    ``1 / (n_permutations + 1)``. The parametric p-values ignore that cross-validated
    predictions are not independent and are optimistic; prefer the permutation p-value.

    Parameters
    ----------
    y : array-like of shape (n_rows,)
        Target: values (regression) or class codes 0..k-1 (classification).
    prediction : array-like of shape (n_rows,) or (n_rows, n_classes)
        Out-of-fold predictions (regression) or class probabilities (classification).
    confounds : array-like of shape (n_rows, n_confounds)
        Numeric confounds (categorical ones one-hot coded); constant columns are ignored.
    kind : {'regression', 'classification'}
    groups : array-like of shape (n_rows,), optional
        Participant code per row; a participant's rows are permuted as one block.
        None: every row is its own participant.
    n_permutations : int, default=1000
        0 skips the permutation test (``p_permutation`` is then None).
    random_state : int, default=0
    confound_names : sequence of str, optional
        Names stored in the result.

    Returns
    -------
    dict
        JSON-serialisable: ``n``, ``confounds``, ``statistic`` (name of the permuted
        statistic), the measures above, ``p_parametric``, ``p_permutation``,
        ``n_permutations`` and ``p_floor``.
    """
    if kind not in ("regression", "classification"):
        raise ModelError(f"'kind' must be 'regression' or 'classification'; got {kind!r}.")
    _check_permutations(n_permutations, random_state)
    y = np.asarray(y, dtype=float)
    prediction = np.asarray(prediction, dtype=float)
    confounds = np.asarray(confounds, dtype=float).reshape(len(y), -1) if len(y) else np.zeros((0, 0))
    if prediction.shape[0] != len(y) or confounds.shape[0] != len(y):
        raise ModelError(
            f"'y', 'prediction' and 'confounds' must have one row per run; got {len(y)}, {prediction.shape[0]} "
            f"and {confounds.shape[0]} rows."
        )
    if not (np.isfinite(y).all() and np.isfinite(prediction).all() and np.isfinite(confounds).all()):
        raise ModelError("'y', 'prediction' and 'confounds' must be finite; drop the rows with missing values first.")
    design = _design_matrix(confounds)
    if len(y) < design.shape[1] + 3:
        raise ModelError(
            f"{len(y)} rows are too few to test the prediction beyond {design.shape[1] - 1} confound column(s); "
            f"at least {design.shape[1] + 3} are needed."
        )
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    rng = np.random.default_rng([random_state, 4099])
    perms = [permute_within_participants(groups, rng) for _ in range(n_permutations)]
    out = {"n": int(len(y)), "confounds": list(confound_names) if confound_names is not None else None}
    if kind == "regression":
        out.update(_beyond_regression(y, prediction.ravel(), design, perms))
    else:
        out.update(_beyond_classification(y.astype(int), prediction, design, perms))
    out["n_permutations"] = int(n_permutations)
    out["p_floor"] = 1.0 / (n_permutations + 1) if n_permutations else None
    return out


def _partial(y, pred, design):
    return _corr(_residualise(design, y)[1], _residualise(design, pred)[1])


def _beyond_regression(y, pred, design, perms):
    n, q = design.shape
    rss_reduced = _rss(design, y)
    full = np.column_stack([design, pred])
    rss_full = _rss(full, y)
    tss = float(np.sum((y - y.mean()) ** 2))
    r2_reduced = 1 - rss_reduced / tss if tss > 0 else 0.0
    r2_full = 1 - rss_full / tss if tss > 0 else 0.0
    df_resid = n - q - 1
    f = (rss_reduced - rss_full) / (rss_full / df_resid) if rss_full > _EPS else np.inf
    partial_r = _partial(y, pred, design)
    ry, rp = stats.rankdata(y), stats.rankdata(pred)
    partial_rho = _partial(ry, rp, design)
    fitted, resid = _residualise(design, pred)
    y_resid = _residualise(design, y)[1]
    null = [_corr(y_resid, _residualise(design, fitted + resid[p])[1]) for p in perms]
    return {
        "statistic": "partial_r",
        "r2_confounds": float(r2_reduced),
        "r2_confounds_prediction": float(r2_full),
        "delta_r2": float(r2_full - r2_reduced),
        "f": float(f),
        "partial_r": partial_r,
        "partial_spearman": partial_rho,
        "p_parametric": float(stats.f.sf(f, 1, df_resid)) if np.isfinite(f) else 0.0,
        "p_permutation": _p_from_null(partial_r, null),
        "null_95": [float(np.quantile(null, 0.025)), float(np.quantile(null, 0.975))] if null else None,
    }


def _beyond_classification(codes, proba, design, perms):
    present, codes = np.unique(codes, return_inverse=True)
    k = len(present)
    if k < 2:
        raise ModelError("the target has a single class among these rows; nothing to test.")
    if proba.ndim != 2 or proba.shape[1] < k:
        raise ModelError(
            f"'prediction' must hold class probabilities of shape (n_rows, {k}) for a classification target; "
            f"got shape {proba.shape}."
        )
    predictor = _log_odds(proba[:, present])
    n = len(codes)
    ll_null = _multinomial_loglik(np.ones((n, 1)), codes, k)
    ll_reduced = _multinomial_loglik(design, codes, k)

    def lr(pred_cols):
        return 2 * (_multinomial_loglik(np.column_stack([design, pred_cols]), codes, k) - ll_reduced)

    observed = max(lr(predictor), 0.0)  # the tiny ridge can leave it a hair below 0
    fitted, resid = _residualise(design, predictor)
    null = [lr(fitted + resid[p]) for p in perms]
    ll_full = ll_reduced + observed / 2
    return {
        "statistic": "likelihood_ratio",
        "d2_confounds": float(1 - ll_reduced / ll_null) if ll_null < 0 else 0.0,
        "d2_confounds_prediction": float(1 - ll_full / ll_null) if ll_null < 0 else 0.0,
        "delta_d2": float((ll_full - ll_reduced) / -ll_null) if ll_null < 0 else 0.0,
        "likelihood_ratio": float(observed),
        "df": int(predictor.shape[1]),
        "p_parametric": float(stats.chi2.sf(observed, predictor.shape[1])),
        "p_permutation": _p_from_null(observed, null),
        "null_95": [float(np.quantile(null, 0.025)), float(np.quantile(null, 0.975))] if null else None,
    }


def _confound_block(frame, confounds):
    """Encoded confounds present in ``frame``, shape (n_rows, n_columns) (one-hot for categorical, NaN
    where missing), the confounds used and the column names."""
    used = [c for c in confounds if c in frame.columns and frame[c].notna().any()]
    block, names, _ = _encode_covariates(frame, used)
    return block, used, names


def _beyond_confounds_metrics(features, design, kind, y, mean_pred, groups, n_permutations, random_state):
    """``metrics['beyond_confounds']`` of :func:`cross_validate_model`: the test on the model's rows."""
    frame = features.iloc[design.rows].reset_index(drop=True)
    block, used, _ = _confound_block(frame, CONFOUNDS)
    if not used:
        return {"computed": False, "reason": f"none of the confounds {list(CONFOUNDS)} is in the features table"}
    ok = np.isfinite(block).all(axis=1)
    try:
        result = prediction_beyond_confounds(
            y[ok], mean_pred[ok], block[ok], kind=kind, groups=groups[ok], n_permutations=n_permutations,
            random_state=random_state, confound_names=used,
        )
    except ModelError as err:
        return {"computed": False, "reason": str(err)}
    return {"computed": True, "n_missing_confounds": int((~ok).sum()), **result}


def _covariate_notes(features, design, target, y, classes):
    """Notes for the covariates regressed out in-fold that track the target (they remove real effect with them)."""
    frame = features.iloc[design.rows].reset_index(drop=True)
    notes = []
    for cov in design.covariates:
        col = frame[cov]
        cov_class = _is_categorical(col)
        values = col.astype(str).to_numpy() if cov_class else pd.to_numeric(col, errors="coerce").to_numpy(float)
        entry = _association(np.asarray(y, float), classes is not None, values, cov_class)
        effect = entry["effect"]
        # |rho| 0.5 and eta² / Cramér's V² 0.25 share a quarter of the variance
        limit = 0.25 if entry["effect_name"] == "eta_squared" else 0.5
        strong = effect is not None and abs(effect) >= limit
        if strong:
            notes.append(
                f"covariate {cov!r} tracks {target!r} ({entry['effect_name']} {effect:.2f}): regressing it out of "
                "the features inside each fold also removes the part of any real effect it shares; read "
                "beyond_confounds and the sensitivity table (group/confounds.json) before concluding"
            )
    return notes


# ----------------------------------------------------------------------------- associations
def _is_categorical(series):
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _cramers_v(table):
    table = np.asarray(table, dtype=float)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if min(table.shape) < 2:
        return None, None, None
    chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
    return float(np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1)))), float(chi2), float(p)


def _eta_squared(values, labels):
    """Share of the variance of ``values`` between the groups of ``labels`` (one-way ANOVA eta²)."""
    total = float(np.sum((values - values.mean()) ** 2))
    between = sum(np.sum(labels == g) * (values[labels == g].mean() - values.mean()) ** 2 for g in np.unique(labels))
    return float(between / total) if total > 0 else 0.0


def _association(target_values, target_is_class, cov_values, cov_is_class):
    """One covariate-target association on complete rows: test, effect and p-value."""
    n = len(target_values)
    entry = {"n": int(n)}
    if target_is_class and cov_is_class:
        v, chi2, p = _cramers_v(pd.crosstab(target_values, cov_values).to_numpy())
        entry.update(test="chi-square", effect_name="cramers_v", effect=v, statistic=chi2, p_value=p)
    elif target_is_class or cov_is_class:
        labels, values = (target_values, cov_values) if target_is_class else (cov_values, target_values)
        values = values.astype(float)
        groups = [values[labels == g] for g in pd.unique(labels)]
        groups = [g for g in groups if len(g)]
        if len(groups) < 2 or np.ptp(values) == 0:
            entry.update(test="kruskal-wallis", effect_name="eta_squared", effect=None, statistic=None, p_value=None)
        else:
            h, p = stats.kruskal(*groups)
            entry.update(test="kruskal-wallis", effect_name="eta_squared", effect=_eta_squared(values, labels),
                         statistic=float(h), p_value=float(p))
    else:
        a, b = target_values.astype(float), cov_values.astype(float)
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            entry.update(test="spearman", effect_name="rho", effect=None, statistic=None, p_value=None)
        else:
            res = stats.spearmanr(a, b)
            entry.update(test="spearman", effect_name="rho", effect=float(res.statistic),
                         statistic=float(res.statistic), p_value=float(res.pvalue))
    return entry


def _target_series(features, target, stage_levels, control_level):
    """Target values (float, NaN missing) and class labels (None for severity); None when the column is absent."""
    column = "severity" if target == "severity" else "stage"
    if column not in features.columns or features[column].isna().all():
        return None, None
    return _target(features, target, stage_levels, control_level)


def covariate_associations(
    features, *, targets=TARGETS, covariates=CONFOUNDS, stage_levels=None, control_level=None
):
    """How strongly each covariate is associated with each target, with p-values.

    Continuous target and covariate: Spearman's rho. One categorical (stage, user vs
    control, sex, site) and one continuous: Kruskal-Wallis test, effect size eta² (the
    between-group share of the continuous variable's variance). Both categorical:
    chi-square test of the contingency table (no continuity correction), effect size
    Cramér's V. Each pair uses the runs where both are present; runs of one participant
    are counted separately (with several sessions the p-values are optimistic).

    Parameters
    ----------
    features : pandas.DataFrame of shape (n_runs, n_columns)
        The group features table (``severity``, ``stage`` and the covariates).
    targets : sequence of str, default=('severity', 'stage', 'user_vs_control')
    covariates : sequence of str, default=('mean_fd', 'age', 'sex', 'site')
        Columns absent or all missing are skipped.
    stage_levels, control_level
        See :func:`cross_validate_model`.

    Returns
    -------
    dict
        ``{target: {covariate: {'test', 'effect_name', 'effect', 'statistic', 'p_value', 'n'}}}``;
        targets without their column are left out.
    """
    if not isinstance(features, pd.DataFrame):
        raise ModelError(f"'features' must be a pandas DataFrame (the group features table); got {type(features).__name__}.")
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise ModelError(f"'targets' must be among {TARGETS}; got {unknown}.")
    out = {}
    for target in targets:
        y, classes = _target_series(features, target, stage_levels, control_level)
        if y is None:
            continue
        out[target] = {}
        for cov in covariates:
            if cov not in features.columns or features[cov].isna().all():
                continue
            col = features[cov]
            cov_class = _is_categorical(col)
            if cov_class:
                cov_values, present = col.astype(str).to_numpy(), col.notna().to_numpy()
            else:
                cov_values = pd.to_numeric(col, errors="coerce").to_numpy(float)
                present = ~np.isnan(cov_values)
            ok = ~np.isnan(y) & present
            out[target][cov] = _association(y[ok], classes is not None, cov_values[ok], cov_class)
    return out


# ----------------------------------------------------------------------------- exclusion bias
def exclusion_bias(runs, *, targets=TARGETS, excluded="excluded", stage_levels=None, control_level=None):
    """Whether the runs excluded by QC differ from the included ones on each target.

    Severity: two-sided Mann-Whitney U test of excluded against included runs, with the
    medians and the rank-biserial correlation (positive: excluded runs higher). Stage
    and user vs control: chi-square test of the (excluded x class) contingency table,
    with Cramér's V and the excluded fraction per class. Each result carries a sentence
    for the report.

    Parameters
    ----------
    runs : pandas.DataFrame of shape (n_runs, n_columns)
        Every run that reached the QC decision, included and excluded, with the
        phenotype roles joined and a boolean column ``excluded``.
    targets : sequence of str, default=('severity', 'stage', 'user_vs_control')
    excluded : str, default='excluded'
        Name of the boolean column.
    stage_levels, control_level
        See :func:`cross_validate_model`.

    Returns
    -------
    dict
        ``{target: {'test', 'statistic', 'p_value', 'effect_name', 'effect', 'n_excluded',
        'n_included', ..., 'sentence'}}``; a target without its column is left out, and
        one without excluded runs carries only the counts and its sentence.
    """
    if not isinstance(runs, pd.DataFrame) or excluded not in runs.columns:
        raise ModelError(
            f"'runs' must be a pandas DataFrame with a boolean {excluded!r} column marking the runs excluded by QC; "
            f"got {type(runs).__name__}"
            + (f" with columns {list(runs.columns)[:8]}" if isinstance(runs, pd.DataFrame) else "")
            + "."
        )
    flag = runs[excluded].astype(bool).to_numpy()
    out = {}
    for target in targets:
        y, classes = _target_series(runs, target, stage_levels, control_level)
        if y is None:
            continue
        ok = ~np.isnan(y)
        ex, inc = y[ok & flag], y[ok & ~flag]
        entry = {"n_excluded": int(len(ex)), "n_included": int(len(inc)),
                 "n_excluded_without_target": int((flag & ~ok).sum())}
        label = target.replace("_", " ")
        if not len(ex) or not len(inc):
            entry["sentence"] = (f"No run with a {label} value was excluded." if not len(ex)
                                 else f"Every run with a {label} value was excluded.")
            out[target] = entry
            continue
        if classes is None:
            u, p = stats.mannwhitneyu(ex, inc, alternative="two-sided")
            rbc = 2 * u / (len(ex) * len(inc)) - 1
            med_ex, med_inc = float(np.median(ex)), float(np.median(inc))
            entry.update(test="mann-whitney", statistic=float(u), p_value=float(p), effect_name="rank_biserial",
                         effect=float(rbc), median_excluded=med_ex, median_included=med_inc)
            direction = "higher" if rbc > 0 else "lower"
            verdict = (f"had {direction} {label} than" if p < 0.05 else f"did not differ detectably in {label} from")
            entry["sentence"] = (f"Excluded runs {verdict} included runs (median {med_ex:.3g} vs {med_inc:.3g}, "
                                 f"n = {len(ex)} vs {len(inc)}; Mann-Whitney p = {p:.3g}).")
        else:
            codes = y[ok].astype(int)
            table = pd.crosstab(flag[ok], codes).reindex(index=[False, True], columns=range(len(classes)), fill_value=0)
            v, chi2, p = _cramers_v(table.to_numpy())
            totals = table.sum(axis=0)
            fraction = {classes[c]: float(table.loc[True, c] / totals[c]) for c in table.columns if totals[c] > 0}
            entry.update(test="chi-square", statistic=chi2, p_value=p, effect_name="cramers_v", effect=v,
                         excluded_fraction=fraction)
            spread = ", ".join(f"{k} {100 * f:.0f}%" for k, f in fraction.items())
            if p is None:
                entry["sentence"] = f"Exclusions by {label}: {spread} (one class only, no test)."
            else:
                verdict = "were unevenly spread over" if p < 0.05 else "did not differ detectably across"
                entry["sentence"] = (f"Exclusions {verdict} {label} (excluded: {spread}; chi-square p = {p:.3g}, "
                                     f"Cramér's V = {v:.2f}).")
        out[target] = entry
    return out
