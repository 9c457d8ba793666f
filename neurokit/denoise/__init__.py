"""Denoising: nilearn-compatible fMRIPrep confound strategies and signal cleaning.

``select_confounds`` mirrors nilearn's ``load_confounds_strategy`` presets; ``clean`` mirrors
``nilearn.signal.clean`` and also reports censoring and temporal degrees of freedom.
"""

from neurokit.denoise._clean import Cleaned, clean, partial_r2
from neurokit.denoise._confounds import (
    PRESETS,
    STRATEGIES,
    ConfoundSelection,
    check_confounds_length,
    load_confounds_metadata,
    load_confounds_table,
    resolve_strategy,
    select_confounds,
)
from neurokit.denoise._errors import DenoiseError, InsufficientVolumesError

__all__ = [
    "PRESETS",
    "STRATEGIES",
    "Cleaned",
    "ConfoundSelection",
    "DenoiseError",
    "InsufficientVolumesError",
    "check_confounds_length",
    "clean",
    "load_confounds_metadata",
    "load_confounds_table",
    "partial_r2",
    "resolve_strategy",
    "select_confounds",
]
