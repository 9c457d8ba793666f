"""``validate(path)``: the checks every load runs, returning the non-fatal notes."""

from __future__ import annotations

import os
from pathlib import Path

from neurokit.atlases._load import read_atlas


def validate(path: str | os.PathLike) -> list[str]:
    """Validate an atlas folder.

    Parameters
    ----------
    path : str or path-like
        Folder holding ``atlas.json`` and the region TSV (and image for dseg/probseg).

    Returns
    -------
    list of str
        Non-fatal notes (e.g. no licence recorded); empty when all is well.

    Raises
    ------
    AtlasError
        For anything that would stop the atlas loading: labels and table disagree, an
        unknown network or hemisphere, an unknown space, an empty region, overlapping
        spheres; the message names the file and the region.
    """
    folder = Path(path)
    atlas, notes = read_atlas(folder)
    if atlas.metadata.get("Name") != folder.name:
        notes.append(f"{folder / 'atlas.json'}: Name {atlas.metadata.get('Name')!r} differs from the folder name "
                     f"{folder.name!r}; the registry uses the folder name.")
    return notes
