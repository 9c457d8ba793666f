"""clean() against nilearn.signal.clean and NiftiLabelsMasker, censoring and tDOF."""

import json
import shutil
import warnings
from pathlib import Path

import nibabel as nib
import nilearn.interfaces.fmriprep as nl_fmriprep
import numpy as np
import pandas as pd
import pytest
from nilearn import signal as nl_signal
from nilearn.interfaces.fmriprep import load_confounds_strategy
from nilearn.maskers import NiftiLabelsMasker
from scipy.interpolate import CubicSpline

from neurokit.denoise import (
    DenoiseError,
    InsufficientVolumesError,
    clean,
    load_confounds_metadata,
    load_confounds_table,
    select_confounds,
)

DATA = Path(nl_fmriprep.__file__).parent / "data"
REAL = {
    "v21": ("test-v21_desc-confounds_timeseries.tsv", "test-v21_desc-confounds_timeseries.json"),
    "regressors": ("test_desc-confounds_regressors.tsv", "test_desc-confounds_regressors.json"),
    "no_nonsteady": ("no_nonsteady_desc-confounds_regressors.tsv", "test_desc-confounds_regressors.json"),
}
PRESETS = ["simple", "simple+gsr", "scrubbing", "scrubbing+gsr", "compcor", "compcor+gsr"]
TR = 2.0


def nilearn_clean(signals, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nl_signal.clean(signals, **kwargs)


def random_signals(rng, n=120, k=5):
    t = np.arange(n)[:, None]
    return 100 + 0.05 * t + np.sin(t / 7.0 + np.arange(k)) + rng.normal(size=(n, k))


def synthetic_confounds(rng, n=120):
    """Smooth, fMRIPrep-like regressors, shape (n, 6)."""
    return pd.DataFrame(np.cumsum(rng.normal(size=(n, 6)), axis=0) * 0.1, columns=[f"c{i}" for i in range(6)])


CASES = [
    {"filter": "butterworth", "high_pass": 0.01, "low_pass": 0.08},
    {"filter": "butterworth", "high_pass": 0.01, "low_pass": None},
    {"filter": "butterworth", "high_pass": None, "low_pass": 0.1},
    {"filter": "cosine", "high_pass": 0.01, "low_pass": None},
    {"filter": None, "high_pass": None, "low_pass": None},
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("standardize", ["zscore_sample", "psc", None])
@pytest.mark.parametrize("detrend", [True, False])
@pytest.mark.parametrize("censor", [False, True])
def test_matches_signal_clean(rng, case, standardize, detrend, censor):
    signals = random_signals(rng)
    confounds = synthetic_confounds(rng)
    mask = np.setdiff1d(np.arange(120), [0, 1, 40, 41, 42, 43, 44, 45, 46]) if censor else None
    expected = nilearn_clean(
        signals, confounds=confounds.to_numpy(), sample_mask=mask, t_r=TR, detrend=detrend,
        standardize=standardize, filter=case["filter"] or False, high_pass=case["high_pass"],
        low_pass=case["low_pass"],
    )
    before = signals.copy()
    got = clean(signals, confounds, mask, t_r=TR, detrend=detrend, standardize=standardize, min_volumes=10, **case)
    np.testing.assert_array_equal(signals, before)  # input untouched
    np.testing.assert_allclose(got.signals, expected, atol=1e-6, rtol=0)
    assert got.signals.shape == (len(mask) if censor else 120, 5)
    np.testing.assert_array_equal(got.sample_mask, mask if censor else np.arange(120))
    assert got.n_censored == (9 if censor else 0)


def test_no_confounds_matches(rng):
    signals = random_signals(rng)
    expected = nilearn_clean(signals, t_r=TR, high_pass=0.01, low_pass=0.08)
    np.testing.assert_allclose(clean(signals, t_r=TR).signals, expected, atol=1e-6)


def test_standardize_confounds_false_matches(rng):
    signals, confounds = random_signals(rng), synthetic_confounds(rng)
    expected = nilearn_clean(signals, confounds=confounds.to_numpy(), t_r=TR, standardize_confounds=False,
                             high_pass=0.01, low_pass=0.08)
    got = clean(signals, confounds, t_r=TR, standardize_confounds=False)
    np.testing.assert_allclose(got.signals, expected, atol=1e-6)


def test_tdof_accounting(rng):
    signals, confounds = random_signals(rng), synthetic_confounds(rng)
    got = clean(signals, confounds, np.arange(10, 120), t_r=TR, high_pass=0.01, low_pass=0.08)
    nyq = 0.25
    n_filter = round(110 * (1 - (0.08 - 0.01) / nyq))
    assert got.n_regressors == 6
    assert got.tdof_lost == 6 + 2 + n_filter
    assert got.tdof_remaining == 110 - got.tdof_lost
    cos = clean(signals, None, t_r=TR, filter="cosine", high_pass=0.01, low_pass=None)
    assert cos.n_regressors == int(np.floor(2 * 120 * 0.01 * TR))  # the DCT drift terms
    assert cos.tdof_lost == cos.n_regressors + 2


def test_collinear_confounds_counted_once(rng):
    signals, confounds = random_signals(rng), synthetic_confounds(rng)
    doubled = pd.concat([confounds, confounds.add_suffix("_copy")], axis=1)
    assert clean(signals, doubled, t_r=TR).n_regressors == 6


def test_interpolation_fills_every_censored_volume(rng):
    """Deliberate difference: nilearn 0.14 fills volumes mirrored around the middle (``~`` on int indices).

    Reference: nilearn.signal.clean on signals whose censored volumes we pre-filled with the spline
    (nilearn then only re-writes them with the same values).
    """
    n = 120
    signals, confounds = random_signals(rng, n), synthetic_confounds(rng, n).to_numpy()
    censored = np.array([0, 1, 30, 31, 88, 89, 119])  # 30<->89, 31<->88, 0<->119 are mirrors
    mask = np.setdiff1d(np.arange(n), censored)
    times = np.arange(n) * TR

    def prefill(x):
        x = x.copy()
        x[censored] = CubicSpline(times[mask], x[mask], extrapolate=False)(times[censored])
        return x[mask[0] : mask[-1] + 1]

    kw = {"t_r": TR, "high_pass": 0.01, "low_pass": 0.08}
    expected = nilearn_clean(prefill(signals), confounds=prefill(confounds), sample_mask=mask - mask[0], **kw)
    got = clean(signals, confounds, mask, min_volumes=10, **kw)
    np.testing.assert_allclose(got.signals, expected, atol=1e-6)
    naive = nilearn_clean(signals, confounds=confounds, sample_mask=mask, **kw)
    assert naive.shape != got.signals.shape or not np.allclose(naive, got.signals, atol=1e-4)


def test_nonfinite_raises_unless_opted_in(rng):
    signals = random_signals(rng)
    signals[5, 2] = np.nan
    signals[7, 2] = np.inf
    with pytest.raises(DenoiseError, match=r"'signals' has 2 non-finite values \(regions \[2\]\).*ensure_finite=True"):
        clean(signals, t_r=TR)
    got = clean(signals, t_r=TR, ensure_finite=True)
    assert got.n_nonfinite == 2  # nilearn zero-fills silently; we count for the QC report
    expected = nilearn_clean(signals, t_r=TR, ensure_finite=True, high_pass=0.01, low_pass=0.08)
    np.testing.assert_allclose(got.signals, expected, atol=1e-6)


def test_insufficient_volumes_is_typed(rng):
    signals = random_signals(rng)
    with pytest.raises(InsufficientVolumesError, match=r"0 of 120 volumes remain") as info:
        clean(signals, sample_mask=np.array([], dtype=int), t_r=TR)
    assert (info.value.n_volumes, info.value.n_kept, info.value.min_volumes) == (120, 0, 50)
    with pytest.raises(InsufficientVolumesError, match=r"40 of 120 volumes remain after censoring; at least 50"):
        clean(signals, sample_mask=np.arange(40), t_r=TR)
    assert isinstance(info.value, DenoiseError)


def test_insufficient_volumes_pickles():
    import pickle

    err = InsufficientVolumesError("x", n_volumes=3, n_kept=1, min_volumes=2)
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.n_volumes, back.n_kept, back.min_volumes) == ("x", 3, 1, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"confounds": np.zeros((100, 2))}, r"'confounds' has 100 rows but 'signals' has 120 volumes"),
        ({"confounds": np.full((120, 1), np.nan)}, r"'confounds' has non-finite values in 'column 0'"),
        ({"confounds": pd.DataFrame({"csf": np.r_[np.nan, np.zeros(119)]})}, r"non-finite values in 'csf'"),
        ({"sample_mask": np.array([0, 5, 120])}, r"'sample_mask' has indices outside 0..119"),
        ({"sample_mask": np.array([5, 3] + list(range(10, 70)))}, r"strictly increasing"),
        ({"sample_mask": np.ones(5, dtype=bool)}, r"boolean 'sample_mask' must have shape \(120,\)"),
        ({"sample_mask": np.array([0.5, 1.5])}, r"'sample_mask' must be a 1D array of volume indices"),
        ({"t_r": 0}, r"'t_r' must be a positive repetition time"),
        ({"filter": "fir"}, r"'filter' must be one of"),
        ({"standardize": "robust"}, r"'standardize' must be one of"),
        ({"high_pass": 0.1, "low_pass": 0.05}, r"'high_pass' \(0.1 Hz\) must be below 'low_pass' \(0.05 Hz\)"),
        ({"high_pass": -1}, r"'high_pass' must be a positive frequency"),
        ({"filter": "cosine", "high_pass": None}, r"filter='cosine' needs 'high_pass'"),
        ({"min_volumes": 1}, r"'min_volumes' must be an integer >= 2"),
    ],
)
def test_errors(rng, kwargs, match):
    kwargs = {"t_r": TR} | kwargs
    with pytest.raises(DenoiseError, match=match):
        clean(random_signals(rng), **kwargs)


def test_signals_must_be_2d():
    with pytest.raises(DenoiseError, match=r"'signals' must be 2D \(n_volumes, n_regions\)"):
        clean(np.zeros((60, 2, 2)), t_r=TR)


def test_too_short_for_butterworth(rng):
    with pytest.raises(DenoiseError, match=r"20 volumes are too few for the order-5 Butterworth filter"):
        clean(random_signals(rng, n=20), t_r=TR, min_volumes=10)


def test_bool_sample_mask(rng):
    signals = random_signals(rng)
    keep = np.ones(120, dtype=bool)
    keep[:3] = False
    np.testing.assert_allclose(
        clean(signals, sample_mask=keep, t_r=TR).signals,
        clean(signals, sample_mask=np.arange(3, 120), t_r=TR).signals,
    )


# ---- end to end against NiftiLabelsMasker on nilearn's real confounds tables ------------------


def labels_and_image(rng, n_volumes):
    """Tiny 7x8x9 labels image (4 regions) and a 4D image with a shared drift and noise."""
    labels = np.zeros((7, 8, 9), dtype=np.int16)
    labels[:3, :4, :] = 1
    labels[3:, :4, :5] = 2
    labels[:, 4:, :4] = 3
    labels[:4, 4:, 4:] = 4
    t = np.arange(n_volumes)
    data = 100 + rng.normal(size=(7, 8, 9, n_volumes)) + 0.3 * np.sin(t / 3.0) + 0.02 * t
    data += labels[..., None] * np.cos(t / 5.0)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    return nib.Nifti1Image(labels, affine), nib.Nifti1Image(data.astype(np.float64), affine), labels, data


def region_means(labels, data):
    return np.stack([data[labels == k].mean(axis=0) for k in range(1, labels.max() + 1)], axis=1)


def copy_run(tmp_path, which):
    tsv, sidecar = REAL[which]
    suffix = "timeseries" if "timeseries" in tsv else "regressors"
    tsv_out = tmp_path / f"sub-01_task-rest_desc-confounds_{suffix}.tsv"
    shutil.copy(DATA / tsv, tsv_out)
    shutil.copy(DATA / sidecar, tsv_out.with_suffix(".json"))
    img = tmp_path / "sub-01_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz"
    img.write_bytes(b"")
    return img, tsv_out, tsv_out.with_suffix(".json")


# 30-volume tables: an order-5 band-pass needs more volumes than that, so high-pass / cosine here.
# The presets have about as many regressors as these tables have volumes, so the residuals are
# ~1e-13 and z-scoring them would compare rounding noise: z-scoring is checked on 120 volumes below.
MASKER_CASES = [
    {"filter": "butterworth", "high_pass": 0.01, "low_pass": None, "standardize": None},
    {"filter": "cosine", "high_pass": 0.01, "low_pass": None, "standardize": "psc"},
    {"filter": "butterworth", "high_pass": None, "low_pass": 0.1, "standardize": None},
]


@pytest.mark.parametrize("which", sorted(REAL))
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("case", MASKER_CASES)
def test_matches_labels_masker(tmp_path, rng, which, preset, case):
    img_path, tsv, sidecar = copy_run(tmp_path, which)
    base, _, gsr = preset.partition("+")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nl_conf, nl_mask = load_confounds_strategy(
            str(img_path), denoise_strategy=base, **({"global_signal": "basic"} if gsr else {})
        )
    table = load_confounds_table(tsv)
    selection = select_confounds(table, strategy=preset, metadata=load_confounds_metadata(sidecar), source=tsv)
    labels_img, img, labels, data = labels_and_image(rng, len(table))
    signals = region_means(labels, data)
    options = {k: case[k] for k in ("high_pass", "low_pass", "standardize")}
    filt = case["filter"]
    if nl_mask is not None and nl_mask.size == 0:  # v21 scrubbing: every volume censored
        with pytest.raises(InsufficientVolumesError, match=r"0 of 30 volumes remain"):
            clean(signals, selection.confounds, selection.sample_mask, t_r=TR, filter=filt, min_volumes=5, **options)
        return
    masker = NiftiLabelsMasker(labels_img, detrend=True, t_r=TR, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if filt == "cosine":
            expected = nilearn_clean(signals, confounds=nl_conf.to_numpy(), sample_mask=nl_mask, t_r=TR,
                                     detrend=True, filter="cosine", **options)
        else:
            expected = masker.fit_transform(img, confounds=nl_conf, sample_mask=nl_mask)
    got = clean(signals, selection.confounds, selection.sample_mask, t_r=TR, filter=filt, min_volumes=5, **options)
    np.testing.assert_allclose(got.signals, expected, atol=1e-4, rtol=0)
    assert got.n_censored == selection.censored.size


@pytest.mark.parametrize("preset", PRESETS)
def test_band_pass_presets_match_masker(tmp_path, rng, preset):
    """A 120-volume fMRIPrep-style run with mid-run spikes, every preset, band-pass 0.01-0.08 Hz, z-scored."""
    n = 120
    cols = {}
    for base in ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "csf", "white_matter", "global_signal"]:
        x = np.cumsum(rng.normal(size=n)) * 0.01
        d = np.r_[np.nan, np.diff(x)]
        cols |= {base: x, f"{base}_derivative1": d, f"{base}_power2": x**2, f"{base}_derivative1_power2": d**2}
    t = np.arange(n)
    cols["cosine00"] = np.sqrt(2 / n) * np.cos(np.pi / n * (t + 0.5))
    meta = {}
    for k, mask in enumerate(["combined", "combined", "WM", "CSF"]):
        cols[f"a_comp_cor_{k:02d}"] = rng.normal(size=n)
        meta[f"a_comp_cor_{k:02d}"] = {"Mask": mask}
    fd = np.abs(rng.normal(0.1, 0.05, size=n))
    fd[0] = np.nan
    fd[[40, 47, 80]] = 0.9
    cols |= {"framewise_displacement": fd, "std_dvars": np.r_[np.nan, np.ones(n - 1)]}
    cols["non_steady_state_outlier00"] = (t == 0).astype(float)
    tsv = tmp_path / "sub-01_task-rest_desc-confounds_timeseries.tsv"
    pd.DataFrame(cols).to_csv(tsv, sep="\t", index=False, na_rep="n/a")
    tsv.with_suffix(".json").write_text(json.dumps(meta))
    img_path = tmp_path / "sub-01_task-rest_space-MNI_desc-preproc_bold.nii.gz"
    img_path.write_bytes(b"")
    base, _, gsr = preset.partition("+")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nl_conf, nl_mask = load_confounds_strategy(
            str(img_path), denoise_strategy=base, **({"global_signal": "basic"} if gsr else {})
        )
    selection = select_confounds(
        load_confounds_table(tsv), strategy=preset, metadata=load_confounds_metadata(tsv.with_suffix(".json"))
    )
    np.testing.assert_array_equal(selection.sample_mask, nl_mask)
    labels_img, img, labels, data = labels_and_image(rng, n)
    masker = NiftiLabelsMasker(labels_img, detrend=True, t_r=TR, high_pass=0.01, low_pass=0.08,
                               standardize="zscore_sample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = masker.fit_transform(img, confounds=nl_conf, sample_mask=nl_mask)
    got = clean(region_means(labels, data), selection.confounds, selection.sample_mask, t_r=TR)
    np.testing.assert_allclose(got.signals, expected, atol=1e-4, rtol=0)
    assert got.n_censored == n - nl_mask.size
    assert np.abs(got.signals).max() > 0.1  # non-degenerate residuals


def test_config_kwargs_drive_select_and_clean(tmp_path, rng):
    from neurokit.config import Config

    denoise = Config().updated({"denoise.strategy": "compcor+gsr", "denoise.min_volumes": 10}).denoise
    _, tsv, sidecar = copy_run(tmp_path, "regressors")
    selection = select_confounds(
        load_confounds_table(tsv), metadata=load_confounds_metadata(sidecar), source=tsv, **denoise.select_kwargs()
    )
    json.dumps(selection.strategy)  # serialisable for the timeseries sidecar
    assert selection.strategy["global_signal"] == "basic" and selection.strategy["compcor"] == "anat_combined"
    kwargs = denoise.clean_kwargs() | {"low_pass": None}  # 30 volumes: too short for the band-pass
    got = clean(random_signals(rng, n=30), selection.confounds, selection.sample_mask, t_r=TR, **kwargs)
    assert got.signals.shape == (29, 5)
    assert got.tdof_remaining < 0  # 85 regressors for 29 volumes: the run carries no information


def test_partial_r2_is_the_share_of_variance_the_added_confounds_explain_beyond_the_others():
    from neurokit.denoise import DenoiseError, partial_r2

    rng = np.random.default_rng(5)
    n = 200
    base = rng.normal(size=(n, 3))
    added = rng.normal(size=(n, 2))
    signals = base @ rng.normal(size=(3, 4)) + added @ np.array([[1.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.5, 0.0]]) \
        + rng.normal(size=(n, 4))
    table = pd.DataFrame(np.column_stack([base, added]), columns=["a", "b", "c", "p1", "p2"])
    got = partial_r2(signals, table, ["p1", "p2"], t_r=2.0, detrend=False, high_pass=None, low_pass=None,
                     filter=None, min_volumes=10)

    def rss(design):
        design = np.column_stack([np.ones(n), design])
        residual = signals - design @ np.linalg.lstsq(design, signals, rcond=None)[0]
        return (residual**2).sum(axis=0)

    expected = 1 - rss(np.column_stack([base, added])) / rss(base)
    assert np.allclose(got, expected, atol=1e-10)
    assert got[0] > 0.2 and got[1] < 0.1 and got[3] < 0.1
    # with filtering and censoring: both fits are filtered alike, the share stays in [0, 1]
    mask = np.setdiff1d(np.arange(n), [50, 51, 120])
    filtered = partial_r2(signals, table, ["p1"], mask, t_r=2.0, high_pass=0.01, low_pass=None)
    assert filtered.shape == (4,) and np.all((filtered >= 0) & (filtered <= 1)) and filtered[0] > 0.2
    with pytest.raises(DenoiseError, match=r"\['rvt'\] are not confounds"):
        partial_r2(signals, table, ["rvt"], t_r=2.0)
