"""How participant-level features were made: the fingerprint a saved model carries and ``predict`` checks.

The fingerprint is read from what the participant level recorded: the resolved configuration
it wrote (``OUTPUT_DIR/config.yaml``), checked against the participant-level configuration hash
in every run's completion record, plus the runs' own sidecars (the confounds each strategy
resolved to, software versions, run space and task) and the atlas's content.

Configuration hashes (see docs/provenance.md):

``ParticipantConfigHash``
    :meth:`neurokit.config.Config.run_hash`: the ``atlas``, ``denoise``, ``connectivity`` and
    ``exclusion`` sections (and ``physio`` when not at its defaults), every setting that changes
    a run's participant-level outputs. In
    every run's sidecars, its completion record (``config_hash``) and the participant level's
    ``dataset_description.json``; a change recomputes the runs.
``FullConfigHash``
    :meth:`neurokit.config.Config.hash`: every section but ``cluster`` and ``report`` (which
    change where and how results are computed or shown, never what they are) of the
    configuration the group level ran with. In the group outputs (``features.json``,
    ``denoising_benchmark.json``, ``metrics.json``, ``model.json`` as ``config_hash``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping

from neurokit.config import Config, ConfigError, PhysioConfig, load_config

__all__ = [
    "HASH_DESCRIPTIONS",
    "participant_fingerprint",
    "participant_config_yaml",
    "settings_from_config",
]

log = logging.getLogger("neurokit.provenance")

#: What each configuration hash written in neurokit's outputs covers (written into sidecars).
HASH_DESCRIPTIONS = {
    "ParticipantConfigHash": "participant-level configuration hash: the atlas, denoise, connectivity and exclusion "
                             "sections, and physio when not at its defaults, every setting that changes a run's "
                             "participant-level outputs (Config.run_hash).",
    "FullConfigHash": "full configuration hash: every section but cluster and report of the configuration the "
                      "group level ran with (Config.hash).",
}

#: Per-run counts in a sidecar's ``StrategyDetails``: outcomes, not settings.
_RUN_COUNTS = ("n_regressors", "n_non_steady_state", "n_censored", "n_motion_outliers")
#: Settings of the participant level that no run records but the atlas and cleaning depend on.
_CONFIG_KEYS = {
    "atlas": ("name", "min_voxels", "drop_empty_regions", "allow_resample"),
    "denoise": ("detrend", "standardize", "high_pass", "low_pass", "filter", "min_volumes"),
    "connectivity": ("covariance_estimator", "shrinkage"),
    "exclusion": ("max_mean_fd", "max_censored_fraction", "min_tdof"),
}


def _atlas_identity(name: str) -> dict[str, Any]:
    """``atlas.version``, ``atlas.space`` and ``atlas.content_hash`` (regions, labels and grid) of an atlas."""
    from neurokit.atlases import load

    atlas = load(name)
    return {"atlas.version": atlas.metadata.get("Version"), "atlas.space": atlas.space,
            "atlas.content_hash": atlas.content_hash()}


def settings_from_config(config: Config, strategy: str, measure: str) -> dict[str, Any]:
    """The settings that make one strategy's features, as ``{"section.key": value}`` (pure).

    Parameters
    ----------
    config : Config
        The participant level's resolved configuration.
    strategy : str
        One of ``config.strategies``.
    measure : str
        The connectivity measure the features use.

    Returns
    -------
    dict
        ``atlas.*``, ``denoise.strategy`` and the cleaning (``denoise.*``), ``confounds.*`` (the
        strategy's confound regressors and censoring as the preset resolves them; ``confounds.high_pass``
        is the cosine regressors, ``denoise.high_pass`` the filter), ``connectivity.measure`` and ``connectivity.covariance_estimator`` (and ``connectivity.shrinkage`` with the
        "shrunk" estimator), ``exclusion.*``.
    """
    from neurokit.denoise import resolve_strategy

    data = config.to_dict()
    settings = {f"{section}.{key}": data[section][key] for section, keys in _CONFIG_KEYS.items() for key in keys}
    if data["connectivity"]["covariance_estimator"] != "shrunk":  # no effect then, as in fingerprints made before it
        settings.pop("connectivity.shrinkage")
    settings.update(_confound_settings(resolve_strategy(**config.denoise.select_kwargs(strategy))))
    settings["denoise.strategy"] = strategy
    settings["connectivity.measure"] = measure
    return dict(sorted(settings.items()))


def _confound_settings(details: Mapping[str, Any]) -> dict[str, Any]:
    """``confounds.<key>`` of a resolved confound selection, without its per-run counts and its name."""
    return {f"confounds.{k}": v for k, v in details.items() if k not in _RUN_COUNTS and k != "strategy"}


def participant_fingerprint(output_dir: str | Path, config: Config, *, strategy: str | None = None,
                            measure: str | None = None, records: list[dict] | None = None) -> dict[str, Any]:
    """The fingerprint of the features the participant level made in ``output_dir``.

    Parameters
    ----------
    output_dir : str or Path
        The participant-level derivative dataset.
    config : Config
        Used only when ``output_dir`` has no ``config.yaml`` (``strategy`` and ``measure``
        default to its modelled strategy and ``models.measure``).
    strategy, measure : str, optional
        The features' denoising strategy and connectivity measure.
    records : list of dict, optional
        The completion records of the runs the features come from (default: all).

    Returns
    -------
    dict
        ``Settings`` (``{"section.key": value}``, see :func:`settings_from_config`, plus the
        atlas's version, space and content hash and the runs' ``inputs.space``/``inputs.task``),
        ``SoftwareVersions`` (of the participant level, from the runs' sidecars),
        ``ParticipantConfigHash`` and ``ParticipantConfig`` (the sections that make the
        features, to rerun the participant level with).

    Raises
    ------
    ConfigError
        The runs were made with different participant-level configurations, or not with
        the one ``config.yaml`` records, or not with ``strategy``.
    """
    from neurokit.io import completed_runs, record_for_strategy

    output_dir = Path(output_dir)
    written = output_dir / "config.yaml"
    participant = load_config(written) if written.is_file() else config
    strategy = strategy or config.modelled_strategy
    measure = measure or config.models.measure
    records = completed_runs(output_dir) if records is None else records
    run_hash = participant.run_hash()
    stale = sorted(r["run_id"] for r in records if r.get("config_hash") not in (None, run_hash))
    if stale:
        raise ConfigError(
            f"{len(stale)} run(s) in {output_dir} (e.g. {stale[0]}) were made with another participant-level "
            f"configuration than {written.name} records (participant-level configuration hash {run_hash}); "
            f"rerun `neurokit BIDS_DIR {output_dir} participant --config {written}` so that every run is made "
            "the same way."
        )
    if strategy not in participant.strategies:
        # a single-strategy run's outputs do not say which strategy they are: refuse to mislabel them
        raise ConfigError(
            f"the features are wanted with the denoising strategy {strategy!r}, but the participant level in "
            f"{output_dir} cleaned its runs with {list(participant.strategies)} ({written.name}); pass --strategy "
            f"{participant.modelled_strategy} (or the participant level's --config {written}) to the group level, "
            f"or rerun the participant level with --strategy {strategy}."
        )
    settings = settings_from_config(participant, strategy, measure)
    details, software, spaces, tasks = None, {}, set(), set()
    for record in records:
        entities = record.get("entities", {})
        spaces.add(entities.get("space"))
        tasks.add(entities.get("task"))
        view = record_for_strategy(record, strategy) or {}
        sidecar = view.get("outputs", {}).get(f"relmat:{'covariance' if measure == 'tangent' else measure}:json")
        if details is None and sidecar and Path(sidecar).is_file():
            meta = json.loads(Path(sidecar).read_text())
            details, software = meta.get("StrategyDetails"), meta.get("SoftwareVersions") or {}
    if details:  # what the runs recorded wins over what config.yaml says they were made with
        settings.update(_confound_settings(details))
    settings["denoise.strategy"] = strategy
    settings["inputs.space"] = "+".join(sorted(s for s in spaces if s)) or None
    settings["inputs.task"] = "+".join(sorted(t for t in tasks if t)) or None
    settings.update(_atlas_identity(participant.atlas.name))
    data = participant.to_dict()
    sections = {name: data[name] for name in ("atlas", "denoise", "connectivity", "exclusion")}
    if participant.physio != PhysioConfig():  # in the run hash then: a rerun must measure it the same way
        sections["physio"] = data["physio"]
    sections["denoise"]["strategy"] = strategy
    sections["inputs"] = {"task": settings["inputs.task"] if len(tasks) == 1 else data["inputs"]["task"],
                          "space": data["inputs"]["space"], "res": data["inputs"]["res"]}
    sections["models"] = {"measure": measure}
    return {"Settings": dict(sorted(settings.items())), "SoftwareVersions": dict(software),
            "ParticipantConfigHash": run_hash, "ParticipantConfig": sections}


def participant_config_yaml(fingerprint: Mapping[str, Any]) -> str:
    """A configuration file that reruns the participant level the way the fingerprint says.

    Parameters
    ----------
    fingerprint : mapping
        From :func:`participant_fingerprint` (a saved model's ``fingerprint``).

    Returns
    -------
    str
        YAML text of a complete, validated configuration: the model's atlas, denoise,
        connectivity, exclusion and inputs settings, with its measure among the computed
        measures; everything else at the defaults.
    """
    sections = {k: dict(v) for k, v in fingerprint["ParticipantConfig"].items()}
    measure = sections["models"]["measure"]
    measures = list(sections["connectivity"]["measures"])
    if measure not in measures:
        sections["connectivity"]["measures"] = measures + [measure]
    data = Config().to_dict()
    for section, values in sections.items():
        data[section].update(values)  # not Config.updated: it skips None, and None (e.g. no low-pass) is a setting
    return Config.model_validate(data).to_yaml()
