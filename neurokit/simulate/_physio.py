"""Simulated physiology: a pulse (or ECG) and a respiratory-belt trace per run from planted beats
and breaths, the HRV those beats carry, and the physiological BOLD fluctuations they cause.

Pure functions of parameters and a Generator, except :func:`write_recording`. Nothing here looks
at :mod:`neurokit.physio`: the beats come from an RR-interval process (mean heart rate, respiratory
sinus arrhythmia at the breathing rate, a slower LF fluctuation, beat-to-beat jitter), the truth
is numpy's on those beats, and the BOLD effects are beat- and breath-locked waveforms and
response-function convolutions, not the sinusoids of the cardiac and respiratory phase that
RETROICOR fits.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.integrate import trapezoid
from scipy.interpolate import CubicSpline
from scipy.signal import welch

from neurokit.simulate import _phenotype, _signals

#: Resting RMSSD (ms) of a healthy control: short-term norms of healthy adults put it near 40-45 ms
#: (Nunan et al. 2010, PACE 33:1407). A stage lowers ln RMSSD by ``hrv_effect_size`` times the log
#: ratio of the phenotype's HRV stage means (:data:`~neurokit.simulate._phenotype.HRV_MEAN`): lowest
#: in active use, recovering with abstinence, as the reviews describe.
CONTROL_RMSSD_MS = 45.0
STAGE_LN_RMSSD = {stage: math.log(m / _phenotype.HRV_MEAN["control"]) for stage, m in _phenotype.HRV_MEAN.items()}
#: Person-to-person (trait) and session-to-session SD of ln RMSSD.
LN_RMSSD_TRAIT_SD, LN_RMSSD_SESSION_SD = 0.30, 0.12
#: Mean heart rate (beats/min): person mean and SD, session SD, range.
HEART_RATE_BPM, HEART_RATE_SD, HEART_RATE_SESSION_SD, HEART_RATE_RANGE = 68.0, 8.0, 3.0, (50.0, 95.0)
#: Breathing rate (breaths/min): mean, SD, range (inside the 0.15-0.40 Hz HF band, so the RSA is HF power).
RESPIRATORY_BPM, RESPIRATORY_SD, RESPIRATORY_RANGE = 15.0, 2.5, (10.0, 22.0)
#: How the planted RMSSD^2 splits: respiratory sinus arrhythmia, beat-to-beat jitter, and the LF (~0.1 Hz,
#: Mayer-wave) fluctuation, whose beat-to-beat differences are small but whose power is not.
RSA_SHARE, JITTER_SHARE, LF_SHARE = 0.75, 0.15, 0.10
LF_BAND = (0.06, 0.14)
#: The planted HF power is that of the planted intervals in this band (Task Force 1996), Welch on the
#: intervals interpolated at 4 Hz.
HF_BAND = (0.15, 0.40)
#: Birn et al. (2008, NeuroImage 40:644) respiration response function and Chang et al. (2009,
#: NeuroImage 44:857) cardiac response function; each participant's is stretched in time by a factor
#: drawn around 1 (Kassinopoulos & Mitsis 2019, NeuroImage 202:116150, report that the responses vary
#: across people and that a person's own fits the data better).
RRF = (0.6, 2.1, 1.6, 0.0023, 3.54, 4.25)
RESPONSE_STRETCH_SD = 0.15
#: Kinds of deliberately broken recordings and what each does.
BROKEN_PHYSIO_KINDS: dict[str, str] = {
    "flat": "the cardiac channel is constant (sensor off); reason flat",
    "clipped": "the cardiac channel saturates at its 75th percentile; reason clipped",
    "short": "the recording stops 40 s into the run, less than physio.min_duration covers; reason short",
    "no_sidecar": "the recording's JSON sidecar is absent; reason no_sidecar",
}
CARDIAC_KINDS = ("ppg", "ecg")
#: Internal time step (s) on which breathing and the BOLD-side waveforms are computed.
_DT = 0.01
#: History simulated before the recording and the first volume, so response functions start filled.
_HISTORY_S = 45.0


@dataclasses.dataclass(frozen=True)
class SessionPhysiology:
    """The planted physiology of one participant-session (every run of the session shares it)."""

    heart_rate: float  # beats/min
    rmssd: float  # ms, the RR process's target; the truth is what the beats realise
    respiratory_rate: float  # breaths/min
    rrf_stretch: float
    crf_stretch: float


def session_physiology(rng: np.random.Generator, people: pd.DataFrame, sessions: pd.DataFrame, *,
                       hrv_effect_size: float) -> list[SessionPhysiology]:
    """Draw each participant-session's heart rate, RMSSD and breathing rate, in ``sessions``' row order.

    ln RMSSD = ln(:data:`CONTROL_RMSSD_MS`) + ``hrv_effect_size`` * :data:`STAGE_LN_RMSSD`[stage] * (0.5 +
    severity scaled to [0, 1]) + a trait (SD :data:`LN_RMSSD_TRAIT_SD`) + session noise (SD
    :data:`LN_RMSSD_SESSION_SD`): the stage's shift, larger for heavier users (the severity factor has
    mean 1, as for the planted coupling); heart rate and breathing rate do not depend on stage. ``rng`` is a stream of its own, so none of this depends on
    (or changes) the atlas, the coupling or the motion.
    """
    n = len(people)
    severity01 = dict(zip(people["participant_id"], people["severity01"] if "severity01" in people else np.zeros(n)))
    trait = dict(zip(people["participant_id"], zip(
        LN_RMSSD_TRAIT_SD * rng.standard_normal(n), rng.normal(HEART_RATE_BPM, HEART_RATE_SD, n),
        rng.normal(RESPIRATORY_BPM, RESPIRATORY_SD, n),
        np.exp(RESPONSE_STRETCH_SD * rng.standard_normal(n)), np.exp(RESPONSE_STRETCH_SD * rng.standard_normal(n)))))
    out = []
    for row in sessions.itertuples():
        ln_trait, hr, resp, rrf, crf = trait[row.participant_id]
        shift = STAGE_LN_RMSSD[row.stage] * (0.5 + severity01[row.participant_id])
        ln_rmssd = math.log(CONTROL_RMSSD_MS) + hrv_effect_size * shift + ln_trait \
            + LN_RMSSD_SESSION_SD * rng.standard_normal()
        out.append(SessionPhysiology(
            heart_rate=float(np.clip(hr + HEART_RATE_SESSION_SD * rng.standard_normal(), *HEART_RATE_RANGE)),
            rmssd=float(math.exp(ln_rmssd)),
            respiratory_rate=float(np.clip(resp + 0.8 * rng.standard_normal(), *RESPIRATORY_RANGE)),
            rrf_stretch=float(rrf), crf_stretch=float(crf)))
    return out


def default_session(rng: np.random.Generator) -> SessionPhysiology:
    """One control-like session, for a run simulated on its own (``run_data`` without physiology)."""
    people = pd.DataFrame({"participant_id": ["x"]})
    return session_physiology(rng, people, pd.DataFrame({"participant_id": ["x"], "stage": ["control"]}),
                              hrv_effect_size=0.0)[0]


@dataclasses.dataclass(frozen=True)
class RunPhysiology:
    """One run's planted physiology on the run's clock (s from the first volume's onset).

    Attributes
    ----------
    session : SessionPhysiology
    t0 : float
        Time of the first grid sample (before the recording and the run, for the response functions).
    beats : ndarray
        Beat times (s): the systolic peak of the pulse, the R peak of an ECG.
    breaths : ndarray
        Breath onsets (s): the start of each inspiration (the belt's trough).
    phase : ndarray
        Respiratory phase (rad, unwrapped) on the grid ``t0 + _DT * arange(n)``.
    depth : ndarray
        Breathing depth (tidal volume, arbitrary units, mean about 1) on the grid.
    belt : ndarray
        The chest's excursion on the grid (depth times the breathing waveform), before sensor effects.
    """

    session: SessionPhysiology
    t0: float
    beats: np.ndarray
    breaths: np.ndarray
    phase: np.ndarray
    depth: np.ndarray
    belt: np.ndarray

    @property
    def grid(self) -> np.ndarray:
        return self.t0 + _DT * np.arange(self.phase.size)


def _slow(rng: np.random.Generator, n: int, band: tuple[float, float]) -> np.ndarray:
    """A unit-variance band-limited signal on the internal grid, computed coarsely and interpolated."""
    step = 0.25
    m = int(np.ceil(n * _DT / step)) + 2
    with np.errstate(over="ignore"):  # the band's smooth edges underflow to 0 far above it, as they should
        coarse = _signals.band_limited(rng, m, step, k=1, band=band)[:, 0]
    return np.interp(np.arange(n) * _DT, np.arange(m) * step, coarse)


def _breathing_waveform(phase: np.ndarray) -> np.ndarray:
    """Belt excursion over one breath, trough (inspiration onset) at phase 0: inspiration is shorter
    than expiration, as in quiet breathing, so the waveform has harmonics."""
    return -np.cos(phase + 0.45 * np.sin(phase))


def run_physiology(rng: np.random.Generator, session: SessionPhysiology, *, start: float, end: float) -> RunPhysiology:
    """Simulate the beats and breathing of a run from ``start`` to ``end`` s (run clock).

    RR(t) = 60 / heart_rate + A d(t) sin(phase(t) + 0.6) + LF(t) + jitter, with ``d`` the breathing
    depth; A, the LF SD and the jitter SD are set so that the process's RMSSD is about the session's.
    """
    t0 = min(start, 0.0) - _HISTORY_S
    n = int(np.ceil((end + 5.0 - t0) / _DT))
    f_resp = session.respiratory_rate / 60.0
    rate = f_resp * (1.0 + 0.06 * _slow(rng, n, (0.005, 0.04)))
    phase = 2 * np.pi * (np.cumsum(rate) * _DT + rng.uniform())
    depth = 1.0 + 0.2 * _slow(rng, n, (0.005, 0.05))
    # sighs: an occasional deep breath, about one every two minutes (respiration-volume events)
    grid = t0 + _DT * np.arange(n)
    for when in grid[0] + np.cumsum(rng.exponential(120.0, 1 + int((grid[-1] - grid[0]) / 60))):
        if when > grid[-1]:
            break
        depth += rng.uniform(0.6, 1.2) * np.exp(-0.5 * ((grid - when) / 2.5) ** 2)
    depth = np.maximum(depth, 0.3)
    belt = depth * _breathing_waveform(phase)
    cycles = np.floor(phase / (2 * np.pi))
    onsets = np.flatnonzero(np.diff(cycles) > 0) + 1
    breaths = grid[onsets] - _DT * (phase[onsets] - 2 * np.pi * cycles[onsets]) / (phase[onsets] - phase[onsets - 1])

    mean_rr = 60.0 / session.heart_rate
    target = session.rmssd / 1000.0
    rsa = math.sqrt(RSA_SHARE) * target / (math.sqrt(2) * abs(math.sin(math.pi * f_resp * mean_rr)))
    lf = math.sqrt(LF_SHARE) * target / (math.sqrt(2) * math.sin(math.pi * np.mean(LF_BAND) * mean_rr)) \
        * _slow(rng, n, LF_BAND)
    jitter = math.sqrt(JITTER_SHARE / 2) * target
    modulation = rsa * depth / depth.mean() * np.sin(phase + 0.6) + lf
    beats = [t0 + rng.uniform(0, mean_rr)]
    while beats[-1] < grid[-1] - 2.0:
        i = int((beats[-1] - t0) / _DT)
        beats.append(beats[-1] + max(0.3, mean_rr + modulation[i] + jitter * rng.standard_normal()))
    return RunPhysiology(session=session, t0=t0, beats=np.array(beats), breaths=breaths, phase=phase,
                         depth=depth, belt=belt)


def planted_measures(physio: RunPhysiology, run_duration: float) -> dict[str, float]:
    """The run's HRV and breathing rate from the planted beats and breaths inside ``[0, run_duration)``.

    Heart rate 60000 / mean interval, RMSSD and SDNN (ddof 1) of the intervals between consecutive beats
    inside the run; HF power: the intervals (ms) at their end beats, cubic-spline interpolated at 4 Hz,
    Welch (Hann, 256-sample segments, half overlap) after removing the mean, integrated (trapezoid) over
    :data:`HF_BAND`; breathing rate 60 / mean interval between breath onsets.
    """
    beats = physio.beats[(physio.beats >= 0) & (physio.beats < run_duration)]
    rr = np.diff(beats) * 1000.0
    grid = np.arange(beats[1], beats[-1], 0.25)
    series = CubicSpline(beats[1:], rr)(grid)
    f, p = welch(series - series.mean(), fs=4.0, nperseg=min(grid.size, 256))
    band = (f >= HF_BAND[0]) & (f < HF_BAND[1])
    hf = float(trapezoid(p[band], f[band]))
    breaths = physio.breaths[(physio.breaths >= 0) & (physio.breaths < run_duration)]
    return {
        "heart_rate": float(60000.0 / rr.mean()),
        "rmssd": float(np.sqrt(np.mean(np.diff(rr) ** 2))),
        "sdnn": float(rr.std(ddof=1)),
        "hf_power": hf,
        "log_hf_power": float(np.log(hf)),
        "respiratory_rate": float(60.0 / np.diff(breaths).mean()) if breaths.size > 1 else math.nan,
        "n_beats": int(beats.size),
    }


def _around(beats: np.ndarray, t: np.ndarray, before: int, after: int):
    """For each time, the indices of the beats from ``before`` before to ``after`` after it (clipped), and a mask."""
    idx = np.searchsorted(beats, t)
    for j in range(-before, after):
        k = idx + j
        yield np.clip(k, 0, beats.size - 1), (k >= 0) & (k < beats.size)


def cardiac_trace(rng: np.random.Generator, physio: RunPhysiology, t: np.ndarray, kind: str = "ppg") -> np.ndarray:
    """The pulse oximeter (``ppg``) or ECG (``ecg``) signal at times ``t`` (s, run clock), arbitrary units.

    PPG: per beat a systolic wave peaking at the beat (fast rise, slower fall), a dicrotic notch and a
    diastolic wave 0.3 s later; each beat's amplitude follows breathing and varies at random; the
    baseline wanders with breathing and slowly; white sensor noise. ECG: P, Q, R (at the beat), S and
    T waves, baseline wander and noise.
    """
    beats = physio.beats
    n_beats = beats.size
    amp = 1.0 + 0.12 * np.sin(np.interp(beats, physio.grid, physio.phase)) + 0.06 * rng.standard_normal(n_beats)
    x = np.zeros(t.size)
    if kind == "ppg":
        for k, ok in _around(beats, t, 2, 2):
            tau = t - beats[k]
            sys_w = np.where(tau < 0, 0.055, 0.11)
            wave = np.exp(-0.5 * (tau / sys_w) ** 2) + 0.42 * np.exp(-0.5 * ((tau - 0.30) / 0.075) ** 2)
            x += np.where(ok, amp[k] * wave, 0.0)
        wander = 0.25 * np.interp(t, physio.grid, physio.belt) + 0.3 * np.interp(
            t, physio.grid, _slow(rng, physio.phase.size, (0.003, 0.03)))
        noise = 0.03
    elif kind == "ecg":
        waves = ((-0.17, 0.025, 0.12), (-0.025, 0.008, -0.12), (0.0, 0.01, 1.0), (0.025, 0.009, -0.22),
                 (0.26, 0.045, 0.3))
        for k, ok in _around(beats, t, 2, 2):
            tau = t - beats[k]
            wave = sum(a * np.exp(-0.5 * ((tau - d) / w) ** 2) for d, w, a in waves)
            x += np.where(ok, (1 + 0.5 * (amp[k] - 1)) * wave, 0.0)
        wander = 0.1 * np.interp(t, physio.grid, physio.belt) + 0.1 * np.interp(
            t, physio.grid, _slow(rng, physio.phase.size, (0.003, 0.03)))
        noise = 0.02
    else:
        raise ValueError(f"kind must be one of {CARDIAC_KINDS}, not {kind!r}")
    return 1000.0 * (x + wander + noise * rng.standard_normal(t.size)) + 2000.0


def respiratory_trace(rng: np.random.Generator, physio: RunPhysiology, t: np.ndarray) -> np.ndarray:
    """The respiratory belt at times ``t``: the chest's excursion, a slow drift of the belt's tension, noise."""
    drift = 0.15 * _slow(rng, physio.phase.size, (0.002, 0.01))
    return 500.0 * (np.interp(t, physio.grid, physio.belt + drift) + 0.03 * rng.standard_normal(t.size)) + 2000.0


def trigger_trace(t: np.ndarray, *, n_volumes: int, t_r: float, fs: float) -> np.ndarray:
    """5 V pulses of 10 ms (at least one sample) at each volume's onset, 0 otherwise."""
    out = np.zeros(t.size)
    width = max(1, int(round(0.01 * fs)))
    for k in range(n_volumes):
        i = int(round((k * t_r - t[0]) * fs))
        if 0 <= i < t.size:
            out[i : i + width] = 5.0
    return out


def _table_bytes(columns: list[np.ndarray], formats: list[str]) -> bytes:
    lines = np.column_stack(columns)
    fmt = "\t".join(formats)
    return ("\n".join(fmt % tuple(row) for row in lines.tolist()) + "\n").encode()


def write_recording(func_dir: Path, prefix: str, physio: RunPhysiology, rng: np.random.Generator, *, n_volumes: int,
                    t_r: float, sampling_frequency: float, start_time: float, trigger: bool, split: bool,
                    cardiac_kind: str, broken: str | None, compress) -> list[Path]:
    """Write the run's ``*_physio.tsv.gz`` (no header) and ``*_physio.json`` files; returns the TSVs.

    One file ``<prefix>_physio.tsv.gz`` with columns cardiac (or ecg), respiratory[, trigger], or with
    ``split`` ``<prefix>_recording-cardiac_physio.tsv.gz`` (cardiac[, trigger] at ``sampling_frequency``)
    and ``<prefix>_recording-respiratory_physio.tsv.gz`` (respiratory at a quarter of it, at least 10 Hz,
    starting a little later, with its own ``StartTime``).
    """
    run_end = n_volumes * t_r
    end = run_end + 2.0 if broken != "short" else 40.0
    fs = float(sampling_frequency)
    t = start_time + np.arange(int(round((end - start_time) * fs))) / fs
    cardiac = cardiac_trace(rng, physio, t, cardiac_kind)
    if broken == "flat":
        cardiac = np.full(t.size, float(np.round(np.median(cardiac))))
    elif broken == "clipped":
        cardiac = np.minimum(cardiac, np.percentile(cardiac, 75))
    cardiac_name = "cardiac" if cardiac_kind == "ppg" else "ecg"
    files = []
    if not split:
        parts = [(f"{prefix}_physio", t, [cardiac_name, "respiratory"], [cardiac, respiratory_trace(rng, physio, t)],
                  fs, start_time)]
    else:
        fs_r = max(10.0, fs / 4)
        start_r = start_time + float(rng.uniform(0.1, 1.0))
        t_r_grid = start_r + np.arange(int(round((end - start_r) * fs_r))) / fs_r
        parts = [(f"{prefix}_recording-cardiac_physio", t, [cardiac_name], [cardiac], fs, start_time),
                 (f"{prefix}_recording-respiratory_physio", t_r_grid, ["respiratory"],
                  [respiratory_trace(rng, physio, t_r_grid)], fs_r, start_r)]
    for i, (stem, times, names, columns, rate, start) in enumerate(parts):
        formats = ["%.2f"] * len(columns)
        if trigger and i == 0:
            names, columns = names + ["trigger"], columns + [trigger_trace(times, n_volumes=n_volumes, t_r=t_r, fs=rate)]
            formats.append("%g")
        path = func_dir / f"{stem}.tsv.gz"
        path.write_bytes(compress(_table_bytes(columns, formats), 1, mtime=0))
        if broken != "no_sidecar":
            meta = {"SamplingFrequency": rate, "StartTime": round(start, 6), "Columns": names}
            if names[0] == "cardiac":
                meta["cardiac"] = {"Description": "Pulse oximeter (photoplethysmogram), finger.", "Units": "a.u."}
            elif names[0] == "ecg":
                meta["ecg"] = {"Description": "Electrocardiogram.", "Units": "a.u."}
            if "respiratory" in names:
                meta["respiratory"] = {"Description": "Respiratory belt (chest excursion).", "Units": "a.u."}
            if "trigger" in names:
                meta["trigger"] = {"Description": "Scanner volume trigger: 5 at each volume's onset.", "Units": "V"}
            (func_dir / f"{stem}.json").write_text(json.dumps(meta, indent=2) + "\n")
        files.append(path)
    return files


# ---- the physiological BOLD fluctuations --------------------------------------------------------

def _crf(t: np.ndarray) -> np.ndarray:
    """Chang et al. (2009) cardiac response function."""
    return 0.6 * t**2.7 * np.exp(-t / 1.6) - 16.0 / np.sqrt(2 * np.pi * 9.0) * np.exp(-0.5 * (t - 12.0) ** 2 / 9.0)


def _rrf(t: np.ndarray) -> np.ndarray:
    a, p1, t1, b, p2, t2 = RRF
    return a * t**p1 * np.exp(-t / t1) - b * t**p2 * np.exp(-t / t2)


def pulsatility(physio: RunPhysiology) -> np.ndarray:
    """Beat-locked pulsatility on the grid: each beat adds ``(tau/0.12) exp(1 - tau/0.12)`` with a slower
    tail, ``tau`` the time since the beat (s), so the waveform depends on the time since the last beat,
    not on a phase that stretches with the interval, and has harmonics. Unit variance."""
    n = physio.phase.size
    impulses = np.zeros(n)
    pos = (physio.beats - physio.t0) / _DT
    i = np.floor(pos).astype(int)
    frac = pos - i
    ok = (i >= 0) & (i < n - 1)
    np.add.at(impulses, i[ok], 1 - frac[ok])
    np.add.at(impulses, i[ok] + 1, frac[ok])
    tau = np.arange(int(1.5 / _DT)) * _DT
    kernel = tau / 0.12 * np.exp(1 - tau / 0.12) + 0.35 * (1 - np.exp(-tau / 0.05)) * np.exp(-tau / 0.5)
    out = np.convolve(impulses, kernel)[:n]
    out -= out[int(_HISTORY_S / _DT):].mean()
    return out / out[int(_HISTORY_S / _DT):].std()


def breath_locked(physio: RunPhysiology) -> np.ndarray:
    """Respiration-locked fluctuation on the grid: the belt's excursion with a quadratic term (B0 changes
    and chest motion are not linear in it). Unit variance."""
    b = physio.belt / physio.belt.std()
    out = b + 0.4 * (b**2 - (b**2).mean())
    out = out - out.mean()
    return out / out.std()


def systemic(physio: RunPhysiology) -> np.ndarray:
    """Respiration volume and heart rate convolved with the participant's RRF and CRF, on the grid.

    Respiration volume per time: the breathing depth times the rate (Birn et al. 2006); heart rate from
    the beat intervals. Each response function is the published one stretched by the participant's
    factor; the sum weighs the RV part 1 and the HR part 0.6 (each standardised). Unit variance.
    """
    grid = physio.grid
    rate = np.gradient(physio.phase, _DT) / (2 * np.pi)
    rv = physio.depth * rate / rate.mean()
    mid = 0.5 * (physio.beats[1:] + physio.beats[:-1])
    hr = np.interp(grid, mid, 60.0 / np.diff(physio.beats))
    tau = np.arange(int(40.0 / _DT)) * _DT
    step = 0.1
    coarse = slice(None, None, int(step / _DT))
    parts = []
    for x, fn, stretch in ((rv, _rrf, physio.session.rrf_stretch), (hr, _crf, physio.session.crf_stretch)):
        kernel = fn(tau[coarse] / stretch)
        y = np.convolve(x[coarse] - x.mean(), kernel)[: x[coarse].size]
        y = np.interp(np.arange(grid.size), np.arange(grid.size)[coarse], y)
        keep = y[int(_HISTORY_S / _DT):]
        parts.append((y - keep.mean()) / keep.std())
    out = parts[0] + 0.6 * parts[1]
    keep = out[int(_HISTORY_S / _DT):]
    return (out - keep.mean()) / keep.std()


def sample(physio: RunPhysiology, series: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``series`` (on the grid) at ``times`` (s, run clock), linearly interpolated."""
    return np.interp(times, physio.grid, series)
