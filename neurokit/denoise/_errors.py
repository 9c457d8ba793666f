"""Errors raised by the denoising stage."""

from __future__ import annotations

from neurokit._errors import NeurokitError

__all__ = ["DenoiseError", "InsufficientVolumesError"]


class DenoiseError(NeurokitError, ValueError):
    """Bad confounds, signals or cleaning parameters; the message names the file/column/parameter and the fix."""


class InsufficientVolumesError(DenoiseError):
    """Too few volumes remain after censoring for a usable run.

    The participant pipeline records this as an exclusion of the run (not a crash).

    Attributes
    ----------
    n_volumes : int
        Volumes in the run before censoring.
    n_kept : int
        Volumes left after censoring.
    min_volumes : int
        The minimum that was required.
    """

    def __init__(self, message: str, *, n_volumes: int, n_kept: int, min_volumes: int):
        super().__init__(message)
        self.n_volumes = n_volumes
        self.n_kept = n_kept
        self.min_volumes = min_volumes

    def __reduce__(self):  # keep the counts when pickled to/from dask workers
        return (_rebuild, (str(self), self.n_volumes, self.n_kept, self.min_volumes))


def _rebuild(message, n_volumes, n_kept, min_volumes):
    return InsufficientVolumesError(message, n_volumes=n_volumes, n_kept=n_kept, min_volumes=min_volumes)
