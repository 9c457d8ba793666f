"""Atlas coverage on grids the project has not seen: a field of view that cuts regions off."""

import numpy as np
import pandas as pd
import pytest

from neurokit.atlases import AtlasError, check_coverage
from neurokit.atlases._model import Atlas

AFFINE = np.diag([4.0, 4.0, 4.0, 1.0])  # voxel (i, j, k) centre at (4i, 4j, 4k) mm
SHAPE = (7, 8, 9)


def _spheres(centres, radius=6.0):
    regions = pd.DataFrame({
        "index": np.arange(1, len(centres) + 1),
        "name": [f"r{i}" for i in range(1, len(centres) + 1)],
        "network": "other",
        "hemisphere": "bilateral",
        "x": [c[0] for c in centres], "y": [c[1] for c in centres], "z": [c[2] for c in centres],
        "radius": radius,
    })
    return Atlas("toy", "spheres", "MNI152NLin2009cAsym", regions, {})


def test_region_cut_by_field_of_view_is_not_reported_as_fully_covered():
    # r1 well inside; r2 centred on the grid's last x plane, so about half of it lies beyond
    atlas = _spheres([(12, 16, 16), (24, 16, 16)])
    cov = check_coverage(atlas, AFFINE, SHAPE, min_voxels=1)
    table = cov.table.set_index("name")
    assert table.loc["r1", "n_outside_fov"] == 0 and table.loc["r1", "fraction"] == 1.0
    assert 0 < table.loc["r2", "n_outside_fov"] < table.loc["r2", "n_region"]
    assert 0.3 < table.loc["r2", "fraction"] < 0.8
    summary = cov.to_dict()["regions"]
    assert summary["r2"]["outside_fov"] == table.loc["r2", "n_outside_fov"]
    assert summary["r2"]["fraction"] < 1


def test_region_outside_field_of_view_error_says_so():
    atlas = _spheres([(12, 16, 16), (12, 16, 80)])  # r2 far above the top slice (z <= 32 mm)
    with pytest.raises(AtlasError, match=r"r2 \(0 voxels; \d+ of \d+ outside the image\).*field of view"):
        check_coverage(atlas, AFFINE, SHAPE, min_voxels=1)
    cov = check_coverage(atlas, AFFINE, SHAPE, min_voxels=1, drop_empty=True)
    assert cov.dropped == ("r2",)


def test_region_outside_brain_mask_only_is_not_blamed_on_field_of_view():
    atlas = _spheres([(12, 16, 16), (12, 16, 24)])
    mask = np.ones(SHAPE, bool)
    mask[:, :, 5:] = False  # r2 (z = 24 +/- 6 mm) is on the grid but outside the mask
    with pytest.raises(AtlasError, match=r"r2 \(0 voxels\)") as info:
        check_coverage(atlas, AFFINE, SHAPE, mask, min_voxels=1)
    assert "field of view" not in str(info.value)


def test_empty_brain_mask_is_named_as_the_cause():
    atlas = _spheres([(12, 16, 16), (16, 16, 24)])
    with pytest.raises(AtlasError, match=r"brain mask .* is all zero.*re-run fMRIPrep"):
        check_coverage(atlas, AFFINE, SHAPE, np.zeros(SHAPE, bool))


def test_mask_away_from_every_region_points_at_the_affine():
    atlas = _spheres([(4, 4, 4), (8, 8, 8)])
    mask = np.zeros(SHAPE, bool)
    mask[5:, 5:, 6:] = True  # brain voxels exist, but none where the atlas is
    with pytest.raises(AtlasError, match=r"no region of atlas 'toy' .* overlaps the brain mask.*affines"):
        check_coverage(atlas, AFFINE, SHAPE, mask)
