"""Tests of neurokit.simulate: layout and validity, fMRIPrep-compatible confounds, the planted
effect, motion-severity coupling, broken runs, determinism, sessions, errors and the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from neurokit.cli import main
from neurokit.simulate import BROKEN_RUN_KINDS, STAGES, SimulationError, simulate_dataset

SMALL = dict(n_subjects=4, n_volumes=30)


def _read_tsv(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", na_values="n/a", keep_default_na=False)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """Six participants, 100 volumes, one broken run of every kind."""
    root = tmp_path_factory.mktemp("sim") / "ds"
    return simulate_dataset(root, n_subjects=6, n_volumes=100, seed=1, broken_runs=tuple(BROKEN_RUN_KINDS))


@pytest.fixture(scope="module")
def sim_sessions(tmp_path_factory):
    root = tmp_path_factory.mktemp("ses") / "ds"
    return simulate_dataset(root, n_subjects=4, n_sessions=3, n_volumes=30, seed=2)


def _intact(result):
    return result.truth[result.truth["broken"].isna()]


def test_layout_and_descriptions(sim):
    root = sim.root
    desc = json.loads((root / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "raw" and desc["BIDSVersion"]
    deriv = json.loads((sim.fmriprep_dir / "dataset_description.json").read_text())
    assert deriv["DatasetType"] == "derivative" and deriv["GeneratedBy"][0]["Name"] == "fMRIPrep"
    participants = _read_tsv(root / "participants.tsv")
    assert list(participants.columns) == [
        "participant_id", "age", "sex", "site", "severity", "stage", "abstinence_days", "bdnf", "hrv",
    ]
    assert set(participants["stage"]) == set(STAGES)
    assert participants.loc[participants.stage == "control", "abstinence_days"].isna().all()
    assert (participants.loc[participants.stage == "control", "severity"] == 0).all()
    documented = json.loads((root / "participants.json").read_text())
    assert set(documented) == set(participants.columns)
    for row in sim.truth.itertuples():
        assert (root / row.bold).parent.is_dir()
    # ground truth stays outside the BIDS tree
    assert sim.truth_path.exists() and not sim.truth_path.is_relative_to(root)
    assert sim.dseg_path.exists() and sim.truth_path.with_suffix(".json").exists()
    assert not list(root.rglob("*truth*"))


def test_stages_and_sites_balanced(tmp_path):
    result = simulate_dataset(tmp_path / "ds", n_subjects=8, n_volumes=30, sites=("A", "B"))
    p = result.participants
    assert p["stage"].value_counts().to_dict() == {s: 2 for s in STAGES}
    for _, group in p.groupby("stage"):
        assert sorted(group["site"]) == ["A", "B"]


def test_bold_grid_mask_and_sidecar(sim):
    row = _intact(sim).iloc[0]
    img = nib.load(sim.root / row.bold)
    assert img.shape[3] == 100 and img.get_data_dtype() == np.int16
    assert np.allclose(np.diag(img.affine)[:3], 4.0) and np.allclose(img.affine[:3, 3], [-96, -132, -78])
    assert img.header.get_zooms()[3] == pytest.approx(2.0)
    mask = np.asarray(nib.load(sim.root / row["mask"]).dataobj) > 0
    data = np.asarray(img.dataobj)
    assert np.all(data[~mask] == 0) and np.all(data[mask].mean(axis=-1) > 100)
    sidecar = json.loads((sim.root / row.bold.replace(".nii.gz", ".json")).read_text())
    assert sidecar["RepetitionTime"] == 2.0
    assert "_res-" not in row.bold  # a 4 mm grid has no templateflow res index


def test_pybids_finds_every_preproc_run(sim):
    bids = pytest.importorskip("bids")
    layout = bids.BIDSLayout(sim.root, derivatives=True)
    found = layout.get(desc="preproc", suffix="bold", extension=".nii.gz", scope="derivatives")
    assert sorted(Path(f.path).relative_to(sim.root).as_posix() for f in found) == sorted(sim.truth["bold"])
    assert len(layout.get(suffix="bold", extension=".nii.gz", scope="raw")) == len(sim.truth)


@pytest.mark.slow
def test_bids_validator_accepts_raw_dataset(sim):
    exe = shutil.which("bids-validator-deno") or str(Path(__import__("sys").executable).with_name("bids-validator-deno"))
    if not Path(exe).exists():
        pytest.skip("bids-validator-deno is not installed (pip install bids-validator-deno)")
    proc = subprocess.run([exe, str(sim.root), "--format", "json"], capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    errors = [i for i in report["issues"]["issues"] if i["severity"] == "error"]
    assert errors == [], errors[:3]


def test_confounds_have_fmriprep_columns(sim):
    row = _intact(sim).iloc[0]
    table = _read_tsv(sim.root / row.confounds)
    assert len(table) == 100
    for base in ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "global_signal", "csf", "white_matter"):
        for suffix in ("", "_derivative1", "_power2", "_derivative1_power2"):
            assert base + suffix in table.columns
        assert np.isnan(table[base + "_derivative1"].iloc[0])
    for col in ("framewise_displacement", "dvars", "std_dvars", "rmsd", "a_comp_cor_00", "c_comp_cor_00",
                "w_comp_cor_00", "t_comp_cor_00", "cosine00", "csf_wm", "tcompcor"):
        assert col in table.columns
    assert np.isnan(table["framewise_displacement"].iloc[0]) and np.isnan(table["std_dvars"].iloc[0])
    assert table["framewise_displacement"].iloc[1:].notna().all()
    assert table["framewise_displacement"].mean() == pytest.approx(row.mean_fd, rel=1e-4)
    meta = json.loads((sim.root / row.confounds.replace(".tsv", ".json")).read_text())
    acc = [k for k in meta if k.startswith("a_comp_cor")]
    assert acc and set(acc) == {c for c in table.columns if c.startswith("a_comp_cor")}
    assert meta["a_comp_cor_00"]["Mask"] == "combined" and meta["c_comp_cor_00"]["Mask"] == "CSF"
    assert meta["w_comp_cor_00"]["Mask"] == "WM" and meta["a_comp_cor_00"]["Method"] == "aCompCor"
    cum = [meta[k]["CumulativeVarianceExplained"] for k in sorted(acc)]
    assert np.all(np.diff(cum) > 0) and cum[-1] >= 0.5 and cum[-2] < 0.5
    outliers = [c for c in table.columns if c.startswith("non_steady_state_outlier")]
    assert len(outliers) == row.n_nonsteady
    # the global signal column is the data's own mean in the mask
    img = np.asarray(nib.load(sim.root / row.bold).dataobj, dtype=float)
    mask = np.asarray(nib.load(sim.root / row["mask"]).dataobj) > 0
    assert np.allclose(img[mask].mean(axis=0), table["global_signal"], atol=0.5)


@pytest.mark.parametrize("strategy", ["simple", "scrubbing", "compcor"])
def test_nilearn_load_confounds_strategy(sim, strategy):
    from nilearn.interfaces.fmriprep import load_confounds_strategy

    row = _intact(sim).iloc[0]
    confounds, sample_mask = load_confounds_strategy(str(sim.root / row.bold), denoise_strategy=strategy)
    assert len(confounds) == 100 and confounds.notna().all().all()
    if strategy == "compcor":
        assert any(c.startswith("a_comp_cor") for c in confounds.columns)
    kept = 100 if sample_mask is None else len(sample_mask)
    assert kept <= 100 - row.n_nonsteady


@pytest.mark.parametrize(
    ("compcor", "prefixes"),
    [("anat_separated", ("c_comp_cor", "w_comp_cor")), ("temporal", ("t_comp_cor",)),
     ("temporal_anat_combined", ("t_comp_cor", "a_comp_cor"))],
)
def test_nilearn_compcor_variants(sim, compcor, prefixes):
    from nilearn.interfaces.fmriprep import load_confounds

    row = _intact(sim).iloc[0]
    confounds, _ = load_confounds(str(sim.root / row.bold), strategy=("high_pass", "compcor"), compcor=compcor)
    for prefix in prefixes:
        assert any(c.startswith(prefix) for c in confounds.columns)


def _network_coupling(result, row) -> float:
    """Prefrontal-limbic correlation after plain-numpy confound regression."""
    labels = np.asarray(nib.load(result.dseg_path).dataobj)
    data = np.asarray(nib.load(result.root / row.bold).dataobj, dtype=float)
    table = _read_tsv(result.root / row.confounds)
    cols = [c for c in table.columns if c.startswith(("trans_", "rot_", "cosine"))] + [
        "csf", "white_matter", "global_signal"]
    design = np.column_stack([np.ones(len(table)), table[cols].fillna(0).to_numpy()])
    keep = slice(int(row.n_nonsteady), None)
    series = []
    for network in ("prefrontal", "limbic"):
        idx = result.regions.loc[result.regions.network == network, "index"]
        ts = data[np.isin(labels, idx)].mean(axis=0)
        beta = np.linalg.lstsq(design[keep], ts[keep], rcond=None)[0]
        series.append(ts[keep] - design[keep] @ beta)
    return float(np.corrcoef(*series)[0, 1])


def test_planted_effect_is_recoverable(sim):
    runs = _intact(sim)
    measured = np.array([_network_coupling(sim, r) for _, r in runs.iterrows()])
    by_stage = pd.Series(measured, index=runs["stage"].to_numpy()).groupby(level=0).mean()
    assert by_stage["control"] > by_stage["active"] + 0.1
    assert np.corrcoef(measured, runs["coupling"])[0, 1] > 0.5


@pytest.mark.slow
def test_planted_coupling_orders_stages(tmp_path):
    result = simulate_dataset(tmp_path / "ds", n_subjects=16, n_volumes=30, seed=3)
    means = result.truth.groupby("stage")["coupling"].mean()
    assert means["active"] < means["early_abstinence"] < means["sustained_remission"] < means["control"]
    users = result.truth[result.truth.stage != "control"]
    bdnf = result.participants.groupby("stage")["bdnf"].mean()
    assert bdnf["active"] < bdnf["control"]
    assert (users["coupling"] < means["control"]).all()


@pytest.mark.slow
def test_null_dataset_with_motion_tracking_severity(tmp_path):
    result = simulate_dataset(
        tmp_path / "ds", n_subjects=12, n_volumes=30, seed=4, effect_size=0.0, motion_severity_coupling=2.0
    )
    truth = result.truth
    # no planted effect: coupling is 0.6 plus personal noise, whatever the stage
    assert np.allclose(truth["coupling"], 0.6, atol=0.25)
    assert abs(truth.groupby("stage")["coupling"].mean().diff().abs().max()) < 0.1
    fd = truth["realised_mean_fd"].rank()
    assert np.corrcoef(fd, truth["severity"].rank())[0, 1] > 0.5


def test_biomarker_null_twin_changes_only_the_biomarker_means():
    """biomarker_effect_size=0 draws BDNF and HRV alike at every stage and leaves every other value as it was."""
    from neurokit.simulate import _phenotype

    args = dict(n_subjects=40, n_sessions=1, sites=("A", "B"), effect_size=1.0, motion_severity_coupling=0.5)
    people, planted = _phenotype.participants(np.random.default_rng(5), **args)
    again, null = _phenotype.participants(np.random.default_rng(5), biomarker_effect_size=0.0, **args)
    pd.testing.assert_frame_equal(people, again)
    pd.testing.assert_frame_equal(planted.drop(columns=["bdnf", "hrv"]), null.drop(columns=["bdnf", "hrv"]))
    users = null["stage"] != "control"
    # the same noise around one mean: the difference from the planted draw is the planted stage shift
    shift = (planted["bdnf"] - null["bdnf"]).groupby(planted["stage"]).mean()
    assert shift["control"] == pytest.approx(0, abs=0.06) and shift["active"] == pytest.approx(-8, abs=0.06)
    assert abs(null.loc[users, "bdnf"].mean() - null.loc[~users, "bdnf"].mean()) < 4


def test_truth_json_lists_what_was_planted(tmp_path):
    result = simulate_dataset(tmp_path / "ds", biomarker_effect_size=0.0, **SMALL)
    meta = json.loads(result.truth_path.with_suffix(".json").read_text())
    effects = {e["effect"]: e for e in meta["planted"]}
    coupling = effects["prefrontal-limbic coupling"]
    assert coupling["carrier"] == "connectivity" and coupling["networks"] == ["prefrontal", "limbic"]
    assert coupling["related_to"] == ["stage", "severity"] and coupling["effect_size"] == 1.0
    prefrontal = {r["harvard_oxford"] for r in meta["regions"] if r["network"] == "prefrontal"}
    assert set(coupling["regions"]["prefrontal"]) == prefrontal and len(prefrontal) == 10
    for name, column in (("serum BDNF", "bdnf"), ("heart-rate variability", "hrv")):
        assert effects[name]["column"] == column and effects[name]["related_to"] == []
        assert len(set(effects[name]["stage_means"].values())) == 1
    assert meta["parameters"]["biomarker_effect_size"] == 0.0


def test_broken_runs_are_broken(sim):
    truth = sim.truth.set_index("broken")
    assert set(truth.index.dropna()) == set(BROKEN_RUN_KINDS)
    path = {kind: {k: sim.root / truth.loc[kind, k] for k in ("bold", "confounds", "mask")} for kind in BROKEN_RUN_KINDS}
    with pytest.raises(Exception):
        np.asarray(nib.load(path["corrupt_gzip"]["bold"]).dataobj)
    short = _read_tsv(path["confounds_length"]["confounds"])
    assert len(short) == nib.load(path["confounds_length"]["bold"]).shape[3] - 10
    sidecar = json.loads(path["missing_tr"]["bold"].with_name(path["missing_tr"]["bold"].name.replace(".nii.gz", ".json")).read_text())
    assert "RepetitionTime" not in sidecar and nib.load(path["missing_tr"]["bold"]).header.get_zooms()[3] == 0
    assert nib.load(path["tr_mismatch"]["bold"]).header.get_zooms()[3] != pytest.approx(2.0)
    assert not path["missing_confounds"]["confounds"].exists()
    assert not path["missing_mask"]["mask"].exists()
    # a participant with a broken extra run has run-1 (intact) and run-2 (broken)
    pid = truth.loc["corrupt_gzip", "participant_id"]
    runs = sim.truth[sim.truth.participant_id == pid]
    assert sorted(runs["run"]) == [1, 2] and runs.loc[runs.run == 1, "broken"].isna().all()


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_deterministic_for_a_seed(tmp_path):
    a = simulate_dataset(tmp_path / "a", seed=7, broken_runs=("corrupt_gzip",), n_jobs=1, **SMALL)
    b = simulate_dataset(tmp_path / "b", seed=7, broken_runs=("corrupt_gzip",), n_jobs=2, **SMALL)
    c = simulate_dataset(tmp_path / "c", seed=8, broken_runs=("corrupt_gzip",), **SMALL)
    tree_a, tree_b, tree_c = _tree(a.root), _tree(b.root), _tree(c.root)
    assert tree_a == tree_b
    assert a.truth_path.read_bytes() == b.truth_path.read_bytes()
    bold = a.truth["bold"].iloc[0]
    assert tree_a[bold] != tree_c[bold]
    assert tree_a["participants.tsv"] != tree_c["participants.tsv"]


def test_sessions(sim_sessions):
    root = sim_sessions.root
    participants = _read_tsv(root / "participants.tsv")
    assert "stage" not in participants.columns and "severity" in participants.columns
    for pid in participants["participant_id"]:
        sessions = _read_tsv(root / pid / f"{pid}_sessions.tsv")
        assert list(sessions["session_id"]) == ["ses-1", "ses-2", "ses-3"]
        assert list(sessions.columns) == ["session_id", "stage", "abstinence_days", "bdnf", "hrv"]
        order = [STAGES.index(s) for s in sessions["stage"]]
        if order[0] == 0:
            assert order == [0, 0, 0]
        else:
            assert order == sorted(order) and sessions["abstinence_days"].is_monotonic_increasing
        assert (root / pid / "ses-2" / "func").is_dir()
    assert len(sim_sessions.truth) == 12 and set(sim_sessions.truth["session_id"]) == {"ses-1", "ses-2", "ses-3"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_subjects": 3}, "'n_subjects' must be an integer >= 4"),
        ({"n_sessions": 0}, "'n_sessions' must be an integer >= 1"),
        ({"n_volumes": 10}, "'n_volumes' must be an integer >= 30"),
        ({"t_r": 0}, "'t_r' must be a repetition time"),
        ({"resolution_mm": 1}, "'resolution_mm' must be a voxel size between 2 and 8"),
        ({"effect_size": -1}, "'effect_size' must be between 0"),
        ({"motion_severity_coupling": -0.5}, "'motion_severity_coupling' must be between 0"),
        ({"biomarker_effect_size": -1}, "'biomarker_effect_size' must be None .* or between 0"),
        ({"sites": ()}, "'sites' must be a non-empty sequence"),
        ({"sites": ("A", "A")}, "'sites' must be a non-empty sequence of distinct"),
        ({"task": "resting state"}, "'task' must be an alphanumeric BIDS label"),
        ({"broken_runs": ("bad_kind",)}, r"'broken_runs' entries must be among .*got 'bad_kind'"),
        ({"n_jobs": 0}, r"'n_jobs' must be None \(all CPUs\) or an integer >= 1"),
    ],
)
def test_parameter_errors(tmp_path, kwargs, match):
    with pytest.raises(SimulationError, match=match):
        simulate_dataset(tmp_path / "ds", **kwargs)
    assert not (tmp_path / "ds").exists()


def test_output_location_errors(tmp_path):
    with pytest.raises(SimulationError, match="'truth_path' .* is inside the dataset"):
        simulate_dataset(tmp_path / "ds", truth_path=tmp_path / "ds" / "truth.tsv")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(SimulationError, match="exists and is not empty; choose a new folder or pass overwrite=True"):
        simulate_dataset(foreign)
    with pytest.raises(SimulationError, match="is not a dataset written by neurokit.simulate"):
        simulate_dataset(foreign, overwrite=True)
    assert (foreign / "notes.txt").exists()


@pytest.mark.slow
def test_overwrite_replaces_own_dataset(tmp_path):
    simulate_dataset(tmp_path / "ds", seed=1, **SMALL)
    again = simulate_dataset(tmp_path / "ds", seed=2, overwrite=True, **SMALL)
    assert len(again.truth) == 4


def test_cli_simulate(tmp_path, capsys):
    out = tmp_path / "ds"
    code = main(["simulate", str(out), "--subjects", "4", "--volumes", "30", "--seed", "3", "--broken", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "ground truth" in printed and str(out) in printed
    truth = _read_tsv(tmp_path / "ds_truth.tsv")
    assert len(truth) == 5 and truth["broken"].notna().sum() == 1
    assert main(["simulate", str(out), "--subjects", "4"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "x"), "--subjects", "2"]) == 2
    assert main(["simulate", str(tmp_path / "y"), "--broken", "-1"]) == 2
    assert "'--broken' must be 0 or more" in capsys.readouterr().err
