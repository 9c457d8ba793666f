"""BIDS discovery, phenotype loading, derivative writing and reading (the only stage that touches files).

The per-run files have typed records (:class:`RunQC`, :class:`RunRecord`, :class:`FailureRow`) that own
their keys and serialisation; every writer and reader of these files goes through them.

Public names are re-exported here; the code lives in private modules.
"""

from neurokit._atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, atomic_write_tsv, json_text
from neurokit.io._bids import ENTITIES, ENTITY_ORDER, BIDSError, BIDSName, build_filename, parse_filename
from neurokit.io._derivatives import (
    BIDSIGNORE,
    DerivativeNames,
    atlas_files,
    bids_label,
    bids_uri,
    dataset_links,
    input_fingerprint,
    outputs_intact,
    qc_for_strategy,
    read_dataset_links,
    record_for_strategy,
    remove_temporaries,
    strategy_output_key,
    write_atlas_files,
    write_dataset_description,
)
from neurokit.io._discover import Discovery, RunProblem, discover_from_config, discover_runs
from neurokit.io._features import SCAN_COLUMNS, GroupError, RunRef, build_features, select_records, strategy_qc
from neurokit.io._physio import (
    DEFAULT_PHYSIO_COLUMNS,
    PhysioError,
    find_physio,
    physio_for_run,
    raw_bold_sidecar,
    read_physio,
    run_recording,
    write_physio,
)
from neurokit.io._phenotype import (
    NUMERIC_ROLES,
    TARGET_ROLES,
    PhenotypeCheck,
    PhenotypeError,
    check_phenotype,
    load_phenotype,
    phenotype_for_runs,
)
from neurokit.io._provenance import (
    HASH_DESCRIPTIONS,
    participant_config_yaml,
    participant_fingerprint,
    settings_from_config,
)
from neurokit.io._records import RUN_ENTITIES, Run
from neurokit.io._run_files import (
    FAILURE_COLUMNS,
    FailureRow,
    RunQC,
    RunRecord,
    completed_runs,
    read_completion,
    read_failures,
    write_failures,
)
from neurokit.io._validate import NameCheck, NameFinding, check_derivative_names, run_bids_validator

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
    "check_phenotype",
    "PhenotypeCheck",
    "TARGET_ROLES",
    "phenotype_for_runs",
    "GroupError",
    "RunRef",
    "build_features",
    "SCAN_COLUMNS",
    "select_records",
    "strategy_qc",
    # physiological recordings of the raw dataset (computation: neurokit.physio)
    "DEFAULT_PHYSIO_COLUMNS",
    "PhysioError",
    "find_physio",
    "raw_bold_sidecar",
    "read_physio",
    "run_recording",
    "physio_for_run",
    "write_physio",
    # the derivative dataset: names, typed per-run records, atomic writes
    "DerivativeNames",
    "RunQC",
    "RunRecord",
    "FailureRow",
    "FAILURE_COLUMNS",
    "BIDSIGNORE",
    "bids_label",
    "bids_uri",
    "dataset_links",
    "read_dataset_links",
    "write_dataset_description",
    "atlas_files",
    "write_atlas_files",
    "input_fingerprint",
    "outputs_intact",
    "read_completion",
    "completed_runs",
    "record_for_strategy",
    "qc_for_strategy",
    "strategy_output_key",
    "remove_temporaries",
    "write_failures",
    "read_failures",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_write_tsv",
    "json_text",
    # checks of the derivative dataset: the BIDS validator and neurokit's own naming rules
    "NameCheck",
    "NameFinding",
    "check_derivative_names",
    "run_bids_validator",
]
