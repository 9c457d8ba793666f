"""From the group features table to model inputs: feature columns per feature set, the
target per model, and the tail-layout array ``[features | covariates | site]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from neurokit.atlases import NETWORKS
from neurokit.connectivity import COV_PREFIX, EDGE_PREFIX
from neurokit.models._common import FEATURE_SETS, TARGETS, ModelError

__all__ = ["feature_columns", "edge_regions", "edge_network_pair"]

SUMMARY_INDICES = ("idx_pfc_within", "idx_limbic_within", "idx_pfc_limbic")
#: ``scan_hrv`` (the scan-derived HRV, neurokit.io.build_features) joins the phenotype's ``hrv`` when both exist;
#: when ``hrv`` was filled from the scan the two are one column and only ``hrv`` is used.
BIOMARKERS = ("bdnf", "hrv", "scan_hrv")
ID_COLUMNS = ("participant_id", "session_id", "run_id")


def edge_regions(column):
    """``'edge__A--B'`` -> ``('A', 'B')``.

    Raises
    ------
    ModelError
        When the name does not follow ``edge__<RegionA>--<RegionB>``.
    """
    body = column[len(EDGE_PREFIX) :] if column.startswith(EDGE_PREFIX) else None
    parts = body.split("--") if body else []
    if len(parts) != 2 or not all(parts):
        raise ModelError(
            f"edge column {column!r} does not follow 'edge__<RegionA>--<RegionB>', e.g. 'edge__dlPFC_L--amygdala_L'."
        )
    return parts[0], parts[1]


def _network(region, networks):
    try:
        net = networks[region]
    except KeyError:
        raise ModelError(
            f"region {region!r} of the features table has no network in 'networks'; give every region one of {NETWORKS}."
        ) from None
    if net not in NETWORKS:
        raise ModelError(f"networks[{region!r}] must be one of {NETWORKS}; got {net!r}.")
    return net


def edge_network_pair(column, networks):
    """Network pair of an edge column, names sorted and joined by ``'--'`` (e.g. ``'limbic--prefrontal'``)."""
    a, b = edge_regions(column)
    return "--".join(sorted((_network(a, networks), _network(b, networks))))


def _covariance_block(features):
    """The ``cov__`` columns of a tangent features table and their regions, checked for a whole matrix."""
    cov = [c for c in features.columns if str(c).startswith(COV_PREFIX)]
    if not cov:
        return [], []
    regions = []
    for c in cov:
        parts = c[len(COV_PREFIX) :].split("--")
        if len(parts) != 2 or not all(parts):
            raise ModelError(f"covariance column {c!r} does not follow 'cov__<RegionA>--<RegionB>', e.g. 'cov__dlPFC_L--amygdala_L'.")
        if parts[0] == parts[1]:
            regions.append(parts[0])
    expected = [f"{COV_PREFIX}{a}--{b}" for i, a in enumerate(regions) for b in regions[i:]]
    if cov != expected or len(regions) < 2:
        raise ModelError(
            f"the {len(cov)} 'cov__' columns are not one covariance matrix of {len(regions)} region(s) vectorised with "
            "its diagonal in neurokit.connectivity.vectorize order (upper triangle, row by row: 'cov__A--A', "
            "'cov__A--B', ..., 'cov__B--B', ...); rebuild the features table with `neurokit ... group`."
        )
    return cov, regions


@dataclass(frozen=True)
class _FeaturePlan:
    """Input columns of a feature set and the names of the features the model sees."""

    columns: list  # columns of the features table, in X order
    names: list  # model features (tangent edges 'edge__A--B' replace the 'cov__' block)
    tangent_regions: int = 0  # regions of the leading covariance block, 0 when none
    tangent_edges: tuple | None = None  # positions of the kept tangent edges (None = all)


def _biomarkers(features):
    """The biomarker columns present, ``scan_hrv`` left out when it is the same values as ``hrv`` or has none."""
    names = [c for c in BIOMARKERS if c in features.columns]
    if "scan_hrv" in names and pd.to_numeric(features["scan_hrv"], errors="coerce").isna().all():
        names.remove("scan_hrv")  # no physiology measured (older runs, physio disabled): nothing to note per model
    if "hrv" in names and "scan_hrv" in names:
        hrv = pd.to_numeric(features["hrv"], errors="coerce").to_numpy(dtype=float)
        scan = pd.to_numeric(features["scan_hrv"], errors="coerce").to_numpy(dtype=float)
        if np.array_equal(hrv, scan, equal_nan=True):  # the role was filled from the scan
            names.remove("scan_hrv")
    return names


def _feature_plan(features, feature_set, networks):
    if feature_set not in FEATURE_SETS:
        raise ModelError(f"'feature_set' must be one of {FEATURE_SETS}; got {feature_set!r}.")
    edges = [c for c in features.columns if str(c).startswith(EDGE_PREFIX)]
    cov, regions = _covariance_block(features)
    if cov and edges:
        raise ModelError(
            "the features table holds both 'edge__' columns (a correlation-type measure) and 'cov__' columns "
            "(covariances for the tangent measure); keep one measure per table."
        )
    if cov:  # the tangent edges the projection will produce, in TangentSpace order
        edges = [f"{EDGE_PREFIX}{a}--{b}" for i, a in enumerate(regions) for b in regions[i + 1 :]]
    if feature_set in ("pfc_limbic_edges", "combined", "all_edges"):  # also checks every region has a network
        pfc_limbic = [c for c in edges if edge_network_pair(c, networks) == "limbic--prefrontal"]
    extra = []
    if feature_set == "all_edges":
        names = edges
    elif feature_set == "pfc_limbic_edges":
        names = pfc_limbic
    elif feature_set == "summary_indices":
        names = [c for c in SUMMARY_INDICES if c in features.columns]
    elif feature_set == "biomarkers":
        names = _biomarkers(features)
    else:
        names = pfc_limbic
        extra = [c for c in SUMMARY_INDICES if c in features.columns] + _biomarkers(features)
        names = names + extra
    if not names:
        raise ModelError(
            f"feature set {feature_set!r} has no columns in the features table; it needs "
            + {
                "all_edges": "'edge__<A>--<B>' columns (or 'cov__<A>--<B>' for the tangent measure)",
                "pfc_limbic_edges": "edges joining a 'prefrontal' and a 'limbic' region (check 'networks')",
                "summary_indices": f"one of {SUMMARY_INDICES}",
                "biomarkers": f"one of {BIOMARKERS}",
                "combined": "prefrontal-limbic edges, summary indices or biomarkers",
            }[feature_set]
            + "."
        )
    tangent_edges = [n for n in names if n.startswith(EDGE_PREFIX)]
    if not cov or not tangent_edges:
        return _FeaturePlan(columns=list(names), names=list(names))
    position = {e: i for i, e in enumerate(edges)}
    keep = tuple(position[e] for e in tangent_edges)
    return _FeaturePlan(
        columns=cov + [n for n in names if not n.startswith(EDGE_PREFIX)],
        names=list(names),
        tangent_regions=len(regions),
        tangent_edges=None if len(keep) == len(edges) else keep,
    )


def feature_columns(features, feature_set, networks):
    """Columns of the features table that make up a feature set.

    Parameters
    ----------
    features : pandas.DataFrame of shape (n_runs, n_columns)
        The group features table (ids, roles, QC, summary indices and either Fisher-z
        ``edge__A--B`` columns or, for the tangent measure, vectorised covariances
        ``cov__A--B`` with the diagonal ``cov__A--A``).
    feature_set : {'pfc_limbic_edges', 'all_edges', 'summary_indices', 'biomarkers', 'combined'}
        ``pfc_limbic_edges``: edges joining a prefrontal and a limbic region; ``all_edges``;
        ``summary_indices``: ``idx_pfc_within``, ``idx_limbic_within``, ``idx_pfc_limbic``;
        ``biomarkers``: ``bdnf``, ``hrv`` and the scan-derived ``scan_hrv`` (left out when it
        is the same column as ``hrv``, i.e. the role was filled from the scan);
        ``combined``: the first, third and fourth together.
    networks : mapping of str to str
        ``{region: 'prefrontal' | 'limbic' | 'other'}`` for every region in the edge names.

    Returns
    -------
    list of str
        Column names in table order, present in ``features`` (they may still hold missing
        values). For a tangent table the edge feature sets return every ``cov__`` column:
        the tangent projection needs the whole matrix, and the model picks the feature
        set's edges after it (a model's features are then the tangent edges, named
        ``edge__A--B``; see ``FittedModel.model_features``).

    Raises
    ------
    ModelError
        For an unknown feature set, a region without a network, a feature set with no
        columns, or ``cov__`` columns that do not make one whole covariance matrix.
    """
    return _feature_plan(features, feature_set, networks).columns


def _stage_levels(features, stage_levels):
    stage = features["stage"]
    if stage_levels is None:
        if isinstance(stage.dtype, pd.CategoricalDtype):
            return tuple(str(c) for c in stage.cat.categories)
        raise ModelError(
            "column 'stage' is not a pandas Categorical, so its order is unknown; pass "
            "stage_levels=('control', 'active', ...) in recovery order."
        )
    return tuple(stage_levels)


def _target(features, target, stage_levels, control_level):
    """Target values (float, NaN where missing), class labels (None for regression)."""
    if target not in TARGETS:
        raise ModelError(f"'target' must be one of {TARGETS}; got {target!r}.")
    column = "severity" if target == "severity" else "stage"
    if column not in features.columns:
        raise ModelError(f"target {target!r} needs a {column!r} column in the features table.")
    if target == "severity":
        y = pd.to_numeric(features["severity"], errors="coerce").to_numpy(dtype=float)
        return y, None
    levels = _stage_levels(features, stage_levels)
    values = features["stage"].astype(object)
    known = values.isna() | values.astype(str).isin(levels)
    if not known.all():
        bad = sorted(set(values[~known].astype(str)))
        raise ModelError(f"column 'stage' has values {bad} that are not in stage_levels {list(levels)}.")
    codes = np.array([levels.index(str(v)) if pd.notna(v) else np.nan for v in values], dtype=float)
    if target == "stage":
        return codes, levels
    control = control_level if control_level is not None else levels[0]
    if control not in levels:
        raise ModelError(f"'control_level' {control!r} is not one of the stage levels {list(levels)}.")
    y = np.where(np.isnan(codes), np.nan, (codes != levels.index(control)).astype(float))
    return y, ("control", "user")


@dataclass
class _Design:
    """The model inputs for one target and feature set (rows with everything needed)."""

    X: np.ndarray  # (n_rows, n_features + n_covariate_columns [+ 1 site])
    y: np.ndarray  # (n_rows,)
    ids: pd.DataFrame  # participant_id, session_id, run_id of the rows
    rows: np.ndarray  # positions of the rows in the features table
    feature_names: list  # columns of the features table that make up X's feature block
    model_features: list  # features the model sees (tangent edges instead of the 'cov__' block)
    covariates: list  # covariate roles used
    covariate_columns: list  # encoded covariate columns (e.g. 'sex[M]')
    covariate_levels: dict  # {covariate: [levels]} for categorical covariates
    site_levels: list  # site labels in code order, [] when not harmonising
    classes: tuple | None
    excluded: dict = field(default_factory=dict)  # {reason: count}
    notes: list = field(default_factory=list)
    tangent_regions: int = 0
    tangent_edges: tuple | None = None


def _encode_covariates(frame, covariates, levels=None):
    """Numeric covariate block, shape (n_rows, n_columns) with NaN where missing, its column names and levels."""
    blocks, names, learnt = [], [], {}
    for cov in covariates:
        col = frame[cov]
        if levels is not None and cov in levels or (
            levels is None and not pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        ):
            lv = levels[cov] if levels is not None else sorted(set(col.dropna().astype(str)))
            learnt[cov] = lv
            strings = col.astype(object)
            unknown = strings.notna() & ~strings.astype(str).isin(lv)
            if unknown.any():
                raise ModelError(
                    f"covariate {cov!r} has levels {sorted(set(strings[unknown].astype(str)))} that the model was "
                    f"not trained on (it knows {lv}); recode them or refit the model."
                )
            for level in lv[1:]:  # drop-first one-hot coding
                blocks.append(np.where(strings.isna(), np.nan, (strings.astype(str) == level).astype(float)))
                names.append(f"{cov}[{level}]")
        else:
            blocks.append(pd.to_numeric(col, errors="coerce").to_numpy(dtype=float))
            names.append(cov)
    block = np.column_stack(blocks) if blocks else np.zeros((len(frame), 0))
    return block, names, learnt


def _design(features, target, feature_set, networks, *, covariates, harmonize_site, stage_levels=None, control_level=None):
    """Build the tail-layout design for one model, leaving out (and counting) unusable rows."""
    if not isinstance(features, pd.DataFrame):
        raise ModelError(f"'features' must be a pandas DataFrame (the group features table); got {type(features).__name__}.")
    if "participant_id" not in features.columns:
        raise ModelError("the features table needs a 'participant_id' column: runs are grouped by participant.")
    notes = []
    plan = _feature_plan(features, feature_set, networks)
    cols = plan.columns
    values = features[cols].apply(pd.to_numeric, errors="coerce")
    empty = [c for c in cols if values[c].isna().all()]
    empty_cov = [c for c in empty if c.startswith(COV_PREFIX)]
    if empty_cov:
        raise ModelError(
            f"covariance column(s) {empty_cov[:5]} are all missing, so no covariance matrix is whole; rebuild the "
            "features table (regions missing in some runs are dropped with all their 'cov__' entries)."
        )
    model_features = [n for n in plan.names if n not in empty]
    if empty:
        notes.append(f"feature column(s) {empty} are all missing and were left out")
        cols = [c for c in cols if c not in empty]
    if not cols:
        raise ModelError(f"every column of feature set {feature_set!r} is all missing; choose another feature set.")
    y, classes = _target(features, target, stage_levels, control_level)
    used_covs = []
    for cov in covariates:
        if cov not in features.columns or features[cov].isna().all():
            notes.append(f"covariate {cov!r} is missing from the features table and was not regressed out")
        else:
            used_covs.append(cov)
    cov_block, cov_names, cov_levels = _encode_covariates(features, used_covs)
    site_levels = []
    site_codes = np.zeros((len(features), 0))
    if harmonize_site:
        if "site" not in features.columns or features["site"].isna().all():
            notes.append("no 'site' values: site harmonisation was skipped")
        else:
            site_levels = sorted(set(features["site"].dropna().astype(str)))
            if len(site_levels) < 2:
                notes.append(f"one site only ({site_levels[0]!r}): site harmonisation was skipped")
                site_levels = []
            else:
                s = features["site"].astype(object)
                site_codes = np.array(
                    [site_levels.index(str(v)) if pd.notna(v) else np.nan for v in s], dtype=float
                )[:, None]
    excluded = {}
    keep = np.ones(len(features), dtype=bool)
    for reason, missing in (
        (f"missing target {target!r}", np.isnan(y)),
        ("missing features", values[cols].isna().any(axis=1).to_numpy()),
        ("missing covariates", np.isnan(cov_block).any(axis=1)),
        ("missing site", np.isnan(site_codes).any(axis=1)),
    ):
        n = int((keep & missing).sum())
        if n:
            excluded[reason] = n
        keep &= ~missing
    rows = np.flatnonzero(keep)
    X = np.hstack([values[cols].to_numpy(dtype=float), cov_block, site_codes])[rows]
    ids = pd.DataFrame({c: features[c].to_numpy()[rows] for c in ID_COLUMNS if c in features.columns})
    return _Design(
        X=X,
        y=y[rows],
        ids=ids.reset_index(drop=True),
        rows=rows,
        feature_names=list(cols),
        model_features=model_features,
        covariates=used_covs,
        covariate_columns=cov_names,
        covariate_levels=cov_levels,
        site_levels=site_levels,
        classes=classes,
        excluded=excluded,
        notes=notes,
        tangent_regions=plan.tangent_regions,
        tangent_edges=plan.tangent_edges,
    )
