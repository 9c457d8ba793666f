"""Benchmark: participant reports, serial after the batch (as before) against on the cluster with the runs.

Simulates (once, cached in ``--data-dir``) a study of ``--subjects`` participants (one run each,
``--volumes`` volumes on a ``--resolution`` mm grid), then, in one invocation and ``--repeat``
interleaved rounds, each on fresh output folders:

  before   run_participant without reports, then write_participant_reports in this process, one
           participant after another (what `neurokit ... participant` did before reports moved
           onto the cluster); its rerun: run_participant again (every run up to date), then every
           report rendered again (reports had no fingerprint: the rerun the issue measured)
  after    run_participant(reports=True): each participant's report is a task on the runs'
           cluster, submitted when that participant's runs are done; its rerun: the same call
           with nothing changed (no run, no report to redo: no cluster is started)
  cluster  write_participant_reports(force=True) alone on a cluster of ``--workers`` workers
           (start-up timed apart): the rendering throughput of the cluster path

Both pipelines start their own local cluster of ``--workers`` workers, as the command line does.
It prints the wall time of each, report seconds per participant (serial, on the cluster alone,
and the extra wall time the reports add to the batch), the mean time one report takes to render
(from its fingerprint record) and the ratios: after/before (first run), rerun/first run
(target < 10 % on a 20-participant study, issue 15).

    python benchmarks/bench_reports.py --data-dir /tmp/neurokit-bench-reports [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_participant import _autogroup, _load, dataset  # noqa: E402  - the same cached simulated datasets


def _timed(call):
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def _check(summary, n_runs: int, what: str) -> None:
    done = summary.n_ok + summary.n_excluded + summary.n_skipped
    if summary.n_failed or done < n_runs:
        sys.exit(f"{what}: {done} of {n_runs} runs done, {summary.n_failed} failed: {summary.failures[:3]}")


def _render_seconds(out: Path) -> list[float]:
    """Seconds each report took to render, from the fingerprint records written beside them."""
    return [json.loads(p.read_text())["seconds"] for p in sorted((out / "logs" / "reports").glob("*.json"))]


def time_before(root: Path, config, scratch: Path, n_runs: int) -> dict:
    from neurokit.pipelines.participant import run_participant
    from neurokit.report import write_participant_reports

    out = Path(tempfile.mkdtemp(prefix="before-", dir=scratch))
    compute, summary = _timed(lambda: run_participant(root, out, config, progress=False))
    _check(summary, n_runs, "before")
    serial, pages = _timed(lambda: write_participant_reports(out, bids_dir=root, config=config, force=True))
    rerun_compute, again = _timed(lambda: run_participant(root, out, config, progress=False))
    rerun_reports, _ = _timed(lambda: write_participant_reports(out, bids_dir=root, config=config, force=True))
    if again.n_skipped != n_runs:
        sys.exit(f"before: the rerun skipped {again.n_skipped} of {n_runs} runs")
    return {"out": out, "compute": compute, "reports": serial, "first": compute + serial, "n": len(pages),
            "rerun": rerun_compute + rerun_reports, "render": statistics.fmean(_render_seconds(out))}


def time_after(root: Path, config, scratch: Path, n_runs: int) -> dict:
    from neurokit.pipelines.participant import run_participant

    out = Path(tempfile.mkdtemp(prefix="after-", dir=scratch))
    first, summary = _timed(lambda: run_participant(root, out, config, progress=False, reports=True))
    _check(summary, n_runs, "after")
    if summary.report_failures or summary.n_reports_rendered != len(summary.reports):
        sys.exit(f"after: reports failed or were skipped: {summary.report_failures[:3]}")
    rerun, again = _timed(lambda: run_participant(root, out, config, progress=False, reports=True))
    if again.n_skipped != n_runs or again.n_reports_rendered:
        sys.exit(f"after: the rerun redid {n_runs - again.n_skipped} run(s) and {again.n_reports_rendered} "
                 "report(s); it should redo nothing")
    shutil.rmtree(out)
    return {"first": first, "rerun": rerun, "n": len(summary.reports)}


def time_cluster(out: Path, root: Path, config, n_workers: int) -> dict:
    from neurokit.parallel import cluster_client
    from neurokit.report import write_participant_reports

    start = time.perf_counter()
    with cluster_client(config.cluster, n_workers=n_workers, dashboard=False, log=lambda message: None) as client:
        client.wait_for_workers(n_workers)
        start_up = time.perf_counter() - start
        wall, pages = _timed(lambda: write_participant_reports(out, bids_dir=root, config=config, client=client,
                                                               force=True))
    return {"reports": wall, "start_up": start_up, "n": len(pages)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="where the simulated study is cached")
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--volumes", type=int, default=200)
    parser.add_argument("--resolution", type=float, default=3.0, help="voxel size in mm (default 3, as issue 15)")
    parser.add_argument("--workers", type=int, default=2, help="local cluster size (default 2)")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds of before, after, cluster")
    args = parser.parse_args(argv)
    logging.getLogger("distributed").setLevel(logging.ERROR)

    from neurokit.config import load_config
    from neurokit.io import discover_from_config

    root = dataset(args.data_dir, args.subjects, 1, args.volumes, args.resolution)
    config = load_config(None).updated({"cluster.n_workers": args.workers})
    n_runs = len(discover_from_config(root, config.inputs).runs)
    print(f"data: {n_runs} runs of {args.subjects} participants ({args.volumes} volumes, {args.resolution:g} mm) "
          f"in {root}; {args.workers} workers; cpus {os.cpu_count()}; atlas {config.atlas.name}")
    scratch = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    rounds = []
    try:
        for round_ in range(args.repeat):
            load = _load()
            before = time_before(root, config, scratch, n_runs)
            after = time_after(root, config, scratch, n_runs)
            cluster = time_cluster(before.pop("out"), root, config, args.workers)
            rounds.append((before, after, cluster))
            print(f"  round {round_ + 1}: before {before['first']:.1f} s (compute {before['compute']:.1f} + "
                  f"reports {before['reports']:.1f}), rerun {before['rerun']:.1f} s | after {after['first']:.1f} s, "
                  f"rerun {after['rerun']:.2f} s | reports alone on the cluster {cluster['reports']:.1f} s "
                  f"(+{cluster['start_up']:.1f} s start-up) | load {load} -> {_load()}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def median(which: int, key: str) -> float:
        return statistics.median(r[which][key] for r in rounds)

    n = rounds[0][0]["n"]
    compute, serial, cluster = median(0, "compute"), median(0, "reports"), median(2, "reports")
    before_first, after_first = median(0, "first"), median(1, "first")
    before_rerun, after_rerun = median(0, "rerun"), median(1, "rerun")
    print(f"\nmedians over {len(rounds)} round(s), {n} participant reports:")
    print(f"  {'':44s} {'wall s':>7s} {'s/participant':>13s}")
    print(f"  {'participant level, no reports (compute)':44s} {compute:7.1f} {compute / n:13.3f}")
    print(f"  {'reports serial in-process, after the batch':44s} {serial:7.1f} {serial / n:13.3f}")
    print(f"  {'reports alone on the cluster':44s} {cluster:7.1f} {cluster / n:13.3f}")
    extra = after_first - compute
    print(f"  {'reports with the runs (after - compute)':44s} {extra:7.1f} {extra / n:13.3f}")
    print(f"  one report's own render time (mean, serial): {median(0, 'render'):.3f} s")
    print(f"\n  first run: before {before_first:.1f} s, after {after_first:.1f} s: after/before "
          f"{after_first / before_first:.2f}")
    print(f"  rerun with nothing to do: before {before_rerun:.1f} s ({before_rerun / before_first:.0%} of its first "
          f"run), after {after_rerun:.2f} s ({after_rerun / after_first:.1%} of its first run; target < 10 %)")
    print(f"  reports: serial/cluster {serial / cluster:.2f}; serial/(extra with the runs) "
          f"{serial / extra if extra > 0 else float('inf'):.2f}")
    if _autogroup() and os.getloadavg()[0] > (os.cpu_count() or 1):
        print("  note: the machine is loaded and the kernel schedules by session (autogroup): all the workers "
              "share one session's CPU share, so rendering on several workers cannot beat one process here; "
              "run it on a quiet machine for the parallel figures")


if __name__ == "__main__":
    main()
