"""Physiological recordings of the raw BIDS dataset: find them beside a BOLD run, read them, write the result.

BIDS stores a run's recordings as ``<run>[_recording-<label>]_physio.tsv.gz`` (no header row)
with a JSON sidecar giving ``SamplingFrequency``, ``StartTime`` and ``Columns``; the sidecar may
be inherited from a less specific name higher up the tree (the inheritance principle). The
computation is :mod:`neurokit.physio`'s.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from neurokit._atomic import atomic_write_json, atomic_write_tsv
from neurokit._errors import NeurokitError
from neurokit.config import PhysioColumnsConfig
from neurokit.io._bids import BIDSError, parse_filename
from neurokit.io._derivatives import DerivativeNames, bids_uri
from neurokit.io._records import Run
from neurokit.physio import MEASURES, ROLES, PhysioChannel, PhysioIssue, PhysioRecording, PhysioResult, \
    hrv_from_recording

__all__ = ["DEFAULT_PHYSIO_COLUMNS", "PhysioError", "find_physio", "raw_bold_sidecar", "read_physio", "run_recording",
           "physio_for_run", "write_physio"]

#: Column names recognised for each role when none are given: the configuration's defaults
#: (``physio.columns``; case-insensitive, the first listed name present wins).
DEFAULT_PHYSIO_COLUMNS: dict[str, tuple[str, ...]] = PhysioColumnsConfig().mapping()

_NOT_RUN = ("space", "res", "den", "desc")


class PhysioError(NeurokitError, ValueError):
    """A recording cannot be used; ``code`` is a :class:`neurokit.physio.PhysioIssue` code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _raw_func(bids_dir: Path, entities: Mapping[str, str]) -> Path:
    folder = bids_dir / f"sub-{entities['sub']}"
    if entities.get("ses"):
        folder = folder / f"ses-{entities['ses']}"
    return folder / "func"


def find_physio(bids_dir: str | os.PathLike, run: Run) -> list[Path]:
    """The raw dataset's recordings of a run: ``*_physio.tsv.gz`` with the run's entities.

    Parameters
    ----------
    bids_dir : path-like
        The raw BIDS dataset.
    run : Run
        A discovered run (its ``space``/``res``/``den`` entities are fMRIPrep's and are ignored).

    Returns
    -------
    list of Path
        Sorted; a file with a ``recording-`` entity matches too (several recordings of one run,
        e.g. ``recording-cardiac`` and ``recording-respiratory``). A multi-echo run also takes
        recordings named without ``echo-``. Empty when there is none.
    """
    wanted = {k: v for k, v in run.entities if k not in _NOT_RUN}
    func = _raw_func(Path(bids_dir), wanted)
    try:
        names = sorted(e.name for e in os.scandir(func) if e.name.endswith("_physio.tsv.gz"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    without_echo = {k: v for k, v in wanted.items() if k != "echo"}
    found = []
    for name in names:
        try:
            parsed = parse_filename(name)
        except BIDSError:
            continue
        ent = {k: v for k, v in parsed.entities.items() if k != "recording"}
        if ent == wanted or ("echo" in wanted and ent == without_echo):
            found.append(func / name)
    return found


def _inherited(folders: Iterable[Path], suffix: str, entities: Mapping[str, str]) -> list[Path]:
    """The ``*<suffix>`` sidecars that apply to a file with ``entities`` (inheritance principle).

    ``folders`` run from the least specific (the dataset root) to the file's own; a sidecar applies
    when its entities are a subset of ``entities``. Returned in the order they apply: later ones
    override earlier ones (nearer folders, then more entities within a folder).
    """
    found: list[Path] = []
    for folder in dict.fromkeys(folders):
        try:
            names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(suffix))
        except OSError:
            continue
        applicable = []
        for name in names:
            try:
                ent = parse_filename(name).entities
            except BIDSError:
                continue
            if all(entities.get(k) == v for k, v in ent.items()):
                applicable.append((len(ent), name))
        found += [folder / name for _, name in sorted(applicable)]
    return found


def _sidecar(path: Path, root: Path | None) -> tuple[dict, list[Path]]:
    """The merged sidecar of ``path`` by the inheritance principle (nearest file wins), and the files used."""
    top = Path(root) if root is not None else path.parent
    folders = [path.parent]
    while folders[-1] != top and top in folders[-1].parents:
        folders.append(folders[-1].parent)
    merged: dict = {}
    used = _inherited(reversed(folders), "_physio.json", parse_filename(path.name).entities)
    for sidecar in used:
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PhysioError("sidecar", f"{sidecar} is not valid JSON ({exc}); fix or regenerate it.") from None
        if not isinstance(data, dict):
            raise PhysioError("sidecar", f"{sidecar} does not hold a JSON object; it must map keys such as "
                                         "SamplingFrequency to values.")
        merged.update(data)
    return merged, used


def raw_bold_sidecar(bids_dir: str | os.PathLike | None, run: Run) -> dict:
    """The raw BOLD sidecar of ``run`` by the inheritance principle (nearest file wins); ``{}`` without one.

    Parameters
    ----------
    bids_dir : path-like or None
        The raw BIDS dataset.
    run : Run
        The discovered (preprocessed) run; its fMRIPrep entities (``space``, ``res``, ``den``,
        ``desc``) are not part of the raw name.

    Returns
    -------
    dict
        The merged keys; a sidecar that is unreadable or not a JSON object is skipped (the
        caller falls back to another source of what it needs).
    """
    if bids_dir is None:
        return {}
    root = Path(bids_dir)
    wanted = {k: v for k, v in run.entities if k not in _NOT_RUN}
    func = _raw_func(root, wanted)
    merged: dict = {}
    for sidecar in _inherited([root, root / f"sub-{wanted['sub']}", func.parent, func], "_bold.json", wanted):
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            merged.update(data)
    return merged


def _roles(columns: Sequence[str], mapping: Mapping[str, Sequence[str]]) -> dict[str, str]:
    lower = {c.lower(): c for c in columns}
    out = {}
    for role in ROLES:
        for name in mapping.get(role, ()):
            if name.lower() in lower:
                out[role] = lower[name.lower()]
                break
    return out


def read_physio(paths: str | os.PathLike | Iterable[str | os.PathLike], *,
                columns: Mapping[str, Sequence[str]] | None = None,
                root: str | os.PathLike | None = None) -> PhysioRecording:
    """Read a run's recording(s) and map their columns to roles.

    Parameters
    ----------
    paths : path-like or iterable of path-like
        ``*_physio.tsv.gz`` files of one run (from :func:`find_physio`).
    columns : mapping of str to sequence of str, optional
        Role (``cardiac``, ``respiratory``, ``trigger``) -> column names to look for, first
        match wins (case-insensitive); default :data:`DEFAULT_PHYSIO_COLUMNS`. The first file
        with a matching column gives the role.
    root : path-like, optional
        The dataset root, up to which sidecars are inherited; default: only the file's folder.

    Returns
    -------
    PhysioRecording
        The mapped channels (each with its file's ``SamplingFrequency`` and ``StartTime``).

    Raises
    ------
    PhysioError
        With ``code`` ``missing`` (no file), ``no_sidecar``, ``sidecar`` (invalid JSON or
        ``Columns``), ``sampling_frequency`` (absent or not a positive number), ``columns``
        (the TSV's column count differs from ``Columns``) or ``unreadable``; the message names
        the file and the fix.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise PhysioError("missing", "no recording given")
    mapping = {role: tuple(columns.get(role, ())) for role in ROLES} if columns is not None \
        else DEFAULT_PHYSIO_COLUMNS
    channels: dict[str, PhysioChannel] = {}
    issues: list[PhysioIssue] = []
    all_columns: list[str] = []
    for path in paths:
        if not path.is_file():
            raise PhysioError("missing", f"{path} does not exist.")
        meta, used = _sidecar(path, Path(root) if root is not None else None)
        expected = path.name[: -len("_physio.tsv.gz")] + "_physio.json"
        if not used:
            raise PhysioError("no_sidecar", f"{path.name} has no JSON sidecar; expected {path.parent / expected} "
                                            "(or one inherited from a parent folder) with SamplingFrequency, "
                                            "StartTime and Columns, e.g. {\"SamplingFrequency\": 100, "
                                            "\"StartTime\": -5.0, \"Columns\": [\"cardiac\", \"respiratory\"]}.")
        fs = meta.get("SamplingFrequency")
        if isinstance(fs, bool) or not isinstance(fs, (int, float)) or not math.isfinite(fs) or not fs > 0:
            what = "has no SamplingFrequency" if fs is None else f"has SamplingFrequency {fs!r}"
            raise PhysioError("sampling_frequency", f"{used[-1]} {what} for {path.name}; it must be a positive "
                                                    "number of Hz, e.g. \"SamplingFrequency\": 100.")
        names = meta.get("Columns")
        if not (isinstance(names, list) and names and all(isinstance(c, str) and c for c in names)):
            raise PhysioError("sidecar", f"{used[-1]} has Columns {names!r} for {path.name}; it must list the "
                                         "TSV's column names, e.g. \"Columns\": [\"cardiac\", \"respiratory\", "
                                         "\"trigger\"].")
        start = meta.get("StartTime")
        if start is not None and (isinstance(start, bool) or not isinstance(start, (int, float))
                                  or not math.isfinite(start)):
            issues.append(PhysioIssue("start_time", f"{used[-1]} has StartTime {start!r}, not a number of "
                                                    "seconds; it is ignored."))
            start = None
        try:
            table = pd.read_csv(path, sep="\t", header=None, compression="gzip", na_values=["n/a"],
                                dtype=float, engine="c")
        except pd.errors.EmptyDataError:
            raise PhysioError("unreadable", f"{path} is empty; re-export the recording.") from None
        except (OSError, ValueError, EOFError) as exc:
            raise PhysioError("unreadable", f"{path} cannot be read as a gzipped TSV of numbers ({exc}); "
                                            "re-export the recording.") from None
        if table.shape[1] != len(names):
            raise PhysioError("columns", f"{path.name} has {table.shape[1]} columns but {used[-1].name} lists "
                                         f"{len(names)} in Columns ({names}); make Columns name every column, "
                                         "in order.")
        all_columns.extend(names)
        for role, column in _roles(names, mapping).items():
            if role in channels:
                continue
            channels[role] = PhysioChannel(role=role, column=column,
                                           values=table.iloc[:, names.index(column)].to_numpy(dtype=float),
                                           sampling_frequency=float(fs),
                                           start_time=None if start is None else float(start), source=path.name)
    return PhysioRecording(channels=channels, sources=tuple(paths), issues=tuple(issues), columns=tuple(all_columns))


def run_recording(bids_dir: str | os.PathLike, run: Run, *,
                  columns: Mapping[str, Sequence[str]] | None = None
                  ) -> tuple[PhysioRecording | None, PhysioResult | None]:
    """Find and read a run's recording once, for every step that uses it (HRV, noise regressors).

    Parameters
    ----------
    bids_dir : path-like
        The raw BIDS dataset.
    run : Run
        The discovered run.
    columns : mapping of str to sequence of str, optional
        As in :func:`read_physio`.

    Returns
    -------
    (PhysioRecording, None) or (None, PhysioResult)
        The recording, or, when there is none or it cannot be read, no recording and the
        unusable result saying why (``missing`` or a code of :func:`read_physio`). Never
        raises for a problem of the data.
    """
    run_duration = run.n_volumes * run.t_r
    paths = find_physio(bids_dir, run)
    if not paths:
        expected = _raw_func(Path(), dict(run.entities)) / (
            "_".join(f"{k}-{v}" for k, v in run.entities if k not in _NOT_RUN) + "_physio.tsv.gz")
        return None, PhysioResult.unusable(PhysioIssue("missing", f"no physiological recording for {run.run_id}: "
                                                                  f"expected {expected.as_posix()} in the raw dataset "
                                                                  "(or a recording-<label> variant)."),
                                           run_id=run.run_id, run_duration=run_duration)
    try:
        return read_physio(paths, columns=columns, root=bids_dir), None
    except PhysioError as exc:
        return None, PhysioResult.unusable(PhysioIssue(exc.code, _within(str(exc), bids_dir)), run_id=run.run_id,
                                           run_duration=run_duration, sources=[str(p) for p in paths])


def _within(message: str, bids_dir: str | os.PathLike) -> str:
    """``message`` with the raw dataset's files named from its root: the reason is written into the
    derivatives, which name no machine path (their ``Sources`` are BIDS URIs)."""
    for root in {str(Path(bids_dir)), os.path.abspath(bids_dir)}:
        message = message.replace(root.rstrip(os.sep) + os.sep, "")
    return message


def physio_for_run(bids_dir: str | os.PathLike, run: Run, *, enabled: bool = True,
                   columns: Mapping[str, Sequence[str]] | None = None, kind: str = "auto",
                   min_duration: float = 60.0, max_rejected_fraction: float = 0.2) -> PhysioResult:
    """Find, read and measure a run's physiology; a run without usable physiology gets the reason.

    Parameters
    ----------
    bids_dir : path-like
        The raw BIDS dataset.
    run : Run
        The discovered run (its TR and volume count define the window).
    enabled : bool
        False gives an unusable result with reason ``disabled`` (``physio.enabled`` in the configuration).
    columns, kind, min_duration, max_rejected_fraction
        As in :func:`read_physio` and :func:`neurokit.physio.hrv_from_recording`
        (``PhysioConfig.kwargs()`` gives them from the configuration).

    Returns
    -------
    PhysioResult
        Never raises for a problem of the data: ``missing`` (no recording), the codes of
        :func:`read_physio` and of :func:`neurokit.physio.hrv_from_recording`.
    """
    if not enabled:
        return PhysioResult.unusable(PhysioIssue("disabled", "physiology is turned off (physio.enabled: false)."),
                                     run_id=run.run_id)
    recording, unusable = run_recording(bids_dir, run, columns=columns)
    if recording is None:
        return unusable
    return hrv_from_recording(recording, n_volumes=run.n_volumes, t_r=run.t_r, kind=kind,
                              min_duration=min_duration, max_rejected_fraction=max_rejected_fraction,
                              run_id=run.run_id)


def write_physio(names: DerivativeNames, result: PhysioResult, *,
                 links: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """Write a run's ``<run>_desc-physio_metrics.tsv`` (one row, :data:`neurokit.physio.MEASURES`) and its sidecar.

    Parameters
    ----------
    names : DerivativeNames
        The run's derivative names (:meth:`DerivativeNames.physio`).
    result : PhysioResult
    links : mapping, optional
        ``DatasetLinks``; the sidecar's ``Sources`` are BIDS URIs through them.

    Returns
    -------
    (Path, Path)
        The TSV and the JSON, each written atomically.
    """
    tsv, sidecar = names.physio(".tsv"), names.physio(".json")
    row = result.row()
    table = pd.DataFrame([row], columns=list(MEASURES))
    table["usable"] = table["usable"].map({True: "true", False: "false"})
    meta: dict[str, Any] = {name: {"Description": desc, "Units": unit} for name, (unit, desc) in MEASURES.items()}
    meta.update({
        "RunID": result.run_id,
        "CardiacColumn": result.cardiac_column,
        "CardiacKind": result.cardiac_kind,
        "RespiratoryColumn": result.respiratory_column,
        "SamplingFrequency": result.sampling_frequency,
        "Alignment": result.alignment,
        "RecordingOnset": result.onset,
        "RunDuration": result.run_duration,
        "Reason": result.reason.to_dict() if result.reason else None,
        "Warnings": [w.to_dict() for w in result.warnings],
        "Software": _software(),
        "Sources": [bids_uri(s, links or {}, names.output_dir) for s in result.sources],
    })
    atomic_write_tsv(tsv, table)
    atomic_write_json(sidecar, meta)
    return tsv, sidecar


def _software() -> dict[str, str]:
    try:
        import neurokit2

        return {"NeuroKit2": neurokit2.__version__}
    except ImportError:  # pragma: no cover - a declared dependency
        return {}

