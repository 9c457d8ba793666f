"""Where atlases are found: bundled, NEUROKIT_ATLAS_PATH, user folder, entry points, ``register``.

A registry in the nibabel manner: look-ups loop over plain lists of folders.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import logging
import os
from pathlib import Path

from neurokit.atlases._errors import AtlasError
from neurokit.atlases._load import read_atlas
from neurokit.atlases._model import Atlas

logger = logging.getLogger(__name__)

#: Environment variable: folders (``os.pathsep``-separated) of atlas folders.
ENV_VAR = "NEUROKIT_ATLAS_PATH"
#: Entry-point group through which installed packages provide atlases.
ENTRY_POINT_GROUP = "neurokit.atlases"

#: Folders added with :func:`register` in this process, searched last. The only
#: module-level mutable state of ``neurokit.atlases``; dask workers in other processes
#: do not see it, which is fine because they receive loaded ``Atlas`` objects.
REGISTERED: list[Path] = []


def bundled_root() -> Path:
    """Folder of the atlases that ship with neurokit (``neurokit._bundled_atlases``)."""
    return Path(str(importlib.resources.files("neurokit._bundled_atlases")))


def user_atlas_dir() -> Path:
    """Where ``neurokit atlases add`` copies atlases: the first ``NEUROKIT_ATLAS_PATH`` entry,
    else ``$XDG_DATA_HOME/neurokit/atlases`` (default ``~/.local/share/neurokit/atlases``)."""
    for part in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if part.strip():
            return Path(part).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "neurokit" / "atlases"


def _atlas_folders(root: Path) -> list[Path]:
    """``root`` itself if it is an atlas folder, else its sub-folders that are."""
    root = Path(root)
    if (root / "atlas.json").is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "atlas.json").is_file())


def _entry_point_roots() -> list[tuple[str, Path]]:
    roots = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if callable(obj):
                paths = obj()
                paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
            else:
                paths = [Path(str(importlib.resources.files(obj)))]
        except Exception as exc:  # a broken plugin must not hide the other atlases
            logger.warning("atlas entry point %r (%s) failed to load: %s", ep.name, ep.value, exc)
            continue
        roots += [(f"entry point {ep.name!r}", Path(p)) for p in paths]
    return roots


def _sources() -> list[tuple[str, Path]]:
    """(origin, root folder) in search order."""
    out = [("bundled", bundled_root())]
    for part in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if part.strip():
            out.append((ENV_VAR, Path(part).expanduser()))
    out.append(("user", user_atlas_dir()))
    out += _entry_point_roots()
    out += [("registered", p) for p in REGISTERED]
    return out


def _index() -> dict[str, tuple[str, Path]]:
    """``{name: (origin, folder)}``; the first source with a name wins (later ones are logged)."""
    found: dict[str, tuple[str, Path]] = {}
    for origin, root in _sources():
        for folder in _atlas_folders(root):
            name = folder.name
            if name in found and found[name][1].resolve() != folder.resolve():
                logger.warning("atlas %r in %s is shadowed by the one in %s", name, folder, found[name][1])
                continue
            found.setdefault(name, (origin, folder))
    return found


def sources() -> dict[str, tuple[str, Path]]:
    """``{name: (origin, folder)}`` of every findable atlas (origin: bundled, NEUROKIT_ATLAS_PATH,
    user, entry point '<name>', registered)."""
    return dict(_index())


def available() -> list[str]:
    """Names of all atlases that :func:`load` can find, sorted.

    Returns
    -------
    list of str
    """
    return sorted(_index())


def find(name: str) -> tuple[str, Path]:
    """``(origin, folder)`` of a registered atlas name; AtlasError if unknown."""
    index = _index()
    if name not in index:
        import difflib

        near = difflib.get_close_matches(name, list(index), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise AtlasError(f"no atlas named {name!r}{hint} Available: {', '.join(sorted(index))}. "
                         f"Pass a folder path, or add folders to {ENV_VAR}.")
    return index[name]


def load(name_or_path: str | os.PathLike) -> Atlas:
    """Load (and validate) an atlas by registered name or folder path.

    Parameters
    ----------
    name_or_path : str or path-like
        A name from :func:`available` or a folder holding ``atlas.json``.

    Returns
    -------
    Atlas

    Raises
    ------
    AtlasError
        Unknown name, or a malformed atlas (the message names the file and region).
    """
    text = os.fspath(name_or_path)
    bare = not any(sep and sep in text for sep in (os.sep, os.altsep)) and not text.startswith(".")
    if bare:
        index = _index()
        if text in index:  # a registered name wins over a same-named folder in the working directory
            return read_atlas(index[text][1], name=text)[0]
    path = Path(text).expanduser()
    if (path / "atlas.json").is_file():
        return read_atlas(path)[0]
    if not bare:
        raise AtlasError(f"{path} is not an atlas folder (no atlas.json); see atlases/README.md for the layout.")
    find(text)  # raises with the available names and the nearest one
    raise AssertionError("unreachable")  # pragma: no cover


def register(path: str | os.PathLike) -> list[str]:
    """Make the atlas folder(s) under ``path`` available to :func:`load` in this process.

    Parameters
    ----------
    path : str or path-like
        An atlas folder, or a folder of atlas folders.

    Returns
    -------
    list of str
        The names it added.

    Raises
    ------
    AtlasError
        If ``path`` holds no atlas folder, or a name is already taken by another folder.
    """
    path = Path(path).expanduser().resolve()
    folders = _atlas_folders(path)
    if not folders:
        raise AtlasError(f"{path} holds no atlas folder (a folder with atlas.json); nothing to register.")
    index = _index()
    for folder in folders:
        if folder.name in index and index[folder.name][1].resolve() != folder.resolve():
            raise AtlasError(f"cannot register {folder}: the name {folder.name!r} is already used by "
                             f"{index[folder.name][1]}; rename the folder.")
    if path not in REGISTERED:
        REGISTERED.append(path)
    return [f.name for f in folders]
