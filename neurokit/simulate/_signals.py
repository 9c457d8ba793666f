"""Array generators for one simulated run: latent signals, head motion, the 4D BOLD data and
fMRIPrep-style confounds computed from that data. Pure functions of arrays and a Generator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Power et al. (2012) framewise displacement head radius, as fMRIPrep uses.
HEAD_RADIUS_MM = 50.0
#: FD above which a volume carries a spike artefact (mm).
SPIKE_FD_MM = 0.2
#: fMRIPrep's defaults for motion_outlierXX columns.
FD_OUTLIER_MM = 0.5
STD_DVARS_OUTLIER = 1.5
#: fMRIPrep keeps aCompCor components until this much variance is explained.
COMPCOR_VARIANCE = 0.5
#: fMRIPrep's high-pass cut-off for its cosine regressors (s).
COSINE_PERIOD_S = 128.0


def band_limited(rng: np.random.Generator, n: int, t_r: float, k: int = 1, band=(0.01, 0.1)) -> np.ndarray:
    """``k`` independent zero-mean, unit-variance signals with power in ``band`` (Hz).

    Returns
    -------
    ndarray, shape (n, k)
    """
    freqs = np.fft.rfftfreq(n, d=t_r)
    lo, hi = band
    # smooth edges so the signals have no ringing; 1/f-ish tilt inside the band like resting BOLD
    gain = 1.0 / (1.0 + np.exp(-(freqs - lo) / (0.15 * lo))) / (1.0 + np.exp((freqs - hi) / (0.1 * hi)))
    gain = gain / np.sqrt(np.maximum(freqs, lo))
    spec = (rng.standard_normal((len(freqs), k)) + 1j * rng.standard_normal((len(freqs), k))) * gain[:, None]
    x = np.fft.irfft(spec, n=n, axis=0)
    x -= x.mean(axis=0)
    return x / x.std(axis=0)


def coupled_pair(rng: np.random.Generator, n: int, t_r: float, coupling: float) -> np.ndarray:
    """Two band-limited unit-variance series whose sample correlation is exactly ``coupling``.

    Returns
    -------
    ndarray, shape (n, 2)
    """
    z = band_limited(rng, n, t_r, k=2)
    z1 = z[:, 0]
    z2 = z[:, 1] - (z[:, 1] @ z1) / (z1 @ z1) * z1
    z2 /= z2.std()
    return np.column_stack([z1, coupling * z1 + np.sqrt(1.0 - coupling**2) * z2])


def framewise_displacement(params: np.ndarray) -> np.ndarray:
    """Power framewise displacement (mm) of motion parameters (trans mm, rot rad), shape (n,).

    ``params`` has shape (n, 6) in fMRIPrep's order trans_x, trans_y, trans_z, rot_x, rot_y, rot_z.
    The first value is NaN (no previous volume), as fMRIPrep writes ``n/a``.
    """
    d = np.abs(np.diff(params, axis=0))
    fd = d[:, :3].sum(axis=1) + HEAD_RADIUS_MM * d[:, 3:].sum(axis=1)
    return np.concatenate([[np.nan], fd])


def head_motion(rng: np.random.Generator, n: int, mean_fd: float) -> np.ndarray:
    """Realignment parameters whose mean FD is exactly ``mean_fd`` mm.

    Small jitter (a random walk, so the head drifts) plus sudden jerks where the head moves and
    mostly comes back; the whole trace is scaled to hit the target mean FD.

    Returns
    -------
    ndarray, shape (n, 6)
        trans_x, trans_y, trans_z (mm), rot_x, rot_y, rot_z (rad).
    """
    unit = np.array([1.0, 1.0, 1.0, 1 / HEAD_RADIUS_MM, 1 / HEAD_RADIUS_MM, 1 / HEAD_RADIUS_MM])
    steps = rng.standard_normal((n, 6)) * unit * 0.12
    jerks = np.flatnonzero(rng.random(n) < 0.05)
    for t in jerks[jerks < n - 1]:
        move = rng.standard_normal(6) * unit * rng.exponential(0.8)
        steps[t] += move
        steps[t + 1] -= 0.7 * move  # the head comes most of the way back
    steps[0] = 0.0
    params = np.cumsum(steps, axis=0)
    fd = framewise_displacement(params)
    return params * (mean_fd / np.nanmean(fd))


def _cosines(n: int, t_r: float) -> np.ndarray:
    """fMRIPrep/nipype discrete cosine drift basis without the constant, shape (n, k)."""
    order = int(np.floor(2 * n * t_r / COSINE_PERIOD_S))
    t = np.arange(n)
    cols = [np.sqrt(2.0 / n) * np.cos(np.pi / n * (t + 0.5) * k) for k in range(1, order)]
    return np.column_stack(cols) if cols else np.zeros((n, 0))


def _compcor(data: np.ndarray, basis: np.ndarray, skip: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """aCompCor like nipype: remove the drift basis, variance-normalise, SVD.

    ``data`` (n, v), ``basis`` (n, k). The first ``skip`` (non-steady) volumes are left out and
    get zeros. Returns components (n, n_kept) and variance-explained fractions (n_kept,).
    """
    n = data.shape[0]
    x = data[skip:].astype(np.float64)
    design = np.column_stack([np.ones(n - skip), basis[skip:]])
    x = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    sd = x.std(axis=0)
    x = x[:, sd > 0] / sd[sd > 0]
    # left singular vectors from the small (n, n) Gram matrix: same as an SVD, far cheaper
    evals, evecs = np.linalg.eigh(x @ x.T)
    order = np.argsort(evals)[::-1]
    evals, u = np.clip(evals[order], 0, None), evecs[:, order]
    u = u * np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])])  # deterministic signs
    var = evals / np.sum(evals)
    n_kept = int(np.searchsorted(np.cumsum(var), COMPCOR_VARIANCE) + 1)
    comps = np.zeros((n, n_kept))
    comps[skip:] = u[:, :n_kept]
    return comps, var[:n_kept], np.sqrt(evals[:n_kept])


def _dvars(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DVARS and standardised DVARS (Nichols 2013, as nipype computes them), each (n,)."""
    x = data
    q75, q25 = np.percentile(x, [75, 25], axis=0)
    robust_sd = (q75 - q25) / 1.349
    xc = x - x.mean(axis=0)
    denom = np.sum(xc * xc, axis=0)
    ar1 = np.divide(np.sum(xc[1:] * xc[:-1], axis=0), denom, out=np.zeros_like(denom), where=denom > 0)
    diff_sd = np.sqrt(np.maximum(2 * (1 - ar1), 0)) * robust_sd
    dvars = np.sqrt(np.mean(np.diff(x, axis=0).astype(np.float64) ** 2, axis=1))
    std = dvars / diff_sd[diff_sd > 0].mean()
    return np.concatenate([[np.nan], dvars]), np.concatenate([[np.nan], std])


def _expand(df: dict, name: str, x: np.ndarray) -> None:
    """Add ``name`` with fMRIPrep's _derivative1, _power2 and _derivative1_power2 columns."""
    d = np.concatenate([[np.nan], np.diff(x)])
    df[name] = x
    df[f"{name}_derivative1"] = d
    df[f"{name}_power2"] = x**2
    df[f"{name}_derivative1_power2"] = d**2


def confounds(
    data: np.ndarray,
    params: np.ndarray,
    *,
    t_r: float,
    masks: dict[str, np.ndarray],
    n_nonsteady: int,
) -> tuple[pd.DataFrame, dict]:
    """fMRIPrep-style confounds computed from a run's data.

    Parameters
    ----------
    data : ndarray, shape (n_volumes, n_brain_voxels)
    params : ndarray, shape (n_volumes, 6)
        Realignment parameters (trans mm, rot rad).
    t_r : float
    masks : dict of str -> ndarray of bool, each shape (n_brain_voxels,)
        ``csf`` and ``wm`` voxel selections. tCompCor uses the 2 % of voxels with the highest
        temporal variability, as fMRIPrep does.
    n_nonsteady : int
        Initial non-steady-state volumes (flagged, and left out of CompCor).

    Returns
    -------
    table : DataFrame, shape (n_volumes, n_columns)
        fMRIPrep column names; NaN where fMRIPrep writes ``n/a``.
    metadata : dict
        The confounds JSON (CompCor components' Method, Mask, variance explained, ...).
    """
    n = data.shape[0]
    df: dict[str, np.ndarray] = {}  # column name -> values, made a DataFrame once at the end
    csf, wm = masks["csf"], masks["wm"]
    variability = np.diff(data[n_nonsteady:], axis=0).std(axis=0)
    tmask = variability >= np.quantile(variability, 0.98)
    _expand(df, "global_signal", data.mean(axis=1))
    _expand(df, "csf", data[:, csf].mean(axis=1))
    _expand(df, "white_matter", data[:, wm].mean(axis=1))
    df["csf_wm"] = data[:, csf | wm].mean(axis=1)
    df["tcompcor"] = data[:, tmask].mean(axis=1)
    dvars, std_dvars = _dvars(data)
    fd = framewise_displacement(params)
    d = np.diff(params, axis=0)
    rmsd = np.sqrt(np.sum(d[:, :3] ** 2, axis=1) + 0.2 * 80.0**2 * np.sum(d[:, 3:] ** 2, axis=1))
    df["std_dvars"] = std_dvars
    df["dvars"] = dvars
    df["framewise_displacement"] = fd
    df["rmsd"] = np.concatenate([[np.nan], rmsd])

    basis = _cosines(n, t_r)
    metadata: dict = {}
    for prefix, method, mask_name, voxels in (
        ("t", "tCompCor", None, tmask),
        ("c", "aCompCor", "CSF", csf),
        ("w", "aCompCor", "WM", wm),
        ("a", "aCompCor", "combined", csf | wm),
    ):
        comps, var, singular = _compcor(data[:, voxels], basis, n_nonsteady)
        for i in range(comps.shape[1]):
            name = f"{prefix}_comp_cor_{i:02d}"
            df[name] = comps[:, i]
            entry = {
                "CumulativeVarianceExplained": float(np.sum(var[: i + 1])),
                "Method": method,
                "Retained": True,
                "SingularValue": float(singular[i]),
                "VarianceExplained": float(var[i]),
            }
            if mask_name is not None:
                entry["Mask"] = mask_name
            metadata[name] = dict(sorted(entry.items()))
    for i in range(basis.shape[1]):
        df[f"cosine{i:02d}"] = basis[:, i]
    for i in range(n_nonsteady):
        col = np.zeros(n)
        col[i] = 1.0
        df[f"non_steady_state_outlier{i:02d}"] = col
    for i, name in enumerate(("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")):
        _expand(df, name, params[:, i])
    outliers = np.flatnonzero((np.nan_to_num(fd) > FD_OUTLIER_MM) | (np.nan_to_num(std_dvars) > STD_DVARS_OUTLIER))
    for i, t in enumerate(outliers):
        col = np.zeros(n)
        col[t] = 1.0
        df[f"motion_outlier{i:02d}"] = col
    return pd.DataFrame(df), metadata


def run_data(
    rng: np.random.Generator,
    *,
    n_volumes: int,
    t_r: float,
    coupling: float,
    mean_fd: float,
    n_nonsteady: int,
    site_gain: float,
    site_noise: float,
    region_of_voxel: np.ndarray,
    network_of_region: np.ndarray,
    tissue: np.ndarray,
    edge: np.ndarray,
    positions: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate one run's BOLD data inside the brain mask.

    Every voxel is ``baseline * (1 + s / 100)`` with ``s`` (percent signal change) the sum of:
    white noise; a global fluctuation; WM and CSF physiological signals (strong in their tissue,
    weaker in grey matter); in planted regions, the network latent (prefrontal and limbic latents
    correlate at exactly ``coupling``) plus a region-specific signal; elsewhere in grey matter a
    few background components; linear and slow drifts; motion artefacts linear in the
    realignment parameters; negative spikes that grow with FD above :data:`SPIKE_FD_MM`
    (stronger at the brain's edge); and a bright onset in the first ``n_nonsteady`` volumes.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_volumes : int
    t_r : float
    coupling : float
        Correlation of the prefrontal and limbic latent signals, in (-1, 1).
    mean_fd : float
        Mean framewise displacement of the run (mm).
    n_nonsteady : int
    site_gain, site_noise : float
        Scanner intensity gain and noise multiplier of the participant's site.
    region_of_voxel : ndarray of int, shape (n_voxels,)
        Planted region index (1..n_regions) or 0.
    network_of_region : ndarray of int, shape (n_regions + 1,)
        Position in :data:`neurokit.atlases.NETWORKS` (0 prefrontal, 1 limbic, 2 other; entry 0 unused).
    tissue : ndarray of int, shape (n_voxels,)
        0 grey matter / other, 1 white matter, 2 CSF.
    edge : ndarray, shape (n_voxels,)
        Distance from the brain's centre scaled to [0, 1].
    positions : ndarray, shape (n_voxels, 3)
        Voxel positions scaled to about [-1, 1].

    Returns
    -------
    data : ndarray of float32, shape (n_volumes, n_voxels)
    params : ndarray, shape (n_volumes, 6)
    """
    n, v = n_volumes, region_of_voxel.size
    n_regions = network_of_region.size - 1
    params = head_motion(rng, n, mean_fd)
    fd = np.nan_to_num(framewise_displacement(params))

    pair = coupled_pair(rng, n, t_r, coupling)
    other = band_limited(rng, n, t_r, k=1)
    networks = np.column_stack([pair, other])  # (n, 3): prefrontal, limbic, other
    unique = band_limited(rng, n, t_r, k=n_regions)
    background = band_limited(rng, n, t_r, k=6)
    global_ = band_limited(rng, n, t_r, k=1, band=(0.005, 0.15))[:, 0]
    physio = band_limited(rng, n, t_r, k=2, band=(0.01, 0.25))  # WM, CSF
    t = np.linspace(-1.0, 1.0, n)
    drifts = np.column_stack([t, np.cos(np.pi * (t + 1) / 2)])
    spikes = np.maximum(fd - SPIKE_FD_MM, 0.0)
    motion = params - params.mean(axis=0)
    motion[:, 3:] *= HEAD_RADIUS_MM  # rotations as mm of displacement at the head's edge

    gm, wm, csf = tissue == 0, tissue == 1, tissue == 2
    in_region = region_of_voxel > 0
    # loadings (n_components, n_voxels), in percent signal change
    rows = []
    rows.append(np.where(gm, 0.45, np.where(wm, 0.25, 0.15)) * site_noise)  # global
    rows.append(np.where(wm, 0.9, np.where(gm, 0.3, 0.2)))  # WM physiology
    rows.append(np.where(csf, 1.8, np.where(gm, 0.3, 0.1)))  # CSF physiology
    net = np.zeros((3, v))
    reg_net = network_of_region[region_of_voxel[in_region]]
    net[reg_net, np.flatnonzero(in_region)] = 0.8
    rows.extend(net)
    uni = np.zeros((n_regions, v))
    uni[region_of_voxel[in_region] - 1, np.flatnonzero(in_region)] = 0.4
    rows.extend(uni)
    bg = rng.standard_normal((6, v)) * 0.35 * (gm & ~in_region)
    rows.extend(bg)
    rows.extend(rng.normal(0.8, 0.6, (2, v)))  # drifts
    coef = rng.standard_normal((6, 3)) * 0.6
    rows.extend(coef @ positions.T + rng.standard_normal((6, v)) * 0.2)  # % per mm of motion
    rows.append(-6.0 * (0.5 + edge))  # % per mm of FD above threshold
    loadings = np.vstack(rows).astype(np.float32)
    components = np.column_stack([global_, physio, networks, unique, background, drifts, motion, spikes])
    s = rng.standard_normal((n, v), dtype=np.float32)
    s *= np.float32(1.2 * site_noise)
    s += components.astype(np.float32) @ loadings
    onset = np.zeros(n, dtype=np.float32)
    onset[:n_nonsteady] = 25.0 * 0.45 ** np.arange(n_nonsteady)
    s += onset[:, None]

    baseline = np.where(csf, 1300.0, np.where(wm, 750.0, 950.0)) * (1 + 0.05 * rng.standard_normal(v))
    data = (baseline * site_gain).astype(np.float32) * (1 + s / np.float32(100))
    return data, params
