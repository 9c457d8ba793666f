"""Group report: predictive value beyond the confounds (per model), covariate-target
associations, exclusion bias and what each analysis choice does to the result.

Reads ``group/confounds.json`` and each model's ``metrics['beyond_confounds']``; a missing
part becomes a visible note.
"""

from __future__ import annotations

from pathlib import Path

from neurokit.report._common import KeyValue, Note, Section, Table, Text, fmt, read_json
from neurokit.report._tested import EFFECT_LABELS, chance_level, format_p, model_tests, p_number

__all__ = ["beyond_confounds_cell", "beyond_confounds_block", "confounds_section"]

_EXPLAIN = ("Predictive value beyond the confounds (Dinga et al. 2020): target ~ confounds compared with target ~ "
            "confounds + out-of-fold prediction. The permutation p-value permutes the prediction's residual after "
            "regression on the confounds, by participant (Freedman-Lane).")


def beyond_confounds_cell(metrics: dict) -> str:
    """One table cell: the effect beyond the confounds and its p-value, e.g. ``partial r 0.41 (p = 0.01)``."""
    t = model_tests(metrics)
    if t.p_beyond is None and t.effect is None:
        return "n/a"
    return f"{t.effect_label} {fmt(t.effect)} (p = {fmt(t.p_beyond)}" + \
        ("" if t.p_beyond_kind == "permutation" else ", parametric") + ")"


def beyond_confounds_block(metrics: dict) -> KeyValue | Note:
    """The per-model details of ``metrics['beyond_confounds']``."""
    beyond = metrics.get("beyond_confounds")
    if not beyond:
        return Note("No test of the prediction beyond the confounds in metrics.json (written by an older neurokit).")
    if not beyond.get("computed"):
        return Note(f"Prediction beyond the confounds not tested: {fmt(beyond.get('reason'))}.")
    t = model_tests(metrics)
    if "d2_confounds" not in beyond:  # regression (classes describe their multinomial fits too)
        fit = [("R² of the confounds alone", fmt(beyond.get("r2_confounds"))),
               ("R² gained by the prediction", fmt(beyond.get("delta_r2"))),
               ("Partial Spearman", fmt(beyond.get("partial_spearman")))]
    else:
        fit = [("D² of the confounds alone", fmt(beyond.get("d2_confounds"))),
               ("D² gained by the prediction (ΔD²)", fmt(beyond.get("delta_d2"))),
               ("Likelihood ratio (df)", f"{fmt(beyond.get('likelihood_ratio'))} ({fmt(beyond.get('df'))})")]
    floor = beyond.get("p_floor")
    return KeyValue([
        ("Beyond the confounds", ", ".join(t.confounds)),
        ("Confound model", fmt(t.confound_model)),
        (t.effect_label, fmt(t.effect)), *fit,
        ("Permutation p", f"{fmt(beyond.get('p_permutation'))} ({fmt(beyond.get('n_permutations'))} permutations, "
                          f"smallest possible {fmt(floor)})" if floor else "not run (0 permutations)"),
    ])


def _sensitivity_p(beyond: dict) -> str:
    """The sensitivity row's beyond-confounds p: the permutation p, or an older output's parametric one, named so."""
    if beyond.get("p_permutation") is not None:
        return f"permutation {format_p(beyond['p_permutation'])}"
    if beyond.get("p_parametric") is not None:  # written before the parametric p was withdrawn (not calibrated)
        return f"{format_p(beyond['p_parametric'])}, parametric, not calibrated"
    return "no p-value"


def _bias_blocks(bias: dict) -> list:
    blocks: list = []
    for target, entry in bias.items():
        p = entry.get("p_value")
        blocks.append(Note(f"{target}: {entry.get('sentence')}", "warn" if p is not None and p < 0.05 else "info"))
    return blocks or [Note("No target to test exclusion bias on (no severity or stage column).")]


def _association_table(associations: dict) -> Table | Note:
    rows = [[target, cov, fmt(e.get("test")), f"{fmt(e.get('effect_name'))} = {fmt(e.get('effect'))}",
             p_number(e.get("p_value")), fmt(e.get("n"))]
            for target, covs in associations.items() for cov, e in covs.items()]
    if not rows:
        return Note("No covariate-target association to show (no covariate or target column).")
    return Table(["target", "covariate", "test", "effect size", "p", "runs"], rows,
                 caption="How strongly each covariate is associated with each target. A covariate that tracks the "
                         "target (e.g. mean FD with severity) takes part of a real effect with it when it is "
                         "regressed out of the features.",
                 row_classes=["excluded" if (e.get("p_value") is not None and e["p_value"] < 0.05) else ""
                              for covs in associations.values() for e in covs.values()])


def _sensitivity_table(sensitivity: dict, classes: dict) -> Table | Note:
    rows = []
    for target, sets in sensitivity.items():
        for feature_set, variants in sets.items():
            for v in variants:
                if "error" in v:
                    rows.append([target, feature_set, v["variant"], fmt(v.get("covariates")), "", "", v["error"], "",
                                 ""])
                    continue
                beyond = v.get("beyond_confounds") or {}
                chance = chance_level({"primary_metric": v.get("metric"), "classes": classes.get(target)})
                rows.append([target, feature_set, v["variant"], fmt(v.get("covariates")), fmt(v.get("n_rows")),
                             fmt(v.get("metric")), f"{fmt(v.get('mean'))} ± {fmt(v.get('sd'))}", fmt(chance),
                             f"{EFFECT_LABELS.get(beyond.get('measure'), fmt(beyond.get('measure')))} "
                             f"{fmt(beyond.get('value'))} ({_sensitivity_p(beyond)})"])
    if not rows:
        return Note("No sensitivity analysis (no fitted model).")
    return Table(["target", "feature set", "variant", "covariates", "rows", "metric", "mean ± SD", "chance",
                  "beyond confounds"],
                 rows, caption="What each choice does: the primary metric (cross-validated, no permutations) with "
                               "and without the mean-FD covariate, and with the runs excluded by QC put back.")


def confounds_section(group_dir: Path, models: list[tuple[object, dict]] = ()) -> Section:
    """The 'Confounds and exclusions' section from ``group/confounds.json``; ``models`` (folder, metrics)
    give each classification target's classes, for the chance level of its scores."""
    title = "Confounds and exclusions"
    data = read_json(Path(group_dir) / "confounds.json")
    if data is None:
        return Section("confounds", title, [Note("No group/confounds.json yet; it is written by the group level.",
                                                 "warn")])
    blocks: list = [Text([_EXPLAIN])]
    blocks += _bias_blocks(data.get("exclusion_bias") or {})
    blocks.append(_association_table(data.get("covariate_associations") or {}))
    classes = {m.get("target"): m.get("classes") for _, m in models if m.get("classes")}
    blocks.append(_sensitivity_table(data.get("sensitivity") or {}, classes))
    blocks += [Note(str(n)) for n in data.get("notes") or []]
    return Section("confounds", title, blocks)

