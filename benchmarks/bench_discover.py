"""Time discover_runs on a temporary 1,000-run fMRIPrep-style layout, with pybids for reference.

Usage: python benchmarks/bench_discover.py [--runs 1000] [--pybids-runs 200] [--no-pybids]

Each run is a tiny 2x2x2x10 BOLD, its JSON, a brain mask and a confounds TSV (+ JSON), laid
out as sub-*/ses-*/func/ with two sessions per participant.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from neurokit.io import discover_runs

SPACE = "MNI152NLin2009cAsym"


def build_layout(root: Path, n_runs: int, n_volumes: int = 10) -> Path:
    """Write a BIDS root with ``n_runs`` runs (2 sessions x 1 run per participant)."""
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "bench", "BIDSVersion": "1.9.0"}))
    deriv = root / "derivatives" / "fmriprep"
    deriv.mkdir(parents=True)
    (deriv / "dataset_description.json").write_text(
        json.dumps({"Name": "fMRIPrep", "BIDSVersion": "1.9.0", "DatasetType": "derivative", "GeneratedBy": [{"Name": "fMRIPrep"}]})
    )
    bold = nib.Nifti1Image(np.zeros((2, 2, 2, n_volumes), np.uint8), np.eye(4))
    bold.header.set_zooms((2.0, 2.0, 2.0, 2.0))
    bold.header.set_xyzt_units("mm", "sec")
    mask = nib.Nifti1Image(np.ones((2, 2, 2), np.uint8), np.eye(4))
    confounds = "\n".join(["trans_x\ttrans_y"] + ["0\t0"] * n_volumes) + "\n"
    # write each file once and copy it: building the layout is not what is measured
    templates = root / "_templates"
    templates.mkdir()
    nib.save(bold, templates / "bold.nii.gz")
    nib.save(mask, templates / "mask.nii.gz")
    for i in range(n_runs):
        sub, ses = f"{i // 2 + 1:04d}", str(i % 2 + 1)
        func = deriv / f"sub-{sub}" / f"ses-{ses}" / "func"
        func.mkdir(parents=True, exist_ok=True)
        prefix = f"sub-{sub}_ses-{ses}_task-rest"
        spaced = f"{prefix}_space-{SPACE}_res-2"
        shutil.copyfile(templates / "bold.nii.gz", func / f"{spaced}_desc-preproc_bold.nii.gz")
        (func / f"{spaced}_desc-preproc_bold.json").write_text('{"RepetitionTime": 2.0}')
        shutil.copyfile(templates / "mask.nii.gz", func / f"{spaced}_desc-brain_mask.nii.gz")
        (func / f"{prefix}_desc-confounds_timeseries.tsv").write_text(confounds)
        (func / f"{prefix}_desc-confounds_timeseries.json").write_text("{}")
    shutil.rmtree(templates)
    return root


def _time(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--pybids-runs", type=int, default=200, help="size of the layout indexed by pybids")
    parser.add_argument("--no-pybids", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        big = build_layout(tmp / "big", args.runs)
        print(f"built {args.runs}-run layout in {time.perf_counter() - start:.1f} s")
        seconds, found = _time(lambda: discover_runs(big))
        assert len(found.runs) == args.runs and not found.problems, found.problems[:3]
        print(f"discover_runs, {args.runs} runs: {seconds:.3f} s ({1e3 * seconds / args.runs:.2f} ms/run, best of 3)")
        if args.no_pybids:
            return
        try:
            import bids
        except ImportError:
            print("pybids not installed; skipping the reference timing")
            return
        n_small = min(args.pybids_runs, args.runs)
        small = build_layout(tmp / "small", n_small)
        ours_small, _ = _time(lambda: discover_runs(small))

        def pybids_index():
            layout = bids.BIDSLayout(small, derivatives=True, validate=False)
            return layout.get(scope="derivatives", suffix="bold", desc="preproc", extension=".nii.gz")

        theirs, files = _time(pybids_index, repeat=1)
        assert len(files) == n_small
        print(f"discover_runs, {n_small} runs: {ours_small:.3f} s")
        print(f"pybids BIDSLayout(derivatives=True) + get, {n_small} runs: {theirs:.3f} s")
        print(f"ratio pybids / discover_runs at {n_small} runs: {theirs / ours_small:.1f}x")
        print(
            "note: discover_runs also reads every NIfTI header, JSON sidecar and confounds row count; "
            "pybids only indexes names and sidecars."
        )


if __name__ == "__main__":
    main()
