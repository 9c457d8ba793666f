"""BIDS file names as data: one table of entities, one parser and one builder.

Every other module parses and builds names through here, so neurokit can follow the
final BEP017/BEP038 naming by editing :data:`ENTITIES` alone.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from neurokit._errors import NeurokitError

__all__ = ["BIDSError", "BIDSName", "ENTITIES", "ENTITY_ORDER", "parse_filename", "build_filename"]


class BIDSError(NeurokitError, ValueError):
    """A BIDS file, folder or name is missing or malformed; the message names it and the fix."""


#: The entities neurokit reads and writes, in BIDS filename order: ``(key, long name, value kind)``.
#: ``label`` values are alphanumeric, ``index`` values are non-negative integers.
#: ``seg`` (BEP038, atlas) and ``meas`` (BEP017, measure) name neurokit's own derivatives;
#: they sit after ``den`` and before ``desc``, as the BEP drafts place them.
ENTITIES: tuple[tuple[str, str, str], ...] = (
    ("sub", "subject", "label"),
    ("ses", "session", "label"),
    ("task", "task", "label"),
    ("acq", "acquisition", "label"),
    ("ce", "ceagent", "label"),
    ("rec", "reconstruction", "label"),
    ("dir", "direction", "label"),
    ("run", "run", "index"),
    ("echo", "echo", "index"),
    ("space", "space", "label"),
    # raw physiological recordings (``*_recording-<label>_physio.tsv.gz``); BIDS puts it after space
    ("recording", "recording", "label"),
    ("res", "resolution", "label"),
    ("den", "density", "label"),
    ("seg", "segmentation", "label"),
    ("meas", "measure", "label"),
    ("desc", "description", "label"),
)

#: Entity keys in filename order.
ENTITY_ORDER: tuple[str, ...] = tuple(key for key, _, _ in ENTITIES)

_KIND = {key: kind for key, _, kind in ENTITIES}
_RANK = {key: i for i, key in enumerate(ENTITY_ORDER)}
_LABEL = re.compile(r"[A-Za-z0-9]+\Z")
_INDEX = re.compile(r"[0-9]+\Z")
_SUFFIX = re.compile(r"[A-Za-z0-9]+\Z")


@dataclass(frozen=True)
class BIDSName:
    """A parsed BIDS file name.

    Attributes
    ----------
    entities : dict of str to str
        Entity values without their key, in filename order, e.g. ``{"sub": "01", "task": "rest"}``.
    suffix : str
        The part before the extension, e.g. ``"bold"``.
    extension : str
        Everything from the first dot, e.g. ``".nii.gz"`` (empty if none).
    """

    entities: dict[str, str]
    suffix: str
    extension: str

    @property
    def filename(self) -> str:
        """The name rebuilt in canonical entity order."""
        return build_filename(self.entities, self.suffix, self.extension)

    def with_entities(self, **changes: str | None) -> "BIDSName":
        """A copy with entities changed (``None`` removes one); the original is untouched."""
        entities = dict(self.entities)
        for key, value in changes.items():
            if value is None:
                entities.pop(key, None)
            else:
                entities[key] = value
        _check_entities(entities, where=f"with_entities({changes})")
        return BIDSName(_ordered(entities), self.suffix, self.extension)


def _ordered(entities: Mapping[str, str]) -> dict[str, str]:
    return {key: entities[key] for key in sorted(entities, key=_RANK.__getitem__)}


def _check_entities(entities: Mapping[str, str], where: str) -> None:
    unknown = [key for key in entities if key not in _RANK]
    if unknown:
        raise BIDSError(
            f"{where}: unknown BIDS entit{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
            f"neurokit knows {list(ENTITY_ORDER)} (add new ones to neurokit.io._bids.ENTITIES)."
        )
    for key, value in entities.items():
        value = str(value)
        pattern = _INDEX if _KIND[key] == "index" else _LABEL
        if not pattern.match(value):
            what = "a non-negative integer" if _KIND[key] == "index" else "letters and digits only"
            raise BIDSError(f"{where}: entity {key}-{value!r} is not valid; its value must be {what}, e.g. '{key}-01'.")


def parse_filename(name: str | os.PathLike) -> BIDSName:
    """Split a BIDS file name into entities, suffix and extension.

    Parameters
    ----------
    name : str or path-like
        A file name or path; only the final component is parsed.

    Returns
    -------
    BIDSName
        Entities in canonical order (a name written in another order is accepted).

    Raises
    ------
    BIDSError
        If a part is not ``key-value``, a key is repeated or unknown, or a value is not
        alphanumeric (integer for ``run`` and ``echo``).

    Examples
    --------
    >>> parse_filename("sub-01_task-rest_desc-confounds_timeseries.tsv")
    BIDSName(entities={'sub': '01', 'task': 'rest', 'desc': 'confounds'}, suffix='timeseries', extension='.tsv')
    """
    base = os.path.basename(os.fspath(name))
    *parts, last = base.split("_")
    suffix, dot, rest = last.partition(".")
    extension = dot + rest
    if not _SUFFIX.match(suffix):
        raise BIDSError(
            f"{base}: the suffix {suffix!r} is not valid; a BIDS name ends in '_<suffix><extension>', e.g. '_bold.nii.gz'."
        )
    entities: dict[str, str] = {}
    for part in parts:
        key, dash, value = part.partition("-")
        if not dash or not key or not value:
            raise BIDSError(
                f"{base}: {part!r} is not a 'key-value' entity; BIDS names look like 'sub-01_task-rest_bold.nii.gz'."
            )
        if key in entities:
            raise BIDSError(f"{base}: entity {key!r} appears twice; keep one '{key}-<value>'.")
        entities[key] = value
    _check_entities(entities, where=base)
    return BIDSName(_ordered(entities), suffix, extension)


def build_filename(entities: Mapping[str, str], suffix: str, extension: str = "") -> str:
    """Build a BIDS file name with entities in canonical order.

    Parameters
    ----------
    entities : mapping of str to str
        Entity values without their key, in any order; ``None`` values are left out.
    suffix : str
        e.g. ``"timeseries"``.
    extension : str
        e.g. ``".tsv"`` (a missing leading dot is added).

    Returns
    -------
    str
        e.g. ``"sub-01_task-rest_seg-pfclimbic_desc-simple_timeseries.tsv"``.

    Raises
    ------
    BIDSError
        For unknown entity keys, invalid values or an invalid suffix.
    """
    present = {key: str(value) for key, value in entities.items() if value is not None}
    where = f"build_filename({dict(entities)!r}, {suffix!r})"
    _check_entities(present, where=where)
    if not _SUFFIX.match(suffix):
        raise BIDSError(f"{where}: suffix {suffix!r} must be letters and digits only, e.g. 'bold'.")
    if extension and not extension.startswith("."):
        extension = "." + extension
    parts = [f"{key}-{value}" for key, value in _ordered(present).items()]
    return "_".join([*parts, suffix]) + extension


def _entity_path(root: Path, entities: Mapping[str, str]) -> Path:
    """``root/sub-<s>/[ses-<x>/]`` for the given entities."""
    path = root / f"sub-{entities['sub']}"
    if entities.get("ses"):
        path = path / f"ses-{entities['ses']}"
    return path
