import json
import os

import numpy as np
import pandas as pd
import pytest

from neurokit.io import Run
from neurokit.io._derivatives import (
    DerivativeNames,
    atomic_write_json,
    atomic_write_text,
    atomic_write_tsv,
    BIDSIGNORE,
    atlas_files,
    bids_label,
    bids_uri,
    dataset_links,
    input_fingerprint,
    json_text,
    read_dataset_links,
    read_failures,
    remove_temporaries,
    write_atlas_files,
    write_dataset_description,
    write_failures,
)


def _run(tmp_path, ses="1"):
    files = {}
    for name in ("bold.nii.gz", "bold.json", "confounds.tsv", "confounds.json", "mask.nii.gz"):
        path = tmp_path / name
        path.write_text(name)
        files[name] = path
    entities = [("sub", "01")] + ([("ses", ses)] if ses else []) + [("task", "rest"), ("run", "1"),
                                                                      ("space", "MNI152NLin2009cAsym")]
    return Run(tuple(entities), files["bold.nii.gz"], files["bold.json"], files["confounds.tsv"],
               files["confounds.json"], files["mask.nii.gz"], 2.0, 100)


@pytest.mark.parametrize(
    "text, label",
    [("simple+gsr", "simpleGsr"), ("pfclimbic-spheres", "pfclimbicSpheres"),
     ("partial correlation", "partialCorrelation"), ("compcor", "compcor")],
)
def test_bids_label(text, label):
    assert bids_label(text) == label


def test_bids_label_rejects_empty():
    with pytest.raises(ValueError, match="no letters or digits"):
        bids_label("+-")


def test_names_follow_bep017_bep038(tmp_path):
    names = DerivativeNames(tmp_path, _run(tmp_path), "pfclimbic", "simple+gsr")
    assert names.timeseries().relative_to(tmp_path).as_posix() == (
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-1_space-MNI152NLin2009cAsym_seg-pfclimbic_desc-simpleGsr_timeseries.tsv"
    )
    assert names.relmat("partial correlation").name == (
        "sub-01_ses-1_task-rest_run-1_space-MNI152NLin2009cAsym_seg-pfclimbic_meas-partialCorrelation_desc-simpleGsr_relmat.tsv"
    )
    assert names.qc().name == "sub-01_ses-1_task-rest_run-1_space-MNI152NLin2009cAsym_desc-qc_metrics.json"
    assert names.completion() == tmp_path / "logs" / "runs" / f"{names.run.run_id}.json"
    no_session = DerivativeNames(tmp_path, _run(tmp_path, ses=None), "pfclimbic", "simple")
    assert no_session.folder == tmp_path / "sub-01" / "func"


def test_atomic_writes_leave_no_temporaries(tmp_path):
    atomic_write_text(tmp_path / "a" / "x.txt", "hello")
    atomic_write_json(tmp_path / "a" / "x.json", {"v": np.float64(np.nan), "arr": np.arange(3), "i": np.int64(2)})
    atomic_write_tsv(tmp_path / "a" / "x.tsv", pd.DataFrame({"a": [1.0, np.nan]}))
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.json", "x.tsv", "x.txt"]
    assert json.loads((tmp_path / "a" / "x.json").read_text()) == {"v": None, "arr": [0, 1, 2], "i": 2}
    assert (tmp_path / "a" / "x.tsv").read_text() == "a\n1\nn/a\n"


def test_failed_write_keeps_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_json(target, {"old": 1})
    with pytest.raises(TypeError, match="cannot write object"):
        atomic_write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_remove_temporaries(tmp_path):
    (tmp_path / "sub-01").mkdir()
    stale = tmp_path / "sub-01" / ".x.tsv.abc.neurokit-tmp"
    stale.write_text("half")
    keep = tmp_path / "sub-01" / "x.tsv"
    keep.write_text("whole")
    assert remove_temporaries(tmp_path) == [stale]
    assert not stale.exists() and keep.exists()


def test_fingerprint_tracks_inputs_and_config(tmp_path):
    run = _run(tmp_path)
    first = input_fingerprint(run, "cfg1")
    assert input_fingerprint(run, "cfg1") == first
    assert input_fingerprint(run, "cfg2") != first
    stat = run.confounds.stat()
    os.utime(run.confounds, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    assert input_fingerprint(run, "cfg1") != first


def test_failures_roundtrip(tmp_path):
    assert list(read_failures(tmp_path).columns) == ["run_id", "status", "stage", "error_type", "message", "bold"]
    write_failures(tmp_path, [{"run_id": "sub-02_task-rest", "status": "failed", "stage": "extract",
                               "error_type": "ExtractError", "message": "truncated", "bold": "b.nii.gz"}])
    table = read_failures(tmp_path)
    assert table.loc[0, "stage"] == "extract" and table.loc[0, "message"] == "truncated"


def test_atomic_writes_honour_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        path = atomic_write_text(tmp_path / "x.txt", "hello")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("with_nan", [False, True])
def test_float_tables_are_written_exactly_as_pandas_would(tmp_path, rng, with_nan):
    values = rng.standard_normal((37, 5)) * np.array([1e-9, 1.0, 1e3, 1e9, 123.456])
    if with_nan:
        values[3, 2] = np.nan
        values[:, 4] = np.nan
    table = pd.DataFrame(values, columns=["L_dlPFC", "R_amygdala", "a b", "x-y", "z"])
    path = atomic_write_tsv(tmp_path / "t.tsv", table)
    expected = table.to_csv(sep="\t", index=False, na_rep="n/a", lineterminator="\n", float_format="%.8g")
    assert path.read_text() == expected
    mixed = table.assign(label="x")
    assert atomic_write_tsv(tmp_path / "m.tsv", mixed).read_text() == mixed.to_csv(
        sep="\t", index=False, na_rep="n/a", lineterminator="\n", float_format="%.8g")


def test_json_text_is_valid_readable_and_nan_free(tmp_path):
    doc = {
        "Regions": ["L_amygdala", "R_amygdala"],
        "RegionTSNR": {"L_amygdala": np.float64(81.5), "R_amygdala": float("nan")},
        "Coverage": {"regions": {"L_amygdala": {"n_voxels": np.int64(12), "fraction": 0.9}}},
        "Path": tmp_path,
        "Empty": {},
        "Censored": np.array([3, 4]),
        1: "integer key",
    }
    text = json_text(doc)
    expected = json.loads(json.dumps(doc, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
                          .replace("NaN", "null"))
    assert json.loads(text) == expected
    assert "NaN" not in text and text.endswith("}\n")
    lines = text.splitlines()
    # three levels of objects one key per line; deeper values and lists on one line
    assert '  "Regions": ["L_amygdala", "R_amygdala"],' in lines
    assert '    "R_amygdala": null' in lines
    assert '      "L_amygdala": {"n_voxels": 12, "fraction": 0.9}' in lines
    path = atomic_write_json(tmp_path / "doc.json", doc)
    assert path.read_text() == text
    with pytest.raises(TypeError, match="cannot write object"):
        json_text({"x": object()})


def test_dataset_links_are_relative_to_the_derivative_dataset(tmp_path):
    out = tmp_path / "results" / "neurokit"
    assert dataset_links(out, tmp_path / "bids") == {"raw": "../../bids", "fmriprep": "../../bids/derivatives/fmriprep"}
    assert dataset_links(out, tmp_path / "bids", [tmp_path / "prep1", out / "prep2"]) == {
        "raw": "../../bids", "fmriprep": "../../prep1", "fmriprep2": "prep2"}


def test_bids_uri_names_the_innermost_linked_dataset(tmp_path):
    out = tmp_path / "bids" / "derivatives" / "neurokit"
    links = dataset_links(out, tmp_path / "bids")
    bold = tmp_path / "bids" / "derivatives" / "fmriprep" / "sub-01" / "func" / "sub-01_bold.nii.gz"
    assert bids_uri(bold, links, out) == "bids:fmriprep:sub-01/func/sub-01_bold.nii.gz"
    assert bids_uri(tmp_path / "bids" / "sub-01" / "func" / "x.nii.gz", links, out) == "bids:raw:sub-01/func/x.nii.gz"
    # the derivative dataset itself sits inside the raw one: its own files are bids::
    assert bids_uri(out / "sub-01" / "func" / "y.tsv", links, out) == "bids::sub-01/func/y.tsv"
    # a prefix of a folder name is not that folder
    assert bids_uri(tmp_path / "bids2" / "z.tsv", links, out) == "../../../bids2/z.tsv"


def test_bids_uri_without_links_is_relative_never_absolute(tmp_path):
    uri = bids_uri(tmp_path / "inputs" / "a.nii.gz", {}, tmp_path / "out")
    assert uri == "../inputs/a.nii.gz"
    assert bids_uri(tmp_path / "out" / "a.tsv", {}, tmp_path / "out") == "bids::a.tsv"


def test_dataset_description_links_readme_and_bidsignore(tmp_path):
    links = dataset_links(tmp_path / "out", tmp_path / "bids")
    assert read_dataset_links(tmp_path / "out") == {}
    write_dataset_description(tmp_path / "out", config_hash="abc", links=links)
    desc = json.loads((tmp_path / "out" / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative" and desc["GeneratedBy"][0]["Name"] == "neurokit"
    assert desc["SourceDatasets"] == [{"URL": "bids:raw:"}, {"URL": "bids:fmriprep:"}]
    assert read_dataset_links(tmp_path / "out") == links == desc["DatasetLinks"]
    assert str(tmp_path) not in json.dumps(desc)
    assert (tmp_path / "out" / ".bidsignore").read_text() == BIDSIGNORE
    assert "BIDS URIs" in (tmp_path / "out" / "README.md").read_text()


def test_atlas_files_follow_bep038(tmp_path):
    from neurokit.atlases import load

    atlas = load("pfclimbic")
    paths = write_atlas_files(tmp_path, atlas)
    assert paths == atlas_files(tmp_path, "pfclimbic")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "atlas-pfclimbic_description.json", "atlas-pfclimbic_dseg.json", "atlas-pfclimbic_dseg.tsv"]
    table = pd.read_csv(paths["table"], sep="\t", keep_default_na=False, na_values=["n/a"])
    pd.testing.assert_frame_equal(table, atlas.regions, check_dtype=False)
    sidecar = json.loads(paths["table_json"].read_text())
    assert sidecar["SpatialReference"] == atlas.space
    assert set(table.columns) - {"index", "name"} <= set(sidecar) and "index" not in sidecar
    assert json.loads(paths["description"].read_text())["Name"] == "pfclimbic"
