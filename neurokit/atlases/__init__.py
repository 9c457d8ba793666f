"""Atlases: region tables with networks, and their labels on any run's voxel grid.

Bundled atlases live in the top-level ``atlases/`` folder; see its README.md to add one.
"""

from neurokit.atlases._coverage import Coverage, check_coverage
from neurokit.atlases._errors import AtlasError
from neurokit.atlases._model import ATLAS_TYPES, HEMISPHERES, NETWORKS, REGION_COLUMNS, Atlas
from neurokit.atlases._registry import ENTRY_POINT_GROUP, ENV_VAR, available, bundled_root, load, register
from neurokit.atlases._spaces import COMPATIBLE_SPACES, KNOWN_SPACES, check_space
from neurokit.atlases._validate import validate

__all__ = [
    "Atlas",
    "AtlasError",
    "Coverage",
    "ATLAS_TYPES",
    "NETWORKS",
    "HEMISPHERES",
    "REGION_COLUMNS",
    "KNOWN_SPACES",
    "COMPATIBLE_SPACES",
    "ENV_VAR",
    "ENTRY_POINT_GROUP",
    "available",
    "load",
    "register",
    "validate",
    "check_coverage",
    "check_space",
    "bundled_root",
]
