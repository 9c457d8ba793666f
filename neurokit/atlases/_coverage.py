"""How much of each atlas region survives on a run's grid inside its brain mask.

``check_coverage`` is called per run by the pipeline; its table goes to the QC metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from neurokit.atlases._errors import AtlasError
from neurokit.atlases._model import Atlas, _grid_key


@dataclass(frozen=True)
class Coverage:
    """Per-region coverage of an atlas on one grid.

    Attributes
    ----------
    table : DataFrame
        One row per region: ``index, name, network, n_grid`` (voxels on the grid),
        ``n_voxels`` (of those, inside the mask), ``n_region`` (voxels of the whole region
        at this grid's spacing, i.e. on the grid extended beyond the image's field of view),
        ``n_outside_fov`` (``n_region - n_grid``), ``fraction`` (n_voxels / n_region: the
        part of the region actually measured; 0 when the region misses the grid),
        ``kept`` (bool).
    dropped : tuple of str
        Names of regions below ``min_voxels`` that were dropped (``drop_empty=True``).
    min_voxels : int
    labels : ndarray of int32, shape (x, y, z)
        Labels on the grid, restricted to the mask, dropped regions set to 0.
    """

    table: pd.DataFrame
    dropped: tuple[str, ...]
    min_voxels: int
    labels: np.ndarray = field(repr=False)

    @property
    def kept_indices(self) -> list[int]:
        """Region indices that were kept, in table order."""
        kept = self.table["kept"].to_numpy(bool)
        return self.table["index"].to_numpy(int)[kept].tolist()

    def to_dict(self, usable: dict[str, int] | None = None) -> dict[str, Any]:
        """JSON-serialisable summary for the QC metrics file.

        Parameters
        ----------
        usable : dict of str to int, optional
            Per region name, the voxels that kept a usable signal after extraction (inside
            the mask, finite, not constant over time). Adds ``n_usable`` and
            ``usable_fraction`` (of the whole region) to those regions' entries.
        """
        regions = {}
        for name, n, f, out, whole in zip(*(self.table[c].tolist() for c in
                                            ("name", "n_voxels", "fraction", "n_outside_fov", "n_region"))):
            entry = {"n_voxels": int(n), "fraction": round(float(f), 4), "outside_fov": int(out)}
            if usable is not None and str(name) in usable:
                entry["n_usable"] = int(usable[str(name)])
                entry["usable_fraction"] = round(int(usable[str(name)]) / whole, 4) if whole else 0.0
            regions[str(name)] = entry
        return {"min_voxels": self.min_voxels, "dropped_regions": list(self.dropped), "regions": regions}


def _mask_array(mask, affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    if hasattr(mask, "get_fdata"):  # a nibabel image: it must be on the same grid
        if tuple(mask.shape[:3]) != shape or not np.allclose(mask.affine, affine, atol=1e-4):
            raise AtlasError(f"the brain mask's grid {tuple(mask.shape[:3])} does not match the run grid {shape} "
                             "(or its affine differs); use the mask of the same run and space.")
        mask = np.asanyarray(mask.dataobj)
    mask = np.asarray(mask)
    if mask.shape[:3] != shape:
        raise AtlasError(f"mask shape {mask.shape} does not match the grid shape {shape}; use the run's brain mask.")
    return mask.reshape(shape) > 0


def check_coverage(
    atlas: Atlas,
    affine: np.ndarray,
    shape: tuple[int, ...],
    mask=None,
    *,
    min_voxels: int = 5,
    drop_empty: bool = False,
) -> Coverage:
    """Count each region's voxels on a grid inside a brain mask.

    Parameters
    ----------
    atlas : Atlas
    affine : ndarray, shape (4, 4)
        The run's voxel-to-mm affine.
    shape : tuple of int
        The run's grid shape (first three entries used).
    mask : ndarray of shape ``shape[:3]`` or nibabel image, optional
        Brain mask (non-zero = brain); None counts every voxel.
    min_voxels : int
        Fewest in-mask voxels a region must keep.
    drop_empty : bool
        Drop (and list) regions below ``min_voxels`` instead of raising.

    Returns
    -------
    Coverage

    Raises
    ------
    AtlasError
        Naming every region below ``min_voxels`` when ``drop_empty`` is False.
    """
    affine = np.asarray(affine, dtype=float)
    shape = tuple(int(s) for s in shape[:3])
    labels = atlas.labels_on_grid(affine, shape)
    inside = _mask_array(mask, affine, shape)
    if not inside.any():
        # otherwise every region is listed with 0 voxels and "lower atlas.min_voxels" is suggested
        raise AtlasError(
            f"the brain mask on the run grid {shape} has no brain voxel (it is all zero), so no atlas region can be "
            "measured; the mask file is broken: re-run fMRIPrep for this run or drop it with --exclude."
        )
    in_brain = labels[inside]
    if mask is not None and labels.any() and not in_brain.any():
        raise AtlasError(
            f"no region of atlas {atlas.name!r} ({atlas.source}) overlaps the brain mask on the run grid {shape}: "
            "the run is not where the atlas expects the brain; check that the BOLD and mask affines are in "
            f"{atlas.space}-like mm coordinates (fMRIPrep's space-<template> outputs are)."
        )
    regions = atlas.regions
    idx = regions["index"].to_numpy(int)
    # what does not depend on the mask is counted once per grid (every run of a study shares a few)
    on_grid, n_region = atlas._memo(("coverage", *_grid_key(affine, shape)),
                                    lambda: _grid_counts(atlas, labels, affine, shape, idx))
    in_mask = np.bincount(in_brain, minlength=int(idx.max()) + 1)[idx]
    low = in_mask < min_voxels
    table = pd.DataFrame({  # built once from arrays: this runs for every run of a batch
        "index": idx,
        "name": regions["name"].to_numpy(),
        "network": regions["network"].to_numpy(),
        "n_grid": on_grid,
        "n_voxels": in_mask,
        "n_region": n_region,
        "n_outside_fov": n_region - on_grid,
        "fraction": np.where(n_region > 0, in_mask / np.maximum(n_region, 1), 0.0),
        "kept": ~low,
    })
    if low.any() and not drop_empty:
        def describe(row) -> str:
            cut = f"; {row.n_outside_fov} of {row.n_region} outside the image" if row.n_outside_fov else ""
            return f"{row.name} ({row.n_voxels} voxels{cut})"

        listed = ", ".join(describe(r) for r in table.loc[low].itertuples())
        sizes = "x".join(f"{v:g}" for v in np.round(np.linalg.norm(affine[:3, :3], axis=0), 2))
        fov = ""
        if (table.loc[low, "n_outside_fov"] > 0).any():
            fov = (" Part of these regions lies outside the BOLD image's field of view (a cropped or partial-brain "
                   "acquisition): a finer grid will not help; drop them or use an atlas your acquisition covers.")
        raise AtlasError(
            f"atlas {atlas.name!r} ({atlas.source}): region(s) {listed} keep fewer than min_voxels={min_voxels} "
            f"voxels inside the brain mask on the run grid {shape} ({sizes} mm); lower atlas.min_voxels, set "
            f"atlas.drop_empty_regions: true to drop them (reported in QC), or use a finer grid.{fov}"
        )
    out = labels.astype(np.int32, copy=False)  # labels_on_grid returned a fresh array: edit in place
    out[~inside] = 0
    dropped = tuple(table.loc[low, "name"].tolist())
    if dropped:
        out[np.isin(out, table.loc[low, "index"].to_numpy(int))] = 0
    return Coverage(table=table, dropped=dropped, min_voxels=int(min_voxels), labels=out)


def _grid_counts(atlas: Atlas, labels: np.ndarray, affine: np.ndarray, shape, idx: np.ndarray):
    """Per region (``idx`` order): voxels on the grid, and voxels of the whole region at this spacing.

    A region cut off by the run's field of view must not look fully covered: it is also
    counted on the grid extended to hold the whole atlas (same spacing), and measured
    against that.
    """
    n_lab = int(max(labels.max(), idx.max())) + 1
    on_grid = np.bincount(labels.reshape(-1), minlength=n_lab)[idx]
    whole = _unbounded_counts(atlas, affine, shape, n_lab)
    n_region = on_grid if whole is None else np.maximum(whole[idx], on_grid)
    for counts in (on_grid, n_region):
        counts.setflags(write=False)  # shared by every run on this grid
    return on_grid, n_region


#: Largest extended grid (voxels) built to count regions beyond a run's field of view.
_MAX_EXTENDED_VOXELS = 16_000_000  # int32 labels: at most 64 MB


def _unbounded_counts(atlas: Atlas, affine: np.ndarray, shape: tuple[int, int, int], n_lab: int):
    """Voxels of each label on the run's grid extended to hold the whole atlas, or None.

    None when the atlas lies inside the grid (the usual case: nothing extra is computed)
    or the extended grid would be unreasonably large.
    """
    lo, hi = atlas.world_bounds()
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    inv = np.linalg.inv(affine)
    ijk = corners @ inv[:3, :3].T + inv[:3, 3]
    start = np.minimum(np.floor(ijk.min(axis=0)).astype(int) - 1, 0)
    stop = np.maximum(np.ceil(ijk.max(axis=0)).astype(int) + 2, shape)
    if (start == 0).all() and (stop == np.asarray(shape)).all():
        return None
    ext_shape = tuple(int(n) for n in stop - start)
    if np.prod(ext_shape, dtype=float) > _MAX_EXTENDED_VOXELS:
        return None
    ext_affine = affine.copy()
    ext_affine[:3, 3] = affine[:3, :3] @ start + affine[:3, 3]
    labels = atlas.labels_on_grid(ext_affine, ext_shape)
    return np.bincount(labels.reshape(-1), minlength=n_lab)
