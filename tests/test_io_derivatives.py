import json
import os

import numpy as np
import pandas as pd
import pytest

from neurokit.io import Run
from neurokit.io import (
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
    # the package index has no neurokit-fc page (the old CodeURL was a dead link) and no public repository
    # address exists yet: the optional key is left out rather than pointing nowhere
    assert set(desc["GeneratedBy"][0]) == {"Name", "Version", "Description"}
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


# ----------------------------------------------------------------------------- typed per-run records
def _qc(**changes):
    from neurokit.io import RunQC

    qc = RunQC(run_id="sub-01_task-rest", atlas="pfclimbic", strategy="simple", repetition_time=2.0,
               n_volumes=100, censored_volumes=[3, 4], non_steady_state_volumes=[0],
               motion={"mean_fd": 0.12, "percent_censored": 2.0}, tdof_lost=12, tdof_remaining=85,
               n_regressors=10, region_tsnr={"a": 50.0}, excluded=False, exclusion_checks=[{"rule": "fd"}],
               confound_notes=["note"], summary_indices={"idx_pfc_limbic": 0.3},
               region_pfc_limbic_strength={"a": 0.1}, processing_seconds=1.5)
    for key, value in changes.items():
        setattr(qc, key, value)
    return qc


def test_run_qc_roundtrip_keeps_the_file_keys_and_order(tmp_path):
    from neurokit.io import RunQC

    qc = _qc()
    names = DerivativeNames(tmp_path, _run(tmp_path), "pfclimbic", "simple")
    path = qc.write(names)
    assert path == names.qc()
    data = json.loads(path.read_text())
    # the file keeps its historical spelling: BIDS CamelCase and the motion keys in snake_case
    assert list(data)[:9] == ["RunID", "Atlas", "Strategy", "RepetitionTime", "NumberOfVolumes", "CensoredVolumes",
                              "NonSteadyStateVolumes", "mean_fd", "percent_censored"]
    assert data["tDOFRemaining"] == 85 and data["ProcessingSeconds"] == 1.5 and "Strategies" not in data
    back = RunQC.read(path)
    assert back == qc and back.mean_fd == 0.12 and back.percent_censored == 2.0
    assert path.read_text() == json_text(back.to_dict())


def test_run_qc_without_cleaned_signals_has_no_summary_key():
    qc = _qc(tdof_lost=None, tdof_remaining=None, n_regressors=None, summary_indices=None,
             region_pfc_limbic_strength=None)
    data = qc.to_dict()
    assert "SummaryIndices" not in data and "RegionPFCLimbicStrength" not in data
    assert _qc(summary_indices={}).to_dict()["SummaryIndices"] is None  # cleaned, but no indices: null


def test_run_qc_for_strategy_puts_the_strategy_block_on_top():
    qc = _qc(strategies={"simple": {"tDOFRemaining": 85}, "scrubbing": {"tDOFRemaining": 40,
                                                                         "percent_censored": 20.0}})
    view = qc.for_strategy("scrubbing")
    assert view.tdof_remaining == 40 and view.percent_censored == 20.0
    assert qc.for_strategy(None).tdof_remaining == 85


def test_older_files_with_unknown_keys_still_load(tmp_path):
    from neurokit.io import RunQC, RunRecord

    old_qc = {"RunID": "sub-01", "Atlas": "pfclimbic", "mean_fd": 0.2, "ConfigHash": "abc", "Legacy": [1]}
    qc = RunQC.from_dict(old_qc)
    assert qc.run_id == "sub-01" and qc.mean_fd == 0.2 and qc.extra == {"ConfigHash": "abc", "Legacy": [1]}
    assert qc.tdof_remaining is None and qc.exclusion_checks == []
    assert qc.to_dict()["ConfigHash"] == "abc"

    path = tmp_path / "logs" / "runs" / "sub-01.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"run_id": "sub-01", "status": "ok", "outputs": {"qc": "sub-01/func/qc.json"},
                                "walltime": 3}))
    record = RunRecord.read(path, tmp_path)
    assert record.run_id == "sub-01" and record.extra == {"walltime": 3} and record.output_bytes is None
    assert record.outputs == {"qc": str(tmp_path / "sub-01/func/qc.json")}
    path.write_text("{not json")
    assert RunRecord.read(path) is None


def test_run_record_roundtrip_with_output_sizes(tmp_path):
    from neurokit.io import RunRecord, completed_runs, outputs_intact, read_completion

    names = DerivativeNames(tmp_path, _run(tmp_path), "pfclimbic", "simple")
    atomic_write_text(names.qc(), "{}\n")
    record = RunRecord(run_id=names.run.run_id, status="excluded", reasons=["motion"], fingerprint="f",
                       config_hash="c", entities=dict(names.run.entities), bold="bold.nii.gz",
                       outputs={"qc": names.qc().relative_to(tmp_path).as_posix()}, summary={}, mean_fd=0.4,
                       seconds=2.0)
    path = record.write(names)
    assert path == names.completion()
    data = json.loads(path.read_text())
    assert list(data) == ["run_id", "status", "reasons", "fingerprint", "config_hash", "entities", "bold", "inputs",
                          "outputs", "summary", "mean_fd", "seconds", "output_bytes"]
    assert data["output_bytes"] == {"qc": 3}
    assert RunRecord.read(path) == record
    [stored] = completed_runs(tmp_path)
    assert stored == read_completion(path, tmp_path) and outputs_intact(stored)
    atomic_write_text(names.qc(), "{}\n\n")  # changed size since: not intact
    assert not outputs_intact(read_completion(path, tmp_path))


def test_run_record_needs_a_run_id():
    from neurokit.io import RunRecord

    with pytest.raises(ValueError, match="a completion record needs a 'run_id'; got the keys"):
        RunRecord.from_dict({"status": "ok"})


def test_run_record_for_strategy():
    from neurokit.io import RunRecord

    record = RunRecord(run_id="r", outputs={"timeseries": "a", "timeseries@scrubbing": "b", "qc": "q"},
                       strategy="simple", strategies={
                           "simple": {"status": "ok", "reasons": [], "summary": {}, "outputs": ["timeseries"]},
                           "scrubbing": {"status": "excluded", "reasons": ["fd"], "summary": {},
                                         "outputs": ["timeseries@scrubbing"]}})
    view = record.for_strategy("scrubbing")
    assert view.status == "excluded" and view.outputs == {"timeseries": "b", "qc": "q"}
    assert record.for_strategy("compcor") is None


def test_failure_row_columns_and_rows(tmp_path):
    from dataclasses import fields

    from neurokit.io import FAILURE_COLUMNS, FailureRow, RunRecord

    assert [f.name for f in fields(FailureRow)] == list(FAILURE_COLUMNS) == list(FailureRow.COLUMNS)
    failed = FailureRow.failed("sub-02", "extract", "ValueError", "bad", tmp_path / "b.nii.gz")
    assert failed.to_dict() == {"run_id": "sub-02", "status": "failed", "stage": "extract",
                                "error_type": "ValueError", "message": "bad", "bold": str(tmp_path / "b.nii.gz")}
    excluded = FailureRow.excluded(RunRecord(run_id="sub-01", status="excluded", reasons=["a", "b"], bold="x"))
    assert excluded == FailureRow("sub-01", "excluded", "qc", "Exclusion", "a; b", "x")
    assert FailureRow.from_dict({**failed.to_dict(), "extra": 1}) == failed
    with pytest.raises(ValueError, match=r"a failures.tsv row needs the columns .*\['stage'\] are missing"):
        FailureRow.from_dict({"run_id": "a", "status": "failed", "error_type": "E", "message": "m"})
    write_failures(tmp_path, [excluded, failed.to_dict()])
    assert read_failures(tmp_path).to_dict("records") == [excluded.to_dict(), failed.to_dict()]
    path = tmp_path / "logs" / "failed" / "sub-02.json"
    failed.write_failed(path, "fp")
    assert FailureRow.read_failed(path) == ("fp", failed)
    assert FailureRow.read_failed(tmp_path / "absent.json") == (None, None)


def test_strategy_qc_names_a_missing_qc_file(tmp_path):
    from neurokit.io import GroupError, strategy_qc

    record = {"run_id": "sub-01_task-rest", "outputs": {"qc": str(tmp_path / "gone.json")}}
    with pytest.raises(GroupError, match=r"run sub-01_task-rest's QC metrics .*gone.json are missing or unreadable; "
                                         "rerun the participant level with --overwrite"):
        strategy_qc([record], "simple")
