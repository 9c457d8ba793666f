"""The error hierarchy: every error neurokit raises on bad input derives from NeurokitError.

The command line prints these as one clear message (no traceback) and exits with 2.
"""


class NeurokitError(Exception):
    """Base class: a problem with the user's input, named with its file or parameter and the fix."""
