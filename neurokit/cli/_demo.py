"""Simulate a dataset, run the participant and group levels, and write the HTML reports.

The simulated dataset has a planted prefrontal-limbic effect and one deliberately broken
run, so the failure handling shows. The ground truth is written beside it.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neurokit demo``."""
    parser.add_argument("output_dir", nargs="?", type=Path, default=Path("neurokit_demo"),
                        help="folder for the simulated dataset and the results (default: neurokit_demo)")
    parser.add_argument("--subjects", type=int, default=36, help="participants to simulate (default 36)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-workers", type=int, help="local dask workers (default: one per core)")
    parser.add_argument("--config", type=Path, help="configuration (default: configs/demo.yaml settings)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("-v", "--verbose", action="count", default=0)


#: configs/demo.yaml as overrides (the installed package has no configs/ folder).
_DEMO_CONFIG = {"denoise.strategy": ["scrubbing+gsr", "simple+gsr", "compcor"], "models.cv_repeats": 3,
                "models.n_permutations": 20}


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the study's exit code (1: the planted broken run failed, as intended)."""
    from neurokit.config import load_config
    from neurokit.pipelines.study import run_study
    from neurokit.simulate import simulate_dataset

    out = args.output_dir.resolve()
    bids = out / "bids"
    results = out / "derivatives"
    if not (bids / "dataset_description.json").is_file():
        print(f"simulating {args.subjects} participants into {bids} ...")
        simulate_dataset(bids, n_subjects=args.subjects, seed=args.seed, broken_runs=("corrupt_gzip",),
                         truth_path=out / "ground_truth.tsv")
    config = load_config(args.config, overrides=None if args.config else _DEMO_CONFIG)
    if args.n_workers:
        config = config.updated({"cluster.n_workers": args.n_workers})
    code = run_study(bids, results, config, progress=False if args.no_progress else None)
    print(f"\nneurokit demo finished (exit code {code}; 1 means the planted broken run failed, as intended).")
    print(f"  group report:        {results / 'group' / 'group.html'}")
    print(f"  participant reports: {results}/sub-*.html")
    print(f"  failures:            {results / 'failures.tsv'}")
    print(f"  ground truth:        {out / 'ground_truth.tsv'} (never read by the pipeline)")
    return 0 if code in (0, 1) else code
