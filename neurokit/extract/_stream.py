"""Read a 4D NIfTI run chunk by chunk of volumes, straight from its (gzip) byte stream.

nibabel parses the header only; the data block is read from ``vox_offset`` in the
header's dtype and byte order, so the whole 4D array never exists in memory.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from neurokit._nifti import header_t_r
from neurokit.extract._errors import ExtractError

try:  # isal decompresses gzip 2-3x faster than zlib; the stdlib path stays the fallback
    from isal import igzip as _igzip
    from isal import igzip_threaded as _igzip_threaded
    from isal import isal_zlib as _isal_zlib
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    _igzip = _igzip_threaded = _isal_zlib = None

_GZIP_MAGIC = b"\x1f\x8b"
# About this many bytes of raw data per chunk when the caller does not choose.
DEFAULT_CHUNK_BYTES = 16 * 2**20


def _decompress_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error)
    if _isal_zlib is not None:
        errors += (_isal_zlib.error,)
    return errors


@dataclass(frozen=True)
class BoldHeader:
    """What the streamed reader needs to know about one 4D run.

    ``path`` is set for a file read from its byte stream; ``image`` for an
    in-memory image, whose ``dataobj`` is sliced instead (its values are used as
    they come, so ``slope`` is 1 and ``inter`` 0).
    """

    source: str
    shape: tuple[int, int, int, int]
    affine: np.ndarray
    dtype: np.dtype
    offset: int
    slope: float
    inter: float
    t_r: float | None
    path: str | None = None
    image: object | None = None

    @property
    def n_voxels(self) -> int:
        """Voxels in one volume, ``x * y * z``."""
        x, y, z, _ = self.shape
        return x * y * z

    @property
    def n_volumes(self) -> int:
        """Volumes in the run."""
        return self.shape[3]


def _check_4d(source: str, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    if len(shape) != 4:
        raise ExtractError(
            f"{source}: expected a 4D BOLD run (x, y, z, time) but the image has shape "
            f"{tuple(shape)}; pass the preprocessed BOLD series "
            "(e.g. *_desc-preproc_bold.nii.gz), not a 3D map."
        )
    if shape[3] < 2:
        raise ExtractError(
            f"{source}: the BOLD run has {shape[3]} volume(s) (shape {tuple(shape)}); region "
            "signals need at least 2 volumes. Check that the file is a complete time series."
        )
    return tuple(int(s) for s in shape)  # type: ignore[return-value]


def _check_dtype(source: str, dtype: np.dtype) -> np.dtype:
    if dtype.kind not in "iuf" or dtype.fields is not None:
        raise ExtractError(
            f"{source}: voxel data type {dtype} is not supported; extraction reads integer or "
            "floating-point NIfTI data. Convert the image (e.g. to float32) first."
        )
    return dtype


def read_bold_header(bold) -> BoldHeader:
    """Parse a BOLD run's header without reading its data.

    Parameters
    ----------
    bold : str, os.PathLike or nibabel.spatialimages.SpatialImage
        A 4D NIfTI file (``.nii`` or ``.nii.gz``) or an in-memory image.

    Returns
    -------
    BoldHeader
    """
    if isinstance(bold, nib.spatialimages.SpatialImage):
        proxy = bold.dataobj
        file_like = getattr(proxy, "file_like", None)
        if (
            isinstance(bold, (nib.Nifti1Image, nib.Nifti2Image))
            and nib.is_proxy(proxy)
            and isinstance(file_like, (str, os.PathLike))
            and os.path.isfile(file_like)
        ):
            # an image loaded from disk: stream its file with the proxy's own layout and scaling
            return _file_header(os.fspath(file_like), bold)
        source = bold.get_filename() or "<in-memory image>"
        shape = _check_4d(source, bold.shape)
        dtype = _check_dtype(source, np.asarray(proxy[..., :1]).dtype)
        return BoldHeader(
            source=str(source), shape=shape, affine=np.asarray(bold.affine, dtype=float),
            dtype=dtype, offset=0, slope=1.0, inter=0.0,
            t_r=header_t_r(bold.header), image=bold,
        )
    if not isinstance(bold, (str, os.PathLike)):
        raise ExtractError(
            "'bold' must be a path to a 4D NIfTI file or a nibabel image; "
            f"got {type(bold).__name__}."
        )
    path = os.fspath(bold)
    if not os.path.isfile(path):
        raise ExtractError(f"{path}: no such BOLD file; check the path (or re-run discovery).")
    try:
        img = nib.load(path)
    except (OSError, EOFError, zlib.error, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise ExtractError(
            f"{path}: cannot read a NIfTI header ({exc}); the file is not NIfTI or is corrupt. "
            "Re-copy or regenerate it (e.g. re-run fMRIPrep)."
        ) from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise ExtractError(
            f"{path}: is a {type(img).__name__}, not NIfTI; convert it to .nii or .nii.gz."
        )
    return _file_header(path, img)


def _file_header(path: str, img) -> BoldHeader:
    shape = _check_4d(path, img.shape)
    proxy = img.dataobj
    dtype = _check_dtype(path, np.dtype(proxy.dtype))
    # nibabel has already resolved scl_slope/scl_inter: NaN or 0 slope means "no scaling" (1, 0)
    slope, inter = float(proxy.slope), float(proxy.inter)
    header = BoldHeader(
        source=path, shape=shape, affine=np.asarray(img.affine, dtype=float), dtype=dtype,
        offset=int(proxy.offset), slope=slope, inter=inter,
        t_r=header_t_r(img.header), path=path,
    )
    with open(path, "rb") as fh:
        compressed = fh.read(2) == _GZIP_MAGIC
    if not compressed:
        expected = header.offset + header.n_voxels * header.n_volumes * dtype.itemsize
        size = os.path.getsize(path)
        if size < expected:
            raise ExtractError(
                f"{path}: the file has {size} bytes but its header says {expected} "
                f"(shape {shape}, {dtype}); it is shorter than its header says, probably an "
                "interrupted copy. Re-copy or regenerate it."
            )
    return header


def open_byte_stream(path: str, threads: int = 0):
    """Open a NIfTI file as a binary stream, decompressing gzip on the fly.

    Parameters
    ----------
    path : str
    threads : int
        0: decompress in the reading thread (isal, else the standard library).
        1 or more: isal's threaded reader decompresses in a background thread while the
        caller works on the previous block: about 5-10 % less wall time when a core is
        idle, but about 15 % more CPU (``benchmarks/bench_participant.py``), a loss when
        every core already runs a task.
    """
    with open(path, "rb") as fh:
        compressed = fh.read(2) == _GZIP_MAGIC
    if not compressed:
        return open(path, "rb")
    if threads > 0 and _igzip_threaded is not None:
        # 512 KiB blocks: as fast as the 1 MiB default here, with half its buffers (~6 MB)
        return _igzip_threaded.open(path, "rb", threads=int(threads), block_size=2**19)
    if _igzip is not None:
        return _igzip.open(path, "rb")
    return gzip.open(path, "rb")


# Largest single readinto: gzip readers decompress into a temporary of the requested
# size before copying, so one huge request would double the chunk's memory.
_READ_BLOCK = 4 * 2**20


def _readinto_exact(stream, view: memoryview) -> int:
    filled = 0
    while filled < len(view):
        n = stream.readinto(view[filled : filled + _READ_BLOCK])
        if not n:
            break
        filled += n
    return filled


def _skip(stream, n_bytes: int) -> int:
    skipped = 0
    while skipped < n_bytes:
        block = stream.read(min(n_bytes - skipped, 2**20))
        if not block:
            break
        skipped += len(block)
    return skipped


def _iter_file_chunks(
    header: BoldHeader, chunk_volumes: int, stop: int, threads: int = 0
) -> Iterator[tuple[int, np.ndarray]]:
    path = header.path
    vol_bytes = header.n_voxels * header.dtype.itemsize
    buffer = bytearray(vol_bytes * min(chunk_volumes, stop))
    view = memoryview(buffer)
    try:
        with open_byte_stream(path, threads) as stream:
            if _skip(stream, header.offset) < header.offset:
                raise ExtractError(
                    f"{path}: the file ends inside its header (vox_offset {header.offset}); "
                    "it is shorter than its header says. Re-copy or regenerate it."
                )
            for t0 in range(0, stop, chunk_volumes):
                k = min(chunk_volumes, stop - t0)
                got = _readinto_exact(stream, view[: k * vol_bytes])
                if got < k * vol_bytes:
                    raise ExtractError(
                        f"{path}: the data end after {t0 + got // vol_bytes} of "
                        f"{header.n_volumes} volumes; the file is shorter than its header says "
                        "(an interrupted copy or write). Re-copy or regenerate it."
                    )
                chunk = np.frombuffer(buffer, dtype=header.dtype, count=k * header.n_voxels)
                yield t0, chunk.reshape(k, header.n_voxels)
            if stop == header.n_volumes:
                # reading to the end makes the gzip reader verify its CRC and length
                while stream.read(2**20):
                    pass
    except _decompress_errors() as exc:
        raise ExtractError(
            f"{path}: the compressed data are truncated or corrupt ({type(exc).__name__}: {exc}); "
            "re-copy or regenerate the file (e.g. re-run fMRIPrep) and check it with 'gzip -t'."
        ) from exc


def _iter_image_chunks(
    header: BoldHeader, chunk_volumes: int, stop: int
) -> Iterator[tuple[int, np.ndarray]]:
    dataobj = header.image.dataobj
    for t0 in range(0, stop, chunk_volumes):
        k = min(chunk_volumes, stop - t0)
        block = np.asarray(dataobj[..., t0 : t0 + k])
        # voxels in NIfTI (Fortran) order, one row per volume, like the file's byte layout
        yield t0, block.reshape(header.n_voxels, k, order="F").T


def iter_volume_chunks(
    header: BoldHeader, chunk_volumes: int, stop: int | None = None, *, threads: int = 0
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_volume, chunk)`` for consecutive chunks of volumes.

    Parameters
    ----------
    header : BoldHeader
    chunk_volumes : int
        Volumes per chunk (the last chunk may be shorter).
    stop : int, optional
        Read volumes ``[0, stop)`` only; default all.
    threads : int
        Background decompression threads for a gzip file (see :func:`open_byte_stream`).

    Yields
    ------
    first_volume : int
    chunk : numpy.ndarray, shape (n_volumes_in_chunk, n_voxels)
        Unscaled values in the file's dtype, voxels in NIfTI (Fortran) order. The
        array is a view of a reused buffer: it is valid until the next chunk.
    """
    stop = header.n_volumes if stop is None else stop
    if header.path is not None:
        return _iter_file_chunks(header, chunk_volumes, stop, threads)
    return _iter_image_chunks(header, chunk_volumes, stop)
