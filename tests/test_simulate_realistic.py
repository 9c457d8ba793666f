"""Tests of the realistic simulation mode: signals that spill past the atlas, motion artefacts
that survive motion regression, the global signal's share, the two kinds of dynamics, the truth
files, determinism, fast and slow acquisitions, alphanumeric labels, errors and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from neurokit.cli import main
from neurokit.simulate import BLOBS, SimulationError, simulate_dataset
from neurokit.simulate import _realistic, _signals
from neurokit.simulate._dataset import _voxel_tables
from neurokit.simulate._grid import build_grid

MOTION_24 = [
    f"{p}{suffix}"
    for p in ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
    for suffix in ("", "_derivative1", "_power2", "_derivative1_power2")
]


def _read_tsv(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", na_values="n/a", keep_default_na=False)


@pytest.fixture(scope="module")
def space():
    """A 6 mm grid, its voxel tables and the realistic anatomy of seed 0."""
    grid = build_grid(6)
    statics = _voxel_tables(grid)
    anat = _realistic.anatomy(grid, statics["brain_idx"], np.random.default_rng(0))
    return grid, statics, anat


def _run(space, seed=1, **kwargs):
    grid, _, anat = space
    args = dict(
        n_volumes=150, t_r=2.0, resolution_mm=grid.resolution_mm, coupling=0.4, mean_fd=0.2, n_nonsteady=1,
        site_gain=1.0, site_noise=1.0,
    )
    return _realistic.run_data(np.random.default_rng(seed), anat, **{**args, **kwargs})


def _drift_free(x: np.ndarray, t_r: float) -> np.ndarray:
    basis = _realistic._drift_basis(x.shape[0], t_r)
    return x - basis @ np.linalg.lstsq(basis, x, rcond=None)[0]


def test_planted_signal_is_not_confined_to_the_atlas(space):
    grid, statics, anat = space
    run = _run(space)
    region_network = np.array([""] + [r["network"] for r in grid.regions])[statics["region"]]
    for j, network in enumerate(("prefrontal", "limbic")):
        power = run.latent_loading[j].astype(float) ** 2
        outside = power[region_network != network].sum() / power.sum()
        # a good share of the latent's variance is in voxels that are not its network's atlas regions
        assert 0.15 < outside < 0.9, (network, outside)
    # inside a labelled region the loading is far from uniform
    for region in grid.regions:
        if region["network"] in ("prefrontal", "limbic"):
            j = 0 if region["network"] == "prefrontal" else 1
            load = run.latent_loading[j][statics["region"] == region["index"]]
            if region["name"] in ("amygdala_L", "dlPFC_R", "OFC_L", "thalamus_R"):
                assert load.std() / load.mean() > 0.3, region["name"]
    # the blobs sit where the table says: the strongest prefrontal voxel is near a prefrontal centre
    peak = anat.xyz[np.argmax(run.latent_loading[0])]
    centres = anat.blobs.loc[anat.blobs.network == "prefrontal", ["x", "y", "z"]].to_numpy()
    assert np.min(np.linalg.norm(centres - peak, axis=1)) < 2 * grid.resolution_mm


def test_blobs_are_jittered_per_dataset_and_weighted_by_grey_matter(space):
    grid, statics, anat = space
    other = _realistic.anatomy(grid, statics["brain_idx"], np.random.default_rng(1))
    assert len(anat.blobs) == 2 * len(BLOBS)
    shift = np.linalg.norm(anat.blobs[["x", "y", "z"]].to_numpy() - other.blobs[["x", "y", "z"]].to_numpy(), axis=1)
    assert 0 < shift.min() and shift.max() < 20
    assert anat.blobs["fwhm_mm"].between(*_realistic.BLOB_FWHM_MM).all()
    assert anat.blobs["fwhm_mm"].nunique() > 10
    # no signal where there is no grey matter
    assert np.all(anat.blob_maps[:, anat.gm_prob == 0] == 0)


@pytest.mark.parametrize("mean_fd", [0.12, 0.35])
def test_motion_artefact_survives_24_parameter_regression(space, mean_fd):
    _, statics, _ = space
    run = _run(space, mean_fd=mean_fd, keep_artefact=True)
    table, _ = _signals.confounds(run.data, run.params, t_r=2.0, masks=statics["masks"], n_nonsteady=1)
    design = np.column_stack([np.ones(len(table)), table[MOTION_24].fillna(0.0).to_numpy()])
    art = run.artefact.astype(float)
    art -= art.mean(axis=0)
    residual = art - design @ np.linalg.lstsq(design, art, rcond=None)[0]
    assert (residual**2).sum() / (art**2).sum() > 0.3
    # the same regression does remove what is linear in the parameters: the check can tell
    linear = run.params @ np.random.default_rng(0).standard_normal((6, 50))
    linear -= linear.mean(axis=0)
    left = linear - design @ np.linalg.lstsq(design, linear, rcond=None)[0]
    assert (left**2).sum() / (linear**2).sum() < 1e-6


@pytest.mark.parametrize("t_r", [0.8, 2.0])
def test_reported_motion_adds_breathing_to_the_head_motion(space, t_r):
    run = _run(space, t_r=t_r, n_volumes=300, mean_fd=0.15)
    head_fd = _signals.framewise_displacement(run.head_motion)
    assert np.nanmean(head_fd) == pytest.approx(0.15)
    apparent = run.params - run.head_motion
    # only along y and z (phase encoding), oscillating at the (aliased) respiratory rate
    assert not apparent[:, [0, 3, 4, 5]].any() and apparent[:, 1].std() > 0.005
    freqs = np.fft.rfftfreq(300, d=t_r)
    peak = freqs[np.argmax(np.abs(np.fft.rfft(apparent[:, 1])))]
    rates = np.linspace(*_realistic.RESPIRATORY_HZ, 50)
    aliased = np.abs(rates - np.round(rates * t_r) / t_r)
    assert aliased.min() - 0.02 <= peak <= aliased.max() + 0.02
    assert np.nanmean(_signals.framewise_displacement(run.params)) > 0.15


@pytest.mark.slow
def test_head_motion_tracks_severity(tmp_path):
    result = simulate_dataset(
        tmp_path / "ds", n_subjects=12, n_volumes=60, seed=4, resolution_mm=8, motion_severity_coupling=2.0,
        realism="realistic",
    )
    truth = result.truth
    fd = truth["realised_mean_fd"].rank()
    assert np.corrcoef(fd, truth["severity"].rank())[0, 1] > 0.5


def test_artefact_scale_scales_the_artefact(space):
    small = _run(space, artefact_scale=0.5, keep_artefact=True)
    full = _run(space, artefact_scale=1.0, keep_artefact=True)
    none = _run(space, artefact_scale=0.0, keep_artefact=True)
    np.testing.assert_allclose(small.artefact * 2, full.artefact, rtol=1e-4, atol=1e-4)
    assert not none.artefact.any() and full.artefact.std() > 0.1


def test_motion_artefact_is_shared_by_neighbours(space):
    """Nearby voxels share artefact more than distant ones (distance-dependent QC-FC)."""
    _, statics, anat = space
    run = _run(space, mean_fd=0.3, keep_artefact=True)
    gm = np.flatnonzero(statics["tissue"] == 0)
    pick = np.random.default_rng(0).choice(gm, 300, replace=False)
    r = np.corrcoef(run.artefact[1:, pick].T)
    dist = np.linalg.norm(anat.xyz[pick, None] - anat.xyz[None, pick], axis=2)
    upper = np.triu_indices(pick.size, 1)
    near, far = dist[upper] < 30, dist[upper] > 90
    assert r[upper][near].mean() > r[upper][far].mean() + 0.1


@pytest.mark.parametrize(("t_r", "n_volumes", "seed"), [(2.0, 150, 1), (2.0, 150, 2), (0.8, 400, 3)])
def test_global_signal_share(space, t_r, n_volumes, seed):
    _, statics, _ = space
    run = _run(space, seed=seed, t_r=t_r, n_volumes=n_volumes)
    gm = statics["tissue"] == 0
    data = _drift_free(run.data[1:, gm].astype(float), t_r)
    g = _drift_free(run.global_signal[1:, None], t_r)[:, 0]
    r = g @ data / np.linalg.norm(g) / np.linalg.norm(data, axis=0)
    assert 0.2 <= np.median(r**2) <= 0.4
    # and physiology is strongest in CSF: its variance there exceeds grey matter's
    csf = statics["tissue"] == 2
    pct = run.data[1:] / run.data[1:].mean(axis=0) * 100
    assert np.median(_drift_free(pct[:, csf].astype(float), t_r).var(axis=0)) > 1.5 * np.median(
        _drift_free(pct[:, gm].astype(float), t_r).var(axis=0)
    )


def _high_fraction(x: np.ndarray, t_r: float) -> np.ndarray:
    freqs = np.fft.rfftfreq(x.shape[0], d=t_r)
    power = np.abs(np.fft.rfft(x - x.mean(axis=0), axis=0)) ** 2
    return power[freqs > 0.1].sum(axis=0) / power[1:].sum(axis=0)


@pytest.mark.parametrize("t_r", [0.8, 2.0])
def test_dynamics_spectra(space, t_r):
    slow = _run(space, t_r=t_r, n_volumes=300, dynamics="band_limited")
    fast = _run(space, t_r=t_r, n_volumes=300, dynamics="broadband")
    assert np.all(_high_fraction(slow.latents, t_r) < 0.05)
    assert np.all(_high_fraction(fast.latents, t_r) > 0.15)


def test_broadband_coupling_is_present_above_and_below_0_1_hz(space):
    t_r, n, coupling = 0.8, 2500, 0.5
    run = _run(space, t_r=t_r, n_volumes=n, coupling=coupling, dynamics="broadband", artefact_scale=0.0)
    spec = np.fft.rfft(run.latents - run.latents.mean(axis=0), axis=0)
    freqs = np.fft.rfftfreq(n, d=t_r)
    for band in (freqs < 0.1, freqs > 0.1):
        part = np.fft.irfft(np.where(band[:, None], spec, 0), n=n, axis=0)
        assert np.corrcoef(part.T)[0, 1] == pytest.approx(coupling, abs=0.1)


def test_latent_coupling_is_sampled_not_forced(space):
    runs = [_run(space, seed=s, n_volumes=120, coupling=0.4, artefact_scale=0.0) for s in range(8)]
    realised = np.array([r.latent_coupling for r in runs])
    np.testing.assert_allclose(realised, [np.corrcoef(r.latents[1:].T)[0, 1] for r in runs], rtol=1e-12)
    assert realised.std() > 0.02 and abs(realised.mean() - 0.4) < 0.15


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    root = tmp_path_factory.mktemp("real") / "ds"
    return simulate_dataset(
        root, n_subjects=4, n_volumes=40, seed=4, resolution_mm=8, realism="realistic", dynamics="broadband",
        artefact_scale=1.5, participant_labels="alphanumeric", broken_runs=("missing_mask",), n_jobs=2,
    )


def test_truth_of_a_realistic_dataset(realistic):
    truth = realistic.truth
    assert list(truth.columns[truth.columns.get_loc("coupling") :][:2]) == ["coupling", "latent_coupling"]
    assert truth["latent_coupling"].between(-1, 1).all() and not np.allclose(truth["latent_coupling"], truth["coupling"])
    # the confounds' FD adds breathing's apparent motion to the planted head motion
    assert (truth["realised_mean_fd"] > truth["mean_fd"]).all()
    assert (truth["realised_mean_fd"] < truth["mean_fd"] + 0.2).all()
    on_disk = _read_tsv(realistic.truth_path)
    np.testing.assert_allclose(on_disk["latent_coupling"], truth["latent_coupling"])
    meta = json.loads(realistic.truth_path.with_suffix(".json").read_text())
    assert {k: meta["parameters"][k] for k in ("realism", "dynamics", "artefact_scale", "participant_labels")} == {
        "realism": "realistic", "dynamics": "broadband", "artefact_scale": 1.5, "participant_labels": "alphanumeric",
    }
    assert "latent_coupling" in meta["columns"]
    blobs = pd.DataFrame(meta["blobs"])
    assert list(blobs.columns) == ["name", "network", "hemisphere", "x", "y", "z", "fwhm_mm", "planted"]
    assert len(blobs) == 2 * len(BLOBS) and blobs["fwhm_mm"].between(10, 18).all()
    pd.testing.assert_frame_equal(blobs, realistic.blobs)
    # nothing of the truth inside the BIDS tree
    for path in realistic.root.rglob("*"):
        if path.is_file():
            assert "latent_coupling" not in path.read_bytes().decode("latin-1")


def test_alphanumeric_labels(realistic):
    ids = realistic.participants["participant_id"]
    assert all(re.fullmatch(r"sub-[A-Z2-9]{4}", i) for i in ids) and ids.is_unique
    assert not all(re.fullmatch(r"sub-\d+", i) for i in ids)
    assert set(realistic.truth["participant_id"]) == set(ids)
    for row in realistic.truth.itertuples():
        assert row.bold.startswith(f"derivatives/fmriprep/{row.participant_id}/func/{row.participant_id}_task-rest")
        assert (realistic.root / row.confounds).exists()


def test_easy_mode_truth_is_unchanged(tmp_path):
    result = simulate_dataset(tmp_path / "ds", n_subjects=4, n_volumes=30, resolution_mm=8)
    meta = json.loads(result.truth_path.with_suffix(".json").read_text())
    assert "realism" not in meta["parameters"] and "blobs" not in meta
    assert "latent_coupling" not in result.truth and result.blobs is None
    assert result.participants["participant_id"].tolist() == ["sub-01", "sub-02", "sub-03", "sub-04"]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_deterministic_for_a_seed(tmp_path):
    kwargs = dict(n_subjects=4, n_volumes=30, resolution_mm=8, realism="realistic", participant_labels="alphanumeric")
    a = simulate_dataset(tmp_path / "a", seed=7, n_jobs=1, **kwargs)
    b = simulate_dataset(tmp_path / "b", seed=7, n_jobs=2, **kwargs)
    c = simulate_dataset(tmp_path / "c", seed=8, **kwargs)
    tree_a, tree_b = _tree(a.root), _tree(b.root)
    assert tree_a == tree_b
    assert a.truth_path.read_bytes() == b.truth_path.read_bytes()
    # the truth JSON names its own label image, whose name follows the dataset's
    assert a.truth_path.with_suffix(".json").read_text().replace("a_truth", "b_truth") == b.truth_path.with_suffix(
        ".json"
    ).read_text()
    assert not a.blobs.equals(c.blobs) and set(a.truth["participant_id"]) != set(c.truth["participant_id"])


@pytest.mark.slow
def test_fast_tr_on_a_3_mm_grid(tmp_path):
    result = simulate_dataset(
        tmp_path / "ds", n_subjects=4, n_volumes=30, t_r=0.8, resolution_mm=3, realism="realistic", n_jobs=2
    )
    import nibabel as nib

    row = result.truth.iloc[0]
    img = nib.load(result.root / row["bold"])
    assert img.shape[-1] == 30 and img.header.get_zooms() == pytest.approx((3, 3, 3, 0.8))
    confounds = _read_tsv(result.root / row["confounds"])
    assert len(confounds) == 30 and set(MOTION_24) <= set(confounds.columns)
    assert json.loads((result.root / row["bold"].replace(".nii.gz", ".json")).read_text())["RepetitionTime"] == 0.8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"realism": "hard"}, r"'realism' must be one of \('easy', 'realistic'\); got 'hard'"),
        ({"realism": "realistic", "dynamics": "fast"}, r"'dynamics' must be one of .*got 'fast'"),
        ({"realism": "realistic", "artefact_scale": -1}, "'artefact_scale' must be a number between 0"),
        ({"realism": "realistic", "artefact_scale": True}, "'artefact_scale' must be a number between 0"),
        ({"dynamics": "broadband"}, "'dynamics' and 'artefact_scale' apply to realism='realistic' only"),
        ({"artefact_scale": 2.0}, "'dynamics' and 'artefact_scale' apply to realism='realistic' only"),
        ({"participant_labels": "letters"}, r"'participant_labels' must be one of .*got 'letters'"),
    ],
)
def test_parameter_errors(tmp_path, kwargs, match):
    with pytest.raises(SimulationError, match=match):
        simulate_dataset(tmp_path / "ds", **kwargs)
    assert not (tmp_path / "ds").exists()


def test_cli_realistic(tmp_path, capsys):
    out = tmp_path / "ds"
    code = main([
        "simulate", str(out), "--subjects", "4", "--volumes", "30", "--resolution", "8", "--realism", "realistic",
        "--dynamics", "broadband", "--artefact-scale", "0.5", "--participant-labels", "alphanumeric",
    ])
    assert code == 0 and "ground truth" in capsys.readouterr().out
    meta = json.loads((tmp_path / "ds_truth.json").read_text())
    assert meta["parameters"]["dynamics"] == "broadband" and meta["parameters"]["artefact_scale"] == 0.5
    assert main(["simulate", str(tmp_path / "e"), "--dynamics", "broadband"]) == 2
    assert "apply to realism='realistic' only" in capsys.readouterr().err
