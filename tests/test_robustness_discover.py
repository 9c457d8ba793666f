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
