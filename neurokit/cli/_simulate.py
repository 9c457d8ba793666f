"""Write a synthetic BIDS dataset with fMRIPrep-style derivatives and a planted prefrontal-limbic
effect; the ground truth goes beside it (OUT_truth.tsv), outside the BIDS tree.
"""

from __future__ import annotations

import argparse
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``neurokit simulate``."""
    from neurokit.simulate import BROKEN_PHYSIO_KINDS, BROKEN_RUN_KINDS, CARDIAC_KINDS, DYNAMICS, LABEL_STYLES, REALISM

    parser.add_argument("out", metavar="OUT", help="new or empty folder for the BIDS dataset")
    parser.add_argument("--subjects", type=int, default=24, help="participants, at least 4 (default 24)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--sessions", type=int, default=1, help="sessions per participant (default 1)")
    parser.add_argument("--volumes", type=int, default=150, help="volumes per run (default 150)")
    parser.add_argument("--tr", type=float, default=2.0, help="repetition time in seconds (default 2.0)")
    parser.add_argument("--resolution", type=float, default=4, help="voxel size in mm (default 4)")
    parser.add_argument(
        "--effect-size", type=float, default=1.0, help="planted effect scale; 0 = null dataset (default 1.0)"
    )
    parser.add_argument(
        "--biomarker-effect-size", type=float, default=None,
        help="scale of the BDNF and HRV stage differences; 0 = biomarkers carry nothing, a null twin of the "
             "planted coupling (default: the same as --effect-size)",
    )
    parser.add_argument(
        "--motion-coupling",
        type=float,
        default=0.5,
        help="how strongly head motion grows with severity; 0 = unrelated (default 0.5)",
    )
    parser.add_argument("--sites", nargs="+", default=["A", "B"], help="site labels (default A B)")
    parser.add_argument(
        "--broken",
        type=int,
        default=0,
        metavar="K",
        help=f"add K deliberately broken runs, cycling through: {', '.join(BROKEN_RUN_KINDS)}",
    )
    parser.add_argument(
        "--broken-kind",
        action="append",
        choices=sorted(BROKEN_RUN_KINDS),
        default=[],
        help="add one broken run of this kind (repeatable; in addition to --broken)",
    )
    parser.add_argument("--task", default="rest", help="BIDS task label (default rest)")
    parser.add_argument(
        "--realism",
        choices=REALISM,
        default="easy",
        help="easy: signals inside the atlas regions, motion artefacts linear in the realignment parameters; "
        "realistic: signals in blobs that ignore atlas boundaries, artefacts that motion regression cannot "
        "fully remove, a realistic global signal (default easy)",
    )
    parser.add_argument(
        "--dynamics",
        choices=DYNAMICS,
        default="band_limited",
        help="realistic mode: neural signals below 0.1 Hz, or 1/f-like up to Nyquist (default band_limited)",
    )
    parser.add_argument(
        "--artefact-scale",
        type=float,
        default=1.0,
        help="realistic mode: multiplies the motion artefacts; 0 = none (default 1.0)",
    )
    parser.add_argument(
        "--participant-labels",
        choices=LABEL_STYLES,
        default="numeric",
        help="sub-01, sub-02, ... or random labels such as sub-K7Q2 (default numeric)",
    )
    physio = parser.add_argument_group("physiological recordings (BIDS *_physio.tsv.gz beside each raw BOLD run)")
    physio.add_argument("--physio", action=argparse.BooleanOptionalAction, default=None,
                        help="write a pulse and respiratory-belt recording per run (default: in the realistic mode only)")
    physio.add_argument("--physio-rate", type=float, default=100.0, metavar="HZ",
                        help="sampling frequency of the cardiac channel (default 100)")
    physio.add_argument("--physio-start", type=float, default=None, metavar="S",
                        help="StartTime, s <= 0 (default: drawn per run between -10 and -0.5)")
    physio.add_argument("--physio-cardiac", choices=CARDIAC_KINDS, default="ppg",
                        help="pulse oximeter (column cardiac) or ECG (column ecg) (default ppg)")
    physio.add_argument("--physio-split", action="store_true",
                        help="recording-cardiac and recording-respiratory files instead of one")
    physio.add_argument("--no-physio-trigger", dest="physio_trigger", action="store_false",
                        help="leave out the trigger column (a 5 V pulse at each volume)")
    physio.add_argument("--physio-missing", type=float, default=0.0, metavar="FRACTION",
                        help="fraction of runs without a recording (default 0)")
    physio.add_argument("--physio-broken", action="append", choices=sorted(BROKEN_PHYSIO_KINDS), default=[],
                        help="one run with a broken recording of this kind (repeatable)")
    physio.add_argument("--physio-noise", type=float, default=1.0,
                        help="realistic mode: scale of the physiological BOLD noise from the same traces; 0 = none "
                             "(default 1.0)")
    physio.add_argument("--hrv-effect-size", type=float, default=None,
                        help="scale of the scan HRV's stage differences; 0 = none (default: --effect-size)")
    parser.add_argument("--truth", default=None, help="ground-truth TSV path (default OUT_truth.tsv beside OUT)")
    parser.add_argument(
        "--jobs", type=int, default=None, help="runs simulated at once (default: number of CPUs, at most 8)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset simulated earlier in OUT")


def run(args: argparse.Namespace) -> int:
    """Simulate the dataset and print where it and its ground truth are."""
    from neurokit.simulate import BROKEN_RUN_KINDS, SimulationError, simulate_dataset

    if args.broken < 0:
        raise SimulationError(f"'--broken' must be 0 or more; got {args.broken}.")
    kinds = list(BROKEN_RUN_KINDS)
    broken = tuple(kinds[i % len(kinds)] for i in range(args.broken)) + tuple(args.broken_kind)
    start = time.perf_counter()
    result = simulate_dataset(
        args.out,
        n_subjects=args.subjects,
        seed=args.seed,
        n_sessions=args.sessions,
        n_volumes=args.volumes,
        t_r=args.tr,
        resolution_mm=args.resolution,
        effect_size=args.effect_size,
        biomarker_effect_size=args.biomarker_effect_size,
        motion_severity_coupling=args.motion_coupling,
        sites=tuple(args.sites),
        broken_runs=broken,
        task=args.task,
        truth_path=args.truth,
        overwrite=args.overwrite,
        n_jobs=args.jobs,
        realism=args.realism,
        dynamics=args.dynamics,
        artefact_scale=args.artefact_scale,
        participant_labels=args.participant_labels,
        physio=args.physio,
        physio_sampling_frequency=args.physio_rate,
        physio_start_time=args.physio_start,
        physio_trigger=args.physio_trigger,
        physio_split=args.physio_split,
        physio_cardiac=args.physio_cardiac,
        physio_missing=args.physio_missing,
        physio_broken=tuple(args.physio_broken),
        physio_noise=args.physio_noise,
        hrv_effect_size=args.hrv_effect_size,
    )
    n_runs = len(result.truth)
    n_broken = int(result.truth["broken"].notna().sum())
    print(
        f"Simulated {args.subjects} participants, {n_runs} runs ({n_broken} broken) in "
        f"{time.perf_counter() - start:.1f} s.\n"
        f"  BIDS dataset:  {result.root}\n"
        f"  fMRIPrep-like: {result.fmriprep_dir}\n"
        f"  ground truth:  {result.truth_path} (outside the dataset; pipelines never read it)"
        + (f"\n  physiology:    {result.physio_truth_path} ({int(result.physio['has_recording'].sum())} runs "
           "with a recording)" if result.physio is not None else "")
    )
    return 0
