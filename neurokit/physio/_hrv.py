"""Per-run heart-rate variability and breathing rate: channel checks, alignment, NeuroKit2 beats.

Beat detection, HRV indices and respiration go through NeuroKit2 (Makowski et al. 2021); this
module owns only what NeuroKit2 cannot know: which samples belong to the BOLD run, whether a
channel is usable, which beat intervals are implausible, and how runs make a session.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

__all__ = ["ROLES", "MEASURES", "HF_BAND", "PhysioIssue", "PhysioChannel", "PhysioRecording", "PhysioResult",
           "channel_issues", "align_channel", "hrv_from_signals", "hrv_from_recording", "session_summary"]

#: Channel roles neurokit maps a recording's columns to.
ROLES = ("cardiac", "respiratory", "trigger")

#: High-frequency HRV band (Hz): the Task Force (1996) definition, where respiratory sinus arrhythmia sits.
HF_BAND = (0.15, 0.40)

#: Per-run measures: name -> (unit, description); the columns of ``desc-physio_metrics.tsv`` in this order.
MEASURES: dict[str, tuple[str, str]] = {
    "heart_rate": ("beats/min", "Mean heart rate over the accepted beat intervals (60000 / mean NN interval)."),
    "rmssd": ("ms", "Root mean square of successive differences of accepted beat intervals (NeuroKit2 hrv_time)."),
    "sdnn": ("ms", "Standard deviation of the accepted beat intervals (NeuroKit2 hrv_time)."),
    "hf_power": ("ms^2", "Power of the beat-interval series in 0.15-0.40 Hz (NeuroKit2 hrv_frequency, Welch)."),
    "log_hf_power": ("ln(ms^2)", "Natural logarithm of hf_power."),
    "respiratory_rate": ("breaths/min", "Mean breathing rate (NeuroKit2 rsp_clean and rsp_rate) over the run."),
    "n_beats": ("count", "Beats detected within the BOLD run."),
    "rejected_fraction": ("fraction", "Share of beat intervals rejected as implausible (docs/physio.md)."),
    "quality_index": ("0-1", "Mean correlation of each beat's waveform with the run's mean beat (docs/physio.md)."),
    "duration": ("s", "Seconds of the BOLD run the cardiac recording covers (what the HRV is computed over)."),
    "respiratory_duration": ("s", "Seconds of the BOLD run the respiratory recording covers."),
    "usable": ("boolean", "Whether the HRV measures are usable; when false, 'reason' says why."),
    "reason": ("text", "Code of why the HRV is not usable (empty when usable): see the sidecar's Reason."),
}

#: Beat intervals outside this range (s; 30-200 beats/min) are implausible for a person at rest in a scanner.
RR_RANGE = (0.3, 2.0)
#: An interval further than this share from the median of its neighbours is an artefact (missed or extra beat).
RR_LOCAL_TOLERANCE = 0.25
_RR_NEIGHBOURS = 11
#: Share of NaN samples a channel may have (linearly interpolated) before it is unusable.
MAX_NAN_FRACTION = 0.05
#: Share of samples at the channel's minimum or maximum from which it is clipped (warned from ``/ 5``).
CLIPPED_FRACTION = 0.05
#: Peak detection runs at this rate at least: slower recordings are upsampled (band-limited
#: interpolation), so beat times are not quantised to the sampling interval (20 ms at 50 Hz).
_MIN_PEAK_RATE = 250.0
#: Rate the respiratory trace is analysed at (breathing is < 1 Hz; faster recordings are decimated).
_RSP_RATE = 50.0


@dataclass(frozen=True)
class PhysioIssue:
    """A problem of a recording: a short code, a message naming the file and the fix, and whether it is fatal.

    Codes: ``disabled``, ``missing``, ``no_sidecar``, ``sidecar``, ``sampling_frequency``, ``columns``,
    ``unreadable``, ``no_cardiac``, ``start_time``, ``trigger``, ``short``, ``nan``, ``flat``, ``clipped``,
    ``peaks``, ``few_beats``, ``quality``, ``respiratory``.
    """

    code: str
    message: str
    fatal: bool = False

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class PhysioChannel:
    """One column of a physiological recording.

    Attributes
    ----------
    role : str
        One of :data:`ROLES`.
    column : str
        The column's name in the recording's ``Columns``.
    values : ndarray of float
        The samples.
    sampling_frequency : float
        Hz.
    start_time : float or None
        BIDS ``StartTime``: seconds of the first sample relative to the first volume
        (negative: the recording starts before it); None when the sidecar has none.
    source : str
        The recording's file name (for messages).
    """

    role: str
    column: str
    values: np.ndarray
    sampling_frequency: float
    start_time: float | None
    source: str = ""

    @property
    def duration(self) -> float:
        return len(self.values) / self.sampling_frequency


@dataclass(frozen=True)
class PhysioRecording:
    """The channels of a run's recording(s), by role, and what reading them found.

    Attributes
    ----------
    channels : dict of str to PhysioChannel
        Role -> channel (roles without a matching column are absent).
    sources : tuple of Path
        The files read.
    issues : tuple of PhysioIssue
        Non-fatal problems met while reading (e.g. no ``StartTime``).
    columns : tuple of str
        Every column of every file read (to name them when a role is missing).
    """

    channels: dict[str, PhysioChannel]
    sources: tuple[Path, ...] = ()
    issues: tuple[PhysioIssue, ...] = ()
    columns: tuple[str, ...] = ()


@dataclass
class PhysioResult:
    """A run's physiology: the measures of :data:`MEASURES`, how they were obtained, and why not when not.

    Attributes
    ----------
    run_id : str or None
    usable : bool
        Whether the HRV measures are usable.
    reason : PhysioIssue or None
        Why not (None when usable).
    warnings : list of PhysioIssue
        Non-fatal problems (each naming the file).
    measures : dict of str to float
        :data:`MEASURES` values (NaN when not measured; ``n_beats`` an int).
    cardiac_kind : str or None
        ``ppg`` or ``ecg``.
    cardiac_column, respiratory_column : str or None
    sampling_frequency : float or None
        Of the cardiac channel (Hz).
    alignment : str or None
        ``trigger`` or ``StartTime`` (or ``assumed`` when neither was available and 0 was used).
    onset : float or None
        Seconds of the cardiac recording's first sample relative to the first volume, as used.
    run_duration : float or None
        Seconds of the BOLD run (volumes x TR).
    sources : list of str
        The recording files.
    peaks : ndarray or None
        Beat times (s from the first volume) of the accepted and rejected beats (not written).
    kept : ndarray of bool or None
        Per interval between successive ``peaks``, whether it was accepted (HRV uses these; not
        written).
    """

    run_id: str | None = None
    usable: bool = False
    reason: PhysioIssue | None = None
    warnings: list[PhysioIssue] = field(default_factory=list)
    measures: dict[str, Any] = field(default_factory=dict)
    cardiac_kind: str | None = None
    cardiac_column: str | None = None
    respiratory_column: str | None = None
    sampling_frequency: float | None = None
    alignment: str | None = None
    onset: float | None = None
    run_duration: float | None = None
    sources: list[str] = field(default_factory=list)
    peaks: np.ndarray | None = None
    kept: np.ndarray | None = None

    def __post_init__(self) -> None:
        base = {name: math.nan for name in MEASURES if name not in ("usable", "reason")}
        base["n_beats"] = 0
        base["duration"] = 0.0
        base["respiratory_duration"] = 0.0
        self.measures = {**base, **self.measures}

    @classmethod
    def unusable(cls, reason: PhysioIssue, **fields: Any) -> "PhysioResult":
        """A run without usable physiology, and why."""
        return cls(usable=False, reason=PhysioIssue(reason.code, reason.message, True), **fields)

    @property
    def codes(self) -> list[str]:
        """The codes of the reason (first) and of every warning."""
        return ([self.reason.code] if self.reason else []) + [w.code for w in self.warnings]

    def row(self) -> dict[str, Any]:
        """The TSV row: :data:`MEASURES` in order (``usable`` and ``reason`` included)."""
        out = {name: self.measures.get(name, math.nan) for name in MEASURES if name not in ("usable", "reason")}
        if not self.usable:  # a HRV value from an unusable recording must not be taken for a measurement
            for name in ("heart_rate", "rmssd", "sdnn", "hf_power", "log_hf_power"):
                out[name] = math.nan
        out["usable"] = bool(self.usable)
        out["reason"] = self.reason.code if self.reason else ""
        return out


def _issue(code: str, message: str, fatal: bool = True) -> PhysioIssue:
    return PhysioIssue(code, message, fatal)


def channel_issues(values: np.ndarray, *, where: str) -> list[PhysioIssue]:
    """Problems of one channel's samples: NaNs, a flat or a clipped signal.

    Parameters
    ----------
    values : array of float
        The samples (the part that overlaps the run).
    where : str
        Names the channel in the messages, e.g. ``"column 'cardiac' of sub-01_task-rest_physio.tsv.gz"``.

    Returns
    -------
    list of PhysioIssue
        ``nan`` (fatal above :data:`MAX_NAN_FRACTION`, else a warning: the gaps are interpolated),
        ``flat`` (fewer than three distinct values: fatal), ``clipped`` (a share of samples at the
        minimum or maximum of at least :data:`CLIPPED_FRACTION`: fatal; from a fifth of it: a warning).
    """
    x = np.asarray(values, dtype=float)
    found: list[PhysioIssue] = []
    if x.size == 0:
        return [_issue("short", f"{where} has no samples within the BOLD run; check StartTime and the file.")]
    bad = ~np.isfinite(x)
    share = float(bad.mean())
    if share > MAX_NAN_FRACTION:
        return [_issue("nan", f"{where} has {share:.1%} missing (n/a or NaN) samples, more than "
                              f"{MAX_NAN_FRACTION:.0%}; the sensor was probably off: recheck the recording or leave "
                              "the run's physiology out.")]
    if share > 0:
        found.append(_issue("nan", f"{where} has {int(bad.sum())} missing samples ({share:.2%}); they are "
                                   "linearly interpolated.", fatal=False))
    finite = x[~bad]
    if np.unique(finite[: 200_000]).size < 3 or float(np.ptp(finite)) <= 1e-12 * max(1.0, float(np.abs(finite).max())):
        return found + [_issue("flat", f"{where} is flat (constant within the run): the sensor was not "
                                       "recording; check the column mapping (physio.columns) or leave the run's "
                                       "physiology out.")]
    top, bottom = float(np.mean(finite == finite.max())), float(np.mean(finite == finite.min()))
    clipped = max(top, bottom)
    if clipped >= CLIPPED_FRACTION / 5:
        side = "maximum" if top >= bottom else "minimum"
        fatal = clipped >= CLIPPED_FRACTION
        found.append(_issue("clipped", f"{where} is clipped: {clipped:.1%} of its samples sit at its {side} "
                                       f"({finite.max() if side == 'maximum' else finite.min():g}); "
                                       + ("beats cannot be timed on a flattened waveform: lower the sensor's gain "
                                          "for new recordings; this run's HRV is left out."
                                          if fatal else "beat timing may be slightly off."), fatal=fatal))
    return found


def _fill_nan(x: np.ndarray) -> np.ndarray:
    bad = ~np.isfinite(x)
    if not bad.any():
        return x
    idx = np.arange(x.size)
    out = x.copy()
    out[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return out


def _edges(trigger: np.ndarray) -> np.ndarray:
    x = np.nan_to_num(np.asarray(trigger, dtype=float), nan=float(np.nanmin(trigger)) if np.isfinite(trigger).any()
                      else 0.0)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.array([], dtype=int)
    thr = (lo + hi) / 2
    return np.flatnonzero((x[1:] >= thr) & (x[:-1] < thr)) + 1


def align_channel(channel: PhysioChannel, *, n_volumes: int, t_r: float,
                  trigger: PhysioChannel | None = None) -> tuple[float, str, list[PhysioIssue]]:
    """When a channel's first sample was taken, relative to the first volume.

    Parameters
    ----------
    channel : PhysioChannel
    n_volumes : int
        Volumes of the BOLD run.
    t_r : float
        Repetition time (s).
    trigger : PhysioChannel, optional
        The scanner's trigger channel, from the same file as ``channel``.

    Returns
    -------
    onset : float
        Seconds of sample 0 relative to the first volume (negative: before it).
    method : str
        ``trigger`` when volume triggers were found (one pulse per TR, within 5 %, at least
        as many as volumes; with more pulses, e.g. dummy scans, the run of ``n_volumes``
        pulses closest to what ``StartTime`` says); else ``StartTime``; ``assumed`` (0)
        when neither is available.
    issues : list of PhysioIssue
        Warnings: an unusable trigger channel, a ``StartTime`` that disagrees with the
        triggers by more than two samples, a missing ``StartTime``.
    """
    fs = channel.sampling_frequency
    issues: list[PhysioIssue] = []
    where = channel.source or "the recording"
    if trigger is not None:
        edges = _edges(trigger.values)
        why = None
        if edges.size < 2:
            why = "has fewer than two pulses"
        else:
            spacing = float(np.median(np.diff(edges))) / trigger.sampling_frequency
            if abs(spacing - t_r) > 0.05 * t_r:
                why = f"pulses every {spacing:.3g} s, not once per volume (TR {t_r:g} s)"
            elif edges.size < n_volumes:
                why = f"has {edges.size} pulses for {n_volumes} volumes"
        if why is None:
            extra = edges.size - n_volumes
            first = 0
            if extra > 0 and channel.start_time is not None:
                wanted = -channel.start_time * trigger.sampling_frequency
                first = int(np.argmin(np.abs(edges[: extra + 1] - wanted)))
            elif extra > 0:
                first = extra  # no StartTime: the pulses before the last n_volumes are dummy scans
            onset = -edges[first] / trigger.sampling_frequency
            if channel.start_time is not None and abs(onset - channel.start_time) > 2 / fs:
                issues.append(_issue("start_time", f"{where}: StartTime {channel.start_time:g} s disagrees with the "
                                                   f"trigger channel ({onset:g} s); the trigger is used. Fix StartTime "
                                                   "in the sidecar if the trigger is wrong.", fatal=False))
            return float(onset), "trigger", issues
        issues.append(_issue("trigger", f"{where}: the trigger column '{trigger.column}' {why}; "
                                        "StartTime is used instead.", fatal=False))
    if channel.start_time is None:
        issues.append(_issue("start_time", f"{where}: the sidecar has no StartTime; the recording is assumed to "
                                           "start with the first volume. Add \"StartTime\": <seconds> (negative "
                                           "when the recording starts before the first volume).", fatal=False))
        return 0.0, "assumed", issues
    return float(channel.start_time), "StartTime", issues


def _window(channel: PhysioChannel, onset: float, run_duration: float) -> tuple[int, int]:
    fs = channel.sampling_frequency
    start = max(0, int(math.ceil(-onset * fs - 1e-9)))
    stop = min(len(channel.values), int(math.floor((run_duration - onset) * fs + 1e-9)))
    return start, max(start, stop)


def _reject_intervals(rr: np.ndarray) -> np.ndarray:
    """Which beat intervals (s) are kept: inside :data:`RR_RANGE` and within
    :data:`RR_LOCAL_TOLERANCE` of the median of the :data:`_RR_NEIGHBOURS` around them."""
    keep = (rr >= RR_RANGE[0]) & (rr <= RR_RANGE[1])
    if rr.size >= 3:
        half = _RR_NEIGHBOURS // 2
        padded = np.pad(rr, half, mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, _RR_NEIGHBOURS)
        local = np.median(windows, axis=1)
        keep &= np.abs(rr - local) <= RR_LOCAL_TOLERANCE * local
    return keep


def _resample(x: np.ndarray, fs: float, target: float, up_only: bool) -> tuple[np.ndarray, float]:
    from scipy.signal import resample_poly

    if up_only:
        if fs >= target:
            return x, fs
        factor = int(math.ceil(target / fs))
        return resample_poly(x, factor, 1), fs * factor
    if fs <= target:
        return x, fs
    factor = int(fs // target)
    if factor < 2:
        return x, fs
    return resample_poly(x, 1, factor), fs / factor


def hrv_from_signals(cardiac: np.ndarray, sampling_frequency: float, *, kind: str = "ppg",
                     respiratory: np.ndarray | None = None,
                     respiratory_frequency: float | None = None) -> dict[str, Any]:
    """HRV and breathing rate of one stretch of recording (the pure computation).

    Parameters
    ----------
    cardiac : array of float
        Pulse (PPG) or ECG samples, finite, covering the stretch to measure.
    sampling_frequency : float
        Hz.
    kind : {"ppg", "ecg"}
        Which detector: NeuroKit2's ``ppg_peaks`` (Elgendi) or ``ecg_peaks`` (NeuroKit method),
        each after its ``*_clean``.
    respiratory : array of float, optional
        Respiratory belt samples over the same stretch.
    respiratory_frequency : float, optional
        Their rate (Hz); default ``sampling_frequency``.

    Returns
    -------
    dict
        The :data:`MEASURES` values (``heart_rate``, ``rmssd``, ``sdnn``, ``hf_power``,
        ``log_hf_power``, ``respiratory_rate``, ``n_beats``, ``rejected_fraction``,
        ``quality_index``, ``duration``), plus ``peaks`` (beat times in s from the first sample)
        and ``kept`` (per interval, whether it was accepted). HRV values are NaN with fewer
        than three accepted intervals, ``respiratory_rate`` without ``respiratory``.
        ``quality_index`` is the mean template correlation of :func:`_template_quality`.

    Raises
    ------
    ValueError
        For an unknown ``kind``, a non-positive rate or fewer than three detected beats.

    Notes
    -----
    Recordings slower than 250 Hz are upsampled before peak detection (band-limited,
    ``scipy.signal.resample_poly``) so that beat times are not quantised to the sampling interval.
    Intervals are rejected by :func:`_reject_intervals`; HRV uses the accepted ones, and RMSSD only
    differences of two accepted intervals in a row (NeuroKit2 skips pairs across a gap in
    ``RRI_Time``).
    """
    import neurokit2 as nk

    if kind not in ("ppg", "ecg"):
        raise ValueError(f"kind must be 'ppg' or 'ecg', not {kind!r}.")
    if not sampling_frequency > 0:
        raise ValueError(f"sampling_frequency must be positive, not {sampling_frequency!r}.")
    x = np.asarray(cardiac, dtype=float)
    duration = x.size / sampling_frequency
    x, fs = _resample(x, float(sampling_frequency), _MIN_PEAK_RATE, up_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NeuroKit2 warns about short signals and its own defaults
        if kind == "ppg":
            clean = nk.ppg_clean(x, sampling_rate=fs, method="elgendi")
            peaks = np.asarray(nk.ppg_findpeaks(clean, sampling_rate=fs, method="elgendi")["PPG_Peaks"], dtype=int)
        else:
            clean = nk.ecg_clean(x, sampling_rate=fs, method="neurokit")
            peaks = np.asarray(nk.ecg_findpeaks(clean, sampling_rate=fs, method="neurokit")["ECG_R_Peaks"],
                               dtype=int)
        if peaks.size < 3:
            raise ValueError(f"only {peaks.size} beats detected in {duration:.0f} s")
        quality = _template_quality(clean, peaks)
        times = peaks / fs
        rr = np.diff(times)
        kept = _reject_intervals(rr)
        out: dict[str, Any] = {"n_beats": int(peaks.size), "rejected_fraction": float(1 - kept.mean()),
                               "quality_index": float(np.nanmean(quality)), "duration": float(duration),
                               "peaks": times, "kept": kept,
                               **dict.fromkeys(("heart_rate", "rmssd", "sdnn", "hf_power", "log_hf_power",
                                                "respiratory_rate"), math.nan)}
        if kept.sum() >= 3:
            intervals = {"RRI": rr[kept] * 1000.0, "RRI_Time": times[1:][kept]}
            time_domain = nk.hrv_time(intervals)
            freq = nk.hrv_frequency(intervals, hf=HF_BAND, psd_method="welch", normalize=False,
                                    interpolation_rate=4)
            out["heart_rate"] = float(60000.0 / np.mean(intervals["RRI"]))
            out["rmssd"] = float(time_domain["HRV_RMSSD"].iloc[0])
            out["sdnn"] = float(time_domain["HRV_SDNN"].iloc[0])
            hf = float(freq["HRV_HF"].iloc[0])
            out["hf_power"] = hf
            out["log_hf_power"] = float(np.log(hf)) if hf > 0 else math.nan
    if respiratory is not None:
        out["respiratory_rate"] = _respiratory_rate(respiratory, float(respiratory_frequency or sampling_frequency))
    return out


def _template_quality(clean: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Per beat, the correlation (clipped to 0-1) of its waveform with the run's mean beat.

    Template matching after Orphanidou et al. (2015), the idea of NeuroKit2's ``ppg_quality``
    ``templatematch``, in numpy: that one builds a data frame per beat and costs ~1 s per minute
    of recording, more than the rest of the step. Each beat is the window of one median beat
    interval centred on its peak; beats whose window leaves the recording are skipped.
    """
    half = int(np.median(np.diff(peaks)) // 2)
    inside = peaks[(peaks - half >= 0) & (peaks + half < clean.size)]
    if half < 2 or inside.size < 2:
        return np.array([np.nan])
    beats = clean[inside[:, None] + np.arange(-half, half + 1)[None, :]]
    beats = beats - beats.mean(axis=1, keepdims=True)
    template = beats.mean(axis=0)
    norms = np.linalg.norm(beats, axis=1) * np.linalg.norm(template)
    r = np.divide(beats @ template, norms, out=np.zeros(len(beats)), where=norms > 0)
    return np.clip(r, 0.0, 1.0)


def _kind_of(column: str, kind: str) -> str:
    if kind != "auto":
        return kind
    low = column.lower()
    return "ecg" if ("ecg" in low or "ekg" in low) else "ppg"


def _same_file(a: PhysioChannel, b: PhysioChannel | None) -> PhysioChannel | None:
    return b if b is not None and b.source == a.source and b.sampling_frequency == a.sampling_frequency else None


def hrv_from_recording(recording: PhysioRecording, *, n_volumes: int, t_r: float, kind: str = "auto",
                       min_duration: float = 60.0, max_rejected_fraction: float = 0.2,
                       run_id: str | None = None) -> PhysioResult:
    """A run's HRV and breathing rate over the part of the recording that overlaps the BOLD run.

    Never raises for a problem of the data: a run without usable physiology gives a result
    with ``usable=False`` and the reason (a code and a message naming the file and the fix).

    Parameters
    ----------
    recording : PhysioRecording
        From :func:`neurokit.io.read_physio`.
    n_volumes : int
        Volumes of the BOLD run.
    t_r : float
        Repetition time (s).
    kind : {"auto", "ppg", "ecg"}
        Cardiac signal type; ``auto``: ``ecg`` when the column name has ``ecg`` or ``ekg``, else ``ppg``.
    min_duration : float
        Fewest seconds of run a cardiac recording must cover (60 s: the shortest stretch for
        RMSSD and HF power, Task Force 1996; Munoz et al. 2015).
    max_rejected_fraction : float
        Largest share of implausible beat intervals for usable HRV.
    run_id : str, optional
        Recorded in the result.

    Returns
    -------
    PhysioResult

    Raises
    ------
    ValueError
        For invalid arguments (non-positive ``n_volumes`` or ``t_r``, unknown ``kind``).
    """
    if not (isinstance(n_volumes, (int, np.integer)) and n_volumes > 0) or not t_r > 0:
        raise ValueError(f"n_volumes and t_r must be positive; got {n_volumes!r} and {t_r!r}.")
    if kind not in ("auto", "ppg", "ecg"):
        raise ValueError(f"kind must be 'auto', 'ppg' or 'ecg', not {kind!r}.")
    run_duration = float(n_volumes * t_r)
    base = {"run_id": run_id, "run_duration": run_duration, "sources": [str(s) for s in recording.sources]}
    result = PhysioResult(**base, warnings=list(recording.issues))
    cardiac = recording.channels.get("cardiac")
    resp = recording.channels.get("respiratory")
    trigger = recording.channels.get("trigger")

    if resp is not None:
        onset, _, issues = align_channel(resp, n_volumes=n_volumes, t_r=t_r, trigger=_same_file(resp, trigger))
        start, stop = _window(resp, onset, run_duration)
        values = resp.values[start:stop]
        where = f"column '{resp.column}' of {resp.source}"
        problems = channel_issues(values, where=where)
        covered = (stop - start) / resp.sampling_frequency
        if covered < min_duration and not any(p.fatal for p in problems):
            problems.append(_issue("short", f"{where} covers {covered:.0f} s of the {run_duration:.0f} s run"))
        if any(p.fatal for p in problems):
            fatal = next(p for p in problems if p.fatal)
            result.warnings.append(_issue("respiratory", f"no respiratory rate: {fatal.message}", fatal=False))
        else:
            result.respiratory_column = resp.column
            result.warnings.extend(p for p in problems if not p.fatal)
            resp_values, resp_fs = _fill_nan(values), resp.sampling_frequency
            result.measures["respiratory_duration"] = covered
    if resp is None or result.respiratory_column is None:
        resp_values, resp_fs = None, None

    def fail(issue: PhysioIssue) -> PhysioResult:
        result.usable = False
        result.reason = PhysioIssue(issue.code, issue.message, True)
        if resp_values is not None:  # breathing is still measured without a usable pulse
            try:
                result.measures["respiratory_rate"] = _respiratory_rate(resp_values, resp_fs)
            except Exception as exc:  # noqa: BLE001 - NeuroKit2 fails in many ways on a bad trace
                result.warnings.append(_issue("respiratory", f"no respiratory rate from {resp.source}: {exc}",
                                              fatal=False))
        return result

    if cardiac is None:
        found = ", ".join(repr(c) for c in recording.columns) or "none"
        return fail(_issue("no_cardiac", f"{', '.join(str(Path(s).name) for s in recording.sources) or 'the recording'}"
                                         f" has no cardiac column (columns: {found}); name yours in the configuration, "
                                         "e.g. physio: {columns: {cardiac: [<your column>]}}."))
    result.cardiac_column = cardiac.column
    result.cardiac_kind = _kind_of(cardiac.column, kind)
    result.sampling_frequency = cardiac.sampling_frequency
    onset, method, issues = align_channel(cardiac, n_volumes=n_volumes, t_r=t_r,
                                          trigger=_same_file(cardiac, trigger))
    result.onset, result.alignment = onset, method
    result.warnings.extend(issues)
    fs = cardiac.sampling_frequency
    where = f"column '{cardiac.column}' of {cardiac.source}"
    start, stop = _window(cardiac, onset, run_duration)
    covered = (stop - start) / fs
    result.measures["duration"] = covered
    if covered < run_duration - max(t_r, 2 / fs):
        rec_end = onset + cardiac.duration
        msg = (f"{cardiac.source} is shorter than the run: it covers {covered:.1f} s of the {run_duration:.1f} s "
               f"run (recording from {onset:.1f} s to {rec_end:.1f} s after the first volume)")
        if covered < min_duration:
            return fail(_issue("short", f"{msg}, less than the {min_duration:g} s HRV needs; check StartTime, or "
                                        "record the whole run."))
        result.warnings.append(_issue("short", f"{msg}; the HRV is computed over the covered part.", fatal=False))
    values = cardiac.values[start:stop]
    problems = channel_issues(values, where=where)
    result.warnings.extend(p for p in problems if not p.fatal)
    fatal = [p for p in problems if p.fatal]
    if fatal:
        return fail(fatal[0])
    try:
        measured = hrv_from_signals(_fill_nan(values), fs, kind=result.cardiac_kind)
    except Exception as exc:  # noqa: BLE001 - NeuroKit2 raises many types on an unreadable waveform
        return fail(_issue("peaks", f"{where}: no beats could be detected ({type(exc).__name__}: {exc}); check that "
                                    f"the column is a {result.cardiac_kind.upper()} trace (physio.cardiac_kind)."))
    result.peaks = measured.pop("peaks") + onset + start / fs
    result.kept = measured.pop("kept")
    result.measures.update({k: v for k, v in measured.items() if k != "duration"})
    expected = covered / RR_RANGE[1]
    if measured["n_beats"] < max(10.0, expected):
        return fail(_issue("few_beats", f"{where}: {measured['n_beats']} beats in {covered:.0f} s, fewer than one "
                                        f"per {RR_RANGE[1]:g} s; the sensor lost contact or the column is not a pulse "
                                        "trace."))
    if measured["rejected_fraction"] > max_rejected_fraction or not math.isfinite(measured.get("rmssd", math.nan)):
        return fail(_issue("quality", f"{where}: {measured['rejected_fraction']:.0%} of the beat intervals are "
                                      f"implausible (more than {max_rejected_fraction:.0%}); the trace is too noisy "
                                      "for HRV (physio.max_rejected_fraction)."))
    result.usable = True
    if resp_values is not None:
        try:
            result.measures["respiratory_rate"] = _respiratory_rate(resp_values, resp_fs)
        except Exception as exc:  # noqa: BLE001
            result.warnings.append(_issue("respiratory", f"no respiratory rate from {resp.source}: {exc}",
                                          fatal=False))
    return result


def _respiratory_rate(values: np.ndarray, fs: float) -> float:
    """Mean breathing rate (breaths/min): NeuroKit2's ``rsp_clean`` (Khodadad et al. 2018) and
    ``rsp_rate`` from trough to trough, on the trace decimated to 50 Hz (breathing is < 1 Hz)."""
    import neurokit2 as nk

    x, rate = _resample(np.asarray(values, dtype=float), fs, _RSP_RATE, up_only=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = nk.rsp_clean(x, sampling_rate=rate, method="khodadad2018")
        per_sample = nk.rsp_rate(clean, sampling_rate=rate, method="trough")
    return float(np.nanmean(per_sample))


def session_summary(results: Iterable[PhysioResult | Mapping[str, Any]]) -> dict[str, Any]:
    """A session's physiology: each measure's mean over its runs, weighted by usable duration.

    Parameters
    ----------
    results : iterable of PhysioResult or mapping
        The session's runs (a mapping is a row of ``desc-physio_metrics.tsv``).

    Returns
    -------
    dict
        ``heart_rate``, ``rmssd``, ``sdnn``, ``hf_power``, ``log_hf_power``, ``rejected_fraction``,
        ``quality_index`` (over usable runs, weighted by ``duration``; ``log_hf_power`` is the
        weighted mean of the runs' logarithms), ``respiratory_rate`` (over runs with a rate,
        weighted by ``respiratory_duration``), ``n_runs``, ``n_usable`` and ``duration`` (usable
        seconds). NaN where no run contributes.
    """
    rows = [r.row() if isinstance(r, PhysioResult) else dict(r) for r in results]

    def weighted(name: str, weight: str, only_usable: bool) -> float:
        pairs = [(float(r.get(name, math.nan)), float(r.get(weight, 0.0) or 0.0)) for r in rows
                 if (_truthy(r.get("usable")) or not only_usable)]
        pairs = [(v, w) for v, w in pairs if math.isfinite(v) and w > 0]
        total = sum(w for _, w in pairs)
        return sum(v * w for v, w in pairs) / total if total > 0 else math.nan

    out = {name: weighted(name, "duration", True)
           for name in ("heart_rate", "rmssd", "sdnn", "hf_power", "log_hf_power", "rejected_fraction",
                        "quality_index")}
    out["respiratory_rate"] = weighted("respiratory_rate", "respiratory_duration", False)
    out["n_runs"] = len(rows)
    out["n_usable"] = sum(1 for r in rows if _truthy(r.get("usable")))
    out["duration"] = float(sum(float(r.get("duration", 0.0) or 0.0) for r in rows if _truthy(r.get("usable"))))
    return out


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) and not (isinstance(value, float) and math.isnan(value))

