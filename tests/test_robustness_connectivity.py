"""Connectivity summaries with atlases unlike the default: networks without prefrontal or limbic regions."""

import numpy as np
import pytest

from neurokit.connectivity import ConnectivityError, region_pfc_limbic_strength, summary_indices


def test_atlas_without_prefrontal_limbic_tags_says_what_it_has_and_the_fix():
    z = np.full((5, 5), 0.2)
    np.fill_diagonal(z, 0)
    networks = ["other"] * 5  # e.g. the bundled power2011 table
    with pytest.raises(ConnectivityError, match=r"got 0 \(regions with signal: 0 prefrontal, 0 limbic, 5 other\)"
                       r".*'network' column.*pfclimbic"):
        summary_indices(z, networks)
    with pytest.raises(ConnectivityError, match=r"5 other\).*drop_empty_regions"):
        region_pfc_limbic_strength(z, networks)
