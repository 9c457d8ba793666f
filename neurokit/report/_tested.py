"""What a model's ``metrics.json`` says was tested: the score against chance, the permutation test,
the test beyond the confounds and the rule that combines them into the p-value FDR corrects.

One reader serves the group report (verdict, model tables, figure captions, methods text), the
group level's ``summary.tsv`` and its log lines, so the three never word a test differently. It
reads the keys of this version's metrics (``chance``, ``p_value_permutation``,
``p_value_beyond_confounds``, ``p_value_rule``, ``p_value_rule_text``, ``beyond_confounds``
with ``effect_name``, ``effect`` and ``confound_model``) and derives each from what an older
``metrics.json`` holds when it is missing, so reports of earlier outputs keep rendering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["ModelTests", "chance_level", "format_p", "model_tests", "p_number"]

#: What a score is at chance when ``metrics['chance']`` does not say (older outputs): regression
#: metrics are 0 for predictions unrelated to the target; ROC AUC 0.5; balanced accuracy 1/K.
_REGRESSION_CHANCE = {"spearman": 0.0, "r2": 0.0}

#: Short names of the effect sizes of the beyond-confounds test, for tables and log lines.
EFFECT_LABELS = {"partial_r": "partial r", "delta_d2": "ΔD²"}
_EFFECT_ASCII = {"partial_r": "partial r", "delta_d2": "delta D2"}

_MAX_RULE = "max(permutation, beyond_confounds)"
_PERMUTATION_RULE = "permutation"


def _number(value) -> float | None:
    """A finite float, or None (missing, NaN, text)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def chance_level(metrics: dict, metric: str | None = None) -> float | None:
    """The score of ``metric`` (default the primary one) that predictions unrelated to the target get.

    ``metrics['chance'][metric]`` when the model recorded it; otherwise 0 for Spearman and R²,
    0.5 for ROC AUC and 1/K for balanced accuracy over K classes; None when unknown (e.g. MAE,
    whose chance level depends on the target's spread).

    Parameters
    ----------
    metrics : dict
        A model's ``metrics.json``.
    metric : str, optional

    Returns
    -------
    float or None
    """
    metric = metric or metrics.get("primary_metric")
    recorded = metrics.get("chance")
    if isinstance(recorded, dict) and _number(recorded.get(metric)) is not None:
        return _number(recorded[metric])
    if metric in _REGRESSION_CHANCE:
        return _REGRESSION_CHANCE[metric]
    if metric == "roc_auc":
        return 0.5
    if metric == "balanced_accuracy":
        classes = metrics.get("classes") or []
        return 1.0 / len(classes) if len(classes) >= 2 else None
    return None


def format_p(p, floor=None, digits: int = 2) -> str:
    """A p-value as a reader writes it: ``p = 0.048``, ``p < 0.001``, ``p = 0.0099 (floor)``.

    Parameters
    ----------
    p : float or None
    floor : float, optional
        The smallest p-value the permutations can give, ``1 / (n_permutations + 1)``; a p-value
        at the floor says so, since more permutations could make it smaller.
    digits : int, default=2
        Significant digits (three decimals from 0.01 to 0.1); below 0.001 the text is
        ``p < 0.001`` unless that is the floor.

    Returns
    -------
    str
        Starts with ``p``; ``p n/a`` when ``p`` is missing.
    """
    text = p_number(p, floor, digits)
    return "p n/a" if text == "n/a" else "p " + (text if text.startswith("<") else "= " + text)


def p_number(p, floor=None, digits: int = 2) -> str:
    """A p-value for a table cell, rounded as :func:`format_p` does: ``0.048``, ``< 0.001``, ``n/a``."""
    p, floor = _number(p), _number(floor)
    if p is None:
        return "n/a"
    if floor is not None and p <= floor * (1 + 1e-9):
        return f"{_p_digits(p, digits)} (floor)"
    if p < 0.001:
        return "< 0.001"
    return _p_digits(p, digits)


def _p_digits(p: float, digits: int) -> str:
    """``digits`` significant digits, but three decimals from 0.01 to 0.1 (0.048, not 0.05)."""
    if p >= 1:
        return "1"
    if p >= 0.1:
        return f"{p:.{digits}f}".rstrip("0").rstrip(".")
    if p >= 0.01:
        return f"{p:.3f}"
    return f"{p:.{digits}g}"


@dataclass(frozen=True)
class ModelTests:
    """The tests behind one model's p-value, as its ``metrics.json`` records them.

    Attributes
    ----------
    metric : str or None
        Primary metric, e.g. ``balanced_accuracy``.
    score, sd : float or None
        Its cross-validated mean and SD over repeats (the permutation test's statistic).
    chance : float or None
        The score at chance (:func:`chance_level`).
    null_mean : float or None
        Mean of the permutation null of the score.
    p_permutation : float or None
        Permutation p-value of the score (whole pipeline refitted on permuted targets).
    beyond_computed : bool
        Whether the test beyond the confounds was run.
    beyond_reason : str or None
        Why not, when it was not.
    confounds : list of str
        The confounds it controlled for.
    confound_model : str or None
        How the target was modelled from the confounds.
    effect_name : str or None
        ``partial_r`` (regression) or ``delta_d2`` (classification).
    effect : float or None
        The prediction's effect beyond the confounds.
    p_beyond : float or None
        Its p-value (permutation, or parametric when no permutation was run).
    p_beyond_kind : str
        ``permutation`` or ``parametric``.
    p_value : float or None
        The combined p-value that the FDR correction uses.
    p_value_fdr : float or None
    p_floor : float or None
        ``1 / (n_permutations + 1)``.
    n_permutations : int or None
    rule : str
        Short, e.g. ``max(permutation, beyond_confounds)``.
    rule_text : str
        One sentence saying what the combined p-value tests.
    """

    metric: str | None
    score: float | None
    sd: float | None
    chance: float | None
    null_mean: float | None
    p_permutation: float | None
    beyond_computed: bool
    beyond_reason: str | None
    confounds: list = field(default_factory=list)
    confound_model: str | None = None
    effect_name: str | None = None
    effect: float | None = None
    p_beyond: float | None = None
    p_beyond_kind: str = "permutation"
    p_value: float | None = None
    p_value_fdr: float | None = None
    p_floor: float | None = None
    n_permutations: int | None = None
    rule: str = _PERMUTATION_RULE
    rule_text: str = ""

    @property
    def effect_label(self) -> str:
        """``partial r`` or ``ΔD²`` (the effect's name in the report)."""
        return EFFECT_LABELS.get(self.effect_name or "", self.effect_name or "effect")

    @property
    def effect_ascii(self) -> str:
        """The effect's name in plain ASCII, for log lines and TSV cells."""
        return _EFFECT_ASCII.get(self.effect_name or "", self.effect_name or "effect")

    def significant(self, alpha: float) -> bool:
        """Whether the FDR-corrected p-value is below ``alpha``."""
        return self.p_value_fdr is not None and self.p_value_fdr < alpha


def _beyond_effect(beyond: dict) -> tuple[str | None, float | None]:
    name = beyond.get("effect_name")
    if name not in EFFECT_LABELS:
        if beyond.get("statistic") == "partial_r" or "partial_r" in beyond:
            name = "partial_r"
        elif beyond.get("statistic") == "likelihood_ratio" or "delta_d2" in beyond:
            name = "delta_d2"
        else:
            name = None
    effect = _number(beyond.get("effect"))
    if effect is None and name:
        effect = _number(beyond.get(name))
    return name, effect


def _confound_model(beyond: dict, kind: str, confounds: list) -> str | None:
    """The recorded description, else the one older versions fitted: linear in each confound."""
    recorded = beyond.get("confound_model")
    if recorded:
        return str(recorded)
    if not confounds:
        return None
    how = "ordinary least squares" if kind == "regression" else "multinomial logistic regression"
    return f"{how}, linear in {', '.join(confounds)}"


def _kind(metrics: dict) -> str:
    return metrics.get("kind") or ("classification" if metrics.get("classes") else "regression")


def _rule_text(rule: str, confounds: list, has_beyond: bool) -> str:
    if rule == _MAX_RULE or (rule.startswith("larger of") and has_beyond):
        controlled = ", ".join(confounds) if confounds else "the confounds"
        return ("p is the larger of the permutation p-value of the score and the p-value of the prediction "
                f"beyond the confounds ({controlled}): a model counts as significant only if it beats the "
                "permutation null of the whole pipeline and also predicts the target beyond the confounds "
                "(intersection-union test).")
    if rule == _PERMUTATION_RULE or rule.startswith("permutation"):
        return ("p is the permutation p-value of the score (the whole pipeline refitted on permuted targets); "
                "the test beyond the confounds was not run for this model.")
    return f"p: {rule}."


def model_tests(metrics: dict) -> ModelTests:
    """What ``metrics`` says was tested, with every field derived when an older file lacks it.

    Parameters
    ----------
    metrics : dict
        A model's ``metrics.json``.

    Returns
    -------
    ModelTests
    """
    metric = metrics.get("primary_metric")
    score = (metrics.get("scores") or {}).get(metric) or {}
    beyond = metrics.get("beyond_confounds") if isinstance(metrics.get("beyond_confounds"), dict) else {}
    computed = bool(beyond.get("computed"))
    confounds = [str(c) for c in beyond.get("confounds") or []]
    effect_name, effect = _beyond_effect(beyond) if computed else (None, None)

    p_perm = _number(metrics.get("p_value_permutation"))
    if p_perm is None and "p_value_permutation" not in metrics:
        p_perm = _number(score.get("p_value"))
    p_beyond, p_beyond_kind = _number(metrics.get("p_value_beyond_confounds")), "permutation"
    if p_beyond is None and computed:
        p_beyond = _number(beyond.get("p_permutation"))
        if p_beyond is None and _number(beyond.get("p_parametric")) is not None:
            p_beyond, p_beyond_kind = _number(beyond.get("p_parametric")), "parametric"
    p_value = _number(metrics.get("p_value"))
    if p_perm is None and not computed and "p_value_permutation" not in metrics:
        p_perm = p_value  # the oldest metrics: p_value was the permutation p, nothing combined with it

    rule = metrics.get("p_value_rule")
    if not rule or not metrics.get("p_value_rule_text"):
        # an older metrics.json: its rule was a phrase (or absent); name it by what the numbers show
        if (p_value is not None and p_perm is not None and p_beyond is not None and p_beyond_kind == "permutation"
                and math.isclose(p_value, max(p_perm, p_beyond))):
            rule = _MAX_RULE
        else:
            rule = _PERMUTATION_RULE
    rule = str(rule)
    rule_text = metrics.get("p_value_rule_text") or _rule_text(rule, confounds, p_beyond is not None)
    n_perm = metrics.get("n_permutations")
    floor = _number(metrics.get("p_value_floor"))
    if floor is None and isinstance(n_perm, int) and n_perm > 0:
        floor = 1.0 / (n_perm + 1)
    return ModelTests(
        metric=metric, score=_number(score.get("mean")), sd=_number(score.get("sd")),
        chance=chance_level(metrics, metric), null_mean=_number(score.get("null_mean")), p_permutation=p_perm,
        beyond_computed=computed, beyond_reason=None if computed else (beyond.get("reason") or None),
        confounds=confounds, confound_model=_confound_model(beyond, _kind(metrics), confounds) if computed else None,
        effect_name=effect_name, effect=effect, p_beyond=p_beyond, p_beyond_kind=p_beyond_kind, p_value=p_value,
        p_value_fdr=_number(metrics.get("p_value_fdr")), p_floor=floor,
        n_permutations=n_perm if isinstance(n_perm, int) else None, rule=rule, rule_text=str(rule_text),
    )
