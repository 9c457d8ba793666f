"""Group level: features table from the participant derivatives, then cross-validated models.

Reads what the participant level wrote (never recomputes it), joins the phenotype roles,
applies the exclusion rules with reasons, and writes ``group/features.tsv`` of the modelled
denoising strategy (``models.strategy``); then fits the configured models and writes
``group/models/<target>/<feature set>/``. With several strategies it also compares them on the
study's own runs in ``group/denoising_benchmark.tsv``.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from neurokit.config import Config
from neurokit.io import atomic_write_json, atomic_write_tsv
from neurokit.io import GroupError, RunRef, build_features, select_records, strategy_qc

__all__ = ["GroupError", "RunRef", "build_features", "confound_checks", "denoising_benchmark_table", "run_group"]

log = logging.getLogger("neurokit.group")


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
    from neurokit.io import completed_runs
    from neurokit.qc import denoising_benchmark

    records = select_records(completed_runs(output_dir), config, output_dir)
    tables, networks, lost, left, censored = {}, {}, {}, {}, {}
    for strategy in config.strategies:
        qcs = strategy_qc(records, strategy)
        lost[strategy] = np.array([np.nan if q.tdof_lost is None else q.tdof_lost for q in qcs], float)
        left[strategy] = np.array([np.nan if q.tdof_remaining is None else q.tdof_remaining for q in qcs], float)
        censored[strategy] = np.array([len(q.censored_volumes) for q in qcs], float)
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
    table = denoising_benchmark(edges, mean_fd, tdof_lost=lost, tdof_remaining=left, n_censored=censored,
                                covariates=covariates,
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
        **_hashes(config),
        **{column: {"Description": text} for column, text in BENCHMARK_COLUMNS.items()},
    })
    return path


def _hashes(config: Config, participant_hash: str | None = None) -> dict:
    """The configuration hash keys of a group output, with what each covers (docs/provenance.md)."""
    from neurokit.io import HASH_DESCRIPTIONS

    hashes = {"FullConfigHash": config.hash()}
    if participant_hash is not None:
        hashes["ParticipantConfigHash"] = participant_hash
    return {**hashes, "ConfigHashDescriptions": {key: HASH_DESCRIPTIONS[key] for key in hashes}}


def _training_fingerprint(output_dir: Path, config: Config, runs: pd.DataFrame) -> dict:
    """The participant-level fingerprint of the runs in ``runs`` (the features the models learn from)."""
    from neurokit.io import completed_runs, participant_fingerprint

    used = set(runs["run_id"])
    records = [r for r in completed_runs(output_dir) if r["run_id"] in used]
    return participant_fingerprint(output_dir, config, strategy=runs.attrs.get("strategy"),
                                   measure=config.models.measure, records=records)


def run_group(bids_dir: str | Path, output_dir: str | Path, config: Config, *, client=None,
              progress: bool | None = None) -> int:
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
    progress : bool or None
        Progress line of the models; None = only when stderr is a terminal (log lines otherwise).

    Raises
    ------
    NeurokitError
        An input error (no participant-level outputs, unreadable phenotype), raised before
        anything is written. From then on the level logs to
        ``output_dir/logs/group-<YYYYmmdd-HHMMSS>.log`` as well (warnings and the exception
        that ends it included).
    """
    from neurokit.pipelines._preflight import check_group_output, check_group_phenotype
    from neurokit.pipelines._runlog import level_log

    output_dir = Path(output_dir)
    group = output_dir / "group"
    with level_log(output_dir, "group") as run_log:
        check_group_output(output_dir)
        # reading the inputs is the check: nothing is written until they have been read
        phenotype = check_group_phenotype(bids_dir, config)
        every_run, exclusions, networks = build_features(output_dir, config, phenotype, include_excluded=True)
        _check_target_values(every_run, phenotype, config, output_dir)
        run_log.start()
        return _run_group(output_dir, group, config, client, phenotype, every_run, exclusions, networks,
                          progress=progress)


def _check_target_values(every_run: pd.DataFrame, phenotype: pd.DataFrame, config: Config, output_dir: Path) -> None:
    """Refuse a phenotype that gives no run a target value (labels that do not match, all n/a)."""
    from neurokit.io import TARGET_ROLES, PhenotypeError

    roles = sorted({TARGET_ROLES[t] for t in config.models.targets if TARGET_ROLES[t] in every_run.columns})
    if not roles or any(every_run[role].notna().any() for role in roles):
        return
    listed = sorted(str(p) for p in phenotype["participant_id"].dropna().unique())
    runs = sorted(every_run["participant_id"].astype(str).unique())
    raise PhenotypeError(
        f"none of the {len(every_run)} run(s) in {output_dir} has a {' or '.join(roles)} value in "
        f"{', '.join(phenotype.attrs['sources'])}: its participant_id values ({', '.join(listed[:5]) or 'none'}"
        f"{', ...' if len(listed) > 5 else ''}) must match the runs' participants ({', '.join(runs[:5])}"
        f"{', ...' if len(runs) > 5 else ''}) exactly, and each needs a value (n/a only where it is unknown)."
    )


def _run_group(output_dir: Path, group: Path, config: Config, client, phenotype: pd.DataFrame,
               every_run: pd.DataFrame, exclusions: pd.DataFrame, networks: dict, progress=None) -> int:
    """The group level once its inputs are read: features, benchmark, models, confound checks."""
    dropped = every_run.attrs.get("dropped_edges", [])
    flagged = every_run["qc_excluded"].to_numpy(bool)
    features = every_run[~flagged].drop(columns="qc_excluded").reset_index(drop=True)
    features.attrs.update(every_run.attrs)
    fingerprint = _training_fingerprint(output_dir, config, every_run)
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
            **features.attrs.get("sidecar", {}),  # HRVSource and the scan physiology columns (build_features)
            **_hashes(config, fingerprint["ParticipantConfigHash"]),
        },
    )
    atomic_write_tsv(group / "exclusions.tsv", exclusions)
    log.info("features (%s): %d runs x %d columns; %d run(s) excluded", features.attrs["strategy"], len(features),
             features.shape[1], len(exclusions))
    reuse = {config.modelled_strategy: (features, networks)} if config.models.measure == "correlation" else None
    write_denoising_benchmark(group, denoising_benchmark_table(output_dir, config, phenotype, built=reuse), config)
    rows = write_model_suite(features, networks, config, group / "models", client=client, fingerprint=fingerprint,
                              progress=progress)
    excluded_rows = every_run[flagged].drop(columns="qc_excluded").reset_index(drop=True)
    atomic_write_json(group / "confounds.json", confound_checks(features, excluded_rows, networks, config, rows))
    fitted = [r for r in rows if r["status"] == "fitted"]
    if rows and not fitted:
        log.error("no model could be fitted (see %s)", group / "models" / "summary.tsv")
        return 2
    return 0


def write_model_suite(features: pd.DataFrame, networks: dict, config: Config, models_dir: Path, *, client=None,
                      fingerprint: dict | None = None, progress: bool | None = None) -> list[dict]:
    """Fit the configured model suite (:func:`neurokit.models.fit_models`) and write its results.

    Writes ``<models_dir>/<target>/<feature set>/`` (``metrics.json``, ``predictions.tsv``,
    ``permutation_null.tsv``, ``patterns.tsv``, ``patterns_by_class.tsv`` for more than two
    classes, ``model/``), ``longitudinal.json`` (the stage
    model) when participants have several sessions, and ``summary.tsv`` (one row per model,
    with the reason when a model could not be fitted, e.g. a role missing from the phenotype).
    A longitudinal model that cannot be fitted is written with ``"fitted": false`` and its
    reason; it never stops the predictive models' outputs.
    ``p_value_fdr`` (in ``summary.tsv`` and each ``metrics.json``) is the combined
    p-value (``p_value``, by ``p_value_rule``) corrected for the number of fitted models
    (Benjamini-Hochberg); ``p_value_floor`` is the smallest p-value the permutations can
    give, 1 / (n_permutations + 1). Each saved model records ``fingerprint`` (how the
    features were made, see :func:`neurokit.io.participant_fingerprint`), the runs it was fitted on
    and its cross-validated metrics.

    Returns
    -------
    list of dict
        The rows of ``summary.tsv``.
    """
    from neurokit.models import fit_models
    from neurokit.pipelines._progress import Progress

    m = config.models
    progress = Progress(len(m.targets) * len(m.feature_sets), enabled=progress, unit="models")
    try:  # the line is taken down (and the terminal's log handler restored) whatever happens
        suite = fit_models(
            features, networks, targets=m.targets, feature_sets=m.feature_sets,
            longitudinal=m.longitudinal, longitudinal_predictors=("stage",),
            extra_metrics={"denoising_strategy": config.modelled_strategy},
            on_model=partial(_log_model, progress),
            estimator=m.estimator, covariates=m.covariates, confounds=m.confounds,
            harmonize_site=m.harmonize_site,
            edge_selection=m.edge_selection, cpm_threshold=m.cpm_threshold,
            stage_levels=config.columns.stage_levels, control_level=config.columns.control,
            cv_folds=m.cv_folds, cv_repeats=m.cv_repeats, site_out=m.site_out,
            n_permutations=m.n_permutations, random_state=m.random_state, client=client,
            atlas=features.attrs.get("atlas", config.atlas.name), measure=m.measure, config_hash=config.hash(),
        )
    finally:
        progress.close()
    rows = []
    for target in m.targets:
        for feature_set in m.feature_sets:
            row = {"target": target, "feature_set": feature_set}
            if (target, feature_set) in suite.skipped:
                rows.append({**row, "status": "not fitted", "reason": suite.skipped[(target, feature_set)]})
                continue
            result = suite.results[(target, feature_set)]
            _write_model(models_dir / target / feature_set, result, fingerprint)
            rows.append({**row, "status": "fitted", "reason": None, **_summary_fields(result.metrics)})
    if "stage" in suite.longitudinal:
        longitudinal = suite.longitudinal["stage"]
        if not longitudinal.get("fitted"):
            log.warning("longitudinal model (stage): %s", longitudinal.get("message"))
        atomic_write_json(models_dir / "longitudinal.json", longitudinal)
    if "scan_hrv:stage" in suite.longitudinal:  # the scan HRV per session over recovery (docs/physio.md)
        atomic_write_json(models_dir / "longitudinal_scan_hrv.json", suite.longitudinal["scan_hrv:stage"])
    atomic_write_tsv(models_dir / "summary.tsv", pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)))
    _log_suite(rows)
    return rows


#: Columns of ``models/summary.tsv``, one row per configured model (docs/outputs.md describes each).
SUMMARY_COLUMNS = ("target", "feature_set", "status", "reason", "metric", "mean", "sd", "chance",
                   "p_value_permutation", "beyond_confounds_effect_name", "beyond_confounds_effect",
                   "p_value_beyond_confounds", "p_value", "p_value_fdr", "p_value_rule", "p_value_floor", "n_rows")


def _summary_fields(metrics: dict) -> dict:
    """A fitted model's ``summary.tsv`` cells: the score with chance and every test behind its p-value."""
    from neurokit.report._tested import model_tests

    t = model_tests(metrics)
    return {"metric": t.metric, "mean": t.score, "sd": t.sd, "chance": t.chance,
            "p_value_permutation": t.p_permutation, "beyond_confounds_effect_name": t.effect_name,
            "beyond_confounds_effect": t.effect, "p_value_beyond_confounds": t.p_beyond, "p_value": t.p_value,
            "p_value_fdr": t.p_value_fdr, "p_value_rule": t.rule, "p_value_floor": t.p_floor,
            "n_rows": metrics.get("n_rows")}


def _model_line(metrics: dict) -> str:
    """What a model's log line says: score against chance, each test's p-value rounded, and the rule."""
    from neurokit.report._tested import format_p, model_tests

    t = model_tests(metrics)
    text = f"{t.metric} = {_num(t.score)} +/- {_num(t.sd)} (chance {_num(t.chance)})"
    text += f"; permutation {format_p(t.p_permutation, t.p_floor)}"
    if t.p_beyond is not None:
        kind = "" if t.p_beyond_kind == "permutation" else ", parametric"
        text += (f"; beyond confounds {t.effect_ascii} = {_num(t.effect)}, "
                 f"{format_p(t.p_beyond, t.p_floor if not kind else None)}{kind}")
    elif t.beyond_reason:
        text += f"; beyond confounds not tested ({t.beyond_reason})"
    return text + f"; {format_p(t.p_value, t.p_floor)} by {t.rule}"


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _log_model(progress, target: str, feature_set: str, result, reason: str | None) -> None:
    """One model done: its log line and a step of the progress bar."""
    if result is None:
        log.warning("model %s/%s not fitted: %s", target, feature_set, reason)
        progress.update(failed=True)
        return
    log.info("model %s/%s: %s", target, feature_set, _model_line(result.metrics))
    progress.update()


def _log_suite(rows: list[dict]) -> None:
    """The models' FDR-corrected p-values (known once all are fitted), one line each, and the count."""
    from neurokit.report._tested import format_p
    from neurokit.report._verdict import ALPHA

    fitted = [r for r in rows if r.get("status") == "fitted"]
    for r in fitted:
        log.info("model %s/%s: FDR-corrected %s (%s %s, chance %s)", r["target"], r["feature_set"],
                 format_p(r["p_value_fdr"]), r["metric"], _num(r["mean"]), _num(r["chance"]))
    if fitted:
        significant = sum(r["p_value_fdr"] is not None and r["p_value_fdr"] < ALPHA for r in fitted)
        log.info("%d of %d fitted model(s) significant at FDR p < %g (p by %s)", significant, len(fitted), ALPHA,
                 ", ".join(sorted({str(r["p_value_rule"]) for r in fitted})))


def _write_model(folder: Path, result, fingerprint: dict | None) -> None:
    """A fitted model's folder: metrics, predictions, permutation null, patterns and the saved model."""
    from neurokit.models import save_model

    atomic_write_json(folder / "metrics.json", result.metrics)
    atomic_write_tsv(folder / "predictions.tsv", result.predictions)
    atomic_write_tsv(folder / "permutation_null.tsv", result.permutation_null)
    atomic_write_tsv(folder / "patterns.tsv", result.patterns)
    if len(result.class_patterns):  # more than two classes: one-vs-rest patterns per class
        atomic_write_tsv(folder / "patterns_by_class.tsv", result.class_patterns)
    result.model.fingerprint = fingerprint
    result.model.training_runs = _id_rows(result.predictions)
    result.model.cv_metrics = result.metrics
    save_model(result, folder / "model")


def _id_rows(table: pd.DataFrame) -> list[dict]:
    """``participant_id``, ``session_id``, ``run_id`` of each row (None for a missing session)."""
    ids = [c for c in ("participant_id", "session_id", "run_id") if c in table.columns]
    return [{c: (None if pd.isna(v) else str(v)) for c, v in zip(ids, row)} for row in table[ids].itertuples(index=False)]


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
              random_state=m.random_state, measure=m.measure, confounds=m.confounds, **levels)
    for row in fitted:
        if row.get("status") != "fitted":
            continue
        sensitivity.setdefault(row["target"], {})[row["feature_set"]] = sensitivity_analysis(
            features, row["target"], row["feature_set"], networks, excluded_features=excluded[with_matrix],
            covariates=m.covariates, **cv)
    return {
        "covariate_associations": covariate_associations(features, targets=m.targets, covariates=m.confounds,
                                                         **levels),
        "exclusion_bias": exclusion_bias(runs, targets=m.targets, **levels),
        "sensitivity": sensitivity,
        "notes": notes,
    }
