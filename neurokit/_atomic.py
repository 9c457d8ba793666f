"""Atomic file writes and neurokit's JSON/TSV text: the ground floor every stage may use.

A write goes to a temporary file in the same folder, then is renamed over the target, so
readers see the old file or the whole new one, never a part. ``neurokit.io`` re-exports these
names; stages below ``io`` (``atlases``, ``models``) import them from here.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_write_tsv", "json_text",
           "TMP_MARK"]

#: Suffix of the temporary files of a write in progress (what :func:`neurokit.io.remove_temporaries` deletes).
TMP_MARK = ".neurokit-tmp"


def _temporary_in(folder: Path, name: str) -> tuple[int, str]:
    folder.mkdir(parents=True, exist_ok=True)
    # Created like any file the user makes (mode 0666 less the umask), so results are
    # shared with the lab as the umask says; mkstemp's private 0600 would hide them.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = os.path.join(folder, f".{name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_MARK}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old file or the whole new one."""
    path = Path(path)
    fd, tmp = _temporary_in(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text atomically (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path, os.PathLike)):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def _finite(obj: Any) -> Any:
    # JSON has no NaN: write null so every reader (and the BIDS validator) accepts it.
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


#: Encodes one value on one line with the C encoder (``indent`` would switch to the pure-Python one).
_COMPACT = json.JSONEncoder(default=_json_default, allow_nan=False, separators=(", ", ": "))
#: Levels of nested objects laid out one key per line; deeper values stay on one line.
_JSON_LEVELS = 3


def _json_key(key: Any) -> str:
    # JSON object keys are strings; convert others as the json module does
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    if isinstance(key, (int, float, np.integer, np.floating)):
        return json.dumps(key.item() if isinstance(key, np.generic) else key)
    raise TypeError(f"JSON keys must be str, int, float, bool or None, not {type(key).__name__}")


def _layout(obj: Any, levels: int, indent: str) -> str:
    # dict, not typing.Mapping: an ABC isinstance check costs ~10x more, on every value
    if not (isinstance(obj, dict) and obj and levels > 0):
        return _COMPACT.encode(obj)
    inner = indent + "  "
    items = ",\n".join(
        f"{inner}{_COMPACT.encode(_json_key(k))}: {_layout(v, levels - 1, inner)}" for k, v in obj.items()
    )
    return "{\n" + items + "\n" + indent + "}"


def json_text(obj: Any) -> str:
    """A JSON document as neurokit writes it: NaN and infinities as null, nested objects
    indented to three levels (one key per line), deeper values and lists on one line."""
    if isinstance(obj, Mapping) and not isinstance(obj, dict):
        obj = dict(obj)
    try:
        return _layout(obj, _JSON_LEVELS, "") + "\n"
    except ValueError:  # a NaN or infinity somewhere (rare): JSON has none, write null
        return _layout(_finite(obj), _JSON_LEVELS, "") + "\n"


def atomic_write_json(path: str | os.PathLike, obj: Mapping[str, Any]) -> Path:
    """Write a JSON document atomically (NaN written as null; see :func:`json_text`)."""
    return atomic_write_text(path, json_text(obj))


def _float_tsv(table: pd.DataFrame) -> str | None:
    """The TSV text of an all-float table, ~5x faster than ``DataFrame.to_csv``; None if not applicable."""
    names = [str(c) for c in table.columns]
    if not all(pd.api.types.is_float_dtype(t) for t in table.dtypes) or any(
        ch in name for name in names for ch in '\t\n\r"'
    ):
        return None
    values = table.to_numpy(dtype=float)
    header = "\t".join(names) + "\n"
    if not values.size:
        return header
    if np.isnan(values).any():
        rows = ("\t".join("n/a" if v != v else "%.8g" % v for v in row) for row in values.tolist())
        return header + "\n".join(rows) + "\n"
    line = "\t".join(["%.8g"] * values.shape[1]) + "\n"
    return header + (line * values.shape[0]) % tuple(values.ravel().tolist())


def _tsv_text(table: pd.DataFrame, index: bool = False) -> str:
    text = None if index else _float_tsv(table)
    if text is None:
        text = table.to_csv(sep="\t", index=index, na_rep="n/a", lineterminator="\n", float_format="%.8g")
    return text


def atomic_write_tsv(path: str | os.PathLike, table: pd.DataFrame, *, index: bool = False) -> Path:
    """Write a table as BIDS TSV (tab-separated, ``n/a`` for missing, floats as ``%.8g``) atomically."""
    return atomic_write_text(path, _tsv_text(table, index))


def _write_if_changed(path: Path, text: str) -> Path:
    # files shared by every run are rewritten at each invocation: leave them untouched when
    # equal, so a rerun with nothing to do changes nothing on disk
    try:
        if path.read_text(encoding="utf-8") == text:
            return path
    except (OSError, UnicodeDecodeError):
        pass
    return atomic_write_text(path, text)
