"""Parameter descriptions shared by the connectivity docstrings (nilearn's docdict habit)."""

docdict = {
    "matrix_z": """matrix_z : array-like of shape (n_regions, n_regions)
        Fisher-z connectivity of one run, e.g. ``fisher_z(connectivity_matrix(ts))``.
        Rows and columns that are entirely NaN mark missing regions (see
        ``connectivity_matrix(allow_missing_regions=True)``) and are left out.""",
    "networks": """networks : sequence of str of length n_regions
        Each region's network from the atlas table: "prefrontal", "limbic" or "other".""",
}


def fill_doc(func):
    """Fill ``%(name)s`` placeholders of ``func.__doc__`` from :data:`docdict`."""
    if func.__doc__:
        func.__doc__ = func.__doc__ % docdict
    return func
