"""neurokit.connectivity.TangentSpace: agreement with nilearn, the sklearn contract, pipelines."""

import pickle

import numpy as np
import pandas as pd
import pytest
from nilearn.connectome import ConnectivityMeasure
from sklearn.base import clone
from sklearn.covariance import ShrunkCovariance
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from neurokit.connectivity import ConnectivityError, TangentSpace, connectivity_matrix, unvectorize, vectorize

N_REGIONS = 5

# Generic checks feed random 2D data: 2, 4 or 5 columns cannot be a vectorised symmetric
# matrix, and random rows are not positive definite, so fit rightly refuses them. The
# properties those checks test are re-tested below on valid covariances.
_NOT_COVARIANCES = "generic check data are not vectorised SPD covariance matrices; re-tested with valid data in this file"
_DATA_CHECKS = [
    "check_fit_score_takes_y",
    "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self",
    "check_readonly_memmap_input",
    "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit",
    "check_estimators_dtypes",
    "check_dtype_object",
    "check_pipeline_consistency",
    "check_estimators_nan_inf",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
    "check_transformer_n_iter",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_fit2d_1sample",
    "check_dict_unchanged",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_n_features_in",
    "check_fit2d_predict1d",
]


@parametrize_with_checks([TangentSpace()], expected_failed_checks=lambda est: dict.fromkeys(_DATA_CHECKS, _NOT_COVARIANCES))
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture
def runs(rng):
    """Eight runs of (n_timepoints, 5 regions) with different true covariances and lengths."""
    out = []
    for k in range(8):
        a = rng.normal(size=(N_REGIONS, N_REGIONS))
        cov = a @ a.T + N_REGIONS * np.eye(N_REGIONS)
        out.append(rng.multivariate_normal(np.arange(N_REGIONS), cov, size=60 + 5 * k))
    return out


@pytest.fixture
def covs(runs):
    return np.stack([connectivity_matrix(ts, "covariance") for ts in runs])


@pytest.fixture
def vec_covs(covs):
    return vectorize(covs, include_diagonal=True)[0]


def test_matches_nilearn(runs, covs, vec_covs):
    # the runs' covariances come from neurokit's default estimator, a fixed shrinkage of 0.1
    ref = ConnectivityMeasure(kind="tangent", cov_estimator=ShrunkCovariance(shrinkage=0.1))
    ref_tangent = ref.fit_transform(runs)
    ts = TangentSpace(include_diagonal=True).fit(vec_covs)
    np.testing.assert_allclose(ts.mean_, ref.mean_, atol=1e-6)
    np.testing.assert_allclose(ts.whitening_, ref.whitening_, atol=1e-6)
    np.testing.assert_allclose(unvectorize(ts.transform(vec_covs), N_REGIONS), ref_tangent, atol=1e-6)
    off = TangentSpace().fit(covs).transform(covs)
    np.testing.assert_allclose(off, vectorize(ref_tangent)[0], atol=1e-6)


def test_matrix_and_vector_input_agree(covs, vec_covs):
    a = TangentSpace().fit_transform(covs)
    b = TangentSpace().fit_transform(vec_covs)
    np.testing.assert_allclose(a, b)
    assert a.shape == (8, N_REGIONS * (N_REGIONS - 1) // 2)
    assert TangentSpace(include_diagonal=True).fit_transform(covs).shape == (8, 15)


def test_reference_point_is_zero(covs):
    """The tangent vector of the reference itself is zero; of a congruent matrix, its log."""
    ts = TangentSpace().fit(covs)
    np.testing.assert_allclose(ts.transform(ts.mean_[None]), 0, atol=1e-10)
    one = TangentSpace(include_diagonal=True).fit(covs[:1])
    np.testing.assert_allclose(one.mean_, covs[0], atol=1e-10)
    np.testing.assert_allclose(one.transform(2 * covs[:1])[0], vectorize(np.log(2) * np.eye(N_REGIONS), include_diagonal=True)[0], atol=1e-10)


def test_sklearn_api_on_valid_covariances(covs, vec_covs):
    """What the generic checks test, on valid data: no mutation, idempotent, pickles, n_features_in_."""
    est = TangentSpace()
    with pytest.raises(NotFittedError):
        est.transform(vec_covs)
    before = vec_covs.copy()
    fitted = est.fit(vec_covs)
    assert fitted is est and est.n_features_in_ == 15 and est.n_regions_ == N_REGIONS
    np.testing.assert_array_equal(vec_covs, before)
    assert est.get_params() == TangentSpace().get_params()
    first = est.transform(vec_covs)
    np.testing.assert_allclose(clone(est).fit(vec_covs).transform(vec_covs), first)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(est)).transform(vec_covs), first)
    # each subject's tangent vector does not depend on the batch it comes in
    np.testing.assert_allclose(np.vstack([est.transform(vec_covs[i : i + 1]) for i in range(8)]), first)
    np.testing.assert_allclose(est.transform(vec_covs[::-1]), first[::-1])
    with pytest.raises(ValueError, match="X has 10 features, but TangentSpace is expecting 15 features"):
        est.transform(vec_covs[:, :10])
    assert list(est.get_feature_names_out())[:2] == ["tangent_0--1", "tangent_0--2"]


def test_dataframe_input_records_names(vec_covs):
    names = vectorize(np.eye(N_REGIONS), list("abcde"), include_diagonal=True)[1]
    frame = pd.DataFrame(vec_covs, columns=names)
    est = TangentSpace().fit(frame)
    assert list(est.feature_names_in_) == names
    assert list(est.get_feature_names_out()) == vectorize(np.eye(N_REGIONS), list("abcde"))[1]
    out = TangentSpace(include_diagonal=True).set_output(transform="pandas").fit_transform(frame)
    assert list(out.columns) == names
    with pytest.raises(ConnectivityError, match=r"'input_features' must have 15 names; got shape \(2,\)"):
        est.get_feature_names_out(["x", "y"])


def test_reference_fitted_on_training_folds_only(covs, vec_covs, rng):
    y = rng.normal(size=8)
    pipe = make_pipeline(TangentSpace(), Ridge())
    scores = cross_val_score(pipe, vec_covs, y, cv=KFold(4), scoring="neg_mean_absolute_error")
    assert np.isfinite(scores).all()
    train = np.arange(2, 8)
    pipe.fit(vec_covs[train], y[train])
    np.testing.assert_allclose(pipe[0].mean_, TangentSpace().fit(covs[train]).mean_)
    assert not np.allclose(pipe[0].mean_, TangentSpace().fit(covs).mean_)


def test_errors(covs, vec_covs):
    with pytest.raises(ConnectivityError, match=r"n_regions\*\(n_regions\+1\)/2 columns \(1, 3, 6, 10, 15, \.\.\.\); got 14"):
        TangentSpace().fit(vec_covs[:, :14])
    bad = covs.copy()
    bad[3] = -np.eye(N_REGIONS)
    with pytest.raises(ConnectivityError, match=r"'X' rows \[3\] are not positive definite"):
        TangentSpace().fit(bad)
    asym = covs.copy()
    asym[0, 0, 1] += 1.0
    with pytest.raises(ConnectivityError, match="'X' covariance matrices must be symmetric"):
        TangentSpace().fit(asym)
    with pytest.raises(ConnectivityError, match=r"3D array must have shape \(n_subjects, n_regions, n_regions\); got \(8, 5, 4\)"):
        TangentSpace().fit(covs[:, :, :4])
    nan = vec_covs.copy()
    nan[2, 0] = np.nan
    with pytest.raises(ValueError, match="Input contains NaN"):
        TangentSpace().fit(nan)
    with pytest.raises(ConnectivityError, match="'max_iter' must be a positive integer; got 0"):
        TangentSpace(max_iter=0).fit(covs)
    with pytest.raises(ConnectivityError, match="'tol' must be a positive number or None; got -1"):
        TangentSpace(tol=-1).fit(covs)


def test_convergence_warning(covs):
    with pytest.warns(ConvergenceWarning, match="did not reach tol=1e-30 in max_iter=1"):
        TangentSpace(max_iter=1, tol=1e-30).fit(covs)
