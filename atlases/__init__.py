"""Bundled atlases (data only); installed as ``neurokit._bundled_atlases``.

Each sub-folder is one atlas: ``atlas.json`` + region TSV (+ image). See README.md.
"""
