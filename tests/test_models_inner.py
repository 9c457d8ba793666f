"""Inner hyperparameter searches grouped by participant (GroupRidgeCV, GroupRidgeClassifierCV,
GroupLogisticRegressionCV): conformance, known answers, and no participant split in the inner folds.
"""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from neurokit.models import (
    GroupLogisticRegressionCV,
    GroupRidgeClassifierCV,
    GroupRidgeCV,
    ModelError,
    cross_validate_model,
    simulate_features,
)
from neurokit.models import _inner


# two Cs and two inner folds keep the logistic checks quick; one BLAS thread avoids oversubscription
@parametrize_with_checks([GroupRidgeCV(), GroupRidgeClassifierCV(), GroupLogisticRegressionCV(Cs=(0.1, 1.0), n_splits=2)])
def test_sklearn_compatible(estimator, check):
    with threadpool_limits(limits=1):
        check(estimator)


def test_ridge_refits_the_chosen_alpha(rng):
    X = rng.normal(size=(40, 6))
    y = X @ [1.0, -0.5, 0, 0, 0, 0.3] + rng.normal(size=40)
    model = GroupRidgeCV().fit(X, y, groups=np.repeat(np.arange(20), 2))
    assert model.alpha_ in GroupRidgeCV().alphas and model.cv_error_.shape == (13,)
    np.testing.assert_allclose(model.predict(X), Ridge(alpha=model.alpha_).fit(X, y).predict(X), atol=1e-10)
    clf = GroupRidgeClassifierCV().fit(X, np.where(y > 0, "hi", "lo"), groups=np.repeat(np.arange(20), 2))
    assert set(clf.predict(X)) <= {"hi", "lo"} and clf.decision_function(X).shape == (40,)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_ridge_classifier_is_ridge_on_prevalence_scaled_codes(rng, n_classes):
    # imbalanced classes (class 0 holds 70 % of the rows) and a weak signal on the first feature
    y = np.concatenate([np.zeros(56, dtype=int), rng.integers(1, n_classes, size=24)])
    X = rng.normal(size=(80, 7))
    X[:, 0] += 0.8 * y
    clf = GroupRidgeClassifierCV().fit(X, y, groups=np.repeat(np.arange(40), 2))
    # each class's indicator standardised by its training prevalence, the long way
    share = np.array([np.mean(y == c) for c in range(n_classes)])
    coded = ((y[:, None] == np.arange(n_classes)) - share) / np.sqrt(share * (1 - share))
    coded = coded[:, 1:] if n_classes == 2 else coded
    ref = Ridge(alpha=clf.alpha_, solver="svd").fit(X, coded)  # unit row weights, scikit-learn's intercept
    np.testing.assert_allclose(clf.coef_, ref.coef_.reshape(clf.coef_.shape), atol=1e-9)
    np.testing.assert_allclose(clf.intercept_, np.ravel(ref.intercept_), atol=1e-9)
    # the -1/+1 coding with the same ridge draws predictions to the large class
    plain = np.where(y[:, None] == np.arange(n_classes), 1.0, -1.0)
    plain = Ridge(alpha=clf.alpha_).fit(X, plain[:, 1:] if n_classes == 2 else plain).predict(X)
    plain_pred = (plain.ravel() > 0).astype(int) if n_classes == 2 else plain.argmax(axis=1)
    assert np.mean(clf.predict(X) == 0) < np.mean(plain_pred == 0)


SIZES = (90, 30, 15, 15)


def _imbalanced_study(seed, effect, n_features=40):
    """Training rows of classes 90/30/15/15 and balanced test rows (100 per class); class c
    shifts feature c by ``effect``. Plain numpy, independent of neurokit's simulator."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(4), SIZES)
    y_test = np.repeat(np.arange(4), 100)
    shift = effect * np.eye(4, n_features)
    return (rng.normal(size=(len(y), n_features)) + shift[y], y,
            rng.normal(size=(len(y_test), n_features)) + shift[y_test], y_test)


@pytest.mark.slow
def test_ridge_classifier_predicts_no_class_more_often_without_signal():
    # trained on 90/30/15/15 rows of pure noise, each class is predicted about a quarter of the
    # time (the -1/+1 coding: 0.42/0.26/0.16/0.16); over 30 studies the shares' standard error is
    # about 0.01, and the standardised coding keeps a small lean to the largest class (about 0.28
    # in simulation), so 0.25 +- 0.05 separates the two codings
    shares = []
    with threadpool_limits(limits=1):
        for seed in range(30):
            X, y, X_test, _ = _imbalanced_study(seed, effect=0.0)
            pred = GroupRidgeClassifierCV().fit(X, y).predict(X_test)
            shares.append(np.bincount(pred, minlength=4) / len(pred))
    mean = np.mean(shares, axis=0)
    np.testing.assert_allclose(mean, 0.25, atol=0.05)
    assert mean[0] < 0.33 and mean[2:].min() > 0.19


@pytest.mark.slow
def test_ridge_classifier_recall_does_not_follow_class_size():
    # every class equally separable: recall must not fall with the class's size (-1/+1 coding:
    # about 0.65/0.51/0.32/0.32)
    recall = []
    with threadpool_limits(limits=1):
        for seed in range(20):
            X, y, X_test, y_test = _imbalanced_study(seed, effect=1.0, n_features=20)
            pred = GroupRidgeClassifierCV().fit(X, y).predict(X_test)
            recall.append([np.mean(pred[y_test == c] == c) for c in range(4)])
    mean = np.mean(recall, axis=0)
    assert mean.max() - mean.min() < 0.12, mean
    assert mean[0] < mean[1:].max() + 0.05, mean  # the largest class is not the best recalled


def test_logistic_refits_the_chosen_c(rng):
    X = rng.normal(size=(60, 5))
    y = np.repeat([0, 1, 2], 20)
    X[:, 0] += y
    with threadpool_limits(limits=1):
        model = GroupLogisticRegressionCV().fit(X, y, groups=np.repeat(np.arange(30), 2))
    reference = LogisticRegression(C=model.C_, class_weight="balanced", solver="newton-cg", max_iter=2000).fit(X, y)
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-6)
    assert model.n_splits_ == 3 and model.cv_log_loss_.shape == (3,)


def test_inner_search_never_splits_a_participant(monkeypatch):
    """The default ridge and logistic models choose alpha / C on folds of whole participants."""
    features, networks = simulate_features(24, n_sessions=2, random_state=1)
    seen = []
    real = _inner._inner_splitter

    class Recording:
        def __init__(self, splitter):
            self.splitter = splitter

        def split(self, X, y, groups):
            for train, test in self.splitter.split(X, y, groups):
                seen.append((groups[train], groups[test]))
                yield train, test

    monkeypatch.setattr(_inner, "_inner_splitter", lambda kind, n: Recording(real(kind, n)))
    for target in ("severity", "stage"):
        cross_validate_model(features, target, "summary_indices", networks, cv_folds=3, cv_repeats=1, n_permutations=0)
    assert len(seen) >= 2 * 3 * 3  # inner splits of every outer fit (and the final refits)
    for train_groups, test_groups in seen:
        assert not set(train_groups) & set(test_groups)
        # the codes are participants (both sessions of each), not one code per row
        assert (np.unique(test_groups, return_counts=True)[1] == 2).all()


def test_inner_search_errors(rng):
    X, y = rng.normal(size=(8, 2)), np.repeat([0, 1], 4)
    with pytest.raises(ModelError, match=r"'n_splits' must be an integer >= 2; got 1"):
        GroupRidgeCV(n_splits=1).fit(X, y)
    with pytest.raises(ModelError, match=r"'alphas' must be a non-empty sequence of positive numbers; got \[0\]"):
        GroupRidgeCV(alphas=[0]).fit(X, y)
    with pytest.raises(ModelError, match=r"'Cs' must be a non-empty sequence of positive numbers; got \(\)"):
        GroupLogisticRegressionCV(Cs=()).fit(X, y)
    with pytest.raises(ModelError, match=r"'groups' holds a single participant: the inner search"):
        GroupLogisticRegressionCV().fit(X, y, groups=np.zeros(8))
    with pytest.raises(ModelError, match=r"'groups' must hold one participant code per row of X \(8\); got shape \(3,\)"):
        GroupRidgeClassifierCV().fit(X, y, groups=[1, 2, 3])
    with pytest.raises(ModelError, match=r"needs at least two classes in y; got 1 class"):
        GroupLogisticRegressionCV().fit(X, np.zeros(8))
    with pytest.raises(ModelError, match=r"needs at least two classes in y; got 1 class"):
        GroupRidgeClassifierCV().fit(X, np.zeros(8))
