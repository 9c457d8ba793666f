"""Tests for the BIDS entity table, parse_filename and build_filename."""

from pathlib import Path

import pytest

from neurokit.io import ENTITY_ORDER, RUN_ENTITIES, BIDSError, BIDSName, build_filename, parse_filename


def test_entity_order_matches_run_entities():
    # recording- names only raw physiological recordings (after space-, as in BIDS), never a run's outputs
    assert tuple(e for e in ENTITY_ORDER if e != "recording") == (*RUN_ENTITIES, "seg", "meas", "desc")
    assert ENTITY_ORDER.index("recording") == ENTITY_ORDER.index("space") + 1
    assert parse_filename("sub-01_task-rest_run-1_recording-cardiac_physio.tsv.gz").entities == {
        "sub": "01", "task": "rest", "run": "1", "recording": "cardiac"}


def test_parse_fmriprep_bold():
    name = parse_filename(
        "/data/derivatives/fmriprep/sub-01/ses-2/func/"
        "sub-01_ses-2_task-rest_acq-mb4_run-3_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz"
    )
    assert name == BIDSName(
        {
            "sub": "01",
            "ses": "2",
            "task": "rest",
            "acq": "mb4",
            "run": "3",
            "space": "MNI152NLin2009cAsym",
            "res": "2",
            "desc": "preproc",
        },
        "bold",
        ".nii.gz",
    )
    assert list(name.entities) == ["sub", "ses", "task", "acq", "run", "space", "res", "desc"]


def test_parse_accepts_path_objects_and_no_entities():
    assert parse_filename(Path("x") / "participants.tsv") == BIDSName({}, "participants", ".tsv")
    assert parse_filename("sub-01_sessions.tsv").entities == {"sub": "01"}


def test_parse_reorders_entities():
    assert list(parse_filename("task-rest_sub-01_bold.nii").entities) == ["sub", "task"]


def test_round_trip():
    name = "sub-01_task-rest_run-1_space-MNI152NLin2009cAsym_seg-pfclimbic_meas-correlation_desc-simple_relmat.tsv"
    parsed = parse_filename(name)
    assert build_filename(parsed.entities, parsed.suffix, parsed.extension) == name
    assert parsed.filename == name


def test_build_orders_entities_and_skips_none():
    got = build_filename(
        {"desc": "simple", "meas": "correlation", "seg": "pfclimbic", "sub": "01", "ses": None, "task": "rest"},
        "relmat",
        "tsv",
    )
    assert got == "sub-01_task-rest_seg-pfclimbic_meas-correlation_desc-simple_relmat.tsv"


def test_with_entities_copies():
    name = parse_filename("sub-01_task-rest_desc-preproc_bold.nii.gz")
    new = name.with_entities(desc=None, seg="aal")
    assert new.filename == "sub-01_task-rest_seg-aal_bold.nii.gz"
    assert name.entities["desc"] == "preproc"


def test_unknown_entity_is_an_error():
    with pytest.raises(BIDSError, match=r"sub-01_hemi-L_part-mag_bold.nii.gz: unknown BIDS entities \['hemi', 'part'\]"):
        parse_filename("sub-01_hemi-L_part-mag_bold.nii.gz")
    with pytest.raises(BIDSError, match=r"unknown BIDS entity \['atlas'\].*add new ones to neurokit.io._bids.ENTITIES"):
        build_filename({"sub": "01", "atlas": "aal"}, "timeseries", ".tsv")


def test_malformed_parts():
    with pytest.raises(BIDSError, match=r"'task' is not a 'key-value' entity"):
        parse_filename("sub-01_task_bold.nii.gz")
    with pytest.raises(BIDSError, match=r"entity 'sub' appears twice"):
        parse_filename("sub-01_sub-02_bold.nii.gz")
    with pytest.raises(BIDSError, match=r"entity run-'a' is not valid; its value must be a non-negative integer"):
        parse_filename("sub-01_run-a_bold.nii.gz")
    with pytest.raises(BIDSError, match=r"entity task-'rest-1' is not valid; its value must be letters and digits"):
        parse_filename("sub-01_task-rest-1_bold.nii.gz")
    with pytest.raises(BIDSError, match=r"the suffix 'bo-ld' is not valid"):
        parse_filename("sub-01_bo-ld.nii.gz")
    with pytest.raises(BIDSError, match=r"entity meas-'partial correlation' is not valid"):
        build_filename({"sub": "01", "meas": "partial correlation"}, "relmat", ".tsv")
    with pytest.raises(BIDSError, match=r"suffix 'rel_mat' must be letters and digits only"):
        build_filename({"sub": "01"}, "rel_mat", ".tsv")
