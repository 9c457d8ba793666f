"""Shared fixtures: a seeded random generator and tiny images with unequal sides; a private atlas cache."""

import os

import numpy as np
import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_atlas_cache(tmp_path_factory):
    """Tests (and the commands they start) never read or write the user's ~/.cache/neurokit."""
    name = "NEUROKIT_CACHE_DIR"
    before = os.environ.get(name)
    os.environ[name] = str(tmp_path_factory.mktemp("neurokit-cache"))
    yield
    if before is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = before


@pytest.fixture
def rng():
    """Seeded generator; tests never touch numpy's global RNG."""
    return np.random.default_rng(0)
