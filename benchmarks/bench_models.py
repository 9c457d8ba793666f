"""Benchmark: the default group-level model suite at study scale, batched permutation engine
against the general path (refit the whole pipeline per permutation), issue 13.

Simulated features (``neurokit.models.simulate_features``; 9 prefrontal, 9 limbic and 8 other
regions: 81 prefrontal-limbic edges, 325 edges in all) for ``--participants`` participants in
two layouts: one row per participant, and two sessions each. For each layout, in one
invocation:

  ratio   every model of the suite in this process on one core: the observed analysis, then
          the null alone of ``--batched`` permutations on the batched engine (one block) and of
          the first ``--general`` of them on the general path; per-permutation seconds of each
          and their ratio (target >= 20x)
  suite   ``fit_models`` (12 models: 3 targets x 4 feature sets, 10 x 5-fold CV,
          ``--permutations`` permutations) on a LocalCluster of 1 and of 2 workers (start-up
          timed apart); wall time (target < 10 min on 2 cores, goal < 2 min) and peak memory
          (largest worker RSS, and this process's)

``--scale 200 2000`` instead times the group level of one model (severity and stage on the
prefrontal-limbic edges, one row per participant, defaults otherwise: 10 x 5-fold CV) with
``--permutations`` permutations on one thread, for each number of participants: the whole
call, the observed analysis alone, and the batched/general ratio per permutation (the general
path on ``--general`` permutations). It uses only the public API, so the same script times
another checkout: run this file with that checkout's interpreter (``OTHER/.venv/bin/python benchmarks/bench_models.py --scale 200``).

``--compare-estimators SEEDS`` instead measures the balanced accuracy of the ridge classifier
and of L2 logistic regression (both with the grouped inner search) on both class targets and
every default feature set, over SEEDS simulated studies (no permutations).

    python benchmarks/bench_models.py [--participants 200] [--permutations 1000] [--layouts 1 2]
    python benchmarks/bench_models.py --compare-estimators 5 --participants 80
    python benchmarks/bench_models.py --scale 200 2000 --permutations 100 --general 2
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

FEATURE_SETS = ("pfc_limbic_edges", "summary_indices", "biomarkers", "combined")
TARGETS = ("severity", "stage", "user_vs_control")
REGIONS = (9, 9, 8)  # 81 prefrontal-limbic edges, 325 in all


def simulate(participants: int, sessions: int, seed: int = 0, effect: float = 0.5):
    from neurokit.models import simulate_features

    return simulate_features(participants, n_regions=REGIONS, n_sessions=sessions, effect=effect, random_state=seed)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def analysis(features, target, feature_set, networks, estimator):
    """The observed analysis of one model (seconds) and its prepared job, for timing the null alone."""
    import neurokit.models._cv as engine
    from neurokit.models import cross_validate_model

    captured = {}
    original = engine.permutation_null

    def capture(job, n_permutations, random_state, **kwargs):
        captured["job"] = job
        return original(job, 0, random_state, **kwargs)

    engine.permutation_null = capture  # the name cross_validate_model calls
    try:
        seconds = timed(cross_validate_model, features, target, feature_set, networks, estimator=estimator,
                        n_permutations=0)[0]
    finally:
        engine.permutation_null = original
    return seconds, captured["job"]


def ratios(features, networks, estimator, n_batched: int, n_general: int) -> list[dict]:
    """Per-permutation seconds of both engines on the same permutations, every model, in this
    process on one core (the null alone: the observed analysis is timed apart)."""
    from threadpoolctl import threadpool_limits

    from neurokit.models import ModelError
    from neurokit.models._permute import permutation_null

    rows = []
    with threadpool_limits(limits=1):
        for target in TARGETS:
            for feature_set in FEATURE_SETS:
                try:
                    observed, job = analysis(features, target, feature_set, networks, estimator)
                except ModelError as err:
                    print(f"  {target}/{feature_set}: skipped ({err})")
                    continue
                batched = timed(permutation_null, job, n_batched, 0)[0] / n_batched
                general = timed(permutation_null, job, n_general, 0, engine="general")[0] / n_general
                row = dict(model=f"{target}/{feature_set}", observed=observed, batched=batched, general=general,
                           ratio=general / batched)
                print(f"  {row['model']:34s} observed {observed:6.2f} s   per permutation: batched {batched:7.4f} s"
                      f"   general {general:6.2f} s   ratio {row['ratio']:6.1f}x", flush=True)
                rows.append(row)
    return rows


def suite(features, networks, estimator, n_permutations: int, workers: int) -> dict:
    """The whole default suite on a LocalCluster of ``workers`` single-threaded workers."""
    from distributed import Client, LocalCluster

    from neurokit.models import fit_models

    start_up, cluster = timed(LocalCluster, n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None)
    with cluster, Client(cluster) as client:
        wall, result = timed(fit_models, features, networks, estimator=estimator, n_permutations=n_permutations,
                             client=client, longitudinal=False)
        worker_rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        worker_cpu = client.run(_cpu_seconds)
    own_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return dict(workers=workers, start_up=start_up, wall=wall, models=len(result.results),
                skipped=len(result.skipped), worker_cpu=sum(worker_cpu.values()), worker_mb=max(worker_rss.values()) / 1024, main_mb=own_rss / 1024,
                p_values={k: r.metrics["p_value"] for k, r in result.results.items()},
                fdr={k: r.metrics["p_value_fdr"] for k, r in result.results.items()})


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _reference_classifier(fit_decide):
    """A ridge-family classifier of an earlier neurokit, for the comparison: ``fit_decide(X, codes,
    coded, k, alpha, X_new)`` returns decision values on ``X_new`` of a model fitted on ``X``; alpha
    is chosen as GroupRidgeClassifierCV chose it then (pooled class-weighted squared error of the
    -1/+1 coding over grouped inner folds)."""
    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin

    from neurokit.models._inner import RIDGE_ALPHAS, _balanced_weights, _inner_splits

    class ReferenceRidgeClassifierCV(ClassifierMixin, BaseEstimator):
        def __init__(self, alphas=RIDGE_ALPHAS, n_splits=3):
            self.alphas = alphas
            self.n_splits = n_splits

        def fit(self, X, y, groups=None, strata=None):
            self.classes_, codes = np.unique(y, return_inverse=True)
            k = len(self.classes_)
            coded = np.where(codes[:, None] == np.arange(k), 1.0, -1.0)
            coded = coded[:, 1:] if k == 2 else coded
            w = _balanced_weights(codes, k)
            splits = _inner_splits("classification", self.n_splits, X, codes if strata is None else strata, groups)
            error = np.zeros(len(self.alphas))
            for train, test in splits:
                for a, alpha in enumerate(self.alphas):
                    d = fit_decide(X[train], codes[train], coded[train], k, alpha, X[test]).reshape(len(test), -1)
                    error[a] += w[test] @ ((d - coded[test]) ** 2).sum(axis=1)
            self.alpha_ = self.alphas[int(np.argmin(error))]
            self.fit_ = (X, codes, coded, k)
            return self

        def decision_function(self, X):
            d = fit_decide(*self.fit_, self.alpha_, X)
            return d[:, 0] if d.ndim == 2 and d.shape[1] == 1 else d

    return ReferenceRidgeClassifierCV()


def _row_weighted_ridge():
    """The ridge classifier before the class balance moved into its intercepts: scikit-learn's
    RidgeClassifier(class_weight='balanced')."""
    from sklearn.linear_model import RidgeClassifier

    def fit_decide(X, codes, coded, k, alpha, X_new):
        return RidgeClassifier(alpha=alpha, class_weight="balanced").fit(X, codes).decision_function(X_new)

    return _reference_classifier(fit_decide)


def _plus_minus_ridge():
    """The ridge classifier before its classes were coded by prevalence: -1/+1 codes, unit row
    weights, intercepts putting the mean of the class means on the mean of the class codes."""
    import numpy as np
    from sklearn.linear_model import Ridge

    def fit_decide(X, codes, coded, k, alpha, X_new):
        coef = Ridge(alpha=alpha, solver="svd").fit(X, coded).coef_.reshape(coded.shape[1], -1)
        x_centre = np.mean([X[codes == c].mean(axis=0) for c in range(k) if (codes == c).any()], axis=0)
        y_centre = np.mean([coded[codes == c].mean(axis=0) for c in range(k) if (codes == c).any()], axis=0)
        return (X_new - x_centre) @ coef.T + y_centre

    return _reference_classifier(fit_decide)


def compare_estimators(participants: int, seeds: int, repeats: int) -> None:
    """Balanced accuracy of the ridge classifier (prevalence-standardised class codes, the
    default), the -1/+1 ridge it replaced, the row-weighted ridge classifier before that and
    L2 logistic over simulated studies."""
    from neurokit.models import cross_validate_model

    estimators = {"ridge": "ridge", "-1/+1": _plus_minus_ridge(), "row-weighted": _row_weighted_ridge(),
                  "logistic": "logistic"}
    diffs = {name: [] for name in estimators if name != "ridge"}
    print(f"balanced accuracy, {participants} participants, {repeats} x 5-fold CV, seeds 0..{seeds - 1}")
    print(f"  {'target/feature set':34s} {'ridge':>7s} {'-1/+1':>7s} {'row-weighted':>12s} {'logistic':>8s}"
          "   ridge - (-1/+1), ridge - row-weighted, ridge - logistic (mean over seeds)")
    for target in ("stage", "user_vs_control"):
        for feature_set in FEATURE_SETS:
            scores = {name: [] for name in estimators}
            for seed in range(seeds):
                features, networks = simulate(participants, 1, seed=seed)
                for name, estimator in estimators.items():
                    result = cross_validate_model(features, target, feature_set, networks, estimator=estimator,
                                                  n_permutations=0, cv_repeats=repeats, random_state=seed)
                    scores[name].append(result.metrics["scores"]["balanced_accuracy"]["mean"])
            means = {name: statistics.mean(v) for name, v in scores.items()}
            for name in diffs:
                diffs[name].extend(r - o for r, o in zip(scores["ridge"], scores[name]))
            print(f"  {target + '/' + feature_set:34s} {means['ridge']:7.3f} {means['-1/+1']:7.3f}"
                  f" {means['row-weighted']:12.3f} {means['logistic']:8.3f}   {means['ridge'] - means['-1/+1']:+.3f}"
                  f" {means['ridge'] - means['row-weighted']:+.3f} {means['ridge'] - means['logistic']:+.3f}",
                  flush=True)
    for name, d in diffs.items():
        print(f"  all models: ridge - {name} = {statistics.mean(d):+.4f} "
              f"(sd {statistics.stdev(d):.4f}, se {statistics.stdev(d) / len(d) ** 0.5:.4f}, n = {len(d)})")


def scale(sizes, n_permutations: int, n_general: int) -> None:
    """Seconds of one model's group level (one thread) at each number of participants."""
    from threadpoolctl import threadpool_limits

    import neurokit
    from neurokit.models import cross_validate_model

    print(f"group level of one model, {n_permutations} permutations, one thread ({neurokit.__file__})")
    with threadpool_limits(limits=1):
        warm, warm_networks = simulate(20, 1)  # imports and first calls, kept out of the timings
        cross_validate_model(warm, "stage", "summary_indices", warm_networks, n_permutations=2, cv_repeats=1)
        for n in sizes:
            features, networks = simulate(n, 1)
            for target in ("severity", "stage"):
                run = dict(features=features, target=target, feature_set="pfc_limbic_edges", networks=networks)
                observed = timed(cross_validate_model, **run, n_permutations=0)[0]
                whole = timed(cross_validate_model, **run, n_permutations=n_permutations)[0]
                line = (f"  {n:5d} participants {target:9s} whole {whole:7.1f} s (observed {observed:6.1f} s, "
                        f"null {max(whole - observed, 0.0):6.1f} s)")
                if n_general:
                    general = timed(cross_validate_model, **run, n_permutations=n_general,
                                    permutation_engine="general")[0]
                    per_general = max(general - observed, 1e-9) / n_general
                    per_batched = max(whole - observed, 1e-9) / n_permutations
                    line += (f"; per permutation batched {per_batched:.3f} s, general {per_general:.2f} s, "
                             f"ratio {per_general / per_batched:.1f}x")
                print(line, flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--layouts", type=int, nargs="+", default=[1, 2], help="sessions per participant")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batched", type=int, default=100, help="permutations timed on the batched engine")
    parser.add_argument("--general", type=int, default=2, help="permutations timed on the general path")
    parser.add_argument("--estimator", default=None, help="models.estimator (default: the suite's default)")
    parser.add_argument("--skip-ratio", action="store_true")
    parser.add_argument("--skip-suite", action="store_true")
    parser.add_argument("--compare-estimators", type=int, metavar="SEEDS", default=0)
    parser.add_argument("--repeats", type=int, default=5, help="CV repeats for --compare-estimators")
    parser.add_argument("--scale", type=int, nargs="+", metavar="PARTICIPANTS", default=None,
                        help="time one model's group level at these numbers of participants")
    args = parser.parse_args(argv)

    if args.scale:
        scale(args.scale, args.permutations, args.general)
        return

    if args.compare_estimators:
        compare_estimators(args.participants, args.compare_estimators, args.repeats)
        return
    for sessions in args.layouts:
        features, networks = simulate(args.participants, sessions)
        print(f"\n== {args.participants} participants x {sessions} session(s): {len(features)} rows ==", flush=True)
        if not args.skip_ratio:
            rows = ratios(features, networks, args.estimator, args.batched, args.general)
            total_b = sum(r["batched"] for r in rows)
            total_g = sum(r["general"] for r in rows)
            print(f"  all {len(rows)} models: per permutation batched {total_b:.3f} s, general {total_g:.1f} s, "
                  f"ratio {total_g / total_b:.1f}x (per model: min {min(r['ratio'] for r in rows):.1f}x, "
                  f"median {statistics.median(r['ratio'] for r in rows):.1f}x); observed analyses "
                  f"{sum(r['observed'] for r in rows):.1f} s", flush=True)
        if not args.skip_suite:
            for workers in args.workers:
                out = suite(features, networks, args.estimator, args.permutations, workers)
                print(f"  suite, {out['models']} models ({out['skipped']} skipped), {args.permutations} permutations, "
                      f"{workers} worker(s): {out['wall']:.0f} s ({out['wall'] / 60:.1f} min; cluster start-up "
                      f"{out['start_up']:.1f} s apart); workers' CPU {out['worker_cpu']:.0f} s (on a busy machine "
                      f"wall / CPU shows the share it got); peak RSS: worker {out['worker_mb']:.0f} MB, "
                      f"main {out['main_mb']:.0f} MB", flush=True)
            smallest = min(out["p_values"].values())
            print(f"  smallest p {smallest:.4f} (floor {1 / (args.permutations + 1):.4f}); "
                  f"FDR-adjusted: {min(out['fdr'].values()):.4f}")


if __name__ == "__main__":
    main()
