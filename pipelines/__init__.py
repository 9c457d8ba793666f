"""Batch pipelines composing neurokit's stages (participant, group, study).

Installed as ``neurokit.pipelines``; kept thin: they read the configuration,
build the dask graph, and hand arrays to the library.
"""
