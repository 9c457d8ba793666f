"""neurokit.parallel: configuration -> dask clusters, job scripts, sizing, local and joined clients."""

import os
import re

import pytest
from distributed import LocalCluster

from neurokit.config import ClusterConfig, Config, ConfigError
from neurokit.parallel import (
    BASELINE_MEMORY,
    DEFAULT_CHUNK_BYTES,
    JOB_NAME,
    ClusterError,
    Plan,
    cluster_client,
    estimate_task_memory,
    format_size,
    jobqueue_kwargs,
    make_cluster,
    parse_size,
    plan_for_cluster,
    plan_workers,
)

MiB = 2**20
GiB = 2**30


def _hpc(kind, **values):
    return Config().updated({"cluster.type": kind, **{f"cluster.{k}": v for k, v in values.items()}}).cluster


HPC = dict(
    queue="short",
    account="lab42",
    cores=2,
    processes=2,
    memory="8GB",
    walltime="02:30:00",
    job_script_prologue=["source /opt/venv/bin/activate"],
    local_directory="/scratch/tmp",
)


# -- configuration -> dask-jobqueue arguments and job scripts ------------------------------------


def test_jobqueue_kwargs_map_every_setting():
    cluster = _hpc("slurm", **HPC, job_extra_directives=["--qos=short"], python="/opt/venv/bin/python")
    kwargs = jobqueue_kwargs(cluster, dashboard=False)
    assert kwargs["queue"] == "short" and kwargs["account"] == "lab42"
    assert (kwargs["cores"], kwargs["processes"], kwargs["memory"]) == (2, 2, "8GB")
    assert kwargs["walltime"] == "02:30:00"
    assert kwargs["job_extra_directives"] == ["--qos=short"]
    assert kwargs["job_script_prologue"] == ["source /opt/venv/bin/activate"]
    assert kwargs["local_directory"] == "/scratch/tmp"
    assert kwargs["python"] == "/opt/venv/bin/python"
    assert kwargs["job_name"] == JOB_NAME
    assert kwargs["scheduler_options"]["dashboard"] is False


def test_jobqueue_kwargs_default_python_is_this_interpreter():
    import sys

    assert jobqueue_kwargs(_hpc("slurm"))["python"] == sys.executable


@pytest.mark.parametrize("kind", ["sge", "lsf"])
def test_account_is_project_for_sge_and_lsf(kind):
    kwargs = jobqueue_kwargs(_hpc(kind, account="lab42"))
    assert kwargs["project"] == "lab42" and "account" not in kwargs


def test_sge_jobs_request_their_memory(caplog):
    # dask-jobqueue asks SGE for no memory: neurokit asks for cluster.memory, per slot
    assert jobqueue_kwargs(_hpc("sge", memory="8GB"))["resource_spec"] == "h_vmem=7629M"
    with caplog.at_level("WARNING", logger="neurokit.parallel"):
        parallel = _hpc("sge", memory="8GB", cores=4, processes=4, job_extra_directives=["-pe smp 4"])
        assert jobqueue_kwargs(parallel)["resource_spec"] == "h_vmem=1907M"
    assert not caplog.records
    with caplog.at_level("WARNING", logger="neurokit.parallel"):
        jobqueue_kwargs(_hpc("sge", memory="8GB", cores=4, processes=4))
    assert "add '-pe <name> 4'" in caplog.text
    # the user's own request wins
    assert jobqueue_kwargs(_hpc("sge", job_extra_directives=["-l mem_free=6G"]))["resource_spec"] is None
    assert jobqueue_kwargs(_hpc("sge", resource_spec="h_vmem=6G,gpu=0"))["resource_spec"] == "h_vmem=6G,gpu=0"
    assert "resource_spec" not in jobqueue_kwargs(_hpc("slurm"))
    with pytest.raises(ConfigError, match=r"cluster.resource_spec is for SGE .* with type 'pbs'"):
        _hpc("pbs", resource_spec="h_vmem=4G")


def test_sge_job_script_requests_memory():
    with make_cluster(_hpc("sge", memory="8GB"), dashboard=False) as hpc:
        assert "#$ -l h_vmem=7629M" in hpc.job_script().splitlines()


def test_jobqueue_kwargs_refuse_local():
    with pytest.raises(ClusterError, match=r"cluster.type 'local' is not an HPC scheduler; use one of"):
        jobqueue_kwargs(ClusterConfig())


EXPECTED_LINES = {
    "slurm": [
        "#SBATCH -J neurokit-worker",
        "#SBATCH -p short",
        "#SBATCH -A lab42",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=8G",
        "#SBATCH -t 02:30:00",
        "#SBATCH --qos=short",
    ],
    "pbs": [
        "#PBS -N neurokit-worker",
        "#PBS -q short",
        "#PBS -A lab42",
        "#PBS -l select=1:ncpus=2:mem=7630MB",
        "#PBS -l walltime=02:30:00",
        "#PBS -l place=scatter",
    ],
    "sge": ["#$ -N neurokit-worker", "#$ -q short", "#$ -P lab42", "#$ -l h_rt=02:30:00", "#$ -l h_vmem=4G"],
    "lsf": ["#BSUB -J neurokit-worker", "#BSUB -q short", '#BSUB -P "lab42"', "#BSUB -n 2", "#BSUB -W 02:30:00"],
}
EXTRA = {"slurm": "--qos=short", "pbs": "-l place=scatter", "sge": "-l h_vmem=4G", "lsf": "-R span[hosts=1]"}


@pytest.mark.parametrize("kind", sorted(EXPECTED_LINES))
def test_job_script_carries_the_settings(kind):
    cluster = _hpc(kind, **HPC, job_extra_directives=[EXTRA[kind]])
    with make_cluster(cluster, dashboard=False) as hpc:
        script = hpc.job_script()
        assert not hpc.workers  # nothing submitted before scaling
    lines = script.splitlines()
    for line in EXPECTED_LINES[kind]:
        assert line in lines, f"{line!r} missing from\n{script}"
    assert "source /opt/venv/bin/activate" in lines
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    assert "--nworkers 2" in worker and "--nthreads 1" in worker
    assert "--memory-limit 3.73GiB" in worker  # 8 GB over two processes
    assert "--local-directory /scratch/tmp" in worker


def test_job_script_writes_logs_where_asked(tmp_path):
    with make_cluster(_hpc("slurm", log_directory=str(tmp_path / "logs")), dashboard=False) as hpc:
        script = hpc.job_script()
    assert f"#SBATCH -o {tmp_path / 'logs'}/neurokit-worker-%J.out" in script.splitlines()
    assert (tmp_path / "logs").is_dir()


def test_hpc_job_too_small_for_memory_limit():
    with pytest.raises(ClusterError, match=r"cluster.memory 2GB per job over cluster.processes 2 gives 0.93 GiB"
                       r" per worker, below the 1.86 GiB .* set cluster.memory to at least 3.73 GiB"):
        make_cluster(_hpc("slurm", cores=2, processes=2, memory="2GB"), memory_limit="2GB")


def test_zero_jobs_refused():
    with pytest.raises(ClusterError, match=r"cluster.n_jobs is 0 and no adaptive bounds are set"):
        with cluster_client(_hpc("slurm", n_jobs=0), dashboard=False):
            pass


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"cluster.memory": "lots"}, r"cluster.memory must be a size such as '4GB'"),
        ({"cluster.memory_limit": "big"}, r"cluster.memory_limit must be a size such as '4GB' .* or 'auto'"),
        ({"cluster.processes": 4}, r"cluster.processes \(4\) exceeds cluster.cores \(1\)"),
        ({"cluster.adaptive_minimum": 1}, r"adaptive_minimum is set without cluster.adaptive_maximum"),
        ({"cluster.adaptive_minimum": 5, "cluster.adaptive_maximum": 2}, r"adaptive_minimum \(5\) exceeds"),
        ({"cluster.type": "condor"}, r"cluster.type: Input should be 'local', 'slurm'"),
    ],
)
def test_cluster_config_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        Config().updated(values)


# -- sizes and plans ------------------------------------------------------------------------------


def test_parse_and_format_sizes():
    assert parse_size("4GB") == 4 * 10**9
    assert parse_size("512MiB") == 512 * MiB
    assert parse_size(1024) == 1024
    assert format_size(1536 * MiB) == "1.50 GiB"
    with pytest.raises(ClusterError, match=r"--memory-limit must be a size such as '4GB' or '512MiB'; got 'four'"):
        parse_size("four", setting="--memory-limit")
    with pytest.raises(ClusterError, match=r"memory must be a positive size"):
        parse_size("0B")


def test_estimate_is_streamed_not_whole_run():
    short = estimate_task_memory((10, 12, 14, 100), 4, chunk_volumes=32)
    long = estimate_task_memory((10, 12, 14, 2000), 4, chunk_volumes=32)
    n_voxels = 10 * 12 * 14
    # the chunk is bounded: a 20x longer run adds only its small region/confound arrays
    assert long - short == 4 * 1900 * (100 + 40) * 8
    assert short == BASELINE_MEMORY + 32 * n_voxels * (2 * 4 + 8) + n_voxels * 17 + 4 * 100 * 140 * 8 + 4 * 100**2 * 8
    # a run shorter than the chunk reads only its own volumes
    assert estimate_task_memory((10, 12, 14, 8), 2, chunk_volumes=32) < estimate_task_memory((10, 12, 14, 32), 2)
    # bigger chunks cost more
    assert estimate_task_memory((10, 12, 14, 200), 4, chunk_volumes=64) > short


def test_estimate_automatic_chunk_is_bounded_in_bytes():
    # the automatic chunk holds at most DEFAULT_CHUNK_BYTES of raw volumes
    shape = (97, 115, 97, 300)
    per_volume = 97 * 115 * 97 * 4
    volumes = DEFAULT_CHUNK_BYTES // per_volume
    assert estimate_task_memory(shape, 4) == estimate_task_memory(shape, 4, chunk_volumes=volumes)
    # a volume larger than the chunk budget is still read whole
    huge = (400, 400, 400, 10)
    assert estimate_task_memory(huge, 4) == estimate_task_memory(huge, 4, chunk_volumes=1)


def test_estimate_of_a_typical_run_is_below_a_gigabyte():
    # MNI 2 mm grid, 300 float32 volumes: ~1.3 GB uncompressed, but streamed
    estimate = estimate_task_memory((97, 115, 97, 300), 4)
    assert BASELINE_MEMORY < estimate < 600 * MiB
    assert estimate_task_memory((97, 115, 97, 300), 4, chunk_volumes=32) < GiB


@pytest.mark.parametrize(
    ("shape", "kwargs", "message"),
    [
        ((10, 10), {}, r"shape must be a BOLD image shape \(x, y, z, n_timepoints\)"),
        ((10, 0, 10, 5), {}, r"shape must be .* positive sides; got \(10, 0, 10, 5\)"),
        ((10, 10, 10, 5), {"chunk_volumes": 0}, r"chunk_volumes and n_regions must be positive"),
    ],
)
def test_estimate_errors(shape, kwargs, message):
    with pytest.raises(ClusterError, match=message):
        estimate_task_memory(shape, 4, **kwargs)


def test_plan_one_worker_per_core_with_memory_shared():
    plan = plan_workers([500 * MiB] * 40, total_memory="16GiB", cores=4)
    assert plan == Plan(
        n_workers=4, memory_limit=4 * GiB, threads_per_worker=1, n_runs=40, largest_task=500 * MiB,
        total_memory=16 * GiB,
    )
    assert plan.runs_per_worker == 10
    text = plan.describe()
    assert text.startswith("40 runs on 4 workers x 1 thread, 4.00 GiB memory limit each")
    assert "largest run needs ~500.00 MiB" in text and "~10.0 runs per worker" in text


def test_plan_memory_bound_and_run_bound():
    # 2 GiB runs on a 5 GiB, 8-core machine: memory allows two workers (2 GiB / 0.8 = 2.5 GiB each)
    assert plan_workers([2 * GiB] * 10, total_memory=5 * GiB, cores=8).n_workers == 2
    # three runs never need more than three workers
    assert plan_workers([100 * MiB] * 3, total_memory=64 * GiB, cores=16).n_workers == 3
    assert plan_workers([], total_memory=8 * GiB, cores=2).n_workers == 1


def test_plan_with_user_limit_and_workers():
    plan = plan_workers([300 * MiB] * 10, total_memory=8 * GiB, cores=8, memory_limit="1GiB", n_workers=3)
    assert (plan.n_workers, plan.memory_limit) == (3, GiB)
    plan = plan_workers([300 * MiB] * 10, total_memory=2 * GiB, cores=8, memory_limit="1GiB")
    assert plan.n_workers == 2  # the memory, not the cores, is the limit


def test_plan_refuses_a_limit_below_the_largest_run():
    with pytest.raises(
        ClusterError,
        match=r"--memory-limit / cluster.memory_limit 512.00 MiB is smaller than the largest run's estimated "
        r"1.00 GiB; its worker would be killed. Set it to at least 1.25 GiB",
    ):
        plan_workers([100 * MiB, GiB], total_memory=16 * GiB, cores=4, memory_limit="512MiB")


def test_plan_refuses_impossible_memory():
    with pytest.raises(ClusterError, match=r"exceeds the 4.00 GiB available; lower it to at most 4.00 GiB"):
        plan_workers([GiB], total_memory=4 * GiB, cores=4, memory_limit="8GiB")
    with pytest.raises(ClusterError, match=r"the largest run needs ~5.00 GiB but only 2.00 GiB is available"):
        plan_workers([4 * GiB], total_memory=2 * GiB, cores=4)
    with pytest.raises(ClusterError, match=r"--n-workers / cluster.n_workers must be at least 1; got 0"):
        plan_workers([GiB], total_memory=4 * GiB, cores=4, n_workers=0)


def test_plan_for_cluster_local_and_hpc():
    sizes = [400 * MiB] * 12
    local = plan_for_cluster(ClusterConfig(), sizes, n_workers=1)
    assert local.n_workers == 1 and local.n_runs == 12
    hpc = plan_for_cluster(_hpc("slurm", cores=4, processes=2, memory="4GiB", n_jobs=3), sizes)
    assert (hpc.n_workers, hpc.memory_limit, hpc.threads_per_worker) == (6, 2 * GiB, 2)
    assert hpc.runs_per_worker == 2
    adaptive = plan_for_cluster(_hpc("pbs", memory="2GiB", adaptive_minimum=0, adaptive_maximum=5), sizes)
    assert adaptive.n_workers == 5
    assert plan_for_cluster(ClusterConfig(scheduler_file="/x/scheduler.json"), sizes) is None


def test_plan_for_cluster_refuses_small_jobs():
    with pytest.raises(ClusterError, match=r"cluster.memory 1GiB per job over cluster.processes 2 gives 512.00 MiB "
                       r"per worker, but the largest run needs ~600.00 MiB; set cluster.memory to at least 1.46 GiB"):
        plan_for_cluster(_hpc("slurm", cores=2, processes=2, memory="1GiB"), [600 * MiB])


# -- real clients ---------------------------------------------------------------------------------


def test_local_client_runs_and_closes():
    messages = []
    with cluster_client(ClusterConfig(n_workers=1), memory_limit="1GiB", dashboard=False, log=messages.append) as client:
        assert client.submit(lambda x: x + 1, 1).result() == 2
        workers = client.scheduler_info()["workers"].values()
        assert [w["memory_limit"] for w in workers] == [GiB]
        assert [w["nthreads"] for w in workers] == [1]
        # dask's MALLOC_TRIM_THRESHOLD_ would make every decompressed chunk a fresh mmap; keep glibc's default
        env = client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS")))
        assert list(env.values()) == [(os.environ.get("MALLOC_TRIM_THRESHOLD_"), "1")]
        cluster = client.cluster
    assert client.status == "closed"
    assert cluster.status.name == "closed"
    assert messages == ["started a local dask cluster of 1 worker"]


def test_local_client_closes_on_interrupt():
    with pytest.raises(KeyboardInterrupt):
        with cluster_client(ClusterConfig(n_workers=1), dashboard=False, log=lambda _: None) as client:
            cluster = client.cluster
            raise KeyboardInterrupt
    assert client.status == "closed" and cluster.status.name == "closed"


def test_scheduler_file_joins_without_owning(tmp_path):
    path = tmp_path / "scheduler.json"
    with LocalCluster(
        n_workers=1, processes=False, protocol="tcp", dashboard_address=None, scheduler_kwargs={"scheduler_file": str(path)}
    ) as theirs:
        messages = []
        config = ClusterConfig(type="slurm")  # ignored: the scheduler file wins
        with cluster_client(config, scheduler_file=path, dashboard=False, log=messages.append) as client:
            assert client.scheduler.address == theirs.scheduler_address
            assert client.submit(lambda x: x * 3, 2).result() == 6
        assert client.status == "closed"
        assert theirs.status.name == "running"  # somebody else's cluster is left alone
        assert re.fullmatch(r"joined the dask scheduler at tcp://\S+ \(1 workers now\)", messages[0])


def test_missing_scheduler_file(tmp_path):
    with pytest.raises(ClusterError, match=r"scheduler file .*nope.json does not exist; start a scheduler with "
                       r"`dask scheduler --scheduler-file"):
        with cluster_client(ClusterConfig(scheduler_file=str(tmp_path / "nope.json"))):
            pass


@pytest.mark.parametrize(
    ("name", "directive"), [("slurm.yaml", "#SBATCH --cpus-per-task=4"), ("pbs.yaml", "#PBS -l select=1:ncpus=4")]
)
def test_hpc_presets_build_job_scripts(name, directive):
    from pathlib import Path

    from neurokit.config import load_config

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / name)
    assert config.cluster.type == name.removesuffix(".yaml")
    with make_cluster(config.cluster, dashboard=False) as hpc:
        script = hpc.job_script()
    assert any(line.startswith(directive) for line in script.splitlines())
    assert "--nworkers 4" in script and "--memory-limit 3.73GiB" in script


def test_dead_scheduler_file(tmp_path, monkeypatch):
    import json
    import socket

    from neurokit.parallel import _cluster

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "scheduler.json"
    path.write_text(json.dumps({"type": "Scheduler", "address": f"tcp://127.0.0.1:{port}", "id": "x", "services": {}}))
    monkeypatch.setattr(_cluster, "_JOIN_TIMEOUT", "1s")
    with pytest.raises(ClusterError, match=r"the scheduler in .*scheduler.json does not answer .*is it still running\?"):
        with cluster_client(ClusterConfig(), scheduler_file=path):
            pass


def test_bad_interface_names_the_setting():
    with pytest.raises(ClusterError, match=r"cannot start the SLURMCluster scheduler: .*'nonexistent0' is not a valid "
                       r"network interface.*; check cluster.interface"):
        make_cluster(_hpc("slurm", interface="nonexistent0"), dashboard=False)
