"""Shared pieces of neurokit.models: the error class and the column layout of X.

Every estimator here takes a plain 2-D array laid out as ``[features | covariates | site]``
(the "tail layout"), so it runs inside any scikit-learn Pipeline and is refit per fold.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.multiclass import check_classification_targets

from neurokit._errors import NeurokitError

__all__ = ["ModelError", "TARGETS", "FEATURE_SETS"]

#: Targets a model can predict.
TARGETS = ("severity", "stage", "user_vs_control")

#: Named feature sets, see :func:`neurokit.models.feature_columns`.
FEATURE_SETS = ("pfc_limbic_edges", "all_edges", "summary_indices", "biomarkers", "combined")


class ModelError(NeurokitError, ValueError):
    """Bad input to a model: the message names the parameter or column and the fix."""


def _fit_classes(estimator, y):
    """Set ``estimator.classes_`` (sorted) from a class target and return each row's class index.

    A ModelError, named after the estimator's class, when ``y`` holds fewer than two classes.
    """
    check_classification_targets(y)
    estimator.classes_, codes = np.unique(y, return_inverse=True)
    if len(estimator.classes_) < 2:
        raise ModelError(
            f"{type(estimator).__name__} needs at least two classes in y; got 1 class: {estimator.classes_.tolist()}."
        )
    return codes


def _input_feature_names(estimator, input_features):
    """``get_feature_names_out``'s input names as a list: as given, else those seen in ``fit``, else ``x0, x1, ...``."""
    if input_features is None:
        input_features = getattr(estimator, "feature_names_in_", None)
    if input_features is None:
        input_features = [f"x{i}" for i in range(estimator.n_features_in_)]
    return list(input_features)


def _check_n_tail(n_tail, name, n_columns):
    """Validate a tail-column count against the number of columns of X."""
    if isinstance(n_tail, bool) or not isinstance(n_tail, numbers.Integral) or n_tail < 0:
        raise ModelError(f"'{name}' must be a non-negative integer; got {n_tail!r}.")
    if n_tail >= n_columns:
        raise ModelError(
            f"'{name}'={n_tail} leaves no feature columns in X with {n_columns} feature(s); "
            f"X must hold the features first and the {n_tail} tail column(s) last."
        )
