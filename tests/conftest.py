"""Shared fixtures: a seeded random generator and tiny images with unequal sides."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    """Seeded generator; tests never touch numpy's global RNG."""
    return np.random.default_rng(0)
