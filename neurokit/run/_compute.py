"""One run's computation: atlas checks -> confounds -> extraction -> each strategy -> QC, in memory."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from neurokit.config import Config
from neurokit.io import Run, RunQC
from neurokit.physio import PhysioRecording, PhysioResult
from neurokit.run._physio import _PhysioStep, physio_block
from neurokit.run._regressors import _NoiseRegressors
from neurokit.run._stage import _Stage
from neurokit.run._strategy import _Denoised, _denoise_and_connect

__all__ = ["MEAN_IMAGE_VOLUMES", "RunResult", "compute_run"]


#: Volumes averaged into a run's mean image (the report's underlay): evenly spaced, first and last included.
MEAN_IMAGE_VOLUMES = 16


def _nifti_bytes(img: nib.Nifti1Image) -> bytes:
    """The image as ``.nii.gz`` bytes, reproducibly (no timestamp): isal at level 1, several
    times faster than zlib's default level and about as small for float32 EPI data."""
    try:
        from isal.igzip import compress
    except ImportError:  # pragma: no cover - isal is a dependency; stdlib fallback
        from gzip import compress
    return compress(img.to_bytes(), compresslevel=1, mtime=0)


@dataclass
class RunResult:
    """What :func:`compute_run` computed for one run, before anything is written.

    Attributes
    ----------
    run : Run
        The run.
    atlas_name, atlas_space : str
        The atlas the regions come from.
    primary : str
        The modelled strategy (``config.modelled_strategy``): the QC's top-level entries and
        the record's unsuffixed output keys describe it.
    strategies : dict of str to _Denoised
        Each strategy's cleaning, exclusion, matrices and summary, the modelled one first.
    signals : ndarray, shape (n_volumes, n_regions)
        Region mean signals before denoising.
    region_names, networks : list of str, length n_regions
        The regions kept and their networks.
    qc : RunQC
        The QC metrics (``ReferenceImage`` holds the boldref's path until the participant level's
        ``write_run`` writes it as a BIDS URI; ``ProcessingSeconds`` is set when written).
    reference : Path or None
        fMRIPrep's boldref when usable; otherwise the mean image below is the report's underlay.
    mean_image : ndarray, shape (X, Y, Z), or None
        Mean of :data:`MEAN_IMAGE_VOLUMES` volumes when there is no usable boldref.
    affine : ndarray, shape (4, 4)
        The BOLD run's affine.
    seconds : float
        Time the computation took.
    physio : neurokit.physio.PhysioResult or None
        The run's heart-rate variability and breathing rate, or why there are none
        (``usable=False`` and the reason); None when ``physio.enabled`` is false.
    recording : neurokit.physio.PhysioRecording or None
        The run's physiological recording, read once, before the strategies are cleaned; None
        when there is none, it cannot be read, or physiology is off.
    physio_seconds : float
        Time the physiology step took (reading the recording and measuring it).
    physio_regressors : neurokit.physio.PhysioRegressors or None
        The physiological noise regressors of the ``+physio`` strategies (``used`` False and the
        reason when the run has none); None when no strategy has ``+physio``.
    """

    run: Run
    atlas_name: str
    atlas_space: str
    primary: str
    strategies: dict
    signals: np.ndarray
    region_names: list
    networks: list
    qc: RunQC
    reference: Path | None
    mean_image: np.ndarray | None
    affine: np.ndarray
    seconds: float = 0.0
    physio: PhysioResult | None = None
    recording: PhysioRecording | None = None
    physio_seconds: float = 0.0
    physio_regressors: Any = None

    @property
    def modelled(self) -> "_Denoised":
        """The modelled strategy's result."""
        return self.strategies[self.primary]


def compute_run(run: Run, atlas, config: Config, *, bids_dir: str | os.PathLike | None = None) -> RunResult:
    """Compute one run's derivatives in memory: reads its inputs, writes nothing.

    Region signals are extracted once; each strategy of ``denoise.strategy`` then selects its
    confounds, cleans them, computes the matrices and decides exclusion on its own. With
    ``physio.enabled`` (the default) the run's physiological recording is read from the raw
    dataset once and its heart-rate variability measured (``docs/physio.md``); a run without a
    usable recording, or whose physiology step raised (reason ``error``), is computed all the same.
    A ``+physio`` strategy adds the physiological noise regressors of that recording
    (:func:`neurokit.physio.physio_regressors`, ``docs/denoising.md``) to its confounds; without
    usable ones it is cleaned with its other confounds, and the QC's ``physio_regressors`` says why.

    Parameters
    ----------
    run : Run
        The run (from discovery).
    atlas : neurokit.atlases.Atlas
        The loaded atlas.
    config : Config
        The resolved configuration.
    bids_dir : path-like, optional
        The raw BIDS dataset, where the run's ``*_physio.tsv.gz`` are looked for; without it
        (and with ``physio.enabled``) the result's physiology is unusable with reason
        ``no_raw_dataset``.

    Returns
    -------
    RunResult

    Raises
    ------
    RunFailure
        Naming the stage (atlas, confounds, extract, denoise, connectivity, qc) and the cause.
    """
    from neurokit.atlases import check_coverage, check_space
    from neurokit.denoise import (
        check_confounds_length,
        load_confounds_metadata,
        load_confounds_table,
        select_confounds,
    )
    from neurokit.extract import extract_signals
    from neurokit.qc import region_tsnr

    started = time.perf_counter()
    dn = config.denoise
    primary = config.modelled_strategy
    strategies = (primary,) + tuple(s for s in config.strategies if s != primary)

    with _Stage("atlas"):
        check_space(atlas, run.entity_dict.get("space", ""), allow_resample=config.atlas.allow_resample)
        bold_img = nib.load(str(run.bold))  # the header only; extraction streams the data from it
        header = bold_img.header
        affine, shape = header.get_best_affine(), tuple(int(s) for s in header.get_data_shape()[:3])
        mask_img = nib.load(str(run.mask))
        if mask_img.shape[:3] != shape or not np.allclose(mask_img.affine, affine, atol=1e-3):
            raise ValueError(
                f"{run.mask.name} is on grid {mask_img.shape[:3]} but the BOLD run is on {shape}; "
                "use the brain mask fMRIPrep wrote in the same space and resolution."
            )
        mask = np.asarray(mask_img.dataobj) > 0
        reference, reference_note = _usable_boldref(run, affine, shape)
        coverage = check_coverage(
            atlas, affine, shape, mask, min_voxels=config.atlas.min_voxels, drop_empty=config.atlas.drop_empty_regions
        )
        kept = coverage.kept_indices
        kept_rows = coverage.table["kept"].to_numpy(bool)
        region_names = [str(n) for n in coverage.table["name"].to_numpy()[kept_rows]]
        networks = [str(n) for n in coverage.table["network"].to_numpy()[kept_rows]]

    with _Stage("confounds"):
        # cheap checks first: a bad confounds file fails before the BOLD is decompressed
        n_volumes = int(header.get_data_shape()[3]) if len(header.get_data_shape()) > 3 else 1
        confounds = load_confounds_table(run.confounds)
        check_confounds_length(confounds, n_volumes, run.confounds)
        metadata = load_confounds_metadata(run.confounds_json)
        selections = {
            strategy: select_confounds(confounds, **dn.select_kwargs(strategy), metadata=metadata, source=run.confounds)
            for strategy in strategies
        }

    physio = _PhysioStep(run, config.physio, bids_dir) if config.physio.enabled else None
    if physio is not None:  # read before cleaning: the strategies may model the recorded physiology
        physio.read()
    noise = None  # the '+physio' strategies' regressors, from the recording just read
    if any(s.endswith("+physio") for s in strategies):  # config refuses '+physio' without physio.enabled
        noise = _NoiseRegressors.compute(run, physio, config, bids_dir, n_volumes)
        with _Stage("confounds"):
            for strategy in strategies:
                if strategy.endswith("+physio"):
                    selections[strategy] = select_confounds(
                        confounds, **dn.select_kwargs(strategy), metadata=metadata, source=run.confounds,
                        physio=noise.regressors.regressors if noise.regressors.used else None)

    with _Stage("extract"):
        # once per run, whatever the number of strategies: reading the BOLD is the expensive part
        extraction = extract_signals(bold_img, coverage.labels, mask, region_ids=kept,
                                     return_mean_image=reference is None,
                                     mean_image_volumes=MEAN_IMAGE_VOLUMES)
        signals = extraction.signals
        usable_voxels = dict(zip(region_names, (int(n) for n in extraction.voxel_counts)))
        emptied = [name for name, count in zip(region_names, extraction.voxel_counts) if count == 0]
        if emptied and not config.atlas.drop_empty_regions:
            raise ValueError(
                f"{run.bold.name}: region(s) {', '.join(emptied)} have no usable voxel (every voxel is NaN or "
                "constant over time, e.g. outside the acquired field of view); set atlas.drop_empty_regions: "
                "true to drop such regions from this run (they are listed in its QC), or check the BOLD file."
            )
        if emptied:
            keep = np.asarray(extraction.voxel_counts) > 0
            signals = signals[:, keep]
            region_names = [n for n, k in zip(region_names, keep) if k]
            networks = [n for n, k in zip(networks, keep) if k]

    results = {
        strategy: _denoise_and_connect(signals, selection, confounds, run, config, extraction.n_volumes,
                                       region_names, networks, atlas.name)
        for strategy, selection in selections.items()
    }
    if noise is not None:
        for strategy, result in results.items():
            result.physio_regressors = noise.block(strategy, signals, result, run.t_r, dn.clean_kwargs())
    done = results[primary]
    selection, cleaned, motion = done.selection, done.cleaned, done.motion

    if physio is not None:
        physio.measure()

    with _Stage("qc"):
        tsnr = region_tsnr(signals, exclude_volumes=selection.non_steady_state)
        notes = list(selection.notes) + list(run.warnings) + ([reference_note] if reference_note else [])
        qc = RunQC(
            run_id=run.run_id,
            atlas=atlas.name,
            strategy=primary,
            repetition_time=run.t_r,
            n_volumes=extraction.n_volumes,
            censored_volumes=[int(i) for i in selection.censored],
            non_steady_state_volumes=[int(i) for i in selection.non_steady_state],
            motion=dict(motion),
            tdof_lost=None if cleaned is None else int(cleaned.tdof_lost),
            tdof_remaining=None if cleaned is None else int(cleaned.tdof_remaining),
            n_regressors=None if cleaned is None else int(cleaned.n_regressors),
            region_tsnr=dict(zip(region_names, np.round(tsnr, 4).tolist())),
            region_coverage=coverage.to_dict(usable=usable_voxels),
            excluded_voxels={str(k): v for k, v in extraction.excluded_voxels.items()},
            excluded=bool(done.excluded),
            exclusion_reasons=list(done.reasons),
            exclusion_checks=done.checks,
            confound_notes=notes,
            regions_without_signal=emptied,
            reference_image=None if reference is None else str(reference),
            mean_image_volumes=None if reference is not None else extraction.mean_image_volumes.tolist(),
            physio=None if physio is None else physio_block(physio.result),
        )
        if cleaned is not None:
            qc.summary_indices = done.summary or None
            if done.summary:
                qc.region_pfc_limbic_strength = dict(zip(region_names, np.round(done.strength, 6).tolist()))
            else:
                qc.confound_notes.append(done.no_summary_note)
        if len(strategies) > 1:
            qc.strategies = {strategy: result.qc_block() for strategy, result in results.items()}
        if noise is not None:  # INTERFACES.md 3: top level for the modelled strategy, Strategies[<name>] for all
            if done.physio_regressors is not None:
                qc.extra["physio_regressors"] = done.physio_regressors
            for strategy, entry in (qc.strategies or {}).items():
                # None for a strategy without '+physio', so that its view never shows the modelled one's
                entry["physio_regressors"] = results[strategy].physio_regressors

    return RunResult(
        run=run, atlas_name=atlas.name, atlas_space=atlas.space, primary=primary, strategies=results,
        signals=signals, region_names=region_names, networks=networks, qc=qc, reference=reference,
        mean_image=None if reference is not None else extraction.mean_image, affine=affine,
        seconds=time.perf_counter() - started,
        physio=None if physio is None else physio.result,
        recording=None if physio is None else physio.recording,
        physio_seconds=0.0 if physio is None else physio.seconds,
        physio_regressors=None if noise is None else noise.regressors,
    )



def _usable_boldref(run: Run, affine: np.ndarray, shape: tuple[int, ...]) -> tuple[Path | None, str | None]:
    """fMRIPrep's reference image of the run when it lies on the run's grid: ``(path, None)``.

    Otherwise ``(None, note)`` (note None when there is no boldref at all): the run's own
    mean image is then computed during extraction, which costs about a tenth of a 2 mm run.
    """
    if run.boldref is None:
        return None, None
    try:
        img = nib.load(str(run.boldref))
        ref_shape = tuple(int(n) for n in img.shape)
        ref_affine = img.affine
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for a broken file
        return None, (f"{run.boldref.name} cannot be read ({type(exc).__name__}: {exc}); the report draws the "
                      "atlas over the run's mean image instead.")
    if ref_shape[:3] != tuple(shape[:3]) or any(n != 1 for n in ref_shape[3:]) or not np.allclose(
            ref_affine, affine, atol=1e-3):
        return None, (f"{run.boldref.name} is on grid {ref_shape} but the BOLD run is on {tuple(shape[:3])}; the "
                      "report draws the atlas over the run's mean image instead.")
    return run.boldref, None

