"""Pieces both reports share: section/block data types, the Jinja environment, input readers.

A report is a list of :class:`Section` objects holding blocks (figure, table, key-value
list, text, note); the templates only walk that structure, escaping every string.
"""

from __future__ import annotations

import json
import re
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from neurokit._errors import NeurokitError

__all__ = [
    "ReportError",
    "Figure",
    "Table",
    "Link",
    "KeyValue",
    "Text",
    "Note",
    "Section",
    "Grid",
    "render",
    "report_name",
    "fmt",
    "read_json",
    "read_tsv",
]


class ReportError(NeurokitError, ValueError):
    """The derivatives cannot make a report (missing folder, no runs); the message says how to fix it."""


@dataclass(frozen=True)
class Link:
    """A relative link in a table cell; ``href`` is built by neurokit, ``text`` is escaped."""

    text: str
    href: str


@dataclass(frozen=True)
class Figure:
    """An embedded image: ``uri`` is a ``data:image/png;base64`` URI neurokit produced."""

    uri: str
    alt: str
    caption: str = ""
    kind: str = "figure"


@dataclass(frozen=True)
class Table:
    """A table; cells are plain values (escaped) or :class:`Link`; ``row_classes`` style rows."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str = ""
    row_classes: Sequence[str] = ()
    kind: str = "table"


@dataclass(frozen=True)
class KeyValue:
    """A definition list of (label, value) pairs."""

    items: Sequence[tuple[str, Any]]
    kind: str = "kv"


@dataclass(frozen=True)
class Text:
    """Paragraphs of plain text (escaped)."""

    paragraphs: Sequence[str]
    kind: str = "text"
    ordered: bool = False  # render as a numbered list (references)


@dataclass(frozen=True)
class Note:
    """A visible notice (e.g. an output that does not exist yet); ``level`` is 'info' or 'warn'."""

    text: str
    level: str = "info"
    kind: str = "note"


@dataclass(frozen=True)
class Section:
    """One titled part of a report; ``status`` colours the heading badge ('ok', 'excluded', 'failed').

    A top-level section (``level`` 2) folds by default: its heading opens and closes it (HTML
    ``<details>``, no script), shown open when ``open``; ``foldable=False`` keeps it always shown.
    """

    id: str
    title: str
    blocks: Sequence[Any] = field(default_factory=list)
    status: str = ""
    level: int = 2
    kind: str = "section"
    open: bool = True
    foldable: bool | None = None

    def __post_init__(self):
        if self.foldable is None:
            object.__setattr__(self, "foldable", self.level == 2)


@dataclass(frozen=True)
class Grid:
    """Blocks laid out side by side (small figures)."""

    blocks: Sequence[Any]
    kind: str = "grid"


def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    # autoescape=True for every template: no user string reaches the page as markup
    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context: Any) -> str:
    """Render a template of ``neurokit/report/templates`` with autoescaping on.

    Parameters
    ----------
    template : str
        File name, e.g. ``"participant.html.j2"``.
    **context
        Template variables (sections, title, ...).

    Returns
    -------
    str
        The HTML page.
    """
    return _environment().get_template(template).render(**context)


def report_name(subject: str) -> str:
    """File name of a participant's report: ``sub-<label>.html``.

    A BIDS label is alphanumeric; anything else (it should never happen, but a label is
    user input) is reduced to its letters and digits plus a short hash, so the name
    stays one safe path component.

    Parameters
    ----------
    subject : str
        Participant label without ``sub-``.

    Returns
    -------
    str
    """
    subject = str(subject)
    if re.fullmatch(r"[A-Za-z0-9]+", subject):
        return f"sub-{subject}.html"
    digest = hashlib.sha256(subject.encode()).hexdigest()[:8]
    return f"sub-{re.sub(r'[^A-Za-z0-9]', '', subject)}x{digest}.html"


def fmt(value: Any, digits: int = 3) -> str:
    """A value as short text: floats to ``digits`` significant places, missing as 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "n/a"
        return f"{float(value):.{digits}g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v, digits) for v in value) if value else "none"
    try:
        if pd.isna(value):
            return "n/a"
    except (TypeError, ValueError):
        pass
    return str(value)


def read_json(path: str | Path | None) -> dict | None:
    """A JSON file as a dict, or None if absent or unreadable (the report then shows a note)."""
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_tsv(path: str | Path | None) -> pd.DataFrame | None:
    """A TSV (``n/a`` = missing) as a DataFrame, or None if absent or unreadable."""
    if not path or not Path(path).is_file():
        return None
    try:
        return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def slug(text: str) -> str:
    """An HTML id from any text (letters, digits, dashes)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "section"


def load_atlas(name: str):
    """The configured atlas, or (None, message) when it cannot be loaded here."""
    from neurokit.atlases import load

    try:
        return load(name), None
    except Exception as exc:  # noqa: BLE001 - any failure becomes a visible note, never a missing report
        return None, f"atlas {name!r} could not be loaded ({type(exc).__name__}: {exc})"


def load_phenotype_table(bids_dir, config) -> tuple[pd.DataFrame | None, str | None]:
    """The phenotype table for ``bids_dir``, or (None, reason)."""
    if bids_dir is None:
        return None, "no BIDS directory given, so phenotype values are not shown"
    from neurokit.io import load_phenotype

    try:
        return load_phenotype(bids_dir, config.columns), None
    except NeurokitError as exc:
        return None, f"phenotype could not be read: {exc}"


def phenotype_units(bids_dir, config) -> dict[str, str]:
    """Units of the phenotype columns, from the BIDS JSON sidecars that give them (``Units``).

    Reads ``participants.json``, ``sessions.json`` and ``sub-*/sub-*_sessions.json`` and
    ``phenotype/<name>.json`` beside each ``phenotype/<name>.tsv``; a column without ``Units``
    (or without a sidecar) has none, never an invented one. Keys are the phenotype table's
    column names: a mapped role by its role name (``columns.severity: ket_sev`` gives
    ``severity``), any other column by its own.

    Parameters
    ----------
    bids_dir : str or Path or None
    config : neurokit.config.Config

    Returns
    -------
    dict of str to str
        The first unit found for each column; unreadable sidecars are skipped.
    """
    if bids_dir is None or not Path(bids_dir).is_dir():
        return {}
    root = Path(bids_dir)
    paths = [root / "participants.json", root / "sessions.json"]
    paths += sorted(root.glob("sub-*/sub-*_sessions.json"))
    paths += [tsv.with_suffix(".json") for tsv in sorted((root / "phenotype").glob("*.tsv"))]
    role_of = {column: role for role, column in config.columns.role_columns().items()}
    units: dict[str, str] = {}
    for path in paths:
        data = read_json(path) if path.is_file() else None
        for column, entry in (data or {}).items() if isinstance(data, dict) else ():
            unit = entry.get("Units") if isinstance(entry, dict) else None
            if isinstance(unit, str) and unit.strip():
                units.setdefault(role_of.get(column, column), unit.strip())
    return units


def with_unit(name: str, units: dict[str, str]) -> str:
    """A column heading with its unit when one is known, e.g. ``age (year)``."""
    unit = units.get(name)
    return f"{name} ({unit})" if unit else name


def load_config(output_dir: Path, config):
    """The given config, else ``output_dir/config.yaml``, else the defaults."""
    if config is not None:
        return config
    from neurokit.config import Config, load_config as _load

    path = output_dir / "config.yaml"
    return _load(path) if path.is_file() else Config()


def open_output_dir(output_dir, config):
    """``output_dir`` as a Path and its configuration (see :func:`load_config`); a ReportError if it does not exist."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise ReportError(f"{output_dir} does not exist; run `neurokit BIDS_DIR {output_dir} participant` first.")
    return output_dir, load_config(output_dir, config)


def no_runs_error(output_dir: Path) -> ReportError:
    """The error for a derivative folder that holds no processed or failed run, saying how to fix it."""
    return ReportError(f"{output_dir} has no processed or failed runs to report; run "
                       f"`neurokit BIDS_DIR {output_dir} participant` first.")


def first_sidecar(records: list[dict]) -> dict:
    """The first non-empty time-series JSON sidecar among the completion records, else ``{}``."""
    for r in records:
        meta = read_json(r.get("outputs", {}).get("timeseries:json"))
        if meta:
            return meta
    return {}


def atlas_space_note(atlas_name: str, atlas_space: str | None, run_spaces, *, allow_resample: bool = False) -> str | None:
    """What the report says when the atlas's template space differs from the runs' space; None when they match.

    Parameters
    ----------
    atlas_name : str
    atlas_space : str or None
        The space the atlas declares (e.g. ``MNI152NLin6Asym``); None or '' when unknown.
    run_spaces : iterable of str
        The ``space-`` entities of the runs (e.g. ``MNI152NLin2009cAsym``).
    allow_resample : bool, default=False
        ``atlas.allow_resample``: a space outside the atlas's family was accepted anyway.

    Returns
    -------
    str or None
        One sentence: both spaces and what was done about the difference.
    """
    from neurokit.atlases._spaces import spaces_compatible

    spaces = sorted({str(s) for s in run_spaces if s} - {str(atlas_space)})
    if not atlas_space or not spaces:
        return None
    runs = " and ".join(spaces)
    if all(spaces_compatible(atlas_space, s) for s in spaces):
        done = ("both are MNI152 registrations, treated as one space: the atlas labels were placed on each run's "
                "grid by their mm coordinates, without a transform between the two templates (they differ by "
                "about 1-3 mm at the cortex, small against the regions)")
    elif allow_resample:
        done = ("these are different templates; atlas.allow_resample let the labels be placed on each run's grid "
                "by mm coordinates anyway, so regions may sit several mm off the anatomy (check the overlay)")
    else:
        done = "these are different templates; such runs fail with an atlas error unless atlas.allow_resample is set"
    return f"Atlas space: the {atlas_name} atlas is defined in {atlas_space}, the runs are in {runs}; {done}."


def records_space_note(config, atlas, records: list[dict], sidecar: dict | None = None) -> str | None:
    """:func:`atlas_space_note` for all completion records (their ``space`` entities) of a dataset."""
    atlas_space = (sidecar or {}).get("AtlasSpace") or (atlas.space if atlas is not None else None)
    return atlas_space_note(config.atlas.name, atlas_space, {(r.get("entities") or {}).get("space") for r in records},
                            allow_resample=config.atlas.allow_resample)
