"""Benchmark: participant-level throughput on 1 and 2 dask workers, against the signal core alone.

Simulates (once, cached in ``--data-dir``) a dataset of ``--subjects`` x ``--sessions`` runs on
a 2 mm grid (fMRIPrep's usual ``res-2`` output grid; ~100 s and 2.7 GB for 40 runs of 180
volumes), then, in one invocation and on the same runs, ``--repeat`` times:

  core   a plain loop in this process: extract_signals -> select_confounds -> clean ->
         connectivity_matrix (the configured measures); no QC, no writing, no dask; gzip
         decompressed in the reducing thread, as the pipeline's tasks do (``--core-threads 1``
         adds isal's background decompression thread, ~7 % faster alone, ~17 % more CPU)
  1w     run_participant on a LocalCluster of 1 worker (fresh output folder)
  2w     the same on 2 workers

Cluster start-up (and the workers' imports) is timed separately, outside the runs/min.
It prints runs per minute, per-run wall and CPU seconds (CPU of every process involved:
this one, which hosts the scheduler, and the nannies and workers), the speed-up 2w/1w
(target >= 1.7 on 2 cores) and the overhead 1w/core - 1 per run (target < 15 %, issue 5).
``--profile`` adds a cProfile of one run's task (``process_run``) split by stage;
``--worker-malloc glibc`` starts the workers without dask's ``MALLOC_TRIM_THRESHOLD_``;
``--module`` times a candidate copy of the pipeline module instead of the installed one.

    python benchmarks/bench_participant.py --data-dir /tmp/neurokit-bench [--repeat 3]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# ----------------------------------------------------------------------------- data


def dataset(data_dir: Path, subjects: int, sessions: int, volumes: int, resolution: float) -> Path:
    """The simulated BIDS dataset for these parameters, generated on first use."""
    from neurokit.simulate import simulate_dataset

    root = data_dir / f"sim-sub{subjects}-ses{sessions}-vol{volumes}-{resolution:g}mm"
    done = root.with_name(root.name + ".complete")
    if not done.exists():
        start = time.perf_counter()
        print(f"simulating {subjects} x {sessions} runs into {root} (once) ...", flush=True)
        data_dir.mkdir(parents=True, exist_ok=True)
        simulate_dataset(root, n_subjects=subjects, n_sessions=sessions, n_volumes=volumes,
                         resolution_mm=resolution, seed=0, overwrite=root.exists())
        done.write_text("ok\n")
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return root


def warm_page_cache(runs) -> int:
    """Read every input once so every process starts from the same (cached) state."""
    total = 0
    for run in runs:
        for path in (run.bold, run.bold_json, run.confounds, run.confounds_json, run.mask):
            if path is not None:
                total += len(Path(path).read_bytes())
    return total


# ----------------------------------------------------------------------------- CPU accounting


def cpu_seconds_tree() -> float:
    """User + system CPU seconds of this process and every live descendant (nannies, workers)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


# ----------------------------------------------------------------------------- the signal core


def core_setup(runs, config):
    """Atlas labels on the runs' grid, computed once (not timed): the core's fixed inputs."""
    import nibabel as nib
    import numpy as np

    from neurokit.atlases import check_coverage
    from neurokit.atlases import load as load_atlas

    atlas = load_atlas(config.atlas.name)
    grids = {}
    for run in runs:
        header = nib.load(str(run.bold)).header
        affine, shape = header.get_best_affine(), tuple(int(s) for s in header.get_data_shape()[:3])
        key = (np.round(affine, 6).tobytes(), shape)
        if key not in grids:
            mask = np.asarray(nib.load(str(run.mask)).dataobj) > 0
            coverage = check_coverage(atlas, affine, shape, mask, min_voxels=config.atlas.min_voxels,
                                      drop_empty=config.atlas.drop_empty_regions)
            grids[key] = (coverage.labels, coverage.kept_indices)
        grids[run.run_id] = grids[key]
    return atlas, grids


def core_run(run, labels, kept, config, threads=0):
    """One run through the signal core; returns the matrices (nothing is written)."""
    import nibabel as nib
    import numpy as np

    from neurokit.connectivity import connectivity_matrix
    from neurokit.denoise import clean, load_confounds_metadata, load_confounds_table, select_confounds
    from neurokit.extract import extract_signals

    dn = config.denoise
    mask = np.asarray(nib.load(str(run.mask)).dataobj) > 0
    confounds = load_confounds_table(run.confounds)
    selection = select_confounds(confounds, **dn.select_kwargs(),
                                 metadata=load_confounds_metadata(run.confounds_json), source=run.confounds)
    extraction = extract_signals(run.bold, labels, mask, region_ids=kept, decompress_threads=threads)
    cleaned = clean(extraction.signals, selection.confounds, selection.sample_mask, t_r=run.t_r,
                    **dn.clean_kwargs())
    return {kind: connectivity_matrix(cleaned.signals, kind, **config.connectivity.matrix_kwargs())
            for kind in config.connectivity.per_run_kinds()}


def time_core(runs, config, grids, threads=0) -> dict:
    from neurokit.denoise import InsufficientVolumesError

    excluded = 0
    cpu0, start = time.process_time(), time.perf_counter()
    for run in runs:
        labels, kept = grids[run.run_id]
        try:
            core_run(run, labels, kept, config, threads)
        except InsufficientVolumesError:
            excluded += 1  # the pipeline does this run's work too (and records the exclusion)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    return {"wall": wall, "cpu": cpu, "n": len(runs), "note": f"{excluded} too short" if excluded else ""}


# ----------------------------------------------------------------------------- the pipeline


def _warm_worker(module: str):
    # the imports process_run does on its first call; part of start-up, not of a run
    import importlib

    import neurokit.atlases  # noqa: F401
    import neurokit.connectivity  # noqa: F401
    import neurokit.denoise  # noqa: F401
    import neurokit.extract  # noqa: F401
    import neurokit.pipelines.participant  # noqa: F401
    import neurokit.qc  # noqa: F401
    import neurokit.run  # noqa: F401
    import nilearn  # noqa: F401
    import sklearn  # noqa: F401

    importlib.import_module(module)

    return os.getpid()


def _worker_malloc(setting: str) -> None:
    """Choose the workers' glibc malloc settings before a cluster starts.

    distributed's nannies export ``MALLOC_TRIM_THRESHOLD_=65536`` to their workers (and into
    this process's environment, which later workers inherit). Setting it switches off glibc's
    dynamic mmap threshold: every buffer above 128 KiB (each chunk of volumes) is then a
    fresh mmap, page-faulted in and unmapped again. ``glibc`` leaves glibc's defaults.
    """
    import dask

    if setting == "glibc":
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)


def time_pipeline(bids_dir: Path, runs, config, n_workers: int, scratch: Path, module: str,
                  malloc: str) -> dict:
    import importlib

    import nibabel as nib

    from neurokit.parallel import cluster_client, estimate_task_memory, plan_for_cluster

    run_participant = importlib.import_module(module).run_participant

    out = Path(tempfile.mkdtemp(prefix=f"out-{n_workers}w-", dir=scratch))
    headers = [nib.load(str(run.bold)).header for run in runs]
    sizes = [estimate_task_memory(h.get_data_shape(), h.get_data_dtype().itemsize) for h in headers]
    plan = plan_for_cluster(config.cluster, sizes, n_workers=n_workers)
    memory_limit = plan.memory_limit if plan is not None else None
    _worker_malloc(malloc)
    start_up = time.perf_counter()
    with cluster_client(config.cluster, n_workers=n_workers, memory_limit=memory_limit,
                        dashboard=False, log=lambda message: None) as client:
        client.wait_for_workers(n_workers)
        pids = client.run(_warm_worker, module)
        start_up = time.perf_counter() - start_up
        floor = _dask_floor(client, runs, config)
        cpu0, start = _cpu_split(client), time.perf_counter()
        summary = run_participant(bids_dir, out, config, client=client, progress=False)
        wall, cpu1 = time.perf_counter() - start, _cpu_split(client)
        # fixed cost of an invocation: the same call again, every run up to date
        rerun = time.perf_counter()
        again = run_participant(bids_dir, out, config, client=client, progress=False)
        rerun = time.perf_counter() - rerun
    cpu = {k: cpu1[k] - cpu0[k] for k in cpu0}
    if again.n_skipped != len(runs):
        sys.exit(f"rerun with {n_workers} worker(s) skipped {again.n_skipped} of {len(runs)} runs")
    done = summary.n_ok + summary.n_excluded
    if summary.n_failed or done != len(runs):
        sys.exit(f"pipeline with {n_workers} worker(s): {done} of {len(runs)} runs done, "
                 f"{summary.n_failed} failed: {summary.failures[:3]}")
    task = statistics.fmean(r["seconds"] for r in summary.records)
    shutil.rmtree(out)
    return {"wall": wall, "cpu": cpu["all"], "cpu_split": cpu, "n": len(runs), "start_up": start_up,
            "rerun": rerun,
            "task": task, "floor": floor, "workers": len(pids),
            "note": f"{summary.n_excluded} excluded" if summary.n_excluded else ""}


def _noop(run, atlas, config, output_dir, fingerprint):
    return {"run_id": run.run_id}


def _dask_floor(client, runs, config) -> dict:
    """Scheduling cost alone: one no-op task per run with process_run's arguments."""
    from distributed import as_completed

    from neurokit.atlases import load as load_atlas

    atlas = load_atlas(config.atlas.name)
    cpu0, start = _cpu_split(client), time.perf_counter()
    [atlas] = client.scatter([atlas], broadcast=True)
    futures = [client.submit(_noop, run, atlas, config, "/nonexistent", "x", pure=False) for run in runs]
    for future in as_completed(futures):
        future.result()
    wall, cpu1 = time.perf_counter() - start, _cpu_split(client)
    del futures, atlas
    return {"wall": wall, "cpu": cpu1["all"] - cpu0["all"]}


def _process_cpu() -> float:
    return time.process_time()


def _cpu_split(client) -> dict:
    """CPU seconds so far: this process (client, scheduler, driver), the workers, everything."""
    workers = sum(client.run(_process_cpu).values())
    return {"driver": time.process_time(), "workers": workers, "all": cpu_seconds_tree()}


# ----------------------------------------------------------------------------- profile of one task

STAGES = [  # (label, function name, file fragment); cumulative time of each, inside process_run
    ("atlas: BOLD header read", "load", "nibabel/loadsave.py"),
    ("atlas: check_coverage", "check_coverage", "atlases/_coverage.py"),
    ("confounds: load table", "load_confounds_table", "denoise/_confounds.py"),
    ("confounds: select_confounds", "select_confounds", "denoise/_confounds.py"),
    ("extract_signals", "extract_signals", "extract/_extract.py"),
    ("denoise: clean", "clean", "denoise/_clean.py"),
    ("qc: motion_summary", "motion_summary", "qc/"),
    ("qc: region_tsnr", "region_tsnr", "qc/"),
    ("connectivity_matrix", "connectivity_matrix", "connectivity/_measures.py"),
    ("summary indices + strength", "summary_indices", "connectivity/_summary.py"),
    ("write: _versions()", "_versions", "participant"),
    ("write: mean image gzip", "_nifti_bytes", "neurokit/run/"),
    ("write: TSV (DataFrame.to_csv)", "atomic_write_tsv", "neurokit/_atomic.py"),
    ("write: JSON", "atomic_write_json", "neurokit/_atomic.py"),
    ("write: fsync (all files)", "<built-in method posix.fsync>", "~"),
]


def profile_task(bids_dir: Path, runs, config, scratch: Path, top: int, module: str) -> None:
    import importlib

    from neurokit.atlases import load as load_atlas
    from neurokit.io import input_fingerprint

    process_run = importlib.import_module(module).process_run

    atlas = load_atlas(config.atlas.name)
    out = Path(tempfile.mkdtemp(prefix="out-profile-", dir=scratch))
    # first call: imports and the atlas's grid cache, as a worker's first task
    process_run(runs[0], atlas, config, str(out), input_fingerprint(runs[0], config.hash()))
    run = runs[1]
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    process_run(run, atlas, config, str(out), input_fingerprint(run, config.hash()))
    profiler.disable()
    total = time.perf_counter() - start
    shutil.rmtree(out)

    stats = pstats.Stats(profiler)
    print(f"\nprofile of one task, process_run({run.run_id}) in this process (warm): "
          f"{total * 1e3:.0f} ms wall (profiler overhead included)")
    print(f"  {'stage':34s} {'ms':>7s} {'%':>5s} {'calls':>6s}")
    for label, func, fragment in STAGES:
        rows = [(v[1], v[3]) for (file, _, name), v in stats.stats.items()
                if name == func and fragment in file]
        if rows:
            calls, cum = sum(r[0] for r in rows), sum(r[1] for r in rows)
            print(f"  {label:34s} {cum * 1e3:7.1f} {100 * cum / total:5.1f} {calls:6d}")
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    lines = text.getvalue().splitlines()
    head = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    print(f"  top {top} functions by own time:")
    for line in lines[head:head + top + 1]:
        print("  " + line[:150])


# ----------------------------------------------------------------------------- driver


def _autogroup() -> bool:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="where the simulated dataset is cached")
    parser.add_argument("--subjects", type=int, default=40)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--volumes", type=int, default=180)
    parser.add_argument("--resolution", type=float, default=2.0,
                        help="voxel size in mm (default 2, fMRIPrep's usual output grid; 4 shows small runs, "
                             "where per-run fixed costs weigh most)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of core, 1w, 2w (interleaved)")
    parser.add_argument("--workers", default="1,2", help="cluster sizes, comma-separated (default 1,2)")
    parser.add_argument("--core-threads", type=int, default=0,
                        help="background gzip decompression threads in the core loop (default 0, as the pipeline)")
    parser.add_argument("--profile", action="store_true", help="also cProfile one run's task")
    parser.add_argument("--top", type=int, default=15, help="functions listed by --profile")
    parser.add_argument("--worker-malloc", choices=("dask", "glibc"), default="dask",
                        help="workers' malloc settings: dask's MALLOC_TRIM_THRESHOLD_=65536 "
                             "(default, as the pipeline runs now) or glibc's defaults")
    parser.add_argument("--module", default="neurokit.pipelines.participant",
                        help="module providing run_participant/process_run, e.g. a candidate copy "
                             "(put its folder on PYTHONPATH so the workers import it too)")
    args = parser.parse_args(argv)
    logging.getLogger("distributed").setLevel(logging.ERROR)

    from neurokit.config import load_config
    from neurokit.io import discover_from_config

    root = dataset(args.data_dir, args.subjects, args.sessions, args.volumes, args.resolution)
    config = load_config(None)
    runs = discover_from_config(root, config.inputs).runs
    n_bytes = warm_page_cache(runs)
    print(f"data: {len(runs)} runs ({args.subjects} subjects x {args.sessions} sessions, "
          f"{args.volumes} volumes, {args.resolution:g} mm), {n_bytes / 1e6:.0f} MB of inputs in {root}")
    if len(runs) < 40:
        print("note: issue 5 asks for at least 40 runs")
    print(f"config: atlas {config.atlas.name}, strategy {config.denoise.strategy}, "
          f"measures {', '.join(config.connectivity.measures)}; cpus {os.cpu_count()}; "
          f"pipeline {args.module}; worker malloc: {args.worker_malloc}; core decompression threads "
          f"{args.core_threads}")
    workers = [int(n) for n in args.workers.split(",")]
    scratch = Path(tempfile.mkdtemp(prefix="bench-participant-"))
    _, grids = core_setup(runs, config)
    core_run(runs[0], *grids[runs[0].run_id], config)  # imports, first-call costs

    results: dict[str, list[dict]] = {"core": [], **{f"{n}w": [] for n in workers}}
    try:
        for round_ in range(args.repeat):
            for name in results:
                before = _load()
                if name == "core":
                    res = time_core(runs, config, grids, args.core_threads)
                else:
                    res = time_pipeline(root, runs, config, int(name[:-1]), scratch, args.module,
                                        args.worker_malloc)
                res["load"] = f"{before} -> {_load()}"
                results[name].append(res)
                print(f"  round {round_ + 1} {name:4s}: {res['wall']:6.1f} s wall, {res['cpu']:6.1f} s cpu, "
                      f"load {res['load']}", flush=True)
        if args.profile:
            profile_task(root, runs, config, scratch, args.top, args.module)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"\n{'':5s} {'runs/min':>8s} {'s/run wall':>10s} {'s/run cpu':>9s} {'task s':>6s} "
          f"{'start-up s':>10s}  load 1/5 min before -> after")
    for name, rounds in results.items():
        for res in rounds:
            per_run = res["wall"] / res["n"]
            task = f"{res['task']:6.2f}" if "task" in res else f"{'':6s}"
            start_up = f"{res['start_up']:10.1f}" if "start_up" in res else f"{'':10s}"
            print(f"{name:5s} {60 / per_run:8.1f} {per_run:10.3f} {res['cpu'] / res['n']:9.3f} {task} "
                  f"{start_up}  {res['load']} {res['note']}")
    print("(task s: mean of process_run's own ProcessingSeconds; s/run cpu: CPU of every process "
          "involved over runs)")

    def per_run(res, key="wall"):
        return res[key] / res["n"]

    for name, rounds in results.items():
        res = min(rounds, key=lambda r: r["wall"])
        if "cpu_split" in res:
            split, n = res["cpu_split"], res["n"]
            print(f"{name} (fastest round): cpu ms/run in workers {1e3 * split['workers'] / n:.1f}, in this "
                  f"process (scheduler, client, driver) {1e3 * split['driver'] / n:.1f}, nannies and rest "
                  f"{1e3 * (split['all'] - split['workers'] - split['driver']) / n:.1f}; dask floor "
                  f"(no-op tasks, same arguments) {1e3 * res['floor']['wall'] / n:.1f} ms/run wall, "
                  f"{1e3 * res['floor']['cpu'] / n:.1f} ms/run cpu; rerun with every run up to date "
                  f"{res['rerun']:.1f} s")
    # ratios within a round (runs back to back) are steadier on a shared machine than across rounds
    overheads, speed_ups = [], []
    for i in range(args.repeat):
        line = f"round {i + 1}:"
        if "1w" in results:
            core, one = results["core"][i], results["1w"][i]
            over = per_run(one) / per_run(core) - 1
            marginal = (one["wall"] - one["rerun"]) / one["n"] / per_run(core) - 1
            in_task = one["task"] / per_run(core) - 1
            over_cpu = per_run(one, "cpu") / per_run(core, "cpu") - 1
            overheads.append(over)
            line += (f" overhead 1w/core {100 * over:+.0f} % wall ({100 * marginal:+.0f} % without the "
                     f"up-to-date rerun's fixed cost, {100 * in_task:+.0f} % inside the task), "
                     f"{100 * over_cpu:+.0f} % cpu;")
        if {"1w", "2w"} <= set(results):
            speed_ups.append(per_run(results["1w"][i]) / per_run(results["2w"][i]))
            line += f" speed-up 2w/1w {speed_ups[-1]:.2f};"
        print(line + f" load {results['core'][i]['load'].split(' ')[0]}")
    if overheads:
        print(f"overhead of the pipeline (1 worker) over the signal core, median of rounds: "
              f"{100 * statistics.median(overheads):+.1f} % (target < 15 %)")
    if speed_ups:
        speed_up = statistics.median(speed_ups)
        print(f"speed-up 2 workers over 1, median of rounds: {speed_up:.2f} (target >= 1.7 on 2 cores)")
        if speed_up < 1.7 and _autogroup() and os.getloadavg()[0] > (os.cpu_count() or 1):
            print("  note: the machine is loaded and the kernel schedules by session (autogroup): this "
                  "session's\n  processes share one fair slice of the CPUs, so a second worker cannot "
                  "show its speed-up here")
    print(f"load average now {_load()} (1/5 min) on {os.cpu_count()} cpus")


if __name__ == "__main__":
    main()
