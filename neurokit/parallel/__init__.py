"""Dask clusters for neurokit's batch pipelines: local, HPC (SLURM, PBS, SGE, LSF) or an existing scheduler.

The caller owns the cluster: open one with :func:`cluster_client`, pass the client to a pipeline.
Size it first with :func:`estimate_task_memory` and :func:`plan_for_cluster` / :func:`plan_workers`
(or open a sized one with :func:`sized_client`); :func:`submit_shared` and :func:`quiet_worker_logs`
are what a batch does on the client before its tasks.
"""

from neurokit.parallel._cluster import (
    JOB_NAME,
    JOBQUEUE_CLASSES,
    cluster_client,
    jobqueue_kwargs,
    make_cluster,
    plan_for_cluster,
)
from neurokit.parallel._errors import ClusterError
from neurokit.parallel._sizing import (
    BASELINE_MEMORY,
    DEFAULT_CHUNK_BYTES,
    MEMORY_HEADROOM,
    Plan,
    estimate_task_memory,
    format_size,
    parse_size,
    plan_workers,
)
from neurokit.parallel._tasks import quiet_worker_logs, sized_client, submit_shared

__all__ = [
    "BASELINE_MEMORY",
    "DEFAULT_CHUNK_BYTES",
    "JOBQUEUE_CLASSES",
    "JOB_NAME",
    "MEMORY_HEADROOM",
    "ClusterError",
    "Plan",
    "cluster_client",
    "estimate_task_memory",
    "format_size",
    "jobqueue_kwargs",
    "make_cluster",
    "parse_size",
    "plan_for_cluster",
    "plan_workers",
    "quiet_worker_logs",
    "sized_client",
    "submit_shared",
]
