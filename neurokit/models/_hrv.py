"""Scan-derived heart-rate variability against the phenotype's, connectivity and recovery stage.

Descriptive statistics for the group report (issue 21): how the HRV measured during the scan
agrees with the phenotype's HRV, and how it relates to vmPFC-amygdala connectivity and to
recovery stage. The predictive models use HRV through the ``biomarkers`` and ``combined``
feature sets; these functions only describe.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd
from scipy import stats

from neurokit.models._common import ModelError

__all__ = ["hrv_agreement", "hrv_relations"]

_RELATION_COLUMNS = ("measure", "relation", "n", "n_participants", "statistic", "value", "ci_low", "ci_high",
                     "p_permutation")


def _check_count(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ModelError(f"'{name}' must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _sessions(features, columns):
    """One row per participant-session: runs of a session averaged (numeric) or their first value (other)."""
    if not isinstance(features, pd.DataFrame) or "participant_id" not in features.columns:
        raise ModelError("'features' must be the group features table (a DataFrame with 'participant_id').")
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ModelError(f"the features table has no column(s) {missing}; build it with neurokit.io.build_features.")
    session = features["session_id"] if "session_id" in features.columns else pd.Series(None, index=features.index)
    data = pd.DataFrame({"participant_id": features["participant_id"].astype(str),
                         "session_id": session.astype(object).where(session.notna(), "<none>").astype(str)})
    agg = {}
    for c in columns:
        if c == "stage" or not pd.api.types.is_numeric_dtype(features[c]):
            data[c] = features[c].astype(object).where(features[c].notna(), None)
            agg[c] = "first"
        else:
            data[c] = pd.to_numeric(features[c], errors="coerce")
            agg[c] = "mean"
    return data.groupby(["participant_id", "session_id"], sort=False).agg(agg).reset_index()


def _spearman(x, y):
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(stats.spearmanr(x, y)[0])


def _epsilon_squared(values, labels):
    """Kruskal-Wallis H rescaled to 0-1 (H / (n - 1)); NaN with fewer than two groups."""
    groups = [values[labels == g] for g in np.unique(labels)]
    groups = [g for g in groups if len(g)]
    if len(groups) < 2 or np.ptp(values) == 0:
        return math.nan
    return float(stats.kruskal(*groups)[0] / (len(values) - 1))


def _clusters(participants):
    codes, _ = pd.factorize(participants)
    return codes, [np.flatnonzero(codes == k) for k in range(codes.max() + 1)] if len(codes) else []


def _bootstrap(statistic, members, n_boot, rng):
    """Percentile 95 % interval of ``statistic(rows)`` over participants resampled with replacement."""
    if n_boot == 0 or len(members) < 3:
        return math.nan, math.nan
    values = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(members), len(members))
        values.append(statistic(np.concatenate([members[k] for k in pick])))
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < n_boot / 2:  # most resamples degenerate (one class, constant values): no interval
        return math.nan, math.nan
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def _block_permutation(members, rng):
    """Row order that swaps whole participants among those with as many sessions (within-person order kept)."""
    order = np.arange(sum(len(m) for m in members))
    by_size = {}
    for k, m in enumerate(members):
        by_size.setdefault(len(m), []).append(k)
    for ks in by_size.values():
        for src, dst in zip(ks, rng.permutation(ks)):
            order[members[dst]] = members[src]
    return order


def _permutation_p(observed, statistic, values, members, n_permutations, rng, two_sided=True):
    """(k + 1) / (n + 1) over block permutations of ``values`` (the scan HRV) against the other variable."""
    if n_permutations == 0 or not math.isfinite(observed):
        return math.nan
    null = np.array([statistic(values[_block_permutation(members, rng)]) for _ in range(n_permutations)])
    null = np.where(np.isfinite(null), null, 0.0)
    hits = np.abs(null) >= abs(observed) - 1e-12 if two_sided else null >= observed - 1e-12
    return float((hits.sum() + 1) / (n_permutations + 1))


def hrv_agreement(features, *, phenotype_column="hrv", scan_column="scan_rmssd", same_units=False, n_boot=1000,
                  n_permutations=1000, random_state=0):
    """Agreement of the scan-derived HRV with the phenotype's HRV.

    Runs of a session are one observation (they share the session's scan values). When the
    phenotype's value is the same in every session of each participant (one HRV per
    participant, measured some other day), the scan values are averaged per participant
    and participants are the observations.

    Parameters
    ----------
    features : pandas.DataFrame
        The group features table (:func:`neurokit.io.build_features`).
    phenotype_column : str, default='hrv'
        The phenotype's HRV (the ``hrv`` role).
    scan_column : str, default='scan_rmssd'
        The scan measure compared with it; choose the one the phenotype measured
        (``scan_rmssd``, ``scan_sdnn``, ``scan_hf_power``, ``scan_log_hf_power``,
        ``scan_hrv``). Spearman's rho does not depend on a monotone transform (ln RMSSD and
        RMSSD give the same rho).
    same_units : bool, default=False
        Whether the two columns are the same measure in the same unit; only then is the
        Bland-Altman mean difference (scan minus phenotype) and its 95 % limits of
        agreement given.
    n_boot : int, default=1000
        Participant bootstrap resamples for the CI of rho (0: none).
    n_permutations : int, default=1000
        Permutations for rho's p-value (0: none).
    random_state : int, default=0

    Returns
    -------
    dict
        JSON-serialisable: ``phenotype_column``, ``scan_column``, ``unit`` ('participant' or
        'participant-session'), ``n``, ``spearman``, ``ci_low``, ``ci_high`` (bootstrap
        percentile), ``p_permutation``; with ``same_units`` also ``mean_difference``,
        ``mean_difference_ci_low``/``_ci_high`` (t interval), ``sd_difference``,
        ``loa_low``, ``loa_high`` (mean +/- 1.96 SD), else those are None.

    Raises
    ------
    ModelError
        For a missing column, or when ``phenotype_column`` holds the scan values themselves
        (the ``hrv`` role was filled from the scan: nothing to compare).
    """
    n_boot = _check_count(n_boot, "n_boot", 0)
    n_permutations = _check_count(n_permutations, "n_permutations", 0)
    data = _sessions(features, [phenotype_column, scan_column])
    if "scan_hrv" in features.columns and phenotype_column != "scan_hrv":
        a = pd.to_numeric(features[phenotype_column], errors="coerce").to_numpy(float)
        b = pd.to_numeric(features["scan_hrv"], errors="coerce").to_numpy(float)
        if np.isfinite(a).any() and np.array_equal(a, b, equal_nan=True):
            raise ModelError(
                f"{phenotype_column!r} holds the scan's own HRV (the phenotype has no HRV, so the role was filled "
                "from the scan; features.json HRVSource): there is no phenotype HRV to compare with."
            )
    data = data[data[[phenotype_column, scan_column]].notna().all(axis=1)]
    unit = "participant-session"
    if len(data) and (data.groupby("participant_id")[phenotype_column].nunique() == 1).all() \
            and data["participant_id"].duplicated().any():
        data = data.groupby("participant_id", sort=False)[[phenotype_column, scan_column]].mean().reset_index()
        unit = "participant"
    pheno = data[phenotype_column].to_numpy(float)
    scan = data[scan_column].to_numpy(float)
    rng = np.random.default_rng(random_state)
    _, members = _clusters(data["participant_id"].to_numpy())
    rho = _spearman(scan, pheno)
    ci = _bootstrap(lambda rows: _spearman(scan[rows], pheno[rows]), members, n_boot, rng)
    p = _permutation_p(rho, lambda s: _spearman(s, pheno), scan, members, n_permutations, rng)
    out = {"phenotype_column": phenotype_column, "scan_column": scan_column, "unit": unit, "n": int(len(data)),
           "spearman": _none(rho), "ci_low": _none(ci[0]), "ci_high": _none(ci[1]), "p_permutation": _none(p),
           "same_units": bool(same_units), "mean_difference": None, "mean_difference_ci_low": None,
           "mean_difference_ci_high": None, "sd_difference": None, "loa_low": None, "loa_high": None}
    if same_units and len(data) >= 2:
        diff = scan - pheno
        mean, sd = float(diff.mean()), float(diff.std(ddof=1))
        half = float(stats.t.ppf(0.975, len(diff) - 1) * sd / math.sqrt(len(diff)))
        out.update(mean_difference=mean, mean_difference_ci_low=mean - half, mean_difference_ci_high=mean + half,
                   sd_difference=sd, loa_low=mean - 1.96 * sd, loa_high=mean + 1.96 * sd)
    return out


def _none(value):
    return None if value is None or not math.isfinite(value) else float(value)


def _vmpfc_amygdala(features):
    """Edge columns joining a vmPFC and an amygdala region (by name, case-insensitive)."""
    from neurokit.models._features import edge_regions

    found = []
    for c in features.columns:
        if not str(c).startswith("edge__"):
            continue
        a, b = (r.lower() for r in edge_regions(c))
        if ("vmpfc" in a and "amygdala" in b) or ("amygdala" in a and "vmpfc" in b):
            found.append(c)
    return found


def hrv_relations(features, *, scan_column="scan_hrv", stage_levels=None, n_boot=1000, n_permutations=1000,
                  random_state=0):
    """How the scan-derived HRV relates to vmPFC-amygdala connectivity and to recovery stage.

    One observation per participant-session (its runs' connectivity averaged; the scan
    values are the session's). The CIs resample participants (percentile bootstrap); the
    permutation p-values swap whole participants' scan HRV among participants with as
    many sessions, so repeated sessions of one person are never treated as independent.

    Parameters
    ----------
    features : pandas.DataFrame
        The group features table (:func:`neurokit.io.build_features`).
    scan_column : str, default='scan_hrv'
        The scan HRV measure (``scan_hrv`` is the ``models.scan_hrv`` measure, ln RMSSD by default).
    stage_levels : sequence of str, optional
        Stage order; default the categories of the ``stage`` Categorical, else sorted values.
    n_boot : int, default=1000
        Participant bootstrap resamples per CI (0: none).
    n_permutations : int, default=1000
        Permutations per p-value (0: none).
    random_state : int, default=0

    Returns
    -------
    pandas.DataFrame
        Columns ``measure`` (the scan column), ``relation``, ``n`` (sessions), ``n_participants``,
        ``statistic``, ``value``, ``ci_low``, ``ci_high``, ``p_permutation`` (NaN where not
        computed). Rows, when the columns exist: ``vmPFC-amygdala`` (Spearman rho with the
        mean Fisher-z of the edges joining a vmPFC and an amygdala region), ``idx_pfc_limbic``
        (Spearman rho), ``stage`` (Kruskal-Wallis epsilon squared, H / (n - 1)), and one
        ``stage=<level>`` row per stage present (the median).

    Raises
    ------
    ModelError
        For a missing ``scan_column`` or ``participant_id``, or bad counts.
    """
    n_boot = _check_count(n_boot, "n_boot", 0)
    n_permutations = _check_count(n_permutations, "n_permutations", 0)
    edges = _vmpfc_amygdala(features)
    others = [c for c in ("idx_pfc_limbic", "stage") if c in features.columns]
    data = _sessions(features, [scan_column, *edges, *others])
    data = data[data[scan_column].notna()].reset_index(drop=True)
    rng = np.random.default_rng(random_state)
    rows = []

    def correlate(relation, x):
        ok = np.isfinite(x)
        sub = data[ok].reset_index(drop=True)
        scan, xv = sub[scan_column].to_numpy(float), x[ok]
        _, members = _clusters(sub["participant_id"].to_numpy())
        rho = _spearman(scan, xv)
        ci = _bootstrap(lambda r: _spearman(scan[r], xv[r]), members, n_boot, rng)
        p = _permutation_p(rho, lambda s: _spearman(s, xv), scan, members, n_permutations, rng)
        rows.append((scan_column, relation, len(sub), len(members), "spearman", rho, *ci, p))

    if edges:
        correlate(f"vmPFC-amygdala ({len(edges)} edges)", data[edges].mean(axis=1, skipna=False).to_numpy(float))
    if "idx_pfc_limbic" in data.columns:
        correlate("idx_pfc_limbic", pd.to_numeric(data["idx_pfc_limbic"], errors="coerce").to_numpy(float))
    if "stage" in data.columns:
        if stage_levels is None:
            stage = features["stage"]
            stage_levels = ([str(c) for c in stage.cat.categories] if isinstance(stage.dtype, pd.CategoricalDtype)
                            else sorted(set(stage.dropna().astype(str))))
        sub = data[data["stage"].notna()].reset_index(drop=True)
        labels = sub["stage"].astype(str).to_numpy()
        scan = sub[scan_column].to_numpy(float)
        _, members = _clusters(sub["participant_id"].to_numpy())
        eps = _epsilon_squared(scan, labels)
        ci = _bootstrap(lambda r: _epsilon_squared(scan[r], labels[r]), members, n_boot, rng)
        p = _permutation_p(eps, lambda s: _epsilon_squared(s, labels), scan, members, n_permutations, rng,
                           two_sided=False)
        rows.append((scan_column, "stage", len(sub), len(members), "epsilon_squared", eps, *ci, p))
        for level in stage_levels:
            at = labels == str(level)
            if not at.any():
                continue
            values = scan[at]
            _, level_members = _clusters(sub["participant_id"].to_numpy()[at])
            ci = _bootstrap(lambda r: float(np.median(values[r])), level_members, n_boot, rng)
            rows.append((scan_column, f"stage={level}", int(at.sum()), len(level_members), "median",
                         float(np.median(values)), *ci, math.nan))
    return pd.DataFrame(rows, columns=list(_RELATION_COLUMNS))
