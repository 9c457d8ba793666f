"""The error type of the QC functions."""

from neurokit._errors import NeurokitError


class QCError(NeurokitError, ValueError):
    """Invalid input to a QC function; the message names the parameter, what was expected and what came."""
