"""BIDS discovery, phenotype loading and derivative writing (the only stage that touches files).

Public names are re-exported here; the code lives in private modules.
"""

from neurokit.io._bids import ENTITIES, ENTITY_ORDER, BIDSError, BIDSName, build_filename, parse_filename
from neurokit.io._records import RUN_ENTITIES, Run

__all__ = [
    "Run",
    "RUN_ENTITIES",
    "BIDSError",
    "BIDSName",
    "ENTITIES",
    "ENTITY_ORDER",
    "parse_filename",
    "build_filename",
]
