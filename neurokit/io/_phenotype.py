"""Load participants.tsv, sessions.tsv and phenotype/*.tsv into one table of named roles.

A lab's own column names are mapped to neurokit's roles (``severity``, ``stage``, ...) by
``ColumnsConfig``; every file problem is an error naming the file, the row and the fix.
"""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from neurokit.config import ROLES, ColumnsConfig
from neurokit.io._bids import BIDSError
from neurokit.io._records import Run

__all__ = ["PhenotypeCheck", "PhenotypeError", "check_phenotype", "load_phenotype", "phenotype_for_runs",
           "NUMERIC_ROLES", "TARGET_ROLES"]

#: Roles read as floats; ``stage`` is an ordered categorical, ``sex`` and ``site`` stay text.
NUMERIC_ROLES = ("severity", "abstinence_days", "bdnf", "hrv", "age")
#: The phenotype role each group-model target is read from.
TARGET_ROLES = {"severity": "severity", "stage": "stage", "user_vs_control": "stage"}
_MISSING = {"n/a", ""}
#: Table formats a lab may save its phenotype in, which BIDS (and neurokit) do not read.
_NOT_TSV = {".csv", ".txt", ".xlsx", ".xls", ".ods"}
_KEYS = ("participant_id", "session_id")

log = logging.getLogger("neurokit.io")


class PhenotypeError(BIDSError):
    """A participants, sessions or phenotype TSV is malformed; the message names the file and the fix."""


class _Table:
    """One parsed TSV: text cells (None = missing), the file and the line of each row."""

    def __init__(self, path: Path, header: list[str], rows: list[list[str | None]], lines: list[int]):
        self.path = path
        self.header = header
        self.rows = rows
        self.lines = lines

    def column(self, name: str) -> list[str | None]:
        i = self.header.index(name)
        return [row[i] for row in self.rows]


def _read_tsv(path: Path) -> _Table:
    if path.is_symlink() and not path.exists():
        # a DataLad / git-annex dataset whose file content was never fetched
        raise PhenotypeError(
            f"{path} cannot be read: it is a symbolic link to {os.readlink(path)}, which does not exist; fetch the "
            "file (e.g. `datalad get` or `git annex get`) or replace the link with the file itself."
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PhenotypeError(
            f"{path} cannot be read: it is not UTF-8 text (byte {exc.start} is {exc.object[exc.start:exc.start + 1]!r}); "
            "save it as UTF-8 tab-separated text (e.g. a spreadsheet's 'Text (tab-delimited)' with UTF-8 encoding)."
        ) from None
    except OSError as exc:
        raise PhenotypeError(
            f"{path} cannot be read ({exc.strerror or exc}); make it a readable file (check its permissions)."
        ) from None
    lines = [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), start=1)]
    lines = [(n, line) for n, line in lines if line.strip()]
    if not lines:
        raise PhenotypeError(f"{path} is empty; a TSV needs a header row such as 'participant_id<TAB>age'.")
    _, head = lines[0]
    header = [h.strip() for h in head.split("\t")]
    if len(header) == 1 and any(sep in head for sep in (",", ";", "  ")):
        raise PhenotypeError(
            f"{path} is not tab-separated (its header {head!r} has no tabs); "
            "BIDS TSV files separate columns with tabs: re-save it as tab-separated values."
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise PhenotypeError(f"{path} has repeated column names {dupes}; give each column a unique name.")
    rows, numbers = [], []
    for n, line in lines[1:]:
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) != len(header):
            raise PhenotypeError(
                f"{path} line {n} has {len(cells)} fields but the header has {len(header)}; "
                "every row needs one tab-separated value per column (write n/a for a missing value)."
            )
        rows.append([None if c in _MISSING else c for c in cells])
        numbers.append(n)
    return _Table(path, header, rows, numbers)


def _normalise(value: str, prefix: str) -> str:
    return value if value.startswith(prefix) else prefix + value


def _to_frame(table: _Table, columns: ColumnsConfig, participant: str | None, name_for: str) -> pd.DataFrame:
    """Validate one table and return it with keys renamed, roles renamed and converted.

    ``participant`` is the participant id when the file is a ``sub-*_sessions.tsv`` (which
    has no participant column), else None.
    """
    path = table.path
    header = list(table.header)
    data: dict[str, list] = {}
    if participant is not None:
        data["participant_id"] = [participant] * len(table.rows)
    elif columns.participant_id in header:
        ids = table.column(columns.participant_id)
        for value, line in zip(ids, table.lines):
            if value is None:
                raise PhenotypeError(f"{path} line {line} has no participant_id; fill it in (e.g. sub-01) or delete the row.")
        data["participant_id"] = [_normalise(v, "sub-") for v in ids]
    else:
        raise PhenotypeError(
            f"{path} has no {columns.participant_id!r} column (its columns are {header}); add a participant_id column "
            "with labels such as sub-01, or set columns.participant_id to the name your file uses."
        )
    has_session = columns.session_id in header
    if participant is not None and not has_session:
        raise PhenotypeError(
            f"{path} has no {columns.session_id!r} column (its columns are {header}); a sessions file needs one, "
            "with labels such as ses-1, or set columns.session_id to the name your file uses."
        )
    if has_session:
        ses = table.column(columns.session_id)
        for value, line in zip(ses, table.lines):
            if value is None:
                raise PhenotypeError(f"{path} line {line} has no session_id; fill it in (e.g. ses-1) or delete the row.")
        data["session_id"] = [_normalise(v, "ses-") for v in ses]

    keys = list(zip(*(data[k] for k in _KEYS if k in data)))
    first: dict[tuple, int] = {}
    for key, line in zip(keys, table.lines):
        if key in first:
            what = " ".join(key)
            unit = "participant and session" if has_session else "participant"
            raise PhenotypeError(
                f"{path} has duplicate rows for {what} (lines {first[key]} and {line}); keep one row per {unit}."
            )
        first[key] = line

    lab_to_role = {lab: role for role, lab in columns.role_columns().items()}
    for col in header:
        if col in (columns.participant_id, columns.session_id):
            continue
        values = table.column(col)
        role = lab_to_role.get(col)
        if role is None:
            # an unmapped column that happens to carry a role's name must not pose as that role
            data[f"{col}_unmapped" if col in ROLES and col not in lab_to_role else col] = values
            continue
        if role in NUMERIC_ROLES:
            values = [_number(v, path, col, role, row_id, line) for v, row_id, line in zip(values, keys, table.lines)]
        elif role == "stage":
            bad = sorted({v for v in values if v is not None and v not in columns.stage_levels})
            if bad:
                raise PhenotypeError(
                    f"{path}: column {col!r} (role 'stage') has values {bad} that are not stage levels; allowed "
                    f"levels are {list(columns.stage_levels)}. Fix the values, or list your own levels in order "
                    "under columns.stage_levels in the config."
                )
        data[role] = values
    if has_session:
        index = pd.MultiIndex.from_tuples(keys, names=list(_KEYS))
    else:
        index = pd.Index([k[0] for k in keys], name="participant_id", dtype=object)
    frame = pd.DataFrame(data, index=index)
    frame = frame.drop(columns=[k for k in _KEYS if k in frame.columns])
    frame.attrs["source"] = {col: name_for for col in frame.columns}
    return frame


def _number(value: str | None, path: Path, col: str, role: str, key: tuple, line: int) -> float:
    if value is None:
        return np.nan
    try:
        return float(value)
    except ValueError:
        raise PhenotypeError(
            f"{path} line {line} ({' '.join(key)}): column {col!r} (role {role!r}) has the non-numeric value "
            f"{value!r}; write a number, or n/a if it is missing."
        ) from None


def _combine(frames: list[pd.DataFrame]) -> pd.DataFrame | None:
    """Outer-join tables of the same level; a cell given differently by two files is an error."""
    if not frames:
        return None
    out = frames[0]
    source = dict(out.attrs["source"])
    for frame in frames[1:]:
        for col in frame.columns.intersection(out.columns):
            a, b = out[col].align(frame[col], join="inner")
            clash = a.notna() & b.notna() & (a.astype(object) != b.astype(object))
            if clash.any():
                key = clash.index[clash.to_numpy()][0]
                key = " ".join(key) if isinstance(key, tuple) else key
                raise PhenotypeError(
                    f"{frame.attrs['source'][col]} and {source[col]} give different values for {col!r} of {key} "
                    f"({b[clash].tolist()[0]!r} vs {a[clash].tolist()[0]!r}); keep the value in one file only."
                )
        merged = out.combine_first(frame)
        merged = merged[list(dict.fromkeys([*out.columns, *frame.columns]))]
        for col in frame.columns:
            source.setdefault(col, frame.attrs["source"][col])
        out = merged
        out.attrs["source"] = source
    return out


def load_phenotype(bids_dir: str | os.PathLike, columns: ColumnsConfig | None = None) -> pd.DataFrame:
    """Join ``participants.tsv``, ``sub-*/sub-*_sessions.tsv`` and ``phenotype/*.tsv``.

    Parameters
    ----------
    bids_dir : str or path-like
        BIDS dataset root. Every file is optional.
    columns : ColumnsConfig, optional
        Maps roles to the lab's column names and gives the stage levels (defaults if None).

    Returns
    -------
    pandas.DataFrame
        One row per participant, or per participant x session for participants with
        sessions (shape ``(n_rows, 2 + len(ROLES) + n_other)``). Columns: ``participant_id``
        (``sub-XX``), ``session_id`` (``ses-X`` or missing), each role of ``ROLES`` by role
        name (``stage`` an ordered Categorical over ``columns.stage_levels``, numeric roles
        float, ``sex`` and ``site`` text), then every other column (floats when all their
        values are numbers, else text). ``n/a`` and empty cells are missing.
        ``df.attrs["missing_roles"]`` lists roles whose column was in no file (those are all
        missing); ``df.attrs["sources"]`` lists the files read.

    Raises
    ------
    PhenotypeError
        Naming the file and the fix: malformed TSV (not tab-separated, ragged rows, repeated
        column names), missing ``participant_id`` (or ``session_id`` in a sessions file),
        duplicate rows, stage values outside ``columns.stage_levels``, non-numeric values in
        a numeric role, or two files of the same level giving different values.

    Notes
    -----
    Per-session values (``sessions.tsv``, or phenotype files with a ``session_id`` column)
    override participant-level values of the same column; where the per-session value is
    missing, the participant-level one is kept.
    """
    result = _load(bids_dir, columns or ColumnsConfig())
    for hint in result.attrs["role_hints"].values():
        log.warning("%s", hint)
    return result


@dataclass(frozen=True)
class PhenotypeCheck:
    """What :func:`check_phenotype` found.

    Attributes
    ----------
    table : pandas.DataFrame or None
        :func:`load_phenotype`'s table; None when a file could not be read.
    problems : tuple of str
        One sentence per problem, naming the file (or the missing file), the column and the fix.
    modelled : tuple of str
        The targets whose role has a column in some file (the others cannot be modelled).
    """

    table: pd.DataFrame | None
    problems: tuple[str, ...]
    modelled: tuple[str, ...]


def check_phenotype(bids_dir: str | os.PathLike, columns: ColumnsConfig | None = None,
                    targets: Iterable[str] = tuple(TARGET_ROLES)) -> PhenotypeCheck:
    """Can the group level model ``targets`` from the phenotype files? Names every file problem.

    A missing ``participants.tsv`` (with no sessions or phenotype file either), a file that
    cannot be read or parsed, a table saved in another format (``participants.csv``,
    ``phenotype/*.xlsx``) and a target's column that no file has are each one sentence
    naming the file, the column, the configuration key (``columns:``) and the fix. Nothing is
    logged: the hints for the other roles (a lab's ``Age`` for ``age``) are in
    ``table.attrs["role_hints"]``.

    Parameters
    ----------
    bids_dir : str or path-like
        BIDS dataset root.
    columns : ColumnsConfig, optional
        The role -> column mapping (defaults if None).
    targets : iterable of str
        Model targets (keys of :data:`TARGET_ROLES`).

    Returns
    -------
    PhenotypeCheck

    Raises
    ------
    PhenotypeError
        When ``bids_dir`` is not a folder.
    """
    bids_dir = Path(bids_dir)
    columns = columns or ColumnsConfig()
    targets = tuple(targets)
    if not bids_dir.is_dir():
        raise PhenotypeError(f"BIDS directory {bids_dir} does not exist; pass the root of your BIDS dataset.")
    # a lab's participants.csv or phenotype/bdnf.xlsx would otherwise be skipped without a word
    strays = tuple(
        f"{path} is not read: BIDS phenotype tables are tab-separated text; save it as {path.with_suffix('.tsv')}."
        for pattern in ("participants.*", "phenotype/*") for path in sorted(bids_dir.glob(pattern))
        if path.suffix.lower() in _NOT_TSV and not path.with_suffix(".tsv").exists()
    )
    try:
        table = _load(bids_dir, columns)
    except PhenotypeError as exc:
        return PhenotypeCheck(None, (str(exc), *strays), ())
    roles: dict[str, list[str]] = {}
    for target in targets:
        roles.setdefault(TARGET_ROLES[target], []).append(target)
    wanted = ", ".join(repr(columns.role_columns()[r]) for r in roles)
    if not table.attrs["sources"]:
        return PhenotypeCheck(table, (*strays,
            f"{bids_dir / 'participants.tsv'} is missing (and there is no sub-*/sub-*_sessions.tsv or phenotype/*.tsv), "
            f"so nothing says which participant has which {' or '.join(roles)}. Add it at the BIDS root: "
            f"tab-separated, a participant_id column (sub-01, ...) and the column(s) {wanted} (n/a where a value is "
            "unknown); 'columns:' in the configuration maps your own column names.",), ())
    missing = table.attrs["missing_roles"]
    sources = [Path(p) for p in table.attrs["sources"]]
    files = ", ".join(map(str, sources))
    close = _close_columns([r for r in roles if r in missing], columns, sources, bids_dir)
    participants = bids_dir / "participants.tsv"
    absent = "" if _present(participants) else f" ({participants}, where such columns usually are, is missing.)"
    problems = list(strays)
    for role, needing in roles.items():
        if role not in missing:
            continue
        column = columns.role_columns()[role]
        hint = (f" {close[role][0]} has {close[role][1]!r}: if that is the {role}, set "
                f"'columns: {{{role}: {close[role][1]}}}'." if role in close else "")
        problems.append(
            f"{files} {'has' if len(sources) == 1 else 'have'} no column {column!r} (role {role!r}, configuration "
            f"key columns.{role}), which the target(s) {', '.join(needing)} need: add the column, or set "
            f"'columns: {{{role}: YOUR_COLUMN}}' in the configuration to the name your file uses.{hint}{absent}"
        )
    return PhenotypeCheck(table, tuple(problems), tuple(t for t in targets if TARGET_ROLES[t] not in missing))


def _present(path: Path) -> bool:
    """The file is there, perhaps unreadable (a folder, a broken link): it is read and refused by name."""
    return path.exists() or path.is_symlink()


def _load(bids_dir: str | os.PathLike, columns: ColumnsConfig) -> pd.DataFrame:
    """:func:`load_phenotype` without logging its role hints (``attrs["role_hints"]``)."""
    bids_dir = Path(bids_dir)
    if not bids_dir.is_dir():
        raise PhenotypeError(f"BIDS directory {bids_dir} does not exist; pass the root of your BIDS dataset.")
    participant_frames, session_frames, sources = [], [], []

    def relative(path: Path) -> str:
        return str(path.relative_to(bids_dir))

    participants = bids_dir / "participants.tsv"
    if _present(participants):
        participant_frames.append(_to_frame(_read_tsv(participants), columns, None, relative(participants)))
        sources.append(participants)
    for sub in sorted(p for p in bids_dir.glob("sub-*") if p.is_dir()):
        path = sub / f"{sub.name}_sessions.tsv"
        if _present(path):
            session_frames.append(_to_frame(_read_tsv(path), columns, sub.name, relative(path)))
            sources.append(path)
    for path in sorted((bids_dir / "phenotype").glob("*.tsv")):
        frame = _to_frame(_read_tsv(path), columns, None, relative(path))
        (session_frames if "session_id" in frame.index.names else participant_frames).append(frame)
        sources.append(path)

    per_participant = _combine(participant_frames)
    per_session = _combine(session_frames)
    df = _assemble(per_participant, per_session)
    result = _finish(df, columns, sources)
    result.attrs["role_hints"] = _role_hints(result.attrs["missing_roles"], columns, sources, bids_dir)
    return result


def _role_hints(missing: list[str], columns: ColumnsConfig, sources: list[Path], bids_dir: Path) -> dict[str, str]:
    """For each missing role, a sentence naming a column that looks like it and the config fix.

    A lab's ``ket_severity`` next to neurokit's expected ``severity`` would otherwise leave the
    role silently empty, and every model that needs it unfitted.
    """
    hints = {}
    for role, (where, close) in _close_columns(missing, columns, sources, bids_dir).items():
        hints[role] = (
            f"phenotype role {role!r} is empty: no participants/sessions/phenotype TSV has a column "
            f"{columns.role_columns()[role]!r}, but {where} has {close!r}; if that is the {role}, set "
            f"'columns: {{{role}: {close}}}' in the config. Models that need this role are skipped."
        )
    return hints


def _close_columns(missing: list[str], columns: ColumnsConfig, sources: list[Path],
                   bids_dir: Path) -> dict[str, tuple[Path, str]]:
    """For each missing role, ``(file, column)`` of a column that looks like it (``ket_severity``)."""
    if not missing or not sources:
        return {}
    seen: dict[str, Path] = {}
    for path in sources:
        for col in _read_tsv(path).header:
            seen.setdefault(col, path)
    keys = {columns.participant_id, columns.session_id}
    taken = set(columns.role_columns().values())
    candidates = [c for c in seen if c not in keys and c not in taken]
    found = {}
    for role in missing:
        wanted = columns.role_columns()[role]
        lowered = {c.lower(): c for c in candidates}
        close = [c for c in candidates if wanted.lower() in c.lower() or c.lower() in wanted.lower()]
        close += [lowered[c] for c in difflib.get_close_matches(wanted.lower(), list(lowered), n=2, cutoff=0.6)]
        close = list(dict.fromkeys(close))
        if not close:
            continue
        where = seen[close[0]].relative_to(bids_dir) if seen[close[0]].is_relative_to(bids_dir) else seen[close[0]]
        found[role] = (where, close[0])
    return found


def _assemble(per_participant: pd.DataFrame | None, per_session: pd.DataFrame | None) -> pd.DataFrame:
    if per_session is None:
        if per_participant is None:
            return pd.DataFrame({"participant_id": [], "session_id": []}, dtype=object)
        df = per_participant.reset_index()
        df.insert(1, "session_id", None)
        return df
    sessions = per_session.reset_index()
    if per_participant is None:
        return sessions
    base = per_participant.reindex(sessions["participant_id"]).reset_index(drop=True)
    for col in per_session.columns:
        if col in base.columns:
            base[col] = sessions[col].astype(object).where(sessions[col].notna(), base[col].astype(object))
        else:
            base[col] = sessions[col]
    base.insert(0, "participant_id", sessions["participant_id"])
    base.insert(1, "session_id", sessions["session_id"])
    alone = per_participant.loc[~per_participant.index.isin(sessions["participant_id"])].reset_index()
    alone.insert(1, "session_id", None)
    return pd.concat([base, alone], ignore_index=True) if len(alone) else base


def _finish(df: pd.DataFrame, columns: ColumnsConfig, sources: list[Path]) -> pd.DataFrame:
    out: dict[str, pd.Series | list] = {
        "participant_id": list(df["participant_id"]),
        "session_id": [v if isinstance(v, str) else None for v in df["session_id"]],
    }
    missing = [role for role in ROLES if role not in df.columns]
    n = len(df)
    for role in ROLES:
        values = df[role] if role in df.columns else pd.Series([None] * n, index=df.index, dtype=object)
        if role in NUMERIC_ROLES:
            out[role] = values.astype(float).to_numpy()
        elif role == "stage":
            out[role] = pd.Categorical(
                [v if isinstance(v, str) else None for v in values], categories=list(columns.stage_levels), ordered=True
            )
        else:
            out[role] = [v if isinstance(v, str) else None for v in values]
    for col in df.columns:
        if col in out or col in ROLES:
            continue
        values = [v if isinstance(v, str) else None for v in df[col]]
        numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
        all_numeric = all((v is None) == bool(np.isnan(x)) for v, x in zip(values, numbers))
        out[col] = numbers.to_numpy(dtype=float) if all_numeric and any(v is not None for v in values) else values
    result = pd.DataFrame(out)
    result = result.sort_values(["participant_id", "session_id"], na_position="first", kind="stable")
    result = result.reset_index(drop=True)
    result.attrs["missing_roles"] = missing
    result.attrs["sources"] = [str(p) for p in sources]
    return result


def phenotype_for_runs(phenotype: pd.DataFrame, runs: Iterable[Run]) -> pd.DataFrame:
    """One phenotype row per run, matched by participant and session.

    Parameters
    ----------
    phenotype : pandas.DataFrame
        From :func:`load_phenotype`.
    runs : iterable of Run
        Discovered runs.

    Returns
    -------
    pandas.DataFrame
        Shape ``(n_runs, 1 + n_phenotype_columns)``: ``run_id``, the run's ``participant_id``
        and ``session_id``, then the phenotype columns. A run takes its session's row, else
        its participant's row without a session; a run with neither keeps all-missing values
        and is listed in ``df.attrs["unmatched_runs"]`` (counted, never silently dropped).
    """
    runs = list(runs)
    position: dict[tuple[str, str | None], int] = {}
    for i, (pid, sid) in enumerate(zip(phenotype["participant_id"], phenotype["session_id"])):
        position[(pid, sid if isinstance(sid, str) else None)] = i
    rows, unmatched = [], []
    for run in runs:
        pid = f"sub-{run.subject}"
        sid = f"ses-{run.session}" if run.session else None
        pos = position.get((pid, sid), position.get((pid, None), -1))
        if pos < 0:
            unmatched.append(run.run_id)
        rows.append(pos)
    if unmatched:
        # 'sub-1' in participants.tsv vs 'sub-01' folders: labels must match exactly, say so
        def loose(pid: str) -> str:
            return pid.removeprefix("sub-").lower().lstrip("0")

        by_loose: dict[str, str] = {}
        for pid in phenotype["participant_id"]:
            by_loose.setdefault(loose(str(pid)), str(pid))
        near = {f"sub-{r.subject}": by_loose.get(loose(f"sub-{r.subject}")) for r in runs if r.run_id in unmatched}
        near = {k: v for k, v in near.items() if v is not None and v != k}
        if near:
            pairs = ", ".join(f"{k} (the table has {v})" for k, v in list(near.items())[:5])
            log.warning(
                "runs of %s have no phenotype row although a near-identical participant_id exists; BIDS labels "
                "must match exactly (leading zeros and case count): rename them in participants.tsv.", pairs,
            )
    table = phenotype.reset_index(drop=True).reindex(rows).reset_index(drop=True)
    if "run_id" in table.columns:  # a lab's own bookkeeping column must not clash with ours
        table = table.rename(columns={"run_id": "run_id_phenotype"})
    table["participant_id"] = [f"sub-{r.subject}" for r in runs]
    table["session_id"] = [f"ses-{r.session}" if r.session else None for r in runs]
    table.insert(0, "run_id", [r.run_id for r in runs])
    table.attrs = {**phenotype.attrs, "unmatched_runs": unmatched}
    return table
