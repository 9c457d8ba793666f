"""The calibration benchmark's own pieces: its null families are null, its planted twins are
not, its tables follow the features layout, and its binomial interval is Clopper-Pearson's."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_calibration.py"
if not _PATH.exists():  # an installed package without the repository's benchmarks folder
    pytest.skip("benchmarks/bench_calibration.py is not in this checkout", allow_module_level=True)
_spec = importlib.util.spec_from_file_location("bench_calibration", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

STAGES = ("control", "active", "early_abstinence", "sustained_remission")


@pytest.fixture(scope="module")
def layout():
    return bench.atlas_layout("pfclimbic")


def _study(family, layout, n=240, index=0):
    regions, networks = layout
    return bench.generate_study(family, index, regions=regions, networks=networks, stage_levels=STAGES,
                                n_participants=n)


def _deficit_edges(features, layout):
    """Mean of the edges the planted deficit weakens, per row."""
    regions, networks = layout
    mask = bench._deficit_mask(regions, networks)
    cols = [f"edge__{regions[a]}--{regions[b]}" for a, b in zip(*np.triu_indices(len(regions), 1)) if mask[a, b]]
    assert cols
    return features[cols].mean(axis=1).to_numpy()


def test_null_twin_is_null_and_planted_twin_is_not(layout):
    null, latent_null = _study("imbalance", layout)
    planted, latent = _study("imbalance+effect", layout)
    severity = null["severity"].to_numpy()
    # the twins share everything the seed draws but the deficit
    assert np.array_equal(severity, planted["severity"].to_numpy())
    assert np.all(latent_null == 0)
    assert stats.spearmanr(latent, planted["severity"]).statistic > 0.95
    # about 4 standard errors: the null's deficit edges carry no severity, the planted's a lot
    limit = 4 / np.sqrt(len(severity))
    assert abs(stats.spearmanr(_deficit_edges(null, layout), severity).statistic) < limit
    assert stats.spearmanr(_deficit_edges(planted, layout), severity).statistic < -0.5
    codes = null["stage"].cat.codes.to_numpy()
    assert stats.kruskal(*[_deficit_edges(null, layout)[codes == c] for c in range(4)]).pvalue > 1e-3


def test_motion_family_reaches_the_edges_through_motion_only(layout):
    features, _ = _study("motion_saturating", layout)
    edges = _deficit_edges(features, layout)
    severity = features["severity"].to_numpy()
    log_fd = np.log(features["mean_fd"].to_numpy())
    assert stats.spearmanr(edges, severity).statistic > 0.2  # motion makes the edges track severity ...
    design = np.column_stack([np.ones(len(log_fd)), log_fd])
    resid = edges - design @ np.linalg.lstsq(design, edges, rcond=None)[0]
    assert abs(stats.pearsonr(resid, severity).statistic) < 4 / np.sqrt(len(severity))  # ... and nothing else


def test_features_follow_the_group_layout(layout):
    regions, networks = layout
    features, _ = _study("sessions", layout, n=30)
    assert list(features.columns[:3]) == ["participant_id", "session_id", "run_id"]
    assert features["run_id"].is_unique
    assert features.groupby("participant_id").size().between(2, 3).all()
    for column in ("severity", "stage", "age", "sex", "site", "bdnf", "hrv", "mean_fd", "max_fd",
                   "percent_censored", "tdof_remaining", "idx_pfc_within", "idx_limbic_within", "idx_pfc_limbic"):
        assert features[column].notna().all(), column
    assert list(features["stage"].cat.categories) == list(STAGES)
    edges = [c for c in features.columns if c.startswith("edge__")]
    assert len(edges) == len(regions) * (len(regions) - 1) // 2
    assert {r for c in edges for r in c[len("edge__"):].split("--")} == set(regions)
    assert "stage" not in _study("severity_only", layout, n=30)[0].columns


def test_censoring_family_drops_volumes_of_heavy_movers(layout):
    features, _ = _study("censoring", layout, n=40)
    rho = stats.spearmanr(features["severity"], features["percent_censored"]).statistic
    assert rho > 0.3
    assert features["percent_censored"].max() <= 50


@pytest.mark.parametrize("k, n", [(0, 10), (1, 10), (5, 100), (37, 60), (60, 60)])
def test_clopper_pearson_matches_scipy(k, n):
    expected = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert bench.clopper_pearson(k, n) == pytest.approx((expected.low, expected.high), abs=1e-10)


def test_read_metrics_takes_old_and_new_keys():
    old = {"primary_metric": "spearman", "p_value": 0.2, "p_value_permutation": 0.1, "p_value_fdr": 0.3,
           "scores": {"spearman": {"mean": 0.1, "null_mean": 0.0}},
           "beyond_confounds": {"computed": True, "p_permutation": 0.2, "p_parametric": 0.04, "confounds": ["mean_fd"]}}
    row = bench.read_metrics(old)
    assert row["p_permutation"] == 0.1 and row["p_beyond_permutation"] == 0.2 and row["p_beyond_confounds"] is None
    row = bench.read_metrics({**old, "p_value_beyond_confounds": 0.25, "beyond_confounds": None})
    assert row["p_beyond_confounds"] == 0.25 and row["p_beyond_permutation"] is None


def test_cells_flag_liberal_conservative_and_motion_made_rejections():
    liberal = bench.rate([0.01] * 30 + [0.5] * 70, 0.05)  # 30 % at 0.05: liberal
    conservative = bench.rate([0.5] * 200, 0.05)  # none at 0.05 out of 200: conservative
    nominal = bench.rate([0.01] * 5 + [0.5] * 95, 0.05)
    assert bench._cell(liberal, 0.05, planted=False).endswith("**!**")
    assert bench._cell(conservative, 0.05, planted=False).endswith("(c)")
    assert bench._cell(nominal, 0.05, planted=False).endswith("]")
    assert bench._cell(liberal, 0.05, planted=False, motion_power=True).endswith("†")
    assert bench._cell(liberal, 0.05, planted=True).endswith("]")
