"""The group report's "Planted vs recovered" section, for a dataset written by :mod:`neurokit.simulate`.

A simulated dataset's ground truth (``<dataset>_truth.tsv`` and its ``.json`` beside the BIDS
folder, or ``ground_truth.tsv`` beside ``neurokit demo``'s ``bids/``) says which effects were
planted: the prefrontal-limbic coupling by stage and severity, the biomarkers' stage
differences, and (when the simulation wrote physiological recordings) the scan-derived HRV's stage
differences, each or nothing (a null twin); the scan HRV's per-run values are in
``<truth stem>_physio.tsv`` beside it. This module reads it only to grade what the models found;
no pipeline step reads it. A real dataset has no such file, so the section is absent.

Each fitted model gets one verdict: "found" (it could see a planted effect related to its target
and beat its permutation null after FDR), "missed" (it could and did not), "null stayed null"
(nothing planted for it to find, nothing found) or "false positive".
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from neurokit.report._common import Note, Section, Table, Text, fmt, read_json
from neurokit.report._verdict import ALPHA

__all__ = ["DEMO_TRUTH_NAME", "find_truth", "planted_section", "recovery_rows", "recovery_verdict", "verdict_lines"]

#: The ground truth's file name in ``neurokit demo``'s output folder, beside its ``bids/`` dataset.
DEMO_TRUTH_NAME = "ground_truth.tsv"

#: Verdicts, in the order the summaries list them.
VERDICTS = ("found", "missed", "null stayed null", "false positive")

#: The connectivity network pair and phenotype columns each feature set is built from, and whether it
#: carries the features table's scan-derived HRV (issue 21: the ``biomarkers`` and ``combined`` sets
#: use it beside the phenotype's) (neurokit.models' feature sets; None = every network pair).
_FEATURE_SET_CARRIERS = {
    "pfc_limbic_edges": {"networks": [("limbic", "prefrontal")], "columns": (), "scan_hrv": False},
    "all_edges": {"networks": None, "columns": (), "scan_hrv": False},
    "summary_indices": {"networks": [("limbic", "prefrontal")], "columns": (), "scan_hrv": False},
    "biomarkers": {"networks": [], "columns": ("bdnf", "hrv"), "scan_hrv": True},
    "combined": {"networks": [("limbic", "prefrontal")], "columns": ("bdnf", "hrv"), "scan_hrv": True},
}

#: Chance level of a primary metric when metrics.json does not give one (a constant predictor's score).
_CHANCE = {"spearman": 0.0, "r2": 0.0, "roc_auc": 0.5}

_TARGET_NAMES = {"user_vs_control": "user vs control"}


def _simulated_by_neurokit(bids_dir: Path) -> bool:
    description = read_json(bids_dir / "dataset_description.json") or {}
    generated = description.get("GeneratedBy") or []
    return isinstance(generated, list) and any(isinstance(g, dict) and g.get("Name") == "neurokit.simulate"
                                               for g in generated)


def find_truth(bids_dir: str | Path | None) -> Path | None:
    """The ground-truth TSV of a dataset simulated by neurokit, or None (a real dataset, or no truth file).

    Looked for where :func:`neurokit.simulate.simulate_dataset` puts it by default
    (``<bids_dir>_truth.tsv``) and where ``neurokit demo`` puts it (:data:`DEMO_TRUTH_NAME`
    beside ``bids_dir``); it counts only when ``bids_dir``'s ``dataset_description.json`` names
    neurokit.simulate as its generator, its JSON sidecar lists what was ``planted`` and its
    participants are those of ``bids_dir/participants.tsv``.

    Parameters
    ----------
    bids_dir : str, Path or None

    Returns
    -------
    Path or None
    """
    if bids_dir is None:
        return None
    bids = Path(bids_dir).resolve()
    if not _simulated_by_neurokit(bids):
        return None
    from neurokit.simulate import default_truth_path

    participants = _participant_ids(bids / "participants.tsv")
    for candidate in (default_truth_path(bids), bids.parent / DEMO_TRUTH_NAME):
        meta = read_json(candidate.with_suffix(".json")) or {}
        if not candidate.is_file() or not isinstance(meta.get("planted"), list):
            continue
        if participants is not None and _participant_ids(candidate) == participants:
            return candidate
    return None


def _participant_ids(path: Path) -> set[str] | None:
    try:
        return set(pd.read_csv(path, sep="\t", usecols=["participant_id"], dtype=str)["participant_id"])
    except (OSError, ValueError, KeyError):
        return None


def _read_truth(path: Path) -> tuple[pd.DataFrame, dict]:
    table = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["n/a"])
    return table, json.loads(path.with_suffix(".json").read_text())


def _pair(networks) -> tuple[str, str]:
    return tuple(sorted(str(n) for n in networks))


def _sees(effect: dict, feature_set: str) -> bool:
    """Whether a model of ``feature_set`` has features that carry ``effect``."""
    carriers = _FEATURE_SET_CARRIERS.get(feature_set)
    if carriers is None:
        return False
    if effect.get("carrier") == "connectivity":
        return carriers["networks"] is None or _pair(effect.get("networks", ())) in carriers["networks"]
    if effect.get("carrier") == "physio":  # the scan HRV: its features-table columns are the effect's "columns"
        return carriers["scan_hrv"]
    return effect.get("column") in carriers["columns"]


def _related(effect: dict, target: str) -> bool:
    """Whether ``effect`` differs by ``target``: every effect of stage separates users from controls, and
    severity too, since controls score 0."""
    related = set(effect.get("related_to") or ())
    if target == "severity":
        return bool(related & {"severity", "stage"})
    if target in ("stage", "user_vs_control"):
        return "stage" in related
    return target in related


def _chance(metrics: dict) -> float | None:
    primary = metrics.get("primary_metric")
    given = (metrics.get("chance") or {}).get(primary)
    if given is not None:
        return given
    if primary == "balanced_accuracy" and metrics.get("classes"):
        return 1.0 / len(metrics["classes"])
    return _CHANCE.get(primary)


def recovery_rows(planted: list[dict], models: list[tuple[object, dict]], *, alpha: float = ALPHA) -> list[dict]:
    """Grade each fitted model against the ground truth.

    Parameters
    ----------
    planted : list of dict
        The truth JSON's ``planted`` list (see :func:`neurokit.simulate.simulate_dataset`).
    models : list of (folder, metrics)
        Each fitted model's ``metrics.json``.
    alpha : float
        Significance level of the FDR-corrected p-value.

    Returns
    -------
    list of dict
        One per model: ``target``, ``feature_set``, ``sees`` (names of the planted effects its features
        carry and its target depends on), ``null`` (the effects with nothing planted that it sees),
        ``metric``, ``score``, ``chance``, ``p``, ``p_fdr``, ``significant``, ``verdict``.
    """
    rows = []
    for _, m in models:
        target, feature_set = str(m.get("target")), str(m.get("feature_set"))
        visible = [e for e in planted if _sees(e, feature_set)]
        sees = [e["effect"] for e in visible if _related(e, target)]
        null = [e["effect"] for e in visible if not e.get("related_to")]
        primary = m.get("primary_metric")
        q = m.get("p_value_fdr")
        significant = q is not None and q < alpha
        if sees:
            verdict = "found" if significant else "missed"
        else:
            verdict = "false positive" if significant else "null stayed null"
        rows.append({"target": target, "feature_set": feature_set, "sees": sees, "null": null, "metric": primary,
                     "score": ((m.get("scores") or {}).get(primary) or {}).get("mean"), "chance": _chance(m),
                     "p": m.get("p_value"), "p_fdr": q, "significant": significant, "verdict": verdict})
    return rows


def _effect_lines(planted: list[dict], rows: list[dict]) -> list[tuple[str, bool]]:
    """One verdict per group of models that can see the same planted effects (or only the same null ones),
    with whether the group came out as the truth says; a model seeing several effects credits none alone."""
    groups: dict[tuple[bool, tuple[str, ...]], list[dict]] = {}
    for r in rows:
        key = (True, tuple(r["sees"])) if r["sees"] else (False, tuple(r["null"]))
        groups.setdefault(key, []).append(r)
    order = [e["effect"] for e in planted]
    lines = []
    for (has_effect, names), graded in sorted(groups.items(), key=lambda kv: (
            not kv[0][0], [order.index(n) if n in order else len(order) for n in kv[0][1]])):
        what = " + ".join(names) or "no simulated effect"
        them = "them" if len(names) > 1 else "it"
        wrong = [f"{_TARGET_NAMES.get(r['target'], r['target'])}/{r['feature_set']}" for r in graded
                 if r["verdict"] in ("missed", "false positive")]
        qs = [r["p_fdr"] for r in graded if r["p_fdr"] is not None]
        if has_effect:
            found = [r["p_fdr"] for r in graded if r["verdict"] == "found"]
            # when every model of the group also carries a null twin (the scan HRV beside the phenotype's
            # biomarkers), the null twin is not graded on its own: say so rather than let it pass unseen
            also = [n for n in order if all(n in r["null"] for r in graded)]
            text = (f"{what} (planted): found by {len(found)} of the {len(graded)} models that can see {them}"
                    + (f" (FDR p <= {fmt(max(found), 2)})" if found else "")
                    + (f"; missed by {', '.join(wrong)}" if wrong else "")
                    + (f"; their features also carry {' + '.join(also)} (nothing planted), not graded on "
                       f"{'their' if len(also) > 1 else 'its'} own here" if also else ""))
        else:
            text = (f"{what} (nothing planted, the null twin): null stayed null in {len(graded) - len(wrong)} of the "
                    f"{len(graded)} models that see only {them}" + (f" (smallest FDR p {fmt(min(qs), 2)})" if qs else "")
                    + (f"; false positive: {', '.join(wrong)}" if wrong else ""))
        lines.append((text, not wrong))
    return lines


def verdict_lines(truth_path: str | Path, models: list[tuple[object, dict]]) -> list[str]:
    """The recovery verdict in a few lines of plain text (the demo prints them at the end).

    Parameters
    ----------
    truth_path : str or Path
        The ground-truth TSV (its ``.json`` beside it).
    models : list of (folder, metrics)

    Returns
    -------
    list of str
        Empty when no model was fitted.
    """
    _, meta = _read_truth(Path(truth_path))
    planted = meta.get("planted") or []
    rows = recovery_rows(planted, models)
    if not rows:
        return []
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    head = (f"planted vs recovered ({len(rows)} models, FDR p < {ALPHA:g}): "
            + ", ".join(f"{n} {v}" for v, n in counts.items() if n))
    return [head] + [text for text, _ in _effect_lines(planted, rows)]


def recovery_verdict(truth_path: str | Path, group_dir: str | Path) -> list[str]:
    """:func:`verdict_lines` for the models fitted in ``group_dir``; empty when the truth lists nothing planted.

    Parameters
    ----------
    truth_path : str or Path
        The ground-truth TSV; a truth without a JSON ``planted`` list (written by hand, or by an
        older neurokit) gives no verdict.
    group_dir : str or Path
        ``OUTPUT_DIR/group``.

    Returns
    -------
    list of str
    """
    from neurokit.report._group import _fitted_models  # _group imports this module

    meta = read_json(Path(truth_path).with_suffix(".json")) or {}
    if not isinstance(meta.get("planted"), list):
        return []
    return verdict_lines(truth_path, _fitted_models(Path(group_dir)))


def _decimals(value) -> str:
    """A score with two decimals, as scores and their chance levels read side by side (0.94, 0.50)."""
    return f"{value:.2f}" if isinstance(value, (int, float)) and value == value else fmt(value)


def _physio_by_stage(truth_path: Path | None, truth: pd.DataFrame, column: str) -> dict[str, float]:
    """Mean planted per-run ``column`` (of ``<truth stem>_physio.tsv``) by stage; empty without that file."""
    if truth_path is None or "stage" not in truth:
        return {}
    from neurokit.simulate import physio_truth_path

    try:
        physio = pd.read_csv(physio_truth_path(truth_path), sep="\t", keep_default_na=False, na_values=["n/a"])
    except (OSError, ValueError):
        return {}
    keys = [k for k in ("participant_id", "session_id", "run") if k in physio and k in truth]
    if column not in physio or "participant_id" not in keys:
        return {}
    merged = physio.merge(truth[keys + ["stage"]], on=keys, how="inner")
    return merged.groupby("stage", sort=False)[column].mean().to_dict()


def _size_text(effect: dict, truth: pd.DataFrame, truth_path: Path | None = None) -> str:
    if effect.get("carrier") == "physio":
        means = effect.get("stage_means") or {}
        spread = f"ln SD {fmt(effect.get('ln_sd'))}"
        if not effect.get("related_to"):
            text = (f"nothing planted: one distribution at every stage (RMSSD geometric mean {fmt(next(iter(means.values()), None))} "
                    f"{effect.get('units', '')}, {spread})")
        else:
            text = (f"effect size {fmt(effect.get('effect_size'))}; RMSSD geometric mean by stage "
                    + ", ".join(f"{s} {fmt(v)}" for s, v in means.items()) + f" {effect.get('units', '')} ({spread})")
        realised = _physio_by_stage(truth_path, truth, effect.get("truth_column", "rmssd"))
        order = [s for s in means if s in realised]
        if order:
            text += "; mean planted RMSSD of the runs' beats by stage: " + ", ".join(
                f"{s} {realised[s]:.1f}" for s in order)
        return text
    if effect.get("carrier") == "connectivity":
        column = effect.get("truth_column", "coupling")
        text = f"effect size {fmt(effect.get('effect_size'))}"
        if column in truth and "stage" in truth and truth[column].notna().any():
            intact = truth[truth["broken"].isna()] if "broken" in truth else truth
            by_stage = intact.groupby("stage", sort=False)[column].mean()
            order = [s for s in (effect.get("stage_deficit") or {}) if s in by_stage.index]
            text += "; mean planted correlation by stage: " + ", ".join(f"{s} {by_stage[s]:.2f}" for s in order)
        return text
    means = effect.get("stage_means") or {}
    units = effect.get("units", "")
    if not effect.get("related_to"):
        first = next(iter(means.values()), None)
        return (f"nothing planted: one distribution at every stage (mean {fmt(first)} {units}, SD "
                f"{fmt(effect.get('sd'))})")
    return (f"effect size {fmt(effect.get('effect_size'))}; stage means "
            + ", ".join(f"{s} {fmt(v)}" for s, v in means.items()) + f" {units} (SD {fmt(effect.get('sd'))})")


def _carrier_text(effect: dict) -> str:
    if effect.get("carrier") == "physio":
        return ("HRV measured from the simulated pulse recordings (features table: "
                + ", ".join(effect.get("columns") or ()) + ")")
    if effect.get("carrier") == "connectivity":
        regions = effect.get("regions") or {}
        counts = " x ".join(f"{len(regions.get(n, []))} {n}" for n in effect.get("networks", ()))
        return f"every {'-'.join(effect.get('networks', ()))} edge ({counts} Harvard-Oxford regions)"
    return f"phenotype column {effect.get('column')}"


def planted_section(bids_dir: str | Path | None, models: list[tuple[object, dict]]) -> list[Section]:
    """The "Planted vs recovered" section when ``bids_dir`` was simulated by neurokit, else nothing.

    Parameters
    ----------
    bids_dir : str, Path or None
        The BIDS root the report was made for (see :func:`find_truth`).
    models : list of (folder, metrics)
        The fitted models' ``metrics.json``.

    Returns
    -------
    list of Section
        One section, or none for a dataset without a neurokit ground truth.
    """
    path = find_truth(bids_dir)
    if path is None:
        return []
    truth, meta = _read_truth(path)
    planted = meta.get("planted") or []
    effects = Table(["effect", "carried by", "depends on", "size"],
                    [[e["effect"], _carrier_text(e), ", ".join(e.get("related_to") or []) or "nothing (null twin)",
                      _size_text(e, truth, path)] for e in planted],
                    caption=f"What the simulation planted (from {path.name} and its JSON, never read by the pipeline)")
    rows = recovery_rows(planted, models)
    blocks: list = [Note(f"This dataset was simulated by neurokit.simulate; its ground truth ({path}) says what was "
                         "planted, so each model's result can be graded: found, missed, null stayed null or false "
                         "positive."), effects]
    if not rows:
        return [Section("planted", "Planted vs recovered", blocks + [Note(
            "No fitted model yet; the grading fills in once the group level fits models.", "warn")])]
    lines = _effect_lines(planted, rows)
    good = all(ok for _, ok in lines)
    blocks[1:1] = [Note(f"{text[0].upper()}{text[1:]}.", "info" if ok else "warn") for text, ok in lines]
    order = sorted(range(len(rows)), key=lambda i: (VERDICTS.index(rows[i]["verdict"]), rows[i]["target"],
                                                   rows[i]["feature_set"]))
    classes = {"found": "", "null stayed null": "", "missed": "warn", "false positive": "failed"}
    table = []
    for i in order:
        r = rows[i]
        table.append([f"{_TARGET_NAMES.get(r['target'], r['target'])} / {r['feature_set']}",
                      ", ".join(r["sees"]) or ("nothing planted (null twin)" if r["null"] else "nothing planted"),
                      f"{fmt(r['metric'])} {_decimals(r['score'])} (chance {_decimals(r['chance'])})",
                      fmt(r["p"], 2), fmt(r["p_fdr"], 2), "yes" if r["significant"] else "no", r["verdict"]])
    blocks.append(Table(["model", "planted effect it can see", "score (chance)", "p", "FDR p",
                         f"FDR p < {ALPHA:g}", "verdict"], table, row_classes=[classes[rows[i]["verdict"]]
                                                                                for i in order],
                        caption="What each model found, graded against the ground truth"))
    blocks.append(Text([f"A model can see an effect when its features carry it (edges or indices of the planted "
                        f"network pair, or the planted phenotype column) and its target depends on it (an effect of "
                        f"stage also separates users from controls and, since controls score 0, severity). p and FDR p "
                        f"are the model's, as in 'Models'; significant means FDR p < {ALPHA:g}."]))
    # the red badge is for a false positive (a null model called significant); a missed model is a power
    # question the notes above already name, not a failure of the pipeline
    false_positive = any(r["verdict"] == "false positive" for r in rows)
    status = "ok" if good else ("failed" if false_positive else None)
    return [Section("planted", "Planted vs recovered", blocks, status=status)]
