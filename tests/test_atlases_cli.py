"""``neurokit atlases list|show|validate|add`` and atlases published through the entry-point group."""

import json
import sys

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import neurokit.atlases as atlases
from neurokit.cli import main

SHAPE = (7, 8, 9)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def _sphere_atlas(folder, name, network="limbic"):
    folder.mkdir(parents=True)
    (folder / "atlas.json").write_text(json.dumps(
        {"Name": name, "Type": "spheres", "Space": "MNI152NLin2009cAsym", "Radius": 3,
         "Reference": "test", "License": "CC0"}))
    pd.DataFrame({"index": [1, 2], "name": ["a", "b"], "network": ["prefrontal", network],
                  "hemisphere": ["L", "R"], "x": [2, 8], "y": [2, 8], "z": [2, 8]}).to_csv(
        folder / f"{name}_dseg.tsv", sep="\t", index=False)
    return folder


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("NEUROKIT_ATLAS_PATH", raising=False)


def test_list_shows_bundled_and_user_atlases(tmp_path, monkeypatch, capsys):
    _sphere_atlas(tmp_path / "lab" / "mine", "mine")
    _sphere_atlas(tmp_path / "lab" / "broken", "broken", network="reward")
    monkeypatch.setenv("NEUROKIT_ATLAS_PATH", str(tmp_path / "lab"))
    assert main(["atlases", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "REGIONS", "SPACE", "ORIGIN"]
    at = next(i for i, l in enumerate(lines) if l.startswith("pfclimbic "))
    assert "derived" in lines[at] and "26" in lines[at] and "MNI152NLin6Asym" in lines[at]
    assert lines[at + 1].split() == ["networks:", "prefrontal:10", "limbic:10", "other:6"]
    assert lines[at + 2].lstrip().startswith("licence:")
    assert any(l.startswith("pfclimbic-spheres ") for l in out.splitlines())
    assert any(l.startswith("mine ") and "NEUROKIT_ATLAS_PATH" in l for l in out.splitlines())
    assert any(l.startswith("broken ") and "BROKEN" in l for l in out.splitlines())
    assert atlases.load("mine").n_regions == 2


def test_show_prints_region_table(capsys):
    assert main(["atlases", "show", "pfclimbic-spheres"]) == 0
    out = capsys.readouterr().out
    assert "L_amygdala" in out and "Seitzman" in out and "radius" in out


def test_validate_ok_and_coverage(tmp_path, capsys):
    folder = _sphere_atlas(tmp_path / "mine", "mine")
    mask = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(np.ones(SHAPE, dtype=np.uint8), AFFINE), mask)
    assert main(["atlases", "validate", str(folder), "--mask", str(mask), "--min-voxels", "1"]) == 0
    out = capsys.readouterr().out
    assert "OK: mine (spheres, 2 regions" in out and "every region keeps at least 1" in out
    assert main(["atlases", "validate", str(folder), "--mask", str(mask), "--min-voxels", "500"]) == 1
    assert "FAIL: region(s) a, b" in capsys.readouterr().out


def test_validate_broken_names_file_and_region(tmp_path, capsys):
    folder = _sphere_atlas(tmp_path / "bad", "bad", network="reward")
    assert main(["atlases", "validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "bad_dseg.tsv: region 2 ('b') has network 'reward'" in err


def test_add_copies_into_user_path(tmp_path, capsys):
    folder = _sphere_atlas(tmp_path / "src" / "mine", "mine")
    assert main(["atlases", "add", str(folder)]) == 0
    assert (tmp_path / "xdg" / "neurokit" / "atlases" / "mine" / "atlas.json").is_file()
    assert "mine" in atlases.available()
    assert main(["atlases", "add", str(folder)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["atlases", "add", str(folder), "--force"]) == 0
    dest = tmp_path / "elsewhere"
    assert main(["atlases", "add", str(folder), "--dest", str(dest)]) == 0
    assert (dest / "mine" / "mine_dseg.tsv").is_file()


def test_add_refuses_invalid(tmp_path, capsys):
    folder = _sphere_atlas(tmp_path / "src" / "bad", "bad", network="reward")
    assert main(["atlases", "add", str(folder)]) == 2
    assert not (tmp_path / "xdg" / "neurokit" / "atlases" / "bad").exists()


# --- entry points ---------------------------------------------------------------------------------

def _install_plugin(site, value):
    """A tiny installed distribution: a package holding one atlas + a dist-info with entry points."""
    pkg = site / "nkplugin_atlases"
    _sphere_atlas(pkg / "plugged", "plugged")
    (pkg / "__init__.py").write_text(
        "from pathlib import Path\n\ndef atlas_dirs():\n    return [Path(__file__).parent]\n")
    dist = site / "nkplugin_atlases-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nkplugin-atlases\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[neurokit.atlases]\nnkplugin = {value}\n")


@pytest.mark.parametrize("value", ["nkplugin_atlases", "nkplugin_atlases:atlas_dirs"])
def test_entry_point_package_provides_atlases(tmp_path, monkeypatch, capsys, value):
    site = tmp_path / "site"
    site.mkdir()
    _install_plugin(site, value)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "nkplugin_atlases", raising=False)
    assert "plugged" in atlases.available()
    assert atlases.load("plugged").n_regions == 2
    assert main(["atlases", "list"]) == 0
    assert any(l.startswith("plugged ") and "entry point 'nkplugin'" in l
               for l in capsys.readouterr().out.splitlines())


def test_broken_entry_point_is_logged_not_fatal(tmp_path, monkeypatch, caplog):
    site = tmp_path / "site"
    site.mkdir()
    _install_plugin(site, "nkplugin_missing_module")
    monkeypatch.syspath_prepend(str(site))
    assert "pfclimbic" in atlases.available()
    assert "atlas entry point 'nkplugin'" in caplog.text


@pytest.mark.parametrize("columns", [80, 120, 250])
def test_list_keeps_every_licence_word(monkeypatch, capsys, columns):
    """The licence wraps below its atlas, never cut: "non-commercial use" is the word that matters."""
    from neurokit.atlases._load import read_description
    from neurokit.atlases._registry import sources

    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(["atlases", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= columns for line in lines), max(lines, key=len)
    assert not any("…" in line for line in lines)
    for name, (_, folder) in sources().items():
        at = next(i for i, line in enumerate(lines) if line.split()[:1] == [name])
        block = []
        for line in lines[at + 1:]:
            if not line.startswith(" "):
                break
            block.append(line.strip())
        text = " ".join(block)
        licence = " ".join(read_description(folder)[0]["License"].split())
        assert "licence: " + licence in " ".join(text.split()), (name, block)
    pfc = " ".join(lines[next(i for i, line in enumerate(lines) if line.startswith("pfclimbic ")) + 2:][:4])
    assert "non-commercial use" in " ".join(pfc.split())
