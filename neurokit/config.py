"""neurokit configuration: one YAML file validated into typed, frozen objects.

Read once at the edge (CLI / pipelines); the library itself takes explicit keyword
arguments. Every field has a default, so an empty file is a valid configuration.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import yaml
from neurokit._errors import NeurokitError
from neurokit.connectivity import DEFAULT_SHRINKAGE
from neurokit.denoise import STRATEGIES, DenoiseError, resolve_strategy
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "Config",
    "ConfigError",
    "InputsConfig",
    "ColumnsConfig",
    "AtlasConfig",
    "DenoiseConfig",
    "ConnectivityConfig",
    "ExclusionConfig",
    "ModelsConfig",
    "ClusterConfig",
    "ReportConfig",
    "PhysioConfig",
    "PhysioColumnsConfig",
    "PhysioRegressorsConfig",
    "load_config",
    "DEFAULT_ATLAS",
    "DEFAULT_STAGE_LEVELS",
    "ROLES",
    "STRATEGY_NAMES",
]

#: Atlas used when the configuration names none (bundled with neurokit).
DEFAULT_ATLAS = "pfclimbic"

#: Recovery stages, in order; a lab may rename or extend them in ``columns.stage_levels``.
DEFAULT_STAGE_LEVELS = ("control", "active", "early_abstinence", "sustained_remission")

#: Phenotype roles that neurokit understands.
ROLES = ("severity", "stage", "abstinence_days", "bdnf", "hrv", "age", "sex", "site")


class ConfigError(NeurokitError, ValueError):
    """A configuration value or key is invalid; the message names it and the fix."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class InputsConfig(_Section):
    """Which runs to use (CLI flags of the same name override these)."""

    derivatives: tuple[str, ...] = Field(
        default=(), description="fMRIPrep derivative folders; empty means BIDS_DIR/derivatives/fmriprep."
    )
    task: str | None = Field(default=None, description="BIDS task label (e.g. 'rest'); None = all tasks.")
    space: str = Field(default="MNI152NLin2009cAsym", description="Output space of the preprocessed BOLD.")
    res: str | None = Field(default=None, description="fMRIPrep 'res-' entity; None = any.")
    participant_label: tuple[str, ...] = Field(default=(), description="Participants to include (no 'sub-').")
    session_label: tuple[str, ...] = Field(default=(), description="Sessions to include (no 'ses-').")
    exclude: tuple[str, ...] = Field(
        default=(), description="Glob patterns on BOLD file names of runs to leave out on purpose."
    )

    @field_validator("participant_label", "session_label")
    @classmethod
    def _strip_prefix(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(s.removeprefix("sub-").removeprefix("ses-") for s in v)


class ColumnsConfig(_Section):
    """Map phenotype roles to a lab's own column names (participants/sessions/phenotype TSVs)."""

    participant_id: str = "participant_id"
    session_id: str = "session_id"
    severity: str = "severity"
    stage: str = "stage"
    abstinence_days: str = "abstinence_days"
    bdnf: str = "bdnf"
    hrv: str = "hrv"
    age: str = "age"
    sex: str = "sex"
    site: str = "site"
    stage_levels: tuple[str, ...] = Field(
        default=DEFAULT_STAGE_LEVELS, description="Ordered recovery stages; the first is the control level."
    )
    control_level: str | None = Field(
        default=None, description="Stage level meaning 'not a user'; None = the first of stage_levels."
    )

    @model_validator(mode="after")
    def _check_levels(self) -> "ColumnsConfig":
        if len(self.stage_levels) < 2:
            raise ValueError(f"columns.stage_levels needs at least two levels; got {list(self.stage_levels)}.")
        if len(set(self.stage_levels)) != len(self.stage_levels):
            raise ValueError(f"columns.stage_levels has repeated levels: {list(self.stage_levels)}.")
        if self.control_level is not None and self.control_level not in self.stage_levels:
            raise ValueError(
                f"columns.control_level {self.control_level!r} is not one of stage_levels {list(self.stage_levels)}."
            )
        return self

    @property
    def control(self) -> str:
        """The stage level that marks controls."""
        return self.control_level or self.stage_levels[0]

    def role_columns(self) -> dict[str, str]:
        """``{role: column name}`` for every role in :data:`ROLES`."""
        return {role: getattr(self, role) for role in ROLES}


class AtlasConfig(_Section):
    """Which atlas, and how strictly it is validated on each run's grid."""

    name: str = Field(default=DEFAULT_ATLAS, description="Registered atlas name or path to an atlas folder.")
    min_voxels: int = Field(default=5, ge=1, description="Fewest in-mask voxels a region may keep on a run's grid.")
    drop_empty_regions: bool = Field(
        default=False, description="Drop (and report) regions below min_voxels instead of failing the run."
    )
    allow_resample: bool = Field(
        default=False, description="Resample an atlas whose space differs from the run's (logged) instead of failing."
    )


#: Denoising strategy names; neurokit.denoise owns them (its presets) and their rules.
STRATEGY_NAMES: tuple[str, ...] = STRATEGIES
StrategyName = Literal[STRATEGIES]


def _strategy_error(value: Any, detail: str) -> PydanticCustomError:
    # literal_error, not a ValueError: the message reads like pydantic's own, without "Value error, "
    return PydanticCustomError("literal_error", detail, {"input": value})


_STRATEGY_CHOICES = ", ".join(map(repr, STRATEGY_NAMES[:-1])) + f" or {STRATEGY_NAMES[-1]!r}"


class DenoiseConfig(_Section):
    """Confound strategy (nilearn ``load_confounds_strategy`` presets) and signal cleaning.

    The preset defines the defaults of ``motion``/``wm_csf``/``global_signal`` (None = the
    preset's); ``compcor``/``n_compcor`` apply to the compcor presets and ``fd_threshold``/
    ``std_dvars_threshold``/``scrub`` to the scrubbing presets only. Defaults equal nilearn
    0.14's preset values (scrubbing: FD 0.5 mm, std-DVARS 1.5, segments >= 5 volumes).
    """

    strategy: StrategyName | tuple[StrategyName, ...] = Field(
        default="scrubbing+gsr",
        description="One preset, or a list of distinct presets cleaned from one extraction (outputs desc-<strategy>). "
        "Default scrubbing+gsr: see docs/denoising.md for the evidence.",
    )
    motion: Literal["basic", "power2", "derivatives", "full"] | None = Field(
        default=None, description="Override the preset's motion expansion; None = the preset's."
    )
    wm_csf: Literal["basic", "power2", "derivatives", "full"] | None = Field(
        default=None, description="Override the preset's WM/CSF expansion (not with compcor); None = the preset's."
    )
    global_signal: Literal["basic", "power2", "derivatives", "full"] | None = Field(
        default=None, description="Add the global signal with this expansion; '+gsr' presets default to basic."
    )
    compcor: Literal[
        "anat_combined", "anat_separated", "temporal", "temporal_anat_combined", "temporal_anat_separated"
    ] = "anat_combined"
    n_compcor: int | float | Literal["all"] = Field(
        default="all",
        description="Components per mask: 'all' (fMRIPrep's retained set), a count, or a variance fraction in (0, 1).",
    )
    fd_threshold: float | None = Field(
        default=0.5, gt=0, description="Framewise displacement (mm) above which a volume is censored; None = off."
    )
    std_dvars_threshold: float | None = Field(default=1.5, gt=0, description="Standardised DVARS censoring threshold; None = off.")
    scrub: int = Field(default=5, ge=0, description="Minimum length of an uncensored segment (volumes); 0 = off.")
    demean: bool = True
    detrend: bool = True
    standardize: Literal["zscore_sample", "zscore", "psc", "none"] = "zscore_sample"
    high_pass: float | None = Field(default=0.01, gt=0, description="Hz; None = no high-pass.")
    low_pass: float | None = Field(
        default=None, gt=0,
        description="Hz; None = no low-pass (the default: a 0.01-0.08 Hz band-pass leaves short runs almost no "
        "degrees of freedom and removes coupling above 0.08 Hz; see docs/denoising.md).",
    )
    filter: Literal["butterworth", "cosine"] = "butterworth"
    min_volumes: int = Field(default=50, ge=3, description="Fewest volumes left after censoring for a usable run.")

    @field_validator("strategy", mode="before")
    @classmethod
    def _check_strategies(cls, v: Any) -> Any:
        if isinstance(v, str):
            if v not in STRATEGY_NAMES:
                raise _strategy_error(v, f"Input should be {_STRATEGY_CHOICES}")
            return v
        if not isinstance(v, (list, tuple)):
            raise _strategy_error(v, f"Input should be a strategy name or a list of them ({_STRATEGY_CHOICES})")
        if not v:
            raise _strategy_error(v, f"the list is empty; name at least one strategy ({_STRATEGY_CHOICES})")
        for i, name in enumerate(v):
            if name not in STRATEGY_NAMES:
                raise _strategy_error(v, f"entry {i} ({name!r}) is not a strategy; use {_STRATEGY_CHOICES}")
        repeated = sorted({n for n in v if list(v).count(n) > 1})
        if repeated:
            raise _strategy_error(v, f"{', '.join(map(repr, repeated))} is listed more than once; list each "
                                     "strategy once")
        # one listed strategy is that strategy: same outputs and configuration hash as the plain name
        return v[0] if len(v) == 1 else tuple(v)

    @property
    def strategies(self) -> tuple[str, ...]:
        """The configured strategies, in the order listed (one for a single name)."""
        return (self.strategy,) if isinstance(self.strategy, str) else tuple(self.strategy)

    @model_validator(mode="after")
    def _check_band(self) -> "DenoiseConfig":
        if self.high_pass is not None and self.low_pass is not None and self.high_pass >= self.low_pass:
            raise ValueError(
                f"denoise.high_pass ({self.high_pass} Hz) must be below denoise.low_pass ({self.low_pass} Hz)."
            )
        for name in self.strategies:
            try:  # the rules of each preset live in neurokit.denoise, which checks every run the same way
                resolve_strategy(**self.select_kwargs(name))
            except DenoiseError as exc:
                raise ValueError(f"strategy {name!r}: {exc}") from None
        if self.filter == "cosine" and self.high_pass is None:
            raise ValueError("denoise.filter 'cosine' needs denoise.high_pass (Hz).")
        return self

    def select_kwargs(self, strategy: str | None = None) -> dict[str, Any]:
        """Keyword arguments for :func:`neurokit.denoise.select_confounds`.

        ``strategy`` is one of :attr:`strategies` (default: the first); the overrides
        (``motion``, ``global_signal``, ...) apply to every strategy alike.
        """
        strategy = self.strategies[0] if strategy is None else strategy
        if strategy not in self.strategies:
            raise ConfigError(f"strategy {strategy!r} is not listed in denoise.strategy {list(self.strategies)}.")
        keys = ("motion", "wm_csf", "global_signal", "compcor", "n_compcor", "fd_threshold",
                "std_dvars_threshold", "scrub", "demean")
        return {"strategy": strategy, **{k: getattr(self, k) for k in keys}}

    def clean_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`neurokit.denoise.clean` (``t_r`` comes from the run)."""
        return {
            "detrend": self.detrend,
            "standardize": None if self.standardize == "none" else self.standardize,
            "high_pass": self.high_pass,
            "low_pass": self.low_pass,
            "filter": self.filter,
            "min_volumes": self.min_volumes,
        }


MeasureName = Literal["correlation", "partial correlation", "covariance", "precision", "tangent"]


class ConnectivityConfig(_Section):
    """Connectivity measures (``neurokit.connectivity``).

    Every measure but "tangent" is a per-run matrix (``connectivity_matrix``). "tangent" is
    relative to a group reference fitted on training subjects, so per run it means the
    covariance matrix is written and the group models apply ``TangentSpace`` inside each fold.
    """

    measures: tuple[MeasureName, ...] = Field(
        default=("correlation", "partial correlation"),
        description="Matrices per run; 'tangent' = per-run covariance + group TangentSpace.",
    )
    covariance_estimator: Literal["shrunk", "ledoit_wolf", "empirical", "oas"] = Field(
        default="shrunk",
        description="Covariance estimator for every measure: 'shrunk' is a fixed shrinkage (connectivity.shrinkage), "
        "the same for every run, so its bias does not follow the number of volumes censoring leaves; Ledoit-Wolf "
        "(nilearn's default) and OAS shrink runs with fewer kept volumes harder (docs/denoising.md).",
    )
    shrinkage: float = Field(
        default=DEFAULT_SHRINKAGE, gt=0, lt=1,
        description="Shrinkage of covariance_estimator 'shrunk': the weight of the scaled identity. Correlations "
        "come out as the empirical ones times (1 - shrinkage) in every run.",
    )

    @field_validator("measures")
    @classmethod
    def _nonempty(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("connectivity.measures needs at least one measure.")
        if len(set(v)) != len(v):
            raise ValueError(f"connectivity.measures has repeated measures: {list(v)}.")
        return v

    @model_validator(mode="after")
    def _shrinkage_needs_shrunk(self) -> "ConnectivityConfig":
        if self.covariance_estimator != "shrunk" and self.shrinkage != DEFAULT_SHRINKAGE:
            raise ValueError(
                f"connectivity.shrinkage ({self.shrinkage}) applies to connectivity.covariance_estimator 'shrunk' only, "
                f"not {self.covariance_estimator!r}: set covariance_estimator: shrunk, or drop shrinkage."
            )
        return self

    def per_run_kinds(self) -> tuple[str, ...]:
        """``kind`` values for ``connectivity_matrix`` per run ("tangent" becomes "covariance"), in order, unique."""
        kinds = ["covariance" if m == "tangent" else m for m in self.measures]
        return tuple(dict.fromkeys(kinds))

    def matrix_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`neurokit.connectivity.connectivity_matrix` (besides ``kind``)."""
        if self.covariance_estimator == "shrunk":
            return {"covariance_estimator": self.covariance_estimator, "shrinkage": self.shrinkage}
        return {"covariance_estimator": self.covariance_estimator}


class ExclusionConfig(_Section):
    """Run exclusion rules applied after denoising (recorded with reasons by ``neurokit.qc.exclusion_decision``)."""

    max_mean_fd: float | None = Field(
        default=None, gt=0,
        description="mm; runs with a higher mean FD are excluded; None = no limit (the default: volumes are "
        "censored instead, and a mean-FD cut removes the heaviest users when motion tracks the target).",
    )
    max_censored_fraction: float | None = Field(
        default=0.5, ge=0, le=1, description="Largest fraction of censored volumes; None = no limit."
    )

    min_tdof: int | None = Field(
        default=20,
        description=(
            "Fewest temporal degrees of freedom left after denoising (regressors and the band-pass's "
            "lost bandwidth both count); None = no limit. Runs below 40 are flagged in their QC whatever "
            "this limit. The count is conservative: a 150-volume run at TR 2 s with the 'simple' strategy "
            "and a 0.01-0.08 Hz band-pass keeps about 10."
        ),
    )

    def decision_kwargs(self, min_volumes: int | None) -> dict[str, Any]:
        """Limits for :func:`neurokit.qc.exclusion_decision`; ``min_volumes`` is ``denoise.min_volumes``."""
        return {
            "max_mean_fd": self.max_mean_fd,
            "max_censored_fraction": self.max_censored_fraction,
            "min_volumes": min_volumes,
            "min_tdof": self.min_tdof,
        }


class ModelsConfig(_Section):
    """Group-level predictive models."""

    targets: tuple[Literal["severity", "stage", "user_vs_control"], ...] = ("severity", "stage", "user_vs_control")
    feature_sets: tuple[Literal["pfc_limbic_edges", "all_edges", "summary_indices", "biomarkers", "combined"], ...] = (
        "pfc_limbic_edges",
        "summary_indices",
        "biomarkers",
        "combined",
    )
    measure: MeasureName = "correlation"
    strategy: StrategyName | None = Field(
        default=None, description="Denoising strategy the models use; None = the first of denoise.strategy."
    )
    estimator: Literal["ridge", "logistic", "svm", "cpm"] | None = Field(
        default=None, description="None = ridge (regression, and one-vs-rest classification); 'logistic' = L2 logistic."
    )
    covariates: tuple[str, ...] = ("age", "sex")
    confounds: tuple[str, ...] = Field(
        default=("mean_fd", "max_fd", "percent_censored", "tdof_remaining", "age", "sex", "site"),
        description="Columns each model's predictions are tested beyond (splines of the motion measures, linear "
                    "age, one-hot sex and site), also the covariate-target association table; absent ones are "
                    "skipped with a note.",
    )
    harmonize_site: bool = True
    edge_selection: float | None = Field(
        default=None, gt=0, le=1, description="Keep this fraction of edges by univariate test, inside each fold."
    )
    cpm_threshold: float = Field(
        default=0.01, gt=0, le=1, description="Edge-selection p-value of connectome-based predictive modelling."
    )
    cv_folds: int = Field(default=5, ge=2)
    cv_repeats: int = Field(default=10, ge=1)
    site_out: bool = False
    n_permutations: int = Field(
        default=1000, ge=0, description="Permutations of the whole pipeline per model; the p-value floor is 1 / (n + 1)."
    )
    random_state: int = 0
    longitudinal: bool = True
    scan_hrv: Literal["log_rmssd", "rmssd", "log_hf_power", "hf_power", "sdnn"] = Field(
        default="log_rmssd",
        description="Scan-derived HRV measure of the 'scan_hrv' column, which fills the 'hrv' role when the phenotype "
                    "has no HRV (docs/physio.md: why ln RMSSD).",
    )

    @model_validator(mode="after")
    def _check_estimator(self) -> "ModelsConfig":
        if self.estimator == "logistic" and "severity" in self.targets:
            raise ValueError(
                "models.estimator 'logistic' cannot model the continuous target 'severity'; use null (ridge for "
                "every target), 'ridge', 'svm' or 'cpm', or drop severity from models.targets."
            )
        return self


class ClusterConfig(_Section):
    """Where the dask workers run."""

    type: Literal["local", "slurm", "pbs", "sge", "lsf"] = "local"
    n_workers: int | None = Field(default=None, ge=1, description="Local workers; None = one per core.")
    threads_per_worker: int = Field(default=1, ge=1)
    memory_limit: str = Field(default="auto", description="Per worker, e.g. '4GB'; 'auto' = estimated from the runs.")
    scheduler_file: str | None = Field(
        default=None, description="Join the scheduler that wrote this file (e.g. `dask scheduler --scheduler-file F`)."
    )
    queue: str | None = Field(default=None, description="HPC queue / SLURM partition; None = the site default.")
    account: str | None = Field(default=None, description="HPC account / project charged for the jobs.")
    cores: int = Field(default=1, ge=1, description="Cores per HPC job.")
    processes: int = Field(default=1, ge=1, description="Worker processes per HPC job (each gets cores/processes threads).")
    memory: str = Field(default="4GB", description="Memory per HPC job, shared by its worker processes.")
    walltime: str = Field(default="01:00:00", description="Wall-clock limit per HPC job (HH:MM:SS).")
    job_extra_directives: tuple[str, ...] = Field(
        default=(), description="Extra scheduler directives, e.g. '--qos=short' (SLURM) or '-l mem=4gb' (PBS)."
    )
    resource_spec: str | None = Field(
        default=None,
        description="SGE only: the '#$ -l' resources, e.g. 'h_vmem=4G,mem_free=4G'; None = h_vmem of cluster.memory "
                    "per slot (slots from a '-pe NAME N' directive, else 1), unless a directive already asks for memory.",
    )
    n_jobs: int = Field(default=2, ge=0, description="HPC jobs to start (ignored when adaptive bounds are set).")
    adaptive_minimum: int | None = Field(default=None, ge=0, description="Fewest HPC jobs under adaptive scaling.")
    adaptive_maximum: int | None = Field(default=None, ge=1, description="Most HPC jobs under adaptive scaling.")
    local_directory: str | None = Field(
        default=None, description="Fast node-local folder for worker scratch and spilling, e.g. '$TMPDIR'."
    )
    log_directory: str | None = Field(default=None, description="Folder for the HPC jobs' stdout/stderr files.")
    python: str | None = Field(
        default=None, description="Python executable in the jobs; None = the one running neurokit."
    )
    interface: str | None = Field(
        default=None, description="Network interface the scheduler and workers talk over, e.g. 'ib0'."
    )
    job_script_prologue: tuple[str, ...] = Field(
        default=(), description="Shell lines run before the worker starts, e.g. 'source /path/venv/bin/activate'."
    )
    retries: int = Field(default=1, ge=0, description="Times a failed run is retried before it is recorded as failed.")

    @field_validator("memory_limit", "memory")
    @classmethod
    def _size(cls, v: str, info: Any) -> str:
        if info.field_name == "memory_limit" and v == "auto":
            return v
        from dask.utils import parse_bytes

        try:
            parse_bytes(v)
        except (ValueError, TypeError):
            raise ValueError(
                f"cluster.{info.field_name} must be a size such as '4GB' or '512MiB'"
                + (" or 'auto'" if info.field_name == "memory_limit" else "")
            ) from None
        return v

    @model_validator(mode="after")
    def _check_jobs(self) -> "ClusterConfig":
        if self.processes > self.cores:
            raise ValueError(
                f"cluster.processes ({self.processes}) exceeds cluster.cores ({self.cores}); "
                "each worker process needs at least one core."
            )
        if self.resource_spec is not None and self.type != "sge":
            raise ValueError(
                f"cluster.resource_spec is for SGE (type: sge); with type {self.type!r} put resource requests in "
                "cluster.job_extra_directives, or leave memory to cluster.memory."
            )
        if self.adaptive_minimum is not None and self.adaptive_maximum is None:
            raise ValueError("cluster.adaptive_minimum is set without cluster.adaptive_maximum; set both.")
        if (
            self.adaptive_minimum is not None
            and self.adaptive_maximum is not None
            and self.adaptive_minimum > self.adaptive_maximum
        ):
            raise ValueError(
                f"cluster.adaptive_minimum ({self.adaptive_minimum}) exceeds "
                f"cluster.adaptive_maximum ({self.adaptive_maximum})."
            )
        return self


class ReportConfig(_Section):
    """HTML reports."""

    enabled: bool = True
    max_participant_report_mb: float = Field(
        default=5.0, gt=0, description="A participant report above this size is logged as a warning."
    )
    low_coverage_fraction: float = Field(
        default=0.5, gt=0, le=1, description="Regions with less of their volume inside the brain mask are flagged."
    )
    low_tsnr_fraction: float = Field(
        default=0.5, gt=0, le=1,
        description="Regions whose tSNR is below this fraction of the run's median region tSNR are flagged.",
    )
    top_edges: int = Field(default=20, ge=1, description="Strongest pattern edges drawn on the connectome plot.")


class PhysioColumnsConfig(_Section):
    """Column names of a recording (its sidecar's ``Columns``) that play each role, case-insensitive,
    the first present wins. BIDS's own names come first; add a lab's own."""

    cardiac: tuple[str, ...] = ("cardiac", "pulse", "ppg", "pleth", "ecg", "ekg")
    respiratory: tuple[str, ...] = ("respiratory", "resp", "respiration", "breathing", "belt")
    trigger: tuple[str, ...] = ("trigger", "trig", "volume", "scanner")

    @model_validator(mode="after")
    def _check_names(self) -> "PhysioColumnsConfig":
        seen: dict[str, str] = {}
        for role in ("cardiac", "respiratory", "trigger"):
            for name in getattr(self, role):
                if not name.strip():
                    raise ValueError(f"physio.columns.{role} has an empty column name; list real names or drop it.")
                other = seen.setdefault(name.lower(), role)
                if other != role:
                    raise ValueError(f"physio.columns: column {name!r} is listed for both {other} and {role}; "
                                     "keep it under one role.")
        return self

    def mapping(self) -> dict[str, tuple[str, ...]]:
        """``{role: names}`` for :func:`neurokit.io.read_physio`."""
        return {"cardiac": self.cardiac, "respiratory": self.respiratory, "trigger": self.trigger}


class PhysioRegressorsConfig(_Section):
    """The physiological noise regressors of the ``+physio`` strategies (docs/denoising.md)."""

    cardiac_order: int = Field(default=3, ge=0, le=6, description="RETROICOR cardiac Fourier order (Harvey et al. 2008).")
    respiratory_order: int = Field(default=4, ge=0, le=6, description="RETROICOR respiratory Fourier order.")
    interaction_order: int = Field(
        default=0, ge=0, le=2, description="Cardiac x respiratory interaction terms (Harvey et al. 2008: 1); 0 = none."
    )
    rvt: bool = Field(default=True, description="Respiration volume per time convolved with the RRF (Birn 2006, 2008).")
    hr: bool = Field(default=True, description="Heart rate convolved with the cardiac response function (Chang 2009).")

    @model_validator(mode="after")
    def _check_any(self) -> "PhysioRegressorsConfig":
        if not (self.cardiac_order or self.respiratory_order or self.interaction_order or self.rvt or self.hr):
            raise ValueError("physio.regressors turns every regressor off; leave one on, or drop '+physio' from "
                             "denoise.strategy.")
        return self

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`neurokit.physio.physio_regressors`."""
        return self.model_dump()


class PhysioConfig(_Section):
    """Heart-rate variability and breathing rate from the scan's physiological recordings (docs/physio.md)."""

    enabled: bool = Field(default=True, description="Measure physiology for every run with a usable recording.")
    columns: PhysioColumnsConfig = PhysioColumnsConfig()
    cardiac_kind: Literal["auto", "ppg", "ecg"] = Field(
        default="auto", description="auto: ECG when the cardiac column's name has 'ecg' or 'ekg', else pulse (PPG)."
    )
    min_duration: float = Field(
        default=60.0, gt=0, description="Fewest seconds of the run the cardiac recording must cover (HRV needs ~1 min)."
    )
    max_rejected_fraction: float = Field(
        default=0.2, ge=0, le=1, description="Largest share of implausible beat intervals for usable HRV."
    )
    regressors: PhysioRegressorsConfig = PhysioRegressorsConfig()

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`neurokit.io.physio_for_run`."""
        return {"enabled": self.enabled, "columns": self.columns.mapping(), **self.measure_kwargs()}

    def measure_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`neurokit.physio.hrv_from_recording` (the measuring settings)."""
        return {"kind": self.cardiac_kind, "min_duration": self.min_duration,
                "max_rejected_fraction": self.max_rejected_fraction}


#: Sections that only say where and how the work runs or is shown; not part of :meth:`Config.hash`.
_EXECUTION_SECTIONS = ("cluster", "report")
#: Sections that shape a run's participant-level outputs (its fingerprint).
RUN_SECTIONS = ("atlas", "denoise", "connectivity", "exclusion")


class Config(_Section):
    """The whole, resolved neurokit configuration."""

    inputs: InputsConfig = InputsConfig()
    columns: ColumnsConfig = ColumnsConfig()
    atlas: AtlasConfig = AtlasConfig()
    denoise: DenoiseConfig = DenoiseConfig()
    connectivity: ConnectivityConfig = ConnectivityConfig()
    exclusion: ExclusionConfig = ExclusionConfig()
    models: ModelsConfig = ModelsConfig()
    cluster: ClusterConfig = ClusterConfig()
    report: ReportConfig = ReportConfig()
    physio: PhysioConfig = PhysioConfig()

    @model_validator(mode="after")
    def _check_modelled_strategy(self) -> "Config":
        listed = self.denoise.strategies
        if self.models.strategy is not None and self.models.strategy not in listed:
            raise ValueError(
                f"models.strategy {self.models.strategy!r} is not one of the strategies in denoise.strategy "
                f"{list(listed)}; add it there or set models.strategy: null (the first listed, {listed[0]!r})."
            )
        physio = [name for name in listed if name.endswith("+physio")]
        if physio and not self.physio.enabled:
            raise ValueError(
                f"denoise.strategy {physio[0]!r} regresses the runs' physiological recordings, but physio.enabled is "
                f"false, so none are read: set physio.enabled: true, or use {physio[0].removesuffix('+physio')!r}."
            )
        return self

    @property
    def strategies(self) -> tuple[str, ...]:
        """Every denoising strategy the participant level cleans with, in the order listed."""
        return self.denoise.strategies

    @property
    def modelled_strategy(self) -> str:
        """The strategy the group level models: ``models.strategy``, else the first listed."""
        return self.models.strategy or self.denoise.strategies[0]

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON/YAML-serialisable dictionary of every value."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        """The fully resolved configuration as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    def hash(self, sections: Iterable[str] | None = None) -> str:
        """Stable short hash of the settings that shape results.

        Parameters
        ----------
        sections : iterable of str, optional
            Sections to include; None = all but ``cluster`` and ``report``, which change
            where and how results are computed or shown, never what they are.

        Returns
        -------
        str
            16 hexadecimal characters.
        """
        data = self.to_dict()
        if data["models"]["strategy"] is None:
            # unset means "the first listed": leaving it out keeps the hash of every configuration
            # written before the key existed
            del data["models"]["strategy"]
        if tuple(data["models"].get("confounds", ())) == ModelsConfig.model_fields["confounds"].default:
            # the confounds only shape the post-hoc test, never the fitted model: the default keeps the
            # hash of every configuration written before the key existed
            del data["models"]["confounds"]
        if data["models"].get("scan_hrv") == ModelsConfig.model_fields["scan_hrv"].default:
            # the default keeps the hash of every configuration written before the key existed
            del data["models"]["scan_hrv"]
        default_physio = PhysioConfig().model_dump(mode="json")
        if not any(s.endswith("+physio") for s in self.strategies):
            # the noise regressors shape only a '+physio' strategy's outputs: otherwise they change nothing
            data["physio"].pop("regressors", None)
            default_physio.pop("regressors", None)
        if data["physio"] == default_physio:
            # the defaults leave the hash of every configuration written before the section existed
            del data["physio"]
        if data["connectivity"]["covariance_estimator"] != "shrunk":
            # the shrinkage of another estimator changes nothing; leaving it out keeps the hash of
            # every configuration written before the key existed
            del data["connectivity"]["shrinkage"]
        keep = set(data) - set(_EXECUTION_SECTIONS) if sections is None else set(sections)
        unknown = keep - set(data) - {"physio"}
        if unknown:
            raise ConfigError(f"unknown configuration section(s) {sorted(unknown)}; sections are {list(data)}.")
        text = json.dumps({k: data[k] for k in sorted(keep) if k in data}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def run_hash(self) -> str:
        """Hash of the sections that shape one run's participant-level results.

        ``physio`` counts only when it is not at its defaults: the defaults leave the hash of
        every run made before the participant level measured physiology (docs/provenance.md).
        """
        physio = ("physio",) if self.physio != PhysioConfig() else ()
        return self.hash(RUN_SECTIONS + physio)

    def updated(self, overrides: Mapping[str, Any]) -> "Config":
        """A new, validated config with ``{"section.key": value}`` overrides applied."""
        data = self.to_dict()
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            data.setdefault(section, {})[key] = value
        return _validate(data, source="command-line options")


def _nearest(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else f"; valid keys are {sorted(choices)}"


def _model_for(loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model


def _format_errors(err: ValidationError, source: str) -> str:
    lines, numeric = [], []
    for e in err.errors():
        loc = tuple(e["loc"])
        key = ".".join(str(p) for p in loc) or "<top level>"
        if e["type"] == "extra_forbidden":
            model = _model_for(loc)
            hint = _nearest(str(loc[-1]), list(model.model_fields)) if model else ""
            lines.append(f"unknown key {key!r}{hint}")
        else:
            value = e.get("input")
            shown = "" if isinstance(value, dict) else f" (got {value!r})"
            if e["type"] == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
                numeric.append(next((str(p) for p in reversed(loc) if isinstance(p, str)), key))
            lines.append(f"{key}: {e['msg']}{shown}")
    if numeric:  # YAML reads 01 as 1 and 010 (octal) as 8: a label keeps its digits only when quoted
        lines.append(f"YAML read unquoted text as a number (01 becomes 1, 010 becomes 8): quote it, "
                     f'e.g. {numeric[0]}: ["01", "02"]')
    return f"invalid configuration in {source}:\n  " + "\n  ".join(lines)


def _validate(data: Any, source: str) -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a YAML mapping of sections (inputs:, denoise:, ...); got {type(data).__name__}.")
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source)) from None


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read and validate a configuration.

    Parameters
    ----------
    path : str or Path or None
        YAML file; None gives the defaults.
    overrides : mapping of str to object, optional
        ``{"section.key": value}`` pairs (from command-line flags) applied on top;
        a value of None leaves the file's value in place.

    Returns
    -------
    Config
        Frozen, fully resolved configuration.

    Raises
    ------
    ConfigError
        For a missing or unreadable file, unknown keys (with the nearest valid key),
        wrong types and impossible values, naming the key and the value.
    """
    if path is None:
        config = Config()
    else:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"configuration file {path} does not exist; pass an existing YAML file to --config.")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"configuration file {path} is not valid YAML: {exc}") from None
        config = _validate(data, source=str(path))
    if overrides:
        config = config.updated(overrides)
    return config
