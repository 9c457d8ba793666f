"""Denoising benchmark: every strategy x filter choice on realistic simulations.

For each simulated condition (TR, run length, latent dynamics, artefact strength) and each
denoising pipeline, this measures what Ciric et al. (2017), Parkes et al. (2018) and Wang et al.
(2024, fmriprep-denoise-benchmark) measure, plus what only a simulation can tell:

- **fidelity**: Spearman correlation, across runs, of the measured mean prefrontal-limbic Fisher z
  with the run's latent prefrontal-limbic coupling (known from the simulation's truth file);
- **QC-FC**: partial correlation across runs of each edge with mean FD (age and sex removed):
  % of edges with p < 0.05 and median |r|;
- **QC-FC distance dependence**: Spearman of QC-FC with the distance between region centres;
- **tDOF lost**: temporal degrees of freedom spent by regressors, detrending and filtering plus the
  censored volumes (non-steady-state included), mean over runs as % of the volumes; the censored
  volumes alone (% of the volumes); and the fewest degrees of freedom left in any run;
- **group effect**: Spearman of the measured prefrontal-limbic index with severity across
  participants, beside the same for the latent coupling (the ceiling).

The simulations plant their signals as smooth blobs around published coordinates (not inside any
atlas's regions) and add motion artefacts that realignment regressors cannot fully remove, so no
pipeline is favoured by construction. Region signals are extracted once per run and cleaned by
every pipeline, as the participant level does. Connectivity uses each pipeline's
``connectivity.covariance_estimator``; ``--estimators`` adds a copy of every pipeline per estimator
(named ``<pipeline> [<estimator>]``), computed from the same cleaned signals.

    python benchmarks/bench_denoise.py --data-dir /tmp/neurokit-bench-denoise            # all conditions
    python benchmarks/bench_denoise.py --data-dir /tmp/nbd --conditions mb-broad --subjects 24
    python benchmarks/bench_denoise.py --pipelines default --estimators shrunk ledoit_wolf empirical
    python benchmarks/bench_denoise.py --physio --conditions tr2-long tr2-long-nophys   # + the '+physio' pipelines

Simulated datasets are cached in ``--data-dir`` (keyed by their parameters); the table is printed
as Markdown and written to ``--data-dir/results.tsv``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

#: Simulated conditions: acquisition, latent dynamics and artefact strength.
CONDITIONS = {
    "mb-broad": {"t_r": 0.8, "n_volumes": 300, "dynamics": "broadband", "artefact_scale": 1.0},
    "mb-slow": {"t_r": 0.8, "n_volumes": 300, "dynamics": "band_limited", "artefact_scale": 1.0},
    "mb-hard": {"t_r": 0.8, "n_volumes": 300, "dynamics": "broadband", "artefact_scale": 2.0},
    "tr2-slow": {"t_r": 2.0, "n_volumes": 150, "dynamics": "band_limited", "artefact_scale": 1.0},
    "tr2-long": {"t_r": 2.0, "n_volumes": 300, "dynamics": "broadband", "artefact_scale": 1.0},
    # the same acquisitions without the simulator's physiological noise in the BOLD (its recordings
    # are still written): what the '+physio' regressors cost where there is nothing for them to remove
    "mb-broad-nophys": {"t_r": 0.8, "n_volumes": 300, "dynamics": "broadband", "artefact_scale": 1.0,
                        "physio_noise": 0.0},
    "tr2-long-nophys": {"t_r": 2.0, "n_volumes": 300, "dynamics": "broadband", "artefact_scale": 1.0,
                        "physio_noise": 0.0},
    # physiological noise three times the simulator's default
    "tr2-long-phys3": {"t_r": 2.0, "n_volumes": 300, "dynamics": "broadband", "artefact_scale": 1.0,
                       "physio_noise": 3.0},
    # the null twin: nothing planted, motion tracks severity strongly
    "null": {"t_r": 0.8, "n_volumes": 300, "dynamics": "broadband", "artefact_scale": 1.0,
             "effect_size": 0.0, "motion_severity_coupling": 1.5},
}

PRESETS = ("simple", "simple+gsr", "scrubbing", "scrubbing+gsr", "compcor", "compcor+gsr")
FILTERS = {
    "bp": {"high_pass": 0.01, "low_pass": 0.08, "filter": "butterworth"},   # 0.01-0.08 Hz band-pass
    "hp": {"high_pass": 0.01, "low_pass": None, "filter": "butterworth"},   # high-pass only
}


def pipelines(physio: bool = False) -> dict[str, dict]:
    """Pipeline name -> configuration overrides (``denoise.*`` keys); ``default`` is neurokit's default.

    ``physio`` adds each preset with ``+physio`` (high-pass only) and ``default+physio``: the same
    strategies plus the physiological noise regressors of the runs' recordings (docs/denoising.md).
    """
    out = {"default": {}}
    for preset in PRESETS:
        for fname, filt in FILTERS.items():
            out[f"{preset}/{fname}"] = {"denoise.strategy": preset, **{f"denoise.{k}": v for k, v in filt.items()}}
    for fd in (0.2, 0.3):  # stricter scrubbing (Power 2014 used 0.2 mm; fMRIPrep flags at 0.5 mm)
        for gsr in ("", "+gsr"):
            out[f"scrubbing{fd:g}{gsr}/hp"] = {"denoise.strategy": f"scrubbing{gsr}", "denoise.fd_threshold": fd,
                                              **{f"denoise.{k}": v for k, v in FILTERS["hp"].items()}}
    if physio:
        from neurokit.config import Config

        out["default+physio"] = {"denoise.strategy": f"{Config().denoise.strategy}+physio"}
        for preset in PRESETS:
            out[f"{preset}+physio/hp"] = {"denoise.strategy": f"{preset}+physio",
                                          **{f"denoise.{k}": v for k, v in FILTERS["hp"].items()}}
    return out


# ---------------------------------------------------------------------------------------------
# simulation


def simulate(data_dir: Path, condition: str, n_subjects: int, seed: int, resolution: float, realism: str) -> Path:
    """The condition's dataset in ``data_dir`` (simulated once, then reused)."""
    from neurokit.simulate import simulate_dataset

    params = {"n_subjects": n_subjects, "seed": seed, "resolution_mm": resolution, "realism": realism,
              **CONDITIONS[condition]}
    if realism == "easy":  # the unit-test simulator: no dynamics, artefact or physiological-noise options
        params = {k: v for k, v in params.items()
                  if k not in ("dynamics", "artefact_scale", "realism", "physio_noise")}
    key = "-".join(f"{k}{v}" for k, v in sorted(params.items())).replace(".", "p").replace("_", "")
    # hashlib, not hash(): str hashes change between processes, so the cache never hit
    out = data_dir / f"{condition}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    stamp = out.with_name(out.name + ".params.json")
    if out.exists() and stamp.exists() and json.loads(stamp.read_text()) == params:
        return out
    started = time.perf_counter()
    simulate_dataset(out, overwrite=out.exists(), **params)
    stamp.write_text(json.dumps(params))
    print(f"  simulated {condition} ({n_subjects} participants) in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    return out


# ---------------------------------------------------------------------------------------------
# per run: extract once, clean with every pipeline (runs in worker processes)

_STATE: dict = {}


def _init_worker(atlas_name: str, configs: dict, bids_dir: str | None = None) -> None:
    from threadpoolctl import threadpool_limits

    from neurokit.atlases import load

    threadpool_limits(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("neurokit.run").setLevel(logging.ERROR)  # runs without a recording: the table counts them
    _STATE["atlas"] = load(atlas_name)
    _STATE["configs"] = configs
    _STATE["bids"] = bids_dir


def _physio_regressors(run, config, n_volumes: int):
    """The run's physiological noise regressors (``neurokit.physio.PhysioRegressors``) from its raw
    recording, as compute_run makes them (``neurokit.run``)."""
    from neurokit.io import run_recording
    from neurokit.run._regressors import run_physio_regressors

    bids = _STATE.get("bids")
    recording, _ = run_recording(bids, run, columns=config.physio.columns.mapping()) if bids else (None, None)
    regressors, _ = run_physio_regressors(run, recording, config, bids_dir=bids, n_volumes=n_volumes)
    return regressors


def _one_run(run) -> dict:
    import nibabel as nib

    from neurokit.atlases import check_coverage
    from neurokit.connectivity import connectivity_matrix, fisher_z, summary_indices
    from neurokit.denoise import (
        InsufficientVolumesError, clean, load_confounds_metadata, load_confounds_table, select_confounds,
    )
    from neurokit.extract import extract_signals
    from neurokit.qc import exclusion_decision, motion_summary

    atlas, configs = _STATE["atlas"], _STATE["configs"]
    img = nib.load(str(run.bold))
    mask = np.asarray(nib.load(str(run.mask)).dataobj) > 0
    coverage = check_coverage(atlas, img.affine, img.shape[:3], mask, min_voxels=5, drop_empty=True)
    extraction = extract_signals(img, coverage.labels, mask, region_ids=coverage.kept_indices)
    kept = coverage.table["kept"].to_numpy(bool)
    names = [str(n) for n in coverage.table["name"].to_numpy()[kept]]
    networks = [str(n) for n in coverage.table["network"].to_numpy()[kept]]
    ijk = np.argwhere(coverage.labels > 0)
    lab = coverage.labels[tuple(ijk.T)]
    xyz = nib.affines.apply_affine(img.affine, ijk)
    centres = np.array([xyz[lab == i].mean(axis=0) for i in coverage.kept_indices])
    confounds = load_confounds_table(run.confounds)
    metadata = load_confounds_metadata(run.confounds_json)
    fd = confounds["framewise_displacement"].to_numpy(float)
    out = {"run_id": run.run_id, "sub": dict(run.entities)["sub"], "mean_fd": float(np.nanmean(fd)),
           "names": names, "networks": networks, "centres": centres, "n_volumes": extraction.n_volumes,
           "pipelines": {}, "physio_used": None}
    physio_cache: dict = {}
    for name, config in configs.items():
        dn = config.denoise
        physio = None
        if dn.strategies[0].endswith("+physio"):
            key = json.dumps(config.physio.model_dump(mode="json"), sort_keys=True)
            if key not in physio_cache:
                physio_cache[key] = _physio_regressors(run, config, extraction.n_volumes)
            physio = physio_cache[key].regressors
            out["physio_used"] = bool(physio_cache[key].used)
        try:
            sel = select_confounds(confounds, **dn.select_kwargs(), metadata=metadata, source=run.confounds,
                                   physio=physio)
            cleaned = clean(extraction.signals, sel.confounds, sel.sample_mask, t_r=run.t_r, **dn.clean_kwargs())
        except InsufficientVolumesError as exc:
            out["pipelines"][name] = {"error": str(exc)}
            continue
        z = fisher_z(connectivity_matrix(cleaned.signals, "correlation", **config.connectivity.matrix_kwargs()))
        motion = motion_summary(fd, sel.sample_mask, n_volumes=extraction.n_volumes)
        excluded, reasons = exclusion_decision(
            mean_fd=motion["mean_fd"], censored_fraction=len(sel.censored) / extraction.n_volumes,
            n_remaining=extraction.n_volumes - len(sel.censored), tdof_remaining=int(cleaned.tdof_remaining),
            **config.exclusion.decision_kwargs(dn.min_volumes),
        )
        iu = np.triu_indices(len(names), 1)
        indices = summary_indices(z, networks)
        out["pipelines"][name] = {
            "pfc_limbic": float(indices["pfc_limbic"]),
            "indices": {f"idx_{k}": float(v) for k, v in indices.items()},
            "edges": z[iu].astype(np.float32),
            "tdof_lost": int(cleaned.tdof_lost),  # regressors, trends and filter; censoring is n_censored
            "tdof_remaining": int(cleaned.tdof_remaining),
            "n_censored": int(cleaned.n_censored),
            "excluded": bool(excluded),
        }
    return out


# ---------------------------------------------------------------------------------------------
# metrics over runs


def evaluate(dataset: Path, results: list[dict], configs: dict) -> list[dict]:
    """One row per pipeline: fidelity, QC-FC, distance dependence, tDOF and group effect.

    QC-FC, its distance dependence and tDOF come from :func:`neurokit.qc.denoising_benchmark`, the
    function behind the group report's denoising section; QC-FC uses every run a pipeline could
    clean (age and sex removed), so that pipelines are compared on the same runs.
    """
    from neurokit.qc import denoising_benchmark, region_distances

    truth = pd.read_csv(dataset.with_name(dataset.name + "_truth.tsv"), sep="\t")
    truth = truth[truth["broken"].isna()] if "broken" in truth else truth
    truth["sub"] = truth["participant_id"].str.removeprefix("sub-")
    latent_col = "latent_coupling" if "latent_coupling" in truth else "coupling"
    people = pd.read_csv(dataset / "participants.tsv", sep="\t", na_values="n/a", keep_default_na=False)
    people["sub"] = people["participant_id"].str.removeprefix("sub-")
    by_sub = truth.drop_duplicates("sub").set_index("sub")
    pinfo = people.set_index("sub")
    common = [r for r in results if r["names"] == results[0]["names"]]
    latent_all = np.array([by_sub.loc[r["sub"], latent_col] for r in common])
    severity_all = np.array([pinfo.loc[r["sub"], "severity"] for r in common], dtype=float)
    covariates_all = np.column_stack([
        pinfo.loc[[r["sub"] for r in common], "age"].to_numpy(float),
        (pinfo.loc[[r["sub"] for r in common], "sex"] == "M").to_numpy(float),
    ])
    cleaned = {name: [i for i, r in enumerate(common) if "error" not in r["pipelines"][name]] for name in configs}
    table = denoising_benchmark(
        {n: np.vstack([common[i]["pipelines"][n]["edges"] for i in ok]).astype(float) for n, ok in cleaned.items()},
        {n: np.array([common[i]["mean_fd"] for i in ok]) for n, ok in cleaned.items()},
        tdof_lost={n: np.array([common[i]["pipelines"][n]["tdof_lost"] for i in ok], float)
                   for n, ok in cleaned.items()},
        tdof_remaining={n: np.array([common[i]["pipelines"][n]["tdof_remaining"] for i in ok], float)
                        for n, ok in cleaned.items()},
        n_censored={n: np.array([common[i]["pipelines"][n]["n_censored"] for i in ok], float)
                    for n, ok in cleaned.items()},
        covariates={n: covariates_all[ok] for n, ok in cleaned.items()},
        distances=region_distances(common[0]["centres"]),
    ).set_index("strategy")
    rows = []
    for name, ok in cleaned.items():
        res = [common[i]["pipelines"][name] for i in ok]
        measured = np.array([x["pfc_limbic"] for x in res])
        latent, severity = latent_all[ok], severity_all[ok]
        kept = np.array([not x["excluded"] for x in res])
        bench = table.loc[name]
        rows.append({
            "pipeline": name,
            "n_runs": len(common),
            "n_failed": len(common) - len(ok),
            "n_excluded": int((~kept).sum()) + len(common) - len(ok),
            # runs whose physiological regressors were used (the rest were cleaned without them)
            "physio_runs": sum(bool(common[i].get("physio_used")) for i in ok)
            if configs[name].denoise.strategies[0].endswith("+physio") else np.nan,
            "fidelity": stats.spearmanr(measured, latent)[0],
            "fidelity_kept": stats.spearmanr(measured[kept], latent[kept])[0] if kept.sum() > 3 else np.nan,
            "qcfc_pct": bench["qcfc_percent_significant"],
            "qcfc_median_abs": bench["qcfc_median_abs"],
            "qcfc_dist": bench["qcfc_distance_rho"],
            "tdof_lost_pct": 100 * bench["tdof_lost_mean"] / common[0]["n_volumes"],
            "censored_pct": 100 * np.mean([x["n_censored"] for x in res]) / common[0]["n_volumes"],
            # the censoring-made bias: the index against the volumes a run kept (0 when nothing tracks them)
            "idx_kept_rho": stats.spearmanr(measured, [-x["n_censored"] for x in res])[0],
            "tdof_min": int(bench["tdof_remaining_min"]),
            "group_rho": stats.spearmanr(measured[kept], severity[kept])[0],
            "group_p": stats.spearmanr(measured[kept], severity[kept])[1],
            "latent_group_rho": stats.spearmanr(latent, severity)[0],
            "fd_severity_rho": stats.spearmanr([common[i]["mean_fd"] for i in ok], severity)[0],
        })
    return rows


def features_table(dataset: Path, results: list[dict], pipeline: str, *, drop_excluded: bool) -> tuple:
    """The group features table neurokit's group level would build for one pipeline (one run per row)."""
    from neurokit.io import load_phenotype

    names, networks = results[0]["names"], results[0]["networks"]
    iu = np.triu_indices(len(names), 1)
    edge_names = [f"edge__{names[i]}--{names[j]}" for i, j in zip(*iu)]
    pheno = load_phenotype(dataset).drop_duplicates("participant_id").set_index("participant_id")
    rows = []
    for r in results:
        res = r["pipelines"][pipeline]
        if r["names"] != names or "error" in res or (drop_excluded and res["excluded"]):
            continue
        pid = f"sub-{r['sub']}"
        rows.append({"participant_id": pid, "session_id": None, "run_id": r["run_id"], "mean_fd": r["mean_fd"],
                     **{c: pheno.loc[pid, c] for c in ("severity", "stage", "age", "sex", "site", "bdnf", "hrv")},
                     **res["indices"], **dict(zip(edge_names, res["edges"].astype(float)))})
    return pd.DataFrame(rows), dict(zip(names, networks))


def evaluate_models(dataset: Path, results: list[dict], pipeline_names, *, n_permutations: int, repeats: int) -> list[dict]:
    """Cross-validated severity and stage models on each pipeline's features, under confound choices."""
    from neurokit.config import Config
    from neurokit.models import cross_validate_model

    levels = Config().columns.stage_levels
    variants = {"cov=age,sex,mean_fd": (("age", "sex", "mean_fd"), True),
                "cov=age,sex": (("age", "sex"), True),
                "cov=age,sex; no exclusion": (("age", "sex"), False)}
    rows = []
    for pipeline in pipeline_names:
        for variant, (covariates, drop) in variants.items():
            features, networks = features_table(dataset, results, pipeline, drop_excluded=drop)
            for target, feature_set in (("severity", "pfc_limbic_edges"), ("severity", "summary_indices"),
                                        ("stage", "pfc_limbic_edges"), ("stage", "summary_indices")):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = cross_validate_model(features, target, feature_set, networks, covariates=covariates,
                                                  stage_levels=levels, cv_repeats=repeats,
                                                  n_permutations=n_permutations)
                metric = result.metrics["primary_metric"]
                score = result.metrics["scores"][metric]
                rows.append({"pipeline": pipeline, "variant": variant, "n_rows": len(features), "target": target,
                             "feature_set": feature_set, "metric": metric, "score": score["mean"],
                             "p_value": score.get("p_value")})
    return rows


def _config(overrides: dict):
    """The default configuration with ``{"section.key": value}`` overrides (None included, unlike
    ``Config.updated``, which skips None as an unset command-line flag)."""
    from neurokit.config import Config, _validate

    data = Config().to_dict()
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        data[section][key] = value
    return _validate(data, source="bench_denoise")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/neurokit-bench-denoise"))
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    parser.add_argument("--subjects", type=int, default=48)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--resolution", type=float, default=4.0)
    parser.add_argument("--atlas", default="pfclimbic")
    parser.add_argument("--realism", default="realistic", choices=("realistic", "easy"),
                        help="simulator mode ('easy' is the unit-test simulator, shown for contrast)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pipelines", nargs="*", default=None, help="subset of pipeline names")
    parser.add_argument("--physio", action="store_true",
                        help="also run every preset with '+physio' (the runs' recordings' RETROICOR, RVT, HR)")
    parser.add_argument("--estimators", nargs="*", default=None,
                        help="also run every pipeline with each of these connectivity.covariance_estimator values")
    parser.add_argument("--models", nargs="*", default=None,
                        help="also cross-validate severity and stage models on these pipelines' features")
    parser.add_argument("--permutations", type=int, default=0, help="permutations per model (with --models)")
    parser.add_argument("--repeats", type=int, default=3, help="CV repeats per model (with --models)")
    args = parser.parse_args(argv)

    from neurokit.config import Config
    from neurokit.io import discover_runs

    args.data_dir.mkdir(parents=True, exist_ok=True)
    overrides = pipelines(physio=args.physio)
    if args.pipelines:
        overrides = {k: v for k, v in overrides.items() if k in args.pipelines or k == "default"}
    for estimator in args.estimators or ():
        overrides.update({f"{name} [{estimator}]": {**o, "connectivity.covariance_estimator": estimator}
                          for name, o in list(overrides.items()) if " [" not in name})
    configs = {name: _config(o) for name, o in overrides.items()}
    default = Config().denoise
    print(f"neurokit default: strategy={default.strategy} high_pass={default.high_pass} low_pass={default.low_pass} "
          f"filter={default.filter}; atlas {args.atlas}", file=sys.stderr)
    all_rows, model_rows = [], []
    for condition in args.conditions:
        dataset = simulate(args.data_dir, condition, args.subjects, args.seed, args.resolution, args.realism)
        runs = [r for r in discover_runs(dataset).runs]
        started = time.perf_counter()
        with ProcessPoolExecutor(args.workers, initializer=_init_worker, initargs=(args.atlas, configs, str(dataset))) as pool:
            results = list(pool.map(_one_run, runs, chunksize=4))
        rows = evaluate(dataset, results, configs)
        for row in rows:
            row["condition"] = condition
        all_rows += rows
        if args.models:
            model_rows += [{"condition": condition, **row} for row in evaluate_models(
                dataset, results, args.models, n_permutations=args.permutations, repeats=args.repeats)]
        print(f"  {condition}: {len(runs)} runs x {len(configs)} pipelines in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)
        pd.DataFrame(all_rows).to_csv(args.data_dir / "results.tsv", sep="\t", index=False)  # progress so far
    table = pd.DataFrame(all_rows)
    table.to_csv(args.data_dir / "results.tsv", sep="\t", index=False)
    report(table)
    if model_rows:
        models = pd.DataFrame(model_rows)
        models.to_csv(args.data_dir / "models.tsv", sep="\t", index=False)
        wide = models.pivot_table(index=["condition", "pipeline", "variant"], columns=["target", "feature_set"],
                                  values="score", sort=False)
        wide.columns = [f"{t}/{f}" for t, f in wide.columns]
        print("\n### Group models (severity: Spearman of out-of-fold predictions; stage: balanced accuracy)\n")
        print(_markdown(wide, index=True))
    return 0


def _markdown(frame: pd.DataFrame, index: bool = False) -> str:
    """A Markdown table of ``frame`` (numbers to 3 decimals)."""
    if index:
        frame = frame.reset_index()

    def cell(value) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def report(table: pd.DataFrame) -> None:
    """Print the per-condition tables and the summary across conditions (Markdown)."""
    pd.set_option("display.width", 250)
    cols = ["pipeline", "fidelity", "qcfc_pct", "qcfc_median_abs", "qcfc_dist", "tdof_lost_pct", "censored_pct",
            "tdof_min", "n_excluded", "physio_runs", "idx_kept_rho", "group_rho", "group_p"]
    headers = {"tdof_lost_pct": "tDOF lost % (regressors+trends+filter+censored)", "censored_pct": "censored %",
               "idx_kept_rho": "index vs kept volumes (rho)"}
    for condition, sub in table.groupby("condition", sort=False):
        print(f"\n### {condition} (latent coupling vs severity: rho = {sub['latent_group_rho'].iloc[0]:.2f}; "
              f"mean FD vs severity: rho = {sub['fd_severity_rho'].iloc[0]:.2f})\n")
        shown = [c for c in cols if c in sub and (c != "physio_runs" or sub[c].notna().any())]
        print(_markdown(sub[shown].rename(columns=headers)))
    real = table[table["condition"] != "null"]
    if real.empty:
        return
    best = real.groupby("condition")["fidelity"].transform("max")
    real = real.assign(rel=real["fidelity"] / best)
    summary = real.groupby("pipeline", sort=False).agg(
        fidelity_mean=("fidelity", "mean"), fidelity_min=("fidelity", "min"), rel_min=("rel", "min"),
        qcfc_pct=("qcfc_pct", "mean"), qcfc_dist=("qcfc_dist", "mean"),
        tdof_lost_pct_incl_censored=("tdof_lost_pct", "mean"),
        group_rho=("group_rho", "mean"),
    )
    null = table[table["condition"] == "null"].set_index("pipeline")
    if not null.empty:
        summary["null_group_p"] = null["group_p"]
    print("\n### Across conditions (rel_min: lowest fidelity relative to the best pipeline of that condition)\n")
    print(_markdown(summary.sort_values("fidelity_mean", ascending=False), index=True))


if __name__ == "__main__":
    sys.exit(main())
