"""Submitting a batch to a dask client: a cluster sized for its tasks, data every task shares,
and quiet worker logs.
"""

from __future__ import annotations

import logging

from distributed.diagnostics.plugin import WorkerPlugin

from neurokit.parallel._cluster import cluster_client, plan_for_cluster

__all__ = ["quiet_worker_logs", "sized_client", "submit_shared"]

log = logging.getLogger("neurokit.parallel")


def sized_client(cluster, task_memory):
    """A client on a new cluster sized from the tasks' estimated memory (the plan is logged first).

    Parameters
    ----------
    cluster : neurokit.config.ClusterConfig
        Where and how to run.
    task_memory : sequence of int
        Estimated peak bytes of each task (:func:`estimate_task_memory`).

    Returns
    -------
    contextlib.AbstractContextManager
        :func:`cluster_client`'s context: the client, closed with its cluster on exit.
    """
    plan = plan_for_cluster(cluster, list(task_memory))
    kwargs = {}
    if plan is not None:
        log.info("plan: %s", plan.describe())
        kwargs = {"n_workers": plan.n_workers, "memory_limit": plan.memory_limit}
    return cluster_client(cluster, **kwargs)


def _identity(value):
    return value


def submit_shared(client, value, key):
    """Put ``value`` on the cluster for every task of a batch, as a task rather than scattered data.

    If every worker holding it dies, the scheduler recomputes it from the graph; scattered data
    would be lost with them.

    Parameters
    ----------
    client : distributed.Client
    value : object
        Picklable; passed to tasks through the returned future.
    key : str
        The task's key.

    Returns
    -------
    distributed.Future
    """
    return client.submit(_identity, value, key=key, pure=False)


class _QuietWorkerLogs(WorkerPlugin):
    """Silence ``distributed.worker``'s per-task failure dumps (also on restarted workers)."""

    def setup(self, worker):
        logging.getLogger("distributed.worker").setLevel(logging.CRITICAL)


def quiet_worker_logs(client) -> None:
    """Silence the workers' own dump of every failed task: the caller logs each failure once,
    with its context, and the same exception twice on the terminal is noise."""
    client.register_plugin(_QuietWorkerLogs(), name="neurokit-quiet-worker-logs")
