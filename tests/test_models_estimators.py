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
