"""Is the derivative dataset what the documentation says it is? Two checks that together see every file.

``bids-validator-deno`` checks what the BIDS schema can name (the dataset description, README,
the atlas's BEP038 files). ``.bidsignore`` hides from it what the schema cannot name yet
(BEP017 time series and matrices, QC metrics, the records, the group folder and the reports);
:func:`check_derivative_names` checks exactly those files against the naming rules of
``docs/outputs.md``: their folder, entities and entity order, labels (the atlas, the configured
strategies and measures, targets and feature sets), the pairing of data files and sidecars, and
that each JSON file parses. A file neither check would look at cannot exist: whatever the
validator does not see, this check does.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurokit.io._bids import BIDSError, parse_filename
from neurokit.io._records import RUN_ENTITIES as _RUN_ENTITIES

__all__ = ["NameFinding", "NameCheck", "check_derivative_names", "run_bids_validator"]

#: suffix -> (extensions, entities it has beyond the run's (all required), fixed desc labels or None)
_PER_RUN = {
    "timeseries": ((".tsv", ".json"), ("seg", "desc"), None),
    "relmat": ((".tsv", ".json"), ("seg", "meas", "desc"), None),
    "metrics": ((".json", ".tsv"), ("desc",), ("qc", "physio")),
    "boldref": ((".nii.gz",), ("desc",), ("mean",)),
}
#: (suffix, desc) -> extensions, where one desc label of a suffix has fewer extensions than the suffix.
_PER_DESC = {("metrics", "qc"): (".json",)}
#: Suffixes (and fixed desc labels) whose ``.tsv`` comes with a ``.json`` sidecar.
_PAIRED = {("timeseries", None), ("relmat", None), ("metrics", "physio")}

#: Files of ``group/`` with fixed names (docs/outputs.md, "Group level and records").
_GROUP_FILES = {"features.tsv", "features.json", "exclusions.tsv", "confounds.json", "denoising_benchmark.tsv",
                "denoising_benchmark.json", "group.html", "models/summary.tsv", "models/longitudinal.json"}
#: Files of one model's folder ``group/models/<target>/<feature set>/``.
_MODEL_FILES = {"metrics.json", "predictions.tsv", "permutation_null.tsv", "patterns.tsv", "patterns_by_class.tsv",
                "model/model.joblib", "model/model.json"}
#: Files at the root that are not BIDS data.
_ROOT_FILES = {".bidsignore", "config.yaml", "failures.tsv"}

_LOG = re.compile(r"(participant|group|study)-\d{8}-\d{6}\.log\Z")
_LABEL = re.compile(r"[A-Za-z0-9]+\Z")


@dataclass(frozen=True)
class NameFinding:
    """One file that breaks a naming rule: its path (relative, POSIX) and what is wrong."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass
class NameCheck:
    """What :func:`check_derivative_names` found.

    Attributes
    ----------
    checked : list of str
        Files this check covered (the ones ``.bidsignore`` hides from the BIDS validator, and
        ``.bidsignore`` itself), relative POSIX paths.
    for_validator : list of str
        Files left to the BIDS validator (not matched by ``.bidsignore``).
    findings : list of NameFinding
        Every broken rule; empty when the files follow docs/outputs.md.
    """

    checked: list[str] = field(default_factory=list)
    for_validator: list[str] = field(default_factory=list)
    findings: list[NameFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        """One line: files covered and problems found."""
        problems = len(self.findings)
        return (f"neurokit's naming rules (docs/outputs.md): {len(self.checked)} files, "
                f"{problems} problem{'s' if problems != 1 else ''}")


def _ignore_patterns(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether ``.bidsignore`` (the gitignore-like subset neurokit writes) hides ``path``: a
    pattern with a slash is anchored at the root and hides that path or folder; one without
    matches a file or folder name at any depth."""
    parts = path.split("/")
    for pattern in patterns:
        body = pattern.strip("/")
        if pattern.startswith("/") or "/" in body:
            if any(fnmatch.fnmatchcase("/".join(parts[:i]), body) for i in range(1, len(parts) + 1)):
                return True
        elif any(fnmatch.fnmatchcase(part, body) for part in parts):
            return True
    return False


@dataclass
class _Vocabulary:
    """The labels a name may use: from the dataset's atlas files and its config.yaml."""

    atlases: set[str]
    strategies: set[str] | None = None
    measures: set[str] | None = None
    targets: set[str] | None = None
    feature_sets: set[str] | None = None


def _vocabulary(root: Path, files: list[str], findings: list[NameFinding]) -> _Vocabulary:
    from neurokit.config import load_config
    from neurokit.io._derivatives import bids_label

    atlases = {m.group(1) for f in files if (m := re.fullmatch(r"atlas-([A-Za-z0-9]+)_dseg\.tsv", f))}
    vocab = _Vocabulary(atlases)
    if not (root / "config.yaml").is_file():
        return vocab
    try:
        config = load_config(root / "config.yaml")
    except Exception as exc:  # noqa: BLE001 - any unreadable configuration is a finding, not a crash
        findings.append(NameFinding("config.yaml", f"cannot be read as a neurokit configuration ({exc}); "
                                                   "the labels are checked for their form only"))
        return vocab
    vocab.strategies = {bids_label(s) for s in config.strategies}
    measures = set(config.connectivity.measures)
    if "tangent" in measures:  # a run keeps its covariance; the group level projects it
        measures.add("covariance")
    vocab.measures = {bids_label(m) for m in measures}
    vocab.targets = set(config.models.targets)
    vocab.feature_sets = set(config.models.feature_sets)
    return vocab


def _run_prefix_problem(run_id: str) -> str | None:
    """Why ``run_id`` (``logs/runs/<run>.json``) is not a run's BIDS prefix, or None."""
    try:
        name = parse_filename(f"{run_id}_x.json")
    except BIDSError as exc:
        return str(exc).replace("_x.json", "")
    extra = sorted(set(name.entities) - set(_RUN_ENTITIES))
    if extra:
        return f"entities {extra} are not part of a run's name (docs/outputs.md: <run>)"
    if "sub" not in name.entities:
        return "a run's name starts with sub-<label>"
    if "_".join(f"{k}-{v}" for k, v in name.entities.items()) != run_id:
        return "entities out of BIDS order; expected " + "_".join(f"{k}-{v}" for k, v in name.entities.items())
    return None


def _check_run_file(path: str, present: set[str], vocab: _Vocabulary) -> list[str]:
    """Problems of a file under ``sub-<s>/[ses-<x>/]func/``."""
    parts = path.split("/")
    folder, base = parts[:-1], parts[-1]
    if not (len(folder) in (2, 3) and folder[-1] == "func" and re.fullmatch(r"sub-[A-Za-z0-9]+", folder[0])
            and (len(folder) == 2 or re.fullmatch(r"ses-[A-Za-z0-9]+", folder[1]))):
        return ["a run's outputs belong in sub-<label>/[ses-<label>/]func/"]
    try:
        name = parse_filename(base)
    except BIDSError as exc:
        return [str(exc)]
    if name.suffix not in _PER_RUN:
        return [f"suffix {name.suffix!r} is not one docs/outputs.md names for a run "
                f"({', '.join(sorted(_PER_RUN))})"]
    extensions, required, fixed_desc = _PER_RUN[name.suffix]
    problems = []
    if name.extension not in extensions:
        problems.append(f"a {name.suffix} file is {' or '.join(extensions)}, not {name.extension!r}")
    ent = name.entities
    allowed = set(_RUN_ENTITIES) | set(required)
    unknown = [k for k in ent if k not in allowed]
    if unknown:
        problems.append(f"entit{'y' if len(unknown) == 1 else 'ies'} {unknown} not allowed in a {name.suffix} "
                        f"name (docs/outputs.md)")
    missing = [k for k in ("sub", *required) if k not in ent]
    if missing:
        problems.append(f"missing entit{'y' if len(missing) == 1 else 'ies'} {missing}")
    if base != name.filename:
        problems.append(f"entities out of order; the documented name is {name.filename}")
    if ent.get("sub") and folder[0] != f"sub-{ent['sub']}":
        problems.append(f"sub-{ent['sub']} is in the folder of {folder[0]}")
    folder_ses = folder[1] if len(folder) == 3 else None
    if (f"ses-{ent['ses']}" if "ses" in ent else None) != folder_ses:
        problems.append("the ses- entity and the session folder disagree")
    if "seg" in ent and vocab.atlases and ent["seg"] not in vocab.atlases:
        problems.append(f"seg-{ent['seg']} has no atlas table (atlas-{ent['seg']}_dseg.tsv) at the dataset root")
    desc = ent.get("desc")
    if fixed_desc is not None and desc is not None and desc not in fixed_desc:
        problems.append(f"a {name.suffix} file is {' or '.join('desc-' + d for d in fixed_desc)}, not desc-{desc}")
    elif (name.suffix, desc) in _PER_DESC and name.extension not in _PER_DESC[name.suffix, desc]:
        problems.append(f"a desc-{desc}_{name.suffix} file is {' or '.join(_PER_DESC[name.suffix, desc])}, "
                        f"not {name.extension!r}")
    elif fixed_desc is None and desc is not None and vocab.strategies is not None:
        allowed_desc = vocab.strategies | ({"raw"} if name.suffix == "timeseries" else set())
        if desc not in allowed_desc:
            problems.append(f"desc-{desc} is not a configured denoising strategy ({', '.join(sorted(allowed_desc))})")
    if "meas" in ent and vocab.measures is not None and ent["meas"] not in vocab.measures:
        problems.append(f"meas-{ent['meas']} is not a configured measure ({', '.join(sorted(vocab.measures))})")
    if (name.suffix, None if fixed_desc is None else desc) in _PAIRED:
        stem = path[: -len(name.extension)]
        if name.extension == ".tsv" and f"{stem}.json" not in present:
            problems.append("missing its JSON sidecar")
        elif name.extension == ".json" and f"{stem}.tsv" not in present:
            problems.append("a sidecar without its data file (.tsv)")
    return problems


def _check_group_file(rel: str, vocab: _Vocabulary) -> list[str]:
    """Problems of a file under ``group/`` (``rel`` is relative to it)."""
    if rel in _GROUP_FILES:
        return []
    parts = rel.split("/")
    if parts[0] == "models" and len(parts) >= 4:
        target, feature_set, inside = parts[1], parts[2], "/".join(parts[3:])
        problems = [] if inside in _MODEL_FILES else [f"{inside!r} is not a file of a model's folder "
                                                      f"({', '.join(sorted(_MODEL_FILES))})"]
        problems += _model_labels(target, feature_set, vocab)
        return problems
    if parts[0] == "predictions" and len(parts) == 2:
        stem, dot, extension = parts[1].partition(".")
        pairs = ({f"{t}_{f}" for t in vocab.targets for f in vocab.feature_sets}
                 if vocab.targets is not None and vocab.feature_sets is not None else None)
        if extension not in ("tsv", "json") or not re.fullmatch(r"[a-z]+(_[a-z]+)+", stem) or (
                pairs is not None and stem not in pairs):
            return ["predictions are group/predictions/<target>_<feature set>.tsv (+ .json), of a configured "
                    "target and feature set"]
        return []
    return ["not a file docs/outputs.md names under group/"]


def _model_labels(target: str, feature_set: str, vocab: _Vocabulary) -> list[str]:
    problems = []
    if vocab.targets is not None and target not in vocab.targets:
        problems.append(f"target {target!r} is not a configured target ({', '.join(sorted(vocab.targets))})")
    if vocab.feature_sets is not None and feature_set not in vocab.feature_sets:
        problems.append(f"feature set {feature_set!r} is not configured ({', '.join(sorted(vocab.feature_sets))})")
    return problems


def _check_record(rel: str) -> list[str]:
    """Problems of a file under ``logs/``."""
    parts = rel.split("/")
    if len(parts) == 1:
        return [] if _LOG.match(parts[0]) else ["a level's log is logs/<participant|group|study>-<YYYYmmdd-HHMMSS>.log"]
    if len(parts) == 2 and parts[0] in ("runs", "failed") and parts[1].endswith(".json"):
        problem = _run_prefix_problem(parts[1][: -len(".json")])
        return [] if problem is None else [problem]
    if len(parts) == 2 and parts[0] == "reports":
        return [] if re.fullmatch(r"sub-[A-Za-z0-9]+\.json", parts[1]) else ["a report record is "
                                                                              "logs/reports/sub-<label>.json"]
    return ["not a record docs/outputs.md names under logs/"]


def _problems(path: str, present: set[str], vocab: _Vocabulary) -> list[str]:
    top = path.split("/", 1)
    if len(top) == 1:
        if path in _ROOT_FILES:
            return []
        if re.fullmatch(r"sub-[A-Za-z0-9]+\.html", path):
            return []
        return ["not a file docs/outputs.md names at the dataset root"]
    if top[0] == "logs":
        return _check_record(top[1])
    if top[0] == "group":
        return _check_group_file(top[1], vocab)
    if top[0].startswith("sub-"):
        return _check_run_file(path, present, vocab)
    return ["not a folder docs/outputs.md names (sub-<label>/, group/, logs/)"]


def check_derivative_names(output_dir: str | os.PathLike) -> NameCheck:
    """Check every file the BIDS validator does not see against the naming rules of docs/outputs.md.

    The files ``.bidsignore`` hides from the validator (and ``.bidsignore`` itself) are checked
    here: a run's time series, matrices, QC metrics and mean image (folder, BEP017/BEP038
    entities in BIDS order, ``sub``/``ses`` matching the folders, ``seg-`` an atlas with its
    table at the root, ``desc-`` a configured strategy, ``meas-`` a configured measure, each
    ``.tsv`` with its ``.json`` sidecar and no sidecar without its data file); the root's records
    and reports; ``logs/``; ``group/`` (fixed names, configured targets and feature sets). Every
    JSON file must parse. Every other file is left to ``bids-validator-deno``.

    Parameters
    ----------
    output_dir : str or path-like
        The derivative dataset.

    Returns
    -------
    NameCheck
        The files checked, the files left to the validator, and every problem found (a
        dataset without ``.bidsignore`` is a finding: then the validator sees every file).

    Raises
    ------
    FileNotFoundError
        If ``output_dir`` is not a folder.
    """
    root = Path(output_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder; give the derivative dataset (OUTPUT_DIR).")
    files = sorted(Path(dirpath, name).relative_to(root).as_posix()
                   for dirpath, _, names in os.walk(root) for name in names)
    result = NameCheck()
    try:
        patterns = _ignore_patterns((root / ".bidsignore").read_text(encoding="utf-8"))
    except OSError:
        patterns = []
        result.findings.append(NameFinding(".bidsignore", "missing: the BIDS validator then reports every "
                                                          "file the schema cannot name; rerun the participant level"))
    vocab = _vocabulary(root, files, result.findings)
    present = set(files)
    for path in files:
        if path != ".bidsignore" and not _ignored(path, patterns):
            result.for_validator.append(path)
            continue
        result.checked.append(path)
        problems = _problems(path, present, vocab)
        if path.endswith(".json") and not problems:
            try:
                json.loads((root / path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                problems.append(f"not valid JSON ({exc})")
        result.findings.extend(NameFinding(path, p) for p in problems)
    return result


def _validator() -> str | None:
    beside = Path(sys.executable).parent / "bids-validator-deno"
    return str(beside) if beside.is_file() else shutil.which("bids-validator-deno")


def run_bids_validator(output_dir: str | os.PathLike, *, timeout: float = 600) -> dict[str, Any] | None:
    """Run ``bids-validator-deno`` (offline) on the dataset.

    Parameters
    ----------
    output_dir : str or path-like
        The derivative dataset.
    timeout : float
        Seconds before the validator is stopped.

    Returns
    -------
    dict or None
        ``files`` (how many files it validated, its ``totalFiles``), ``errors`` and ``warnings``
        (lists of ``(code, location)``); None when the validator is not installed
        (``pip install bids-validator-deno``).

    Raises
    ------
    RuntimeError
        If the validator runs but gives no report.
    """
    validator = _validator()
    if validator is None:
        return None
    done = subprocess.run([validator, "--format", "json", str(output_dir)], capture_output=True, text=True,
                          timeout=timeout)
    try:
        report = json.loads(done.stdout)
        issues = report["issues"]["issues"]
        files = int(report["summary"]["totalFiles"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"bids-validator-deno gave no JSON report (exit {done.returncode}): "
                           f"{done.stderr[-2000:]}") from exc
    by = {"error": [], "warning": []}
    for issue in issues:
        by.setdefault(issue.get("severity"), []).append((issue.get("code"), issue.get("location", "")))
    return {"files": files, "errors": by["error"], "warnings": by["warning"]}
