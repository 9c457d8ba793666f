"""The custom estimators of neurokit.models: scikit-learn conformance and known answers."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from neurokit.models import (
    ComBatHarmonizer,
    CovariateRegressor,
    CPMClassifier,
    CPMRegressor,
    ModelError,
)


@parametrize_with_checks(
    [
        CovariateRegressor(),
        CovariateRegressor(n_covariates=1),
        ComBatHarmonizer(),
        ComBatHarmonizer(empirical_bayes=False, unseen_site="pooled"),
        CPMRegressor(threshold=0.05),
        CPMClassifier(threshold=0.05),
        CPMClassifier(threshold=0.05, network="positive"),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _sites(n_per_site, rng, shift=(0.0, 3.0, -2.0), scale=(1.0, 2.0, 0.5), n_features=6):
    site = np.repeat(np.arange(len(n_per_site), dtype=float), n_per_site)
    base = rng.normal(size=(len(site), n_features))
    X = base * np.asarray(scale)[site.astype(int), None] + np.asarray(shift)[site.astype(int), None]
    return X, site


def test_covariate_regressor_removes_covariate_with_training_slopes(rng):
    motion = rng.normal(size=(80, 1))
    age = rng.normal(size=(80, 1))
    edges = 2 * motion - age + rng.normal(size=(80, 7)) + 5
    X = np.hstack([edges, motion, age])
    reg = CovariateRegressor(n_covariates=2).fit(X[:60])
    clean = reg.transform(X)
    assert clean.shape == (80, 7)
    assert reg.coef_.shape == (2, 7)
    np.testing.assert_allclose(reg.coef_[0], 2, atol=0.4)
    train_r = np.corrcoef(clean[:60, 0], motion[:60, 0])[0, 1]
    assert abs(train_r) < 1e-8
    assert abs(clean[:, 0].mean() - 5) < 0.5  # the feature's level is kept
    assert CovariateRegressor(n_covariates=0).fit_transform(edges) == pytest.approx(edges)


def test_covariate_regressor_errors():
    X = np.ones((5, 3))
    with pytest.raises(ModelError, match=r"'n_covariates' must be a non-negative integer; got -1"):
        CovariateRegressor(n_covariates=-1).fit(X)
    with pytest.raises(ModelError, match=r"'n_covariates'=3 leaves no feature columns in X with 3 feature\(s\)"):
        CovariateRegressor(n_covariates=3).fit(X)


@pytest.mark.parametrize("empirical_bayes", [True, False])
def test_combat_removes_site_location_and_scale(rng, empirical_bayes):
    X, site = _sites([40, 30, 35], rng)
    out = ComBatHarmonizer(empirical_bayes=empirical_bayes).fit_transform(np.column_stack([X, site]))
    assert out.shape == X.shape
    means = np.array([out[site == s].mean() for s in range(3)])
    sds = np.array([out[site == s].std() for s in range(3)])
    assert np.ptp(means) < 0.3 and np.ptp(sds) < 0.3
    assert np.ptp([X[site == s].mean() for s in range(3)]) > 4


def test_combat_keeps_covariate_effects_and_passes_covariates(rng):
    # age differs between sites; its effect on the features must survive harmonisation
    site = np.repeat([0.0, 1.0], 50)
    age = rng.normal(size=100) + 1.5 * site
    X = 1.0 * age[:, None] + rng.normal(0, 0.3, (100, 4)) + 2 * site[:, None]
    out = ComBatHarmonizer(n_covariates=1).fit_transform(np.column_stack([X, age, site]))
    assert out.shape == (100, 5)
    np.testing.assert_array_equal(out[:, -1], age)
    slope = np.polyfit(age, out[:, 0], 1)[0]
    assert slope == pytest.approx(1.0, abs=0.15)


def test_combat_is_fitted_on_training_rows_only(rng):
    X, site = _sites([30, 30], rng, shift=(0.0, 2.0), scale=(1.0, 1.0))
    data = np.column_stack([X, site])
    h = ComBatHarmonizer().fit(data[::2])
    before = h.gamma_.copy()
    shifted = data[1::2].copy()
    shifted[:, :-1] *= 10
    h.transform(shifted)
    np.testing.assert_array_equal(h.gamma_, before)
    assert h.gamma_.shape == (2, 6) and h.delta_.shape == (2, 6)


def test_combat_unseen_site_raises_or_pools(rng):
    X, site = _sites([20, 20], rng, shift=(0.0, 2.0), scale=(1.0, 1.0))
    h = ComBatHarmonizer().fit(np.column_stack([X, site]))
    new = np.column_stack([X[:3], np.full(3, 7.0)])
    with pytest.raises(ModelError, match=r"site code\(s\) \[7.0\] were not in the training data.*unseen_site='pooled'"):
        h.transform(new)
    pooled = ComBatHarmonizer(unseen_site="pooled").fit(np.column_stack([X, site])).transform(new)
    np.testing.assert_array_equal(pooled, X[:3])


def test_combat_small_and_single_sites_pass_through(rng):
    X = rng.normal(size=(5, 3))
    data = np.column_stack([X, [0.0, 1.0, 1.0, 2.0, 3.0]])
    h = ComBatHarmonizer().fit(data)
    assert len(h.sites_) == 0  # only one site has two samples: nothing to harmonise against
    np.testing.assert_array_equal(h.transform(data), X)


def test_combat_errors(rng):
    data = np.column_stack([rng.normal(size=(6, 2)), np.repeat([0.0, 1.0], 3)])
    with pytest.raises(ModelError, match=r"'unseen_site' must be one of \('raise', 'pooled'\); got 'drop'"):
        ComBatHarmonizer(unseen_site="drop").fit(data)
    with pytest.raises(ModelError, match=r"'min_site_size' must be an integer >= 2; got 1"):
        ComBatHarmonizer(min_site_size=1).fit(data)
    with pytest.raises(ModelError, match=r"too narrow for ComBatHarmonizer\(n_covariates=2\)"):
        ComBatHarmonizer(n_covariates=2).fit(data)
    with pytest.raises(ModelError, match=r"'n_covariates' must be a non-negative integer; got 'age'"):
        ComBatHarmonizer(n_covariates="age").fit(data)


def test_cpm_regressor_selects_planted_edges(rng):
    X = rng.normal(size=(200, 40))
    y = X[:, :4].sum(axis=1) - X[:, 4:8].sum(axis=1) + rng.normal(size=200)
    cpm = CPMRegressor(threshold=0.001).fit(X, y)
    assert cpm.positive_mask_[:4].all() and cpm.negative_mask_[4:8].all()
    assert cpm.positive_mask_[8:].sum() + cpm.negative_mask_[8:].sum() <= 3
    assert np.corrcoef(cpm.predict(X), y)[0, 1] > 0.8
    assert cpm.coef_.shape == (40,)
    assert CPMRegressor(network="positive").fit(X, y).model_.coef_.shape == (1,)


def test_cpm_without_selected_edges_predicts_the_mean(rng):
    X = rng.normal(size=(30, 5))
    y = rng.normal(size=30)
    cpm = CPMRegressor(threshold=1e-12).fit(X, y)
    assert not cpm.positive_mask_.any() and not cpm.negative_mask_.any()
    np.testing.assert_allclose(cpm.predict(X), y.mean())


def test_cpm_classifier_orders_classes(rng):
    y = np.repeat(["a", "b", "c"], 30)
    X = rng.normal(size=(90, 20))
    X[:, :3] += np.repeat([0.0, 1.5, 3.0], 30)[:, None]
    clf = CPMClassifier(threshold=0.001).fit(X, y)
    assert clf.positive_mask_[:3].all()
    assert (clf.predict(X) == y).mean() > 0.7
    assert clf.predict_proba(X).shape == (90, 3)


def test_cpm_errors(rng):
    X, y = rng.normal(size=(10, 3)), rng.normal(size=10)
    with pytest.raises(ModelError, match=r"'threshold' must be a p-value in \(0, 1\]; got 0"):
        CPMRegressor(threshold=0).fit(X, y)
    with pytest.raises(ModelError, match=r"'network' must be one of \('both', 'positive', 'negative'\); got 'pos'"):
        CPMRegressor(network="pos").fit(X, y)
    with pytest.raises(ModelError, match=r"needs at least two classes in y; got 1 class"):
        CPMClassifier().fit(X, np.zeros(10))
