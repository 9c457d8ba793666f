"""Atlas model, the four atlas types, validation errors, registry and coverage (tiny synthetic grids)."""

import json
import logging
import pickle

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import neurokit.atlases as atlases
from neurokit._errors import NeurokitError
from neurokit.atlases import AtlasError, check_coverage, check_space, load, register, validate
from neurokit.atlases._grid import ensure_min_voxels, resample_nearest

SHAPE = (7, 8, 9)
AFFINE = np.array([[2.0, 0, 0, -7], [0, 2, 0, -8], [0, 0, 2, -9], [0, 0, 0, 1]])


def _table(rows, extra=None):
    df = pd.DataFrame(rows, columns=["index", "name", "network", "hemisphere", "x", "y", "z"])
    for k, v in (extra or {}).items():
        df[k] = v
    return df


def _write(folder, meta, table, image=None, suffix="dseg"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "atlas.json").write_text(json.dumps({"Reference": "test", "License": "CC0", **meta}))
    table.to_csv(folder / f"{meta['Name']}_dseg.tsv", sep="\t", index=False, na_rep="n/a")
    if image is not None:
        nib.save(image, folder / f"{meta['Name']}_space-{meta['Space']}_res-2_{suffix}.nii.gz")
    return folder


def _dseg_labels():
    lab = np.zeros(SHAPE, dtype=np.int16)
    lab[1:3, 1:4, 1:4] = 1
    lab[4:6, 1:4, 1:4] = 2
    lab[2:5, 5:7, 5:8] = 3
    return lab


THREE = [
    (1, "L_amygdala", "limbic", "L", np.nan, np.nan, np.nan),
    (2, "R_amygdala", "limbic", "R", np.nan, np.nan, np.nan),
    (3, "vmPFC", "prefrontal", "bilateral", np.nan, np.nan, np.nan),
]


@pytest.fixture
def dseg_dir(tmp_path):
    img = nib.Nifti1Image(_dseg_labels(), AFFINE)
    meta = {"Name": "tiny", "Type": "dseg", "Space": "MNI152NLin2009cAsym"}
    return _write(tmp_path / "tiny", meta, _table(THREE), img)


@pytest.fixture
def spheres_dir(tmp_path):
    rows = [(1, "a", "prefrontal", "L", -3.0, -2.0, -1.0), (2, "b", "limbic", "R", 3.0, 2.0, 3.0)]
    meta = {"Name": "balls", "Type": "spheres", "Space": "MNI152NLin2009cAsym", "Radius": 2.5}
    return _write(tmp_path / "balls", meta, _table(rows))


# --- dseg -------------------------------------------------------------------------------------

def test_dseg_same_grid_is_exact(dseg_dir, caplog):
    atlas = load(dseg_dir)
    assert atlas.type == "dseg" and atlas.space == "MNI152NLin2009cAsym"
    with caplog.at_level(logging.INFO, logger="neurokit.atlases"):
        out = atlas.labels_on_grid(AFFINE, SHAPE)
    assert "resampling" not in caplog.text
    assert out.dtype == np.int32 and out.shape == SHAPE
    np.testing.assert_array_equal(out, _dseg_labels())
    # centres filled from the image (centre of mass, mm)
    reg = atlas.regions.set_index("name")
    np.testing.assert_allclose(reg.loc["L_amygdala", ["x", "y", "z"]].astype(float), [-4, -4, -5])
    assert tuple(atlas.regions.columns[:7]) == atlases.REGION_COLUMNS
    assert atlas.networks.to_dict() == {"L_amygdala": "limbic", "R_amygdala": "limbic", "vmPFC": "prefrontal"}


def test_dseg_resampled_to_other_grid_is_logged(dseg_dir, caplog):
    atlas = load(dseg_dir)
    fine = AFFINE.copy()
    fine[:3, :3] = np.eye(3)
    with caplog.at_level(logging.INFO, logger="neurokit.atlases"):
        out = atlas.labels_on_grid(fine, (14, 16, 18, 5))
    assert "nearest neighbour" in caplog.text
    assert out.shape == (14, 16, 18)
    assert set(np.unique(out)) == {0, 1, 2, 3}
    # the 1 mm voxel at the centre of 2 mm voxel (1, 1, 1) lies in region 1
    assert out[2, 2, 2] == 1


def test_resample_nearest_oblique_matches_axis_aligned():
    lab = _dseg_labels()
    tgt = AFFINE.copy()
    tgt[0, 1] = 1e-3  # nearly axis-aligned but takes the general path
    a = resample_nearest(lab, AFFINE, AFFINE, SHAPE)
    b = resample_nearest(lab, AFFINE, tgt, SHAPE)
    assert (a != b).sum() <= 2


def test_ensure_min_voxels_grows_thinned_region_without_stealing():
    lab = np.zeros((12, 12, 12), dtype=np.int16)
    lab[2:4, 2:4, 2:4] = 1  # small
    lab[6:12, 6:12, 6:12] = 2
    src = np.eye(4)
    tgt = np.diag([4.0, 4.0, 4.0, 1.0])
    coarse = resample_nearest(lab, src, tgt, (3, 3, 3))
    grown = ensure_min_voxels(coarse, lab, src, tgt, 2)
    assert (grown == 1).sum() >= 1 and (grown == 2).sum() >= (coarse == 2).sum()
    assert (coarse == 1).sum() <= (grown == 1).sum()


def test_labels_on_grid_is_cached_per_grid_and_returns_copies(dseg_dir):
    atlas = load(dseg_dir)
    a = atlas.labels_on_grid(AFFINE, SHAPE)
    a[:] = 0
    assert atlas.labels_on_grid(AFFINE, SHAPE).any()
    assert len(atlas._cache) == 1
    for k in range(20):  # twenty shifted grids: the cache keeps the last sixteen
        shifted = AFFINE.copy()
        shifted[0, 3] += k
        atlas.labels_on_grid(shifted, SHAPE)
    assert len(atlas._cache) == 16


def test_coverage_counts_are_shared_per_grid_not_per_mask(dseg_dir):
    atlas = load(dseg_dir)
    full = np.ones(SHAPE, dtype=bool)
    half = full.copy()
    half[:3] = False  # removes L_amygdala (x 1-2) and a third of vmPFC (x 2-4) from the mask
    first = check_coverage(atlas, AFFINE, SHAPE, full, min_voxels=1)
    second = check_coverage(atlas, AFFINE, SHAPE, half, min_voxels=1, drop_empty=True)
    assert first.table["n_voxels"].tolist() == [18, 18, 18]
    assert second.table["n_voxels"].tolist() == [0, 18, 12]
    assert second.table["n_region"].tolist() == first.table["n_region"].tolist() == [18, 18, 18]
    assert second.dropped == ("L_amygdala",) and not (second.labels == 1).any()
    assert first.labels[first.labels > 0].size == 54  # the second call did not edit the first's labels
    assert (atlas.labels_on_grid(AFFINE, SHAPE) == _dseg_labels()).all()  # nor the cached grid labels


def test_atlas_is_immutable_and_pickles(dseg_dir):
    atlas = load(dseg_dir)
    with pytest.raises(AttributeError, match="immutable"):
        atlas.name = "other"
    reg = atlas.regions
    reg.loc[0, "network"] = "other"
    assert atlas.regions.loc[0, "network"] == "limbic"
    md = atlas.metadata
    md["Name"] = "x"
    assert atlas.metadata["Name"] == "tiny"
    atlas.labels_on_grid(AFFINE, SHAPE)
    clone = pickle.loads(pickle.dumps(atlas))
    assert clone._cache == {} and clone.name == "tiny"
    np.testing.assert_array_equal(clone.labels_on_grid(AFFINE, SHAPE), atlas.labels_on_grid(AFFINE, SHAPE))


def test_labels_on_grid_rejects_bad_affine(dseg_dir):
    with pytest.raises(AtlasError, match="needs a \\(4, 4\\) affine"):
        load(dseg_dir).labels_on_grid(np.eye(3), SHAPE)


# --- probseg ----------------------------------------------------------------------------------

def _probseg_dir(tmp_path, threshold=0.3, n_vol=2):
    probs = np.zeros(SHAPE + (n_vol,), dtype=np.float32)
    probs[0:3, :, :, 0] = 0.8
    probs[2:5, :, :, 1] = 0.6  # overlaps region 1 on x=2, where region 1 is more probable
    probs[6, :, :, 1] = 0.1  # below threshold
    rows = [(1, "dlPFC", "prefrontal", "L", np.nan, np.nan, np.nan), (2, "NAcc", "limbic", "L", 0, 0, 0)]
    meta = {"Name": "probby", "Type": "probseg", "Space": "MNI152NLin6Asym", "Threshold": threshold}
    return _write(tmp_path / "probby", meta, _table(rows), nib.Nifti1Image(probs, AFFINE), "probseg")


def test_probseg_threshold_and_max_probability(tmp_path):
    atlas = load(_probseg_dir(tmp_path))
    out = atlas.labels_on_grid(AFFINE, SHAPE)
    assert (out[0:3] == 1).all() and (out[3:5] == 2).all() and (out[5:] == 0).all()
    # a centre given in the table is kept
    assert atlas.regions.set_index("name").loc["NAcc", "x"] == 0


def test_probseg_volume_count_must_match(tmp_path):
    folder = _probseg_dir(tmp_path, n_vol=3)
    with pytest.raises(AtlasError, match="has 3 volumes but .* lists indices"):
        load(folder)


def test_probseg_empty_region_named(tmp_path):
    folder = _probseg_dir(tmp_path, threshold=0.9)
    with pytest.raises(AtlasError, match=r"region\(s\) \['dlPFC', 'NAcc'\] .*empty region"):
        load(folder)


# --- spheres ----------------------------------------------------------------------------------

def test_spheres_drawn_on_grid(spheres_dir):
    atlas = load(spheres_dir)
    out = atlas.labels_on_grid(AFFINE, SHAPE)
    ijk = np.argwhere(out == 1)
    mm = ijk @ AFFINE[:3, :3].T + AFFINE[:3, 3]
    assert len(ijk) > 1 and np.all(np.linalg.norm(mm - [-3, -2, -1], axis=1) <= 2.5)
    assert (out == 2).sum() > 1


def test_tiny_sphere_gets_its_centre_voxel(tmp_path):
    rows = [(1, "a", "prefrontal", "L", -3.4, -2.3, -1.2)]
    meta = {"Name": "dot", "Type": "spheres", "Space": "MNI152NLin2009cAsym", "Radius": 0.2}
    atlas = load(_write(tmp_path / "dot", meta, _table(rows)))
    out = atlas.labels_on_grid(AFFINE, SHAPE)
    assert out.sum() == 1 and out[2, 3, 4] == 1


def test_overlapping_spheres_error_and_allowed(tmp_path):
    rows = [(1, "a", "prefrontal", "L", 0.0, 0.0, 0.0), (2, "b", "limbic", "R", 3.0, 0.0, 0.0)]
    meta = {"Name": "ovl", "Type": "spheres", "Space": "MNI152NLin2009cAsym", "Radius": 4}
    folder = _write(tmp_path / "ovl", meta, _table(rows))
    with pytest.raises(AtlasError, match=r"spheres overlap: a / b \(3.0 mm apart\).*AllowOverlap"):
        load(folder)
    meta["AllowOverlap"] = True
    out = load(_write(folder, meta, _table(rows))).labels_on_grid(AFFINE, SHAPE)
    # the voxel centred at (-1, 0, 1) is nearer a's centre
    assert out[3, 4, 5] == 1 and (out == 2).any()


def test_sphere_needs_radius(tmp_path):
    rows = [(1, "a", "prefrontal", "L", 0.0, 0.0, 0.0)]
    meta = {"Name": "norad", "Type": "spheres", "Space": "MNI152NLin2009cAsym"}
    with pytest.raises(AtlasError, match=r"sphere region\(s\) \['a'\] have no positive radius"):
        load(_write(tmp_path / "norad", meta, _table(rows)))


def test_sphere_needs_centre(tmp_path):
    rows = [(1, "a", "prefrontal", "L", np.nan, 0.0, 0.0)]
    meta = {"Name": "nocentre", "Type": "spheres", "Space": "MNI152NLin2009cAsym", "Radius": 3}
    with pytest.raises(AtlasError, match=r"sphere region\(s\) \['a'\] lack x, y, z"):
        load(_write(tmp_path / "nocentre", meta, _table(rows)))


# --- derived (from a tiny fake dependency package) ---------------------------------------------

@pytest.fixture
def fake_source_pkg(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "fakeatlaspkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('importing the source package is not needed')\n")
    probs = np.zeros(SHAPE + (3,), dtype=np.uint8)
    probs[0:3, :, :, 0] = 60  # Left_Thing
    probs[4:7, :, :, 1] = 70  # Right_Thing
    probs[:, 0:4, :, 2] = 40  # Left_Other, overlaps both
    nib.save(nib.Nifti1Image(probs, AFFINE), pkg / "data" / "prob.nii.gz")
    pd.DataFrame({"index": [0, 1, 2], "name": ["Left_Thing", "Right_Thing", "Left_Other"]}).to_csv(
        pkg / "data" / "labels.csv", index=False)
    lab = np.zeros(SHAPE, dtype=np.int16)
    lab[0:3] = 5
    lab[4:7] = 6
    nib.save(nib.Nifti1Image(lab, AFFINE), pkg / "data" / "lab.nii.gz")
    pd.DataFrame({"index": [5, 6], "name": ["Thing_L", "Thing_R"]}).to_csv(pkg / "data" / "lab.csv", index=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return pkg


def _derived(tmp_path, sources, kind="probabilistic", restrict=None, name="der"):
    rows = [(i + 1, f"r{i + 1}", "limbic", "L", np.nan, np.nan, np.nan) for i in range(len(sources))]
    extra = {"source": sources}
    if restrict is not None:
        extra["restrict"] = restrict
    img, csv = ("data/prob.nii.gz", "data/labels.csv") if kind == "probabilistic" else ("data/lab.nii.gz", "data/lab.csv")
    meta = {"Name": name, "Type": "derived", "Space": "MNI152NLin6Asym", "Threshold": 50,
            "Source": {"Package": "fakeatlaspkg", "Image": img, "Labels": csv, "Kind": kind}}
    return _write(tmp_path / name, meta, _table(rows, extra))


def test_derived_probabilistic_max_probability_among_selected(tmp_path, fake_source_pkg):
    atlas = load(_derived(tmp_path, ["Left_Thing", "Right_*"]))
    out = atlas.labels_on_grid(AFFINE, SHAPE)
    assert (out[0:3] == 1).all() and (out[4:7] == 2).all() and (out[3] == 0).all()
    assert atlas.type == "derived"


def test_derived_sums_patterns_and_restricts(tmp_path, fake_source_pkg):
    # Left_Thing (60) + Left_Other (40) add up; Left_Other alone (40) stays below 50;
    # restrict keeps x < -4 mm (voxels i = 0, 1) only
    out = load(_derived(tmp_path, ["Left_Thing|Left_Other"])).labels_on_grid(AFFINE, SHAPE)
    assert (out[0:3] == 1).all() and (out[3:] == 0).all()
    out = load(_derived(tmp_path, ["Left_Thing|Left_Other"], restrict=["x<-4"], name="der2")).labels_on_grid(
        AFFINE, SHAPE)
    assert (out[0:2] == 1).all() and (out[2:] == 0).all()


def test_derived_labels_kind(tmp_path, fake_source_pkg):
    out = load(_derived(tmp_path, ["Thing_L", "Thing_R"], kind="labels")).labels_on_grid(AFFINE, SHAPE)
    assert (out[0:3] == 1).all() and (out[4:7] == 2).all()


def test_derived_unmatched_label_named(tmp_path, fake_source_pkg):
    with pytest.raises(AtlasError, match=r"region 'r1' selects 'Left_Nope', which matches no label in labels.csv"):
        load(_derived(tmp_path, ["Left_Nope"]))


def test_derived_bad_restrict(tmp_path, fake_source_pkg):
    with pytest.raises(AtlasError, match=r"region 'r1' has restrict 'front'"):
        load(_derived(tmp_path, ["Left_Thing"], restrict=["front"]))


def test_derived_missing_package(tmp_path):
    folder = tmp_path / "der"
    meta = {"Name": "der", "Type": "derived", "Space": "MNI152NLin6Asym",
            "Source": {"Package": "no_such_pkg_xyz", "Image": "a.nii.gz", "Labels": "a.csv"}}
    _write(folder, meta, _table([(1, "r", "limbic", "L", 0, 0, 0)], {"source": ["x"]}))
    with pytest.raises(AtlasError, match="source package 'no_such_pkg_xyz' is not installed"):
        load(folder)


# --- validation errors --------------------------------------------------------------------------

def test_labels_missing_from_table_named(tmp_path):
    img = nib.Nifti1Image(_dseg_labels(), AFFINE)
    meta = {"Name": "bad", "Type": "dseg", "Space": "MNI152NLin2009cAsym"}
    folder = _write(tmp_path / "bad", meta, _table(THREE[:2]), img)
    with pytest.raises(AtlasError, match=r"bad_space-.*_dseg.nii.gz has label value\(s\) \[3\] that .*bad_dseg.tsv"):
        validate(folder)


def test_unknown_network_named(dseg_dir):
    table = _table(THREE)
    table.loc[2, "network"] = "reward"
    table.to_csv(dseg_dir / "tiny_dseg.tsv", sep="\t", index=False, na_rep="n/a")
    with pytest.raises(AtlasError, match=r"tiny_dseg.tsv: region 3 \('vmPFC'\) has network 'reward'"):
        validate(dseg_dir)


def test_bad_hemisphere_named(dseg_dir):
    table = _table(THREE)
    table.loc[0, "hemisphere"] = "left"
    table.to_csv(dseg_dir / "tiny_dseg.tsv", sep="\t", index=False, na_rep="n/a")
    with pytest.raises(AtlasError, match=r"region 1 \('L_amygdala'\) has hemisphere 'left'"):
        validate(dseg_dir)


def test_empty_region_named(tmp_path):
    rows = THREE + [(4, "L_NAcc", "limbic", "L", 0, 0, 0)]
    img = nib.Nifti1Image(_dseg_labels(), AFFINE)
    folder = _write(tmp_path / "e", {"Name": "e", "Type": "dseg", "Space": "MNI152NLin2009cAsym"}, _table(rows), img)
    with pytest.raises(AtlasError, match=r"region\(s\) \['L_NAcc'\] listed in e_dseg.tsv have no voxels"):
        validate(folder)


def test_unknown_space(dseg_dir):
    meta = json.loads((dseg_dir / "atlas.json").read_text())
    meta["Space"] = "MNI"
    (dseg_dir / "atlas.json").write_text(json.dumps(meta))
    with pytest.raises(AtlasError, match=r"atlas.json: unknown 'Space' 'MNI'"):
        validate(dseg_dir)


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({"Name": "x", "Type": "dseg"}, r"lacks required key\(s\) \['Space'\]"),
        ({"Name": "x", "Type": "mesh", "Space": "MNI152NLin6Asym"}, r"'Type' must be one of"),
    ],
)
def test_bad_atlas_json(tmp_path, meta, match):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "atlas.json").write_text(json.dumps(meta))
    with pytest.raises(AtlasError, match=match):
        validate(folder)


def test_invalid_json_and_missing(tmp_path):
    with pytest.raises(AtlasError, match="atlas.json is missing"):
        validate(tmp_path)
    (tmp_path / "atlas.json").write_text("{")
    with pytest.raises(AtlasError, match="is not valid JSON"):
        validate(tmp_path)


def test_table_problems(dseg_dir):
    tsv = dseg_dir / "tiny_dseg.tsv"
    t = _table(THREE)
    t.loc[1, "index"] = 1
    t.to_csv(tsv, sep="\t", index=False, na_rep="n/a")
    with pytest.raises(AtlasError, match=r"region index\(s\) \[1\] appear more than once"):
        validate(dseg_dir)
    t = _table(THREE)
    t.loc[0, "index"] = 0
    t.to_csv(tsv, sep="\t", index=False, na_rep="n/a")
    with pytest.raises(AtlasError, match="'index' must be a positive integer"):
        validate(dseg_dir)
    _table(THREE).drop(columns="network").to_csv(tsv, sep="\t", index=False)
    with pytest.raises(AtlasError, match=r"lacks column\(s\) \['network'\]"):
        validate(dseg_dir)


def test_missing_image(dseg_dir):
    for f in dseg_dir.glob("*.nii.gz"):
        f.unlink()
    with pytest.raises(AtlasError, match="needs exactly one label image"):
        validate(dseg_dir)


def test_validate_notes_missing_licence(tmp_path):
    rows = [(1, "a", "prefrontal", "L", 0.0, 0.0, 0.0)]
    folder = tmp_path / "nolic"
    _write(folder, {"Name": "nolic", "Type": "spheres", "Space": "MNI152NLin2009cAsym", "Radius": 3}, _table(rows))
    meta = json.loads((folder / "atlas.json").read_text())
    del meta["License"]
    (folder / "atlas.json").write_text(json.dumps(meta))
    assert any("no 'License'" in n for n in validate(folder))


def test_atlas_error_is_neurokit_value_error():
    assert issubclass(AtlasError, NeurokitError) and issubclass(AtlasError, ValueError)


# --- coverage -------------------------------------------------------------------------------------

def test_coverage_counts_and_fraction(dseg_dir):
    atlas = load(dseg_dir)
    mask = np.zeros(SHAPE, dtype=bool)
    mask[:3] = True  # keeps region 1 whole, none of region 2, part of region 3
    cov = check_coverage(atlas, AFFINE, SHAPE, mask, min_voxels=1, drop_empty=True)
    t = cov.table.set_index("name")
    assert t.loc["L_amygdala", "n_voxels"] == 18 and t.loc["L_amygdala", "fraction"] == 1.0
    assert t.loc["R_amygdala", "n_voxels"] == 0
    assert t.loc["vmPFC", "n_voxels"] == 6 and t.loc["vmPFC", "fraction"] == pytest.approx(6 / 18)
    assert cov.dropped == ("R_amygdala",) and cov.kept_indices == [1, 3]
    assert not (cov.labels == 2).any() and cov.labels.shape == SHAPE
    assert cov.to_dict()["dropped_regions"] == ["R_amygdala"]
    json.dumps(cov.to_dict())


def test_coverage_error_names_regions(dseg_dir):
    mask = np.zeros(SHAPE, dtype=bool)
    mask[:3] = True
    with pytest.raises(AtlasError, match=r"region\(s\) R_amygdala \(0 voxels\), vmPFC \(6 voxels\) keep fewer than "
                                         r"min_voxels=10 .*drop_empty_regions"):
        check_coverage(load(dseg_dir), AFFINE, SHAPE, mask, min_voxels=10)


def test_coverage_mask_image_and_shape_checks(dseg_dir):
    atlas = load(dseg_dir)
    img = nib.Nifti1Image(np.ones(SHAPE, dtype=np.uint8), AFFINE)
    assert check_coverage(atlas, AFFINE, SHAPE, img).dropped == ()
    with pytest.raises(AtlasError, match="does not match the run grid"):
        check_coverage(atlas, AFFINE, SHAPE, nib.Nifti1Image(np.ones((7, 8, 8), dtype=np.uint8), AFFINE))
    with pytest.raises(AtlasError, match="mask shape"):
        check_coverage(atlas, AFFINE, SHAPE, np.ones((9, 8, 7)))


# --- spaces ---------------------------------------------------------------------------------------

def test_check_space(dseg_dir, caplog):
    atlas = load(dseg_dir)
    assert check_space(atlas, "MNI152NLin2009cAsym") == "same"
    with caplog.at_level(logging.INFO, logger="neurokit.atlases"):
        assert check_space(atlas, "MNI152NLin6Asym") == "compatible"
    assert "treated as the same MNI152 space" in caplog.text
    with pytest.raises(AtlasError, match=r"is in space 'MNI152NLin2009cAsym' but the run is in 'MNIColin27'.*allow_resample"):
        check_space(atlas, "MNIColin27")
    with caplog.at_level(logging.WARNING, logger="neurokit.atlases"):
        assert check_space(atlas, "MNIColin27", allow_resample=True) == "resampled"


# --- registry ---------------------------------------------------------------------------------------

def test_env_path_lists_and_loads(tmp_path, dseg_dir, monkeypatch):
    monkeypatch.setenv("NEUROKIT_ATLAS_PATH", str(dseg_dir.parent))
    assert "tiny" in atlases.available()
    assert load("tiny").name == "tiny"


def test_unknown_name_suggests(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    with pytest.raises(AtlasError, match="no atlas named 'pfclimbi'; did you mean 'pfclimbic'"):
        load("pfclimbi")
    with pytest.raises(AtlasError, match="is not an atlas folder"):
        load(str(tmp_path / "nothing"))


def test_register(tmp_path, spheres_dir, monkeypatch):
    monkeypatch.setattr("neurokit.atlases._registry.REGISTERED", [])
    assert register(spheres_dir) == ["balls"]
    assert "balls" in atlases.available()
    assert load("balls").n_regions == 2
    other = tmp_path / "elsewhere" / "balls"
    other.parent.mkdir()
    import shutil

    shutil.copytree(spheres_dir, other)
    with pytest.raises(AtlasError, match="the name 'balls' is already used by"):
        register(other)
    with pytest.raises(AtlasError, match="holds no atlas folder"):
        register(tmp_path / "elsewhere" / "none")


# --- the remaining error paths -------------------------------------------------------------------

def _write_raw(folder, meta_text, tsv_text=None, name="x"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "atlas.json").write_text(meta_text)
    if tsv_text is not None:
        (folder / f"{name}_dseg.tsv").write_text(tsv_text)
    return folder


HEADER = "index\tname\tnetwork\themisphere\tx\ty\tz\n"
SPH = '{"Name": "x", "Type": "spheres", "Space": "MNI152NLin6Asym", "Radius": 3}'


@pytest.mark.parametrize(
    ("meta", "tsv", "match"),
    [
        ("[1, 2]", None, "must hold a JSON object"),
        (SPH, HEADER, "has no regions"),
        (SPH, HEADER + "1\t\tlimbic\tL\t0\t0\t0\n", "region 1 has no name"),
        (SPH, HEADER + "1\ta\tlimbic\tL\t0\t0\t0\n2\ta\tlimbic\tL\t9\t9\t9\n", r"name\(s\) \['a'\] appear more"),
    ],
)
def test_more_table_and_json_errors(tmp_path, meta, tsv, match):
    with pytest.raises(AtlasError, match=match):
        validate(_write_raw(tmp_path / "x", meta, tsv))


def test_dseg_image_must_be_3d_integers(tmp_path):
    meta = {"Name": "d", "Type": "dseg", "Space": "MNI152NLin2009cAsym"}
    folder = _write(tmp_path / "d", meta, _table(THREE), nib.Nifti1Image(np.zeros(SHAPE + (2,), np.int16), AFFINE))
    with pytest.raises(AtlasError, match="must be a 3D label image"):
        validate(folder)
    for f in folder.glob("*.nii.gz"):
        f.unlink()
    nib.save(nib.Nifti1Image(_dseg_labels() + np.float32(0.5), AFFINE), folder / "d_space-x_dseg.nii.gz")
    with pytest.raises(AtlasError, match="holds non-integer values"):
        validate(folder)


def test_probseg_image_must_be_4d(tmp_path):
    rows = [(1, "a", "prefrontal", "L", 0, 0, 0)]
    meta = {"Name": "p", "Type": "probseg", "Space": "MNI152NLin6Asym"}
    folder = _write(tmp_path / "p", meta, _table(rows), nib.Nifti1Image(np.ones(SHAPE, np.float32), AFFINE), "probseg")
    with pytest.raises(AtlasError, match="has 0 volumes"):
        validate(folder)


def test_truncated_probability_image(tmp_path):
    from neurokit.atlases._load import _read_volumes

    path = tmp_path / "p.nii"
    nib.save(nib.Nifti1Image(np.ones(SHAPE + (3,), np.float32), AFFINE), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(AtlasError, match="is truncated at volume 2"):
        _read_volumes(path, [2])
    nib.save(nib.Nifti1Image(np.ones(SHAPE, np.float32), AFFINE), tmp_path / "q.nii")
    with pytest.raises(AtlasError, match="must be a 4D probability image"):
        _read_volumes(tmp_path / "q.nii", [0])


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("not a dict", "needs a 'Source' object"),
        ({"Package": "fakeatlaspkg", "Labels": "data/labels.csv"}, "'Source' needs 'Package' and 'Image'"),
        ({"Package": "fakeatlaspkg", "Image": "data/nope.nii.gz", "Labels": "data/labels.csv"},
         "'data/nope.nii.gz' is not in the installed package 'fakeatlaspkg'"),
        ({"Package": "fakeatlaspkg", "Image": "data/prob.nii.gz", "Labels": "data/labels.csv", "Kind": "mesh"},
         "Source 'Kind' must be 'probabilistic' or 'labels'"),
        ({"Package": "fakeatlaspkg", "Image": "data/prob.nii.gz", "Labels": "__init__.py"},
         "must have columns index,name"),
    ],
)
def test_derived_source_errors(tmp_path, fake_source_pkg, source, match):
    meta = {"Name": "der", "Type": "derived", "Space": "MNI152NLin6Asym", "Source": source}
    folder = _write(tmp_path / "der", meta, _table([(1, "r", "limbic", "L", 0, 0, 0)], {"source": ["Left_Thing"]}))
    with pytest.raises(AtlasError, match=match):
        validate(folder)


def test_validate_clean_and_name_mismatch_note(dseg_dir, tmp_path):
    assert validate(dseg_dir) == ["tiny_dseg.tsv: region centres computed from the image (centre of mass)."]
    import shutil

    other = tmp_path / "renamed"
    shutil.copytree(dseg_dir, other)
    assert any("differs from the folder name" in n for n in validate(other))


def test_registered_name_wins_over_folder_in_working_directory(tmp_path, spheres_dir, monkeypatch):
    import shutil

    shutil.copytree(spheres_dir, tmp_path / "work" / "pfclimbic-spheres")
    monkeypatch.chdir(tmp_path / "work")
    assert load("pfclimbic-spheres").n_regions == 25
    assert load("./pfclimbic-spheres").n_regions == 2


# --- the on-disk cache of built label images ----------------------------------------------------

@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("NEUROKIT_CACHE_DIR", str(folder))
    return folder / "atlases"


def _entries(cache):
    return sorted(cache.glob("*.npz")) if cache.is_dir() else []


def _no_building(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the atlas image was built again instead of read from the cache")

    for name in ("_load_dseg", "_load_probseg", "_load_derived"):
        monkeypatch.setattr(f"neurokit.atlases._load.{name}", fail)


def _same_atlas(a, b):
    np.testing.assert_array_equal(a.labels_img.get_fdata(), b.labels_img.get_fdata())
    np.testing.assert_array_equal(a.labels_img.affine, b.labels_img.affine)
    pd.testing.assert_frame_equal(a.regions, b.regions)
    np.testing.assert_array_equal(a.labels_on_grid(AFFINE, SHAPE), b.labels_on_grid(AFFINE, SHAPE))


@pytest.mark.parametrize("kind", ["dseg", "derived"])
def test_cached_atlas_equals_the_built_one(tmp_path, cache, monkeypatch, fake_source_pkg, kind):
    folder = tmp_path / "tiny" if kind == "dseg" else _derived(tmp_path, ["Left_Thing", "Right_*"])
    if kind == "dseg":
        _write(folder, {"Name": "tiny", "Type": "dseg", "Space": "MNI152NLin2009cAsym"}, _table(THREE),
               nib.Nifti1Image(_dseg_labels(), AFFINE))
    monkeypatch.setenv("NEUROKIT_CACHE_DIR", "")
    built, notes_built = atlases._load.read_atlas(folder)
    assert _entries(cache) == []  # switched off: nothing written
    monkeypatch.setenv("NEUROKIT_CACHE_DIR", str(cache.parent))
    first = load(folder)
    assert len(_entries(cache)) == 1
    _no_building(monkeypatch)
    again, notes_again = atlases._load.read_atlas(folder)
    _same_atlas(built, first)
    _same_atlas(built, again)
    assert notes_again == notes_built  # "centres computed" is reported from the cache too
    assert built.regions[["x", "y", "z"]].notna().all().all()


def test_changed_atlas_files_are_rebuilt(dseg_dir, cache):
    first = load(dseg_dir)
    table = pd.read_csv(dseg_dir / "tiny_dseg.tsv", sep="\t")
    table.loc[0, "name"] = "L_amygdala_renamed"
    table.to_csv(dseg_dir / "tiny_dseg.tsv", sep="\t", index=False, na_rep="n/a")
    assert load(dseg_dir).regions["name"].iloc[0] == "L_amygdala_renamed"
    # the image rewritten at once (same size, maybe the same timestamp): contents decide
    labels = _dseg_labels()
    labels[labels == 3] = 0
    labels[0, 0, 0] = 3
    image = next(dseg_dir.glob("*_dseg.nii.gz"))
    nib.save(nib.Nifti1Image(labels, AFFINE), image)
    changed = load(dseg_dir)
    assert not np.array_equal(changed.labels_on_grid(AFFINE, SHAPE), first.labels_on_grid(AFFINE, SHAPE))
    np.testing.assert_array_equal(changed.labels_on_grid(AFFINE, SHAPE), labels)
    assert len(_entries(cache)) == 3


def test_a_malformed_atlas_is_never_cached(tmp_path, cache):
    labels = _dseg_labels()
    labels[0, 0, 0] = 9  # a label the table does not list
    folder = _write(tmp_path / "bad", {"Name": "bad", "Type": "dseg", "Space": "MNI152NLin2009cAsym"},
                    _table(THREE), nib.Nifti1Image(labels, AFFINE))
    for _ in range(2):
        with pytest.raises(AtlasError, match=r"label value\(s\) \[9\]"):
            load(folder)
    assert _entries(cache) == []


def test_damaged_cache_entries_are_rebuilt(dseg_dir, cache):
    from neurokit.atlases._cache import _read

    reference = load(dseg_dir)
    [entry] = _entries(cache)
    good = _read(entry)
    assert good is not None and good[0].ndim == 3
    for damage in (b"", b"not a zip file", entry.read_bytes()[:100]):
        entry.write_bytes(damage)
        assert _read(entry) is None  # never trusted
        _same_atlas(load(dseg_dir), reference)
        rebuilt = _read(entry)  # and written again, whole
        assert rebuilt is not None and np.array_equal(rebuilt[0], good[0])
    # an entry with the wrong arrays (e.g. from another tool) is not trusted either
    np.savez(entry, labels=np.zeros((2, 2)), affine=np.eye(4), centres=np.zeros((3, 3)), filled=True)
    assert _read(entry) is None
    _same_atlas(load(dseg_dir), reference)
    assert np.array_equal(_read(entry)[0], good[0])


def test_unwritable_cache_is_ignored(dseg_dir, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache folder cannot be created under a file\n")
    monkeypatch.setenv("NEUROKIT_CACHE_DIR", str(blocker))
    atlas = load(dseg_dir)
    np.testing.assert_array_equal(atlas.labels_on_grid(AFFINE, SHAPE), _dseg_labels())


def test_default_cache_folder_follows_xdg(monkeypatch, tmp_path):
    from neurokit.atlases._cache import cache_dir

    monkeypatch.delenv("NEUROKIT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "neurokit" / "atlases"
    monkeypatch.setenv("NEUROKIT_CACHE_DIR", "  ")
    assert cache_dir() is None


def test_content_hash_names_what_the_atlas_draws():
    spheres, image = load("pfclimbic-spheres"), load("pfclimbic")
    assert len(spheres.content_hash()) == 16 and spheres.content_hash() != image.content_hash()
    assert load("pfclimbic").content_hash() == image.content_hash()  # a fresh load: the same content
    assert pickle.loads(pickle.dumps(image)).content_hash() == image.content_hash()
