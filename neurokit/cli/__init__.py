"""The ``neurokit`` command: BIDS-App levels plus tool subcommands.

``neurokit BIDS_DIR OUTPUT_DIR participant|group`` follows the BIDS Apps convention;
``neurokit demo|simulate|atlases|predict ...`` are subcommands. Each command lives in
its own private module exposing ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys

from neurokit._errors import NeurokitError
from neurokit._version import __version__

# subcommand name -> (module, one-line help). Modules are imported lazily so that
# `neurokit --help` stays fast and one broken command cannot break the others.
_SUBCOMMANDS = {
    "demo": ("neurokit.cli._demo", "simulate a dataset, run both levels and write the reports"),
    "simulate": ("neurokit.cli._simulate", "write a synthetic BIDS + fMRIPrep dataset with a planted effect"),
    "atlases": ("neurokit.cli._atlases", "list, show, validate or add atlases"),
    "predict": ("neurokit.cli._predict", "apply a saved group model to new participants"),
}
_BIDS_APP = ("neurokit.cli._bids_app", "BIDS_DIR OUTPUT_DIR {participant,group}")


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _top_parser() -> argparse.ArgumentParser:
    lines = ["commands:", f"  neurokit {_BIDS_APP[1]} [options]   run a BIDS-App analysis level"]
    for name, (module, help_) in _SUBCOMMANDS.items():
        if _available(module):
            lines.append(f"  neurokit {name:<10} {help_}")
    lines.append("\nrun `neurokit COMMAND --help`, `neurokit BIDS_DIR OUT participant --help` or "
                 "`neurokit BIDS_DIR OUT group --help` for details.")
    parser = argparse.ArgumentParser(
        prog="neurokit",
        description="Prefrontal-limbic functional connectivity from BIDS + fMRIPrep derivatives.",
        epilog="\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"neurokit {__version__}")
    return parser


def _quiet_dask() -> None:
    """Keep dask's own chatter out of the terminal: neurokit reports each run's fate itself."""
    import dask

    levels = {"distributed": "warning", "distributed.worker": "critical", "distributed.nanny": "error"}
    dask.config.set({"logging": levels})  # inherited by worker processes started after this
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level.upper())


def _command_parser(argv: list[str]):
    """``(module, parser, arguments)`` of the command ``argv`` names; None if it is not available."""
    if argv[0] in _SUBCOMMANDS:
        name, module_name = argv[0], _SUBCOMMANDS[argv[0]][0]
        prog, rest = f"neurokit {name}", argv[1:]
    else:
        module_name, prog, rest = _BIDS_APP[0], "neurokit", argv
    if not _available(module_name):
        return None
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=prog, description=module.__doc__)
    if module_name == _BIDS_APP[0]:  # each analysis level has its own options and --help
        module.add_arguments(parser, module.analysis_level(rest))
    else:
        module.add_arguments(parser)
    return module, parser, rest


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``neurokit`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "--version"):
        _top_parser().parse_args(argv or ["--help"])
        return 0
    command = _command_parser(argv)
    if command is None:
        print(f"neurokit: command {argv[0]!r} is not available in this version.", file=sys.stderr)
        return 2
    module, parser, rest = command
    args = parser.parse_args(rest)
    verbose = getattr(args, "verbose", 0)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        _quiet_dask()
    try:
        return int(module.run(args) or 0)
    except NeurokitError as exc:
        print(f"neurokit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neurokit: interrupted; completed runs are kept, rerun to continue.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
