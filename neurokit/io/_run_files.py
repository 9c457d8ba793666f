"""Typed records of what the participant level writes per run: QC JSON, completion record, failure row.

Each class owns its file's keys (the JSON/TSV spelling, kept byte for byte as earlier
versions wrote it, snake_case and BIDS CamelCase alike), its serialisation and where it is
written (through :class:`~neurokit.io._derivatives.DerivativeNames`). Readers are tolerant:
keys a class does not know (older or newer files) are kept in ``extra`` and written back
after the known ones, and missing keys read as None.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping

import pandas as pd

from neurokit._atomic import atomic_write_json, atomic_write_tsv
from neurokit.io._derivatives import DerivativeNames, qc_for_strategy, record_for_strategy

__all__ = ["RunQC", "RunRecord", "FailureRow", "FAILURE_COLUMNS", "read_completion", "completed_runs",
           "write_failures", "read_failures"]

#: Columns of ``failures.tsv``, in file order (the fields of :class:`FailureRow`).
FAILURE_COLUMNS = ("run_id", "status", "stage", "error_type", "message", "bold")

#: Keys of :func:`neurokit.qc.motion_summary`, written at the top level of the QC JSON as they come.
MOTION_KEYS = ("mean_fd", "max_fd", "n_volumes", "n_censored", "n_remaining", "censored_fraction",
               "percent_censored")


def _load_json(path: str | os.PathLike) -> dict | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _known(cls, data: Mapping[str, Any]) -> tuple[dict, dict]:
    """Split ``data`` into the keyword arguments of ``cls`` (by ``cls._KEYS``) and the unknown keys."""
    by_key = {key: attr for attr, key in cls._KEYS}
    kwargs, extra = {}, {}
    for key, value in data.items():
        if key in by_key:
            kwargs[by_key[key]] = value
        else:
            extra[key] = value
    return kwargs, extra


@dataclass
class RunQC:
    """A run's quality-control metrics, ``*_desc-qc_metrics.json`` (:meth:`DerivativeNames.qc`).

    The top-level entries describe the modelled strategy; with several strategies,
    ``strategies`` holds each one's own entries (tDOF, censoring, exclusion, summary).

    Attributes
    ----------
    run_id, atlas, strategy : str
        ``RunID``, ``Atlas``, ``Strategy``.
    repetition_time : float
        ``RepetitionTime`` (s).
    n_volumes : int
        ``NumberOfVolumes``.
    censored_volumes, non_steady_state_volumes : list of int
        ``CensoredVolumes``, ``NonSteadyStateVolumes`` (0-based volume indices).
    motion : dict
        :func:`neurokit.qc.motion_summary` (``mean_fd``, ``percent_censored``, ... in snake_case).
    tdof_lost, tdof_remaining, n_regressors : int or None
        ``tDOFLost``, ``tDOFRemaining``, ``NumberOfRegressors``; None when too few volumes were
        left to clean (then ``SummaryIndices`` is not written).
    region_tsnr : dict of str to float
        ``RegionTSNR``.
    region_coverage : dict
        ``RegionCoverage``.
    excluded_voxels : dict
        ``ExcludedVoxels``.
    excluded : bool
        ``Excluded``.
    exclusion_reasons : list of str
        ``ExclusionReasons``.
    exclusion_checks : list of dict
        ``ExclusionChecks`` (:func:`neurokit.qc.exclusion_checks`).
    confound_notes : list of str
        ``ConfoundNotes``.
    regions_without_signal : list of str
        ``RegionsWithoutSignal``.
    reference_image : str or None
        ``ReferenceImage`` (BIDS URI of fMRIPrep's boldref, None when the mean image was written).
    mean_image_volumes : list of int or None
        ``MeanImageVolumes``.
    summary_indices : dict or None
        ``SummaryIndices``.
    region_pfc_limbic_strength : dict or None
        ``RegionPFCLimbicStrength`` (written only with summary indices).
    strategies : dict or None
        ``Strategies``: strategy -> its own entries (written with several strategies only).
    processing_seconds : float or None
        ``ProcessingSeconds`` (set when the run is written).
    physio : dict or None
        ``Physio``: ``usable`` (bool), ``reason`` (a :class:`neurokit.physio.PhysioIssue` code or
        None), ``message`` (str or None) and ``warnings`` (codes) of the run's physiology
        (``desc-physio_metrics``); absent when ``physio.enabled`` is false.
    extra : dict
        Keys this version does not know (kept from the file read).
    """

    SCHEMA_VERSION: ClassVar[int] = 1  # bump with neurokit.io._derivatives._LAYOUT when the keys change
    #: (attribute, JSON key) of every key but the motion ones, in file order.
    _KEYS: ClassVar[tuple] = (
        ("run_id", "RunID"), ("atlas", "Atlas"), ("strategy", "Strategy"),
        ("repetition_time", "RepetitionTime"), ("n_volumes", "NumberOfVolumes"),
        ("censored_volumes", "CensoredVolumes"), ("non_steady_state_volumes", "NonSteadyStateVolumes"),
        ("tdof_lost", "tDOFLost"), ("tdof_remaining", "tDOFRemaining"), ("n_regressors", "NumberOfRegressors"),
        ("region_tsnr", "RegionTSNR"), ("region_coverage", "RegionCoverage"), ("excluded_voxels", "ExcludedVoxels"),
        ("excluded", "Excluded"), ("exclusion_reasons", "ExclusionReasons"), ("exclusion_checks", "ExclusionChecks"),
        ("confound_notes", "ConfoundNotes"), ("regions_without_signal", "RegionsWithoutSignal"),
        ("reference_image", "ReferenceImage"), ("mean_image_volumes", "MeanImageVolumes"),
        ("summary_indices", "SummaryIndices"), ("region_pfc_limbic_strength", "RegionPFCLimbicStrength"),
        ("strategies", "Strategies"), ("processing_seconds", "ProcessingSeconds"), ("physio", "Physio"),
    )
    #: Keys written only when set (absent, not null, otherwise).
    _OPTIONAL: ClassVar[frozenset] = frozenset({"region_pfc_limbic_strength", "strategies", "processing_seconds",
                                                "physio"})

    run_id: str | None = None
    atlas: str | None = None
    strategy: str | None = None
    repetition_time: float | None = None
    n_volumes: int | None = None
    censored_volumes: list = field(default_factory=list)
    non_steady_state_volumes: list = field(default_factory=list)
    motion: dict = field(default_factory=dict)
    tdof_lost: int | None = None
    tdof_remaining: int | None = None
    n_regressors: int | None = None
    region_tsnr: dict = field(default_factory=dict)
    region_coverage: dict = field(default_factory=dict)
    excluded_voxels: dict = field(default_factory=dict)
    excluded: bool = False
    exclusion_reasons: list = field(default_factory=list)
    exclusion_checks: list = field(default_factory=list)
    confound_notes: list = field(default_factory=list)
    regions_without_signal: list = field(default_factory=list)
    reference_image: str | None = None
    mean_image_volumes: list | None = None
    summary_indices: dict | None = None
    region_pfc_limbic_strength: dict | None = None
    strategies: dict | None = None
    processing_seconds: float | None = None
    physio: dict | None = None
    extra: dict = field(default_factory=dict)

    @property
    def mean_fd(self) -> float | None:
        """Mean framewise displacement (mm)."""
        return self.motion.get("mean_fd")

    @property
    def max_fd(self) -> float | None:
        """Largest framewise displacement (mm)."""
        return self.motion.get("max_fd")

    @property
    def percent_censored(self) -> float | None:
        """Percentage of volumes censored."""
        return self.motion.get("percent_censored")

    def to_dict(self) -> dict[str, Any]:
        """The QC JSON's content, in file order."""
        out: dict[str, Any] = {}
        for attr, key in self._KEYS:
            if attr == "tdof_lost":  # the motion keys sit between the volume lists and the tDOF
                out.update(self.motion)
            value = getattr(self, attr)
            if attr == "summary_indices":
                if self.tdof_remaining is None:  # no cleaned signals: no summary at all
                    continue
                value = value or None
            elif attr in self._OPTIONAL and not value and value != 0:
                continue
            out[key] = value
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunQC":
        """From a QC JSON's content; unknown keys go to ``extra``, missing ones read as defaults."""
        kwargs, rest = _known(cls, data)
        motion = {k: rest.pop(k) for k in MOTION_KEYS if k in rest}
        return cls(**kwargs, motion=motion, extra=rest)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "RunQC | None":
        """The QC JSON at ``path``, or None if it is absent or unreadable."""
        data = _load_json(path)
        return None if data is None else cls.from_dict(data)

    def write(self, names: DerivativeNames) -> Path:
        """Write to ``names.qc()`` atomically; returns the path."""
        return atomic_write_json(names.qc(), self.to_dict())

    def for_strategy(self, strategy: str | None) -> "RunQC":
        """These metrics with ``strategy``'s own entries (tDOF, censoring, exclusion) on top."""
        return RunQC.from_dict(qc_for_strategy(self.to_dict(), strategy))


@dataclass
class RunRecord:
    """A run's completion record, ``logs/runs/<run_id>.json`` (:meth:`DerivativeNames.completion`).

    Written last, after every output of the run: a run counts as done only when it exists.

    Attributes
    ----------
    run_id : str
    status : str
        ``ok`` or ``excluded`` (of the modelled strategy).
    reasons : list of str
        Exclusion reasons.
    fingerprint : str
        :func:`neurokit.io.input_fingerprint` of the run's inputs and configuration.
    config_hash : str
        ``Config.run_hash()``.
    entities : dict
        The run's BIDS entities.
    bold : str
        Path of the BOLD input.
    inputs : dict
        ``bold``, ``confounds``, ``mask``, ``boldref`` paths and ``t_r``.
    outputs : dict of str to str
        Output key (``timeseries``, ``relmat:<measure>``, ``qc``, ...) -> path relative to the
        derivative root (under it when read with ``output_dir``).
    summary : dict
        Summary indices ``idx_*`` of the modelled strategy.
    mean_fd : float or None
    seconds : float or None
        Processing time.
    strategy : str or None
        The modelled strategy (written with several strategies only).
    strategies : dict or None
        Strategy -> ``status``, ``reasons``, ``summary`` and its output keys (several strategies only).
    output_bytes : dict or None
        Output key -> size in bytes when written (:func:`neurokit.io.outputs_intact` checks it).
    physio : dict or None
        The QC JSON's ``Physio`` block (``usable``, ``reason``, ``message``, ``warnings``); None
        when ``physio.enabled`` is false.
    extra : dict
        Keys this version does not know.
    """

    SCHEMA_VERSION: ClassVar[int] = 1  # bump with neurokit.io._derivatives._LAYOUT when the keys change
    _KEYS: ClassVar[tuple] = tuple((name, name) for name in (
        "run_id", "status", "reasons", "fingerprint", "config_hash", "entities", "bold", "inputs", "outputs",
        "summary", "mean_fd", "seconds", "strategy", "strategies", "output_bytes", "physio"))
    _OPTIONAL: ClassVar[frozenset] = frozenset({"strategy", "strategies", "output_bytes", "physio"})

    run_id: str
    status: str = "ok"
    reasons: list = field(default_factory=list)
    fingerprint: str | None = None
    config_hash: str | None = None
    entities: dict = field(default_factory=dict)
    bold: str | None = None
    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    mean_fd: float | None = None
    seconds: float | None = None
    strategy: str | None = None
    strategies: dict | None = None
    output_bytes: dict | None = None
    physio: dict | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The record's content, in file order."""
        out = {key: getattr(self, attr) for attr, key in self._KEYS
               if not (attr in self._OPTIONAL and getattr(self, attr) is None)}
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunRecord":
        """From a record's content; unknown keys go to ``extra``."""
        kwargs, extra = _known(cls, data)
        if "run_id" not in kwargs:
            raise ValueError(f"a completion record needs a 'run_id'; got the keys {sorted(data)}.")
        return cls(**kwargs, extra=extra)

    @classmethod
    def read(cls, path: str | os.PathLike, output_dir: str | os.PathLike | None = None) -> "RunRecord | None":
        """The record at ``path`` (outputs under ``output_dir`` when given), or None if absent or unreadable."""
        data = _load_json(path)
        if data is None or "run_id" not in data:
            return None
        record = cls.from_dict(data)
        if output_dir is not None:
            record.outputs = {k: str(Path(output_dir) / v) for k, v in record.outputs.items()}
        return record

    def write(self, names: DerivativeNames) -> Path:
        """Write to ``names.completion()`` with each output's size (outputs relative to ``names.output_dir``)."""
        root = Path(names.output_dir)
        self.output_bytes = {k: (root / v).stat().st_size for k, v in self.outputs.items()}
        return atomic_write_json(names.completion(), self.to_dict())

    def for_strategy(self, strategy: str) -> "RunRecord | None":
        """The record as if the run had been processed with ``strategy`` alone (None if it was not)."""
        view = record_for_strategy(self.to_dict(), strategy)
        return None if view is None else RunRecord.from_dict(view)


@dataclass
class FailureRow:
    """One row of ``failures.tsv``: a run that failed or was excluded, where and why.

    Attributes
    ----------
    run_id : str
    status : str
        ``failed`` or ``excluded``.
    stage : str
        Where: a discovery check, ``atlas``, ``confounds``, ``extract``, ``denoise``,
        ``connectivity``, ``qc``, ``write``, ``worker`` or ``unknown``.
    error_type : str
        The exception's class, ``DiscoveryProblem`` or ``Exclusion``.
    message : str
    bold : str or None
        The BOLD file.
    """

    SCHEMA_VERSION: ClassVar[int] = 1  # bump with neurokit.io._derivatives._LAYOUT when the columns change
    COLUMNS: ClassVar[tuple] = FAILURE_COLUMNS
    _KEYS: ClassVar[tuple] = tuple((name, name) for name in FAILURE_COLUMNS)

    run_id: str
    status: str
    stage: str
    error_type: str
    message: str
    bold: str | None = None

    @classmethod
    def failed(cls, run_id: str, stage: str, error_type: str, message: str, bold) -> "FailureRow":
        """A run that failed in ``stage``."""
        return cls(str(run_id), "failed", stage, error_type, message, None if bold is None else str(bold))

    @classmethod
    def excluded(cls, record: RunRecord | Mapping[str, Any]) -> "FailureRow":
        """A run excluded by the QC rules, from its completion record."""
        if not isinstance(record, RunRecord):
            record = RunRecord.from_dict(record)
        return cls(record.run_id, "excluded", "qc", "Exclusion", "; ".join(record.reasons or []), record.bold)

    def to_dict(self) -> dict[str, Any]:
        """The row, keyed by :data:`FAILURE_COLUMNS`."""
        return {name: getattr(self, name) for name in FAILURE_COLUMNS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FailureRow":
        """From a row (extra columns ignored; ``bold`` may be missing)."""
        kwargs, _ = _known(cls, data)
        missing = [name for name in FAILURE_COLUMNS[:-1] if name not in kwargs]
        if missing:
            raise ValueError(f"a failures.tsv row needs the columns {list(FAILURE_COLUMNS[:-1])}; "
                             f"{missing} are missing from {dict(data)!r}.")
        return cls(**kwargs)


    def write_failed(self, path: str | os.PathLike, fingerprint: str) -> Path:
        """Record a failed run at ``path`` (``logs/failed/<run_id>.json``): the row and the input
        fingerprint it failed with, so an unchanged run is listed again instead of retried."""
        return atomic_write_json(path, {"fingerprint": fingerprint, "row": self.to_dict()})

    @classmethod
    def read_failed(cls, path: str | os.PathLike) -> tuple[str | None, "FailureRow | None"]:
        """``(fingerprint, row)`` of :meth:`write_failed`, ``(None, None)`` when absent or unreadable."""
        data = _load_json(path)
        try:
            return data["fingerprint"], cls.from_dict(data["row"])
        except (TypeError, KeyError, ValueError):
            return None, None


def read_completion(path: str | os.PathLike, output_dir: str | os.PathLike | None = None) -> dict | None:
    """A completion record's content (:meth:`RunRecord.read`), or None if absent or unreadable (then the
    run is redone).

    Records store their outputs relative to the derivative root, so a results folder can be
    moved or copied; with ``output_dir`` they are returned as paths under it.
    """
    record = RunRecord.read(path, output_dir)
    return None if record is None else record.to_dict()


def completed_runs(output_dir: str | os.PathLike) -> list[dict]:
    """Every completion record under ``output_dir/logs/runs``, sorted by run id, outputs under ``output_dir``."""
    folder = Path(output_dir) / "logs" / "runs"
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    records = [read_completion(p, output_dir) for p in paths]
    return [r for r in records if r is not None]


def write_failures(output_dir: str | os.PathLike, rows: Iterable[FailureRow | Mapping[str, Any]]) -> Path:
    """``failures.tsv``: every failed or excluded run with its stage and reason."""
    rows = [row if isinstance(row, FailureRow) else FailureRow.from_dict(row) for row in rows]
    table = pd.DataFrame([row.to_dict() for row in rows], columns=list(FAILURE_COLUMNS))
    table = table.sort_values(["run_id", "status"], kind="stable") if len(table) else table
    return atomic_write_tsv(Path(output_dir) / "failures.tsv", table)


def read_failures(output_dir: str | os.PathLike) -> pd.DataFrame:
    """``failures.tsv`` as a table (empty with the right columns when absent)."""
    path = Path(output_dir) / "failures.tsv"
    if not path.is_file():
        return pd.DataFrame(columns=list(FAILURE_COLUMNS))
    return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, dtype=str)
