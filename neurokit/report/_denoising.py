"""The group report's "Denoising benchmark" section: the study's strategies side by side.

Reads ``group/denoising_benchmark.tsv`` (written by the group level); says which strategy the
models used and why, and flags another strategy that is clearly better on QC-FC at a similar
cost in temporal degrees of freedom.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from neurokit.report import _figures as F
from neurokit.report._common import Figure, Note, Section, Table, Text, fmt, read_json, read_tsv

__all__ = ["denoising_section", "plot_denoising_benchmark"]

#: (column, axis label) of the figure's panels: lower is better for the first two, nearer 0 for the third.
_PANELS = (
    ("qcfc_percent_significant", "% edges with QC-FC p < 0.05"),
    ("qcfc_median_abs", "median |QC-FC|"),
    ("qcfc_distance_rho", "QC-FC distance dependence (rho)"),
    ("tdof_lost_mean", "tDOF lost, censored volumes included (mean per run)"),
)
#: A strategy is "clearly better" on QC-FC with at least this many percentage points fewer significant edges ...
BETTER_POINTS = 10.0
#: ... and "at a similar cost" when it keeps at least this fraction of the modelled strategy's tDOF and runs.
SIMILAR_COST = 0.9


def plot_denoising_benchmark(table: pd.DataFrame, modelled: str):
    """Strategies side by side on QC-FC, its distance dependence and tDOF lost.

    Parameters
    ----------
    table : pandas.DataFrame, shape (n_strategies, n_columns)
        ``group/denoising_benchmark.tsv`` (columns of :data:`neurokit.qc.BENCHMARK_COLUMNS`).
    modelled : str
        The strategy the models used, drawn in colour.

    Returns
    -------
    matplotlib.figure.Figure
    """
    strategies = table["strategy"].astype(str).tolist()
    y = np.arange(len(strategies))
    colors = ["#d62728" if s == modelled else "#4c72b0" for s in strategies]
    fig, axes = F._figure(2.4 * len(_PANELS), 0.9 + 0.32 * len(strategies), ncols=len(_PANELS), sharey=True)
    for ax, (column, label) in zip(np.atleast_1d(axes), _PANELS):
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(float)
        ax.barh(y, np.nan_to_num(values), color=colors)
        for k, v in enumerate(values):
            if not np.isfinite(v):
                ax.text(0, k, " n/a", va="center", fontsize=7, color="#555")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_yticks(y, strategies)
    axes[0].invert_yaxis()
    return fig


def _clearly_better(table: pd.DataFrame, modelled: str) -> list[str]:
    """Sentences naming strategies with clearly fewer motion-related edges at a similar tDOF and run cost."""
    rows = table.set_index(table["strategy"].astype(str))
    if modelled not in rows.index:
        return []
    base = rows.loc[modelled]
    found = []
    for name, row in rows.iterrows():
        if name == modelled:
            continue
        fewer = base["qcfc_percent_significant"] - row["qcfc_percent_significant"]
        cost_ok = (row["tdof_remaining_mean"] >= SIMILAR_COST * base["tdof_remaining_mean"]
                   and row["n_runs"] >= SIMILAR_COST * base["n_runs"])
        if np.isfinite(fewer) and fewer >= BETTER_POINTS and row["qcfc_median_abs"] <= base["qcfc_median_abs"] \
                and bool(cost_ok):
            found.append(
                f"'{name}' has {fmt(row['qcfc_percent_significant'])}% of edges related to motion (QC-FC p < 0.05) "
                f"against {fmt(base['qcfc_percent_significant'])}% for the modelled '{modelled}', keeps "
                f"{fmt(row['tdof_remaining_mean'])} temporal degrees of freedom per run on average (against "
                f"{fmt(base['tdof_remaining_mean'])}) and {int(row['n_runs'])} usable runs (against "
                f"{int(base['n_runs'])}): consider modelling it (models.strategy)."
            )
    return found


def denoising_section(group_dir: Path, config) -> Section:
    """The "Denoising benchmark" section from ``group_dir/denoising_benchmark.tsv`` and its sidecar."""
    title = "Denoising benchmark"
    table = read_tsv(group_dir / "denoising_benchmark.tsv")
    if table is None or table.empty:
        return Section("denoising", title, [Note("group/denoising_benchmark.tsv does not exist yet; run the group "
                                                 "level.", "warn")])
    meta = read_json(group_dir / "denoising_benchmark.json") or {}
    modelled = str(meta.get("ModelledStrategy") or config.modelled_strategy)
    reason = meta.get("ModelledStrategyReason") or "the configuration"
    covariates = meta.get("QCFCCovariates") or []
    blocks: list = [Text([
        f"Each denoising strategy listed in denoise.strategy cleaned the same extracted region signals. QC-FC is "
        f"the correlation across usable runs between each edge's Fisher z and the run's mean framewise "
        f"displacement ({'partial, controlling for ' + ' and '.join(covariates) if covariates else 'no covariates'};"
        f" {fmt(meta.get('NumberOfEdges'))} edges): fewer significant edges and a smaller median |QC-FC| mean less "
        "residual motion, and a distance dependence near 0 means motion does not inflate short-range connections "
        "(Ciric et al. 2017; Parkes et al. 2018; Wang et al. 2024). Network contrast is the mean within-network "
        "minus between-network Fisher z of the mean matrix (higher: networks stand out more).",
        f"The models used '{modelled}', chosen by {reason}.",
    ])]
    if len(table) == 1:
        blocks.append(Note("Only one strategy is configured; list several in denoise.strategy (e.g. [simple, "
                           "scrubbing+gsr]) to compare them here: region signals are extracted once per run, so "
                           "each extra strategy costs little."))
    for sentence in _clearly_better(table, modelled):
        blocks.append(Note(sentence, "warn"))
    limit = meta.get("MinTDOF")
    rows, classes = [], []
    for r in table.itertuples(index=False):
        name = str(r.strategy)
        rows.append([name + (" (modelled)" if name == modelled else ""), fmt(r.n_runs),
                     fmt(r.qcfc_percent_significant), fmt(r.qcfc_median_abs), fmt(r.qcfc_distance_rho),
                     fmt(r.tdof_lost_mean), f"{fmt(r.tdof_remaining_mean)} / {fmt(r.tdof_remaining_min)}",
                     fmt(r.n_runs_below_min_tdof) if limit is not None else "no limit", fmt(r.network_contrast),
                     "" if pd.isna(r.note) else str(r.note)])
        classes.append("ok" if name == modelled else "")
    blocks.append(Table(
        ["strategy", "usable runs", "% edges QC-FC p < 0.05", "median |QC-FC|", "distance dependence (rho)",
         "tDOF lost incl. censored (mean)", "tDOF left (mean / min)",
         f"runs below min_tdof ({limit})" if limit is not None else "runs below min_tdof", "network contrast",
         "note"], rows, row_classes=classes,
        caption="Per strategy, over its usable runs (QC-FC, network contrast) or all processed runs (tDOF)."))
    blocks.append(Figure(F.to_data_uri(plot_denoising_benchmark(table, modelled)),
                         "Denoising strategies side by side",
                         f"QC-FC, its distance dependence and tDOF lost per strategy; red: the modelled '{modelled}'."))
    return Section("denoising", title, blocks)
