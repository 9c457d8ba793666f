"""Known answers on the realistic simulator, with the default configuration.

The realistic mode plants its signals in smooth blobs around literature coordinates (not inside the
atlas's regions) and adds motion artefacts that realignment regressors cannot remove, so these tests
can fail when a default stops measuring the brain: the default pipeline must follow each run's latent
prefrontal-limbic coupling, its models must find the planted severity effect, and a null twin whose
head motion tracks severity must stay null, with or without the mean-FD covariate.
The studies are small (few participants, a coarse grid); the acquisition and artefacts are not.
"""

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from scipy import stats

from neurokit.config import Config
from neurokit.io import completed_runs
from neurokit.pipelines import participant as pp
from neurokit.pipelines.group import run_group

pytestmark = pytest.mark.slow

#: Multiband resting state as many current studies acquire it: TR 0.8 s, 4 minutes.
STUDY = dict(realism="realistic", t_r=0.8, n_volumes=300, resolution_mm=5, dynamics="broadband",
             artefact_scale=0.5, participant_labels="alphanumeric", n_subjects=32)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as c:
            yield c


def _study(root, client, **overrides):
    """Simulate a study and run the participant level with the default configuration."""
    from neurokit.simulate import simulate_dataset

    sim = simulate_dataset(root / "bids", **{**STUDY, **overrides})
    out = root / "out"
    # a group-level budget that fits CI (199 permutations); every other setting is the default, the 10 CV repeats
    # included (2 repeats of folds drawn without the target left the summary-index model at 0.30 and -0.09)
    config = Config().updated({"models.n_permutations": 199,
                               "models.targets": ["severity"], "report.enabled": False})
    summary = pp.run_participant(sim.root, out, config, client=client, progress=False)
    assert summary.n_failed == 0
    return sim, out, config


@pytest.fixture(scope="module")
def planted(tmp_path_factory, client):
    return _study(tmp_path_factory.mktemp("planted"), client, seed=5)


@pytest.fixture(scope="module")
def null_twin(tmp_path_factory, client):
    # nothing planted; heavier users move much more
    return _study(tmp_path_factory.mktemp("null"), client, seed=6, effect_size=0.0, motion_severity_coupling=1.5)


def _measured_vs_latent(sim, out) -> pd.DataFrame:
    rows = [{"participant_id": f"sub-{r['entities']['sub']}", "measured": r["summary"].get("idx_pfc_limbic"),
             "status": r["status"]} for r in completed_runs(out)]
    truth = sim.truth[["participant_id", "latent_coupling", "severity", "mean_fd"]]
    return pd.DataFrame(rows).merge(truth, on="participant_id")


def test_default_configuration_measures_the_planted_coupling(planted):
    sim, out, _ = planted
    table = _measured_vs_latent(sim, out)
    assert len(table) == STUDY["n_subjects"]
    fidelity = stats.spearmanr(table["measured"], table["latent_coupling"]).statistic
    # one study of 32: the Spearman's sampling SE is about 0.12. Seeds 5-8 gave 0.60/0.51/0.62/0.53 (mean 0.56)
    # before the simulator's physiology followed its recordings and 0.45/0.58/0.65/0.58 (mean 0.57) after
    # (docs/physio.md, "Simulated recordings"); the bound sits about one SE below that mean, not at a seed's draw
    assert fidelity >= 0.4, f"default pipeline's fidelity to the planted coupling is {fidelity:.2f}"


def test_default_models_recover_the_planted_severity_effect(planted, client):
    sim, out, config = planted
    assert run_group(sim.root, out, config, client=client) == 0
    summary = pd.read_csv(out / "group" / "models" / "summary.tsv", sep="\t").set_index("feature_set")
    # the prefrontal-limbic edges, the models neurokit is built around, find it beyond the motion confounds
    assert summary.loc["pfc_limbic_edges", "p_value"] < 0.05
    assert summary.loc["pfc_limbic_edges", "mean"] > 0.3  # Spearman of out-of-fold predictions
    # the few summary indices are weaker at 32 participants (0.16, p 0.12 here) since the folds no longer
    # follow stage (which tracks severity): part of their former 0.3 was the fold bias the null did not share
    assert summary.loc["summary_indices", "mean"] > 0.1


@pytest.mark.parametrize("covariates", [["age", "sex", "mean_fd"], ["age", "sex"]])
def test_null_twin_does_not_report_motion_as_connectivity(null_twin, client, covariates, tmp_path):
    sim, out, config = null_twin
    table = _measured_vs_latent(sim, out)
    assert stats.spearmanr(table["mean_fd"], table["severity"]).statistic > 0.6  # motion does track severity
    config = config.updated({"models.covariates": covariates, "models.feature_sets": ["summary_indices",
                                                                                       "pfc_limbic_edges"]})
    run_group(sim.root, out, config, client=client)
    summary = pd.read_csv(out / "group" / "models" / "summary.tsv", sep="\t")
    fitted = summary[summary["status"] == "fitted"]
    assert len(fitted) == 2
    assert (fitted["p_value"] >= 0.05).all(), fitted[["feature_set", "mean", "p_value"]].to_string()
