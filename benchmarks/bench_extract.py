"""Benchmark: streamed extraction against the decompression floor and against nilearn.

Generates (once, cached in ``--data-dir``) a few 2 mm MNI-grid BOLD runs (97 x 115 x 97,
200 volumes, int16, gzip), a 50-region label image, a brain mask and confounds, then
runs, each in its own process over the same runs (imports excluded from per-run times):

  a   streaming decompression alone (isal, threaded reader as neurokit uses; ``a1`` the
      single-threaded reader, for reference)
  b   neurokit: extract_signals (decompress_threads=1) + denoise.clean + connectivity_matrix
  c   nilearn: NiftiLabelsMasker (same cleaning) + ConnectivityMeasure

and prints per-run wall and CPU times, each process's peak RSS and the ratios b/a and c/b.
Targets (issue 4): b/a <= 2.0, c/b >= 5, peak RSS of b < 250 MB.

    python benchmarks/bench_extract.py --data-dir /tmp/neurokit-bench [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

SHAPE = (97, 115, 97)
AFFINE = [[2.0, 0, 0, -96.0], [0, 2.0, 0, -132.0], [0, 0, 2.0, -78.0], [0, 0, 0, 1.0]]
T_R = 2.0
N_REGIONS = 50
N_CONFOUNDS = 8
CLEANING = dict(detrend=True, standardize="zscore_sample", high_pass=0.01, low_pass=0.08)


# ----------------------------------------------------------------------------- data


def _brain(np):
    grid = np.indices(SHAPE, dtype=np.float32)
    centre = np.array([48, 63, 40], dtype=np.float32)[:, None, None, None]
    radii = np.array([36, 46, 36], dtype=np.float32)[:, None, None, None]
    radius = np.sqrt((((grid - centre) / radii) ** 2).sum(0))
    return radius


def generate(data_dir: Path, n_runs: int, n_volumes: int) -> list[Path]:
    """Write runs, labels, mask and confounds to ``data_dir`` unless already there."""
    import nibabel as nib
    import numpy as np
    from isal import igzip
    from scipy import ndimage
    from scipy.spatial import cKDTree

    data_dir.mkdir(parents=True, exist_ok=True)
    affine = np.array(AFFINE)
    radius = _brain(np)
    mask = radius <= 1
    labels_path = data_dir / "atlas_dseg.nii.gz"
    mask_path = data_dir / "brain_mask.nii.gz"
    if not labels_path.exists():
        rng = np.random.default_rng(1234)
        inside = np.argwhere(mask)
        seeds = inside[rng.choice(len(inside), N_REGIONS, replace=False)]
        grey = mask & (radius > 0.5)  # a "cortical" shell and deep "nuclei" are labelled
        labels = np.zeros(SHAPE, np.int16)
        labels[grey] = cKDTree(seeds).query(np.argwhere(grey))[1] + 1
        nib.Nifti1Image(labels, affine).to_filename(labels_path)
        nib.Nifti1Image(mask.astype(np.uint8), affine).to_filename(mask_path)

    runs = []
    for i in range(n_runs):
        path = data_dir / f"sub-{i + 1:02d}_task-rest_bold_{n_volumes}vol.nii.gz"
        runs.append(path)
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        baseline = (800 + 4000 * ndimage.gaussian_filter(rng.normal(size=SHAPE), 4))[mask]
        n_networks = 6
        maps = np.stack(
            [ndimage.gaussian_filter(rng.normal(size=SHAPE), 3)[mask] for _ in range(n_networks)]
        )
        maps *= 15 / maps.std()
        courses = ndimage.gaussian_filter1d(rng.normal(size=(n_volumes, n_networks)), 3, axis=0)
        courses /= courses.std(0)
        confounds = ndimage.gaussian_filter1d(
            rng.normal(size=(n_volumes, N_CONFOUNDS)), 2, axis=0
        )
        np.save(path.with_suffix("").with_suffix(".confounds.npy"), confounds)

        header = nib.Nifti1Header()
        header.set_data_shape(SHAPE + (n_volumes,))
        header.set_data_dtype(np.int16)
        header.set_qform(affine, 1)
        header.set_sform(affine, 4)
        header.set_xyzt_units("mm", "sec")
        header.set_zooms((2.0, 2.0, 2.0, T_R))
        header["vox_offset"] = 352
        head = io.BytesIO()
        header.write_to(head)
        volume = np.zeros(SHAPE, np.int16, order="F")
        tmp = path.with_name(path.name + ".part")
        with igzip.open(tmp, "wb", compresslevel=1) as out:
            out.write(head.getvalue())
            for t in range(n_volumes):
                values = baseline + courses[t] @ maps + rng.normal(scale=20, size=baseline.size)
                values += 10 * confounds[t, 0]  # some motion-like variance to regress out
                volume[mask] = np.round(values)
                out.write(volume.tobytes(order="F"))
        tmp.rename(path)
    return runs


def _confounds_path(run: Path) -> Path:
    return run.with_suffix("").with_suffix(".confounds.npy")


# ----------------------------------------------------------------------------- children


def _child_decompress(runs, threaded: bool):
    from isal import igzip, igzip_threaded

    buffer = bytearray(32 * 2**20)
    view = memoryview(buffer)
    times, cpus, sizes = [], [], []
    for run in runs:
        start, cpu = time.perf_counter(), time.process_time()
        opener = (lambda p: igzip_threaded.open(p, "rb", threads=1)) if threaded else (
            lambda p: igzip.open(p, "rb")
        )
        total = 0
        with opener(run) as stream:
            while n := stream.readinto(view):
                total += n
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        sizes.append(total)
    reader = "igzip_threaded" if threaded else "igzip"
    return {"times": times, "cpu": cpus, "bytes": sizes, "what": f"isal {reader}"}


def _child_neurokit(runs, labels, mask):
    import numpy as np

    from neurokit.extract import extract_signals

    try:
        from neurokit.denoise import clean as nk_clean

        def clean(signals, confounds):
            # min_volumes=2: short --volumes runs are for trying the benchmark out
            return nk_clean(signals, confounds, t_r=T_R, filter="butterworth", min_volumes=2,
                            **CLEANING).signals

        clean_name = "neurokit.denoise.clean"
    except ImportError:
        from nilearn.signal import clean as nl_clean

        def clean(signals, confounds):
            return nl_clean(signals, confounds=confounds, t_r=T_R, **CLEANING)

        clean_name = "nilearn.signal.clean (fallback)"
    try:
        from neurokit.connectivity import connectivity_matrix

        def correlation(ts):
            return connectivity_matrix(ts, kind="correlation")

        conn_name = "neurokit.connectivity.connectivity_matrix"
    except ImportError:

        def correlation(ts):
            return np.corrcoef(ts, rowvar=False)

        conn_name = "numpy.corrcoef (fallback)"

    times, cpus, matrices = [], [], []
    for run in runs:
        start, cpu = time.perf_counter(), time.process_time()
        # a background decompression thread: this process runs alone and a core is idle; the
        # default (0, which the participant pipeline uses) costs less CPU and a little more wall
        extraction = extract_signals(run, labels, mask, decompress_threads=1)
        cleaned = clean(extraction.signals, np.load(_confounds_path(run)))
        matrix = correlation(cleaned)
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        matrices.append(matrix.tolist())
    return {"times": times, "cpu": cpus, "what": f"extract_signals + {clean_name} + {conn_name}",
            "matrices": matrices}


def _child_nilearn(runs, labels, mask):
    import warnings

    import numpy as np
    from nilearn.connectome import ConnectivityMeasure
    from nilearn.maskers import NiftiLabelsMasker

    warnings.simplefilter("ignore")
    times, cpus, matrices = [], [], []
    for run in runs:
        start, cpu = time.perf_counter(), time.process_time()
        masker = NiftiLabelsMasker(str(labels), mask_img=str(mask), strategy="mean", t_r=T_R,
                                   **CLEANING)
        series = masker.fit_transform(str(run), confounds=np.load(_confounds_path(run)))
        matrix = ConnectivityMeasure(kind="correlation").fit_transform([series])[0]
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        matrices.append(matrix.tolist())
    return {"times": times, "cpu": cpus, "what": "NiftiLabelsMasker + ConnectivityMeasure",
            "matrices": matrices}


def _child_reducers(runs, labels, mask):
    """Time neurokit's reduction and ``np.add.reduceat`` on the same chunks of the first run."""
    import nibabel as nib
    import numpy as np

    from neurokit.extract._reduce import RegionReducer
    from neurokit.extract._stream import DEFAULT_CHUNK_BYTES, iter_volume_chunks, read_bold_header

    header = read_bold_header(runs[0])
    flat = np.asarray(nib.load(labels).dataobj).ravel(order="F").astype(np.int64)
    flat[np.asarray(nib.load(mask).dataobj).ravel(order="F") == 0] = 0
    voxels = np.flatnonzero(flat)
    ids, region = np.unique(flat[voxels], return_inverse=True)
    reducer = RegionReducer(voxels, region, ids.size, header.n_volumes, header.n_voxels, None)
    order = np.argsort(region, kind="stable")
    sorted_voxels = voxels[order]
    starts = np.searchsorted(region[order], np.arange(ids.size))
    names = ("gather + CSR matmul (neurokit)", "gather by region + add.reduceat int64")
    spent = dict.fromkeys(names, 0.0)
    chunk_volumes = max(1, DEFAULT_CHUNK_BYTES // (header.n_voxels * header.dtype.itemsize))
    for _, chunk in iter_volume_chunks(header, chunk_volumes):
        start = time.perf_counter()
        a = reducer._region_sums(chunk.T[voxels])
        mid = time.perf_counter()
        b = np.add.reduceat(chunk[:, sorted_voxels], starts, axis=1, dtype=np.int64)
        end = time.perf_counter()
        assert np.array_equal(a, b.T)
        spent[names[0]] += mid - start
        spent[names[1]] += end - mid
    return {"times": [], "reducers": spent, "what": "reduction only, first run"}


def child_main(mode: str, data_dir: Path, runs: list[Path]) -> None:
    labels, mask = data_dir / "atlas_dseg.nii.gz", data_dir / "brain_mask.nii.gz"
    if mode.startswith("generate:"):
        n_runs, n_volumes = map(int, mode.split(":")[1:])
        paths = generate(data_dir, n_runs, n_volumes)
        print(json.dumps({"runs": [str(p) for p in paths]}))
        return
    if mode == "a":
        result = _child_decompress(runs, threaded=True)
    elif mode == "a1":
        result = _child_decompress(runs, threaded=False)
    elif mode == "b":
        result = _child_neurokit(runs, labels, mask)
    elif mode == "c":
        result = _child_nilearn(runs, labels, mask)
    else:
        result = _child_reducers(runs, labels, mask)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["vm_hwm_mb"] = _vm_hwm_mb()
    print(json.dumps(result))


def _vm_hwm_mb() -> float:
    """Peak RSS of this process's own address space (Linux), immune to the parent's size.

    ``ru_maxrss`` survives ``exec``: a child starts with its parent's high-water mark, so
    the driver stays small (data generation runs in a child too) and both are printed.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# ----------------------------------------------------------------------------- driver


def _run_child(mode, args, runs):
    command = [sys.executable, __file__, "--child", mode, "--data-dir", str(args.data_dir)]
    command += ["--runs-list", *map(str, runs)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"child {mode} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True,
                        help="where the generated runs are cached")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--volumes", type=int, default=200)
    parser.add_argument("--modes", default="a,a1,b,c,r",
                        help="processes to run, comma-separated (default: a,a1,b,c,r)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--runs-list", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child, args.data_dir, args.runs_list)
        return

    start = time.perf_counter()
    generated = _run_child(f"generate:{args.runs}:{args.volumes}", args, [])
    runs = [Path(p) for p in generated["runs"]]
    print(f"data: {len(runs)} runs in {args.data_dir} ({time.perf_counter() - start:.1f} s to "
          f"prepare), {', '.join(f'{r.stat().st_size / 1e6:.0f}' for r in runs)} MB compressed")
    for run in runs:  # same page-cache state for every child
        with open(run, "rb") as fh:
            while fh.read(2**24):
                pass
    load_before = os.getloadavg()
    modes = args.modes.split(",")
    results = {mode: _run_child(mode, args, runs) for mode in modes}
    load_after = os.getloadavg()

    names = {"a": "a  decompress", "a1": "a1 decompress", "b": "b  neurokit", "c": "c  nilearn"}
    print(f"cpus: {os.cpu_count()}, load average before {load_before[0]:.2f} "
          f"after {load_after[0]:.2f} (1 min)")
    print(f"{'process':16s} {'per-run wall seconds':>28s} {'mean':>6s} {'cpu s':>6s} "
          f"{'maxrss MB':>9s} {'VmHWM MB':>8s}  what")
    mean, cpu = {}, {}
    for mode in [m for m in modes if m != "r"]:
        res = results[mode]
        mean[mode] = sum(res["times"]) / len(res["times"])
        cpu[mode] = sum(res["cpu"]) / len(res["cpu"])
        per_run = " ".join(f"{t:6.2f}" for t in res["times"])
        print(f"{names[mode]:16s} {per_run:>28s} {mean[mode]:6.2f} {cpu[mode]:6.2f} "
              f"{res['peak_rss_mb']:9.0f} {res['vm_hwm_mb']:8.0f}  {res['what']}")
    print("(cpu s: mean per-run CPU time of all the process's threads; on a busy machine the")
    print(" wall-time ratios swing with other processes' load, the CPU-time ratios much less)")
    if {"a", "a1", "b"} <= set(mean):
        print(f"b/a  = {mean['b'] / mean['a']:.2f} wall, {cpu['b'] / cpu['a']:.2f} cpu  "
              f"(target <= 2.0; vs single-threaded decompression b/a1 = "
              f"{mean['b'] / mean['a1']:.2f} wall, {cpu['b'] / cpu['a1']:.2f} cpu)")
    if {"b", "c"} <= set(mean):
        print(f"c/b  = {mean['c'] / mean['b']:.1f} wall, {cpu['c'] / cpu['b']:.1f} cpu  "
              "(target >= 5)")
        import numpy as np

        diff = max(np.abs(np.array(b) - np.array(c)).max()
                   for b, c in zip(results["b"]["matrices"], results["c"]["matrices"]))
        print(f"max |corr_b - corr_c| over runs = {diff:.2e}")
    if "b" in results:
        print(f"peak RSS of b = {results['b']['peak_rss_mb']:.0f} MB (target < 250)")
    for name, seconds in results.get("r", {}).get("reducers", {}).items():
        print(f"reduction of run 1 by {name}: {seconds * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
