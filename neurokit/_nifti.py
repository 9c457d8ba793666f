"""The one rule for reading a repetition time (TR) from a NIfTI header.

Used by BIDS discovery (``io``), where the sidecar's ``RepetitionTime`` comes first and the
header is the fallback, and by signal extraction (``extract``), which has only the header.
"""

from __future__ import annotations

import math

__all__ = ["TIME_UNIT_SECONDS", "PLAUSIBLE_TR", "header_t_r"]

#: Seconds per NIfTI time unit named in ``xyzt_units``.
TIME_UNIT_SECONDS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}
#: Range (s) of a TR believed from a header whose time unit is unknown.
PLAUSIBLE_TR = (0.05, 30.0)


def header_t_r(header) -> float | None:
    """TR in seconds from a NIfTI header's ``pixdim[4]``, or None when the header does not really say.

    ``pixdim[4]`` is used when the header's ``xyzt_units`` names a time unit (sec, msec,
    usec; converted to seconds) and the value is positive and finite. With an unknown unit,
    the value is taken as seconds only when it is plausible, i.e. in :data:`PLAUSIBLE_TR`
    and not exactly 1: 1 is what most writers put there by default.

    Parameters
    ----------
    header : nibabel.Nifti1Header or nibabel.Nifti2Header
        Any header with ``get_zooms()`` and ``get_xyzt_units()``.

    Returns
    -------
    float or None
    """
    zooms = header.get_zooms()
    if len(zooms) < 4:
        return None
    value = float(zooms[3])
    if not math.isfinite(value) or value <= 0:
        return None
    unit = header.get_xyzt_units()[1]
    if unit in TIME_UNIT_SECONDS:
        return value * TIME_UNIT_SECONDS[unit]
    if value == 1.0 or not (PLAUSIBLE_TR[0] <= value <= PLAUSIBLE_TR[1]):
        return None
    return value
