"""The realistic simulation mode: signals that ignore atlas boundaries, fast or slow dynamics,
motion artefacts that realignment regressors cannot fully remove, and a global signal with a
realistic share of the variance. Pure functions of arrays and a Generator; the writers live in
``_dataset``.

Nothing here looks at how a pipeline works: the planted signal lives in smooth blobs around
literature coordinates (not in the Harvard-Oxford regions the bundled atlas uses) and the motion
artefacts are nonlinear, lagged and spatially structured, so a pipeline has to work for its answer.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import ndimage

from neurokit.simulate import _physio, _signals
from neurokit.simulate._grid import Grid

REALISM = ("easy", "realistic")
DYNAMICS = ("band_limited", "broadband")

#: Blob centres (MNI152 mm; right hemisphere, mirrored to the left) and their network. These are
#: representative peak coordinates of the kind coordinate-based meta-analyses report for each
#: structure (e.g. Neurosynth term maps, Yarkoni et al. 2011, Nat Methods 8:665; amygdala,
#: hippocampus, accumbens and thalamus near the centres of their MNI152 probabilistic labels), not
#: one study's table; they are jittered per dataset anyway. The default-mode, sensorimotor and
#: visual networks are not planted: each has its own latent, so the brain is not just two signals.
BLOBS: tuple[tuple[str, str, tuple[float, float, float]], ...] = (
    ("dlPFC", "prefrontal", (40.0, 36.0, 24.0)),
    ("vmPFC", "prefrontal", (6.0, 46.0, -8.0)),
    ("OFC", "prefrontal", (28.0, 34.0, -16.0)),
    ("ACC", "prefrontal", (6.0, 30.0, 20.0)),
    ("amygdala", "limbic", (22.0, -4.0, -18.0)),
    ("hippocampus", "limbic", (26.0, -20.0, -14.0)),
    ("accumbens", "limbic", (10.0, 10.0, -8.0)),
    ("anterior_insula", "limbic", (36.0, 16.0, 2.0)),
    ("thalamus", "limbic", (10.0, -18.0, 8.0)),
    ("precuneus", "default_mode", (6.0, -56.0, 30.0)),
    ("angular", "default_mode", (46.0, -64.0, 32.0)),
    ("motor", "sensorimotor", (38.0, -22.0, 56.0)),
    ("SMA", "sensorimotor", (4.0, -6.0, 58.0)),
    ("visual", "visual", (12.0, -86.0, 2.0)),
    ("lateral_occipital", "visual", (30.0, -82.0, -4.0)),
    ("posterior_cingulate", "default_mode", (4.0, -50.0, 26.0)),
    ("lateral_temporal", "default_mode", (58.0, -18.0, -14.0)),
    ("superior_temporal", "auditory", (52.0, -22.0, 8.0)),
    ("intraparietal", "dorsal_attention", (28.0, -58.0, 50.0)),
    ("frontal_eye_field", "dorsal_attention", (26.0, -6.0, 52.0)),
    ("posterior_parietal", "frontoparietal", (44.0, -50.0, 46.0)),
    ("cerebellum", "cerebellar", (26.0, -68.0, -30.0)),
)
#: Seven unplanted networks (Yeo et al. 2011 parcellate the cortex into 7 or 17) keep the two planted
#: ones a minority of the brain's neural signal, as in a real brain: with three, the planted pair made
#: up most of the neural part of the brain's mean, which global signal regression then removed.
NETWORKS = ("prefrontal", "limbic", "default_mode", "sensorimotor", "visual", "auditory", "dorsal_attention",
            "frontoparietal", "cerebellar")
#: Percent signal change at a blob's peak (times grey-matter probability) of its network's
#: latent and of its own signal, and the SD of each smooth grey-matter background field. The
#: network signal dominates what its regions share, as in resting-state data; the background
#: fields are what every nearby region shares regardless of network.
NETWORK_PERCENT = 1.5
UNIQUE_PERCENT = 0.5
FIELD_SIGNAL_PERCENT = 0.15
#: Share of each blob's own signal that it shares with the blob at the mirror position.
HOMOTOPIC_SHARE = 0.5
#: Blob full width at half maximum is drawn per blob and dataset from this range (mm).
BLOB_FWHM_MM = (10.0, 18.0)
#: Standard deviation (mm) of the per-dataset jitter of each blob centre, per axis.
BLOB_JITTER_MM = 2.5
#: Share of the median grey-matter voxel's variance (steady-state volumes, drift removed,
#: before any denoising) that the global fluctuation explains (its squared correlation with the
#: voxel), drawn per run from this range.
GLOBAL_SHARE = (0.22, 0.38)
#: Power et al. (2014, NeuroImage 84:320): widespread signal drops follow large movements and last
#: about 8-10 s. The drop peaks this many seconds after the movement, and its size (percent per
#: mm^0.7 of FD above 0.2 mm).
GLOBAL_DROP_PEAK_S = 3.0
GLOBAL_DROP_PERCENT = 1.5
#: Spin-history effects decay with T1 recovery over a few seconds (Friston et al. 1996, MRM 35:346);
#: percent per mm^0.8 of through-slice displacement.
SPIN_HISTORY_TAU_S = 3.0
SPIN_HISTORY_PERCENT = 6.0
#: Smooth motion fields: percent per mm of lagged FD excess at one SD of the field.
FIELD_PERCENT = 1.0
#: Displacement (mm) along the intensity gradient at which partial-volume changes saturate.
PARTIAL_VOLUME_MM = 0.4
#: Cardiac and respiratory frequency ranges (Hz) of the simulated physiology (:mod:`._physio`).
CARDIAC_HZ = (_physio.HEART_RATE_RANGE[0] / 60, _physio.HEART_RATE_RANGE[1] / 60)
RESPIRATORY_HZ = (_physio.RESPIRATORY_RANGE[0] / 60, _physio.RESPIRATORY_RANGE[1] / 60)
#: Physiological BOLD fluctuations (percent signal change at one SD of each unit-variance waveform) per
#: voxel: a floor everywhere, more in CSF, near large vessels and at the brain's edge. Cardiac
#: pulsatility is strongest in vessels and CSF (Dagli et al. 1999, NeuroImage 9:407), respiration-locked
#: changes at the edge and in CSF (B0 changes with chest motion; Raj et al. 2001, Phys Med Biol 46:3331).
#: The sizes keep the physiological share of the earlier sinusoidal model of this module.
CARDIAC_PERCENT = (0.18, 2.1, 1.8, 0.55)  # floor, CSF, vessel, edge
RESPIRATORY_PERCENT = (0.13, 1.55, 0.8, 0.75)
#: Delay (s) of the pulsatility after the beat, drawn per voxel from a smooth field in this range (the
#: pulse wave reaches vessels and CSF at different times, and a voxel's response lags it), and of
#: respiration-locked changes after the belt: most of a cycle each, as the cardiac and respiratory
#: phases RETROICOR fits vary across the brain. The sign of each voxel's response is a smooth field
#: too (inflow raises the signal, CSF and tissue displacement lower it). Both fields have this FWHM (mm),
#: so that an atlas region averages several patches: at 30 mm the physiology was nearly coherent within
#: a region and took 0.12 off the default pipeline's fidelity to the planted coupling (mean of three
#: seeds of the recovery study, physio_noise 1 against 0); at 12 mm 0.06 (two seeds).
PHYSIO_FIELD_FWHM_MM = 12.0
CARDIAC_DELAY_S = (0.0, 0.8)
RESPIRATORY_DELAY_S = (0.0, 3.0)
_DELAY_BINS = 8
#: Range of the respiration-driven apparent motion along y (mm) before acquisition averaging.
APPARENT_MOTION_MM = (0.03, 0.1)


@dataclasses.dataclass(frozen=True)
class Anatomy:
    """Per-dataset spatial maps of the realistic mode, on the brain voxels (NIfTI voxel order).

    Attributes
    ----------
    xyz : ndarray, shape (n_voxels, 3)
        World coordinates (mm).
    blobs : DataFrame, shape (n_blobs, 8)
        name, network, hemisphere, x, y, z (jittered centre, mm), fwhm_mm, planted (bool).
    blob_maps : ndarray of float32, shape (n_blobs, n_voxels)
        Gaussian blob (peak 1) times grey-matter probability.
    gm_prob : ndarray, shape (n_voxels,)
    tissue : ndarray of int8, shape (n_voxels,)
        0 grey matter / other, 1 white matter, 2 CSF.
    edge : ndarray, shape (n_voxels,)
        Closeness to the brain's outer surface, 1 at the surface, decaying inwards.
    vessel : ndarray, shape (n_voxels,)
        Weight of large vessels (sagittal sinus along the top midline, circle of Willis at the base).
    gradient : ndarray, shape (n_voxels, 3)
        Spatial gradient of the baseline image over its value (1/mm): the relative intensity
        change per mm of displacement, largest at the brain's edge and tissue boundaries.
    slice_time : ndarray, shape (n_voxels,)
        Acquisition time of the voxel's slice as a fraction of the TR (interleaved order).
    slice_parity : ndarray, shape (n_voxels,)
        1 for odd slices, 0 for even (interleaved acquisition).
    baseline : ndarray, shape (n_voxels,)
        Mean intensity before site gain.
    """

    xyz: np.ndarray
    blobs: pd.DataFrame
    blob_maps: np.ndarray
    gm_prob: np.ndarray
    tissue: np.ndarray
    edge: np.ndarray
    vessel: np.ndarray
    gradient: np.ndarray
    slice_time: np.ndarray
    slice_parity: np.ndarray
    baseline: np.ndarray


@dataclasses.dataclass(frozen=True)
class RealisticRun:
    """One simulated run of the realistic mode and its known parts.

    Attributes
    ----------
    data : ndarray of float32, shape (n_volumes, n_voxels)
        The BOLD data (intensity).
    params : ndarray, shape (n_volumes, 6)
        Realignment parameters as fMRIPrep would report them (trans mm, rot rad): the head
        motion plus respiration-driven apparent motion.
    head_motion : ndarray, shape (n_volumes, 6)
        The head's true motion, which drives the motion artefact; its mean FD is ``mean_fd``.
    latents : ndarray, shape (n_volumes, 2)
        Prefrontal and limbic latent signals (unit variance).
    latent_loading : ndarray of float32, shape (2, n_voxels)
        Percent signal change per unit of each latent at each voxel.
    latent_coupling : float
        Sample correlation of the two latents over the steady-state volumes.
    global_signal : ndarray, shape (n_volumes,)
        The global fluctuation (unit variance); ``global_loading`` is its percent per voxel.
    global_loading : ndarray of float32, shape (n_voxels,)
    artefact : ndarray of float32, shape (n_volumes, n_voxels), or None
        The motion artefact in percent signal change (only when asked for: it doubles memory).
    physio : RunPhysiology
        The planted beats and breathing the physiological fluctuations follow.
    """

    data: np.ndarray
    params: np.ndarray
    head_motion: np.ndarray
    latents: np.ndarray
    latent_loading: np.ndarray
    latent_coupling: float
    global_signal: np.ndarray
    global_loading: np.ndarray
    artefact: np.ndarray | None
    physio: _physio.RunPhysiology | None = None


def _smooth_fields(rng: np.random.Generator, xyz: np.ndarray, k: int, fwhm_mm: float) -> np.ndarray:
    """``k`` Gaussian random fields of the given smoothness at ``xyz``, each zero mean, unit SD.

    Smoothed on a coarse lattice (a quarter of the FWHM) and interpolated: the fields are smooth
    on that scale anyway, and it costs the same at 2 mm as at 8 mm.

    Returns
    -------
    ndarray of float32, shape (k, n_points)
    """
    step = fwhm_mm / 4
    lo = xyz.min(axis=0) - 2 * fwhm_mm
    shape = tuple(int(s) for s in np.ceil((xyz.max(axis=0) + 2 * fwhm_mm - lo) / step) + 1)
    noise = rng.standard_normal((k, *shape))
    sigma = fwhm_mm / (2 * np.sqrt(2 * np.log(2))) / step
    smooth = ndimage.gaussian_filter(noise, sigma=(0, sigma, sigma, sigma), mode="wrap")
    coords = ((xyz - lo) / step).T
    out = np.stack([ndimage.map_coordinates(f, coords, order=1) for f in smooth])
    out -= out.mean(axis=1, keepdims=True)
    out /= out.std(axis=1, keepdims=True)
    return out.astype(np.float32)


def anatomy(grid: Grid, brain_idx: np.ndarray, rng: np.random.Generator) -> Anatomy:
    """The dataset's spatial maps: jittered blobs and the geometry the artefacts need.

    Parameters
    ----------
    grid : Grid
        Must carry ``gm_prob`` and ``wm_prob``.
    brain_idx : ndarray of int, shape (n_voxels,)
        Brain voxels as NIfTI (Fortran-order) flat indices.
    rng : numpy.random.Generator
        The dataset's stream (blob jitter and widths).

    Returns
    -------
    Anatomy
    """
    res = grid.resolution_mm
    ijk = np.column_stack(np.unravel_index(brain_idx, grid.shape, order="F")).astype(float)
    xyz = ijk @ grid.affine[:3, :3].T + grid.affine[:3, 3]

    def at_brain(volume: np.ndarray) -> np.ndarray:
        return volume.ravel(order="F")[brain_idx]

    gm = at_brain(grid.gm_prob).astype(float)
    tissue = np.zeros(grid.shape, dtype=np.int8)
    tissue[grid.wm] = 1
    tissue[grid.csf] = 2

    rows, maps = [], []
    for name, network, centre in BLOBS:
        for hemi, sign in (("R", 1.0), ("L", -1.0)):
            c = np.array([sign * centre[0], centre[1], centre[2]]) + rng.normal(0.0, BLOB_JITTER_MM, 3)
            fwhm = float(rng.uniform(*BLOB_FWHM_MM))
            sigma = fwhm / (2 * np.sqrt(2 * np.log(2)))
            r2 = ((xyz - c) ** 2).sum(axis=1)
            maps.append(np.exp(-r2 / (2 * sigma**2)) * gm)
            rows.append({
                "name": f"{name}_{hemi}", "network": network, "hemisphere": hemi,
                "x": round(float(c[0]), 2), "y": round(float(c[1]), 2), "z": round(float(c[2]), 2),
                "fwhm_mm": round(fwhm, 2), "planted": network in ("prefrontal", "limbic"),
            })

    # EPI-like baseline: CSF brightest, then grey, then white matter; a smooth coil sensitivity
    csf_f = (tissue == 2).astype(float)
    wm_p = np.clip(grid.wm_prob, 0, 1) * (tissue != 2)
    gm_p = np.clip(grid.gm_prob, 0, 1) * (tissue != 2)
    image = grid.brain * (1300.0 * csf_f + 950.0 * gm_p + 750.0 * wm_p + 500.0 * (1 - gm_p - wm_p).clip(0, 1) * (1 - csf_f))
    coil = 1.0 + 0.12 * _smooth_fields(rng, xyz, 1, 80.0)[0]
    # The image is smoothed by the scanner's point spread before its gradient matters.
    blurred = ndimage.gaussian_filter(image, sigma=max(0.6, 2.0 / res))
    grad = np.stack([at_brain(g) for g in np.gradient(blurred, res)], axis=1)
    baseline = np.maximum(at_brain(blurred), 200.0) * coil
    depth = at_brain(ndimage.distance_transform_edt(grid.brain)) * res
    edge = np.exp(-(depth - res / 2).clip(0) / 6.0)
    sinus = np.exp(-(xyz[:, 0] / 5.0) ** 2) * edge * (xyz[:, 2] > 0)
    willis = np.exp(-(((xyz - np.array([0.0, -8.0, -22.0])) / np.array([22.0, 18.0, 6.0])) ** 2).sum(axis=1))
    n_slices = grid.shape[2]
    order = np.concatenate([np.arange(0, n_slices, 2), np.arange(1, n_slices, 2)])
    acquired = np.empty(n_slices)
    acquired[order] = np.arange(n_slices) / n_slices
    k = ijk[:, 2].astype(int)
    return Anatomy(
        xyz=xyz,
        blobs=pd.DataFrame(rows),
        blob_maps=np.array(maps, dtype=np.float32),
        gm_prob=gm,
        tissue=at_brain(tissue),
        edge=edge,
        vessel=np.clip(sinus + willis, 0, 1),
        gradient=grad / at_brain(np.maximum(blurred, 200.0))[:, None],
        slice_time=acquired[k],
        slice_parity=(k % 2).astype(float),
        baseline=baseline,
    )


def broadband(rng: np.random.Generator, n: int, t_r: float, k: int = 1, exponent: float = 1.0, low: float = 0.01) -> np.ndarray:
    """``k`` independent unit-variance signals with a 1/f^exponent spectrum from ``low`` Hz to Nyquist.

    Returns
    -------
    ndarray, shape (n, k)
    """
    freqs = np.fft.rfftfreq(n, d=t_r)
    gain = 1.0 / (1.0 + np.exp(-(freqs - low) / (0.15 * low))) / np.maximum(freqs, low) ** (exponent / 2)
    spec = (rng.standard_normal((len(freqs), k)) + 1j * rng.standard_normal((len(freqs), k))) * gain[:, None]
    x = np.fft.irfft(spec, n=n, axis=0)
    x -= x.mean(axis=0)
    return x / x.std(axis=0)


def _neural(rng: np.random.Generator, n: int, t_r: float, k: int, dynamics: str) -> np.ndarray:
    if dynamics == "broadband":
        return broadband(rng, n, t_r, k)
    return _signals.band_limited(rng, n, t_r, k)


def _standardise(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=0)
    sd = x.std(axis=0)
    return x / np.where(sd > 0, sd, 1.0)


def _apparent_motion(
    rng: np.random.Generator, depth: np.ndarray, phase: np.ndarray, rate: float, t_r: float
) -> np.ndarray:
    """Realignment parameters that breathing adds without moving the head, shape (n, 6).

    Chest motion changes the B0 field, which shifts the image mostly along the phase-encoding
    (y) axis; realignment reads that as motion at the respiratory rate (Fair et al. 2020,
    NeuroImage 208:116400). A volume's estimate averages over its acquisition, so the
    oscillation is attenuated by ``sinc(rate * TR)``; what is left still inflates FD.
    """
    amplitude = rng.uniform(*APPARENT_MOTION_MM) * abs(np.sinc(rate * t_r)) * (1 + 0.3 * depth)
    out = np.zeros((phase.size, 6))
    out[:, 1] = amplitude * np.sin(phase)
    out[:, 2] = 0.5 * amplitude * np.sin(phase + 0.6)
    return out


def _decay_kernel(n: int, t_r: float, tau_s: float) -> np.ndarray:
    return np.exp(-np.arange(n) * t_r / tau_s)


def _delayed_kernel(n: int, t_r: float, peak_s: float) -> np.ndarray:
    """Response peaking ``peak_s`` after an event, zero at the event: ``(t/p) exp(1 - t/p)``."""
    t = np.arange(n) * t_r / peak_s
    return t * np.exp(1.0 - t)


def _lagged(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Causal convolution of ``x`` (n,) with ``kernel``, same length."""
    return np.convolve(x, kernel)[: x.size]


def run_data(
    rng: np.random.Generator,
    anat: Anatomy,
    *,
    n_volumes: int,
    t_r: float,
    resolution_mm: float,
    coupling: float,
    mean_fd: float,
    n_nonsteady: int,
    site_gain: float,
    site_noise: float,
    dynamics: str = "band_limited",
    artefact_scale: float = 1.0,
    keep_artefact: bool = False,
    physio: _physio.RunPhysiology | None = None,
    physio_noise: float = 1.0,
    physio_rng: np.random.Generator | None = None,
) -> RealisticRun:
    """Simulate one run of the realistic mode.

    The signal ``s`` of each voxel (percent signal change; intensity is ``baseline * gain * (1 +
    s / 100)``) sums: white noise (stronger at small voxels and short TR); the prefrontal and
    limbic latents (population correlation ``coupling``, not forced in the sample) in Gaussian
    blobs around literature coordinates, each blob with its own signal too (half shared with its
    mirror blob in the other hemisphere); three more networks
    (default mode, sensorimotor, visual) and smooth grey-matter fields with their own signals; a
    global fluctuation (partly respiration volume and heart rate through the participant's RRF and
    CRF) scaled so it explains :data:`GLOBAL_SHARE` of a typical grey-matter voxel's drift-free
    variance; beat-locked cardiac pulsatility and respiration-locked fluctuations from the run's
    planted beats and breathing (``physio``), with voxel-specific delay and amplitude, strongest in
    CSF, vessels and at the edge, each voxel sampled at its slice's acquisition time (all
    physiological parts times ``physio_noise``); scanner drift; the motion artefact (times
    ``artefact_scale``); a bright non-steady onset.

    ``mean_fd`` is the mean FD of the head's true motion; the reported realignment parameters add
    respiration-driven apparent motion (no artefact of its own), so the confounds' FD is higher.

    The motion artefact: a small part linear in the realignment parameters; partial-volume
    effects at the edge and tissue boundaries, saturating (tanh) and ``|d|^1.5`` in the
    displacement ``d`` along the local intensity gradient; spin-history changes after large
    movements with voxel-specific (through-slice, interleaved) patterns that decay over
    :data:`SPIN_HISTORY_TAU_S`; spatially smooth fields (FWHM 60 mm) driven by lagged FD and
    by the displacement magnitude; and a diffuse, lagged signal drop after high-FD volumes.

    Parameters
    ----------
    rng : numpy.random.Generator
    anat : Anatomy
    n_volumes, t_r, resolution_mm, coupling, mean_fd, n_nonsteady, site_gain, site_noise
        As for the easy mode's run generator.
    dynamics : {"band_limited", "broadband"}
        Neural signals with power below 0.1 Hz, or 1/f-like up to Nyquist.
    artefact_scale : float
        Multiplies the motion artefact.
    keep_artefact : bool
        Also return the motion artefact array (for tests; doubles the memory).
    physio : RunPhysiology, optional
        The run's planted beats and breathing (:func:`._physio.run_physiology`); default: drawn from
        ``rng`` for a control-like session.
    physio_noise : float
        Multiplies every physiological BOLD fluctuation (0 = none); the draws do not depend on it, so
        runs that differ only in it differ only in their physiology.
    physio_rng : numpy.random.Generator, optional
        Stream of the physiological BOLD maps (delays, signs, amplitudes); ``simulate_dataset`` passes
        one per run. Given, ``rng`` draws exactly what it drew before the physiology followed the
        recordings, so for a seed every other part of a run (noise, motion artefact, global signal,
        drift) is what it was then. None: the maps come from ``rng``.

    Returns
    -------
    RealisticRun
    """
    n, v = n_volumes, anat.xyz.shape[0]
    params = _signals.head_motion(rng, n, mean_fd)
    fd = np.nan_to_num(_signals.framewise_displacement(params))
    steady = slice(n_nonsteady, None)
    gm, csf = anat.tissue == 0, anat.tissue == 2

    # --- neural signals: (time courses, loadings) pairs, percent signal change
    blob_net = np.array([NETWORKS.index(b) for b in anat.blobs["network"]])
    n_blobs = blob_net.size
    z = _neural(rng, n, t_r, 2, dynamics)
    latents = np.column_stack([z[:, 0], coupling * z[:, 0] + np.sqrt(1.0 - coupling**2) * z[:, 1]])
    others = _neural(rng, n, t_r, len(NETWORKS) - 2, dynamics)
    # each structure's own signal is partly shared with its mirror image: homotopic regions are
    # among the most strongly coupled in resting-state data
    own = _neural(rng, n, t_r, n_blobs, dynamics)
    mirror = np.repeat(_neural(rng, n, t_r, n_blobs // 2, dynamics), 2, axis=1)
    unique = np.sqrt(1 - HOMOTOPIC_SHARE) * own + np.sqrt(HOMOTOPIC_SHARE) * mirror
    fields_t = _neural(rng, n, t_r, 6, dynamics)
    amp = rng.uniform(0.8, 1.2, n_blobs)[:, None] * anat.blob_maps
    net_load = np.zeros((len(NETWORKS), v), dtype=np.float32)
    for j in range(len(NETWORKS)):
        net_load[j] = NETWORK_PERCENT * amp[blob_net == j].sum(axis=0)
    uni_load = UNIQUE_PERCENT * rng.uniform(0.7, 1.3, n_blobs)[:, None] * anat.blob_maps
    field_load = FIELD_SIGNAL_PERCENT * _smooth_fields(rng, anat.xyz, 6, 25.0) * anat.gm_prob

    # --- physiology: apparent motion from the breathing, the BOLD fluctuations from the same traces
    if physio is None:
        physio = _physio.run_physiology(rng, _physio.default_session(rng), start=0.0, end=n * t_r)
    _earlier_draws(rng, n, t_r)
    volume_t = np.arange(n) * t_r
    f_resp = physio.session.respiratory_rate / 60.0
    reported = params + _apparent_motion(rng, _standardise(_physio.sample(physio, physio.depth, volume_t)),
                                         _physio.sample(physio, physio.phase, volume_t), f_resp, t_r)
    if physio_rng is not None:
        _smooth_fields(rng, anat.xyz, 2, 30.0)  # the earlier model's phase maps, see _earlier_draws
    locked = _physio_locked(rng if physio_rng is None else physio_rng, anat, physio, n=n, t_r=t_r, scale=physio_noise)
    systemic = _physio.systemic(physio)

    noise_sd = 1.0 * site_noise * (4.0 / resolution_mm) ** 0.5 * (2.0 / t_r) ** 0.25
    times = np.column_stack([latents, others, unique, fields_t]).astype(np.float32)
    loads = np.vstack([net_load[:2], net_load[2:], uni_load, field_load]).astype(np.float32)
    s = rng.standard_normal((n, v), dtype=np.float32)
    s *= np.float32(noise_sd)
    _add_product(s, times, loads, voxelwise=locked)

    # --- motion artefact
    artefact = np.zeros((n, v), dtype=np.float32) if keep_artefact else None
    if artefact_scale > 0:
        times_a, loads_a, voxelwise = _motion_artefact(rng, anat, params, fd, t_r=t_r, scale=artefact_scale)
        _add_product(artefact if keep_artefact else s, times_a, loads_a, voxelwise=voxelwise)
        if keep_artefact:
            s += artefact

    # --- global fluctuation sized against the rest of a typical grey-matter voxel's variance
    neural_global = _neural(rng, n, t_r, 1, dynamics)[:, 0]
    # the systemic part is respiration volume and heart rate through the participant's RRF and CRF; the
    # amplitude is sized on the full-strength global, so physio_noise < 1 shrinks the physiology only
    systemic_v = _standardise(_physio.sample(physio, systemic, volume_t)[:, None])[:, 0]
    neural_global = _standardise(neural_global[:, None])[:, 0]
    unit = 0.75 * systemic_v + 0.65 * neural_global
    sd = float(unit.std())
    global_unit = (unit - unit.mean()) / sd
    global_t = (0.75 * physio_noise * systemic_v + 0.65 * neural_global) / sd
    shape_g = (0.8 + 0.15 * _smooth_fields(rng, anat.xyz, 1, 60.0)[0]).clip(0.4) * (
        0.4 + 0.6 * anat.gm_prob + 0.3 * csf)
    share = rng.uniform(*GLOBAL_SHARE)
    # "typical" = the median grey-matter voxel, its variance measured as a pipeline would see it
    # before denoising: steady-state volumes, slow drift (fMRIPrep's cosines) removed
    q = np.linalg.qr(_drift_basis(n - n_nonsteady, t_r))[0]
    g = global_unit[steady] - q @ (q.T @ global_unit[steady])
    xx, gx = _drift_free_moments(s[steady], np.flatnonzero(gm), q, g)
    global_amp = _global_amplitude(share, shape_g[gm], float(g @ g), xx, gx)
    global_load = (global_amp * shape_g).astype(np.float32)
    _add_product(s, global_t.astype(np.float32)[:, None], global_load[None, :])
    # each slice sees the systemic physiology at its own acquisition time (it is slow, so this is small)
    slices, slice_of = np.unique(anat.slice_time, return_inverse=True)
    at_volume = _physio.sample(physio, systemic, volume_t)
    at_slice = _physio.sample(physio, systemic, volume_t[:, None] + slices[None, :] * t_r)
    shift = (0.75 * physio_noise / sd / at_volume.std()) * (at_slice - at_volume[:, None])
    for start in range(0, v, 16384):
        sl = slice(start, start + 16384)
        s[:, sl] += (shift[:, slice_of[sl]] * global_load[sl]).astype(np.float32)

    # --- scanner drift and the non-steady onset
    t = np.linspace(-1.0, 1.0, n)
    drifts = np.column_stack([t, np.cos(np.pi * (t + 1) / 2)]).astype(np.float32)
    drift_load = (rng.normal(0.8, 0.6, (2, 1)) * (1 + 0.3 * _smooth_fields(rng, anat.xyz, 2, 50.0))).astype(np.float32)
    _add_product(s, drifts, drift_load)
    onset = np.zeros(n, dtype=np.float32)
    onset[:n_nonsteady] = 25.0 * 0.45 ** np.arange(n_nonsteady)
    s += onset[:, None]

    baseline = (anat.baseline * (1 + 0.03 * rng.standard_normal(v)) * site_gain).astype(np.float32)
    s *= baseline / np.float32(100)
    s += baseline
    kept = latents[steady]
    return RealisticRun(
        data=s,
        params=reported,
        head_motion=params,
        latents=latents,
        latent_loading=net_load[:2],
        latent_coupling=float(np.corrcoef(kept[:, 0], kept[:, 1])[0, 1]),
        global_signal=global_t,
        global_loading=global_load,
        artefact=artefact,
        physio=physio,
    )


def _earlier_draws(rng: np.random.Generator, n: int, t_r: float) -> None:
    """Draw from the run's stream what the earlier sinusoidal physiology drew there, and discard it.

    That model drew the cardiac and respiratory rates and their wander, and the breathing depth, at
    this point; the physiology now comes from the run's planted recordings (another stream). Drawing
    the same amount keeps every later component of a run (white noise, motion artefact, global
    signal, drift, gain) the same for a seed, so results measured on the earlier simulator compare
    run by run.
    """
    pad = int(np.ceil(40.0 / t_r))
    for size, band in ((n, (0.003, 0.03)), (n + pad, (0.005, 0.05)), (n, (0.003, 0.03))):
        if size == n:
            rng.uniform()
        _signals.band_limited(rng, size, t_r, k=1, band=band)
        if size == n:
            rng.uniform()


def _physio_locked(rng: np.random.Generator, anat: Anatomy, physio: _physio.RunPhysiology, *, n: int, t_r: float,
                   scale: float):
    """Beat- and breath-locked BOLD fluctuations (percent, times ``scale``) as a voxelwise callable.

    Each voxel gets the pulsatility waveform (:func:`._physio.pulsatility`) and the breath-locked
    waveform (:func:`._physio.breath_locked`) at its slice's acquisition times, delayed by its own
    delay (a smooth field, quantised to a few values so the waveforms are computed once per slice and
    delay), with its own amplitude (:data:`CARDIAC_PERCENT`, :data:`RESPIRATORY_PERCENT`, times a
    voxel factor whose sign is a smooth field). Sampled once per TR, the fast rhythms alias, as in real data.

    Returns
    -------
    callable
        Slice of voxels -> ndarray of float32, shape (n, n_chunk).
    """
    v = anat.xyz.shape[0]
    slices, slice_of = np.unique(anat.slice_time, return_inverse=True)
    csf = (anat.tissue == 2).astype(float)
    fields = _smooth_fields(rng, anat.xyz, 4, PHYSIO_FIELD_FWHM_MM)
    gains = np.exp(0.3 * rng.standard_normal((2, v))) * np.tanh(1.5 * fields[2:])
    gains /= np.sqrt((gains**2).mean(axis=1, keepdims=True))
    courses, codes, amps = [], [], []
    volume_t = np.arange(n) * t_r
    for j, (series, percent, (lo, hi)) in enumerate((
            (_physio.pulsatility(physio), CARDIAC_PERCENT, CARDIAC_DELAY_S),
            (_physio.breath_locked(physio), RESPIRATORY_PERCENT, RESPIRATORY_DELAY_S))):
        u = 0.5 * (1 + np.tanh(1.5 * fields[j]))  # 0-1, smooth, most voxels away from the ends
        delay_bin = np.minimum((u * _DELAY_BINS).astype(int), _DELAY_BINS - 1)
        delays = lo + (hi - lo) * (np.arange(_DELAY_BINS) + 0.5) / _DELAY_BINS
        times = volume_t[:, None, None] + slices[None, :, None] * t_r - delays[None, None, :]
        c = _physio.sample(physio, series, times.reshape(n, -1))
        courses.append(c.astype(np.float32))
        codes.append(slice_of * _DELAY_BINS + delay_bin)
        floor, in_csf, in_vessel, at_edge = percent
        amps.append((scale * gains[j] * (floor + in_csf * csf + in_vessel * anat.vessel + at_edge * anat.edge))
                    .astype(np.float32))

    def voxelwise(sl: slice) -> np.ndarray:
        return courses[0][:, codes[0][sl]] * amps[0][sl] + courses[1][:, codes[1][sl]] * amps[1][sl]

    return voxelwise


def _drift_basis(n: int, t_r: float) -> np.ndarray:
    """Constant, linear trend and fMRIPrep's cosine drift regressors, shape (n, k)."""
    return np.column_stack([np.ones(n), np.linspace(-1.0, 1.0, n), _signals._cosines(n, t_r)])


def _drift_free_moments(x: np.ndarray, columns: np.ndarray, q: np.ndarray, g: np.ndarray, chunk: int = 16384):
    """Sums of squares of ``x[:, columns]`` and its products with ``g``, drift projected out.

    ``q`` (n, m) is an orthonormal drift basis and ``g`` (n,) is already free of it, so
    ``g @ x`` equals ``g`` times ``x``'s drift-free residual. Chunked, so no copy of all the
    columns is made.

    Returns
    -------
    xx, gx : ndarray, shape (k,)
    """
    xx, gx = np.empty(columns.size), np.empty(columns.size)
    for start in range(0, columns.size, chunk):
        block = x[:, columns[start : start + chunk]].astype(np.float64)
        xx[start : start + chunk] = (block**2).sum(axis=0) - ((q.T @ block) ** 2).sum(axis=0)
        gx[start : start + chunk] = g @ block
    return xx, gx


def _global_amplitude(share: float, weight: np.ndarray, gg: float, xx: np.ndarray, gx: np.ndarray) -> float:
    """Amplitude ``a`` at which ``a * weight * g`` explains ``share`` of the median voxel's variance.

    Explained share = squared correlation of the voxel with ``g`` once ``a * weight * g`` is
    added, from the voxel's drift-free sums ``xx`` (x.x) and ``gx`` (g.x) and ``gg`` (g.g).
    Solved on the sample, so chance correlation of the other signals with ``g`` is counted.
    """
    from scipy.optimize import brentq

    def median_share(a: float) -> float:
        agw = a * weight * gg
        return float(np.median((agw + gx) ** 2 / (gg * (a * weight * agw + 2 * a * weight * gx + xx)))) - share

    guess = np.sqrt(share / (1 - share) * np.median(xx / weight**2) / gg)
    high = guess
    while median_share(high) < 0:
        high *= 2
    return brentq(median_share, 0.0, high, xtol=1e-6 * guess) if median_share(0.0) < 0 else 0.0


def _add_product(out: np.ndarray, times: np.ndarray, loads: np.ndarray, *, voxelwise=None, chunk: int = 16384) -> None:
    """``out += times @ loads`` (plus ``voxelwise(voxels)``), voxel chunk by chunk.

    ``times`` (n, k), ``loads`` (k, n_voxels), ``out`` (n, n_voxels); ``voxelwise`` maps a slice
    of voxels to an (n, n_chunk) block. Chunks keep the temporaries at a few MB whatever the grid.
    """
    for start in range(0, out.shape[1], chunk):
        sl = slice(start, start + chunk)
        block = times @ loads[:, sl]
        if voxelwise is not None:
            block += voxelwise(sl)
        out[:, sl] += block


def _motion_artefact(rng: np.random.Generator, anat: Anatomy, params: np.ndarray, fd: np.ndarray, *, t_r: float,
                     scale: float):
    """The motion artefact (percent signal change, times ``scale``) as parts for :func:`_add_product`.

    Parameters
    ----------
    params : ndarray, shape (n, 6)
        The head's true motion.
    fd : ndarray, shape (n,)
        Its framewise displacement (0 for the first volume).

    Returns
    -------
    times : ndarray of float32, shape (n, k)
    loads : ndarray of float32, shape (k, n_voxels)
    voxelwise : callable
        Slice of voxels -> ndarray of float32, shape (n, n_chunk): the parts that are not a
        product of a time course and a map (partial volume, spin history).
    """
    n, v = params.shape[0], anat.xyz.shape[0]
    centre = anat.xyz.mean(axis=0)
    r = anat.xyz - centre
    # displacement of voxel v for parameters p: translation + rotation x r (small angles), so
    # its projection on a direction g is p[:3].g + p[3:].(r x g)
    unit = anat.gradient / np.maximum(np.linalg.norm(anat.gradient, axis=1, keepdims=True), 1e-9)
    d_params = np.vstack([unit.T, np.cross(r, unit).T]).astype(np.float32)
    contrast = np.linalg.norm(anat.gradient, axis=1)  # relative change per mm
    # Realignment undoes most of the displacement; interpolation and partial volume leave a residual.
    residual = 0.3 * (1 + 0.3 * _smooth_fields(rng, anat.xyz, 1, 40.0)[0]).clip(0.2)
    width = np.float32(PARTIAL_VOLUME_MM)
    saturation = (100 * residual * contrast * width).astype(np.float32)
    curvature = (0.5 * saturation / np.sqrt(width)).astype(np.float32)

    times, loads = [], []
    motion = params - params.mean(axis=0)
    motion[:, 3:] *= _signals.HEAD_RADIUS_MM
    # what realignment leaves linear in the parameters: small, and removable by regression
    times.append(motion)
    loads.append(rng.standard_normal((6, 1)) * 0.08 * (1 + 0.5 * _smooth_fields(rng, anat.xyz, 6, 50.0)))

    # spin history: tissue moved through the slice plane keeps a different magnetisation history
    # for the next excitations, so the change starts one volume late and decays with T1 recovery
    z_params = np.vstack([np.tile([[0.0], [0.0], [1.0]], (1, v)), np.cross(r, [0.0, 0.0, 1.0]).T]).astype(np.float32)
    events = np.flatnonzero(fd > _signals.SPIKE_FD_MM)
    events = events[events < n - 1]
    kernel = _decay_kernel(n, t_r, SPIN_HISTORY_TAU_S)
    voxel_gain = ((1 + 0.35 * rng.standard_normal(v)) * (0.6 + 0.4 * anat.slice_parity) * (0.5 + anat.edge)).astype(
        np.float32
    )
    courses = np.zeros((n, events.size), dtype=np.float32)
    for i, t in enumerate(events):
        courses[t + 1 :, i] = kernel[: n - t - 1]
    steps = (params[events] - params[events - 1]).astype(np.float32)

    # smooth fields shared by neighbours, driven by lagged FD and by how far the head is from
    # the reference: the source of distance-dependent motion correlations (QC-FC)
    excess = np.maximum(fd - _signals.SPIKE_FD_MM / 2, 0.0)
    head = np.sqrt((motion**2).sum(axis=1))
    fields = _smooth_fields(rng, anat.xyz, 2, 60.0)
    times.append(np.column_stack([_lagged(excess, _delayed_kernel(n, t_r, 2.0)), head**1.3]))
    loads.append(np.vstack([FIELD_PERCENT * fields[0], 0.25 * FIELD_PERCENT * fields[1]]))

    # diffuse signal drop peaking a few seconds after high-motion volumes (Power et al. 2014)
    drop = _lagged(np.maximum(fd - _signals.SPIKE_FD_MM, 0.0) ** 0.7, _delayed_kernel(n, t_r, GLOBAL_DROP_PEAK_S))
    times.append(-drop[:, None])
    loads.append((GLOBAL_DROP_PERCENT * (0.5 + 0.5 * anat.gm_prob))[None, :])

    params32, scale32 = params.astype(np.float32), np.float32(scale)

    def voxelwise(sl: slice) -> np.ndarray:
        # partial volume: saturating and |d|^1.5 in the displacement along the intensity gradient
        d = params32 @ d_params[:, sl]
        block = saturation[sl] * np.tanh(d / width) + curvature[sl] * np.abs(d) ** np.float32(1.5)
        if events.size:
            dz = np.abs(steps @ z_params[:, sl]) ** np.float32(0.8)
            block += courses @ (np.float32(SPIN_HISTORY_PERCENT) * dz * voxel_gain[sl])
        return scale32 * block

    return np.column_stack(times).astype(np.float32), (scale * np.vstack(loads)).astype(np.float32), voxelwise
