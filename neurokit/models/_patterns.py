"""Activation patterns (Haufe et al. 2014) of fitted pipelines, and their aggregation per
region and per network pair with stability across cross-validation folds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurokit.models._features import EDGE_PREFIX, edge_regions

__all__ = ["activation_pattern", "aggregate_patterns", "class_activation_patterns", "aggregate_class_patterns"]


def _score(model, Xt):
    """One model output per sample: prediction, binary decision value or expected class index."""
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(Xt)
        return proba[:, 1] if proba.shape[1] == 2 else proba @ np.arange(proba.shape[1])
    if hasattr(model, "decision_function") and hasattr(model, "classes_"):
        d = model.decision_function(Xt)
        return d if d.ndim == 1 else _softmax(d) @ np.arange(d.shape[1])
    return model.predict(Xt)


def _softmax(d):
    e = np.exp(d - d.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _pre_model(pipeline, X):
    """Features as the model sees them before selection (``Z``) and the model's input (after selection)."""
    names = [n for n, _ in pipeline.steps]
    pre = pipeline[: names.index("scale") + 1]
    Z = pre.transform(X)
    return Z, (pipeline[names.index("scale") + 1 : -1].transform(Z) if "select" in names else Z)


def _haufe(Z, y_hat):
    """``cov(Z, y_hat) / var(y_hat)`` per column of ``Z``; zeros when ``y_hat`` is constant."""
    y_hat = np.asarray(y_hat, dtype=float)
    var = y_hat.var(ddof=1) if len(y_hat) > 1 else 0.0
    if var <= 0:
        return np.zeros(Z.shape[1])
    return (Z - Z.mean(axis=0)).T @ (y_hat - y_hat.mean()) / (len(y_hat) - 1) / var


def activation_pattern(pipeline, X):
    """Haufe activation pattern ``cov(x, y_hat) / var(y_hat)`` of a fitted pipeline.

    ``x`` are the features as the model sees them before selection (harmonised, covariates
    regressed out, standardised), so every feature gets a pattern, and ``y_hat`` the model's
    output on the same samples (regression prediction, binary decision value or probability,
    or the expected class index for ordered classes). For a linear model this equals the
    forward-model transform ``cov(x) w`` up to scale.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted, with steps ending ``scale`` [, ``select``], ``model``.
    X : ndarray of shape (n_samples, n_columns)
        Tail-layout input, usually the training fold.

    Returns
    -------
    ndarray of shape (n_features,)
    """
    Z, model_input = _pre_model(pipeline, X)
    return _haufe(Z, _score(pipeline.steps[-1][1], model_input))


def class_activation_patterns(pipeline, X, n_classes):
    """One-vs-rest Haufe patterns of a classifier: one per class, of that class's probability.

    The single pattern of :func:`activation_pattern` follows the expected class index, which
    means nothing when the classes have no order; this one says, for each class, which
    features go with a higher probability of that class against all the others.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted classifier, steps as for :func:`activation_pattern`; its ``classes_`` are
        class codes ``0 .. n_classes - 1``.
    X : ndarray of shape (n_samples, n_columns)
    n_classes : int
        Classes of the whole target (a training fold may lack one).

    Returns
    -------
    ndarray of shape (n_classes, n_features)
        NaN rows for classes the fitted model does not know (absent from its training fold).
    """
    Z, model_input = _pre_model(pipeline, X)
    model = pipeline.steps[-1][1]
    if hasattr(model, "predict_proba"):
        scores = model.predict_proba(model_input)
    else:  # one-vs-rest decision values (e.g. RidgeClassifier), one column per class
        scores = model.decision_function(model_input)
        scores = np.column_stack([-scores, scores]) if scores.ndim == 1 else scores
    out = np.full((n_classes, Z.shape[1]), np.nan)
    for j, code in enumerate(np.asarray(model.classes_).astype(int)):
        out[code] = _haufe(Z, scores[:, j])
    return out


def aggregate_patterns(fold_patterns, feature_names, networks):
    """Summarise per-fold patterns per feature, per region and per network pair.

    Parameters
    ----------
    fold_patterns : ndarray of shape (n_fits, n_features)
        One activation pattern per cross-validation fit (folds x repeats).
    feature_names : list of str, length n_features
    networks : mapping of str to str
        ``{region: network}``.

    Returns
    -------
    pandas.DataFrame
        One row per ``level`` ('feature', 'region', 'network_pair') and ``name``, with
        ``network``, ``n_features``, ``mean`` and ``sd`` over fits of the (signed, averaged)
        pattern, ``abs_mean`` (mean over fits of the mean absolute pattern) and
        ``sign_consistency`` (fraction of fits whose sign agrees with ``mean``), sorted
        within each level by decreasing ``abs_mean``.
    """
    P = np.asarray(fold_patterns, dtype=float)
    groups = {"feature": {}, "region": {}, "network_pair": {}}
    labels = {}
    for j, name in enumerate(feature_names):
        if name.startswith(EDGE_PREFIX):
            a, b = edge_regions(name)
            pair = "--".join(sorted((networks.get(a, "other"), networks.get(b, "other"))))
            labels[("feature", name)] = pair
            for region in (a, b):
                groups["region"].setdefault(region, []).append(j)
                labels[("region", region)] = networks.get(region, "other")
            groups["network_pair"].setdefault(pair, []).append(j)
            labels[("network_pair", pair)] = pair
        else:
            labels[("feature", name)] = ""
        groups["feature"][name] = [j]
    rows = []
    for level, members in groups.items():
        for name, idx in members.items():
            signed = P[:, idx].mean(axis=1)
            mean = signed.mean()
            rows.append(
                {
                    "level": level,
                    "name": name,
                    "network": labels[(level, name)],
                    "n_features": len(idx),
                    "mean": mean,
                    "sd": signed.std(ddof=1) if len(signed) > 1 else 0.0,
                    "abs_mean": np.abs(P[:, idx]).mean(),
                    "sign_consistency": float(np.mean(np.sign(signed) == np.sign(mean))) if mean != 0 else 0.0,
                }
            )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = {"feature": 0, "region": 1, "network_pair": 2}
    table = table.assign(_o=table["level"].map(order)).sort_values(["_o", "abs_mean"], ascending=[True, False])
    return table.drop(columns="_o").reset_index(drop=True)


def aggregate_class_patterns(class_patterns, classes, feature_names, networks):
    """:func:`aggregate_patterns` for each class of one-vs-rest patterns, with a ``class`` column.

    Parameters
    ----------
    class_patterns : ndarray of shape (n_fits, n_classes, n_features)
        :func:`class_activation_patterns` of each cross-validation fit (NaN: class absent from the fit).
    classes : sequence of str, length n_classes
    feature_names : list of str, length n_features
    networks : mapping of str to str

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`aggregate_patterns` for each class in turn, ``class`` naming it.
    """
    P = np.asarray(class_patterns, dtype=float)
    tables = []
    for j, name in enumerate(classes):
        fits = P[:, j, :]
        fits = fits[np.isfinite(fits).all(axis=1)]
        if len(fits):
            tables.append(aggregate_patterns(fits, feature_names, networks).assign(**{"class": str(name)}))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
