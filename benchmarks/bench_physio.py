"""Cost per run of the physiology step against reading the recording alone.

Usage: python benchmarks/bench_physio.py [--seconds 300] [--rates 100 1000] [--repeat 3]

For each sampling rate, a BIDS recording (pulse, respiratory belt and volume triggers, no
header, gzipped, as scanners export it) of ``--seconds`` is written once to a temporary raw
dataset; then ``read_physio`` alone and ``physio_for_run`` (find, read, check, align, beats,
HRV, breathing rate) are timed, best of ``--repeat``. The ratio is the physiology step's cost
in units of reading its input. The last column is NeuroKit2's ``ppg_quality`` (templatematch)
on the same trace, the quality index neurokit computes in numpy instead (docs/physio.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from neurokit.io import Run, find_physio, physio_for_run, read_physio

TR = 2.0


def write_recording(root: Path, seconds: float, fs: float, seed: int = 0) -> Run:
    rng = np.random.default_rng(seed)
    start = -5.0
    n = int((seconds - start + 2) * fs)
    t = start + np.arange(n) / fs
    beats, b = [], start - 1.0
    while b < t[-1] + 1:
        beats.append(b)
        b += 0.85 + 0.04 * np.sin(2 * np.pi * 0.25 * b) + rng.normal(0, 0.015)
    pulse = np.zeros(n)
    for b in beats:
        near = slice(max(0, int((b - 0.5 - start) * fs)), max(0, int((b + 0.8 - start) * fs)))
        pulse[near] += np.exp(-0.5 * ((t[near] - b - 0.12) / 0.07) ** 2) + 0.35 * np.exp(
            -0.5 * ((t[near] - b - 0.36) / 0.09) ** 2)
    pulse += 0.02 * rng.normal(size=n)
    resp = np.sin(2 * np.pi * 0.25 * t) + 0.05 * rng.normal(size=n)
    trigger = np.zeros(n)
    n_volumes = int(seconds / TR)
    for k in range(n_volumes):
        i = int(round((k * TR - start) * fs))
        trigger[i: i + max(1, int(0.01 * fs))] = 5.0
    func = root / "sub-01" / "func"
    func.mkdir(parents=True)
    with gzip.open(func / "sub-01_task-rest_physio.tsv.gz", "wt", compresslevel=6) as fh:
        np.savetxt(fh, np.column_stack([pulse, resp, trigger]), delimiter="\t", fmt="%.5g")
    (func / "sub-01_task-rest_physio.json").write_text(json.dumps(
        {"SamplingFrequency": fs, "StartTime": start, "Columns": ["cardiac", "respiratory", "trigger"]}))
    return Run(entities=(("sub", "01"), ("task", "rest"), ("space", "MNI152NLin2009cAsym")),
               bold=root / "bold.nii.gz", bold_json=None, confounds=root / "c.tsv", confounds_json=None,
               mask=root / "m.nii.gz", t_r=TR, n_volumes=n_volumes)


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--rates", type=float, nargs="+", default=[100.0, 1000.0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import neurokit2 as nk

    print(f"physiology step per run, {args.seconds:g} s recording (pulse, belt, triggers), best of {args.repeat}")
    print(f"{'rate (Hz)':>9} {'read (s)':>9} {'step (s)':>9} {'step/read':>9} {'heart rate':>10} "
          f"{'RMSSD (ms)':>10} {'nk ppg_quality (s)':>18}")
    for fs in args.rates:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            run = write_recording(root, args.seconds, fs)
            paths = find_physio(root, run)
            read_s, recording = best(lambda: read_physio(paths, root=root), args.repeat)
            physio_for_run(root, run)  # warm: NeuroKit2's first call imports its submodules
            step_s, result = best(lambda: physio_for_run(root, run), args.repeat)
            assert result.usable, result.reason
            cardiac = recording.channels["cardiac"].values
            clean = nk.ppg_clean(cardiac, sampling_rate=fs)
            peaks = nk.ppg_findpeaks(clean, sampling_rate=fs)["PPG_Peaks"]
            nk_s, _ = best(lambda: nk.ppg_quality(clean, peaks=peaks, sampling_rate=fs, method="templatematch"), 1)
            print(f"{fs:9g} {read_s:9.3f} {step_s:9.3f} {step_s / read_s:9.1f} {result.measures['heart_rate']:10.1f} "
                  f"{result.measures['rmssd']:10.1f} {nk_s:18.2f}")


if __name__ == "__main__":
    main()
