"""The tangent measure in neurokit.models: TangentProjector, cov__ feature sets, a reference refitted
on every training fold, and stage predicted from covariances with a planted prefrontal-limbic effect.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from neurokit.config import DEFAULT_STAGE_LEVELS as STAGES
from neurokit.connectivity import TangentSpace, connectivity_matrix, vectorize
from neurokit.models import (
    ModelError,
    TangentProjector,
    build_pipeline,
    cross_validate_model,
    feature_columns,
    predict,
)
from neurokit.models import _tangent

COUPLING = {"control": 0.7, "active": 0.0, "early_abstinence": 0.25, "sustained_remission": 0.5}
REGIONS = ["pfcA", "pfcB", "pfcC", "limA", "limB", "limC", "othA", "othB"]
NETWORKS = dict(zip(REGIONS, ["prefrontal"] * 3 + ["limbic"] * 3 + ["other"] * 2))


def covariance_features(n_participants=40, seed=0, n_timepoints=150):
    """A tangent features table: covariances of simulated time series whose prefrontal-limbic
    coupling depends on the recovery stage, with roles, mean FD and two sites."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_participants):
        stage = STAGES[i % 4]
        c = COUPLING[stage]
        pfc, other = rng.standard_normal((2, n_timepoints))
        limbic = c * pfc + np.sqrt(1 - c**2) * other
        base = np.column_stack([pfc] * 3 + [limbic] * 3 + list(rng.standard_normal((2, n_timepoints))))
        scale = rng.uniform(0.7, 1.4, len(REGIONS))  # region variances differ: covariances, not correlations
        ts = (base + 0.9 * rng.standard_normal(base.shape)) * scale
        values, names = vectorize(connectivity_matrix(ts, "covariance"), REGIONS, include_diagonal=True)
        rows.append({"participant_id": f"sub-{i + 1:02d}", "session_id": np.nan, "run_id": 1, "stage": stage,
                     "severity": 0.0 if stage == "control" else 10 - 3 * STAGES.index(stage) + rng.normal(),
                     "age": rng.uniform(20, 50), "sex": "FM"[i % 2], "site": "AB"[(i // 4) % 2],
                     "mean_fd": rng.uniform(0.05, 0.3), "bdnf": rng.normal(25, 3),
                     **{f"cov__{n}": v for n, v in zip(names, values)}})
    features = pd.DataFrame(rows)
    features["stage"] = pd.Categorical(features["stage"], categories=STAGES, ordered=True)
    features.attrs["measure"] = "tangent"
    return features


@pytest.fixture(scope="module")
def covariances():
    return covariance_features()


# random check data are not vectorised SPD covariances (too few columns, not positive definite),
# so fit rightly refuses them; n_regions=0 (pass-through) runs every check, and the properties
# are re-tested on valid covariances below
_DATA_CHECKS = [
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object", "check_pipeline_consistency",
    "check_estimators_nan_inf", "check_estimators_pickle", "check_f_contiguous_array_estimator",
    "check_transformer_data_not_an_array", "check_transformer_general", "check_transformer_preserve_dtypes",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_fit2d_1sample", "check_fit2d_1feature", "check_dict_unchanged", "check_fit_idempotent",
    "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
]
_REASON = "generic check data are not vectorised SPD covariances; re-tested on valid covariances in this file"


@parametrize_with_checks(
    [TangentProjector(), TangentProjector(n_regions=2)],
    expected_failed_checks=lambda est: dict.fromkeys(_DATA_CHECKS, _REASON) if est.n_regions else {},
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_projector_projects_the_block_and_passes_the_rest(covariances):
    block = covariances.filter(like="cov__").to_numpy()
    rest = covariances[["age", "mean_fd"]].to_numpy()
    X = np.hstack([block, rest])
    proj = TangentProjector(n_regions=8, edges=[0, 5]).fit(X[:30])
    reference = TangentSpace().fit(block[:30])
    np.testing.assert_allclose(proj.mean_, reference.mean_)
    out = proj.transform(X)
    assert out.shape == (40, 2 + 2)
    np.testing.assert_allclose(out[:, :2], reference.transform(block)[:, [0, 5]])
    np.testing.assert_array_equal(out[:, 2:], rest)
    assert list(proj.get_feature_names_out()) == ["tangent_0--1", "tangent_0--6", "x36", "x37"]
    assert TangentProjector().fit_transform(rest) == pytest.approx(rest)


def test_projector_errors(covariances):
    X = covariances.filter(like="cov__").to_numpy()
    with pytest.raises(ModelError, match=r"'n_regions' must be 0 or an integer >= 2; got 1"):
        TangentProjector(n_regions=1).fit(X)
    with pytest.raises(ModelError, match=r"'n_regions'=9 needs 45 covariance columns first in X, but X has 36"):
        TangentProjector(n_regions=9).fit(X)
    with pytest.raises(ModelError, match=r"'edges' must be integer positions in \[0, 28\)"):
        TangentProjector(n_regions=8, edges=[28]).fit(X)
    with pytest.raises(ModelError, match=r"'edges' is empty"):
        TangentProjector(n_regions=8, edges=[]).fit(X)


def test_feature_sets_of_a_tangent_table(covariances):
    cov = [c for c in covariances.columns if c.startswith("cov__")]
    assert len(cov) == 36
    # the projection needs the whole matrix: edge feature sets read every cov__ column
    assert feature_columns(covariances, "pfc_limbic_edges", NETWORKS) == cov
    assert feature_columns(covariances, "all_edges", NETWORKS) == cov
    assert feature_columns(covariances, "combined", NETWORKS) == cov + ["bdnf"]
    assert feature_columns(covariances, "biomarkers", NETWORKS) == ["bdnf"]


def test_tangent_table_errors(covariances):
    with pytest.raises(ModelError, match=r"not one covariance matrix of 8 region\(s\) vectorised with its diagonal"):
        feature_columns(covariances.drop(columns=["cov__pfcA--limB"]), "all_edges", NETWORKS)
    with pytest.raises(ModelError, match=r"holds both 'edge__' columns .* and 'cov__' columns"):
        feature_columns(covariances.assign(**{"edge__pfcA--limA": 0.1}), "all_edges", NETWORKS)
    with pytest.raises(ModelError, match=r"measure 'correlation' does not match the features table.*'tangent'"):
        cross_validate_model(covariances, "stage", "all_edges", NETWORKS, measure="correlation", n_permutations=0)


def test_reference_is_refit_on_every_training_fold(covariances, monkeypatch):
    fits = []
    real_fit = TangentSpace.fit

    def recording_fit(self, X, y=None):
        real_fit(self, X, y)
        fits.append((np.asarray(X).copy(), self.mean_.copy()))
        return self

    monkeypatch.setattr(_tangent.TangentSpace, "fit", recording_fit)
    result = cross_validate_model(covariances, "stage", "pfc_limbic_edges", NETWORKS, cv_folds=4, cv_repeats=1,
                                  n_permutations=0)
    assert len(fits) == 4 + 1  # one per fold, then the final model on every row
    recorded = list(fits)  # the reference fits below are recorded too
    block = covariances.filter(like="cov__").to_numpy()
    for k, (X, mean) in enumerate(recorded[:4]):
        train = result.folds[0] != k
        np.testing.assert_allclose(X, block[train])  # the training fold's covariances only
        np.testing.assert_allclose(mean, TangentSpace().fit(block[train]).mean_)
    assert not np.allclose(recorded[0][1], recorded[1][1])
    np.testing.assert_allclose(recorded[-1][1], result.model.pipeline.named_steps["tangent"].mean_)


def test_tangent_pipeline_predicts_stage_from_covariances(covariances):
    result = cross_validate_model(covariances, "stage", "pfc_limbic_edges", NETWORKS, cv_folds=4, cv_repeats=2,
                                  n_permutations=0, covariates=("age", "sex", "mean_fd"))
    pipe = result.model.pipeline
    assert [n for n, _ in pipe.steps] == ["tangent", "harmonize", "covariates", "scale", "model"]
    assert result.metrics["n_features"] == 9 and result.metrics["measure"] == "tangent"  # 3 x 3 pfc-limbic edges
    # chance: 0.25; over seeds 0-3 of this table ridge scores 0.44-0.50 and L2 logistic 0.40-0.56
    assert result.metrics["scores"]["balanced_accuracy"]["mean"] > 0.4
    features = result.patterns[result.patterns["level"] == "feature"]
    assert len(features) == 9 and features["name"].str.startswith("edge__").all()
    assert set(features["network"]) == {"limbic--prefrontal"}
    assert sorted(result.model.model_features) == sorted(features["name"])
    assert result.model.feature_names == feature_columns(covariances, "pfc_limbic_edges", NETWORKS)

    # the saved model projects new runs around the training reference
    out = predict(result.model, covariances.iloc[:6], measure="tangent")
    assert set(out["y_pred"]) <= set(STAGES) and (out["excluded_reason"] == "").all()
    with pytest.raises(ModelError, match=r"trained on measure 'tangent' but these features come from measure 'correlation'"):
        predict(result.model, covariances.iloc[:6], measure="correlation")
    with pytest.raises(ModelError, match=r"lacks 36 column\(s\) the model was trained on, e.g. \['cov__pfcA--pfcA'"):
        predict(result.model, covariances.drop(columns=feature_columns(covariances, "all_edges", NETWORKS)))


def test_combined_tangent_layout(covariances):
    result = cross_validate_model(covariances, "severity", "combined", NETWORKS, estimator="svm", cv_folds=4,
                                  cv_repeats=1, n_permutations=0, covariates=("age", "sex", "mean_fd"))
    assert result.model.model_features[-1] == "bdnf" and len(result.model.model_features) == 10
    proj = result.model.pipeline.named_steps["tangent"]
    assert proj.n_regions == 8 and len(proj.edges_) == 9
    # design: 36 covariances, bdnf, 3 covariate columns (age, sex[M], mean_fd), site
    assert proj.n_features_in_ == 36 + 1 + 3 + 1
