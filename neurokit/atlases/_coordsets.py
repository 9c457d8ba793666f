"""Region tables for nilearn's offline coordinate sets (Power 2011, Dosenbach 2010, Seitzman 2018).

Used once to write the bundled ``atlases/<name>/<name>_dseg.tsv`` files; a test checks that
they still match nilearn's data. Networks are mapped from the sets' own labels where they allow.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: Dosenbach 2010 region names taken as prefrontal or limbic (anatomical names in the set).
DOSENBACH_NETWORKS = {
    "vmPFC": "prefrontal", "aPFC": "prefrontal", "vent aPFC": "prefrontal", "mPFC": "prefrontal",
    "dlPFC": "prefrontal", "vlPFC": "prefrontal", "vPFC": "prefrontal", "ACC": "prefrontal",
    "dACC": "prefrontal", "ant insula": "limbic", "thalamus": "limbic",
}
#: Seitzman 2018 anatomical classes (``*_anatomicalLabels.txt``) taken as limbic.
SEITZMAN_LIMBIC = {3: "hippocampus", 4: "amygdala", 6: "thalamus"}


def nilearn_data_dir() -> Path:
    """nilearn's packaged data folder (found without importing nilearn)."""
    import importlib.util

    spec = importlib.util.find_spec("nilearn")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def _hemi(x: float) -> str:
    return "L" if x < -2 else "R" if x > 2 else "bilateral"


def power_2011(data_dir: Path) -> pd.DataFrame:
    """Power 2011 264 ROIs; nilearn ships no network labels, so every region is 'other'."""
    df = pd.read_csv(data_dir / "power_2011.csv")
    return pd.DataFrame({
        "index": df["ROI"].astype(int), "name": [f"power_{i:03d}" for i in df["ROI"]], "network": "other",
        "hemisphere": [_hemi(x) for x in df["X"]], "x": df["X"], "y": df["Y"], "z": df["Z"],
    })


def dosenbach_2010(data_dir: Path) -> pd.DataFrame:
    """Dosenbach 2010 160 ROIs; prefrontal/limbic from the anatomical names (``DOSENBACH_NETWORKS``)."""
    df = pd.read_csv(data_dir / "dosenbach_2010.csv")
    return pd.DataFrame({
        "index": df["number"].astype(int),
        "name": [f"{n.replace(' ', '_')}_{i:03d}" for n, i in zip(df["name"], df["number"])],
        "network": [DOSENBACH_NETWORKS.get(n, "other") for n in df["name"]],
        "hemisphere": [_hemi(x) for x in df["x"]], "x": df["x"], "y": df["y"], "z": df["z"],
        "source_network": df["network"],
    })


def seitzman_2018(data_dir: Path) -> pd.DataFrame:
    """Seitzman 2018 300 ROIs; limbic for hippocampus, amygdala, thalamus and reward-network
    basal ganglia (ventral striatum), prefrontal for reward-network cortex (orbitofrontal)."""
    df = pd.read_csv(data_dir / "seitzman_2018_ROIs_300inVol_MNI_allInfo.txt", sep=" ")
    anat = pd.read_csv(data_dir / "seitzman_2018_ROIs_anatomicalLabels.txt").iloc[:, 0].astype(int).to_numpy()
    nets = []
    for a, net in zip(anat, df["netName"]):
        if a in SEITZMAN_LIMBIC or (a == 5 and net == "Reward"):
            nets.append("limbic")
        elif a in (0, 1, 2) and net == "Reward":
            nets.append("prefrontal")
        else:
            nets.append("other")
    idx = range(1, len(df) + 1)
    return pd.DataFrame({
        "index": list(idx), "name": [f"seitzman_{i:03d}" for i in idx], "network": nets,
        "hemisphere": [_hemi(x) for x in df["x"]], "x": df["x"], "y": df["y"], "z": df["z"],
        "radius": df["radius(mm)"].astype(float), "source_network": df["netName"],
    })


COORDINATE_SETS = {"power2011": power_2011, "dosenbach2010": dosenbach_2010, "seitzman2018": seitzman_2018}
