"""Group report ``OUTPUT_DIR/group/group.html``: inclusion flow, motion, QC-FC, denoising benchmark, connectivity
by stage, models.

Renders whatever the group level has written so far; a missing part (no models yet, no
phenotype) becomes a visible note instead of an error.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from neurokit._version import __version__
from neurokit.connectivity import EDGE_PREFIX
from neurokit.report import _figures as F
from neurokit.report._common import (
    Figure,
    Grid,
    KeyValue,
    Link,
    Note,
    Section,
    Table,
    Text,
    first_sidecar,
    fmt,
    load_atlas,
    load_phenotype_table,
    no_runs_error,
    open_output_dir,
    read_json,
    read_tsv,
    records_space_note,
    render,
    report_name,
    slug,
)
from neurokit.report._denoising import denoising_section
from neurokit.report._confounds import beyond_confounds_block, beyond_confounds_cell, confounds_section
from neurokit.report._methods import methods_text
from neurokit.report._physio import group_physio_section
from neurokit.report._planted import planted_section
from neurokit.report._tested import chance_level, format_p, model_tests
from neurokit.report._verdict import ALPHA, verdict_section

__all__ = ["write_group_report"]

log = logging.getLogger("neurokit.report")


# ----------------------------------------------------------------------------- inputs
def _run_table(records: list[dict], failures: pd.DataFrame, features: pd.DataFrame | None,
               phenotype: pd.DataFrame | None, strategy: str | None = None) -> pd.DataFrame:
    """One row per run found: ids, status, reason, QC (of ``strategy``, default the modelled one at the
    participant level), stage and site."""
    from neurokit.report._participant import _entities_of_failure

    from neurokit.io import RunQC, RunRecord

    rows = []
    for data in records:
        r = RunRecord.from_dict(data)
        r = r.for_strategy(strategy) or r if strategy else r  # as the modelled strategy saw the run
        qc_path = r.outputs.get("qc")
        qc = ((RunQC.read(qc_path) if qc_path else None) or RunQC()).for_strategy(strategy)
        ent = r.entities
        rows.append({"run_id": r.run_id, "subject": str(ent.get("sub")), "session": ent.get("ses"),
                     "status": r.status, "reason": "; ".join(r.reasons or []),
                     "mean_fd": r.mean_fd if qc.mean_fd is None else qc.mean_fd,
                     "percent_censored": qc.percent_censored, "tdof_remaining": qc.tdof_remaining,
                     "stage_failed": "",
                     "rules": [f"{c.get('rule')} (limit {fmt(c.get('limit'))}, {c.get('key')})"
                               for c in qc.exclusion_checks or [] if c.get("passed") is False]})
    known = {r["run_id"] for r in records}
    for _, f in failures.iterrows():
        if f.get("status") != "failed" or f.get("run_id") in known:
            continue
        ent = _entities_of_failure(f)
        rows.append({"run_id": str(f["run_id"]), "subject": ent.get("sub"), "session": ent.get("ses"),
                     "status": "failed", "reason": f"{fmt(f.get('error_type'))} in {fmt(f.get('stage'))}: "
                                                   f"{fmt(f.get('message'))}",
                     "mean_fd": None, "percent_censored": None, "tdof_remaining": None,
                     "stage_failed": fmt(f.get("stage")), "rules": []})
    table = pd.DataFrame(rows, columns=["run_id", "subject", "session", "status", "reason", "mean_fd",
                                        "percent_censored", "tdof_remaining", "stage_failed", "rules"])
    table["stage"], table["site"] = None, None
    if features is not None and "run_id" in features:  # only the few id/role columns, not the edges
        features = features[[c for c in ("run_id", "stage", "site") if c in features]]
    for i, row in table.iterrows():
        source = None
        if features is not None and "run_id" in features and (features["run_id"] == row["run_id"]).any():
            source = features[features["run_id"] == row["run_id"]].iloc[0]
        elif phenotype is not None:
            pid = f"sub-{row['subject']}"
            sid = f"ses-{row['session']}" if isinstance(row["session"], str) else None
            sel = phenotype[(phenotype["participant_id"] == pid)
                            & ((phenotype["session_id"] == sid) if sid else phenotype["session_id"].isna())]
            if sel.empty:
                sel = phenotype[(phenotype["participant_id"] == pid) & phenotype["session_id"].isna()]
            source = sel.iloc[0] if len(sel) else None
        if source is not None:
            for col in ("stage", "site"):
                if col in source.index and not pd.isna(source[col]):
                    table.at[i, col] = str(source[col])
    return table.sort_values("run_id", kind="stable").reset_index(drop=True)


def _edge_columns(features: pd.DataFrame) -> list[str]:
    return [c for c in features.columns if c.startswith(EDGE_PREFIX)]


def _edge_pairs(columns, names: list[str]) -> list[tuple[str, str] | None]:
    """Region pair of each ``edge__A--B`` column (names may themselves contain '--')."""
    known = {f"{a}--{b}": (a, b) for a in names for b in names if a != b}
    pairs = []
    for column in columns:
        rest = column[len(EDGE_PREFIX):] if column.startswith(EDGE_PREFIX) else column
        a, sep, b = rest.partition("--")
        pairs.append(known.get(rest, (a, b) if sep else None))
    return pairs


def _edges_to_matrix(values: dict[str, float], names: list[str]) -> np.ndarray:
    index = {n: i for i, n in enumerate(names)}
    m = np.full((len(names), len(names)), np.nan)
    for (col, v), pair in zip(values.items(), _edge_pairs(values, names)):
        if pair and pair[0] in index and pair[1] in index:
            m[index[pair[0]], index[pair[1]]] = m[index[pair[1]], index[pair[0]]] = v
    return m


# ----------------------------------------------------------------------------- sections
def _flow_section(runs: pd.DataFrame, features: pd.DataFrame | None) -> tuple[Section, Figure]:
    n_found = len(runs)
    n_failed = int((runs["status"] == "failed").sum())
    n_excluded = int((runs["status"] == "excluded").sum())
    n_ok = int((runs["status"] == "ok").sum())
    steps = [("found", n_found), ("processed", n_found - n_failed), ("passed QC", n_ok)]
    if features is not None:
        steps.append(("in features table", len(features)))
    blocks: list = [Note(f"{n_found} runs found, {n_failed} failed, {n_excluded} excluded by the QC rules, "
                         f"{n_ok} included.")]
    failed = runs[runs["status"] == "failed"]
    if len(failed):
        blocks.append(Table(["run", "stage", "what went wrong"],
                            [[r.run_id, r.stage_failed, r.reason] for r in failed.itertuples()],
                            caption="Failed runs (from failures.tsv)", row_classes=["failed"] * len(failed)))
    excluded = runs[runs["status"] == "excluded"]
    if len(excluded):
        counts = excluded["reason"].str.split("; ").explode().value_counts()
        blocks.append(Table(["reason", "runs"], [[k, int(v)] for k, v in counts.items()],
                            caption="Exclusion reasons"))
        blocks.append(Table(["run", "mean FD (mm)", "% censored", "reason"],
                            [[r.run_id, fmt(r.mean_fd), fmt(r.percent_censored), r.reason]
                             for r in excluded.itertuples()], caption="Excluded runs",
                            row_classes=["excluded"] * len(excluded)))
    if not len(failed) and not len(excluded):
        blocks.append(Note("No run failed and none was excluded."))
    figure = Figure(F.to_data_uri(F.plot_inclusion_flow(steps)), "Inclusion flow",
                    "Runs remaining at each step: found, processed without error, passing the QC rules, modelled.")
    return Section("flow", "Inclusion flow", blocks), figure


def _participants_section(runs: pd.DataFrame, phenotype: pd.DataFrame | None) -> Section:
    rows, classes = [], []
    for r in runs.itertuples():
        name = report_name(r.subject) if isinstance(r.subject, str) and r.subject else None
        link = Link(f"sub-{r.subject}", f"../{name}") if name else fmt(None)
        rows.append([link, fmt(r.session), r.run_id, r.status, fmt(r.stage), fmt(r.site), fmt(r.mean_fd),
                     fmt(r.percent_censored), fmt(r.tdof_remaining)])
        classes.append("" if r.status == "ok" else r.status)
    blocks: list = [Table(["participant (report)", "session", "run", "status", "stage", "site", "mean FD (mm)",
                           "% censored", "tDOF left"], rows, row_classes=classes)]
    if phenotype is not None:
        with_runs = {f"sub-{s}" for s in runs["subject"].dropna()}
        orphans = sorted(set(phenotype["participant_id"]) - with_runs)
        if orphans:
            blocks.append(Note(f"{len(orphans)} participant(s) in the phenotype files have no processed run: "
                               + ", ".join(orphans), "warn"))
    return Section("participants", "Participants and runs", blocks)


def _motion_section(runs: pd.DataFrame, config) -> Section:
    usable = runs[runs["status"] != "failed"]
    if usable.empty or usable["mean_fd"].isna().all():
        return Section("motion", "Head motion", [Note("No run has a mean FD to show.", "warn")])
    groupings = {"stage": usable["stage"].tolist(), "site": usable["site"].tolist()}
    orders = {"stage": list(config.columns.stage_levels)}
    blocks = [Figure(F.to_data_uri(F.plot_motion_distributions(
        usable["mean_fd"].to_numpy(float), groupings, threshold=config.exclusion.max_mean_fd, orders=orders)),
        "Mean framewise displacement by stage and site",
        f"Mean FD of the {len(usable)} processed runs (included and excluded) by recovery stage and site"
        + (f"; dashed: the exclusion limit ({config.exclusion.max_mean_fd:g} mm, exclusion.max_mean_fd)."
           if config.exclusion.max_mean_fd is not None else "; no mean-FD exclusion limit is set "
                                                           "(exclusion.max_mean_fd: null)."))]
    if usable["percent_censored"].fillna(0).gt(0).any():
        blocks.append(Figure(F.to_data_uri(F.plot_motion_distributions(
            usable["percent_censored"].to_numpy(float), groupings, label="% volumes censored", orders=orders)),
            "Percentage of censored volumes by stage and site", "Censored volumes per run, by stage and site."))
    if usable["stage"].isna().all():
        blocks.append(Note("No stage or site values: pass the BIDS directory or run the group level first."))
    return Section("motion", "Head motion", blocks)


#: Runs further than this many robust standard deviations (1.4826 MAD) from the group's median
#: index are listed; about 3 in 1,000 runs of a normal distribution would be.
INDEX_OUTLIER_SD = 3.0


def _indices_section(records: list[dict]) -> Section:
    """Each included run's prefrontal-limbic summary indices against the group's.

    Participant reports are rendered as soon as a participant's runs are done, before the group
    is known, so the comparison with the group lives here, drawn from every included run.
    """
    from neurokit.report._participant import INDEX_LABELS

    title = "Prefrontal-limbic summary indices"
    ok = [r for r in records if r.get("status") == "ok" and r.get("summary")]
    if not ok:
        return Section("indices", title, [Note("No included run has summary indices (no connectivity yet, or the "
                                               "atlas tags no prefrontal and limbic regions).", "warn")])
    values = {k: np.array([r["summary"].get(k, np.nan) for r in ok], dtype=float) for k in INDEX_LABELS}
    fig = F.plot_indices_vs_group({INDEX_LABELS[k]: None for k in values},
                                  {INDEX_LABELS[k]: v for k, v in values.items()}, reference="included runs")
    rows = []
    for k, v in values.items():
        median = np.nanmedian(v)
        spread = 1.4826 * np.nanmedian(np.abs(v - median))
        if not spread > 0:
            continue
        for r, x in zip(ok, v):
            z = (x - median) / spread
            if abs(z) > INDEX_OUTLIER_SD:
                subject = str(r.get("entities", {}).get("sub"))
                rows.append([Link(f"sub-{subject}", f"../{report_name(subject)}"), r["run_id"], INDEX_LABELS[k],
                             fmt(x), fmt(median), fmt(z)])
    blocks: list = [Figure(F.to_data_uri(fig), "Summary indices of the included runs",
                           f"Mean Fisher z within and between networks of each of the {len(ok)} included runs.")]
    blocks.append(Table(["participant (report)", "run", "index", "Fisher z", "group median", "robust z"], rows,
                        caption=f"Runs more than {INDEX_OUTLIER_SD:g} robust standard deviations (1.4826 MAD) "
                                "from the group median")
                  if rows else Note(f"No run is more than {INDEX_OUTLIER_SD:g} robust standard deviations "
                                    "(1.4826 MAD) from the group median of any index."))
    return Section("indices", title, blocks)


def _qcfc_section(features: pd.DataFrame | None, names: list[str], atlas, config) -> Section:
    from neurokit.qc import QCError, qc_fc, qc_fc_distance_dependence, qc_fc_summary, region_distances

    title = f"QC-FC ({config.modelled_strategy})"
    if features is None:
        return Section("qcfc", title, [Note("group/features.tsv does not exist yet; run the group level.", "warn")])
    cols = _edge_columns(features)
    if not cols or "mean_fd" not in features:
        return Section("qcfc", title, [Note("No Fisher-z edges in the features table (measure "
                                            f"{config.models.measure!r}); QC-FC needs correlation edges.", "warn")])
    edges = features[cols].to_numpy(float)  # numpy, not pandas: tens of thousands of columns
    fd = features["mean_fd"].to_numpy(float)
    keep = np.isfinite(fd) & np.isfinite(edges).all(axis=1)
    try:
        qcfc, p = qc_fc(edges[keep], fd[keep], return_pvalues=True)
        summary = qc_fc_summary(qcfc, p)
    except QCError as exc:
        return Section("qcfc", title, [Note(f"QC-FC not computed: {exc}", "warn")])
    distances = rho = None
    if atlas is not None:
        coords = atlas.regions.set_index("name")[["x", "y", "z"]]
        if all(n in coords.index for n in names) and coords.loc[names].notna().all().all():
            d = region_distances(coords.loc[names].to_numpy(float))
            rows, cols_ = np.triu_indices(len(names), k=1)
            lookup = {(names[i], names[j]): v for i, j, v in zip(rows, cols_, d)}
            pairs = _edge_pairs(cols, names)
            distances = np.array([lookup.get(pr, lookup.get(pr[::-1], np.nan)) if pr else np.nan for pr in pairs])
            if np.isfinite(distances).all():
                try:
                    rho = qc_fc_distance_dependence(qcfc, distances)
                except QCError:
                    rho = None
            else:
                distances = None
    items = [("Runs", int(keep.sum())), ("Edges", summary["n_edges"]),
             ("Median |QC-FC|", fmt(summary["median_abs_qcfc"])),
             ("Edges with p < 0.05 (uncorrected)", f"{fmt(summary['percent_significant'])}%"),
             ("Distance dependence (Spearman rho)", fmt(rho))]
    blocks: list = [KeyValue(items), Figure(F.to_data_uri(F.plot_qcfc(qcfc, distances, rho=rho)),
                                            "QC-FC distribution and distance dependence",
                                            "Correlation across runs of each edge's Fisher z with mean FD (left) and "
                                            "against the distance between the two regions (right). Near-zero "
                                            "values and no distance trend mean residual motion is small.")]
    if distances is None:
        blocks.append(Note("Distance dependence not shown: region coordinates are not available for this atlas."))
    if keep.sum() < 20:
        blocks.append(Note(f"Only {int(keep.sum())} runs: QC-FC estimates are noisy at this size."))
    return Section("qcfc", title, blocks)


def _stage_section(features: pd.DataFrame | None, names: list[str], networks: list[str], config) -> Section:
    title = "Connectivity by stage"
    if features is None or "stage" not in features or features["stage"].isna().all():
        return Section("stages", title, [Note("No stage labels in the features table; connectivity by stage needs "
                                              "the phenotype's stage column.", "warn")])
    cols = _edge_columns(features)
    if not cols:
        return Section("stages", title, [Note("No Fisher-z edges in the features table.", "warn")])
    levels = [lv for lv in config.columns.stage_levels if (features["stage"] == lv).any()]
    levels += sorted(set(features["stage"].dropna().astype(str)) - set(levels))
    means, counts = {}, {}
    edges = features[cols].to_numpy(float)
    stage = features["stage"].astype(str).to_numpy()
    for lv in levels:
        rows = stage == lv
        counts[lv] = int(rows.sum())
        means[lv] = _edges_to_matrix(dict(zip(cols, np.nanmean(edges[rows], axis=0))), names)
    blocks: list = [Figure(F.to_data_uri(F.plot_matrices({f"{lv} (n={counts[lv]})": m for lv, m in means.items()},
                                                         names, networks)),
                           "Mean connectivity per stage",
                           "Mean Fisher z (z = artanh r of each edge's correlation) per recovery stage; rows and "
                           "columns grouped by network (named, with their region counts); green outlines: "
                           "prefrontal-limbic blocks.")]
    control = config.columns.control
    if control in means and len(means) > 1:
        diffs = {f"{lv} - {control}": means[lv] - means[control] for lv in means if lv != control}
        blocks.append(Figure(F.to_data_uri(F.plot_matrices(diffs, names, networks, label="difference in Fisher z")),
                             "Difference from controls",
                             f"Mean Fisher z of each stage minus that of {control} (red: stronger than controls); "
                             "networks as above."))
    else:
        blocks.append(Note(f"No runs of the control stage {control!r}: differences from controls not shown."))
    return Section("stages", title, blocks)


def _p_floor(metrics: dict) -> str:
    """The smallest p-value the model's permutations can give, as text."""
    n = metrics.get("n_permutations")
    return f"1/({n}+1) = {fmt(1 / (n + 1))}" if n else "n/a (no permutations)"


def _scores_table(metrics: dict) -> Table:
    rows = []
    for name, s in (metrics.get("scores") or {}).items():
        null95 = s.get("null_95")
        rows.append([name + (" (primary)" if name == metrics.get("primary_metric") else ""), fmt(s.get("mean")),
                     fmt(s.get("sd")), fmt(chance_level(metrics, name)), fmt(s.get("p_value")),
                     fmt(s.get("null_mean")), f"{fmt(null95[0])} to {fmt(null95[1])}" if null95 else "n/a"])
    return Table(["metric", "mean", "SD over repeats", "chance", "permutation p", "null mean", "null 95%"], rows,
                 caption="Cross-validated scores beside chance (what predictions unrelated to the target score), "
                         "and the permutation test of each score (the whole pipeline refitted on permuted "
                         "targets); null mean and 95% describe that permutation null. Permutation p-values cannot "
                         f"fall below {_p_floor(metrics)}.")


def _tests_items(metrics: dict) -> list[tuple[str, str]]:
    """The model's score against chance, each test behind its p-value, the rule and the correction."""
    t = model_tests(metrics)
    null = f"; permutation null mean {fmt(t.null_mean)}" if t.null_mean is not None else ""
    items = [("Score", f"{fmt(t.metric)} {fmt(t.score)} ± {fmt(t.sd)} (chance {fmt(t.chance)}{null})"),
             ("Permutation test", f"{format_p(t.p_permutation, t.p_floor)}; smallest possible {_p_floor(metrics)}")]
    if t.p_beyond is not None:
        kind = "permutation" if t.p_beyond_kind == "permutation" else "parametric (optimistic)"
        items.append(("Beyond the confounds", f"{t.effect_label} {fmt(t.effect)}, {kind} "
                                              f"{format_p(t.p_beyond, t.p_floor if kind == 'permutation' else None)}"
                                              " (details below)"))
    else:
        items.append(("Beyond the confounds", f"not tested ({fmt(t.beyond_reason)})"))
    items += [("p", f"{fmt(t.p_value)}, by the rule {t.rule}. {t.rule_text}"),
              ("FDR across models", f"{fmt(t.p_value_fdr)} (Benjamini-Hochberg over the fitted models)")]
    return items


def _pattern_meaning(metrics: dict, target: str) -> tuple[str, str, bool, str]:
    """(units of the pattern values, what red means, per-class, the output's name) for a model's kind and classes."""
    kind = metrics.get("kind") or ("classification" if metrics.get("classes") else "regression")
    classes = [str(c) for c in metrics.get("classes") or []]
    if kind == "regression":
        output = f"the predicted {target}"
        red = f"red: a higher feature value goes with a higher predicted {target}"
    elif len(classes) <= 2:
        positive = classes[-1] if classes else "the second class"
        output = f"the predicted probability of '{positive}'"
        red = f"red: a higher feature value goes with a higher predicted probability of '{positive}'"
    else:
        output = "the predicted probability of the class (one vs rest)"
        red = ("red: a higher feature value goes with a higher predicted probability of that class against all "
               "the others")
    unit = (f"relative activation patterns (the covariance of each standardised feature with {output}, divided "
            "by the output's variance, over the largest mean |pattern| of the model's features, so the strongest "
            "feature is ±1; a pattern's own scale is that of the output, and near-constant outputs give patterns "
            "of hundreds)")
    return unit, red, kind == "classification" and len(classes) > 2, output.replace("the predicted ", "predicted ")


#: Axis and colour-bar label of a pattern shown relative to its strongest feature.
_RELATIVE = "pattern, relative to the strongest feature"


def _relative_patterns(feats: pd.DataFrame, class_col: pd.Series) -> tuple[pd.DataFrame, dict[str, float]]:
    """Patterns (``mean``, ``sd``, ``abs_mean``) over the largest mean |pattern|: of the model's single
    pattern, and one shared scale for its per-class patterns (so classes stay comparable); the scales."""
    feats = feats.copy()
    scales = {}
    columns = [c for c in ("mean", "sd", "abs_mean") if c in feats]
    for group, rows in (("overall", class_col == ""), ("per class", class_col != "")):
        if not rows.any():
            continue
        top = float(np.nanmax(np.abs(feats.loc[rows, "mean"].to_numpy(float)))) if rows.any() else np.nan
        if np.isfinite(top) and top > 0:
            feats.loc[rows, columns] = feats.loc[rows, columns].astype(float) / top
            scales[group] = top
    return feats, scales


def _scale_text(scales: dict[str, float], output: str) -> str:
    if not scales:
        return ""
    return " 1 on this scale is " + "; ".join(
        f"{fmt(v)} feature SDs per unit of {output}" + ("" if len(scales) == 1 else f" ({k})")
        for k, v in scales.items()) + "."


_STABILITY = ("Stability over the cross-validation fits: 'same sign' is the fraction of fits whose pattern has "
              "the sign of the mean; a feature whose sign flips between fits should not be interpreted.")


def _edge_pattern_blocks(edges: pd.DataFrame, names, networks, atlas, top: int, label: str, unit: str, red: str,
                         by_class: dict | None) -> list:
    blocks: list = []
    edge_unit = unit.replace("standardised feature", "standardised Fisher-z edge")
    if by_class:  # one-vs-rest: one matrix per class on a shared scale
        mats = {f"{c} vs rest": _edges_to_matrix(dict(zip(e["name"], e["mean"])), names) for c, e in by_class.items()}
        values = np.concatenate([np.abs(m[np.isfinite(m)]) for m in mats.values()])
        vmax = float(np.percentile(values, 99)) if values.size else 1.0
        blocks.append(Figure(F.to_data_uri(F.plot_matrices(mats, names, networks, vmax=vmax or 1.0,
                                                           label=_RELATIVE)),
                             f"Pattern weights per class, {label}",
                             "One-vs-rest patterns, mean over cross-validation fits, one matrix per class "
                             f"({red}); colour scale clipped at the 99th percentile of |weight|; blank: edge "
                             f"not in the feature set. Values: {edge_unit} " + _STABILITY))
        rows = [[c, r.name[len(EDGE_PREFIX):], fmt(r.mean), fmt(getattr(r, "sd", None)),
                 fmt(getattr(r, "sign_consistency", None))] for c, e in by_class.items() for r in e.head(3).itertuples()]
        blocks.append(Table(["class (vs rest)", "edge", "relative weight", "SD over fits", "same sign"], rows,
                            caption="Strongest edges of each class's pattern (ranked by mean absolute weight)"))
        return blocks
    matrix = _edges_to_matrix(dict(zip(edges["name"], edges["mean"])), names)
    vmax = float(np.nanmax(np.abs(matrix))) if np.isfinite(matrix).any() else 1.0
    blocks.append(Figure(F.to_data_uri(F.plot_matrix(matrix, names, networks, vmax=vmax or 1.0,
                                                     label=_RELATIVE,
                                                     title="all edges")),
                         f"Pattern weights region by region, {label}",
                         f"Mean over cross-validation fits, for every edge ({red}); blank: edge not in the feature "
                         f"set. Values: {edge_unit}"))
    if atlas is not None:
        coords = atlas.regions.set_index("name")[["x", "y", "z"]]
        if all(n in coords.index for n in names) and coords.loc[names].notna().all().all():
            strongest = edges.head(top)
            shown = np.nan_to_num(_edges_to_matrix(dict(zip(strongest["name"], strongest["mean"])), names))
            blocks.append(Figure(F.to_data_uri(F.plot_pattern_connectome(shown, coords.loc[names].to_numpy(float))),
                                 f"Top {len(strongest)} pattern edges on a glass brain, {label}",
                                 f"The {len(strongest)} edges with the largest mean absolute pattern weight ({red})."))
    rows = [[r.name[len(EDGE_PREFIX):], fmt(r.mean), fmt(getattr(r, "sd", None)),
             fmt(getattr(r, "sign_consistency", None))] for r in edges.head(10).itertuples()]
    blocks.append(Table(["edge", "relative weight", "SD over fits", "same sign"], rows,
                        caption="Strongest edges (ranked by mean absolute weight over fits). " + _STABILITY))
    return blocks


def _bars_block(others: pd.DataFrame, title: str | None):
    errors = others["sd"].to_numpy(float) if "sd" in others else None
    consistency = others["sign_consistency"].to_numpy(float) if "sign_consistency" in others else None
    return F.plot_pattern_bars(others["name"].tolist(), others["mean"].to_numpy(float), errors,
                               consistency=consistency, title=title, unit=_RELATIVE)


def _read_patterns(folder: Path) -> pd.DataFrame | None:
    """``patterns.tsv`` (``class`` '') followed by ``patterns_by_class.tsv`` (one-vs-rest, per class) when present."""
    patterns = read_tsv(folder / "patterns.tsv")
    by_class = read_tsv(folder / "patterns_by_class.tsv")
    if patterns is None or by_class is None or "class" not in by_class:
        return patterns
    return pd.concat([patterns.assign(**{"class": ""}), by_class.assign(**{"class": by_class["class"].astype(str)})],
                     ignore_index=True)


def _pattern_blocks(patterns: pd.DataFrame | None, names: list[str], networks: list[str], atlas, top: int,
                    label: str, metrics: dict | None = None) -> list:
    """Activation patterns of one model: units stated, one-vs-rest per class for a multi-class model,
    stability (sign consistency over fits, SD clipped) shown with them."""
    if patterns is None or patterns.empty:
        return [Note("No patterns.tsv for this model.")]
    if "mean" not in patterns or "name" not in patterns:
        return [Note("patterns.tsv has no 'name' and 'mean' columns; not shown.", "warn")]
    metrics = metrics or {}
    unit, red, multiclass, output = _pattern_meaning(metrics, label.split(" / ")[0])
    feats = patterns[patterns["level"] == "feature"] if "level" in patterns else patterns
    strength = feats["abs_mean"] if "abs_mean" in feats else feats["mean"].abs()
    feats = feats.assign(_s=strength.to_numpy()).sort_values("_s", ascending=False)
    class_col = feats["class"].fillna("").astype(str) if "class" in feats else pd.Series("", index=feats.index)
    feats, scales = _relative_patterns(feats, class_col)
    scales = {k: v for k, v in scales.items() if (k == "per class") == multiclass}  # the pattern(s) shown
    unit += "." + _scale_text(scales, output)
    present = set(class_col) - {""}
    order = [str(c) for c in metrics.get("classes") or [] if str(c) in present] + sorted(
        present - {str(c) for c in metrics.get("classes") or []})  # the target's class order
    by_class = {c: feats[class_col == c] for c in order} if multiclass else {}
    overall = feats[class_col == ""]
    blocks: list = []
    if multiclass and not by_class:
        blocks.append(Note("This model has more than two unordered classes but no patterns_by_class.tsv (one-vs-"
                           "rest patterns; written by an older neurokit); its single pattern follows the "
                           "expected class index, which has no meaning for unordered classes, so it is not "
                           "shown. Refit with this version to see one pattern per class.", "warn"))
        return blocks
    is_edge = overall["name"].astype(str).str.startswith(EDGE_PREFIX)
    edge_by_class = {c: f[f["name"].astype(str).str.startswith(EDGE_PREFIX)] for c, f in by_class.items()}
    if is_edge.any() and names:
        blocks += _edge_pattern_blocks(overall[is_edge], names, networks, atlas, top, label, unit, red,
                                       {c: e for c, e in edge_by_class.items() if len(e)} or None)
    bar_caption = (f"Values: {unit} Mean over cross-validation fits ({red}). Error bars: SD over "
                   "fits on the same scale, clipped at 1.5 x the largest bar (a clipped bar ends in triangles); "
                   "right: fraction of fits with the same sign. " + _STABILITY)
    if by_class:
        figures = [Figure(F.to_data_uri(_bars_block(f[~f["name"].astype(str).str.startswith(EDGE_PREFIX)].head(15),
                                                    f"{c} vs rest")),
                          f"Pattern weights of non-edge features, {label}, {c} vs rest")
                   for c, f in by_class.items() if (~f["name"].astype(str).str.startswith(EDGE_PREFIX)).any()]
        if figures:
            blocks += [Grid(figures), Note("Per-class patterns (one vs rest): " + bar_caption)]
    else:
        others = overall[~is_edge].head(15)
        if len(others):
            blocks.append(Figure(F.to_data_uri(_bars_block(others, None)),
                                 f"Pattern weights of non-edge features, {label}", bar_caption))
    return blocks or [Note("patterns.tsv has no feature rows.")]


def _null_block(folder: Path, metrics: dict) -> Figure | Note:
    null = read_tsv(folder / "permutation_null.tsv")
    if null is None or null.empty:
        return Note("No permutation null for this model.")
    metric = metrics.get("primary_metric")
    col = metric if metric in null else ("score" if "score" in null else null.select_dtypes("number").columns[0])
    scores = metrics.get("scores") or {}
    observed = (scores.get(col) or {}).get("mean", metrics.get("score"))
    p = (scores.get(col) or {}).get("p_value")
    if p is None and col == metric:
        p = model_tests(metrics).p_permutation
    chance = chance_level(metrics, col)
    return Figure(F.to_data_uri(F.plot_null(null[col].to_numpy(float), observed, metric=col, chance=chance)),
                  f"Permutation null of {col}",
                  f"{len(null)} permutations of the whole pipeline (grey), the observed {col} {fmt(observed)} (red)"
                  + (f" and chance {fmt(chance)} (dotted)" if chance is not None else "")
                  + f"; permutation p = {fmt(p)} (floor {_p_floor(metrics)}). The model's p-value also needs the "
                    "test beyond the confounds (above).")


def _model_section(folder: Path, metrics: dict, names, networks, atlas, config, index: int) -> Section:
    target = str(metrics.get("target") or folder.parent.name)
    feature_set = str(metrics.get("feature_set") or folder.name)
    kind = metrics.get("kind") or ("classification" if metrics.get("classes") else "regression")
    blocks: list = [KeyValue([
        ("Estimator", fmt(metrics.get("estimator"))), ("Rows / participants",
                                                       f"{fmt(metrics.get('n_rows'))} / {fmt(metrics.get('n_participants'))}"),
        ("Features", fmt(metrics.get("n_features"))), ("Covariates", fmt(metrics.get("covariates"))),
        ("Cross-validation", fmt(" ".join(f"{k}={v}" for k, v in (metrics.get("cv") or {}).items()) or None)),
        *_tests_items(metrics),
    ]), _scores_table(metrics), beyond_confounds_block(metrics)]
    for note in metrics.get("notes") or []:
        blocks.append(Note(str(note)))
    excluded = metrics.get("excluded") or {}
    if excluded:
        blocks.append(Note("Rows left out: " + "; ".join(f"{k}: {fmt(v)}" for k, v in excluded.items())))
    preds = read_tsv(folder / "predictions.tsv")
    figures: list = []
    if preds is None:
        figures.append(Note("No predictions.tsv for this model."))
    else:
        y_true = next((c for c in ("y_true", "observed") if c in preds), None)
        y_pred = next((c for c in ("y_pred", "predicted") if c in preds), None)
        if kind == "classification":
            classes = [str(c) for c in metrics.get("classes") or []] or \
                [c[len("proba_"):] for c in preds.columns if c.startswith("proba_")]
            proba_cols = [f"proba_{c}" for c in classes]
            if y_true and all(c in preds for c in proba_cols):
                auc = ((metrics.get("scores") or {}).get("roc_auc") or {}).get("mean")
                figures.append(Figure(F.to_data_uri(F.plot_roc(preds[y_true].astype(str), preds[proba_cols].to_numpy(float),
                                                               classes)),
                                      f"ROC curves, {target} / {feature_set}",
                                      "One-vs-rest ROC curves of the out-of-fold probabilities; dotted diagonal: "
                                      f"chance (AUC {fmt(chance_level(metrics, 'roc_auc'))})"
                                      + (f"; cross-validated ROC AUC {fmt(auc)}." if auc is not None else ".")))
            cm = metrics.get("confusion_matrix")
            if isinstance(cm, dict) and cm.get("matrix") is not None:
                labels, matrix = cm.get("labels") or classes, cm["matrix"]
            elif y_true and y_pred:
                from sklearn.metrics import confusion_matrix

                labels = classes
                matrix = confusion_matrix(preds[y_true].astype(str), preds[y_pred].astype(str), labels=classes)
            else:
                labels = matrix = None
            if matrix is not None:
                bacc = ((metrics.get("scores") or {}).get("balanced_accuracy") or {}).get("mean")
                chance = chance_level(metrics, "balanced_accuracy")
                figures.append(Figure(F.to_data_uri(F.plot_confusion(matrix, labels)),
                                      f"Confusion matrix, {target} / {feature_set}",
                                      "Out-of-fold predictions (rows: true class)"
                                      + (f"; balanced accuracy {fmt(bacc)} (chance {fmt(chance)}, 1 of "
                                         f"{len(labels)} classes)." if bacc is not None else ".")))
        elif y_true and y_pred:
            t = model_tests(metrics)
            score = (f"; {t.metric} {fmt(t.score)} (chance {fmt(t.chance)}), the mean over repeats"
                     if t.score is not None else "")
            figures.append(Figure(F.to_data_uri(F.plot_predicted_observed(preds[y_true], preds[y_pred], label=target)),
                                  f"Predicted against observed {target}",
                                  f"Out-of-fold predictions averaged over repeats; dotted: identity{score}."))
    figures.append(_null_block(folder, metrics))
    blocks.append(Grid(figures))
    blocks += _pattern_blocks(_read_patterns(folder), names, networks, atlas, config.report.top_edges,
                              f"{target} / {feature_set}", metrics)
    t = model_tests(metrics)
    significant = t.significant(ALPHA)
    title = (f"{target} / {feature_set}: {fmt(t.metric)} {fmt(t.score, 2)} (chance {fmt(t.chance, 2)}), FDR "
             f"{format_p(t.p_value_fdr)}" + (", significant" if significant else ""))
    return Section(f"model-{index}-{slug(target)}-{slug(feature_set)}", title, blocks, level=3, foldable=True,
                   open=significant)


def _fitted_models(group_dir: Path) -> list[tuple[Path, dict]]:
    """(folder, metrics) of every model with a readable ``models/<target>/<feature set>/metrics.json``."""
    root = group_dir / "models"
    found = []
    for path in sorted(root.glob("*/*/metrics.json")) if root.is_dir() else []:
        metrics = read_json(path)
        if metrics is not None:
            found.append((path.parent, metrics))
    return found


def _models_section(group_dir: Path, names, networks, atlas, config, found: list[tuple[Path, dict]]) -> Section:
    root = group_dir / "models"
    summary_table = read_tsv(root / "summary.tsv")
    not_fitted: list = []
    if summary_table is not None and {"status", "target", "feature_set"} <= set(summary_table.columns):
        rows = summary_table[summary_table["status"] != "fitted"]
        if len(rows):
            not_fitted.append(Table(["target", "feature set", "why not fitted"],
                                    [[fmt(r.target), fmt(r.feature_set), fmt(getattr(r, "reason", None))]
                                     for r in rows.itertuples()], caption="Models not fitted (models/summary.tsv)"))
    if not found:
        return Section("models", "Models", [Note(f"No model results yet (nothing in {root.name}/<target>/<feature "
                                                 "set>/metrics.json); this section fills in once the group level "
                                                 "fits models.", "warn"), *not_fitted])
    summary, tests = [], []
    for folder, m in found:
        t = model_tests(m)
        tests.append(t)
        summary.append([str(m.get("target") or folder.parent.name), str(m.get("feature_set") or folder.name),
                        fmt(t.metric), f"{fmt(t.score)} ± {fmt(t.sd)}", fmt(t.chance), fmt(t.p_permutation),
                        beyond_confounds_cell(m), fmt(t.p_value), t.rule, fmt(t.p_value_fdr), _p_floor(m),
                        fmt(m.get("n_rows"))])
    texts = list(dict.fromkeys(t.rule_text for t in tests))
    blocks: list = [Table(["target", "feature set", "primary metric", "mean ± SD", "chance", "permutation p",
                           "beyond confounds", "p", "rule", "p, FDR across models", "p floor", "rows"], summary,
                          caption="Cross-validated performance (mean and SD over repeats) beside its chance level; "
                                  "the permutation p-value of the score (the whole pipeline refitted on permuted "
                                  "targets); the prediction's effect beyond the confounds with its own p-value; "
                                  "p, which combines the two by the rule shown, and p corrected for the number of "
                                  "models (Benjamini-Hochberg). " + " ".join(texts))]
    blocks += not_fitted
    blocks.append(Note(f"Each model's details follow, significant models (FDR p < {ALPHA:g}) open and the others "
                       "folded: open one by its heading (click, or Enter on the focused heading)."))
    blocks += [_model_section(folder, m, names, networks, atlas, config, i) for i, (folder, m) in enumerate(found)]
    return Section("models", "Models", blocks)


_LONGITUDINAL_KEYS = ("outcome", "predictor", "formula", "n_observations", "n_participants", "n_multi_session",
                     "converged", "random_intercept_var", "residual_var", "log_likelihood")


def _longitudinal_blocks(result: dict, label: str) -> list:
    blocks: list = [KeyValue([(k.replace("_", " "), fmt(result.get(k))) for k in _LONGITUDINAL_KEYS
                              if k in result])]
    if not result.get("fitted"):
        blocks.append(Note(f"{label}: {fmt(result.get('message') or 'not fitted')}"))
        return blocks
    params = [p for p in result.get("params") or [] if isinstance(p, dict)]
    if params:
        blocks.append(Table(["term", "estimate", "SE", "z", "p", "95% CI"],
                            [[p.get("term"), fmt(p.get("coef")), fmt(p.get("se")), fmt(p.get("z")), fmt(p.get("p")),
                              f"{fmt(p.get('ci_low'))} to {fmt(p.get('ci_high'))}"] for p in params]))
        shown = [p for p in params if p.get("term") != "Intercept"] or params
        blocks.append(Figure(F.to_data_uri(F.plot_coefficients(
            [p.get("term") for p in shown], [p.get("coef", np.nan) for p in shown],
            [p.get("ci_low", np.nan) for p in shown], [p.get("ci_high", np.nan) for p in shown])),
            f"Longitudinal model estimates, {label}", "Fixed effects with 95% confidence intervals (random intercept "
                                                       "per participant)."))
    for w in result.get("warnings") or []:
        blocks.append(Note(str(w), "warn"))
    return blocks


def _longitudinal_section(group_dir: Path) -> Section:
    path = group_dir / "models" / "longitudinal.json"
    data = read_json(path)
    if data is None:
        return Section("longitudinal", "Longitudinal model", [Note(
            "No longitudinal model (models/longitudinal.json); it is fitted when participants have several sessions.")])
    if "fitted" in data or not all(isinstance(v, dict) for v in data.values()):
        return Section("longitudinal", "Longitudinal model", _longitudinal_blocks(data, "longitudinal model"))
    subs = [Section(f"longitudinal-{slug(k)}", str(k), _longitudinal_blocks(v, str(k)), level=3)
            for k, v in data.items()]
    return Section("longitudinal", "Longitudinal model", subs)


# ----------------------------------------------------------------------------- entry point
def write_group_report(output_dir, *, bids_dir=None, config=None) -> Path:
    """Write the group QC and model report ``output_dir/group/group.html``.

    Parameters
    ----------
    output_dir : str or Path
        The derivative dataset (participant level done; group level optional).
    bids_dir : str or Path, optional
        BIDS root, for stage and site of runs not in the features table.
    config : neurokit.config.Config, optional
        The resolved configuration; default: ``output_dir/config.yaml``.

    Returns
    -------
    Path
        The report.

    Raises
    ------
    ReportError
        If ``output_dir`` holds no processed or failed runs.
    """
    from neurokit.io import atomic_write_text, completed_runs, read_failures, record_for_strategy

    output_dir, config = open_output_dir(output_dir, config)
    group_dir = output_dir / "group"
    records = completed_runs(output_dir)
    failures = read_failures(output_dir)
    if not records and not len(failures):
        raise no_runs_error(output_dir)
    features = read_tsv(group_dir / "features.tsv")
    features_meta = read_json(group_dir / "features.json") or {}
    phenotype, pheno_note = load_phenotype_table(bids_dir, config)
    atlas, atlas_note = load_atlas(config.atlas.name)
    runs = _run_table(records, failures, features, phenotype, config.modelled_strategy)

    net_map = dict(features_meta.get("Networks") or {})
    if not net_map:
        for r in records:
            meta = read_json(r.get("outputs", {}).get("timeseries_raw:json")) or {}
            net_map.update(zip(meta.get("Regions", []), meta.get("Networks", [])))
    names = list(net_map)
    networks = [net_map[n] for n in names]

    sidecar = first_sidecar(records)
    space_note = records_space_note(config, atlas, records, sidecar)
    models = _fitted_models(group_dir)
    paragraphs, references = methods_text(
        config, atlas_metadata=atlas.metadata if atlas is not None else None,
        strategy_details=sidecar.get("StrategyDetails"), atlas_name=sidecar.get("Atlas"),
        versions=sidecar.get("SoftwareVersions"), group=True, space_note=space_note,
        tests=[model_tests(m) for _, m in models])

    flow, flow_figure = _flow_section(runs, features)
    overview: list = [Grid([KeyValue([
        ("Runs found", len(runs)), ("Included", int((runs["status"] == "ok").sum())),
        ("Participants", runs["subject"].nunique()), ("Atlas", config.atlas.name),
        ("Denoising strategy", config.modelled_strategy), ("Measure (models)", config.models.measure),
        ("Full config hash", config.hash()),
    ]), flow_figure])]
    if space_note:
        overview.append(Note(space_note))
    if features is None:
        overview.append(Note("group/features.tsv does not exist yet: run `neurokit BIDS_DIR OUTPUT_DIR group`; "
                             "sections that need it say so.", "warn"))
    for note in (pheno_note, None if atlas is not None else atlas_note):
        if note:
            overview.append(Note(note[0].upper() + note[1:] + "."))
    sections = [
        verdict_section(runs, read_json(group_dir / "confounds.json"), models, targets=config.models.targets),
        *planted_section(bids_dir, models),  # only for a dataset neurokit simulated
        Section("overview", "Overview", overview),
        flow,
        _motion_section(runs, config),
        _indices_section([record_for_strategy(r, config.modelled_strategy) or r for r in records]),
        _qcfc_section(features, names, atlas, config),
        denoising_section(group_dir, config),
        _stage_section(features, names, networks, config),
        group_physio_section(features, features_meta, config),
        _models_section(group_dir, names, networks, atlas, config, models),
        confounds_section(group_dir, models),
        _longitudinal_section(group_dir),
        _participants_section(runs, phenotype),
        Section("methods", "Methods", [Text(paragraphs), Text(references, ordered=True)]),
    ]
    html = render("group.html.j2", title="neurokit group report", sections=sections, version=__version__,
                  subtitle=f"{len(runs)} runs of {runs['subject'].nunique()} participants; atlas "
                           f"{config.atlas.name}, strategy {config.modelled_strategy}",
                  config_hash=f"{config.hash()} (full)",
                  generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    path = atomic_write_text(group_dir / "group.html", html)
    log.info("wrote the group report %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path
