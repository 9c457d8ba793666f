"""Motion QC on confounds tables the project has not seen: errors name the file and the fix."""

import numpy as np
import pytest

from neurokit.qc import QCError, motion_summary

TSV = "derivatives/sub-07/func/sub-07_task-gng_desc-confounds_timeseries.tsv"


def test_missing_fd_column_names_the_file_and_the_fix():
    with pytest.raises(QCError, match=r"sub-07_task-gng_desc-confounds_timeseries.tsv: .*no 'framewise_displacement'"
                       r".*exclusion.max_mean_fd.*--exclude"):
        motion_summary(None, n_volumes=9, source=TSV)


def test_fd_gap_gives_the_file_row():
    fd = np.r_[np.nan, 0.1, 0.2, np.nan, 0.1, 0.1, 0.1]
    with pytest.raises(QCError, match=r"sub-07_task-gng.*volume 3 \(row 5 of the file\).*re-run fMRIPrep"):
        motion_summary(fd, n_volumes=7, source=TSV)


def test_run_without_degrees_of_freedom_can_be_excluded():
    from neurokit.qc import exclusion_decision

    common = dict(mean_fd=0.1, censored_fraction=0.0, n_remaining=60, max_mean_fd=0.5,
                  max_censored_fraction=0.5, min_volumes=50)
    # 60 volumes at TR 2 s, 26 regressors and a 0.01-0.08 Hz band-pass: tDOF -11 (the default config)
    excluded, reasons = exclusion_decision(**common, tdof_remaining=-11, min_tdof=1)
    assert excluded and len(reasons) == 1
    assert reasons[0].startswith("-11 temporal degrees of freedom") and "exclusion.min_tdof" in reasons[0]
    assert exclusion_decision(**common, tdof_remaining=-11) == (False, [])  # off unless asked
    assert exclusion_decision(**common, tdof_remaining=None, min_tdof=1) == (False, [])  # not cleaned
    with pytest.raises(QCError, match="'min_tdof' must be a number or None"):
        exclusion_decision(**common, tdof_remaining=3, min_tdof="many")


def test_tsnr_leaves_out_non_steady_state_volumes(rng):
    from neurokit.qc import region_tsnr

    signals = 1000 + rng.standard_normal((60, 3)) * 10  # tSNR about 100
    bright = signals.copy()
    bright[0] *= 1.5  # the non-steady-state onset fMRIPrep leaves in the preprocessed BOLD
    assert region_tsnr(bright).max() < 50  # misleading: halved by one volume
    np.testing.assert_allclose(region_tsnr(bright, exclude_volumes=[0]), region_tsnr(signals[1:]))
    assert region_tsnr(bright, exclude_volumes=np.array([], dtype=int)).max() < 50
    with pytest.raises(QCError, match=r"'exclude_volumes' must be integer volume indices in \[0, 59\]; got \[60\]"):
        region_tsnr(bright, exclude_volumes=[60])
