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
    """Find ``neurokit.pipelines`` and ``neurokit._bundled_atlases`` in a source checkout.

    Installed, setup.py maps them to the top-level ``pipelines/`` and ``atlases/`` folders.
    Python started inside a checkout (``python -m ...`` puts the working directory first on
    sys.path, as dask-jobqueue workers and ``python -m neurokit`` do) imports this source tree
    instead of the installed package; this finder gives it the same two packages.
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
        sys.meta_path.append(_SourceCheckoutFinder(folders))


_map_source_checkout()
