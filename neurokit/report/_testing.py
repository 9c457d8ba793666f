"""Small fabricated derivatives in the exact layout the pipelines write, for fast report tests.

Not a simulation of brains: random signals with a little network structure, written as
completion records, QC JSON, time series, matrices, mean images, the group features table
and model outputs, so report code can be exercised in a second instead of a pipeline run.
The per-run files are written by the pipeline's own record classes and names
(:class:`neurokit.io.RunRecord`, :class:`neurokit.io.RunQC`, :class:`neurokit.io.FailureRow`,
:class:`neurokit.io.DerivativeNames`), so they cannot drift from what the pipeline writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from neurokit.atlases import NETWORKS
from neurokit.atlases import load as load_atlas
from neurokit.config import DEFAULT_STAGE_LEVELS, Config
from neurokit.connectivity import fisher_z, summary_indices, vectorize
from neurokit.io import (
    DerivativeNames,
    FailureRow,
    Run,
    RunQC,
    RunRecord,
    atomic_write_json,
    atomic_write_tsv,
    bids_uri,
    dataset_links,
    write_dataset_description,
    write_failures,
)

__all__ = ["fabricate_outputs", "add_physio", "XSS"]

#: A phenotype value that would run if it reached the page as markup.
XSS = "<script>alert(1)</script>"


def _write_json(path: Path, obj) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))
    return str(path)


def _write_tsv(path: Path, frame: pd.DataFrame) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep="\t", index=False, na_rep="n/a")
    return str(path)


def _grid_and_mean(rng):
    shape = (30, 36, 30)
    affine = np.array([[6.0, 0, 0, -90], [0, 6, 0, -126], [0, 0, 6, -72], [0, 0, 0, 1]])
    ijk = np.indices(shape).reshape(3, -1).T
    xyz = ijk @ affine[:3, :3].T + affine[:3, 3]
    inside = ((xyz[:, 0] / 70) ** 2 + ((xyz[:, 1] + 18) / 95) ** 2 + ((xyz[:, 2] - 8) / 75) ** 2) <= 1
    mean = np.where(inside, 800 + 200 * rng.random(len(xyz)), 0).reshape(shape).astype(np.float32)
    return affine, shape, mean


def fabricate_outputs(root, *, n_subjects=6, n_volumes=100, seed=0, with_group=True, with_models=True,
                      xss_site=True, atlas="pfclimbic-spheres", run_space="MNI152NLin2009cAsym"):
    """Write a tiny BIDS dataset (phenotype + confounds) and neurokit derivatives under ``root``.

    Parameters
    ----------
    root : str or Path
        Creates ``root/bids`` and ``root/out``.
    n_subjects : int, default=6
        Subjects 01 and 02 get two sessions; the last subject's second run fails and
        subject 03 has one run excluded for motion.
    n_volumes : int, default=100
    seed : int, default=0
    with_group : bool, default=True
        Write ``group/features.tsv`` (+ ``.json``, ``exclusions.tsv``).
    with_models : bool, default=True
        Write ``group/models/<target>/<feature set>/`` results and ``longitudinal.json``.
    xss_site : bool, default=True
        Give one participant the site :data:`XSS` and add a phenotype-only participant
        whose label is :data:`XSS`.
    atlas : str, default="pfclimbic-spheres"
        A registered atlas with region coordinates (a sphere atlas loads instantly).
    run_space : str, default="MNI152NLin2009cAsym"
        The runs' ``space-`` entity (the default atlas is in MNI152NLin6Asym).

    Returns
    -------
    bids_dir, output_dir : Path
    config : Config
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    bids, out = root / "bids", root / "out"
    # a mean-FD limit (off by default) so that subject 03's high-motion run is excluded
    config = Config().updated({"atlas.name": atlas, "denoise.strategy": "scrubbing",
                               "models.n_permutations": 50, "exclusion.max_mean_fd": 0.5})
    atlas = load_atlas(config.atlas.name)
    regions = atlas.regions
    names = [str(n) for n in regions["name"]]
    networks = [str(n) for n in regions["network"]]
    n_regions = len(names)
    affine, shape, mean = _grid_and_mean(rng)

    subjects = [f"{i + 1:02d}" for i in range(n_subjects)]
    pheno = pd.DataFrame({
        "participant_id": [f"sub-{s}" for s in subjects],
        "age": rng.integers(20, 50, n_subjects),
        "sex": rng.choice(["F", "M"], n_subjects),
        "site": ["A" if i % 2 else "B" for i in range(n_subjects)],
        "severity": np.round(rng.uniform(0, 30, n_subjects), 1),
        "stage": [DEFAULT_STAGE_LEVELS[i % 4] for i in range(n_subjects)],
    })
    if xss_site:
        pheno.loc[1, "site"] = XSS
        pheno = pd.concat([pheno, pd.DataFrame([{"participant_id": f"sub-{XSS}", "age": 30, "sex": "F", "site": "A",
                                                 "severity": 1.0, "stage": "control"}])], ignore_index=True)
    _write_tsv(bids / "participants.tsv", pheno)
    # units for some columns only, as a lab's sidecar often has: the report shows those and invents none
    _write_json(bids / "participants.json", {"age": {"Description": "Age at scan.", "Units": "year"},
                                             "severity": {"Description": "Severity score."},
                                             "sex": {"Description": "Sex.", "Levels": {"F": "female", "M": "male"}}})
    _write_json(bids / "dataset_description.json", {"Name": "fabricated", "BIDSVersion": "1.9.0"})
    config_path = out / "config.yaml"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(config.to_yaml())
    links = dataset_links(out, bids)
    write_dataset_description(out, config_hash=config.hash(), links=links)

    failures, features_rows = [], []
    versions = {"neurokit": "0.0.test", "nilearn": "0.14.1", "numpy": np.__version__}
    for si, sub in enumerate(subjects):
        sessions = ["1", "2"] if si < 2 else [None]
        for ses in sessions:
            ent = {"sub": sub, **({"ses": ses} if ses else {}), "task": "rest", "space": run_space}
            stem = "_".join(f"{k}-{v}" for k, v in ent.items())
            run_id = stem
            raw_func = bids / "derivatives" / "fmriprep" / f"sub-{sub}" / (f"ses-{ses}" if ses else "") / "func"
            bold = raw_func / f"{stem}_desc-preproc_bold.nii.gz"
            if si == n_subjects - 1:
                failures.append(FailureRow.failed(run_id, "extract", "ExtractError",
                                                  f"{bold.name}: the compressed data are truncated or corrupt; "
                                                  "re-copy it.", bold))
                continue
            high_motion = si == 2
            fd = np.abs(rng.normal(0.12 if not high_motion else 0.6, 0.08, n_volumes))
            fd[[n_volumes // 4, (2 * n_volumes) // 3]] += 0.9
            fd[0] = np.nan
            std_dvars = 1 + np.abs(rng.normal(0, 0.2, n_volumes)) + (fd > 0.5) * 0.8
            std_dvars[0] = np.nan
            confounds = _write_tsv(raw_func / f"sub-{sub}{'_ses-' + ses if ses else ''}_task-rest_desc-confounds_"
                                   "timeseries.tsv", pd.DataFrame({"framewise_displacement": fd,
                                                                  "std_dvars": std_dvars, "dvars": std_dvars * 20}))
            censored = sorted({0, 1} | set(np.flatnonzero(np.nan_to_num(fd) > 0.5).tolist()))
            kept = [i for i in range(n_volumes) if i not in censored]
            latent = rng.normal(size=(n_volumes, 3))
            load = np.array([[1.0 if n == net else 0.2 for net in NETWORKS]
                             for n in networks])
            raw = 1000 + 20 * (latent @ load.T + rng.normal(size=(n_volumes, n_regions)))
            raw += np.linspace(0, 15, n_volumes)[:, None]
            cleaned = raw[kept] - raw[kept].mean(0)
            cleaned /= cleaned.std(0, ddof=1)
            corr = np.corrcoef(cleaned.T)
            z = fisher_z(corr)
            try:
                summary = {f"idx_{k}": float(v) for k, v in summary_indices(z, networks).items()}
            except ValueError:  # an atlas without prefrontal/limbic tags: no summary indices
                summary = {}
            mean_fd = float(np.nanmean(fd))
            excluded = mean_fd > config.exclusion.max_mean_fd
            reasons = [f"mean FD {mean_fd:.2f} mm > {config.exclusion.max_mean_fd} mm"] if excluded else []
            side = {"Atlas": config.atlas.name, "AtlasSpace": atlas.space, "Strategy": config.denoise.strategy, "Regions": names,
                    "Networks": networks, "RepetitionTime": 2.0, "SoftwareVersions": versions,
                    "ParticipantConfigHash": config.run_hash(), "Sources": [bids_uri(p, links, out) for p in (bold, confounds)],
                    "StrategyDetails": {"strategy": "scrubbing", "motion": "full", "wm_csf": "power2",
                                        "n_regressors": 26, "high_pass": "cosine regressors"}}
            run = Run(entities=tuple(ent.items()), bold=bold, bold_json=None, confounds=Path(confounds),
                      confounds_json=None, mask=raw_func / f"{stem}_desc-brain_mask.nii.gz", t_r=2.0,
                      n_volumes=n_volumes)
            paths = DerivativeNames(out, run, config.atlas.name, config.denoise.strategy)
            outputs = {}

            def table(key, path, values, sidecar):  # as the participant level writes a table and its sidecar
                atomic_write_tsv(path, pd.DataFrame(values, columns=names))
                atomic_write_json(path.with_suffix(".json"), sidecar)
                outputs[key] = path.relative_to(out).as_posix()
                outputs[f"{key}:json"] = path.with_suffix(".json").relative_to(out).as_posix()

            table("timeseries_raw", paths.raw_timeseries(), raw, side)
            table("timeseries", paths.timeseries(), cleaned, {**side, "SampleMask": kept, "CensoredVolumes": censored})
            table("relmat:correlation", paths.relmat("correlation"), corr, side)
            img = mean * (1 + 0.02 * rng.standard_normal(shape).astype(np.float32))
            paths.mean_image().parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(img, affine), paths.mean_image())
            outputs["mean"] = paths.mean_image().relative_to(out).as_posix()
            coverage = {n: {"n_voxels": int(rng.integers(8, 20)), "fraction": 1.0} for n in names}
            coverage[names[-1]]["fraction"] = 0.4  # one poorly covered region, flagged in the report
            qc = RunQC(
                run_id=run_id, atlas=config.atlas.name, strategy=config.denoise.strategy, repetition_time=2.0,
                n_volumes=n_volumes, censored_volumes=censored, non_steady_state_volumes=[0, 1],
                motion={"mean_fd": mean_fd, "max_fd": float(np.nanmax(fd)),
                        "percent_censored": 100 * len(censored) / n_volumes},
                tdof_lost=40, tdof_remaining=max(len(kept) - 40, 0), n_regressors=26,
                region_tsnr={n: 50.0 for n in names},
                region_coverage={"min_voxels": 5, "dropped_regions": [], "regions": coverage},
                excluded=excluded, exclusion_reasons=reasons, confound_notes=[],
                exclusion_checks=[
                    {"rule": "mean framewise displacement (mm)", "key": "exclusion.max_mean_fd",
                     "value": round(mean_fd, 4), "limit": config.exclusion.max_mean_fd, "passed": not excluded,
                     "reason": reasons[0] if reasons else None, "flag": None},
                    {"rule": "temporal degrees of freedom left", "key": "exclusion.min_tdof",
                     "value": max(len(kept) - 40, 0), "limit": None, "passed": None, "reason": None,
                     "flag": None}],
                summary_indices=summary)
            qc.write(paths)
            outputs["qc"] = paths.qc().relative_to(out).as_posix()
            record = RunRecord(run_id=run_id, status="excluded" if excluded else "ok", reasons=reasons,
                               config_hash=config.run_hash(), entities=ent, bold=str(bold),
                               inputs={"bold": str(bold), "confounds": confounds, "mask": "", "t_r": 2.0},
                               outputs=outputs, summary=summary, mean_fd=mean_fd)
            record.write(paths)
            if excluded:
                failures.append(FailureRow.excluded(record))
                continue
            values, edges = vectorize(z, names)
            p = pheno.iloc[si]
            features_rows.append({"participant_id": f"sub-{sub}", "session_id": f"ses-{ses}" if ses else None,
                                  "run_id": run_id, "severity": p["severity"], "stage": p["stage"], "age": p["age"],
                                  "sex": p["sex"], "site": p["site"], "mean_fd": mean_fd,
                                  "percent_censored": qc.percent_censored, "tdof_remaining": qc.tdof_remaining,
                                  **summary, **{f"edge__{e}": v for e, v in zip(edges, values)}})
    write_failures(out, failures)
    if with_group:
        features = pd.DataFrame(features_rows)
        _write_tsv(out / "group" / "features.tsv", features)
        _write_json(out / "group" / "features.json", {"Measure": "correlation", "Networks": dict(zip(names, networks)),
                                                      "FullConfigHash": config.hash()})
        _write_tsv(out / "group" / "exclusions.tsv",
                   pd.DataFrame([{"run_id": f.run_id, "reason": f.message} for f in failures
                                 if f.status == "excluded"], columns=["run_id", "reason"]))
        if with_models:
            _fabricate_models(out / "group" / "models", features, names, rng)
            _write_json(out / "group" / "confounds.json", {
                "covariate_associations": {
                    "severity": {"mean_fd": {"n": len(features), "test": "spearman", "effect_name": "rho",
                                             "effect": 0.52, "p_value": 0.01}},
                    "stage": {"mean_fd": {"n": len(features), "test": "kruskal-wallis", "effect_name": "eta_squared",
                                          "effect": 0.05, "p_value": 0.6}}},
                "exclusion_bias": {
                    "severity": {"n_excluded": 1, "n_included": len(features), "p_value": 0.4,
                                 "sentence": "Excluded runs did not differ detectably in severity from included runs."},
                    "stage": {"n_excluded": 1, "n_included": len(features), "p_value": None,
                              "sentence": "Too few excluded runs to test."}},
                "sensitivity": {}, "notes": []})
    return bids, out, config


def _fabricate_models(models: Path, features: pd.DataFrame, names: list[str], rng) -> None:
    ids = features[["participant_id", "session_id", "run_id"]]
    edge_cols = [c for c in features.columns if c.startswith("edge__")]
    for target, feature_set in (("severity", "pfc_limbic_edges"), ("stage", "summary_indices")):
        folder = models / target / feature_set
        if target == "severity":
            y = features["severity"].to_numpy(float)
            preds = ids.assign(y_true=y, y_pred=y + rng.normal(0, 5, len(y)), n_repeats=10)
            scores = {m: {"mean": v, "sd": 0.05, "per_repeat": [v] * 10, "p_value": 0.04, "null_mean": 0.0,
                          "null_95": [-0.3, 0.3]} for m, v in (("spearman", 0.42), ("r2", 0.1), ("mae", 4.2))}
            extra = {"kind": "regression", "primary_metric": "spearman"}
            null = pd.DataFrame({"spearman": rng.normal(0, 0.15, 50), "r2": rng.normal(-0.1, 0.1, 50),
                                 "mae": rng.normal(6, 0.5, 50)})
            feats = edge_cols[:40]
        else:
            classes = sorted(set(features["stage"]))
            proba = rng.dirichlet(np.ones(len(classes)), len(features))
            preds = ids.assign(y_true=features["stage"].to_numpy(),
                               y_pred=[classes[i] for i in proba.argmax(1)], n_repeats=10)
            for j, c in enumerate(classes):
                preds[f"proba_{c}"] = proba[:, j]
            scores = {m: {"mean": v, "sd": 0.04, "per_repeat": [v] * 10, "p_value": 0.3, "null_mean": 0.5,
                          "null_95": [0.3, 0.7]} for m, v in (("balanced_accuracy", 0.55), ("roc_auc", 0.61))}
            cm = np.zeros((len(classes), len(classes)), int)
            for t, pr in zip(preds["y_true"], preds["y_pred"]):
                cm[classes.index(t), classes.index(pr)] += 1
            extra = {"kind": "classification", "primary_metric": "balanced_accuracy", "classes": classes,
                     "confusion_matrix": {"labels": classes, "rows": "true", "matrix": cm.tolist()}}
            null = pd.DataFrame({"balanced_accuracy": rng.normal(0.5, 0.08, 50), "roc_auc": rng.normal(0.5, 0.08, 50)})
            feats = ["idx_pfc_within", "idx_limbic_within", "idx_pfc_limbic"]
        metrics = {"target": target, "feature_set": feature_set, "estimator": "ridge",
                   "cv": {"scheme": "repeated_stratified_group_kfold", "folds": 3, "repeats": 10},
                   "n_rows": len(features), "n_participants": int(features["participant_id"].nunique()),
                   "n_features": len(feats), "covariates": ["age", "sex", "mean_fd"], "excluded": {},
                   "notes": ["fabricated for tests"], "p_value": scores[extra["primary_metric"]]["p_value"],
                   "p_value_fdr": 0.04 if target == "severity" else 0.3,
                   "n_permutations": 50, "p_value_floor": 1 / 51, "scores": scores, **extra}
        if target == "severity":  # the beyond-confounds test as the models write it; the stage model has none
            metrics.update(p_value_permutation=0.04, p_value_rule="larger of the permutation p-value and the "
                           "beyond-confounds p-value (intersection-union test)")
            metrics["beyond_confounds"] = {
                "computed": True, "confounds": ["mean_fd", "age", "sex", "site"], "statistic": "partial_r",
                "partial_r": 0.31, "partial_spearman": 0.29, "r2_confounds": 0.05, "delta_r2": 0.08,
                "p_parametric": 0.01, "p_permutation": 0.02, "n_permutations": 50, "p_floor": 1 / 51}
        _write_json(folder / "metrics.json", metrics)
        _write_tsv(folder / "predictions.tsv", preds)
        _write_tsv(folder / "permutation_null.tsv", null)
        w = rng.normal(0, 1, len(feats))
        patterns = pd.DataFrame({"level": "feature", "name": feats, "network": "", "n_features": 1, "mean": w,
                                 "sd": np.abs(w) / 4, "abs_mean": np.abs(w), "sign_consistency": 0.9})
        if target == "stage":  # an unordered 4-class target: one-vs-rest patterns per class, as models write them
            # the last feature of each class is unstable: an SD 50 x its bar, as seen with near-constant outputs
            per_class = [patterns.assign(**{"class": c, "mean": rng.normal(0, 1, len(feats)),
                                            "sd": [0.2] * (len(feats) - 1) + [50.0], "sign_consistency": 0.6})
                         for c in classes]
            _write_tsv(folder / "patterns_by_class.tsv", pd.concat(per_class, ignore_index=True))
        _write_tsv(folder / "patterns.tsv", patterns)
    _write_tsv(models / "summary.tsv", pd.DataFrame([
        {"target": "severity", "feature_set": "pfc_limbic_edges", "status": "fitted", "reason": None},
        {"target": "stage", "feature_set": "summary_indices", "status": "fitted", "reason": None},
        {"target": "user_vs_control", "feature_set": "biomarkers", "status": "not fitted",
         "reason": "no usable rows: every row misses bdnf"}]))
    _write_json(models / "longitudinal.json", {
        "fitted": True, "message": "fitted", "outcome": "idx_pfc_limbic", "predictor": "stage", "covariates": [],
        "n_observations": 7, "n_participants": 5, "n_multi_session": 2, "excluded": {},
        "formula": "idx_pfc_limbic ~ C(stage, Treatment(reference='control'))",
        "params": [{"term": "Intercept", "coef": 0.2, "se": 0.05, "z": 4.0, "p": 0.0001, "ci_low": 0.1,
                    "ci_high": 0.3},
                   {"term": "stage[T.active]", "coef": -0.1, "se": 0.06, "z": -1.7, "p": 0.09, "ci_low": -0.22,
                    "ci_high": 0.02}],
        "random_intercept_var": 0.01, "residual_var": 0.02, "converged": True, "log_likelihood": 3.2,
        "warnings": []})


def _pulse(rng, fs: float, start: float, duration: float, *, mean_rr: float, missed=()):
    """A pulse trace with known beats (RSA at 0.25 Hz, jitter) and a breathing belt; ``missed``: beat
    indices left out of the trace (the detector then sees a long interval, which is rejected)."""
    t_beats, beats = start - 1.0, []
    while t_beats < start + duration + 1.0:
        beats.append(t_beats)
        t_beats += mean_rr + 0.04 * np.sin(2 * np.pi * 0.25 * t_beats) + rng.normal(0, 0.015)
    beats = np.delete(np.array(beats), list(missed))
    n = int(round(duration * fs))
    t = start + np.arange(n) / fs
    pulse = np.zeros(n)
    for b in beats:
        near = slice(max(0, int((b - 0.5 - start) * fs)), max(0, int((b + 0.8 - start) * fs)))
        for delay, width, amp in ((0.12, 0.07, 1.0), (0.36, 0.09, 0.35)):
            pulse[near] += amp * np.exp(-0.5 * ((t[near] - b - delay) / width) ** 2)
    pulse += 0.02 * rng.normal(size=n)
    resp = np.sin(2 * np.pi * 0.25 * t) + 0.05 * rng.normal(size=n)
    return np.column_stack([pulse, resp])


def add_physio(bids_dir, output_dir, config, *, seed=0, regressors_for=("01",), flat_for=("02", "2"),
               missing_for=("02", "1"), missed_beats_for=("01", "2"), noisy_for=(), phenotype_hrv=False):
    """Give fabricated derivatives physiology, as the participant level writes it.

    For every completed run: a raw ``*_physio.tsv.gz`` + JSON (100 Hz pulse and belt,
    ``StartTime`` -3 s) beside where the BOLD run's raw file would be, measured with
    :func:`neurokit.io.physio_for_run` and written with :func:`neurokit.io.write_physio`;
    the completion record gets ``outputs["physio"]`` and the ``physio`` block, the QC JSON the
    ``Physio`` block. Run ``missing_for`` (subject, session) has no recording, ``flat_for`` a flat
    pulse, ``missed_beats_for`` three missed beats (rejected intervals), ``noisy_for`` a pulse buried in
    noise (too many rejected intervals: reason ``quality``). Runs of the subjects in
    ``regressors_for`` get a ``scrubbing+physio`` strategy entry with ``physio_regressors``. The
    features table gets the scan columns (:data:`neurokit.io.SCAN_COLUMNS`, ``scan_hrv`` = ln RMSSD)
    from :func:`neurokit.physio.session_summary` and features.json their units and ``HRVSource``:
    ``hrv`` is the scan's, or with ``phenotype_hrv`` a phenotype value (RMSSD in ms plus noise).

    Returns
    -------
    dict of str to PhysioResult
        Run id -> the result written.
    """
    import gzip

    from neurokit.io import SCAN_COLUMNS, completed_runs, physio_for_run, write_physio
    from neurokit.physio import session_summary

    rng = np.random.default_rng(seed)
    bids_dir, output_dir = Path(bids_dir), Path(output_dir)
    results = {}
    for data in completed_runs(output_dir):
        ent = data["entities"]
        key = (ent["sub"], ent.get("ses"))
        path = output_dir / "logs" / "runs" / f"{data['run_id']}.json"
        record = RunRecord.read(path)
        qc = RunQC.read(output_dir / record.outputs["qc"])
        run = Run(entities=tuple(ent.items()), bold=Path(record.bold), bold_json=None, confounds=Path("c.tsv"),
                  confounds_json=None, mask=Path("m.nii.gz"), t_r=float(qc.repetition_time),
                  n_volumes=int(qc.n_volumes))
        names = DerivativeNames(output_dir, run, config.atlas.name, config.denoise.strategy)
        if key != missing_for:
            func = bids_dir / f"sub-{ent['sub']}" / (f"ses-{ent['ses']}" if ent.get("ses") else "") / "func"
            stem = "_".join(f"{k}-{v}" for k, v in ent.items() if k != "space")
            table = _pulse(rng, 100.0, -3.0, run.n_volumes * run.t_r + 6.0, mean_rr=0.8 + 0.05 * len(results),
                           missed=(40, 70, 100) if key == missed_beats_for else ())
            if key == flat_for:
                table[:, 0] = 0.5
            if key == noisy_for:
                table[:, 0] += rng.normal(0, 1.5, len(table))
            func.mkdir(parents=True, exist_ok=True)
            with gzip.open(func / f"{stem}_physio.tsv.gz", "wt") as fh:
                np.savetxt(fh, table, delimiter="\t", fmt="%.6g")
            _write_json(func / f"{stem}_physio.json", {"SamplingFrequency": 100.0, "StartTime": -3.0,
                                                       "Columns": ["cardiac", "respiratory"]})
        result = physio_for_run(bids_dir, run, **config.physio.kwargs())
        results[record.run_id] = result
        tsv, sidecar = write_physio(names, result)
        record.outputs["physio"] = tsv.relative_to(output_dir).as_posix()
        record.outputs["physio:json"] = sidecar.relative_to(output_dir).as_posix()
        block = {"usable": bool(result.usable), "reason": result.reason.code if result.reason else None,
                 "message": result.reason.message if result.reason else None,
                 "warnings": [w.code for w in result.warnings]}
        qc.physio = block
        if ent["sub"] in regressors_for:
            qc.strategies = {**(qc.strategies or {}), "scrubbing+physio": {"physio_regressors": {
                "used": bool(result.usable), "reason": None if result.usable else "no_recording",
                "columns": ["retroicor_cardiac_cos1", "retroicor_cardiac_sin1", "retroicor_resp_cos1",
                            "retroicor_resp_sin1", "rvt", "hr"],
                "variance_share": 0.083 if result.usable else None}}}
        qc.write(names)
        record.physio = {**block, "recording": [Path(s).name for s in result.sources], "seconds": 0.1}
        record.write(names)
    features_path = output_dir / "group" / "features.tsv"
    if features_path.is_file():
        features = pd.read_csv(features_path, sep="\t", na_values=["n/a"], keep_default_na=False)
        by_session: dict = {}
        for run_id, result in results.items():
            sub, ses = run_id.split("_")[0], next((p for p in run_id.split("_") if p.startswith("ses-")), None)
            by_session.setdefault((sub, ses), []).append(result)
        rows = []
        for _, row in features.iterrows():
            ses = row["session_id"] if isinstance(row.get("session_id"), str) else None
            summary = session_summary(by_session.get((row["participant_id"], ses), []))
            values = {c: summary[k] for c, (k, _, _) in SCAN_COLUMNS.items()}
            values["scan_hrv"] = float(np.log(values["scan_rmssd"])) if values["scan_rmssd"] > 0 else np.nan
            rows.append(values)
        features = pd.concat([features, pd.DataFrame(rows)], axis=1)
        if phenotype_hrv:
            features["hrv"] = features["scan_rmssd"].fillna(40.0) + rng.normal(0, 5, len(features))
        else:
            features["hrv"] = features["scan_hrv"]
        _write_tsv(features_path, features)
        meta_path = output_dir / "group" / "features.json"
        meta = json.loads(meta_path.read_text())
        source = "phenotype" if phenotype_hrv else "scan:log_rmssd"
        meta["HRVSource"] = {"hrv": source, "scan_hrv": "scan:log_rmssd"}
        meta["ScanPhysiology"] = {**{c: {"Units": u, "Description": d} for c, (_, u, d) in SCAN_COLUMNS.items()},
                                  "scan_hrv": {"Units": "ln(ms)", "Description": "ln RMSSD"}}
        _write_json(meta_path, meta)
    return results
