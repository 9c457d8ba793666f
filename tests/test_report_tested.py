"""What a model's metrics say was tested (neurokit.report._tested), read from the metrics written today and
from the keys the models add (chance, p_value_beyond_confounds, p_value_rule_text, effect, confound_model);
the rounding of p-values in logs; the group level's summary.tsv columns and log lines built on it."""

from __future__ import annotations

import logging

import pytest

from neurokit.report._tested import chance_level, format_p, model_tests


def _old_classification(p_perm=0.02, p_beyond=0.3):
    """A stage model's metrics.json as neurokit wrote it before chance / effect / rule_text existed."""
    return {
        "target": "stage", "feature_set": "pfc_limbic_edges", "kind": "classification",
        "classes": ["control", "active", "early_abstinence", "sustained_remission"],
        "primary_metric": "balanced_accuracy", "n_permutations": 99, "p_value_floor": 0.01,
        "scores": {"balanced_accuracy": {"mean": 0.44, "sd": 0.03, "p_value": p_perm, "null_mean": 0.25,
                                         "null_95": [0.15, 0.35]},
                   "roc_auc": {"mean": 0.7, "sd": 0.02, "p_value": 0.01}},
        "beyond_confounds": {"computed": True, "confounds": ["mean_fd", "age", "sex", "site"],
                             "statistic": "likelihood_ratio", "delta_d2": 0.061, "likelihood_ratio": 12.0, "df": 3,
                             "p_parametric": 0.007, "p_permutation": p_beyond, "n_permutations": 99,
                             "p_floor": 0.01},
        "p_value_permutation": p_perm, "p_value": max(p_perm, p_beyond),
        "p_value_rule": "larger of the permutation p-value and the beyond-confounds p-value (intersection-union test)",
        "p_value_fdr": 0.4, "chance": {"balanced_accuracy": 0.25, "roc_auc": 0.5},
    }


def test_old_metrics_are_read_with_every_field_derived():
    t = model_tests(_old_classification())
    assert (t.metric, t.score, t.chance, t.null_mean) == ("balanced_accuracy", 0.44, 0.25, 0.25)
    assert t.p_permutation == 0.02 and t.p_beyond == 0.3 and t.p_value == 0.3 and t.p_value_fdr == 0.4
    assert (t.effect_name, t.effect, t.effect_label) == ("delta_d2", 0.061, "ΔD²")
    assert t.rule == "max(permutation, beyond_confounds)"
    assert "larger of" in t.rule_text and "mean_fd, age, sex, site" in t.rule_text
    assert t.confound_model == "multinomial logistic regression, linear in mean_fd, age, sex, site"
    assert t.p_floor == 0.01 and not t.significant(0.05)


def test_new_keys_win_over_derivations():
    metrics = _old_classification()
    metrics.update(p_value_beyond_confounds=0.2, p_value_rule="max(permutation, beyond_confounds)",
                   p_value_rule_text="One sentence from the models.", chance={"balanced_accuracy": 0.3})
    metrics["beyond_confounds"].update(effect_name="delta_d2", effect=0.07, confound_model="splines of mean FD")
    t = model_tests(metrics)
    assert (t.p_beyond, t.effect, t.chance) == (0.2, 0.07, 0.3)
    assert t.rule_text == "One sentence from the models." and t.confound_model == "splines of mean FD"


def test_regression_chance_and_a_model_without_the_confound_test():
    metrics = {"kind": "regression", "primary_metric": "spearman", "n_permutations": 20,
               "scores": {"spearman": {"mean": 0.6, "sd": 0.01, "p_value": 1 / 21}},
               "p_value": 1 / 21, "p_value_rule": "permutation null of the whole pipeline",
               "beyond_confounds": {"computed": False, "reason": "none of the confounds is in the features table"}}
    t = model_tests(metrics)
    assert t.chance == 0.0 and chance_level(metrics, "r2") == 0.0 and chance_level(metrics, "mae") is None
    assert t.p_permutation == pytest.approx(1 / 21) and t.p_beyond is None and t.rule == "permutation"
    assert t.p_floor == pytest.approx(1 / 21)
    assert "not run" in t.rule_text and t.beyond_reason.startswith("none of the confounds")
    assert chance_level({"primary_metric": "balanced_accuracy", "classes": ["a", "b", "c"]}) == pytest.approx(1 / 3)


def test_parametric_p_is_used_and_named_when_no_permutation_ran():
    metrics = _old_classification()
    metrics["beyond_confounds"]["p_permutation"] = None
    metrics["p_value"] = 0.02
    t = model_tests(metrics)
    assert t.p_beyond == 0.007 and t.p_beyond_kind == "parametric" and t.rule == "permutation"


@pytest.mark.parametrize("p, floor, text", [
    (0.047619047619047616, 1 / 21, "p = 0.048 (floor)"), (0.047619047619047616, None, "p = 0.048"),
    (0.5, None, "p = 0.5"), (0.456, None, "p = 0.46"), (1.0, None, "p = 1"), (0.0123, None, "p = 0.012"),
    (0.00456, None, "p = 0.0046"), (0.0004, None, "p < 0.001"), (1 / 1001, 1 / 1001, "p = 0.001 (floor)"),
    (1 / 10001, 1 / 10001, "p = 0.0001 (floor)"), (None, None, "p n/a"), (float("nan"), None, "p n/a")])
def test_format_p(p, floor, text):
    assert format_p(p, floor) == text


def test_summary_fields_and_log_lines(caplog):
    from neurokit.pipelines.group import SUMMARY_COLUMNS, _log_suite, _model_line, _summary_fields

    metrics = {**_old_classification(p_perm=1 / 100, p_beyond=0.03), "n_rows": 40}
    row = _summary_fields(metrics)
    assert set(row) <= set(SUMMARY_COLUMNS)
    assert row["chance"] == 0.25 and row["p_value_permutation"] == 0.01 and row["p_value_beyond_confounds"] == 0.03
    assert row["beyond_confounds_effect_name"] == "delta_d2" and row["beyond_confounds_effect"] == 0.061
    assert row["p_value"] == 0.03 and row["p_value_rule"] == "max(permutation, beyond_confounds)"
    line = _model_line(metrics)
    assert line == ("balanced_accuracy = 0.440 +/- 0.030 (chance 0.250); permutation p = 0.010 (floor); beyond "
                    "confounds delta D2 = 0.061, p = 0.030; p = 0.030 by max(permutation, beyond_confounds)")
    rows = [{"target": "stage", "feature_set": "pfc_limbic_edges", "status": "fitted", **row},
            {"target": "stage", "feature_set": "x", "status": "not fitted", "reason": "no rows"}]
    with caplog.at_level(logging.INFO, logger="neurokit.group"):
        _log_suite(rows)
    assert "model stage/pfc_limbic_edges: FDR-corrected p = 0.4 (balanced_accuracy 0.440, chance 0.250)" in caplog.text
    assert "0 of 1 fitted model(s) significant at FDR p < 0.05 (p by max(permutation, beyond_confounds))" in caplog.text
    assert "0.0476190" not in caplog.text
