"""Select confound regressors and censored volumes from an fMRIPrep confounds table.

Mirrors nilearn's ``load_confounds_strategy`` presets (nilearn 0.14) on an in-memory table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from neurokit.denoise._errors import DenoiseError

__all__ = [
    "ConfoundSelection",
    "PRESETS",
    "STRATEGIES",
    "check_confounds_length",
    "load_confounds_metadata",
    "load_confounds_table",
    "resolve_strategy",
    "select_confounds",
]

#: Expansions of a base regressor (nilearn's ``motion``/``wm_csf``/``global_signal`` models).
EXPANSIONS = {
    "basic": (),
    "power2": ("power2",),
    "derivatives": ("derivative1",),
    "full": ("derivative1", "power2", "derivative1_power2"),
}

COMPCOR_PREFIXES = {
    "anat_combined": ("a",),
    "anat_separated": ("a", "w", "c"),
    "temporal": ("t",),
    "temporal_anat_combined": ("t", "a"),
    "temporal_anat_separated": ("t", "a", "w", "c"),
}

#: The presets of nilearn 0.14.1 ``load_confounds_strategy`` (its code, not its docstring table,
#: which still shows the pre-0.13 scrubbing thresholds 0.2 mm / 3). ``None`` = component not used.
PRESETS: dict[str, dict[str, Any]] = {
    "simple": {"motion": "full", "wm_csf": "basic", "compcor": None, "scrub": None},
    "scrubbing": {"motion": "full", "wm_csf": "full", "compcor": None, "scrub": True},
    "compcor": {"motion": "full", "wm_csf": None, "compcor": True, "scrub": None},
}

#: Strategy names: a preset, alone or with the global signal (``+gsr``), each also with the
#: physiological noise regressors (``+physio``: RETROICOR, RVT, heart rate; docs/denoising.md).
_BASE_STRATEGIES = tuple(preset + gsr for preset in PRESETS for gsr in ("", "+gsr"))
STRATEGIES: tuple[str, ...] = _BASE_STRATEGIES + tuple(name + "+physio" for name in _BASE_STRATEGIES)

_MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")

#: Which fMRIPrep release writes each kind of column (for error messages).
_PRODUCED_BY = {
    "base": "fMRIPrep >= 1.2 (snake_case names; 1.0/1.1 used camelCase such as 'X', 'RotX', 'WhiteMatter')",
    "expansion": "fMRIPrep >= 1.4 (derivative and quadratic expansions of the confounds)",
    "cosine": "fMRIPrep >= 1.4 ('cosineXX' discrete cosine high-pass basis)",
    "compcor": "fMRIPrep >= 1.4 (CompCor components described in the confounds JSON; "
    "'w_comp_cor_XX'/'c_comp_cor_XX' since 21.0)",
    "scrub": "every fMRIPrep release >= 1.2 ('framewise_displacement', 'std_dvars')",
}


@dataclass(frozen=True)
class ConfoundSelection:
    """Confound regressors and censoring chosen by a strategy.

    Attributes
    ----------
    confounds : pandas.DataFrame, shape (n_volumes, n_regressors)
        Selected regressors, columns sorted by name as nilearn returns them; NaN-free (the first
        row of derivative columns is filled with the second row, as nilearn does); demeaned over
        the kept volumes when ``demean=True``.
    sample_mask : numpy.ndarray of int, shape (n_kept,), or None
        Indices of the volumes to keep; None when no volume is censored.
    censored : numpy.ndarray of int, shape (n_censored,)
        Censored volumes: non-steady-state plus high-motion (scrubbing) volumes.
    non_steady_state : numpy.ndarray of int, shape (n_non_steady,)
        Volumes flagged by fMRIPrep's ``non_steady_state_outlier*`` columns.
    strategy : dict
        Resolved parameters (preset plus overrides), for sidecars and methods text.
    notes : tuple of str
        Human-readable remarks (e.g. all volumes censored).
    """

    confounds: pd.DataFrame
    sample_mask: np.ndarray | None
    censored: np.ndarray
    non_steady_state: np.ndarray
    strategy: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def _name(source: str | Path | None) -> str:
    return Path(source).name if source is not None else "the confounds table"


def _json_name(source: str | Path | None) -> str:
    return Path(source).with_suffix(".json").name if source is not None else "its JSON sidecar"


def _is_camel_case(name: str) -> bool:
    return name != name.lower() and name != name.upper() and "_" not in name


def _check_columns(table: pd.DataFrame, source: str | Path | None) -> None:
    camel = [c for c in map(str, table.columns) if _is_camel_case(c)]
    if camel:
        raise DenoiseError(
            f"{_name(source)} has camelCase column names such as {camel[:3]}, written by fMRIPrep 1.0/1.1; "
            "neurokit (like nilearn) reads fMRIPrep >= 1.2 names such as 'trans_x', 'white_matter', "
            "'framewise_displacement'. Re-run a current fMRIPrep on this dataset."
        )


def load_confounds_table(path: str | Path) -> pd.DataFrame:
    """Read an fMRIPrep ``*_desc-confounds_timeseries.tsv`` (or older ``_regressors.tsv``).

    Parameters
    ----------
    path : str or Path
        Tab-separated table with a header row; ``n/a`` marks missing values.

    Returns
    -------
    pandas.DataFrame, shape (n_volumes, n_columns)
        Numeric columns, NaN where the file says ``n/a``.

    Raises
    ------
    DenoiseError
        If the file is missing, empty, has no header, has non-numeric values or is
        written by fMRIPrep < 1.2 (camelCase names). The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DenoiseError(f"confounds file {path} does not exist; check the fMRIPrep derivatives folder.")
    try:
        table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise DenoiseError(
            f"{path.name} is empty; expected a tab-separated fMRIPrep confounds table with a header "
            "row (e.g. 'trans_x\\ttrans_y\\t...'). Re-run fMRIPrep or drop this run with --exclude."
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DenoiseError(f"{path.name} is not a readable tab-separated table: {exc}") from None
    if table.shape[0] == 0:
        raise DenoiseError(
            f"{path.name} has a header but no rows; expected one row per BOLD volume. "
            "Re-run fMRIPrep or drop this run with --exclude."
        )
    try:
        float(str(table.columns[0]))
        headless = True
    except ValueError:
        headless = False
    if headless:
        raise DenoiseError(
            f"{path.name} has no header row (first line is numbers); fMRIPrep >= 1.2 writes named "
            "columns such as 'trans_x'. Re-run fMRIPrep on this dataset."
        )
    _check_columns(table, path)
    bad = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if bad:
        raise DenoiseError(
            f"{path.name} has non-numeric values in column(s) {bad[:5]}; every confound must be a "
            "number or 'n/a'."
        )
    return table


def load_confounds_metadata(path: str | Path | None) -> dict:
    """Read the confounds JSON sidecar (CompCor masks and explained variance).

    Parameters
    ----------
    path : str or Path or None
        The ``*_desc-confounds_timeseries.json``; None gives ``{}``.

    Returns
    -------
    dict
        ``{column: {"Mask": ..., "VarianceExplained": ..., ...}}``.

    Raises
    ------
    DenoiseError
        If the file is missing or not a JSON object, naming the file.
    """
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise DenoiseError(f"confounds metadata {path} does not exist; pass None if the run has no JSON sidecar.")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DenoiseError(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DenoiseError(f"{path.name} must hold a JSON object mapping column names to metadata.")
    return data


def check_confounds_length(confounds: pd.DataFrame, n_volumes: int, source: str | Path | None = None) -> None:
    """Check the confounds table has one row per BOLD volume.

    Parameters
    ----------
    confounds : pandas.DataFrame, shape (n_rows, n_columns)
    n_volumes : int
        Volumes in the BOLD run.
    source : str or Path, optional
        The TSV path, named in the message.

    Raises
    ------
    DenoiseError
        If ``n_rows != n_volumes``.
    """
    if len(confounds) != n_volumes:
        raise DenoiseError(
            f"{_name(source)} has {len(confounds)} rows but the BOLD run has {n_volumes} volumes; "
            "re-run fMRIPrep or drop this run with --exclude."
        )


def _expand(bases: tuple[str, ...], model: str) -> list[str]:
    return list(bases) + [f"{b}_{s}" for b in bases for s in EXPANSIONS[model]]


def _require(table: pd.DataFrame, columns: list[str], option: str, kind: str, source) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        if kind == "base" and all(c.endswith(("derivative1", "power2")) for c in missing):
            kind = "expansion"
        raise DenoiseError(
            f"{_name(source)} lacks column(s) {missing[:6]}{' ...' if len(missing) > 6 else ''} needed by "
            f"{option}; they are written by {_PRODUCED_BY[kind]}. Choose a strategy without them "
            "or re-run a newer fMRIPrep."
        )


def _compcor_columns(metadata: Mapping, compcor: str, n_compcor, source) -> list[str]:
    selected: list[str] = []
    for prefix in COMPCOR_PREFIXES[compcor]:
        pattern = re.compile(rf"{prefix}_comp_cor_(\d+)")
        names = sorted(
            (k for k in metadata if pattern.fullmatch(k)), key=lambda k: int(pattern.fullmatch(k).group(1))
        )
        if prefix == "a":
            masks = ("combined",) if compcor.endswith("combined") else ("WM", "CSF")
            groups = [[n for n in names if _mask_of(metadata, n, source) == m] for m in masks]
        else:
            groups = [names]
        for group in groups:
            if n_compcor == "all":
                selected += group
            elif isinstance(n_compcor, float):
                selected += _by_variance(metadata, group, n_compcor, source)
            else:
                selected += group[:n_compcor]
    return selected


def _by_variance(metadata: Mapping, names: list[str], fraction: float, source) -> list[str]:
    """Leading components until their cumulative explained variance reaches ``fraction``."""
    kept = []
    for name in names:
        entry = metadata[name]
        if not isinstance(entry, Mapping) or "CumulativeVarianceExplained" not in entry:
            raise DenoiseError(
                f"the confounds JSON of {_name(source)} has no 'CumulativeVarianceExplained' for {name!r}, "
                "needed by a fractional n_compcor (written by fMRIPrep >= 1.4); pass an integer or 'all'."
            )
        kept.append(name)
        if float(entry["CumulativeVarianceExplained"]) >= fraction:
            break
    return kept


def _mask_of(metadata: Mapping, name: str, source) -> Any:
    entry = metadata[name]
    if not isinstance(entry, Mapping) or "Mask" not in entry:
        raise DenoiseError(
            f"the confounds JSON of {_name(source)} has no 'Mask' for {name!r}; aCompCor needs it "
            "(written by fMRIPrep >= 1.4). Re-run fMRIPrep or use compcor='temporal'."
        )
    return entry["Mask"]


def _optimize_scrub(outliers: np.ndarray, n_volumes: int, scrub: int) -> np.ndarray:
    """Also censor kept segments shorter than ``scrub`` volumes (Power et al. 2014).

    Same rule as nilearn: the leading segment, the trailing segment, and every gap between
    two outliers shorter than ``scrub`` are censored.
    """
    flagged = np.zeros(n_volumes, dtype=bool)
    flagged[outliers] = True
    first, last = outliers[0], outliers[-1]
    if first < scrub:
        flagged[:first] = True
    if n_volumes - (last + 1) < scrub:
        flagged[last:] = True
    idx = np.flatnonzero(flagged)
    gaps = np.diff(idx)
    for i in np.flatnonzero((gaps > 1) & (gaps < scrub + 1)):
        flagged[idx[i] + 1 : idx[i + 1]] = True
    return np.flatnonzero(flagged)


def resolve_strategy(
    strategy: str,
    *,
    motion: str | None = None,
    wm_csf: str | None = None,
    global_signal: str | None = None,
    compcor: str = "anat_combined",
    n_compcor: int | float | str = "all",
    fd_threshold: float | None = 0.5,
    std_dvars_threshold: float | None = 1.5,
    scrub: int = 5,
    demean: bool = True,
) -> dict[str, Any]:
    """Validate a strategy and its options, and resolve the preset's defaults.

    The one place a strategy is checked: :func:`select_confounds` calls it for every run and
    the configuration (``neurokit.config.DenoiseConfig``) when it is read. The result is
    what a run records as ``StrategyDetails`` and what the methods text describes.

    Parameters
    ----------
    strategy, motion, wm_csf, global_signal, compcor, n_compcor, fd_threshold, std_dvars_threshold, scrub, demean
        As for :func:`select_confounds`.

    Returns
    -------
    dict
        ``strategy``, ``preset``, ``high_pass``, ``motion``, ``wm_csf``, ``global_signal`` and
        ``demean``; ``compcor``/``n_compcor`` for the compcor presets, ``fd_threshold``/
        ``std_dvars_threshold``/``scrub`` for the scrubbing presets and ``physio`` (True) for
        the ``+physio`` strategies.

    Raises
    ------
    DenoiseError
        Unknown strategy or option value, or an option the preset does not take.
    """
    base, *suffixes = strategy.split("+") if isinstance(strategy, str) else ("",)
    if strategy not in STRATEGIES:
        hint = ""
        if base in PRESETS and sorted(suffixes) == ["gsr", "physio"]:
            hint = f" ('+physio' comes last: {base}+gsr+physio)"
        raise DenoiseError(f"'strategy' must be one of {list(STRATEGIES)}; got {strategy!r}{hint}.")
    plus = "gsr" in suffixes
    preset = PRESETS[base]
    resolved: dict[str, Any] = {"strategy": strategy, "preset": base, "high_pass": "cosine regressors"}
    for option, value in (("motion", motion), ("wm_csf", wm_csf), ("global_signal", global_signal)):
        if value is not None and value not in EXPANSIONS:
            raise DenoiseError(f"'{option}' must be one of {list(EXPANSIONS)} or None; got {value!r}.")
    resolved["motion"] = motion or preset["motion"]
    if preset["wm_csf"] is None and wm_csf is not None:
        raise DenoiseError(
            f"'wm_csf' is not part of the {base!r} preset (nilearn would ignore it); leave wm_csf unset (None) "
            "or choose strategy 'simple' or 'scrubbing'."
        )
    resolved["wm_csf"] = wm_csf or preset["wm_csf"]
    resolved["global_signal"] = global_signal or ("basic" if plus else None)
    # every option is checked, also those this preset does not use: a bad value is a mistake either way
    if compcor not in COMPCOR_PREFIXES:
        raise DenoiseError(f"'compcor' must be one of {list(COMPCOR_PREFIXES)}; got {compcor!r}.")
    if isinstance(n_compcor, (float, np.floating)) and 0 < n_compcor < 1:
        n_compcor = float(n_compcor)
    elif isinstance(n_compcor, bool) or not (
        n_compcor == "all" or (isinstance(n_compcor, (int, np.integer)) and n_compcor >= 1)
    ):
        raise DenoiseError(
            f"'n_compcor' must be a positive integer, a variance fraction in (0, 1) or 'all'; got {n_compcor!r}."
        )
    else:
        n_compcor = n_compcor if n_compcor == "all" else int(n_compcor)
    if not (isinstance(scrub, (int, np.integer)) and not isinstance(scrub, bool) and scrub >= 0):
        raise DenoiseError(f"'scrub' (minimum segment length) must be an integer >= 0; got {scrub!r}.")
    for option, value in (("fd_threshold", fd_threshold), ("std_dvars_threshold", std_dvars_threshold)):
        if value is not None and not (isinstance(value, (int, float, np.number)) and value > 0):
            raise DenoiseError(f"'{option}' must be a positive number or None; got {value!r}.")
    if preset["compcor"]:
        resolved.update(compcor=compcor, n_compcor=n_compcor)
    if preset["scrub"]:
        resolved.update(
            fd_threshold=None if fd_threshold is None else float(fd_threshold),
            std_dvars_threshold=None if std_dvars_threshold is None else float(std_dvars_threshold),
            scrub=int(scrub),
        )
    if "physio" in suffixes:  # only then: the settings of every other strategy stay as they were recorded
        resolved["physio"] = True
    resolved["demean"] = bool(demean)
    return resolved


def select_confounds(
    confounds: pd.DataFrame,
    *,
    strategy: str = "simple",
    motion: str | None = None,
    wm_csf: str | None = None,
    global_signal: str | None = None,
    compcor: str = "anat_combined",
    n_compcor: int | float | str = "all",
    fd_threshold: float | None = 0.5,
    std_dvars_threshold: float | None = 1.5,
    scrub: int = 5,
    demean: bool = True,
    metadata: Mapping | None = None,
    source: str | Path | None = None,
    physio: pd.DataFrame | None = None,
) -> ConfoundSelection:
    """Choose confound regressors and censored volumes with a nilearn-compatible preset.

    Equals ``nilearn.interfaces.fmriprep.load_confounds_strategy(img, denoise_strategy=preset,
    ...)`` (nilearn 0.14) on the same table and JSON, without needing the image file.

    Parameters
    ----------
    confounds : pandas.DataFrame, shape (n_volumes, n_columns)
        The fMRIPrep confounds table (see :func:`load_confounds_table`); not modified.
    strategy : {"simple", "simple+gsr", "scrubbing", "scrubbing+gsr", "compcor", "compcor+gsr"}, \
optionally with "+physio"
        Preset. Every preset has cosine high-pass regressors, full (24-parameter) motion and
        non-steady-state censoring; ``simple`` adds WM/CSF means, ``scrubbing`` WM/CSF full
        expansion and FD/std-DVARS censoring, ``compcor`` aCompCor components. ``+gsr`` adds the
        global signal (nilearn: ``global_signal="basic"``). ``+physio`` (neurokit extension)
        adds the ``physio`` regressors.
    motion, wm_csf, global_signal : {"basic", "power2", "derivatives", "full"} or None
        Override the preset's expansion; None keeps the preset's (nilearn semantics: the preset
        defines defaults, explicit arguments override). ``wm_csf`` with ``compcor`` is an error
        (nilearn ignores it with a warning). ``global_signal`` adds the global signal to any preset.
    compcor : {"anat_combined", "anat_separated", "temporal", "temporal_anat_combined", \
"temporal_anat_separated"}
        CompCor variant (``compcor`` presets only).
    n_compcor : int, float or "all"
        Components per mask (per CompCor type). "all" keeps those fMRIPrep retained (50% of the
        variance by default) as listed in the JSON metadata, as nilearn does; an int keeps the
        first ``n``; a float in (0, 1) (neurokit extension, not in nilearn) keeps the leading
        components until their ``CumulativeVarianceExplained`` reaches it.
    fd_threshold : float or None
        Framewise displacement (mm) above which a volume is censored (``scrubbing`` only);
        None = no FD criterion (neurokit extension).
    std_dvars_threshold : float or None
        Standardised DVARS above which a volume is censored (``scrubbing`` only); None = no
        DVARS criterion (neurokit extension).
    scrub : int
        Minimum length of a kept segment between censored volumes (``scrubbing`` only); 0 = off.
    demean : bool
        Remove each regressor's mean over the kept volumes.
    metadata : mapping, optional
        The confounds JSON (:func:`load_confounds_metadata`); required for CompCor.
    source : str or Path, optional
        The TSV path, named in error messages.
    physio : pandas.DataFrame, shape (n_volumes, n_physio), optional
        Physiological noise regressors of the run for a ``+physio`` strategy
        (``neurokit.physio.physio_regressors(...).regressors``), added after the fMRIPrep
        columns and demeaned alike. None (or no columns) with ``+physio``: the run has no
        usable recording; the other confounds are selected and a note says so.

    Returns
    -------
    ConfoundSelection

    Raises
    ------
    DenoiseError
        Unknown preset or option value; a column the strategy needs is missing (naming the
        column, the option and the fMRIPrep version that writes it); NaN outside the first row;
        ``physio`` regressors for a strategy without ``+physio``, or of the wrong length, or
        not finite.
    """
    if not isinstance(confounds, pd.DataFrame):
        raise DenoiseError(f"'confounds' must be a pandas DataFrame; got {type(confounds).__name__}.")
    _check_columns(confounds, source)
    resolved = resolve_strategy(
        strategy, motion=motion, wm_csf=wm_csf, global_signal=global_signal, compcor=compcor, n_compcor=n_compcor,
        fd_threshold=fd_threshold, std_dvars_threshold=std_dvars_threshold, scrub=scrub, demean=demean,
    )
    metadata = dict(metadata or {})
    n_volumes = len(confounds)
    notes: list[str] = []
    columns: list[str] = []

    cosine = [c for c in confounds.columns if "cosine" in c]
    if not cosine:
        # fMRIPrep (>= 1.4) writes floor(2 * duration / 128 s) - 1 cosines: none for a run
        # shorter than 128 s (e.g. 60 volumes at TR 2 s), whose CompCor was then computed
        # without a cosine high-pass, so there is nothing to remove alongside it (nilearn
        # proceeds the same way). Older releases lack the CompCor JSON, which is checked below.
        notes.append(f"{_name(source)} has no 'cosine*' columns (fMRIPrep writes none for runs shorter than "
                     "128 s); no high-pass regressors added (clean()'s high_pass filter still applies).")
    columns += cosine

    motion_cols = _expand(_MOTION, resolved["motion"])
    _require(confounds, motion_cols, f"motion={resolved['motion']!r}", "base", source)
    columns += motion_cols
    if resolved["wm_csf"]:
        cols = _expand(("csf", "white_matter"), resolved["wm_csf"])
        _require(confounds, cols, f"wm_csf={resolved['wm_csf']!r}", "base", source)
        columns += cols
    if resolved["global_signal"]:
        cols = _expand(("global_signal",), resolved["global_signal"])
        _require(confounds, cols, f"global_signal={resolved['global_signal']!r}", "base", source)
        columns += cols
    if "compcor" in resolved:
        option = f"compcor={resolved['compcor']!r}"
        if not metadata:
            raise DenoiseError(
                f"{option} needs the confounds JSON sidecar of {_name(source)} (written by fMRIPrep >= 1.4) "
                f"to know each component's mask, and {_json_name(source)} is missing or empty: copy it from "
                "fMRIPrep's output, or use denoise.strategy simple or scrubbing (library: pass "
                "metadata=load_confounds_metadata(<tsv>.json))."
            )
        cols = _compcor_columns(metadata, resolved["compcor"], resolved["n_compcor"], source)
        if not cols:
            raise DenoiseError(
                f"the confounds JSON of {_name(source)} lists no components for {option}; they are "
                f"written by {_PRODUCED_BY['compcor']}. Try another compcor variant."
            )
        _require(confounds, cols, option, "compcor", source)
        columns += cols

    nss_cols = [c for c in confounds.columns if "non_steady_state" in c]
    nss_flag = (confounds[nss_cols].fillna(0).to_numpy() != 0).any(axis=1) if nss_cols else np.zeros(n_volumes, bool)
    non_steady = np.flatnonzero(nss_flag)
    censored_flag = nss_flag.copy()

    if "scrub" in resolved:
        high = np.zeros(n_volumes, dtype=bool)
        for column, option in (("framewise_displacement", "fd_threshold"), ("std_dvars", "std_dvars_threshold")):
            if resolved[option] is None:
                continue
            _require(confounds, [column], f"strategy={strategy!r} ({option}={resolved[option]})", "scrub", source)
            with np.errstate(invalid="ignore"):  # NaN (first row) is never an outlier, as in nilearn
                high |= confounds[column].to_numpy(dtype=float) > resolved[option]
        outliers = np.flatnonzero(high)
        if resolved["scrub"] > 0 and outliers.size:
            outliers = _optimize_scrub(outliers, n_volumes, resolved["scrub"])
        censored_flag[outliers] = True
        resolved["n_motion_outliers"] = int(outliers.size)

    censored = np.flatnonzero(censored_flag)
    sample_mask = np.flatnonzero(~censored_flag) if censored.size else None

    # sorted(set(...)) is the column order nilearn returns
    selected = confounds.loc[:, sorted(set(columns))].astype(float).copy()
    values = selected.to_numpy(copy=True)
    if n_volumes > 1:
        first_nan = np.isnan(values[0])
        values[0, first_nan] = values[1, first_nan]
    bad = np.argwhere(np.isnan(values))
    if bad.size:
        row, col = bad[0]
        raise DenoiseError(
            f"{_name(source)} has 'n/a' in column {selected.columns[col]!r} at row {row + 1} (only the first row "
            "of derivative columns may be missing); fix the table or choose a strategy without this column."
        )
    physio_columns = _physio_columns(physio, resolved, n_volumes, source, notes, selected.columns)
    if physio_columns:
        values = np.column_stack([values, physio.to_numpy(dtype=float)])
        selected = pd.DataFrame(values, columns=[*selected.columns, *physio_columns], index=confounds.index)
    if demean and values.size:
        if sample_mask is not None and sample_mask.size == 0:
            notes.append("every volume is censored; regressors demeaned over all volumes.")
            values = values - values.mean(axis=0)
        elif sample_mask is not None:
            values = values - values[sample_mask].mean(axis=0)
        else:
            values = values - values.mean(axis=0)
    selected = pd.DataFrame(values, columns=selected.columns, index=confounds.index)
    if sample_mask is not None and sample_mask.size == 0:
        notes.append(f"all {n_volumes} volumes of {_name(source)} are censored.")
    resolved["n_regressors"] = selected.shape[1]
    resolved["n_non_steady_state"] = int(non_steady.size)
    resolved["n_censored"] = int(censored.size)
    return ConfoundSelection(
        confounds=selected,
        sample_mask=sample_mask,
        censored=censored,
        non_steady_state=non_steady,
        strategy=resolved,
        notes=tuple(notes),
    )


def _physio_columns(physio: pd.DataFrame | None, resolved: Mapping[str, Any], n_volumes: int, source,
                    notes: list[str], taken) -> list[str]:
    """The names of the physiological regressors to add (checked), or [] with a note why none."""
    strategy = resolved["strategy"]
    if not resolved.get("physio"):
        if physio is not None:
            raise DenoiseError(f"physiological regressors were given for strategy {strategy!r}, which does not use "
                               f"them; use {strategy}+physio or leave physio=None.")
        return []
    if physio is not None and not isinstance(physio, pd.DataFrame):
        raise DenoiseError(f"'physio' must be a pandas DataFrame of regressors; got {type(physio).__name__}.")
    if physio is None or physio.shape[1] == 0:
        notes.append(f"strategy {strategy!r}: no physiological regressors for {_name(source)} (no usable "
                     "recording); cleaned with the strategy's other confounds.")
        return []
    if len(physio) != n_volumes:
        raise DenoiseError(f"the physiological regressors have {len(physio)} rows but {_name(source)} has "
                           f"{n_volumes} volumes; compute them with n_volumes={n_volumes}.")
    names = [str(c) for c in physio.columns]
    clash = sorted(set(names) & set(taken)) or sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise DenoiseError(f"physiological regressor name(s) {clash} repeat a confound column; rename them.")
    if not np.isfinite(physio.to_numpy(dtype=float)).all():
        raise DenoiseError("the physiological regressors have non-finite values; recompute them.")
    return names
