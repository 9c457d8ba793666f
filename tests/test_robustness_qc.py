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
