"""Streamed region extraction: a BOLD run + a label image -> raw region mean signals.

Public names are re-exported here; the code lives in private modules.
"""

from neurokit.extract._errors import ExtractError
from neurokit.extract._extract import Extraction, extract_signals

__all__ = ["ExtractError", "Extraction", "extract_signals"]
