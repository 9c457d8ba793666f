"""Benchmark: cost of cleaning several denoising strategies from one extraction, per run.

Times ``process_run`` (the participant task: extraction, per-strategy denoising,
connectivity, QC and writing; no dask) on the same runs with one strategy and with
``--strategies`` (default four), interleaved ``--repeat`` times, and prints the median
seconds per run of each and their ratio. Extraction is done once per run whatever the
number of strategies, so the ratio should stay far below the number of strategies.

    python benchmarks/bench_strategies.py --data-dir /tmp/neurokit-bench [--subjects 4 --resolution 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_participant import dataset  # noqa: E402  - the same cached simulated datasets


def time_runs(runs, atlas, config, scratch: Path) -> list[float]:
    """Wall seconds of ``process_run`` for each run, into a fresh output folder."""
    from neurokit.pipelines.participant import process_run

    shutil.rmtree(scratch, ignore_errors=True)
    seconds = []
    for run in runs:
        start = time.perf_counter()
        process_run(run, atlas, config, str(scratch), "bench")
        seconds.append(time.perf_counter() - start)
    return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="where the simulated dataset is cached")
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--volumes", type=int, default=180)
    parser.add_argument("--resolution", type=float, default=2.0, help="voxel size (mm) of the simulated grid")
    parser.add_argument("--strategies", default="simple,simple+gsr,scrubbing+gsr,compcor",
                        help="comma-separated strategies of the multi-strategy configuration")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds of 1 and N strategies")
    args = parser.parse_args(argv)

    from neurokit.atlases import load
    from neurokit.config import Config
    from neurokit.io import discover_runs

    bids = dataset(args.data_dir, args.subjects, 1, args.volumes, args.resolution)
    runs = discover_runs(bids).runs
    strategies = args.strategies.split(",")
    single = Config().updated({"denoise.strategy": strategies[0]})
    multi = Config().updated({"denoise.strategy": strategies})
    atlas = load(single.atlas.name)
    times = {1: [], len(strategies): []}
    with tempfile.TemporaryDirectory() as tmp:
        time_runs(runs[:1], atlas, single, Path(tmp) / "warm")  # imports and page cache
        for _ in range(args.repeat):
            for n, config in ((1, single), (len(strategies), multi)):
                times[n] += time_runs(runs, atlas, config, Path(tmp) / f"n{n}")
    one, many = statistics.median(times[1]), statistics.median(times[len(strategies)])
    print(f"{len(runs)} runs of {args.volumes} volumes at {args.resolution:g} mm, {args.repeat} round(s)")
    print(f"  1 strategy ({strategies[0]}): {one:.3f} s per run (median)")
    print(f"  {len(strategies)} strategies ({', '.join(strategies)}): {many:.3f} s per run (median)")
    print(f"  ratio {many / one:.2f} (the number of strategies would be {len(strategies)})")


if __name__ == "__main__":
    main()
