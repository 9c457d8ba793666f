"""Fitted final models: saving, loading and applying them to new participants' features."""

from __future__ import annotations

import copy
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from neurokit._version import __version__
from neurokit._atomic import atomic_write_bytes, atomic_write_text, json_text
from neurokit.models._common import ModelError
from neurokit.models._features import ID_COLUMNS, _encode_covariates

__all__ = ["FittedModel", "save_model", "load_model", "predict", "check_fingerprint", "fingerprint_differences",
           "model_hash", "software_differences", "training_overlap"]

MODEL_FILE = "model.joblib"
META_FILE = "model.json"


@dataclass
class FittedModel:
    """A pipeline fitted on every usable row, with what is needed to apply it again.

    Attributes
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted; input in the tail layout ``[features | covariates | site]``.
    target, kind, feature_set, estimator : str
    feature_names : list of str
        Columns of the features table the pipeline reads, in order (for the tangent
        measure, the whole ``cov__`` block).
    model_features : list of str
        Features the model weighs, as in ``patterns.tsv``: ``feature_names``, except that
        for the tangent measure the tangent edges ``edge__A--B`` (off-diagonal, projected
        around the training reference) replace the ``cov__`` block.
    covariates : list of str
        Covariate roles regressed out; ``covariate_levels`` codes the categorical ones.
    site_levels : list of str
        Site labels in code order; empty when the pipeline does not harmonise.
    classes : list of str or None
        Class labels in code order (None for regression).
    atlas, measure : str or None
        Provenance checked by :func:`predict`.
    config_hash : str or None
        The full configuration hash (``FullConfigHash``) of the group level that fitted it.
    fingerprint : dict or None
        How the training features were made (``neurokit.io.participant_fingerprint``):
        ``Settings`` (``{"section.key": value}``: atlas name, version, space and content
        hash; strategy, resolved confounds and cleaning; measure; exclusion rules; run
        space and task), ``SoftwareVersions``, ``ParticipantConfigHash`` and
        ``ParticipantConfig``. :func:`predict` refuses features whose settings differ.
    training_runs : list of dict
        ``participant_id``, ``session_id`` and ``run_id`` of every run it was fitted on.
    cv_metrics : dict
        The cross-validated metrics (``metrics.json``) of the model.
    hrv_source : dict
        Where the HRV features it reads came from (``{'hrv': 'phenotype' | 'scan:<measure>',
        'scan_hrv': 'scan:<measure>'}``, from the features table's ``attrs["hrv_source"]``,
        :func:`neurokit.io.build_features`); :func:`predict` refuses features whose ``hrv``
        means something else. Empty when the model reads no HRV column.
    """

    pipeline: object
    target: str
    kind: str
    feature_set: str
    estimator: str
    feature_names: list
    model_features: list = field(default_factory=list)
    covariates: list = field(default_factory=list)
    covariate_levels: dict = field(default_factory=dict)
    site_levels: list = field(default_factory=list)
    classes: list | None = None
    atlas: str | None = None
    measure: str | None = None
    config_hash: str | None = None
    neurokit_version: str = __version__
    fingerprint: dict | None = None
    training_runs: list = field(default_factory=list)
    cv_metrics: dict = field(default_factory=dict)
    hrv_source: dict = field(default_factory=dict)

    def metadata(self):
        """Everything but the pipeline, as a JSON-serialisable dict."""
        meta = {k: v for k, v in self.__dict__.items() if k != "pipeline"}
        return json.loads(json_text(meta))  # numpy scalars (in cv_metrics) and NaN as neurokit writes them


def save_model(model, path):
    """Save a fitted model to a folder: ``model.joblib`` (pipeline) and ``model.json`` (metadata).

    Parameters
    ----------
    model : FittedModel or ModelResult
        A result is saved through its ``model``.
    path : str or Path
        Folder, created if needed; existing model files are replaced atomically.

    Returns
    -------
    Path
        The folder.
    """
    model = getattr(model, "model", model)
    if not isinstance(model, FittedModel):
        raise ModelError(f"'model' must be a FittedModel or a ModelResult; got {type(model).__name__}.")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    joblib.dump(model.pipeline, buffer)
    atomic_write_bytes(path / MODEL_FILE, buffer.getvalue())
    atomic_write_text(path / META_FILE, json.dumps(model.metadata(), indent=2, sort_keys=True) + "\n")
    return path


def load_model(path):
    """Load a model saved by :func:`save_model`.

    Parameters
    ----------
    path : str or Path
        The model folder.

    Returns
    -------
    FittedModel
    """
    path = Path(path)
    for name in (MODEL_FILE, META_FILE):
        if not (path / name).is_file():
            raise ModelError(
                f"{path / name} does not exist; MODEL_DIR must be a folder written by save_model "
                f"(with {MODEL_FILE} and {META_FILE})."
            )
    try:
        meta = json.loads((path / META_FILE).read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path / META_FILE} is not valid JSON ({exc}); save the model again.") from None
    known = set(FittedModel.__dataclass_fields__) - {"pipeline"}
    unknown = set(meta) - known
    if unknown:
        raise ModelError(f"{path / META_FILE} has unknown keys {sorted(unknown)}; it was written by another neurokit version.")
    return FittedModel(pipeline=joblib.load(path / MODEL_FILE), **meta)


def _canonical(value):
    # 0.5 read back from JSON and from YAML, or a tuple and a list, are the same setting
    return json.dumps(value, sort_keys=True)


def fingerprint_differences(model, features):
    """The settings in which two fingerprints differ (pure).

    Parameters
    ----------
    model, features : mapping
        Fingerprints (see :attr:`FittedModel.fingerprint`): the model's and the new features'.

    Returns
    -------
    list of tuple
        ``(setting, model value, features value)`` for every ``Settings`` key whose values
        differ, a key one of them lacks included; sorted by key. Software versions are
        not settings (see :func:`software_differences`).
    """
    ours, theirs = model.get("Settings", {}), features.get("Settings", {})
    return [(key, ours.get(key), theirs.get(key)) for key in sorted(set(ours) | set(theirs))
            if _canonical(ours.get(key)) != _canonical(theirs.get(key))]


def software_differences(model, features):
    """Packages whose participant-level versions differ: ``[(name, model version, features version)]``."""
    ours, theirs = model.get("SoftwareVersions", {}), features.get("SoftwareVersions", {})
    return [(name, ours[name], theirs[name]) for name in sorted(set(ours) & set(theirs)) if ours[name] != theirs[name]]


def check_fingerprint(model, fingerprint, *, model_dir="MODEL_DIR", bids_dir="BIDS_DIR"):
    """Refuse features made differently from the model's training features.

    Parameters
    ----------
    model : FittedModel
    fingerprint : mapping
        How the features were made (see :attr:`FittedModel.fingerprint`).
    model_dir, bids_dir : str or Path
        Named in the message's fix.

    Raises
    ------
    ModelError
        Listing every differing setting (model value vs features value) and the commands
        that remake the features the model's way. A model without a fingerprint (saved by
        an older neurokit) passes.
    """
    if model.fingerprint is None:
        return
    differences = fingerprint_differences(model.fingerprint, fingerprint)
    if not differences:
        return
    lines = "\n".join(f"  {key}: model {ours!r}, features {theirs!r}" for key, ours, theirs in differences)
    raise ModelError(
        f"the features were made differently from the model's training features; {len(differences)} "
        f"setting(s) differ:\n{lines}\n"
        f"Rerun the participant level with the model's configuration: `neurokit predict {model_dir} --write-config "
        f"model_config.yaml` writes it; then run `neurokit {bids_dir} NEW_OUTPUT_DIR participant --config "
        "model_config.yaml` and predict from NEW_OUTPUT_DIR."
    )


def model_hash(path):
    """SHA-256 (hex) of a saved model folder's ``model.joblib`` and ``model.json``: its identity."""
    digest = hashlib.sha256()
    for name in (MODEL_FILE, META_FILE):
        digest.update((Path(path) / name).read_bytes())
    return digest.hexdigest()


def training_overlap(model, features):
    """Participants of ``features`` the model was fitted on (their predictions are not out-of-sample).

    Parameters
    ----------
    model : FittedModel
    features : pandas.DataFrame of shape (n_runs, n_columns)
        With a ``participant_id`` column.

    Returns
    -------
    list of str
        Sorted participant ids found in both.
    """
    trained = {row.get("participant_id") for row in model.training_runs}
    given = set(features["participant_id"].astype(str)) if "participant_id" in features.columns else set()
    return sorted(given & trained)


def _check_provenance(model, features, atlas, measure, fingerprint):
    if fingerprint is not None:
        check_fingerprint(model, fingerprint)
    given = features.attrs.get("hrv_source") or {}
    for column, trained in (model.hrv_source or {}).items():
        # the same column name can hold the phenotype's HRV in one study and the scan's in another
        if given.get(column) not in (None, "none", trained):  # 'none': no values, those rows get no prediction
            raise ModelError(
                f"the model's {column!r} feature was {trained!r} in training but is {given[column]!r} in these "
                f"features (features.json HRVSource); set models.scan_hrv, or give or leave out the phenotype's "
                "HRV, as in training, or use a model without HRV features."
            )
    for key, given in (("atlas", atlas), ("measure", measure)):
        given = given if given is not None else features.attrs.get(key)
        expected = getattr(model, key)
        if given is not None and expected is not None and str(given) != str(expected):
            raise ModelError(
                f"the model was trained on {key} {expected!r} but these features come from {key} {given!r}; "
                f"recompute the features with {key} {expected!r} or use a model trained on {given!r}."
            )


def predict(model, features, *, atlas=None, measure=None, fingerprint=None, unseen_site="raise"):
    """Apply a fitted model to a features table of new runs.

    Parameters
    ----------
    model : FittedModel
    features : pandas.DataFrame of shape (n_runs, n_columns)
        Same layout as the group features table; must hold every column in
        ``model.feature_names`` and the covariates.
    atlas, measure : str, optional
        Provenance of ``features`` (default: ``features.attrs``); a mismatch with the
        model's is an error.
    fingerprint : dict, optional
        How ``features`` were made (``neurokit.io.participant_fingerprint``);
        when the model has one too, any differing setting is an error listing each
        (model value vs features value) and how to remake the features.
    unseen_site : {'raise', 'pooled'}, default='raise'
        For a harmonising model, what to do with sites it was not trained on: raise, or
        predict from the unadjusted features (see :class:`ComBatHarmonizer`).

    Returns
    -------
    pandas.DataFrame of shape (n_runs, n_columns)
        The ids, ``y_pred`` (class label or value), class probabilities ``proba_<label>``
        when available, and ``excluded_reason`` (rows with missing inputs get no prediction).
    """
    if not isinstance(model, FittedModel):
        raise ModelError(f"'model' must be a FittedModel (see load_model); got {type(model).__name__}.")
    if not isinstance(features, pd.DataFrame):
        raise ModelError(f"'features' must be a pandas DataFrame; got {type(features).__name__}.")
    if unseen_site not in ("raise", "pooled"):
        raise ModelError(f"'unseen_site' must be one of ('raise', 'pooled'); got {unseen_site!r}.")
    _check_provenance(model, features, atlas, measure, fingerprint)
    missing = [c for c in model.feature_names + model.covariates if c not in features.columns]
    if missing:
        raise ModelError(
            f"the features table lacks {len(missing)} column(s) the model was trained on, e.g. {missing[:5]}; "
            f"the model needs feature set {model.feature_set!r} ({len(model.feature_names)} features) from atlas "
            f"{model.atlas!r} and covariates {model.covariates}."
        )
    values = features[model.feature_names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    cov_block, _, _ = _encode_covariates(features, model.covariates, levels=model.covariate_levels)
    blocks = [values, cov_block]
    pipeline = model.pipeline
    if model.site_levels:
        if "site" in features.columns:
            site = features["site"].astype(object)
            new = sorted(set(site.dropna().astype(str)) - set(model.site_levels))
            codes = {s: i for i, s in enumerate(list(model.site_levels) + new)}
            blocks.append(np.array([codes[str(v)] if pd.notna(v) else np.nan for v in site], dtype=float)[:, None])
        elif unseen_site == "pooled":
            blocks.append(np.full((len(features), 1), -1.0))
        else:
            raise ModelError(
                "the model harmonises sites but the features table has no 'site' column; add it or pass "
                "unseen_site='pooled'."
            )
        if unseen_site != pipeline.named_steps["harmonize"].unseen_site:
            pipeline = copy.deepcopy(pipeline)
            pipeline.set_params(harmonize__unseen_site=unseen_site)
    X = np.hstack(blocks)
    ok = ~np.isnan(X).any(axis=1)
    out = pd.DataFrame({c: features[c].to_numpy() for c in ID_COLUMNS if c in features.columns})
    out["y_pred"] = pd.Series([np.nan] * len(features), dtype=object if model.classes else float)
    out["excluded_reason"] = np.where(ok, "", "missing features, covariates or site")
    if ok.any():
        pred = pipeline.predict(X[ok])
        if model.classes:
            out.loc[ok, "y_pred"] = [model.classes[int(c)] for c in pred]
            if hasattr(pipeline, "predict_proba"):
                proba = pipeline.predict_proba(X[ok])
                for j, c in enumerate(pipeline.classes_):
                    out[f"proba_{model.classes[int(c)]}"] = np.nan
                    out.loc[ok, f"proba_{model.classes[int(c)]}"] = proba[:, j]
        else:
            out.loc[ok, "y_pred"] = pred
    return out
