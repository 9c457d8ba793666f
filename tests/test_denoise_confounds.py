"""Confound selection against nilearn's load_confounds_strategy on fMRIPrep's real tables."""

import json
import shutil
import warnings
from pathlib import Path

import nilearn.interfaces.fmriprep as nl_fmriprep
import numpy as np
import pandas as pd
import pytest
from nilearn.interfaces.fmriprep import load_confounds_strategy

from neurokit.denoise import (
    DenoiseError,
    check_confounds_length,
    load_confounds_metadata,
    load_confounds_table,
    select_confounds,
)

DATA = Path(nl_fmriprep.__file__).parent / "data"
# (tsv, json) pairs; nilearn's own tests pair no_nonsteady with the regressors JSON
REAL = {
    "v21": ("test-v21_desc-confounds_timeseries.tsv", "test-v21_desc-confounds_timeseries.json"),
    "regressors": ("test_desc-confounds_regressors.tsv", "test_desc-confounds_regressors.json"),
    "no_nonsteady": ("no_nonsteady_desc-confounds_regressors.tsv", "test_desc-confounds_regressors.json"),
}
PRESETS = ["simple", "simple+gsr", "scrubbing", "scrubbing+gsr", "compcor", "compcor+gsr"]


def fmriprep_run(tmp_path, tsv, sidecar, name="sub-01_task-rest"):
    """Lay out TSV + JSON + a dummy BOLD file the way nilearn looks them up; return (img, tsv, json)."""
    suffix = "timeseries" if "timeseries" in tsv else "regressors"
    tsv_out = tmp_path / f"{name}_desc-confounds_{suffix}.tsv"
    json_out = tsv_out.with_suffix(".json")
    shutil.copy(DATA / tsv if not Path(tsv).is_absolute() else tsv, tsv_out)
    shutil.copy(DATA / sidecar if not Path(sidecar).is_absolute() else sidecar, json_out)
    img = tmp_path / f"{name}_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz"
    img.write_bytes(b"")
    return img, tsv_out, json_out


def nilearn_kwargs(preset):
    base, _, gsr = preset.partition("+")
    return base, ({"global_signal": "basic"} if gsr else {})


def nilearn_select(img, preset, **kwargs):
    base, extra = nilearn_kwargs(preset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_confounds_strategy(str(img), denoise_strategy=base, **extra, **kwargs)


@pytest.mark.parametrize("which", sorted(REAL))
@pytest.mark.parametrize("preset", PRESETS)
def test_matches_nilearn_on_real_tables(tmp_path, which, preset):
    img, tsv, sidecar = fmriprep_run(tmp_path, *REAL[which])
    expected, expected_mask = nilearn_select(img, preset)
    table = load_confounds_table(tsv)
    before = table.copy()
    got = select_confounds(table, strategy=preset, metadata=load_confounds_metadata(sidecar), source=tsv)
    pd.testing.assert_frame_equal(table, before)  # input untouched
    assert list(got.confounds.columns) == list(expected.columns)
    if expected_mask is None:
        assert got.sample_mask is None
        assert got.censored.size == 0
    else:
        np.testing.assert_array_equal(got.sample_mask, expected_mask)
        np.testing.assert_array_equal(np.sort(np.r_[got.sample_mask, got.censored]), np.arange(len(table)))
    assert np.isfinite(got.confounds.to_numpy()).all()
    if expected_mask is not None and expected_mask.size == 0:
        # nilearn demeans over zero volumes (NaN); we demean over all and say so
        assert any("censored" in note for note in got.notes)
    else:
        np.testing.assert_allclose(got.confounds.to_numpy(), expected.to_numpy(), atol=1e-10)
    assert got.strategy["strategy"] == preset


def test_non_steady_state_indices():
    table = load_confounds_table(DATA / REAL["v21"][0])
    got = select_confounds(table, strategy="simple")
    np.testing.assert_array_equal(got.non_steady_state, [0, 1, 2])
    np.testing.assert_array_equal(got.censored, [0, 1, 2])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"motion": "basic"},
        {"motion": "power2", "wm_csf": "derivatives"},
        {"global_signal": "full"},
        {"demean": False},
    ],
)
def test_overrides_match_nilearn(tmp_path, kwargs):
    img, tsv, sidecar = fmriprep_run(tmp_path, *REAL["regressors"])
    expected, mask = nilearn_select(img, "simple", **kwargs)
    got = select_confounds(load_confounds_table(tsv), strategy="simple", **kwargs)
    assert list(got.confounds.columns) == list(expected.columns)
    np.testing.assert_allclose(got.confounds.to_numpy(), expected.to_numpy(), atol=1e-10)


@pytest.mark.parametrize("which", ["v21", "regressors"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"compcor": "anat_separated"},
        {"compcor": "temporal"},
        {"compcor": "temporal_anat_combined", "n_compcor": 2},
        {"compcor": "anat_separated", "n_compcor": 3},
        {"compcor": "anat_combined", "n_compcor": 1},
    ],
)
def test_compcor_variants_match_nilearn(tmp_path, which, kwargs):
    img, tsv, sidecar = fmriprep_run(tmp_path, *REAL[which])
    expected, mask = nilearn_select(img, "compcor", **kwargs)
    got = select_confounds(
        load_confounds_table(tsv), strategy="compcor", metadata=load_confounds_metadata(sidecar), **kwargs
    )
    assert list(got.confounds.columns) == list(expected.columns)
    np.testing.assert_allclose(got.confounds.to_numpy(), expected.to_numpy(), atol=1e-10)


def test_compcor_by_variance_fraction():
    table = load_confounds_table(DATA / REAL["regressors"][0])
    meta = load_confounds_metadata(DATA / REAL["regressors"][1])
    got = select_confounds(table, strategy="compcor", compcor="anat_separated", n_compcor=0.3, metadata=meta)
    comps = {c for c in got.confounds if "comp_cor" in c}
    # WM components 70..99 reach 30.4% cumulative variance, CSF 57..61 reach 31.5%
    assert comps == {f"a_comp_cor_{k}" for k in [*range(70, 100), *range(57, 62)]}
    assert got.strategy["n_compcor"] == 0.3


def test_variance_fraction_half_equals_fmriprep_retained(tmp_path):
    img, tsv, sidecar = fmriprep_run(tmp_path, *REAL["v21"])
    expected, _ = nilearn_select(img, "compcor", compcor="temporal_anat_combined")
    got = select_confounds(load_confounds_table(tsv), strategy="compcor", compcor="temporal_anat_combined",
                           n_compcor=0.5, metadata=load_confounds_metadata(sidecar))
    assert list(got.confounds.columns) == list(expected.columns)


def test_variance_fraction_needs_cumulative_variance(rng):
    table, meta = synthetic_table(rng)
    with pytest.raises(DenoiseError, match=r"no 'CumulativeVarianceExplained' for 'a_comp_cor_00'"):
        select_confounds(table, strategy="compcor", n_compcor=0.5, metadata=meta)


def synthetic_table(rng, n=120, nss=2, spikes=(40, 43, 90)):
    """An fMRIPrep-style table: full expansions, cosines, aCompCor, FD and std-DVARS."""
    cols = {}
    for base in ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "csf", "white_matter", "global_signal"]:
        x = np.cumsum(rng.normal(size=n)) * 0.01
        d = np.r_[np.nan, np.diff(x)]
        cols |= {base: x, f"{base}_derivative1": d, f"{base}_power2": x**2, f"{base}_derivative1_power2": d**2}
    t = np.arange(n)
    for k in range(3):
        cols[f"cosine{k:02d}"] = np.sqrt(2 / n) * np.cos(np.pi / n * (t + 0.5) * (k + 1))
    meta = {}
    for k in range(4):
        cols[f"a_comp_cor_{k:02d}"] = rng.normal(size=n)
        meta[f"a_comp_cor_{k:02d}"] = {"Mask": "combined", "Retained": True}
    fd = np.abs(rng.normal(0.1, 0.05, size=n))
    fd[0] = np.nan
    fd[list(spikes)] = 0.9
    cols["framewise_displacement"] = fd
    cols["std_dvars"] = np.r_[np.nan, np.abs(rng.normal(1, 0.1, size=n - 1))]
    for k in range(nss):
        cols[f"non_steady_state_outlier{k:02d}"] = (t == k).astype(float)
    return pd.DataFrame(cols), meta


def write_run(tmp_path, table, meta):
    tsv = tmp_path / "synthetic_desc-confounds_timeseries.tsv"
    table.to_csv(tsv, sep="\t", index=False, na_rep="n/a")
    sidecar = tsv.with_suffix(".json")
    sidecar.write_text(json.dumps(meta))
    return fmriprep_run(tmp_path, str(tsv), str(sidecar), name="sub-02_task-rest")


@pytest.mark.parametrize("scrub", [0, 5])
@pytest.mark.parametrize("thresholds", [{}, {"fd_threshold": 0.3, "std_dvars_threshold": 1.2}])
def test_scrubbing_segments_match_nilearn(tmp_path, rng, scrub, thresholds):
    table, meta = synthetic_table(rng, spikes=(3, 40, 43, 90, 117))
    img, tsv, _ = write_run(tmp_path, table, meta)
    expected, expected_mask = nilearn_select(img, "scrubbing", scrub=scrub, **thresholds)
    got = select_confounds(load_confounds_table(tsv), strategy="scrubbing", scrub=scrub, **thresholds)
    np.testing.assert_array_equal(got.sample_mask, expected_mask)
    np.testing.assert_allclose(got.confounds.to_numpy(), expected.to_numpy(), atol=1e-10)


def test_scrub_removes_short_segments(rng):
    table, _ = synthetic_table(rng, spikes=(40, 43))
    got = select_confounds(table, strategy="scrubbing", scrub=5)
    assert {41, 42}.issubset(got.censored)  # 2-volume segment between spikes is censored
    assert got.strategy["fd_threshold"] == 0.5 and got.strategy["std_dvars_threshold"] == 1.5


# ---- errors -------------------------------------------------------------------------------


def test_missing_motion_column_names_column_and_version(rng):
    table, _ = synthetic_table(rng)
    with pytest.raises(DenoiseError, match=r"x.tsv lacks column\(s\) \['rot_z'.*motion='full'.*fMRIPrep >= 1.2"):
        select_confounds(table.drop(columns=["rot_z"]), source="x.tsv")


def test_missing_expansion_names_version(rng):
    table, _ = synthetic_table(rng)
    with pytest.raises(DenoiseError, match=r"csf_power2.*wm_csf='full'.*fMRIPrep >= 1.4"):
        select_confounds(table.drop(columns=["csf_power2"]), strategy="scrubbing")


def test_missing_cosine_for_compcor(rng):
    table, meta = synthetic_table(rng)
    table = table.drop(columns=[c for c in table if c.startswith("cosine")])
    # fMRIPrep writes no cosines for a run shorter than 128 s; CompCor then had no high-pass
    # either, so every preset only notes it (as nilearn): clean()'s high-pass still removes drifts
    compcor = select_confounds(table, strategy="compcor", metadata=meta)
    assert not any("cosine" in c for c in compcor.confounds) and any("128 s" in n for n in compcor.notes)
    assert any("cosine" in n for n in select_confounds(table).notes)


def test_missing_fd_for_scrubbing(rng):
    table, _ = synthetic_table(rng)
    with pytest.raises(DenoiseError, match=r"framewise_displacement.*scrubbing.*fd_threshold=0.5"):
        select_confounds(table.drop(columns=["framewise_displacement"]), strategy="scrubbing")
    with pytest.raises(DenoiseError, match=r"'fd_threshold' must be a positive number or None; got -1"):
        select_confounds(table, strategy="scrubbing", fd_threshold=-1)


def test_dvars_criterion_can_be_turned_off(rng):
    table, _ = synthetic_table(rng, spikes=(40,))
    table["std_dvars"] = 5.0  # every volume a DVARS outlier
    got = select_confounds(table, strategy="scrubbing", std_dvars_threshold=None)
    np.testing.assert_array_equal(got.censored, [0, 1, 40])
    got = select_confounds(table.drop(columns=["std_dvars"]), strategy="scrubbing", std_dvars_threshold=None)
    np.testing.assert_array_equal(got.censored, [0, 1, 40])


def test_compcor_needs_metadata(rng):
    table, _ = synthetic_table(rng)
    with pytest.raises(DenoiseError, match=r"needs the confounds JSON sidecar"):
        select_confounds(table, strategy="compcor")


def test_compcor_without_components(rng):
    table, meta = synthetic_table(rng)
    with pytest.raises(DenoiseError, match=r"lists no components for compcor='temporal'"):
        select_confounds(table, strategy="compcor", compcor="temporal", metadata=meta)


def test_compcor_column_in_json_but_not_table(rng):
    table, meta = synthetic_table(rng)
    with pytest.raises(DenoiseError, match=r"a_comp_cor_03.*compcor='anat_combined'"):
        select_confounds(table.drop(columns=["a_comp_cor_03"]), strategy="compcor", metadata=meta)


def test_compcor_json_without_mask(rng):
    table, meta = synthetic_table(rng)
    meta["a_comp_cor_01"] = {"Retained": True}
    with pytest.raises(DenoiseError, match=r"x.tsv has no 'Mask' for 'a_comp_cor_01'; aCompCor needs it"):
        select_confounds(table, strategy="compcor", metadata=meta, source="x.tsv")


def test_bad_options(rng):
    table, _ = synthetic_table(rng)
    with pytest.raises(DenoiseError, match=r"'strategy' must be one of .*got 'aroma'"):
        select_confounds(table, strategy="aroma")
    with pytest.raises(DenoiseError, match=r"'motion' must be one of .*got 'all'"):
        select_confounds(table, motion="all")
    with pytest.raises(DenoiseError, match=r"'wm_csf' is not part of the 'compcor' preset"):
        select_confounds(table, strategy="compcor", wm_csf="basic", metadata={"x": 1})
    with pytest.raises(DenoiseError, match=r"'n_compcor' must be a positive integer, a variance fraction .* got 0"):
        select_confounds(table, strategy="compcor", n_compcor=0)
    with pytest.raises(DenoiseError, match=r"'confounds' must be a pandas DataFrame"):
        select_confounds(table.to_numpy())


def test_resolve_strategy_is_what_a_run_records_and_what_the_config_accepts(rng):
    from neurokit.config import STRATEGY_NAMES, Config
    from neurokit.denoise import STRATEGIES, resolve_strategy

    base = ("simple", "simple+gsr", "scrubbing", "scrubbing+gsr", "compcor", "compcor+gsr")
    assert STRATEGY_NAMES == STRATEGIES == base + tuple(f"{name}+physio" for name in base)
    table, _ = synthetic_table(rng)
    kwargs = Config().updated({"denoise.strategy": "simple+gsr", "denoise.motion": "basic"}).denoise.select_kwargs()
    resolved = resolve_strategy(**kwargs)
    recorded = select_confounds(table, **kwargs).strategy  # plus this run's counts (regressors, censored)
    assert {k: recorded[k] for k in resolved} == resolved and "n_regressors" in recorded
    assert resolved == {"strategy": "simple+gsr", "preset": "simple", "high_pass": "cosine regressors",
                        "motion": "basic", "wm_csf": "basic", "global_signal": "basic", "demean": True}
    # an option the preset does not use is still checked
    with pytest.raises(DenoiseError, match=r"'scrub' \(minimum segment length\) must be an integer >= 0; got -1"):
        resolve_strategy("simple", scrub=-1)
    with pytest.raises(DenoiseError, match=r"'strategy' must be one of \['simple', .*got None"):
        resolve_strategy(None)


def test_nan_inside_table(rng):
    table, _ = synthetic_table(rng)
    table.loc[10, "csf"] = np.nan
    with pytest.raises(DenoiseError, match=r"'n/a' in column 'csf' at row 11"):
        select_confounds(table, source="run.tsv")


def test_legacy_camel_case(tmp_path):
    path = tmp_path / "old_desc-confounds_regressors.tsv"
    path.write_text("X\tY\tRotX\tFramewiseDisplacement\n0\t0\t0\tn/a\n")
    with pytest.raises(DenoiseError, match=r"old_desc-confounds_regressors.tsv has camelCase .*fMRIPrep 1.0/1.1"):
        load_confounds_table(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"empty\.tsv is empty"),
        ("trans_x\ttrans_y\n", r"has a header but no rows"),
        ("0.1\t0.2\n0.3\t0.4\n", r"has no header row"),
        ("trans_x\ttrans_y\n0.1\tabc\n", r"non-numeric values in column\(s\) \['trans_y'\]"),
    ],
)
def test_malformed_tables(tmp_path, text, match):
    path = tmp_path / "empty.tsv"
    path.write_text(text)
    with pytest.raises(DenoiseError, match=match):
        load_confounds_table(path)


def test_missing_files(tmp_path):
    with pytest.raises(DenoiseError, match=r"confounds file .*nope.tsv does not exist"):
        load_confounds_table(tmp_path / "nope.tsv")
    with pytest.raises(DenoiseError, match=r"confounds metadata .*nope.json does not exist"):
        load_confounds_metadata(tmp_path / "nope.json")
    assert load_confounds_metadata(None) == {}
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(DenoiseError, match=r"bad.json is not valid JSON"):
        load_confounds_metadata(bad)
    bad.write_text("[1]")
    with pytest.raises(DenoiseError, match=r"bad.json must hold a JSON object"):
        load_confounds_metadata(bad)


def test_check_confounds_length():
    table = pd.DataFrame({"a": np.zeros(180)})
    check_confounds_length(table, 180)
    with pytest.raises(
        DenoiseError,
        match=r"X.tsv has 180 rows but the BOLD run has 200 volumes; re-run fMRIPrep or drop this run with --exclude\.",
    ):
        check_confounds_length(table, 200, "X.tsv")


def test_physio_suffix_adds_the_given_regressors_to_any_strategy(rng):
    from neurokit.config import Config, ConfigError, load_config
    from neurokit.denoise import resolve_strategy

    table, meta = synthetic_table(rng)
    physio = pd.DataFrame({"retroicor_cardiac_cos1": rng.normal(size=len(table)) + 3.0,
                           "rvt": rng.normal(size=len(table))})
    for base in ("simple", "scrubbing+gsr", "compcor"):
        plain = select_confounds(table, strategy=base, metadata=meta)
        with_physio = select_confounds(table, strategy=f"{base}+physio", metadata=meta, physio=physio)
        # the strategy's own confounds and censoring unchanged, the regressors appended and demeaned alike
        assert list(with_physio.confounds.columns) == [*plain.confounds.columns, "retroicor_cardiac_cos1", "rvt"]
        pd.testing.assert_frame_equal(with_physio.confounds[plain.confounds.columns], plain.confounds)
        assert np.array_equal(with_physio.censored, plain.censored)
        kept = np.arange(len(table)) if plain.sample_mask is None else plain.sample_mask
        expected = physio.to_numpy() - physio.to_numpy()[kept].mean(axis=0)
        assert np.allclose(with_physio.confounds[["retroicor_cardiac_cos1", "rvt"]].to_numpy(), expected)
        assert with_physio.strategy["n_regressors"] == plain.strategy["n_regressors"] + 2
        assert with_physio.strategy["physio"] is True and "physio" not in plain.strategy
        assert resolve_strategy(f"{base}+physio") == {**resolve_strategy(base), "strategy": f"{base}+physio",
                                                      "physio": True}
    # no usable recording: the other confounds only, and a note
    alone = select_confounds(table, strategy="simple+physio", physio=None, source="sub-01_desc-confounds.tsv")
    assert list(alone.confounds.columns) == list(select_confounds(table, strategy="simple").confounds.columns)
    assert any("no physiological regressors for sub-01_desc-confounds.tsv" in n for n in alone.notes)
    empty = select_confounds(table, strategy="simple+physio", physio=physio.iloc[:, :0])
    assert empty.confounds.shape[1] == alone.confounds.shape[1]
    with pytest.raises(DenoiseError, match=r"strategy 'simple', which does not use them; use simple\+physio"):
        select_confounds(table, strategy="simple", physio=physio)
    with pytest.raises(DenoiseError, match="have 10 rows but"):
        select_confounds(table, strategy="simple+physio", physio=physio.iloc[:10])
    with pytest.raises(DenoiseError, match="non-finite"):
        select_confounds(table, strategy="simple+physio", physio=physio.assign(rvt=np.nan))
    with pytest.raises(DenoiseError, match="repeat a confound column"):
        select_confounds(table, strategy="simple+physio", physio=physio.rename(columns={"rvt": "csf"}))
    with pytest.raises(DenoiseError, match=r"'\+physio' comes last: scrubbing\+gsr\+physio"):
        resolve_strategy("scrubbing+physio+gsr")
    with pytest.raises(DenoiseError, match="'strategy' must be one of"):
        resolve_strategy("simple+physio+physio")
    # the configuration accepts the suffix on any strategy, alone or in a list
    assert Config().updated({"denoise.strategy": ["scrubbing+gsr+physio", "scrubbing+gsr"]}).strategies == (
        "scrubbing+gsr+physio", "scrubbing+gsr")
    with pytest.raises(ConfigError, match="scrubbing\\+physio\\+gsr"):
        Config().updated({"denoise.strategy": "scrubbing+physio+gsr"})
