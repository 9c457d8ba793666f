"""Report figures: each is a function of arrays that returns a matplotlib Figure.

Figures are bare ``matplotlib.figure.Figure`` objects, never pyplot's: saving one to PNG uses
the Agg canvas without a global backend, so reports are drawn on headless machines (and in
threads) and importing neurokit never changes the backend of the program that imports it.

The assemblers (``_participant.py``, ``_group.py``) only arrange them; :func:`to_data_uri`
turns a figure into the base64 PNG the HTML embeds.
"""

from __future__ import annotations

import base64
import io
import sys

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from neurokit.atlases import NETWORKS

__all__ = [
    "NETWORK_COLORS",
    "to_data_uri",
    "network_order",
    "plot_motion",
    "plot_carpet",
    "plot_atlas_overlay",
    "plot_region_quality",
    "label_px",
    "matrix_label_mode",
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

#: Matrices and carpets draw the networks in the order of :data:`neurokit.atlases.NETWORKS`.
NETWORK_COLORS = {"prefrontal": "#1f77b4", "limbic": "#d62728", "other": "#7f7f7f"}
_DPI = 90
#: Smallest text height (CSS px at the report's 90 dpi, figures shown at their native size) read comfortably.
MIN_LABEL_PX = 9.0
#: Font size (points) that renders at :data:`MIN_LABEL_PX`.
LABEL_PT = MIN_LABEL_PX * 72 / _DPI
#: Pixels per matrix row when every region is labelled (a label needs a little more than its height).
_ROW_PX = 12.0
#: Above this many regions a labelled matrix would be wider than a report page: network groups are labelled instead.
MAX_LABELLED_REGIONS = 72


def to_data_uri(fig: Figure, *, dpi: int = _DPI) -> str:
    """Render a figure to a ``data:image/png;base64,...`` URI and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Trimmed to its content unless it has a layout engine or was drawn with fixed
        margins (attribute ``_nk_fixed_margins``).
    dpi : int, default=90
        Modest resolution keeps a report of a dozen figures well under a megabyte.

    Returns
    -------
    str
    """
    buffer = io.BytesIO()
    # constrained-layout figures are already trimmed; a second (tight) layout pass only costs time
    tight = None if fig.get_layout_engine() is not None or getattr(fig, "_nk_fixed_margins", False) else "tight"
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches=tight, metadata={"Software": None})
    pyplot = sys.modules.get("matplotlib.pyplot")  # imported by the caller, never by neurokit
    if pyplot is not None:
        pyplot.close(fig)  # a no-op for bare Figures; closes any pyplot figure a caller passes
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
    rank = {n: i for i, n in enumerate(NETWORKS)}
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
        for net in NETWORKS:
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


def label_px(fontsize_pt: float, *, dpi: float = _DPI) -> float:
    """Height in image pixels of text of ``fontsize_pt`` points in a figure saved at ``dpi``."""
    return float(fontsize_pt) * dpi / 72.0


def _label_colours(values: np.ndarray, names: dict, nets: dict) -> tuple[dict, list]:
    """A colour per label value, and legend entries (region names, or networks when there are many)."""
    from matplotlib.colors import to_hex

    palette = matplotlib.colormaps["tab20"].colors
    names = {int(k): str(v) for k, v in names.items()}
    nets = {int(k): str(v) for k, v in nets.items()}
    if len(values) <= 20:  # one distinct colour per region: name them
        colours = {int(v): to_hex(palette[i]) for i, v in enumerate(values)}
        legend = [(names.get(int(v), f"region {int(v)}"), colours[int(v)]) for v in values]
        return colours, legend
    # more regions than distinguishable colours: colour by network so the legend stays true
    network_colours = {**NETWORK_COLORS, "other": "#ffb000"}  # grey would vanish on the grey anatomy
    colours = {int(v): network_colours.get(nets.get(int(v), "other"), "#ffb000") for v in values}
    present = [n for n in NETWORKS if any(nets.get(int(v), "other") == n for v in values)]
    present += sorted({nets.get(int(v), "other") for v in values} - set(present))
    counts = {n: sum(nets.get(int(v), "other") == n for v in values) for n in present}
    legend = [(f"{n} ({counts[n]} regions)", network_colours.get(n, "#ffb000")) for n in present]
    return colours, legend


def _slices_showing_most_regions(lab: np.ndarray, axis: int, n_slices: int) -> np.ndarray:
    """``n_slices`` slice indices along ``axis`` that together cut the most regions (greedy set cover),
    in increasing order; evenly spaced slices would miss small regions such as spheres."""
    moved = np.moveaxis(lab, axis, 0)
    held = [set(np.unique(sl[sl > 0]).tolist()) for sl in moved]
    if not any(held):
        return np.round(np.linspace(0, len(held) - 1, n_slices + 2)[1:-1]).astype(int)
    picks, covered = [], set()
    for _ in range(min(n_slices, len(held))):
        # ties go to the slice farthest from those already chosen, then to the most labelled voxels
        gain = [(len(h - covered), min((abs(i - p) for p in picks), default=0), len(h)) for i, h in enumerate(held)]
        best = max((i for i in range(len(held)) if i not in picks), key=lambda i: gain[i])
        picks.append(best)
        covered |= held[best]
    return np.array(sorted(picks))


def plot_atlas_overlay(background, labels, affine, *, region_names=None, region_networks=None, n_slices=3):
    """Atlas labels over a background image in three planes (sagittal, coronal, axial), with a legend.

    Drawn with plain matplotlib, an order of magnitude faster than nilearn's ``plot_roi``.

    Parameters
    ----------
    background : array-like of shape (i, j, k)
        The run's temporal mean (or a template) on the run's grid.
    labels : array-like of int, shape (i, j, k)
        Region labels on the same grid (0 = background).
    affine : array-like of shape (4, 4)
        Voxel-to-mm affine of the grid; slices are shown in RAS orientation (left hemisphere
        on the left of coronal and axial slices, anterior on the right of sagittal ones).
    region_names, region_networks : mapping of int to str, optional
        Label value -> region name / network, for the legend. With 20 regions or fewer each
        region has its own colour and is named; with more, regions are coloured by network.
    n_slices : int, default=3
        Slices per plane, spread evenly over the slices that hold labels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

    background = np.asarray(background, dtype=float)
    labels = np.asarray(labels)
    affine = np.asarray(affine, dtype=float)
    ornt = io_orientation(affine)
    bg = apply_orientation(background, ornt)
    lab = apply_orientation(labels, ornt).astype(int)
    ras = affine @ inv_ornt_aff(ornt, background.shape)
    zooms = np.sqrt((ras[:3, :3] ** 2).sum(axis=0))
    values = np.unique(lab[lab > 0])
    colours, legend = _label_colours(values, dict(region_names or {}), dict(region_networks or {}))
    cmap = ListedColormap([colours[int(v)] for v in values] or ["#000000"])
    index = np.searchsorted(values, lab) if values.size else np.zeros_like(lab)
    finite = bg[np.isfinite(bg) & (bg != 0)]
    lo, hi = (min(0.0, float(finite.min())), float(np.percentile(finite, 99.5))) if finite.size else (0.0, 1.0)
    # (plane, axis sliced, row axis, column axis, corner letters, coordinate name)
    planes = (("sagittal", 0, 2, 1, ("P", "A"), "x"), ("coronal", 1, 2, 0, ("L", "R"), "y"),
              ("axial", 2, 1, 0, ("L", "R"), "z"))
    # fixed margins, not a layout engine: the figure is one of a report's slowest to draw
    fig = Figure(figsize=(9.0, 7.6), facecolor="black")
    fig._nk_fixed_margins = True  # nothing to trim: saves to_data_uri a second drawing pass
    axes = fig.subplots(3, n_slices, squeeze=False,
                        gridspec_kw={"left": 0.005, "right": 0.995, "top": 0.965, "bottom": 0.07, "hspace": 0.12,
                                     "wspace": 0.02})
    for row, (plane, axis, rows_ax, cols_ax, letters, coord) in zip(axes, planes):
        other = tuple(a for a in range(3) if a != axis)
        picks = _slices_showing_most_regions(lab, axis, n_slices)
        for ax, k in zip(row, picks):
            take = [slice(None)] * 3
            take[axis] = k
            b = bg[tuple(take)]
            m = lab[tuple(take)]
            idx = index[tuple(take)]
            # the remaining axes in increasing order; rows must be the vertical axis
            if other.index(rows_ax) == 1:
                b, m, idx = b.T, m.T, idx.T
            aspect = zooms[rows_ax] / zooms[cols_ax]
            ax.set_facecolor("black")
            ax.imshow(np.ma.masked_invalid(b), cmap="gray", vmin=lo, vmax=hi, origin="lower",
                      interpolation="nearest", aspect=aspect)
            ax.imshow(np.ma.masked_where(m <= 0, idx), cmap=cmap, vmin=-0.5, vmax=max(len(values), 1) - 0.5,
                      alpha=0.65, origin="lower", interpolation="nearest", aspect=aspect)
            world = (ras @ np.r_[[k if a == axis else 0 for a in range(3)], 1])[axis]
            # text, not set_title: placing a title measures the (hidden) axis, most of the drawing time
            ax.text(0.5, 1.0, f"{plane} {coord}={world:.0f}", color="white", fontsize=LABEL_PT + 1, ha="center",
                    va="bottom", transform=ax.transAxes)
            ax.text(0.01, 0.99, letters[0], color="white", fontsize=LABEL_PT, va="top", transform=ax.transAxes)
            ax.text(0.99, 0.99, letters[1], color="white", fontsize=LABEL_PT, va="top", ha="right",
                    transform=ax.transAxes)
            ax.set_axis_off()
    if legend:
        handles = [Patch(facecolor=c, edgecolor="none", label=name) for name, c in legend]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), fontsize=LABEL_PT + 0.5,
                   frameon=False, labelcolor="white", bbox_to_anchor=(0.5, 0.0))
    return fig


def _draw_region_bars(ax, values, order, colors, *, threshold, xlabel, xlim):
    """One horizontal bar per region (rows in ``order``), hatched below ``threshold``; a histogram when
    there are too many regions to label."""
    values = np.asarray(values, dtype=float)
    if len(values) > 60:  # one bar per region would be unreadable: a histogram instead
        ax.hist(values[np.isfinite(values)], bins=20, range=xlim, color="#4c72b0")
        ax.set_ylabel("regions", fontsize=LABEL_PT + 1)
    else:
        bars = ax.barh(np.arange(len(order)), np.nan_to_num(values[order]), color=colors, height=0.75)
        for bar, i in zip(bars, order):
            if threshold is not None and values[i] < threshold:
                bar.set_hatch("///")
                bar.set_edgecolor("k")
        ax.set_ylim(-0.6, len(order) - 0.4)
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=0.8)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set_xlabel(xlabel, fontsize=LABEL_PT + 1)
    ax.tick_params(axis="x", labelsize=LABEL_PT)


def plot_region_quality(names, networks, *, coverage=None, tsnr=None, coverage_threshold=None, tsnr_threshold=None):
    """Per-region coverage by the brain mask and tSNR side by side, one row per region (hatched: below threshold).

    One figure for both (rows shared) is read region by region and costs one drawing, not two.

    Parameters
    ----------
    names : sequence of str, length n_regions
    networks : sequence of str, length n_regions
        Bars are coloured and grouped by network.
    coverage : array-like of shape (n_regions,), optional
        Fraction of each region's voxels inside the brain mask (with a usable signal), in [0, 1].
    tsnr : array-like of shape (n_regions,), optional
        Temporal SNR of each region's mean signal (NaN: undefined or not measured).
    coverage_threshold, tsnr_threshold : float, optional
        Dashed lines; regions below are hatched.

    Returns
    -------
    matplotlib.figure.Figure
        Above 60 regions, histograms over regions instead of bars.
    """
    panels = []
    if coverage is not None:
        panels.append((coverage, coverage_threshold, "fraction of region voxels in the brain mask", (0, 1)))
    if tsnr is not None:
        t = np.asarray(tsnr, dtype=float)
        top = float(np.nanmax(t)) * 1.05 if np.isfinite(t).any() else 1.0
        panels.append((t, tsnr_threshold, "tSNR of the region's mean signal", (0, top)))
    many = len(names) > 60
    height = 2.6 if many else _ROW_PX * 1.1 * len(names) / _DPI + 0.8
    fig, axes = _figure(2.9 * max(len(panels), 1) + (0 if many else 1.0), height, ncols=max(len(panels), 1),
                        sharey=not many, squeeze=False)
    order = network_order(networks)[::-1]
    colors = [NETWORK_COLORS.get(str(networks[i]), "#7f7f7f") for i in order]
    for ax, (values, threshold, xlabel, xlim) in zip(axes[0], panels):
        _draw_region_bars(ax, values, order, colors, threshold=threshold, xlabel=xlabel, xlim=xlim)
    if not many:
        axes[0, 0].set_yticks(np.arange(len(order)), [str(names[i]) for i in order], fontsize=LABEL_PT)
    return fig


def _network_spans(nets: list[str]) -> dict[str, tuple[int, int]]:
    """Network -> (first row, number of rows) of regions already sorted by :func:`network_order`."""
    spans, start = {}, 0
    for net in NETWORKS + tuple(sorted(set(nets) - set(NETWORKS))):
        count = nets.count(net)
        if count:
            spans[net] = (start, count)
            start += count
    return spans


def _draw_matrix(ax, matrix, names, networks, *, vmax, cmap="RdBu_r", outline=True, labels="regions",
                 xlabels=True, ylabels=True):
    """Draw a network-ordered matrix; ``labels`` is 'regions' (one per row), 'networks' (one per block) or None."""
    order = network_order(networks)
    m = np.asarray(matrix, dtype=float)[np.ix_(order, order)].copy()
    np.fill_diagonal(m, np.nan)
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
    nets = [str(networks[i]) for i in order]
    spans = _network_spans(nets)
    for start, _ in list(spans.values())[1:]:
        ax.axhline(start - 0.5, color="k", lw=0.6)
        ax.axvline(start - 0.5, color="k", lw=0.6)
    if outline and "prefrontal" in spans and "limbic" in spans:
        (p0, pn), (l0, ln) = spans["prefrontal"], spans["limbic"]
        for x0, w, y0, h in ((l0, ln, p0, pn), (p0, pn, l0, ln)):
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), w, h, fill=False, ec="#2ca02c", lw=2))
    if labels == "regions":
        ticks, text = np.arange(len(order)), [str(names[i]) for i in order]
        size = LABEL_PT
    elif labels == "networks":
        ticks = [start + (count - 1) / 2 for start, count in spans.values()]
        text = [f"{net} ({count})" for net, (_, count) in spans.items()]
        size = LABEL_PT + 0.5
    else:
        ticks, text, size = [], [], LABEL_PT
    ax.set_xticks(ticks, text if xlabels else [], rotation=90, fontsize=size)
    ax.set_yticks(ticks, text if ylabels else [], fontsize=size)
    if labels == "networks":
        ax.tick_params(length=0)
    return im


def matrix_label_mode(n_regions: int) -> str:
    """'regions' when every region can be labelled legibly on a report page, else 'networks'."""
    return "regions" if n_regions <= MAX_LABELLED_REGIONS else "networks"


def plot_matrix(matrix, names, networks, *, title=None, vmax=1.0, label="Fisher z", outline=True):
    """A connectivity matrix ordered by network with the prefrontal-limbic blocks outlined.

    Up to :data:`MAX_LABELLED_REGIONS` regions every row and column is named at
    :data:`MIN_LABEL_PX` or more (the figure grows with the region count); above that
    the network blocks are named instead.

    Parameters
    ----------
    matrix : array-like of shape (n_regions, n_regions)
    names, networks : sequence of str, length n_regions
    title : str, optional
    vmax : float, default=1.0
        Symmetric colour limit.
    label : str
        Colour bar label (the measure and its units).
    outline : bool, default=True
        Outline the prefrontal-limbic blocks (green).

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = len(names)
    mode = matrix_label_mode(n)
    longest = max((len(str(x)) for x in names), default=4) if mode == "regions" else 14
    label_in = 0.62 * LABEL_PT * longest / 72 + 0.25  # room the tick labels take (about 0.62 em per character)
    side = max(3.2, n * _ROW_PX / _DPI) if mode == "regions" else 4.4
    fig, ax = _figure(side + label_in + 1.1, side + label_in + (0.35 if title else 0.1))
    im = _draw_matrix(ax, matrix, names, networks, vmax=vmax, outline=outline, labels=mode)
    cbar = fig.colorbar(im, ax=ax, shrink=0.6, pad=0.02)
    cbar.set_label(label, fontsize=LABEL_PT + 1)
    cbar.ax.tick_params(labelsize=LABEL_PT)
    if title:
        ax.set_title(title, fontsize=LABEL_PT + 2)
    return fig


def plot_matrices(matrices, names, networks, *, vmax=None, label="Fisher z", ncols=4):
    """Several matrices side by side with one shared colour scale, network blocks named.

    Parameters
    ----------
    matrices : mapping of str to array of shape (n_regions, n_regions)
        Title -> matrix.
    names, networks : sequence of str, length n_regions
    vmax : float, optional
        Symmetric colour limit; default: the 98th percentile of the absolute off-diagonal values.
    label : str
        Colour bar label (the measure and its units).
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
    fig, axes = _figure(2.5 * ncols + 1.9, 2.5 * nrows + 1.2, nrows=nrows, ncols=ncols, squeeze=False)
    im = None
    for k, (ax, (title, m)) in enumerate(zip(axes.ravel(), items)):
        row, col = divmod(k, ncols)
        last_row = row == nrows - 1 or k + ncols >= len(items)
        im = _draw_matrix(ax, m, names, networks, vmax=vmax, labels="networks", xlabels=last_row, ylabels=col == 0)
        ax.set_title(title, fontsize=LABEL_PT + 1)
    for ax in axes.ravel()[len(items):]:
        ax.set_axis_off()
    cbar = fig.colorbar(im, ax=axes, shrink=0.6)
    cbar.set_label(label, fontsize=LABEL_PT + 1)
    cbar.ax.tick_params(labelsize=LABEL_PT)
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


def plot_null(null, observed, *, metric="score", chance=None):
    """Permutation null distribution with the observed score and chance marked.

    The legend sits above the axes, so it never covers the observed line, wherever that falls.

    Parameters
    ----------
    null : array-like of shape (n_permutations,)
    observed : float
    metric : str
    chance : float, optional
        The score at chance (dotted line).

    Returns
    -------
    matplotlib.figure.Figure
    """
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    fig, ax = _figure(3.6, 3.2)
    if null.size:
        ax.hist(null, bins=min(30, max(5, null.size // 3)), color="#bbbbbb", label="permutation null")
    if chance is not None and np.isfinite(chance):
        ax.axvline(chance, color="k", lw=1, ls=":", label=f"chance {chance:.3g}")
    if observed is not None and np.isfinite(observed):
        ax.axvline(observed, color="#d62728", lw=2, label=f"observed {observed:.3f}")
    ax.set_xlabel(metric, fontsize=8)
    ax.set_ylabel("permutations", fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=LABEL_PT, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2,
                  borderaxespad=0.2, handlelength=1.5, columnspacing=1.0)
    ax.tick_params(labelsize=LABEL_PT)
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


def plot_pattern_bars(names, values, errors=None, *, consistency=None, title=None, unit="pattern weight",
                      clip=1.5):
    """Pattern weights of individual features as horizontal bars (for non-edge feature sets).

    Parameters
    ----------
    names : sequence of str, length n_features
    values : array-like of shape (n_features,)
        Mean pattern over cross-validation fits.
    errors : array-like of shape (n_features,), optional
        SD over fits, drawn as error bars clipped at ``clip`` times the largest ``|value|``
        (a clipped bar ends in a triangle) so one unstable fit cannot dwarf the bars.
    consistency : array-like of shape (n_features,), optional
        Fraction of fits whose sign agrees with the mean, printed beside each bar.
    title : str, optional
    unit : str
        Axis label: what the values are.
    clip : float, default=1.5

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = np.asarray(values, dtype=float)
    fig, ax = _figure(5.4, _ROW_PX * 1.6 * len(names) / _DPI + 1.0)
    y = np.arange(len(names))[::-1]
    ax.barh(y, values, color=["#d62728" if v > 0 else "#1f77b4" for v in values], height=0.7)
    top = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    top = top or 1.0
    limit = clip * top
    if errors is not None:
        errors = np.asarray(errors, dtype=float)
        shown = np.minimum(errors, limit)
        ax.errorbar(values, y, xerr=shown, fmt="none", ecolor="k", lw=0.8, capsize=2)
        for yi, v, e, s in zip(y, values, errors, shown):
            if e > s:  # clipped: mark both ends
                ax.plot([v - s, v + s], [yi, yi], ls="none", marker=">", ms=4, color="k")
                ax.plot([v - s], [yi], ls="none", marker="<", ms=4, color="k")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlim(-(limit + top) * 1.05, (limit + top) * 1.05)
    if consistency is not None:
        for yi, c in zip(y, np.asarray(consistency, dtype=float)):
            if np.isfinite(c):
                ax.text(1.01, yi, f"{c:.0%}", transform=ax.get_yaxis_transform(), va="center",
                        fontsize=LABEL_PT)
        ax.text(1.01, 1.0, "same sign", transform=ax.transAxes, va="bottom", fontsize=LABEL_PT)
    ax.set_yticks(y, [str(n) for n in names], fontsize=LABEL_PT)
    ax.set_xlabel(unit, fontsize=LABEL_PT + 1)
    ax.tick_params(axis="x", labelsize=LABEL_PT)
    if title:
        ax.set_title(title, fontsize=LABEL_PT + 1.5)
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
