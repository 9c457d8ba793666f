"""Denoising runs shaped unlike the demo: very short runs with the default band-pass."""

import numpy as np
import pytest

from neurokit.denoise import DenoiseError, clean


def test_short_run_band_pass_error_says_how_many_volumes_and_the_config_fix(rng):
    signals = rng.standard_normal((29, 4))
    with pytest.raises(DenoiseError, match=r"29 volumes .* needs at least 34 .*denoise.filter: cosine.*"
                       r"denoise.low_pass: null") as info:
        clean(signals, t_r=2.0, min_volumes=20)
    assert ".." not in str(info.value)
    # the suggested fix works on the same run
    got = clean(signals, t_r=2.0, min_volumes=20, filter="cosine")
    assert got.signals.shape == (29, 4) and np.isfinite(got.signals).all()


def test_region_without_any_usable_voxel_is_named_as_such(rng):
    signals = 100 + rng.standard_normal((60, 4))
    signals[:, 2] = np.nan  # extraction's answer for a region whose voxels are all constant (e.g. zero-filled)
    with pytest.raises(DenoiseError, match=r"columns \[2\] are non-finite in every volume: those regions have no "
                       r"usable voxel.*field of view"):
        clean(signals, t_r=2.0, high_pass=None, low_pass=None)
    signals[:, 2] = 100 + rng.standard_normal(60)
    signals[5, 1] = np.nan  # a gap is still the generic error
    with pytest.raises(DenoiseError, match=r"1 non-finite values \(regions \[1\]\)"):
        clean(signals, t_r=2.0, high_pass=None, low_pass=None)
