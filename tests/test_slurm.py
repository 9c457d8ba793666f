"""Real SLURM: dask workers in SLURM jobs, a cancelled job, and the participant pipeline end to end.

Needs a running controller and node (``.ci/slurm_setup.sh`` starts one; CI runs it first).
Without one these tests skip, unless ``NEUROKIT_EXPECT_SLURM=1`` says SLURM was started, when
they fail instead so a broken setup cannot pass unnoticed.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
from distributed import as_completed

from neurokit.config import ClusterConfig, Config, load_config
from neurokit.parallel import JOB_NAME, cluster_client

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
JOBCOMP = Path(os.environ.get("NEUROKIT_SLURM_JOBCOMP", "/var/log/slurm/jobcomp.log"))


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout


def _slurm_problem() -> str | None:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "the SLURM commands (sinfo, sbatch) are not installed"
    if "is UP" not in _run("scontrol", "ping"):
        return "the SLURM controller does not answer `scontrol ping`"
    states = set(_run("sinfo", "-h", "-N", "-o", "%T").split())
    if not states & {"idle", "mixed", "allocated", "completing"}:
        return f"no SLURM node accepts jobs (node states: {sorted(states) or 'none'})"
    return None


@pytest.fixture(scope="module")
def slurm():
    """Skip (or fail, when SLURM was expected) unless a SLURM node accepts jobs."""
    problem = _slurm_problem()
    if problem:
        if os.environ.get("NEUROKIT_EXPECT_SLURM") == "1":
            pytest.fail(f"SLURM was started for this run but is unusable: {problem}")
        pytest.skip(f"no usable SLURM: {problem}; start one with `sudo bash .ci/slurm_setup.sh`")


def _queued(job_ids) -> dict[str, str]:
    """{job id: state} of these jobs still in the queue."""
    out = _run("squeue", "-h", "-n", JOB_NAME, "-o", "%i %T")
    return {i: s for i, s in (line.split() for line in out.splitlines()) if i in set(job_ids)}


def _jobcomp_size() -> int:
    return JOBCOMP.stat().st_size if JOBCOMP.is_file() else 0


def _finished(job_ids, since: int, timeout=30.0) -> dict[str, str]:
    """{job id: final state} from the job-completion log after byte ``since``, waiting for every id.

    Job ids restart when the controller's state is cleared, so only this test's lines count.
    """
    wanted, deadline, found = set(job_ids), time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        if JOBCOMP.is_file():
            with JOBCOMP.open("rb") as log:
                log.seek(since)
                lines = log.read().decode(errors="replace").splitlines()
            for line in lines:
                fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
                if fields.get("JobId") in wanted:
                    found[fields["JobId"]] = fields.get("JobState", "?")
        if set(found) == wanted:
            break
        time.sleep(0.5)
    return found


def _slurm_cluster(tmp_path: Path, **values) -> ClusterConfig:
    settings = {
        "cluster.type": "slurm",
        "cluster.cores": 1,
        "cluster.memory": "1GB",
        "cluster.n_jobs": 2,
        "cluster.walltime": "00:15:00",
        "cluster.log_directory": str(tmp_path / "slurm-logs"),
    }
    settings.update({f"cluster.{k}": v for k, v in values.items()})
    return Config().updated(settings).cluster


def _worker_job_ids(client) -> set[str]:
    return set(client.run(os.getenv, "SLURM_JOB_ID").values())


def _wait_for_workers(client, n: int, exclude=frozenset(), timeout: float = 120.0) -> set[str]:
    """Wait until ``n`` workers run in SLURM jobs none of which is in ``exclude``; their job ids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = list(client.run(os.getenv, "SLURM_JOB_ID").values())
        ids = set(jobs)
        if len(jobs) >= n and None not in ids and not ids & set(exclude):
            return ids
        time.sleep(0.5)
    raise AssertionError(f"{n} SLURM workers did not appear within {timeout} s; squeue: {_run('squeue')}")


def test_dask_runs_in_slurm_jobs_and_survives_a_cancelled_job(slurm, tmp_path):
    def square_slowly(i):
        time.sleep(0.25)
        return i * i, os.environ["SLURM_JOB_ID"]

    messages, since = [], _jobcomp_size()
    # a lost worker is forgotten after 2 s instead of 15 s, so its replacement comes sooner
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "2s"}):
        with cluster_client(_slurm_cluster(tmp_path), dashboard=False, log=messages.append) as client:
            assert messages[0].startswith("asked SLURM for 2 jobs of 1 core and 1GB each; scheduler at tcp://")
            first = _wait_for_workers(client, 2)
            # the workers are the SLURM jobs that the queue shows running
            assert _queued(first) == {job: "RUNNING" for job in first}
            assert first == {job.job_id for job in client.cluster.workers.values()}

            futures = client.map(square_slowly, range(60))
            results, used, cancelled = {}, set(), None
            for n, future in enumerate(as_completed(futures, timeout=180)):
                value, job = future.result()
                results[int(round(value**0.5))] = value
                used.add(job)
                if n == 5:  # mid-computation: take one worker's job away
                    cancelled = job
                    subprocess.run(["scancel", cancelled], check=True)
            assert results == {i: i * i for i in range(60)}
            assert used <= first | _worker_job_ids(client) | {cancelled}

            # the cancelled job is gone from the queue and a new job replaced it
            replacement = _wait_for_workers(client, 2, exclude={cancelled}) - first
            assert len(replacement) == 1, replacement
            assert cancelled not in _queued({cancelled})
            # the new worker computes too
            assert client.submit(square_slowly, 7, pure=False).result()[0] == 49
            all_jobs = first | replacement

    # closing the client cancelled the remaining jobs; the completion log has them all
    deadline = time.monotonic() + 30
    while _queued(all_jobs) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _queued(all_jobs)
    states = _finished(all_jobs, since)
    assert states.get(cancelled) == "CANCELLED", states
    assert set(states) == all_jobs
    # each job wrote its worker log where cluster.log_directory said
    logs = {p.name for p in (tmp_path / "slurm-logs").iterdir()}
    assert {f"{JOB_NAME}-{job}.err" for job in all_jobs} <= logs


def test_adaptive_scaling_submits_jobs_on_demand_and_replaces_a_cancelled_one(slurm, tmp_path):
    def square_slowly(i):
        time.sleep(0.25)
        return i * i, os.environ["SLURM_JOB_ID"]

    config = _slurm_cluster(tmp_path, adaptive_minimum=0, adaptive_maximum=2)
    messages, since = [], _jobcomp_size()
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "2s"}):
        with cluster_client(config, dashboard=False, log=messages.append) as client:
            assert messages[0].startswith("asked SLURM for adaptive 0-2 jobs of 1 core")
            assert not client.scheduler_info()["workers"]  # nothing to do, no job
            futures = client.map(square_slowly, range(60))
            results, used, cancelled = {}, set(), None
            for n, future in enumerate(as_completed(futures, timeout=180)):
                value, job = future.result()
                results[int(round(value**0.5))] = value
                used.add(job)
                if n == 10:
                    cancelled = job
                    subprocess.run(["scancel", cancelled], check=True)
            assert results == {i: i * i for i in range(60)}
    # the work brought up jobs, and a third one replaced the cancelled job while work remained
    assert cancelled in used and len(used) >= 3, used
    assert _finished(used, since).get(cancelled) == "CANCELLED"


def test_a_cancelled_multi_worker_job_is_replaced(slurm, tmp_path):
    """One job of two worker processes: cancelling it leaves no worker until its replacement runs."""

    def square_slowly(i):
        time.sleep(0.2)
        return i * i, os.environ["SLURM_JOB_ID"]

    config = _slurm_cluster(tmp_path, cores=2, processes=2, memory="2GB", n_jobs=1)
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "2s"}):
        with cluster_client(config, dashboard=False, log=lambda _: None) as client:
            [first] = _wait_for_workers(client, 2)
            futures = client.map(square_slowly, range(30))
            results, used = {}, set()
            for n, future in enumerate(as_completed(futures, timeout=180)):
                value, job = future.result()
                results[int(round(value**0.5))] = value
                used.add(job)
                if n == 3:
                    subprocess.run(["scancel", first], check=True)
            assert results == {i: i * i for i in range(30)}
            [second] = _wait_for_workers(client, 2, exclude={first})
            assert used == {first, second}
            assert _queued({first, second}) == {second: "RUNNING"}


# -- the participant pipeline through SLURM (hooked up when the pipeline lands) -------------------


def _scrub(value):
    """JSON content without the fields that may differ between two identical computations."""
    volatile = ("time", "date", "duration", "seconds", "host", "elapsed", "worker")
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if not any(w in k.lower() for w in volatile)}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


TEMPORARY = "*.neurokit-tmp"


def _derivatives(root: Path) -> dict[str, Path]:
    """Derivative files by relative path, without the temporaries of interrupted writes."""
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.glob("sub-*/**/*"))
        if p.is_file() and not p.match(TEMPORARY)
    }


def _assert_same_derivatives(local: Path, remote: Path) -> None:
    ours, theirs = _derivatives(local), _derivatives(remote)
    assert ours and sorted(ours) == sorted(theirs)
    for name, path in ours.items():
        if name.endswith(".tsv"):
            a, b = pd.read_csv(path, sep="\t"), pd.read_csv(theirs[name], sep="\t")
            assert list(a.columns) == list(b.columns), name
            np.testing.assert_allclose(
                a.select_dtypes("number").to_numpy(), b.select_dtypes("number").to_numpy(), rtol=1e-10, err_msg=name
            )
        elif name.endswith(".json"):
            assert _scrub(json.loads(path.read_text())) == _scrub(json.loads(theirs[name].read_text())), name


def _participant():
    """The participant pipeline module; skip only while it is not in the repository.

    Once ``pipelines/participant.py`` exists an import error fails the test instead of
    hiding it behind a skip.
    """
    if not (ROOT / "pipelines" / "participant.py").is_file():
        pytest.skip("the participant pipeline (pipelines/participant.py) is not merged yet")
    from neurokit.pipelines import participant

    return participant


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A small simulated BIDS + fMRIPrep dataset (4 participants, one run each), made once."""
    _participant()
    from neurokit.cli import main

    bids = tmp_path_factory.mktemp("study") / "bids"
    main(["simulate", str(bids), "--subjects", "4", "--seed", "3"])
    return bids


@pytest.mark.slow
def test_participant_pipeline_on_slurm_equals_local_run(slurm, study, tmp_path):
    participant = _participant()
    bids = study
    config_file = tmp_path / "slurm.yaml"
    config_file.write_text(
        "cluster:\n  type: slurm\n  cores: 1\n  memory: 2GB\n  n_jobs: 2\n  walltime: '00:20:00'\n"
        f"  log_directory: {tmp_path / 'slurm-logs'}\n"
    )
    config = load_config(config_file)

    # the reference: the same configuration computed by local worker processes
    with cluster_client(ClusterConfig(n_workers=2), dashboard=False, log=lambda _: None) as client:
        reference = participant.run_participant(bids, tmp_path / "local", config, client=client)

    cancelled: list[str] = []
    done, since = threading.Event(), _jobcomp_size()

    def cancel_one_job_mid_run(job_ids):
        # as soon as the first run's outputs exist, cancel one worker's job
        while not done.is_set():
            if any((tmp_path / "slurm").glob("sub-*/**/*_timeseries.tsv")):
                cancelled.append(sorted(job_ids)[0])
                subprocess.run(["scancel", cancelled[0]], check=False)
                return
            time.sleep(0.1)

    with dask.config.set({"distributed.deploy.lost-worker-timeout": "2s"}):
        with cluster_client(config.cluster, dashboard=False, log=lambda _: None) as client:
            jobs = _wait_for_workers(client, 2)
            assert _queued(jobs) == {job: "RUNNING" for job in jobs}
            killer = threading.Thread(target=cancel_one_job_mid_run, args=(jobs,), daemon=True)
            killer.start()
            summary = participant.run_participant(bids, tmp_path / "slurm", config, client=client)
            done.set()
            killer.join()
            jobs |= _worker_job_ids(client)

    assert cancelled, "the batch finished before a worker job could be cancelled; simulate more runs"
    # the lost worker's runs were recomputed elsewhere: same counts, same outputs as the local run
    assert summary.n_ok > 0
    assert (summary.n_ok, summary.n_excluded, summary.n_failed) == (
        reference.n_ok, reference.n_excluded, reference.n_failed
    )
    assert _finished(jobs, since).get(cancelled[0]) == "CANCELLED"
    _assert_same_derivatives(tmp_path / "local", tmp_path / "slurm")
    local, remote = (sorted((tmp_path / d / "failures.tsv").read_text().splitlines()) for d in ("local", "slurm"))
    assert local == remote

    # the cancelled worker may have died mid-write, leaving a hidden temporary file; the next
    # invocation removes it and has nothing to recompute
    with cluster_client(ClusterConfig(n_workers=1), dashboard=False, log=lambda _: None) as client:
        again = participant.run_participant(bids, tmp_path / "slurm", config, client=client)
    assert not list((tmp_path / "slurm").rglob(TEMPORARY))
    assert again.n_skipped == reference.n_ok + reference.n_excluded
    _assert_same_derivatives(tmp_path / "local", tmp_path / "slurm")


@pytest.mark.slow
def test_study_batch_script_runs_in_one_allocation(slurm, study, tmp_path):
    """pipelines/hpc/run_study.sbatch: scheduler + workers as job steps, both levels, one job."""
    _participant()
    script = ROOT / "pipelines" / "hpc" / "run_study.sbatch"
    config = tmp_path / "small.yaml"
    config.write_text("models:\n  cv_folds: 2\n  cv_repeats: 1\n  n_permutations: 0\nreport:\n  enabled: false\n")
    out = tmp_path / "out"
    env = dict(os.environ, NEUROKIT_ENV=str(Path(sys.executable).parents[1]))
    submitted = subprocess.run(
        ["sbatch", "--wait", "--parsable", "--ntasks-per-node=2", "--mem-per-cpu=2G", "--time=00:15:00",
         f"--output={tmp_path / 'study-%j.out'}", str(script), str(study), str(out), str(config)],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )
    job = submitted.stdout.strip().split(";")[0]
    log = (tmp_path / f"study-{job}.out").read_text()
    assert f"neurokit study: job {job}, 2 workers of 2048 MB" in log, log
    # the participant level ran on the allocation's workers and succeeded; the group level ran after it
    assert "participant level exit status 0, group level exit status" in log, log
    assert "joined the dask scheduler at tcp://" in log
    assert len(list(out.glob("sub-*/func/*_desc-qc_metrics.json"))) == 4
    assert (out / "logs" / f"slurm-{job}" / "workers.log").read_text().count("Starting Worker plugin") >= 2
