"""The error raised when a cluster cannot be sized, built or reached."""

from neurokit._errors import NeurokitError


class ClusterError(NeurokitError, RuntimeError):
    """A cluster setting is impossible or the cluster cannot be reached; names the setting and the fix."""
