"""Tests for neurokit.io.discover_runs on tiny hand-built fMRIPrep layouts."""

import gzip
import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neurokit.config import InputsConfig
from neurokit.io import BIDSError, Discovery, Run, RunProblem, discover_from_config, discover_runs
from neurokit._nifti import header_t_r
from neurokit.io._discover import _count_rows

SPACE = "MNI152NLin2009cAsym"
SHAPE = (7, 8, 9)


def _description(folder, derivative=False):
    folder.mkdir(parents=True, exist_ok=True)
    desc = {"Name": "test", "BIDSVersion": "1.9.0"}
    if derivative:
        desc.update(DatasetType="derivative", GeneratedBy=[{"Name": "fMRIPrep"}])
    (folder / "dataset_description.json").write_text(json.dumps(desc))


def _nifti(path, shape, tr=2.0, unit="sec"):
    img = nib.Nifti1Image(np.zeros(shape, dtype=np.uint8), np.diag([3.0, 3.0, 3.0, 1.0]))
    if len(shape) == 4:
        img.header.set_zooms((3.0, 3.0, 3.0, tr))
    img.header.set_xyzt_units("mm", unit)
    nib.save(img, path)


def _prefix(sub, ses=None, task="rest", run=None):
    parts = [f"sub-{sub}"] + ([f"ses-{ses}"] if ses else []) + [f"task-{task}"] + ([f"run-{run}"] if run else [])
    return "_".join(parts)


def make_run(
    deriv,
    sub,
    ses=None,
    task="rest",
    run=None,
    space=SPACE,
    res=None,
    n_vol=10,
    header_tr=2.0,
    unit="sec",
    json_tr=2.0,
    rows=None,
    confounds="timeseries",
    mask=True,
    bold_shape=None,
):
    """Write one fMRIPrep-style run; returns the BOLD path."""
    func = Path(deriv) / f"sub-{sub}" / (f"ses-{ses}" if ses else "") / "func"
    func.mkdir(parents=True, exist_ok=True)
    prefix = _prefix(sub, ses, task, run)
    spaced = f"{prefix}_space-{space}" + (f"_res-{res}" if res else "")
    bold = func / f"{spaced}_desc-preproc_bold.nii.gz"
    _nifti(bold, bold_shape or (*SHAPE, n_vol), tr=header_tr, unit=unit)
    sidecar = {} if json_tr is None else {"RepetitionTime": json_tr}
    (func / f"{spaced}_desc-preproc_bold.json").write_text(json.dumps(sidecar))
    if mask:
        _nifti(func / f"{spaced}_desc-brain_mask.nii.gz", SHAPE)
    if confounds:
        n_rows = n_vol if rows is None else rows
        lines = ["trans_x\tframewise_displacement"] + [f"0.1\t{'n/a' if i == 0 else 0.2}" for i in range(n_rows)]
        (func / f"{prefix}_desc-confounds_{confounds}.tsv").write_text("\n".join(lines) + "\n")
        (func / f"{prefix}_desc-confounds_{confounds}.json").write_text("{}")
    return bold


@pytest.fixture
def layout(tmp_path):
    """A BIDS root with the default derivatives folder and three good runs."""
    root = tmp_path / "bids"
    _description(root)
    deriv = root / "derivatives" / "fmriprep"
    _description(deriv, derivative=True)
    make_run(deriv, "01")
    make_run(deriv, "02", ses="1", run="1", n_vol=12, json_tr=1.5, header_tr=1.5)
    make_run(deriv, "02", ses="2", run="1")
    return root


def _messages(discovery):
    return " | ".join(p.message for p in discovery.problems)


def test_finds_runs_sorted_with_fields(layout):
    found = discover_runs(layout)
    assert isinstance(found, Discovery)
    assert found.problems == []
    ids = [r.run_id for r in found.runs]
    assert ids == sorted(ids)
    assert ids == [
        f"sub-01_task-rest_space-{SPACE}",
        f"sub-02_ses-1_task-rest_run-1_space-{SPACE}",
        f"sub-02_ses-2_task-rest_run-1_space-{SPACE}",
    ]
    run = found.runs[1]
    assert isinstance(run, Run)
    assert run.subject == "02" and run.session == "1"
    assert run.t_r == 1.5 and run.n_volumes == 12
    assert run.bold.name.endswith("_desc-preproc_bold.nii.gz")
    assert run.bold_json.name == run.bold.name.replace(".nii.gz", ".json")
    assert run.confounds.name == "sub-02_ses-1_task-rest_run-1_desc-confounds_timeseries.tsv"
    assert run.confounds_json.name == "sub-02_ses-1_task-rest_run-1_desc-confounds_timeseries.json"
    assert run.mask.name == f"sub-02_ses-1_task-rest_run-1_space-{SPACE}_desc-brain_mask.nii.gz"
    assert run.warnings == ()


def test_bids_dir_missing(tmp_path):
    with pytest.raises(BIDSError, match="does not exist; pass the root of your BIDS dataset"):
        discover_runs(tmp_path / "nope")


def test_missing_dataset_description_in_root(layout):
    (layout / "dataset_description.json").unlink()
    with pytest.raises(BIDSError, match=r"dataset_description.json is missing.*not a valid BIDS dataset; create it"):
        discover_runs(layout)


def test_missing_dataset_description_in_derivatives(layout):
    (layout / "derivatives" / "fmriprep" / "dataset_description.json").unlink()
    with pytest.raises(BIDSError, match=r"fmriprep.dataset_description.json is missing.*DatasetType"):
        discover_runs(layout)


def test_missing_derivatives_folder(tmp_path):
    _description(tmp_path)
    with pytest.raises(BIDSError, match=r"derivatives folder .*fmriprep does not exist; .*--derivatives"):
        discover_runs(tmp_path)


def test_no_runs_names_filters_and_what_was_found(layout):
    with pytest.raises(BIDSError, match=r"match the filters \(space='T1w'.*spaces \['MNI152NLin2009cAsym'\]"):
        discover_runs(layout, space="T1w")
    with pytest.raises(BIDSError, match=r"task='nback'.*tasks \['rest'\]"):
        discover_runs(layout, task="nback")


def test_run_without_confounds_is_a_problem_not_fatal(layout):
    deriv = layout / "derivatives" / "fmriprep"
    make_run(deriv, "03", confounds=None)
    found = discover_runs(layout)
    assert len(found.runs) == 3
    (prob,) = found.problems
    assert isinstance(prob, RunProblem) and prob.stage == "discover"
    assert prob.run_id == f"sub-03_task-rest_space-{SPACE}"
    assert "has no confounds file; expected" in prob.message
    assert "sub-03_task-rest_desc-confounds_timeseries.tsv" in prob.message


def test_old_confounds_name_is_accepted_with_a_note(layout):
    make_run(layout / "derivatives" / "fmriprep", "03", confounds="regressors")
    found = discover_runs(layout, participant_label=["03"])
    (run,) = found.runs
    assert run.confounds.name.endswith("desc-confounds_regressors.tsv")
    assert "pre-20.2 fMRIPrep name" in run.warnings[0]


def test_run_without_mask(layout):
    make_run(layout / "derivatives" / "fmriprep", "03", mask=False)
    found = discover_runs(layout)
    assert "has no brain mask in the same space; expected" in _messages(found)
    assert f"sub-03_task-rest_space-{SPACE}_desc-brain_mask.nii.gz" in _messages(found)


def test_mask_in_other_space_does_not_count(layout):
    deriv = layout / "derivatives" / "fmriprep"
    make_run(deriv, "03", mask=False)
    _nifti(deriv / "sub-03" / "func" / "sub-03_task-rest_space-T1w_desc-brain_mask.nii.gz", SHAPE)
    assert "has no brain mask" in _messages(discover_runs(layout))


def test_confounds_rows_differ_from_volumes(layout):
    make_run(layout / "derivatives" / "fmriprep", "03", n_vol=10, rows=9)
    found = discover_runs(layout)
    assert found.problems[0].path.name == "sub-03_task-rest_desc-confounds_timeseries.tsv"
    assert found.problems[0].message == (
        "sub-03_task-rest_desc-confounds_timeseries.tsv has 9 rows but the BOLD run has 10 volumes; "
        "re-run fMRIPrep or drop this run with --exclude."
    )


def test_tr_missing_from_json_and_header(layout):
    make_run(layout / "derivatives" / "fmriprep", "03", json_tr=None, header_tr=1.0, unit="unknown")
    msg = _messages(discover_runs(layout))
    assert "has no repetition time" in msg and 'add "RepetitionTime": <seconds>' in msg


def test_tr_from_header_when_json_lacks_it(layout):
    make_run(layout / "derivatives" / "fmriprep", "03", json_tr=None, header_tr=2500, unit="msec")
    (run,) = discover_runs(layout, participant_label=["sub-03"]).runs
    assert run.t_r == pytest.approx(2.5)
    assert "TR 2.5 s taken from the NIfTI header" in run.warnings[0]


def test_tr_disagreement(layout):
    make_run(layout / "derivatives" / "fmriprep", "03", json_tr=2.0, header_tr=2.5)
    msg = _messages(discover_runs(layout))
    assert "RepetitionTime 2 s in" in msg and "disagrees with the NIfTI header's 2.5 s" in msg


def test_tr_tiny_difference_is_fine(layout):
    make_run(layout / "derivatives" / "fmriprep", "03", json_tr=2.0, header_tr=2.0005)
    assert discover_runs(layout).problems == []


def test_bad_repetition_time_value(layout):
    make_run(layout / "derivatives" / "fmriprep", "03", json_tr="2s")
    assert "has RepetitionTime '2s'; it must be a positive number of seconds" in _messages(discover_runs(layout))


def test_invalid_json_sidecar(layout):
    bold = make_run(layout / "derivatives" / "fmriprep", "03")
    bold.with_name(bold.name.replace(".nii.gz", ".json")).write_text("{not json")
    assert "is not valid JSON" in _messages(discover_runs(layout))


def test_corrupt_nifti(layout):
    bold = make_run(layout / "derivatives" / "fmriprep", "03")
    bold.write_bytes(gzip.compress(b"this is not a nifti header"))
    found = discover_runs(layout)
    assert "is not a readable NIfTI file" in _messages(found)
    assert len(found.runs) == 3


def test_bold_not_4d(layout):
    make_run(layout / "derivatives" / "fmriprep", "03", bold_shape=SHAPE)
    assert "has shape (7, 8, 9) but a BOLD run must be 4D" in _messages(discover_runs(layout))


def test_unknown_entity_in_bold_name_is_reported(layout):
    func = layout / "derivatives" / "fmriprep" / "sub-01" / "func"
    _nifti(func / f"sub-01_task-rest_part-mag_space-{SPACE}_desc-preproc_bold.nii.gz", (*SHAPE, 10))
    found = discover_runs(layout)
    assert len(found.runs) == 3
    assert "unknown BIDS entity ['part']" in _messages(found)


@pytest.mark.parametrize("klass", [nib.Nifti1Header, nib.Nifti2Header])
def test_header_tr_rule(tmp_path, klass):
    def header(tr, unit):
        # written and read back by nibabel: the rule sees what nibabel's header gives
        h = klass()
        h.set_data_shape((*SHAPE, 5))
        h.set_zooms((1, 1, 1, tr))
        h.set_xyzt_units("mm", unit)
        image = nib.Nifti1Image if klass is nib.Nifti1Header else nib.Nifti2Image
        path = tmp_path / f"{tr}-{unit}.nii"
        nib.save(image(np.zeros((*SHAPE, 5), np.float32), np.eye(4), h), path)
        return nib.load(path).header

    assert header_t_r(header(2.0, "sec")) == 2.0
    assert header_t_r(header(1.0, "sec")) == 1.0  # a unit makes 1 s believable
    assert header_t_r(header(800, "msec")) == pytest.approx(0.8)
    assert header_t_r(header(750000, "usec")) == pytest.approx(0.75)
    assert header_t_r(header(1.0, "unknown")) is None  # the default placeholder
    assert header_t_r(header(0.0, "sec")) is None
    assert header_t_r(header(2.0, "unknown")) == 2.0
    assert header_t_r(header(2000, "unknown")) is None  # implausible without a unit
    three_d = klass()
    three_d.set_data_shape(SHAPE)
    assert header_t_r(three_d) is None


def test_count_rows_ignores_trailing_blank_lines(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("a\tb\n1\t2\n3\t4\n\n\n")
    assert _count_rows(path) == 2
    path.write_text("a\tb\n1\t2\n3\t4")
    assert _count_rows(path) == 2
    path.write_text("a\tb\n")
    assert _count_rows(path) == 0


def test_filters(layout):
    deriv = layout / "derivatives" / "fmriprep"
    make_run(deriv, "01", task="nback")
    make_run(deriv, "01", res="2")
    ids = lambda d: [r.run_id for r in d.runs]  # noqa: E731
    assert ids(discover_runs(layout, participant_label=["sub-01"], task="rest", res="2")) == [
        f"sub-01_task-rest_space-{SPACE}_res-2"
    ]
    assert len(discover_runs(layout, participant_label=["01"]).runs) == 3
    assert ids(discover_runs(layout, session_label=["ses-2"])) == [f"sub-02_ses-2_task-rest_run-1_space-{SPACE}"]
    assert ids(discover_runs(layout, session_label=["1"], participant_label=["02"])) == [
        f"sub-02_ses-1_task-rest_run-1_space-{SPACE}"
    ]
    assert all(r.entity_dict["task"] == "nback" for r in discover_runs(layout, task="nback").runs)
    kept = discover_runs(layout, exclude=["sub-02_ses-1_*", "*_res-2_*"])
    assert len(kept.runs) == 3 and len(kept.excluded) == 2


def test_requested_participant_without_runs(layout):
    found = discover_runs(layout, participant_label=["01", "09"])
    assert [r.subject for r in found.runs] == ["01"]
    (prob,) = found.problems
    assert prob.run_id == "sub-09"
    assert "participant sub-09 was requested but has no preprocessed BOLD" in prob.message


def test_several_derivative_folders(layout, tmp_path):
    other = tmp_path / "fmriprep_batch2"
    _description(other, derivative=True)
    make_run(other, "05")
    default = layout / "derivatives" / "fmriprep"
    found = discover_runs(layout, [default, other])
    assert [r.subject for r in found.runs] == ["01", "02", "02", "05"]
    assert found.runs[-1].bold.is_relative_to(other)
    make_run(other, "01")
    found = discover_runs(layout, [default, other])  # the duplicate is left out, the others go on
    assert [r.subject for r in found.runs] == ["02", "02", "05"]
    (prob,) = [p for p in found.problems if p.run_id.startswith("sub-01_task-rest")]
    assert re.search(r"sub-01_task-rest_space-\S+ is found in two derivative folders: .*fmriprep.*fmriprep_batch2.*"
                     r"left out", prob.message)


def test_discover_from_config(layout):
    inputs = InputsConfig(participant_label=("sub-02",), session_label=("2",), task="rest")
    found = discover_from_config(layout, inputs)
    assert [r.run_id for r in found.runs] == [f"sub-02_ses-2_task-rest_run-1_space-{SPACE}"]


def test_same_runs_as_pybids(layout):
    bids = pytest.importorskip("bids")
    deriv = layout / "derivatives" / "fmriprep"
    make_run(deriv, "03", ses="1", task="nback", run="2")
    make_run(deriv, "03", ses="1", res="2")
    make_run(deriv, "03", ses="1", space="T1w")
    ours = {str(r.bold) for r in discover_runs(layout).runs}
    pb = bids.BIDSLayout(layout, derivatives=True, validate=False)
    theirs = {
        f.path
        for f in pb.get(scope="derivatives", suffix="bold", desc="preproc", space=SPACE, extension=".nii.gz")
    }
    assert ours == theirs and len(ours) == 5


def test_header_reader_handles_nifti2_big_endian_and_plain_nii(tmp_path):
    from neurokit.io._discover import _read_header

    data = np.zeros((*SHAPE, 4), dtype=np.int16)
    img2 = nib.Nifti2Image(data, np.eye(4))
    img2.header.set_zooms((1, 1, 1, 0.8))
    nib.save(img2, tmp_path / "n2.nii.gz")
    big = nib.Nifti1Image(data.astype(">i2"), np.eye(4), nib.Nifti1Header(endianness=">"))
    nib.save(big, tmp_path / "big.nii")
    h2 = _read_header(tmp_path / "n2.nii.gz")
    assert isinstance(h2, nib.Nifti2Header) and h2.get_data_shape() == (7, 8, 9, 4)
    assert float(h2.get_zooms()[3]) == pytest.approx(0.8)
    assert _read_header(tmp_path / "big.nii").get_data_shape() == (7, 8, 9, 4)


def test_truncated_gzip_bold(layout):
    bold = make_run(layout / "derivatives" / "fmriprep", "03")
    bold.write_bytes(bold.read_bytes()[:30])
    assert "is not a readable NIfTI file" in _messages(discover_runs(layout))


def test_raw_participant_without_derivatives(layout):
    (layout / "sub-07" / "func").mkdir(parents=True)
    (layout / "sub-08" / "anat").mkdir(parents=True)  # no functional data: nothing expected
    (layout / "sub-01" / "func").mkdir(parents=True)
    found = discover_runs(layout)
    assert len(found.runs) == 3
    (prob,) = found.problems
    assert prob.run_id == "sub-07" and prob.path == layout / "sub-07"
    assert "sub-07 has functional data in" in prob.message and "run fMRIPrep for it" in prob.message
    assert discover_runs(layout, participant_label=["01"]).problems == []


def test_fmriprep_boldref_of_the_same_space_is_found(tmp_path):
    root = tmp_path / "bids"
    deriv = root / "derivatives" / "fmriprep"
    for folder in (root, deriv):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.9.0"}')
    bold = make_run(deriv, "01", res="2")
    make_run(deriv, "02")
    func = bold.parent
    ref = func / bold.name.replace("_desc-preproc_bold", "_boldref")
    _nifti(ref, SHAPE)
    _nifti(func / bold.name.replace("_res-2_desc-preproc_bold", "_res-1_boldref"), SHAPE)  # another grid
    _nifti(func / "sub-01_task-rest_boldref.nii.gz", SHAPE)  # native space: not this run's
    runs = {r.subject: r for r in discover_runs(root).runs}
    assert runs["01"].boldref == ref
    assert runs["02"].boldref is None
