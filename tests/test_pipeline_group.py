"""Group pipeline: features from participant derivatives, models, predict and its provenance checks (on fabricated derivatives)."""

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neurokit import __version__
from neurokit.cli import main
from neurokit.config import DEFAULT_STAGE_LEVELS as STAGES
from neurokit.config import Config, ConfigError, load_config
from neurokit.io import atomic_write_json, atomic_write_tsv
from neurokit.models import ModelError, check_fingerprint, fingerprint_differences, load_model, model_hash
from neurokit.io import participant_fingerprint
from neurokit.io import GroupError, build_features
from neurokit.pipelines.group import run_group

REGIONS = ["L_dlPFC", "R_dlPFC", "L_vmPFC", "R_vmPFC", "L_amygdala", "R_amygdala", "L_hippocampus",
           "R_hippocampus", "L_M1", "R_M1"]
NETWORKS = ["prefrontal"] * 4 + ["limbic"] * 4 + ["other"] * 2
COUPLING = {"control": 0.6, "active": 0.0, "early_abstinence": 0.2, "sustained_remission": 0.4}


def _matrix(rng, coupling, measure="correlation"):
    """A correlation (or covariance) matrix from 200 samples with planted prefrontal-limbic coupling."""
    n = len(REGIONS)
    latent = rng.standard_normal((200, 2))
    pfc = latent[:, 0]
    limbic = coupling * latent[:, 0] + np.sqrt(1 - coupling**2) * latent[:, 1]
    base = np.column_stack([pfc] * 4 + [limbic] * 4 + [rng.standard_normal(200)] * 2)
    ts = base + 0.8 * rng.standard_normal((200, n))
    return np.cov(ts.T) if measure == "covariance" else np.corrcoef(ts.T)


def fabricate(root: Path, n_subjects=32, seed=0, atlas="pfclimbic", excluded=("sub-03",), measure="correlation",
              settings=None, first=1, software=None, config=None):
    """Participant-level derivatives + participants.tsv with a planted stage/severity effect.

    ``measure='covariance'`` writes covariance matrices (what the participant level stores
    for the tangent measure) instead of correlations. ``settings`` are configuration
    overrides the derivatives are recorded as made with (config.yaml, the completion records'
    participant-level hash, the matrices' sidecars), or ``config`` the whole configuration;
    participants are numbered from ``first``.
    """
    from neurokit.denoise import resolve_strategy

    config = config or Config().updated({"atlas.name": atlas, **(settings or {})})
    details = {**resolve_strategy(**config.denoise.select_kwargs(config.modelled_strategy)), "n_regressors": 9}
    software = software or {"neurokit": "0.1.0", "nilearn": "0.14.0", "numpy": "2.0.0"}
    rng = np.random.default_rng(seed)
    bids, out = root / "bids", root / "out"
    bids.mkdir(parents=True)
    people = []
    for i in range(first - 1, first - 1 + n_subjects):
        sub = f"{i + 1:02d}"
        stage = STAGES[i % 4]
        severity = 0.0 if stage == "control" else 10 - 3 * STAGES.index(stage) + rng.normal(0, 0.5)
        people.append({"participant_id": f"sub-{sub}", "age": 20 + i % 30, "sex": "FM"[i % 2],
                       "site": "AB"[(i // 4) % 2], "severity": severity, "stage": stage,
                       "bdnf": 20 + 2 * STAGES.index(stage) + rng.normal(), "hrv": rng.normal(50, 5),
                       "abstinence_days": "n/a"})
        matrix = _matrix(rng, COUPLING[stage], measure)
        func = out / f"sub-{sub}" / "func"
        stem = f"sub-{sub}_task-rest_space-MNI152NLin2009cAsym"
        relmat = func / f"{stem}_seg-{atlas}_meas-{measure}_desc-simple_relmat.tsv"
        atomic_write_tsv(relmat, pd.DataFrame(matrix, columns=REGIONS))
        correlation = matrix / np.sqrt(np.outer(np.diag(matrix), np.diag(matrix)))
        atomic_write_json(relmat.with_suffix(".json"), {
            "Atlas": atlas, "Regions": REGIONS, "Networks": NETWORKS, "Strategy": config.modelled_strategy,
            "StrategyDetails": details, "SoftwareVersions": software, "ParticipantConfigHash": config.run_hash()})
        qc = func / f"{stem}_desc-qc_metrics.json"
        fd = float(rng.uniform(0.05, 0.3))
        atomic_write_json(qc, {"mean_fd": fd, "max_fd": 4 * fd, "percent_censored": 1.0, "tDOFRemaining": 60})
        status = "excluded" if f"sub-{sub}" in excluded else "ok"
        atomic_write_json(out / "logs" / "runs" / f"{stem}.json", {
            "run_id": stem, "status": status, "reasons": ["mean FD 0.9 mm > 0.5 mm"] if status != "ok" else [],
            "entities": {"sub": sub, "task": "rest", "space": "MNI152NLin2009cAsym"},
            "config_hash": config.run_hash(),
            "outputs": {f"relmat:{measure}": str(relmat), f"relmat:{measure}:json": str(relmat.with_suffix(".json")),
                        "qc": str(qc)},
            "summary": {"idx_pfc_limbic": float(np.arctanh(correlation[:4, 4:8]).mean())},
        })
    pd.DataFrame(people).to_csv(bids / "participants.tsv", sep="\t", index=False)
    (bids / "dataset_description.json").write_text(json.dumps({"Name": "x", "BIDSVersion": "1.9.0"}))
    (out / "config.yaml").write_text(config.to_yaml())
    return bids, out


def small_models(config, **extra):
    return config.updated({"models.cv_folds": 4, "models.cv_repeats": 2, "models.n_permutations": 9,
                           "models.targets": ["severity", "stage"],
                           "models.feature_sets": ["pfc_limbic_edges", "biomarkers"], **extra})


def test_build_features_joins_roles_and_lists_exclusions(tmp_path):
    from neurokit.io import load_phenotype

    bids, out = fabricate(tmp_path, n_subjects=8)
    config = Config()
    features, exclusions, networks = build_features(out, config, load_phenotype(bids, config.columns))
    assert len(features) == 7 and list(exclusions["run_id"]) == ["sub-03_task-rest_space-MNI152NLin2009cAsym"]
    assert "mean FD" in exclusions.loc[0, "reason"]
    assert networks == dict(zip(REGIONS, NETWORKS))
    assert list(features.columns[:3]) == ["participant_id", "session_id", "run_id"]
    assert str(features["stage"].dtype) == "category" and features["stage"].cat.ordered
    n_edges = len(REGIONS) * (len(REGIONS) - 1) // 2
    assert sum(c.startswith("edge__") for c in features.columns) == n_edges
    row = features.iloc[0]
    matrix = pd.read_csv(next(out.glob("sub-01/func/*relmat.tsv")), sep="\t").to_numpy()
    assert row["edge__L_dlPFC--L_amygdala"] == pytest.approx(np.arctanh(matrix[0, 4]))
    assert row["participant_id"] == "sub-01" and row["sex"] == "F"


def test_runs_of_different_tasks_are_not_mixed(tmp_path):
    bids, out = fabricate(tmp_path, n_subjects=4)
    record_path = next((out / "logs" / "runs").glob("sub-02*.json"))
    record = json.loads(record_path.read_text())
    record["entities"]["task"] = "nback"
    record_path.write_text(json.dumps(record))
    with pytest.raises(GroupError, match=r"different kinds \(task-nback .*, task-rest .*\); .* choose one with --task"):
        build_features(out, Config())
    features, _, _ = build_features(out, Config().updated({"inputs.task": "rest"}))
    assert "sub-02" not in set(features["participant_id"])
    with pytest.raises(GroupError, match=r"no completed run with task='motor'"):
        build_features(out, Config().updated({"inputs.task": "motor"}))


def test_the_library_imports_no_pipeline_outside_the_cli():
    import ast

    import neurokit
    import neurokit.pipelines.group as group

    assert group.build_features is build_features and group.GroupError is GroupError  # one reader, one error
    root = Path(neurokit.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        # the command-line entry points compose the pipelines; an installed package also holds
        # the pipelines themselves (neurokit/pipelines/)
        if path.relative_to(root).parts[0] in ("cli", "pipelines"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.relative_to(root)}: {n}" for n in names if n.startswith("neurokit.pipelines")]
    assert offenders == []


def test_build_features_errors(tmp_path):
    with pytest.raises(GroupError, match="has no completed participant-level runs; run `neurokit BIDS_DIR"):
        build_features(tmp_path, Config())
    bids, out = fabricate(tmp_path, n_subjects=2, excluded=("sub-01", "sub-02"))
    with pytest.raises(GroupError, match="every completed run .* was excluded by the QC rules"):
        build_features(out, Config())
    bids, out = fabricate(tmp_path / "b", n_subjects=2, excluded=())
    with pytest.raises(GroupError, match="has no 'partial correlation' matrix; add 'partial correlation'"):
        build_features(out, Config().updated({"models.measure": "partial correlation"}))


@pytest.mark.slow
def test_run_group_writes_models_and_predict_applies_them(tmp_path, capsys):
    bids, out = fabricate(tmp_path, n_subjects=32)
    config = small_models(Config())
    assert run_group(bids, out, config) == 0
    group = out / "group"
    assert (group / "features.tsv").is_file() and (group / "exclusions.tsv").is_file()
    sidecar = json.loads((group / "features.json").read_text())  # no physiology here: hrv is the phenotype's
    assert sidecar["HRVSource"]["hrv"] == "phenotype" and sidecar["ScanPhysiology"]["scan_rmssd"]["Units"] == "ms"
    summary = pd.read_csv(group / "models" / "summary.tsv", sep="\t")
    assert set(summary["status"]) == {"fitted"} and len(summary) == 4
    folder = group / "models" / "stage" / "pfc_limbic_edges"
    for name in ("metrics.json", "predictions.tsv", "permutation_null.tsv", "patterns.tsv", "model/model.json"):
        assert (folder / name).is_file(), name
    predictions = pd.read_csv(folder / "predictions.tsv", sep="\t")
    assert len(predictions) == 31  # one run excluded by QC
    null = pd.read_csv(folder / "permutation_null.tsv", sep="\t")
    assert len(null) == 9
    severity = json.loads((group / "models" / "severity" / "pfc_limbic_edges" / "metrics.json").read_text())
    assert severity["primary_metric"] in severity["scores"]
    # p-values corrected across the 4 models (Benjamini-Hochberg), beside the raw ones and their floor
    expected = stats.false_discovery_control(summary["p_value"].to_numpy(), method="bh")
    np.testing.assert_allclose(summary["p_value_fdr"].to_numpy(), expected)
    assert (summary["p_value_floor"] == 0.1).all()
    assert severity["p_value_fdr"] == pytest.approx(
        summary.set_index(["target", "feature_set"]).loc[("severity", "pfc_limbic_edges"), "p_value_fdr"]
    )

    # the saved model predicts new participants' derivatives ...
    code = main(["predict", str(folder / "model"), str(bids), str(out)])
    assert code == 0
    assert "31 of 31 run(s) predicted" in capsys.readouterr().out
    table = pd.read_csv(out / "group" / "predictions" / "stage_pfc_limbic_edges.tsv", sep="\t")
    assert set(table["y_pred"]) <= set(STAGES)
    # ... and refuses derivatives made with another atlas
    bids2, out2 = fabricate(tmp_path / "other", n_subjects=8, atlas="power2011")
    code = main(["predict", str(folder / "model"), str(bids2), str(out2)])
    assert code == 2
    assert "  atlas.name: model 'pfclimbic', features 'power2011'\n" in capsys.readouterr().err


def test_missing_role_model_is_reported_not_fatal(tmp_path):
    bids, out = fabricate(tmp_path, n_subjects=16)
    table = pd.read_csv(bids / "participants.tsv", sep="\t").drop(columns=["bdnf", "hrv"])
    table.to_csv(bids / "participants.tsv", sep="\t", index=False)
    config = small_models(Config(), **{"models.targets": ["stage"], "models.n_permutations": 0})
    assert run_group(bids, out, config) == 0
    summary = pd.read_csv(out / "group" / "models" / "summary.tsv", sep="\t")
    row = summary.set_index("feature_set").loc["biomarkers"]
    assert row["status"] == "not fitted" and "biomarkers" in row["reason"] and "all missing" in row["reason"]


def test_failing_longitudinal_model_is_reported_and_summary_still_written(tmp_path, caplog):
    from neurokit.models import simulate_features
    from neurokit.pipelines.group import write_model_suite

    # an atlas without prefrontal/limbic labels, several sessions: no prefrontal-limbic index to model over time
    features, networks = simulate_features(24, n_sessions=2, random_state=3)
    features = features.drop(columns="idx_pfc_limbic")
    config = small_models(Config(), **{"models.targets": ["severity"], "models.n_permutations": 0,
                                       "models.feature_sets": ["summary_indices", "pfc_limbic_edges"]})
    networks = {region: "other" for region in networks}
    with caplog.at_level("WARNING", logger="neurokit.group"):
        rows = write_model_suite(features, networks, config, tmp_path / "models")
    summary = pd.read_csv(tmp_path / "models" / "summary.tsv", sep="\t").set_index("feature_set")
    assert list(summary["status"]) == ["fitted", "not fitted"] and [r["status"] for r in rows] == list(summary["status"])
    fitted = summary.loc["summary_indices"]  # what was tested, beside the score: chance, each p-value and the rule
    assert fitted["chance"] == 0 and fitted["p_value_rule"] in ("permutation", "max(permutation, beyond_confounds)")
    assert {"p_value_permutation", "p_value_beyond_confounds", "beyond_confounds_effect"} <= set(summary.columns)
    assert "prefrontal" in summary.loc["pfc_limbic_edges", "reason"]
    assert (tmp_path / "models" / "severity" / "summary_indices" / "model" / "model.json").is_file()
    longitudinal = json.loads((tmp_path / "models" / "longitudinal.json").read_text())
    assert longitudinal["fitted"] is False
    assert "needs column(s) ['idx_pfc_limbic']" in longitudinal["message"]
    assert "longitudinal model (stage): not fitted: longitudinal_model needs column(s)" in caplog.text


def test_run_group_tangent_measure_projects_covariances_in_each_fold(tmp_path):
    bids, out = fabricate(tmp_path, n_subjects=24, measure="covariance")
    config = small_models(Config(), **{"models.measure": "tangent", "models.targets": ["stage"],
                                       "models.feature_sets": ["pfc_limbic_edges", "all_edges"],
                                       "models.cv_repeats": 1, "models.n_permutations": 0})
    assert run_group(bids, out, config) == 0
    group = out / "group"
    features = pd.read_csv(group / "features.tsv", sep="\t")
    n = len(REGIONS)
    assert sum(c.startswith("cov__") for c in features.columns) == n * (n + 1) // 2
    assert not any(c.startswith("edge__") for c in features.columns)
    summary = pd.read_csv(group / "models" / "summary.tsv", sep="\t")
    assert set(summary["status"]) == {"fitted"} and len(summary) == 2
    folder = group / "models" / "stage" / "pfc_limbic_edges"
    patterns = pd.read_csv(folder / "patterns.tsv", sep="\t")
    edges = patterns[patterns["level"] == "feature"]
    assert len(edges) == 16 and edges["name"].str.startswith("edge__").all()  # 4 x 4 tangent edges
    assert set(edges["network"]) == {"limbic--prefrontal"}
    model = json.loads((folder / "model" / "model.json").read_text())
    assert model["measure"] == "tangent" and len(model["feature_names"]) == n * (n + 1) // 2
    assert len(model["model_features"]) == 16
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["n_features"] == 16 and metrics["n_rows"] == 23


def _add_strategy(out: Path, strategy="simple+gsr", excluded=("sub-05",), seed=1):
    """Make fabricated single-strategy derivatives two-strategy ones, as the participant level writes them:
    ``strategy`` gets its own (weakly coupled) matrices, tDOF and exclusions (``excluded``; sub-03 stays
    excluded under 'simple' only)."""
    from neurokit.io import strategy_output_key

    rng = np.random.default_rng(seed)
    config = load_config(out / "config.yaml").updated({"denoise.strategy": ["simple", strategy]})
    (out / "config.yaml").write_text(config.to_yaml())
    for path in sorted((out / "logs" / "runs").glob("*.json")):
        record = json.loads(path.read_text())
        record["config_hash"] = config.run_hash()
        sub = f"sub-{record['entities']['sub']}"
        relmat = Path(record["outputs"]["relmat:correlation"])
        other = relmat.with_name(relmat.name.replace("desc-simple", "desc-simpleGsr"))
        atomic_write_tsv(other, pd.DataFrame(_matrix(rng, 0.1), columns=REGIONS))
        atomic_write_json(other.with_suffix(".json"), {"Atlas": "pfclimbic", "Regions": REGIONS, "Networks": NETWORKS})
        key = strategy_output_key("relmat:correlation", strategy)
        record["outputs"][key] = str(other)
        status = "excluded" if sub in excluded else "ok"
        record["strategy"] = "simple"
        record["strategies"] = {
            "simple": {"status": record["status"], "reasons": record["reasons"], "summary": record["summary"],
                       "outputs": ["relmat:correlation"]},
            strategy: {"status": status, "reasons": ["too many volumes censored"] if status != "ok" else [],
                       "summary": {}, "outputs": [key]},
        }
        atomic_write_json(path, record)
        qc_path = Path(record["outputs"]["qc"])
        qc = json.loads(qc_path.read_text())
        qc.update(tDOFLost=40, Strategies={"simple": {"tDOFLost": 40, "tDOFRemaining": 60},
                                           strategy: {"tDOFLost": 70, "tDOFRemaining": 30, "percent_censored": 9.0,
                                                      "CensoredVolumes": [3, 4, 5, 6]}})
        atomic_write_json(qc_path, qc)


def test_group_models_the_chosen_strategy_only(tmp_path):
    from neurokit.connectivity import fisher_z, vectorize

    bids, out = fabricate(tmp_path, n_subjects=12)
    _add_strategy(out)
    both = Config().updated({"denoise.strategy": ["simple", "simple+gsr"]})
    features, exclusions, _ = build_features(out, both)
    assert features.attrs["strategy"] == "simple" and exclusions["run_id"].str.startswith("sub-03").all()
    gsr = both.updated({"models.strategy": "simple+gsr"})
    features, exclusions, _ = build_features(out, gsr)
    assert features.attrs["strategy"] == "simple+gsr"
    assert exclusions["run_id"].str.startswith("sub-05").all() and "sub-03" in set(features["participant_id"])
    assert (features["tdof_remaining"] == 30).all() and (features["percent_censored"] == 9.0).all()
    row = features[features["participant_id"] == "sub-01"].iloc[0]
    written = pd.read_csv(next(out.rglob("sub-01_*desc-simpleGsr_relmat.tsv")), sep="\t").to_numpy()
    expected, names = vectorize(fisher_z(written), REGIONS)
    np.testing.assert_allclose(row[["edge__" + n for n in names]].to_numpy(float), expected)

    unprocessed = Config().updated({"denoise.strategy": ["simple", "compcor"], "models.strategy": "compcor"})
    with pytest.raises(GroupError, match=r"was processed with the strategies \['simple', 'simple\+gsr'\], not "
                                         r"'compcor'; add 'compcor' to denoise.strategy and rerun"):
        build_features(out, unprocessed)


def test_run_group_writes_the_denoising_benchmark_and_names_the_modelled_strategy(tmp_path):
    from neurokit.io import load_phenotype
    from neurokit.qc import BENCHMARK_COLUMNS, qc_fc, qc_fc_summary

    bids, out = fabricate(tmp_path, n_subjects=16)
    _add_strategy(out)
    config = small_models(Config().updated({"denoise.strategy": ["simple", "simple+gsr"],
                                            "models.strategy": "simple+gsr", "exclusion.min_tdof": 40}),
                          **{"models.targets": ["severity"], "models.feature_sets": ["pfc_limbic_edges"]})
    assert run_group(bids, out, config) == 0
    group = out / "group"
    assert json.loads((group / "features.json").read_text())["Strategy"] == "simple+gsr"
    metrics = json.loads((group / "models" / "severity" / "pfc_limbic_edges" / "metrics.json").read_text())
    assert metrics["denoising_strategy"] == "simple+gsr"
    table = pd.read_csv(group / "denoising_benchmark.tsv", sep="\t")
    sidecar = json.loads((group / "denoising_benchmark.json").read_text())
    assert list(table.columns) == list(BENCHMARK_COLUMNS) and set(BENCHMARK_COLUMNS) <= set(sidecar)
    assert sidecar["ModelledStrategy"] == "simple+gsr" and sidecar["ModelledStrategyReason"] == "models.strategy"
    assert sidecar["QCFCCovariates"] == ["age", "sex"] and sidecar["NumberOfEdges"] == 45
    rows = table.set_index("strategy")
    assert rows.loc["simple", "n_runs"] == 15 and rows.loc["simple+gsr", "n_runs"] == 15
    assert rows.loc["simple", "n_runs_below_min_tdof"] == 0 and rows.loc["simple+gsr", "n_runs_below_min_tdof"] == 16
    # a censored volume is a degree of freedom lost too: 70 to regressors and filter + 4 censored
    assert rows.loc["simple+gsr", "tdof_lost_mean"] == 74 and rows.loc["simple", "tdof_lost_mean"] == 40
    # QC-FC of the table equals one computed directly from the features of that strategy
    features, _, _ = build_features(out, config, load_phenotype(bids, config.columns), strategy="simple")
    edges = features[[c for c in features if c.startswith("edge__")]].to_numpy(float)
    sex = (features["sex"] == "M").to_numpy(float)
    r, p = qc_fc(edges, features["mean_fd"].to_numpy(float), np.column_stack([features["age"], sex]),
                 return_pvalues=True)
    assert rows.loc["simple", "qcfc_median_abs"] == pytest.approx(qc_fc_summary(r, p)["median_abs_qcfc"], rel=1e-6)
    assert np.isfinite(rows["qcfc_distance_rho"]).all() and np.isfinite(rows["network_contrast"]).all()
    # the planted prefrontal-limbic coupling is weaker under the fabricated second strategy
    assert rows.loc["simple+gsr", "network_contrast"] > rows.loc["simple", "network_contrast"]


def test_group_report_lists_runs_as_the_modelled_strategy_saw_them(tmp_path):
    from neurokit.io import completed_runs, read_failures
    from neurokit.report import write_group_report
    from neurokit.report._group import _run_table

    bids, out = fabricate(tmp_path, n_subjects=8)
    _add_strategy(out)
    records, failures = completed_runs(out), read_failures(out)
    status = {s: _run_table(records, failures, None, None, s).set_index("subject")["status"]
              for s in ("simple", "simple+gsr")}
    assert status["simple"]["03"] == "excluded" and status["simple"]["05"] == "ok"
    assert status["simple+gsr"]["03"] == "ok" and status["simple+gsr"]["05"] == "excluded"
    tdof = _run_table(records, failures, None, None, "simple+gsr")["tdof_remaining"]
    assert (tdof == 30).all()
    config = Config().updated({"denoise.strategy": ["simple", "simple+gsr"], "models.strategy": "simple+gsr",
                               "models.targets": ["severity"], "models.feature_sets": ["pfc_limbic_edges"],
                               "models.cv_folds": 2, "models.cv_repeats": 1, "models.n_permutations": 0})
    run_group(bids, out, config)
    html = write_group_report(out, bids_dir=bids, config=config).read_text()
    assert '<section id="denoising">' in html and "simple+gsr (modelled)" in html


def test_build_features_can_keep_excluded_runs_apart(tmp_path):
    bids, out = fabricate(tmp_path, n_subjects=8, excluded=("sub-03", "sub-05"))
    record_path = next((out / "logs" / "runs").glob("sub-05*.json"))
    record = json.loads(record_path.read_text())
    del record["outputs"]["relmat:correlation"]  # too few volumes: QC written, no matrix
    record_path.write_text(json.dumps(record))
    every, exclusions, _ = build_features(out, Config(), include_excluded=True)
    assert list(every.loc[every["qc_excluded"], "participant_id"]) == ["sub-03", "sub-05"]
    assert len(exclusions) == 2
    only_ok, _, _ = build_features(out, Config())
    assert "qc_excluded" not in only_ok.columns
    ok_rows = every[~every["qc_excluded"]].drop(columns="qc_excluded").reset_index(drop=True)
    pd.testing.assert_frame_equal(ok_rows, only_ok)
    edges = [c for c in every.columns if c.startswith("edge__")]
    assert every.loc[every["participant_id"] == "sub-03", edges].notna().all(axis=None)
    assert every.loc[every["participant_id"] == "sub-05", edges].isna().all(axis=None)
    assert every.loc[every["participant_id"] == "sub-05", "mean_fd"].notna().all()


def test_run_group_writes_confound_checks(tmp_path):
    excluded = ("sub-02", "sub-06", "sub-10", "sub-14")  # all 'active': exclusion tracks stage
    bids, out = fabricate(tmp_path, n_subjects=16, excluded=excluded)
    config = small_models(Config(), **{"models.targets": ["severity", "stage"], "models.n_permutations": 0,
                                       "models.feature_sets": ["summary_indices"], "models.cv_folds": 3})
    assert run_group(bids, out, config) == 0
    checks = json.loads((out / "group" / "confounds.json").read_text())
    stage = checks["exclusion_bias"]["stage"]
    assert stage["n_excluded"] == 4 and stage["excluded_fraction"]["active"] == 1.0
    assert stage["sentence"].startswith("Exclusions were unevenly spread over stage")
    assert checks["exclusion_bias"]["severity"]["sentence"].startswith("Excluded runs had higher severity")
    # models.confounds (percent censored and tDOF are constant in these runs: no effect size, but listed)
    assert set(checks["covariate_associations"]["severity"]) == {"mean_fd", "max_fd", "percent_censored",
                                                                 "tdof_remaining", "age", "sex", "site"}
    features = pd.read_csv(out / "group" / "features.tsv", sep="\t")
    assert np.allclose(features["max_fd"], 4 * features["mean_fd"])  # from each run's QC
    variants = checks["sensitivity"]["stage"]["summary_indices"]
    assert [v["variant"] for v in variants] == ["configured", "with mean_fd", "excluded runs put back"]
    assert [v["n_rows"] for v in variants] == [12, 12, 16]
    metrics = json.loads((out / "group" / "models" / "severity" / "summary_indices" / "metrics.json").read_text())
    beyond = metrics["beyond_confounds"]
    assert beyond["computed"] and beyond["n"] == 12
    # constant columns add nothing; 12 rows are too few for splines
    assert beyond["confounds"] == ["mean_fd", "max_fd", "age", "sex", "site"]
    assert beyond["confound_model"] == "linear mean_fd, max_fd, age; one-hot sex, site"


# --- predict: the model's fingerprint, refusing features made differently, training overlap, sidecar ---

#: The training study's participant-level settings: not all defaults, so that a rerun at the defaults differs.
TRAINING = {"denoise.strategy": "simple", "denoise.high_pass": 0.02, "denoise.low_pass": 0.1,
            "denoise.standardize": "psc"}
N_TRAINING = 20


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A study fabricated with TRAINING, its group level run with one small model: (bids, out, model folder)."""
    bids, out = fabricate(tmp_path_factory.mktemp("train"), n_subjects=N_TRAINING, settings=TRAINING)
    config = small_models(Config(), **{"models.targets": ["severity"], "models.feature_sets": ["pfc_limbic_edges"],
                                       "models.cv_repeats": 1, "models.n_permutations": 0})
    with pytest.raises(ConfigError, match=r"wanted with the denoising strategy 'scrubbing\+gsr', but the participant "
                                          r"level in .* cleaned its runs with \['simple'\] \(config.yaml\); pass "
                                          r"--strategy simple"):
        run_group(bids, out, config)  # the group level's default strategy is not the one the runs were made with
    assert run_group(bids, out, config.updated({"denoise.strategy": "simple"})) == 0
    return bids, out, out / "group" / "models" / "severity" / "pfc_limbic_edges" / "model"


def _new(tmp_path, **kwargs):
    """Eight new participants (sub-21 .. sub-28) fabricated with the training settings unless told."""
    return fabricate(tmp_path, n_subjects=8, first=N_TRAINING + 1, excluded=(), **{"settings": TRAINING, **kwargs})


def test_model_records_the_participant_level_fingerprint(trained):
    bids, out, folder = trained
    model = load_model(folder)
    settings = model.fingerprint["Settings"]
    assert settings["denoise.strategy"] == "simple" and settings["confounds.preset"] == "simple"
    assert settings["confounds.motion"] == "full" and settings["confounds.wm_csf"] == "basic"
    assert (settings["denoise.high_pass"], settings["denoise.low_pass"], settings["denoise.filter"]) == (
        0.02, 0.1, "butterworth")
    assert settings["exclusion.min_tdof"] == 20 and settings["connectivity.measure"] == "correlation"
    assert settings["atlas.name"] == "pfclimbic" and len(settings["atlas.content_hash"]) == 16
    assert settings["inputs.space"] == "MNI152NLin2009cAsym" and settings["inputs.task"] == "rest"
    assert "confounds.n_regressors" not in settings, "a per-run count is not a setting"
    assert model.fingerprint["SoftwareVersions"]["nilearn"] == "0.14.0"
    participant = Config().updated(TRAINING)
    assert model.fingerprint["ParticipantConfigHash"] == participant.run_hash()
    # trained on the usable runs: sub-03 was excluded by QC
    ids = [row["participant_id"] for row in model.training_runs]
    assert ids == [f"sub-{i:02d}" for i in range(1, N_TRAINING + 1) if i != 3]
    assert model.cv_metrics["primary_metric"] in model.cv_metrics["scores"]
    assert model.cv_metrics == json.loads((folder.parent / "metrics.json").read_text())


def test_group_outputs_name_their_configuration_hashes(trained):
    bids, out, folder = trained
    features = json.loads((out / "group" / "features.json").read_text())
    assert features["ParticipantConfigHash"] == Config().updated(TRAINING).run_hash()
    assert features["FullConfigHash"] != features["ParticipantConfigHash"] and "ConfigHash" not in features
    assert set(features["ConfigHashDescriptions"]) == {"FullConfigHash", "ParticipantConfigHash"}
    assert "every setting that changes a run's" in features["ConfigHashDescriptions"]["ParticipantConfigHash"]
    benchmark = json.loads((out / "group" / "denoising_benchmark.json").read_text())
    assert benchmark["FullConfigHash"] == features["FullConfigHash"] and "ConfigHash" not in benchmark


def test_predict_refuses_a_mismatched_strategy_with_the_settings_and_the_fix(trained, tmp_path, capsys):
    bids, out, folder = trained
    bids2, out2 = _new(tmp_path, settings={**TRAINING, "denoise.strategy": "compcor+gsr"})
    assert main(["predict", str(folder), str(bids2), str(out2)]) == 2
    assert capsys.readouterr().err == (
        "neurokit: error: the features were made differently from the model's training features; "
        "6 setting(s) differ:\n"
        "  confounds.compcor: model None, features 'anat_combined'\n"
        "  confounds.global_signal: model None, features 'basic'\n"
        "  confounds.n_compcor: model None, features 'all'\n"
        "  confounds.preset: model 'simple', features 'compcor'\n"
        "  confounds.wm_csf: model 'basic', features None\n"
        "  denoise.strategy: model 'simple', features 'compcor+gsr'\n"
        f"Rerun the participant level with the model's configuration: `neurokit predict {folder} --write-config "
        f"model_config.yaml` writes it; then run `neurokit {bids2} NEW_OUTPUT_DIR participant --config "
        "model_config.yaml` and predict from NEW_OUTPUT_DIR.\n"
    )
    assert not (out2 / "group").exists(), "a refused prediction writes nothing"


def test_predict_refuses_a_mismatched_filter_or_atlas(trained, tmp_path, capsys):
    bids, out, folder = trained
    bids2, out2 = _new(tmp_path / "filter", settings={**TRAINING, "denoise.low_pass": 0.08})
    assert main(["predict", str(folder), str(bids2), str(out2)]) == 2
    err = capsys.readouterr().err
    assert "1 setting(s) differ:\n  denoise.low_pass: model 0.1, features 0.08\nRerun the participant level" in err
    bids3, out3 = _new(tmp_path / "atlas", atlas="power2011", settings={**TRAINING, "atlas.name": "power2011"})
    assert main(["predict", str(folder), str(bids3), str(out3)]) == 2
    err = capsys.readouterr().err
    assert "  atlas.name: model 'pfclimbic', features 'power2011'\n" in err
    assert "  atlas.content_hash: model '" in err


def test_predict_accepts_identical_settings_and_writes_a_sidecar(trained, tmp_path, capsys):
    bids, out, folder = trained
    bids2, out2 = _new(tmp_path)
    assert main(["predict", str(folder), str(bids2), str(out2)]) == 0
    captured = capsys.readouterr()
    assert "8 of 8 run(s) predicted (severity, pfc_limbic_edges)" in captured.out and "warning" not in captured.err
    table = pd.read_csv(out2 / "group" / "predictions" / "severity_pfc_limbic_edges.tsv", sep="\t")
    assert not table["in_training_set"].any() and table["y_pred"].notna().all()
    sidecar = json.loads((out2 / "group" / "predictions" / "severity_pfc_limbic_edges.json").read_text())
    model = load_model(folder)
    assert sidecar["Model"]["SHA256"] == model_hash(folder) and sidecar["Model"]["Path"] == str(folder)
    assert sidecar["Model"]["Target"] == "severity" and sidecar["Model"]["TrainingRuns"] == N_TRAINING - 1
    assert sidecar["Model"]["FullConfigHash"] == model.config_hash
    assert sidecar["CrossValidatedMetrics"] == model.cv_metrics
    assert sidecar["Fingerprint"]["Settings"] == model.fingerprint["Settings"]
    assert sidecar["FingerprintMatchesModel"] is True
    assert sidecar["ParticipantConfigHash"] == model.fingerprint["ParticipantConfigHash"]
    assert sidecar["NeurokitVersion"] == __version__
    generated = dt.datetime.fromisoformat(sidecar["GeneratedAt"])
    assert abs(dt.datetime.now(dt.timezone.utc) - generated) < dt.timedelta(hours=1)
    assert sidecar["TrainingOverlap"] == {"Participants": [], "Warning": None} and sidecar["Warnings"] == []
    assert "in_training_set" in sidecar and "ParticipantConfigHash" in sidecar["ConfigHashDescriptions"]


def test_predict_warns_for_participants_it_was_trained_on(trained, tmp_path, capsys):
    bids, out, folder = trained
    # sub-15 .. sub-22: the first six were in the training set
    bids2, out2 = fabricate(tmp_path, n_subjects=8, first=15, excluded=(), settings=TRAINING)
    assert main(["predict", str(folder), str(bids2), str(out2)]) == 0
    trained_on = [f"sub-{i}" for i in range(15, 21)]
    warning = (f"6 participant(s) to predict were in the model's training set ({', '.join(trained_on)}): their "
               "predictions are not out-of-sample and overstate the model's accuracy (column in_training_set).")
    assert f"neurokit predict: warning: {warning}\n" in capsys.readouterr().err
    predictions = out2 / "group" / "predictions"
    table = pd.read_csv(predictions / "severity_pfc_limbic_edges.tsv", sep="\t")
    assert list(table.loc[table["in_training_set"], "participant_id"]) == trained_on
    sidecar = json.loads((predictions / "severity_pfc_limbic_edges.json").read_text())
    assert sidecar["TrainingOverlap"] == {"Participants": trained_on, "Warning": warning}
    assert sidecar["Warnings"] == [warning]


def test_written_config_reproduces_the_fingerprint(trained, tmp_path, capsys):
    bids, out, folder = trained
    path = tmp_path / "model_config.yaml"
    assert main(["predict", str(folder), "--write-config", str(path)]) == 0
    assert f"-> {path}" in capsys.readouterr().out
    assert path.read_text().startswith("# Participant-level configuration of the model in")
    written = load_config(path)
    assert written.denoise.strategy == "simple" and written.denoise.low_pass == 0.1
    assert written.run_hash() == Config().updated(TRAINING).run_hash()
    # features a participant level makes with it are the model's kind: accepted
    bids2, out2 = _new(tmp_path / "rerun", config=written)
    model = load_model(folder)
    assert participant_fingerprint(out2, written)["Settings"] == model.fingerprint["Settings"]
    assert main(["predict", str(folder), str(bids2), str(out2)]) == 0


def test_predict_refuses_runs_made_with_another_configuration_than_recorded(trained, tmp_path, capsys):
    bids, out, folder = trained
    bids2, out2 = _new(tmp_path)
    record = next((out2 / "logs" / "runs").glob("sub-22*.json"))
    record.write_text(json.dumps({**json.loads(record.read_text()), "config_hash": "0123456789abcdef"}))
    assert main(["predict", str(folder), str(bids2), str(out2)]) == 2
    assert ("1 run(s) in {} (e.g. sub-22_task-rest_space-MNI152NLin2009cAsym) were made with another "
            "participant-level configuration than config.yaml records").format(out2) in capsys.readouterr().err


def test_predict_needs_both_folders_and_checks_what_old_models_allow(trained, tmp_path, capsys):
    bids, out, folder = trained
    assert main(["predict", str(folder)]) == 2
    assert "BIDS_DIR and OUTPUT_DIR are both needed to predict" in capsys.readouterr().err
    old = tmp_path / "old"
    old.mkdir()
    (old / "model.joblib").write_bytes((folder / "model.joblib").read_bytes())
    meta = json.loads((folder / "model.json").read_text())
    for key in ("fingerprint", "training_runs", "cv_metrics"):  # what a model saved before them holds
        del meta[key]
    (old / "model.json").write_text(json.dumps(meta))
    bids2, out2 = _new(tmp_path / "new", settings={**TRAINING, "denoise.low_pass": 0.08})
    assert main(["predict", str(old), str(bids2), str(out2)]) == 0
    assert "without a record of how its features were made: only the atlas and the measure are checked" in \
        capsys.readouterr().err
    assert main(["predict", str(old), "--write-config", str(tmp_path / "c.yaml")]) == 2
    assert "did not record how its features were made; refit it" in capsys.readouterr().err


def test_fingerprint_differences_compare_values_not_spellings():
    model = {"Settings": {"denoise.low_pass": 0.1, "denoise.strategy": "simple", "confounds.scrub": None,
                          "exclusion.order": [1, 2]}, "SoftwareVersions": {"nilearn": "0.14.0"}}
    same = {"Settings": {"denoise.low_pass": 0.10, "denoise.strategy": "simple", "confounds.scrub": None,
                         "exclusion.order": (1, 2)}, "SoftwareVersions": {"nilearn": "0.15.0"}}
    assert fingerprint_differences(model, same) == []
    other = {"Settings": {"denoise.low_pass": 0.08, "denoise.strategy": "simple", "confounds.scrub": 5}}
    assert fingerprint_differences(model, other) == [
        ("confounds.scrub", None, 5), ("denoise.low_pass", 0.1, 0.08), ("exclusion.order", [1, 2], None)]
    from types import SimpleNamespace

    with pytest.raises(ModelError, match=r"3 setting\(s\) differ:\n  confounds.scrub: model None, features 5\n"):
        check_fingerprint(SimpleNamespace(fingerprint=model), other)
    check_fingerprint(SimpleNamespace(fingerprint=None), other)  # an old model: nothing to compare


def test_predict_warns_when_the_software_versions_differ(trained, tmp_path, capsys):
    bids, out, folder = trained
    bids2, out2 = _new(tmp_path, software={"neurokit": "0.1.0", "nilearn": "0.15.0", "numpy": "2.0.0"})
    assert main(["predict", str(folder), str(bids2), str(out2)]) == 0
    warning = "the model's features were made with nilearn 0.14.0, these with 0.15.0."
    assert f"neurokit predict: warning: {warning}\n" in capsys.readouterr().err
    sidecar = json.loads((out2 / "group" / "predictions" / "severity_pfc_limbic_edges.json").read_text())
    assert sidecar["Warnings"] == [warning] and sidecar["Fingerprint"]["SoftwareVersions"]["nilearn"] == "0.15.0"
