"""Apply a saved group model to new participants' participant-level derivatives.

MODEL_DIR is a model folder written by the group level (group/models/<target>/<set>/model).
OUTPUT_DIR must hold the new participants' participant-level derivatives (run
`neurokit BIDS_DIR OUTPUT_DIR participant` first, with the same atlas and measure as the
model); predictions go to OUTPUT_DIR/group/predictions/<target>_<feature set>.tsv.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neurokit predict``."""
    parser.add_argument("model_dir", type=Path, help="saved model folder (.../group/models/<target>/<set>/model)")
    parser.add_argument("bids_dir", type=Path, help="BIDS root of the new participants (for the phenotype covariates)")
    parser.add_argument("output_dir", type=Path, help="their participant-level derivatives")
    parser.add_argument("--unseen-site", choices=["raise", "pooled"], default="raise",
                        help="sites the model was not trained on: refuse (default) or predict unharmonised")
    parser.add_argument("-v", "--verbose", action="count", default=0)


def run(args: argparse.Namespace) -> int:
    """Predict; returns 0, or 2 when no prediction could be made."""
    from neurokit.config import load_config
    from neurokit.io import load_phenotype
    from neurokit.io._derivatives import atomic_write_tsv
    from neurokit.models import ModelError, load_model, predict
    from neurokit.pipelines.group import build_features

    model = load_model(args.model_dir)
    resolved = args.output_dir / "config.yaml"
    if not resolved.is_file():
        raise ModelError(
            f"{args.output_dir} has no config.yaml: it is not a neurokit participant-level output; run "
            f"`neurokit {args.bids_dir} {args.output_dir} participant --atlas {model.atlas}` first."
        )
    config = load_config(resolved).updated({"models.measure": model.measure})
    features, _, _ = build_features(args.output_dir, config, load_phenotype(args.bids_dir, config.columns))
    predictions = predict(model, features, atlas=features.attrs["atlas"], measure=model.measure,
                          unseen_site=args.unseen_site)
    out = args.output_dir / "group" / "predictions" / f"{model.target}_{model.feature_set}.tsv"
    atomic_write_tsv(out, predictions)
    n_ok = int((predictions["excluded_reason"] == "").sum())
    print(f"neurokit predict: {n_ok} of {len(predictions)} run(s) predicted ({model.target}, "
          f"{model.feature_set}) -> {out}")
    return 0 if n_ok else 2
