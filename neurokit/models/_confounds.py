"""Confound control that can be read next to in-fold residualisation: the predictive value of
out-of-fold predictions beyond the confounds, covariate-target associations and exclusion
bias (the sensitivity table of the analysis choices is in :mod:`._sensitivity`).

In-fold covariate regression (:class:`CovariateRegressor`) removes from every feature the
part a confound explains; when a confound tracks the target (mean FD tracks severity)
it removes the effect with it. Following Dinga et al. (2020), the test here works on the
predictions instead: does the prediction explain the target beyond what the confounds
already explain (target ~ confounds vs target ~ confounds + prediction)? Motion enters
through restricted cubic splines, so a prediction that carries only motion cannot pass because
the target follows motion nonlinearly. The prediction's p-value comes from permuting its
residual after regression on the confounds (Freedman & Lane 1983), by participant blocks.
What this adjusts for and the simulations behind it: docs/inference.md.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from scipy import stats

from neurokit.models._common import TARGETS, ModelError
from neurokit.models._features import _target
from neurokit.models._folds import permute_within_participants

__all__ = [
    "CONFOUNDS",
    "prediction_beyond_confounds",
    "covariate_associations",
    "exclusion_bias",
]

#: Confounds the post-hoc tests and association tables use when present in the features table
#: (the default of ``models.confounds``).
CONFOUNDS = ("mean_fd", "max_fd", "percent_censored", "tdof_remaining", "age", "sex", "site")

#: Continuous motion measures the beyond-confounds test models with restricted cubic splines.
MOTION_MEASURES = ("mean_fd", "max_fd", "percent_censored", "tdof_remaining")

#: Always one-hot coded, even when stored as numbers (site 1, 2, 3 is not a dose).
_CATEGORICAL = ("sex", "site")

# knot positions (quantiles) of a restricted cubic spline with 3, 4 or 5 knots (Harrell 2015, sec. 2.4.6)
_KNOT_QUANTILES = {3: (0.10, 0.50, 0.90), 4: (0.05, 0.35, 0.65, 0.95), 5: (0.05, 0.275, 0.50, 0.725, 0.95)}

_EPS = 1e-12


# ----------------------------------------------------------------------------- helpers
def _design_matrix(confounds):
    """Orthonormal basis (scaled to unit mean square) of the intercept and the confound columns.

    Shape (n, rank): constant and collinear columns (tDOF remaining is an affine function of
    the censored volumes when every run has as many volumes and regressors) add nothing, so
    the rank, not the column count, is the model's degrees of freedom. Least squares, the
    residuals and the multinomial likelihood depend on the column space only.
    """
    confounds = np.asarray(confounds, dtype=float).reshape(len(confounds), -1)
    n = len(confounds)
    if not confounds.size:
        return np.ones((n, 1))
    centred = confounds - confounds.mean(axis=0)
    scale = np.sqrt((centred**2).mean(axis=0))
    centred = centred[:, scale > _EPS * np.maximum(1.0, np.abs(confounds).max(axis=0))]
    if not centred.shape[1]:
        return np.ones((n, 1))
    centred = centred / np.sqrt((centred**2).mean(axis=0))
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    keep = s > s[0] * max(n, centred.shape[1]) * np.finfo(float).eps * 10
    return np.column_stack([np.ones(n), u[:, keep] * np.sqrt(n)])


def _rank(matrix):
    return int(np.linalg.matrix_rank(matrix)) if matrix.size else 0


def _n_knots(n_rows, n_splines, n_linear):
    """Knots of each motion spline for ``n_rows`` rows; 0 means linear.

    Harrell's (2015) rule of thumb (3 knots in small samples, 4 in moderate ones, 5 from
    about 100-150) sets the start: 5 knots from 150 rows, 4 from 60, else 3. Knots are then
    removed while the whole confound model (intercept, ``n_linear`` columns and K - 1
    columns per spline) would use more than one column per two rows; below 3 knots the
    measures enter linearly. At 30 rows with the default confounds and three sites this
    gives 3 knots (2 columns per motion measure, 13 columns in all).
    """
    k = 5 if n_rows >= 150 else 4 if n_rows >= 60 else 3
    while k >= 3 and 1 + n_linear + n_splines * (k - 1) > n_rows // 2:
        k -= 1
    return k if k >= 3 else 0


def _restricted_cubic(x, n_knots):
    """Restricted (natural) cubic spline basis of ``x`` without intercept, and the knots used.

    Knots at Harrell's quantiles of ``x`` (repeated quantiles, e.g. many runs without a
    censored volume, are merged); the basis is ``x`` plus K - 2 truncated-power terms,
    linear beyond the outer knots (Harrell 2015, eq. 2.25), scaled by the knot range
    squared. Fewer than 3 distinct knots: ``x`` alone.
    """
    x = np.asarray(x, dtype=float)
    if n_knots < 3:
        return x[:, None], ()
    t = np.unique(np.quantile(x, _KNOT_QUANTILES[n_knots]))
    if len(t) < 3:
        return x[:, None], ()
    k = len(t)
    cube = lambda v: np.maximum(v, 0.0) ** 3  # noqa: E731
    span = t[-1] - t[-2]
    cols = [x]
    for j in range(k - 2):
        cols.append((cube(x - t[j]) - cube(x - t[-2]) * (t[-1] - t[j]) / span
                     + cube(x - t[-1]) * (t[-2] - t[j]) / span) / (t[-1] - t[0]) ** 2)
    return np.column_stack(cols), tuple(float(v) for v in t)


def _confound_model(frame):
    """The flexible confound model of a table of confounds, its column block and a description.

    Motion measures (:data:`MOTION_MEASURES`) get restricted cubic splines with the number
    of knots of :func:`_n_knots`; sex, site and non-numeric columns are one-hot coded (drop
    first); other numeric columns enter linearly. Constant columns are left out.

    Returns
    -------
    block : ndarray of shape (n_rows, n_columns)
    used : list of str
        The columns that vary (the confounds actually adjusted for).
    description : str
        E.g. ``"restricted cubic splines (2 df) of mean_fd, max_fd; linear age; one-hot sex, site"``.
    """
    n = len(frame)
    kinds, used = {}, []
    for name in frame.columns:
        col = frame[name]
        if name in _CATEGORICAL or not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            if col.astype(str).nunique() > 1:
                kinds[name] = "onehot"
        elif np.ptp(pd.to_numeric(col).to_numpy(float)) > 0:
            kinds[name] = "spline" if name in MOTION_MEASURES else "linear"
        if name in kinds:
            used.append(name)
    onehot = [c for c in used if kinds[c] == "onehot"]
    linear = [c for c in used if kinds[c] == "linear"]
    splines = [c for c in used if kinds[c] == "spline"]
    n_linear = len(linear) + sum(frame[c].astype(str).nunique() - 1 for c in onehot)
    knots = _n_knots(n, len(splines), n_linear)
    blocks, by_df = [], {}
    for name in used:
        if kinds[name] == "onehot":
            codes = frame[name].astype(str).to_numpy()
            levels = sorted(set(codes))
            blocks.append(np.column_stack([(codes == lv).astype(float) for lv in levels[1:]]))
        elif kinds[name] == "linear":
            blocks.append(pd.to_numeric(frame[name]).to_numpy(float)[:, None])
        else:
            basis, _ = _restricted_cubic(pd.to_numeric(frame[name]).to_numpy(float), knots)
            blocks.append(basis)
            by_df.setdefault(basis.shape[1], []).append(name)
    parts = [f"restricted cubic splines ({df} df) of {', '.join(names)}"
             for df, names in sorted(by_df.items(), reverse=True) if df > 1]
    if by_df.get(1) or linear:  # too few rows or distinct values for a spline: linear
        parts.append(f"linear {', '.join(by_df.get(1, []) + linear)}")
    if onehot:
        parts.append(f"one-hot {', '.join(onehot)}")
    block = np.column_stack(blocks) if blocks else np.zeros((n, 0))
    return block, used, "; ".join(parts) if parts else "intercept only"


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


def _multinomial_loglik(design, codes, n_classes, *, ridge=1e-6, max_iter=100, start=None, return_beta=False):
    """Maximised log-likelihood of a multinomial logistic model of ``codes`` on ``design`` (with intercept).

    Newton-Raphson with step halving on a small problem (a few confound columns); the
    tiny ridge keeps the optimum finite under separation (a near-perfect prediction)
    without moving the log-likelihood where an unpenalised maximum exists. ``start``
    (shape (p, n_classes - 1)) starts from a nearby solution, e.g. the confounds-only fit
    padded with zeros for the permuted prediction's columns: fewer Newton steps, same optimum.
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

    beta = np.zeros(p * m) if start is None else np.asarray(start, dtype=float).reshape(p * m).copy()
    ll, prob = loglik(beta)
    penalised = ll - ridge * beta @ beta
    H = np.empty((p, m, p, m))
    for _ in range(max_iter):
        P = prob[:, 1:]
        grad = (design.T @ (Y[:, 1:] - P)).ravel() - 2 * ridge * beta
        # Hessian blocks -X' diag(P_j (delta_jl - P_l)) X, laid out to match beta.reshape(p, m); one
        # BLAS product per block pair instead of an einsum over rows (this runs once per permutation)
        for j in range(m):
            for k in range(j, m):
                w = P[:, j] * ((j == k) - P[:, k])
                block = (design * w[:, None]).T @ design
                H[:, j, :, k] = block
                H[:, k, :, j] = block
        step = np.linalg.solve(H.reshape(p * m, p * m) + 2 * ridge * np.eye(p * m), grad)
        t = 1.0
        while t > 1e-8:
            candidate = beta + t * step
            ll_new, prob_new = loglik(candidate)
            pen_new = ll_new - ridge * candidate @ candidate
            if pen_new >= penalised - 1e-12:
                break
            t /= 2
        else:  # no step improves: at the optimum to machine precision
            break
        gain = pen_new - penalised
        beta, ll, prob, penalised = candidate, ll_new, prob_new, pen_new
        if abs(gain) < 1e-10:
            break
    return (ll, beta.reshape(p, m)) if return_beta else ll


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
    F statistic, and the partial correlation of prediction and target controlling for the
    confounds (Pearson on values, Spearman on ranks). Classification with k classes: the
    class-matched partial correlation (``partial_r``: the class indicators and the predicted
    probabilities, each residualised on the confounds, cross-products summed over classes
    over the root of both sums of squares; the partial correlation of label and probability
    for two classes), and, as descriptions, the likelihood-ratio statistic
    ``2 (llf_full - llf_reduced)`` of multinomial logistic models of the classes on the
    confounds without and with the prediction's log-odds (``df = (k - 1)²``: each of the
    k - 1 added columns enters each of the k - 1 logit equations) and the gain in
    McFadden's pseudo-R² (``delta_d2``, the D² of Dinga et al.).

    Given as a DataFrame, the confounds make a flexible model, so that a prediction that
    carries nothing but head motion cannot pass because the target follows motion
    nonlinearly (log mean FD, FD that saturates with severity, a threshold, censoring):
    each motion measure of :data:`MOTION_MEASURES` gets a restricted cubic spline (knots
    at quantiles; 3 knots, i.e. 2 degrees of freedom, below 60 rows, 4 from 60, 5 from
    150, fewer down to a linear term while the confound model would use more than one
    column per two rows, so it stays estimable at 30 participants); ``sex``, ``site`` and
    text columns are one-hot coded; other numeric columns (age) enter linearly. The model
    is per row (each session with its own motion); with several sessions per participant
    the permutation below moves participant blocks. Given as an array, every column
    enters linearly.

    The permutation p-value leaves the target and confounds as they are and permutes the
    prediction's residual after regression on the confound model, by participant blocks
    (Freedman-Lane; participants with as many rows exchange their blocks): the null keeps
    the prediction's share explained by the confounds and breaks only its unique link
    with the target. The test statistic is the partial correlation, one-sided (a prediction
    that agrees with the target) for regression and classes alike: cross-validated
    predictions of a null target lean *against* the held-out labels, which a two-sided
    statistic such as the likelihood ratio would count as evidence. The p-value is
    ``(count(null >= observed) + 1) / (n_permutations + 1)``, never below
    ``1 / (n_permutations + 1)``. No parametric p-value is reported: the F and chi-square
    references ignore that cross-validated predictions are neither independent nor
    one-sided, and rejected 12-92 % of null studies at 0.05
    (``benchmarks/bench_calibration.py``).

    Parameters
    ----------
    y : array-like of shape (n_rows,)
        Target: values (regression) or class codes 0..k-1 (classification).
    prediction : array-like of shape (n_rows,) or (n_rows, n_classes)
        Out-of-fold predictions (regression) or class probabilities (classification).
    confounds : pandas.DataFrame or array-like of shape (n_rows, n_confounds)
        A DataFrame of named confounds (the flexible model above), or numeric columns
        entered linearly (categorical ones one-hot coded by the caller). Constant columns
        are ignored.
    kind : {'regression', 'classification'}
    groups : array-like of shape (n_rows,), optional
        Participant code per row; a participant's rows are permuted as one block.
        None: every row is its own participant.
    n_permutations : int, default=1000
        0 skips the permutation test (``p_permutation`` is then None).
    random_state : int, default=0
    confound_names : sequence of str, optional
        Names stored in the result; default, a DataFrame's varying columns.

    Returns
    -------
    dict
        JSON-serialisable: ``n``, ``confounds``, ``confound_model`` (a description),
        ``confound_df`` (degrees of freedom of the confound model, intercept included),
        ``statistic`` (name of the permuted statistic), ``effect_name`` (``partial_r``) and
        ``effect``, the measures above, ``df``,
        ``p_permutation``, ``null_95``, ``n_permutations`` and ``p_floor``.
    """
    if kind not in ("regression", "classification"):
        raise ModelError(f"'kind' must be 'regression' or 'classification'; got {kind!r}.")
    _check_permutations(n_permutations, random_state)
    y = np.asarray(y, dtype=float)
    prediction = np.asarray(prediction, dtype=float)
    described = None
    if isinstance(confounds, pd.DataFrame):
        if len(confounds) != len(y):
            raise ModelError(f"'y', 'prediction' and 'confounds' must have one row per run; got {len(y)}, "
                             f"{prediction.shape[0]} and {len(confounds)} rows.")
        if confounds.isna().any().any():
            raise ModelError("'y', 'prediction' and 'confounds' must be finite; drop the rows with missing values first.")
        confounds, used, described = _confound_model(confounds)
        confound_names = used if confound_names is None else confound_names
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
    perms = np.array([permute_within_participants(groups, rng) for _ in range(n_permutations)], dtype=int)
    out = {"n": int(len(y)), "confounds": list(confound_names) if confound_names is not None else None,
           "confound_model": described if described is not None else
           f"linear in {confounds.shape[1]} column(s)", "confound_df": int(design.shape[1])}
    if kind == "regression":
        out.update(_beyond_regression(y, prediction.ravel(), design, perms))
    else:
        out.update(_beyond_classification(y.astype(int), prediction, design, perms))
    out["effect"] = out[out["effect_name"]]
    out["n_permutations"] = int(n_permutations)
    out["p_floor"] = 1.0 / (n_permutations + 1) if n_permutations else None
    return out


def _residualise_basis(basis, values):
    """Residuals of ``values`` (n,) or (..., n) after projection on an orthogonal ``basis`` (n, q), q = n."""
    return values - (values @ basis) @ basis.T / len(basis)


def _corr_rows(a, b):
    """Pearson correlation of ``a`` (n,) with every row of ``b`` (m, n)."""
    a = a - a.mean()
    b = b - b.mean(axis=-1, keepdims=True)
    denom = np.sqrt((a @ a) * (b**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > _EPS, b @ a / np.where(denom > _EPS, denom, 1.0), 0.0)


def _partial(y, pred, design):
    return _corr(_residualise_basis(design, y), _residualise_basis(design, pred))


def _beyond_regression(y, pred, design, perms):
    n, q = design.shape  # design: orthogonal, columns of mean square 1 (see _design_matrix)
    rss_reduced = float(np.sum(_residualise_basis(design, y) ** 2))
    full = np.column_stack([design, pred])
    rss_full = _rss(full, y)
    tss = float(np.sum((y - y.mean()) ** 2))
    r2_reduced = 1 - rss_reduced / tss if tss > 0 else 0.0
    r2_full = 1 - rss_full / tss if tss > 0 else 0.0
    added = _rank(full) - q
    df_resid = n - q - added
    f = (rss_reduced - rss_full) / added / (rss_full / df_resid) if added and rss_full > _EPS else (
        np.inf if added else 0.0)
    partial_r = _partial(y, pred, design)
    ry, rp = stats.rankdata(y), stats.rankdata(pred)
    partial_rho = _partial(ry, rp, design)
    resid = _residualise_basis(design, pred)
    y_resid = _residualise_basis(design, y)
    # Freedman-Lane: fitted + permuted residual, regressed on the confounds again, leaves the permuted
    # residual's own non-confound part; all permutations at once
    null = _corr_rows(y_resid, _residualise_basis(design, resid[perms])) if len(perms) else np.zeros(0)
    return {
        "statistic": "partial_r",
        "effect_name": "partial_r",
        "r2_confounds": float(r2_reduced),
        "r2_confounds_prediction": float(r2_full),
        "delta_r2": float(r2_full - r2_reduced),
        "f": float(f),
        "df": [int(added), int(df_resid)],
        "partial_r": partial_r,
        "partial_spearman": partial_rho,
        "p_permutation": _p_from_null(partial_r, null),
        "null_95": [float(np.quantile(null, 0.025)), float(np.quantile(null, 0.975))] if len(null) else None,
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
    n, q = design.shape
    ll_null = _multinomial_loglik(np.ones((n, 1)), codes, k)
    ll_reduced, beta_reduced = _multinomial_loglik(design, codes, k, return_beta=True)
    # start every full fit from the confounds-only optimum, the prediction's coefficients at 0
    start = np.vstack([beta_reduced, np.zeros((predictor.shape[1], k - 1))])

    def lr(pred_cols):
        full = np.column_stack([design, pred_cols])
        return 2 * (_multinomial_loglik(full, codes, k, start=start) - ll_reduced)

    observed_lr = max(lr(predictor), 0.0)  # the tiny ridge can leave it a hair below 0
    # k - 1 prediction columns in each of the k - 1 logit equations: (k - 1)² parameters
    df = (_rank(np.column_stack([design, predictor])) - q) * (k - 1)
    ll_full = ll_reduced + observed_lr / 2
    # The tested statistic is one-sided, as for regression: the class-matched partial correlation of the
    # class indicators and the predicted probabilities beyond the confounds. The likelihood ratio is
    # two-sided: cross-validated predictions of a null target lean *against* the held-out labels (each
    # training fold lacks the test rows' own class members), and the ratio counts that as evidence.
    indicators = (codes[:, None] == np.arange(k)).astype(float)
    y_resid = _residualise_basis(design, indicators.T)  # (k, n)
    p_resid = _residualise_basis(design, proba[:, present].T)  # (k, n)
    partial_r = _matched_corr(y_resid, p_resid[None])[0]
    null = (_matched_corr(y_resid, _residualise_basis(design, p_resid[:, perms].transpose(1, 0, 2)))
            if len(perms) else np.zeros(0))
    return {
        "statistic": "partial_r",
        "effect_name": "partial_r",
        "partial_r": float(partial_r),
        "d2_confounds": float(1 - ll_reduced / ll_null) if ll_null < 0 else 0.0,
        "d2_confounds_prediction": float(1 - ll_full / ll_null) if ll_null < 0 else 0.0,
        "delta_d2": float((ll_full - ll_reduced) / -ll_null) if ll_null < 0 else 0.0,
        "likelihood_ratio": float(observed_lr),
        "df": int(df),
        "p_permutation": _p_from_null(partial_r, null),
        "null_95": [float(np.quantile(null, 0.025)), float(np.quantile(null, 0.975))] if len(null) else None,
    }


def _matched_corr(a, b):
    """Class-matched correlation of ``a`` (k, n) with each ``b[m]`` (k, n): the sum over classes of the
    cross-products over the square root of both sums of squares (the partial r for two classes), shape (m,)."""
    num = np.einsum("kn,mkn->m", a, b)
    denom = np.sqrt((a**2).sum() * (b**2).sum(axis=(1, 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > _EPS, num / np.where(denom > _EPS, denom, 1.0), 0.0)


def _beyond_confounds_metrics(features, design, kind, y, mean_pred, groups, n_permutations, random_state,
                              confounds=CONFOUNDS):
    """``metrics['beyond_confounds']`` of :func:`cross_validate_model`: the test on the model's rows.

    Confounds absent from the table (or all missing) are skipped and named in ``skipped``
    and ``notes``; rows missing a confound used are left out of the test (``n_missing_confounds``).
    """
    confounds = list(CONFOUNDS if confounds is None else confounds)
    frame = features.iloc[design.rows].reset_index(drop=True)
    present = [c for c in confounds if c in frame.columns and frame[c].notna().any()]
    skipped = [c for c in confounds if c not in present]
    notes = ([f"confound(s) {skipped} are not in the features table (or all missing): the beyond-confounds test "
              "does not adjust for them"] if skipped and present else [])
    if not present:
        return {"computed": False, "confounds": [], "skipped": skipped,
                "reason": f"none of the confounds {confounds} is in the features table"}
    block = frame[present]
    ok = block.notna().all(axis=1).to_numpy()
    try:
        result = prediction_beyond_confounds(
            y[ok], mean_pred[ok], block[ok].reset_index(drop=True), kind=kind, groups=groups[ok],
            n_permutations=n_permutations, random_state=random_state,
        )
    except ModelError as err:
        return {"computed": False, "confounds": present, "skipped": skipped, "reason": str(err), "notes": notes}
    return {"computed": True, "n_missing_confounds": int((~ok).sum()), **result, "skipped": skipped, "notes": notes}


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
    covariates : sequence of str, default=CONFOUNDS
        The confounds (``models.confounds``); columns absent or all missing are skipped.
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
