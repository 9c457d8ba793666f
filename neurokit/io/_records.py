"""Records passed between stages: one preprocessed BOLD run and its companions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: BIDS entities that identify a run, in BIDS filename order.
RUN_ENTITIES = ("sub", "ses", "task", "acq", "ce", "rec", "dir", "run", "echo", "space", "res", "den")


@dataclass(frozen=True)
class Run:
    """One preprocessed BOLD run and the files that go with it.

    Attributes
    ----------
    entities : tuple of (str, str)
        BIDS entities in filename order, e.g. ``(("sub", "01"), ("task", "rest"), ("space", "MNI152NLin2009cAsym"))``.
    bold : Path
        ``*_desc-preproc_bold.nii.gz``.
    bold_json : Path or None
        Its sidecar JSON.
    confounds : Path
        ``*_desc-confounds_timeseries.tsv`` (or the older ``*_desc-confounds_regressors.tsv``).
    confounds_json : Path or None
        The confounds sidecar (needed for CompCoR variance selection).
    mask : Path
        ``*_desc-brain_mask.nii.gz`` in the same space.
    t_r : float
        Repetition time in seconds.
    n_volumes : int
        Number of volumes in the BOLD file (from its header).
    warnings : tuple of str
        Non-fatal problems found during discovery (each names the file).
    boldref : Path or None
        fMRIPrep's reference image in the same space (``*_boldref.nii.gz``), if present;
        the report draws the atlas over it.
    """

    entities: tuple[tuple[str, str], ...]
    bold: Path
    bold_json: Path | None
    confounds: Path
    confounds_json: Path | None
    mask: Path
    t_r: float
    n_volumes: int
    warnings: tuple[str, ...] = field(default=())
    boldref: Path | None = None

    @property
    def entity_dict(self) -> dict[str, str]:
        """Entities as a dict."""
        return dict(self.entities)

    @property
    def subject(self) -> str:
        """Participant label without ``sub-``."""
        return self.entity_dict["sub"]

    @property
    def session(self) -> str | None:
        """Session label without ``ses-``, or None."""
        return self.entity_dict.get("ses")

    @property
    def run_id(self) -> str:
        """Stable identifier, the BIDS prefix of the run, e.g. ``sub-01_ses-1_task-rest_run-1_space-MNI152NLin2009cAsym``."""
        return "_".join(f"{k}-{v}" for k, v in self.entities)
