"""Participant reports: one self-contained ``OUTPUT_DIR/sub-<s>.html`` per participant, a section per run.

Reads what the participant level wrote (completion records, QC JSON, time series,
matrices, mean images) and arranges figures from ``_figures``; computes nothing new.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neurokit._version import __version__
from neurokit.io import RunQC
from neurokit.report import _figures as F
from neurokit.report._common import (
    Figure,
    Grid,
    KeyValue,
    Link,
    Note,
    Section,
    Table,
    Text,
    first_sidecar,
    fmt,
    load_atlas,
    load_phenotype_table,
    no_runs_error,
    open_output_dir,
    phenotype_units,
    read_json,
    read_tsv,
    records_space_note,
    render,
    report_name,
    with_unit,
)
from neurokit.report._methods import methods_text
from neurokit.report._physio import run_physio_section

__all__ = ["report_context", "report_fingerprint", "report_up_to_date", "write_participant_reports"]

log = logging.getLogger("neurokit.report")

#: Summary indices shown in the reports, with readable names.
INDEX_LABELS = {
    "idx_pfc_within": "within prefrontal",
    "idx_limbic_within": "within limbic",
    "idx_pfc_limbic": "prefrontal-limbic",
}


def _entities_of_failure(row: pd.Series) -> dict:
    """Entities of a failed run (from its BOLD file name, else its run id); may be empty."""
    from neurokit.io import parse_filename

    for name in (row.get("bold"), f"{row.get('run_id', '')}_bold.nii.gz"):
        if isinstance(name, str) and name:
            try:
                return dict(parse_filename(Path(name).name).entities)
            except Exception:  # noqa: BLE001 - a failed run's name may be anything; try the next source
                continue
    match = re.match(r"sub-([A-Za-z0-9]+)", str(row.get("run_id", "")))
    return {"sub": match.group(1)} if match else {}


def _subject_of_failure(row: pd.Series) -> str | None:
    return _entities_of_failure(row).get("sub")


def _runs_by_subject(records: list[dict], failures: pd.DataFrame) -> dict[str, list[dict]]:
    """Completion records and failed runs (as pseudo-records) grouped by participant label."""
    by_subject: dict[str, list[dict]] = {}
    for record in records:
        by_subject.setdefault(str(record["entities"]["sub"]), []).append(record)
    known = {r["run_id"] for r in records}
    for _, row in failures.iterrows():
        if row.get("status") != "failed" or row.get("run_id") in known:
            continue
        subject = _subject_of_failure(row)
        if subject is None:
            continue
        by_subject.setdefault(subject, []).append({
            "run_id": str(row["run_id"]), "status": "failed", "entities": {"sub": subject},
            "failure": {k: fmt(row.get(k)) for k in ("stage", "error_type", "message")},
        })
    return dict(sorted(by_subject.items()))


def _run_title(record: dict) -> str:
    run_id = str(record["run_id"])
    prefix = f"sub-{record['entities'].get('sub')}_"
    return run_id[len(prefix):] if run_id.startswith(prefix) else run_id


def _qc_of(record: dict) -> RunQC | None:
    """The run's QC metrics (None for a failed run, or when its QC file is missing or unreadable)."""
    path = record.get("outputs", {}).get("qc")
    return RunQC.read(path) if path else None


def _tdof_text(qc: dict) -> str:
    """tDOF lost / remaining, with the tDOF rule that applies and its outcome."""
    text = f"{fmt(qc.get('tDOFLost'))} / {fmt(qc.get('tDOFRemaining'))}"
    rule = next((c for c in qc.get("ExclusionChecks") or [] if "tdof" in str(c.get("key", "")).lower()), None)
    if rule is None:
        return text
    if rule.get("flag"):
        return f"{text} (flagged: {rule['flag']})"
    if rule.get("limit") is None:
        return f"{text} ({rule.get('key')} is off: no tDOF limit)"
    outcome = "excluded" if rule.get("passed") is False else "passes"
    return f"{text} ({outcome}: {rule.get('key')} = {fmt(rule.get('limit'))})"


def _space_note(record: dict, atlas, config) -> str | None:
    """The atlas-space note for one run (its ``space-`` entity against the atlas's space)."""
    return records_space_note(config, atlas, [record],
                              read_json(record.get("outputs", {}).get("timeseries_raw:json")))


def _summary_block(record: dict, qc: dict, space_note: str | None = None) -> KeyValue:
    n = qc.get("NumberOfVolumes")
    censored = qc.get("CensoredVolumes") or []
    reasons = record.get("reasons") or qc.get("ExclusionReasons") or []
    decision = "included" if record.get("status") == "ok" else "excluded: " + ("; ".join(reasons) or "see failures.tsv")
    flags = [c["flag"] for c in qc.get("ExclusionChecks") or [] if c.get("flag")]
    if flags:
        decision += " (flagged: " + "; ".join(flags) + ")"
    items = [
        ("Decision", decision),
        ("Repetition time", f"{fmt(qc.get('RepetitionTime'))} s"),
        ("Volumes", f"{fmt(n)} ({len(qc.get('NonSteadyStateVolumes') or [])} non-steady-state)"),
        ("Censored volumes", f"{len(censored)} ({fmt(qc.get('percent_censored'))}%)"),
        ("Confound regressors", fmt(qc.get("NumberOfRegressors"))),
        ("tDOF lost / remaining", _tdof_text(qc)),
        ("Mean / max FD", f"{fmt(qc.get('mean_fd'))} / {fmt(qc.get('max_fd'))} mm"),
        ("Atlas / strategy", f"{fmt(qc.get('Atlas'))} / {fmt(qc.get('Strategy'))}"),
    ]
    if space_note:
        items.append(("Atlas space", space_note[len("Atlas space: "):]))
    notes = qc.get("ConfoundNotes") or []
    if notes:
        items.append(("Notes", "; ".join(map(str, notes))))
    return KeyValue(items)


def _decision_table(qc: dict) -> Table | None:
    """Every exclusion rule with this run's value, the limit and the outcome (QC ``ExclusionChecks``)."""
    checks = qc.get("ExclusionChecks")
    if not checks:
        return None
    rows, classes = [], []
    for c in checks:
        outcome = {True: "passes", False: "excluded", None: "rule off" if c.get("limit") is None else "not measured"}
        text = outcome[c.get("passed")]
        if c.get("flag"):
            text = f"flagged: {c['flag']}"
        rows.append([c.get("rule"), fmt(c.get("value")), fmt(c.get("limit")), text, c.get("key")])
        classes.append("excluded" if c.get("passed") is False else ("warn" if c.get("flag") else ""))
    return Table(["rule", "this run", "limit", "outcome", "setting"], rows, row_classes=classes,
                 caption="Why this run was kept or excluded: every exclusion rule, in the order it is applied.")


def _motion_block(record: dict, qc: dict, config) -> Figure | Note:
    path = record.get("inputs", {}).get("confounds")
    confounds = read_tsv(path)
    if confounds is None:
        return Note(f"FD/DVARS trace not shown: the confounds file {path} is not readable from here.", "warn")
    fd = confounds["framewise_displacement"].to_numpy(float) if "framewise_displacement" in confounds else None
    dvars_col = "std_dvars" if "std_dvars" in confounds else ("dvars" if "dvars" in confounds else None)
    dvars = confounds[dvars_col].to_numpy(float) if dvars_col else None
    dn = config.denoise
    scrubbing = config.modelled_strategy.startswith("scrubbing")
    fig = F.plot_motion(
        fd, dvars, fd_threshold=dn.fd_threshold,
        dvars_threshold=dn.std_dvars_threshold if (scrubbing and dvars_col == "std_dvars") else None,
        censored=qc.get("CensoredVolumes") or [], non_steady=qc.get("NonSteadyStateVolumes") or [],
        t_r=qc.get("RepetitionTime"), dvars_label=dvars_col.replace("_", " ") if dvars_col else "DVARS",
    )
    applied = ("censoring applied" if scrubbing else f"the '{config.modelled_strategy}' strategy does not censor on "
               "FD; the line shows the configured threshold")
    return Figure(F.to_data_uri(fig), "Framewise displacement and DVARS over time",
                  f"Framewise displacement (top) and DVARS (bottom) from fMRIPrep's confounds; dashed: threshold "
                  f"({applied}); shaded volumes were censored.")


def _carpet_block(record: dict) -> Figure | Note:
    out = record.get("outputs", {})
    raw = read_tsv(out.get("timeseries_raw"))
    if raw is None:
        return Note("Carpet plot not shown: the raw region time series is missing.", "warn")
    meta = read_json(out.get("timeseries:json")) or read_json(out.get("timeseries_raw:json")) or {}
    networks = meta.get("Networks") or ["other"] * raw.shape[1]
    cleaned = read_tsv(out.get("timeseries"))
    fig = F.plot_carpet(raw.to_numpy(float), None if cleaned is None else cleaned.to_numpy(float), networks,
                        sample_mask=meta.get("SampleMask"))
    caption = (f"{raw.shape[1]} region signals (rows, grouped by network) over {raw.shape[0]} volumes, before and "
               "after denoising." + ("" if cleaned is not None else " No denoised signals (run not usable)."))
    return Figure(F.to_data_uri(fig), "Carpet plot of region signals before and after denoising", caption)


def _atlas_blocks(record: dict, qc: dict, atlas, atlas_note: str | None) -> list:
    import nibabel as nib

    # fMRIPrep's boldref when the run had a usable one, else the mean image the pipeline wrote
    boldref = (record.get("inputs") or {}).get("boldref")
    mean_path = record.get("outputs", {}).get("mean") or boldref
    if atlas is None:
        blocks = [Note(f"Atlas overlay not shown: {atlas_note}.", "warn")]
    elif not mean_path or not Path(mean_path).is_file():
        what = f"fMRIPrep's reference image {boldref}" if boldref else "the run's mean image"
        blocks = [Note(f"Atlas overlay not shown: {what} is missing.", "warn")]
    else:
        img = nib.load(mean_path)
        labels = atlas.labels_on_grid(img.affine, img.shape[:3])
        regions = atlas.regions
        fig = F.plot_atlas_overlay(np.asanyarray(img.dataobj).reshape(img.shape[:3]), labels, img.affine,
                                   region_names=dict(zip(regions["index"], regions["name"].astype(str))),
                                   region_networks=dict(zip(regions["index"], regions["network"].astype(str))))
        n_averaged = len(qc.get("MeanImageVolumes") or [])
        if mean_path == boldref:
            underlay, title = "fMRIPrep's reference image (boldref)", "reference image"
        else:
            underlay = "the run's mean image" + (f" ({n_averaged} evenly spaced volumes averaged)" if n_averaged else "")
            title = "mean image"
        blocks = [Figure(F.to_data_uri(fig), f"Atlas regions over the run's {title}",
                         f"The {atlas.name} regions drawn on {underlay} in three planes (sagittal, coronal, axial; "
                         "slices chosen to cut as many regions as possible, colours in the legend); each region "
                         "should sit on the anatomy it is named after.")]
    dropped = (qc.get("RegionCoverage") or {}).get("dropped_regions") or []
    if dropped:
        blocks.append(Note(f"Regions dropped for too few voxels: {', '.join(map(str, dropped))}.", "warn"))
    return blocks


def _network_of(record: dict, atlas) -> dict:
    """Region name -> network, from the atlas or else the run's sidecar."""
    if atlas is not None:
        return {str(k): str(v) for k, v in atlas.networks.to_dict().items()}
    meta = read_json(record.get("outputs", {}).get("timeseries_raw:json")) or {}
    return dict(zip(meta.get("Regions", []), meta.get("Networks", [])))


def _coverage_part(qc: dict, threshold: float) -> tuple[dict, str, list]:
    """Region -> covered fraction (QC ``RegionCoverage``), the caption part and the low-coverage table or note."""
    regions = (qc.get("RegionCoverage") or {}).get("regions") or {}
    if not regions:
        return {}, "", [Note("Coverage not shown: the QC file has no RegionCoverage.", "warn")]
    names = list(regions)
    # voxels with a usable signal (in the mask, finite, not constant) when the QC has them
    key = "usable_fraction" if all("usable_fraction" in regions[n] for n in names) else "fraction"
    count = "n_usable" if key == "usable_fraction" else "n_voxels"
    measured = ("inside the brain mask with a usable signal (finite, not constant over time)"
                if key == "usable_fraction" else "inside the brain mask")
    low = [(n, fmt(regions[n].get(key)), fmt(regions[n].get(count)))
           for n in names if regions[n].get(key, 1.0) < threshold]
    column = "usable fraction" if key == "usable_fraction" else "fraction in mask"
    table = (Table(["region", column, "voxels"], low, caption=f"Regions below {threshold:g} coverage",
                   row_classes=["warn"] * len(low))
             if low else Note(f"Every region has at least {threshold:.0%} of its voxels {measured}."))
    return ({n: regions[n].get(key, np.nan) for n in names},
            f"left: fraction of each region's voxels {measured} (dashed: {threshold:g})", [table])


def _tsnr_part(qc: dict, fraction: float) -> tuple[dict, float | None, str, list]:
    """Region -> tSNR (QC ``RegionTSNR``), the low-tSNR limit (``fraction`` x the run's median), caption part and
    the low-tSNR table or note."""
    values = qc.get("RegionTSNR") or {}
    if not values:
        return {}, None, "", [Note("Region tSNR not shown: the QC file has no RegionTSNR (written by an older "
                                   "neurokit).")]
    tsnr = {n: np.nan if v is None else float(v) for n, v in values.items()}
    finite = [v for v in tsnr.values() if np.isfinite(v)]
    if not finite:
        return tsnr, None, "", [Note("No region has a defined tSNR.", "warn")]
    median = float(np.median(finite))
    threshold = fraction * median
    low = [(n, fmt(t)) for n, t in tsnr.items() if not t >= threshold]
    caption = (f"right: temporal SNR (mean over SD over time, after removing a linear trend, before denoising) of "
               f"each region's mean signal (dashed: {fraction:g} x the run's median, {fmt(median)}); a region far "
               "below the others carries mostly noise (e.g. susceptibility dropout)")
    table = (Table(["region", "tSNR"], low, caption=f"Regions with low tSNR (below {fmt(threshold)})",
                   row_classes=["warn"] * len(low))
             if low else Note(f"No region below {fraction:g} x the median tSNR ({fmt(threshold)})."))
    return tsnr, threshold, caption, [table]


def _region_quality_blocks(record: dict, qc: dict, atlas, coverage_threshold: float, tsnr_fraction: float) -> list:
    """Per-region coverage and tSNR in one figure (a row per region), with the regions below either limit listed."""
    coverage, coverage_caption, coverage_blocks = _coverage_part(qc, coverage_threshold)
    tsnr, tsnr_threshold, tsnr_caption, tsnr_blocks = _tsnr_part(qc, tsnr_fraction)
    names = list(dict.fromkeys([*coverage, *tsnr]))
    if not names:
        return coverage_blocks + tsnr_blocks
    nets = _network_of(record, atlas)
    fig = F.plot_region_quality(
        names, [nets.get(n, "other") for n in names],
        coverage=[coverage.get(n, np.nan) for n in names] if coverage else None,
        tsnr=[tsnr.get(n, np.nan) for n in names] if tsnr else None,
        coverage_threshold=coverage_threshold, tsnr_threshold=tsnr_threshold)
    parts = [p for p in (coverage_caption, tsnr_caption) if p]
    if len(parts) == 1:
        parts = [parts[0].split(": ", 1)[1]]
    caption = ("; ".join(parts) + ". Hatched: below the dashed limit."
               + (f" Histograms over {len(names)} regions." if len(names) > 60 else ""))
    return [Figure(F.to_data_uri(fig), "Per-region coverage and tSNR", caption[0].upper() + caption[1:]),
            Grid(coverage_blocks + tsnr_blocks)]


#: What the values of each per-run matrix are (the colour-bar label).
_MEASURE_UNITS = {"correlation": "Pearson r", "partial correlation": "partial correlation r",
                  "covariance": "covariance of standardised signals", "precision": "precision"}


def _matrix_block(record: dict, config) -> Figure | Note:
    out = record.get("outputs", {})
    measure = next((m for m in config.connectivity.measures if f"relmat:{m}" in out), None)
    if measure is None:
        measure = next((k.split(":", 1)[1] for k in out if k.startswith("relmat:") and not k.endswith(":json")), None)
    table = read_tsv(out.get(f"relmat:{measure}")) if measure else None
    if table is None:
        return Note("Connectivity matrix not shown: no matrix was written for this run.", "warn")
    meta = read_json(out.get(f"relmat:{measure}:json")) or {}
    names = list(table.columns)
    nets = dict(zip(meta.get("Regions", []), meta.get("Networks", [])))
    networks = [nets.get(n, "other") for n in names]
    matrix = table.to_numpy(float)
    off = np.abs(matrix[~np.eye(len(names), dtype=bool)])
    vmax = 1.0 if measure in ("correlation", "partial correlation") else float(np.nanmax(off) or 1.0)
    unit = _MEASURE_UNITS.get(measure, measure)
    fig = F.plot_matrix(matrix, names, networks, title=measure, vmax=vmax, label=unit)
    fisher = (" The group models use these correlations Fisher z-transformed (z = artanh r)."
              if measure == "correlation" else "")
    return Figure(F.to_data_uri(fig), f"{measure} matrix ordered by network",
                  f"{measure.capitalize()} matrix ({unit}) of the denoised region signals, regions ordered "
                  f"prefrontal, limbic, other; green outlines: prefrontal-limbic blocks.{fisher}")


def _indices_block(record: dict, other_runs: dict[str, list[float]]) -> Figure | Note:
    """The run's summary indices against the participant's other included runs.

    Not against the group: the report is rendered as soon as this participant's runs are done,
    before the group is known, and must not depend on which runs happened to finish first.
    The group distribution is in the group report, written once every run is done.
    """
    summary = record.get("summary") or {}
    if not summary:
        return Note("No prefrontal-limbic summary indices for this run: it has no connectivity, or the atlas tags "
                    "no prefrontal and limbic regions.", "warn")
    values = {INDEX_LABELS.get(k, k): v for k, v in summary.items()}
    others = {INDEX_LABELS.get(k, k): v for k, v in other_runs.items()}
    fig = F.plot_indices_vs_group(values, others, reference="this participant's other runs")
    n = max((len(v) for v in other_runs.values()), default=0)
    against = (f"against this participant's {n} other included run(s) (grey points and box)" if n else
               "(this participant has no other included run)")
    return Figure(F.to_data_uri(fig), "Prefrontal-limbic summary indices",
                  f"This run's mean Fisher z within and between networks (red) {against}. The group's distribution "
                  "is in the group report.")


def _provenance_block(record: dict) -> KeyValue:
    meta = read_json(record.get("outputs", {}).get("timeseries:json")) or \
        read_json(record.get("outputs", {}).get("timeseries_raw:json")) or {}
    items = [("Participant-level config hash",
              fmt(meta.get("ParticipantConfigHash") or meta.get("ConfigHash") or record.get("config_hash")))]
    items += [(k, fmt(v)) for k, v in (meta.get("SoftwareVersions") or {}).items()]
    items += [("Inputs", ", ".join(Path(p).name for p in meta.get("Sources", [])) or "n/a")]
    return KeyValue(items)


def _run_section(record: dict, config, atlas, atlas_note, other_runs, section_id: str, bids_dir=None) -> Section:
    title = _run_title(record)
    if record["status"] == "failed":
        f = record["failure"]
        return Section(section_id, title, [
            Note(f"This run failed in stage '{f['stage']}' ({f['error_type']}) and has no derivatives: "
                 f"{f['message']}", "warn")], status="failed")
    read = _qc_of(record)
    qc = read.to_dict() if read is not None else {}
    summary = [_summary_block(record, qc, _space_note(record, atlas, config))]
    decision = _decision_table(qc)
    if decision is not None:
        summary.append(decision)
    blocks: list = [Section(f"{section_id}-summary", "Summary", summary, level=3)]
    blocks.append(Section(f"{section_id}-motion", "Head motion", [_motion_block(record, qc, config)], level=3))
    blocks.append(Section(f"{section_id}-carpet", "Region signals", [_carpet_block(record)], level=3))
    blocks.append(Section(f"{section_id}-atlas", "Atlas alignment", _atlas_blocks(record, qc, atlas, atlas_note),
                          level=3))
    blocks.append(Section(f"{section_id}-regions", "Coverage and tSNR per region", _region_quality_blocks(
        record, qc, atlas, config.report.low_coverage_fraction, config.report.low_tsnr_fraction), level=3))
    blocks.append(Section(f"{section_id}-conn", "Connectivity", [
        _matrix_block(record, config), _indices_block(record, other_runs)], level=3))
    blocks.append(run_physio_section(record, qc, bids_dir=bids_dir, config=config, section_id=f"{section_id}-physio"))
    blocks.append(Section(f"{section_id}-prov", "Software and configuration", [_provenance_block(record)], level=3))
    return Section(section_id, title, blocks, status=record["status"])


def _phenotype_section(subject: str, phenotype, note, units: dict | None = None) -> Section:
    if phenotype is None:
        return Section("phenotype", "Phenotype", [Note(f"Phenotype not shown: {note}.")])
    rows = phenotype[phenotype["participant_id"] == f"sub-{subject}"]
    if rows.empty:
        return Section("phenotype", "Phenotype", [Note(f"sub-{subject} has no row in the phenotype files.", "warn")])
    cols = [c for c in rows.columns if c != "participant_id" and rows[c].notna().any()]
    units = units or {}
    caption = ("Units from the phenotype's JSON sidecars ('Units'); a column without one is shown without."
               if any(c in units for c in cols) else "No JSON sidecar gives units for these columns.")
    return Section("phenotype", "Phenotype", [Table([with_unit(c, units) for c in cols],
                                                    [[fmt(v) for v in r] for r in rows[cols].to_numpy()],
                                                    caption=caption)])


def _overview_table(runs: list[dict]) -> Table:
    rows, classes = [], []
    for i, r in enumerate(runs):
        qc = _qc_of(r) or RunQC()
        reason = "; ".join(r.get("reasons") or []) if r["status"] != "failed" else r["failure"]["message"]
        rows.append([Link(_run_title(r), f"#run-{i + 1}"), r["status"], fmt(qc.mean_fd),
                     fmt(qc.percent_censored), fmt(qc.tdof_remaining), reason or ""])
        classes.append("" if r["status"] == "ok" else r["status"])
    return Table(["run", "status", "mean FD (mm)", "% censored", "tDOF left", "reason"], rows, row_classes=classes)


#: Bumped when what a participant report shows changes in a way its source files do not
#: capture (e.g. a dependency's figure style); part of every report's fingerprint.
REPORT_FORMAT = 2
#: Where each report's fingerprint is kept (beside the derivatives, outside the BIDS tree).
FINGERPRINT_DIR = Path("logs") / "reports"


@functools.lru_cache(maxsize=1)
def renderer_hash() -> str:
    """Hash of the code and templates that draw a participant report, and :data:`REPORT_FORMAT`.

    A changed figure, block or template re-renders every report on the next run, without
    anyone having to remember to bump a version.
    """
    folder = Path(__file__).parent
    digest = hashlib.sha256(f"{REPORT_FORMAT}:{__version__}".encode())
    for path in sorted(folder.glob("*.py")) + sorted((folder / "templates").glob("*")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _atlas_key(atlas, atlas_note: str | None) -> str:
    """Content hash of the atlas a report draws (regions, networks, labels, metadata)."""
    if atlas is None:
        return f"missing: {atlas_note}"
    digest = hashlib.sha256(f"{atlas.name}|{atlas.type}|{atlas.space}|{atlas.content_hash()}".encode())
    # what the report shows beyond what the atlas draws: every region column, the description
    digest.update(atlas.regions.to_csv(index=False).encode())
    digest.update(json.dumps(atlas.metadata, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class _Context:
    """What every participant's report shares (shipped once to dask workers).

    Nothing here depends on other participants' runs: a report is a function of its own
    participant's runs and these settings, whatever the order in which runs finish.
    """

    output_dir: Path
    config: object
    atlas: object
    atlas_note: str | None
    phenotype: pd.DataFrame | None
    phenotype_note: str | None
    #: column -> unit, from the phenotype's JSON sidecars
    phenotype_units: dict
    #: hash of the configuration shown (results and report sections), the atlas and the renderer
    settings_key: str
    #: the raw dataset, where the physiology section re-reads each run's recording (None: values only)
    bids_dir: Path | None = None


def report_context(output_dir, *, bids_dir=None, config=None, atlas=None) -> _Context:
    """What every participant report of ``output_dir`` shares: configuration, atlas, phenotype.

    Parameters
    ----------
    output_dir : str or Path
        The participant-level derivative dataset.
    bids_dir : str or Path, optional
        BIDS root, for the phenotype values shown in each report.
    config : neurokit.config.Config, optional
        The resolved configuration; default: ``output_dir/config.yaml``.
    atlas : neurokit.atlases.Atlas, optional
        The atlas already loaded by the caller; default: loaded from ``config.atlas.name``.

    Returns
    -------
    _Context
    """
    output_dir, config = open_output_dir(output_dir, config)
    atlas, atlas_note = (atlas, None) if atlas is not None else load_atlas(config.atlas.name)
    phenotype, note = load_phenotype_table(bids_dir, config)
    units = phenotype_units(bids_dir, config) if phenotype is not None else {}
    key = json.dumps([config.hash(), config.to_dict()["report"], _atlas_key(atlas, atlas_note), renderer_hash(),
                      units, bids_dir is not None], sort_keys=True, default=str)
    return _Context(output_dir=output_dir, config=config, atlas=atlas, atlas_note=atlas_note, phenotype=phenotype,
                    phenotype_note=note, phenotype_units=units,
                    settings_key=hashlib.sha256(key.encode()).hexdigest()[:16],
                    bids_dir=Path(bids_dir) if bids_dir is not None else None)


def _file_state(path) -> list | None:
    """Size and modification time of a file a report reads (None when it is missing)."""
    try:
        stat = Path(path).stat()
    except (OSError, TypeError, ValueError):
        return None
    return [stat.st_size, stat.st_mtime_ns]


def report_fingerprint(subject: str, runs: list[dict], context: _Context) -> str:
    """Hash of everything ``subject``'s report reads.

    Parameters
    ----------
    subject : str
        Participant label (without ``sub-``).
    runs : list of dict
        The participant's completion records and failed runs (as from :func:`_runs_by_subject`).
    context : _Context
        Shared settings (see :func:`report_context`).

    Returns
    -------
    str
        16 hexadecimal characters: the completion records, the size and modification time of
        every file they point at (QC, time series, matrices, mean image, confounds, boldref),
        the participant's phenotype rows and ``context.settings_key``.
    """
    files = {}
    for record in runs:
        paths = list((record.get("outputs") or {}).values())
        paths += [(record.get("inputs") or {}).get(k) for k in ("confounds", "boldref")]
        files.update({str(p): _file_state(p) for p in paths if p})
    pheno = None
    if context.phenotype is not None:
        pheno = context.phenotype[context.phenotype["participant_id"] == f"sub-{subject}"].to_json(orient="split")
    text = json.dumps([subject, runs, files, pheno, context.settings_key], sort_keys=True, default=str)
    # outputs are recorded under the derivative folder: a moved or copied folder keeps its reports
    text = text.replace(json.dumps(str(context.output_dir))[1:-1], "<output_dir>")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fingerprint_path(output_dir: Path, subject: str) -> Path:
    return Path(output_dir) / FINGERPRINT_DIR / Path(report_name(subject)).with_suffix(".json").name


def report_up_to_date(subject: str, fingerprint: str, output_dir) -> bool:
    """Whether ``sub-<subject>.html`` exists and was rendered from inputs with this fingerprint."""
    if not (Path(output_dir) / report_name(subject)).is_file():
        return False
    try:
        return json.loads(_fingerprint_path(output_dir, subject).read_text()).get("fingerprint") == fingerprint
    except (OSError, ValueError, AttributeError):
        return False


def _own_indices(runs: list[dict]) -> dict[str, dict[str, float]]:
    """Run id -> summary indices of the participant's included runs."""
    return {r["run_id"]: r["summary"] for r in runs if r.get("status") == "ok" and r.get("summary")}


def _write_one(subject: str, runs: list[dict], fingerprint: str, context: _Context) -> Path:
    """Render and write one participant's report, then its fingerprint (a pure function of its arguments).

    The fingerprint is written after the page, so an interrupted write is redone next time.
    """
    from neurokit.io import atomic_write_json, atomic_write_text

    started = time.perf_counter()
    config = context.config
    sidecar = first_sidecar(runs)  # this participant's own: nothing here depends on other participants
    paragraphs, references = methods_text(
        config, atlas_metadata=context.atlas.metadata if context.atlas is not None else None,
        strategy_details=sidecar.get("StrategyDetails"), atlas_name=sidecar.get("Atlas"),
        versions=sidecar.get("SoftwareVersions"), space_note=records_space_note(config, context.atlas, runs, sidecar))
    own = _own_indices(runs)
    sections = [Section("overview", "Runs", [_overview_table(runs)]),
                _phenotype_section(subject, context.phenotype, context.phenotype_note, context.phenotype_units)]
    sections += [_run_section(r, config, context.atlas, context.atlas_note,
                              {k: [v[k] for rid, v in own.items() if rid != r["run_id"] and k in v]
                               for k in INDEX_LABELS}, f"run-{i + 1}", bids_dir=context.bids_dir)
                 for i, r in enumerate(runs)]
    sections.append(Section("methods", "Methods", [Text(paragraphs), Text(references, ordered=True)]))
    n_ok = sum(r["status"] == "ok" for r in runs)
    html = render("participant.html.j2", title=f"sub-{subject}", sections=sections, version=__version__,
                  subtitle=f"neurokit participant QC report: {len(runs)} run(s), {n_ok} included; "
                           f"atlas {sidecar.get('Atlas') or config.atlas.name}, strategy {config.modelled_strategy}",
                  config_hash=f"{config.run_hash()} (participant level)",
                  generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    path = atomic_write_text(Path(context.output_dir) / report_name(subject), html)
    atomic_write_json(_fingerprint_path(context.output_dir, subject), {
        "report": path.name, "fingerprint": fingerprint, "runs": [r["run_id"] for r in runs],
        "renderer": renderer_hash(), "neurokit": __version__, "seconds": round(time.perf_counter() - started, 3)})
    limit = config.report.max_participant_report_mb * 1e6
    if path.stat().st_size > limit:
        log.warning("%s is %.1f MB, above report.max_participant_report_mb (%.1f MB)", path.name,
                    path.stat().st_size / 1e6, limit / 1e6)
    return path


def write_participant_reports(output_dir, *, bids_dir=None, config=None, client=None,
                              force: bool = False) -> list[Path]:
    """Write one self-contained HTML QC report per participant, skipping those already up to date.

    A report is rendered again only when something it shows changed (see
    :func:`report_fingerprint`), or with ``force``. The participant level calls the same
    rendering per participant as soon as that participant's runs are done
    (:func:`neurokit.pipelines.participant.run_participant`); this function renders them
    all at once, e.g. after copying a derivative folder or changing ``report`` settings.

    Parameters
    ----------
    output_dir : str or Path
        The participant-level derivative dataset (with ``logs/runs`` and ``failures.tsv``).
    bids_dir : str or Path, optional
        BIDS root, for the phenotype values shown in each report.
    config : neurokit.config.Config, optional
        The resolved configuration; default: ``output_dir/config.yaml``.
    client : distributed.Client, optional
        Render participants as parallel tasks on this client (the caller owns it);
        None renders them one after another in this process.
    force : bool
        Render every report, even those whose inputs did not change.

    Returns
    -------
    list of Path
        ``output_dir/sub-<label>.html``, one per participant with a processed or failed run
        (rendered now or already up to date).

    Raises
    ------
    ReportError
        If ``output_dir`` holds no processed or failed runs.
    """
    from neurokit.io import completed_runs, read_failures

    context = report_context(output_dir, bids_dir=bids_dir, config=config)
    output_dir = context.output_dir
    by_subject = _runs_by_subject(completed_runs(output_dir), read_failures(output_dir))
    if not by_subject:
        raise no_runs_error(output_dir)
    jobs = []
    for subject, runs in by_subject.items():
        runs = sorted(runs, key=lambda r: r["run_id"])
        fingerprint = report_fingerprint(subject, runs, context)
        if force or not report_up_to_date(subject, fingerprint, output_dir):
            jobs.append((subject, runs, fingerprint))
    if client is None or not jobs:
        for job in jobs:
            _write_one(*job, context)
    else:  # one task per participant; the caller owns the client
        shared = client.scatter(context, broadcast=True)
        client.gather(client.map(_write_one, *zip(*jobs), context=shared, pure=False))
    log.info("participant reports in %s: %d rendered, %d up to date", output_dir, len(jobs),
             len(by_subject) - len(jobs))
    return [output_dir / report_name(s) for s in by_subject]
