"""neurokit: prefrontal-limbic functional connectivity from BIDS + fMRIPrep derivatives.

Stages live in subpackages (``io``, ``atlases``, ``extract``, ``denoise``,
``connectivity``, ``qc``, ``models``, ``report``, ``parallel``, ``simulate``);
``neurokit.pipelines`` composes them.
"""

import importlib.abc
import importlib.util
import sys
from pathlib import Path

from neurokit._version import __version__

__all__ = ["__version__"]


class _SourceCheckoutFinder(importlib.abc.MetaPathFinder):
    """``neurokit.pipelines`` and ``neurokit._bundled_atlases`` from the checkout this neurokit was imported from.

    setup.py maps the top-level ``pipelines/`` and ``atlases/`` folders to these two packages. A
    regular install (``pip install .``) copies them there, and an editable one (``pip install -e .``)
    gets a setuptools finder with the same mapping, so neither needs this. It is kept for Python
    started with a checkout as its working directory (``python -c``/``-m`` put it first on
    sys.path) when that checkout is not the installed one: CI installs with ``pip install .`` and
    then runs from the checkout, where dask-jobqueue's worker jobs (``python -m
    distributed.cli.dask_worker``, started in the submission directory), ``python -m neurokit`` and
    test subprocesses import the checkout's ``neurokit``, which has neither package without it.
    """

    def __init__(self, folders: dict):
        self.folders = folders

    def find_spec(self, name, path=None, target=None):
        folder = self.folders.get(name)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )


def _map_source_checkout() -> None:
    root = Path(__file__).resolve().parent.parent
    folders = {"neurokit.pipelines": root / "pipelines", "neurokit._bundled_atlases": root / "atlases"}
    if (root / "setup.py").is_file() and all((f / "__init__.py").is_file() for f in folders.values()):
        # first: an editable install of another checkout must not supply this checkout's pipelines
        sys.meta_path.insert(0, _SourceCheckoutFinder(folders))


_map_source_checkout()


def _warn_if_shared() -> None:
    """Warn when the unrelated 'neurokit' distribution shares this package's folder (see neurokit_fc)."""
    try:
        from neurokit_fc import foreign_neurokit
    except ImportError:  # neither installed nor run from a checkout: nothing to compare with
        return
    problem = foreign_neurokit()
    if problem:
        import warnings

        warnings.warn(problem, RuntimeWarning, stacklevel=3)


_warn_if_shared()
