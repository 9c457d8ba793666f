"""neurokit: prefrontal-limbic functional connectivity from BIDS + fMRIPrep derivatives.

Stages live in subpackages (``io``, ``atlases``, ``extract``, ``denoise``,
``connectivity``, ``qc``, ``models``, ``report``, ``parallel``, ``simulate``);
``neurokit.pipelines`` composes them.
"""

from neurokit._version import __version__

__all__ = ["__version__"]
