"""Simulated group features tables with a known answer, for tests and examples of neurokit.models.

Not the BIDS simulator (``neurokit.simulate``): this draws the features table directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurokit.config import DEFAULT_STAGE_LEVELS as STAGES
from neurokit.models._common import ModelError

__all__ = ["simulate_features"]

# how strongly each stage carries the dysconnectivity (recovery partly normalises it)
_STAGE_LOAD = {"control": 0.0, "active": 1.0, "early_abstinence": 0.6, "sustained_remission": 0.3}


def simulate_features(
    n_participants=60,
    *,
    n_regions=(7, 6, 7),
    n_sessions=1,
    effect=1.0,
    motion_leak=0.0,
    motion_effect=0.0,
    n_sites=2,
    site_effect=0.5,
    noise=0.15,
    random_state=0,
):
    """Draw a features table with a planted prefrontal-limbic effect.

    Prefrontal-limbic edges fall with a participant's dysconnectivity load
    ``stage load + 0.5 * z(severity)`` (users only) times ``effect`` noise SDs; other
    edges carry no effect. ``motion_leak`` makes mean FD track severity and
    ``motion_effect`` adds motion (in noise SDs per SD of mean FD) to every edge, so
    motion alone can make edges predictive. Each site shifts and scales the edges.

    Parameters
    ----------
    n_participants : int, default=60
    n_regions : tuple of int, default=(7, 6, 7)
        Prefrontal, limbic and other regions.
    n_sessions : int, default=1
        Sessions per participant; users move one recovery stage forward per session.
    effect : float, default=1.0
        Planted effect, in noise SDs per unit load; 0 gives no effect.
    motion_leak : float, default=0.0
        Correlation-like strength (0-1) of mean FD with severity.
    motion_effect : float, default=0.0
        Edge change per SD of mean FD, in noise SDs.
    n_sites : int, default=2
    site_effect : float, default=0.5
        Site shift of every edge, in noise SDs.
    noise : float, default=0.15
        Noise SD of the Fisher-z edges.
    random_state : int, default=0

    Returns
    -------
    features : pandas.DataFrame of shape (n_participants * n_sessions, n_columns)
        ids, roles (``stage`` an ordered Categorical), ``mean_fd``, summary indices and edges.
    networks : dict of str to str
        ``{region: network}``.
    """
    if n_participants < 4:
        raise ModelError(f"'n_participants' must be at least 4; got {n_participants!r}.")
    rng = np.random.default_rng(random_state)
    regions = (
        [f"pfc{i:02d}" for i in range(n_regions[0])]
        + [f"lim{i:02d}" for i in range(n_regions[1])]
        + [f"oth{i:02d}" for i in range(n_regions[2])]
    )
    networks = {r: {"pfc": "prefrontal", "lim": "limbic", "oth": "other"}[r[:3]] for r in regions}
    pairs = [(a, b) for i, a in enumerate(regions) for b in regions[i + 1 :]]
    pfc_limbic = np.array([{networks[a], networks[b]} == {"prefrontal", "limbic"} for a, b in pairs])
    n_edges = len(pairs)
    base = rng.normal(0.3, 0.15, n_edges)
    loading = rng.uniform(0.5, 1.0, n_edges) * pfc_limbic
    motion_loading = rng.uniform(0.5, 1.0, n_edges)
    site_shift = rng.normal(0, site_effect * noise, (n_sites, n_edges))
    site_scale = rng.uniform(0.8, 1.25, n_sites)

    start_stage = np.resize(np.arange(len(STAGES)), n_participants)
    rng.shuffle(start_stage)
    user = start_stage > 0
    severity = np.where(user, 20 + 8 * rng.standard_normal(n_participants), np.abs(rng.normal(0, 1.5, n_participants)))
    sev_z = (severity - severity.mean()) / severity.std()
    site = rng.integers(0, n_sites, n_participants)
    age = rng.uniform(20, 50, n_participants)
    sex = rng.choice(["F", "M"], n_participants)
    person = rng.normal(0, 0.5 * noise, (n_participants, n_edges))  # stable individual connectome

    rows = []
    for i in range(n_participants):
        for s in range(n_sessions):
            stage_code = min(start_stage[i] + s, len(STAGES) - 1) if user[i] else 0
            stage = STAGES[stage_code]
            load = _STAGE_LOAD[stage] + (0.5 * sev_z[i] if user[i] else 0.0)
            fd_z = motion_leak * sev_z[i] + np.sqrt(max(1 - motion_leak**2, 0)) * rng.standard_normal()
            mean_fd = 0.15 + 0.05 * fd_z
            edges = (
                base
                + person[i]
                - effect * noise * load * loading
                + motion_effect * noise * fd_z * motion_loading
                + site_shift[site[i]]
                + site_scale[site[i]] * rng.normal(0, noise, n_edges)
            )
            row = {
                "participant_id": f"sub-{i + 1:02d}",
                "session_id": f"ses-{s + 1}" if n_sessions > 1 else np.nan,
                "run_id": 1,
                "severity": severity[i],
                "stage": stage,
                "abstinence_days": 0.0 if stage_code <= 1 else 30.0 * (stage_code - 1) * (1 + s) + rng.uniform(0, 20),
                "bdnf": 25 - 3 * effect * load + rng.normal(0, 3),
                "hrv": 50 - 5 * effect * load + rng.normal(0, 8),
                "age": age[i],
                "sex": sex[i],
                "site": f"site{site[i] + 1}",
                "mean_fd": mean_fd,
            }
            names = [f"edge__{a}--{b}" for a, b in pairs]
            net = np.array([(networks[a], networks[b]) for a, b in pairs])
            within_pfc = (net[:, 0] == "prefrontal") & (net[:, 1] == "prefrontal")
            within_lim = (net[:, 0] == "limbic") & (net[:, 1] == "limbic")
            row["idx_pfc_within"] = edges[within_pfc].mean()
            row["idx_limbic_within"] = edges[within_lim].mean()
            row["idx_pfc_limbic"] = edges[pfc_limbic].mean()
            row.update(zip(names, edges))
            rows.append(row)
    features = pd.DataFrame(rows)
    features["stage"] = pd.Categorical(features["stage"], categories=STAGES, ordered=True)
    return features, networks
