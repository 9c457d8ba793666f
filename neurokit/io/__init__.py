"""BIDS discovery, phenotype loading, derivative writing and reading (the only stage that touches files).

Public names are re-exported here; the code lives in private modules.
"""

from neurokit.io._bids import ENTITIES, ENTITY_ORDER, BIDSError, BIDSName, build_filename, parse_filename
from neurokit.io._discover import Discovery, RunProblem, discover_from_config, discover_runs
from neurokit.io._features import GroupError, RunRef, build_features, select_records, strategy_qc
from neurokit.io._phenotype import NUMERIC_ROLES, PhenotypeError, load_phenotype, phenotype_for_runs
from neurokit.io._provenance import (
    HASH_DESCRIPTIONS,
    participant_config_yaml,
    participant_fingerprint,
    settings_from_config,
)
from neurokit.io._records import RUN_ENTITIES, Run

__all__ = [
    "HASH_DESCRIPTIONS",
    "participant_config_yaml",
    "participant_fingerprint",
    "settings_from_config",
    "Run",
    "RUN_ENTITIES",
    "BIDSError",
    "BIDSName",
    "ENTITIES",
    "ENTITY_ORDER",
    "parse_filename",
    "build_filename",
    "Discovery",
    "RunProblem",
    "discover_runs",
    "discover_from_config",
    "PhenotypeError",
    "NUMERIC_ROLES",
    "load_phenotype",
    "phenotype_for_runs",
    "GroupError",
    "RunRef",
    "build_features",
    "select_records",
    "strategy_qc",
]
