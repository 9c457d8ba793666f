"""The batched permutation engine against the general path (refit the whole pipeline per
permutation) and against scikit-learn / scipy references: predictions, p-values, grouping,
scores and the FDR correction across models.
"""

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import Ridge
from sklearn.metrics import balanced_accuracy_score, mean_absolute_error, r2_score, roc_auc_score

from neurokit.models import ModelError, build_pipeline, cross_validate_model, fdr_correct, simulate_features
from neurokit.models import _inner, _permute
from neurokit.models._folds import _batch_scores, _Job, _run_cv, _splits
from neurokit.models._inner import GroupRidgeClassifierCV, _balanced_weights, _ridge_decisions
from neurokit.models._permute import _batched_oof, permutation_null


def _job(kind, estimator=None, *, n_participants=24, n_sessions=2, n_classes=3, edge_selection=None, seed=0):
    """A small job in the tail layout [6 features | 2 covariates | site], two sessions per participant."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_participants), n_sessions)
    n = len(groups)
    person = rng.normal(size=n_participants)
    if kind == "classification":
        y = np.resize(np.arange(n_classes), n_participants)[groups]
        signal = y.astype(float)
    else:
        y = person[groups] + 0.3 * rng.normal(size=n)
        signal = y
    features = rng.normal(size=(n, 6)) + 0.8 * signal[:, None] * [1, 1, 0, 0, 0, 0]
    covariates = rng.normal(size=(n, 2))
    site = np.resize([0.0, 1.0], n_participants)[groups]
    X = np.column_stack([features, covariates, site])
    pipeline = build_pipeline(kind, estimator=estimator, n_covariates=2, edge_selection=edge_selection)
    job = _Job(X, y, groups, None, kind, n_classes if kind == "classification" else 0, pipeline, 3, (0, 1))
    job.splits = [_splits(job, seed) for seed in job.seeds]
    return job


def _permuted(job, n):
    return np.stack([_permute._permuted_target(job, i, 5) for i in range(n)])


CASES = [
    ("regression", "ridge", None, 0),
    ("classification", "ridge", None, 3),
    ("classification", "ridge", None, 2),
    ("classification", "logistic", None, 3),
    ("regression", "ridge", 0.5, 0),
    ("classification", "svm", None, 2),
]


@pytest.mark.parametrize(("kind", "estimator", "edge_selection", "n_classes"), CASES)
def test_batched_oof_equals_general_path(kind, estimator, edge_selection, n_classes):
    job = _job(kind, estimator, n_classes=max(n_classes, 2), edge_selection=edge_selection)
    targets = np.vstack([job.y[None], _permuted(job, 4)])  # the observed target, then permutations
    batched = _batched_oof(job, targets)
    for j, y in enumerate(targets):
        general, _, _ = _run_cv(job, y)
        for r in range(len(job.seeds)):
            np.testing.assert_allclose(batched[r][j], general[r], rtol=0, atol=1e-8)


@pytest.mark.parametrize("estimator", ["ridge", "logistic"])
def test_a_one_class_training_fold_predicts_that_class_on_both_paths(estimator):
    job = _job("classification", estimator, n_classes=2)
    train, test = job.splits[0][0]
    y = np.zeros(len(job.y), dtype=int)
    y[test] = 1  # as a permutation of a small study can do: fold 0 trains on class 0 only
    batched = _batched_oof(job, y[None])
    general, _, _ = _run_cv(job, y)
    np.testing.assert_array_equal(batched[0][0][test], np.tile([1.0, 0.0], (len(test), 1)))
    for r in range(len(job.seeds)):
        np.testing.assert_allclose(batched[r][0], general[r], atol=1e-8)


def test_observed_target_equals_the_fitted_estimator():
    # identity "permutation": the ridge classifier's own fit and predict, fold by fold
    job = _job("classification", "ridge", n_classes=3)
    batched = _batched_oof(job, job.y[None])[0][0]
    for train, test in job.splits[0]:
        model = build_pipeline("classification", estimator="ridge", n_covariates=2)
        model.fit(job.X[train], job.y[train], model__groups=job.groups[train])
        assert isinstance(model.named_steps["model"], GroupRidgeClassifierCV)
        expected = _permute._softmax(model.decision_function(job.X[test]))
        np.testing.assert_allclose(batched[test], expected, atol=1e-8)


@pytest.mark.parametrize(
    ("target", "feature_set", "estimator", "selection"),
    [
        ("severity", "pfc_limbic_edges", None, None),
        ("stage", "pfc_limbic_edges", "ridge", None),
        ("user_vs_control", "summary_indices", "ridge", None),
        ("user_vs_control", "biomarkers", "logistic", None),
        ("severity", "pfc_limbic_edges", "cpm", None),
        ("stage", "pfc_limbic_edges", "ridge", 0.5),
    ],
)
def test_same_null_and_p_values_on_both_engines(target, feature_set, estimator, selection):
    features, networks = simulate_features(30, n_sessions=2, effect=1.0, random_state=2)
    kwargs = dict(estimator=estimator, edge_selection=selection, cv_folds=3, cv_repeats=2, n_permutations=7)
    general = cross_validate_model(features, target, feature_set, networks, permutation_engine="general", **kwargs)
    batched = cross_validate_model(features, target, feature_set, networks, **kwargs)
    assert batched.metrics["permutation_engine"] == "batched"
    np.testing.assert_allclose(batched.permutation_null.to_numpy(), general.permutation_null.to_numpy(), atol=1e-8)
    for metric, entry in general.metrics["scores"].items():
        assert batched.metrics["scores"][metric]["p_value"] == entry["p_value"]
    assert batched.metrics["p_value_floor"] == pytest.approx(1 / 8)


def test_blocks_and_dask_give_the_same_null():
    distributed = pytest.importorskip("distributed")
    job = _job("classification", "ridge", n_classes=3)
    whole = permutation_null(job, 9, 4, block_size=100)
    pieces = permutation_null(job, 9, 4, block_size=2)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        on_dask = permutation_null(job, 9, 4, client=client, block_size=4)
    np.testing.assert_array_equal(whole.to_numpy(), pieces.to_numpy())
    np.testing.assert_array_equal(whole.to_numpy(), on_dask.to_numpy())
    assert whole.shape == (9, 2)


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_no_participant_on_both_sides_of_any_fold_in_any_permutation(kind, monkeypatch):
    job = _job(kind, "ridge", n_participants=18, n_sessions=3)
    seen = {"outer": [], "inner": []}
    inner_splits = _inner._inner_splits

    def record_inner(kind_, n_splits, X, y, groups):
        splits = inner_splits(kind_, n_splits, X, y, groups)
        seen["inner"].append((np.asarray(groups), splits))
        return splits

    ridge_scores = _permute._ridge_scores

    def record_outer(job_, model, Z_train, Z_test, Y, train):
        seen["outer"].append((train, len(Y)))
        return ridge_scores(job_, model, Z_train, Z_test, Y, train)

    monkeypatch.setattr(_permute, "_inner_splits", record_inner)
    monkeypatch.setattr(_permute, "_ridge_scores", record_outer)
    _batched_oof(job, _permuted(job, 6))
    folds = [split for splits in job.splits for split in splits]
    assert [len(train) for train, _ in seen["outer"]] == [len(train) for train, _ in folds]
    assert all(n_targets == 6 for _, n_targets in seen["outer"])  # every permutation went through these folds
    for (used, _), (train, test) in zip(seen["outer"], folds):
        np.testing.assert_array_equal(used, train)
        assert not set(job.groups[train]) & set(job.groups[test])
    assert len(seen["inner"]) == len(folds)
    for groups, splits in seen["inner"]:
        for fit_rows, test_rows in splits:
            assert not set(groups[fit_rows]) & set(groups[test_rows])


def test_batched_scores_match_scikit_learn(rng):
    y = rng.normal(size=(3, 40))
    pred = y + rng.normal(size=(3, 40))
    pred[1] = np.round(pred[1])  # ties in the ranks
    scores = _batch_scores("regression", y, pred, 0)
    for j in range(3):
        assert scores["spearman"][j] == pytest.approx(stats.spearmanr(y[j], pred[j]).statistic, abs=1e-12)
        assert scores["r2"][j] == pytest.approx(r2_score(y[j], pred[j]), abs=1e-12)
        assert scores["mae"][j] == pytest.approx(mean_absolute_error(y[j], pred[j]), abs=1e-12)
    assert _batch_scores("regression", y, np.ones_like(y), 0)["spearman"].tolist() == [0.0, 0.0, 0.0]
    for k in (2, 4):
        codes = np.stack([rng.permutation(np.resize(np.arange(k), 41)) for _ in range(3)])
        proba = rng.dirichlet(np.ones(k), size=(3, 41))
        proba[2] = proba[2, rng.integers(0, 5, 41)]  # five distinct rows: tied scores
        scores = _batch_scores("classification", codes, proba, k)
        for j in range(3):
            assert scores["balanced_accuracy"][j] == pytest.approx(
                balanced_accuracy_score(codes[j], proba[j].argmax(axis=1)), abs=1e-12
            )
            expected = (
                roc_auc_score(codes[j], proba[j][:, 1])
                if k == 2
                else roc_auc_score(codes[j], proba[j] / proba[j].sum(axis=1, keepdims=True), multi_class="ovr")
            )
            assert scores["roc_auc"][j] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n_features", [5, 60])  # fewer and more features than rows
def test_ridge_decisions_match_scikit_learn_ridge(rng, n_features):
    X, X_new = rng.normal(size=(30, n_features)), rng.normal(size=(7, n_features))
    Y = rng.normal(size=(30, 2, 3))
    alphas = np.array([0.1, 10.0])
    codes = rng.integers(0, 3, size=(2, 30))
    uniform = np.full((2, 30), 1 / 30)
    balanced = _balanced_weights(codes, 3)
    balanced /= balanced.sum(axis=1, keepdims=True)
    plain = _ridge_decisions(X, Y, X_new, alphas, uniform)
    centred = _ridge_decisions(X, Y, X_new, alphas, balanced)
    assert plain.shape == centred.shape == (2, 2, 7, 3)
    for b in range(2):
        # the class means' mean, computed the long way
        x_centre = np.mean([X[codes[b] == c].mean(axis=0) for c in range(3)], axis=0)
        y_centre = np.mean([Y[codes[b] == c, b].mean(axis=0) for c in range(3)], axis=0)
        for a, alpha in enumerate(alphas):
            ref = Ridge(alpha=alpha, solver="svd").fit(X, Y[:, b])
            np.testing.assert_allclose(plain[a, b], ref.predict(X_new), atol=1e-9)
            np.testing.assert_allclose(centred[a, b], (X_new - x_centre) @ ref.coef_.T + y_centre, atol=1e-9)


def test_fdr_matches_scipy():
    p = [0.001, 0.04, None, 0.03, 0.5, 0.0099, 1.0, 0.2]
    expected = stats.false_discovery_control([v for v in p if v is not None], method="bh")
    adjusted = fdr_correct(p)
    assert adjusted[2] is None
    np.testing.assert_allclose([v for v in adjusted if v is not None], expected, atol=1e-12)
    assert fdr_correct([]) == []
    with pytest.raises(ModelError, match=r"'p_values' must hold numbers in \[0, 1\] or None; got 1.5"):
        fdr_correct([0.1, 1.5])


def test_engine_errors():
    features, networks = simulate_features(20, random_state=0)
    with pytest.raises(ModelError, match=r"'permutation_engine' must be one of \('batched', 'general'\); got 'fast'"):
        cross_validate_model(features, "severity", "summary_indices", networks, permutation_engine="fast")
    with pytest.raises(ModelError, match=r"'block_size' must be an integer >= 1; got 0"):
        permutation_null(_job("regression"), 3, 0, block_size=0)
    with pytest.raises(ModelError, match=r"'strata' must hold one label per row of X \(4\); got shape \(3,\)"):
        GroupRidgeClassifierCV().fit(rng_X(), [0, 1, 0, 1], groups=[0, 1, 2, 3], strata=[0, 1, 0])


def rng_X():
    return np.random.default_rng(1).normal(size=(4, 2))


def test_default_estimator_is_ridge_for_every_target():
    # ridge classification matched L2 logistic within noise (benchmarks/README.md), and batches
    for target in ("severity", "stage", "user_vs_control"):
        model = build_pipeline(target).named_steps["model"]
        assert type(model).__name__ == ("GroupRidgeCV" if target == "severity" else "GroupRidgeClassifierCV")
    features, networks = simulate_features(20, random_state=0)
    result = cross_validate_model(features, "stage", "summary_indices", networks, cv_repeats=1, n_permutations=0)
    assert result.metrics["estimator"] == "ridge" and result.metrics["p_value_floor"] is None
