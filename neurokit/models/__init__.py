"""Group-level predictive models relating connectivity to ketamine-use severity and recovery stage.

Every step that learns from data is a scikit-learn estimator refit inside each fold.
"""

from neurokit.models._common import FEATURE_SETS, TARGETS, ModelError
from neurokit.models._covariates import CovariateRegressor
from neurokit.models._cpm import CPMClassifier, CPMRegressor
from neurokit.models._harmonize import ComBatHarmonizer

__all__ = [
    "ModelError",
    "TARGETS",
    "FEATURE_SETS",
    "CovariateRegressor",
    "ComBatHarmonizer",
    "CPMRegressor",
    "CPMClassifier",
]
