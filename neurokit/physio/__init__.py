"""Heart-rate variability and breathing rate from the physiological recordings of a scan.

Pure computation on arrays and in-memory recordings: checking channels (flat, clipped,
NaN, too short), aligning a recording with the BOLD volumes (``StartTime`` or the trigger
channel), beat detection, HRV and respiratory rate through NeuroKit2, and a per-session
summary, and the physiological noise regressors of the denoising (RETROICOR, RVT, heart
rate; :func:`physio_regressors`, ``docs/denoising.md``). Finding, reading and writing the files is :mod:`neurokit.io`'s
(:func:`neurokit.io.read_physio`, :func:`neurokit.io.physio_for_run`,
:func:`neurokit.io.write_physio`). What is measured and the quality rules: ``docs/physio.md``.
"""

from neurokit.physio._hrv import (
    HF_BAND,
    MEASURES,
    ROLES,
    PhysioChannel,
    PhysioIssue,
    PhysioRecording,
    PhysioResult,
    align_channel,
    channel_issues,
    hrv_from_recording,
    hrv_from_signals,
    session_summary,
)
from neurokit.physio._regressors import (
    PhysioRegressors,
    cardiac_response,
    physio_regressors,
    reference_slice_time,
    regressor_columns,
    respiration_response,
)

__all__ = [
    "HF_BAND",
    "MEASURES",
    "ROLES",
    "PhysioChannel",
    "PhysioIssue",
    "PhysioRecording",
    "PhysioRegressors",
    "PhysioResult",
    "align_channel",
    "cardiac_response",
    "channel_issues",
    "hrv_from_recording",
    "hrv_from_signals",
    "physio_regressors",
    "reference_slice_time",
    "regressor_columns",
    "respiration_response",
    "session_summary",
]
