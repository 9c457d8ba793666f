"""Scan-derived HRV in the features table, the hrv role, the feature sets, the models and the
descriptive statistics (issue 21, part 3). Derivatives are written with neurokit.io.write_physio
from PhysioResult objects with known values; the model tests draw their own tables."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neurokit.config import DEFAULT_STAGE_LEVELS as STAGES
from neurokit.config import Config
from neurokit.io import SCAN_COLUMNS, DerivativeNames, atomic_write_json, atomic_write_tsv, build_features, \
    load_phenotype, write_physio
from neurokit.io._records import Run
from neurokit.models import ModelError, cross_validate_model, feature_columns, fit_models, hrv_agreement, \
    hrv_relations
from neurokit.physio import PhysioIssue, PhysioResult, session_summary

REGIONS = ["L_dlPFC", "L_vmPFC", "R_vmPFC", "L_amygdala", "R_amygdala", "L_hippocampus", "L_M1", "R_M1"]
NETWORKS = ["prefrontal"] * 3 + ["limbic"] * 3 + ["other"] * 2
SPACE = "MNI152NLin2009cAsym"


def _physio(usable, rmssd, duration, hr=62.0, hf=400.0, resp=14.0, resp_duration=None):
    measures = {"heart_rate": hr, "rmssd": rmssd, "sdnn": rmssd * 1.3, "hf_power": hf, "log_hf_power": math.log(hf),
                "respiratory_rate": resp, "n_beats": int(duration), "rejected_fraction": 0.02,
                "quality_index": 0.9, "duration": duration,
                "respiratory_duration": duration if resp_duration is None else resp_duration}
    if usable:
        return PhysioResult(usable=True, measures=measures)
    return PhysioResult.unusable(PhysioIssue("quality", "too many rejected beats", True),
                                 measures={**measures, "rmssd": math.nan, "heart_rate": math.nan})


def fabricate(root: Path, runs, phenotype):
    """Participant-level derivatives of ``runs``: ``[(sub, ses, run, status, PhysioResult or None)]``."""
    rng = np.random.default_rng(0)
    out, bids = root / "out", root / "bids"
    bids.mkdir(parents=True)
    for sub, ses, number, status, physio in runs:
        ent = [("sub", sub)] + ([("ses", ses)] if ses else []) + [("task", "rest"), ("run", number), ("space", SPACE)]
        stem = "_".join(f"{k}-{v}" for k, v in ent)
        func = out / f"sub-{sub}" / (f"ses-{ses}" if ses else "") / "func"
        relmat = func / f"{stem}_seg-pfclimbic_meas-correlation_desc-simple_relmat.tsv"
        atomic_write_tsv(relmat, pd.DataFrame(np.corrcoef(rng.standard_normal((len(REGIONS), 60))), columns=REGIONS))
        atomic_write_json(relmat.with_suffix(".json"), {"Atlas": "pfclimbic", "Regions": REGIONS, "Networks": NETWORKS})
        qc = func / f"{stem}_desc-qc_metrics.json"
        atomic_write_json(qc, {"mean_fd": 0.1, "max_fd": 0.4, "percent_censored": 1.0, "tDOFRemaining": 60})
        outputs = {"relmat:correlation": str(relmat), "qc": str(qc)}
        if physio is not None:
            run = Run(tuple(ent), func / f"{stem}_desc-preproc_bold.nii.gz", None, func / "c.tsv", None,
                      func / "m.nii.gz", 2.0, 150)
            physio.run_id = stem
            tsv, _ = write_physio(DerivativeNames(out, run, "pfclimbic", "simple"), physio)
            outputs["physio"] = str(tsv)
        atomic_write_json(out / "logs" / "runs" / f"{stem}.json", {
            "run_id": stem, "status": status, "reasons": ["mean FD 0.9 mm > 0.5 mm"] if status != "ok" else [],
            "entities": dict(ent), "outputs": outputs, "summary": {"idx_pfc_limbic": 0.1}})
    pd.DataFrame(phenotype).to_csv(bids / "participants.tsv", sep="\t", index=False, na_rep="n/a")
    (bids / "dataset_description.json").write_text(json.dumps({"Name": "x", "BIDSVersion": "1.9.0"}))
    return bids, out


def _dataset(tmp_path, with_hrv):
    runs = [
        # sub-01 ses-1: two usable runs of unequal length and an unusable one; ses-2: a run excluded for motion
        ("01", "1", "1", "ok", _physio(True, 40.0, 300.0)),
        ("01", "1", "2", "ok", _physio(True, 20.0, 100.0, hr=70.0)),
        ("01", "1", "3", "ok", _physio(False, 90.0, 300.0)),
        ("01", "2", "1", "ok", _physio(True, 30.0, 240.0)),
        ("01", "2", "2", "excluded", _physio(True, 90.0, 300.0)),
        # sub-02 ses-1: no physiology measured (an older run); ses-2: measured, none usable
        ("02", "1", "1", "ok", None),
        ("02", "2", "1", "ok", _physio(False, 50.0, 300.0)),
    ]
    people = [{"participant_id": "sub-01", "stage": "active", "age": 30, "sex": "F", "bdnf": 21.0},
              {"participant_id": "sub-02", "stage": "control", "age": 31, "sex": "M", "bdnf": 22.0}]
    if with_hrv:
        people[0]["hrv"], people[1]["hrv"] = 45.0, 55.0
    return fabricate(tmp_path, runs, people), runs


def _rows(runs, sub, ses, statuses=("ok",)):
    return [p for s, x, _, status, p in runs if s == sub and x == ses and status in statuses and p is not None]


def test_scan_columns_are_the_session_summary_of_the_included_runs(tmp_path):
    (bids, out), runs = _dataset(tmp_path, with_hrv=False)
    config = Config()
    features, _, _ = build_features(out, config, load_phenotype(bids, config.columns))
    assert set(SCAN_COLUMNS) | {"scan_hrv"} <= set(features.columns)
    assert len(features) == 6  # the excluded run has no row
    by_session = features.groupby("session_id")
    s11 = features[(features["participant_id"] == "sub-01") & (features["session_id"] == "ses-1")]
    assert len(s11) == 3 and s11[list(SCAN_COLUMNS)].nunique().max() == 1  # one session, one value, every run
    expected = session_summary(_rows(runs, "01", "1"))
    for column, (key, _, _) in SCAN_COLUMNS.items():
        assert s11[column].iloc[0] == pytest.approx(expected[key]), column
    assert s11["scan_rmssd"].iloc[0] == pytest.approx((40 * 300 + 20 * 100) / 400)  # weighted by usable duration
    assert s11["scan_physio_runs"].iloc[0] == 2 and s11["scan_physio_duration"].iloc[0] == 400.0
    # ln RMSSD: the duration-weighted mean of the runs' logs (as log_hf_power), not the log of the mean
    assert s11["scan_hrv"].iloc[0] == pytest.approx((math.log(40) * 300 + math.log(20) * 100) / 400)
    # the run excluded for motion does not count in its session's included rows
    s12 = features[(features["participant_id"] == "sub-01") & (features["session_id"] == "ses-2")]
    assert s12["scan_rmssd"].iloc[0] == pytest.approx(30.0)
    # no physiology measured: NaN everywhere, the count too; measured but none usable: NaN measures, 0 runs
    s21 = features[(features["participant_id"] == "sub-02") & (features["session_id"] == "ses-1")].iloc[0]
    assert all(math.isnan(s21[c]) for c in [*SCAN_COLUMNS, "scan_hrv"])
    s22 = features[(features["participant_id"] == "sub-02") & (features["session_id"] == "ses-2")].iloc[0]
    assert s22["scan_physio_runs"] == 0 and math.isnan(s22["scan_rmssd"]) and math.isnan(s22["scan_hrv"])
    assert math.isnan(s22["scan_physio_duration"])
    assert by_session.ngroups == 2
    # with the excluded runs given rows, the included rows keep their values and the excluded one sees all runs
    every, _, _ = build_features(out, config, load_phenotype(bids, config.columns), include_excluded=True)
    kept = every[~every["qc_excluded"]].reset_index(drop=True)
    pd.testing.assert_series_equal(kept["scan_rmssd"], features["scan_rmssd"], check_names=False)
    flagged = every[every["qc_excluded"]].iloc[0]
    assert flagged["scan_rmssd"] == pytest.approx(session_summary(_rows(runs, "01", "2", ("ok", "excluded")))["rmssd"])


def test_a_missing_or_broken_physio_file_is_a_session_without_physiology_not_a_failure(tmp_path, caplog):
    (bids, out), _ = _dataset(tmp_path, with_hrv=False)
    gone = next(out.glob("sub-01/ses-2/func/*run-1*_desc-physio_metrics.tsv"))
    gone.unlink()
    doubled = next(out.glob("sub-02/ses-2/func/*_desc-physio_metrics.tsv"))
    table = pd.read_csv(doubled, sep="\t")
    pd.concat([table, table]).to_csv(doubled, sep="\t", index=False)
    edited = next(out.glob("sub-01/ses-1/func/*run-1*_desc-physio_metrics.tsv"))
    table = pd.read_csv(edited, sep="\t", dtype=str)
    table["rmssd"] = "abc"
    table.to_csv(edited, sep="\t", index=False)
    features, _, _ = build_features(out, Config())
    first = features[(features["participant_id"] == "sub-01") & (features["session_id"] == "ses-1")].iloc[0]
    assert first["scan_rmssd"] == pytest.approx(20.0)  # the edited value is not a number: that run's RMSSD is unknown
    assert first["scan_heart_rate"] == pytest.approx((62 * 300 + 70 * 100) / 400)
    row = features[(features["participant_id"] == "sub-01") & (features["session_id"] == "ses-2")].iloc[0]
    assert math.isnan(row["scan_rmssd"]) and math.isnan(row["scan_physio_runs"])
    assert "cannot be read" in caplog.text and gone.name in caplog.text
    assert "has 2 rows and a 'usable' column, not one row" in caplog.text
    assert features.loc[features["participant_id"] == "sub-02", "scan_physio_runs"].isna().all()


def test_hrv_role_is_filled_from_the_scan_only_without_a_phenotype_hrv(tmp_path):
    (bids, out), _ = _dataset(tmp_path / "a", with_hrv=False)
    config = Config()
    features, _, networks = build_features(out, config, load_phenotype(bids, config.columns))
    pd.testing.assert_series_equal(features["hrv"], features["scan_hrv"], check_names=False)
    assert features.attrs["hrv_source"] == {"hrv": "scan:log_rmssd", "scan_hrv": "scan:log_rmssd"}
    sidecar = features.attrs["sidecar"]
    assert sidecar["HRVSource"]["hrv"] == "scan:log_rmssd"
    assert sidecar["ScanPhysiology"]["scan_rmssd"]["Units"] == "ms"
    assert sidecar["ScanPhysiology"]["scan_hrv"]["Units"] == "ln(ms)"
    json.dumps(sidecar)  # written into features.json as is
    # one column, one measure: the scan copy is not a second feature
    assert feature_columns(features, "biomarkers", networks) == ["bdnf", "hrv"]
    assert "scan_hrv" not in feature_columns(features, "combined", networks)

    (bids, out), _ = _dataset(tmp_path / "b", with_hrv=True)
    features, _, networks = build_features(out, config, load_phenotype(bids, config.columns))
    assert features.loc[features["participant_id"] == "sub-01", "hrv"].eq(45.0).all()
    assert features.attrs["hrv_source"]["hrv"] == "phenotype"
    assert feature_columns(features, "biomarkers", networks) == ["bdnf", "hrv", "scan_hrv"]
    combined = feature_columns(features, "combined", networks)
    assert {"hrv", "scan_hrv", "bdnf", "idx_pfc_limbic"} <= set(combined)
    assert any(c.startswith("edge__") for c in combined)

    other = config.updated({"models.scan_hrv": "log_hf_power"})
    features, _, _ = build_features(out, other, load_phenotype(bids, config.columns))
    pd.testing.assert_series_equal(features["scan_hrv"], features["scan_log_hf_power"], check_names=False)
    assert features.attrs["hrv_source"]["scan_hrv"] == "scan:log_hf_power"


def test_no_physiology_at_all_leaves_hrv_missing_and_says_so(tmp_path):
    runs = [(f"{i:02d}", None, "1", "ok", None) for i in range(1, 4)]
    bids, out = fabricate(tmp_path, runs, [{"participant_id": f"sub-{i:02d}", "stage": "active"} for i in range(1, 4)])
    config = Config()
    features, _, networks = build_features(out, config, load_phenotype(bids, config.columns))
    assert features["scan_hrv"].isna().all() and features["hrv"].isna().all()
    assert features.attrs["hrv_source"]["hrv"] == "none"


def _table(n=64, sessions=1, effect=1.0, missing=0.0, seed=0, phenotype_hrv=False):
    """A features table drawn here: stage lowers ln RMSSD by ``effect`` SDs per step away from control."""
    rng = np.random.default_rng(seed)
    rows = []
    shift = {"control": 0.0, "active": -1.0, "early_abstinence": -0.6, "sustained_remission": -0.3}
    for i in range(n):
        person = rng.normal(0, 0.3)
        for s in range(sessions):
            stage = STAGES[(i + s) % 4]
            scan = 3.6 + effect * shift[stage] + person + rng.normal(0, 0.4)
            rows.append({"participant_id": f"sub-{i:03d}", "session_id": f"ses-{s + 1}" if sessions > 1 else None,
                         "run_id": f"sub-{i:03d}_ses-{s + 1}", "stage": stage, "age": 20 + i % 30, "sex": "FM"[i % 2],
                         "bdnf": rng.normal(20, 2), "scan_hrv": scan if rng.uniform() >= missing else math.nan,
                         "hrv": math.exp(scan) + rng.normal(5, 4) if phenotype_hrv else math.nan,
                         "edge__L_vmPFC--L_amygdala": 0.2 + 0.1 * scan + rng.normal(0, 0.05),
                         "edge__L_dlPFC--L_amygdala": rng.normal(0.2, 0.1),
                         "idx_pfc_limbic": rng.normal(0.2, 0.1)})
    table = pd.DataFrame(rows)
    table["scan_rmssd"] = np.exp(table["scan_hrv"])
    table["stage"] = pd.Categorical(table["stage"], categories=STAGES, ordered=True)
    if not phenotype_hrv:
        table["hrv"] = table["scan_hrv"]  # what build_features does without a phenotype HRV
    return table


NETS = {"L_vmPFC": "prefrontal", "L_dlPFC": "prefrontal", "L_amygdala": "limbic"}
QUICK = {"cv_folds": 4, "cv_repeats": 2, "n_permutations": 49, "random_state": 0, "harmonize_site": False}


def test_missing_scan_hrv_drops_only_those_rows_and_nothing_is_learnt_from_them():
    table = _table(n=40, missing=0.25, phenotype_hrv=True)
    result = cross_validate_model(table, "stage", "biomarkers", NETS, **QUICK)
    lacking = int(table[["bdnf", "hrv", "scan_hrv"]].isna().any(axis=1).sum())
    assert lacking > 0 and result.metrics["excluded"] == {"missing features": lacking}
    assert result.metrics["n_rows"] == len(table) - lacking
    # rows without a value change nothing: the same model on the table without them is the same model
    complete = table.dropna(subset=["scan_hrv", "hrv"]).reset_index(drop=True)
    again = cross_validate_model(complete, "stage", "biomarkers", NETS, **QUICK)
    assert again.metrics["scores"] == result.metrics["scores"]
    assert again.metrics["p_value_permutation"] == result.metrics["p_value_permutation"]


def test_the_suite_runs_with_scan_hrv_missing_in_some_sessions_and_fits_it_longitudinally():
    table = _table(n=24, sessions=3, missing=0.2)
    suite = fit_models(table, NETS, targets=("stage",), feature_sets=("biomarkers", "combined"),
                       longitudinal_predictors=("stage",), **QUICK)
    assert set(suite.results) == {("stage", "biomarkers"), ("stage", "combined")}
    assert suite.results[("stage", "combined")].metrics["excluded"]["missing features"] > 0
    scan = suite.longitudinal["scan_hrv:stage"]
    assert scan["fitted"] and scan["outcome"] == "scan_hrv"
    active = next(p for p in scan["params"] if "active" in p["term"])
    assert active["coef"] < -0.5  # planted -1 (ln units) against control
    assert suite.longitudinal["stage"]["outcome"] == "idx_pfc_limbic"


@pytest.mark.parametrize("effect, found", [(1.5, True), (0.0, False)])
def test_a_planted_hrv_stage_relation_is_recovered_and_a_null_one_is_not(effect, found):
    table = _table(n=64, effect=effect, seed=3)
    result = cross_validate_model(table, "stage", "biomarkers", NETS, cv_folds=5, cv_repeats=3, n_permutations=99,
                                  random_state=0, harmonize_site=False)
    assert result.model.feature_names == ["bdnf", "hrv"]
    assert (result.metrics["p_value_permutation"] < 0.05) is found, result.metrics["p_value_permutation"]


def test_hrv_agreement_against_numpy_and_scipy():
    table = _table(n=50, phenotype_hrv=True, seed=1)
    out = hrv_agreement(table, scan_column="scan_rmssd", same_units=True, n_boot=200, n_permutations=199)
    diff = table["scan_rmssd"] - table["hrv"]
    assert out["unit"] == "participant-session" and out["n"] == 50
    assert out["spearman"] == pytest.approx(stats.spearmanr(table["scan_rmssd"], table["hrv"])[0])
    assert out["ci_low"] < out["spearman"] < out["ci_high"] and out["p_permutation"] == pytest.approx(1 / 200)
    assert out["mean_difference"] == pytest.approx(diff.mean()) and out["mean_difference"] == pytest.approx(-5, abs=1.5)
    assert out["loa_high"] - out["loa_low"] == pytest.approx(2 * 1.96 * diff.std(ddof=1))
    assert out["mean_difference_ci_low"] < out["mean_difference"] < out["mean_difference_ci_high"]
    other = hrv_agreement(table, scan_column="scan_hrv", n_boot=0, n_permutations=0)
    assert other["spearman"] == pytest.approx(out["spearman"])  # ranks: ln RMSSD and RMSSD agree alike
    assert other["mean_difference"] is None and other["ci_low"] is None and other["p_permutation"] is None
    json.dumps(out)
    # one phenotype HRV per participant and several scanned sessions: participants are the observations
    multi = _table(n=20, sessions=2, phenotype_hrv=True)
    multi["hrv"] = multi.groupby("participant_id")["hrv"].transform("first")
    assert hrv_agreement(multi, n_boot=0, n_permutations=0)["unit"] == "participant"
    with pytest.raises(ModelError, match="filled from the scan"):
        hrv_agreement(_table(n=10), scan_column="scan_rmssd")


def test_hrv_relations_table():
    table = _table(n=40, sessions=2, effect=1.0, seed=2)
    rel = hrv_relations(table, n_boot=100, n_permutations=99)
    assert list(rel.columns) == ["measure", "relation", "n", "n_participants", "statistic", "value", "ci_low",
                                 "ci_high", "p_permutation"]
    vmpfc = rel[rel["relation"].str.startswith("vmPFC-amygdala")].iloc[0]
    assert vmpfc["relation"] == "vmPFC-amygdala (1 edges)" and vmpfc["n"] == 80 and vmpfc["n_participants"] == 40
    assert vmpfc["value"] == pytest.approx(stats.spearmanr(table["scan_hrv"], table["edge__L_vmPFC--L_amygdala"])[0])
    assert vmpfc["p_permutation"] == pytest.approx(0.01) and vmpfc["ci_low"] < vmpfc["value"] < vmpfc["ci_high"]
    index = rel[rel["relation"] == "idx_pfc_limbic"].iloc[0]
    assert index["p_permutation"] > 0.01  # nothing planted there
    stage = rel[rel["relation"] == "stage"].iloc[0]
    h = stats.kruskal(*[table.loc[table["stage"] == s, "scan_hrv"] for s in STAGES])[0]
    assert stage["statistic"] == "epsilon_squared" and stage["value"] == pytest.approx(h / 79)
    assert stage["p_permutation"] < 0.05
    medians = rel[rel["relation"].str.startswith("stage=")]
    assert list(medians["relation"]) == [f"stage={s}" for s in STAGES]
    control = medians.iloc[0]
    assert control["value"] == pytest.approx(table.loc[table["stage"] == "control", "scan_hrv"].median())
    with pytest.raises(ModelError, match="no column"):
        hrv_relations(table.drop(columns="scan_hrv"))


def test_a_model_whose_hrv_was_the_scans_refuses_features_whose_hrv_is_the_phenotypes(tmp_path):
    from neurokit.models import load_model, predict, save_model

    table = _table(n=24)
    table.attrs["hrv_source"] = {"hrv": "scan:log_rmssd", "scan_hrv": "scan:log_rmssd"}
    result = cross_validate_model(table, "stage", "biomarkers", NETS, **{**QUICK, "n_permutations": 0})
    assert result.metrics["hrv_source"] == {"hrv": "scan:log_rmssd"}  # scan_hrv is not a feature here
    model = load_model(save_model(result, tmp_path / "m"))
    assert model.hrv_source == {"hrv": "scan:log_rmssd"}
    assert predict(model, table)["y_pred"].notna().all()
    other = table.copy()
    other.attrs["hrv_source"] = {"hrv": "phenotype", "scan_hrv": "scan:log_rmssd"}
    with pytest.raises(ModelError, match=r"'hrv' feature was 'scan:log_rmssd' in training but is 'phenotype'"):
        predict(model, other)
    other.attrs["hrv_source"] = {"hrv": "none", "scan_hrv": "scan:log_rmssd"}  # no HRV at all: no prediction
    other["hrv"] = math.nan
    assert set(predict(model, other)["excluded_reason"]) == {"missing features, covariates or site"}
