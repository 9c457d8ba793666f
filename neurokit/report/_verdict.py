"""The group report's opening verdict: usable runs and why the others are not, whether motion and
exclusion track the targets, and which models are significant after correction across models,
with each score beside its chance level and the tests its p-value combines.

Kept to one screen (1366 x 768): two short tables side by side, the models' table below them,
one sentence each; the sections below give the detail.
"""

from __future__ import annotations

import re

import pandas as pd

from neurokit.report._common import Grid, Note, Section, Table, fmt
from neurokit.report._tested import ModelTests, format_p, model_tests, p_number

__all__ = ["ALPHA", "rule_phrase", "verdict_section", "unusable_reasons"]

#: Significance level of the verdict (on FDR-corrected p-values, and for the association tests).
ALPHA = 0.05


def _reason_kind(reason: str) -> str:
    """An exclusion reason without this run's numbers (the text before the first one, e.g. 'mean FD' of
    'mean FD 0.62 mm > 0.5 mm'), so runs excluded by the same rule count together."""
    text = re.split(r"\s*[<>=]|\s-?\d", str(reason), maxsplit=1)[0].strip()
    return text or str(reason).strip() or "no reason recorded"


def unusable_reasons(runs: pd.DataFrame) -> list[tuple[str, int]]:
    """Counts of runs not used, by why: failed (stage and error type) or excluded (rule).

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per run with ``status`` ('ok', 'excluded', 'failed'), ``reason`` and ``stage_failed``;
        an excluded run's ``reason`` lists its rules separated by '; ', and ``rules`` (optional) the
        names of the rules it failed.

    Returns
    -------
    list of (str, int)
        Most frequent first.
    """
    counts: dict[str, int] = {}
    for r in runs.itertuples():
        if r.status == "failed":
            error = str(r.reason).split(" in ", 1)[0] if isinstance(r.reason, str) else "error"
            keys = [f"failed in {r.stage_failed or 'an unknown stage'} ({error})"]
        elif r.status == "excluded":
            rules = getattr(r, "rules", None)
            if isinstance(rules, (list, tuple)) and rules:
                keys = [f"excluded: {x}" for x in rules]
            else:
                keys = [f"excluded: {_reason_kind(x)}" for x in (str(r.reason or "").split("; ") or [""])]
        else:
            continue
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _runs_block(runs: pd.DataFrame) -> list:
    n = len(runs)
    n_ok = int((runs["status"] == "ok").sum())
    share = f" ({n_ok / n:.0%})" if n else ""
    reasons = unusable_reasons(runs)
    head = Note(f"{n_ok} of {n} runs usable{share}, from {runs.loc[runs['status'] == 'ok', 'subject'].nunique()} "
                f"participants; {n - n_ok} not used.", "info" if n_ok == n else "warn")
    if not reasons:
        return [head, Table(["why not used", "runs"], [["every run was usable", 0]], caption="Runs")]
    return [head, Table(["why not used", "runs"], [[k, v] for k, v in reasons],
                        caption="Runs not used, by reason", row_classes=["excluded"] * len(reasons))]


def _p_text(p) -> str:
    return format_p(p)


def _confounds_block(confounds: dict | None, targets) -> list:
    if confounds is None:
        return [Note("Motion and exclusion against the targets: no group/confounds.json yet (written by the group "
                     "level).", "warn")]
    assoc = confounds.get("covariate_associations") or {}
    bias = confounds.get("exclusion_bias") or {}
    names = [t for t in targets if t in assoc or t in bias] or sorted(set(assoc) | set(bias))
    rows, classes, flagged = [], [], []
    for target in names:
        fd = (assoc.get(target) or {}).get("mean_fd") or {}
        ex = bias.get(target) or {}
        fd_text = (f"{fmt(fd.get('effect_name'))} = {fmt(fd.get('effect'), 2)}, {_p_text(fd.get('p_value'))}"
                   if fd else "not tested")
        if ex.get("p_value") is not None:
            ex_text = f"{ex.get('n_excluded')} excluded, {_p_text(ex.get('p_value'))}"
        else:
            ex_text = f"{fmt(ex.get('n_excluded'))} excluded, not testable" if ex else "not tested"
        hits = [what for what, p in (("mean FD", fd.get("p_value")), ("exclusion", ex.get("p_value")))
                if p is not None and p < ALPHA]
        flagged += [f"{what} ~ {target}" for what in hits]
        rows.append([target, fd_text, ex_text])
        classes.append("warn" if hits else "")
    if not rows:
        return [Note("No target to test motion and exclusion against.")]
    if flagged:
        head = Note(f"Associated with a target at p < {ALPHA:g} (uncorrected): {', '.join(flagged)}. A model of that "
                    "target may partly predict motion or who was excluded; see 'beyond confounds' and "
                    "'Confounds and exclusions'.", "warn")
    else:
        head = Note(f"Neither mean FD nor exclusion is associated with any target at p < {ALPHA:g}.")
    return [head, Table(["target", "mean FD ~ target", "excluded ~ target"], rows, row_classes=classes,
                        caption="Motion and exclusion against each target")]


def _metric_name(metric) -> str:
    return str(metric).replace("_", " ") if metric else "score"


def rule_phrase(tests: list[ModelTests]) -> str:
    """What the models' combined p-values test, in one clause (the rules they recorded, named once each)."""
    rules = list(dict.fromkeys(t.rule for t in tests))
    confounds = list(dict.fromkeys(c for t in tests for c in t.confounds))
    parts = []
    for rule in rules:
        if rule.startswith("max("):
            parts.append("p = max(permutation p, beyond-confounds p): significant only if a model beats its "
                         "permutation null and also predicts the target beyond "
                         + (", ".join(confounds) if confounds else "the confounds"))
        elif rule == "permutation":
            parts.append("p = the permutation p of the score (no test beyond the confounds)")
        else:
            parts.append(f"p by {rule}")
    return "; ".join(parts)


def _models_block(models: list[tuple[object, dict]]) -> list:
    if not models:
        return [Note("No fitted model yet; this fills in once the group level fits models.", "warn")]
    tests = [model_tests(m) for _, m in models]
    rows, classes, keys = [], [], []
    for (_, m), t in zip(models, tests):
        wins = t.significant(ALPHA)
        beyond = (f"{t.effect_label} {fmt(t.effect, 2)}, {format_p(t.p_beyond)}"
                  if t.p_beyond is not None else "not tested")
        rows.append([f"{m.get('target')} / {m.get('feature_set')}",
                     f"{_metric_name(t.metric)} {fmt(t.score, 2)} (chance {fmt(t.chance, 2)})",
                     p_number(t.p_permutation), beyond, p_number(t.p_value), p_number(t.p_value_fdr),
                     "yes" if wins else "no"])
        classes.append("" if wins else "excluded")
        keys.append((not wins, t.p_value_fdr if t.p_value_fdr is not None else 2.0))
    winners = sum(t.significant(ALPHA) for t in tests)
    floors = {t.p_floor for t in tests if t.p_floor}
    floor_text = ", ".join(f"1/({round(1 / f - 1)}+1) = {fmt(f, 2)}" for f in sorted(floors)) or "n/a"
    text = (f"{winners} of {len(models)} models significant after Benjamini-Hochberg correction across models "
            f"(FDR p < {ALPHA:g}); {rule_phrase(tests)}. Smallest possible p: {floor_text}.")
    corrected = [t.p_value_fdr for t in tests if t.p_value_fdr is not None]
    smallest_floor = min(floors, default=None)
    if not winners and corrected and smallest_floor and min(corrected) <= 2 * smallest_floor:
        text += (" The permutation floor limits the result: run more permutations (models.n_permutations) before "
                 "reading any model as null.")
    order = sorted(range(len(rows)), key=lambda i: keys[i])
    shown = order[:6]
    caption = ("Models, significant first, then by FDR p" if winners else "Models, by FDR p (none significant)")
    if len(rows) > 6:
        caption += f"; 6 of {len(rows)} shown, all in 'Models'"
    return [Note(text, "info" if winners else "warn"),
            Table(["model", "score (chance)", "permutation p", "beyond confounds", "p", "FDR p", "significant"],
                  [rows[i] for i in shown], row_classes=[classes[i] for i in shown], caption=caption)]


def verdict_section(runs: pd.DataFrame, confounds: dict | None, models: list[tuple[object, dict]],
                    targets=()) -> Section:
    """The 'Verdict' section that opens the group report.

    Parameters
    ----------
    runs : pandas.DataFrame
        The report's run table (``status``, ``reason``, ``stage_failed``, ``subject``).
    confounds : dict or None
        ``group/confounds.json``.
    models : list of (folder, metrics)
        Every fitted model's ``metrics.json``.
    targets : sequence of str
        Configured targets, in the order to list them.

    Returns
    -------
    Section
    """
    return Section("verdict", "Verdict", [
        Grid([Section("verdict-runs", "Usable runs", _runs_block(runs), level=3),
              Section("verdict-confounds", "Motion and exclusion vs targets", _confounds_block(confounds, targets),
                      level=3)]),
        Section("verdict-models", "Models significant after correction", _models_block(models), level=3),
    ])
