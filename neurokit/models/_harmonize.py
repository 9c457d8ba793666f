"""ComBat-style site harmonisation as an estimator, fitted on the training fold only.

Location/scale batch adjustment with empirical-Bayes shrinkage (Johnson et al. 2007,
Fortin et al. 2017), written here so that it is a plain scikit-learn transformer.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from neurokit.models._common import ModelError, _input_feature_names

__all__ = ["ComBatHarmonizer"]

_EPS = 1e-12


class ComBatHarmonizer(TransformerMixin, BaseEstimator):
    """Remove additive and multiplicative site effects from features (ComBat).

    X uses the tail layout ``[features | covariates | site]``: the last column holds a
    numeric site code, the ``n_covariates`` columns before it hold covariates, the rest
    are the features to harmonise. Covariates enter the ComBat design so that variance
    they explain (age, sex, motion differing between sites) is not mistaken for a site
    effect; their effect is kept in the output (a later :class:`CovariateRegressor`
    removes it) and they are passed through unchanged. The target is never used: it is
    not a covariate here, because ComBat fitted with the target leaks it.

    ``fit`` estimates, on the training samples only, per-feature site locations
    (``gamma``) and scales (``delta``) of the standardised features, shrunk towards
    their across-feature means by empirical Bayes. ``transform`` applies them; the
    output has the site column removed.

    Sites with fewer than ``min_site_size`` training samples are not harmonised (a
    scale cannot be estimated from one sample) and their rows pass through unchanged,
    as do all rows when fewer than two sites are large enough. A site absent from the
    training data raises an error at transform time unless ``unseen_site='pooled'``,
    which passes its rows through unchanged (no site adjustment is possible without
    data from that site; used by leave-site-out validation).

    Parameters
    ----------
    n_covariates : int, default=0
        Number of covariate columns just before the site column.
    empirical_bayes : bool, default=True
        Shrink the site parameters across features; False uses the per-feature estimates.
    min_site_size : int, default=2
        Fewest training samples for a site to be harmonised.
    unseen_site : {'raise', 'pooled'}, default='raise'
        What ``transform`` does with a site code it never saw in ``fit``.
    eb_max_iter : int, default=100
        Empirical-Bayes iterations per site.
    eb_tol : float, default=1e-4
        Relative change at which the empirical-Bayes iteration stops.

    Attributes
    ----------
    n_features_in_ : int
        Columns of X seen in ``fit`` (features + covariates + site).
    training_sites_ : ndarray of shape (n_training_sites,)
        Every site code seen in ``fit``.
    sites_ : ndarray of shape (n_sites,)
        Site codes that are harmonised (empty when fewer than two qualify).
    grand_mean_ : ndarray of shape (n_features,)
    var_pooled_ : ndarray of shape (n_features,)
    covariate_mean_ : ndarray of shape (n_covariates,)
    beta_ : ndarray of shape (n_covariates, n_features)
        Covariate slopes estimated jointly with the site locations.
    gamma_ : ndarray of shape (n_sites, n_features)
        Site locations of the standardised features (after shrinkage).
    delta_ : ndarray of shape (n_sites, n_features)
        Site variances of the standardised features (after shrinkage).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> site = np.repeat([0.0, 1.0], 30)
    >>> edges = rng.normal(size=(60, 4)) + 3 * site[:, None]
    >>> out = ComBatHarmonizer().fit_transform(np.column_stack([edges, site]))
    >>> bool(abs(out[site == 0].mean() - out[site == 1].mean()) < 0.5)
    True
    """

    def __init__(
        self, n_covariates=0, empirical_bayes=True, min_site_size=2, unseen_site="raise", eb_max_iter=100, eb_tol=1e-4
    ):
        self.n_covariates = n_covariates
        self.empirical_bayes = empirical_bayes
        self.min_site_size = min_site_size
        self.unseen_site = unseen_site
        self.eb_max_iter = eb_max_iter
        self.eb_tol = eb_tol

    def _split(self, X):
        k = self.n_covariates
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
            raise ModelError(f"'n_covariates' must be a non-negative integer; got {k!r}.")
        if X.shape[1] < k + 2:
            raise ModelError(
                f"X with {X.shape[1]} feature(s) is too narrow for ComBatHarmonizer(n_covariates={k}): it needs "
                f"at least one feature column, then {k} covariate column(s), then the site column."
            )
        p = X.shape[1] - k - 1
        return X[:, :p], X[:, p : p + k], X[:, -1]

    def fit(self, X, y=None):
        """Estimate site locations and scales on the training samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features + n_covariates + 1)
            Features, covariates, then the numeric site code.
        y : ignored
            Present for Pipeline compatibility; the target is never used.

        Returns
        -------
        self : ComBatHarmonizer
        """
        X = validate_data(self, X, dtype=np.float64)
        if self.unseen_site not in ("raise", "pooled"):
            raise ModelError(f"'unseen_site' must be one of ('raise', 'pooled'); got {self.unseen_site!r}.")
        if not isinstance(self.min_site_size, numbers.Integral) or self.min_site_size < 2:
            raise ModelError(f"'min_site_size' must be an integer >= 2; got {self.min_site_size!r}.")
        features, covariates, site = self._split(X)
        p, k = features.shape[1], covariates.shape[1]
        self.training_sites_, counts = np.unique(site, return_counts=True)
        self.sites_ = self.training_sites_[counts >= self.min_site_size]
        self.covariate_mean_ = covariates.mean(axis=0) if len(X) else np.zeros(k)
        m = len(self.sites_)
        if m < 2:
            self.sites_ = self.sites_[:0]
            self.grand_mean_ = np.zeros(p)
            self.var_pooled_ = np.ones(p)
            self.beta_ = np.zeros((k, p))
            self.gamma_ = np.zeros((0, p))
            self.delta_ = np.ones((0, p))
            return self
        keep = np.isin(site, self.sites_)
        F, C, s = features[keep], covariates[keep] - self.covariate_mean_, site[keep]
        onehot = (s[:, None] == self.sites_[None, :]).astype(float)
        design = np.hstack([onehot, C])
        coef = np.linalg.pinv(design) @ F  # minimum-norm least squares; far faster than lstsq for many features
        n_per_site = onehot.sum(axis=0)
        self.grand_mean_ = (n_per_site / n_per_site.sum()) @ coef[:m]
        self.beta_ = coef[m:]
        var_pooled = np.mean((F - design @ coef) ** 2, axis=0)
        constant = var_pooled < _EPS
        self.var_pooled_ = np.where(constant, 1.0, var_pooled)
        Z = (F - self.grand_mean_ - C @ self.beta_) / np.sqrt(self.var_pooled_)
        gamma_hat = np.stack([Z[s == site_i].mean(axis=0) for site_i in self.sites_])
        delta_hat = np.stack([Z[s == site_i].var(axis=0, ddof=1) for site_i in self.sites_])
        gamma, delta = gamma_hat.copy(), delta_hat.copy()
        varying = ~constant
        if self.empirical_bayes and varying.sum() >= 2:
            gamma[:, varying], delta[:, varying] = self._empirical_bayes(
                Z[:, varying], s, gamma_hat[:, varying], delta_hat[:, varying], n_per_site
            )
        gamma[:, constant], delta[:, constant] = 0.0, 1.0
        self.gamma_ = gamma
        self.delta_ = np.maximum(delta, _EPS)
        return self

    def _empirical_bayes(self, Z, s, gamma_hat, delta_hat, n_per_site):
        """Parametric empirical-Bayes shrinkage of the site parameters (Johnson et al. 2007)."""
        gamma_bar = gamma_hat.mean(axis=1)
        tau2 = np.maximum(gamma_hat.var(axis=1, ddof=1), _EPS)
        mean_d = delta_hat.mean(axis=1)
        var_d = np.maximum(delta_hat.var(axis=1, ddof=1), _EPS)
        a_prior = (2 * var_d + mean_d**2) / var_d
        b_prior = (mean_d * var_d + mean_d**3) / var_d
        gamma_star, delta_star = np.empty_like(gamma_hat), np.empty_like(delta_hat)
        for i, site_i in enumerate(self.sites_):
            z, n = Z[s == site_i], n_per_site[i]
            g_old, d_old = gamma_hat[i], np.maximum(delta_hat[i], _EPS)
            for _ in range(self.eb_max_iter):
                g_new = (n * tau2[i] * gamma_hat[i] + d_old * gamma_bar[i]) / (n * tau2[i] + d_old)
                sum2 = ((z - g_new) ** 2).sum(axis=0)
                d_new = (b_prior[i] + 0.5 * sum2) / (n / 2.0 + a_prior[i] - 1.0)
                change = max(
                    np.max(np.abs(g_new - g_old) / np.maximum(np.abs(g_old), _EPS)),
                    np.max(np.abs(d_new - d_old) / np.maximum(d_old, _EPS)),
                )
                g_old, d_old = g_new, d_new
                if change < self.eb_tol:
                    break
            gamma_star[i], delta_star[i] = g_old, d_old
        return gamma_star, delta_star

    def transform(self, X):
        """Harmonise the features and drop the site column.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features + n_covariates + 1)

        Returns
        -------
        X_harmonised : ndarray of shape (n_samples, n_features + n_covariates)
            Harmonised features followed by the unchanged covariates.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        features, covariates, site = self._split(X)
        out = features.copy()
        if len(self.sites_):
            unseen = ~np.isin(site, self.training_sites_)
            if unseen.any() and self.unseen_site == "raise":
                codes = sorted(set(site[unseen].tolist()))
                raise ModelError(
                    f"site code(s) {codes} were not in the training data of this ComBatHarmonizer; harmonise only "
                    f"sites it was fitted on, or set unseen_site='pooled' to pass those rows through unadjusted."
                )
            C = covariates - self.covariate_mean_
            fitted = self.grand_mean_ + C @ self.beta_
            scale = np.sqrt(self.var_pooled_)
            for i, site_i in enumerate(self.sites_):
                rows = site == site_i
                if rows.any():
                    z = (features[rows] - fitted[rows]) / scale
                    out[rows] = (z - self.gamma_[i]) / np.sqrt(self.delta_[i]) * scale + fitted[rows]
        return np.hstack([out, covariates])

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns (features and covariates; the site column is dropped)."""
        check_is_fitted(self)
        input_features = _input_feature_names(self, input_features)
        return np.asarray(input_features[: self.n_features_in_ - 1], dtype=object)
