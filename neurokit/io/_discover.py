"""Find preprocessed BOLD runs in fMRIPrep derivatives and check each one cheaply.

Indexing walks ``sub-*/[ses-*/]func/`` with ``os.scandir`` and reads only NIfTI headers,
JSON sidecars and TSV line counts, so thousands of runs index in seconds.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import nibabel as nib

from neurokit._nifti import header_t_r
from neurokit.io._bids import BIDSError, BIDSName, build_filename, parse_filename
from neurokit.io._records import RUN_ENTITIES, Run

__all__ = ["Discovery", "RunProblem", "discover_runs", "discover_from_config"]

#: Relative difference between JSON and header TR above which a run is rejected.
TR_TOLERANCE = 1e-3
#: Fewest volumes a BOLD run may have (fewer: a 3D reference or a truncated series).
MIN_VOLUMES = 3
_SPACE_ENTITIES = ("space", "res", "den")


@dataclass(frozen=True)
class RunProblem:
    """A run that was left out, and why.

    Attributes
    ----------
    run_id : str
        The run's BIDS prefix (see :attr:`Run.run_id`), or ``sub-<label>`` for a whole participant.
    path : Path
        The file at fault.
    stage : str
        Pipeline stage that found the problem (``"discover"`` here).
    message : str
        What is wrong, naming the file, and the fix.
    """

    run_id: str
    path: Path
    stage: str = "discover"
    message: str = ""


@dataclass(frozen=True)
class Discovery:
    """The result of :func:`discover_runs`.

    Attributes
    ----------
    runs : list of Run
        Usable runs, sorted by ``run_id``.
    problems : list of RunProblem
        Runs left out (each with the file and the fix), sorted by ``run_id``.
    excluded : list of Path
        BOLD files left out on purpose by ``exclude`` patterns.
    derivatives : list of Path
        The derivative folders searched.
    """

    runs: list[Run]
    problems: list[RunProblem] = field(default_factory=list)
    excluded: list[Path] = field(default_factory=list)
    derivatives: list[Path] = field(default_factory=list)


@dataclass
class _Folder:
    """Candidate files of one ``func`` folder, keyed by entities."""

    bold: list[tuple[BIDSName, Path]] = field(default_factory=list)
    confounds: dict[tuple, tuple[BIDSName, Path]] = field(default_factory=dict)
    masks: dict[tuple, Path] = field(default_factory=dict)
    boldrefs: dict[tuple, Path] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)


def _strip(labels: Iterable[str], prefix: str) -> set[str]:
    return {str(label).removeprefix(prefix) for label in labels}


def _key(entities: dict[str, str], drop: tuple[str, ...] = ()) -> tuple:
    return tuple((k, v) for k, v in entities.items() if k != "desc" and k not in drop)


def _require_description(folder: Path, kind: str) -> None:
    if not (folder / "dataset_description.json").is_file():
        example = (
            '{"Name": "my study", "BIDSVersion": "1.9.0"}'
            if kind == "BIDS dataset"
            else '{"Name": "fMRIPrep", "BIDSVersion": "1.9.0", "DatasetType": "derivative", '
            '"GeneratedBy": [{"Name": "fMRIPrep"}]}'
        )
        raise BIDSError(
            f"{folder / 'dataset_description.json'} is missing, so {folder} is not a valid {kind}; "
            f"create it with at least {example}."
        )


def _subdirs(path: Path, prefix: str) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            return [e for e in it if e.name.startswith(prefix) and e.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _func_folders(root: Path, subjects: set[str], sessions: set[str]) -> Iterable[Path]:
    """``func`` folders under ``root`` that pass the participant and session filters."""
    for sub in sorted(_subdirs(root, "sub-"), key=lambda e: e.name):
        if subjects and sub.name[4:] not in subjects:
            continue
        func = Path(sub.path) / "func"
        if not sessions and func.is_dir():
            yield func
        for ses in sorted(_subdirs(Path(sub.path), "ses-"), key=lambda e: e.name):
            if sessions and ses.name[4:] not in sessions:
                continue
            func = Path(ses.path) / "func"
            if func.is_dir():
                yield func


def _scan_func(func: Path, problems: list[RunProblem]) -> _Folder:
    folder = _Folder()
    with os.scandir(func) as it:
        names = [e.name for e in it]
    folder.names = set(names)
    for name in names:
        if name.endswith(("_bold.nii.gz", "_bold.nii")):
            kind = "bold"
        elif name.endswith(("_timeseries.tsv", "_regressors.tsv")):
            kind = "confounds"
        elif name.endswith(("_mask.nii.gz", "_mask.nii")):
            kind = "mask"
        elif name.endswith(("_boldref.nii.gz", "_boldref.nii")):
            kind = "boldref"
        else:
            continue
        path = func / name
        try:
            parsed = parse_filename(name)
        except BIDSError as exc:
            # fMRIPrep writes entities neurokit does not use (e.g. part-, hemi-); a BOLD
            # file neurokit cannot name is reported, companions are simply skipped.
            if kind == "bold" and "desc-preproc" in name:
                problems.append(RunProblem(name, path, message=f"{path}: {exc}; rename the file or leave it out."))
            continue
        desc = parsed.entities.get("desc")
        if kind == "bold" and desc == "preproc":
            folder.bold.append((parsed, path))
        elif kind == "confounds" and desc == "confounds":
            key = _key(parsed.entities, drop=_SPACE_ENTITIES)
            # the current name wins over the pre-20.2 name when both exist
            if parsed.suffix == "timeseries" or key not in folder.confounds:
                folder.confounds[key] = (parsed, path)
        elif kind == "mask" and desc == "brain":
            folder.masks[_key(parsed.entities)] = path
        elif kind == "boldref" and desc is None:  # fMRIPrep's reference image of the space
            folder.boldrefs[_key(parsed.entities)] = path
    return folder


def _read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ValueError("the top level is not an object")
    return data


def _count_rows(path: Path) -> int:
    """Data rows of a TSV (header excluded, trailing blank lines ignored), without parsing it."""
    with open(path, "rb") as fh:
        data = fh.read()
    data = data.rstrip(b"\r\n\t ")
    if not data:
        return 0
    return data.count(b"\n")


def _read_header(path: Path):
    """The NIfTI-1 or NIfTI-2 header of ``path``, reading only its first 540 bytes.

    Much faster than ``nibabel.load`` (which also sniffs files and runs header checks),
    and the data are never touched.
    """
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        block = fh.read(540)
    for klass, magics in ((nib.Nifti1Header, (b"n+1", b"ni1")), (nib.Nifti2Header, (b"n+2", b"ni2"))):
        size = klass.template_dtype.itemsize
        if len(block) < size:
            continue
        header = klass(block[:size], check=False)
        if int(header["sizeof_hdr"]) == size and bytes(header["magic"].item()).startswith(magics):
            return header
    raise ValueError(f"no NIfTI-1 or NIfTI-2 header in the first {len(block)} bytes")


def _check_run(
    name: BIDSName, bold: Path, folder: _Folder, func: Path
) -> tuple[Run | None, RunProblem | None]:
    entities = {k: v for k, v in name.entities.items() if k in RUN_ENTITIES}
    run_entities = tuple(entities.items())
    run_id = "_".join(f"{k}-{v}" for k, v in run_entities)

    def problem(path: Path, message: str) -> tuple[None, RunProblem]:
        return None, RunProblem(run_id, path, message=message)

    notes: list[str] = []
    expected_json = func / build_filename(name.entities, name.suffix, ".json")
    bold_json = expected_json if expected_json.name in folder.names else None

    conf_key = _key(name.entities, drop=_SPACE_ENTITIES)
    if conf_key not in folder.confounds:
        expected = build_filename({**dict(conf_key), "desc": "confounds"}, "timeseries", ".tsv")
        return problem(
            bold,
            f"{bold.name} has no confounds file; expected {func / expected}. "
            "Re-run fMRIPrep for this run or drop it with --exclude.",
        )
    conf_name, confounds = folder.confounds[conf_key]
    if conf_name.suffix == "regressors":
        notes.append(
            f"{confounds.name} uses the pre-20.2 fMRIPrep name (desc-confounds_regressors.tsv); "
            "accepted, but newer fMRIPrep writes desc-confounds_timeseries.tsv."
        )
    confounds_json = func / build_filename(conf_name.entities, conf_name.suffix, ".json")
    confounds_json = confounds_json if confounds_json.name in folder.names else None

    mask_key = _key(name.entities)
    if mask_key not in folder.masks:
        expected = build_filename({**dict(mask_key), "desc": "brain"}, "mask", ".nii.gz")
        return problem(
            bold,
            f"{bold.name} has no brain mask in the same space; expected {func / expected}. "
            "Re-run fMRIPrep with this output space or drop the run with --exclude.",
        )
    mask = folder.masks[mask_key]

    try:
        header = _read_header(bold)
        shape = header.get_data_shape()
    except Exception as exc:  # nibabel raises many types for a corrupt file
        return problem(
            bold,
            f"{bold} is not a readable NIfTI file ({type(exc).__name__}: {exc}); "
            "the file is truncated or corrupt: copy it again or re-run fMRIPrep for this run.",
        )
    if len(shape) != 4:
        return problem(
            bold,
            f"{bold.name} has shape {tuple(shape)} but a BOLD run must be 4D (x, y, z, time); "
            "point neurokit at fMRIPrep's desc-preproc_bold output or drop the run with --exclude.",
        )
    n_volumes = int(shape[3])
    if n_volumes < MIN_VOLUMES:
        return problem(
            bold,
            f"{bold.name} has {n_volumes} volume(s), too few for a functional time series (at least "
            f"{MIN_VOLUMES}); it is probably a reference or truncated image: re-run fMRIPrep for this run or drop "
            "it with --exclude.",
        )

    json_tr = None
    if bold_json is not None:
        try:
            meta = _read_json(bold_json)
        except (OSError, ValueError) as exc:
            return problem(bold_json, f"{bold_json} is not valid JSON ({exc}); fix or regenerate the sidecar.")
        if "RepetitionTime" in meta:
            value = meta["RepetitionTime"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                return problem(
                    bold_json,
                    f"{bold_json} has RepetitionTime {value!r}; it must be a positive number of seconds, "
                    'e.g. "RepetitionTime": 2.0.',
                )
            json_tr = float(value)
    head_tr = header_t_r(header)
    if json_tr is None and head_tr is None:
        where = expected_json
        return problem(
            bold,
            f"{bold.name} has no repetition time: {where.name} has no RepetitionTime and the NIfTI header's "
            f"pixdim[4] ({float(header.get_zooms()[3]) if len(header.get_zooms()) > 3 else 'absent'}, unit "
            f"{header.get_xyzt_units()[1]!r}) is not a usable TR; add \"RepetitionTime\": <seconds> to {where}.",
        )
    if json_tr is not None and head_tr is not None:
        if abs(json_tr - head_tr) > TR_TOLERANCE * json_tr:
            return problem(
                bold,
                f"{bold.name}: RepetitionTime {json_tr:g} s in {bold_json.name} disagrees with the NIfTI header's "
                f"{head_tr:g} s; check which is right and fix the JSON sidecar or the header (pixdim[4])."
                + (f" The sidecar value looks like milliseconds: BIDS wants seconds, e.g. {json_tr / 1000:g}."
                   if abs(json_tr / 1000 - head_tr) <= TR_TOLERANCE * head_tr else ""),
            )
    if json_tr is None:
        notes.append(f"{bold.name}: no RepetitionTime in a JSON sidecar; TR {head_tr:g} s taken from the NIfTI header.")
    t_r = json_tr if json_tr is not None else head_tr

    try:
        n_rows = _count_rows(confounds)
    except OSError as exc:
        return problem(confounds, f"{confounds} cannot be read ({exc}); check the file's permissions or re-run fMRIPrep.")
    if n_rows != n_volumes:
        return problem(
            confounds,
            f"{confounds.name} has {n_rows} rows but the BOLD run has {n_volumes} volumes; "
            "re-run fMRIPrep or drop this run with --exclude.",
        )

    run = Run(
        entities=run_entities,
        bold=bold,
        bold_json=bold_json,
        confounds=confounds,
        confounds_json=confounds_json,
        mask=mask,
        t_r=t_r,
        n_volumes=n_volumes,
        warnings=tuple(notes),
        boldref=folder.boldrefs.get(mask_key),
    )
    return run, None


def discover_runs(
    bids_dir: str | os.PathLike,
    derivatives: Iterable[str | os.PathLike] = (),
    *,
    participant_label: Iterable[str] = (),
    session_label: Iterable[str] = (),
    task: str | None = None,
    space: str = "MNI152NLin2009cAsym",
    res: str | None = None,
    exclude: Iterable[str] = (),
) -> Discovery:
    """Find every preprocessed BOLD run and its confounds, mask and TR.

    Parameters
    ----------
    bids_dir : str or path-like
        The raw BIDS dataset (must hold ``dataset_description.json``).
    derivatives : iterable of str or path-like
        fMRIPrep derivative folders; empty means ``bids_dir/derivatives/fmriprep``.
    participant_label, session_label : iterable of str
        Labels to keep, with or without ``sub-`` / ``ses-``; empty keeps all.
    task : str or None
        Task label; None keeps all tasks.
    space : str
        Output space of the BOLD and mask (``space-`` entity).
    res : str or None
        ``res-`` entity; None keeps any resolution (and runs without one).
    exclude : iterable of str
        Glob patterns matched against BOLD file names; matching runs are left out on purpose.

    Returns
    -------
    Discovery
        ``runs`` (sorted by ``run_id``) and ``problems``: runs left out with a reason naming
        the file and the fix (missing confounds or mask, confounds rows not matching the
        volumes, TR missing or disagreeing, unreadable or non-4D NIfTI, requested
        participants without runs). One broken run never stops the others.

    Raises
    ------
    BIDSError
        If ``bids_dir`` or a derivative folder is missing, lacks ``dataset_description.json``,
        or no run matches the filters (the message lists what was found instead). A run found
        in two derivative folders is a problem of that run (neither copy is used).

    Notes
    -----
    TR comes from the sidecar's ``RepetitionTime``; the header's ``pixdim[4]`` is the fallback,
    read by :func:`neurokit._nifti.header_t_r` (trusted when ``xyzt_units`` names a time unit,
    or, with an unknown unit, when the value is in [0.05, 30] s and not exactly 1, the common
    placeholder). When both exist and differ by more than 0.1 %, the run is a problem.
    """
    bids_dir = Path(bids_dir)
    if not bids_dir.is_dir():
        raise BIDSError(f"BIDS directory {bids_dir} does not exist; pass the root of your BIDS dataset.")
    _require_description(bids_dir, "BIDS dataset")
    folders = [Path(d) for d in derivatives] or [bids_dir / "derivatives" / "fmriprep"]
    for folder in folders:
        if not folder.is_dir():
            raise BIDSError(
                f"derivatives folder {folder} does not exist; run fMRIPrep with output {folder} "
                "or pass the right folder with --derivatives."
            )
        _require_description(folder, "derivative dataset")

    subjects = _strip(participant_label, "sub-")
    sessions = _strip(session_label, "ses-")
    patterns = tuple(exclude)

    runs: dict[str, tuple[Run, Path]] = {}
    duplicated: set[str] = set()
    problems: list[RunProblem] = []
    excluded: list[Path] = []
    seen = {"task": set(), "space": set(), "res": set()}
    seen_subjects: set[str] = set()
    n_candidates = 0
    for folder in folders:
        for func in _func_folders(folder, subjects, sessions):
            scanned = _scan_func(func, problems)
            for name, bold in scanned.bold:
                n_candidates += 1
                ents = name.entities
                seen_subjects.add(ents.get("sub", ""))
                for key in seen:
                    seen[key].add(ents.get(key))
                if (task is not None and ents.get("task") != task) or ents.get("space") != space:
                    continue
                if res is not None and ents.get("res") != str(res):
                    continue
                if any(fnmatch.fnmatchcase(bold.name, p) for p in patterns):
                    excluded.append(bold)
                    continue
                run, prob = _check_run(name, bold, scanned, func)
                run_id = run.run_id if run is not None else prob.run_id
                if run_id in duplicated:
                    continue
                if run_id in runs:
                    # ambiguous, so neither copy is used; the other runs go on (one subject
                    # re-run by fMRIPrep into a second folder must not stop the batch)
                    first = runs[run_id][1]
                    runs[run_id] = (None, first)
                    duplicated.add(run_id)
                    problems[:] = [p for p in problems if p.run_id != run_id]
                    problems.append(RunProblem(
                        run_id, bold,
                        message=f"run {run_id} is found in two derivative folders: {first} and {bold}; it is left "
                        "out: pass only one of the folders with --derivatives or remove the duplicate.",
                    ))
                    continue
                runs[run_id] = (run, bold)
                if prob is not None:
                    problems.append(prob)

    found = sorted((r for r, _ in runs.values() if r is not None), key=lambda r: r.run_id)
    if not runs:
        filters = (
            f"space={space!r}, res={res!r}, task={task!r}, participants={sorted(subjects) or 'all'}, "
            f"sessions={sorted(sessions) or 'all'}, exclude={list(patterns)}"
        )

        def listed(key: str) -> str:
            return str(sorted(v for v in seen[key] if v is not None)) if seen[key] else "none"

        available = sorted({e.name[4:] for folder in folders for e in _subdirs(folder, "sub-")})
        if subjects and not subjects & set(available):
            shown = ", ".join(available[:20]) + (f", ... ({len(available)} in all)" if len(available) > 20 else "")
            raise BIDSError(
                f"none of the requested participants {sorted(subjects)} has a folder in "
                f"{', '.join(map(str, folders))}; the participants there are: {shown or 'none'}. "
                "Check --participant-label (labels without 'sub-', e.g. 01)."
            )
        raise BIDSError(
            f"no preprocessed BOLD runs (*_desc-preproc_bold.nii.gz) in {', '.join(map(str, folders))} match "
            f"the filters ({filters}); found {n_candidates} preprocessed BOLD file(s) with tasks {listed('task')}, "
            f"spaces {listed('space')}, resolutions {listed('res')}, {len(excluded)} excluded. "
            "Change --task/--space/--participant-label (or inputs.res in the config) or check the derivatives folder."
        )
    for label in sorted(subjects - seen_subjects):
        problems.append(
            RunProblem(
                f"sub-{label}",
                folders[0] / f"sub-{label}",
                message=f"participant sub-{label} was requested but has no preprocessed BOLD in "
                f"{', '.join(map(str, folders))}; check the label or run fMRIPrep for it.",
            )
        )

    # participants with raw functional data that fMRIPrep never produced (e.g. it crashed for them)
    raw = {func.relative_to(bids_dir).parts[0][4:] for func in _func_folders(bids_dir, subjects, sessions)}
    for label in sorted(raw - seen_subjects - subjects):
        problems.append(
            RunProblem(
                f"sub-{label}",
                bids_dir / f"sub-{label}",
                message=f"sub-{label} has functional data in {bids_dir} but no preprocessed BOLD in "
                f"{', '.join(map(str, folders))}; run fMRIPrep for it, or leave it out with --participant-label.",
            )
        )
    problems.sort(key=lambda p: p.run_id)
    return Discovery(runs=found, problems=problems, excluded=sorted(excluded), derivatives=folders)


def discover_from_config(bids_dir: str | os.PathLike, inputs) -> Discovery:
    """:func:`discover_runs` with the filters of an ``InputsConfig`` (``config.inputs``)."""
    return discover_runs(
        bids_dir,
        inputs.derivatives,
        participant_label=inputs.participant_label,
        session_label=inputs.session_label,
        task=inputs.task,
        space=inputs.space,
        res=inputs.res,
        exclude=inputs.exclude,
    )
