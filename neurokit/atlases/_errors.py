"""The atlas error class (kept apart so every atlas module can raise it without cycles)."""

from neurokit._errors import NeurokitError


class AtlasError(NeurokitError, ValueError):
    """An atlas is malformed or does not fit a run; the message names the file, the region and the fix."""
