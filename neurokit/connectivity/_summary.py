"""Prefrontal-limbic network summaries of a Fisher-z connectivity matrix, and edge network labels.

Networks come from the atlas's ``network`` column: prefrontal, limbic or other.
"""

from __future__ import annotations

import numpy as np

from neurokit.atlases import NETWORKS
from neurokit.connectivity._docs import fill_doc
from neurokit.connectivity._measures import _region_names, edge_indices
from neurokit.connectivity._validation import ConnectivityError, check_networks, check_square

__all__ = ["summary_indices", "region_pfc_limbic_strength", "edge_networks"]


def _present(matrix: np.ndarray) -> np.ndarray:
    """Regions whose off-diagonal row has a finite value (missing regions are all-NaN rows)."""
    off = matrix.copy()
    np.fill_diagonal(off, np.nan)
    return np.isfinite(off).any(axis=1)


def _check(matrix_z, networks):
    m = check_square(matrix_z, "matrix_z")
    if np.isinf(m).any():
        raise ConnectivityError("'matrix_z' has infinite values; compute it with fisher_z, which clips |r| below 1.")
    return m, check_networks(networks, m.shape[0])


def _pfc_limbic_regions(matrix_z, networks):
    """The checked matrix and labels, which regions have signal, and the prefrontal and limbic ones among them."""
    m, labels = _check(matrix_z, networks)
    present = _present(m)
    pfc = np.flatnonzero((labels == "prefrontal") & present)
    lim = np.flatnonzero((labels == "limbic") & present)
    return m, labels, present, pfc, lim


@fill_doc
def summary_indices(matrix_z, networks):
    """Mean within-prefrontal, within-limbic and prefrontal-limbic Fisher-z connectivity.

    Parameters
    ----------
    %(matrix_z)s
    %(networks)s

    Returns
    -------
    indices : dict of str to float
        ``pfc_within``: mean over pairs of distinct prefrontal regions (each pair
        once, diagonal excluded); ``limbic_within``: the same for limbic regions;
        ``pfc_limbic``: mean over all prefrontal-limbic pairs.

    Raises
    ------
    ConnectivityError
        If the matrix is not square or has infinite values, a label is not a known
        network, or an index is undefined: fewer than 2 prefrontal (or limbic)
        regions with signal, or no region of one of the two networks. An undefined
        index is an error rather than NaN so that a wrong atlas table fails loudly.
    """
    m, labels, present, pfc, lim = _pfc_limbic_regions(matrix_z, networks)
    for name, idx in (("prefrontal", pfc), ("limbic", lim)):
        if idx.size < 2:
            raise ConnectivityError(
                f"'networks' must have at least 2 {name} regions with signal for the within-{name} index; got "
                f"{idx.size}{_which(labels, present)}"
            )
    out = {}
    for key, idx in (("pfc_within", pfc), ("limbic_within", lim)):
        block = m[np.ix_(idx, idx)]
        vals = block[np.triu_indices(idx.size, k=1)]
        out[key] = _finite_mean(vals, key)
    out["pfc_limbic"] = _finite_mean(m[np.ix_(pfc, lim)].ravel(), "pfc_limbic")
    return out


def _which(labels: np.ndarray, present: np.ndarray) -> str:
    """What the regions are tagged, and the fix, for the undefined-index errors."""
    counts = ", ".join(f"{(labels[present] == n).sum()} {n}" for n in NETWORKS)
    return (f" (regions with signal: {counts}). The prefrontal-limbic summaries need an atlas whose 'network' "
            "column tags prefrontal and limbic regions (e.g. pfclimbic); regions dropped for low coverage "
            "(atlas.drop_empty_regions) also count against this.")


def _finite_mean(vals: np.ndarray, key: str) -> float:
    if np.isnan(vals).any():
        raise ConnectivityError(f"'matrix_z' has NaN edges between regions with signal, needed for {key!r}.")
    return float(vals.mean())


@fill_doc
def region_pfc_limbic_strength(matrix_z, networks):
    """Each region's mean Fisher-z coupling with the other of the two networks.

    Parameters
    ----------
    %(matrix_z)s
    %(networks)s

    Returns
    -------
    strength : ndarray of shape (n_regions,)
        For a prefrontal region the mean of its edges to the limbic regions; for a
        limbic region the mean of its edges to the prefrontal regions; NaN for
        "other" regions and for missing regions.

    Raises
    ------
    ConnectivityError
        If either network has no region with signal, or as :func:`summary_indices`.
    """
    m, labels, present, pfc, lim = _pfc_limbic_regions(matrix_z, networks)
    for name, idx in (("prefrontal", pfc), ("limbic", lim)):
        if idx.size == 0:
            raise ConnectivityError(f"'networks' must have at least 1 {name} region with signal; got 0{_which(labels, present)}")
    strength = np.full(m.shape[0], np.nan)
    strength[pfc] = m[np.ix_(pfc, lim)].mean(axis=1)
    strength[lim] = m[np.ix_(lim, pfc)].mean(axis=1)
    return strength


@fill_doc
def edge_networks(edges, networks, *, region_names=None):
    """Network pair of each edge, e.g. "prefrontal-limbic", for selecting features.

    Parameters
    ----------
    edges : int, list of str, or array-like of int of shape (n_edges, 2)
        An int ``n_regions`` means every edge in :func:`vectorize` order (no
        diagonal); strings are edge names ``"A--B"`` as returned by :func:`vectorize`
        with the same ``region_names``; pairs are (row, column) region indices.
    %(networks)s
    region_names : sequence of str, optional
        Region names used in the edge names; default ``"0", "1", ...``.

    Returns
    -------
    labels : list of str of length n_edges
        ``"<a>-<b>"`` with the two networks in the order prefrontal, limbic, other,
        so the pair labels are "prefrontal-prefrontal", "prefrontal-limbic",
        "prefrontal-other", "limbic-limbic", "limbic-other" and "other-other".

    Raises
    ------
    ConnectivityError
        For an unknown edge name or region index, or bad ``networks``.
    """
    labels = check_networks(networks, len(networks))
    n = labels.shape[0]
    if isinstance(edges, (int, np.integer)):
        if edges != n:
            raise ConnectivityError(f"'edges' as an int must equal the number of regions ({n}); got {edges}.")
        rows, cols = edge_indices(n)
        pairs = np.column_stack([rows, cols])
    elif len(edges) and all(isinstance(e, str) for e in edges):
        names = _region_names(region_names, n)
        lookup = {name: k for k, name in enumerate(names)}
        pairs = []
        for e in edges:
            a, sep, b = e.partition("--")
            if not sep or a not in lookup or b not in lookup:
                # names may themselves contain "--": fall back to a full table of pair names
                full = {f"{x}--{y}": (lookup[x], lookup[y]) for x in names for y in names}
                if e not in full:
                    raise ConnectivityError(f"'edges' entry {e!r} is not an edge name 'A--B' of the given regions.")
                pairs.append(full[e])
            else:
                pairs.append((lookup[a], lookup[b]))
        pairs = np.asarray(pairs, dtype=int).reshape(-1, 2)
    else:
        pairs = np.asarray(edges)
        if pairs.size == 0:
            return []
        if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer):
            raise ConnectivityError(f"'edges' must be edge names or integer pairs of shape (n_edges, 2); got {pairs.shape}.")
        if pairs.min() < 0 or pairs.max() >= n:
            raise ConnectivityError(f"'edges' region indices must be in [0, {n - 1}]; got {pairs.min()}..{pairs.max()}.")
    order = {name: k for k, name in enumerate(NETWORKS)}
    out = []
    for i, j in pairs:
        a, b = sorted((labels[i], labels[j]), key=order.__getitem__)
        out.append(f"{a}-{b}")
    return out
