"""Benchmark: calibration of every p-value the default model suite reports, on null studies
generated independently of the pipeline, and its power on planted effects (issue 19).

Each study is a features table in the layout ``neurokit.io.build_features`` writes (ids, roles,
QC, ``idx_*`` indices, Fisher-z ``edge__A--B`` columns of the configured atlas's regions), made
by the generator in this file, which knows nothing of ``neurokit.models`` or
``neurokit.simulate``. Only the censoring family calls ``neurokit.connectivity`` (the
participant level's estimator, on the volumes scrubbing keeps), because the estimator's
dependence on kept volumes is what it tests.

Families (``*`` marks the ones that also have a planted twin, ``<family>+effect``):

  imbalance*         30-60 participants, stages 40/25/20/15 %, nothing tracks the target
  severity_by_stage* 60-80 participants, severity correlated with stage (folds stratified by stage)
  severity_only*     60-80 participants, no stage column (severity folds on its own quintiles)
  sessions*          30-50 participants x 2-3 sessions, features correlated within participant
  motion_linear      mean FD linear in severity, edges linear in mean FD
  motion_log*        mean FD ~ log(severity), edges ~ log(mean FD)
  motion_saturating* mean FD saturating in severity, edges ~ log(mean FD)
  motion_threshold   mean FD steps up above the median severity, edges ~ log(mean FD)
  censoring*         region time series with target-independent coupling; heavy movers lose more
                     volumes to FD censoring; edges from neurokit.connectivity (``--estimator``)
  site*              3 sites, site shares tied to stage, site shifts and scales the edges

The planted effect is a prefrontal-limbic coupling deficit proportional to standardised
severity (so also tied to stage), planted in the latent coupling (the edge means, or the
shared factor of the time series) of a fixed subset of prefrontal and limbic regions, on top of
the same nuisance structure. A planted study and its null twin share the seed.

Every study runs ``neurokit.models.fit_models`` with the default configuration
(``neurokit.config.load_config()``: targets, feature sets, estimator, covariates, site
harmonisation, stage levels, folds; and ``models.confounds`` when the installed
``cross_validate_model`` accepts it) except ``--cv-repeats`` and ``--permutations``, which the
output reports as reduced. Results are cached per study in ``--cache-dir`` under a key of the
installed neurokit's source and the settings, so an interrupted run resumes and a run on other
code recomputes.

    python benchmarks/bench_calibration.py                       # 84 studies: ~37 min on 2 cores at load ~20
    python benchmarks/bench_calibration.py --studies 24 --planted-studies 8 --workers 2   # tighter intervals
    python benchmarks/bench_calibration.py --families imbalance,censoring --studies 10
    python benchmarks/bench_calibration.py --report-only         # the tables from the cache
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import math
import os
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # the models run single-threaded
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

FAMILIES = ("imbalance", "severity_by_stage", "severity_only", "sessions", "motion_linear", "motion_log",
            "motion_saturating", "motion_threshold", "censoring", "site")
PLANTED = ("imbalance", "severity_by_stage", "severity_only", "sessions", "motion_log", "motion_saturating",
           "censoring", "site")
STAGE_SHARES = (0.40, 0.25, 0.20, 0.15)
SEVERITY_BY_STAGE = (2.0, 20.0, 14.0, 8.0)  # mean severity per stage level (control first), sd 6
# the planted deficit's regions: a subset of the atlas's prefrontal and limbic regions, by name
DEFICIT_PREFRONTAL = ("vmPFC", "sgACC", "lOFC")
DEFICIT_LIMBIC = ("amygdala", "NAcc", "hippocampus")
N_VOLUMES = 300
KINDS = ("p_permutation", "p_beyond_permutation", "p_beyond_parametric", "p_beyond_confounds", "p_value",
         "p_value_fdr")
LEVELS = (0.05, 0.10)


# ============================================================================ the generator
def study_seed(family: str, index: int) -> int:
    """Seed of a study: its null family and index (a planted study shares its null twin's)."""
    return zlib.crc32(f"{family.split('+')[0]}:{index}".encode()) & 0x7FFFFFFF


def atlas_layout(atlas_name: str):
    """Region names and ``{region: network}`` of an atlas (the bundled default unless told)."""
    from neurokit.atlases import load

    atlas = load(atlas_name)
    return list(atlas.regions["name"]), dict(zip(atlas.regions["name"], atlas.networks))


def _design_participants(family: str, rng, n: int, stage_levels):
    """Per participant: stage code, severity, age, sex, site, biomarkers."""
    k = len(stage_levels)
    shares = np.array(STAGE_SHARES[:k] if k <= len(STAGE_SHARES) else np.ones(k), float)
    shares = shares / shares.sum()
    # at least two participants per stage, the rest drawn with the family's shares
    stage = np.concatenate([np.repeat(np.arange(k), 2), rng.choice(k, size=n - 2 * k, p=shares)])
    rng.shuffle(stage)
    means = np.array([SEVERITY_BY_STAGE[min(s, len(SEVERITY_BY_STAGE) - 1)] for s in range(k)])
    if family == "severity_only":
        severity = rng.gamma(2.0, 6.0, size=n)
    else:
        severity = np.clip(means[stage] + rng.normal(0, 6, n), 0, None)
    age = rng.normal(32, 8, n).clip(18, 65)
    sex = rng.choice(["F", "M"], size=n)
    if family == "site":
        probs = np.where((stage == 0)[:, None], [0.6, 0.25, 0.15], [0.15, 0.4, 0.45])
        site = np.array([rng.choice(["siteA", "siteB", "siteC"], p=p) for p in probs])
    else:
        site = rng.choice(["siteA", "siteB"], size=n)
    bdnf = rng.normal(25, 6, n)
    hrv = rng.lognormal(3.7, 0.4, n)
    return stage, severity, age, sex, site, bdnf, hrv


def _mean_fd(family: str, severity, rng):
    """Each participant's expected mean FD (mm), tracking severity in the motion families."""
    s = severity / 20.0
    base = 0.12
    if family in ("motion_linear",):
        mu = base + 0.08 * s
    elif family == "motion_log":
        mu = base + 0.07 * np.log1p(3 * s)
    elif family == "motion_saturating":
        mu = base + 0.18 * (1 - np.exp(-2.5 * s))
    elif family == "censoring":  # heavy movers lose up to about half their volumes
        mu = 0.10 + 0.30 * (1 - np.exp(-2.5 * s))
    elif family == "motion_threshold":
        mu = base + 0.10 * (severity > np.median(severity))
    else:
        mu = np.full(len(severity), base)
    return mu * rng.lognormal(0, 0.25, len(severity))


def _fd_series(mu, rng, n_volumes=N_VOLUMES):
    """A run's framewise displacement: gamma-distributed volumes with mean ``mu``, a few spikes."""
    fd = rng.gamma(2.0, mu / 2.0, n_volumes)
    spikes = rng.random(n_volumes) < 0.01
    fd[spikes] += rng.exponential(4 * mu, spikes.sum())
    fd[0] = 0.0
    return fd


def _censor(fd, threshold, min_segment):
    """Volumes kept by FD censoring: above ``threshold`` dropped, then kept segments shorter
    than ``min_segment`` (the scrubbing preset's rule)."""
    keep = fd <= threshold if threshold is not None else np.ones(len(fd), bool)
    if min_segment:
        edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(int), [0]])))
        for start, stop in zip(edges[::2], edges[1::2]):
            if stop - start < min_segment:
                keep[start:stop] = False
    return keep


def _upper(n):
    return np.triu_indices(n, k=1)


def _base_coupling(regions, networks, rng):
    """Fisher-z group-mean coupling: stronger within networks, weaker between."""
    net = np.array([networks[r] for r in regions])
    same = net[:, None] == net[None, :]
    z = np.where(same, 0.45, 0.15) + rng.normal(0, 0.05, (len(regions), len(regions)))
    return (z + z.T) / 2


def _deficit_mask(regions, networks):
    """Region pairs whose coupling the planted deficit weakens (symmetric boolean matrix)."""
    pfc = np.array([networks[r] == "prefrontal" and any(k in r for k in DEFICIT_PREFRONTAL) for r in regions])
    lim = np.array([networks[r] == "limbic" and any(k in r for k in DEFICIT_LIMBIC) for r in regions])
    if not pfc.any() or not lim.any():  # another atlas: every prefrontal-limbic pair
        pfc = np.array([networks[r] == "prefrontal" for r in regions])
        lim = np.array([networks[r] == "limbic" for r in regions])
    mask = pfc[:, None] & lim[None, :]
    return mask | mask.T


def _indices(zmat, networks, regions):
    net = np.array([networks[r] for r in regions])
    out = {}
    for key, a, b in (("idx_pfc_within", "prefrontal", "prefrontal"), ("idx_limbic_within", "limbic", "limbic"),
                      ("idx_pfc_limbic", "prefrontal", "limbic")):
        ia, ib = np.flatnonzero(net == a), np.flatnonzero(net == b)
        block = zmat[np.ix_(ia, ib)]
        out[key] = float(block[_upper(len(ia))].mean() if a == b else block.mean())
    return out


def generate_study(family: str, index: int, *, regions, networks, stage_levels, effect=0.05,
                   fd_threshold=0.5, min_segment=5, max_censored_fraction=0.5, min_tdof=20,
                   estimator="ledoit_wolf", n_participants=None):
    """One study's features table, the networks, and the generator's latent per-row deficit.

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES`, optionally with ``'+effect'`` (the planted twin).
    index : int
        Study number; with the family it seeds everything.
    regions, networks
        The atlas's region names and ``{region: network}``.
    stage_levels : sequence of str
    effect : float, default=0.05
        Planted deficit in Fisher z per standard deviation of severity (planted twins only).
    fd_threshold, min_segment, max_censored_fraction, min_tdof
        Censoring and exclusion (the configured defaults); runs the participant level would
        exclude are left out, as the pipeline leaves them out.
    estimator : str
        Covariance estimator of the censoring family's edges.
    n_participants : int, optional
        Override the family's sample size.

    Returns
    -------
    features : pandas.DataFrame
    latent : numpy.ndarray of shape (n_rows,)
        The deficit the generator planted in each row's latent coupling (zero in null families).
    """
    null_family, planted = family.split("+")[0], family.endswith("+effect")
    if null_family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; families are {FAMILIES} (planted: '<family>+effect').")
    rng = np.random.default_rng(study_seed(family, index))
    if n_participants is None:
        low, high = {"imbalance": (30, 60), "sessions": (30, 50)}.get(null_family, (60, 80))
        n_participants = int(rng.integers(low, high + 1))
    n = n_participants
    stage, severity, age, sex, site, bdnf, hrv = _design_participants(null_family, rng, n, stage_levels)
    mu = _mean_fd(null_family, severity, rng)
    sev_z = (severity - severity.mean()) / severity.std()
    deficit = effect * sev_z if planted else np.zeros(n)
    n_sessions = rng.integers(2, 4, n) if null_family == "sessions" else np.ones(n, int)

    n_reg = len(regions)
    iu = _upper(n_reg)
    base = _base_coupling(regions, networks, rng)
    mask = _deficit_mask(regions, networks)
    n_edges = len(iu[0])
    person_edges = rng.normal(0, 0.10, (n, n_edges))  # stable individual differences
    motion_loading = rng.normal(0.6, 0.3, n_edges)  # motion inflates most edges, unevenly
    site_names = sorted(set(site))
    site_shift = {s: rng.normal(0, 0.12, n_edges) for s in site_names}
    site_scale = {s: rng.uniform(0.8, 1.3) for s in site_names}
    nets = np.array([networks[r] for r in regions])
    rows, latent = [], []
    for i in range(n):
        for ses in range(n_sessions[i]):
            fd = _fd_series(mu[i] * rng.lognormal(0, 0.1), rng)
            keep = _censor(fd, fd_threshold, min_segment)
            censored = 1 - keep.mean()
            tdof = int(keep.sum()) - 38  # 36 confounds of scrubbing+gsr and the high-pass's cosines
            if max_censored_fraction is not None and censored > max_censored_fraction:
                continue
            if min_tdof is not None and tdof < min_tdof:
                continue
            if null_family == "censoring":
                zmat = _censored_edges(rng, nets, mask, deficit[i], keep, estimator)
                edges = zmat[iu]
            else:
                latent_z = base[iu] - deficit[i] * mask[iu]
                edges = latent_z + person_edges[i] + rng.normal(0, 0.08, n_edges)
                if null_family == "motion_linear":
                    edges = edges + motion_loading * 0.7 * (fd.mean() - 0.12)
                elif null_family.startswith("motion_"):
                    edges = edges + motion_loading * 0.12 * np.log(fd.mean() / 0.12)
                if null_family == "site":
                    edges = base[iu] + (edges - base[iu]) * site_scale[site[i]] + site_shift[site[i]]
                zmat = np.zeros((n_reg, n_reg))
                zmat[iu] = edges
                zmat = zmat + zmat.T
            row = {
                "participant_id": f"sub-{i + 1:03d}",
                "session_id": f"ses-{ses + 1}" if null_family == "sessions" else None,
                "run_id": f"sub-{i + 1:03d}" + (f"_ses-{ses + 1}" if null_family == "sessions" else "") + "_task-rest",
                "severity": float(severity[i] + (rng.normal(0, 1.5) if ses else 0.0)),
                "stage": stage_levels[stage[i]],
                "bdnf": float(bdnf[i] + rng.normal(0, 2)),
                "hrv": float(hrv[i] * rng.lognormal(0, 0.1)),
                "age": float(age[i] + ses),
                "sex": sex[i],
                "site": site[i],
                "mean_fd": float(fd.mean()),
                "max_fd": float(fd.max()),
                "percent_censored": float(100 * censored),
                "tdof_remaining": tdof,
                **_indices(zmat, networks, regions),
                **{f"edge__{regions[a]}--{regions[b]}": float(v) for a, b, v in zip(*iu, edges)},
            }
            rows.append(row)
            latent.append(deficit[i])
    features = pd.DataFrame(rows)
    features["stage"] = pd.Categorical(features["stage"], categories=list(stage_levels), ordered=True)
    if null_family == "severity_only":
        features = features.drop(columns=["stage"])
    features.attrs.update(atlas="bench-calibration", measure="correlation")
    return features, np.asarray(latent)


def _censored_edges(rng, nets, mask, deficit, keep, estimator):
    """Fisher-z correlation of one run's kept volumes, by neurokit.connectivity with ``estimator``.

    The time series are white noise with network factors and a prefrontal-limbic factor; the
    true coupling depends on nothing but the planted deficit, never on motion or censoring.
    """
    from neurokit.connectivity import connectivity_matrix, fisher_z

    n_reg, t = len(nets), len(keep)
    factors = rng.standard_normal((t, 4))
    load = np.zeros((n_reg, 4))
    for j, name in enumerate(("prefrontal", "limbic", "other")):
        load[nets == name, j] = 0.8
    shared = mask.any(axis=1)
    load[shared, 3] = max(0.6 - 2 * deficit, 0.0)  # the deficit weakens the pfc-limbic factor
    ts = factors @ load.T + rng.standard_normal((t, n_reg))
    matrix = connectivity_matrix(ts[keep], "correlation", covariance_estimator=estimator)
    return fisher_z(matrix)


# ============================================================================ one study
def _suite_kwargs(config, signature):
    """The default configuration's model settings that ``cross_validate_model`` accepts."""
    models = config.models.model_dump() if hasattr(config.models, "model_dump") else dict(config.models)
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in models.items() if k in signature}
    kwargs.update(stage_levels=tuple(config.columns.stage_levels), control_level=config.columns.control)
    return kwargs


def run_study(task):
    """Generate one study, fit the default suite, and return one record per model."""
    from threadpoolctl import threadpool_limits

    from neurokit.config import load_config
    from neurokit.models import cross_validate_model, fit_models

    family, index, settings = task["family"], task["index"], task["settings"]
    config = load_config()
    regions, networks = atlas_layout(config.atlas.name)
    start = time.perf_counter()
    features, _ = generate_study(
        family, index, regions=regions, networks=networks, stage_levels=tuple(config.columns.stage_levels),
        effect=settings["effect"], fd_threshold=config.denoise.fd_threshold, min_segment=config.denoise.scrub,
        max_censored_fraction=config.exclusion.max_censored_fraction, min_tdof=config.exclusion.min_tdof,
        estimator=settings["estimator"],
    )
    generated = time.perf_counter() - start
    signature = inspect.signature(cross_validate_model).parameters
    kwargs = _suite_kwargs(config, signature)
    kwargs.update(cv_repeats=settings["cv_repeats"], n_permutations=settings["permutations"])
    targets, feature_sets = tuple(config.models.targets), tuple(config.models.feature_sets)
    with threadpool_limits(limits=1):
        suite = fit_models(features, networks, targets=targets, feature_sets=feature_sets, longitudinal=False,
                           **kwargs)
    records = []
    for (target, feature_set), result in suite.results.items():
        records.append({"family": family, "study": index, "n_participants": int(features["participant_id"].nunique()),
                        "n_rows": len(features), "target": target, "feature_set": feature_set,
                        **read_metrics(result.metrics)})
    for (target, feature_set), reason in suite.skipped.items():
        records.append({"family": family, "study": index, "target": target, "feature_set": feature_set,
                        "skipped": reason[:200]})
    return {"family": family, "study": index, "seconds": time.perf_counter() - start, "generate_seconds": generated,
            "records": records}


def _float(value):
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def read_metrics(metrics):
    """The p-values and scores of one model's metrics, whichever version of neurokit wrote them."""
    beyond = metrics.get("beyond_confounds") or {}
    primary = metrics.get("primary_metric")
    score = (metrics.get("scores") or {}).get(primary) or {}
    permutation = metrics.get("p_value_permutation", score.get("p_value"))
    return {
        "primary_metric": primary,
        "score": _float(score.get("mean")),
        "null_mean": _float(score.get("null_mean")),
        "p_permutation": _float(permutation),
        "p_beyond_permutation": _float(beyond.get("p_permutation")),
        "p_beyond_parametric": _float(beyond.get("p_parametric")),
        "p_beyond_confounds": _float(metrics.get("p_value_beyond_confounds")),  # after issue 19's fixes
        "p_value": _float(metrics.get("p_value")),
        "p_value_fdr": _float(metrics.get("p_value_fdr")),
        "beyond_confounds": ",".join(beyond.get("confounds") or []) if beyond.get("computed") else None,
        "p_value_rule": metrics.get("p_value_rule"),
    }


# ============================================================================ statistics
def clopper_pearson(k: int, n: int, confidence: float = 0.95):
    """Exact (Clopper-Pearson) confidence interval of a binomial proportion ``k / n``."""
    from scipy import stats

    if n == 0:
        return (math.nan, math.nan)
    if k == 0:
        low = 0.0
    else:
        low = float(stats.beta.ppf((1 - confidence) / 2, k, n - k + 1))
    if k == n:
        high = 1.0
    else:
        high = float(stats.beta.ppf(1 - (1 - confidence) / 2, k + 1, n - k))
    return low, high


def rate(values, level):
    """Rate of ``p <= level`` among the p-values that exist, with its exact 95 % interval."""
    p = np.array([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], float)
    k, n = int((p <= level + 1e-12).sum()), len(p)
    low, high = clopper_pearson(k, n)
    return {"k": k, "n": n, "rate": k / n if n else math.nan, "low": low, "high": high}


def summarise(records):
    """Rows of the calibration table: per family x target x p-value kind and level."""
    table = pd.DataFrame([r for r in records if "skipped" not in r])
    rows = []
    if table.empty:
        return rows, []
    for (family, target), group in table.groupby(["family", "target"], sort=False):
        row = {"family": family, "target": target, "models": len(group), "studies": group["study"].nunique()}
        for kind in KINDS:
            for level in LEVELS:
                row[(kind, level)] = rate(group[kind].tolist(), level)
        per_study = (group["score"] - group["null_mean"]).groupby(group["study"]).mean().dropna()
        row["gap"] = float(per_study.mean()) if len(per_study) else math.nan
        row["gap_se"] = float(per_study.std(ddof=1) / math.sqrt(len(per_study))) if len(per_study) > 1 else math.nan
        rows.append(row)
    familywise = []
    for family, group in table.groupby("family", sort=False):
        per_study = group.groupby("study")["p_value_fdr"].min()
        entry = {"family": family, "studies": len(per_study)}
        for level in LEVELS:
            entry[level] = rate(per_study.tolist(), level)
        familywise.append(entry)
    return rows, familywise


#: Families whose features carry the target through head motion: the whole-pipeline permutation test is right
#: to reject there (the prediction is real, made by motion); the beyond-confounds and combined p-values must not.
MOTION_CARRIES_TARGET = ("motion_linear", "motion_log", "motion_saturating", "motion_threshold")


def _cell(r, level, planted, motion_power=False):
    """Rate and interval; **!** where it lies above the nominal rate (a liberal test, the failure that matters),
    (c) where below (conservative), † where rejecting is right (the features carry the target through motion)."""
    if not r["n"]:
        return "-"
    if planted:
        flag = ""
    elif motion_power:
        flag = " †"
    elif r["low"] > level:
        flag = " **!**"
    elif r["high"] < level:
        flag = " (c)"
    else:
        flag = ""
    return f"{r['rate']:.2f} [{r['low']:.2f}, {r['high']:.2f}]{flag}"


def markdown(rows, familywise, header):
    kinds = [k for k in KINDS if any(row[(k, 0.05)]["n"] for row in rows)]
    names = {"p_permutation": "permutation", "p_beyond_permutation": "beyond-confounds perm.",
             "p_beyond_parametric": "beyond-confounds param.", "p_beyond_confounds": "p_value_beyond_confounds",
             "p_value": "combined p_value", "p_value_fdr": "FDR"}
    out = [header, ""]
    for level in LEVELS:
        out.append(f"Rate of p <= {level:.2f} (95 % Clopper-Pearson interval; **!** = above the nominal {level:.2f}, "
                   "a liberal test; (c) = below it, conservative; † = the features carry the target through motion, "
                   "so the whole-pipeline permutation test is right to reject; planted families show power):")
        out.append("")
        out.append("| family | target | studies | models | " + " | ".join(names[k] for k in kinds) + " |")
        out.append("|---|---|---|---|" + "---|" * len(kinds))
        for row in rows:
            planted = row["family"].endswith("+effect")
            out.append(f"| {row['family']} | {row['target']} | {row['studies']} | {row['models']} | "
                       + " | ".join(_cell(row[(k, level)], level, planted,
                                          k == "p_permutation" and row["family"] in MOTION_CARRIES_TARGET)
                                    for k in kinds) + " |")
        out.append("")
    out.append("Family-wise: share of studies with any model at p_value_fdr <= level:")
    out.append("")
    out.append("| family | studies | FDR <= 0.05 | FDR <= 0.10 |")
    out.append("|---|---|---|---|")
    for entry in familywise:
        planted = entry["family"].endswith("+effect")
        out.append(f"| {entry['family']} | {entry['studies']} | " + " | ".join(
            _cell(entry[level], level, planted) for level in LEVELS) + " |")
    out.append("")
    out.append("Mean observed primary score minus the mean of its permutation null (mean over a study's feature "
               "sets, then over studies; SE over studies):")
    out.append("")
    out.append("| family | target | score - null mean | SE |")
    out.append("|---|---|---|---|")
    for row in rows:
        out.append(f"| {row['family']} | {row['target']} | {row['gap']:+.4f} | {row['gap_se']:.4f} |")
    return "\n".join(out)


# ============================================================================ driver
def code_key(settings) -> str:
    """Hash of the installed neurokit's source and the settings: the cache folder's name."""
    import neurokit

    root = Path(neurokit.__file__).parent
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _write_json(path: Path, data):
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=6, help="null studies per family")
    parser.add_argument("--planted-studies", type=int, default=3, help="studies per planted family (0 = none)")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated null families")
    parser.add_argument("--permutations", type=int, default=99, help="permutations per model (default config: 1000)")
    parser.add_argument("--cv-repeats", type=int, default=1, help="CV repeats (default config: 10)")
    parser.add_argument("--effect", type=float, default=0.05, help="planted deficit, Fisher z per SD of severity")
    parser.add_argument("--estimator", default=None, help="covariance estimator of the censoring family "
                        "(default: connectivity.covariance_estimator of the default configuration)")
    parser.add_argument("--workers", type=int, default=2, help="studies fitted at once (processes)")
    parser.add_argument("--cache-dir", default="/tmp/neurokit-bench-calibration")
    parser.add_argument("--tsv", default=None, help="raw p-values per study and model (default: in the cache folder)")
    parser.add_argument("--report-only", action="store_true", help="tables from the cached studies, fit nothing")
    args = parser.parse_args(argv)

    from neurokit.config import load_config

    config = load_config()
    families = [f for f in args.families.split(",") if f]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        parser.error(f"unknown families {unknown}; choose from {','.join(FAMILIES)}")
    estimator = args.estimator or config.connectivity.covariance_estimator
    settings = {"permutations": args.permutations, "cv_repeats": args.cv_repeats, "effect": args.effect,
                "estimator": estimator, "generator": 1}
    key = code_key(settings)
    cache = Path(args.cache_dir) / key
    cache.mkdir(parents=True, exist_ok=True)
    # study-major order, planted twins in the same rounds: an interrupted run has every family
    # at about the same count
    tasks = []
    for i in range(max(args.studies, args.planted_studies)):
        tasks += [{"family": f, "index": i, "settings": settings} for f in families if i < args.studies]
        tasks += [{"family": f + "+effect", "index": i, "settings": settings}
                  for f in families if f in PLANTED and i < args.planted_studies]
    m = config.models
    print(f"neurokit source+settings key {key} (cache {cache})")
    print(f"default suite: targets {list(m.targets)}, feature sets {list(m.feature_sets)}, estimator "
          f"{m.estimator or 'ridge'}, covariates {list(m.covariates)}, harmonize_site {m.harmonize_site}, "
          f"{m.cv_folds}-fold CV; censoring-family estimator {estimator}")
    print(f"REDUCED for the budget: {args.cv_repeats} CV repeats (config {m.cv_repeats}), {args.permutations} "
          f"permutations (config {m.n_permutations}; p floor {1 / (args.permutations + 1):.3f})")

    done, todo = [], []
    for t in tasks:
        path = cache / f"{t['family']}-{t['index']:03d}.json"
        (done if path.exists() else todo).append((t, path))
    results = [json.loads(p.read_text()) for _, p in done]
    print(f"{len(tasks)} studies: {len(done)} cached, {len(todo)} to fit on {args.workers} worker(s)", flush=True)
    if todo and not args.report_only:
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            futures = {pool.submit(run_study, t): (t, p) for t, p in todo}
            for n_done, future in enumerate(as_completed(futures), 1):
                t, path = futures[future]
                try:
                    result = future.result()
                except Exception as err:  # one broken study never stops the benchmark
                    print(f"  {t['family']} #{t['index']}: FAILED {type(err).__name__}: {err}", flush=True)
                    continue
                _write_json(path, result)
                results.append(result)
                elapsed = time.perf_counter() - start
                line = f"  [{n_done}/{len(todo)}] {t['family']} #{t['index']}: {result['seconds']:.1f} s"
                if n_done == 4 or n_done % 20 == 0:
                    line += (f"; elapsed {elapsed / 60:.1f} min, estimated total "
                             f"{elapsed / n_done * len(todo) / 60:.1f} min")
                print(line, flush=True)
        print(f"fitted {len(todo)} studies in {(time.perf_counter() - start) / 60:.1f} min")
    order = {f: i for i, f in enumerate(dict.fromkeys(t["family"] for t in tasks))}
    results.sort(key=lambda r: (order.get(r["family"], 1e9), r["study"]))
    records = [rec for r in results for rec in r["records"]]
    tsv = Path(args.tsv) if args.tsv else cache / "pvalues.tsv"
    pd.DataFrame(records).to_csv(tsv, sep="\t", index=False)
    print(f"raw p-values: {tsv}")
    rows, familywise = summarise(records)
    seconds = [r["seconds"] for r in results]
    header = (f"{len(results)} studies ({args.studies} per null family, {args.planted_studies} per planted family), "
              f"{args.cv_repeats} CV repeats, {args.permutations} permutations, censoring estimator {estimator}; "
              f"median {np.median(seconds):.1f} s per study" if seconds else "no studies")
    print()
    print(markdown(rows, familywise, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
