"""The immutable ``Atlas``: a region table plus the recipe for labels on any voxel grid.

Built by the loader (``_load.py``); compute code only calls ``labels_on_grid``.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Mapping

import numpy as np
import pandas as pd

from neurokit.atlases._grid import draw_spheres, ensure_min_voxels, resample_nearest

logger = logging.getLogger(__name__)

#: Atlas types.
ATLAS_TYPES = ("dseg", "probseg", "spheres", "derived")
#: Network tags every region carries.
NETWORKS = ("prefrontal", "limbic", "other")
#: Hemisphere tags.
HEMISPHERES = ("L", "R", "bilateral")
#: Per-grid results (labels, coverage counts) one Atlas instance keeps (oldest dropped first).
_CACHE_SIZE = 16
#: Columns of :attr:`Atlas.regions`, in order.
REGION_COLUMNS = ("index", "name", "network", "hemisphere", "x", "y", "z")


def _grid_key(affine: np.ndarray, shape: tuple[int, ...]) -> tuple[bytes, tuple[int, ...]]:
    """Hashable identity of a voxel grid (affine rounded to 1e-6 mm)."""
    return np.round(np.asarray(affine, dtype=float), 6).tobytes(), tuple(int(s) for s in shape[:3])


class Atlas:
    """An atlas: named regions with networks, and their labels on any voxel grid.

    Create one with :func:`neurokit.atlases.load`; the attributes are read-only.

    Parameters
    ----------
    name : str
    type : {"dseg", "probseg", "spheres", "derived"}
    space : str
        Template space of the atlas (e.g. ``"MNI152NLin6Asym"``).
    regions : DataFrame
        Columns ``index, name, network, hemisphere, x, y, z`` (plus optional extras such as
        ``radius`` or ``reference``); copied.
    metadata : mapping
        Contents of ``atlas.json`` (copied).
    labels : ndarray of int, shape (i, j, k), optional
        Label image on the atlas's own grid (dseg, probseg, derived).
    affine : ndarray, shape (4, 4), optional
        Affine of ``labels``.
    source : str
        Where the atlas came from (folder path), used in messages.
    min_grid_voxels : int
        For image atlases resampled to a coarser grid: fewest voxels a region is given
        (see :func:`neurokit.atlases._grid.ensure_min_voxels`).
    """

    __slots__ = ("_name", "_type", "_space", "_regions", "_metadata", "_labels", "_affine", "_source",
                 "_min_grid_voxels", "_cache")

    def __init__(
        self,
        name: str,
        type: str,
        space: str,
        regions: pd.DataFrame,
        metadata: Mapping[str, Any],
        labels: np.ndarray | None = None,
        affine: np.ndarray | None = None,
        source: str = "<memory>",
        min_grid_voxels: int = 1,
    ) -> None:
        regions = regions.reset_index(drop=True).copy()
        regions["index"] = regions["index"].astype(int)
        for col in ("x", "y", "z"):
            regions[col] = regions[col].astype(float)
        extra = [c for c in regions.columns if c not in REGION_COLUMNS]
        regions = regions[list(REGION_COLUMNS) + extra]
        set_ = object.__setattr__
        set_(self, "_name", str(name))
        set_(self, "_type", str(type))
        set_(self, "_space", str(space))
        set_(self, "_regions", regions)
        set_(self, "_metadata", copy.deepcopy(dict(metadata)))
        if labels is not None:
            labels = np.array(labels, copy=True)
            labels.setflags(write=False)
        set_(self, "_labels", labels)
        set_(self, "_affine", None if affine is None else np.array(affine, dtype=float))
        set_(self, "_source", str(source))
        set_(self, "_min_grid_voxels", int(min_grid_voxels))
        set_(self, "_cache", {})

    def __setattr__(self, key, value):
        raise AttributeError(f"Atlas is immutable; cannot set {key!r}.")

    def __delattr__(self, key):
        raise AttributeError(f"Atlas is immutable; cannot delete {key!r}.")

    # pickling (dask ships atlases to workers): drop the per-instance grid cache
    def __getstate__(self):
        return {k: getattr(self, k) for k in self.__slots__ if k != "_cache"}

    def __setstate__(self, state):
        for k, v in state.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_cache", {})

    def __repr__(self) -> str:
        return (f"Atlas(name={self._name!r}, type={self._type!r}, space={self._space!r}, "
                f"n_regions={len(self._regions)})")

    @property
    def name(self) -> str:
        """Registered name of the atlas."""
        return self._name

    @property
    def type(self) -> str:
        """``"dseg"``, ``"probseg"``, ``"spheres"`` or ``"derived"``."""
        return self._type

    @property
    def space(self) -> str:
        """Template space the atlas is defined in."""
        return self._space

    @property
    def source(self) -> str:
        """Folder (or description) the atlas was loaded from."""
        return self._source

    @property
    def regions(self) -> pd.DataFrame:
        """Region table (a copy): ``index, name, network, hemisphere, x, y, z`` (+ extras), one row per region."""
        return self._regions.copy()

    @property
    def metadata(self) -> dict[str, Any]:
        """``atlas.json`` contents (a copy), including ``Reference`` and ``License``."""
        return copy.deepcopy(self._metadata)

    @property
    def networks(self) -> pd.Series:
        """Network of each region: Series indexed by region name, values in ``NETWORKS``."""
        return pd.Series(self._regions["network"].to_numpy(), index=self._regions["name"].to_numpy(),
                         name="network")

    @property
    def n_regions(self) -> int:
        """Number of regions."""
        return len(self._regions)

    @property
    def labels_img(self):
        """The atlas's own label image (nibabel Nifti1Image) or None for spheres."""
        if self._labels is None:
            return None
        import nibabel as nib

        return nib.Nifti1Image(np.asarray(self._labels, dtype=np.int32), self._affine)

    def labels_on_grid(self, affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Region labels on a voxel grid (the run's).

        Parameters
        ----------
        affine : ndarray, shape (4, 4)
            Voxel-to-mm affine of the grid.
        shape : tuple of int
            Grid shape; only the first three entries are used (a 4D BOLD shape is fine).

        Returns
        -------
        ndarray of int32, shape ``shape[:3]``
            0 = background, otherwise the region ``index``. Image atlases are resampled
            with nearest neighbour only when the grid differs from theirs (logged);
            spheres are drawn on the grid directly. A fresh array each call.
        """
        affine = np.asarray(affine, dtype=float)
        shape = tuple(int(s) for s in shape[:3])
        if affine.shape != (4, 4) or len(shape) != 3:
            from neurokit.atlases._errors import AtlasError

            raise AtlasError(f"labels_on_grid needs a (4, 4) affine and a 3D shape; got {affine.shape} and {shape}.")
        return self._memo(("labels", *_grid_key(affine, shape)), lambda: self._compute_labels(affine, shape)).copy()

    def content_hash(self) -> str:
        """16 hex digits identifying what the atlas draws: its regions (index, name, network,
        centre) and, for image atlases, its labels and their grid."""
        return self._memo(("content_hash",), self._content_hash)

    def _content_hash(self) -> str:
        import hashlib

        digest = hashlib.sha256()
        regions = self._regions[["index", "name", "network", "x", "y", "z"]]
        digest.update(regions.to_csv(index=False, float_format="%.4f").encode())
        if self._labels is not None:
            digest.update(np.ascontiguousarray(self._labels, dtype=np.int32).tobytes())
            digest.update(np.round(np.asarray(self._affine, dtype=float), 6).tobytes())
        return digest.hexdigest()[:16]

    def _memo(self, key: tuple, compute):
        """``compute()``, kept per key (e.g. per grid) in this instance's bounded cache.

        The cache holds a few grids' worth of results (a study has few grids); it is
        dropped when the atlas is pickled. Callers must not modify what is returned.
        """
        if key not in self._cache:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = compute()
        return self._cache[key]

    def world_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Corners (mm) of a box holding every region: ``(lowest xyz, highest xyz)``.

        Image atlases are stored cropped to their labels, so this is the extent of that
        image; spheres span their centres +/- radius. Used to tell a region that falls
        outside a run's field of view from one that falls outside its brain mask.
        """
        if self._type == "spheres":
            centres = self._regions[["x", "y", "z"]].to_numpy(float)
            radii = self._regions["radius"].to_numpy(float)[:, None]
            return (centres - radii).min(axis=0), (centres + radii).max(axis=0)
        ijk = np.array([[i, j, k] for i in (-0.5, self._labels.shape[0] - 0.5)
                        for j in (-0.5, self._labels.shape[1] - 0.5) for k in (-0.5, self._labels.shape[2] - 0.5)])
        xyz = ijk @ self._affine[:3, :3].T + self._affine[:3, 3]
        return xyz.min(axis=0), xyz.max(axis=0)

    def _compute_labels(self, affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
        reg = self._regions
        if self._type == "spheres":
            return draw_spheres(
                reg[["x", "y", "z"]].to_numpy(float), reg["radius"].to_numpy(float),
                reg["index"].to_numpy(int), affine, shape,
            )
        if self._labels.shape == shape and np.allclose(self._affine, affine, atol=1e-4):
            return np.asarray(self._labels, dtype=np.int32)
        m = np.linalg.inv(self._affine) @ affine
        if np.allclose(m[:3, :3], np.eye(3), atol=1e-6) and np.allclose(m[:3, 3], np.rint(m[:3, 3]), atol=1e-4):
            # the atlas's own grid: the stored image is only cropped to its labels, so this is exact
            return resample_nearest(self._labels, self._affine, affine, shape)
        logger.info(
            "resampling atlas %s (grid %s, %s mm) to the run grid %s (%s mm) with nearest neighbour",
            self._name, self._labels.shape, _voxel_sizes(self._affine), shape, _voxel_sizes(affine),
        )
        out = resample_nearest(self._labels, self._affine, affine, shape)
        if self._min_grid_voxels > 0:
            out = ensure_min_voxels(out, self._labels, self._affine, affine, self._min_grid_voxels)
        return out


def _voxel_sizes(affine: np.ndarray) -> str:
    return "x".join(f"{v:g}" for v in np.round(np.linalg.norm(affine[:3, :3], axis=0), 2))
