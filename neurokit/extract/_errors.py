"""The error raised for a BOLD file, label image or mask that extraction cannot use."""

from neurokit._errors import NeurokitError


class ExtractError(NeurokitError, ValueError):
    """A BOLD run, label image or mask cannot be reduced to region signals.

    The message names the file (or parameter), what is wrong and what to do.
    """
