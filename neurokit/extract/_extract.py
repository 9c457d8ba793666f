"""Region mean signals of a BOLD run in one streamed pass over its (compressed) file.

Streaming is exact: confound regression, detrending and filtering are linear and act on every
voxel alike, so cleaning then averaging within a region equals averaging then cleaning, and one
pass that reduces each chunk of volumes to region sums is all a run needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from neurokit.extract._errors import ExtractError
from neurokit.extract._reduce import RegionReducer
from neurokit.extract._stream import (
    DEFAULT_CHUNK_BYTES,
    BoldHeader,
    iter_volume_chunks,
    read_bold_header,
)

# Two affines closer than this (in mm, element-wise) describe the same grid; header
# affines are stored as float32, so exact equality would reject identical grids.
_AFFINE_ATOL = 1e-3


@dataclass(frozen=True, repr=False)
class Extraction:
    """Raw region signals of one BOLD run.

    Attributes
    ----------
    signals : numpy.ndarray, shape (n_timepoints, n_regions)
        float64 mean over each region's usable voxels of the scaled data
        (``scl_slope``/``scl_inter`` applied); a column of NaN for a region without
        usable voxels.
    region_ids : numpy.ndarray, shape (n_regions,)
        Label value of each column.
    voxel_counts : numpy.ndarray, shape (n_regions,)
        Usable voxels per region (inside the mask, finite, not constant).
    excluded_voxels : dict
        ``region_id -> {"nan": k, "constant": m}``: voxels left out because they were
        non-finite (NaN or inf) in any volume, or had zero variance over time.
    n_volumes : int
        Volumes in the run, ``n_timepoints``.
    t_r : float or None
        Repetition time in seconds from the NIfTI header (pixdim[4] and its unit, read by
        :func:`neurokit._nifti.header_t_r`), None when the header does not say.
    mean_image : numpy.ndarray or None, shape (x, y, z)
        float32 temporal mean of every voxel, if requested.
    mean_image_volumes : numpy.ndarray or None
        The volumes (0-based) averaged into ``mean_image``.
    source : str
        The BOLD file's path (``"<in-memory image>"`` for an image without one).
    """

    signals: np.ndarray
    region_ids: np.ndarray
    voxel_counts: np.ndarray
    excluded_voxels: dict
    n_volumes: int
    t_r: float | None
    mean_image: np.ndarray | None = None
    source: str = ""
    mean_image_volumes: np.ndarray | None = None

    def __repr__(self) -> str:
        return (
            f"Extraction(source={self.source!r}, n_volumes={self.n_volumes}, "
            f"n_regions={self.region_ids.size}, t_r={self.t_r})"
        )


def _grid_error(what: str, name: str, header: BoldHeader, shape, affine) -> ExtractError:
    return ExtractError(
        f"{name}: the {what} is not on the BOLD grid of {header.source} "
        f"({what} shape {tuple(shape)}, affine {np.round(affine, 4).tolist()}; BOLD shape "
        f"{header.shape[:3]}, affine {np.round(header.affine, 4).tolist()}). Resample it to "
        "the run's grid first (neurokit.atlases does this for atlases)."
    )


def _image_on_grid(img, what: str, name: str, header: BoldHeader) -> np.ndarray:
    shape = img.shape[:3] if img.ndim == 4 and img.shape[3] == 1 else img.shape
    if tuple(shape) != header.shape[:3] or not np.allclose(
        img.affine, header.affine, rtol=0, atol=_AFFINE_ATOL
    ):
        raise _grid_error(what, name, header, img.shape, img.affine)
    return np.asarray(img.dataobj).reshape(shape)


def _load_image(value, what: str):
    path = os.fspath(value)
    try:
        return nib.load(path), path
    except Exception as exc:  # nibabel raises many types for unreadable files
        raise ExtractError(
            f"{path}: cannot read the {what} image ({exc}); pass a NIfTI file on the BOLD grid."
        ) from exc


def _image_input(value, kind: str, what: str, default_name: str, header: BoldHeader):
    """``(name, array on the BOLD grid)`` for a path or a nibabel image; None for anything else.

    ``kind`` names the image in the unreadable-file error, ``what`` in the off-grid error;
    ``default_name`` names an in-memory image that has no file name.
    """
    if isinstance(value, (str, os.PathLike)):
        img, name = _load_image(value, kind)
    elif isinstance(value, nib.spatialimages.SpatialImage):
        img, name = value, value.get_filename() or default_name
    else:
        return None
    return name, _image_on_grid(img, what, name, header)


def _resolve_labels(labels, header: BoldHeader) -> np.ndarray:
    grid = header.shape[:3]
    if hasattr(labels, "labels_on_grid"):
        name = f"atlas {getattr(labels, 'name', type(labels).__name__)}"
        array = np.asarray(labels.labels_on_grid(header.affine, grid))
    elif (image := _image_input(labels, "label", "label image", "labels", header)) is not None:
        name, array = image
    else:
        name = "labels"
        array = np.asarray(labels)
    if array.shape != grid:
        raise ExtractError(
            f"{name}: label array has shape {array.shape} but the BOLD grid of "
            f"{header.source} is {grid}; pass labels on the run's grid (x, y, z)."
        )
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or not np.array_equal(array, np.round(array)):
            raise ExtractError(
                f"{name}: labels must be whole numbers (one integer per region, 0 for "
                "background); got non-integer values. Pass a deterministic (dseg) atlas, "
                "not a probability map."
            )
        return array.astype(np.int64)
    if array.dtype.kind not in "iub":
        raise ExtractError(f"{name}: labels must be integers; got dtype {array.dtype}.")
    return array  # integer labels keep their (usually small) dtype: no int64 copy of the grid


def _resolve_mask(mask, header: BoldHeader) -> np.ndarray | None:
    if mask is None:
        return None
    grid = header.shape[:3]
    image = _image_input(mask, "mask", "mask", "mask", header)
    if image is not None:
        array = image[1]
    else:
        array = np.asarray(mask)
        if array.shape != grid:
            raise ExtractError(
                f"mask: array has shape {array.shape} but the BOLD grid of {header.source} "
                f"is {grid}; pass the run's brain mask (e.g. *_desc-brain_mask.nii.gz)."
            )
    return array != 0


def _resolve_region_ids(region_ids, present: np.ndarray) -> np.ndarray:
    if region_ids is None:
        return present
    ids = np.asarray(region_ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ExtractError(
            f"'region_ids' must be a 1D sequence of integer labels; got {region_ids!r}."
        )
    if (ids == 0).any() or np.unique(ids).size != ids.size:
        raise ExtractError(
            f"'region_ids' must be distinct non-zero labels (0 is background); got {ids.tolist()}."
        )
    return ids.astype(np.int64)


def _chunk_size(chunk_volumes, header: BoldHeader) -> int:
    if chunk_volumes is None:
        per_volume = header.n_voxels * header.dtype.itemsize
        return int(max(1, min(header.n_volumes, DEFAULT_CHUNK_BYTES // per_volume)))
    if isinstance(chunk_volumes, bool) or not isinstance(chunk_volumes, (int, np.integer)) or (
        chunk_volumes < 1
    ):
        raise ExtractError(
            "'chunk_volumes' must be a positive integer or None (automatic); "
            f"got {chunk_volumes!r}."
        )
    return int(chunk_volumes)


def _mean_volumes(n_volumes: int, wanted: int | None) -> np.ndarray:
    """Ascending indices of ``wanted`` evenly spaced volumes out of ``n_volumes`` (all if None)."""
    if wanted is not None and (isinstance(wanted, bool) or not isinstance(wanted, (int, np.integer)) or wanted < 1):
        raise ExtractError(f"mean_image_volumes must be a positive integer or None; got {wanted!r}.")
    if wanted is None or wanted >= n_volumes:
        return np.arange(n_volumes)
    return np.unique(np.linspace(0, n_volumes - 1, int(wanted)).round().astype(np.intp))


def extract_signals(
    bold,
    labels,
    mask=None,
    *,
    region_ids=None,
    chunk_volumes: int | None = None,
    return_mean_image: bool = False,
    mean_image_volumes: int | None = None,
    decompress_threads: int = 0,
) -> Extraction:
    """Mean signal of every region of a label image, streamed from a BOLD file.

    The file is read once, in chunks of volumes, straight from its (gzip) byte
    stream; each chunk is reduced to region sums with a sparse region-by-voxel
    matrix, so memory does not grow with the run's length and the whole 4D array is
    never held in memory. Cleaning is linear, so these raw means can be denoised
    afterwards (``neurokit.denoise.clean``): averaging then cleaning equals cleaning
    then averaging.

    Parameters
    ----------
    bold : str, os.PathLike or nibabel.Nifti1Image
        A 4D run ``(x, y, z, n_timepoints)``, ``.nii`` or ``.nii.gz``, any integer or
        float dtype; ``scl_slope``/``scl_inter`` are applied (NaN or 0 slope: no scaling).
    labels : numpy.ndarray, nibabel image, path, or atlas
        Integer labels ``(x, y, z)`` on the BOLD grid (0 is background), a label image
        (file or in-memory) on the same grid, or an object with a method
        ``labels_on_grid(affine, shape) -> ndarray (x, y, z)`` such as
        ``neurokit.atlases.Atlas``. A label image on another grid is an error:
        resampling is the atlas module's job.
    mask : numpy.ndarray, nibabel image or path, optional
        Brain mask ``(x, y, z)`` on the same grid; voxels outside it are ignored.
    region_ids : sequence of int, optional
        Regions and their column order; default the sorted non-zero labels present.
        A region without usable voxels gets a NaN column and a voxel count of 0.
    chunk_volumes : int, optional
        Volumes decompressed and reduced at a time. Default: as many as fit in about
        16 MiB of raw data (7 volumes of a 2 mm int16 run). Results do not depend on it.
    return_mean_image : bool, default False
        Also return the temporal mean of every voxel ``(x, y, z)`` (costs one more
        sum per chunk).
    mean_image_volumes : int, optional
        With ``return_mean_image``, average only this many evenly spaced volumes (the
        first and last included; all of them when None or at least ``n_timepoints``): a
        reference image for display at a fraction of the cost of the full mean.
    decompress_threads : int, default 0
        Background threads decompressing a gzip file while this one reduces. 0 uses the
        least CPU, and is what the participant pipeline uses: with every core running a
        task, or beside a dask worker's own threads, a background thread gained nothing
        in ``benchmarks/bench_participant.py``. 1 cuts the wall time of a lone call by
        about 5-10 % when a core is idle, for about 15 % more CPU.

    Returns
    -------
    Extraction
        ``signals`` ``(n_timepoints, n_regions)`` and per-region bookkeeping.

    Raises
    ------
    ExtractError
        For a missing, non-4D, single-volume, truncated or corrupt BOLD file; labels
        or mask on another grid; labels that are not integers; no atlas voxel inside
        the mask, or none with a usable signal; bad ``region_ids`` or ``chunk_volumes``.

    Notes
    -----
    Voxels that are non-finite in any volume, or constant over time, are excluded
    from their region's mean and counted in ``excluded_voxels``; their contributions
    are removed exactly once the stream has shown them to be bad (see
    ``neurokit.extract._reduce.RegionReducer``). A float voxel that turns NaN only
    after the first chunk is the one case that re-reads part of the file, to subtract
    its earlier values exactly. Unlike nilearn's ``NiftiLabelsMasker``,
    which averages them in (zero-filling NaN), this keeps out-of-brain zeros and NaN
    holes from diluting a region's signal.
    """
    header = read_bold_header(bold)
    label_array = _resolve_labels(labels, header)
    mask_array = _resolve_mask(mask, header)
    chunk = _chunk_size(chunk_volumes, header)

    flat_labels = label_array.ravel(order="F")
    in_atlas = flat_labels != 0
    if mask_array is not None:
        in_atlas &= mask_array.ravel(order="F")
    voxels = np.flatnonzero(in_atlas)
    present = np.unique(flat_labels[voxels])
    ids = _resolve_region_ids(region_ids, present)
    if voxels.size == 0:
        raise ExtractError(
            f"{header.source}: no atlas voxel lies inside the brain mask "
            f"({int((flat_labels != 0).sum())} labelled voxels, "
            f"{'no mask' if mask_array is None else int(mask_array.sum())} mask voxels); "
            "the atlas and the run do not overlap. Check that both are in the same space."
        )
    # keep only voxels of requested regions, and map each to its column
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    pos = np.searchsorted(sorted_ids, flat_labels[voxels])
    pos = np.minimum(pos, sorted_ids.size - 1)
    wanted = sorted_ids[pos] == flat_labels[voxels]
    voxels = voxels[wanted]
    region_index = order[pos[wanted]]

    mean_volumes = _mean_volumes(header.n_volumes, mean_image_volumes) if return_mean_image else None
    reducer = RegionReducer(
        voxels, region_index, ids.size, header.n_volumes, header.n_voxels, mean_volumes
    )
    if isinstance(decompress_threads, bool) or not isinstance(decompress_threads, (int, np.integer)) \
            or decompress_threads < 0:
        raise ExtractError(f"decompress_threads must be a non-negative integer; got {decompress_threads!r}.")
    for t0, block in iter_volume_chunks(header, chunk, threads=decompress_threads):
        reducer.add(t0, block)
    sums, counts, n_nonfinite, n_constant = reducer.finish(
        lambda stop: iter_volume_chunks(header, chunk, stop=stop, threads=decompress_threads)
    )

    if counts.sum() == 0 and voxels.size:
        raise ExtractError(
            f"{header.source}: none of the {voxels.size} atlas voxels inside the mask has a "
            f"usable signal ({int(n_nonfinite.sum())} non-finite, {int(n_constant.sum())} "
            "constant over time); the atlas does not overlap the brain in this run. Check that "
            "the run, mask and atlas are in the same space."
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[None, :]
    means[:, counts == 0] = np.nan
    # means of raw values, then the header's scaling: exact for integer data
    signals = means if (header.slope, header.inter) == (1.0, 0.0) else (
        header.slope * means + header.inter
    )

    mean_image = None
    if return_mean_image:
        # float32 throughout: display precision, and a quarter of float64's memory traffic
        mean_flat = reducer.sum_image.astype(np.float32)
        mean_flat *= np.float32(header.slope / mean_volumes.size)
        mean_flat += np.float32(header.inter)
        mean_image = mean_flat.reshape(header.shape[:3], order="F")

    excluded = {
        int(r): {"nan": int(n), "constant": int(c)}
        for r, n, c in zip(ids, n_nonfinite, n_constant)
    }
    return Extraction(
        signals=signals,
        region_ids=ids.copy(),
        voxel_counts=counts.astype(np.int64),
        excluded_voxels=excluded,
        n_volumes=header.n_volumes,
        t_r=header.t_r,
        mean_image=mean_image,
        source=header.source,
        mean_image_volumes=mean_volumes,
    )
