"""Confounds the project has not seen: short runs, as real fMRIPrep writes them."""

import warnings

import numpy as np
import pandas as pd
import pytest

from neurokit.denoise import select_confounds

pytest.importorskip("nilearn")


def _short_run_table(rng, n=60):
    """fMRIPrep's table for a run shorter than 128 s: aCompCor, but no cosine columns."""
    motion = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    cols = {}
    for base in motion + ["csf", "white_matter", "global_signal"]:
        x = rng.standard_normal(n).cumsum() * 0.01
        d = np.r_[np.nan, np.diff(x)]
        cols.update({base: x, f"{base}_derivative1": d, f"{base}_power2": x**2, f"{base}_derivative1_power2": d**2})
    for k in range(3):
        cols[f"a_comp_cor_{k:02d}"] = rng.standard_normal(n)
    cols["framewise_displacement"] = np.r_[np.nan, np.abs(rng.standard_normal(n - 1)) * 0.1]
    meta = {
        f"a_comp_cor_{k:02d}": {"Method": "aCompCor", "Mask": "combined", "Retained": True,
                                "CumulativeVarianceExplained": 0.2 * (k + 1), "VarianceExplained": 0.2}
        for k in range(3)
    }
    return pd.DataFrame(cols), meta


def test_compcor_on_a_run_without_cosines_matches_nilearn(rng, tmp_path):
    """60 volumes x TR 2 s = 120 s: fMRIPrep writes no cosines; compcor must still work."""
    import json

    import nibabel as nib
    from nilearn.interfaces.fmriprep import load_confounds_strategy

    table, meta = _short_run_table(rng)
    got = select_confounds(table, strategy="compcor", metadata=meta, source="sub-01_task-rest_desc-confounds_timeseries.tsv")
    assert any("128 s" in n for n in got.notes)

    stem = "sub-01_task-rest_desc-confounds_timeseries"
    table.to_csv(tmp_path / f"{stem}.tsv", sep="\t", index=False, na_rep="n/a")
    (tmp_path / f"{stem}.json").write_text(json.dumps(meta))
    img = tmp_path / "sub-01_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, len(table)), np.float32), np.eye(4)), img)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, mask = load_confounds_strategy(str(img), denoise_strategy="compcor")
    assert list(got.confounds.columns) == list(expected.columns)
    np.testing.assert_allclose(got.confounds.to_numpy(), expected.to_numpy(), atol=1e-8)


def test_compcor_without_its_json_names_the_missing_file_and_the_cli_fix(rng):
    from neurokit.denoise import DenoiseError

    table, _ = _short_run_table(rng)
    with pytest.raises(DenoiseError, match=r"sub-01_task-rest_desc-confounds_timeseries.json is missing or empty: "
                       r"copy it from fMRIPrep's output, or use denoise.strategy simple or scrubbing"):
        select_confounds(table, strategy="compcor", metadata=None,
                         source="/d/sub-01/func/sub-01_task-rest_desc-confounds_timeseries.tsv")
