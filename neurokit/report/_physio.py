"""Physiology sections of the reports (issue 21): a run's pulse, beats, heart rate and HRV; HRV in the group.

The participant report shows what ``<run>_desc-physio_metrics.tsv/.json`` say about a run and,
because the beats are not written, re-reads the raw recording and measures it again with the
same code and configuration that wrote the metrics (:func:`neurokit.io.run_recording` and
:func:`neurokit.physio.hrv_from_recording`, what :func:`neurokit.io.physio_for_run` does).
The group report takes the scan columns of the features table (``scan_*``) and describes them
with :func:`neurokit.models.hrv_relations` and :func:`neurokit.models.hrv_agreement`.
Figures are functions of arrays, like those of ``_figures``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from neurokit.report import _figures as F
from neurokit.report._common import Figure, Grid, KeyValue, Note, Section, Table, fmt, read_json, read_tsv

__all__ = ["plot_pulse_window", "plot_heart_rate", "plot_by_stage", "plot_hrv_scatter", "run_physio_section",
           "group_physio_section", "PULSE_WINDOW_S"]

#: Seconds of pulse trace drawn: enough for about 20 beats, short enough to see each one.
PULSE_WINDOW_S = 20.0

_ACCEPTED, _REJECTED = "#1f77b4", "#d62728"
_VALUES = (("heart_rate", "Heart rate", "beats/min"), ("rmssd", "RMSSD", "ms"), ("sdnn", "SDNN", "ms"),
           ("hf_power", "HF power (0.15-0.40 Hz)", "ms²"), ("log_hf_power", "ln HF power", "ln(ms²)"),
           ("respiratory_rate", "Respiratory rate", "breaths/min"))


# ----------------------------------------------------------------------------- figures
def plot_pulse_window(times, trace, beats, accepted, *, window, kind="ppg", rejected_spans=()):
    """A stretch of the cardiac trace with the detected beats: accepted (dots) and rejected (red crosses).

    Parameters
    ----------
    times : array-like of shape (n_samples,)
        Seconds from the first volume of each sample drawn.
    trace : array-like of shape (n_samples,)
        The recorded values (the recording's own units).
    beats : array-like of shape (n_beats,)
        Beat times (s from the first volume) inside ``window``.
    accepted : array-like of bool, shape (n_beats,)
        False for a beat that bounds a rejected interval.
    window : (float, float)
        The x range (s).
    kind : {"ppg", "ecg"}
        Names the trace on the y axis.
    rejected_spans : sequence of (float, float)
        Rejected beat intervals (s), shaded red.

    Returns
    -------
    matplotlib.figure.Figure
    """
    times, trace = np.asarray(times, float), np.asarray(trace, float)
    beats, accepted = np.asarray(beats, float), np.asarray(accepted, bool)
    fig, ax = F._figure(9, 2.2)
    ax.plot(times, trace, color="#555555", lw=0.8)
    at = np.interp(beats, times, trace) if times.size else np.zeros_like(beats)
    ax.scatter(beats[accepted], at[accepted], s=22, color=_ACCEPTED, zorder=3, label="detected beat")
    if (~accepted).any():
        ax.scatter(beats[~accepted], at[~accepted], s=40, marker="x", color=_REJECTED, zorder=4,
                   label="beat bounding a rejected interval")
    for i, (a, b) in enumerate(rejected_spans):
        ax.axvspan(a, b, color=_REJECTED, alpha=0.12, lw=0, label="rejected interval" if i == 0 else None)
    ax.set_xlim(*window)
    ax.set_xlabel("time from the first volume (s)", fontsize=F.LABEL_PT)
    ax.set_ylabel("ECG (recorded units)" if kind == "ecg" else "pulse (recorded units)", fontsize=F.LABEL_PT)
    ax.legend(fontsize=F.LABEL_PT, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=3, frameon=False)
    ax.tick_params(labelsize=F.LABEL_PT)
    return fig


def plot_heart_rate(beats, kept, *, run_duration, window=None):
    """Beat-to-beat heart rate over the run: accepted intervals as a line, rejected ones as red crosses.

    Parameters
    ----------
    beats : array-like of shape (n_beats,)
        Beat times (s from the first volume).
    kept : array-like of bool, shape (n_beats - 1,)
        Whether each interval was accepted.
    run_duration : float
        Seconds of the BOLD run (the x range).
    window : (float, float), optional
        Shaded: the stretch the pulse figure shows.

    Returns
    -------
    matplotlib.figure.Figure
    """
    beats, kept = np.asarray(beats, float), np.asarray(kept, bool)
    rate = 60.0 / np.diff(beats)
    at = beats[1:]
    fig, ax = F._figure(9, 2.0)
    shown = np.where(kept, rate, np.nan)  # a gap where an interval was rejected
    ax.plot(at, shown, color=_ACCEPTED, lw=0.9, label="accepted intervals")
    if (~kept).any():
        ax.scatter(at[~kept], np.clip(rate[~kept], 20, 220), s=24, marker="x", color=_REJECTED, zorder=3,
                   label="rejected intervals")
    if window is not None:
        ax.axvspan(*window, color="#999999", alpha=0.2, lw=0, label="pulse trace above")
    ax.set_xlim(0, run_duration)
    ax.set_xlabel("time from the first volume (s)", fontsize=F.LABEL_PT)
    ax.set_ylabel("heart rate (beats/min)", fontsize=F.LABEL_PT)
    ax.legend(fontsize=F.LABEL_PT, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=3, frameon=False)
    ax.tick_params(labelsize=F.LABEL_PT)
    return fig


def plot_by_stage(panels, stages, levels):
    """Strip and box plots of per-session values by recovery stage, one panel per measure, n under each stage.

    Parameters
    ----------
    panels : mapping of str to array-like
        Axis label (with unit) -> values, one per session.
    stages : sequence of str
        Each session's stage.
    levels : sequence of str
        Stage order.

    Returns
    -------
    matplotlib.figure.Figure
    """
    stages = np.asarray([str(s) for s in stages])
    fig, axes = F._figure(4.3 * len(panels) + 0.2, 3.0, ncols=len(panels), squeeze=False)
    rng = np.random.default_rng(0)  # jitter only
    for ax, (label, values) in zip(axes[0], panels.items()):
        values = np.asarray(values, float)
        data = [values[(stages == lv) & np.isfinite(values)] for lv in levels]
        ax.boxplot([d if d.size else [np.nan] for d in data], positions=np.arange(len(levels)), widths=0.5,
                   showfliers=False, medianprops={"color": "k"})
        for i, d in enumerate(data):
            ax.scatter(i + rng.uniform(-0.15, 0.15, d.size), d, s=12, color="#4c72b0", alpha=0.75, zorder=2)
        # long stage names (sustained_remission) break at the underscore instead of running into their neighbours
        ax.set_xticks(np.arange(len(levels)), [f"{lv.replace('_', chr(10))}\nn={d.size}" for lv, d in zip(levels, data)],
                      fontsize=F.LABEL_PT)
        ax.set_ylabel(label, fontsize=F.LABEL_PT)
        ax.tick_params(axis="y", labelsize=F.LABEL_PT)
    return fig


def plot_hrv_scatter(x, y, *, xlabel, ylabel, title=""):
    """One point per session: a scan HRV measure against another variable.

    Parameters
    ----------
    x, y : array-like of shape (n,)
    xlabel, ylabel : str
    title : str
        E.g. the correlation and its interval.

    Returns
    -------
    matplotlib.figure.Figure
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    fig, ax = F._figure(4.2, 3.4)
    ax.scatter(x, y, s=16, color="#4c72b0", alpha=0.8)
    ax.set_xlabel(xlabel, fontsize=F.LABEL_PT)
    ax.set_ylabel(ylabel, fontsize=F.LABEL_PT)
    if title:
        ax.set_title(title, fontsize=F.LABEL_PT)
    ax.tick_params(labelsize=F.LABEL_PT)
    return fig


# ----------------------------------------------------------------------------- participant report
def _run_of(record: dict, qc: dict):
    """The discovered run a completion record describes (entities, TR and volumes: what finding the recording needs)."""
    from neurokit.io import Run

    inputs = record.get("inputs") or {}
    t_r, n = qc.get("RepetitionTime"), qc.get("NumberOfVolumes")
    if not t_r or not n:
        return None
    return Run(entities=tuple((str(k), str(v)) for k, v in (record.get("entities") or {}).items()),
               bold=Path(inputs.get("bold") or record.get("bold") or "bold.nii.gz"), bold_json=None,
               confounds=Path(inputs.get("confounds") or "confounds.tsv"), confounds_json=None,
               mask=Path(inputs.get("mask") or "mask.nii.gz"), t_r=float(t_r), n_volumes=int(n))


def measure_again(bids_dir, record: dict, qc: dict, settings):
    """Re-read a run's recording and measure it as the participant level did.

    Returns
    -------
    (recording, result, seconds) or (None, None or unusable result, seconds)
    """
    from neurokit.io import run_recording
    from neurokit.physio import hrv_from_recording

    started = time.perf_counter()
    run = _run_of(record, qc)
    if run is None:
        return None, None, 0.0
    recording, unusable = run_recording(bids_dir, run, columns=settings.columns.mapping())
    if recording is None:
        return None, unusable, time.perf_counter() - started
    result = hrv_from_recording(recording, n_volumes=run.n_volumes, t_r=run.t_r, run_id=run.run_id,
                                **settings.measure_kwargs())
    return recording, result, time.perf_counter() - started


def _window(beats: np.ndarray, kept: np.ndarray, run_duration: float) -> tuple[tuple[float, float], str]:
    """The stretch of pulse drawn: the one with most rejected intervals, else the middle of the run."""
    width = min(PULSE_WINDOW_S, run_duration)
    if (~kept).any():
        ends = beats[1:][~kept]
        counts = [int(np.sum((ends >= e - width / 2) & (ends < e + width / 2))) for e in ends]
        centre = float(ends[int(np.argmax(counts))])
        start = min(max(0.0, centre - width / 2), run_duration - width)
        return (start, start + width), "the stretch with the most rejected intervals"
    start = max(0.0, run_duration / 2 - width / 2)
    return (start, start + width), "from the middle of the run"


def _trace_blocks(recording, result, usable: bool = True) -> list:
    channel = recording.channels.get("cardiac")
    beats = np.asarray(result.peaks, float)
    kept = np.asarray(result.kept, bool)  # the intervals HRV was computed from
    run_duration = float(result.run_duration)
    window, where = _window(beats, kept, run_duration)
    fs = channel.sampling_frequency
    first = max(0, int(np.floor((window[0] - result.onset) * fs)))
    last = min(len(channel.values), int(np.ceil((window[1] - result.onset) * fs)) + 1)
    times = result.onset + np.arange(first, last) / fs
    beat_ok = np.ones(beats.size, bool)  # a beat bounding a rejected interval (a missed or extra beat) is marked
    beat_ok[:-1] &= kept
    beat_ok[1:] &= kept
    inside = (beats >= window[0]) & (beats <= window[1])
    n_rejected = int((~beat_ok[inside]).sum())
    spans = [(a, b) for a, b, k in zip(beats[:-1], beats[1:], kept) if not k and b >= window[0] and a <= window[1]]
    kind = result.cardiac_kind or "ppg"
    pulse = Figure(F.to_data_uri(plot_pulse_window(times, channel.values[first:last], beats[inside], beat_ok[inside],
                                                   window=window, kind=kind, rejected_spans=spans)),
                   "Cardiac trace with the detected beats",
                   f"{window[1] - window[0]:.0f} s of the recorded {'ECG' if kind == 'ecg' else 'pulse'} "
                   f"(column '{channel.column}' of {channel.source}, {fs:g} Hz, as recorded), {where} "
                   f"({window[0]:.0f}-{window[1]:.0f} s after the first volume), with the {int(inside.sum())} "
                   "detected beats: "
                   + (f"red shading marks the {len(spans)} beat interval(s) rejected as implausible (a missed, extra or "
                      f"misplaced beat) and red crosses the {n_rejected} beats bounding them; blue dots the others."
                      if spans else "every interval here was accepted (blue dots)."))
    n_bad = int((~kept).sum())
    rate = Figure(F.to_data_uri(plot_heart_rate(beats, kept, run_duration=run_duration, window=window)),
                  "Beat-to-beat heart rate over the run",
                  f"60 / each beat interval over the {run_duration:.0f} s run ({beats.size} beats): the line joins the "
                  f"accepted intervals{', which HRV is computed from' if usable else ''}; "
                  + (f"red crosses mark the {n_bad} rejected intervals (outside 30-200 beats/min or more than 25% from "
                     "their neighbours' median: a missed or extra beat)" if n_bad else "no interval was rejected")
                  + "; grey: the stretch of trace shown above.")
    return [pulse, rate]


def _values_block(row: pd.Series, meta: dict) -> Table:
    rows = [[label, fmt(row.get(key)), unit] for key, label, unit in _VALUES]
    return Table(["measure", "this run", "unit"], rows,
                 caption="HRV over the part of the run the recording covers (desc-physio_metrics.tsv); n/a: "
                         "not measured.")


def _quality_block(row: pd.Series, meta: dict) -> KeyValue:
    rejected = row.get("rejected_fraction")
    items = [("Beats in the run", fmt(row.get("n_beats"))),
             ("Rejected intervals", "n/a" if pd.isna(rejected) else f"{100 * float(rejected):.1f}%"),
             ("Quality index (0-1)", fmt(row.get("quality_index"))),
             ("Seconds covered", f"{fmt(row.get('duration'))} of {fmt(meta.get('RunDuration'))} s"),
             ("Alignment", f"{fmt(meta.get('Alignment'))} (recording starts {fmt(meta.get('RecordingOnset'))} s from "
                           "the first volume)"),
             ("Cardiac column", f"{fmt(meta.get('CardiacColumn'))} ({fmt(meta.get('CardiacKind'))}, "
                                f"{fmt(meta.get('SamplingFrequency'))} Hz)"),
             ("Respiratory column", fmt(meta.get("RespiratoryColumn")))]
    return KeyValue(items)


def _regressor_blocks(qc: dict) -> list:
    """The physiological regressors' share of variance per ``+physio`` strategy (QC ``physio_regressors``)."""
    entries = {}
    if qc.get("Strategy"):
        entries[str(qc["Strategy"])] = qc
    for name, entry in (qc.get("Strategies") or {}).items():
        if isinstance(entry, dict):
            entries.setdefault(str(name), entry)
    rows = []
    for name, entry in entries.items():
        block = entry.get("physio_regressors")
        if not isinstance(block, dict):
            continue
        share, chance = block.get("variance_share"), block.get("variance_share_chance")
        used = bool(block.get("used"))
        why = block.get("message") or block.get("reason")
        rows.append([name, "yes" if used else f"no ({fmt(why)})",
                     "n/a" if share is None else f"{100 * float(share):.1f}%",
                     "n/a" if chance is None else f"{100 * float(chance):.1f}%", str(len(block.get("columns") or []))])
    if not rows:
        names = list(entries) or ["the run's strategy"]
        which = (f"{names[0]} has no '+physio' suffix" if len(names) == 1
                 else f"none of the strategies ({', '.join(names)}) has a '+physio' suffix")
        return [Note(f"No physiological noise regressors: {which}, so the BOLD signal was not cleaned of cardiac and "
                     "respiratory noise (add e.g. 'scrubbing+physio' to denoise.strategies).")]
    return [Table(["strategy", "regressors used", "variance explained", "by chance", "regressors"], rows,
                  caption="Share of each region signal's variance the physiological regressors (RETROICOR, RVT, HR) "
                          "explain beyond the strategy's other confounds (partial R², median over regions), beside "
                          "what as many regressors of pure noise would explain (a share near it: no physiological "
                          "noise found).")]


def run_physio_section(record: dict, qc: dict, *, bids_dir, config, section_id: str) -> Section:
    """A run's physiology: pulse and beats, heart rate, HRV with its quality, warnings, regressors' share of variance.

    Parameters
    ----------
    record : dict
        The run's completion record (``outputs["physio"]``: ``desc-physio_metrics.tsv``).
    qc : dict
        The run's QC JSON (``RepetitionTime``, ``NumberOfVolumes``, ``physio_regressors``).
    bids_dir : str or Path or None
        The raw dataset, to redraw the trace; None: values only.
    config : neurokit.config.Config
    section_id : str

    Returns
    -------
    Section
    """
    title = "Physiology"
    outputs = record.get("outputs") or {}
    if not config.physio.enabled:
        return Section(section_id, title, [Note("Physiology is turned off (physio.enabled: false).")], level=3)
    row_table = read_tsv(outputs.get("physio"))
    if row_table is None or row_table.empty:
        return Section(section_id, title, [Note(
            "No physiology for this run (no desc-physio_metrics.tsv): it was processed before neurokit measured "
            "physiology; rerun the participant level to measure it.", "warn")], level=3)
    row = row_table.iloc[0]
    meta = read_json(outputs.get("physio:json")) or {}
    reason = meta.get("Reason") or {}
    usable = str(row.get("usable")).strip().lower() == "true"
    blocks: list = []
    if not usable and reason.get("code") == "missing":
        blocks.append(Note(f"This run has no physiological recording: {reason.get('message', '')}"))
        return Section(section_id, title, blocks + _regressor_blocks(qc), level=3)
    if not usable:
        blocks.append(Note(f"No usable HRV for this run ({fmt(reason.get('code'))}): {fmt(reason.get('message'))}",
                           "warn"))
    # an unusable run whose beats were found (too many rejected, too few) is drawn too: the trace shows why
    drawable = usable or (pd.to_numeric(row.get("n_beats"), errors="coerce") or 0) > 0
    if drawable and bids_dir is not None:
        try:
            recording, result, seconds = measure_again(bids_dir, record, qc, config.physio)
        except Exception as exc:  # noqa: BLE001 - a figure that cannot be redrawn is a note, never a lost report
            recording, result = None, None
            blocks.append(Note(f"Pulse trace not shown: re-reading the recording failed ({type(exc).__name__}: "
                               f"{exc}).", "warn"))
        if recording is not None and result is not None and result.peaks is not None:
            if int(result.measures.get("n_beats", -1)) != int(row.get("n_beats", -2)):
                blocks.append(Note(f"The recording no longer gives what desc-physio_metrics.tsv says "
                                   f"({result.measures.get('n_beats')} beats, not {fmt(row.get('n_beats'))}): it or "
                                   "physio settings changed since the run was processed; rerun the participant "
                                   "level.", "warn"))
            blocks += _trace_blocks(recording, result, usable)
        elif result is not None and recording is None:
            blocks.append(Note(f"Pulse trace not shown: {result.reason.message if result.reason else 'unreadable'}",
                               "warn"))
    elif drawable:
        blocks.append(Note("Pulse trace and heart rate not shown: the report was not given the raw BIDS dataset "
                           "(pass bids_dir) where the recording is; the values below are from the metrics file."))
    blocks.append(Grid([_values_block(row, meta), _quality_block(row, meta)]))
    warnings = [w for w in meta.get("Warnings") or [] if isinstance(w, dict)]
    if warnings:
        blocks.append(Table(["warning", "what"], [[fmt(w.get("code")), fmt(w.get("message"))] for w in warnings],
                            caption="Warnings of the physiology step (the run's HRV is still used).",
                            row_classes=["warn"] * len(warnings)))
    blocks += _regressor_blocks(qc)
    return Section(section_id, title, blocks, level=3)


def run_physio_cell(record: dict) -> str:
    """A run's physiology in one word or two for the overview table: 'usable', the reason code, or ''."""
    block = record.get("physio") or {}
    if not block:
        return ""
    return "usable" if block.get("usable") else str(block.get("reason") or "not usable")


# ----------------------------------------------------------------------------- group report
def _sessions(features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One row per participant-session (the scan values are the session's; edges averaged over its runs)."""
    session = features["session_id"] if "session_id" in features else pd.Series(None, index=features.index)
    data = features[["participant_id", *columns]].copy()
    data["session_id"] = session.astype(object).where(session.notna(), "<none>").astype(str)
    numeric = [c for c in columns if c != "stage"]
    agg = {c: "mean" for c in numeric}
    if "stage" in columns:
        agg["stage"] = "first"
    for c in numeric:
        data[c] = pd.to_numeric(data[c], errors="coerce")
    return data.groupby(["participant_id", "session_id"], sort=False).agg(agg).reset_index()


def _label(column: str, meta: dict) -> str:
    info = (meta.get("ScanPhysiology") or {}).get(column) or {}
    unit = info.get("Units")
    return f"{column} ({unit})" if unit else column


def _short(rho, low, high, n) -> str:
    """Spearman rho with its 95% interval when there is one, and n: a scatter's title."""
    ci = f" [{fmt(low, 2)}, {fmt(high, 2)}]" if low is not None and np.isfinite(low) else ""
    return f"Spearman rho {fmt(rho, 2)}{ci}, n={n}"


def _relation_text(row) -> str:
    ci = (f", 95% CI {fmt(row.ci_low, 2)} to {fmt(row.ci_high, 2)}" if np.isfinite(row.ci_low) else "")
    return f"Spearman rho {fmt(row.value, 2)}{ci}, permutation p {fmt(row.p_permutation, 2)}"


def group_physio_section(features: pd.DataFrame | None, features_meta: dict, config, *, n_boot: int = 1000,
                         n_permutations: int = 1000) -> Section:
    """Scan HRV by recovery stage, against vmPFC-amygdala connectivity, and against the phenotype's HRV.

    Parameters
    ----------
    features : DataFrame or None
        ``group/features.tsv``.
    features_meta : dict
        ``group/features.json`` (units under ``ScanPhysiology``, ``HRVSource``).
    config : neurokit.config.Config
    n_boot, n_permutations : int
        For :func:`neurokit.models.hrv_relations` and :func:`neurokit.models.hrv_agreement`.

    Returns
    -------
    Section
        One sentence when the study has no scan physiology.
    """
    from neurokit.models import hrv_agreement, hrv_relations
    from neurokit.models._hrv import _vmpfc_amygdala

    sid, title = "physio", "Heart-rate variability from the scan"
    if features is None:
        return Section(sid, title, [Note("group/features.tsv does not exist yet; run the group level.", "warn")])
    measure = "scan_hrv" if "scan_hrv" in features else "scan_rmssd"
    if measure not in features or not pd.to_numeric(features[measure], errors="coerce").notna().any():
        return Section(sid, title, [Note("No run of this study has usable physiology (no heart-rate variability "
                                         "was measured during the scans), so nothing is shown here.")])
    edges = _vmpfc_amygdala(features)
    cols = [c for c in (measure, "scan_heart_rate", "scan_rmssd", "hrv", "idx_pfc_limbic", "stage", *edges)
            if c in features]
    sessions = _sessions(features, list(dict.fromkeys(cols)))
    sessions = sessions[sessions[measure].notna()].reset_index(drop=True)
    n_sessions, n_people = len(sessions), sessions["participant_id"].nunique()
    keys = ["participant_id", *(["session_id"] if "session_id" in features else [])]
    n_all = len(features[keys].astype(str).drop_duplicates())
    unit = ((features_meta.get("ScanPhysiology") or {}).get(measure) or {}).get("Units")
    blocks: list = [Note(f"{n_sessions} of the {n_all} sessions in the features table ({n_people} participant"
                         f"{'' if n_people == 1 else 's'}) have "
                         f"usable scan HRV; {measure} is the measure the models use"
                         + (f", in {unit}." if unit else ".")
                         + (" With so few sessions the statistics below say little." if n_sessions < 10 else ""))]
    try:
        relations = hrv_relations(features, scan_column=measure, stage_levels=list(config.columns.stage_levels),
                                  n_boot=n_boot, n_permutations=n_permutations)
    except Exception as exc:  # noqa: BLE001 - a statistic that cannot be computed is a note
        relations = None
        blocks.append(Note(f"HRV relations not computed: {exc}", "warn"))
    # by stage
    if "stage" in sessions and sessions["stage"].notna().any():
        present = set(sessions["stage"].dropna().astype(str))
        levels = [lv for lv in config.columns.stage_levels if lv in present] + sorted(
            present - set(config.columns.stage_levels))
        staged = sessions[sessions["stage"].notna()]
        panels = {_label(measure, features_meta): staged[measure].to_numpy(float)}
        if "scan_heart_rate" in staged:
            panels[_label("scan_heart_rate", features_meta)] = staged["scan_heart_rate"].to_numpy(float)
        test = ""
        if relations is not None and (relations["relation"] == "stage").any():
            r = relations[relations["relation"] == "stage"].iloc[0]
            test = (f" Kruskal-Wallis epsilon² of {measure} by stage {fmt(r.value, 2)}"
                    + (f" (95% CI {fmt(r.ci_low, 2)} to {fmt(r.ci_high, 2)})" if np.isfinite(r.ci_low) else "")
                    + f", permutation p {fmt(r.p_permutation, 2)} (whole participants permuted).")
        # one figure per measure, side by side on a desktop and one above the other on a phone
        stage_figures = [Figure(F.to_data_uri(plot_by_stage({label: values}, staged["stage"].astype(str), levels)),
                                "Scan HRV by recovery stage" if i == 0 else "Scan heart rate by recovery stage",
                                f"{label.split(' (')[0]} per session ({len(staged)} sessions with a stage; n under "
                                "each stage); box: median and quartiles." + (test if i == 0 else ""))
                         for i, (label, values) in enumerate(panels.items())]
        blocks.append(Grid(stage_figures))
    else:
        blocks.append(Note("No stage labels: HRV by stage not shown."))
    # against prefrontal-limbic connectivity
    figures = []
    targets = []
    if edges:
        sessions["_vmpfc_amygdala"] = sessions[edges].mean(axis=1, skipna=False)
        targets.append(("_vmpfc_amygdala", f"vmPFC-amygdala ({len(edges)} edges)",
                        f"mean Fisher z of the {len(edges)} vmPFC-amygdala edges"))
    if "idx_pfc_limbic" in sessions:
        targets.append(("idx_pfc_limbic", "idx_pfc_limbic", "prefrontal-limbic index (mean Fisher z)"))
    for column, relation, xlabel in targets:
        row = None
        if relations is not None and (relations["relation"] == relation).any():
            row = relations[relations["relation"] == relation].iloc[0]
        ok = sessions[[column, measure]].notna().all(axis=1)
        text = _relation_text(row) if row is not None else ""
        figures.append(Figure(F.to_data_uri(plot_hrv_scatter(
            sessions.loc[ok, column], sessions.loc[ok, measure], xlabel=xlabel, ylabel=_label(measure, features_meta),
            title=_short(row.value, row.ci_low, row.ci_high, int(row.n)) if row is not None else "")),
            f"{measure} against {relation}",
            f"One point per session (n={int(ok.sum())}, {sessions.loc[ok, 'participant_id'].nunique()} participants): "
            f"{measure} against the {xlabel}, runs of a session averaged."
            + (f" {text}" + (" (CI: participants resampled)." if np.isfinite(row.ci_low) else ".") if text else "")))
    if figures:
        blocks.append(Grid(figures))
    else:
        blocks.append(Note("No vmPFC-amygdala edges or prefrontal-limbic index in the features table: HRV against "
                           "connectivity not shown."))
    # against the phenotype's HRV
    source = (features_meta.get("HRVSource") or {}).get("hrv")
    if source == "phenotype" and "hrv" in sessions and "scan_rmssd" in sessions:
        try:
            agree = hrv_agreement(features, scan_column="scan_rmssd", n_boot=n_boot, n_permutations=n_permutations)
        except Exception as exc:  # noqa: BLE001
            agree = None
            blocks.append(Note(f"Agreement with the phenotype's HRV not computed: {exc}", "warn"))
        if agree is not None:
            ok = sessions[["hrv", "scan_rmssd"]].notna().all(axis=1)
            by = "participant (scan RMSSD averaged over sessions)" if agree["unit"] == "participant" else "session"
            blocks.append(Figure(F.to_data_uri(plot_hrv_scatter(
                sessions.loc[ok, "hrv"], sessions.loc[ok, "scan_rmssd"], xlabel="phenotype hrv",
                ylabel=_label("scan_rmssd", features_meta),
                title=_short(agree["spearman"], agree["ci_low"], agree["ci_high"], agree["n"]))),
                "Scan RMSSD against the phenotype's HRV",
                f"One point per session: the phenotype's hrv against the scan's RMSSD. Agreement by {by}: Spearman rho "
                f"{fmt(agree['spearman'], 2)} (95% CI {fmt(agree['ci_low'], 2)} to {fmt(agree['ci_high'], 2)}, "
                f"permutation p {fmt(agree['p_permutation'], 2)}, n={agree['n']}); a rank correlation, since the two "
                "need not be the same measure or unit."))
    elif source and source.startswith("scan"):
        blocks.append(Note("The phenotype has no HRV: the models' hrv role is the scan's (features.json "
                           "HRVSource), so there is nothing to compare it with."))
    return Section(sid, title, blocks)
