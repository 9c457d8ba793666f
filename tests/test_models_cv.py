"""Cross-validation, permutation tests, patterns and persistence of neurokit.models on
simulated features tables with a known answer.
"""

import numpy as np
import pandas as pd
import pytest

from neurokit.models import (
    ModelError,
    build_pipeline,
    cross_validate_model,
    feature_columns,
    load_model,
    permute_within_participants,
    predict,
    save_model,
    simulate_features,
)

FAST = dict(cv_folds=3, cv_repeats=2, n_permutations=0)


@pytest.fixture(scope="module")
def planted():
    return simulate_features(60, effect=1.0, random_state=0)


@pytest.fixture(scope="module")
def multi_session():
    return simulate_features(30, n_sessions=2, effect=1.0, random_state=1)


def test_feature_sets(planted):
    features, networks = planted
    pfc_limbic = feature_columns(features, "pfc_limbic_edges", networks)
    assert len(pfc_limbic) == 7 * 6
    assert len(feature_columns(features, "all_edges", networks)) == 20 * 19 // 2
    assert feature_columns(features, "summary_indices", networks) == ["idx_pfc_within", "idx_limbic_within", "idx_pfc_limbic"]
    assert feature_columns(features, "biomarkers", networks) == ["bdnf", "hrv"]
    combined = feature_columns(features, "combined", networks)
    assert combined == pfc_limbic + ["idx_pfc_within", "idx_limbic_within", "idx_pfc_limbic", "bdnf", "hrv"]


def test_small_classes_are_noted_and_a_one_participant_class_is_an_error():
    features, networks = simulate_features(12, random_state=0)  # 3 participants per stage
    # folds are drawn without the target: 5 folds over 3 participants per class run, with a note
    result = cross_validate_model(features, "stage", "summary_indices", networks, n_permutations=0, cv_repeats=2)
    assert result.metrics["n_rows"] == 12
    assert any("fewer participants than the 5 folds" in note and "Lower models.cv_folds" in note
               for note in result.metrics["notes"])
    lone = features[(features["stage"] != "active") | (features["participant_id"] == features.loc[
        features["stage"] == "active", "participant_id"].iloc[0])]
    with pytest.raises(ModelError, match=r"class\(es\) \['active'\] of target 'stage' have a single participant: "
                                         r".*add participants of that class, or drop its rows"):
        cross_validate_model(lone, "stage", "summary_indices", networks, n_permutations=0, cv_folds=3)


def test_folds_are_built_from_participants_alone(multi_session):
    from neurokit.models._folds import _participant_folds

    groups = np.repeat(np.arange(11), [3, 1, 2, 2, 1, 1, 3, 2, 1, 1, 2])
    for seed in range(3):
        splits = _participant_folds(groups, 3, seed)
        tests = [test for _, test in splits]
        assert sorted(np.concatenate(tests)) == list(range(len(groups)))
        assert max(map(len, tests)) - min(map(len, tests)) <= 1  # balanced by rows, not by participants
        for train, test in splits:
            assert not set(groups[train]) & set(groups[test])
    assert [t.tolist() for _, t in _participant_folds(groups, 3, 0)] != [t.tolist() for _, t in
                                                                         _participant_folds(groups, 3, 1)]
    # the same folds whatever the target: the observed run and every permutation share them
    features, networks = multi_session
    kwargs = dict(cv_folds=3, cv_repeats=2, n_permutations=0)
    stage = cross_validate_model(features, "stage", "summary_indices", networks, **kwargs)
    severity = cross_validate_model(features, "severity", "summary_indices", networks, **kwargs)
    shuffled = features.copy()
    shuffled["severity"] = shuffled["severity"].sample(frac=1, random_state=3).to_numpy()
    moved = cross_validate_model(shuffled, "severity", "summary_indices", networks, **kwargs)
    np.testing.assert_array_equal(stage.folds, severity.folds)
    np.testing.assert_array_equal(severity.folds, moved.folds)
    assert severity.metrics["cv"]["scheme"] == "repeated_group_kfold"
    assert severity.metrics["chance"] == {"spearman": 0.0, "r2": 0.0}
    assert stage.metrics["chance"]["balanced_accuracy"] == pytest.approx(0.25)


def test_feature_set_errors(planted):
    features, networks = planted
    with pytest.raises(ModelError, match=r"'feature_set' must be one of .*got 'edges'"):
        feature_columns(features, "edges", networks)
    with pytest.raises(ModelError, match=r"region 'pfc00' of the features table has no network in 'networks'"):
        feature_columns(features, "all_edges", {k: v for k, v in networks.items() if k != "pfc00"})
    with pytest.raises(ModelError, match=r"networks\['pfc00'\] must be one of"):
        feature_columns(features, "all_edges", {**networks, "pfc00": "frontal"})
    with pytest.raises(ModelError, match=r"feature set 'biomarkers' has no columns.*'bdnf', 'hrv'"):
        feature_columns(features.drop(columns=["bdnf", "hrv"]), "biomarkers", networks)
    with pytest.raises(ModelError, match=r"edge column 'edge__pfc00-lim01' does not follow"):
        feature_columns(pd.DataFrame({"edge__pfc00-lim01": [1.0]}), "all_edges", networks)


def test_build_pipeline_steps_and_errors():
    pipe = build_pipeline("severity", n_covariates=3, edge_selection=0.2)
    assert [n for n, _ in pipe.steps] == ["harmonize", "covariates", "scale", "select", "model"]
    assert pipe.named_steps["select"].percentile == pytest.approx(20)
    pipe = build_pipeline("classification", harmonize_site=False, estimator="svm")
    assert [n for n, _ in pipe.steps] == ["covariates", "scale", "model"]
    with pytest.raises(ModelError, match=r"'target_kind' must be one of .*got 'ordinal'"):
        build_pipeline("ordinal")
    with pytest.raises(ModelError, match=r"'estimator' must be one of \('ridge', 'logistic', 'svm', 'cpm'\)"):
        build_pipeline("stage", estimator="forest")
    with pytest.raises(ModelError, match=r"'estimator'='logistic' cannot predict a continuous target"):
        build_pipeline("severity", estimator="logistic")
    assert type(build_pipeline("stage", estimator="ridge").named_steps["model"]).__name__ == "GroupRidgeClassifierCV"
    with pytest.raises(ModelError, match=r"'edge_selection' must be a fraction in \(0, 1\] or None; got 2"):
        build_pipeline("stage", edge_selection=2)


def test_permutation_keeps_sessions_together(rng):
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 4, 5, 5, 5])
    perm = permute_within_participants(groups, rng)
    assert sorted(perm) == list(range(len(groups)))
    for g in np.unique(groups):
        donor = groups[perm[groups == g]]
        assert len(set(donor)) == 1 and (groups == donor[0]).sum() == (groups == g).sum()


def test_participant_never_in_train_and_test(multi_session):
    features, networks = multi_session
    for target in ("severity", "stage"):
        result = cross_validate_model(features, target, "pfc_limbic_edges", networks, estimator="svm", **FAST)
        pid = result.predictions["participant_id"].to_numpy()
        assert result.folds.shape == (2, len(pid))
        for fold in result.folds:
            per_person = pd.Series(fold).groupby(pid).nunique()
            assert (per_person == 1).all()  # all of a participant's sessions sit in one test fold
        assert result.predictions.groupby("participant_id").size().eq(2).all()


def test_result_contents(planted):
    features, networks = planted
    result = cross_validate_model(features, "stage", "summary_indices", networks, estimator="svm", **FAST)
    m = result.metrics
    assert m["classes"] == ["control", "active", "early_abstinence", "sustained_remission"]
    assert len(m["scores"]["balanced_accuracy"]["per_repeat"]) == 2
    assert np.array(m["confusion_matrix"]["matrix"]).sum() == 60
    assert m["p_value"] is None and result.permutation_null.shape == (0, 2)
    assert {"proba_control", "proba_active", "y_true", "y_pred", "session_id", "run_id"} <= set(result.predictions)
    np.testing.assert_allclose(result.predictions.filter(like="proba_").sum(axis=1), 1)
    assert set(result.patterns["level"]) == {"feature"}
    # four unordered classes: one-vs-rest patterns per class beside the one-row-per-feature table
    by_class = result.class_patterns.groupby("class")["name"].count()
    assert list(by_class.index) == ["active", "control", "early_abstinence", "sustained_remission"]
    assert (by_class == len(result.patterns)).all()  # every class has a pattern for every feature
    assert "class" not in result.patterns
    import json

    json.dumps(m)  # the pipeline writes it as metrics.json


def test_missing_values_are_counted_not_dropped_silently(planted):
    features, networks = planted
    f = features.copy()
    f.loc[:4, "severity"] = np.nan
    f.loc[5:6, "edge__pfc00--lim00"] = np.nan
    f.loc[7, "sex"] = np.nan
    f["age"] = np.nan
    f.loc[8, "site"] = np.nan
    result = cross_validate_model(f, "severity", "pfc_limbic_edges", networks, covariates=("age", "sex", "mean_fd"),
                                  **FAST)
    m = result.metrics
    assert m["excluded"] == {"missing target 'severity'": 5, "missing features": 2, "missing covariates": 1, "missing site": 1}
    assert m["n_rows"] == 60 - 9 and len(result.predictions) == 51
    assert m["covariates"] == ["sex", "mean_fd"]
    assert any("'age' is missing" in note for note in m["notes"])


def test_cross_validate_errors(planted):
    features, networks = planted
    with pytest.raises(ModelError, match=r"'cv_folds'=80 exceeds the 60 participants"):
        cross_validate_model(features, "severity", "summary_indices", networks, cv_folds=80)
    with pytest.raises(ModelError, match=r"'covariates' must be a sequence of column names; got the string 'age'"):
        cross_validate_model(features, "severity", "summary_indices", networks, covariates="age")
    with pytest.raises(ModelError, match=r"'target' must be one of .*got 'craving'"):
        cross_validate_model(features, "craving", "summary_indices", networks)
    with pytest.raises(ModelError, match=r"'n_permutations' must be an integer >= 0; got -1"):
        cross_validate_model(features, "severity", "summary_indices", networks, n_permutations=-1)
    plain = features.assign(stage=features["stage"].astype(str))
    with pytest.raises(ModelError, match=r"column 'stage' is not a pandas Categorical.*stage_levels="):
        cross_validate_model(plain, "stage", "summary_indices", networks)
    with pytest.raises(ModelError, match=r"single class among usable rows \('control'\)"):
        cross_validate_model(features[features["stage"] == "control"], "stage", "summary_indices", networks)
    unlabelled = features.assign(stage=pd.Categorical([None] * len(features), categories=features["stage"].cat.categories,
                                                      ordered=True))
    with pytest.raises(ModelError, match=r"target 'stage' has no usable rows .* \(columns: in the configuration\)"):
        cross_validate_model(unlabelled, "stage", "summary_indices", networks)
    with pytest.raises(ModelError, match=r"site_out=True needs at least two sites"):
        cross_validate_model(features.assign(site="a"), "severity", "summary_indices", networks, site_out=True)


def test_site_confounded_with_target_is_noted(planted):
    features, networks = planted
    confounded = features.assign(site=np.where(features["stage"] == "control", "siteA", "siteB"))
    result = cross_validate_model(confounded, "user_vs_control", "summary_indices", networks, estimator="svm", **FAST)
    assert any("site is confounded with 'user_vs_control'" in note for note in result.metrics["notes"])
    plain = cross_validate_model(features, "user_vs_control", "summary_indices", networks, estimator="svm", **FAST)
    assert not any("confounded" in note for note in plain.metrics["notes"])


@pytest.mark.parametrize("estimator", ["cpm", "svm", "ridge"])
@pytest.mark.parametrize("target", ["severity", "user_vs_control"])
def test_other_estimators_and_edge_selection_run(planted, estimator, target):
    features, networks = planted
    result = cross_validate_model(
        features, target, "all_edges", networks, estimator=estimator, edge_selection=0.1, **FAST
    )
    assert "select" in result.model.pipeline.named_steps
    assert len(result.patterns[result.patterns["level"] == "feature"]) == 190  # every edge gets a pattern
    assert np.isfinite(result.metrics["scores"][result.metrics["primary_metric"]]["mean"])


def test_site_out_validation(planted):
    features, networks = planted
    result = cross_validate_model(features, "severity", "pfc_limbic_edges", networks, site_out=True, n_permutations=0)
    assert result.metrics["cv"]["scheme"] == "leave_site_out"
    assert result.metrics["cv"]["folds"] == 2 and result.folds.shape == (1, 60)
    sites = features["site"].to_numpy()
    assert all(len(set(sites[result.folds[0] == k])) == 1 for k in range(2))


def test_save_load_predict_roundtrip(planted, tmp_path):
    features, networks = planted
    result = cross_validate_model(
        features, "stage", "pfc_limbic_edges", networks, estimator="svm", atlas="pfclimbic", measure="correlation",
        config_hash="abc", **FAST,
    )
    path = save_model(result, tmp_path / "model")
    assert (path / "model.joblib").is_file() and (path / "model.json").is_file()
    model = load_model(path)
    assert model.feature_names == result.model.feature_names and model.classes == result.metrics["classes"]
    out = predict(model, features.iloc[:10], atlas="pfclimbic")
    assert list(out["participant_id"]) == list(features["participant_id"][:10])
    assert set(out["y_pred"]) <= set(model.classes) and (out["excluded_reason"] == "").all()
    again = predict(result.model, features.iloc[:10])
    pd.testing.assert_frame_equal(out, again)


def test_predict_refuses_mismatches(planted, tmp_path):
    features, networks = planted
    result = cross_validate_model(features, "severity", "pfc_limbic_edges", networks, atlas="pfclimbic", **FAST)
    model = result.model
    with pytest.raises(ModelError, match=r"trained on atlas 'pfclimbic' but these features come from atlas 'aal'"):
        predict(model, features, atlas="aal")
    other = features.copy()
    other.attrs["atlas"] = "aal"
    with pytest.raises(ModelError, match=r"trained on atlas 'pfclimbic'"):
        predict(model, other)
    other.attrs["measure"] = "tangent"
    assert cross_validate_model(other, "severity", "summary_indices", networks, **FAST).model.measure == "tangent"
    with pytest.raises(ModelError, match=r"lacks 1 column\(s\) the model was trained on, e.g. \['edge__pfc00--lim00'\]"):
        predict(model, features.drop(columns=["edge__pfc00--lim00"]))
    new_site = features.iloc[:4].assign(site="site9")
    with pytest.raises(ModelError, match=r"were not in the training data.*unseen_site='pooled'"):
        predict(model, new_site)
    assert predict(model, new_site, unseen_site="pooled")["y_pred"].notna().all()
    with pytest.raises(ModelError, match=r"covariate 'sex' has levels \['X'\] that the model was not trained on"):
        predict(model, features.iloc[:2].assign(sex="X"))
    with pytest.raises(ModelError, match=r"model.joblib does not exist; MODEL_DIR must be a folder written by save_model"):
        load_model(tmp_path)


# --- correctness on simulated data with a known answer (issue 6) ---------------------------

PERM = dict(cv_folds=5, cv_repeats=1, n_permutations=29)  # smallest possible p: 1/30


@pytest.mark.slow
def test_planted_effect_predicts_severity_with_prefrontal_limbic_patterns(planted):
    features, networks = planted
    result = cross_validate_model(features, "severity", "all_edges", networks, **PERM)
    assert result.metrics["p_value"] < 0.05
    assert result.metrics["scores"]["spearman"]["mean"] > 0.5
    patterns = result.patterns
    pairs = patterns[patterns["level"] == "network_pair"]
    assert pairs.iloc[0]["name"] == "limbic--prefrontal"
    top = patterns[patterns["level"] == "feature"].head(10)
    assert (top["network"] == "limbic--prefrontal").mean() >= 0.8
    assert (top["sign_consistency"] == 1).all()


@pytest.mark.slow
def test_planted_effect_predicts_stage(planted):
    features, networks = planted
    # three repeats: with folds drawn without the target the null is honest (no longer shifted
    # down), and one repeat's fold noise can leave a real effect of 60 participants at p = 2/30
    result = cross_validate_model(features, "stage", "pfc_limbic_edges", networks, **{**PERM, "cv_repeats": 3})
    scores = result.metrics["scores"]
    assert result.metrics["p_value"] < 0.05
    assert scores["balanced_accuracy"]["mean"] > scores["balanced_accuracy"]["null_95"][1]
    assert scores["roc_auc"]["p_value"] < 0.05


@pytest.mark.slow
def test_no_effect_is_at_chance():
    # each seed has a 5% chance of leaving the null's 95% range; this one is a typical draw
    features, networks = simulate_features(60, effect=0.0, random_state=3)
    result = cross_validate_model(features, "user_vs_control", "pfc_limbic_edges", networks, **PERM)
    ba = result.metrics["scores"]["balanced_accuracy"]
    low, high = ba["null_95"]
    assert low <= ba["mean"] <= high
    assert result.metrics["p_value"] > 0.05


@pytest.mark.slow
def test_leakage_guard_covariate_regression_removes_motion():
    # motion tracks severity and contaminates every edge; connectivity itself carries nothing
    features, networks = simulate_features(60, effect=0.0, motion_leak=0.9, motion_effect=1.5, random_state=0)
    guarded = cross_validate_model(features, "severity", "pfc_limbic_edges", networks,
                                   covariates=("age", "sex", "mean_fd"), **PERM)
    assert guarded.metrics["p_value"] > 0.05
    leaky = cross_validate_model(features, "severity", "pfc_limbic_edges", networks, covariates=(), **PERM)
    # without in-fold regression motion beats the permutation null, but adds nothing beyond mean FD,
    # so the model's p-value (the larger of the two) does not call it an effect
    assert leaky.metrics["p_value_permutation"] < 0.05
    assert leaky.metrics["beyond_confounds"]["p_permutation"] > 0.05
    assert leaky.metrics["p_value"] > 0.05 and leaky.metrics["p_value_rule"] == "max(permutation, beyond_confounds)"
    assert leaky.metrics["p_value"] == max(leaky.metrics["p_value_permutation"], leaky.metrics["p_value_beyond_confounds"])
    assert "intersection-union test" in leaky.metrics["p_value_rule_text"]


@pytest.mark.slow
def test_permutations_on_dask_match_sequential(planted):
    distributed = pytest.importorskip("distributed")
    features, networks = planted
    kwargs = dict(cv_folds=3, cv_repeats=1, n_permutations=4, estimator="svm", random_state=3)
    sequential = cross_validate_model(features, "user_vs_control", "summary_indices", networks, **kwargs)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        parallel = cross_validate_model(features, "user_vs_control", "summary_indices", networks, client=client, **kwargs)
    pd.testing.assert_frame_equal(sequential.permutation_null, parallel.permutation_null)
    assert sequential.metrics == parallel.metrics


def test_class_activation_patterns_match_numpy_one_vs_rest(rng):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from neurokit.models import aggregate_class_patterns, class_activation_patterns

    y = np.repeat([0, 1, 2], 40)
    X = rng.normal(size=(120, 4))
    X[y == 2, 0] += 2.0  # feature 0 marks class 2 only
    X[y == 0, 1] += 2.0  # feature 1 marks class 0 only
    pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
    P = class_activation_patterns(pipe, X, 3)
    Z = StandardScaler().fit_transform(X)
    proba = pipe.predict_proba(X)
    for c in range(3):  # reference: cov(z_j, p_c) / var(p_c), numpy's definitions
        expected = [np.cov(Z[:, j], proba[:, c])[0, 1] / np.var(proba[:, c], ddof=1) for j in range(4)]
        np.testing.assert_allclose(P[c], expected, rtol=1e-10)
    assert np.argmax(P[2]) == 0 and np.argmax(P[0]) == 1 and P[1][0] < 0
    # a class the fit never saw has no pattern, and is left out of the aggregate
    missing = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X[y < 2], y[y < 2])
    assert np.isnan(class_activation_patterns(missing, X[y < 2], 3)[2]).all()
    table = aggregate_class_patterns(np.stack([P, P]), ["c0", "c1", "c2"], ["a", "b", "c", "d"], {})
    assert sorted(set(table["class"])) == ["c0", "c1", "c2"]
    assert table[(table["class"] == "c2")].iloc[0]["name"] == "a"
