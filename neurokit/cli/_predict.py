"""Apply a saved group model to new participants' participant-level derivatives.

MODEL_DIR is a model folder written by the group level (group/models/<target>/<set>/model).
OUTPUT_DIR must hold the new participants' participant-level derivatives made exactly as the
model's training features were: same atlas, denoising strategy and parameters, filter, measure
and exclusion rules. predict compares the two fingerprints and refuses (exit code 2) features
made differently, listing each differing setting. To make them the model's way:

  neurokit predict MODEL_DIR --write-config model_config.yaml
  neurokit BIDS_DIR OUTPUT_DIR participant --config model_config.yaml

Predictions go to OUTPUT_DIR/group/predictions/<target>_<feature set>.tsv with a JSON sidecar
(the model's identity and cross-validated metrics, the features' fingerprint, warnings). A
participant the model was trained on is flagged (column in_training_set, a warning): their
prediction is not out-of-sample.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neurokit predict``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("model_dir", type=Path, help="saved model folder (.../group/models/<target>/<set>/model)")
    parser.add_argument("bids_dir", type=Path, nargs="?",
                        help="BIDS root of the new participants (for the phenotype covariates)")
    parser.add_argument("output_dir", type=Path, nargs="?", help="their participant-level derivatives")
    parser.add_argument("--write-config", type=Path, metavar="FILE",
                        help="write the participant-level configuration the model's training features were made "
                             "with, for `neurokit BIDS_DIR OUTPUT_DIR participant --config FILE`; without BIDS_DIR "
                             "and OUTPUT_DIR nothing else is done")
    parser.add_argument("--unseen-site", choices=["raise", "pooled"], default="raise",
                        help="sites the model was not trained on: refuse (default) or predict unharmonised")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (debug messages)")


def _warn(message: str) -> str:
    print(f"neurokit predict: warning: {message}", file=sys.stderr)
    return message


def _write_config(model, model_dir: Path, path: Path) -> None:
    from neurokit.io import atomic_write_text
    from neurokit.models import ModelError
    from neurokit.io import participant_config_yaml

    if model.fingerprint is None:
        raise ModelError(
            f"{model_dir} was saved by neurokit {model.neurokit_version}, which did not record how its features were "
            "made; refit it with `neurokit BIDS_DIR OUTPUT_DIR group` to write its participant-level configuration."
        )
    header = (f"# Participant-level configuration of the model in {model_dir} ({model.target}, {model.feature_set}).\n"
              f"# Run `neurokit BIDS_DIR OUTPUT_DIR participant --config {path.name}` to make features this model "
              "accepts.\n")
    atomic_write_text(path, header + participant_config_yaml(model.fingerprint))
    print(f"neurokit predict: the model's participant-level configuration -> {path}")


def run(args: argparse.Namespace) -> int:
    """Predict; returns 0, or 2 when features are refused or no prediction could be made."""
    from neurokit.config import load_config
    from neurokit.io import (
        atomic_write_json,
        atomic_write_tsv,
        build_features,
        completed_runs,
        load_phenotype,
        select_records,
    )
    from neurokit.models import ModelError, check_fingerprint, load_model, predict, software_differences
    from neurokit.io import participant_fingerprint

    model = load_model(args.model_dir)
    if args.write_config is not None:
        _write_config(model, args.model_dir, args.write_config)
        if args.bids_dir is None and args.output_dir is None:
            return 0
    if args.bids_dir is None or args.output_dir is None:
        raise ModelError("BIDS_DIR and OUTPUT_DIR are both needed to predict (or pass --write-config FILE alone "
                         "to write the model's participant-level configuration).")
    resolved = args.output_dir / "config.yaml"
    if not resolved.is_file():
        raise ModelError(
            f"{args.output_dir} has no config.yaml: it is not a neurokit participant-level output; run "
            f"`neurokit predict {args.model_dir} --write-config model_config.yaml` and "
            f"`neurokit {args.bids_dir} {args.output_dir} participant --config model_config.yaml` first."
        )
    participant = load_config(resolved)
    trained = (model.fingerprint or {}).get("Settings", {}).get("denoise.strategy")
    # the features' strategy: the model's when these outputs have it, else theirs (and the check refuses it)
    strategy = trained if trained in participant.strategies else participant.modelled_strategy
    config = participant.updated({"models.measure": model.measure, "models.strategy": strategy})
    warnings = []
    if model.fingerprint is None:
        warnings.append(_warn(
            f"{args.model_dir} was saved by neurokit {model.neurokit_version} without a record of how its features "
            "were made: only the atlas and the measure are checked; refit it to check every setting."))
    records = select_records(completed_runs(args.output_dir), config, args.output_dir)
    fingerprint = participant_fingerprint(args.output_dir, config, strategy=strategy, measure=model.measure,
                                          records=records)
    check_fingerprint(model, fingerprint, model_dir=args.model_dir, bids_dir=args.bids_dir)
    for name, ours, theirs in software_differences(model.fingerprint or {}, fingerprint):
        warnings.append(_warn(f"the model's features were made with {name} {ours}, these with {theirs}."))

    features, _, _ = build_features(args.output_dir, config, load_phenotype(args.bids_dir, config.columns),
                                    strategy=strategy)
    predictions = predict(model, features, atlas=features.attrs["atlas"], measure=model.measure, fingerprint=fingerprint,
                          unseen_site=args.unseen_site)
    overlap = _training_overlap(model, predictions)
    if overlap:
        warnings.append(_warn(overlap))
    out = args.output_dir / "group" / "predictions" / f"{model.target}_{model.feature_set}.tsv"
    atomic_write_tsv(out, predictions)
    atomic_write_json(out.with_suffix(".json"), _sidecar(model, args.model_dir, fingerprint, predictions, warnings,
                                                         overlap))
    n_ok = int((predictions["excluded_reason"] == "").sum())
    print(f"neurokit predict: {n_ok} of {len(predictions)} run(s) predicted ({model.target}, "
          f"{model.feature_set}) -> {out}")
    return 0 if n_ok else 2


def _training_overlap(model, predictions) -> str | None:
    """Adds ``in_training_set`` to ``predictions``; the warning when some participants were trained on."""
    from neurokit.models import training_overlap

    overlap = training_overlap(model, predictions)
    predictions.insert(predictions.columns.get_loc("y_pred"), "in_training_set",
                       predictions["participant_id"].isin(overlap) if "participant_id" in predictions else False)
    if not overlap:
        return None
    shown = ", ".join(overlap[:10]) + (f" and {len(overlap) - 10} more" if len(overlap) > 10 else "")
    return (f"{len(overlap)} participant(s) to predict were in the model's training set ({shown}): their "
            "predictions are not out-of-sample and overstate the model's accuracy (column in_training_set).")


def _sidecar(model, model_dir: Path, fingerprint: dict, predictions, warnings: list, overlap: str | None) -> dict:
    """The predictions' JSON sidecar: which model made them, how good it is, how the features were made."""
    import json

    from neurokit import __version__
    from neurokit.models import model_hash
    from neurokit.io import HASH_DESCRIPTIONS

    metrics = model.cv_metrics
    if not metrics and (model_dir.parent / "metrics.json").is_file():  # a model saved before cv_metrics existed
        metrics = json.loads((model_dir.parent / "metrics.json").read_text())
    trained = set(predictions.loc[predictions["in_training_set"], "participant_id"]) if overlap else set()
    return {
        "Description": f"Predictions of {model.target} by the saved {model.estimator} model on the "
                       f"{model.feature_set} features of these participant-level derivatives.",
        "GeneratedAt": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "NeurokitVersion": __version__,
        "Model": {
            "Path": str(model_dir),
            "SHA256": model_hash(model_dir),
            "Target": model.target,
            "FeatureSet": model.feature_set,
            "Estimator": model.estimator,
            "Measure": model.measure,
            "NeurokitVersion": model.neurokit_version,
            "FullConfigHash": model.config_hash,
            "TrainingRuns": len(model.training_runs),
        },
        "CrossValidatedMetrics": metrics or None,
        "Fingerprint": {k: v for k, v in fingerprint.items() if k != "ParticipantConfig"},
        "FingerprintMatchesModel": None if model.fingerprint is None else True,
        "ParticipantConfigHash": fingerprint["ParticipantConfigHash"],
        "ConfigHashDescriptions": dict(HASH_DESCRIPTIONS),
        "TrainingOverlap": {"Participants": sorted(trained), "Warning": overlap},
        "Warnings": warnings,
        "y_pred": {"Description": "Predicted class label" if model.classes else f"Predicted {model.target}"},
        "in_training_set": {"Description": "The participant was in the model's training set: the prediction is "
                                           "not out-of-sample."},
        "excluded_reason": {"Description": "Why the run got no prediction (empty when it got one)."},
    }
