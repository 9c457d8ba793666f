"""How a run's computation fails: the stage it failed in, in a form dask can carry back."""

from __future__ import annotations

__all__ = ["RunFailure"]


class RunFailure(Exception):
    """A run failed in one stage; carries what ``failures.tsv`` records (picklable for dask)."""

    def __init__(self, stage: str, error_type: str, message: str):
        super().__init__(f"[{stage}] {error_type}: {message}")
        self.stage, self.error_type, self.message = stage, error_type, message

    def __reduce__(self):
        return (RunFailure, (self.stage, self.error_type, self.message))


class _Stage:
    """Context manager naming the stage in which a run fails."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, (RunFailure, KeyboardInterrupt, SystemExit, MemoryError)):
            return False
        from neurokit.denoise import InsufficientVolumesError

        if isinstance(exc, InsufficientVolumesError):
            return False  # an exclusion, handled by the caller
        raise RunFailure(self.name, type(exc).__name__, str(exc)) from exc

