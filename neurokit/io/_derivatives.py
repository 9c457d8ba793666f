"""neurokit's derivative dataset: the one place that names, writes and reads its files.

Every write is atomic (temporary file in the same folder, then rename), and a run's
outputs count only once its completion record exists (written last), so an
interrupted batch never leaves a result that looks finished but is not.

Files are not fsynced one by one: a killed process cannot leave a half-written file
behind a rename, and the completion record lists each output's size, so a file that
a crash of the whole machine truncated is noticed and its run redone
(:func:`outputs_intact`). On network file systems an fsync per file costs
milliseconds, about as much as a small run's computation.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping


from neurokit._atomic import (  # noqa: F401 - re-exported: the derivative writers use them
    TMP_MARK,
    _tsv_text,
    _write_if_changed,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    atomic_write_tsv,
    json_text,
)
from neurokit._version import __version__
from neurokit.io._bids import build_filename
from neurokit.io._records import Run

__all__ = [
    "DerivativeNames",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_write_tsv",
    "bids_label",
    "input_fingerprint",
    "write_dataset_description",
    "dataset_links",
    "read_dataset_links",
    "bids_uri",
    "atlas_files",
    "write_atlas_files",
    "BIDSIGNORE",
    "remove_temporaries",
    "outputs_intact",
    "json_text",
    "strategy_output_key",
    "record_for_strategy",
    "qc_for_strategy",
    "atomic_write_bytes",
]

#: Entities of a run that its derivatives keep (``desc`` is neurokit's own).
_KEPT = ("sub", "ses", "task", "acq", "ce", "rec", "dir", "run", "echo", "space", "res", "den")

#: Version of the derivative layout (names and sidecar contents), part of every run's input
#: fingerprint: outputs written under an older layout are recomputed once, not mixed with new ones.
#: 2: sidecars name their sources by BIDS URI; the atlas table and description are written.
_LAYOUT = "2"

#: ``.bidsignore`` of the derivative dataset: what the BIDS schema cannot name yet, hidden from
#: the validator. Every file it hides is checked instead against docs/outputs.md by
#: :func:`neurokit.io.check_derivative_names`; what it does not hide, the validator checks.
BIDSIGNORE = """\
# Files the BIDS schema cannot name yet (see docs/outputs.md). bids-validator-deno checks every
# other file; neurokit.io.check_derivative_names checks these against docs/outputs.md.
# Region time series and connectivity matrices: BEP017 (relmat, meas-), not in the schema yet.
*_timeseries.tsv
*_timeseries.json
*_relmat.tsv
*_relmat.json
# Per-run quality-control metrics: the schema has no suffix for QC measures.
*_desc-qc_metrics.json
# Per-run heart-rate variability from the scan's physiological recordings (same reason).
*_desc-physio_metrics.tsv
*_desc-physio_metrics.json
# The run's mean image, written when fMRIPrep's reference is unusable (fMRIPrep's boldref
# suffix, not in the schema).
*_boldref.nii.gz
# Pipeline records, group-level results and HTML reports: not BIDS data. (A folder is
# named without its trailing slash, which the validator does not match.)
/logs
/group
/failures.tsv
/config.yaml
/sub-*.html
"""

_README = """\
# neurokit functional-connectivity derivatives

Region time series, connectivity matrices, quality-control metrics and the heart-rate
variability and breathing rate of the run's physiological recording (`*_desc-physio_metrics.tsv`)
per run (`sub-*/[ses-*/]func/`), the atlas's region table (`atlas-*_dseg.tsv`) and
description (`atlas-*_description.json`), group-level models (`group/`) and HTML
reports (`*.html`), written by neurokit.

`Sources` in the sidecars are BIDS URIs: `bids:raw:...` and `bids:fmriprep:...`
resolve through `DatasetLinks` in `dataset_description.json`; `bids::...` is a file of
this dataset. `.bidsignore` lists the files the BIDS schema cannot name yet; neurokit
checks their names against its own documented rules instead (`neurokit.io.check_derivative_names`).
"""


def bids_label(text: str) -> str:
    """A BIDS label (alphanumeric) from any name: ``'simple+gsr'`` -> ``'simpleGsr'``.

    Parameters
    ----------
    text : str
        Atlas, strategy or measure name.

    Returns
    -------
    str
        Words joined in lower camel case, every other character dropped.
    """
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    if not words:
        raise ValueError(f"cannot make a BIDS label from {text!r}: it has no letters or digits.")
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


@dataclass(frozen=True)
class DerivativeNames:
    """Paths of one run's neurokit derivatives (BEP017 ``meas-``, BEP038 ``seg-``).

    Parameters
    ----------
    output_dir : Path
        Root of the derivative dataset.
    run : Run
        The run.
    atlas : str
        Atlas name (made a BIDS label).
    strategy : str
        Denoising strategy name (made a BIDS label).
    """

    output_dir: Path
    run: Run
    atlas: str
    strategy: str

    @property
    def folder(self) -> Path:
        """``sub-<s>/[ses-<x>/]func``."""
        ent = self.run.entity_dict
        folder = Path(self.output_dir) / f"sub-{ent['sub']}"
        if "ses" in ent:
            folder = folder / f"ses-{ent['ses']}"
        return folder / "func"

    def _name(self, suffix: str, extension: str, **extra: str) -> Path:
        ent = {k: v for k, v in self.run.entities if k in _KEPT}
        ent.update(extra)
        return self.folder / build_filename(ent, suffix, extension)

    def timeseries(self, extension: str = ".tsv") -> Path:
        """Denoised region time series."""
        return self._name(
            "timeseries", extension, seg=bids_label(self.atlas), desc=bids_label(self.strategy)
        )

    def relmat(self, measure: str, extension: str = ".tsv") -> Path:
        """Relationship (connectivity) matrix for one measure."""
        return self._name(
            "relmat",
            extension,
            seg=bids_label(self.atlas),
            meas=bids_label(measure),
            desc=bids_label(self.strategy),
        )

    def raw_timeseries(self, extension: str = ".tsv") -> Path:
        """Region signals before denoising (for the report's carpet plot and tSNR)."""
        return self._name("timeseries", extension, seg=bids_label(self.atlas), desc="raw")

    def mean_image(self) -> Path:
        """Mean of evenly spaced volumes of the BOLD run (the report draws the atlas over it)."""
        return self._name("boldref", ".nii.gz", desc="mean")

    def qc(self) -> Path:
        """QC metrics JSON."""
        return self._name("metrics", ".json", desc="qc")

    def physio(self, extension: str = ".tsv") -> Path:
        """Heart-rate variability and breathing rate of the run (``desc-physio_metrics``, TSV + JSON)."""
        return self._name("metrics", extension, desc="physio")

    def completion(self) -> Path:
        """The completion record, written last (outside the BIDS tree, under ``logs/runs``)."""
        return Path(self.output_dir) / "logs" / "runs" / f"{self.run.run_id}.json"


def remove_temporaries(output_dir: str | os.PathLike) -> list[Path]:
    """Delete temporary files an interrupted run left behind; returns what was removed."""
    removed = []
    root = Path(output_dir)
    if root.is_dir():
        for tmp in root.rglob(f"*{TMP_MARK}"):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def input_fingerprint(run: Run, config_hash: str) -> str:
    """Hash of a run's input files (path, size, modification time) and the configuration hash.

    A rerun recomputes a run exactly when this changes.
    """
    parts = [config_hash, __version__, _LAYOUT]
    for path in (run.bold, run.bold_json, run.confounds, run.confounds_json, run.mask):
        if path is None:
            parts.append("-")
            continue
        stat = Path(path).stat()
        parts.append(f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def outputs_intact(record: Mapping[str, Any]) -> bool:
    """Whether every output of a completion record (as :meth:`RunRecord.to_dict` gives it after
    :meth:`RunRecord.read` with ``output_dir``) exists with the size it was written with.

    Catches outputs deleted or truncated since (e.g. by a machine crash before the data
    reached the disk); records written without sizes only need the files to exist.
    """
    sizes = record.get("output_bytes") or {}
    for key, path in record.get("outputs", {}).items():
        try:
            size = os.stat(path).st_size
        except OSError:
            return False
        if key in sizes and sizes[key] != size:
            return False
    return True


def strategy_output_key(key: str, strategy: str) -> str:
    """Completion-record key of an output of a strategy other than the modelled one: ``'<key>@<strategy>'``.

    The modelled strategy keeps plain keys (``timeseries``, ``relmat:correlation``), as a
    single-strategy run does; read either through :func:`record_for_strategy`.
    """
    return f"{key}@{strategy}"


def record_for_strategy(record: Mapping[str, Any], strategy: str) -> dict | None:
    """A run's completion record as if it had been processed with ``strategy`` alone.

    Parameters
    ----------
    record : mapping
        A completion record (:meth:`RunRecord.to_dict`, e.g. from :func:`completed_runs`).
    strategy : str
        One of the denoising strategies the run was processed with.

    Returns
    -------
    dict or None
        ``status``, ``reasons``, ``summary`` and ``outputs`` (plain keys such as
        ``relmat:correlation``, plus the shared ``timeseries_raw``, ``mean``, ``qc``) of that
        strategy; the record itself when it holds one strategy (the caller knows which);
        None when the run was processed with several strategies but not with this one.
    """
    blocks = record.get("strategies")
    if not blocks:
        return dict(record)
    block = blocks.get(strategy)
    if block is None:
        return None
    own = set().union(*(b.get("outputs", []) for b in blocks.values()))
    outputs = {k: v for k, v in record.get("outputs", {}).items() if k not in own}
    suffix = strategy_output_key("", strategy)
    for key in block.get("outputs", []):
        outputs[key.removesuffix(suffix)] = record["outputs"][key]
    return {**record, "status": block["status"], "reasons": list(block.get("reasons", [])),
            "summary": dict(block.get("summary") or {}), "outputs": outputs}


def qc_for_strategy(qc: Mapping[str, Any], strategy: str | None) -> dict:
    """A run's QC metrics with ``strategy``'s own entries (tDOF, censoring, exclusion) on top.

    The top-level keys describe the strategy modelled when the participant level ran; a
    run cleaned with several strategies also has a ``Strategies`` block, one entry each.
    """
    block = (qc.get("Strategies") or {}).get(strategy) if strategy else None
    return {**qc, **block} if block else dict(qc)


def write_dataset_description(output_dir: str | os.PathLike, *, config_hash: str,
                              links: Mapping[str, str] | None = None) -> Path:
    """``dataset_description.json`` of the derivative dataset (DatasetType derivative), with
    its ``README`` and ``.bidsignore`` (:data:`BIDSIGNORE`).

    Parameters
    ----------
    output_dir : path-like
        Root of the derivative dataset.
    config_hash : str
        The participant-level configuration hash (``Config.run_hash``), written as
        ``ParticipantConfigHash``: the same value as in every run's sidecars.
    links : mapping of str to str, optional
        ``DatasetLinks`` (from :func:`dataset_links`): name -> location of each source
        dataset; each is also listed in ``SourceDatasets`` as ``bids:<name>:``.

    Returns
    -------
    Path
        The ``dataset_description.json`` written.
    """
    desc = {
        "Name": "neurokit functional-connectivity derivatives",
        "BIDSVersion": "1.10.0",
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": "neurokit",
                "Version": __version__,
                "Description": f"participant-level configuration hash {config_hash} (ParticipantConfigHash: the "
                               "atlas, denoise, connectivity and exclusion settings, and physio when not at its "
                               "defaults, every setting that changes a run's outputs; the same value as in every "
                               "run's sidecars)",
                # no CodeURL: neurokit-fc has no public package index page or repository address
                # yet, and a link that does not resolve misleads more than none (the key is optional)
            }
        ],
        "ParticipantConfigHash": config_hash,
    }
    if links:
        desc["SourceDatasets"] = [{"URL": f"bids:{name}:"} for name in links]
        desc["DatasetLinks"] = dict(links)
    root = Path(output_dir)
    _write_if_changed(root / "README.md", _README)
    _write_if_changed(root / ".bidsignore", BIDSIGNORE)
    return atomic_write_json(root / "dataset_description.json", desc)


def dataset_links(output_dir: str | os.PathLike, bids_dir: str | os.PathLike,
                  derivatives: Iterable[str | os.PathLike] = ()) -> dict[str, str]:
    """``DatasetLinks`` of the derivative dataset: where its source datasets are, relative to it.

    Parameters
    ----------
    output_dir : path-like
        Root of the derivative dataset.
    bids_dir : path-like
        The raw BIDS dataset (link ``raw``).
    derivatives : iterable of path-like
        fMRIPrep folders (links ``fmriprep``, ``fmriprep2``, ...); empty means
        ``bids_dir/derivatives/fmriprep``, as discovery reads.

    Returns
    -------
    dict
        Name -> POSIX path relative to ``output_dir`` (so a results folder moved together
        with its inputs still resolves).
    """
    folders = [Path(d) for d in derivatives] or [Path(bids_dir) / "derivatives" / "fmriprep"]
    base = os.path.abspath(output_dir)
    links = {"raw": Path(os.path.relpath(os.path.abspath(bids_dir), base)).as_posix()}
    for i, folder in enumerate(folders):
        links["fmriprep" if i == 0 else f"fmriprep{i + 1}"] = Path(os.path.relpath(os.path.abspath(folder), base)).as_posix()
    return links


def read_dataset_links(output_dir: str | os.PathLike) -> dict[str, str]:
    """``DatasetLinks`` of ``output_dir/dataset_description.json`` (empty when absent or unreadable)."""
    try:
        links = json.loads((Path(output_dir) / "dataset_description.json").read_text()).get("DatasetLinks")
    except (OSError, ValueError, AttributeError):
        return {}
    return dict(links) if isinstance(links, dict) else {}


def bids_uri(path: str | os.PathLike, links: Mapping[str, str], output_dir: str | os.PathLike) -> str:
    """The BIDS URI of a file: ``bids:<name>:<path in that dataset>`` for the innermost linked
    dataset holding it, ``bids::<path>`` for a file of the derivative dataset itself.

    Parameters
    ----------
    path : path-like
        The file.
    links : mapping of str to str
        ``DatasetLinks`` (locations relative to ``output_dir``, or absolute).
    output_dir : path-like
        Root of the derivative dataset.

    Returns
    -------
    str
        The URI; a file outside every linked dataset (only when no links were recorded)
        is given relative to ``output_dir``, never as an absolute path.
    """
    target = os.path.abspath(path)
    root = os.path.abspath(output_dir)
    best: tuple[int, str, str] | None = None
    for name, location in [("", root), *((n, os.path.join(root, loc)) for n, loc in links.items())]:
        base = os.path.normpath(location)
        if target.startswith(base + os.sep) and (best is None or len(base) > best[0]):
            best = (len(base), name, Path(os.path.relpath(target, base)).as_posix())
    if best is None:
        return Path(os.path.relpath(target, root)).as_posix()
    return f"bids:{best[1]}:{best[2]}"


def atlas_files(output_dir: str | os.PathLike, atlas: str) -> dict[str, Path]:
    """Paths of the atlas's BEP038 files at the dataset root: ``table`` (``atlas-<label>_dseg.tsv``),
    ``table_json`` (its sidecar) and ``description`` (``atlas-<label>_description.json``)."""
    stem = Path(output_dir) / f"atlas-{bids_label(atlas)}"
    return {"table": Path(f"{stem}_dseg.tsv"), "table_json": Path(f"{stem}_dseg.json"),
            "description": Path(f"{stem}_description.json")}


def write_atlas_files(output_dir: str | os.PathLike, atlas: Any) -> dict[str, Path]:
    """Write the atlas's region table and description (BEP038) into the derivative dataset.

    Parameters
    ----------
    output_dir : path-like
        Root of the derivative dataset.
    atlas : neurokit.atlases.Atlas
        The atlas the runs are parcellated with.

    Returns
    -------
    dict
        The paths of :func:`atlas_files`.
    """
    paths = atlas_files(output_dir, atlas.name)
    regions = atlas.regions
    _write_if_changed(paths["table"], _tsv_text(regions))
    # index and name are the schema's own dseg columns (redefining them is a validator warning)
    columns = {
        "network": "Network the region belongs to.",
        "hemisphere": "Hemisphere of the region (L, R or M for midline).",
        "x": "x coordinate of the region centre, in mm of the atlas space.",
        "y": "y coordinate of the region centre, in mm of the atlas space.",
        "z": "z coordinate of the region centre, in mm of the atlas space.",
    }
    sidecar = {"Description": f"Regions of the {atlas.name} atlas, one row each, in the order of the "
                              "time-series columns.",
               "SpatialReference": atlas.space}
    for col in regions.columns.drop(["index", "name"]):
        sidecar[col] = {"Description": columns.get(col, "Column of the atlas's own region table.")}
    _write_if_changed(paths["table_json"], json_text(sidecar))
    meta = atlas.metadata
    description = {"Name": atlas.name, "Description": meta.get("Description") or f"{atlas.name} atlas ({atlas.type})",
                   "SpatialReference": atlas.space}
    if meta.get("License"):
        description["License"] = meta["License"]
    if meta.get("Reference"):
        description["ReferencesAndLinks"] = [meta["Reference"]]
    _write_if_changed(paths["description"], json_text(description))
    return paths
