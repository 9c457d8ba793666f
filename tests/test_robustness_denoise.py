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
