"""The simulator's physiological recordings (issue 21 part 5): BIDS *_physio files readable by
neurokit.io, a truth computed with numpy on the planted beats (recomputed here with scipy on the
events file), the planted HRV-stage relation, missing and broken recordings with their reason codes,
and physiological BOLD noise that follows the same beats without being a sinusoid of their phase.
"""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import trapezoid
from scipy.interpolate import CubicSpline
from scipy.signal import welch

from neurokit.io import discover_runs, find_physio, physio_for_run, read_physio
from neurokit.simulate import BROKEN_PHYSIO_KINDS, SimulationError, simulate_dataset
from neurokit.simulate import _physio, _realistic
from neurokit.simulate._dataset import _voxel_tables
from neurokit.simulate._grid import build_grid

SMALL = dict(n_subjects=4, n_volumes=40, resolution_mm=8, t_r=2.0)


def _read(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["n/a"])


def _runs(result):
    return {dict(r.entities)["sub"]: r for r in discover_runs(result.root).runs}


@pytest.mark.parametrize(("fs", "split", "kind"), [(50, False, "ppg"), (1000, True, "ecg")])
def test_recordings_are_bids_physio_files_readable_with_their_sidecar_columns(tmp_path, fs, split, kind):
    result = simulate_dataset(tmp_path / "ds", physio=True, physio_sampling_frequency=fs, physio_split=split,
                              physio_cardiac=kind, **SMALL)
    truth = result.physio
    assert len(truth) == 4 and truth["has_recording"].all() and truth["broken"].isna().all()
    for sub, run in _runs(result).items():
        paths = find_physio(result.root, run)
        names = sorted(p.name for p in paths)
        if split:
            assert names == [f"sub-{sub}_task-rest_recording-cardiac_physio.tsv.gz",
                             f"sub-{sub}_task-rest_recording-respiratory_physio.tsv.gz"]
        else:
            assert names == [f"sub-{sub}_task-rest_physio.tsv.gz"]
        recording = read_physio(paths, root=result.root)
        cardiac, resp, trigger = (recording.channels[r] for r in ("cardiac", "respiratory", "trigger"))
        assert cardiac.column == ("cardiac" if kind == "ppg" else "ecg") and resp.column == "respiratory"
        assert cardiac.sampling_frequency == fs and trigger.sampling_frequency == fs
        assert resp.sampling_frequency == (fs if not split else fs / 4)
        row = truth[truth.participant_id == f"sub-{sub}"].iloc[0]
        assert cardiac.start_time == pytest.approx(row["start_time"]) and -10 <= cardiac.start_time <= -0.5
        # the recording covers the run (plus 2 s) from its StartTime
        assert cardiac.values.size == round((SMALL["n_volumes"] * SMALL["t_r"] + 2 - cardiac.start_time) * fs)
        for path in paths:  # no header row; the sidecar names every column
            meta = json.loads(path.with_name(path.name.replace(".tsv.gz", ".json")).read_text())
            with gzip.open(path, "rt") as fh:
                first = fh.readline().split("\t")
            assert len(first) == len(meta["Columns"]) and all(float(x) == float(x) for x in first)
        # one trigger pulse per volume, the first at the run's start
        edges = np.flatnonzero(np.diff((trigger.values > 2.5).astype(int)) == 1) + 1
        assert edges.size == SMALL["n_volumes"]
        assert edges[0] / fs + cardiac.start_time == pytest.approx(0.0, abs=1.0 / fs)


def _events(result) -> pd.DataFrame:
    path = result.physio_truth_path.with_name(result.physio_truth_path.name.replace(".tsv", "_events.tsv.gz"))
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["n/a"])


def test_truth_is_numpy_on_the_planted_beats_and_breaths(tmp_path):
    result = simulate_dataset(tmp_path / "ds", physio=True, **SMALL)
    events = _events(result)
    duration = SMALL["n_volumes"] * SMALL["t_r"]
    meta = json.loads(result.physio_truth_path.with_suffix(".json").read_text())
    assert set(meta["columns"]) == set(result.physio.columns)
    for row in _read(result.physio_truth_path).itertuples():
        mine = events[events.participant_id == row.participant_id]
        beats = mine.onset[(mine.event == "beat") & (mine.onset >= 0) & (mine.onset < duration)].to_numpy()
        breaths = mine.onset[(mine.event == "breath") & (mine.onset >= 0) & (mine.onset < duration)].to_numpy()
        rr = np.diff(beats) * 1000
        grid = np.arange(beats[1], beats[-1], 0.25)
        series = CubicSpline(beats[1:], rr)(grid)
        f, p = welch(series - series.mean(), fs=4.0, nperseg=min(grid.size, 256))
        band = (f >= 0.15) & (f < 0.40)
        expected = {"heart_rate": 60000 / rr.mean(), "rmssd": np.sqrt(np.mean(np.diff(rr) ** 2)),
                    "sdnn": np.std(rr, ddof=1), "hf_power": trapezoid(p[band], f[band]),
                    "respiratory_rate": 60 / np.diff(breaths).mean()}
        for name, value in expected.items():
            assert getattr(row, name) == pytest.approx(value, rel=1e-4), name
        assert row.log_hf_power == pytest.approx(math.log(row.hf_power), abs=1e-5)
        assert 50 <= row.heart_rate <= 95 and 9 <= row.respiratory_rate <= 23


def test_planted_beats_are_what_the_pulse_trace_shows(tmp_path):
    """The detector (NeuroKit2 via neurokit.physio) finds the planted beats in the written trace, each within
    two samples, and measures the planted heart rate and RMSSD."""
    from neurokit.physio import hrv_from_signals

    result = simulate_dataset(tmp_path / "ds", physio=True, physio_sampling_frequency=100, **SMALL)
    events = _events(result)
    for sub, run in _runs(result).items():
        recording = read_physio(find_physio(result.root, run), root=result.root)
        cardiac = recording.channels["cardiac"]
        found = hrv_from_signals(cardiac.values, cardiac.sampling_frequency)["peaks"] + cardiac.start_time
        planted = events.onset[(events.participant_id == f"sub-{sub}") & (events.event == "beat")].to_numpy()
        inside = planted[(planted > found[0] - 0.2) & (planted < found[-1] + 0.2)]
        nearest = np.abs(found[:, None] - inside[None, :]).min(axis=0)
        assert np.mean(nearest <= 0.02) >= 0.98 and abs(found.size - inside.size) <= 2


def test_planted_hrv_follows_stage_by_hrv_effect_size_and_nothing_else(tmp_path):
    kwargs = dict(n_subjects=8, n_volumes=40, resolution_mm=8, physio=True, seed=3)
    null = simulate_dataset(tmp_path / "null", hrv_effect_size=0.0, **kwargs)
    planted = simulate_dataset(tmp_path / "planted", hrv_effect_size=1.0, **kwargs)
    # same draws: the stage effect is exactly the planted ln shift of the session's RMSSD target
    stage = null.truth["stage"].to_numpy()
    severity01 = np.where(stage == "control", 0.0, (null.truth["severity"].to_numpy() - 3) / 12)
    ratio = planted.physio["target_rmssd"] / null.physio["target_rmssd"]
    expected = np.exp([_physio.STAGE_LN_RMSSD[s] * (0.5 + f) for s, f in zip(stage, severity01)])
    np.testing.assert_allclose(ratio, expected, rtol=1e-4)
    assert expected.min() < 0.8 and (expected[stage == "control"] == 1).all()
    # independent of the coupling and of the motion: the rest of the truth is identical
    pd.testing.assert_frame_equal(null.truth.drop(columns=["bold", "confounds", "mask"]),
                                  planted.truth.drop(columns=["bold", "confounds", "mask"]))
    # the heart rate is not planted by stage (the realised mean moves by the variability's sampling only)
    np.testing.assert_allclose(null.physio["heart_rate"], planted.physio["heart_rate"], rtol=0.01)
    meta = json.loads(planted.truth_path.with_suffix(".json").read_text())
    (effect,) = [e for e in meta["planted"] if e["carrier"] == "physio"]
    assert effect["related_to"] == ["stage", "severity"] and effect["columns"][0] == "scan_hrv"
    assert effect["stage_means"]["active"] == pytest.approx(
        _physio.CONTROL_RMSSD_MS * math.exp(_physio.STAGE_LN_RMSSD["active"]), rel=1e-3)
    assert meta["parameters"]["hrv_effect_size"] == 1.0


def test_missing_and_broken_recordings_give_their_reason_codes(tmp_path):
    result = simulate_dataset(tmp_path / "ds", n_subjects=8, n_volumes=40, resolution_mm=8, physio=True,
                              physio_missing=0.25, physio_broken=tuple(BROKEN_PHYSIO_KINDS), seed=2)
    truth = result.physio
    assert (~truth["has_recording"]).sum() == 2
    assert sorted(truth["broken"].dropna()) == sorted(BROKEN_PHYSIO_KINDS)
    runs = _runs(result)
    for row in truth.itertuples():
        got = physio_for_run(result.root, runs[row.participant_id[4:]])
        expected = "missing" if not row.has_recording else (row.broken if isinstance(row.broken, str) else None)
        assert (got.reason.code if got.reason else None) == expected, row.participant_id
        assert got.usable == (expected is None)
    # the truth still says what was planted in the runs without a usable recording
    assert truth["rmssd"].notna().all()


@pytest.mark.slow
@pytest.mark.parametrize("fs", [50, 100, 500])
def test_measured_hrv_follows_the_planted_hrv_across_runs(tmp_path, fs):
    """Issue 21's done-when: per-run RMSSD and HF-HRV from the realistic simulator's pulse traces correlate
    with the planted values at >= 0.9 (here 20 runs of 5 minutes)."""
    result = simulate_dataset(tmp_path / "ds", n_subjects=20, n_volumes=150, t_r=2.0, resolution_mm=8,
                              realism="realistic", physio_sampling_frequency=fs, seed=11)
    truth = result.physio.set_index("participant_id")
    rows = []
    for sub, run in _runs(result).items():
        got = physio_for_run(result.root, run)
        assert got.usable, got.reason
        rows.append((truth.loc[f"sub-{sub}", "rmssd"], got.measures["rmssd"],
                     truth.loc[f"sub-{sub}", "log_hf_power"], got.measures["log_hf_power"],
                     truth.loc[f"sub-{sub}", "heart_rate"], got.measures["heart_rate"]))
    planted_rmssd, rmssd, planted_hf, hf, planted_hr, hr = np.array(rows).T
    r_rmssd = np.corrcoef(planted_rmssd, rmssd)[0, 1]
    r_hf = np.corrcoef(planted_hf, hf)[0, 1]
    print(f"fs {fs} Hz: r(RMSSD) {r_rmssd:.3f}, r(ln HF) {r_hf:.3f}, max |HR error| {np.abs(hr - planted_hr).max():.2f}")
    assert r_rmssd >= 0.9 and r_hf >= 0.9
    assert np.abs(hr - planted_hr).max() < 1.0


@pytest.fixture(scope="module")
def space():
    grid = build_grid(8)
    statics = _voxel_tables(grid)
    anat = _realistic.anatomy(grid, statics["brain_idx"], np.random.default_rng(0))
    return grid, statics, anat


def _pair(space, t_r=0.8, n=300, seed=1):
    """The same run with and without physiological noise: same draws, so the difference is the physiology."""
    _, _, anat = space
    physio = _physio.run_physiology(np.random.default_rng(99), _physio.default_session(np.random.default_rng(98)),
                                    start=0.0, end=n * t_r)
    runs = [_realistic.run_data(np.random.default_rng(seed), anat, n_volumes=n, t_r=t_r, resolution_mm=8,
                                coupling=0.5, mean_fd=0.1, n_nonsteady=0, site_gain=1.0, site_noise=1.0,
                                artefact_scale=0.0, physio=physio, physio_noise=scale) for scale in (1.0, 0.0)]
    return runs, physio


def _cardiac_phase(beats, times):
    k = np.searchsorted(beats, times) - 1
    return 2 * np.pi * (times - beats[k]) / (beats[k + 1] - beats[k])


def _explained(y, design):
    """Variance of each column of ``y`` explained by ``design`` (plus a constant), and its share."""
    x = np.column_stack([np.ones(len(y)), design])
    y = y - y.mean(axis=0)
    fit = x @ np.linalg.lstsq(x, y, rcond=None)[0]
    return fit.var(axis=0), fit.var(axis=0) / y.var(axis=0)


def test_physiological_bold_noise_is_beat_locked_strongest_in_vessels_and_scaled_by_physio_noise(space):
    _, statics, anat = space
    (full, none), physio = _pair(space)
    assert full.physio is physio
    pct = lambda run: (run.data / run.data.mean(axis=0) * 100).astype(float)  # noqa: E731
    part = pct(full) - pct(none)  # the physiology alone (same draws otherwise)
    gm = np.flatnonzero((statics["tissue"] == 0) & (anat.vessel < 0.05) & (anat.edge < 0.2))
    vessel = np.flatnonzero(anat.vessel > 0.5)
    csf = np.flatnonzero(statics["tissue"] == 2)
    assert np.median(part[:, vessel].var(axis=0)) > 3 * np.median(part[:, gm].var(axis=0))
    assert np.median(part[:, csf].var(axis=0)) > 3 * np.median(part[:, gm].var(axis=0))

    # cardiac power: the full data's variance that the cardiac phase (orders 1-3, at each voxel's slice time)
    # explains is larger in vessel voxels than in grey matter
    t_r = 0.8
    def cardiac_power(voxels):
        out = []
        for v in voxels[:200]:
            times = (np.arange(300) + anat.slice_time[v]) * t_r
            phi = _cardiac_phase(physio.beats, times)
            basis = np.column_stack([f(m * phi) for m in (1, 2, 3) for f in (np.cos, np.sin)])
            out.append(_explained(pct(full)[:, [v]], basis)[0][0])
        return np.median(out)
    assert cardiac_power(vessel) > 3 * cardiac_power(gm)


def test_pulsatility_is_not_a_first_order_sinusoid_of_the_cardiac_phase():
    """RETROICOR's first order (cos and sin of the phase) leaves a good part of the simulated pulsatility; more
    orders of the same phase explain more of it, as they should for a beat-locked waveform."""
    session = _physio.default_session(np.random.default_rng(3))
    physio = _physio.run_physiology(np.random.default_rng(4), session, start=0.0, end=300.0)
    series = _physio.pulsatility(physio)
    times = np.random.default_rng(5).uniform(5, 295, 2000)
    y = _physio.sample(physio, series, times)[:, None]
    phi = _cardiac_phase(physio.beats, times)
    first = _explained(y, np.column_stack([np.cos(phi), np.sin(phi)]))[1][0]
    fourth = _explained(y, np.column_stack([f(m * phi) for m in (1, 2, 3, 4) for f in (np.cos, np.sin)]))[1][0]
    assert first < 0.85 and fourth > first + 0.1
    # the breath-locked part is not a first-order sinusoid of the respiratory phase either
    resp = _physio.sample(physio, _physio.breath_locked(physio), times)[:, None]
    rphi = _physio.sample(physio, physio.phase, times)
    assert _explained(resp, np.column_stack([np.cos(rphi), np.sin(rphi)]))[1][0] < 0.85


def test_physio_noise_is_recorded_and_zero_keeps_everything_else(tmp_path):
    kwargs = dict(n_subjects=4, n_volumes=30, resolution_mm=8, realism="realistic", seed=4)
    quiet = simulate_dataset(tmp_path / "quiet", physio_noise=0.0, **kwargs)
    assert (quiet.physio["physio_noise"] == 0.0).all()
    meta = json.loads(quiet.truth_path.with_suffix(".json").read_text())
    assert meta["parameters"]["physio_noise"] == 0.0
    physio_meta = json.loads(quiet.physio_truth_path.with_suffix(".json").read_text())
    assert physio_meta["parameters"]["physio_noise"] == 0.0
    loud = simulate_dataset(tmp_path / "loud", physio_noise=2.0, **kwargs)
    pd.testing.assert_frame_equal(quiet.physio.drop(columns=["physio_noise"]), loud.physio.drop(columns=["physio_noise"]))
    pd.testing.assert_frame_equal(quiet.truth.drop(columns=["realised_mean_fd"]),
                                  loud.truth.drop(columns=["realised_mean_fd"]))


def test_easy_mode_writes_no_physiology_unless_asked(tmp_path):
    result = simulate_dataset(tmp_path / "ds", **SMALL)
    assert result.physio is None and not list(result.root.rglob("*_physio.*"))
    assert not result.physio_truth_path.exists()
    meta = json.loads(result.truth_path.with_suffix(".json").read_text())
    assert "physio" not in meta["parameters"] and all(e["carrier"] != "physio" for e in meta["planted"])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"physio_sampling_frequency": 10}, "physio_sampling_frequency"),
    ({"physio_start_time": 3.0}, "physio_start_time"),
    ({"physio_cardiac": "pulse"}, "physio_cardiac"),
    ({"physio_missing": 1.0}, "physio_missing"),
    ({"physio_broken": ("bent",)}, "physio_broken"),
    ({"physio_noise": 0.5}, "realism='realistic' only"),
    ({"hrv_effect_size": -1}, "hrv_effect_size"),
    ({"physio": "yes"}, "'physio' must be"),
    ({"physio_missing": 0.5, "physio": False}, "need recordings"),
    ({"physio": True, "physio_missing": 0.5, "physio_broken": tuple(BROKEN_PHYSIO_KINDS)}, "lower them"),
])
def test_parameter_errors(tmp_path, kwargs, match):
    with pytest.raises(SimulationError, match=match):
        simulate_dataset(tmp_path / "ds", **{**SMALL, **kwargs})


def test_cli_physio_options(tmp_path, capsys):
    from neurokit.cli import main

    code = main(["simulate", str(tmp_path / "ds"), "--subjects", "4", "--volumes", "30", "--resolution", "8",
                 "--physio", "--physio-rate", "250", "--physio-start", "-3", "--physio-split", "--physio-missing",
                 "0.25", "--physio-broken", "clipped", "--hrv-effect-size", "0.5", "--no-physio-trigger"])
    out = capsys.readouterr().out
    assert code == 0 and "physiology:" in out and "(3 runs with a recording)" in out
    meta = json.loads((tmp_path / "ds_truth_physio.json").read_text())["parameters"]
    assert meta["physio_sampling_frequency"] == 250 and meta["physio_start_time"] == -3
    assert meta["physio_split"] is True and meta["physio_trigger"] is False and meta["physio_broken"] == ["clipped"]
    assert meta["hrv_effect_size"] == 0.5
    sidecars = sorted((tmp_path / "ds").rglob("*recording-cardiac_physio.json"))
    assert len(sidecars) == 3 and json.loads(sidecars[0].read_text())["Columns"] == ["cardiac"]
    assert main(["simulate", str(tmp_path / "e"), "--physio-noise", "0"]) == 2
    assert "physio_noise" in capsys.readouterr().err


def test_the_demo_dataset_has_recordings_for_most_runs_a_few_without_and_one_flat(tmp_path):
    """The demo's settings: the scan HRV carries a planted stage effect, the phenotype's biomarkers stay null."""
    from neurokit.cli._demo import DEMO_PHYSIO

    result = simulate_dataset(tmp_path / "ds", n_subjects=12, n_volumes=40, resolution_mm=8, broken_runs=("corrupt_gzip",),
                              biomarker_effect_size=0.0, **DEMO_PHYSIO)
    physio = result.physio
    assert len(physio) == 13 and physio["has_recording"].sum() == 12
    assert physio["broken"].dropna().tolist() == ["flat"] and (physio["physio_noise"] == 0).all()
    planted = {e["effect"]: e for e in json.loads(result.truth_path.with_suffix(".json").read_text())["planted"]}
    assert planted["scan heart-rate variability"]["related_to"] == ["stage", "severity"]
    assert planted["serum BDNF"]["related_to"] == [] and planted["heart-rate variability"]["related_to"] == []


def test_other_components_of_a_run_do_not_depend_on_its_physiology(space):
    """With the maps' own stream, the run's stream draws the same whatever the physiology (and as much as the
    earlier sinusoidal model drew), so the motion artefact and the head motion are the same draw for draw."""
    _, _, anat = space
    runs = []
    for k in (1, 2):
        physio = _physio.run_physiology(np.random.default_rng(k), _physio.default_session(np.random.default_rng(k)),
                                        start=0.0, end=80.0)
        runs.append(_realistic.run_data(np.random.default_rng(3), anat, n_volumes=40, t_r=2.0, resolution_mm=8,
                                        coupling=0.5, mean_fd=0.2, n_nonsteady=1, site_gain=1.0, site_noise=1.0,
                                        keep_artefact=True, physio=physio, physio_rng=np.random.default_rng(10 + k)))
    np.testing.assert_array_equal(runs[0].artefact, runs[1].artefact)
    np.testing.assert_array_equal(runs[0].head_motion, runs[1].head_motion)
    assert not np.array_equal(runs[0].data, runs[1].data)
