"""How a NIfTI header's time step (``pixdim[4]`` and its ``xyzt_units``) is read.

Shared by BIDS discovery (``io``) and signal extraction (``extract``), which then apply their own rule to an unknown unit.
"""

from __future__ import annotations

import math

#: Seconds per NIfTI time unit named in ``xyzt_units``.
TIME_UNIT_SECONDS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}


def header_time_step(header) -> tuple[float, str] | None:
    """``(pixdim[4], time unit name)`` of a NIfTI header, or None when it has no positive, finite 4th zoom."""
    zooms = header.get_zooms()
    if len(zooms) < 4:
        return None
    value = float(zooms[3])
    if not math.isfinite(value) or value <= 0:
        return None
    return value, header.get_xyzt_units()[1]
