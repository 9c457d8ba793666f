"""neurokit.connectivity: matrices against planted answers and nilearn, Fisher z, vectorisation, summaries."""

import numpy as np
import pytest
from nilearn.connectome import ConnectivityMeasure
from sklearn.covariance import OAS, EmpiricalCovariance, LedoitWolf, ShrunkCovariance

from neurokit.connectivity import (
    ConnectivityError,
    connectivity_matrix,
    edge_indices,
    edge_networks,
    fisher_z,
    region_pfc_limbic_strength,
    summary_indices,
    unvectorize,
    vectorize,
)

NILEARN_ESTIMATORS = {
    "shrunk": ShrunkCovariance(shrinkage=0.1, store_precision=False),
    "ledoit_wolf": LedoitWolf(store_precision=False),
    "empirical": EmpiricalCovariance(store_precision=False),
    "oas": OAS(store_precision=False),
}


def _planted_cov(n_regions, rng):
    a = rng.normal(size=(n_regions, n_regions))
    return a @ a.T + n_regions * np.eye(n_regions)


@pytest.fixture
def timeseries(rng):
    """(n_timepoints=120, n_regions=7) with unequal scales and offsets so axis mix-ups fail."""
    cov = _planted_cov(7, rng)
    x = rng.multivariate_normal(np.zeros(7), cov, size=120)
    return x * np.arange(1, 8) + np.arange(7) * 10.0


@pytest.mark.parametrize("kind", ["correlation", "partial correlation", "covariance", "precision"])
@pytest.mark.parametrize("estimator", ["shrunk", "ledoit_wolf", "empirical", "oas"])
def test_matches_nilearn(timeseries, kind, estimator):
    ours = connectivity_matrix(timeseries, kind, covariance_estimator=estimator)
    ref = ConnectivityMeasure(kind=kind, cov_estimator=NILEARN_ESTIMATORS[estimator]).fit_transform([timeseries])[0]
    np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kind", ["correlation", "partial correlation"])
@pytest.mark.parametrize("estimator", ["shrunk", "ledoit_wolf"])
def test_matches_nilearn_more_regions_than_timepoints(rng, kind, estimator):
    x = rng.normal(size=(30, 40)) + rng.normal(size=(30, 1))
    ref = ConnectivityMeasure(kind=kind, cov_estimator=NILEARN_ESTIMATORS[estimator]).fit_transform([x])[0]
    np.testing.assert_allclose(connectivity_matrix(x, kind, covariance_estimator=estimator), ref, atol=1e-6)


def test_ledoit_wolf_matches_nilearn_default(timeseries):
    ref = ConnectivityMeasure(kind="partial correlation").fit_transform([timeseries])[0]
    got = connectivity_matrix(timeseries, "partial correlation", covariance_estimator="ledoit_wolf")
    np.testing.assert_allclose(got, ref, atol=1e-6)


@pytest.mark.parametrize("kind", ["correlation", "partial correlation", "covariance", "precision"])
@pytest.mark.parametrize("shrinkage", [0.05, 0.3])
def test_default_is_a_fixed_shrinkage(timeseries, kind, shrinkage):
    # against scikit-learn's ShrunkCovariance through nilearn, and by hand: (1 - s) S + s tr(S)/p I
    x = timeseries if kind != "correlation" else (timeseries - timeseries.mean(0)) / timeseries.std(0, ddof=1)
    ref = ConnectivityMeasure(kind=kind, cov_estimator=ShrunkCovariance(shrinkage=shrinkage)).fit_transform([timeseries])[0]
    got = connectivity_matrix(timeseries, kind, shrinkage=shrinkage)
    np.testing.assert_allclose(got, ref, atol=1e-6, rtol=1e-6)
    s = np.cov(x, rowvar=False, ddof=0)
    by_hand = (1 - shrinkage) * s + shrinkage * np.trace(s) / s.shape[0] * np.eye(s.shape[0])
    if kind == "covariance":
        np.testing.assert_allclose(got, by_hand, rtol=1e-10)
    if kind == "correlation":  # the empirical correlation scaled by 1 - shrinkage, whatever the length
        empirical = connectivity_matrix(timeseries, kind, covariance_estimator="empirical")
        off = ~np.eye(7, dtype=bool)
        np.testing.assert_allclose(got[off], (1 - shrinkage) * empirical[off], rtol=1e-10)
    default = connectivity_matrix(timeseries, kind)
    np.testing.assert_allclose(default, connectivity_matrix(timeseries, kind, covariance_estimator="shrunk",
                                                            shrinkage=0.1), rtol=1e-12)


def test_estimator_object_is_cloned_not_modified(timeseries):
    est = LedoitWolf(store_precision=False)
    out = connectivity_matrix(timeseries, "covariance", covariance_estimator=est)
    assert not hasattr(est, "covariance_")
    np.testing.assert_allclose(out, connectivity_matrix(timeseries, "covariance", covariance_estimator="ledoit_wolf"))


def test_recovers_planted_correlation_and_partial_correlation(rng):
    # a chain 0 - 1 - 2 with 3 independent: partial correlation 0-2 is zero, correlation is not
    precision = np.array([[2.0, -0.8, 0, 0], [-0.8, 2.0, -0.8, 0], [0, -0.8, 2.0, 0], [0, 0, 0, 1.0]])
    cov = np.linalg.inv(precision)
    x = rng.multivariate_normal(np.zeros(4), cov, size=20000)
    d = 1 / np.sqrt(np.diag(cov))
    true_corr = cov * d[:, None] * d
    true_partial = -precision / np.sqrt(np.outer(np.diag(precision), np.diag(precision)))
    np.fill_diagonal(true_partial, 1.0)
    corr = connectivity_matrix(x, "correlation", covariance_estimator="empirical")
    partial = connectivity_matrix(x, "partial correlation", covariance_estimator="empirical")
    np.testing.assert_allclose(corr, true_corr, atol=0.03)
    np.testing.assert_allclose(partial, true_partial, atol=0.03)
    assert abs(corr[0, 2]) > 0.1 and abs(partial[0, 2]) < 0.03


def test_does_not_mutate_input(timeseries):
    before = timeseries.copy()
    for kind in ("correlation", "partial correlation"):
        connectivity_matrix(timeseries, kind)
    np.testing.assert_array_equal(timeseries, before)


def test_missing_regions(timeseries):
    x = timeseries.copy()
    x[:, 2] = np.nan
    with pytest.raises(ConnectivityError, match=r"region columns \[2\] are all NaN"):
        connectivity_matrix(x)
    out = connectivity_matrix(x, "partial correlation", allow_missing_regions=True)
    assert np.isnan(out[2]).all() and np.isnan(out[:, 2]).all()
    keep = [0, 1, 3, 4, 5, 6]
    np.testing.assert_allclose(out[np.ix_(keep, keep)], connectivity_matrix(timeseries[:, keep], "partial correlation"))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda x: x[:1], r"at least 2 timepoints \(rows\); got 1"),
        (lambda x: x[:, 0], r"must be 2D \(n_timepoints, n_regions\); got shape \(120,\)"),
        (lambda x: np.where(np.arange(7) == 3, np.inf, x), r"infinite values in region columns \[3\]"),
        (lambda x: np.where((np.arange(120)[:, None] == 5) & (np.arange(7) == 1), np.nan, x), r"NaN values in some timepoints of region columns \[1\]"),
        (lambda x: np.where(np.arange(7) == 4, 3.0, x), r"region columns \[4\] are constant"),
        (lambda x: np.full_like(x, np.nan), "no region with signal"),
    ],
)
def test_bad_timeseries(timeseries, change, match):
    with pytest.raises(ConnectivityError, match=match):
        connectivity_matrix(change(timeseries), allow_missing_regions=True)


def test_bad_kind_and_estimator(timeseries):
    with pytest.raises(ConnectivityError, match=r"'kind' must be one of \('correlation', .*got 'pearson'"):
        connectivity_matrix(timeseries, "pearson")
    with pytest.raises(ConnectivityError, match="'covariance_estimator' must be one of .*got 'shrinkage'"):
        connectivity_matrix(timeseries, covariance_estimator="shrinkage")
    with pytest.raises(ConnectivityError, match="'kind' 'tangent' is a group measure.*use TangentSpace"):
        connectivity_matrix(timeseries, "tangent")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shrinkage": 0.0}, r"'shrinkage' must be a number in \(0, 1\).*got 0.0"),
        ({"shrinkage": 1.0}, r"'shrinkage' must be a number in \(0, 1\).*got 1.0"),
        ({"shrinkage": "0.1"}, r"'shrinkage' must be a number in \(0, 1\).*got '0.1'"),
        ({"shrinkage": True}, r"'shrinkage' must be a number in \(0, 1\).*got True"),
        ({"shrinkage": 0.2, "covariance_estimator": "ledoit_wolf"},
         r"'shrinkage' applies to covariance_estimator='shrunk' only.*drop 'shrinkage'"),
    ],
)
def test_bad_shrinkage(timeseries, kwargs, match):
    with pytest.raises(ConnectivityError, match=match):
        connectivity_matrix(timeseries, **kwargs)


def _block_runs(rng, n_volumes, n_runs, n_regions=26, rho=0.4):
    """Runs drawn from a known covariance: two blocks with correlation ``rho`` inside, 0 between."""
    labels = np.arange(n_regions) * 2 // n_regions
    cov = np.where(labels[:, None] == labels, rho, 0.0)
    np.fill_diagonal(cov, 1.0)
    iu = np.triu_indices(n_regions, 1)
    return [rng.multivariate_normal(np.zeros(n_regions), cov, size=n_volumes) for _ in range(n_runs)], \
        (labels[iu[0]] == labels[iu[1]])


def _within(runs, within, **kwargs):
    iu = np.triu_indices(runs[0].shape[1], 1)
    return np.array([connectivity_matrix(x, **kwargs)[iu][within].mean() for x in runs])


def test_default_correlation_does_not_follow_kept_volumes(rng):
    # the censoring bias (issue 19): Ledoit-Wolf shrinks short runs harder, the fixed shrinkage does not
    short, within = _block_runs(rng, 60, 40)
    long, _ = _block_runs(rng, 300, 40)
    got = {n: _within(runs, within) for n, runs in ((60, short), (300, long))}
    se = np.hypot(*(v.std(ddof=1) / np.sqrt(v.size) for v in got.values()))
    # Pearson's r is biased by about -rho (1 - rho^2) / (2 n): 0.003 at 60 volumes
    assert abs(got[60].mean() - got[300].mean()) < 4 * se + 0.005
    for values in got.values():
        assert values.mean() == pytest.approx(0.9 * 0.4, abs=4 * se + 0.005)
    lw = {n: _within(runs, within, covariance_estimator="ledoit_wolf") for n, runs in ((60, short), (300, long))}
    assert lw[300].mean() - lw[60].mean() > 0.03 + 4 * se


def test_singular_covariance_error(rng):
    x = rng.normal(size=(5, 8))
    with pytest.raises(ConnectivityError, match=r"singular \(5 timepoints, 8 regions\).*covariance_estimator='shrunk'"):
        connectivity_matrix(x, "partial correlation", covariance_estimator="empirical")
    assert np.isfinite(connectivity_matrix(x, "partial correlation")).all()


def test_fisher_z():
    r = np.array([[1.0, 0.5], [0.5, 1.0]])
    z = fisher_z(r)
    assert z[0, 1] == pytest.approx(np.arctanh(0.5))
    assert z[0, 0] == pytest.approx(np.arctanh(1 - 1e-7))
    assert fisher_z(-1.0, eps=1e-3) == pytest.approx(np.arctanh(-0.999))
    assert np.isnan(fisher_z(np.array([np.nan, 0.2]))[0])
    np.testing.assert_array_equal(r, [[1.0, 0.5], [0.5, 1.0]])
    with pytest.raises(ConnectivityError, match=r"'r' must hold correlations in \[-1, 1\]; got values up to 3"):
        fisher_z([0.1, 3.0])
    with pytest.raises(ConnectivityError, match=r"'eps' must be a number in \(0, 1\); got 0"):
        fisher_z(0.1, eps=0)


def test_vectorize_order_names_and_round_trip(rng):
    m = np.arange(16, dtype=float).reshape(4, 4)
    m = m + m.T
    values, names = vectorize(m, ["a", "b", "c", "d"])
    assert names == ["a--b", "a--c", "a--d", "b--c", "b--d", "c--d"]
    np.testing.assert_array_equal(values, [m[0, 1], m[0, 2], m[0, 3], m[1, 2], m[1, 3], m[2, 3]])
    np.testing.assert_array_equal(unvectorize(values, 4, diagonal=np.diag(m)), m)
    full, full_names = vectorize(m, include_diagonal=True)
    assert full_names[:5] == ["0--0", "0--1", "0--2", "0--3", "1--1"]
    np.testing.assert_array_equal(unvectorize(full, 4), m)
    stack = np.stack([m, 2 * m])
    np.testing.assert_array_equal(vectorize(stack)[0], np.stack([values, 2 * values]))
    np.testing.assert_array_equal(unvectorize(np.stack([values, 2 * values]), 4)[1][0, 1], 2 * m[0, 1])
    rows, cols = edge_indices(4)
    np.testing.assert_array_equal(m[rows, cols], values)


def test_vectorize_errors():
    with pytest.raises(ConnectivityError, match=r"'matrix' must be a square matrix .*got shape \(2, 3\)"):
        vectorize(np.zeros((2, 3)))
    with pytest.raises(ConnectivityError, match="'matrix' must be symmetric"):
        vectorize(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ConnectivityError, match=r"'region_names' must give one name per region \(2\); got 3"):
        vectorize(np.eye(2), ["a", "b", "c"])
    with pytest.raises(ConnectivityError, match="'region_names' must be unique"):
        vectorize(np.eye(2), ["a", "a"])
    with pytest.raises(ConnectivityError, match=r"'values' must have 6 entries \(off-diagonal\) or 10 .*got 5"):
        unvectorize(np.zeros(5), 4)
    with pytest.raises(ConnectivityError, match=r"'diagonal' must be a number or have n_regions=4 entries; got shape \(3,\)"):
        unvectorize(np.zeros(6), 4, diagonal=[1.0, 1.0, 1.0])
    with pytest.raises(ConnectivityError, match="'n_regions' must be a positive integer; got 0"):
        edge_indices(0)


NETS = ["prefrontal", "prefrontal", "prefrontal", "limbic", "limbic", "other"]


def _planted_z():
    m = np.zeros((6, 6))
    pfc, lim = [0, 1, 2], [3, 4]
    m[np.ix_(pfc, pfc)] = 0.6
    m[np.ix_(lim, lim)] = 0.4
    m[np.ix_(pfc, lim)] = m[np.ix_(lim, pfc)] = -0.2
    m[0, 3] = m[3, 0] = 0.1
    m[5, :] = m[:, 5] = 0.9
    np.fill_diagonal(m, 8.0)
    return m


def test_summary_indices_planted():
    out = summary_indices(_planted_z(), NETS)
    assert out["pfc_within"] == pytest.approx(0.6)
    assert out["limbic_within"] == pytest.approx(0.4)
    assert out["pfc_limbic"] == pytest.approx((5 * -0.2 + 0.1) / 6)


def test_region_strength_planted():
    s = region_pfc_limbic_strength(_planted_z(), NETS)
    np.testing.assert_allclose(s[:5], [(0.1 - 0.2) / 2, -0.2, -0.2, (0.1 - 0.4) / 3, -0.2])
    assert np.isnan(s[5])


def test_summary_skips_missing_regions():
    m = _planted_z()
    m[1, :] = m[:, 1] = np.nan
    assert summary_indices(m, NETS)["pfc_within"] == pytest.approx(0.6)
    assert np.isnan(region_pfc_limbic_strength(m, NETS)[1])


def test_summary_errors():
    m = _planted_z()
    with pytest.raises(ConnectivityError, match="at least 2 limbic regions with signal for the within-limbic index; got 1"):
        summary_indices(m, ["prefrontal"] * 3 + ["limbic", "other", "other"])
    with pytest.raises(ConnectivityError, match="at least 1 limbic region with signal; got 0"):
        region_pfc_limbic_strength(m, ["prefrontal"] * 3 + ["other"] * 3)
    with pytest.raises(ConnectivityError, match=r"'networks' labels must be one of .*got \['amygdala'\]"):
        summary_indices(m, NETS[:-1] + ["amygdala"])
    with pytest.raises(ConnectivityError, match=r"one label per region \(6\); got 2"):
        summary_indices(m, NETS[:2])
    m[0, 0] = np.inf
    with pytest.raises(ConnectivityError, match="'matrix_z' has infinite values"):
        summary_indices(m, NETS)


def test_edge_networks_all_forms():
    labels = edge_networks(6, NETS)
    _, names = vectorize(np.eye(6), list("abcdef"))
    assert labels == edge_networks(names, NETS, region_names=list("abcdef"))
    rows, cols = edge_indices(6)
    assert labels == edge_networks(np.column_stack([rows, cols]), NETS)
    assert labels[0] == "prefrontal-prefrontal"  # a--b
    assert labels[names.index("a--d")] == "prefrontal-limbic"
    assert edge_networks(["e--a"], NETS, region_names=list("abcdef")) == ["prefrontal-limbic"]
    assert labels[names.index("d--f")] == "limbic-other"
    assert labels.count("prefrontal-limbic") == 6


def test_edge_networks_errors():
    with pytest.raises(ConnectivityError, match="'edges' entry 'a--z' is not an edge name"):
        edge_networks(["a--z"], NETS, region_names=list("abcdef"))
    with pytest.raises(ConnectivityError, match=r"'edges' region indices must be in \[0, 5\]"):
        edge_networks(np.array([[0, 6]]), NETS)
    with pytest.raises(ConnectivityError, match=r"'edges' as an int must equal the number of regions \(6\); got 5"):
        edge_networks(5, NETS)
