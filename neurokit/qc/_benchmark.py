"""Denoising benchmark on a study's own runs: one row of QC metrics per denoising strategy.

The metrics of Ciric et al. 2017, Parkes et al. 2018 and Wang et al. 2024
(fmriprep-denoise-benchmark): QC-FC, its distance dependence, the loss of temporal
degrees of freedom and, where the atlas labels networks, how well they stand out.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from neurokit.qc._qcfc import qc_fc, qc_fc_distance_dependence, qc_fc_summary
from neurokit.qc._validation import QCError

__all__ = ["BENCHMARK_COLUMNS", "denoising_benchmark", "network_contrast"]

#: Columns of :func:`denoising_benchmark`'s table, with what each means (the sidecar's descriptions).
BENCHMARK_COLUMNS = {
    "strategy": "Denoising strategy.",
    "n_runs": "Runs usable under this strategy (not excluded by the QC rules); the QC-FC metrics use them.",
    "qcfc_percent_significant": "QC-FC: percentage of edges whose correlation with mean FD across runs has "
                                "p < 0.05 (uncorrected; partial correlation controlling for the covariates listed).",
    "qcfc_median_abs": "QC-FC: median over edges of |correlation with mean FD| across runs.",
    "qcfc_distance_rho": "QC-FC distance dependence: Spearman correlation of edges' QC-FC with the distance "
                         "between their region centres (mm); near 0 is best, negative is the motion signature.",
    "tdof_lost_mean": "Temporal degrees of freedom lost per run: confound regressors, detrending and filter, "
                      "plus the censored volumes (non-steady-state included); mean over processed runs.",
    "tdof_remaining_mean": "Temporal degrees of freedom left per run, mean over processed runs.",
    "tdof_remaining_min": "Fewest temporal degrees of freedom left in any processed run.",
    "n_runs_below_min_tdof": "Processed runs with fewer degrees of freedom left than exclusion.min_tdof "
                             "(empty when no limit is set).",
    "network_contrast": "Network identifiability: mean Fisher z of within-network edges minus that of edges "
                        "between two labelled networks, on the mean over usable runs ('other' regions left out).",
    "note": "Why a metric is missing, if one is.",
}


def network_contrast(mean_edges, network_pairs) -> float:
    """Mean within-network minus mean between-network connectivity.

    Parameters
    ----------
    mean_edges : array-like of shape (n_edges,)
        Group-mean Fisher z of each edge.
    network_pairs : sequence of str of length n_edges
        Network pair of each edge, ``"<a>-<b>"`` as from
        :func:`neurokit.connectivity.edge_networks`. Edges touching an ``other``
        region belong to no network and are left out.

    Returns
    -------
    float
        ``mean(z[within]) - mean(z[between])``, where within means both regions in the same
        labelled network and between means two different labelled networks.

    Raises
    ------
    QCError
        Mismatched lengths, non-finite values, or no within- or no between-network edge.
    """
    z = np.asarray(mean_edges, dtype=float)
    pairs = [str(p).split("-", 1) for p in network_pairs]
    if z.ndim != 1 or z.shape[0] != len(pairs):
        raise QCError(f"'mean_edges' must be 1D with one value per network pair ({len(pairs)}); got shape {z.shape}.")
    if not np.isfinite(z).all():
        raise QCError("'mean_edges' must be finite.")
    labelled = np.array([len(p) == 2 and "other" not in p for p in pairs], dtype=bool)
    same = np.array([len(p) == 2 and p[0] == p[1] for p in pairs], dtype=bool)
    within, between = z[labelled & same], z[labelled & ~same]
    if not within.size or not between.size:
        raise QCError(
            f"'network_pairs' has {within.size} within-network and {between.size} between-network edge(s) among "
            "labelled networks; both are needed (an atlas without network labels has neither)."
        )
    return float(within.mean() - between.mean())


def _covariates_for(covariates, strategy):
    if covariates is None or covariates.get(strategy) is None:
        return None
    cov = np.asarray(covariates[strategy], dtype=float)
    cov = cov[:, None] if cov.ndim == 1 else cov
    return cov if cov.shape[1] else None


def denoising_benchmark(
    edges: Mapping[str, np.ndarray],
    mean_fd: Mapping[str, np.ndarray],
    *,
    tdof_lost: Mapping[str, np.ndarray],
    tdof_remaining: Mapping[str, np.ndarray],
    n_censored: Mapping[str, np.ndarray],
    covariates: Mapping[str, np.ndarray] | None = None,
    distances: np.ndarray | None = None,
    network_pairs: Sequence[str] | None = None,
    min_tdof: int | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Compare denoising strategies on the same runs: QC-FC, distance dependence, tDOF, networks.

    Parameters
    ----------
    edges : mapping of str to array-like of shape (n_runs_s, n_edges)
        Per strategy, the Fisher-z edges of its usable runs (one row per run); every
        strategy has the same ``n_edges`` columns in the same order.
    mean_fd : mapping of str to array-like of shape (n_runs_s,)
        Per strategy, the mean framewise displacement (mm) of the same runs.
    tdof_lost, tdof_remaining : mapping of str to array-like of shape (n_processed_s,)
        Per strategy, temporal degrees of freedom lost to regressors, detrending and the
        filter (:attr:`neurokit.denoise.Cleaned.tdof_lost`) and left, in every processed run
        (included or excluded; NaN for a run that could not be cleaned is ignored).
    n_censored : mapping of str to array-like of shape (n_processed_s,)
        Per strategy, the volumes censored in the same runs (non-steady-state included).
        A censored volume is a degree of freedom lost too (Ciric et al. 2017; Wang et al.
        2024), so ``tdof_lost_mean`` counts them: without them a scrubbing strategy looks
        as cheap as one that censors nothing.
    covariates : mapping of str to array-like of shape (n_runs_s, n_covariates), optional
        Numeric covariates (e.g. age, sex coded 0/1) of the usable runs; QC-FC is then the
        partial correlation controlling for them.
    distances : array-like of shape (n_edges,), optional
        Distance between each edge's region centres (mm), for the distance dependence.
    network_pairs : sequence of str of length n_edges, optional
        Network pair of each edge (see :func:`network_contrast`).
    min_tdof : int, optional
        ``exclusion.min_tdof``: count the processed runs left with fewer degrees of freedom.
    alpha : float, default=0.05
        QC-FC significance level (uncorrected).

    Returns
    -------
    pandas.DataFrame, shape (n_strategies, len(BENCHMARK_COLUMNS))
        One row per strategy, in the order of ``tdof_lost``; columns :data:`BENCHMARK_COLUMNS`.
        A metric that cannot be computed (e.g. too few runs for QC-FC) is NaN and ``note``
        says why.

    Raises
    ------
    QCError
        When the strategies' edge tables have different numbers of edges, ``distances``
        or ``network_pairs`` do not match them, or ``n_censored`` does not match ``tdof_lost``.
    """
    widths = {np.shape(e)[1] for e in edges.values() if np.ndim(e) == 2 and np.shape(e)[0]}
    if len(widths) > 1:
        raise QCError(f"'edges' must have the same edges for every strategy; got widths {sorted(widths)}.")
    n_edges = widths.pop() if widths else None
    for name, value in (("distances", distances), ("network_pairs", network_pairs)):
        if value is not None and n_edges is not None and len(value) != n_edges:
            raise QCError(f"'{name}' must have one entry per edge ({n_edges}); got {len(value)}.")
    rows = []
    for strategy in tdof_lost:
        lost = np.asarray(tdof_lost[strategy], dtype=float)
        censored = np.asarray(n_censored[strategy], dtype=float) if strategy in n_censored else None
        if censored is None or censored.shape != lost.shape:
            raise QCError(
                f"'n_censored' must give the censored volumes of every processed run of strategy {strategy!r} "
                f"({lost.shape[0]} runs, as in 'tdof_lost'); got "
                f"{'none' if censored is None else f'{censored.shape[0]} values'}."
            )
        lost = lost + censored
        left = np.asarray(tdof_remaining[strategy], dtype=float)
        x = np.asarray(edges.get(strategy, np.empty((0, n_edges or 0))), dtype=float)
        fd = np.asarray(mean_fd.get(strategy, np.empty(0)), dtype=float)
        row = {key: np.nan for key in BENCHMARK_COLUMNS}
        notes = []
        row.update(strategy=strategy, n_runs=int(x.shape[0]),
                   tdof_lost_mean=float(np.nanmean(lost)) if np.isfinite(lost).any() else np.nan,
                   tdof_remaining_mean=float(np.nanmean(left)) if np.isfinite(left).any() else np.nan,
                   tdof_remaining_min=float(np.nanmin(left)) if np.isfinite(left).any() else np.nan,
                   n_runs_below_min_tdof=None if min_tdof is None else int(np.sum(left[np.isfinite(left)] < min_tdof)),
                   note="")
        try:
            qcfc, p = qc_fc(x, fd, _covariates_for(covariates, strategy), return_pvalues=True)
            summary = qc_fc_summary(qcfc, p, alpha=alpha)
            row.update(qcfc_percent_significant=summary["percent_significant"],
                       qcfc_median_abs=summary["median_abs_qcfc"])
            if distances is not None:
                row["qcfc_distance_rho"] = qc_fc_distance_dependence(qcfc, distances)
        except QCError as exc:
            notes.append(f"QC-FC: {exc}")
        if network_pairs is not None and x.shape[0]:
            try:
                row["network_contrast"] = network_contrast(x.mean(axis=0), network_pairs)
            except QCError as exc:
                notes.append(f"networks: {exc}")
        row["note"] = " ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(BENCHMARK_COLUMNS))
