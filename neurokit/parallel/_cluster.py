"""Dask clusters from the ``cluster:`` configuration: local processes, HPC batch jobs, or a running scheduler.

The caller owns what :func:`cluster_client` yields; the block closes every worker, job and scheduler it started.
"""

from __future__ import annotations

import importlib
import logging
import math
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import dask
import dask.system
from distributed import Client, LocalCluster
from distributed.core import Status
from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.system import MEMORY_LIMIT

from neurokit.config import ClusterConfig
from neurokit.parallel._errors import ClusterError
from neurokit.parallel._sizing import BASELINE_MEMORY, MEMORY_HEADROOM, Plan, format_size, parse_size, plan_workers

__all__ = ["cluster_client", "jobqueue_kwargs", "make_cluster", "plan_for_cluster"]

logger = logging.getLogger("neurokit.parallel")

#: cluster.type -> dask-jobqueue class name
JOBQUEUE_CLASSES = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}

#: Name of the HPC jobs, so `squeue -n neurokit-worker` finds them.
JOB_NAME = "neurokit-worker"

#: How long to wait for the scheduler of a scheduler file to answer.
_JOIN_TIMEOUT = "30s"

#: Milliseconds between checks that lost HPC jobs are replaced (see `_keep_jobs`).
_KEEPER_INTERVAL_MS = 2000


def _dashboard_available() -> bool:
    try:
        importlib.import_module("bokeh")
    except ImportError:
        return False
    return True


def jobqueue_kwargs(cluster: ClusterConfig, *, python: str | None = None, dashboard: bool = True) -> dict[str, Any]:
    """Keyword arguments of the dask-jobqueue cluster class for ``cluster.type``.

    Parameters
    ----------
    cluster : ClusterConfig
        The ``cluster:`` section; ``type`` must be one of slurm, pbs, sge, lsf.
    python : str, optional
        Python executable the jobs start workers with; default ``cluster.python``, else the
        interpreter running this code (``sys.executable``), which must be reachable on the nodes.
    dashboard : bool
        Serve the scheduler's dashboard on port 8787 (or the next free one).

    Returns
    -------
    dict
        Arguments for ``SLURMCluster``/``PBSCluster``/``SGECluster``/``LSFCluster``.

    Raises
    ------
    ClusterError
        If ``cluster.type`` is not an HPC scheduler.
    """
    if cluster.type not in JOBQUEUE_CLASSES:
        raise ClusterError(
            f"cluster.type {cluster.type!r} is not an HPC scheduler; use one of {sorted(JOBQUEUE_CLASSES)}."
        )
    kwargs: dict[str, Any] = {
        "queue": cluster.queue,
        "cores": cluster.cores,
        "processes": cluster.processes,
        "memory": cluster.memory,
        "walltime": cluster.walltime,
        "job_extra_directives": list(cluster.job_extra_directives),
        "job_script_prologue": list(cluster.job_script_prologue),
        "local_directory": cluster.local_directory,
        "log_directory": cluster.log_directory,
        "python": python or cluster.python or sys.executable,
        "interface": cluster.interface,
        "job_name": JOB_NAME,
        # a worker whose scheduler is gone exits instead of holding its allocation
        "death_timeout": 120,
        # without a dashboard the scheduler still serves health/metrics routes: on any free port
        "scheduler_options": {
            "dashboard": dashboard and _dashboard_available(),
            "dashboard_address": ":8787" if dashboard else ":0",
        },
    }
    # SLURM and PBS call the charged account 'account'; SGE and LSF call it 'project'
    kwargs["account" if cluster.type in ("slurm", "pbs") else "project"] = cluster.account
    if cluster.type == "sge":
        kwargs["resource_spec"] = _sge_resource_spec(cluster)
    return kwargs


#: SGE resources that limit or reserve a job's memory.
_SGE_MEMORY = re.compile(r"\b(h_vmem|s_vmem|mem_free|m_mem_free|virtual_free|h_rss|s_rss|mem_req)\s*=")


def _sge_resource_spec(cluster: ClusterConfig) -> str | None:
    """The ``#$ -l`` resources of an SGE job: ``cluster.resource_spec``, else ``h_vmem`` of
    ``cluster.memory`` per slot.

    dask-jobqueue requests no memory from SGE, so without this a worker's memory limit would
    promise memory the job never reserved. SGE counts ``h_vmem`` per slot: a job with
    ``-pe NAME N`` in ``job_extra_directives`` gets N slots, any other one slot. None when a
    directive already asks for memory (the user's request wins).
    """
    if cluster.resource_spec is not None:
        return cluster.resource_spec
    directives = " ".join(cluster.job_extra_directives)
    if _SGE_MEMORY.search(directives):
        return None
    pe = re.search(r"-pe\s+\S+\s+(\d+)", directives)
    slots = int(pe.group(1)) if pe else 1
    if pe is None and cluster.cores > 1:
        logger.warning(
            "SGE jobs get one slot unless they ask for a parallel environment, but cluster.cores is %d: add "
            "'-pe <name> %d' (your site's PE name, e.g. smp) to cluster.job_extra_directives.",
            cluster.cores, cluster.cores,
        )
    per_slot = parse_size(cluster.memory, setting="cluster.memory") // max(slots, 1)
    return f"h_vmem={per_slot // 2**20}M"


def _local_memory_limit(cluster: ClusterConfig, memory_limit: int | str | None) -> int | str:
    value = memory_limit if memory_limit is not None else cluster.memory_limit
    if value == "auto":
        return "auto"
    return parse_size(value, setting="--memory-limit / cluster.memory_limit")


def _check_job_memory(cluster: ClusterConfig, memory_limit: int | str | None) -> None:
    """An HPC worker's memory is its job's memory over its processes; refuse less than asked for."""
    if memory_limit is None or memory_limit == "auto":
        return
    wanted = parse_size(memory_limit, setting="--memory-limit / cluster.memory_limit")
    per_worker = parse_size(cluster.memory, setting="cluster.memory") // cluster.processes
    if per_worker < wanted:
        raise ClusterError(
            f"cluster.memory {cluster.memory} per job over cluster.processes {cluster.processes} gives "
            f"{format_size(per_worker)} per worker, below the {format_size(wanted)} each worker needs; "
            f"set cluster.memory to at least {format_size(wanted * cluster.processes)}."
        )


def _job_class(cluster_class):
    """The cluster's job class, whose ``close`` also marks the job closed.

    dask-jobqueue's ``Job.close`` cancels the job but leaves its status 'running', and
    distributed's SpecCluster then refuses to finish closing (AssertionError) once it has
    created any job; closing would leave the cluster's resources behind.
    """
    base = cluster_class.job_cls

    async def close(self):
        try:
            await base.close(self)
        finally:
            self.status = Status.closed

    return type(base.__name__, (base,), {"close": close, "__module__": __name__})


def make_cluster(
    cluster: ClusterConfig,
    *,
    n_workers: int | None = None,
    memory_limit: int | str | None = None,
    dashboard: bool = True,
):
    """Build the dask cluster that ``cluster`` describes; the caller closes it.

    A local cluster starts its workers at once. An HPC cluster starts only its scheduler:
    no job is submitted until it is scaled (:func:`cluster_client` does that), so its
    ``job_script()`` can be inspected first.

    Parameters
    ----------
    cluster : ClusterConfig
        The ``cluster:`` section.
    n_workers : int, optional
        Local worker processes; default ``cluster.n_workers``, else one per core.
    memory_limit : int or str, optional
        Memory limit per worker (bytes, ``"4GB"`` or ``"auto"``); default ``cluster.memory_limit``.
        For HPC clusters it is checked against ``cluster.memory / cluster.processes``.
    dashboard : bool
        Serve the dask dashboard (needs bokeh).

    Returns
    -------
    distributed.LocalCluster or dask_jobqueue.JobQueueCluster
        The running cluster.

    Raises
    ------
    ClusterError
        For an HPC job too small for ``memory_limit``, or a cluster that fails to start.
    """
    if cluster.type == "local":
        n = n_workers or cluster.n_workers or dask.system.CPU_COUNT
        # dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which makes glibc map and unmap
        # every chunk of volumes the extractor decompresses instead of reusing the buffer: measured
        # 185 -> 131 ms of worker CPU per 4 mm run without it (benchmarks/bench_participant.py).
        # Workers read this when they are spawned (restarts included), so setting it here suffices.
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            return LocalCluster(
                n_workers=n,
                threads_per_worker=cluster.threads_per_worker,
                processes=True,
                memory_limit=_local_memory_limit(cluster, memory_limit),
                local_directory=cluster.local_directory,
                dashboard_address=":8787" if dashboard and _dashboard_available() else ":0",
            )
    _check_job_memory(cluster, memory_limit)
    import dask_jobqueue

    cls = getattr(dask_jobqueue, JOBQUEUE_CLASSES[cluster.type])
    kwargs = jobqueue_kwargs(cluster, dashboard=dashboard)
    if kwargs["log_directory"]:
        Path(kwargs["log_directory"]).mkdir(parents=True, exist_ok=True)
    try:
        return cls(**kwargs, job_cls=_job_class(cls))
    except (OSError, ValueError, RuntimeError) as exc:
        raise ClusterError(
            f"cannot start the {cls.__name__} scheduler: {exc}; check cluster.interface and the other cluster: settings."
        ) from exc


def _scale_jobs(hpc, cluster: ClusterConfig, n_workers: int | None) -> str:
    if cluster.adaptive_maximum is not None:
        hpc.adapt(minimum_jobs=cluster.adaptive_minimum or 0, maximum_jobs=cluster.adaptive_maximum)
        return f"adaptive {cluster.adaptive_minimum or 0}-{cluster.adaptive_maximum} jobs"
    jobs = math.ceil(n_workers / cluster.processes) if n_workers else cluster.n_jobs
    if jobs < 1:
        raise ClusterError(
            "cluster.n_jobs is 0 and no adaptive bounds are set, so no worker would start; "
            "set cluster.n_jobs, or cluster.adaptive_minimum and cluster.adaptive_maximum."
        )
    hpc.scale(jobs=jobs)
    return f"{jobs} job{'s' if jobs != 1 else ''}"


class _WorkerNames(SchedulerPlugin):
    """Scheduler plugin remembering the name of every worker that connected, however briefly."""

    name = "neurokit-worker-names"

    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def add_worker(self, scheduler, worker):
        state = scheduler.workers.get(worker)
        if state is not None:
            self.seen.add(str(state.name))


def _keep_jobs(hpc):
    """Resubmit HPC jobs that vanished (cancelled, pre-empted, out of walltime).

    dask's SpecCluster forgets a job once its worker has been gone for
    ``distributed.deploy.lost-worker-timeout``, but only for one-process jobs (a job of
    several processes has workers named ``<job>-0``, ``<job>-1``, ... that it does not match),
    and it only starts a replacement the next time the cluster is scaled: with a fixed number
    of jobs, or adaptive scaling at its maximum, that never happens. Every few seconds this
    forgets each job whose workers connected once and have all been gone for that timeout,
    and re-asserts the number of jobs, which submits the replacements. A job still waiting in
    the queue (no worker of it ever connected) is left alone.

    Returns
    -------
    tornado.ioloop.PeriodicCallback
        Started on the cluster's event loop; stop it before closing the cluster.
    """
    import asyncio

    from dask.utils import parse_timedelta
    from tornado.ioloop import PeriodicCallback

    # one interval later than SpecCluster's own clean-up, so that one-process jobs are its business
    timeout = parse_timedelta(dask.config.get("distributed.deploy.lost-worker-timeout")) + _KEEPER_INTERVAL_MS / 1000
    names = _WorkerNames()
    current: dict[str, object] = {}  # job name -> the job object last seen under that name
    lost_since: dict[str, float] = {}

    def reassert():
        try:
            if hpc.status.name != "running":
                return
            present = {str(w["name"]) for w in hpc.scheduler_info.get("workers", {}).values()}
            now = time.monotonic()
            for job, spec in list(hpc.worker_spec.items()):
                workers = {f"{job}{suffix}" for suffix in spec.get("group", [""])}
                obj = hpc.workers.get(job)
                if job in current and current[job] is not obj:
                    # a new job under an old name: the old one's workers say nothing about it
                    names.seen.difference_update(workers - present)
                    lost_since.pop(job, None)
                current[job] = obj
                if obj is None or workers & present or not workers & names.seen:
                    lost_since.pop(job, None)
                    continue
                if now - lost_since.setdefault(job, now) >= timeout:
                    logger.info("HPC job %s lost its workers; submitting a replacement", obj.job_id)
                    asyncio.ensure_future(hpc.workers.pop(job).close())
                    names.seen.difference_update(workers)
                    lost_since.pop(job, None)
                    current[job] = None
            hpc.scale(jobs=len(hpc.worker_spec))
        except Exception:  # pragma: no cover - a failed check must never kill the loop
            logger.debug("could not re-assert the number of HPC jobs", exc_info=True)

    keeper = PeriodicCallback(reassert, _KEEPER_INTERVAL_MS)

    def start():
        hpc.scheduler.add_plugin(names, name=names.name)
        keeper.start()

    hpc.loop.add_callback(start)
    return keeper


def _keep_local_workers(local):
    """Replace local worker processes whose nanny gave up on them.

    A nanny restarts its worker when the process dies, but when the scheduler notices the
    broken connection first (e.g. every worker killed at once by the OOM killer) the nanny
    closes instead, and a ``LocalCluster`` never starts another: the batch would wait forever.
    Every few seconds this forgets closed nannies and lets the cluster start their replacements.

    Returns
    -------
    tornado.ioloop.PeriodicCallback
        Started on the cluster's event loop; stop it before closing the cluster.
    """
    import asyncio

    from distributed.core import Status
    from tornado.ioloop import PeriodicCallback

    def reassert():
        try:
            if local.status != Status.running:
                return
            closed = [name for name, nanny in local.workers.items() if nanny.status in (Status.closed, Status.failed)]
            for name in closed:
                local.workers.pop(name)
            if closed:
                logger.warning("%d local dask worker(s) were lost; starting replacements", len(closed))
                asyncio.ensure_future(local._correct_state())
        except Exception:  # pragma: no cover - a failed check must never kill the loop
            logger.debug("could not check the local dask workers", exc_info=True)

    keeper = PeriodicCallback(reassert, _KEEPER_INTERVAL_MS)
    local.loop.add_callback(keeper.start)
    return keeper


def _close_quietly(obj, what: str) -> None:
    try:
        obj.close()
    except BaseException:  # noqa: BLE001 - closing must go on through Ctrl-C and errors alike
        logger.warning("could not close the %s cleanly", what, exc_info=True)


@contextmanager
def cluster_client(
    cluster: ClusterConfig,
    *,
    n_workers: int | None = None,
    memory_limit: int | str | None = None,
    scheduler_file: str | Path | None = None,
    dashboard: bool = True,
    log: Callable[[str], None] | None = None,
) -> Iterator[Client]:
    """A ``distributed.Client`` on the cluster that the configuration describes.

    Local (``cluster.type: local``): a ``LocalCluster`` of single-threaded worker processes,
    one per core unless ``n_workers`` says otherwise. HPC (slurm, pbs, sge, lsf): a
    dask-jobqueue cluster whose jobs are submitted now (``cluster.n_jobs``) or on demand
    (``cluster.adaptive_minimum``/``adaptive_maximum``); a job that disappears is resubmitted.
    A scheduler file joins a scheduler somebody else started, and starts nothing.

    Parameters
    ----------
    cluster : ClusterConfig
        The ``cluster:`` section of the configuration.
    n_workers : int, optional
        Workers to start (e.g. ``Plan.n_workers``); default from the configuration.
    memory_limit : int or str, optional
        Memory limit per worker (e.g. ``Plan.memory_limit``); default from the configuration.
    scheduler_file : str or Path, optional
        Join this scheduler instead (overrides ``cluster.scheduler_file`` and ``cluster.type``).
    dashboard : bool
        Serve and announce the dask dashboard (needs bokeh).
    log : callable, optional
        Receives one-line messages (dashboard address, jobs submitted); default: the
        ``neurokit.parallel`` logger at INFO level.

    Yields
    ------
    distributed.Client
        Connected client; it, and any cluster started for it, is closed when the block
        ends, also on an exception or Ctrl-C.

    Raises
    ------
    ClusterError
        For a scheduler file that does not exist or whose scheduler does not answer, and for
        impossible sizes (see :func:`make_cluster`).

    Examples
    --------
    >>> with cluster_client(config.cluster, n_workers=2) as client:  # doctest: +SKIP
    ...     client.submit(sum, [1, 2]).result()
    3
    """
    say = log or logger.info
    scheduler_file = scheduler_file or cluster.scheduler_file
    if scheduler_file is not None:
        path = Path(scheduler_file)
        if not path.is_file():
            raise ClusterError(
                f"scheduler file {path} does not exist; start a scheduler with "
                f"`dask scheduler --scheduler-file {path}` or drop --scheduler-file."
            )
        try:
            client = Client(scheduler_file=str(path), timeout=_JOIN_TIMEOUT)
        except OSError as exc:
            raise ClusterError(
                f"the scheduler in {path} does not answer ({exc}); is it still running? "
                "Start it again or drop --scheduler-file."
            ) from None
        try:
            n = len(client.scheduler_info(n_workers=-1)["workers"])
            say(f"joined the dask scheduler at {client.scheduler.address} ({n} workers now)")
            if dashboard and _dashboard_available():
                say(f"dask dashboard: {client.dashboard_link}")
            yield client
        finally:
            _close_quietly(client, "client")
        return

    dask_cluster = make_cluster(cluster, n_workers=n_workers, memory_limit=memory_limit, dashboard=dashboard)
    client = keeper = None
    try:
        if cluster.type == "local":
            workers = len(dask_cluster.workers)
            keeper = _keep_local_workers(dask_cluster)
            say(f"started a local dask cluster of {workers} worker{'s' if workers != 1 else ''}")
        else:
            size = _scale_jobs(dask_cluster, cluster, n_workers)
            keeper = _keep_jobs(dask_cluster)
            say(
                f"asked {cluster.type.upper()} for {size} of {cluster.cores} core{'s' if cluster.cores != 1 else ''}"
                f" and {cluster.memory} each"
                + (f" in queue {cluster.queue}" if cluster.queue else "")
                + f"; scheduler at {dask_cluster.scheduler_address}"
            )
        client = Client(dask_cluster)
        if dashboard and _dashboard_available():
            say(f"dask dashboard: {client.dashboard_link}")
        elif dashboard:
            say("no dask dashboard: install bokeh (pip install 'bokeh>=3.1') to serve one")
        yield client
    finally:
        if keeper is not None:
            dask_cluster.loop.add_callback(keeper.stop)
        if client is not None:
            _close_quietly(client, "client")
        _close_quietly(dask_cluster, "cluster")


def plan_for_cluster(
    cluster: ClusterConfig,
    run_sizes: Iterable[int],
    *,
    n_workers: int | None = None,
    memory_limit: int | str | None = None,
) -> Plan | None:
    """The worker plan for a batch of runs on the cluster that ``cluster`` describes.

    Parameters
    ----------
    cluster : ClusterConfig
        The ``cluster:`` section.
    run_sizes : iterable of int
        Estimated peak bytes of each run (:func:`~neurokit.parallel.estimate_task_memory`).
    n_workers : int, optional
        Workers asked for on the command line; default ``cluster.n_workers``.
    memory_limit : int or str, optional
        Memory limit per worker asked for on the command line; default ``cluster.memory_limit``.

    Returns
    -------
    Plan or None
        Local: sized to this machine's cores and memory. HPC: the jobs' workers and their
        share of each job's memory. None with a scheduler file: its workers exist already.

    Raises
    ------
    ClusterError
        If a worker would have less memory than the largest run needs; the message names
        the setting to raise and by how much.
    """
    sizes = [int(s) for s in run_sizes]
    if cluster.scheduler_file is not None:
        return None
    if memory_limit is None:
        memory_limit = cluster.memory_limit
    if cluster.type == "local":
        return plan_workers(
            sizes,
            total_memory=MEMORY_LIMIT,
            cores=dask.system.CPU_COUNT,
            memory_limit=memory_limit,
            n_workers=n_workers or cluster.n_workers,
        )
    per_worker = parse_size(cluster.memory, setting="cluster.memory") // cluster.processes
    largest = max(sizes, default=BASELINE_MEMORY)
    if largest > per_worker:
        raise ClusterError(
            f"cluster.memory {cluster.memory} per job over cluster.processes {cluster.processes} gives "
            f"{format_size(per_worker)} per worker, but the largest run needs ~{format_size(largest)}; "
            f"set cluster.memory to at least {format_size(math.ceil(largest / MEMORY_HEADROOM) * cluster.processes)}."
        )
    _check_job_memory(cluster, memory_limit)
    jobs = cluster.adaptive_maximum if cluster.adaptive_maximum is not None else cluster.n_jobs
    workers = n_workers or max(jobs, 1) * cluster.processes
    return Plan(
        n_workers=workers,
        memory_limit=per_worker,
        threads_per_worker=max(1, cluster.cores // cluster.processes),
        n_runs=len(sizes),
        largest_task=largest,
        total_memory=per_worker * workers,
    )
