"""Checks a level makes before it creates or changes anything in the output folder.

An invalid invocation (wrong path, missing ``dataset_description.json``, unknown
participant label, unknown or unusable atlas, output folder in the wrong place) raises a
:class:`~neurokit.NeurokitError` naming the file or option and the fix; the command line
prints it and exits with 2, leaving no output folder (and an existing one untouched).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from neurokit.config import Config
from neurokit.io import BIDSError

log = logging.getLogger("neurokit.preflight")

__all__ = ["check_group_output", "check_group_phenotype", "check_output_dir", "check_participant_inputs",
           "warn_participant_phenotype"]


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_dir(bids_dir: str | os.PathLike, output_dir: str | os.PathLike,
                     derivatives: list[Path] | tuple[Path, ...] = ()) -> None:
    """Refuse an output folder whose writing would damage the inputs or another dataset.

    Parameters
    ----------
    bids_dir : str or path-like
        The raw BIDS dataset.
    output_dir : str or path-like
        The derivative dataset to write.
    derivatives : sequence of Path
        The fMRIPrep derivative folders read.

    Raises
    ------
    BIDSError
        When ``output_dir`` is a file, the BIDS dataset itself or a folder holding it, inside
        the raw dataset but outside its ``derivatives/``, inside an fMRIPrep folder, or another
        pipeline's derivative dataset.
    """
    out = Path(os.path.abspath(output_dir))
    bids = Path(os.path.abspath(bids_dir))
    fix = f"choose another OUTPUT_DIR, e.g. {bids / 'derivatives' / 'neurokit'}."
    if out.exists() and not out.is_dir():
        raise BIDSError(f"OUTPUT_DIR {output_dir} is a file, not a folder; {fix}")
    if _inside(bids, out):
        raise BIDSError(f"OUTPUT_DIR {output_dir} is the BIDS dataset {bids_dir} or a folder holding it; "
                        f"neurokit would write its derivatives among your raw data: {fix}")
    if _inside(out, bids) and not _inside(out, bids / "derivatives"):
        raise BIDSError(f"OUTPUT_DIR {output_dir} is inside the BIDS dataset {bids_dir} but not in its "
                        f"derivatives/ folder; {fix}")
    for folder in derivatives:
        if _inside(out, Path(os.path.abspath(folder))):
            raise BIDSError(f"OUTPUT_DIR {output_dir} is inside the fMRIPrep derivatives {folder} that neurokit "
                            f"reads; {fix}")
    description = out / "dataset_description.json"
    if description.is_file():
        try:
            generated = [g.get("Name") for g in json.loads(description.read_text()).get("GeneratedBy", [])]
        except (ValueError, AttributeError):
            generated = []
        if generated and "neurokit" not in generated:
            raise BIDSError(f"OUTPUT_DIR {output_dir} is a derivative dataset of {', '.join(map(str, generated))} "
                            f"(see {description}), not of neurokit; {fix}")


def check_group_output(output_dir: str | os.PathLike) -> None:
    """Refuse a group level whose OUTPUT_DIR does not exist (before a cluster is started for it).

    Raises
    ------
    GroupError
        Naming the folder and the participant-level command that makes it.
    """
    from neurokit.io import GroupError

    if not Path(output_dir).is_dir():
        raise GroupError(f"OUTPUT_DIR {output_dir} does not exist; pass the folder the participant level wrote "
                         f"(or run `neurokit BIDS_DIR {output_dir} participant` first).")


def check_group_phenotype(bids_dir: str | os.PathLike, config: Config, *, warn: bool = True):
    """The phenotype table, refused when it cannot be read or no configured target has a column.

    Parameters
    ----------
    bids_dir : str or path-like
        The raw BIDS dataset (``participants.tsv``, ``sub-*/sub-*_sessions.tsv``, ``phenotype/*.tsv``).
    config : Config
        ``columns`` maps the roles, ``models.targets`` says which roles are needed.
    warn : bool
        Log the problems that only skip some targets' models, and the other roles' hints.

    Returns
    -------
    pandas.DataFrame
        :func:`neurokit.io.load_phenotype`'s table.

    Raises
    ------
    PhenotypeError
        A missing ``participants.tsv`` (and no other phenotype file), a file that cannot be
        read or parsed, or no column for any configured target; the message names the file,
        the column, the ``columns:`` key and the fix.
    """
    from neurokit.io import TARGET_ROLES, PhenotypeError, check_phenotype

    check = check_phenotype(bids_dir, config.columns, config.models.targets)
    if check.table is None or not check.modelled:
        raise PhenotypeError(" ".join(check.problems))
    if warn:
        for problem in check.problems:  # some targets can be modelled: the others' models are skipped
            log.warning("%s Those targets' models are skipped.", problem)
        needed = {TARGET_ROLES[t] for t in config.models.targets}
        for role, hint in check.table.attrs["role_hints"].items():
            if role not in needed:
                log.warning("%s", hint)
    return check.table


def warn_participant_phenotype(bids_dir: str | os.PathLike, config: Config) -> None:
    """Log now what would stop the group level later: connectivity itself needs no phenotype."""
    from neurokit.io import check_phenotype

    check = check_phenotype(bids_dir, config.columns, config.models.targets)
    later = ("the group level will skip those targets' models" if check.modelled
             else "the group level will stop until this is fixed")
    for problem in check.problems:
        log.warning("%s The participant level goes on (connectivity needs no phenotype); %s.", problem, later)


def _unknown_labels(bids_dir: Path, folders: list[Path], labels) -> list[str]:
    """Requested participant labels with a folder neither in the raw dataset nor in a derivative folder."""
    unknown = []
    for label in labels or ():
        name = label if str(label).startswith("sub-") else f"sub-{label}"
        if not any((root / name).is_dir() for root in [bids_dir, *folders]):
            unknown.append(name[4:])
    return unknown


def _available_labels(bids_dir: Path, folders: list[Path]) -> str:
    labels = sorted({p.name[4:] for root in [bids_dir, *folders] if root.is_dir()
                     for p in root.glob("sub-*") if p.is_dir()})
    return ", ".join(labels[:20]) + (f", ... ({len(labels)} in all)" if len(labels) > 20 else "") or "none"


def check_participant_inputs(bids_dir: str | os.PathLike, output_dir: str | os.PathLike, config: Config):
    """Everything the participant level needs, checked before it writes anything.

    Parameters
    ----------
    bids_dir, output_dir : str or path-like
        The raw BIDS dataset and the derivative dataset to write.
    config : Config
        The resolved configuration.

    Returns
    -------
    discovery : neurokit.io.Discovery
        The runs found (and the runs left out, with their problems).
    atlas : neurokit.atlases.Atlas
        The loaded atlas, whose space suits the runs.

    Raises
    ------
    BIDSError
        A missing dataset, ``dataset_description.json`` or derivative folder, no run matching the
        filters, a participant label found nowhere, or a misplaced output folder (see
        :func:`check_output_dir`).
    AtlasError
        An unknown or broken atlas, or one in another space than the runs (unless
        ``atlas.allow_resample``).
    """
    from neurokit.atlases import check_space
    from neurokit.atlases import load as load_atlas
    from neurokit.io import discover_from_config

    bids_dir = Path(bids_dir)
    discovery = discover_from_config(bids_dir, config.inputs)
    unknown = _unknown_labels(bids_dir, discovery.derivatives, config.inputs.participant_label)
    if unknown:
        raise BIDSError(
            f"--participant-label {' '.join(unknown)}: no sub-{unknown[0]} folder in {bids_dir} or in "
            f"{', '.join(map(str, discovery.derivatives))}; the participants there are: "
            f"{_available_labels(bids_dir, discovery.derivatives)}. Correct or drop the label(s)."
        )
    check_output_dir(bids_dir, output_dir, discovery.derivatives)
    atlas = load_atlas(config.atlas.name)
    for space in sorted({run.entity_dict.get("space", "") for run in discovery.runs}):
        check_space(atlas, space, allow_resample=config.atlas.allow_resample)
    return discovery, atlas
