"""Covariance estimators against the number of kept volumes: does measured connectivity track censoring?

Scrubbing removes more volumes from heavier movers. An estimator whose bias depends on the number
of kept volumes turns that into a connectivity difference that motion made. This benchmark draws
runs from a known block covariance (``n_regions`` regions in blocks of equal size, correlation
``--rho`` inside a block, 0 between) with white or AR(1) noise, keeps ``n`` volumes (the first
``n``, or ``n`` scattered volumes of a longer run, as scrubbing leaves them), and computes with
:func:`neurokit.connectivity.connectivity_matrix`:

- **correlation**: mean within-block correlation (truth ``--rho``);
- **partial correlation**: mean within-block partial correlation (truth from the inverse of the
  true covariance);
- **tangent**: mean within-block entry of ``logm(S^-1/2 C S^-1/2)`` for the run's covariance ``C``
  around the true covariance ``S`` (truth 0), the quantity the tangent space models, and the
  covariance's conditioning (smallest eigenvalue, condition number) that the inverse and the
  matrix logarithm need.

For each estimator and measure it prints the mean over runs at each ``n``, its bias, the slope of
the mean against kept volumes (per 100 volumes, least squares over the ``n`` grid) and the change
from the fewest to the most kept volumes. An estimator fit for censored data has a flat row.

    python benchmarks/bench_estimator.py                          # 26 and 264 regions, ~3 min
    python benchmarks/bench_estimator.py --regions 26 --runs 400  # the default atlas only
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from scipy import linalg

#: Kept volumes per run (after censoring).
N_KEPT = (50, 80, 120, 200, 300, 400)
#: Length of the uncensored run that scattered censoring starts from.
RUN_LENGTH = 400


def block_covariance(n_regions: int, n_blocks: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit-variance covariance with correlation ``rho`` inside blocks, 0 between; and the block labels."""
    labels = np.arange(n_regions) * n_blocks // n_regions
    cov = np.where(labels[:, None] == labels[None, :], rho, 0.0)
    np.fill_diagonal(cov, 1.0)
    return cov, labels


def draw_run(rng, sqrt_cov: np.ndarray, n_volumes: int, phi: float) -> np.ndarray:
    """``n_volumes`` x n_regions signals with lag-0 covariance ``sqrt_cov @ sqrt_cov.T`` and AR(1) ``phi``."""
    e = rng.standard_normal((n_volumes, sqrt_cov.shape[0]))
    if phi:
        x = np.empty_like(e)
        x[0] = e[0]
        scale = np.sqrt(1 - phi**2)
        for t in range(1, n_volumes):
            x[t] = phi * x[t - 1] + scale * e[t]
        e = x
    return e @ sqrt_cov.T


def estimators(shrinkages):
    """Name -> ``covariance_estimator`` argument of ``connectivity_matrix``."""
    from sklearn.covariance import ShrunkCovariance

    out = {"ledoit_wolf": "ledoit_wolf", "oas": "oas", "empirical": "empirical"}
    for s in shrinkages:
        out[f"shrunk {s:g}"] = ShrunkCovariance(shrinkage=s, store_precision=False)
    return out


def one_cell(rng, est, sqrt_cov, cov, labels, n_kept, phi, censoring, n_runs):
    """Per-run values of every metric for one estimator, kept-volume count, noise and censoring."""
    from neurokit.connectivity import ConnectivityError, connectivity_matrix

    n = cov.shape[0]
    iu = np.triu_indices(n, 1)
    within = labels[iu[0]] == labels[iu[1]]
    precision = np.linalg.inv(cov)
    d = 1 / np.sqrt(np.diag(precision))
    true_partial = float((-(precision * d[:, None] * d[None, :]))[iu][within].mean())
    vals, vecs = np.linalg.eigh(cov)
    whiten = (vecs / np.sqrt(vals)) @ vecs.T
    out = {k: [] for k in ("corr", "partial", "tangent", "min_eig", "cond")}
    for _ in range(n_runs):
        if censoring == "scattered":
            run = draw_run(rng, sqrt_cov, RUN_LENGTH, phi)
            x = run[np.sort(rng.choice(RUN_LENGTH, n_kept, replace=False))]
        else:
            x = draw_run(rng, sqrt_cov, n_kept, phi)
        x = (x - x.mean(0)) / x.std(0, ddof=1)  # the cleaned signals are z-scored (zscore_sample)
        r = connectivity_matrix(x, "correlation", covariance_estimator=est)
        out["corr"].append(r[iu][within].mean())
        c = connectivity_matrix(x, "covariance", covariance_estimator=est)
        ev = np.linalg.eigvalsh(c)
        out["min_eig"].append(ev[0])
        out["cond"].append(ev[-1] / ev[0] if ev[0] > 1e-12 * ev[-1] else np.inf)
        try:
            p = connectivity_matrix(x, "partial correlation", covariance_estimator=est)
            out["partial"].append(p[iu][within].mean())
        except ConnectivityError:
            out["partial"].append(np.nan)
        if ev[0] > 1e-10 * ev[-1]:
            w_vals, w_vecs = np.linalg.eigh(whiten @ c @ whiten)
            t = (w_vecs * np.log(w_vals)) @ w_vecs.T
            out["tangent"].append(t[iu][within].mean())
        else:
            out["tangent"].append(np.nan)
    return {k: np.asarray(v, float) for k, v in out.items()}, true_partial


def slope_per_100(n_grid, means) -> float:
    ok = np.isfinite(means)
    if ok.sum() < 2:
        return np.nan
    return float(np.polyfit(np.asarray(n_grid, float)[ok], np.asarray(means)[ok], 1)[0] * 100)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regions", type=int, nargs="+", default=[26, 264],
                        help="atlas sizes (26 = pfclimbic, the default atlas; 264 = power2011)")
    parser.add_argument("--runs", type=int, default=200, help="simulated runs per cell (26 regions)")
    parser.add_argument("--runs-large", type=int, default=40, help="simulated runs per cell (> 100 regions)")
    parser.add_argument("--rho", type=float, default=0.4)
    parser.add_argument("--phi", type=float, default=0.6,
                        help="AR(1) coefficient of the autocorrelated noise (BOLD at TR 0.8-2 s: about 0.4-0.8)")
    parser.add_argument("--shrinkage", type=float, nargs="+", default=[0.1, 0.2])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    ests = estimators(args.shrinkage)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    for n_regions in args.regions:
        n_blocks = 2 if n_regions <= 40 else max(2, n_regions // 22)
        cov, labels = block_covariance(n_regions, n_blocks, args.rho)
        sqrt_cov = np.real(linalg.sqrtm(cov))
        n_runs = args.runs if n_regions <= 100 else args.runs_large
        for noise, phi in (("white", 0.0), (f"AR(1) {args.phi:g}", args.phi)):
            for censoring in (("contiguous", "scattered") if phi else ("contiguous",)):
                rows, truth_p = {}, None
                for name, est in ests.items():
                    cells = []
                    for n_kept in N_KEPT:
                        got, truth_p = one_cell(rng, est, sqrt_cov, cov, labels, n_kept, phi, censoring, n_runs)
                        cells.append(got)
                    rows[name] = cells
                print(f"\n### {n_regions} regions ({n_blocks} blocks), {noise} noise, {censoring} kept volumes, "
                      f"{n_runs} runs per cell; truth: correlation {args.rho:g}, partial {truth_p:.3f}, tangent 0\n")
                _table(rows, "corr", args.rho, "within-block correlation")
                _table(rows, "partial", truth_p, "within-block partial correlation")
                _table(rows, "tangent", 0.0, "within-block tangent entry around the true covariance")
                _conditioning(rows)
                sys.stdout.flush()
    print(f"\n({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


def _table(rows, key, truth, title):
    head = " | ".join(f"n={n}" for n in N_KEPT)
    print(f"{title} (mean over runs; NaN = singular)\n")
    print(f"| estimator | {head} | bias at n=120 | slope per 100 vol | change {N_KEPT[0]}->{N_KEPT[-1]} |")
    print("|---|" + "---|" * (len(N_KEPT) + 3))
    for name, cells in rows.items():
        means = np.array([np.nanmean(c[key]) if np.isfinite(c[key]).all() else np.nan for c in cells])
        b120 = means[N_KEPT.index(120)] - truth
        ok = np.isfinite(means)
        change = means[-1] - means[ok][0] if ok.any() else np.nan
        print(f"| {name} | " + " | ".join(f"{m:.3f}" for m in means)
              + f" | {b120:+.3f} | {slope_per_100(N_KEPT, means):+.4f} | {change:+.3f} |")
    print()


def _conditioning(rows):
    head = " | ".join(f"n={n}" for n in N_KEPT)
    print("covariance conditioning: median smallest eigenvalue / median condition number\n")
    print(f"| estimator | {head} |")
    print("|---|" + "---|" * len(N_KEPT))
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(
            f"{np.median(c['min_eig']):.3f} / {np.median(c['cond']):.3g}" for c in cells) + " |")
    print()


if __name__ == "__main__":
    sys.exit(main())
