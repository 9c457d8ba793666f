"""Job sizing: how much memory one run's task needs, and how many workers fit the machine.

Pure arithmetic on sizes, so the pipeline can print its plan before any worker starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from dask.utils import format_bytes, parse_bytes

from neurokit.parallel._errors import ClusterError

__all__ = [
    "BASELINE_MEMORY",
    "DEFAULT_CHUNK_BYTES",
    "MEMORY_HEADROOM",
    "Plan",
    "estimate_task_memory",
    "format_size",
    "parse_size",
    "plan_workers",
]

#: Resident memory of a dask worker process once numpy, scipy, pandas, nibabel, nilearn and
#: scikit-learn are imported: measured at ~200 MiB (dask 2026.8, Python 3.11, Linux); 300 MiB
#: leaves room for neurokit's own modules and allocator slack.
BASELINE_MEMORY = 300 * 2**20

#: Upper bound on the raw bytes the streamed extractor decompresses at a time when it picks
#: the chunk itself (``neurokit.extract`` with ``chunk_volumes=None`` reads about 16 MiB of
#: volumes, at least one); twice that keeps the estimate safe if the extractor's choice grows.
#: Measured: extracting a 97x115x97x120 float32 run peaks at ~60 MiB above the imports.
DEFAULT_CHUNK_BYTES = 32 * 2**20

#: Workers pause at 80% of their memory limit and are restarted at 95% (distributed's
#: defaults); a task's estimate must fit under the pause line, so the limit is estimate / 0.8.
MEMORY_HEADROOM = 0.8


def parse_size(size: str | int | float, *, setting: str = "memory") -> int:
    """Bytes in a size such as ``"4GB"``, ``"512MiB"`` or ``4e9``.

    Parameters
    ----------
    size : str or int or float
        Decimal (kB, MB, GB: powers of 1000) or binary (KiB, MiB, GiB: powers of 1024) units.
    setting : str
        Name of the option the size came from, used in the error message.

    Returns
    -------
    int
        Number of bytes.

    Raises
    ------
    ClusterError
        If the text is not a size, or is not positive.
    """
    try:
        n = int(parse_bytes(size))
    except (ValueError, TypeError):
        raise ClusterError(f"{setting} must be a size such as '4GB' or '512MiB'; got {size!r}.") from None
    if n <= 0:
        raise ClusterError(f"{setting} must be a positive size such as '4GB'; got {size!r}.")
    return n


def format_size(n_bytes: int | float) -> str:
    """Human-readable size in binary units, e.g. ``"1.50 GiB"``."""
    return format_bytes(int(n_bytes))


def estimate_task_memory(
    shape: Sequence[int],
    dtype_itemsize: int = 4,
    *,
    chunk_volumes: int | None = None,
    n_regions: int = 100,
    n_confounds: int = 40,
    baseline: int = BASELINE_MEMORY,
) -> int:
    """Peak memory, in bytes, of one run's task (extract -> denoise -> connectivity -> QC -> write).

    Extraction is streamed: only a chunk of volumes is decompressed at a time, read in
    the file's data type and converted to float64, then reduced to region sums by a sparse
    (region x voxel) matrix. Everything after extraction works on small
    ``(n_timepoints, n_regions)`` and ``(n_timepoints, n_confounds)`` arrays, of which a few
    copies are alive at once. The worker's interpreter and libraries come on top.

    Parameters
    ----------
    shape : sequence of int
        Shape of the BOLD image, ``(x, y, z, n_timepoints)``; a 3-D shape means one volume.
    dtype_itemsize : int
        Bytes per voxel value on disk (2 for int16, 4 for float32).
    chunk_volumes : int, optional
        Volumes decompressed at a time by the streamed extractor; None = its automatic
        choice, as many volumes as fit in :data:`DEFAULT_CHUNK_BYTES` of raw data (at least one).
    n_regions : int
        Atlas regions.
    n_confounds : int
        Confound columns loaded (all of them are read before the strategy selects some).
    baseline : int
        Bytes of the worker process before the task starts (:data:`BASELINE_MEMORY`).

    Returns
    -------
    int
        Estimated peak bytes of a worker running this task.

    Raises
    ------
    ClusterError
        For a shape that is not 3-D or 4-D with positive sides, or a non-positive size.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (3, 4) or min(shape) < 1:
        raise ClusterError(f"shape must be a BOLD image shape (x, y, z, n_timepoints) of positive sides; got {shape}.")
    if dtype_itemsize < 1 or (chunk_volumes is not None and chunk_volumes < 1) or n_regions < 1 or n_confounds < 0:
        raise ClusterError(
            "dtype_itemsize, chunk_volumes and n_regions must be positive and n_confounds non-negative; "
            f"got {dtype_itemsize}, {chunk_volumes}, {n_regions}, {n_confounds}."
        )
    n_voxels = shape[0] * shape[1] * shape[2]
    n_timepoints = shape[3] if len(shape) == 4 else 1
    if chunk_volumes is None:
        chunk_volumes = max(1, DEFAULT_CHUNK_BYTES // (n_voxels * dtype_itemsize))
    chunk = min(chunk_volumes, n_timepoints)
    # the raw chunk, its float64 copy, and the decompressed byte buffer it was read from
    streamed = chunk * n_voxels * (2 * dtype_itemsize + 8)
    # sparse region x voxel weights (value + index per voxel) and the brain mask
    atlas = n_voxels * (8 + 8 + 1)
    # region signals and confounds, with ~4 copies alive through denoising and connectivity
    small = 4 * n_timepoints * (n_regions + n_confounds) * 8 + 4 * n_regions * n_regions * 8
    return int(baseline + streamed + atlas + small)


@dataclass(frozen=True)
class Plan:
    """How many workers to start and how much memory each gets.

    Attributes
    ----------
    n_workers : int
        Worker processes.
    memory_limit : int
        Bytes per worker (its memory limit).
    threads_per_worker : int
        Threads per worker (1: runs are CPU-bound numpy code holding the GIL in parts).
    n_runs : int
        Tasks to run.
    largest_task : int
        Estimated bytes of the largest task.
    total_memory : int
        Bytes available to all workers together.
    """

    n_workers: int
    memory_limit: int
    threads_per_worker: int
    n_runs: int
    largest_task: int
    total_memory: int

    @property
    def runs_per_worker(self) -> float:
        """Expected runs each worker processes."""
        return self.n_runs / self.n_workers

    def describe(self) -> str:
        """One paragraph the pipeline prints before starting."""
        return (
            f"{self.n_runs} runs on {self.n_workers} worker{'s' if self.n_workers != 1 else ''} "
            f"x {self.threads_per_worker} thread, {format_size(self.memory_limit)} memory limit each "
            f"(largest run needs ~{format_size(self.largest_task)}; "
            f"{format_size(self.total_memory)} available); "
            f"~{self.runs_per_worker:.1f} runs per worker."
        )


def plan_workers(
    run_sizes: Iterable[int],
    *,
    total_memory: int | str,
    cores: int,
    memory_limit: int | str | None = None,
    n_workers: int | None = None,
) -> Plan:
    """Choose the number of workers and each one's memory limit for a batch of runs.

    Parameters
    ----------
    run_sizes : iterable of int
        Estimated peak bytes of each run's task (:func:`estimate_task_memory`).
    total_memory : int or str
        Memory available to all workers together (bytes or a size such as ``"16GB"``).
    cores : int
        Cores available; at most one single-threaded worker per core.
    memory_limit : int or str, optional
        Memory limit per worker chosen by the user (``--memory-limit``); None chooses one:
        the available memory shared equally among the workers.
    n_workers : int, optional
        Workers requested by the user (``--n-workers``); None = one per core, fewer when memory
        or the number of runs is the limit.

    Returns
    -------
    Plan
        Workers, memory each, expected runs per worker.

    Raises
    ------
    ClusterError
        If ``memory_limit`` is smaller than what the largest run needs, or the machine does
        not have the memory for even one worker; the message gives the size that would work.
    """
    sizes = [int(s) for s in run_sizes]
    total = parse_size(total_memory, setting="total_memory") if isinstance(total_memory, str) else int(total_memory)
    if cores < 1:
        raise ClusterError(f"cores must be at least 1; got {cores}.")
    if n_workers is not None and n_workers < 1:
        raise ClusterError(f"--n-workers / cluster.n_workers must be at least 1; got {n_workers}.")
    largest = max(sizes, default=BASELINE_MEMORY)
    needed = math.ceil(largest / MEMORY_HEADROOM)
    wanted = min(n_workers or cores, max(len(sizes), 1))

    if memory_limit is not None and memory_limit != "auto":
        limit = parse_size(memory_limit, setting="--memory-limit / cluster.memory_limit")
        if limit < largest:
            raise ClusterError(
                f"--memory-limit / cluster.memory_limit {format_size(limit)} is smaller than the largest run's "
                f"estimated {format_size(largest)}; its worker would be killed. "
                f"Set it to at least {format_size(needed)} (or 'auto')."
            )
        if limit > total:
            raise ClusterError(
                f"--memory-limit / cluster.memory_limit {format_size(limit)} exceeds the {format_size(total)} "
                f"available; lower it to at most {format_size(total)}."
            )
        workers = max(1, min(wanted, total // limit))
    else:
        if needed > total:
            raise ClusterError(
                f"the largest run needs ~{format_size(needed)} but only {format_size(total)} is available; "
                "run on a machine with more memory, or leave this run out with inputs.exclude."
            )
        workers = max(1, min(wanted, total // needed))
        limit = total // workers
    return Plan(
        n_workers=int(workers),
        memory_limit=int(limit),
        threads_per_worker=1,
        n_runs=len(sizes),
        largest_task=int(largest),
        total_memory=int(total),
    )
