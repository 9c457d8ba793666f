"""Shared fixtures: a seeded random generator and tiny images with unequal sides; a private atlas cache;
an atlas in another space than the simulated runs."""

import json
import os

import numpy as np
import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_atlas_cache(tmp_path_factory):
    """Tests (and the commands they start) never read or write the user's ~/.cache/neurokit."""
    name = "NEUROKIT_CACHE_DIR"
    before = os.environ.get(name)
    os.environ[name] = str(tmp_path_factory.mktemp("neurokit-cache"))
    yield
    if before is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = before


@pytest.fixture
def rng():
    """Seeded generator; tests never touch numpy's global RNG."""
    return np.random.default_rng(0)


@pytest.fixture
def colin_atlas(tmp_path):
    """A 4-sphere atlas folder in MNIColin27: usable on no run the simulator writes (MNI152NLin2009cAsym)."""
    folder = tmp_path / "colin"
    folder.mkdir()
    (folder / "atlas.json").write_text(json.dumps({"Name": "colin", "Type": "spheres", "Space": "MNIColin27",
                                                   "Radius": 8, "License": "CC0"}))
    rows = ["index\tname\tnetwork\themisphere\tx\ty\tz", "1\tL_pfc\tprefrontal\tL\t-40\t30\t30",
            "2\tR_pfc\tprefrontal\tR\t40\t30\t30", "3\tL_amy\tlimbic\tL\t-22\t-4\t-18",
            "4\tR_amy\tlimbic\tR\t22\t-4\t-18"]
    (folder / "colin_dseg.tsv").write_text("\n".join(rows) + "\n")
    return folder
