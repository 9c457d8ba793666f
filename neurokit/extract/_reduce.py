"""Reduce chunks of volumes to per-region sums, excluding non-finite and constant voxels exactly.

A voxel is only known to be bad once every volume has been seen, so the sums are
accumulated over all atlas voxels and the bad voxels' contributions are removed:
constant voxels at the end (their value is known), non-finite voxels as they appear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import scipy.sparse as sp


class RegionReducer:
    """Accumulate region sums of raw values over a stream of volume chunks.

    Parameters
    ----------
    voxels : numpy.ndarray, shape (n_atlas_voxels,)
        Flat (Fortran-order) indices of the usable atlas voxels, ascending.
    region_index : numpy.ndarray, shape (n_atlas_voxels,)
        Column of the region each voxel belongs to, in ``[0, n_regions)``.
    n_regions, n_volumes, n_voxels : int
        Output columns, volumes in the run, voxels in one volume.
    sum_volumes : numpy.ndarray of int or None
        Ascending volume indices whose every voxel is also summed (``sum_image``, for a
        mean image); None sums none.

    Notes
    -----
    Each chunk ``(k, n_voxels)`` is gathered to the atlas voxels ``(n_atlas_voxels, k)``
    in its own dtype and multiplied by a sparse ``(n_regions, n_atlas_voxels)`` CSR matrix
    of ones (float64 accumulation; float32 for 8/16-bit integers when that is provably
    exact, see :meth:`_region_sums`). ``np.add.reduceat`` over
    voxels sorted by region sums faster, but its out-of-order gather costs about what it
    saves: on the 2 mm benchmark (218k atlas voxels, int16) both took the same time
    within noise; ``benchmarks/bench_extract.py`` prints both.

    Constant voxels: a voxel still equal to its first value in every volume seen so far
    is re-checked in each chunk (cheap: after the first chunk almost none remain); at
    the end each constant voxel's value is subtracted from its region at every time point.

    Non-finite voxels (float data only): a region sum that is not finite flags its
    region, whose voxels are then inspected; a voxel found non-finite is zeroed from
    then on. If it was finite in earlier chunks, those earlier values were already
    summed: :meth:`finish` re-reads just those volumes (``reread``) and subtracts the
    voxel's exact values. This second, partial pass happens only for voxels that turn
    non-finite after the first chunk, which is rare in real data.
    """

    def __init__(self, voxels, region_index, n_regions, n_volumes, n_voxels, sum_volumes=None):
        self.voxels = voxels
        self.region_index = region_index
        self.n_regions = n_regions
        n = voxels.size
        self.weights = sp.csr_matrix(
            (np.ones(n), (region_index, np.arange(n))), shape=(n_regions, n)
        )
        # float32 weights for small integers, when every partial sum is exact (see add)
        self.weights32 = self.weights.astype(np.float32)
        self.largest_region = int(np.bincount(region_index).max()) if n else 0
        self.sums = np.zeros((n_volumes, n_regions))
        self.first: np.ndarray | None = None
        self.varies = np.zeros(n, dtype=bool)
        self.bad = np.zeros(n, dtype=bool)
        # volume at which each late non-finite voxel was found, voxel column -> first volume
        self.late_bad: dict[int, int] = {}
        self.sum_volumes = None if sum_volumes is None else np.asarray(sum_volumes, dtype=np.intp)
        self.sum_image: np.ndarray | None = None  # allocated at the first summed volume, see _add_to_image

    def add(self, t0: int, chunk: np.ndarray) -> None:
        """Add one chunk ``(k, n_voxels)`` of raw values starting at volume ``t0``."""
        # gathered straight into (n_atlas_voxels, k): the layout the sparse product wants
        x = chunk.T[self.voxels]
        if not x.dtype.isnative:
            x = x.astype(x.dtype.newbyteorder("="))
        if self.first is None:
            self.first = x[:, 0].copy()
        pending = np.flatnonzero(~self.varies)
        if pending.size:
            self.varies[pending] = (x[pending] != self.first[pending, None]).any(axis=1)
        is_float = x.dtype.kind == "f"
        if is_float and self.bad.any():
            x[self.bad] = 0
        sums = self._region_sums(x)
        if is_float and not np.isfinite(sums).all():
            sums = self._drop_nonfinite(t0, x, sums)
        self.sums[t0 : t0 + x.shape[1]] = sums.T
        if self.sum_volumes is not None:
            self._add_to_image(t0, chunk)

    def _add_to_image(self, t0: int, chunk: np.ndarray) -> None:
        """Add the chunk's volumes listed in ``sum_volumes`` to ``sum_image``, one volume at a time.

        The sum is kept in int32 for 8/16-bit integers (exact for fewer than 2**15 volumes,
        and half the memory traffic of float64), int64 for other integers, float64 for floats.
        """
        lo, hi = np.searchsorted(self.sum_volumes, [t0, t0 + chunk.shape[0]])
        if self.sum_image is None:
            if chunk.dtype.kind == "f":
                acc = np.float64
            else:
                small = chunk.dtype.itemsize <= 2 and self.sum_volumes.size < 2**15
                acc = np.int32 if small else np.int64
            self.sum_image = np.zeros(chunk.shape[1], dtype=acc)
        for t in self.sum_volumes[lo:hi] - t0:
            self.sum_image += chunk[t]

    def _region_sums(self, x: np.ndarray) -> np.ndarray:
        """``(n_regions, k)`` sums of ``x`` ``(n_atlas_voxels, k)``, exact for integers.

        8- and 16-bit integers are summed in float32 (about 3x faster, half the memory)
        when ``max |x| * largest region < 2**24``: every partial sum is then an integer
        that float32 represents exactly. Otherwise float64.
        """
        if x.dtype.kind in "iu" and x.dtype.itemsize <= 2 and x.size:
            bound = max(abs(int(x.min())), abs(int(x.max())))
            if bound * self.largest_region < 2**24:
                return (self.weights32 @ x).astype(np.float64)
        return self.weights @ x

    def _drop_nonfinite(self, t0: int, x: np.ndarray, sums: np.ndarray) -> np.ndarray:
        flagged = np.flatnonzero(~np.isfinite(sums).all(axis=1))
        cols = np.flatnonzero(np.isin(self.region_index, flagged))
        new_bad = cols[~np.isfinite(x[cols]).all(axis=1)]
        self.bad[new_bad] = True
        if t0 > 0:
            for col in new_bad:
                self.late_bad[int(col)] = t0
        x[new_bad] = 0
        return self.weights @ x

    def finish(
        self, reread: Callable[[int], Iterable[tuple[int, np.ndarray]]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Remove bad voxels' contributions.

        Parameters
        ----------
        reread : callable
            ``reread(stop)`` yields ``(t0, chunk)`` for volumes ``[0, stop)`` again; only
            called when a voxel turned non-finite after the first chunk.

        Returns
        -------
        sums : numpy.ndarray, shape (n_volumes, n_regions)
            Sums of raw values over each region's usable voxels.
        counts : numpy.ndarray, shape (n_regions,)
            Usable voxels per region.
        n_nonfinite, n_constant : numpy.ndarray, shape (n_regions,)
            Excluded voxels per region.
        """
        sums = self.sums
        if self.late_bad:
            cols = np.fromiter(self.late_bad, dtype=np.intp)
            found_at = np.array([self.late_bad[c] for c in cols])
            for t0, chunk in reread(int(found_at.max())):
                values = chunk[:, self.voxels[cols]].astype(np.float64)
                times = np.arange(t0, t0 + values.shape[0])
                # only the volumes before a voxel was found bad were summed
                values[times[:, None] >= found_at[None, :]] = 0
                np.subtract.at(sums, (slice(t0, t0 + values.shape[0]), self.region_index[cols]),
                               values)
        constant = ~self.varies & ~self.bad
        if self.first is not None and constant.any():
            offset = np.bincount(
                self.region_index[constant],
                weights=self.first[constant].astype(np.float64),
                minlength=self.n_regions,
            )
            sums = sums - offset[None, :]
        usable = ~constant & ~self.bad
        counts = np.bincount(self.region_index[usable], minlength=self.n_regions)
        n_nonfinite = np.bincount(self.region_index[self.bad], minlength=self.n_regions)
        n_constant = np.bincount(self.region_index[constant], minlength=self.n_regions)
        return sums, counts, n_nonfinite, n_constant
