"""On-disk cache of an atlas's label image, so a batch does not rebuild it on every invocation.

Deriving ``pfclimbic`` from the 1 mm Harvard-Oxford probability maps takes about a second
(decompress, pick the most probable region, find centres, crop); the participant and
group levels, the reports and ``neurokit predict`` each load the atlas. The result is a
pure function of the atlas folder's files (and a derived atlas's source files), so it is
kept in ``$NEUROKIT_CACHE_DIR/atlases`` (default ``$XDG_CACHE_HOME/neurokit/atlases``,
i.e. ``~/.cache/neurokit/atlases``) under a key hashing those files' names and contents,
the neurokit version and :data:`_FORMAT`. Any change to an input gives a new key.

The cache is an optimisation only: an unwritable, missing or corrupt cache is ignored
(the atlas is built as if there were none), and ``NEUROKIT_CACHE_DIR=""`` switches it off.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from neurokit._version import __version__

logger = logging.getLogger(__name__)

CACHE_ENV_VAR = "NEUROKIT_CACHE_DIR"
#: Bumped whenever what is computed from an atlas's files changes (not only with the version).
_FORMAT = 1
_ARRAYS = ("labels", "affine", "centres", "filled")


def cache_dir() -> Path | None:
    """The atlas cache folder, or None when switched off (``NEUROKIT_CACHE_DIR=""``)."""
    value = os.environ.get(CACHE_ENV_VAR)
    if value is not None:
        return Path(value).expanduser() / "atlases" if value.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "neurokit" / "atlases"


def cache_key(name: str, files: Iterable[Path]) -> str:
    """Key for an atlas built from ``files``: a hash of their names and contents.

    Contents, not modification times: a file rewritten within the file system's timestamp
    resolution must not hit a stale entry. Hashing is cheap next to building (the 4 MB
    Harvard-Oxford image hashes in about 7 ms).
    """
    digest = hashlib.blake2b(f"format={_FORMAT}\nneurokit={__version__}\n".encode(), digest_size=16)
    for path in sorted({Path(f).resolve() for f in files}):
        digest.update(f"{path.name}\n".encode())
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "blake2b").digest())
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:64] or "atlas"
    return f"{safe}-{digest.hexdigest()}"


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            labels, affine, centres, filled = (data[k] for k in _ARRAYS)
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a damaged cache entry is rebuilt, never trusted
        logger.debug("ignoring unreadable atlas cache entry %s: %s", path, exc)
        return None
    if labels.ndim != 3 or affine.shape != (4, 4) or centres.ndim != 2 or centres.shape[1:] != (3,):
        logger.debug("ignoring atlas cache entry %s with unexpected shapes", path)
        return None
    return labels, affine, centres, bool(filled)


def _write(path: Path, labels, affine, centres, filled: bool) -> None:
    from neurokit._atomic import atomic_write_bytes  # atomic: parallel loads may race

    buffer = io.BytesIO()
    np.savez_compressed(buffer, labels=labels, affine=affine, centres=centres, filled=np.bool_(filled))
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:  # read-only home, quota, ...: carry on without a cache
        logger.debug("cannot write the atlas cache %s: %s", path, exc)


def cached_image(
    name: str,
    files: Iterable[Path],
    build: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray, bool]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """``build()``'s ``(labels, affine, centres, filled)``, from the cache when its inputs are unchanged.

    Parameters
    ----------
    name : str
        Atlas name (readable part of the cache file name).
    files : iterable of Path
        Every file ``build`` reads.
    build : callable
        Computes ``(labels (i, j, k), affine (4, 4), centres (n_regions, 3), filled)``;
        errors it raises (a malformed atlas) propagate and nothing is cached.
    """
    folder = cache_dir()
    if folder is None:
        return build()
    try:
        path = folder / f"{cache_key(name, files)}.npz"
    except OSError as exc:  # an input vanished: let build() raise its own, clearer error
        logger.debug("no atlas cache key: %s", exc)
        return build()
    hit = _read(path)
    if hit is not None:
        return hit
    result = build()
    _write(path, *result)
    return result
