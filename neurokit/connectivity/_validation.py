"""Input checks and the error type shared by the connectivity modules."""

from __future__ import annotations

import numpy as np

from neurokit._errors import NeurokitError
from neurokit.atlases import NETWORKS


class ConnectivityError(NeurokitError, ValueError):
    """Invalid input to a connectivity function; the message names the parameter."""


def check_square(matrix, name: str = "matrix", *, allow_stack: bool = False) -> np.ndarray:
    """Return ``matrix`` as a float array of shape (..., n, n), or raise."""
    arr = np.asarray(matrix, dtype=float)
    ok_ndim = arr.ndim in ((2, 3) if allow_stack else (2,))
    if not ok_ndim or arr.shape[-1] != arr.shape[-2]:
        expected = "(n_regions, n_regions) or (n_matrices, n_regions, n_regions)" if allow_stack else "(n_regions, n_regions)"
        raise ConnectivityError(f"'{name}' must be a square matrix of shape {expected}; got shape {arr.shape}.")
    return arr


def check_networks(networks, n_regions: int) -> np.ndarray:
    """Return ``networks`` as an array of labels from :data:`NETWORKS`, or raise."""
    labels = np.asarray(list(networks), dtype=object)
    if labels.ndim != 1 or labels.shape[0] != n_regions:
        raise ConnectivityError(
            f"'networks' must give one label per region ({n_regions}); got {labels.shape[0] if labels.ndim else 0} labels."
        )
    bad = sorted({str(x) for x in labels if x not in NETWORKS})
    if bad:
        raise ConnectivityError(f"'networks' labels must be one of {NETWORKS}; got {bad}.")
    return labels
