"""Template spaces an atlas may declare, and the check that an atlas fits a run's space.

MNI152 variants are treated as one compatible family (see atlases/README.md for why).
"""

from __future__ import annotations

import logging

from neurokit.atlases._errors import AtlasError

logger = logging.getLogger(__name__)

#: The MNI152 registrations, one compatible family (see COMPATIBLE_SPACES).
_MNI152_SPACES = (
    "MNI152NLin2009cAsym",
    "MNI152NLin2009cSym",
    "MNI152NLin2009aAsym",
    "MNI152NLin2009aSym",
    "MNI152NLin2009bAsym",
    "MNI152NLin2009bSym",
    "MNI152NLin6Asym",
    "MNI152NLin6Sym",
    "MNI152Lin",
)

#: Volumetric template identifiers (TemplateFlow / BIDS) an atlas may declare.
KNOWN_SPACES = (
    *_MNI152_SPACES,
    "MNI305",
    "MNIColin27",
    "MNIPediatricAsym",
    "MNIInfant",
    "OASIS30ANTs",
    "NKI",
    "UNCInfant",
    "Talairach",
)

#: Spaces whose mm coordinates agree to within a few millimetres: an atlas defined in one
#: is used in another without resampling between templates. Atlas labels are coarse
#: compared with the differences between these MNI152 registrations (typically 1-3 mm
#: at the cortex), so fMRIPrep's MNI152NLin2009cAsym and FSL's MNI152NLin6Asym are aliases
#: here. This is a documented approximation, logged at INFO level whenever it is used.
COMPATIBLE_SPACES = (frozenset(_MNI152_SPACES),)


def is_known_space(space: str) -> bool:
    """True if ``space`` is one of :data:`KNOWN_SPACES`."""
    return space in KNOWN_SPACES


def spaces_compatible(a: str, b: str) -> bool:
    """True if ``a`` and ``b`` are the same space or in one :data:`COMPATIBLE_SPACES` family."""
    return a == b or any(a in fam and b in fam for fam in COMPATIBLE_SPACES)


def check_space(atlas, run_space: str, allow_resample: bool = False) -> str:
    """Check that an atlas may be used on a run in ``run_space``.

    Parameters
    ----------
    atlas : Atlas
        The atlas (its ``space`` is compared).
    run_space : str
        The run's ``space-`` entity, e.g. ``"MNI152NLin2009cAsym"``.
    allow_resample : bool
        Accept a mismatching space (logged as a warning) instead of failing.

    Returns
    -------
    str
        ``"same"``, ``"compatible"`` (an MNI152 alias, logged) or ``"resampled"``.

    Raises
    ------
    AtlasError
        When the spaces differ, are not aliases, and ``allow_resample`` is False.
    """
    if atlas.space == run_space:
        return "same"
    if spaces_compatible(atlas.space, run_space):
        logger.info(
            "atlas %s is in %s and the run in %s; treated as the same MNI152 space (see atlases/README.md).",
            atlas.name, atlas.space, run_space,
        )
        return "compatible"
    if allow_resample:
        logger.warning(
            "atlas %s is in %s but the run is in %s; using it on the run's grid anyway (atlas.allow_resample).",
            atlas.name, atlas.space, run_space,
        )
        return "resampled"
    raise AtlasError(
        f"atlas {atlas.name!r} ({atlas.source}) is in space {atlas.space!r} but the run is in {run_space!r}; "
        f"use an atlas in {run_space}, process the data in {atlas.space}, or set atlas.allow_resample: true "
        "in the configuration to use it anyway."
    )
