"""Connectivity of cleaned region signals: matrices, Fisher z, vectorised edges, network summaries.

Matrices agree with nilearn's ``ConnectivityMeasure``; tangent space is a scikit-learn estimator.
"""

from neurokit.connectivity._measures import (
    COV_PREFIX,
    EDGE_PREFIX,
    COVARIANCE_ESTIMATORS,
    DEFAULT_COVARIANCE_ESTIMATOR,
    DEFAULT_SHRINKAGE,
    KINDS,
    connectivity_matrix,
    edge_indices,
    fisher_z,
    unvectorize,
    vectorize,
)
from neurokit.connectivity._summary import edge_networks, region_pfc_limbic_strength, summary_indices
from neurokit.connectivity._tangent import TangentSpace
from neurokit.connectivity._validation import ConnectivityError

__all__ = [
    "COVARIANCE_ESTIMATORS",
    "COV_PREFIX",
    "EDGE_PREFIX",
    "ConnectivityError",
    "DEFAULT_COVARIANCE_ESTIMATOR",
    "DEFAULT_SHRINKAGE",
    "KINDS",
    "TangentSpace",
    "connectivity_matrix",
    "edge_indices",
    "edge_networks",
    "fisher_z",
    "region_pfc_limbic_strength",
    "summary_indices",
    "unvectorize",
    "vectorize",
]
