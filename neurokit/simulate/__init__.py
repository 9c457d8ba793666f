"""Synthetic BIDS + fMRIPrep-style datasets with a planted prefrontal-limbic effect and a known
answer, for tests, demos and methods work (the ``simulate`` stage).
"""

from neurokit.simulate._dataset import (
    BROKEN_RUN_KINDS,
    SimulationError,
    SimulationResult,
    SCAN_HRV_COLUMNS,
    default_truth_path,
    physio_truth_path,
    simulate_dataset,
)
from neurokit.simulate._grid import PLANTED_REGIONS
from neurokit.simulate._phenotype import LABEL_STYLES, STAGES
from neurokit.simulate._physio import BROKEN_PHYSIO_KINDS, CARDIAC_KINDS
from neurokit.simulate._realistic import BLOBS, DYNAMICS, REALISM

__all__ = [
    "simulate_dataset",
    "SimulationResult",
    "SimulationError",
    "BROKEN_RUN_KINDS",
    "PLANTED_REGIONS",
    "STAGES",
    "REALISM",
    "DYNAMICS",
    "LABEL_STYLES",
    "BLOBS",
    "default_truth_path",
    "physio_truth_path",
    "BROKEN_PHYSIO_KINDS",
    "CARDIAC_KINDS",
    "SCAN_HRV_COLUMNS",
]
