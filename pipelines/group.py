"""Group level: features table from the participant derivatives, then cross-validated models.

Reads what the participant level wrote (never recomputes it), joins the phenotype roles,
applies the exclusion rules with reasons, and writes ``group/features.tsv``; then fits
the configured models and writes ``group/models/<target>/<feature set>/``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neurokit._errors import NeurokitError
from neurokit.config import Config
from neurokit.io._derivatives import (
    atomic_write_json,
    atomic_write_tsv,
    completed_runs,
)

__all__ = ["GroupError", "RunRef", "build_features", "run_group"]

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


def _read_qc(record: dict) -> dict:
    import json

    return json.loads(Path(record["outputs"]["qc"]).read_text())


def build_features(output_dir: str | Path, config: Config, phenotype: pd.DataFrame | None = None):
    """Assemble the group features table from the participant-level derivatives.

    Parameters
    ----------
    output_dir : str or Path
        The participant-level derivative dataset.
    config : Config
        Resolved configuration (``models.measure`` chooses the matrices).
    phenotype : pandas.DataFrame, optional
        From :func:`neurokit.io.load_phenotype`; None leaves the roles missing.

    Returns
    -------
    features : pandas.DataFrame, shape (n_included_runs, n_columns)
        ``participant_id, session_id, run_id``, the roles, QC (``mean_fd``,
        ``percent_censored``, ``tdof_remaining``), summary indices ``idx_*`` and Fisher-z
        edges ``edge__<A>--<B>`` (for ``tangent``, vectorised covariances ``cov__<A>--<B>``).
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
    records = _select_records(records, config, output_dir)
    measure = config.models.measure
    rows, excluded = [], []
    for record in records:
        if record.get("status") != "ok":
            excluded.append({"run_id": record["run_id"], "reason": "; ".join(record.get("reasons", [])) or "excluded"})
            continue
        qc = _read_qc(record)
        matrix_table = pd.read_csv(_relmat_path(record, measure), sep="\t")
        names = list(matrix_table.columns)
        matrix = matrix_table.to_numpy(dtype=float)
        if measure == "tangent":
            values, edges = vectorize(matrix, names, include_diagonal=True)
            prefix = "cov__"
        else:
            values, edges = vectorize(fisher_z(matrix), names)
            prefix = "edge__"
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
        rows.append(row)
    if not rows:
        raise GroupError(
            f"every completed run in {output_dir} was excluded by the QC rules (see failures.tsv); "
            "relax exclusion.max_mean_fd / exclusion.max_censored_fraction or add data."
        )
    features = pd.DataFrame(rows)
    edge_cols = [c for c in features.columns if c.startswith(("edge__", "cov__"))]
    incomplete = [c for c in edge_cols if features[c].isna().any()]
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
        features = features.merge(pheno, on="run_id", how="left", suffixes=("", "_phenotype"))
        front = ["participant_id", "session_id", "run_id"]
        roles = [c for c in pheno.columns if c != "run_id"]
        rest = [c for c in features.columns if c not in front and c not in roles]
        features = features[front + roles + rest]
        features.attrs["unmatched_runs"] = unmatched
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
    features, exclusions, networks = build_features(output_dir, config, phenotype)
    atomic_write_tsv(group / "features.tsv", features)
    atomic_write_json(
        group / "features.json",
        {
            "Measure": config.models.measure,
            "Networks": networks,
            "DroppedEdges": features.attrs.get("dropped_edges", []),
            "UnmatchedRuns": features.attrs.get("unmatched_runs", []),
            "MissingRoles": list(phenotype.attrs.get("missing_roles", [])),
            "ConfigHash": config.hash(),
        },
    )
    atomic_write_tsv(group / "exclusions.tsv", exclusions)
    log.info("features: %d runs x %d columns; %d run(s) excluded", len(features), features.shape[1], len(exclusions))
    rows = fit_models(features, networks, config, group / "models", client=client)
    fitted = [r for r in rows if r["status"] == "fitted"]
    if rows and not fitted:
        log.error("no model could be fitted (see %s)", group / "models" / "summary.tsv")
        return 2
    return 0


def fit_models(features: pd.DataFrame, networks: dict, config: Config, models_dir: Path, *, client=None) -> list[dict]:
    """Cross-validate every configured target x feature set and write their results.

    Writes ``<models_dir>/<target>/<feature set>/`` (``metrics.json``, ``predictions.tsv``,
    ``permutation_null.tsv``, ``patterns.tsv``, ``model/``), ``longitudinal.json`` when
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
            atomic_write_json(folder / "metrics.json", result.metrics)  # rewritten with p_value_fdr at the end
            atomic_write_tsv(folder / "predictions.tsv", result.predictions)
            atomic_write_tsv(folder / "permutation_null.tsv", result.permutation_null)
            atomic_write_tsv(folder / "patterns.tsv", result.patterns)
            save_model(result, folder / "model")
            primary = result.metrics.get("primary_metric")
            score = result.metrics.get("scores", {}).get(primary, {})
            rows.append({**row, "status": "fitted", "reason": None, "metric": primary,
                         "mean": score.get("mean"), "sd": score.get("sd"), "p_value": score.get("p_value"),
                         "p_value_floor": result.metrics.get("p_value_floor"), "n_rows": result.metrics.get("n_rows")})
            written.append((folder, result.metrics, rows[-1]))
            log.info("model %s/%s: %s = %.3f +/- %.3f (permutation p = %s, floor %s)", target, feature_set, primary,
                     score.get("mean", float("nan")), score.get("sd", float("nan")), score.get("p_value"),
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
