"""Denoising benchmark table: each metric against a direct computation on a tiny known case."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from neurokit.connectivity import edge_networks
from neurokit.qc import BENCHMARK_COLUMNS, QCError, denoising_benchmark, network_contrast

NETWORKS = ["prefrontal", "prefrontal", "limbic", "limbic", "other"]


def _cohort(seed=0, n_runs=30, motion=0.0):
    """Edges of 5 regions (10 edges): prefrontal and limbic pairs coupled, the first 4 edges tracking mean FD."""
    rng = np.random.default_rng(seed)
    fd = rng.uniform(0.05, 0.5, n_runs)
    age = rng.uniform(20, 60, n_runs)
    sex = rng.integers(0, 2, n_runs).astype(float)
    pairs = edge_networks(5, NETWORKS)
    level = np.array([0.8 if p in ("prefrontal-prefrontal", "limbic-limbic") else 0.2 for p in pairs])
    edges = level + 0.1 * rng.standard_normal((n_runs, 10)) + 0.02 * age[:, None] / 60
    edges[:, :4] += motion * fd[:, None]
    return edges, fd, np.column_stack([age, sex]), pairs


def _direct_qcfc(edges, fd, covariates):
    """Partial correlation of each edge with FD and the p-value of FD's coefficient in edge ~ 1 + FD + covariates."""
    design = sm.add_constant(np.column_stack([fd, covariates]))
    nuisance = sm.add_constant(covariates)
    r, p = [], []
    for column in edges.T:
        p.append(sm.OLS(column, design).fit().pvalues[1])
        resid_edge = sm.OLS(column, nuisance).fit().resid
        resid_fd = sm.OLS(fd, nuisance).fit().resid
        r.append(np.corrcoef(resid_edge, resid_fd)[0, 1])
    return np.array(r), np.array(p)


def test_metrics_equal_a_direct_computation():
    noisy, fd, cov, pairs = _cohort(motion=1.5)
    clean, fd_clean, cov_clean, _ = _cohort(seed=1, n_runs=25)
    distances = np.arange(10, 110, 10, dtype=float)
    table = denoising_benchmark(
        {"simple": noisy, "scrubbing+gsr": clean}, {"simple": fd, "scrubbing+gsr": fd_clean},
        tdof_lost={"simple": [30, 40, np.nan], "scrubbing+gsr": [50, 70, 90]},
        tdof_remaining={"simple": [120, 110, np.nan], "scrubbing+gsr": [100, 80, 10]},
        n_censored={"simple": [0, 0, 0], "scrubbing+gsr": [10, 40, 60]},
        covariates={"simple": cov, "scrubbing+gsr": cov_clean}, distances=distances, network_pairs=pairs,
        min_tdof=50,
    )
    assert list(table.columns) == list(BENCHMARK_COLUMNS)
    assert table["strategy"].tolist() == ["simple", "scrubbing+gsr"]
    for row, (x, f, c) in zip(table.itertuples(), [(noisy, fd, cov), (clean, fd_clean, cov_clean)]):
        r, p = _direct_qcfc(x, f, c)
        assert row.n_runs == x.shape[0]
        assert row.qcfc_percent_significant == pytest.approx(100 * np.mean(p < 0.05))
        assert row.qcfc_median_abs == pytest.approx(np.median(np.abs(r)))
        assert row.qcfc_distance_rho == pytest.approx(stats.spearmanr(r, distances).statistic)
        mean = x.mean(axis=0)
        within = [0, 7]  # edges 0-1 (prefrontal) and 2-3 (limbic) in vectorize order
        between = [1, 2, 4, 5]  # prefrontal-limbic; edges touching region 4 ('other') are left out
        assert row.network_contrast == pytest.approx(mean[within].mean() - mean[between].mean())
        assert row.note == ""
    simple, scrubbing = table.iloc[0], table.iloc[1]
    assert simple.qcfc_percent_significant >= 40  # the 4 motion-driven edges of 10
    assert scrubbing.qcfc_percent_significant < simple.qcfc_percent_significant
    assert simple.tdof_lost_mean == 35 and simple.tdof_remaining_min == 110 and simple.n_runs_below_min_tdof == 0
    assert scrubbing.tdof_remaining_mean == pytest.approx(190 / 3) and scrubbing.n_runs_below_min_tdof == 1
    # a censored volume is a degree of freedom lost: (50 + 10 + 70 + 40 + 90 + 60) / 3
    assert scrubbing.tdof_lost_mean == pytest.approx(320 / 3)


def test_tdof_lost_needs_the_censored_volumes_of_every_run():
    edges, fd, _, _ = _cohort()
    with pytest.raises(QCError, match=r"'n_censored' must give the censored volumes of every processed run of "
                                      r"strategy 'b' \(2 runs, as in 'tdof_lost'\); got 1 values"):
        denoising_benchmark({"a": edges, "b": edges}, {"a": fd, "b": fd}, tdof_lost={"a": [1], "b": [1, 2]},
                            tdof_remaining={"a": [1], "b": [1, 2]}, n_censored={"a": [0], "b": [3]})
    with pytest.raises(QCError, match=r"strategy 'b'.*got none"):
        denoising_benchmark({"a": edges}, {"a": fd}, tdof_lost={"a": [1], "b": [1]},
                            tdof_remaining={"a": [1], "b": [1]}, n_censored={"a": [0]})


def test_missing_metrics_are_nan_with_a_note():
    edges, fd, _, pairs = _cohort(n_runs=3)
    table = denoising_benchmark({"simple": edges}, {"simple": fd}, tdof_lost={"simple": [1.0], "compcor": [2.0]},
                                tdof_remaining={"simple": [5.0], "compcor": [np.nan]},
                                n_censored={"simple": [0], "compcor": [0]}, network_pairs=pairs)
    simple, compcor = table.iloc[0], table.iloc[1]
    assert np.isnan(simple.qcfc_median_abs) and "QC-FC: 'edges' needs at least 4 runs" in simple.note
    assert np.isfinite(simple.network_contrast)
    assert compcor.n_runs == 0 and np.isnan(compcor.network_contrast) and np.isnan(compcor.tdof_remaining_mean)
    assert compcor.n_runs_below_min_tdof is None  # no limit set


def test_benchmark_and_network_contrast_errors():
    edges, fd, _, pairs = _cohort()
    with pytest.raises(QCError, match=r"'edges' must have the same edges for every strategy; got widths \[9, 10\]"):
        denoising_benchmark({"a": edges, "b": edges[:, :9]}, {"a": fd, "b": fd}, tdof_lost={"a": [1], "b": [1]},
                            tdof_remaining={"a": [1], "b": [1]}, n_censored={"a": [0], "b": [0]})
    with pytest.raises(QCError, match=r"'distances' must have one entry per edge \(10\); got 3"):
        denoising_benchmark({"a": edges}, {"a": fd}, tdof_lost={"a": [1]}, tdof_remaining={"a": [1]},
                            n_censored={"a": [0]}, distances=[1.0, 2.0, 3.0])
    with pytest.raises(QCError, match=r"'network_pairs' has 1 within-network and 0 between-network edge"):
        network_contrast([0.5, 0.1], ["prefrontal-prefrontal", "prefrontal-other"])
    with pytest.raises(QCError, match=r"'mean_edges' must be 1D with one value per network pair \(2\)"):
        network_contrast([0.5], ["prefrontal-prefrontal", "prefrontal-limbic"])
    with pytest.raises(QCError, match=r"'mean_edges' must be finite"):
        network_contrast([np.nan, 0.1], ["prefrontal-prefrontal", "prefrontal-limbic"])
