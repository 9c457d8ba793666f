"""The longitudinal mixed-effects model of neurokit.models."""

import json

import numpy as np
import pytest

from neurokit.models import ModelError, longitudinal_model, simulate_features


@pytest.fixture(scope="module")
def sessions():
    return simulate_features(30, n_sessions=3, effect=1.0, random_state=2)[0]


def test_stage_effect_recovered_with_random_intercept(sessions):
    result = longitudinal_model(sessions)
    assert result["fitted"] and result["n_multi_session"] == 30 and result["n_observations"] == 90
    terms = {p["term"]: p for p in result["params"]}
    active = terms["C(stage, Treatment(reference='control'))[T.active]"]
    assert active["coef"] < 0 and active["p"] < 0.05  # the planted drop in prefrontal-limbic coupling
    assert result["random_intercept_var"] >= 0
    assert result["formula"] == "idx_pfc_limbic ~ C(stage, Treatment(reference='control')) + (1 | participant_id)"
    json.dumps(result)


def test_abstinence_days_with_covariates(sessions):
    result = longitudinal_model(sessions, predictor="abstinence_days", covariates=("age", "sex"))
    assert result["fitted"]
    assert {p["term"] for p in result["params"]} == {"Intercept", "abstinence_days", "age", "sex[T.M]"}
    assert result["formula"].startswith("idx_pfc_limbic ~ abstinence_days + age + sex")


def test_runs_of_a_session_are_averaged(sessions):
    doubled = sessions.assign(run_id=1)
    twice = doubled.assign(run_id=2)
    import pandas as pd

    both = pd.concat([doubled, twice], ignore_index=True)
    assert longitudinal_model(both)["n_observations"] == 90


def test_not_fitted_without_repeated_sessions():
    features, _ = simulate_features(20, random_state=0)
    result = longitudinal_model(features)
    assert result["fitted"] is False
    assert "0 participant(s) have two or more usable sessions" in result["message"]


def test_missing_sessions_are_counted(sessions):
    f = sessions.copy()
    f.loc[:4, "idx_pfc_limbic"] = np.nan
    result = longitudinal_model(f)
    assert result["excluded"] == {"sessions missing outcome, predictor or covariates": 5}
    assert result["n_observations"] == 85


def test_errors(sessions):
    with pytest.raises(ModelError, match=r"'predictor' must be one of \('stage', 'abstinence_days'\); got 'severity'"):
        longitudinal_model(sessions, predictor="severity")
    with pytest.raises(ModelError, match=r"needs column\(s\) \['bmi'\] in the features table"):
        longitudinal_model(sessions, covariates=("bmi",))
    with pytest.raises(ModelError, match=r"'covariates' must be a sequence of column names; got the string 'age'"):
        longitudinal_model(sessions, covariates="age")


def test_fit_models_runs_everything_and_skips_with_reasons(sessions):
    from neurokit.models import fit_models

    features = sessions.assign(bdnf=np.nan, hrv=np.nan)
    networks = simulate_features(30, n_sessions=3, random_state=2)[1]
    suite = fit_models(
        features, networks, targets=("severity", "user_vs_control"), feature_sets=("summary_indices", "biomarkers"),
        estimator="svm", cv_folds=3, cv_repeats=1, n_permutations=0,
    )
    assert set(suite.results) == {("severity", "summary_indices"), ("user_vs_control", "summary_indices")}
    assert "every column of feature set 'biomarkers' is all missing" in suite.skipped[("severity", "biomarkers")]
    assert suite.longitudinal["stage"]["fitted"] and suite.longitudinal["abstinence_days"]["fitted"]
    with pytest.raises(ModelError, match=r"unknown target\(s\) \['craving'\]"):
        fit_models(features, networks, targets=("craving",))


def test_fit_models_reports_a_failing_longitudinal_model_and_keeps_the_others(sessions):
    from neurokit.models import fit_models

    # an atlas without prefrontal/limbic labels gives no prefrontal-limbic index to model over sessions
    features = sessions.drop(columns="idx_pfc_limbic")
    networks = simulate_features(30, n_sessions=3, random_state=2)[1]
    seen = []
    suite = fit_models(
        features, networks, targets=("severity",), feature_sets=("summary_indices", "biomarkers"),
        longitudinal_predictors=("stage",), extra_metrics={"denoising_strategy": "simple"},
        on_model=lambda target, feature_set, result, reason: seen.append((feature_set, result is None, reason)),
        estimator="ridge", cv_folds=3, cv_repeats=1, n_permutations=0,
    )
    assert set(suite.results) == {("severity", "summary_indices"), ("severity", "biomarkers")}
    assert list(suite.longitudinal) == ["stage"]
    failed = suite.longitudinal["stage"]
    assert failed["fitted"] is False and failed["predictor"] == "stage" and failed["outcome"] == "idx_pfc_limbic"
    assert failed["message"].startswith("not fitted: longitudinal_model needs column(s) ['idx_pfc_limbic']")
    metrics = suite.results[("severity", "summary_indices")].metrics
    assert list(metrics)[-2:] == ["denoising_strategy", "p_value_fdr"]  # what metrics.json is written in
    assert [(f, skipped) for f, skipped, _ in seen] == [("summary_indices", False), ("biomarkers", False)]


def test_fit_models_fits_no_longitudinal_model_without_sessions_and_checks_predictors(sessions):
    from neurokit.models import fit_models

    networks = simulate_features(30, n_sessions=3, random_state=2)[1]
    one_session = sessions.assign(session_id=None)
    suite = fit_models(one_session, networks, targets=("severity",), feature_sets=("summary_indices",),
                       estimator="ridge", cv_folds=3, cv_repeats=1, n_permutations=0)
    assert suite.longitudinal == {} and len(suite.results) == 1
    skipped = []
    suite = fit_models(sessions.drop(columns=["bdnf", "hrv"]), networks, targets=("severity",),
                       feature_sets=("biomarkers",), longitudinal=False,
                       on_model=lambda *args: skipped.append(args), estimator="ridge", cv_folds=3)
    assert suite.results == {} and suite.longitudinal == {}
    assert skipped == [("severity", "biomarkers", None, suite.skipped[("severity", "biomarkers")])]
    with pytest.raises(ModelError, match=r"'longitudinal_predictors' must be a sequence of \('stage', "
                                         r"'abstinence_days'\); got \('craving',\)"):
        fit_models(sessions, networks, longitudinal_predictors=("craving",))
    with pytest.raises(ModelError, match=r"'longitudinal_predictors' must be a sequence .*; got 'stage'"):
        fit_models(sessions, networks, longitudinal_predictors="stage")
