"""Physiological noise regressors (neurokit.physio._regressors) against their formulas.

Traces are drawn here from planted beat times, a planted breathing phase, a planted breathing
depth and a planted heart rate; each regressor is compared with its published formula applied
to what was planted (Glover et al. 2000; Birn et al. 2006, 2008; Chang et al. 2009), with numpy.
"""

import math

import numpy as np
import pytest

from neurokit.physio import (PhysioChannel, PhysioRecording, cardiac_response, physio_regressors,
                             reference_slice_time, regressor_columns, respiration_response)
from neurokit.physio._regressors import _GRID_RATE, KERNEL_SECONDS, _cardiac_phase, _convolved, _rvt

TR, N_VOL = 2.0, 60  # a 120 s run
SLICE = 0.7  # reference slice time (s)
RESP_HZ = 0.27  # breathing, not a multiple of the volume rate (no aliasing onto one phase)


def beats_from_rate(rate_bpm, t0, t1):
    """Beat times whose phase integrates ``rate_bpm(t)`` (beats/min), from t0 to t1 (s)."""
    grid = np.arange(t0, t1, 0.001)
    cycles = np.cumsum(rate_bpm(grid)) * 0.001 / 60.0
    return np.interp(np.arange(1, math.floor(cycles[-1])), cycles, grid)


def pulse(beats, t):
    """A pulse trace with one narrow peak at each beat (the detector's peak is the beat)."""
    x = np.zeros(t.size)
    for b in beats:
        near = (t > b - 0.3) & (t < b + 0.3)
        x[near] += np.exp(-0.5 * ((t[near] - b) / 0.04) ** 2)
    return x


def recording(fs=100.0, start=-30.0, *, cardiac=True, respiratory=True, trigger=False, seed=0, rate=None,
              depth=None, belt=None, duration=None, start_time="same"):
    """(PhysioRecording, planted beats) of a run of N_VOL volumes; the recording's first sample is at ``start``."""
    rng = np.random.default_rng(seed)
    duration = N_VOL * TR - start + 4.0 if duration is None else duration
    t = start + np.arange(int(round(duration * fs))) / fs
    rate = rate or (lambda s: 68 + 3 * np.sin(2 * np.pi * RESP_HZ * s) + 0.0 * s)
    beats = beats_from_rate(rate, start - 2.0, t[-1] + 2.0)
    channels = {}
    meta_start = start if start_time == "same" else start_time
    if cardiac:
        channels["cardiac"] = PhysioChannel("cardiac", "cardiac", pulse(beats, t) + 0.01 * rng.normal(size=t.size),
                                            fs, meta_start, "sub-01_task-rest_physio.tsv.gz")
    if respiratory:
        values = belt(t) if belt is not None else (depth(t) if depth else 1.0) * np.sin(2 * np.pi * RESP_HZ * t)
        channels["respiratory"] = PhysioChannel("respiratory", "respiratory", values + 0.005 * rng.normal(size=t.size),
                                                fs, meta_start, "sub-01_task-rest_physio.tsv.gz")
    if trigger:
        x = np.zeros(t.size)
        for k in range(N_VOL):
            i = int(round((k * TR - start) * fs))
            x[i: i + max(1, int(0.01 * fs))] = 5.0
        channels["trigger"] = PhysioChannel("trigger", "trigger", x, fs, meta_start, "sub-01_task-rest_physio.tsv.gz")
    return PhysioRecording(channels, columns=tuple(channels)), beats


def circular_error(a, b):
    return np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b)))))


def true_resp_phase(times):
    """Planted breathing phase with 0 at the trough of sin(2 pi f t), in (-pi, pi]."""
    return np.angle(np.exp(1j * (2 * np.pi * RESP_HZ * times + np.pi / 2)))


VOLUME_TIMES = np.arange(N_VOL) * TR + SLICE


def test_cardiac_phase_is_the_linear_interpolation_between_planted_beats():
    beats = np.cumsum(np.random.default_rng(3).uniform(0.6, 1.2, 200)) - 5.0
    times = np.sort(np.random.default_rng(4).uniform(0, 100, 300))
    position = np.interp(times, beats, np.arange(beats.size))  # beat index, fractional between beats
    expected = 2 * np.pi * (position - np.floor(position))
    assert np.allclose(_cardiac_phase(beats, times), expected, atol=1e-12)
    # at a beat the phase restarts at 0; just before it, it is close to 2 pi
    assert _cardiac_phase(beats, beats[10:11])[0] == pytest.approx(0.0, abs=1e-12)
    assert _cardiac_phase(beats, beats[10:11] - 1e-6)[0] == pytest.approx(2 * np.pi, abs=1e-4)
    # before the first beat and after the last, the neighbouring interval continues
    first = beats[1] - beats[0]
    assert _cardiac_phase(beats, [beats[0] - first / 4])[0] == pytest.approx(1.5 * np.pi)


@pytest.mark.parametrize("fs", [50.0, 100.0, 250.0, 1000.0])
def test_cardiac_phase_from_a_pulse_trace_follows_the_planted_beats(fs):
    rec, beats = recording(fs=fs)
    out = physio_regressors(rec, n_volumes=N_VOL, t_r=TR, slice_time=SLICE)
    assert out.used and out.reason is None
    expected = _cardiac_phase(beats, VOLUME_TIMES)
    # beats timed to about a sample at 250 Hz and above (slower recordings are upsampled): < 1 % of a cycle
    assert circular_error(out.cardiac_phase, expected).max() < 0.01 * 2 * np.pi
    assert np.allclose(out.regressors["retroicor_cardiac_cos2"], np.cos(2 * out.cardiac_phase))
    assert np.allclose(out.regressors["retroicor_cardiac_sin3"], np.sin(3 * out.cardiac_phase))


@pytest.mark.parametrize("fs", [50.0, 400.0])
def test_respiratory_phase_is_histogram_equalised_and_monotone_with_the_true_phase(fs):
    times = VOLUME_TIMES
    rec, _ = recording(fs=fs)
    out = physio_regressors(rec, n_volumes=N_VOL, t_r=TR, slice_time=SLICE)
    truth = true_resp_phase(times)
    # a sinusoid's amplitude distribution is the arcsine law, which equalisation undoes exactly
    assert circular_error(out.respiratory_phase, truth).max() < 0.05
    assert np.all(np.abs(out.respiratory_phase) <= np.pi)
    # a monotone distortion of the belt's amplitude leaves the equalised phase unchanged
    skewed, _ = recording(fs=fs, belt=lambda t: np.exp(1.5 * np.sin(2 * np.pi * RESP_HZ * t)))
    other = physio_regressors(skewed, n_volumes=N_VOL, t_r=TR, slice_time=SLICE)
    assert circular_error(other.respiratory_phase, truth).max() < 0.05
    # monotone: along a densely sampled cycle the phase only rises (but for its wrap at +-pi)
    dense = np.arange(0, 30, 0.05) + 10.0
    many = physio_regressors(rec, n_volumes=dense.size, t_r=0.05, slice_time=0.0)
    steps = np.diff(np.unwrap(many.respiratory_phase[200:]))
    assert np.all(steps > -0.05) and np.unwrap(many.respiratory_phase)[-1] > np.unwrap(many.respiratory_phase)[200]
    assert np.allclose(out.regressors["retroicor_resp_sin4"], np.sin(4 * out.respiratory_phase))


def test_rvt_follows_a_planted_breathing_depth_and_is_convolved_with_birns_rrf():
    def depth(t):
        return 1.0 + 0.5 * np.sin(2 * np.pi * 0.015 * t)

    rec, _ = recording(depth=depth)
    resp = rec.channels["respiratory"]
    t_b, v_b, n = _rvt(resp.values, resp.sampling_frequency, resp.start_time)
    # (peak - trough) / period: 2 * depth * f for a slowly varying depth
    expected = 2 * depth(t_b - 0.25 / RESP_HZ) * RESP_HZ  # the trough a quarter cycle before the peak
    assert n >= 0.9 * (resp.duration * RESP_HZ) and np.allclose(v_b, expected, rtol=0.06)
    out = physio_regressors(rec, n_volumes=N_VOL, t_r=TR, slice_time=SLICE)
    dt = 1 / _GRID_RATE
    grid = np.arange(resp.start_time, VOLUME_TIMES[-1] + dt, dt)
    planted = 2 * depth(grid) * RESP_HZ
    kernel = respiration_response(np.arange(0, KERNEL_SECONDS + dt, dt)) * dt
    reference = np.interp(VOLUME_TIMES, grid, np.convolve(planted - planted.mean(), kernel)[: grid.size])
    assert np.corrcoef(out.regressors["rvt"], reference)[0, 1] > 0.99


def test_hr_regressor_is_the_planted_heart_rate_convolved_with_changs_crf():
    def rate(t):
        return 66.0 + 8.0 * np.sin(2 * np.pi * 0.012 * t)

    rec, _ = recording(rate=rate, start=-70.0)  # a full kernel of history before the first volume
    out = physio_regressors(rec, n_volumes=N_VOL, t_r=TR, slice_time=SLICE)
    dt = 1 / _GRID_RATE
    grid = np.arange(-70.0, VOLUME_TIMES[-1] + dt, dt)
    kernel = cardiac_response(np.arange(0, KERNEL_SECONDS + dt, dt)) * dt
    planted = rate(grid)
    reference = np.interp(VOLUME_TIMES, grid, np.convolve(planted, kernel)[: grid.size])
    measured = out.regressors["hr"].to_numpy()
    assert np.corrcoef(measured, reference)[0, 1] > 0.995
    assert np.abs((measured - measured.mean()) - (reference - reference.mean())).max() < 0.02 * reference.std()


def test_the_convolution_equals_numpys_on_the_grid():
    rng = np.random.default_rng(0)
    dt = 1 / _GRID_RATE
    times = np.arange(40) * 1.5 + 0.3
    grid = times[0] - KERNEL_SECONDS + np.arange(int(math.ceil((times[-1] - times[0] + KERNEL_SECONDS) / dt)) + 2) * dt
    values = rng.normal(size=grid.size)
    got = _convolved(grid, values, cardiac_response, times)
    kernel = cardiac_response(np.arange(int(KERNEL_SECONDS / dt) + 1) * dt) * dt
    expected = np.interp(times, grid, np.convolve(values - values.mean(), kernel)[: grid.size])
    assert np.allclose(got, expected, atol=1e-12)


def test_response_functions_are_the_published_formulas():
    t = np.array([0.0, 1.0, 4.0, 12.0, 20.0])
    assert np.allclose(respiration_response(t), 0.6 * t**2.1 * np.exp(-t / 1.6) - 0.0023 * t**3.54 * np.exp(-t / 4.25))
    assert np.allclose(cardiac_response(t), 0.6 * t**2.7 * np.exp(-t / 1.6)
                       - 16 / np.sqrt(2 * np.pi * 9) * np.exp(-((t - 12) ** 2) / 18))
    assert respiration_response(-1.0) == 0 and cardiac_response(np.array([-2.0]))[0] == 0
    assert np.argmax(cardiac_response(np.arange(0, 30, 0.1))) == pytest.approx(43, abs=2)  # CRF peak near 4.3 s


def test_orders_and_column_names():
    assert regressor_columns() == [*(f"retroicor_cardiac_{f}{k}" for k in (1, 2, 3) for f in ("cos", "sin")),
                                   *(f"retroicor_resp_{f}{k}" for k in (1, 2, 3, 4) for f in ("cos", "sin")),
                                   "rvt", "hr"]
    assert len(regressor_columns(interaction_order=1)) == 20
    assert regressor_columns(cardiac_order=1, respiratory_order=0, rvt=False, hr=False) == [
        "retroicor_cardiac_cos1", "retroicor_cardiac_sin1"]
    assert regressor_columns(respiratory=False, interaction_order=2) == regressor_columns(respiratory=False)
    rec, _ = recording()
    out = physio_regressors(rec, n_volumes=N_VOL, t_r=TR, slice_time=SLICE, cardiac_order=2, respiratory_order=1,
                            interaction_order=1, hr=False)
    assert out.columns == ["retroicor_cardiac_cos1", "retroicor_cardiac_sin1", "retroicor_cardiac_cos2",
                           "retroicor_cardiac_sin2", "retroicor_resp_cos1", "retroicor_resp_sin1",
                           "retroicor_inter_cos1plus1", "retroicor_inter_sin1plus1", "retroicor_inter_cos1minus1",
                           "retroicor_inter_sin1minus1", "rvt"]
    assert out.regressors.shape == (N_VOL, 11) and np.isfinite(out.regressors.to_numpy()).all()
    c, r = out.cardiac_phase, out.respiratory_phase
    assert np.allclose(out.regressors["retroicor_inter_sin1minus1"], np.sin(c - r))
    assert np.allclose(out.regressors["retroicor_inter_cos1plus1"], np.cos(c + r))
    assert np.allclose(out.times, np.arange(N_VOL) * TR + SLICE)


@pytest.mark.parametrize("start", [-45.0, -3.5, 0.0])
def test_start_time_aligns_the_recording_with_the_volumes(start):
    rec, beats = recording(start=start)
    out = physio_regressors(rec, n_volumes=N_VOL, t_r=TR, slice_time=SLICE)
    assert out.used and circular_error(out.cardiac_phase, _cardiac_phase(beats, VOLUME_TIMES)).max() < 0.06
    assert circular_error(out.respiratory_phase, true_resp_phase(VOLUME_TIMES)).max() < 0.1


def test_the_trigger_channel_overrules_a_wrong_start_time():
    rec, beats = recording(start=-12.0, trigger=True, start_time=-4.0)
    out = physio_regressors(rec, n_volumes=N_VOL, t_r=TR, slice_time=SLICE)
    assert "start_time" in out.codes  # the disagreement is said
    assert circular_error(out.cardiac_phase, _cardiac_phase(beats, VOLUME_TIMES)).max() < 0.06
    assert circular_error(out.respiratory_phase, true_resp_phase(VOLUME_TIMES)).max() < 0.1


def test_a_recording_that_starts_after_the_first_volume_gives_a_reason():
    rec, _ = recording(start=5.0)
    out = physio_regressors(rec, n_volumes=N_VOL, t_r=TR, slice_time=SLICE)
    assert not out.used and out.reason.code == "short" and "sub-01_task-rest_physio.tsv.gz" in out.reason.message
    assert out.regressors.shape == (N_VOL, 0)


def test_missing_or_unusable_channels_give_reasons_and_one_channel_is_enough():
    none = physio_regressors(None, n_volumes=N_VOL, t_r=TR)
    assert not none.used and none.reason.code == "missing" and none.columns == []

    cardiac_only, _ = recording(respiratory=False)
    out = physio_regressors(cardiac_only, n_volumes=N_VOL, t_r=TR)
    assert out.used and out.columns == regressor_columns(respiratory=False)
    assert "respiratory" in out.codes and "no respiratory column" in out.warnings[-1].message

    resp_only, _ = recording(cardiac=False)
    out = physio_regressors(resp_only, n_volumes=N_VOL, t_r=TR)
    assert out.used and out.columns == regressor_columns(cardiac=False) and "cardiac" in out.codes

    rec, _ = recording()
    flat = PhysioRecording({**rec.channels, "respiratory": PhysioChannel(
        "respiratory", "resp", np.zeros(rec.channels["respiratory"].values.size), 100.0, -30.0, "x_physio.tsv.gz")})
    out = physio_regressors(flat, n_volumes=N_VOL, t_r=TR)
    assert out.used and "rvt" not in out.columns and "hr" in out.columns
    assert any(w.code == "respiratory" and "flat" in w.message and "x_physio.tsv.gz" in w.message
               for w in out.warnings)

    noise = np.random.default_rng(2).normal(size=rec.channels["cardiac"].values.size)
    both_bad = PhysioRecording({"cardiac": PhysioChannel("cardiac", "pulse", noise, 100.0, -30.0, "y_physio.tsv.gz"),
                                "respiratory": flat.channels["respiratory"]})
    out = physio_regressors(both_bad, n_volumes=N_VOL, t_r=TR)
    assert not out.used and out.reason.code in ("quality", "few_beats") and "y_physio.tsv.gz" in out.reason.message
    assert "flat" in out.reason.message  # the respiratory problem is named too

    off = physio_regressors(rec, n_volumes=N_VOL, t_r=TR, cardiac_order=0, respiratory_order=0, rvt=False, hr=False)
    assert not off.used and off.reason.code == "disabled"


def test_reference_slice_time_prefers_fmripreps_start_time():
    assert reference_slice_time(2.0, {"SliceTimingCorrected": True, "StartTime": 0.95}) == (0.95, "StartTime")
    assert reference_slice_time(2.0, {"StartTime": 1.0}) == (1.0, "StartTime")
    raw = {"SliceTiming": [0.0, 1.0, 0.5, 1.5, 0.25]}
    assert reference_slice_time(2.0, {"SliceTimingCorrected": False, "StartTime": 0.0}, raw) == (
        0.5, "SliceTiming median")
    assert reference_slice_time(2.0, {}, raw) == (0.5, "SliceTiming median")
    assert reference_slice_time(2.0, None, {"SliceTiming": ["a"]}) == (1.0, "TR/2")
    assert reference_slice_time(0.8) == (0.4, "TR/2")


def test_bad_arguments_raise():
    rec, _ = recording()
    for kwargs in ({"n_volumes": 0, "t_r": TR}, {"n_volumes": N_VOL, "t_r": 0}, {"n_volumes": N_VOL, "t_r": TR,
                   "cardiac_order": -1}, {"n_volumes": N_VOL, "t_r": TR, "slice_time": TR},
                   {"n_volumes": N_VOL, "t_r": TR, "kind": "bcg"}):
        with pytest.raises(ValueError):
            physio_regressors(rec, **kwargs)


def test_the_regressors_remove_planted_physiological_noise_from_region_signals():
    """Two regions share only physiological noise, written here from the planted phases and depth
    (not from the regressors): after cleaning with the regressors they are no longer correlated."""
    import pandas as pd

    from neurokit.denoise import clean, partial_r2

    n_vol, t_r = 150, 2.0
    depth = lambda t: 1.0 + 0.4 * np.sin(2 * np.pi * 0.013 * t)  # noqa: E731
    rec, beats = recording(start=-20.0, depth=depth, duration=n_vol * t_r + 30.0, seed=7)
    times = np.arange(n_vol) * t_r + SLICE
    phase_c, phase_r = _cardiac_phase(beats, times), true_resp_phase(times)
    dt = 0.1
    grid = np.arange(-20.0, times[-1] + dt, dt)
    volume = np.interp(times, grid, np.convolve(depth(grid) - depth(grid).mean(),
                                                respiration_response(np.arange(0, 60, dt)) * dt)[: grid.size])
    noise = (np.cos(phase_c) + 0.6 * np.sin(2 * phase_c) + 0.8 * np.cos(phase_r) + 0.5 * np.sin(phase_r)
             + volume / volume.std())
    rng = np.random.default_rng(0)
    signals = np.column_stack([noise + 0.5 * rng.normal(size=n_vol), -noise + 0.5 * rng.normal(size=n_vol)])
    out = physio_regressors(rec, n_volumes=n_vol, t_r=t_r, slice_time=SLICE)
    options = {"t_r": t_r, "high_pass": 0.01, "low_pass": None, "min_volumes": 50}
    before = clean(signals, None, **options).signals
    after = clean(signals, out.regressors, **options).signals
    assert np.corrcoef(before.T)[0, 1] < -0.7
    assert abs(np.corrcoef(after.T)[0, 1]) < 0.2
    drift = pd.DataFrame({"linear": np.linspace(-1, 1, n_vol)})
    share = partial_r2(signals, pd.concat([drift, out.regressors], axis=1), out.columns, **options)
    assert np.all(share > 0.6)
