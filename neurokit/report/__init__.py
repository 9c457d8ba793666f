"""Self-contained HTML QC reports: one per participant and one for the group.

Figures are embedded as PNG data URIs; templates are Jinja with autoescaping on.
"""

from neurokit.report._common import ReportError
from neurokit.report._group import write_group_report
from neurokit.report._participant import write_participant_reports

__all__ = ["ReportError", "write_group_report", "write_participant_reports"]
