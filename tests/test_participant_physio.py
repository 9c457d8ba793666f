"""The participant level measures physiology for every run: usable recordings give the metrics
physio_for_run gives on the same files; a missing, sidecar-less, short or flat recording, or a
physiology step that raises, leaves the run processed with the reason recorded (metrics TSV,
QC JSON, completion record, log); physio.enabled: false writes no physio file; resume redoes a
run exactly when its physiology settings changed.

The pulse traces are drawn with tests/test_physio.py's own helpers (planted beats, waveform,
BIDS recording writer), beside runs of the simulator that carry no recording of their own.
"""

import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurokit.config import RUN_SECTIONS, Config
from neurokit.io import DerivativeNames, check_derivative_names, completed_runs, discover_runs, physio_for_run
from neurokit.pipelines import participant as pp

_spec = importlib.util.spec_from_file_location("_physio_helpers", Path(__file__).with_name("test_physio.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

#: subject -> what its recording is (the simulator's runs: 60 volumes of 2 s, 120 s)
CASES = {"01": "usable", "02": "missing", "03": "no_sidecar", "04": "short", "05": "flat"}


def write_recording(bids, run, **kwargs):
    """A pulse + breathing recording of ``run`` in the raw dataset (tests/test_physio.py's traces)."""
    return helpers.write_run_recording(bids, run, **kwargs)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from neurokit.simulate import simulate_dataset

    bids = tmp_path_factory.mktemp("physio") / "bids"
    simulate_dataset(bids, n_subjects=len(CASES), n_volumes=60, seed=5)
    for path in bids.rglob("*_physio.*"):  # only the recordings written here
        path.unlink()
    runs = {run.subject: run for run in discover_runs(bids).runs}
    assert set(runs) == set(CASES)
    write_recording(bids, runs["01"], seed=1)
    write_recording(bids, runs["03"], sidecar=False, seed=3)
    write_recording(bids, runs["04"], duration=40.0, seed=4)
    write_recording(bids, runs["05"], hook=helpers._flat, seed=5)
    return bids, runs


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as c:
            yield c


@pytest.fixture(scope="module")
def config():
    return Config().updated({"denoise.min_volumes": 30, "exclusion.min_tdof": 10})


@pytest.fixture(scope="module")
def processed(dataset, client, config, tmp_path_factory):
    bids, _ = dataset
    out = tmp_path_factory.mktemp("out") / "derivatives"
    logger = logging.getLogger("neurokit.participant")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        summary = pp.run_participant(bids, out, config, client=client, progress=False)
    finally:
        logger.removeHandler(handler)
    return out, summary, handler.messages


_Collect = helpers.LogCollector


def _metrics(record):
    return pd.read_csv(record["outputs"]["physio"], sep="\t", na_values=["n/a"], keep_default_na=False)


@pytest.mark.slow
def test_every_run_is_processed_and_its_physiology_recorded(dataset, processed):
    bids, runs = dataset
    out, summary, messages = processed
    records = {r["entities"]["sub"]: r for r in completed_runs(out)}  # outputs under out
    assert set(records) == set(CASES) and summary.n_failed == 0
    warnings = [m for level, m in messages if level == logging.WARNING]
    for sub, case in CASES.items():
        record = records[sub]
        assert record["status"] == "ok", sub  # the connectivity does not depend on the recording
        assert Path(record["outputs"]["relmat:correlation"]).is_file()
        row = _metrics(record).iloc[0]
        qc = json.loads(Path(record["outputs"]["qc"]).read_text())
        sidecar = json.loads(Path(record["outputs"]["physio:json"]).read_text())
        assert set(qc["Physio"]) == {"usable", "reason", "message", "warnings"}
        assert record["physio"]["usable"] == qc["Physio"]["usable"] and record["physio"]["reason"] == qc["Physio"]["reason"]
        for written in ("qc", "physio:json"):  # the reasons name the raw dataset's files from its root
            assert str(bids) not in Path(record["outputs"][written]).read_text(), (sub, written)
        if case == "usable":
            assert bool(row["usable"]) is True and row["reason"] == ""
            assert qc["Physio"]["usable"] is True and qc["Physio"]["reason"] is None
            assert not [m for m in warnings if runs[sub].run_id in m]
            continue
        code = case
        assert bool(row["usable"]) is False and row["reason"] == code, (sub, row["reason"])
        assert np.isnan(float(row["rmssd"])) and np.isnan(float(row["heart_rate"]))
        assert qc["Physio"]["usable"] is False and qc["Physio"]["reason"] == code
        assert sidecar["Reason"]["code"] == code and qc["Physio"]["message"] == sidecar["Reason"]["message"]
        mine = [m for m in warnings if runs[sub].run_id in m]
        if case == "missing":  # counted, not warned about: most datasets have no recordings at all
            assert not mine
        else:  # a recording that exists but cannot be used is named, with the reason
            assert len(mine) == 1 and f"({code})" in mine[0] and f"sub-{sub}_task-rest_physio.tsv.gz" in mine[0]
    assert summary.n_physio_usable == 1
    assert summary.physio_reasons == {"flat": 1, "missing": 1, "no_sidecar": 1, "short": 1}
    assert summary.physio_seconds is not None and summary.physio_seconds > 0
    closing = [m for _, m in messages if m.startswith("physiology: ")]
    assert closing == [next(m for m in closing)] and "1 run(s) with usable HRV, 4 without" in closing[0]
    assert "flat 1, missing 1, no_sidecar 1, short 1" in closing[0]
    # the files the pipeline now writes follow the documented naming rules
    assert [str(f) for f in check_derivative_names(out).findings] == []


@pytest.mark.slow
def test_usable_metrics_equal_physio_for_run_on_the_same_files(dataset, processed):
    bids, runs = dataset
    out, _, _ = processed
    record = next(r for r in completed_runs(out) if r["entities"]["sub"] == "01")
    written = pd.read_csv(record["outputs"]["physio"], sep="\t")
    expected = physio_for_run(bids, runs["01"]).row()
    assert expected["usable"] and written["usable"].iloc[0]
    for name, value in expected.items():
        if name in ("usable", "reason"):
            continue
        np.testing.assert_allclose(float(written[name].iloc[0]), float(value), rtol=1e-5, err_msg=name)
    sidecar = json.loads(Path(record["outputs"]["physio:json"]).read_text())
    assert sidecar["Sources"] == ["bids:raw:sub-01/func/sub-01_task-rest_physio.tsv.gz"]  # a BIDS URI, no path
    assert str(bids) not in Path(record["outputs"]["qc"]).read_text()


@pytest.mark.slow
def test_resume_redoes_runs_exactly_when_the_physio_settings_change(dataset, client, config, processed, tmp_path):
    import shutil

    bids, runs = dataset
    out = tmp_path / "copy"
    shutil.copytree(processed[0], out)
    assert pp.run_participant(bids, out, config, client=client, progress=False).n_skipped == len(CASES)
    stricter = config.updated({"physio.min_duration": 100.0})  # 100 s: the 40 s recording stays short
    again = pp.run_participant(bids, out, stricter, client=client, progress=False)
    assert again.n_skipped == 0 and again.n_ok == len(CASES)
    assert pp.run_participant(bids, out, stricter, client=client, progress=False).n_skipped == len(CASES)
    # a run recorded before the participant level measured physiology (no physio output) is redone
    back = pp.run_participant(bids, out, config, client=client, progress=False)
    assert back.n_skipped == 0
    names = DerivativeNames(out, runs["02"], config.atlas.name, config.modelled_strategy)
    record = json.loads(names.completion().read_text())
    Path(out / record["outputs"].pop("physio")).unlink()
    Path(out / record["outputs"].pop("physio:json")).unlink()
    record["output_bytes"] = {k: v for k, v in record["output_bytes"].items() if k in record["outputs"]}
    record.pop("physio")
    names.completion().write_text(json.dumps(record))
    resumed = pp.run_participant(bids, out, config, client=client, progress=False)
    assert resumed.n_skipped == len(CASES) - 1 and names.physio(".tsv").is_file()


@pytest.mark.slow
def test_disabled_physiology_writes_no_physio_file(dataset, client, config, tmp_path):
    bids, _ = dataset
    off = config.updated({"physio.enabled": False, "inputs.participant_label": ["01", "03"]})
    summary = pp.run_participant(bids, tmp_path, off, client=client, progress=False)
    assert summary.n_ok == 2 and summary.n_physio_usable == 0 and summary.physio_reasons == {}
    assert not list(tmp_path.rglob("*physio*"))
    for record in summary.records:
        assert "physio" not in record["outputs"] and "physio" not in record
        assert "Physio" not in json.loads(Path(record["outputs"]["qc"]).read_text())


@pytest.mark.slow
@pytest.mark.parametrize("where", ["run_recording", "hrv_from_recording"])
def test_an_exception_in_the_physiology_step_leaves_the_run_complete(dataset, config, tmp_path, monkeypatch, where):
    import neurokit.run._physio as step
    from neurokit.atlases import load

    bids, runs = dataset

    def broken(*args, **kwargs):
        raise RuntimeError("planted failure")

    monkeypatch.setattr(step, where, broken)
    record = pp.process_run(runs["01"], load(config.atlas.name), config, str(tmp_path), "fp", bids_dir=str(bids))
    assert record["status"] == "ok"
    assert (tmp_path / record["outputs"]["relmat:correlation"]).is_file()
    row = pd.read_csv(tmp_path / record["outputs"]["physio"], sep="\t").iloc[0]
    qc = json.loads((tmp_path / record["outputs"]["qc"]).read_text())
    assert row["reason"] == "error" and bool(row["usable"]) is False
    assert qc["Physio"]["reason"] == "error" and "RuntimeError: planted failure" in qc["Physio"]["message"]


@pytest.mark.slow
def test_compute_run_reads_the_recording_once_and_keeps_it(dataset, config, monkeypatch):
    import neurokit.io._physio as io_physio
    from neurokit.atlases import load
    from neurokit.run import compute_run

    bids, runs = dataset
    calls = []
    read = io_physio.read_physio
    monkeypatch.setattr(io_physio, "read_physio", lambda *a, **k: calls.append(a) or read(*a, **k))
    atlas = load(config.atlas.name)
    result = compute_run(runs["01"], atlas, config, bids_dir=bids)
    assert len(calls) == 1
    assert result.physio.usable and set(result.recording.channels) == {"cardiac", "respiratory"}
    assert result.qc.physio["usable"] is True and result.physio_seconds > 0
    without = compute_run(runs["01"], atlas, config)  # no raw dataset given: said so, not guessed
    assert without.recording is None and without.physio.reason.code == "no_raw_dataset"
    off = compute_run(runs["01"], atlas, config.updated({"physio.enabled": False}), bids_dir=bids)
    assert off.physio is None and off.recording is None and off.qc.physio is None
    np.testing.assert_array_equal(off.modelled.matrices["correlation"], result.modelled.matrices["correlation"])


def test_physio_settings_enter_the_run_hash_only_when_not_at_the_defaults():
    default = Config()
    assert default.run_hash() == default.hash(RUN_SECTIONS)  # every run made before physiology keeps its hash
    changed = {default.updated({key: value}).run_hash() for key, value in (
        ("physio.enabled", False), ("physio.min_duration", 90.0), ("physio.max_rejected_fraction", 0.1),
        ("physio.cardiac_kind", "ecg"))}
    assert len(changed) == 4 and default.run_hash() not in changed
    assert default.updated({"physio.min_duration": 60.0}).run_hash() == default.run_hash()  # = the default
    assert default.updated({"physio.columns": {"cardiac": ["pulse_ox"]}}).run_hash() != default.run_hash()


@pytest.mark.slow
def test_a_recording_added_later_redoes_its_run(dataset, client, config, tmp_path):
    import shutil

    bids = tmp_path / "bids"
    shutil.copytree(dataset[0], bids)
    one = config.updated({"inputs.participant_label": ["02"]})
    out = tmp_path / "out"
    first = pp.run_participant(bids, out, one, client=client, progress=False)
    assert first.physio_reasons == {"missing": 1}
    assert pp.run_participant(bids, out, one, client=client, progress=False).n_skipped == 1
    [run] = discover_runs(bids, participant_label=["02"]).runs
    write_recording(bids, run, seed=2)
    added = pp.run_participant(bids, out, one, client=client, progress=False)
    assert added.n_skipped == 0 and added.n_physio_usable == 1 and added.physio_reasons == {}
    assert pp.run_participant(bids, out, one, client=client, progress=False).n_skipped == 1
