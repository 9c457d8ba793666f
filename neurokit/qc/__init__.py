"""Quality-control metrics: per-run motion, tSNR and exclusion; group QC-FC, its distance dependence and
the denoising benchmark that compares strategies with them.

Pure functions of arrays; the pipeline writes their results to ``desc-qc_metrics.json``.
"""

from neurokit.qc._benchmark import BENCHMARK_COLUMNS, denoising_benchmark, network_contrast
from neurokit.qc._motion import TDOF_FLOOR, exclusion_checks, exclusion_decision, motion_summary
from neurokit.qc._qcfc import qc_fc, qc_fc_distance_dependence, qc_fc_summary, region_distances
from neurokit.qc._signal import region_tsnr
from neurokit.qc._validation import QCError

__all__ = [
    "BENCHMARK_COLUMNS",
    "QCError",
    "TDOF_FLOOR",
    "denoising_benchmark",
    "exclusion_checks",
    "exclusion_decision",
    "motion_summary",
    "network_contrast",
    "qc_fc",
    "qc_fc_distance_dependence",
    "qc_fc_summary",
    "region_distances",
    "region_tsnr",
]
