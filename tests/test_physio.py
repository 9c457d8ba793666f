"""Per-run HRV from BIDS physiological recordings (neurokit.physio, neurokit.io._physio).

Pulse and ECG traces are drawn here from known beat times (a mean interval, respiratory sinus
arrhythmia at a known breathing rate, random jitter); the measured heart rate, RMSSD and SDNN
are compared with numpy's on the planted beats of the run's window, HF power with scipy's Welch
spectrum of the planted intervals.
"""

import gzip
import json
import logging
import math

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import trapezoid
from scipy.interpolate import CubicSpline
from scipy.signal import welch

from neurokit.config import ConfigError, load_config
from neurokit.io import (DerivativeNames, PhysioError, Run, check_derivative_names, find_physio, physio_for_run,
                         read_physio, write_dataset_description, write_physio)
from neurokit.io._validate import _Vocabulary, _check_run_file
from neurokit.physio import (HF_BAND, MEASURES, PhysioChannel, PhysioRecording, PhysioResult, align_channel,
                             channel_issues, hrv_from_recording, session_summary)

SPACE = "MNI152NLin2009cAsym"
TR, N_VOL = 1.6, 75  # a 120 s run
RUN_S = TR * N_VOL
RESP_HZ = 0.25  # 15 breaths/min
PPG_DELAY = 0.12  # s from the beat to the pulse's systolic peak in the synthetic waveform


def planted_beats(rng, t0, t1, mean_rr=0.85, rsa=0.04, jitter=0.015):
    """Beat times (s from the first volume) with RSA at RESP_HZ and Gaussian jitter."""
    t, out = t0, []
    while t < t1:
        out.append(t)
        t += mean_rr + rsa * np.sin(2 * np.pi * RESP_HZ * t) + rng.normal(0, jitter)
    return np.array(out)


def waveform(kind, beats, fs, n, start):
    t = start + np.arange(n) / fs
    shapes = ((PPG_DELAY, 0.07, 1.0), (0.36, 0.09, 0.35)) if kind == "ppg" else (
        (-0.16, 0.02, 0.12), (-0.02, 0.006, -0.1), (0.0, 0.008, 1.0), (0.025, 0.007, -0.2), (0.25, 0.04, 0.3))
    x = np.zeros(n)
    for b in beats:
        near = slice(max(0, int((b - 0.5 - start) * fs)), max(0, int((b + 0.8 - start) * fs)))
        for delay, width, amp in shapes:
            x[near] += amp * np.exp(-0.5 * ((t[near] - b - delay) / width) ** 2)
    return x


def reference(beats):
    """Heart rate, RMSSD, SDNN (numpy) and HF power (scipy Welch, 4 Hz cubic interpolation) of the
    planted beats inside the run."""
    inside = beats[(beats >= 0) & (beats < RUN_S)]
    rr = np.diff(inside) * 1000
    grid = np.arange(inside[1], inside[-1], 0.25)
    series = CubicSpline(inside[1:], rr)(grid)
    f, p = welch(series - series.mean(), fs=4.0, nperseg=min(len(grid), 256))
    band = (f >= HF_BAND[0]) & (f < HF_BAND[1])
    return {"heart_rate": 60000 / rr.mean(), "rmssd": np.sqrt(np.mean(np.diff(rr) ** 2)),
            "sdnn": rr.std(ddof=1), "hf_power": trapezoid(p[band], f[band])}


def write_recording(func, stem, table, meta):
    func.mkdir(parents=True, exist_ok=True)
    with gzip.open(func / f"{stem}_physio.tsv.gz", "wt") as fh:
        np.savetxt(fh, table, delimiter="\t", fmt="%.6g")
    if meta is not None:
        (func / f"{stem}_physio.json").write_text(json.dumps(meta))
    return func / f"{stem}_physio.tsv.gz"


def write_run_recording(bids, run, *, fs=100.0, start=-2.0, duration=None, resp_hz=RESP_HZ, depth=0.0,
                        resp_noise=0.05, hook=None, sidecar=True, seed=0):
    """A pulse + breathing recording of a discovered ``run`` in the raw dataset ``bids``.

    Planted beats in a pulse waveform; breathing at ``resp_hz`` whose depth swings by ``depth``
    at 0.01 Hz. The recording starts ``start`` s from the first volume and, without
    ``duration``, ends 2 s after the run. ``hook`` edits the table (e.g. :func:`_flat`); without
    ``sidecar`` no JSON is written.
    """
    rng = np.random.default_rng(seed)
    duration = run.n_volumes * run.t_r - start + 2.0 if duration is None else duration
    n = int(round(duration * fs))
    beats = planted_beats(rng, start - 1.0, start + duration + 1.0)
    t = start + np.arange(n) / fs
    cardiac = waveform("ppg", beats, fs, n, start) + 0.02 * rng.normal(size=n)
    resp = (1 + depth * np.sin(2 * np.pi * 0.01 * t)) * np.sin(2 * np.pi * resp_hz * t) + resp_noise * rng.normal(size=n)
    table = np.column_stack([cardiac, resp])
    if hook is not None:
        table = hook(table)
    meta = {"SamplingFrequency": fs, "StartTime": start, "Columns": ["cardiac", "respiratory"]} if sidecar else None
    stem = "_".join(f"{k}-{v}" for k, v in run.entities if k not in ("space", "res", "den", "desc"))
    func = bids / f"sub-{run.subject}" / (f"ses-{run.session}" if run.session else "") / "func"
    return write_recording(func, stem, table, meta)


class LogCollector(logging.Handler):
    """Every log record's level and message, for module-scoped fixtures (where ``caplog`` is not available)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append((record.levelno, record.getMessage()))


def make_run(root, sub="01"):
    return Run(entities=(("sub", sub), ("task", "rest"), ("space", SPACE)), bold=root / "bold.nii.gz",
               bold_json=None, confounds=root / "c.tsv", confounds_json=None, mask=root / "m.nii.gz",
               t_r=TR, n_volumes=N_VOL)


def simulate(tmp_path, *, kind="ppg", fs=100.0, start=-7.3, trigger=True, names=None, seed=0, duration=None,
             meta_changes=None, table_hook=None):
    """A raw dataset with one run's recording; returns (bids_dir, run, planted beats)."""
    rng = np.random.default_rng(seed)
    duration = RUN_S - start + 3.0 if duration is None else duration
    n = int(round(duration * fs))
    beats = planted_beats(rng, start - 1.0, start + duration + 1.0)
    t = start + np.arange(n) / fs
    cardiac = waveform(kind, beats, fs, n, start) + 0.02 * rng.normal(size=n)
    resp = np.sin(2 * np.pi * RESP_HZ * t) + 0.05 * rng.normal(size=n)
    columns = [cardiac, resp]
    labels = list(names or (("cardiac" if kind == "ppg" else "ecg"), "respiratory"))
    if trigger:
        pulse = np.zeros(n)
        for k in range(N_VOL):
            i = int(round((k * TR - start) * fs))
            pulse[i: i + max(1, int(0.01 * fs))] = 5.0
        columns.append(pulse)
        labels.append("trigger")
    table = np.column_stack(columns)
    if table_hook is not None:
        table = table_hook(table)
    meta = {"SamplingFrequency": fs, "StartTime": start, "Columns": labels}
    if meta_changes is not None:
        meta = meta_changes(meta)
    bids = tmp_path / "bids"
    write_recording(bids / "sub-01" / "func", "sub-01_task-rest", table, meta)
    return bids, make_run(bids), beats


@pytest.mark.parametrize("kind,fs", [("ppg", 50), ("ppg", 100), ("ppg", 400), ("ppg", 1000), ("ecg", 250),
                                     ("ecg", 1000)])
def test_hrv_matches_the_planted_beats(tmp_path, kind, fs):
    bids, run, beats = simulate(tmp_path, kind=kind, fs=fs, seed=fs)
    result = physio_for_run(bids, run)
    ref = reference(beats)
    assert result.usable, result.reason
    assert result.cardiac_kind == kind and result.alignment == "trigger"
    m = result.measures
    assert m["heart_rate"] == pytest.approx(ref["heart_rate"], abs=0.5)
    assert m["rmssd"] == pytest.approx(ref["rmssd"], rel=0.10)
    assert m["sdnn"] == pytest.approx(ref["sdnn"], rel=0.05)
    assert m["hf_power"] == pytest.approx(ref["hf_power"], rel=0.25)
    assert m["log_hf_power"] == pytest.approx(math.log(m["hf_power"]))
    assert m["respiratory_rate"] == pytest.approx(60 * RESP_HZ, abs=0.5)
    assert m["rejected_fraction"] < 0.02 and m["quality_index"] > 0.9
    assert m["duration"] == pytest.approx(RUN_S, abs=2 / fs)
    # beats are timed on the run's clock: each detected peak sits its waveform's delay after a planted beat
    nearest = beats[np.abs(beats[None, :] - result.peaks[:, None]).argmin(axis=1)]
    delay = PPG_DELAY if kind == "ppg" else 0.0
    assert np.median(result.peaks - nearest) == pytest.approx(delay, abs=0.03)
    assert result.peaks.min() >= 0 and result.peaks.max() < RUN_S


def test_start_time_aligns_without_a_trigger_and_lab_column_names_map_through_the_config(tmp_path):
    bids, run, beats = simulate(tmp_path, fs=200, start=-12.0, trigger=False, names=("PULS", "resp_belt"))
    config = load_config(None).updated({"physio.columns": {"cardiac": ["puls"], "respiratory": ["resp_belt"]}})
    default = physio_for_run(bids, run)
    assert not default.usable and default.reason.code == "no_cardiac" and "PULS" in default.reason.message
    result = physio_for_run(bids, run, **config.physio.kwargs())
    assert result.usable and result.alignment == "StartTime" and result.onset == -12.0
    assert result.cardiac_column == "PULS" and result.respiratory_column == "resp_belt"
    nearest = beats[np.abs(beats[None, :] - result.peaks[:, None]).argmin(axis=1)]
    assert np.median(result.peaks - nearest) == pytest.approx(PPG_DELAY, abs=0.03)
    assert result.measures["heart_rate"] == pytest.approx(reference(beats)["heart_rate"], abs=0.5)


def test_a_wrong_start_time_is_overruled_by_the_trigger_and_said_so(tmp_path):
    def wrong(meta):
        return {**meta, "StartTime": -2.0}

    bids, run, beats = simulate(tmp_path, fs=100, start=-7.3, meta_changes=wrong)
    result = physio_for_run(bids, run)
    assert result.usable and result.alignment == "trigger" and result.onset == pytest.approx(-7.3, abs=0.011)
    assert "start_time" in result.codes and "disagrees with the trigger" in " ".join(w.message for w in result.warnings)


def test_slice_triggers_fall_back_to_start_time(tmp_path):
    n, fs = 1000, 100.0
    pulses = np.zeros(n)
    pulses[::20] = 1.0  # every 0.2 s: slice triggers, not volumes
    channel = PhysioChannel("cardiac", "cardiac", np.zeros(n), fs, -3.0, "x_physio.tsv.gz")
    trigger = PhysioChannel("trigger", "trigger", pulses, fs, -3.0, "x_physio.tsv.gz")
    onset, method, issues = align_channel(channel, n_volumes=N_VOL, t_r=TR, trigger=trigger)
    assert (onset, method) == (-3.0, "StartTime") and issues[0].code == "trigger" and "not once per volume" in \
        issues[0].message


@pytest.mark.parametrize("start_time,expected", [(-7.0, -7.0), (None, -7.0)])
def test_dummy_scan_triggers_before_the_run_are_skipped(start_time, expected):
    fs, n_dummy, n_vol = 100.0, 4, 20
    first = 7.0 - n_dummy * TR  # the recording starts 7 s before the first saved volume
    pulses = np.zeros(int((7.0 + n_vol * TR + 2) * fs))
    for k in range(n_dummy + n_vol):
        pulses[int(round((first + k * TR) * fs))] = 1.0
    channel = PhysioChannel("cardiac", "cardiac", np.zeros(pulses.size), fs, start_time, "x_physio.tsv.gz")
    trigger = PhysioChannel("trigger", "trigger", pulses, fs, start_time, "x_physio.tsv.gz")
    onset, method, issues = align_channel(channel, n_volumes=n_vol, t_r=TR, trigger=trigger)
    assert method == "trigger" and onset == pytest.approx(expected) and not issues


def _clip(table):
    table = table.copy()
    table[:, 0] = np.minimum(table[:, 0], np.quantile(table[:, 0], 0.8))
    return table


def _flat(table):
    table = table.copy()
    table[:, 0] = 0.0
    return table


def _holes(share):
    def hook(table):
        table = table.copy()
        middle = len(table) // 2
        table[middle: middle + int(share * len(table)), 0] = np.nan
        return table
    return hook


@pytest.mark.parametrize("case,code,kwargs", [
    ("flat", "flat", {"table_hook": _flat}),
    ("clipped", "clipped", {"table_hook": _clip}),
    ("many NaNs", "nan", {"table_hook": _holes(0.3)}),
    ("short recording", "short", {"duration": 40.0}),
    ("column-count mismatch", "columns", {"meta_changes": lambda m: {**m, "Columns": m["Columns"][:2]}}),
    ("no sampling frequency", "sampling_frequency", {"meta_changes": lambda m: {k: v for k, v in m.items()
                                                                                 if k != "SamplingFrequency"}}),
    ("non-positive sampling frequency", "sampling_frequency",
     {"meta_changes": lambda m: {**m, "SamplingFrequency": 0}}),
    ("missing sidecar", "no_sidecar", {"meta_changes": lambda m: None}),
])
def test_broken_recordings_give_the_named_reason(tmp_path, case, code, kwargs):
    bids, run, _ = simulate(tmp_path, fs=50, **kwargs)
    result = physio_for_run(bids, run)
    assert not result.usable, case
    assert result.reason.code == code, (case, result.reason)
    assert "sub-01_task-rest_physio" in result.reason.message
    row = result.row()
    assert row["usable"] is False and row["reason"] == code and math.isnan(row["rmssd"])


def test_missing_recording_and_disabled_physiology(tmp_path):
    bids = tmp_path / "bids"
    (bids / "sub-01" / "func").mkdir(parents=True)
    run = make_run(bids)
    missing = physio_for_run(bids, run)
    assert missing.reason.code == "missing" and "sub-01_task-rest_physio.tsv.gz" in missing.reason.message
    assert physio_for_run(bids, run, enabled=False).reason.code == "disabled"
    assert not find_physio(tmp_path / "nowhere", run)


def test_a_few_nans_are_interpolated_and_a_short_but_long_enough_recording_is_a_warning(tmp_path):
    bids, run, beats = simulate(tmp_path, fs=100, duration=100.0, table_hook=_holes(0.01))
    result = physio_for_run(bids, run)
    assert result.usable and {"nan", "short"} <= set(result.codes)
    assert result.measures["duration"] == pytest.approx(100.0 - 7.3, abs=0.02)


def test_slightly_clipped_channel_warns(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=10_000)
    x[:200] = x.max()  # 2 % at the maximum
    issues = channel_issues(x, where="column 'cardiac' of f_physio.tsv.gz")
    assert [(i.code, i.fatal) for i in issues] == [("clipped", False)]
    assert channel_issues(rng.normal(size=1000), where="c") == []


def test_separate_recordings_with_their_own_rates_and_an_inherited_sidecar(tmp_path):
    rng = np.random.default_rng(5)
    start = -4.0
    beats = planted_beats(rng, start - 1, RUN_S + 5)
    bids = tmp_path / "bids"
    func = bids / "sub-01" / "func"
    fs_c, fs_r = 400.0, 25.0
    n_c, n_r = int((RUN_S - start + 2) * fs_c), int((RUN_S - start + 2) * fs_r)
    cardiac = waveform("ppg", beats, fs_c, n_c, start)
    resp = np.sin(2 * np.pi * RESP_HZ * (start + np.arange(n_r) / fs_r))
    write_recording(func, "sub-01_task-rest_recording-cardiac", cardiac[:, None], None)
    write_recording(func, "sub-01_task-rest_recording-breathing", resp[:, None],
                    {"SamplingFrequency": fs_r, "StartTime": start, "Columns": ["respiratory"]})
    # inherited from the dataset root (the BIDS inheritance principle), and overridden nearer the file
    (bids / "task-rest_recording-cardiac_physio.json").write_text(json.dumps(
        {"SamplingFrequency": 1.0, "StartTime": start, "Columns": ["pulse"]}))
    (bids / "sub-01" / "sub-01_task-rest_recording-cardiac_physio.json").write_text(json.dumps(
        {"SamplingFrequency": fs_c}))
    run = make_run(bids)
    assert [p.name for p in find_physio(bids, run)] == ["sub-01_task-rest_recording-breathing_physio.tsv.gz",
                                                         "sub-01_task-rest_recording-cardiac_physio.tsv.gz"]
    recording = read_physio(find_physio(bids, run), root=bids)
    assert recording.channels["cardiac"].sampling_frequency == fs_c
    assert recording.channels["respiratory"].sampling_frequency == fs_r
    result = physio_for_run(bids, run)
    assert result.usable and result.alignment == "StartTime"
    assert result.measures["heart_rate"] == pytest.approx(reference(beats)["heart_rate"], abs=0.5)
    assert result.measures["respiratory_rate"] == pytest.approx(15.0, abs=0.5)
    with pytest.raises(PhysioError, match="no JSON sidecar") as info:
        read_physio(find_physio(bids, run))  # without the root, nothing is inherited
    assert info.value.code == "no_sidecar"


def test_unusable_pulse_still_gives_the_breathing_rate(tmp_path):
    bids, run, _ = simulate(tmp_path, fs=100, table_hook=_flat)
    result = physio_for_run(bids, run)
    assert result.reason.code == "flat" and result.measures["respiratory_rate"] == pytest.approx(15, abs=0.5)


def test_hrv_from_recording_rejects_bad_arguments():
    recording = PhysioRecording(channels={})
    with pytest.raises(ValueError, match="n_volumes"):
        hrv_from_recording(recording, n_volumes=0, t_r=2.0)
    with pytest.raises(ValueError, match="kind"):
        hrv_from_recording(recording, n_volumes=10, t_r=2.0, kind="bcg")


def test_the_derivative_is_named_by_the_project_rules_and_checked(tmp_path):
    bids, run, _ = simulate(tmp_path, fs=100)
    result = physio_for_run(bids, run)
    out = tmp_path / "out"
    write_dataset_description(out, config_hash="0" * 16)
    names = DerivativeNames(out, run, "pfclimbic", "scrubbing+gsr")
    tsv, sidecar = write_physio(names, result, links={"raw": "../bids"})
    assert tsv.name == f"sub-01_task-rest_space-{SPACE}_desc-physio_metrics.tsv"
    assert sidecar.name == tsv.name.replace(".tsv", ".json")
    table = pd.read_csv(tsv, sep="\t")
    assert list(table.columns) == list(MEASURES) and table["usable"].tolist() == [True]
    assert table["rmssd"].iloc[0] == pytest.approx(result.measures["rmssd"], rel=1e-5)
    meta = json.loads(sidecar.read_text())
    assert meta["Alignment"] == "trigger" and meta["Sources"] == ["bids:raw:sub-01/func/sub-01_task-rest_physio.tsv.gz"]
    assert meta["rmssd"]["Units"] == "ms"
    check = check_derivative_names(out)
    assert {tsv.relative_to(out).as_posix(), sidecar.relative_to(out).as_posix()} <= set(check.checked)
    assert check.ok, check.findings
    sidecar.unlink()
    (tsv.parent / tsv.name.replace("desc-physio", "desc-qc")).write_text("x\n")
    again = check_derivative_names(out)
    assert {f.path.rsplit("/", 1)[-1]: f.problem for f in again.findings} == {tsv.name: "missing its JSON sidecar"}
    # .bidsignore hides only the documented names: a QC table is left to the BIDS validator, which reports it
    qc_tsv = tsv.relative_to(out).as_posix().replace("desc-physio", "desc-qc")
    assert qc_tsv in again.for_validator
    assert _check_run_file(qc_tsv, set(again.checked), _Vocabulary(set())) == [
        "a desc-qc_metrics file is .json, not '.tsv'"]


def test_session_summary_weights_runs_by_usable_duration():
    def result(usable, duration, rmssd, resp=15.0, resp_duration=100.0):
        r = PhysioResult(usable=usable, measures={"rmssd": rmssd, "heart_rate": 60.0, "duration": duration,
                                                  "respiratory_rate": resp, "respiratory_duration": resp_duration})
        return r

    runs = [result(True, 300.0, 40.0), result(True, 100.0, 20.0), result(False, 300.0, 99.0, resp=12.0)]
    summary = session_summary(runs)
    assert summary["rmssd"] == pytest.approx((40 * 300 + 20 * 100) / 400)
    assert summary["respiratory_rate"] == pytest.approx((15 + 15 + 12) / 3)
    assert (summary["n_runs"], summary["n_usable"], summary["duration"]) == (3, 2, 400.0)
    rows = [r.row() for r in runs]
    assert session_summary(rows)["rmssd"] == pytest.approx(summary["rmssd"])
    assert math.isnan(session_summary([result(False, 300.0, 40.0)])["rmssd"])


def test_physio_configuration_is_validated(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("physio:\n  columns:\n    cardiac: [pulse]\n    trigger: [pulse]\n")
    with pytest.raises(ConfigError, match="listed for both cardiac and trigger"):
        load_config(path)
    path.write_text("physio:\n  max_rejected: 0.1\n")
    with pytest.raises(ConfigError, match="max_rejected_fraction"):
        load_config(path)
    assert load_config(None).updated({"physio.enabled": False}).hash() != load_config(None).hash()


def _recording(values, fs, start=-5.0):
    return PhysioRecording({"cardiac": PhysioChannel("cardiac", "cardiac", values, fs, start, "x_physio.tsv.gz")})


def test_missed_beats_are_rejected_intervals_and_the_hrv_still_follows_the_planted_beats():
    rng = np.random.default_rng(1)
    fs, start = 100.0, -5.0
    n = int((RUN_S + 10) * fs)
    beats = planted_beats(rng, start - 1, RUN_S + 6)
    keep = np.ones(beats.size, bool)
    keep[[20, 50, 51, 90, 120]] = False  # the sensor missed these beats: four long intervals
    x = waveform("ppg", beats[keep], fs, n, start) + 0.02 * rng.normal(size=n)
    result = hrv_from_recording(_recording(x, fs, start), n_volumes=N_VOL, t_r=TR)
    ref = reference(beats)
    assert result.usable and 0.02 < result.measures["rejected_fraction"] < 0.05
    assert result.measures["rmssd"] == pytest.approx(ref["rmssd"], rel=0.05)
    assert result.measures["sdnn"] == pytest.approx(ref["sdnn"], rel=0.05)
    assert result.measures["heart_rate"] == pytest.approx(ref["heart_rate"], abs=0.5)


def test_a_trace_without_a_pulse_is_rejected_for_quality():
    noise = np.random.default_rng(1).normal(size=int((RUN_S + 10) * 100))
    result = hrv_from_recording(_recording(noise, 100.0), n_volumes=N_VOL, t_r=TR)
    assert not result.usable and result.reason.code == "quality" and "x_physio.tsv.gz" in result.reason.message
    assert result.measures["rejected_fraction"] > 0.2 and result.measures["quality_index"] < 0.8
