"""Run a BIDS-App analysis level: `neurokit BIDS_DIR OUTPUT_DIR participant|group`.

Flags override the configuration file; the resolved configuration is written to
OUTPUT_DIR/config.yaml; each level logs to OUTPUT_DIR/logs/<level>-<date>-<time>.log.
Inputs (paths, dataset_description.json, participant labels, atlas, configuration) are
checked before anything is written: an invalid invocation creates no OUTPUT_DIR.

Exit codes: 0 every run usable; 1 some runs failed (see OUTPUT_DIR/failures.tsv), the
others are usable; 2 no usable run, no model could be fitted, or an input error (one
message naming the file or option and the fix); 130 interrupted (rerun to continue).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neurokit.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the BIDS-App levels."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the exit-code paragraph's layout
    parser.add_argument("bids_dir", type=Path, help="BIDS dataset root")
    parser.add_argument("output_dir", type=Path, help="derivative dataset to write")
    parser.add_argument("analysis_level", choices=["participant", "group"])
    sel = parser.add_argument_group("selection")
    sel.add_argument("--participant-label", nargs="+", metavar="L", help="participants (with or without 'sub-')")
    sel.add_argument("--session-label", nargs="+", metavar="S", help="sessions (with or without 'ses-')")
    sel.add_argument("--task", help="BIDS task label, e.g. rest")
    sel.add_argument("--space", help="output space of the preprocessed BOLD (default MNI152NLin2009cAsym)")
    sel.add_argument("--derivatives", nargs="+", metavar="PATH", help="fMRIPrep derivative folder(s)")
    sel.add_argument("--exclude", nargs="+", metavar="GLOB", help="BOLD file name patterns to leave out")
    ana = parser.add_argument_group("analysis")
    ana.add_argument("--config", type=Path, help="YAML configuration (see configs/default.yaml)")
    ana.add_argument("--atlas", help="atlas name or folder (neurokit atlases list)")
    ana.add_argument("--strategy", nargs="+", metavar="S",
                     help="denoising strategy or strategies: simple, scrubbing, compcor (+gsr); several are cleaned "
                          "from one extraction, the group models use the first (or models.strategy)")
    par = parser.add_argument_group("execution")
    par.add_argument("--n-workers", type=int, help="local dask workers (default: one per core)")
    par.add_argument("--memory-limit", help="memory per worker, e.g. 4GB (default: estimated)")
    par.add_argument("--scheduler-file", type=Path, help="join an existing dask scheduler")
    par.add_argument(
        "--skip-existing", dest="overwrite", action="store_false", default=False,
        help="skip runs whose outputs are complete and up to date (default)",
    )
    par.add_argument("--overwrite", dest="overwrite", action="store_true", help="recompute every run")
    par.add_argument("--retry-failed", action="store_true",
                     help="retry runs that failed before even though their inputs are unchanged")
    par.add_argument("--no-progress", action="store_true", help="plain log lines instead of a progress bar")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def resolve_config(args: argparse.Namespace):
    """The configuration file with the command-line flags applied on top."""
    overrides = {
        "inputs.participant_label": args.participant_label,
        "inputs.session_label": args.session_label,
        "inputs.task": args.task,
        "inputs.space": args.space,
        "inputs.derivatives": [str(p) for p in args.derivatives] if args.derivatives else None,
        "inputs.exclude": args.exclude,
        "atlas.name": args.atlas,
        "denoise.strategy": args.strategy,
        "cluster.n_workers": args.n_workers,
        "cluster.memory_limit": args.memory_limit,
        "cluster.scheduler_file": str(args.scheduler_file) if args.scheduler_file else None,
    }
    return load_config(args.config, overrides=overrides)


def run(args: argparse.Namespace) -> int:
    """Run the requested level (and its HTML reports); returns the exit code."""
    from neurokit.pipelines._runlog import level_log

    config = resolve_config(args)
    # the level's log (logs/<level>-*.log) also covers its reports; the level starts it once
    # its inputs are valid
    with level_log(args.output_dir, args.analysis_level):
        return _run_level(args, config)


def _run_level(args: argparse.Namespace, config) -> int:
    """The level and its reports, inside the level's log."""
    from neurokit.parallel import cluster_client

    if args.analysis_level == "participant":
        from neurokit.pipelines.participant import exit_code, run_participant

        summary = run_participant(
            args.bids_dir, args.output_dir, config, overwrite=args.overwrite,
            retry_failed=args.retry_failed, progress=False if args.no_progress else None,
            reports=config.report.enabled,
        )
        print(
            f"neurokit participant: {summary.n_ok} usable, {summary.n_excluded} excluded, "
            f"{summary.n_failed} failed, {summary.n_skipped} already up to date -> {args.output_dir}"
        )
        if config.report.enabled:
            failed = "".join(f"\n  {'sub-' + f['subject'] if f['subject'] else 'every report'}: "
                             f"{f['error_type']}: {f['message']}" for f in summary.report_failures)
            print(f"neurokit participant: {len(summary.reports)} participant report(s) in {args.output_dir} "
                  f"({summary.n_reports_rendered} rendered, {summary.n_reports_up_to_date} up to date, "
                  f"{len(summary.report_failures)} failed){failed}")
        return exit_code(summary)
    from neurokit.pipelines._preflight import check_group_output
    from neurokit.pipelines.group import run_group

    check_group_output(args.output_dir)  # before a cluster is started for nothing
    progress = False if getattr(args, "no_progress", False) else None
    with cluster_client(config.cluster) as client:  # the permutation tests run on it
        code = run_group(args.bids_dir, args.output_dir, config, client=client, progress=progress)
    if config.report.enabled:
        from neurokit.pipelines._progress import phase
        from neurokit.report import write_group_report

        with phase("rendering the group report", enabled=progress):
            page = write_group_report(args.output_dir, bids_dir=args.bids_dir, config=config)
        print(f"neurokit group: report {page}")
    return code
