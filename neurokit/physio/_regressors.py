"""Physiological noise regressors per BOLD volume: RETROICOR, RVT and heart rate.

From a run's recording, sampled at each volume's acquisition time: RETROICOR's Fourier series
of the cardiac and respiratory phases (Glover et al. 2000; the multiplicative interaction terms
of Harvey et al. 2008), respiration volume per time convolved with the respiration response
function (Birn et al. 2006, 2008) and heart rate convolved with the cardiac response function
(Chang et al. 2009). Beats are those of :func:`neurokit.physio.hrv_from_signals`, the detector
the HRV uses; breaths are NeuroKit2's (``rsp_clean``/``rsp_findpeaks``), as for the breathing
rate. Definitions of every column: ``docs/denoising.md``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from neurokit.physio._hrv import (
    RR_RANGE,
    PhysioChannel,
    PhysioIssue,
    PhysioRecording,
    _fill_nan,
    _issue,
    _kind_of,
    _reject_intervals,
    _resample,
    _RSP_RATE,
    _same_file,
    align_channel,
    channel_issues,
    hrv_from_signals,
)

__all__ = ["PhysioRegressors", "physio_regressors", "regressor_columns", "reference_slice_time",
           "respiration_response", "cardiac_response"]

#: Seconds of history the response functions need (RRF and CRF are below 0.5 % of their peak after it).
KERNEL_SECONDS = 60.0
#: Rate (Hz) of the fine grid on which RVT and heart rate are convolved before sampling at the volumes.
_GRID_RATE = 10.0
#: Low-pass (Hz) of the belt trace before the sign of its derivative is taken (breathing is < 1 Hz).
_RSP_SMOOTH = 1.0


def respiration_response(t: np.ndarray) -> np.ndarray:
    """Respiration response function of Birn et al. (2008), at times ``t`` (s; 0 before 0).

    ``RRF(t) = 0.6 t^2.1 exp(-t/1.6) - 0.0023 t^3.54 exp(-t/4.25)``.
    """
    t = np.clip(np.asarray(t, dtype=float), 0.0, None)
    return 0.6 * t**2.1 * np.exp(-t / 1.6) - 0.0023 * t**3.54 * np.exp(-t / 4.25)


def cardiac_response(t: np.ndarray) -> np.ndarray:
    """Cardiac response function of Chang et al. (2009), at times ``t`` (s; 0 before 0).

    ``CRF(t) = 0.6 t^2.7 exp(-t/1.6) - 16 / sqrt(2 pi 9) exp(-(t - 12)^2 / 18)``.
    """
    t = np.asarray(t, dtype=float)
    pos = np.clip(t, 0.0, None)
    out = 0.6 * pos**2.7 * np.exp(-pos / 1.6) - 16.0 / math.sqrt(2 * math.pi * 9) * np.exp(-((pos - 12.0) ** 2) / 18)
    return np.where(t >= 0, out, 0.0)


def regressor_columns(*, cardiac_order: int = 3, respiratory_order: int = 4, interaction_order: int = 0,
                      rvt: bool = True, hr: bool = True, cardiac: bool = True,
                      respiratory: bool = True) -> list[str]:
    """The column names :func:`physio_regressors` gives, in order.

    ``retroicor_cardiac_cos{k}``, ``retroicor_cardiac_sin{k}`` (k = 1..cardiac_order),
    ``retroicor_resp_cos{k}``/``sin{k}`` (k = 1..respiratory_order), ``retroicor_inter_cos{m}plus{n}``,
    ``retroicor_inter_sin{m}plus{n}``, ``retroicor_inter_cos{m}minus{n}``, ``retroicor_inter_sin{m}minus{n}``
    (m, n = 1..interaction_order; only with both channels), ``rvt`` (respiratory), ``hr`` (cardiac).
    """
    cols: list[str] = []
    if cardiac:
        cols += [f"retroicor_cardiac_{f}{k}" for k in range(1, cardiac_order + 1) for f in ("cos", "sin")]
    if respiratory:
        cols += [f"retroicor_resp_{f}{k}" for k in range(1, respiratory_order + 1) for f in ("cos", "sin")]
    if cardiac and respiratory:
        cols += [f"retroicor_inter_{f}{m}{s}{n}" for m in range(1, interaction_order + 1)
                 for n in range(1, interaction_order + 1) for s in ("plus", "minus") for f in ("cos", "sin")]
    if respiratory and rvt:
        cols.append("rvt")
    if cardiac and hr:
        cols.append("hr")
    return cols


@dataclass
class PhysioRegressors:
    """A run's physiological noise regressors, one row per volume, and why some or all are missing.

    Attributes
    ----------
    regressors : pandas.DataFrame, shape (n_volumes, n_columns)
        Columns of :func:`regressor_columns` for the usable channels (none when ``used`` is False).
    used : bool
        Whether there is at least one regressor.
    reason : PhysioIssue or None
        Why there is none (None when ``used``).
    warnings : list of PhysioIssue
        Non-fatal problems, e.g. the respiratory channel unusable while the cardiac one is fine
        (code ``respiratory``, or ``cardiac`` the other way round), alignment warnings.
    times : ndarray, shape (n_volumes,)
        Acquisition time of each volume (s from the first volume's start): ``k * TR + slice_time``.
    slice_time : float
        The reference slice time used (s after each volume's start).
    cardiac_phase, respiratory_phase : ndarray, shape (n_volumes,), or None
        The phases at ``times`` (radians; cardiac in [0, 2 pi), respiratory in [-pi, pi]).
    n_beats, n_breaths : int
        Beats and breaths detected (the stretch used includes up to :data:`KERNEL_SECONDS` before the run).
    """

    regressors: pd.DataFrame
    used: bool = False
    reason: PhysioIssue | None = None
    warnings: list[PhysioIssue] = field(default_factory=list)
    times: np.ndarray | None = None
    slice_time: float | None = None
    cardiac_phase: np.ndarray | None = None
    respiratory_phase: np.ndarray | None = None
    n_beats: int = 0
    n_breaths: int = 0

    @property
    def columns(self) -> list[str]:
        """The regressors' names."""
        return [str(c) for c in self.regressors.columns]

    @property
    def codes(self) -> list[str]:
        """The codes of the reason (first) and of every warning."""
        return ([self.reason.code] if self.reason else []) + [w.code for w in self.warnings]


def reference_slice_time(t_r: float, preproc: Mapping[str, Any] | None = None,
                         raw: Mapping[str, Any] | None = None) -> tuple[float, str]:
    """When, after the start of each volume, the BOLD data stand for: the reference slice time.

    Parameters
    ----------
    t_r : float
        Repetition time (s).
    preproc : mapping, optional
        fMRIPrep's sidecar of the preprocessed BOLD (``*_desc-preproc_bold.json``).
    raw : mapping, optional
        The raw BOLD sidecar (``*_bold.json``, inherited keys merged).

    Returns
    -------
    slice_time : float
        Seconds after each volume's start.
    source : str
        ``StartTime`` (fMRIPrep corrected slice timing to it: ``SliceTimingCorrected`` true, or a
        ``StartTime`` without that key), ``SliceTiming median`` (no correction: region signals mix
        all slices, the median slice time is their centre), or ``TR/2`` (nothing known).
    """
    preproc, raw = dict(preproc or {}), dict(raw or {})
    start = preproc.get("StartTime")
    corrected = preproc.get("SliceTimingCorrected")
    if _number(start) and corrected is not False and 0 <= float(start) < t_r:
        return float(start), "StartTime"
    for meta in (preproc, raw):
        timing = meta.get("SliceTiming")
        if isinstance(timing, (list, tuple)) and timing and all(_number(s) for s in timing):
            median = float(np.median(np.asarray(timing, dtype=float)))
            if 0 <= median < t_r:
                return median, "SliceTiming median"
    return t_r / 2, "TR/2"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _cardiac_phase(beats: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Glover's cardiac phase: rising linearly from 0 to 2 pi between successive beats, at ``times``.

    Before the first beat and after the last, the neighbouring interval is continued.
    """
    beats = np.asarray(beats, dtype=float)
    times = np.asarray(times, dtype=float)
    i = np.clip(np.searchsorted(beats, times, side="right") - 1, 0, beats.size - 2)
    start, length = beats[i], beats[i + 1] - beats[i]
    return np.mod(2 * np.pi * (times - start) / length, 2 * np.pi)


def _respiratory_phase(values: np.ndarray, fs: float, times: np.ndarray, onset: float) -> np.ndarray:
    """Glover's respiratory phase by histogram equalisation, at ``times``.

    ``phase = pi * F(R(t)) * sign(dR/dt)``, with F the empirical distribution of the belt
    amplitude R over ``values`` (Glover's 100-bin histogram, in the limit of fine bins), R and its
    derivative taken on the trace low-passed at 1 Hz (sensor noise would otherwise jitter the phase
    near the extremes, where the distribution is densest). Sample i of ``values`` is at ``onset + i / fs``.
    """
    from scipy.signal import butter, sosfiltfilt

    x = np.asarray(values, dtype=float)
    sos = butter(4, min(_RSP_SMOOTH / (fs / 2), 0.99), output="sos")
    smooth = sosfiltfilt(sos, x)
    t = onset + np.arange(x.size) / fs
    amplitude = np.interp(times, t, smooth)
    slope = np.interp(times, t, np.gradient(smooth, 1.0 / fs))
    ranked = np.sort(smooth)
    share = np.searchsorted(ranked, amplitude, side="right") / ranked.size
    sign = np.where(slope >= 0, 1.0, -1.0)
    return np.pi * share * sign


def _retroicor(cardiac: np.ndarray | None, respiratory: np.ndarray | None, cardiac_order: int,
               respiratory_order: int, interaction_order: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if cardiac is not None:
        for k in range(1, cardiac_order + 1):
            out[f"retroicor_cardiac_cos{k}"] = np.cos(k * cardiac)
            out[f"retroicor_cardiac_sin{k}"] = np.sin(k * cardiac)
    if respiratory is not None:
        for k in range(1, respiratory_order + 1):
            out[f"retroicor_resp_cos{k}"] = np.cos(k * respiratory)
            out[f"retroicor_resp_sin{k}"] = np.sin(k * respiratory)
    if cardiac is not None and respiratory is not None:
        for m in range(1, interaction_order + 1):
            for n in range(1, interaction_order + 1):
                for sign, word in ((1, "plus"), (-1, "minus")):
                    phase = m * cardiac + sign * n * respiratory
                    out[f"retroicor_inter_cos{m}{word}{n}"] = np.cos(phase)
                    out[f"retroicor_inter_sin{m}{word}{n}"] = np.sin(phase)
    return out


def _convolved(sample_t: np.ndarray, sample_v: np.ndarray, kernel, times: np.ndarray) -> np.ndarray:
    """``sample_v`` (at ``sample_t``, s) interpolated onto a fine grid, convolved causally with
    ``kernel`` (a function of lag in s) and read at ``times``; history the samples do not cover
    is the first value (the convolution's start then adds only a constant)."""
    dt = 1.0 / _GRID_RATE
    start = min(float(sample_t[0]), float(times[0]) - KERNEL_SECONDS)
    grid = start + np.arange(int(math.ceil((float(times[-1]) - start) / dt)) + 2) * dt
    x = np.interp(grid, sample_t, sample_v)  # constant beyond the first and last sample
    x = x - x.mean()
    h = kernel(np.arange(int(KERNEL_SECONDS / dt) + 1) * dt) * dt
    y = np.convolve(x, h)[: grid.size]
    return np.interp(times, grid, y)


def _rvt(values: np.ndarray, fs: float, onset: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Birn et al.'s (2006) respiration volume per time, breath by breath: at each inspiration peak,
    (peak - preceding trough) / (time since the preceding peak). Returns times (s), values, breaths."""
    import neurokit2 as nk

    x, rate = _resample(np.asarray(values, dtype=float), fs, _RSP_RATE, up_only=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = np.asarray(nk.rsp_clean(x, sampling_rate=rate, method="khodadad2018"), dtype=float)
        found = nk.rsp_findpeaks(clean, sampling_rate=rate, method="khodadad2018")
    peaks = np.asarray(found["RSP_Peaks"], dtype=int)
    troughs = np.asarray(found["RSP_Troughs"], dtype=int)
    t_out, v_out = [], []
    for prev, peak in zip(peaks[:-1], peaks[1:]):
        before = troughs[(troughs > prev) & (troughs < peak)]
        if before.size == 0:
            continue
        depth = clean[peak] - clean[before[-1]]
        t_out.append(onset + peak / rate)
        v_out.append(depth / ((peak - prev) / rate))
    return np.asarray(t_out), np.asarray(v_out), int(peaks.size)


def _heart_rate(beats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Beats per minute of each accepted interval (:func:`neurokit.physio._hrv._reject_intervals`),
    at the interval's midpoint."""
    rr = np.diff(beats)
    kept = _reject_intervals(rr)
    mid = (beats[1:] + beats[:-1]) / 2
    return mid[kept], 60.0 / rr[kept]


def physio_regressors(recording: PhysioRecording | None, *, n_volumes: int, t_r: float, slice_time: float | None = None,
                      cardiac_order: int = 3, respiratory_order: int = 4, interaction_order: int = 0,
                      rvt: bool = True, hr: bool = True, kind: str = "auto",
                      max_rejected_fraction: float = 0.2) -> PhysioRegressors:
    """A run's physiological noise regressors at each volume's acquisition time.

    Never raises for a problem of the data: without a usable channel the result has
    ``used=False`` and the reason; with one usable channel of two, that channel's regressors
    and a warning naming the other's problem.

    Parameters
    ----------
    recording : PhysioRecording or None
        From :func:`neurokit.io.read_physio` (None: no recording, reason ``missing``).
    n_volumes : int
        Volumes of the BOLD run.
    t_r : float
        Repetition time (s).
    slice_time : float, optional
        Reference slice time (s after each volume's start; :func:`reference_slice_time`);
        default ``t_r / 2``. Volume k is sampled at ``k * t_r + slice_time``.
    cardiac_order, respiratory_order : int
        RETROICOR Fourier orders (Glover et al. 2000: 2 each; 3 and 4 after Harvey et al. 2008).
    interaction_order : int
        Order of the cardiac-respiratory interaction terms (Harvey et al. 2008: 1); 0 = none.
    rvt, hr : bool
        Add RVT convolved with the RRF (Birn et al. 2006, 2008) and heart rate convolved with the
        CRF (Chang et al. 2009).
    kind : {"auto", "ppg", "ecg"}
        Cardiac signal type, as in :func:`neurokit.physio.hrv_from_recording`.
    max_rejected_fraction : float
        Largest share of implausible beat intervals for usable cardiac regressors (as for HRV).

    Returns
    -------
    PhysioRegressors
        Columns in the order of :func:`regressor_columns`.

    Raises
    ------
    ValueError
        For invalid arguments (non-positive ``n_volumes`` or ``t_r``, negative orders, a
        ``slice_time`` outside [0, t_r), unknown ``kind``).

    Notes
    -----
    The cardiac phase (Glover et al. 2000) rises linearly from 0 to 2 pi between successive beats;
    the respiratory phase is ``pi * F(R) * sign(dR/dt)`` with F the distribution of the belt
    amplitude R over the run (histogram equalisation). RVT and heart rate (60 / beat interval, at
    each interval's midpoint, implausible intervals left out) are interpolated onto a 10 Hz grid,
    demeaned, convolved causally with their response function, and read at the acquisition
    times; up to 60 s of recording before the first volume serve as the convolution's history.
    """
    if not (isinstance(n_volumes, (int, np.integer)) and n_volumes > 0) or not t_r > 0:
        raise ValueError(f"n_volumes and t_r must be positive; got {n_volumes!r} and {t_r!r}.")
    for name, order in (("cardiac_order", cardiac_order), ("respiratory_order", respiratory_order),
                        ("interaction_order", interaction_order)):
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 0:
            raise ValueError(f"{name} must be an integer >= 0; got {order!r}.")
    if kind not in ("auto", "ppg", "ecg"):
        raise ValueError(f"kind must be 'auto', 'ppg' or 'ecg', not {kind!r}.")
    slice_time = t_r / 2 if slice_time is None else float(slice_time)
    if not 0 <= slice_time < t_r:
        raise ValueError(f"slice_time must be in [0, t_r) = [0, {t_r:g}) s; got {slice_time!r}.")
    times = np.arange(n_volumes) * float(t_r) + slice_time
    out = PhysioRegressors(regressors=pd.DataFrame(index=pd.RangeIndex(n_volumes)), times=times, slice_time=slice_time)
    if recording is None:
        out.reason = PhysioIssue("missing", "no physiological recording for this run.", True)
        return out
    out.warnings.extend(recording.issues)
    trigger = recording.channels.get("trigger")
    wanted_cardiac = cardiac_order > 0 or hr or interaction_order > 0
    wanted_resp = respiratory_order > 0 or rvt or interaction_order > 0
    problems: dict[str, PhysioIssue] = {}
    columns: dict[str, np.ndarray] = {}
    phase_c = phase_r = None
    sources = ", ".join(str(getattr(s, "name", s)) for s in recording.sources) or "the recording"

    def prepare(role: str) -> tuple[PhysioChannel, float, np.ndarray] | None:
        """The role's channel, the time of the first sample kept and the samples from up to
        KERNEL_SECONDS before the first volume to 2 s after the last; None (and a problem) when unusable."""
        channel = recording.channels.get(role)
        if channel is None:
            found = ", ".join(repr(c) for c in recording.columns) or "none"
            problems[role] = _issue("no_cardiac" if role == "cardiac" else "respiratory",
                                    f"{sources} has no {role} column (columns: {found}); name yours in "
                                    f"physio.columns.{role}.")
            return None
        onset, _, issues = align_channel(channel, n_volumes=n_volumes, t_r=t_r, trigger=_same_file(channel, trigger))
        out.warnings.extend(i for i in issues if i.code not in {w.code for w in out.warnings})
        fs = channel.sampling_frequency
        where = f"column '{channel.column}' of {channel.source}"
        first, last = onset, onset + (len(channel.values) - 1) / fs
        if first > times[0] + 1 / fs or last < times[-1] - 1 / fs:
            problems[role] = _issue("short", f"{where} runs from {first:.1f} s to {last:.1f} s after the first "
                                             f"volume but the volumes are acquired from {times[0]:.1f} s to "
                                             f"{times[-1]:.1f} s; its regressors need the whole run (check "
                                             "StartTime, or record the whole run).")
            return None
        lo = max(0, int(math.floor((0.0 - onset) * fs)))
        hi = min(len(channel.values), int(math.ceil((n_volumes * t_r - onset) * fs)) + 1)
        fatal = [p for p in channel_issues(channel.values[lo:hi], where=where) if p.fatal]
        if fatal:
            problems[role] = fatal[0]
            return None
        hist = max(0, int(math.floor((times[0] - KERNEL_SECONDS - onset) * fs)))
        end = min(len(channel.values), int(math.ceil((times[-1] + 2.0 - onset) * fs)) + 1)
        values = channel.values[hist:end]
        if not np.isfinite(values).all():  # NaN outside the run's own window too: interpolate like inside
            values = _fill_nan(values) if np.isfinite(values).sum() >= 2 else values
        return channel, onset + hist / fs, values

    if wanted_cardiac:
        got = prepare("cardiac")
        if got is not None:
            channel, onset, values = got
            cardiac_kind = _kind_of(channel.column, kind)
            where = f"column '{channel.column}' of {channel.source}"
            try:
                measured = hrv_from_signals(values, channel.sampling_frequency, kind=cardiac_kind)
            except Exception as exc:  # noqa: BLE001 - NeuroKit2 raises many types on an unreadable waveform
                problems["cardiac"] = _issue("peaks", f"{where}: no beats could be detected ({type(exc).__name__}: "
                                                      f"{exc}); check that the column is a {cardiac_kind.upper()} "
                                                      "trace (physio.cardiac_kind).")
            else:
                beats = np.asarray(measured["peaks"], dtype=float) + onset
                span = float(times[-1] - times[0]) + t_r
                if beats.size < max(10.0, span / RR_RANGE[1]):
                    problems["cardiac"] = _issue("few_beats", f"{where}: {beats.size} beats around a {span:.0f} s "
                                                              f"run, fewer than one per {RR_RANGE[1]:g} s.")
                elif measured["rejected_fraction"] > max_rejected_fraction:
                    problems["cardiac"] = _issue("quality", f"{where}: {measured['rejected_fraction']:.0%} of the beat "
                                                            f"intervals are implausible (more than "
                                                            f"{max_rejected_fraction:.0%}): the beats cannot time the "
                                                            "cardiac phase.")
                else:
                    out.n_beats = int(beats.size)
                    phase_c = _cardiac_phase(beats, times)
                    if hr:
                        mid, rate = _heart_rate(beats)
                        columns["hr"] = _convolved(mid, rate, cardiac_response, times)
    if wanted_resp:
        got = prepare("respiratory")
        if got is not None:
            channel, onset, values = got
            where = f"column '{channel.column}' of {channel.source}"
            fs = channel.sampling_frequency
            lo = int(round((max(times[0] - t_r, onset) - onset) * fs))
            hi = int(round((times[-1] + t_r - onset) * fs)) + 1
            try:
                phase_r = _respiratory_phase(values[lo:hi], fs, times, onset + lo / fs)
                if rvt:
                    t_b, v_b, n_breaths = _rvt(values, fs, onset)
                    out.n_breaths = n_breaths
                    span = float(times[-1] - times[0])
                    if t_b.size < max(3.0, span / 20.0):  # fewer than 3 breaths a minute
                        raise ValueError(f"{t_b.size} breaths detected around a {span:.0f} s run")
                    columns["rvt"] = _convolved(t_b, v_b, respiration_response, times)
            except Exception as exc:  # noqa: BLE001 - NeuroKit2 fails in many ways on a bad trace
                phase_r = None
                columns.pop("rvt", None)
                problems["respiratory"] = _issue("respiratory", f"{where}: no breaths could be timed "
                                                                f"({type(exc).__name__}: {exc}).")

    columns.update(_retroicor(phase_c, phase_r, cardiac_order, respiratory_order, interaction_order))
    order = regressor_columns(cardiac_order=cardiac_order, respiratory_order=respiratory_order,
                              interaction_order=interaction_order, rvt=rvt, hr=hr,
                              cardiac=phase_c is not None, respiratory=phase_r is not None)
    out.regressors = pd.DataFrame({c: columns[c] for c in order}, index=pd.RangeIndex(n_volumes))
    out.cardiac_phase, out.respiratory_phase = phase_c, phase_r
    out.used = bool(order)
    for role, problem in problems.items():
        other = "respiratory" if role == "cardiac" else "cardiac"
        if out.used:
            out.warnings.append(_issue("cardiac" if role == "cardiac" else "respiratory",
                                       f"no {role} regressors ({problem.code}): {problem.message} Only the {other} "
                                       "regressors are used.", fatal=False))
    if not out.used:
        if problems:
            first = problems.get("cardiac") or next(iter(problems.values()))
            rest = [f"{role}: {p.message}" for role, p in problems.items() if p is not first]
            out.reason = PhysioIssue(first.code, " ".join([first.message, *rest]), True)
        else:
            out.reason = PhysioIssue("disabled", "every physiological regressor is turned off "
                                                 "(orders 0, rvt and hr false).", True)
    return out
