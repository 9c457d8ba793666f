"""Group-level predictive models relating connectivity to ketamine-use severity and recovery stage.

Every step that learns from data is a scikit-learn estimator refit inside each fold.
"""

from neurokit.models._common import FEATURE_SETS, TARGETS, ModelError
from neurokit.models._confounds import (
    CONFOUNDS,
    covariate_associations,
    exclusion_bias,
    prediction_beyond_confounds,
)
from neurokit.models._covariates import CovariateRegressor
from neurokit.models._cpm import CPMClassifier, CPMRegressor
from neurokit.models._cv import ModelResult, cross_validate_model
from neurokit.models._features import edge_network_pair, edge_regions, feature_columns
from neurokit.models._folds import METRICS, permute_within_participants
from neurokit.models._harmonize import ComBatHarmonizer
from neurokit.models._hrv import hrv_agreement, hrv_relations
from neurokit.models._inner import GroupLogisticRegressionCV, GroupRidgeClassifierCV, GroupRidgeCV
from neurokit.models._longitudinal import longitudinal_model
from neurokit.models._patterns import (
    activation_pattern,
    aggregate_class_patterns,
    aggregate_patterns,
    class_activation_patterns,
)
from neurokit.models._persist import (
    FittedModel,
    check_fingerprint,
    fingerprint_differences,
    load_model,
    model_hash,
    predict,
    save_model,
    software_differences,
    training_overlap,
)
from neurokit.models._pipeline import ESTIMATORS, build_pipeline
from neurokit.models._sensitivity import sensitivity_analysis
from neurokit.models._suite import ModelSuite, fdr_correct, fit_models
from neurokit.models._tangent import TangentProjector
from neurokit.models._testing import simulate_features

__all__ = [
    "ModelError",
    "TARGETS",
    "FEATURE_SETS",
    "ESTIMATORS",
    "METRICS",
    "CovariateRegressor",
    "ComBatHarmonizer",
    "CPMRegressor",
    "CPMClassifier",
    "GroupRidgeCV",
    "GroupRidgeClassifierCV",
    "GroupLogisticRegressionCV",
    "TangentProjector",
    "build_pipeline",
    "feature_columns",
    "edge_regions",
    "edge_network_pair",
    "cross_validate_model",
    "permute_within_participants",
    "ModelResult",
    "activation_pattern",
    "aggregate_patterns",
    "aggregate_class_patterns",
    "class_activation_patterns",
    "FittedModel",
    "save_model",
    "load_model",
    "predict",
    "check_fingerprint",
    "fingerprint_differences",
    "model_hash",
    "software_differences",
    "training_overlap",
    "longitudinal_model",
    "fit_models",
    "fdr_correct",
    "ModelSuite",
    "simulate_features",
    "CONFOUNDS",
    "prediction_beyond_confounds",
    "covariate_associations",
    "exclusion_bias",
    "sensitivity_analysis",
    "hrv_agreement",
    "hrv_relations",
]
