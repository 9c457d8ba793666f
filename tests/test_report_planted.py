"""The group report's "Planted vs recovered" section: graded from a small hand-written ground truth and
model results (found, missed, null stayed null, false positive), absent for a dataset neurokit did not
simulate or without a truth file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from neurokit.report._common import render
from neurokit.report._planted import DEMO_TRUTH_NAME, find_truth, planted_section, recovery_rows, verdict_lines

PLANTED = [
    {"effect": "prefrontal-limbic coupling", "carrier": "connectivity", "networks": ["prefrontal", "limbic"],
     "regions": {"prefrontal": ["Left_Amygdala"], "limbic": ["Left_Hippocampus"]}, "truth_column": "coupling",
     "related_to": ["stage", "severity"], "effect_size": 1.0,
     "stage_deficit": {"control": 0.0, "active": 0.45}},
    {"effect": "serum BDNF", "carrier": "phenotype", "column": "bdnf", "related_to": [], "effect_size": 0.0,
     "stage_means": {"control": 25.0, "active": 25.0}, "sd": 4.0, "units": "ng/mL"},
]


def _metrics(target, feature_set, q, *, primary="balanced_accuracy", score=0.9, classes=("a", "b")):
    return {"target": target, "feature_set": feature_set, "primary_metric": primary,
            "scores": {primary: {"mean": score}}, "p_value": q / 2, "p_value_fdr": q, "classes": list(classes)}


def _dataset(root: Path, *, generator="neurokit.simulate", truth_name=DEMO_TRUTH_NAME, planted=PLANTED) -> Path:
    bids = root / "bids"
    bids.mkdir(parents=True)
    (bids / "dataset_description.json").write_text(json.dumps({"Name": "x", "GeneratedBy": [{"Name": generator}]}))
    pd.DataFrame({"participant_id": ["sub-01", "sub-02"]}).to_csv(bids / "participants.tsv", sep="\t", index=False)
    truth = root / truth_name if truth_name != "default" else root / "bids_truth.tsv"
    pd.DataFrame({"participant_id": ["sub-01", "sub-02"], "stage": ["control", "active"], "coupling": [0.6, 0.2],
                  "broken": ["n/a", "n/a"], "bold": ["x_bold.nii.gz", "y_bold.nii.gz"]}).to_csv(
        truth, sep="\t", index=False)
    truth.with_suffix(".json").write_text(json.dumps({"planted": planted}))
    return bids


MODELS = [
    (None, _metrics("user_vs_control", "pfc_limbic_edges", 0.001)),  # found
    (None, _metrics("stage", "summary_indices", 0.2, classes="abcd")),  # missed
    (None, _metrics("severity", "combined", 0.01, primary="spearman", score=0.5)),  # found (edges in combined)
    (None, _metrics("stage", "biomarkers", 0.6)),  # null stayed null
    (None, _metrics("user_vs_control", "biomarkers", 0.03)),  # false positive
]


def test_recovery_rows_grade_each_model():
    rows = recovery_rows(PLANTED, MODELS)
    assert [r["verdict"] for r in rows] == ["found", "missed", "found", "null stayed null", "false positive"]
    assert rows[0]["sees"] == ["prefrontal-limbic coupling"] and rows[3]["sees"] == []
    assert rows[3]["null"] == ["serum BDNF"] and rows[2]["null"] == ["serum BDNF"]
    # chance: 1/classes for balanced accuracy, 0 for a rank correlation
    assert [r["chance"] for r in rows[:3]] == [0.5, 0.25, 0.0]


def test_nothing_planted_anywhere_means_every_model_should_stay_null():
    null = [dict(e, related_to=[], effect_size=0.0) for e in PLANTED]
    rows = recovery_rows(null, MODELS)
    assert [r["verdict"] for r in rows] == ["false positive", "null stayed null", "false positive",
                                           "null stayed null", "false positive"]


@pytest.mark.parametrize("truth_name", [DEMO_TRUTH_NAME, "default"])
def test_section_renders_from_the_truth_file(tmp_path, truth_name):
    bids = _dataset(tmp_path, truth_name=truth_name)
    assert find_truth(bids) is not None
    (section,) = planted_section(bids, MODELS)
    assert section.id == "planted" and section.status == "failed"  # a miss and a false positive
    html = render("group.html.j2", title="t", sections=[section], version="0", subtitle="", config_hash="h",
                  generated="now")
    assert "Planted vs recovered" in html
    for text in ("found", "missed", "null stayed null", "false positive", "(chance 0.50)", "nothing (null twin)",
                 "nothing planted (null twin)",
                 "control 0.60, active 0.20", "nothing planted: one distribution at every stage"):
        assert text in html
    lines = verdict_lines(find_truth(bids), MODELS)
    assert lines[0] == "planted vs recovered (5 models, FDR p < 0.05): 2 found, 1 missed, 1 null stayed null, " \
                       "1 false positive"
    assert lines[1] == ("prefrontal-limbic coupling (planted): found by 2 of the 3 models that can see it (FDR p <= "
                        "0.01); missed by stage/summary_indices")
    assert lines[2] == ("serum BDNF (nothing planted, the null twin): null stayed null in 1 of the 2 models that see "
                        "only it (smallest FDR p 0.03); false positive: user vs control/biomarkers")


def test_section_is_ok_when_everything_is_as_planted(tmp_path):
    bids = _dataset(tmp_path)
    (section,) = planted_section(bids, [MODELS[0], MODELS[2], MODELS[3]])
    assert section.status == "ok"
    assert verdict_lines(find_truth(bids), [MODELS[0], MODELS[3]])[0].endswith("1 found, 1 null stayed null")


def test_section_without_models_says_so(tmp_path):
    (section,) = planted_section(_dataset(tmp_path), [])
    assert any("No fitted model yet" in getattr(b, "text", "") for b in section.blocks)


def test_absent_for_a_real_dataset_or_without_a_truth_file(tmp_path):
    assert planted_section(None, MODELS) == []
    real = _dataset(tmp_path / "real", generator="fMRIPrep")  # a truth-like file beside a dataset neurokit did not make
    assert find_truth(real) is None and planted_section(real, MODELS) == []
    gone = _dataset(tmp_path / "gone")
    (tmp_path / "gone" / DEMO_TRUTH_NAME).unlink()
    assert planted_section(gone, MODELS) == []
    old = _dataset(tmp_path / "old", planted=None)  # a truth JSON from before 'planted' existed
    assert planted_section(old, MODELS) == []


def test_truth_of_another_dataset_is_not_used(tmp_path):
    bids = _dataset(tmp_path)
    pd.DataFrame({"participant_id": ["sub-07"]}).to_csv(bids / "participants.tsv", sep="\t", index=False)
    assert find_truth(bids) is None


def test_demo_prints_the_verdict(tmp_path, monkeypatch, capsys):
    """The demo's closing lines state the section's verdict (the study replaced by one that writes two models)."""
    import neurokit.pipelines.study as study
    from neurokit.cli import main

    _dataset(tmp_path)

    def fake_study(bids_dir, output_dir, config, progress=None):
        for _, m in (MODELS[0], MODELS[3]):
            folder = Path(output_dir) / "group" / "models" / m["target"] / m["feature_set"]
            folder.mkdir(parents=True)
            (folder / "metrics.json").write_text(json.dumps(m))
        return 0

    monkeypatch.setattr(study, "run_study", fake_study)
    assert main(["demo", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "planted vs recovered (2 models, FDR p < 0.05): 1 found, 1 null stayed null" in out
    assert "prefrontal-limbic coupling (planted): found by 1 of the 1 models that can see it (FDR p <= 0.001)" in out


def test_demo_help_documents_every_option(capsys):
    from neurokit.cli import main

    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--seed SEED random seed of the simulated dataset", "--no-progress plain log lines instead of a progress line",
                   "-v, --verbose debug-level log messages", "--subjects SUBJECTS participants to simulate"):
        assert option in text
    assert "null twin" in text and "Planted vs recovered" in text


def test_a_missed_model_is_no_red_badge_but_a_false_positive_is(tmp_path):
    bids = _dataset(tmp_path)
    (missed,) = planted_section(bids, [MODELS[0], MODELS[1], MODELS[3]])  # found, missed, null stayed null
    assert missed.status is None
    (false_positive,) = planted_section(bids, [MODELS[0], MODELS[3], MODELS[4]])
    assert false_positive.status == "failed"


SCAN_HRV = {"effect": "scan heart-rate variability", "carrier": "physio",
            "columns": ["scan_hrv", "scan_rmssd", "scan_sdnn", "scan_hf_power", "scan_log_hf_power"], "truth_column": "rmssd",
            "related_to": ["stage"], "effect_size": 1.0, "stage_means": {"control": 45.0, "active": 32.0},
            "ln_sd": 0.32, "units": "ms"}


def test_the_planted_scan_hrv_is_graded_beside_the_null_twin_biomarkers(tmp_path):
    """The demo's set-up: the phenotype's biomarkers are the null twin, the scan HRV carries a stage effect; the
    biomarkers and combined models see the scan HRV, the edge models do not, and the line says that the null
    twin rides along unseen."""
    planted = PLANTED + [SCAN_HRV]
    models = [(None, _metrics("stage", "biomarkers", 0.01)), (None, _metrics("stage", "pfc_limbic_edges", 0.02)),
              (None, _metrics("user_vs_control", "biomarkers", 0.2))]
    rows = recovery_rows(planted, models)
    assert [r["sees"] for r in rows] == [["scan heart-rate variability"], ["prefrontal-limbic coupling"],
                                        ["scan heart-rate variability"]]
    assert rows[0]["null"] == ["serum BDNF"] and [r["verdict"] for r in rows] == ["found", "found", "missed"]
    bids = _dataset(tmp_path, planted=planted)
    # the per-run planted physiology beside the truth gives the realised RMSSD by stage
    pd.DataFrame({"participant_id": ["sub-01", "sub-02"], "rmssd": [47.5, 30.25]}).to_csv(
        tmp_path / "ground_truth_physio.tsv", sep="\t", index=False)
    lines = verdict_lines(find_truth(bids), models)
    assert lines[2] == ("scan heart-rate variability (planted): found by 1 of the 2 models that can see it (FDR p "
                        "<= 0.01); missed by user vs control/biomarkers; their features also carry serum BDNF "
                        "(nothing planted), not graded on its own here")
    (section,) = planted_section(bids, models)
    html = render("group.html.j2", title="t", sections=[section], version="0", subtitle="", config_hash="h",
                  generated="now")
    for text in ("HRV measured from the simulated pulse recordings (features table: scan_hrv, scan_rmssd",
                 "RMSSD geometric mean by stage control 45, active 32 ms (ln SD 0.32)",
                 "mean planted RMSSD of the runs&#39; beats by stage: control 47.5, active 30.2"):
        assert text in html, text
    # nothing planted in the scan HRV: a null like the others
    null = recovery_rows(PLANTED + [dict(SCAN_HRV, related_to=[])], models[:1])
    assert null[0]["verdict"] == "false positive" and null[0]["null"] == ["serum BDNF", "scan heart-rate variability"]
