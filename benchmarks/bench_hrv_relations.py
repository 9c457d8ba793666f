"""Calibration of the group report's scan-HRV statistics: false-positive rate on null studies, power on planted ones.

``neurokit.models.hrv_relations`` (scan HRV against vmPFC-amygdala connectivity, the
prefrontal-limbic index and stage) and ``hrv_agreement`` (scan against phenotype HRV) report
permutation p-values that swap whole participants. This script draws features tables of its own
(it never calls neurokit's simulators): participants with one or two sessions, each variable a
participant trait plus session noise, so repeated sessions are correlated as in a longitudinal
study, which is what a row-wise permutation would get wrong. Null studies draw every variable
independently; planted twins give the scan HRV a correlation with the connectivity, a stage shift
and an agreement with the phenotype's HRV. Each p-value's rejection rate at 0.05 is printed with
its Clopper-Pearson 95 % interval, beside the same rate of a naive row-wise Spearman test as the
reference measured in the same run.

Run: ``python benchmarks/bench_hrv_relations.py [--studies 300] [--permutations 199]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from neurokit.models import hrv_agreement, hrv_relations

STAGES = ("control", "active", "early_abstinence", "sustained_remission")


def draw(rng: np.random.Generator, n: int, effect: float) -> pd.DataFrame:
    """One study's features table: ``n`` participants, about half with two sessions."""
    rows = []
    for i in range(n):
        stage = STAGES[i % len(STAGES)]
        trait = rng.normal(size=4)  # scan HRV, vmPFC-amygdala, index, phenotype HRV
        for s in range(1 + (rng.random() < 0.5)):
            noise = 0.5 * rng.normal(size=4)
            hrv = trait[0] + noise[0] - effect * (stage == "active")
            conn = trait[1] + noise[1] + effect * 0.6 * (trait[0] + noise[0])
            rows.append({"participant_id": f"sub-{i:03d}", "session_id": f"ses-{s + 1}", "stage": stage,
                         "scan_hrv": hrv, "scan_rmssd": np.exp(3.6 + 0.3 * hrv),
                         "edge__vmPFC_L--amygdala_L": conn, "idx_pfc_limbic": trait[2] + noise[2] + effect * 0.6 * hrv,
                         "hrv": trait[3] + effect * trait[0]})
    return pd.DataFrame(rows)


def _interval(k: int, n: int) -> tuple[float, float]:
    lo = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def run(n_studies: int, n_participants: int, n_permutations: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = []
    for family, effect in (("null", 0.0), ("planted", 0.5)):
        hits: dict[str, list[bool]] = {}
        for k in range(n_studies):
            table = draw(rng, n_participants, effect)
            rel = hrv_relations(table, n_boot=0, n_permutations=n_permutations, random_state=k)
            for _, row in rel[rel["p_permutation"].notna()].iterrows():
                hits.setdefault(f"relations: {row['relation']}", []).append(row["p_permutation"] <= 0.05)
            agree = hrv_agreement(table, n_boot=0, n_permutations=n_permutations, random_state=k)
            hits.setdefault("agreement (scan vs phenotype)", []).append(agree["p_permutation"] <= 0.05)
            # the reference: Spearman's own p over rows, as if sessions were independent people
            naive = stats.spearmanr(table["scan_hrv"], table["edge__vmPFC_L--amygdala_L"]).pvalue
            hits.setdefault("reference: row-wise Spearman p, vmPFC-amygdala", []).append(naive <= 0.05)
        for name, values in hits.items():
            k, n = int(np.sum(values)), len(values)
            lo, hi = _interval(k, n)
            out.append({"family": family, "p-value": name, "studies": n, "rate at 0.05": k / n,
                        "95% CI": f"{lo:.3f}-{hi:.3f}"})
    return pd.DataFrame(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=300)
    parser.add_argument("--participants", type=int, default=40)
    parser.add_argument("--permutations", type=int, default=199)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    table = run(args.studies, args.participants, args.permutations, args.seed)
    print(table.to_string(index=False))
    print(f"\n{args.studies} studies per family, {args.participants} participants (about half with two sessions), "
          f"{args.permutations} permutations; {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
