"""The group features table read from the participant-level derivatives.

This is a reader: it turns what the participant level wrote (completion records, QC JSON,
``*_relmat.tsv`` matrices and their sidecars) into one table, and computes nothing beyond
vectorising each stored matrix (:func:`neurokit.connectivity.vectorize`). The group level,
``neurokit predict`` and the provenance checks all read the runs through it, so they see the
same runs. Model inputs are made from the table by :mod:`neurokit.models`.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from neurokit._errors import NeurokitError
from neurokit.config import Config
from neurokit.io._derivatives import record_for_strategy
from neurokit.io._run_files import RunQC, completed_runs
from neurokit.io._phenotype import phenotype_for_runs
from neurokit.physio import MEASURES

__all__ = ["GroupError", "RunRef", "SCAN_COLUMNS", "build_features", "select_records", "strategy_qc"]

log = logging.getLogger("neurokit.group")

#: Scan-derived physiology columns of the features table: ``{column: (session_summary key, unit, description)}``.
SCAN_COLUMNS: dict[str, tuple[str, str, str]] = {
    "scan_heart_rate": ("heart_rate", "beats/min", "Mean heart rate of the session's usable runs"),
    "scan_rmssd": ("rmssd", "ms", "RMSSD of the session's usable runs"),
    "scan_sdnn": ("sdnn", "ms", "SDNN of the session's usable runs"),
    "scan_hf_power": ("hf_power", "ms^2", "HF power (0.15-0.40 Hz) of the session's usable runs"),
    "scan_log_hf_power": ("log_hf_power", "ln(ms^2)", "Mean of the usable runs' ln HF power"),
    "scan_respiratory_rate": ("respiratory_rate", "breaths/min",
                              "Breathing rate of the session's runs with a usable respiratory trace"),
    "scan_rejected_fraction": ("rejected_fraction", "fraction", "Share of beat intervals rejected as implausible"),
    "scan_quality_index": ("quality_index", "0-1", "Pulse waveform template-match quality index"),
    "scan_physio_runs": ("n_usable", "count",
                         "Runs with usable HRV (0: physiology measured but none usable; n/a: none measured)"),
    "scan_physio_duration": ("duration", "s", "Seconds of usable cardiac recording over the session's runs"),
}

#: Scan measure that can play the ``hrv`` role (``models.scan_hrv``): ``{name: (unit, description)}``.
SCAN_HRV_MEASURES: dict[str, tuple[str, str]] = {
    "log_rmssd": ("ln(ms)", "Duration-weighted mean of the usable runs' natural log of RMSSD"),
    "rmssd": ("ms", "RMSSD (scan_rmssd)"),
    "log_hf_power": ("ln(ms^2)", "ln HF power (scan_log_hf_power)"),
    "hf_power": ("ms^2", "HF power (scan_hf_power)"),
    "sdnn": ("ms", "SDNN (scan_sdnn)"),
}


class GroupError(NeurokitError, ValueError):
    """The participant-level outputs cannot make a group analysis; the message says why."""


@dataclass(frozen=True)
class RunRef:
    """The identity of a processed run (what phenotype joins need)."""

    run_id: str
    subject: str
    session: str | None


def _relmat_path(record: dict, measure: str) -> Path:
    key = f"relmat:{'covariance' if measure == 'tangent' else measure}"
    for candidate in (key, f"relmat:{measure}"):
        if candidate in record["outputs"]:
            return Path(record["outputs"][candidate])
    raise GroupError(
        f"run {record['run_id']} has no {measure!r} matrix; add {measure!r} to connectivity.measures and "
        "rerun the participant level."
    )


def _has_relmat(record: dict, measure: str) -> bool:
    try:
        _relmat_path(record, measure)
    except GroupError:
        return False
    return True


def _read_qc(record: dict, strategy: str | None = None) -> RunQC:
    """A run's QC metrics; with ``strategy``, that strategy's entries (tDOF, censoring, exclusion) on top."""
    path = Path(record["outputs"]["qc"])
    qc = RunQC.read(path)
    if qc is None:
        raise GroupError(f"run {record['run_id']}'s QC metrics {path} are missing or unreadable; rerun the "
                         "participant level with --overwrite for this run.")
    return qc.for_strategy(strategy)


def _records_for(records: list[dict], strategy: str) -> list[dict]:
    """Each run's record as processed with ``strategy`` alone; a run processed without it is an error."""
    views = []
    for record in records:
        view = record_for_strategy(record, strategy)
        if view is None:
            raise GroupError(
                f"run {record['run_id']} was processed with the strategies {list(record['strategies'])}, not "
                f"{strategy!r}; add {strategy!r} to denoise.strategy and rerun the participant level, or set "
                "models.strategy to one of those."
            )
        views.append(view)
    return views


def strategy_qc(records: list[dict], strategy: str) -> list[RunQC]:
    """Each run's QC metrics as processed with ``strategy`` (its tDOF, censoring and exclusion on top).

    Parameters
    ----------
    records : list of dict
        Completion records, e.g. from :func:`select_records`.
    strategy : str
        A denoising strategy every run was processed with.

    Returns
    -------
    list of RunQC, length n_records
        The runs' QC metrics, in the order of ``records``.

    Raises
    ------
    GroupError
        When a run was processed without ``strategy``.
    """
    return [_read_qc(view, strategy) for view in _records_for(records, strategy)]


def build_features(output_dir: str | Path, config: Config, phenotype: pd.DataFrame | None = None, *,
                   strategy: str | None = None, measure: str | None = None, include_excluded: bool = False):
    """Assemble the group features table from the participant-level derivatives.

    Parameters
    ----------
    output_dir : str or Path
        The participant-level derivative dataset.
    config : Config
        Resolved configuration (``models.measure`` chooses the matrices).
    phenotype : pandas.DataFrame, optional
        From :func:`neurokit.io.load_phenotype`; None leaves the roles missing.
    strategy : str, optional
        Denoising strategy whose matrices and exclusions to use; default the modelled one
        (``config.modelled_strategy``).
    measure : str, optional
        Connectivity measure; default ``models.measure``.
    include_excluded : bool, default=False
        Also give the runs excluded by QC a row (their QC and, when the participant
        level wrote their matrix, their edges), marked by a boolean ``qc_excluded``
        column; for exclusion-bias and sensitivity checks, never for the models.

    Returns
    -------
    features : pandas.DataFrame, shape (n_included_runs, n_columns)
        ``participant_id, session_id, run_id``, the roles, QC (``mean_fd``,
        ``max_fd``, ``percent_censored``, ``tdof_remaining``), the session's scan physiology
        (:data:`SCAN_COLUMNS` and ``scan_hrv``, the ``models.scan_hrv`` measure; see below),
        summary indices ``idx_*`` and Fisher-z
        edges ``edge__<A>--<B>`` (for ``tangent``, vectorised covariances ``cov__<A>--<B>``);
        ``attrs["strategy"]`` names the strategy, ``attrs["atlas"]`` the atlas the runs recorded,
        ``attrs["hrv_source"]`` where ``hrv`` and ``scan_hrv`` came from and
        ``attrs["sidecar"]`` the entries for the features sidecar (``HRVSource``, the scan
        columns' units and descriptions).
    exclusions : pandas.DataFrame
        One row per run left out (``run_id``, ``reason``).
    networks : dict of str to str
        Region name -> network.

    Notes
    -----
    Scan physiology is per participant-session: :func:`neurokit.physio.session_summary` over
    the ``desc-physio_metrics.tsv`` (``record["outputs"]["physio"]``) of the session's runs
    that enter the models, i.e. the selected runs included by QC under ``strategy``; every
    run row of the session carries the same values. Runs excluded by QC do not count (HRV
    from the same minutes as the connectivity), except in the rows of excluded runs
    (``include_excluded``), which get the summary over all the session's runs. A session
    without usable physiology has NaN. The ``hrv`` role is the phenotype's when the
    phenotype has any HRV value; otherwise it is filled with ``scan_hrv`` (docs/physio.md).
    """
    from neurokit.connectivity import COV_PREFIX, EDGE_PREFIX, fisher_z, vectorize

    records = completed_runs(output_dir)
    if not records:
        raise GroupError(
            f"{output_dir} has no completed participant-level runs; run "
            f"`neurokit BIDS_DIR {output_dir} participant` first."
        )
    strategy = strategy or config.modelled_strategy
    records = _records_for(select_records(records, config, output_dir), strategy)
    measure = measure or config.models.measure
    physio = _session_physio(records, config.models.scan_hrv)
    rows, excluded = [], []
    for record in records:
        ok = record.get("status") == "ok"
        if not ok:
            excluded.append({"run_id": record["run_id"], "reason": "; ".join(record.get("reasons", [])) or "excluded"})
            if not include_excluded:
                continue
        qc = _read_qc(record, strategy)
        values, edges, prefix = [], [], EDGE_PREFIX
        if ok or _has_relmat(record, measure):  # an excluded run may have no matrix (too few volumes)
            matrix_table = pd.read_csv(_relmat_path(record, measure), sep="\t")
            names = list(matrix_table.columns)
            matrix = matrix_table.to_numpy(dtype=float)
            if measure == "tangent":
                values, edges = vectorize(matrix, names, include_diagonal=True)
                prefix = COV_PREFIX
            else:
                values, edges = vectorize(fisher_z(matrix), names)
        ent = record["entities"]
        row = {
            "participant_id": f"sub-{ent['sub']}",
            "session_id": f"ses-{ent['ses']}" if "ses" in ent else None,
            "run_id": record["run_id"],
            "mean_fd": qc.mean_fd,
            "max_fd": qc.max_fd,
            "percent_censored": qc.percent_censored,
            "tdof_remaining": qc.tdof_remaining,
            **physio[(_session_key(record), ok)],
            **record.get("summary", {}),
            **{prefix + e: v for e, v in zip(edges, values)},
        }
        if include_excluded:
            row["qc_excluded"] = not ok
        rows.append(row)
    if not any(r.get("status") == "ok" for r in records):
        raise GroupError(
            f"every completed run in {output_dir} was excluded by the QC rules under the {strategy!r} strategy "
            "(see failures.tsv); "
            "relax exclusion.max_mean_fd / exclusion.max_censored_fraction or add data."
        )
    features = pd.DataFrame(rows)
    edge_cols = [c for c in features.columns if c.startswith((EDGE_PREFIX, COV_PREFIX))]
    kept = ~features["qc_excluded"] if include_excluded else slice(None)
    # only the included runs decide which edges are complete: an excluded run must not change the models
    incomplete = [c for c in edge_cols if features.loc[kept, c].isna().any()]
    if incomplete:
        log.warning("%d edge(s) missing in some runs (regions dropped for low coverage) are left out", len(incomplete))
        features = features.drop(columns=incomplete)
    features.attrs["dropped_edges"] = incomplete
    networks, features.attrs["atlas"] = _from_sidecars(records, measure)

    refs = [RunRef(r, p.removeprefix("sub-"), s.removeprefix("ses-") if isinstance(s, str) else None)
            for r, p, s in zip(features["run_id"], features["participant_id"], features["session_id"])]
    if phenotype is not None:
        pheno = phenotype_for_runs(phenotype, refs)
        unmatched = pheno.attrs.get("unmatched_runs", [])
        if unmatched:
            log.warning("%d run(s) have no phenotype row: %s", len(unmatched), ", ".join(unmatched[:5]))
        pheno = pheno.drop(columns=["participant_id", "session_id"])
        attrs = dict(features.attrs)  # merge does not carry attrs (dropped_edges) over
        features = features.merge(pheno, on="run_id", how="left", suffixes=("", "_phenotype"))
        features.attrs.update(attrs)
        front = ["participant_id", "session_id", "run_id"]
        roles = [c for c in pheno.columns if c != "run_id"]
        rest = [c for c in features.columns if c not in front and c not in roles]
        features = features[front + roles + rest]
        features.attrs["unmatched_runs"] = unmatched
    _hrv_role(features, phenotype, config.models.scan_hrv)
    features.attrs["strategy"] = strategy
    return features, pd.DataFrame(excluded, columns=["run_id", "reason"]), networks


def select_records(records: list[dict], config: Config, output_dir: str | Path) -> list[dict]:
    """Runs of the configured task/space/resolution; refuse to mix kinds of runs in one model.

    Parameters
    ----------
    records : list of dict
        Completion records (:func:`neurokit.io.completed_runs`).
    config : Config
        ``inputs.task``, ``inputs.space`` and ``inputs.res`` choose the runs (None: any).
    output_dir : str or Path
        The participant-level derivative dataset, named in the errors.

    Returns
    -------
    list of dict
        The chosen records, in their order.

    Raises
    ------
    GroupError
        When the chosen runs are of several kinds, or none is left.
    """
    wanted = {"task": config.inputs.task, "space": config.inputs.space, "res": config.inputs.res}
    chosen = [r for r in records
              if all(v is None or r["entities"].get(k) == v for k, v in wanted.items())]
    kinds = sorted({tuple(r["entities"].get(k) or "-" for k in ("task", "space", "res")) for r in chosen})
    if len(kinds) > 1:
        listed = ", ".join(f"task-{t} space-{s} res-{r}" for t, s, r in kinds)
        raise GroupError(
            f"{output_dir} holds runs of different kinds ({listed}); connectivity from different tasks, "
            "spaces or resolutions cannot share one model: choose one with --task / --space or "
            "inputs.task / inputs.space / inputs.res in the configuration."
        )
    if not chosen:
        raise GroupError(
            f"{output_dir} has no completed run with task={config.inputs.task!r}, space={config.inputs.space!r}, "
            f"res={config.inputs.res!r}; check --task / --space or the inputs section of the configuration."
        )
    return chosen


def _from_sidecars(records: list[dict], measure: str) -> tuple[dict[str, str], str]:
    """Region name -> network, and the atlas name the participant level resolved and recorded."""
    networks: dict[str, str] = {}
    atlases: set[str] = set()
    for record in records:
        if record.get("status") != "ok":
            continue
        sidecar = json.loads(_relmat_path(record, measure).with_suffix(".json").read_text())
        networks.update(zip(sidecar["Regions"], sidecar["Networks"]))
        atlases.add(sidecar["Atlas"])
    if len(atlases) != 1:
        raise GroupError(
            f"the runs' matrices were computed with the atlases {sorted(atlases)}; one model needs one atlas: "
            "rerun the participant level with --overwrite and one atlas."
        )
    return networks, atlases.pop()


def _session_key(record: dict) -> tuple[str, str | None]:
    ent = record["entities"]
    return ent["sub"], ent.get("ses")


def _read_physio_row(record: dict) -> dict | None:
    """The run's ``desc-physio_metrics.tsv`` row; None without one (older run, physio disabled, unreadable)."""
    path = record.get("outputs", {}).get("physio")
    if not path:
        return None
    try:
        table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)
    except (OSError, ValueError) as err:
        log.warning("run %s: its physiology %s cannot be read (%s); its session's scan HRV leaves it out",
                    record["run_id"], path, err)
        return None
    if len(table) != 1 or "usable" not in table.columns:
        log.warning("run %s: %s has %d rows and %s 'usable' column, not one row of "
                    "neurokit.io.write_physio; its session's scan HRV leaves it out (rerun the participant level "
                    "with --overwrite for this run)", record["run_id"], path, len(table),
                    "a" if "usable" in table.columns else "no")
        return None
    row = table.iloc[0].to_dict()
    for name in MEASURES:
        if name not in ("usable", "reason"):  # a hand-edited value that is not a number counts as not measured
            row[name] = pd.to_numeric(pd.Series([row.get(name)]), errors="coerce").iloc[0]
    return row


def _summarise(rows: list[dict], scan_hrv: str) -> dict[str, float]:
    """The scan columns of a session from its runs' physiology rows (NaN everywhere when there are none)."""
    from neurokit.physio import session_summary

    out = {column: math.nan for column in SCAN_COLUMNS}
    out["scan_hrv"] = math.nan
    if not rows:
        return out
    summary = session_summary(rows)
    for column, (key, _, _) in SCAN_COLUMNS.items():
        out[column] = float(summary[key])
    if summary["n_usable"] == 0:
        out["scan_physio_duration"] = math.nan  # nothing usable: no duration to report, the count says 0
    if scan_hrv == "log_rmssd":
        # the weighted mean of the runs' logs, as session_summary does for log_hf_power
        logs = [{**r, "rmssd": math.log(float(r["rmssd"])) if _positive(r.get("rmssd")) else math.nan} for r in rows]
        out["scan_hrv"] = float(session_summary(logs)["rmssd"])
    else:
        out["scan_hrv"] = float(summary[scan_hrv])
    return out


def _positive(value) -> bool:
    try:
        return math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        return False


def _session_physio(records: list[dict], scan_hrv: str) -> dict:
    """``{((sub, ses), included): scan columns}``: included rows over the included runs, excluded rows over all."""
    by_session: dict = {}
    for record in records:
        by_session.setdefault(_session_key(record), []).append(record)
    out = {}
    for key, runs in by_session.items():
        rows = {r["run_id"]: _read_physio_row(r) for r in runs}
        included = [rows[r["run_id"]] for r in runs if r.get("status") == "ok" and rows[r["run_id"]] is not None]
        every = [row for row in rows.values() if row is not None]
        out[(key, True)] = _summarise(included, scan_hrv)
        out[(key, False)] = _summarise(every, scan_hrv)
    return out


def _hrv_role(features: pd.DataFrame, phenotype: pd.DataFrame | None, scan_hrv: str) -> None:
    """Fill the ``hrv`` role from ``scan_hrv`` when the phenotype has no HRV; record where each came from."""
    measured = bool(features["scan_hrv"].notna().any())
    has_phenotype = phenotype is not None and "hrv" in phenotype.columns and bool(
        pd.to_numeric(phenotype["hrv"], errors="coerce").notna().any())
    if has_phenotype:
        hrv = "phenotype"
    elif measured:
        # per column, never per row: one feature must mean one measure in one unit
        features["hrv"] = features["scan_hrv"]
        hrv = f"scan:{scan_hrv}"
    else:
        hrv = "none"
    unit, description = SCAN_HRV_MEASURES[scan_hrv]
    source = {"hrv": hrv, "scan_hrv": f"scan:{scan_hrv}"}
    features.attrs["hrv_source"] = source
    columns = {c: {"Description": d + " (neurokit.physio.session_summary, weighted by usable duration).",
                   "Units": u} for c, (_, u, d) in SCAN_COLUMNS.items()}
    columns["scan_hrv"] = {"Description": f"{description}: the models.scan_hrv measure ({scan_hrv}).", "Units": unit}
    features.attrs["sidecar"] = {
        "HRVSource": {
            **source,
            "Description": "Where the 'hrv' role and 'scan_hrv' come from, for every row: 'phenotype' (the "
                           "phenotype's own HRV, kept as is; the scan measure is the separate column scan_hrv), "
                           "'scan:<measure>' (filled from the scan because the phenotype has no HRV value) or "
                           "'none'. Scan values are per participant-session, over the session's runs included "
                           "by QC (docs/physio.md).",
        },
        "ScanPhysiology": columns,
    }
