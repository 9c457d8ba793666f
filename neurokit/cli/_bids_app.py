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
import textwrap
from pathlib import Path

from neurokit.config import load_config

LEVELS = ("participant", "group")

#: What each level does, shown at the top of its own --help.
_LEVEL_HELP = {
    "participant": "participant level: denoise each BOLD run found in BIDS_DIR's fMRIPrep derivatives and write its "
                   "region signals, connectivity matrices, QC and the participant reports to OUTPUT_DIR (one dask "
                   "task per run; complete, up-to-date runs are skipped). The phenotype (participants.tsv, "
                   "sessions.tsv, phenotype/) is not needed here; a missing or unreadable one is named in a warning.",
    "group": "group level: read the participant level's outputs in OUTPUT_DIR and the phenotype in BIDS_DIR "
             "(participants.tsv, sub-*/sub-*_sessions.tsv, phenotype/*.tsv), fit the cross-validated models with "
             "their permutation null, and write OUTPUT_DIR/group/ and the group report. A missing or unreadable "
             "phenotype file, or one with a column for none of the targets, stops it before anything is written "
             "(a target without its column only has its models skipped, by name).",
}

#: Why neurokit needs no work directory; --work-dir's help and the README say it.
WORK_DIR_HELP = (
    "scratch folder of the dask workers (spilled memory, temporary files; = cluster.local_directory). neurokit "
    "keeps no other intermediate files: each run is computed in memory and its outputs are written atomically "
    "into OUTPUT_DIR, so nothing needs cleaning up and no work folder is needed to resume (default: dask's "
    "temporary folder; accepted as in other BIDS Apps)"
)


#: Options of one level only, and what to say when they are given to the other.
_ONLY = {
    "participant": {
        "--participant-label": "the group level models every participant with outputs in OUTPUT_DIR",
        "--participant_label": "the group level models every participant with outputs in OUTPUT_DIR",
        "--session-label": "the group level models every session with outputs in OUTPUT_DIR",
        "--session_label": "the group level models every session with outputs in OUTPUT_DIR",
        "--derivatives": "the group level reads OUTPUT_DIR, not the fMRIPrep derivatives",
        "--exclude": "the group level models every run the participant level wrote",
        "--skip-existing": "the group level always refits its models",
        "--overwrite": "the group level always refits its models",
        "--retry-failed": "runs are retried by the participant level",
    },
    "group": {
        "--targets": "the participant level fits no model",
        "--n-permutations": "the participant level fits no model",
    },
}


class _OtherLevel(argparse.Action):
    """An option of the other level: refused with the reason, not with argparse's bare 'unrecognized'."""

    def __init__(self, option_strings, dest, level, reason, **kwargs):
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs="*", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)
        self.level, self.reason = level, reason

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is an option of the {self.level} level; {self.reason}: drop it "
                     f"(see `neurokit BIDS_DIR OUTPUT_DIR {self.level} --help`).")


class _Refused(Exception):
    pass


class _QuietParser(argparse.ArgumentParser):
    def error(self, message):
        raise _Refused(message)


def analysis_level(argv: list[str]) -> str | None:
    """The analysis level a BIDS-App command line names, or None when it names none.

    Parsed with every option of both levels, so that option values (``--config group.yaml``)
    and an OUTPUT_DIR called ``group`` are not taken for the level.
    """
    parser = _QuietParser(add_help=False)
    add_arguments(parser, _EVERY)
    try:
        known, _ = parser.parse_known_args([a for a in argv if a not in ("-h", "--help")])
    except _Refused:
        return None
    return known.analysis_level if known.analysis_level in LEVELS else None


#: add_arguments' level for every option of both levels (to find the level before its parser is built)
_EVERY = "every"


def add_arguments(parser: argparse.ArgumentParser, level: str | None = None) -> None:
    """Arguments of a BIDS-App level.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    level : {'participant', 'group'} or None
        Add this level's options; None adds the options both levels share (``neurokit BIDS_DIR
        OUTPUT_DIR --help`` then points to each level's own help); ``_EVERY`` adds every option of
        both (for :func:`analysis_level`).
    """
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the exit-code paragraph's layout
    if level in LEVELS:
        # wrapped here: the raw formatter keeps the module docstring's own line breaks
        summary = textwrap.fill(_LEVEL_HELP[level], 88, break_on_hyphens=False)
        parser.description = f"{summary}\n\n{parser.description or ''}".rstrip()
    elif level is None:
        parser.epilog = ("each level has its own options: run `neurokit BIDS_DIR OUTPUT_DIR participant --help` "
                         "or `neurokit BIDS_DIR OUTPUT_DIR group --help`.")
    parser.add_argument("bids_dir", type=Path, help="BIDS dataset root")
    parser.add_argument("output_dir", type=Path, help="derivative dataset to write (the group level reads the "
                                                      "participant level's outputs there)")
    parser.add_argument("analysis_level", choices=[level] if level in LEVELS else list(LEVELS),
                        help="participant: per-run connectivity; group: models across participants")
    sel = parser.add_argument_group("selection")
    if level in ("participant", _EVERY):
        # both spellings: the BIDS Apps specification (and fMRIPrep) use --participant_label
        sel.add_argument("--participant-label", "--participant_label", dest="participant_label", nargs="+",
                         metavar="L", help="participants to process (with or without 'sub-'; default: all)")
        sel.add_argument("--session-label", "--session_label", dest="session_label", nargs="+", metavar="S",
                         help="sessions to process (with or without 'ses-'; default: all)")
    sel.add_argument("--task", help="BIDS task label, e.g. rest" + (
        "; the group level models the runs of this task" if level == "group" else ""))
    sel.add_argument("--space", help="output space of the preprocessed BOLD (default MNI152NLin2009cAsym)")
    if level in ("participant", _EVERY):
        sel.add_argument("--derivatives", nargs="+", metavar="PATH",
                         help="fMRIPrep derivative folder(s) (default: BIDS_DIR/derivatives/fmriprep)")
        sel.add_argument("--exclude", nargs="+", metavar="GLOB", help="BOLD file name patterns to leave out")
    ana = parser.add_argument_group("analysis")
    ana.add_argument("--config", type=Path, help="YAML configuration (see configs/default.yaml)")
    ana.add_argument("--atlas", help="atlas name or folder (neurokit atlases list)")
    if level == "group":
        ana.add_argument("--strategy", nargs="+", metavar="S",
                         help="denoising strategy the participant level cleaned with; the models use the first "
                              "(or models.strategy)")
    else:
        ana.add_argument("--strategy", nargs="+", metavar="S",
                         help="denoising strategy or strategies: simple, scrubbing, compcor (+gsr); several are "
                              "cleaned from one extraction, the group models use the first (or models.strategy)")
    if level in ("group", _EVERY):
        ana.add_argument("--targets", nargs="+", metavar="T", choices=["severity", "stage", "user_vs_control"],
                         help="targets to model: severity, stage, user_vs_control (= models.targets; default all)")
        ana.add_argument("--n-permutations", type=int, metavar="N",
                         help="permutations per model; the p-value floor is 1/(N+1) (= models.n_permutations; "
                              "default 1000)")
    if level in LEVELS or level == _EVERY:
        ana.add_argument("--no-report", dest="report", action="store_false", default=None,
                         help=f"skip the {'group HTML report' if level == 'group' else 'participant HTML reports'} "
                              "(= report.enabled: false)")
    par = parser.add_argument_group("execution")
    par.add_argument("--n-workers", type=int, help="local dask workers (default: one per core)")
    par.add_argument("--memory-limit", help="memory per worker, e.g. 4GB (default: estimated)")
    par.add_argument("--scheduler-file", type=Path, help="join an existing dask scheduler")
    par.add_argument("-w", "--work-dir", type=Path, metavar="DIR", help=WORK_DIR_HELP)
    if level in ("participant", _EVERY):
        par.add_argument(
            "--skip-existing", dest="overwrite", action="store_false", default=False,
            help="skip runs whose outputs are complete and up to date (default)",
        )
        par.add_argument("--overwrite", dest="overwrite", action="store_true", help="recompute every run")
        par.add_argument("--retry-failed", action="store_true",
                         help="retry runs that failed before even though their inputs are unchanged")
    par.add_argument("--no-progress", action="store_true",
                     help="plain log lines instead of a progress line (the default off a terminal)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (debug messages)")
    for other, options in _ONLY.items():
        if level in LEVELS and other != level:
            for option, reason in options.items():
                parser.add_argument(option, action=_OtherLevel, level=other, reason=reason)


def resolve_config(args: argparse.Namespace):
    """The configuration file with the command-line flags applied on top."""
    def given(name):
        return getattr(args, name, None)

    paths = {"inputs.derivatives": given("derivatives"), "cluster.scheduler_file": given("scheduler_file"),
             "cluster.local_directory": given("work_dir")}
    overrides = {
        "inputs.participant_label": given("participant_label"),
        "inputs.session_label": given("session_label"),
        "inputs.task": given("task"),
        "inputs.space": given("space"),
        "inputs.exclude": given("exclude"),
        "atlas.name": given("atlas"),
        "denoise.strategy": given("strategy"),
        "models.targets": given("targets"),
        "models.n_permutations": given("n_permutations"),
        "report.enabled": given("report"),
        "cluster.n_workers": given("n_workers"),
        "cluster.memory_limit": given("memory_limit"),
        **{key: ([str(p) for p in value] if isinstance(value, list) else str(value)) if value else None
           for key, value in paths.items()},
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
    from neurokit.pipelines._preflight import check_group_output, check_group_phenotype
    from neurokit.pipelines.group import run_group

    check_group_output(args.output_dir)  # before a cluster is started for nothing
    check_group_phenotype(args.bids_dir, config, warn=False)  # run_group warns
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
