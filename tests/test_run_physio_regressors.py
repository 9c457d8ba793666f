"""A '+physio' strategy in one run's computation (neurokit.run.compute_run): the regressors of the
run's recording join that strategy's confounds and its QC says what they explained; a run without
a usable recording is cleaned with the other confounds, the reason recorded and logged.

Recordings are drawn with tests/test_physio.py's helpers (planted beats, waveform, BIDS writer)
beside runs of the simulator, whose own recordings (if any) are removed first.
"""

import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from neurokit.config import Config
from neurokit.io import discover_runs

_spec = importlib.util.spec_from_file_location("_physio_helpers", Path(__file__).with_name("test_physio.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def write_recording(bids, run, *, fs=100.0, start=-8.0, seed=0):
    # breathing whose depth swings (for RVT) at 0.27 Hz
    return helpers.write_run_recording(bids, run, fs=fs, start=start, resp_hz=0.27, depth=0.3, resp_noise=0.02,
                                       seed=seed)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from neurokit.simulate import simulate_dataset

    bids = tmp_path_factory.mktemp("regr") / "bids"
    simulate_dataset(bids, n_subjects=4, n_volumes=60, seed=3)
    for path in bids.rglob("*_physio.*"):
        path.unlink()
    runs = {run.subject: run for run in discover_runs(bids).runs if run.subject in ("01", "02")}
    write_recording(bids, runs["01"], seed=1)  # sub-02 has none
    # the raw BOLD sidecar of sub-01, inherited by its run, knows the slice timing
    (bids / "sub-01" / "sub-01_task-rest_bold.json").write_text(json.dumps({"SliceTiming": [0.0, 1.0, 0.5, 1.5]}))
    return bids, runs


@pytest.fixture(scope="module")
def config():
    return Config().updated({"denoise.strategy": ["scrubbing+gsr+physio", "scrubbing+gsr"],
                             "denoise.min_volumes": 30, "exclusion.min_tdof": 10})


@pytest.fixture(scope="module")
def computed(dataset, config):
    from neurokit.atlases import load
    from neurokit.run import compute_run

    bids, runs = dataset
    atlas = load(config.atlas.name)
    logger = logging.getLogger("neurokit.run")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        results = {sub: compute_run(run, atlas, config, bids_dir=bids) for sub, run in runs.items()}
    finally:
        logger.removeHandler(handler)
    return results, handler.messages


_Collect = helpers.LogCollector


def test_a_run_with_a_recording_regresses_its_physiology_under_physio_only(computed, config):
    from neurokit.physio import regressor_columns

    results, _ = computed
    result = results["01"]
    columns = regressor_columns(**config.physio.regressors.kwargs())
    physio, plain = result.strategies["scrubbing+gsr+physio"], result.strategies["scrubbing+gsr"]
    assert list(physio.selection.confounds.columns) == [*plain.selection.confounds.columns, *columns]
    assert physio.cleaned.n_regressors == plain.cleaned.n_regressors + len(columns)
    assert physio.cleaned.tdof_remaining == plain.cleaned.tdof_remaining - len(columns)
    assert not np.allclose(physio.cleaned.signals, plain.cleaned.signals)
    assert result.physio_regressors.used and result.physio_regressors.columns == columns
    # the modelled strategy's entry at the top level of the QC, each strategy's in Strategies
    qc = result.qc.to_dict()
    block = qc["physio_regressors"]
    assert block["used"] is True and block["reason"] is None and block["columns"] == columns
    assert 0 < block["variance_share"] < 1
    # the simulator's BOLD knows nothing of this recording: the share is what 16 noise regressors explain
    k, left = len(columns), physio.cleaned.tdof_remaining + len(columns)
    assert block["variance_share_chance"] == pytest.approx(k / left, abs=1e-6)
    assert abs(block["variance_share"] - block["variance_share_chance"]) < 0.15
    assert block["slice_time_source"] == "SliceTiming median" and block["slice_time"] == pytest.approx(0.75)
    assert qc["Strategies"]["scrubbing+gsr+physio"]["physio_regressors"] == block
    assert qc["Strategies"]["scrubbing+gsr"]["physio_regressors"] is None
    # the share is what partial_r2 says the regressors explain beyond the strategy's other confounds
    from neurokit.denoise import partial_r2

    shares = partial_r2(result.signals, physio.selection.confounds, columns, physio.selection.sample_mask,
                        t_r=result.run.t_r, **config.denoise.clean_kwargs())
    assert block["variance_share"] == pytest.approx(float(np.median(shares)), abs=1e-6)
    assert result.physio.usable  # the HRV comes from the same recording


def test_a_run_without_a_recording_is_cleaned_with_the_other_confounds_and_says_why(computed):
    results, messages = computed
    result = results["02"]
    physio, plain = result.strategies["scrubbing+gsr+physio"], result.strategies["scrubbing+gsr"]
    assert list(physio.selection.confounds.columns) == list(plain.selection.confounds.columns)
    assert np.allclose(physio.cleaned.signals, plain.cleaned.signals)
    assert not physio.excluded and physio.matrices  # processed, never failed
    block = result.qc.to_dict()["physio_regressors"]
    assert block["used"] is False and block["reason"] == "missing" and block["columns"] == []
    assert block["variance_share"] is None and block["variance_share_chance"] is None
    assert "sub-01" not in block["message"]
    assert "sub-02_task-rest_physio.tsv.gz" in block["message"]
    assert any("no physiological regressors" in n for n in result.qc.confound_notes)
    logged = [m for level, m in messages if level == logging.WARNING and "no physiological regressors (missing)" in m]
    assert len(logged) == 1 and "sub-02_task-rest_physio.tsv.gz" in logged[0]


def test_a_strategy_without_physio_keeps_the_qc_it_had(dataset):
    from neurokit.atlases import load
    from neurokit.run import compute_run

    bids, runs = dataset
    config = Config().updated({"denoise.min_volumes": 30, "exclusion.min_tdof": 10})
    result = compute_run(runs["01"], load(config.atlas.name), config, bids_dir=bids)
    assert "physio_regressors" not in result.qc.to_dict() and result.physio_regressors is None


def test_the_raw_bold_sidecar_is_inherited(dataset, tmp_path):
    from neurokit.io import raw_bold_sidecar

    bids, runs = dataset
    merged = raw_bold_sidecar(bids, runs["01"])
    assert merged["SliceTiming"] == [0.0, 1.0, 0.5, 1.5] and "RepetitionTime" in merged  # top-level task file too
    assert "SliceTiming" not in raw_bold_sidecar(bids, runs["02"])
    assert raw_bold_sidecar(None, runs["01"]) == {} and raw_bold_sidecar(tmp_path, runs["01"]) == {}


@pytest.mark.slow
def test_the_participant_level_writes_the_physio_regressors_into_the_qc(dataset, config, tmp_path):
    from distributed import Client, LocalCluster

    from neurokit.io import RunQC, completed_runs
    from neurokit.pipelines import participant as pp

    bids, _ = dataset
    out = tmp_path / "derivatives"
    # 16 regressors more on 60 volumes leave sub-01 below 10 tDOF: no floor here, the QC is the subject
    config = config.updated({"inputs.participant_label": ["01", "02"], "exclusion.min_tdof": 1})
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            summary = pp.run_participant(bids, out, config, client=client, progress=False)
    assert summary.n_failed == 0
    records = {r["entities"]["sub"]: r for r in completed_runs(out)}
    assert {s: r["status"] for s, r in records.items()} == {"01": "ok", "02": "ok"}
    for sub, used in (("01", True), ("02", False)):
        qc = json.loads(Path(records[sub]["outputs"]["qc"]).read_text())
        assert qc["physio_regressors"]["used"] is used and qc["Strategies"]["scrubbing+gsr"]["physio_regressors"] is None
        view = RunQC.read(records[sub]["outputs"]["qc"]).for_strategy("scrubbing+gsr").to_dict()
        assert view["physio_regressors"] is None  # another strategy's view never shows the modelled one's
        sidecar = json.loads(Path(records[sub]["outputs"]["relmat:correlation:json"]).read_text())
        assert sidecar["Strategy"] == "scrubbing+gsr+physio" and sidecar["StrategyDetails"]["physio"] is True
    assert qc["physio_regressors"]["reason"] == "missing"
