"""Array helpers that put atlas labels on a target voxel grid (pure functions of arrays).

Nearest-neighbour resampling of a label image, sphere drawing, and the small-region floor.
"""

from __future__ import annotations

import numpy as np


def _mapping(src_affine: np.ndarray, tgt_affine: np.ndarray) -> np.ndarray:
    """(4, 4) matrix mapping target voxel indices to source voxel indices."""
    return np.linalg.inv(src_affine) @ tgt_affine


def resample_nearest(
    labels: np.ndarray, src_affine: np.ndarray, tgt_affine: np.ndarray, shape: tuple[int, int, int]
) -> np.ndarray:
    """Nearest-neighbour resampling of a label image onto a target grid.

    Parameters
    ----------
    labels : ndarray of int, shape (i, j, k)
        Source labels.
    src_affine, tgt_affine : ndarray, shape (4, 4)
        Voxel-to-mm affines of the source and target grids.
    shape : tuple of 3 int
        Target grid shape.

    Returns
    -------
    ndarray of int32, shape ``shape``
        Labels at the nearest source voxel of each target voxel centre; 0 outside the source.
    """
    m = _mapping(src_affine, tgt_affine)
    out = np.zeros(shape, dtype=np.int32)
    if np.allclose(m[:3, :3] - np.diag(np.diag(m[:3, :3])), 0, atol=1e-6):
        # axis-aligned grids: three 1-D index vectors instead of a full coordinate grid
        idx = []
        for ax in range(3):
            src = np.rint(m[ax, ax] * np.arange(shape[ax]) + m[ax, 3]).astype(np.int64)
            idx.append(src)
        ok = [(s >= 0) & (s < labels.shape[ax]) for ax, s in enumerate(idx)]
        sub = labels[np.ix_(idx[0][ok[0]], idx[1][ok[1]], idx[2][ok[2]])]
        out[np.ix_(ok[0], ok[1], ok[2])] = sub
        return out
    ijk = np.indices(shape).reshape(3, -1)
    src = np.rint(m[:3, :3] @ ijk + m[:3, 3:4]).astype(np.int64)
    inside = np.all((src >= 0) & (src < np.array(labels.shape)[:, None]), axis=0)
    flat = out.reshape(-1)
    flat[inside] = labels[src[0, inside], src[1, inside], src[2, inside]]
    return out


def ensure_min_voxels(
    grid_labels: np.ndarray,
    labels: np.ndarray,
    src_affine: np.ndarray,
    tgt_affine: np.ndarray,
    min_voxels: int,
) -> np.ndarray:
    """Give regions that nearest-neighbour sampling thinned out the target voxels they fill most.

    On a coarse grid, nearest-neighbour sampling keeps one source voxel in
    (target/source voxel size)^3, so a small region (e.g. accumbens at 4 mm) may land on
    only one or two target voxels. A region with fewer than ``min_voxels`` target voxels
    is given the unlabelled target voxels that contain most of its source voxels, in that
    order, until it has ``min_voxels`` or runs out; no other region loses a voxel.

    Parameters
    ----------
    grid_labels : ndarray of int32, shape (x, y, z)
        Labels on the target grid (not modified).
    labels : ndarray of int, shape (i, j, k)
        Source labels.
    src_affine, tgt_affine : ndarray, shape (4, 4)
    min_voxels : int

    Returns
    -------
    ndarray of int32, shape (x, y, z)
    """
    present = np.bincount(grid_labels.reshape(-1), minlength=int(labels.max()) + 1)
    src_ids = np.unique(labels)
    src_ids = src_ids[src_ids > 0]
    small = [int(r) for r in src_ids if present[r] < max(min_voxels, 1)]
    if not small:
        return grid_labels
    out = grid_labels.copy()
    m = _mapping(tgt_affine, src_affine)  # source voxel -> target voxel
    shape = np.array(out.shape)
    for region in small:
        ijk = np.argwhere(labels == region).T
        tgt = np.rint(m[:3, :3] @ ijk + m[:3, 3:4]).astype(np.int64)
        inside = np.all((tgt >= 0) & (tgt < shape[:, None]), axis=0)
        if not inside.any():
            continue
        flat = np.ravel_multi_index(tgt[:, inside], out.shape)
        cells, counts = np.unique(flat, return_counts=True)
        order = cells[np.argsort(-counts, kind="stable")]
        have = int((out == region).sum())
        view = out.reshape(-1)
        for cell in order:
            if have >= min_voxels:
                break
            if view[cell] == 0:
                view[cell] = region
                have += 1
    return out


def draw_spheres(
    centres: np.ndarray, radii: np.ndarray, indices: np.ndarray, affine: np.ndarray, shape: tuple[int, int, int]
) -> np.ndarray:
    """Draw spheres directly on a voxel grid.

    A voxel belongs to a sphere when its centre lies within the radius; a voxel claimed by
    two spheres goes to the one whose centre is nearer (relative to its radius). A sphere
    smaller than a voxel still gets the voxel containing its centre, if that voxel is free.

    Parameters
    ----------
    centres : ndarray, shape (n_regions, 3)
        Sphere centres in mm.
    radii : ndarray, shape (n_regions,)
        Radii in mm.
    indices : ndarray of int, shape (n_regions,)
        Label value of each sphere.
    affine : ndarray, shape (4, 4)
    shape : tuple of 3 int

    Returns
    -------
    ndarray of int32, shape ``shape``
    """
    out = np.zeros(shape, dtype=np.int32)
    best = np.full(shape, np.inf)
    inv = np.linalg.inv(affine)
    rot = affine[:3, :3]
    # half-width of each sphere's bounding box in voxels, per axis
    span = np.abs(inv[:3, :3]) @ np.ones(3)
    for c, r, lab in zip(centres, radii, indices):
        v = inv[:3, :3] @ c + inv[:3, 3]
        lo = np.maximum(np.floor(v - span * r), 0).astype(int)
        hi = np.minimum(np.ceil(v + span * r) + 1, shape).astype(int)
        if np.any(hi <= lo):
            continue
        sl = tuple(slice(a, b) for a, b in zip(lo, hi))
        ijk = np.indices(hi - lo).reshape(3, -1) + lo[:, None]
        mm = rot @ ijk + affine[:3, 3:4]
        d = np.linalg.norm(mm - c[:, None], axis=0).reshape(hi - lo) / r
        sub_best, sub_out = best[sl], out[sl]
        win = (d <= 1.0) & (d < sub_best)
        sub_out[win] = lab
        sub_best[win] = d[win]
    present = set(np.unique(out).tolist())
    for c, lab in zip(centres, indices):
        if int(lab) in present:
            continue
        v = np.rint(inv[:3, :3] @ c + inv[:3, 3]).astype(int)
        if np.all(v >= 0) and np.all(v < shape) and out[tuple(v)] == 0:
            out[tuple(v)] = lab
    return out
