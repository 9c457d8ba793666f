"""Report figures: each is a function of arrays that returns a matplotlib Figure.

The assemblers (``_participant.py``, ``_group.py``) only arrange them; :func:`to_data_uri`
turns a figure into the base64 PNG the HTML embeds.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # reports are written on headless machines; never open a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

__all__ = [
    "NETWORK_ORDER",
    "NETWORK_COLORS",
    "to_data_uri",
    "network_order",
    "plot_motion",
    "plot_carpet",
    "plot_atlas_overlay",
    "plot_coverage",
    "plot_matrix",
    "plot_matrices",
    "plot_indices_vs_group",
    "plot_inclusion_flow",
    "plot_motion_distributions",
    "plot_qcfc",
    "plot_roc",
    "plot_confusion",
    "plot_predicted_observed",
    "plot_null",
    "plot_pattern_connectome",
    "plot_pattern_bars",
    "plot_coefficients",
]

#: Networks in the order matrices and carpets are drawn.
NETWORK_ORDER = ("prefrontal", "limbic", "other")
NETWORK_COLORS = {"prefrontal": "#1f77b4", "limbic": "#d62728", "other": "#7f7f7f"}
_DPI = 90


def to_data_uri(fig: Figure, *, dpi: int = _DPI) -> str:
    """Render a figure to a ``data:image/png;base64,...`` URI and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int, default=72
        Modest resolution keeps a report of a dozen figures well under a megabyte.

    Returns
    -------
    str
    """
    buffer = io.BytesIO()
    # constrained-layout figures are already trimmed; a second (tight) layout pass only costs time
    tight = None if fig.get_layout_engine() is not None else "tight"
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches=tight, metadata={"Software": None})
    plt.close(fig)  # a no-op for bare Figures; closes any pyplot figure a caller passes
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def network_order(networks) -> np.ndarray:
    """Indices that sort regions by network (prefrontal, limbic, other), stable within a network.

    Parameters
    ----------
    networks : sequence of str, length n_regions

    Returns
    -------
    ndarray of int, shape (n_regions,)
    """
    rank = {n: i for i, n in enumerate(NETWORK_ORDER)}
    keys = [rank.get(str(n), len(rank)) for n in networks]
    return np.argsort(keys, kind="stable")


def _figure(width: float, height: float, **kwargs) -> tuple[Figure, object]:
    # a bare Figure, not pyplot: no global figure registry, so figures can be drawn in threads
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(**kwargs)


def plot_motion(fd, dvars, *, fd_threshold=None, dvars_threshold=None, censored=(), non_steady=(), t_r=None,
                dvars_label="std DVARS"):
    """Framewise displacement and DVARS over time, with thresholds and censored volumes marked.

    Parameters
    ----------
    fd : array-like of shape (n_volumes,) or None
        Framewise displacement (mm); NaN (the first volume) is drawn as a gap.
    dvars : array-like of shape (n_volumes,) or None
    fd_threshold, dvars_threshold : float, optional
        Drawn as dashed lines.
    censored : sequence of int
        Volume indices removed by censoring (shaded).
    non_steady : sequence of int
        Non-steady-state volumes (shaded differently).
    t_r : float, optional
        Adds a seconds axis label when given.
    dvars_label : str
        Axis label of the DVARS panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    series = [(fd, "FD (mm)", fd_threshold), (dvars, dvars_label, dvars_threshold)]
    series = [s for s in series if s[0] is not None]
    fig, axes = _figure(9, 1.5 * max(len(series), 1) + 0.4, nrows=max(len(series), 1), sharex=True, squeeze=False)
    axes = axes[:, 0]
    if not series:
        axes[0].text(0.5, 0.5, "no FD or DVARS column in the confounds", ha="center", va="center")
        axes[0].set_axis_off()
        return fig
    for ax, (values, label, threshold) in zip(axes, series):
        values = np.asarray(values, dtype=float)
        for i in censored:
            ax.axvspan(i - 0.5, i + 0.5, color="#f4a582", lw=0, alpha=0.7)
        for i in non_steady:
            ax.axvspan(i - 0.5, i + 0.5, color="#bababa", lw=0, alpha=0.7)
        ax.plot(np.arange(values.size), values, color="k", lw=0.8)
        if threshold is not None:
            ax.axhline(threshold, color="#b2182b", ls="--", lw=1, label=f"threshold {threshold:g}")
            ax.legend(loc="upper right", fontsize=7, frameon=False)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.margins(x=0)
    xlabel = "volume" + (f" (TR = {t_r:g} s)" if t_r else "")
    axes[-1].set_xlabel(xlabel + "; shaded: censored" + (", grey: non-steady-state" if len(non_steady) else ""),
                        fontsize=8)
    return fig


def _zscore(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    sd = np.nanstd(x, axis=0)
    sd[~np.isfinite(sd) | (sd == 0)] = 1.0
    return (x - np.nanmean(x, axis=0)) / sd


def plot_carpet(raw, cleaned, networks, *, sample_mask=None):
    """Carpet plots of region signals before and after denoising, regions grouped by network.

    Parameters
    ----------
    raw : array-like of shape (n_volumes, n_regions)
        Signals before denoising.
    cleaned : array-like of shape (n_kept, n_regions) or None
        Signals after denoising (censored volumes removed).
    networks : sequence of str, length n_regions
    sample_mask : sequence of int, optional
        Volume indices of ``cleaned``'s rows; censored volumes are drawn blank.

    Returns
    -------
    matplotlib.figure.Figure
    """
    raw = np.asarray(raw, dtype=float)
    order = network_order(networks)
    panels = [("before denoising", _zscore(raw))]
    if cleaned is not None:
        full = np.full_like(raw, np.nan)
        rows = np.arange(raw.shape[0]) if sample_mask is None else np.asarray(sample_mask, dtype=int)
        full[rows] = _zscore(cleaned)
        panels.append(("after denoising (blank: censored)", full))
    fig, axes = _figure(9, 1.9 * len(panels) + 0.3, nrows=len(panels), sharex=True, squeeze=False)
    sorted_nets = [str(networks[i]) for i in order]
    for ax, (title, data) in zip(axes[:, 0], panels):
        image = np.ma.masked_invalid(data[:, order].T)
        ax.imshow(image, aspect="auto", cmap="gray", vmin=-2.5, vmax=2.5, interpolation="nearest")
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_yticks([])
        start = 0
        for net in NETWORK_ORDER:
            count = sorted_nets.count(net)
            if count:
                ax.add_patch(Rectangle((-0.5 - raw.shape[0] * 0.012, start - 0.5), raw.shape[0] * 0.012, count,
                                       color=NETWORK_COLORS[net], clip_on=False))
                ax.axhline(start - 0.5, color="w", lw=0.5)
                start += count
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("volume (colour bar: prefrontal blue, limbic red, other grey; z-scored per region)",
                           fontsize=8)
    return fig


def plot_atlas_overlay(background, labels, affine, *, n_slices=6):
    """Atlas labels drawn over a background image on axial slices, to check alignment.

    Drawn with plain matplotlib (one image for all slices), which is an order of magnitude
    faster than nilearn's ``plot_roi`` and looks the same for this purpose.

    Parameters
    ----------
    background : array-like of shape (i, j, k)
        The run's temporal mean (or a template) on the run's grid.
    labels : array-like of int, shape (i, j, k)
        Region labels on the same grid (0 = background).
    affine : array-like of shape (4, 4)
        Voxel-to-mm affine of the grid; the slices are shown in RAS orientation,
        left hemisphere on the left.
    n_slices : int, default=6
        Axial slices, spread evenly over the slices that hold labels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import ListedColormap
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

    background = np.asarray(background, dtype=float)
    labels = np.asarray(labels)
    affine = np.asarray(affine, dtype=float)
    ornt = io_orientation(affine)
    bg = apply_orientation(background, ornt)
    lab = apply_orientation(labels, ornt)
    ras = affine @ inv_ornt_aff(ornt, background.shape)
    zooms = np.sqrt((ras[:3, :3] ** 2).sum(axis=0))
    ks = np.flatnonzero((lab > 0).any(axis=(0, 1)))
    if ks.size:
        picks = np.unique(np.round(np.linspace(ks.min(), ks.max(), n_slices + 2)[1:-1]).astype(int))
    else:
        picks = np.unique(np.linspace(0, bg.shape[2] - 1, n_slices + 2)[1:-1].astype(int))
    finite = bg[np.isfinite(bg) & (bg != 0)]
    lo, hi = (min(0.0, float(finite.min())), float(np.percentile(finite, 99.5))) if finite.size else (0.0, 1.0)
    gap = np.full((bg.shape[1], 2), np.nan)
    bg_tiles, lab_tiles = [], []
    for k in picks:
        bg_tiles += [bg[:, :, k].T, gap]
        lab_tiles += [lab[:, :, k].T.astype(float), gap]
    bg_row = np.hstack(bg_tiles[:-1])
    lab_row = np.hstack(lab_tiles[:-1])
    lab_row = np.ma.masked_where(~(lab_row > 0), (lab_row - 1) % 20)
    width = 9.0
    height = width * bg_row.shape[0] * zooms[1] / (bg_row.shape[1] * zooms[0]) + 0.1
    fig = Figure(figsize=(width, height), facecolor="black")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_facecolor("black")
    ax.imshow(np.ma.masked_invalid(bg_row), cmap="gray", vmin=lo, vmax=hi, origin="lower",
              interpolation="nearest", aspect=zooms[1] / zooms[0])
    ax.imshow(lab_row, cmap=ListedColormap(plt.get_cmap("tab20").colors), vmin=-0.5, vmax=19.5, alpha=0.6,
              origin="lower", interpolation="nearest", aspect=zooms[1] / zooms[0])
    step = bg.shape[0] + 2
    for n, k in enumerate(picks):
        z = (ras @ [0, 0, k, 1])[2]
        ax.text(n * step + 1, 1, f"z={z:.0f}", color="white", fontsize=8, va="bottom")
    ax.text(1, bg.shape[1] - 2, "L", color="white", fontsize=8, va="top")
    ax.text(bg.shape[0] - 2, bg.shape[1] - 2, "R", color="white", fontsize=8, va="top", ha="right")
    ax.set_axis_off()
    return fig


def plot_coverage(names, fractions, networks, *, threshold=None):
    """Fraction of each region's voxels inside the brain mask, as horizontal bars.

    Parameters
    ----------
    names : sequence of str, length n_regions
    fractions : array-like of shape (n_regions,)
        In [0, 1].
    networks : sequence of str, length n_regions
    threshold : float, optional
        Regions below are drawn hatched and the line is marked.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fractions = np.asarray(fractions, dtype=float)
    if len(names) > 60:  # one bar per region would be unreadable: a histogram instead
        fig, ax = _figure(3.8, 2.4)
        ax.hist(fractions[np.isfinite(fractions)], bins=20, range=(0, 1), color="#4c72b0")
        if threshold is not None:
            ax.axvline(threshold, color="k", ls="--", lw=0.8)
        ax.set_xlabel("fraction of region voxels inside the brain mask", fontsize=7)
        ax.set_ylabel("regions", fontsize=7)
        ax.tick_params(labelsize=7)
        return fig
    order = network_order(networks)[::-1]
    fig, ax = _figure(3.8, 0.12 * len(names) + 0.7)
    colors = [NETWORK_COLORS.get(str(networks[i]), "#7f7f7f") for i in order]
    bars = ax.barh(np.arange(len(order)), fractions[order], color=colors, height=0.75)
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=0.8)
        for bar, i in zip(bars, order):
            if fractions[i] < threshold:
                bar.set_hatch("///")
    ax.set_yticks(np.arange(len(order)), [str(names[i]) for i in order], fontsize=6)
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of region voxels inside the brain mask", fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    return fig


def _draw_matrix(ax, matrix, names, networks, *, vmax, cmap="RdBu_r", outline=True, labels=True):
    order = network_order(networks)
    m = np.asarray(matrix, dtype=float)[np.ix_(order, order)].copy()
    np.fill_diagonal(m, np.nan)
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
    nets = [str(networks[i]) for i in order]
    spans, start = {}, 0
    for net in NETWORK_ORDER + tuple(sorted(set(nets) - set(NETWORK_ORDER))):
        count = nets.count(net)
        if count:
            spans[net] = (start, count)
            start += count
    for start, _ in list(spans.values())[1:]:
        ax.axhline(start - 0.5, color="k", lw=0.4)
        ax.axvline(start - 0.5, color="k", lw=0.4)
    if outline and "prefrontal" in spans and "limbic" in spans:
        (p0, pn), (l0, ln) = spans["prefrontal"], spans["limbic"]
        for x0, w, y0, h in ((l0, ln, p0, pn), (p0, pn, l0, ln)):
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), w, h, fill=False, ec="#2ca02c", lw=2))
    if labels and len(order) <= 60:
        ticks = [str(names[i]) for i in order]
        ax.set_xticks(np.arange(len(order)), ticks, rotation=90, fontsize=5)
        ax.set_yticks(np.arange(len(order)), ticks, fontsize=5)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    return im


def plot_matrix(matrix, names, networks, *, title=None, vmax=1.0, label="r", outline=True):
    """A connectivity matrix ordered by network with the prefrontal-limbic blocks outlined.

    Parameters
    ----------
    matrix : array-like of shape (n_regions, n_regions)
    names, networks : sequence of str, length n_regions
    title : str, optional
    vmax : float, default=1.0
        Symmetric colour limit.
    label : str
        Colour bar label.
    outline : bool, default=True
        Outline the prefrontal-limbic blocks (green).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _figure(4.6, 4.2)
    im = _draw_matrix(ax, matrix, names, networks, vmax=vmax, outline=outline)
    fig.colorbar(im, ax=ax, shrink=0.7, label=label)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_matrices(matrices, names, networks, *, vmax=None, label="Fisher z", ncols=4):
    """Several matrices side by side with one shared colour scale.

    Parameters
    ----------
    matrices : mapping of str to array of shape (n_regions, n_regions)
        Title -> matrix.
    names, networks : sequence of str, length n_regions
    vmax : float, optional
        Symmetric colour limit; default: the 98th percentile of the absolute off-diagonal values.
    label : str
    ncols : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    items = list(matrices.items())
    if vmax is None:
        values = np.concatenate([np.abs(np.asarray(m, float)[~np.eye(len(names), dtype=bool)]) for _, m in items])
        values = values[np.isfinite(values)]
        vmax = float(np.percentile(values, 98)) if values.size else 1.0
        vmax = vmax or 1.0
    ncols = min(ncols, len(items))
    nrows = int(np.ceil(len(items) / ncols))
    fig, axes = _figure(2.6 * ncols + 0.6, 2.6 * nrows + 0.3, nrows=nrows, ncols=ncols, squeeze=False)
    im = None
    for ax, (title, m) in zip(axes.ravel(), items):
        im = _draw_matrix(ax, m, names, networks, vmax=vmax, labels=False)
        ax.set_title(title, fontsize=8)
    for ax in axes.ravel()[len(items):]:
        ax.set_axis_off()
    fig.colorbar(im, ax=axes, shrink=0.6, label=label)
    return fig


def plot_indices_vs_group(run_values, group_values, reference="group runs"):
    """A run's summary indices (red diamond) against the distribution over other runs.

    Parameters
    ----------
    run_values : mapping of str to float
        Index name -> this run's value (None: only the distribution is drawn).
    group_values : mapping of str to array-like
        Index name -> values of the runs compared with (e.g. all included runs).
    reference : str
        What ``group_values`` are, for the axis label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(run_values)
    fig, ax = _figure(5.5, 0.5 * len(names) + 0.8)
    rng = np.random.default_rng(0)  # jitter only; fixed so reports are reproducible
    for i, name in enumerate(names):
        g = np.asarray(group_values.get(name, []), dtype=float)
        g = g[np.isfinite(g)]
        if g.size:
            ax.boxplot([g], positions=[i], orientation="horizontal", widths=0.5, showfliers=False,
                       medianprops={"color": "k"})
            ax.scatter(g, i + rng.uniform(-0.15, 0.15, g.size), s=8, color="#999999", zorder=2)
        v = run_values[name]
        if v is not None and np.isfinite(v):
            ax.scatter([v], [i], marker="D", s=50, color="#d62728", zorder=3)
    ax.set_yticks(np.arange(len(names)), names, fontsize=8)
    shown = any(v is not None and np.isfinite(v) for v in run_values.values())
    ax.set_xlabel(f"Fisher z (grey: {reference}" + (", red: this run)" if shown else ")"), fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    return fig


def plot_inclusion_flow(steps):
    """Runs remaining at each step of the inclusion flow, as horizontal bars.

    Parameters
    ----------
    steps : sequence of (str, int)
        Label and count, from "found" to "included".

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _figure(6, 0.45 * len(steps) + 0.5)
    labels = [s[0] for s in steps][::-1]
    counts = [s[1] for s in steps][::-1]
    bars = ax.barh(np.arange(len(steps)), counts, color="#4c72b0")
    for bar, c in zip(bars, counts):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {c}", va="center", fontsize=8)
    ax.set_yticks(np.arange(len(steps)), labels, fontsize=8)
    ax.set_xlabel("runs", fontsize=8)
    ax.set_xlim(0, max(counts + [1]) * 1.15)
    ax.tick_params(axis="x", labelsize=7)
    return fig


def plot_motion_distributions(values, groupings, *, threshold=None, label="mean FD (mm)", orders=None):
    """Distributions of a motion measure per level of each grouping (e.g. stage, site).

    Parameters
    ----------
    values : array-like of shape (n_runs,)
    groupings : mapping of str to sequence of str, each length n_runs
        Panel title -> group label of each run (missing shown as "n/a").
    threshold : float, optional
        Exclusion limit, dashed.
    label : str
    orders : mapping of str to sequence of str, optional
        Panel title -> level order (e.g. the recovery stages); other levels follow.

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = np.asarray(values, dtype=float)
    items = list(groupings.items())
    orders = dict(orders or {})
    fig, axes = _figure(4.2 * len(items) + 0.2, 2.8, ncols=len(items), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (title, groups) in zip(axes[0], items):
        groups = np.array(["n/a" if g is None or (isinstance(g, float) and np.isnan(g)) else str(g) for g in groups])
        present = list(dict.fromkeys(groups))
        levels = [lv for lv in orders.get(title, ()) if lv in present]
        levels += sorted(lv for lv in present if lv not in levels)
        data = [values[(groups == lv) & np.isfinite(values)] for lv in levels]
        ax.boxplot(data, positions=np.arange(len(levels)), widths=0.5, showfliers=False, medianprops={"color": "k"})
        for i, d in enumerate(data):
            ax.scatter(i + rng.uniform(-0.15, 0.15, d.size), d, s=10, color="#4c72b0", alpha=0.7, zorder=2)
        if threshold is not None:
            ax.axhline(threshold, color="#b2182b", ls="--", lw=1)
        ax.set_xticks(np.arange(len(levels)), levels, rotation=20, fontsize=7)
        ax.set_title(f"by {title}", fontsize=9)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    return fig


def plot_qcfc(qcfc, distances=None, *, rho=None):
    """QC-FC distribution across edges and its dependence on inter-regional distance.

    Parameters
    ----------
    qcfc : array-like of shape (n_edges,)
    distances : array-like of shape (n_edges,), optional
        Euclidean distance (mm) between each edge's regions.
    rho : float, optional
        Spearman correlation of QC-FC with distance, shown in the title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    qcfc = np.asarray(qcfc, dtype=float)
    n = 2 if distances is not None else 1
    fig, axes = _figure(4.2 * n, 2.8, ncols=n, squeeze=False)
    ax = axes[0, 0]
    ax.hist(qcfc, bins=30, color="#4c72b0", range=(-1, 1))
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("QC-FC (r of edge with mean FD)", fontsize=8)
    ax.set_ylabel("edges", fontsize=8)
    ax.set_title(f"median |QC-FC| = {np.median(np.abs(qcfc)):.3f}", fontsize=9)
    if distances is not None:
        ax = axes[0, 1]
        ax.scatter(distances, qcfc, s=6, alpha=0.6, color="#4c72b0")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel("distance between regions (mm)", fontsize=8)
        ax.set_ylabel("QC-FC", fontsize=8)
        if rho is not None:
            ax.set_title(f"distance dependence: Spearman rho = {rho:.3f}", fontsize=9)
    for a in axes[0]:
        a.tick_params(labelsize=7)
    return fig


def plot_roc(y_true, proba, classes):
    """One-vs-rest ROC curves of out-of-fold class probabilities.

    Parameters
    ----------
    y_true : sequence of str, length n_rows
    proba : array-like of shape (n_rows, n_classes)
    classes : sequence of str, length n_classes

    Returns
    -------
    matplotlib.figure.Figure
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    y_true = np.asarray([str(y) for y in y_true])
    proba = np.asarray(proba, dtype=float)
    fig, ax = _figure(3.4, 3.2)
    shown = classes[1:] if len(classes) == 2 else classes
    for c in shown:
        j = list(classes).index(c)
        positive = y_true == str(c)
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, j])
        ax.plot(fpr, tpr, lw=1.2, label=f"{c} (AUC {roc_auc_score(positive, proba[:, j]):.2f})")
    ax.plot([0, 1], [0, 1], color="#999999", ls=":", lw=1)
    ax.set_xlabel("false positive rate", fontsize=8)
    ax.set_ylabel("true positive rate", fontsize=8)
    ax.legend(fontsize=6, loc="lower right", frameon=False)
    ax.tick_params(labelsize=7)
    ax.set_aspect("equal")
    return fig


def plot_confusion(matrix, labels):
    """Confusion matrix (rows: true class, columns: predicted), counts annotated.

    Parameters
    ----------
    matrix : array-like of shape (n_classes, n_classes)
    labels : sequence of str, length n_classes

    Returns
    -------
    matplotlib.figure.Figure
    """
    m = np.asarray(matrix, dtype=float)
    fig, ax = _figure(3.4, 3.2)
    ax.imshow(m, cmap="Blues", vmin=0)
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=8,
                color="w" if v > m.max() / 2 else "k")
    ax.set_xticks(np.arange(len(labels)), [str(x) for x in labels], rotation=30, fontsize=6, ha="right")
    ax.set_yticks(np.arange(len(labels)), [str(x) for x in labels], fontsize=6)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    return fig


def plot_predicted_observed(observed, predicted, *, label="severity"):
    """Out-of-fold predicted against observed values, with the identity line.

    Parameters
    ----------
    observed, predicted : array-like of shape (n_rows,)
    label : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    observed = np.asarray(observed, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    fig, ax = _figure(3.4, 3.2)
    ax.scatter(observed, predicted, s=12, color="#4c72b0", alpha=0.8)
    both = np.concatenate([observed, predicted])
    both = both[np.isfinite(both)]
    if both.size:
        lo, hi = both.min(), both.max()
        ax.plot([lo, hi], [lo, hi], color="#999999", ls=":", lw=1)
    ax.set_xlabel(f"observed {label}", fontsize=8)
    ax.set_ylabel(f"predicted {label} (out of fold)", fontsize=8)
    ax.tick_params(labelsize=7)
    return fig


def plot_null(null, observed, *, metric="score"):
    """Permutation null distribution with the observed score marked.

    Parameters
    ----------
    null : array-like of shape (n_permutations,)
    observed : float
    metric : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    fig, ax = _figure(3.6, 3.0)
    if null.size:
        ax.hist(null, bins=min(30, max(5, null.size // 3)), color="#bbbbbb", label="permutation null")
    if observed is not None and np.isfinite(observed):
        ax.axvline(observed, color="#d62728", lw=2, label=f"observed {observed:.3f}")
    ax.set_xlabel(metric, fontsize=8)
    ax.set_ylabel("permutations", fontsize=8)
    ax.legend(fontsize=6, frameon=False)
    ax.tick_params(labelsize=7)
    return fig


def plot_pattern_connectome(matrix, coords, *, title=None):
    """Pattern weights of the strongest edges drawn on a glass brain.

    Parameters
    ----------
    matrix : array-like of shape (n_regions, n_regions)
        Symmetric, zero where an edge is not shown.
    coords : array-like of shape (n_regions, 3)
        Region centres (mm).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from nilearn import plotting

    m = np.nan_to_num(np.asarray(matrix, dtype=float))
    vmax = float(np.abs(m).max()) or 1.0
    fig = Figure(figsize=(6.5, 2.4))
    plotting.plot_connectome(m, np.asarray(coords, dtype=float), figure=fig, display_mode="ortho", title=title,
                             edge_cmap="RdBu_r", edge_vmin=-vmax, edge_vmax=vmax, node_size=12, colorbar=True,
                             node_color="#444444")
    return fig


def plot_pattern_bars(names, values, errors=None, *, title=None):
    """Pattern weights of individual features as horizontal bars (for non-edge feature sets).

    Parameters
    ----------
    names : sequence of str, length n_features
    values : array-like of shape (n_features,)
    errors : array-like of shape (n_features,), optional
        Spread over cross-validation fits (drawn as error bars).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = np.asarray(values, dtype=float)
    fig, ax = _figure(4.6, 0.22 * len(names) + 0.9)
    y = np.arange(len(names))[::-1]
    ax.barh(y, values, xerr=None if errors is None else np.asarray(errors, dtype=float),
            color=["#d62728" if v > 0 else "#1f77b4" for v in values], error_kw={"lw": 0.8})
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, [str(n) for n in names], fontsize=6)
    ax.set_xlabel("pattern weight (mean over fits)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_coefficients(terms, coefs, ci_low, ci_high):
    """Fixed-effect estimates with 95% confidence intervals (forest plot).

    Parameters
    ----------
    terms : sequence of str, length n_terms
    coefs, ci_low, ci_high : array-like of shape (n_terms,)

    Returns
    -------
    matplotlib.figure.Figure
    """
    coefs = np.asarray(coefs, dtype=float)
    low = np.asarray(ci_low, dtype=float)
    high = np.asarray(ci_high, dtype=float)
    fig, ax = _figure(4.8, 0.35 * len(terms) + 0.9)
    y = np.arange(len(terms))[::-1]
    ax.errorbar(coefs, y, xerr=[coefs - low, high - coefs], fmt="o", color="#1f77b4", capsize=3)
    ax.axvline(0, color="k", lw=0.8, ls=":")
    ax.set_yticks(y, [str(t) for t in terms], fontsize=7)
    ax.set_xlabel("estimate (95% CI)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    return fig
