"""neurokit.qc: motion summary, tSNR, exclusion, group QC-FC with planted motion effects."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neurokit.connectivity import vectorize
from neurokit.qc import (
    QCError,
    exclusion_decision,
    motion_summary,
    qc_fc,
    qc_fc_distance_dependence,
    qc_fc_summary,
    region_distances,
    region_tsnr,
)


def test_motion_summary_first_value_na_and_mask_forms():
    fd = pd.Series([np.nan, 0.1, 0.3, 0.9, 0.2])  # fMRIPrep writes n/a in the first row
    out = motion_summary(fd, [0, 1, 4], n_volumes=5)
    assert out == {
        "mean_fd": pytest.approx(0.375),
        "max_fd": pytest.approx(0.9),
        "n_volumes": 5,
        "n_censored": 2,
        "n_remaining": 3,
        "censored_fraction": pytest.approx(0.4),
        "percent_censored": pytest.approx(40.0),
    }
    assert motion_summary(fd, np.array([1, 1, 0, 0, 1], bool), n_volumes=5) == out
    none = motion_summary(fd.to_numpy(), n_volumes=5)
    assert none["n_censored"] == 0 and none["censored_fraction"] == 0.0
    json.dumps(out)  # plain Python numbers
    assert fd.isna().sum() == 1  # input untouched


@pytest.mark.parametrize(
    ("fd", "mask", "match"),
    [
        ([np.nan, 0.1, 0.2], None, r"one value per volume \(n_volumes=4\); got shape \(3,\)"),
        ([np.nan, 0.1, np.nan, 0.2], None, "finite except for its first value; got nan at volume 2"),
        ([0.0, 0.1, -0.2, 0.2], None, "must be >= 0 mm; got -0.2"),
        ([0.0, 0.1, 0.2, 0.2], [0, 4], r"indices must be in \[0, 3\]; got 0..4"),
        ([0.0, 0.1, 0.2, 0.2], [1, 1], "repeated volume indices"),
        ([0.0, 0.1, 0.2, 0.2], np.ones(3, bool), "boolean mask must have n_volumes=4 entries; got 3"),
        ([0.0, 0.1, 0.2, 0.2], [0.5], "integer indices of kept volumes or booleans; got dtype float64"),
    ],
)
def test_motion_summary_errors(fd, mask, match):
    with pytest.raises(QCError, match=match):
        motion_summary(fd, mask, n_volumes=4)


def test_motion_summary_missing_or_text_fd():
    with pytest.raises(QCError, match="'framewise_displacement' is None: the confounds table has no 'framewise_displacement' column"):
        motion_summary(None, n_volumes=4)
    with pytest.raises(QCError, match="'framewise_displacement' must be numeric"):
        motion_summary(["n/a", "x", "0.1", "0.2"], n_volumes=4)


def test_motion_summary_n_volumes_error():
    with pytest.raises(QCError, match="'n_volumes' must be an integer >= 2; got 1.5"):
        motion_summary([0.0, 0.1], n_volumes=1.5)


LIMITS = {"max_mean_fd": 0.5, "max_censored_fraction": 0.5, "min_volumes": 50}


def test_exclusion_kept_and_each_reason():
    assert exclusion_decision(mean_fd=0.2, censored_fraction=0.1, n_remaining=180, **LIMITS) == (False, [])
    assert exclusion_decision(mean_fd=0.5, censored_fraction=0.5, n_remaining=50, **LIMITS) == (False, [])  # limits inclusive
    excluded, reasons = exclusion_decision(mean_fd=0.62, censored_fraction=0.75, n_remaining=40, **LIMITS)
    assert excluded
    assert reasons == [
        "mean framewise displacement 0.620 mm is above the limit of 0.5 mm (exclusion.max_mean_fd)",
        "75.0% of volumes censored is above the limit of 50% (exclusion.max_censored_fraction)",
        "40 volumes remain after censoring, fewer than the minimum of 50 (denoise.min_volumes)",
    ]
    assert exclusion_decision(mean_fd=9.0, censored_fraction=0.9, n_remaining=1, max_mean_fd=None, max_censored_fraction=None, min_volumes=None) == (False, [])


def test_exclusion_errors():
    with pytest.raises(QCError, match="'mean_fd' must be a number; got nan"):
        exclusion_decision(mean_fd=float("nan"), censored_fraction=0.1, n_remaining=100, **LIMITS)
    with pytest.raises(QCError, match=r"'censored_fraction' must be in \[0, 1\]; got 40"):
        exclusion_decision(mean_fd=0.1, censored_fraction=40, n_remaining=100, **LIMITS)
    with pytest.raises(QCError, match="'max_mean_fd' must be a number or None; got '0.5'"):
        exclusion_decision(mean_fd=0.1, censored_fraction=0.1, n_remaining=100, **{**LIMITS, "max_mean_fd": "0.5"})


def test_exclusion_uses_config_defaults():
    from neurokit.config import Config

    cfg = Config()
    limits = cfg.exclusion.decision_kwargs(cfg.denoise.min_volumes)
    # no mean-FD cut by default: a high-motion run is kept when censoring left it enough data ...
    assert exclusion_decision(mean_fd=0.7, censored_fraction=0.1, n_remaining=150, tdof_remaining=90,
                              **limits) == (False, [])
    # ... and excluded when it did not
    excluded, reasons = exclusion_decision(mean_fd=0.7, censored_fraction=0.6, n_remaining=60, tdof_remaining=15,
                                           **limits)
    assert excluded and "exclusion.max_censored_fraction" in reasons[0] and "exclusion.min_tdof" in reasons[1]


def test_region_tsnr_planted(rng):
    t = np.arange(200)
    mean = np.array([1000.0, 500.0, 2000.0])
    sd = np.array([10.0, 25.0, 5.0])
    noise = rng.normal(size=(200, 3))
    noise = (noise - noise.mean(0)) / noise.std(0)
    noise -= np.polynomial.polynomial.polyval(t, np.polynomial.polynomial.polyfit(t, noise, 1)).T
    noise /= noise.std(0)
    drift = np.outer(t - t.mean(), [0.5, -0.2, 1.0])  # linear drift must not count as noise
    x = mean + drift + noise * sd
    np.testing.assert_allclose(region_tsnr(x), mean / sd, rtol=1e-10)
    from scipy.signal import detrend

    np.testing.assert_allclose(region_tsnr(x), x.mean(0) / detrend(x, axis=0).std(0), rtol=1e-10)
    x[:, 1] = np.nan
    out = region_tsnr(x)
    assert np.isnan(out[1]) and np.isfinite(out[[0, 2]]).all()


NOISY = 10 + np.array([0.3, -0.1, 0.4, 0.0, -0.5, 0.2, 0.1, -0.3, 0.6, -0.2])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: np.ones((2, 3)), "at least 3 timepoints to detrend; got 2"),
        (lambda: np.ones(10), r"must be 2D \(n_timepoints, n_regions\)"),
        (lambda: np.column_stack([NOISY, -NOISY]), r"region columns \[1\] have a mean <= 0"),
        (lambda: np.column_stack([NOISY, np.arange(1.0, 11)]), r"region columns \[1\] have no variance after removing a linear trend"),
        (lambda: np.column_stack([np.arange(1.0, 11), np.r_[np.nan, np.ones(9)]]), r"NaN values in some timepoints of region columns \[1\]"),
        (lambda: np.column_stack([np.arange(1.0, 11), np.r_[np.inf, np.ones(9)]]), r"infinite values in region columns \[1\]"),
    ],
)
def test_region_tsnr_errors(make, match):
    with pytest.raises(QCError, match=match):
        region_tsnr(make())


@pytest.fixture
def motion_cohort(rng):
    """200 runs, 30 edges: edges 0-4 are driven by mean FD, edges 5-9 by age only, the rest are noise."""
    n = 200
    age = rng.normal(size=n)
    fd = np.abs(0.15 + 0.05 * rng.normal(size=n) + 0.04 * age)
    edges = rng.normal(size=(n, 30))
    edges[:, :5] += 8 * (fd - fd.mean())[:, None] / fd.std() * 0.3
    edges[:, 5:10] += 1.5 * age[:, None]
    return edges, fd, age


def test_qc_fc_planted_motion_effect(motion_cohort):
    edges, fd, _ = motion_cohort
    r = qc_fc(edges, fd)
    assert (r[:5] > 0.8).all()
    assert (np.abs(r[10:]) < 0.25).all()
    np.testing.assert_allclose(r, [stats.pearsonr(edges[:, k], fd).statistic for k in range(30)], atol=1e-10)


def test_qc_fc_partial_removes_covariate(motion_cohort):
    edges, fd, age = motion_cohort
    plain = qc_fc(edges, fd)
    partial, p = qc_fc(edges, fd, covariates=pd.DataFrame({"age": age}), return_pvalues=True)
    assert np.abs(plain[5:10]).min() > 0.2  # age confounds motion and these edges
    assert np.abs(partial[5:10]).max() < 0.2
    assert (partial[:5] > 0.7).all() and (p[:5] < 1e-10).all()
    # reference: correlate residuals by hand
    design = np.column_stack([np.ones_like(age), age])
    res = lambda v: v - design @ np.linalg.lstsq(design, v, rcond=None)[0]  # noqa: E731
    assert partial[7] == pytest.approx(stats.pearsonr(res(edges[:, 7]), res(fd)).statistic)
    _, p_plain = qc_fc(edges, fd, return_pvalues=True)
    np.testing.assert_allclose(p_plain[12], stats.pearsonr(edges[:, 12], fd).pvalue, rtol=1e-8)


def test_qc_fc_errors(motion_cohort):
    edges, fd, age = motion_cohort
    with pytest.raises(QCError, match=r"'mean_fd' must be 1D with one value per run \(200\); got shape \(199,\)"):
        qc_fc(edges, fd[:-1])
    bad = edges.copy()
    bad[3, 2] = np.nan
    with pytest.raises(QCError, match=r"'edges' has NaN or infinite values in runs \(rows\) \[3\]"):
        qc_fc(bad, fd)
    with pytest.raises(QCError, match="'mean_fd' is constant across runs"):
        qc_fc(edges, np.full(200, 0.2))
    const = edges.copy()
    const[:, 4] = 1.0
    with pytest.raises(QCError, match=r"'edges' columns \[4\] are constant across runs"):
        qc_fc(const, fd)
    with pytest.raises(QCError, match="'covariates' must be numeric; encode categorical covariates"):
        qc_fc(edges, fd, covariates=np.array(["F", "M"] * 100))
    with pytest.raises(QCError, match=r"needs at least 5 runs for QC-FC with 1 covariates; got 4"):
        qc_fc(edges[:4], fd[:4], covariates=age[:4])


def test_region_distances_order_matches_vectorize():
    coords = np.array([[0.0, 0, 0], [3, 4, 0], [0, 0, 12], [1, 2, 2]])
    d = region_distances(coords)
    full = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.testing.assert_allclose(d, vectorize(full)[0])
    assert d[0] == pytest.approx(5.0) and d[1] == pytest.approx(12.0)
    with pytest.raises(QCError, match=r"'coords' must have shape \(n_regions >= 2, 3\); got \(4, 2\)"):
        region_distances(coords[:, :2])


def test_distance_dependence_planted(rng):
    coords = rng.uniform(-60, 60, size=(12, 3))
    d = region_distances(coords)
    qcfc = 0.3 - 0.004 * d + 0.01 * rng.normal(size=d.size)  # short edges more motion-affected
    assert qc_fc_distance_dependence(qcfc, d) < -0.9
    assert abs(qc_fc_distance_dependence(rng.normal(size=d.size), d)) < 0.3
    with pytest.raises(QCError, match="must be 1D of the same length; got shapes"):
        qc_fc_distance_dependence(qcfc[:-1], d)
    with pytest.raises(QCError, match="must each vary across edges"):
        qc_fc_distance_dependence(np.zeros_like(d), d)


def test_qc_fc_summary(motion_cohort):
    edges, fd, _ = motion_cohort
    r, p = qc_fc(edges, fd, return_pvalues=True)
    out = qc_fc_summary(r, p)
    assert out["n_edges"] == 30
    assert out["median_abs_qcfc"] == pytest.approx(np.median(np.abs(r)))
    assert 5 / 30 * 100 <= out["percent_significant"] <= 12 / 30 * 100  # 5 planted + age-confounded + chance
    assert qc_fc_summary([0.1, -0.3], [0.5, 0.01]) == {"n_edges": 2, "median_abs_qcfc": pytest.approx(0.2), "percent_significant": 50.0}
    with pytest.raises(QCError, match=r"'alpha' must be in \(0, 1\); got 5"):
        qc_fc_summary(r, p, alpha=5)
    with pytest.raises(QCError, match="same non-zero length; got shapes"):
        qc_fc_summary(r, p[:-1])


def test_qc_fc_nan_policy_omit(motion_cohort):
    edges, fd, age = motion_cohort
    holes = edges.copy()
    holes[:7, 3] = np.nan  # edge 3 missing in 7 runs (a region without voxels there)
    r, p = qc_fc(holes, fd, covariates=age, return_pvalues=True, nan_policy="omit")
    ref_r, ref_p = qc_fc(edges[7:, [3]], fd[7:], covariates=age[7:], return_pvalues=True)
    assert r[3] == pytest.approx(ref_r[0]) and p[3] == pytest.approx(ref_p[0])
    np.testing.assert_allclose(np.delete(r, 3), np.delete(qc_fc(edges, fd, covariates=age), 3))
    holes[:197, 8] = np.nan
    with pytest.raises(QCError, match="needs at least 5 runs for QC-FC with 1 covariates; got 3 with a value for edge 8"):
        qc_fc(holes, fd, covariates=age, nan_policy="omit")
    with pytest.raises(QCError, match=r"'nan_policy' must be one of \('raise', 'omit'\); got 'drop'"):
        qc_fc(edges, fd, nan_policy="drop")


def test_exclusion_checks_say_why_a_run_is_kept_or_excluded():
    from neurokit.qc import TDOF_FLOOR, exclusion_checks, exclusion_decision

    common = dict(censored_fraction=0.1, n_remaining=135, max_mean_fd=0.5, max_censored_fraction=0.5,
                  min_volumes=50)
    kept = exclusion_checks(mean_fd=0.2, tdof_remaining=90, min_tdof=TDOF_FLOOR, **common)
    assert [c["key"] for c in kept] == ["exclusion.max_mean_fd", "exclusion.max_censored_fraction",
                                        "denoise.min_volumes", "exclusion.min_tdof"]
    assert all(c["passed"] is True and c["reason"] is None and c["flag"] is None for c in kept)
    assert kept[0]["value"] == 0.2 and kept[0]["limit"] == 0.5 and kept[3]["value"] == 90

    moving = exclusion_checks(mean_fd=0.7, tdof_remaining=12, min_tdof=TDOF_FLOOR, **common)
    failed = [c for c in moving if c["passed"] is False]
    assert [c["key"] for c in failed] == ["exclusion.max_mean_fd", "exclusion.min_tdof"]
    assert exclusion_decision(mean_fd=0.7, tdof_remaining=12, min_tdof=TDOF_FLOOR, **common) == (
        True, [c["reason"] for c in failed])
    assert moving[3]["flag"] is None  # excluded, not merely flagged


def test_low_tdof_is_flagged_when_the_rule_is_off():
    from neurokit.qc import TDOF_FLOOR, exclusion_checks, exclusion_decision

    common = dict(mean_fd=0.1, censored_fraction=0.0, n_remaining=150, max_mean_fd=None,
                  max_censored_fraction=None, min_volumes=50)
    checks = exclusion_checks(tdof_remaining=10, min_tdof=None, **common)
    assert checks[0]["passed"] is None and checks[0]["limit"] is None  # rule off: neither passed nor failed
    assert checks[3]["passed"] is None
    assert checks[3]["flag"].startswith(f"only 10 temporal degrees of freedom remain (fewer than {TDOF_FLOOR}")
    assert "exclusion.min_tdof is off" in checks[3]["flag"]
    assert exclusion_decision(tdof_remaining=10, min_tdof=None, **common) == (False, [])
    assert exclusion_checks(tdof_remaining=None, min_tdof=None, **common)[3]["flag"] is None  # not cleaned
