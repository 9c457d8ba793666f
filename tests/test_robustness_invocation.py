"""Invalid invocations fail before writing (exit 2, no folder); errors and warnings reach each level's log;
``neurokit demo`` exits with the code it prints."""

import json
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from neurokit.cli import main
from neurokit.config import Config
from neurokit.pipelines import participant as pp
from neurokit.pipelines._runlog import level_log


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """4 participants; one run without confounds (a discovery problem, logged as a warning)."""
    from neurokit.simulate import simulate_dataset

    root = tmp_path_factory.mktemp("sim") / "bids"
    simulate_dataset(root, n_subjects=4, n_volumes=40, seed=5, broken_runs=("missing_confounds",), n_jobs=1)
    return root


def _tree(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` with its bytes and modification time."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _bad_invocations(dataset: Path, tmp: Path, atlas: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (command-line arguments, ``{out}`` standing for OUTPUT_DIR; the message users see)."""
    undescribed = tmp / "undescribed"
    (undescribed / "sub-01").mkdir(parents=True)
    bad_config = tmp / "bad.yaml"
    bad_config.write_text("denoise:\n  fd_threshold: lots\n")
    return {
        "wrong path": ([str(tmp / "no-such-bids"), "{out}", "participant"],
                       r"BIDS directory .*no-such-bids does not exist; pass the root of your BIDS dataset"),
        "no dataset_description.json": ([str(undescribed), "{out}", "participant"],
                                        r"undescribed/dataset_description.json is missing, .* create it with"),
        "unknown label": ([str(dataset), "{out}", "participant", "--participant-label", "01", "99"],
                          r"--participant-label 99: no sub-99 folder in .*; the participants there are: "
                          r"01, 02, 03, 04\. Correct or drop the label"),
        "only unknown labels": ([str(dataset), "{out}", "participant", "--participant-label", "sub-77"],
                                r"none of the requested participants \['77'\] has a folder"),
        "unknown atlas": ([str(dataset), "{out}", "participant", "--atlas", "nosuch"],
                          r"no atlas named 'nosuch'.*Available: .*pfclimbic"),
        "atlas in another space": ([str(dataset), "{out}", "participant", "--atlas", str(atlas)],
                                   r"atlas 'colin' .* is in space 'MNIColin27' but the run is in "
                                   r"'MNI152NLin2009cAsym'; .*atlas.allow_resample: true"),
        "bad config value": ([str(dataset), "{out}", "participant", "--config", str(bad_config)],
                             r"denoise.fd_threshold: .*got 'lots'"),
        "group without participant outputs": ([str(dataset), "{out}", "group"],
                                              r"OUTPUT_DIR .* does not exist; pass the folder the participant "
                                              r"level wrote"),
    }


def test_bad_invocations_exit_2_and_create_nothing(dataset, tmp_path, capsys, colin_atlas):
    for name, (argv, message) in _bad_invocations(dataset, tmp_path, colin_atlas).items():
        out = tmp_path / f"out-{name.replace(' ', '-')}"
        code = main([a.replace("{out}", str(out)) for a in argv])
        err = capsys.readouterr().err
        assert code == 2, name
        assert re.search(r"neurokit: error: .*" + message, err, re.S), (name, err)
        assert not out.exists(), name


def test_bad_invocation_leaves_an_existing_output_folder_untouched(dataset, tmp_path, capsys, colin_atlas):
    out = tmp_path / "results"
    (out / "logs").mkdir(parents=True)
    (out / "dataset_description.json").write_text(json.dumps({"Name": "x", "GeneratedBy": [{"Name": "neurokit"}]}))
    (out / "logs" / "participant-20260101-000000.log").write_text("an earlier run\n")
    before = _tree(out)
    for name, (argv, message) in _bad_invocations(dataset, tmp_path / "inputs", colin_atlas).items():
        if name == "group without participant outputs":
            continue  # needs a missing folder
        assert main([a.replace("{out}", str(out)) for a in argv]) == 2, name
        assert re.search(message, capsys.readouterr().err, re.S), name
        assert _tree(out) == before, name


@pytest.mark.parametrize("where, message", [
    ("bids", r"OUTPUT_DIR .*bids is the BIDS dataset .* or a folder holding it"),
    ("bids/sub-01/results", r"OUTPUT_DIR .*sub-01/results is inside the BIDS dataset .* but not in its derivatives/"),
    ("bids/derivatives/fmriprep/neurokit", r"OUTPUT_DIR .* is inside the fMRIPrep derivatives .* that neurokit reads"),
    ("fmriprep-like", r"OUTPUT_DIR .*fmriprep-like is a derivative dataset of fMRIPrep .*, not of neurokit"),
])
def test_output_folder_that_would_damage_another_dataset_is_refused(dataset, tmp_path, capsys, where, message):
    from neurokit.pipelines._preflight import check_output_dir

    other = tmp_path / "fmriprep-like"
    other.mkdir()
    (other / "dataset_description.json").write_text(json.dumps({"GeneratedBy": [{"Name": "fMRIPrep"}]}))
    before = _tree(dataset)
    out = dataset / where[len("bids/"):] if where.startswith("bids/") else (dataset if where == "bids" else other)
    assert main([str(dataset), str(out), "participant"]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert _tree(dataset) == before and not (dataset / "sub-01" / "results").exists()
    check_output_dir(dataset, dataset / "derivatives" / "neurokit", [dataset / "derivatives" / "fmriprep"])  # the usual place


def test_study_with_a_bad_input_writes_nothing(tmp_path):
    from neurokit.io import BIDSError
    from neurokit.pipelines.study import run_study

    with pytest.raises(BIDSError, match=r"BIDS directory .*missing does not exist"):
        run_study(tmp_path / "missing", tmp_path / "out", Config())
    assert not (tmp_path / "out").exists()


def _log_text(out: Path, level: str) -> str:
    logs = sorted((out / "logs").glob(f"{level}-*.log"))
    assert len(logs) == 1, logs
    return logs[0].read_text()


def test_participant_log_holds_warnings_and_the_error_that_ends_the_run(dataset, tmp_path, monkeypatch):
    from neurokit.io import discover_runs

    def crash(*args, **kwargs):
        warnings.warn("a planted library warning", UserWarning)
        raise RuntimeError("a planted crash")

    monkeypatch.setattr(pp, "_compute", crash)
    out = tmp_path / "out"
    config = Config().updated({"denoise.min_volumes": 20, "exclusion.min_tdof": 5})
    with pytest.raises(RuntimeError, match="a planted crash"), pytest.warns(UserWarning, match="planted library"):
        pp.run_participant(dataset, out, config, progress=False)
    text = _log_text(out, "participant")
    problem = discover_runs(dataset).problems[0].message
    assert re.search(r"WARNING neurokit.participant: " + re.escape(problem), text)
    assert "WARNING py.warnings: " in text and "UserWarning: a planted library warning" in text
    assert "ERROR neurokit.participant: the participant level stopped on an unexpected error:" in text
    assert "Traceback" in text and "RuntimeError: a planted crash" in text


def test_group_log_holds_warnings_and_errors(tmp_path):
    from neurokit.pipelines.group import run_group
    from neurokit.report._testing import fabricate_outputs

    bids, out, config = fabricate_outputs(tmp_path, n_subjects=6, with_group=False, with_models=False,
                                          xss_site=False)
    config = config.updated({"models.targets": ["stage"], "models.feature_sets": ["biomarkers"],
                             "models.n_permutations": 0})
    assert run_group(bids, out, config) == 2
    text = _log_text(out, "group")
    assert "INFO neurokit.group: features (scrubbing): 6 runs" in text
    assert re.search(r"WARNING neurokit.group: model stage/biomarkers not fitted: every column of feature set "
                     r"'biomarkers' is all missing", text)
    assert "ERROR neurokit.group: no model could be fitted" in text


def test_group_input_error_writes_nothing(tmp_path):
    """An input error found while the group level reads its inputs leaves the folder as it was."""
    from neurokit.pipelines.group import GroupError, run_group
    from neurokit.report._testing import fabricate_outputs

    bids, out, config = fabricate_outputs(tmp_path, n_subjects=6, with_group=False, with_models=False,
                                          xss_site=False)
    before = _tree(out)
    with pytest.raises(GroupError, match="has no 'partial correlation' matrix; add 'partial correlation'"):
        run_group(bids, out, config.updated({"models.measure": "partial correlation"}))
    assert _tree(out) == before


def test_nested_levels_share_the_start_and_record_the_final_error(tmp_path):
    """run_study's log starts with its participant level's and both record the exception that ends them."""
    import logging

    log = logging.getLogger("neurokit.study")
    with pytest.raises(KeyboardInterrupt):
        with level_log(tmp_path / "out", "study"):
            log.warning("before the inputs were checked")
            with level_log(tmp_path / "out", "participant") as inner:
                with level_log(tmp_path / "out", "participant") as again:
                    assert again is inner
                inner.start()
                log.info("after")
                raise KeyboardInterrupt
    study, participant = _log_text(tmp_path / "out", "study"), _log_text(tmp_path / "out", "participant")
    assert "WARNING neurokit.study: before the inputs were checked" in study
    assert "WARNING neurokit.study: before the inputs were checked" not in participant  # not in its level yet
    for text in (study, participant):
        assert "INFO neurokit.study: after" in text and "interrupted; completed runs are kept" in text
    assert not any(h is inner for h in logging.getLogger().handlers)  # removed on the way out


def test_demo_outcome_names_unexpected_failures():
    from neurokit.cli._demo import _demo_outcome

    truth = pd.DataFrame({"bold": ["derivatives/fmriprep/sub-01/func/a_bold.nii.gz",
                                   "derivatives/fmriprep/sub-02/func/b_bold.nii.gz"],
                          "broken": [None, "corrupt_gzip"]})
    planted = {"run_id": "b", "status": "failed", "bold": "/abs/derivatives/fmriprep/sub-02/func/b_bold.nii.gz"}
    other = {"run_id": "a", "status": "failed", "bold": "/abs/derivatives/fmriprep/sub-01/func/a_bold.nii.gz"}
    excluded = {"run_id": "a", "status": "excluded", "bold": "/abs/a_bold.nii.gz"}
    assert _demo_outcome(1, pd.DataFrame([planted, excluded]), truth) == (
        0, "the only failure is the run broken on purpose (b), as intended")
    assert _demo_outcome(1, pd.DataFrame([planted, other]), truth) == (
        1, "run(s) failed that were not broken on purpose: a")
    assert _demo_outcome(2, pd.DataFrame([planted]), truth)[0] == 2
    assert _demo_outcome(0, pd.DataFrame(columns=["run_id", "status", "bold"]), truth) == (0, "every run usable")


@pytest.mark.parametrize("planted_only, expected", [(True, 0), (False, 1)])
def test_demo_exits_with_the_code_it_prints(tmp_path, monkeypatch, capsys, planted_only, expected):
    """The demo's wiring, with the study replaced by one that fails a run (the real one runs in CI's demo step)."""
    import neurokit.pipelines.study as study
    from neurokit.io import write_failures

    bids = tmp_path / "bids"
    bids.mkdir()
    (bids / "dataset_description.json").write_text("{}")  # the demo then reuses the dataset
    pd.DataFrame({"bold": ["derivatives/fmriprep/sub-01/func/x_bold.nii.gz"], "broken": ["corrupt_gzip"]}).to_csv(
        tmp_path / "ground_truth.tsv", sep="\t", index=False)
    failed = "x" if planted_only else "y"

    def fake_study(bids_dir, output_dir, config, progress=None):
        write_failures(output_dir, [{"run_id": failed, "status": "failed", "stage": "extract", "error_type": "E",
                                     "message": "m", "bold": f"/d/{failed}_bold.nii.gz"}])
        return 1

    monkeypatch.setattr(study, "run_study", fake_study)
    code = main(["demo", str(tmp_path), "--no-progress"])
    printed = re.search(r"neurokit demo finished \(exit code (\d+): (.*)\)\.", capsys.readouterr().out)
    assert code == expected and int(printed.group(1)) == code
    assert ("as intended" in printed.group(2)) == planted_only and (failed in printed.group(2))
