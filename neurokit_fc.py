"""The ``neurokit`` console script of the neurokit-fc distribution.

The package index's name ``neurokit`` belongs to an unrelated package (2017) whose top-level
``neurokit/`` folder is the same as this distribution's: installed in one environment, one
overwrites the other's files, and ``from neurokit.cli import main`` then fails with an import
error that names neither. This launcher checks which ``neurokit`` is importable, without
importing it, before starting the command line; ``import neurokit`` warns with the same check.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path

DISTRIBUTION = "neurokit-fc"

_FIX = ("Uninstall both and reinstall this one: `pip uninstall -y neurokit neurokit-fc && pip install neurokit-fc` "
        "(or `pip install .` in a neurokit checkout), or use a fresh virtual environment.")


def foreign_neurokit() -> str | None:
    """Why the ``neurokit`` Python finds is not neurokit-fc's, or None when it is.

    Returns
    -------
    str or None
        A sentence naming the other distribution (name, version, location) or the folder that
        was found, and the fix.
    """
    try:
        other = importlib.metadata.distribution("neurokit")  # ours is 'neurokit-fc': any 'neurokit' is another
    except importlib.metadata.PackageNotFoundError:
        other = None
    if other is not None:
        summary = other.metadata.get("Summary") or "no description"
        return (f"another distribution named 'neurokit' ({other.version}: {summary}) is installed in "
                f"{other.locate_file('')}. It is not this neurokit (distributed as {DISTRIBUTION}), and its top-level "
                f"neurokit/ folder is the same as this one's, so each overwrites the other's files. {_FIX}")
    spec = importlib.util.find_spec("neurokit")  # finds the folder without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return f"no neurokit package can be imported although the {DISTRIBUTION} launcher is installed. {_FIX}"
    folders = [Path(p) for p in spec.submodule_search_locations]
    if not any((f / "cli" / "__init__.py").is_file() and (f / "_version.py").is_file() for f in folders):
        return (f"the neurokit package Python imports ({', '.join(map(str, folders))}) is not this neurokit "
                f"({DISTRIBUTION}): it has no neurokit/cli/. {_FIX}")
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``neurokit`` console script; returns the exit code."""
    problem = foreign_neurokit()
    if problem:
        print(f"neurokit: error: {problem}", file=sys.stderr)
        return 2
    from neurokit.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
