"""Group level: features table from the participant derivatives, then cross-validated models.

Reads what the participant level wrote (never recomputes it), joins the phenotype roles,
applies the exclusion rules with reasons, and writes ``group/features.tsv`` of the modelled
denoising strategy (``models.strategy``); then fits the configured models and writes
``group/models/<target>/<feature set>/``. With several strategies it also compares them on the
study's own runs in ``group/denoising_benchmark.tsv``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from neurokit._errors import NeurokitError
from neurokit.config import Config
from neurokit.io._derivatives import (
    atomic_write_json,
    atomic_write_tsv,
    completed_runs,
    qc_for_strategy,
    record_for_strategy,
)

__all__ = ["GroupError", "RunRef", "build_features", "confound_checks", "denoising_benchmark_table", "run_group"]

log = logging.getLogger("neurokit.group")


class GroupError(NeurokitError, ValueError):
    """The participant-level outputs cannot make a group analysis; the message says why."""


@dataclass(frozen=True)
class RunRef:
    """The identity of a processed run (what phenotype joins need)."""

    run_id: str
    subject: str
    session: str | None


def _relmat_path(record: dict, measure: str) -> Path:
    key = f"relmat:{'covariance' if measure == 'tangent' else measure}"
    for candidate in (key, f"relmat:{measure}"):
        if candidate in record["outputs"]:
            return Path(record["outputs"][candidate])
    raise GroupError(
        f"run {record['run_id']} has no {measure!r} matrix; add {measure!r} to connectivity.measures and "
        "rerun the participant level."
    )


def _has_relmat(record: dict, measure: str) -> bool:
    try:
        _relmat_path(record, measure)
    except GroupError:
        return False
    return True


def _read_qc(record: dict, strategy: str | None = None) -> dict:
    """A run's QC metrics; with ``strategy``, that strategy's entries (tDOF, censoring, exclusion) on top."""
    import json

    return qc_for_strategy(json.loads(Path(record["outputs"]["qc"]).read_text()), strategy)


def _records_for(records: list[dict], strategy: str) -> list[dict]:
    """Each run's record as processed with ``strategy`` alone; a run processed without it is an error."""
    views = []
    for record in records:
        view = record_for_strategy(record, strategy)
        if view is None:
            raise GroupError(
                f"run {record['run_id']} was processed with the strategies {list(record['strategies'])}, not "
                f"{strategy!r}; add {strategy!r} to denoise.strategy and rerun the participant level, or set "
                "models.strategy to one of those."
            )
        views.append(view)
    return views


def build_features(output_dir: str | Path, config: Config, phenotype: pd.DataFrame | None = None, *,
                   strategy: str | None = None, measure: str | None = None, include_excluded: bool = False):
    """Assemble the group features table from the participant-level derivatives.

    Parameters
    ----------
    output_dir : str or Path
        The participant-level derivative dataset.
    config : Config
        Resolved configuration (``models.measure`` chooses the matrices).
    phenotype : pandas.DataFrame, optional
        From :func:`neurokit.io.load_phenotype`; None leaves the roles missing.
    strategy : str, optional
        Denoising strategy whose matrices and exclusions to use; default the modelled one
        (``config.modelled_strategy``).
    measure : str, optional
        Connectivity measure; default ``models.measure``.
    include_excluded : bool, default=False
        Also give the runs excluded by QC a row (their QC and, when the participant
        level wrote their matrix, their edges), marked by a boolean ``qc_excluded``
        column; for exclusion-bias and sensitivity checks, never for the models.

    Returns
    -------
    features : pandas.DataFrame, shape (n_included_runs, n_columns)
        ``participant_id, session_id, run_id``, the roles, QC (``mean_fd``,
        ``percent_censored``, ``tdof_remaining``), summary indices ``idx_*`` and Fisher-z
        edges ``edge__<A>--<B>`` (for ``tangent``, vectorised covariances ``cov__<A>--<B>``);
        ``attrs["strategy"]`` names the strategy.
    exclusions : pandas.DataFrame
        One row per run left out (``run_id``, ``reason``).
    networks : dict of str to str
        Region name -> network.
    """
    from neurokit.connectivity import fisher_z, vectorize

    records = completed_runs(output_dir)
    if not records:
        raise GroupError(
            f"{output_dir} has no completed participant-level runs; run "
            f"`neurokit BIDS_DIR {output_dir} participant` first."
        )
    strategy = strategy or config.modelled_strategy
    records = _records_for(_select_records(records, config, output_dir), strategy)
    measure = measure or config.models.measure
    rows, excluded = [], []
    for record in records:
        ok = record.get("status") == "ok"
        if not ok:
            excluded.append({"run_id": record["run_id"], "reason": "; ".join(record.get("reasons", [])) or "excluded"})
            if not include_excluded:
                continue
        qc = _read_qc(record, strategy)
        values, edges, prefix = [], [], "edge__"
        if ok or _has_relmat(record, measure):  # an excluded run may have no matrix (too few volumes)
            matrix_table = pd.read_csv(_relmat_path(record, measure), sep="\t")
            names = list(matrix_table.columns)
            matrix = matrix_table.to_numpy(dtype=float)
            if measure == "tangent":
                values, edges = vectorize(matrix, names, include_diagonal=True)
                prefix = "cov__"
            else:
                values, edges = vectorize(fisher_z(matrix), names)
        ent = record["entities"]
        row = {
            "participant_id": f"sub-{ent['sub']}",
            "session_id": f"ses-{ent['ses']}" if "ses" in ent else None,
            "run_id": record["run_id"],
            "mean_fd": qc.get("mean_fd"),
            "percent_censored": qc.get("percent_censored"),
            "tdof_remaining": qc.get("tDOFRemaining"),
            **record.get("summary", {}),
            **{prefix + e: v for e, v in zip(edges, values)},
        }
        if include_excluded:
            row["qc_excluded"] = not ok
        rows.append(row)
    if not any(r.get("status") == "ok" for r in records):
        raise GroupError(
            f"every completed run in {output_dir} was excluded by the QC rules under the {strategy!r} strategy "
            "(see failures.tsv); "
            "relax exclusion.max_mean_fd / exclusion.max_censored_fraction or add data."
        )
    features = pd.DataFrame(rows)
    edge_cols = [c for c in features.columns if c.startswith(("edge__", "cov__"))]
    kept = ~features["qc_excluded"] if include_excluded else slice(None)
    # only the included runs decide which edges are complete: an excluded run must not change the models
    incomplete = [c for c in edge_cols if features.loc[kept, c].isna().any()]
    if incomplete:
        log.warning("%d edge(s) missing in some runs (regions dropped for low coverage) are left out", len(incomplete))
        features = features.drop(columns=incomplete)
    features.attrs["dropped_edges"] = incomplete
    networks = _networks_from_sidecars(records, measure)

    refs = [RunRef(r, p.removeprefix("sub-"), s.removeprefix("ses-") if isinstance(s, str) else None)
            for r, p, s in zip(features["run_id"], features["participant_id"], features["session_id"])]
    if phenotype is not None:
        from neurokit.io import phenotype_for_runs

        pheno = phenotype_for_runs(phenotype, refs)
        unmatched = pheno.attrs.get("unmatched_runs", [])
        if unmatched:
            log.warning("%d run(s) have no phenotype row: %s", len(unmatched), ", ".join(unmatched[:5]))
        pheno = pheno.drop(columns=["participant_id", "session_id"])
        attrs = dict(features.attrs)  # merge does not carry attrs (dropped_edges) over
        features = features.merge(pheno, on="run_id", how="left", suffixes=("", "_phenotype"))
        features.attrs.update(attrs)
        front = ["participant_id", "session_id", "run_id"]
        roles = [c for c in pheno.columns if c != "run_id"]
        rest = [c for c in features.columns if c not in front and c not in roles]
        features = features[front + roles + rest]
        features.attrs["unmatched_runs"] = unmatched
    features.attrs["strategy"] = strategy
    return features, pd.DataFrame(excluded, columns=["run_id", "reason"]), networks


def _select_records(records: list[dict], config: Config, output_dir) -> list[dict]:
    """Runs of the configured task/space/resolution; refuse to mix kinds of runs in one model."""
    wanted = {"task": config.inputs.task, "space": config.inputs.space, "res": config.inputs.res}
    chosen = [r for r in records
              if all(v is None or r["entities"].get(k) == v for k, v in wanted.items())]
    kinds = sorted({tuple(r["entities"].get(k) or "-" for k in ("task", "space", "res")) for r in chosen})
    if len(kinds) > 1:
        listed = ", ".join(f"task-{t} space-{s} res-{r}" for t, s, r in kinds)
        raise GroupError(
            f"{output_dir} holds runs of different kinds ({listed}); connectivity from different tasks, "
            "spaces or resolutions cannot share one model: choose one with --task / --space or "
            "inputs.task / inputs.space / inputs.res in the configuration."
        )
    if not chosen:
        raise GroupError(
            f"{output_dir} has no completed run with task={config.inputs.task!r}, space={config.inputs.space!r}, "
            f"res={config.inputs.res!r}; check --task / --space or the inputs section of the configuration."
        )
    return chosen


def _networks_from_sidecars(records: list[dict], measure: str) -> dict[str, str]:
    import json

    networks: dict[str, str] = {}
    for record in records:
        if record.get("status") != "ok":
            continue
        sidecar = json.loads(_relmat_path(record, measure).with_suffix(".json").read_text())
        networks.update(zip(sidecar["Regions"], sidecar["Networks"]))
    return networks


#: Phenotype roles QC-FC controls for when every usable run has a value (Ciric et al. 2017).
BENCHMARK_COVARIATES = ("age", "sex")


def _numeric_covariates(features: pd.DataFrame) -> tuple[np.ndarray | None, list[str]]:
    """Age and sex of the runs as numbers (sex coded by its levels) when every run has them."""
    columns, names = [], []
    for role in BENCHMARK_COVARIATES:
        if role not in features or features[role].isna().any():
            continue
        values = features[role]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.isna().any():  # categorical, e.g. sex as F/M
            numeric = pd.Series(pd.factorize(values.astype(str), sort=True)[0], index=values.index)
        if numeric.nunique() > 1:
            columns.append(numeric.to_numpy(float))
            names.append(role)
    return (np.column_stack(columns) if columns else None), names


def _edge_geometry(edge_names: list[str], networks: dict[str, str], atlas_name: str):
    """Distance between region centres (mm) and network pair of each ``A--B`` edge; None where unknown."""
    from neurokit.connectivity import edge_networks, vectorize

    names = list(networks)
    pairs = None
    labels = [networks[n] for n in names]
    if len(set(labels) - {"other"}) >= 2:
        pairs = edge_networks(edge_names, labels, region_names=names)
    distances = None
    try:
        from neurokit.atlases import load as load_atlas

        coords = load_atlas(atlas_name).regions.set_index("name")[["x", "y", "z"]]
    except Exception as exc:  # noqa: BLE001 - any atlas problem only costs the distance column
        log.warning("denoising benchmark without distance dependence: atlas %s: %s", atlas_name, exc)
        return distances, pairs
    if all(n in coords.index for n in names) and coords.loc[names].notna().all().all():
        xyz = coords.loc[names].to_numpy(float)
        matrix = np.linalg.norm(xyz[:, None, :] - xyz[None, :, :], axis=-1)
        values, vector_names = vectorize(matrix, names)
        lookup = dict(zip(vector_names, values))
        if all(e in lookup for e in edge_names):
            distances = np.array([lookup[e] for e in edge_names])
    return distances, pairs


def denoising_benchmark_table(output_dir: str | Path, config: Config, phenotype: pd.DataFrame | None = None,
                              *, built: Mapping[str, tuple[pd.DataFrame, dict]] | None = None) -> pd.DataFrame:
    """Compare the configured denoising strategies on the study's own runs.

    Per strategy: usable runs, QC-FC (% of edges with p < 0.05, median |r|; partial
    correlation with mean FD controlling for age and sex when every run has them),
    its distance dependence, tDOF lost/left and the within- minus between-network
    contrast (see :func:`neurokit.qc.denoising_benchmark`). QC-FC uses the Fisher-z
    correlation edges that every strategy has.

    ``built`` maps a strategy to the ``(features, networks)`` that :func:`build_features`
    already returned for it with the correlation measure (the group level passes the
    modelled strategy's), so those matrices are not read twice.

    Returns
    -------
    pandas.DataFrame, shape (n_strategies, n_columns)
        :data:`neurokit.qc.BENCHMARK_COLUMNS`; ``attrs`` holds ``covariates`` (the roles
        controlled for), ``modelled`` (the strategy the models use) and ``n_edges``.
    """
    from neurokit.qc import denoising_benchmark

    records = _select_records(completed_runs(output_dir), config, output_dir)
    tables, networks, lost, left = {}, {}, {}, {}
    for strategy in config.strategies:
        qcs = [_read_qc(view, strategy) for view in _records_for(records, strategy)]
        lost[strategy] = np.array([np.nan if q.get("tDOFLost") is None else q["tDOFLost"] for q in qcs], float)
        left[strategy] = np.array([np.nan if q.get("tDOFRemaining") is None else q["tDOFRemaining"] for q in qcs],
                                  float)
        if built and strategy in built:
            features, found = built[strategy]
        else:
            try:
                features, _, found = build_features(output_dir, config, phenotype, strategy=strategy,
                                                    measure="correlation")
            except GroupError as exc:  # e.g. every run excluded under this strategy
                log.warning("denoising benchmark, %s: %s", strategy, exc)
                continue
        tables[strategy] = features
        networks.update(found)
    edge_sets = [[c for c in t.columns if c.startswith("edge__")] for t in tables.values()]
    common = [c for c in edge_sets[0] if all(c in set(other) for other in edge_sets[1:])] if edge_sets else []
    edges, mean_fd, covariates, used = {}, {}, {}, set()
    for strategy, features in tables.items():
        values = features[common].to_numpy(float)
        fd = features["mean_fd"].to_numpy(float)
        keep = np.isfinite(fd) & np.isfinite(values).all(axis=1)
        edges[strategy], mean_fd[strategy] = values[keep], fd[keep]
        covariates[strategy], names = _numeric_covariates(features[keep])
        used.update(names)
    edge_names = [c.removeprefix("edge__") for c in common]
    distances, pairs = _edge_geometry(edge_names, networks, config.atlas.name) if common else (None, None)
    table = denoising_benchmark(edges, mean_fd, tdof_lost=lost, tdof_remaining=left, covariates=covariates,
                                distances=distances, network_pairs=pairs, min_tdof=config.exclusion.min_tdof)
    table.attrs.update(covariates=sorted(used), modelled=config.modelled_strategy, n_edges=len(common))
    return table


def write_denoising_benchmark(group_dir: Path, table: pd.DataFrame, config: Config) -> Path:
    """``group_dir/denoising_benchmark.tsv`` and its ``.json`` sidecar describing the columns."""
    from neurokit.qc import BENCHMARK_COLUMNS

    path = atomic_write_tsv(group_dir / "denoising_benchmark.tsv", table)
    atomic_write_json(path.with_suffix(".json"), {
        "Description": "Denoising strategies compared on this study's runs (Ciric et al. 2017; Parkes et al. "
                       "2018; Wang et al. 2024).",
        "ModelledStrategy": config.modelled_strategy,
        "ModelledStrategyReason": ("models.strategy" if config.models.strategy else
                                   "the first strategy listed in denoise.strategy (models.strategy: null)"),
        "QCFCCovariates": table.attrs.get("covariates", []),
        "NumberOfEdges": table.attrs.get("n_edges"),
        "MinTDOF": config.exclusion.min_tdof,
        "ConfigHash": config.hash(),
        **{column: {"Description": text} for column, text in BENCHMARK_COLUMNS.items()},
    })
    return path


def run_group(bids_dir: str | Path, output_dir: str | Path, config: Config, *, client=None) -> int:
    """Run the group level; returns the exit code (0 ok, 2 nothing to model).

    Parameters
    ----------
    bids_dir : str or Path
        BIDS root (for ``participants.tsv``, ``sessions.tsv``, ``phenotype/``).
    output_dir : str or Path
        The participant-level derivative dataset; results go to ``output_dir/group``.
    config : Config
        Resolved configuration.
    client : distributed.Client, optional
        For the permutation tests; None runs them in this process.
    """
    from neurokit.io import load_phenotype

    output_dir = Path(output_dir)
    group = output_dir / "group"
    phenotype = load_phenotype(bids_dir, config.columns)
    every_run, exclusions, networks = build_features(output_dir, config, phenotype, include_excluded=True)
    dropped = every_run.attrs.get("dropped_edges", [])
    flagged = every_run["qc_excluded"].to_numpy(bool)
    features = every_run[~flagged].drop(columns="qc_excluded").reset_index(drop=True)
    features.attrs.update(every_run.attrs)
    atomic_write_tsv(group / "features.tsv", features)
    atomic_write_json(
        group / "features.json",
        {
            "Measure": config.models.measure,
            "Strategy": features.attrs["strategy"],
            "Networks": networks,
            "DroppedEdges": dropped,
            "UnmatchedRuns": features.attrs.get("unmatched_runs", []),
            "MissingRoles": list(phenotype.attrs.get("missing_roles", [])),
            "ConfigHash": config.hash(),
        },
    )
    atomic_write_tsv(group / "exclusions.tsv", exclusions)
    log.info("features (%s): %d runs x %d columns; %d run(s) excluded", features.attrs["strategy"], len(features),
             features.shape[1], len(exclusions))
    reuse = {config.modelled_strategy: (features, networks)} if config.models.measure == "correlation" else None
    write_denoising_benchmark(group, denoising_benchmark_table(output_dir, config, phenotype, built=reuse), config)
    rows = fit_models(features, networks, config, group / "models", client=client)
    excluded_rows = every_run[flagged].drop(columns="qc_excluded").reset_index(drop=True)
    atomic_write_json(group / "confounds.json", confound_checks(features, excluded_rows, networks, config, rows))
    fitted = [r for r in rows if r["status"] == "fitted"]
    if rows and not fitted:
        log.error("no model could be fitted (see %s)", group / "models" / "summary.tsv")
        return 2
    return 0


def fit_models(features: pd.DataFrame, networks: dict, config: Config, models_dir: Path, *, client=None) -> list[dict]:
    """Cross-validate every configured target x feature set and write their results.

    Writes ``<models_dir>/<target>/<feature set>/`` (``metrics.json``, ``predictions.tsv``,
    ``permutation_null.tsv``, ``patterns.tsv``, ``patterns_by_class.tsv`` for more than two classes,
    ``model/``), ``longitudinal.json`` when
    participants have several sessions, and ``summary.tsv`` (one row per model, with the
    reason when a model could not be fitted, e.g. a role missing from the phenotype).
    ``p_value_fdr`` (in ``summary.tsv`` and each ``metrics.json``) is the permutation
    p-value corrected for the number of fitted models (Benjamini-Hochberg); ``p_value_floor``
    is the smallest p-value the permutations can give, 1 / (n_permutations + 1).

    Returns
    -------
    list of dict
        The rows of ``summary.tsv``.
    """
    from neurokit.models import ModelError, cross_validate_model, fdr_correct, longitudinal_model, save_model
    from neurokit.pipelines._progress import Progress

    m = config.models
    rows, written = [], []
    progress = Progress(len(m.targets) * len(m.feature_sets), unit="models")
    for target in m.targets:
        for feature_set in m.feature_sets:
            folder = models_dir / target / feature_set
            row = {"target": target, "feature_set": feature_set}
            try:
                result = cross_validate_model(
                    features, target, feature_set, networks,
                    estimator=m.estimator, covariates=m.covariates, harmonize_site=m.harmonize_site,
                    edge_selection=m.edge_selection, cpm_threshold=m.cpm_threshold,
                    stage_levels=config.columns.stage_levels, control_level=config.columns.control,
                    cv_folds=m.cv_folds, cv_repeats=m.cv_repeats, site_out=m.site_out,
                    n_permutations=m.n_permutations, random_state=m.random_state, client=client,
                    atlas=config.atlas.name, measure=m.measure, config_hash=config.hash(),
                )
            except ModelError as exc:
                log.warning("model %s/%s not fitted: %s", target, feature_set, exc)
                rows.append({**row, "status": "not fitted", "reason": str(exc)})
                progress.update(failed=True)
                continue
            result.metrics["denoising_strategy"] = config.modelled_strategy
            atomic_write_json(folder / "metrics.json", result.metrics)  # rewritten with p_value_fdr at the end
            atomic_write_tsv(folder / "predictions.tsv", result.predictions)
            atomic_write_tsv(folder / "permutation_null.tsv", result.permutation_null)
            atomic_write_tsv(folder / "patterns.tsv", result.patterns)
            if len(result.class_patterns):  # more than two classes: one-vs-rest patterns per class
                atomic_write_tsv(folder / "patterns_by_class.tsv", result.class_patterns)
            save_model(result, folder / "model")
            primary = result.metrics.get("primary_metric")
            score = result.metrics.get("scores", {}).get(primary, {})
            rows.append({**row, "status": "fitted", "reason": None, "metric": primary,
                         "mean": score.get("mean"), "sd": score.get("sd"), "p_value": result.metrics.get("p_value"),
                         "p_value_floor": result.metrics.get("p_value_floor"), "n_rows": result.metrics.get("n_rows")})
            written.append((folder, result.metrics, rows[-1]))
            log.info("model %s/%s: %s = %.3f +/- %.3f (p = %s: permutation and beyond confounds; floor %s)",
                     target, feature_set, primary,
                     score.get("mean", float("nan")), score.get("sd", float("nan")), result.metrics.get("p_value"),
                     result.metrics.get("p_value_floor"))
            progress.update()
    progress.close()
    for (folder, metrics, row), adjusted in zip(written, fdr_correct([r["p_value"] for _, _, r in written])):
        row["p_value_fdr"] = metrics["p_value_fdr"] = adjusted
        atomic_write_json(folder / "metrics.json", metrics)
    if m.longitudinal and features["session_id"].notna().any():
        result = longitudinal_model(features, stage_levels=config.columns.stage_levels,
                                    control_level=config.columns.control)
        atomic_write_json(models_dir / "longitudinal.json", result)
    columns = ["target", "feature_set", "status", "reason", "metric", "mean", "sd", "p_value", "p_value_fdr",
               "p_value_floor", "n_rows"]
    atomic_write_tsv(models_dir / "summary.tsv", pd.DataFrame(rows, columns=columns))
    return rows


def confound_checks(features: pd.DataFrame, excluded: pd.DataFrame, networks: dict, config: Config,
                    fitted: list[dict]) -> dict:
    """What ``group/confounds.json`` holds: covariate-target associations, exclusion bias and sensitivity.

    Parameters
    ----------
    features : pandas.DataFrame of shape (n_included_runs, n_columns)
        The features table the models were fitted on.
    excluded : pandas.DataFrame of shape (n_excluded_runs, n_columns)
        Rows of the runs excluded by QC (edges missing where no matrix was written).
    networks : dict of str to str
    config : Config
    fitted : list of dict
        The rows of ``models/summary.tsv``; sensitivity runs for the fitted models only.

    Returns
    -------
    dict
        ``covariate_associations``, ``exclusion_bias``, ``sensitivity`` (``{target: {feature set:
        rows}}``) and ``notes``.
    """
    from neurokit.models import covariate_associations, exclusion_bias, sensitivity_analysis

    m, columns = config.models, config.columns
    levels = dict(stage_levels=columns.stage_levels, control_level=columns.control)
    runs = pd.concat([features.assign(excluded=False), excluded.assign(excluded=True)], ignore_index=True)
    if "stage" in features.columns and isinstance(features["stage"].dtype, pd.CategoricalDtype):
        runs["stage"] = pd.Categorical(runs["stage"], dtype=features["stage"].dtype)
    edge_cols = [c for c in features.columns if c.startswith(("edge__", "cov__"))]
    with_matrix = excluded[edge_cols].notna().all(axis=1) if edge_cols else pd.Series(False, index=excluded.index)
    notes = []
    if len(excluded) and not with_matrix.all():
        notes.append(f"{int((~with_matrix).sum())} excluded run(s) have no connectivity matrix (too few volumes "
                     "left to denoise) and cannot be put back in the sensitivity analysis")
    sensitivity: dict = {}
    cv = dict(estimator=m.estimator, harmonize_site=m.harmonize_site, edge_selection=m.edge_selection,
              cpm_threshold=m.cpm_threshold, cv_folds=m.cv_folds, cv_repeats=m.cv_repeats, site_out=m.site_out,
              random_state=m.random_state, measure=m.measure, **levels)
    for row in fitted:
        if row.get("status") != "fitted":
            continue
        sensitivity.setdefault(row["target"], {})[row["feature_set"]] = sensitivity_analysis(
            features, row["target"], row["feature_set"], networks, excluded_features=excluded[with_matrix],
            covariates=m.covariates, **cv)
    return {
        "covariate_associations": covariate_associations(features, targets=m.targets, **levels),
        "exclusion_bias": exclusion_bias(runs, targets=m.targets, **levels),
        "sensitivity": sensitivity,
        "notes": notes,
    }
