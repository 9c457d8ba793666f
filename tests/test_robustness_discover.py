"""Discovery on layouts the project has not seen: lab participant labels."""

import json

import pytest

from neurokit.io import BIDSError, discover_runs


def test_unknown_participant_label_lists_the_participants_there(tmp_path):
    (tmp_path / "dataset_description.json").write_text(json.dumps({"Name": "x", "BIDSVersion": "1.9.0"}))
    deriv = tmp_path / "derivatives" / "fmriprep"
    for label in ("ctl01", "ket02"):
        (deriv / f"sub-{label}" / "func").mkdir(parents=True)
    (deriv / "dataset_description.json").write_text(json.dumps({"Name": "fMRIPrep", "DatasetType": "derivative"}))
    with pytest.raises(BIDSError, match=r"none of the requested participants \['01'\] has a folder in .*fmriprep; "
                       r"the participants there are: ctl01, ket02\. Check --participant-label"):
        discover_runs(tmp_path, participant_label=["sub-01"])


def test_no_match_message_names_only_real_flags(tmp_path):
    (tmp_path / "dataset_description.json").write_text(json.dumps({"Name": "x", "BIDSVersion": "1.9.0"}))
    deriv = tmp_path / "derivatives" / "fmriprep"
    (deriv / "sub-01" / "func").mkdir(parents=True)
    (deriv / "dataset_description.json").write_text(json.dumps({"Name": "fMRIPrep", "DatasetType": "derivative"}))
    with pytest.raises(BIDSError, match=r"--participant-label \(or inputs.res in the config\)") as info:
        discover_runs(tmp_path, res="2")
    assert "--res" not in str(info.value)  # the command line has no --res flag


def _tiny_run(tmp_path, n_vol, json_tr=2.0):
    import gzip  # noqa: F401  (nibabel writes .nii.gz)

    import nibabel as nib
    import numpy as np

    (tmp_path / "dataset_description.json").write_text(json.dumps({"Name": "x", "BIDSVersion": "1.9.0"}))
    deriv = tmp_path / "derivatives" / "fmriprep"
    func = deriv / "sub-01" / "func"
    func.mkdir(parents=True)
    (deriv / "dataset_description.json").write_text(json.dumps({"Name": "fMRIPrep", "DatasetType": "derivative"}))
    stem = "sub-01_task-rest_space-MNI152NLin2009cAsym"
    img = nib.Nifti1Image(np.zeros((7, 8, 9, n_vol), np.int16), np.eye(4))
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 2.0
    nib.save(img, str(func / f"{stem}_desc-preproc_bold.nii.gz"))
    (func / f"{stem}_desc-preproc_bold.json").write_text(json.dumps({"RepetitionTime": json_tr}))
    nib.save(nib.Nifti1Image(np.ones((7, 8, 9), np.uint8), np.eye(4)), str(func / f"{stem}_desc-brain_mask.nii.gz"))
    rows = "\n".join(["trans_x\tframewise_displacement"] + ["0\tn/a"] + ["0\t0.1"] * (n_vol - 1))
    (func / "sub-01_task-rest_desc-confounds_timeseries.tsv").write_text(rows + "\n")
    return tmp_path


@pytest.mark.parametrize("n_vol", [1, 2])
def test_bold_with_too_few_volumes_is_a_discovery_problem(tmp_path, n_vol):
    found = discover_runs(_tiny_run(tmp_path, n_vol))
    assert found.runs == []
    (prob,) = found.problems
    assert f"has {n_vol} volume(s), too few for a functional time series" in prob.message
    assert "--exclude" in prob.message


def test_repetition_time_in_milliseconds_is_recognised(tmp_path):
    found = discover_runs(_tiny_run(tmp_path, 5, json_tr=2000))
    (prob,) = found.problems
    assert "RepetitionTime 2000 s" in prob.message and "looks like milliseconds" in prob.message
    assert "e.g. 2." in prob.message
