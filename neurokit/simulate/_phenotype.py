"""Participants of a simulated study: stage, severity, site, biomarkers, planted coupling and
motion level per participant and session. Pure functions of parameters and a Generator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurokit.config import DEFAULT_STAGE_LEVELS as STAGES

#: Prefrontal-limbic coupling of a healthy control (correlation of the two latent signals).
CONTROL_COUPLING = 0.6
#: How far each stage's coupling falls below controls at effect_size 1 (times a severity factor
#: with mean 1): active < early abstinence < sustained remission < control.
STAGE_DEFICIT = {"control": 0.0, "active": 0.45, "early_abstinence": 0.3, "sustained_remission": 0.15}
#: Person-to-person spread of coupling unrelated to any label.
COUPLING_SD = 0.05
#: Stage means of serum BDNF (ng/mL) and HRV (RMSSD, ms) at effect_size 1, and their noise SD.
BDNF_MEAN = {"control": 25.0, "active": 17.0, "early_abstinence": 20.0, "sustained_remission": 23.0}
HRV_MEAN = {"control": 45.0, "active": 32.0, "early_abstinence": 37.0, "sustained_remission": 41.0}
BDNF_SD, HRV_SD = 4.0, 8.0
#: Severity score range of users (controls score 0), SDS-like.
SEVERITY_RANGE = (3.0, 15.0)
#: Typical mean FD (mm) of a participant with no severity-related motion.
BASE_MEAN_FD = 0.12
#: Days between sessions.
SESSION_INTERVAL_DAYS = 180
#: Participant label styles: ``sub-01`` ... or ``sub-K7Q2`` ...
LABEL_STYLES = ("numeric", "alphanumeric")
#: Characters of alphanumeric labels: no I, O, 0 or 1, which read alike.
_LABEL_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _abstinence_stage(days: float) -> str:
    if days < 14:
        return "active"
    return "early_abstinence" if days < 365 else "sustained_remission"


def participants(
    rng: np.random.Generator,
    *,
    n_subjects: int,
    n_sessions: int,
    sites: tuple[str, ...],
    effect_size: float,
    motion_severity_coupling: float,
    biomarker_effect_size: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw the participants and their sessions.

    Stages are balanced (``n_subjects`` split as evenly as possible over :data:`STAGES`) and
    sites balanced within each stage. Stage is the baseline stage; in later sessions users move
    on (active -> early abstinence -> sustained remission), controls stay controls.
    ``biomarker_effect_size`` scales the BDNF and HRV stage differences (None: ``effect_size``);
    it changes the stage means only, so every other draw is the same whatever its value.

    Returns
    -------
    people : DataFrame, shape (n_subjects, ...)
        participant_id, age, sex, site, severity, baseline stage, motion_base.
    sessions : DataFrame, shape (n_subjects * n_sessions, ...)
        participant_id, session (1-based), stage, abstinence_days, bdnf, hrv, coupling, mean_fd.
    """
    stages = np.array([STAGES[i % len(STAGES)] for i in range(n_subjects)])
    site = np.empty(n_subjects, dtype=object)
    for stage in STAGES:
        idx = np.flatnonzero(stages == stage)
        offset = int(rng.integers(len(sites)))
        site[idx] = [sites[(offset + j) % len(sites)] for j in range(idx.size)]
    order = rng.permutation(n_subjects)
    stages, site = stages[order], site[order]

    width = max(2, len(str(n_subjects)))
    ids = [f"sub-{i + 1:0{width}d}" for i in range(n_subjects)]
    user = stages != "control"
    severity = np.where(user, np.round(rng.uniform(*SEVERITY_RANGE, n_subjects), 1), 0.0)
    severity01 = np.where(user, (severity - SEVERITY_RANGE[0]) / (SEVERITY_RANGE[1] - SEVERITY_RANGE[0]), 0.0)
    people = pd.DataFrame(
        {
            "participant_id": ids,
            "age": rng.integers(19, 46, n_subjects),
            "sex": rng.choice(np.array(["F", "M"]), n_subjects),
            "site": site.astype(str),
            "severity": severity,
            "stage": stages,
            "severity01": severity01,
            # heavier users move more: log mean FD rises with severity
            "motion_base": BASE_MEAN_FD
            * np.exp(0.3 * rng.standard_normal(n_subjects) + motion_severity_coupling * severity01),
            "coupling_trait": COUPLING_SD * rng.standard_normal(n_subjects),
        }
    )

    biomarker_effect = effect_size if biomarker_effect_size is None else biomarker_effect_size
    rows = []
    for p in people.itertuples():
        days = np.nan
        stage = p.stage
        for ses in range(1, n_sessions + 1):
            if stage != "control":
                if ses == 1:
                    days = {
                        "active": rng.integers(0, 14),
                        "early_abstinence": rng.integers(30, 330),
                        "sustained_remission": rng.integers(365, 1500),
                    }[stage]
                elif stage == "active":
                    days = rng.integers(30, 150)  # stopped between sessions
                else:
                    days = days + SESSION_INTERVAL_DAYS + rng.integers(-30, 31)
                stage = _abstinence_stage(days)
            deficit = STAGE_DEFICIT[stage] * (0.5 + p.severity01) if stage != "control" else 0.0
            coupling = np.clip(CONTROL_COUPLING - effect_size * deficit + p.coupling_trait, -0.95, 0.95)
            bdnf = BDNF_MEAN["control"] + biomarker_effect * (BDNF_MEAN[stage] - BDNF_MEAN["control"])
            hrv = HRV_MEAN["control"] + biomarker_effect * (HRV_MEAN[stage] - HRV_MEAN["control"])
            rows.append(
                {
                    "participant_id": p.participant_id,
                    "session": ses,
                    "stage": stage,
                    "abstinence_days": float(days),
                    "bdnf": round(float(bdnf + BDNF_SD * rng.standard_normal()), 1),
                    "hrv": round(float(max(hrv + HRV_SD * rng.standard_normal(), 5.0)), 1),
                    "coupling": float(coupling),
                    "mean_fd": float(p.motion_base * np.exp(0.15 * rng.standard_normal())),
                }
            )
    return people, pd.DataFrame(rows)


def relabel(rng: np.random.Generator, people: pd.DataFrame, sessions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give every participant a distinct random alphanumeric label such as ``sub-K7Q2``.

    Each label has four characters with at least one letter and one digit, so it sorts
    differently from the numeric labels and cannot be read as a number.

    Returns
    -------
    people, sessions : DataFrame
        Copies with ``participant_id`` replaced.
    """
    chars = np.array(list(_LABEL_CHARS))
    labels: list[str] = []
    while len(labels) < len(people):
        label = "".join(rng.choice(chars, 4))
        if label not in labels and any(c.isalpha() for c in label) and any(c.isdigit() for c in label):
            labels.append(label)
    new = dict(zip(people["participant_id"], (f"sub-{label}" for label in labels)))
    return people.assign(participant_id=people["participant_id"].map(new)), sessions.assign(
        participant_id=sessions["participant_id"].map(new)
    )
