"""The permutation null is calibrated on null data: over many small studies where the features
know nothing of the target, the observed score's mean equals the permutation null's mean
(within its standard error) and p-values are not smaller than nominal.

The studies are a few lines of numpy here, independent of ``neurokit.models.simulate_features``:
imbalanced stages (40/25/20/15 %), a severity that follows stage (as in a real sample, so folds
stratified by stage favour the observed severity), and three features of pure noise. Before the
folds were built without the target, the severity model's observed Spearman sat 0.12 (standard
error 0.03) above its null's mean on these 40 studies.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from threadpoolctl import threadpool_limits

from neurokit.models import cross_validate_model

STAGES = ("control", "active", "early_abstinence", "sustained_remission")
N_PERMUTATIONS = 20


def null_study(seed, n_participants=40):
    """One study with nothing to find: stage shares 40/25/20/15 %, severity by stage plus noise,
    features unrelated to either."""
    rng = np.random.default_rng([seed, 2027])
    counts = np.round(np.array([0.40, 0.25, 0.20, 0.15]) * n_participants).astype(int)
    counts[0] += n_participants - counts.sum()
    stage = rng.permutation(np.repeat(np.arange(4), counts))
    severity = np.where(stage == 0, 0.0, 10.0 + 5.0 * stage) + rng.gamma(2.0, 2.0, size=n_participants)
    table = pd.DataFrame({
        "participant_id": [f"sub-{i:03d}" for i in range(n_participants)],
        "session_id": np.nan,
        "run_id": 1,
        "severity": severity,
        "stage": pd.Categorical.from_codes(stage, categories=list(STAGES)),
    })
    for name in ("idx_pfc_within", "idx_limbic_within", "idx_pfc_limbic"):
        table[name] = rng.normal(size=n_participants)
    return table


def _null_runs(target, n_studies):
    differences, p_values = [], []
    with threadpool_limits(limits=1):
        for seed in range(n_studies):
            result = cross_validate_model(null_study(seed), target, "summary_indices", {}, covariates=(),
                                          harmonize_site=False, cv_folds=5, cv_repeats=1,
                                          n_permutations=N_PERMUTATIONS, random_state=seed)
            score = result.metrics["scores"][result.metrics["primary_metric"]]
            differences.append(score["mean"] - score["null_mean"])
            p_values.append(score["p_value"])
    return np.array(differences), np.array(p_values)


@pytest.mark.slow
@pytest.mark.parametrize(("target", "n_studies"), [("severity", 40), ("stage", 24)])
def test_null_mean_equals_the_observed_mean_under_the_null(target, n_studies):
    differences, p_values = _null_runs(target, n_studies)
    se = differences.std(ddof=1) / np.sqrt(n_studies)
    assert abs(differences.mean()) < 3 * se, (differences.mean(), se)
    # exchangeable scores: P(p <= 2/21) is exactly 2/21 with 20 permutations; more small p-values
    # than the binomial's 99th percentile would mean the null sits too low
    nominal = 2 / (N_PERMUTATIONS + 1)
    assert (p_values <= nominal + 1e-12).sum() <= stats.binom.ppf(0.99, n_studies, nominal)
    assert p_values.min() >= 1 / (N_PERMUTATIONS + 1)
